// Checking a file before a reload applies it, and restart-only settings
// across a reload.
#include "config/reload.hpp"

#include "auth/auth_file.hpp"
#include "auth/hba.hpp"
#include "config/settings.hpp"
#include "net/tls.hpp"

namespace pggate::config {

Reloadable load_reloadable(const std::string& path) { return check_reloadable(read_config_file(path), path); }

Reloadable check_reloadable(std::string text, const std::string& path) {
    Reloadable r;
    r.text = std::move(text);
    r.config = parse_config(r.text, path);
    if (std::string error; !r.config.auth_file.empty() && !auth::load_auth_file(r.config.auth_file, error))
        throw ConfigError("auth_file: " + error);
    if (r.config.auth_type == AuthType::Hba) {
        std::string error;
        const auto rules = auth::load_hba_file(r.config.auth_hba_file, error);
        if (!rules) throw ConfigError("auth_hba_file: " + error);
        // Without a CA pggate asks no client for a certificate, so such a
        // line could only ever refuse.
        if (const auth::HbaRule* rule = auth::first_certificate_rule(*rules);
            rule != nullptr && r.config.client_tls.ca_file.empty())
            throw ConfigError("auth_hba_file: " + r.config.auth_hba_file + ": line " + std::to_string(rule->line) +
                              ": client certificates (clientcert, or the cert method) can only be checked with "
                              "client_tls_ca_file set");
    }
    net::check_tls_files(r.config);
    return r;
}

namespace {

template <typename T>
void carry(const char* key, const T& running, T& next, std::vector<std::string>& changed) {
    if (!(running == next)) changed.emplace_back(key);
    next = running;
}

}  // namespace

std::vector<std::string> carry_restart_settings(const Config& running, Config& next) {
    std::vector<std::string> changed;
    carry("listen_addr", running.listen_addr, next.listen_addr, changed);
    carry("listen_port", running.listen_port, next.listen_port, changed);
    carry("listen_backlog", running.listen_backlog, next.listen_backlog, changed);
    carry("unix_socket_dir", running.unix_socket_dir, next.unix_socket_dir, changed);
    carry("unix_socket_mode", running.unix_socket_mode, next.unix_socket_mode, changed);
    carry("unix_socket_group", running.unix_socket_group, next.unix_socket_group, changed);
    carry("workers", running.workers, next.workers, changed);
    carry("max_client_conn", running.max_client_conn, next.max_client_conn, changed);
    carry("user", running.user, next.user, changed);
    carry("pidfile", running.pidfile, next.pidfile, changed);
    carry("metrics_addr", running.metrics_addr, next.metrics_addr, changed);
    carry("metrics_port", running.metrics_port, next.metrics_port, changed);
    // SHOW CONFIG shows the running value, and the file's next to it.
    next.pending_restart.clear();
    for (const std::string& key : changed) {
        auto file = next.written.find(key);
        next.pending_restart[key] = file != next.written.end() ? file->second : std::string(*default_value(key));
        if (auto run = running.written.find(key); run != running.written.end())
            next.written[key] = run->second;
        else
            next.written.erase(key);
    }
    return changed;
}

std::vector<NodeFate> node_fates(const std::vector<Node>& running, const std::vector<Node>& next) {
    std::vector<NodeFate> fates(running.size());
    for (std::size_t i = 0; i < running.size(); ++i)
        for (std::uint32_t j = 0; j < next.size(); ++j)
            if (next[j].name == running[i].name) {
                fates[i].to = j;
                fates[i].readdressed = next[j].host != running[i].host || next[j].port != running[i].port;
                break;
            }
    return fates;
}

}  // namespace pggate::config
