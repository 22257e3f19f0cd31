// Defaults and reload behaviour of the [pggate] settings, for SHOW CONFIG
// and SET.
#include "config/settings.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace pggate::config {

namespace {

using Default = std::pair<std::string_view, std::string_view>;

// One entry per [pggate] key; a unit test holds it to the loader's key list
// and checks that writing each default changes nothing.
constexpr Default kDefaults[] = {
    {"listen_addr", "127.0.0.1"},
    {"listen_port", "6432"},
    {"listen_backlog", "128"},
    {"unix_socket_dir", "/tmp"},
    {"unix_socket_mode", "0777"},
    {"unix_socket_group", ""},
    {"workers", "0"},
    {"max_client_conn", "100"},
    {"max_login_clients", "1000"},
    {"max_packet_size", "2147483647"},
    {"shutdown_timeout", "30"},
    {"logfile", ""},
    {"syslog", "off"},
    {"syslog_ident", "pggate"},
    {"syslog_facility", "daemon"},
    {"verbose", "0"},
    {"pidfile", ""},
    {"user", ""},
    {"metrics_addr", "127.0.0.1"},
    {"metrics_port", "8080"},
    {"pool_mode", "session"},
    {"default_pool_size", "20"},
    {"min_pool_size", "0"},
    {"reserve_pool_size", "0"},
    {"reserve_pool_timeout", "5"},
    {"max_db_connections", "0"},
    {"max_user_connections", "0"},
    {"auth_type", ""},
    {"auth_file", ""},
    {"auth_hba_file", ""},
    {"auth_user", ""},
    {"auth_query", kDefaultAuthQuery},
    {"auth_dbname", ""},
    {"auth_query_cache_ttl", "10"},
    {"server_reset_query", "DISCARD ALL"},
    {"client_login_timeout", "60"},
    {"client_idle_timeout", "0"},
    {"idle_transaction_timeout", "0"},
    {"query_timeout", "0"},
    {"server_connect_timeout", "15"},
    {"server_idle_timeout", "600"},
    {"server_lifetime", "3600"},
    {"server_login_retry", "15"},
    {"server_connect_retries", "2"},
    {"server_check_query", "select 1"},
    {"server_check_delay", "30"},
    {"read_write_split", "on"},
    {"load_balance", "round_robin"},
    {"read_your_writes", "on"},
    {"read_only_functions", ""},
    {"admin_users", ""},
    {"stats_users", ""},
    {"admin_listen_tcp", "off"},
    {"client_tls_sslmode", "disable"},
    {"client_tls_cert_file", ""},
    {"client_tls_key_file", ""},
    {"client_tls_ca_file", ""},
    {"client_tls_protocols", "secure"},
    {"client_tls_ciphers", "HIGH:MEDIUM:+3DES:!aNULL"},
    {"server_tls_sslmode", "prefer"},
    {"server_tls_cert_file", ""},
    {"server_tls_key_file", ""},
    {"server_tls_ca_file", ""},
    {"server_tls_protocols", "secure"},
    {"server_tls_ciphers", "HIGH:MEDIUM:+3DES:!aNULL"},
    {"max_replica_lag", "0"},
    {"max_replica_lag_bytes", "0"},
    {"replica_fallback", "primary"},
    {"shadow_reads", "0"},
    {"shadow_target", "primary"},
    {"health_check_period", "5"},
    {"health_check_timeout", "5"},
    {"health_check_user", ""},
    {"health_check_dbname", "postgres"},
    {"health_check_max_retries", "2"},
    {"health_check_retry_delay", "1"},
    {"lag_check_period", "0.2"},
    {"max_prepared_statements", "200"},
    {"query_wait_timeout", "120"},
};

// Bound once at startup (sockets, processes, privileges): a reload keeps
// the running values of these.
constexpr std::array<std::string_view, 12> kRestartKeys{
    "listen_addr", "listen_port", "listen_backlog", "unix_socket_dir", "unix_socket_mode", "unix_socket_group", "workers",
    "max_client_conn", "user", "pidfile", "metrics_addr", "metrics_port",
};

}  // namespace

std::optional<std::string_view> default_value(std::string_view key) {
    for (const auto& [name, value] : kDefaults)
        if (name == key) return value;
    return std::nullopt;
}

bool needs_restart(std::string_view key) {
    return std::find(kRestartKeys.begin(), kRestartKeys.end(), key) != kRestartKeys.end();
}

bool is_setting(std::string_view key) { return default_value(key).has_value(); }

std::vector<SettingRow> setting_rows(const Config& config) {
    std::vector<SettingRow> rows;
    for (const auto& [name, fallback] : kDefaults) {
        SettingRow row{std::string(name), std::string(fallback), std::string(fallback), needs_restart(name), std::nullopt};
        if (auto it = config.written.find(name); it != config.written.end()) row.value = it->second;
        if (auto it = config.pending_restart.find(name); it != config.pending_restart.end()) row.pending = it->second;
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string with_setting(std::string_view text, std::string_view key, std::string_view value) {
    std::string out(text);
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "[pggate]\n";
    out += key;
    // No blank after '=': inih would take a value starting with ';' for a comment.
    out += " =";
    out += value;
    out += '\n';
    return out;
}

bool is_writable_value(std::string_view value) {
    auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) return false;
    if (!value.empty() && (blank(value.front()) || blank(value.back()))) return false;
    for (std::size_t i = 1; i < value.size(); ++i)
        if (value[i] == ';' && blank(value[i - 1])) return false;
    return true;
}

}  // namespace pggate::config
