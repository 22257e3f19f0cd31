// Loads pggate.ini: inih splits the text into entries, one table of keys turns
// each entry into a Config field, and every problem becomes a ConfigError
// that names the file, the line and the key.
#include "config/config.hpp"
#include "core/ascii.hpp"

#include <arpa/inet.h>
#include <ini.h>
#include <sys/un.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <system_error>
#include <thread>

namespace pggate::config {

namespace {

// Matches the `workers` range: more worker slots than this are never laid out.
constexpr int kMaxWorkers = 256;
// A year; larger values only overflow timer arithmetic further down.
constexpr double kMaxShutdownTimeout = 31536000.0;
// The Unix socket is "<dir>/.s.PGSQL.<port>", the name libpq looks for.
constexpr std::string_view kSocketFilePattern = "/.s.PGSQL.65535";

// What a setter reports: empty when it took the value, else what is wrong.
using GlobalSetter = std::string (*)(Config&, std::string_view);
using NodeSetter = std::string (*)(Node&, std::string_view);
using DatabaseSetter = std::string (*)(Database&, std::string_view);
using UserSetter = std::string (*)(User&, std::string_view);

// One accepted key. `key` is "section.name"; [pggate] keys set a Config
// field, the others are the fields of one [nodes], [databases] or [users]
// line. Exactly one setter is set.
struct KeySpec {
    std::string_view key;
    GlobalSetter set_global;
    NodeSetter set_node;
    DatabaseSetter set_database = nullptr;
    UserSetter set_user = nullptr;

    std::string_view section() const { return key.substr(0, key.find('.')); }
    std::string_view name() const { return key.substr(key.find('.') + 1); }
};

bool is_space(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

std::string range_text(long long lo, long long hi) {
    return "(" + std::to_string(lo) + ".." + std::to_string(hi) + ")";
}

template <typename T>
std::string set_int(std::string_view value, long long lo, long long hi, T& out) {
    long long n = 0;
    const char* last = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), last, n);
    if (value.empty() || ptr != last || ec == std::errc::invalid_argument)
        return quoted(value) + " is not an integer";
    if (ec == std::errc::result_out_of_range || n < lo || n > hi)
        return std::string(value) + " is out of range " + range_text(lo, hi);
    out = static_cast<T>(n);
    return {};
}

std::string set_bool(std::string_view value, bool& out) {
    for (std::string_view yes : {"1", "on", "true", "yes"}) {
        if (iequals(value, yes)) {
            out = true;
            return {};
        }
    }
    for (std::string_view no : {"0", "off", "false", "no"}) {
        if (iequals(value, no)) {
            out = false;
            return {};
        }
    }
    return quoted(value) + " is not a boolean (use 1/0, on/off, true/false or yes/no)";
}

std::string set_seconds(std::string_view value, double max, double& out) {
    double d = 0;
    const char* last = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), last, d);
    // from_chars also reads "inf" and "nan", which are no durations.
    if (value.empty() || ptr != last || ec != std::errc() || !std::isfinite(d))
        return quoted(value) + " is not a number of seconds";
    if (d < 0 || d > max)
        return std::string(value) + " is out of range (0.." + std::to_string(static_cast<long long>(max)) + ")";
    out = d;
    return {};
}

// RFC 1123 host names, plus '_' which container platforms hand out.
bool is_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    std::string_view last_label;
    while (!s.empty()) {
        auto dot = s.find('.');
        std::string_view label = s.substr(0, dot);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char c : label)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
        last_label = label;
        s = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
        if (dot != std::string_view::npos && s.empty()) break;  // one trailing dot: a rooted name
    }
    // "300.1.2.3" looks like a host name but is a mistyped IPv4 address.
    return !std::all_of(last_label.begin(), last_label.end(),
                        [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

bool is_ip_literal(std::string_view s) {
    std::string text(s);
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(AF_INET, text.c_str(), buf) == 1) return true;
    // A zone ("fe80::1%eth0") is resolved later by getaddrinfo.
    auto percent = text.find('%');
    if (percent != std::string::npos) {
        if (percent + 1 == text.size()) return false;
        text.resize(percent);
    }
    return inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::string set_listen_addr(Config& c, std::string_view value) {
    std::vector<std::string> addrs;
    if (!value.empty()) {
        while (true) {
            auto comma = value.find(',');
            std::string_view entry = trim(value.substr(0, comma));
            if (entry.empty()) return "empty entry in the address list";
            if (entry != "*" && !is_ip_literal(entry) && !is_host_name(entry))
                return quoted(entry) + " is not an IP address, a host name or *";
            if (std::find(addrs.begin(), addrs.end(), entry) != addrs.end())
                return quoted(entry) + " is listed twice";
            addrs.emplace_back(entry);
            if (comma == std::string_view::npos) break;
            value.remove_prefix(comma + 1);
        }
    }
    // "*" already binds every address, so another entry could only fail with EADDRINUSE.
    if (addrs.size() > 1 && std::find(addrs.begin(), addrs.end(), "*") != addrs.end())
        return "* cannot be combined with other addresses";
    c.listen_addr = std::move(addrs);
    return {};
}

std::string set_metrics_addr(Config& c, std::string_view value) {
    if (!is_ip_literal(value) && !is_host_name(value)) return quoted(value) + " is not an IP address or a host name";
    c.metrics_addr = value;
    return {};
}

std::string set_unix_socket_dir(Config& c, std::string_view value) {
    // The socket path has to fit in sockaddr_un, or bind() fails at start-up.
    constexpr std::size_t kMaxDir = sizeof(sockaddr_un::sun_path) - 1 - kSocketFilePattern.size();
    if (value.size() > kMaxDir)
        return "directory name is too long for a Unix socket (at most " + std::to_string(kMaxDir) + " characters)";
    c.unix_socket_dir = value;
    return {};
}

// Permissions in octal, as chmod(1) takes them ("0770", "660").
std::string set_unix_socket_mode(Config& c, std::string_view value) {
    int mode = 0;
    const char* last = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), last, mode, 8);
    if (value.empty() || ptr != last || ec != std::errc() || mode < 0 || mode > 0777)
        return quoted(value) + " is not a file mode (octal, 0 to 0777)";
    c.unix_socket_mode = mode;
    return {};
}

std::string set_syslog_facility(Config& c, std::string_view value) {
    static constexpr std::string_view kFacilities[] = {
        "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    };
    for (std::string_view f : kFacilities) {
        if (iequals(value, f)) {
            c.syslog_facility = f;
            return {};
        }
    }
    return quoted(value) + " is not a facility (use daemon, user or local0..local7)";
}

std::string set_string(std::string_view value, std::string& out) {
    out = value;
    return {};
}

std::string set_non_empty(std::string_view value, std::string& out) {
    if (value.empty()) return "must not be empty";
    out = value;
    return {};
}

std::string set_node_host(Node& n, std::string_view value) {
    if (value.empty()) return "must not be empty";
    // '/' starts a Unix socket directory, as in libpq's host=.
    if (value.front() != '/' && !is_ip_literal(value) && !is_host_name(value))
        return quoted(value) + " is not an IP address, a host name or a socket directory";
    n.host = value;
    return {};
}

// One of a fixed set of words (case-insensitive) into `out`; the error
// names `what` and lists the words: "use a, b or c".
template <typename E, typename Out>
std::string set_choice(std::string_view value, std::initializer_list<std::pair<std::string_view, E>> choices,
                       const char* what, Out& out) {
    for (const auto& [word, choice] : choices) {
        if (iequals(value, word)) {
            out = choice;
            return {};
        }
    }
    std::string words;
    std::size_t left = choices.size();
    for (const auto& choice : choices) {
        words += choice.first;
        if (--left > 0) words += left == 1 ? " or " : ", ";
    }
    return quoted(value) + " is not " + what + " (use " + words + ")";
}

template <typename T>
std::string set_pool_mode(std::string_view value, T& out) {
    return set_choice<PoolMode>(value, {{"session", PoolMode::Session}, {"transaction", PoolMode::Transaction}},
                                "a pool mode", out);
}

// Ranges shared by the [pggate] keys and their per-database/user overrides.
constexpr long long kMaxPoolSize = 100000;

std::string set_optional_bool(std::string_view value, std::optional<bool>& out) {
    bool b = false;
    std::string what = set_bool(value, b);
    if (what.empty()) out = b;
    return what;
}

std::string set_optional_int(std::string_view value, long long lo, long long hi, std::optional<int>& out) {
    int n = 0;
    std::string what = set_int(value, lo, hi, n);
    if (what.empty()) out = n;
    return what;
}

// A comma-separated list of names into `out`; `lower` folds them to lower case.
std::string set_name_list(std::string_view value, bool lower, std::vector<std::string>& out) {
    std::vector<std::string> names;
    while (!value.empty()) {
        auto comma = value.find(',');
        std::string_view name = trim(value.substr(0, comma));
        if (name.empty()) return "empty entry in the list";
        std::string entry(name);
        if (lower)
            for (char& ch : entry) ch = ascii_lower(ch);
        names.push_back(std::move(entry));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    out = std::move(names);
    return {};
}

std::string set_sslmode(std::string_view value, SslMode& out) {
    return set_choice<SslMode>(value,
                               {{"disable", SslMode::Disable},
                                {"allow", SslMode::Allow},
                                {"prefer", SslMode::Prefer},
                                {"require", SslMode::Require},
                                {"verify-ca", SslMode::VerifyCa},
                                {"verify-full", SslMode::VerifyFull}},
                               "an sslmode", out);
}

// "secure" (TLS 1.2 and 1.3), "all" (1.0 to 1.3), or a list of versions
// ("tlsv1.2, tlsv1.3"), which must have no gaps: OpenSSL takes a range.
std::string set_tls_protocols(std::string_view value, TlsSettings& out) {
    if (iequals(trim(value), "secure")) {
        out.min_version = 12, out.max_version = 13;
        return {};
    }
    if (iequals(trim(value), "all")) {
        out.min_version = 10, out.max_version = 13;
        return {};
    }
    static constexpr std::string_view kNames[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
    bool seen[4] = {false, false, false, false};
    for (std::string_view rest = value; !rest.empty();) {
        const auto sep = rest.find_first_of(", ");
        std::string_view word = trim(rest.substr(0, sep));
        rest = sep == std::string_view::npos ? std::string_view() : rest.substr(sep + 1);
        if (word.empty()) continue;
        const auto* it = std::find_if(std::begin(kNames), std::end(kNames), [&](std::string_view n) { return iequals(n, word); });
        if (it == std::end(kNames))
            return quoted(word) + " is not a TLS version (use secure, all, or tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3)";
        seen[std::distance(std::begin(kNames), it)] = true;
    }
    int lo = 0, hi = 3;
    while (lo < 4 && !seen[lo]) ++lo;
    if (lo == 4) return "no TLS version given";
    while (!seen[hi]) --hi;
    for (int v = lo; v <= hi; ++v)
        if (!seen[v]) return "the TLS versions must form a range without gaps";
    out.min_version = 10 + lo;
    out.max_version = 10 + hi;
    return {};
}

// The one list of accepted keys: the loader, known_keys() and through it the
// man page test all read it.
constexpr KeySpec kKeys[] = {
    {"pggate.listen_addr", set_listen_addr, nullptr},
    {"pggate.listen_port", [](Config& c, std::string_view v) { return set_int(v, 1, 65535, c.listen_port); }, nullptr},
    {"pggate.listen_backlog", [](Config& c, std::string_view v) { return set_int(v, 1, 65535, c.listen_backlog); },
     nullptr},
    {"pggate.unix_socket_dir", set_unix_socket_dir, nullptr},
    {"pggate.unix_socket_mode", set_unix_socket_mode, nullptr},
    {"pggate.unix_socket_group", [](Config& c, std::string_view v) { return set_string(v, c.unix_socket_group); },
     nullptr},
    {"pggate.workers", [](Config& c, std::string_view v) { return set_int(v, 0, kMaxWorkers, c.workers); }, nullptr},
    {"pggate.max_client_conn", [](Config& c, std::string_view v) { return set_int(v, 1, 1000000, c.max_client_conn); },
     nullptr},
    {"pggate.max_login_clients",
     [](Config& c, std::string_view v) { return set_int(v, 1, 1000000, c.max_login_clients); }, nullptr},
    {"pggate.max_packet_size",
     [](Config& c, std::string_view v) { return set_int(v, 1024, 2147483647, c.max_packet_size); }, nullptr},
    {"pggate.shutdown_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.shutdown_timeout); }, nullptr},
    {"pggate.logfile", [](Config& c, std::string_view v) { return set_string(v, c.logfile); }, nullptr},
    {"pggate.syslog", [](Config& c, std::string_view v) { return set_bool(v, c.syslog); }, nullptr},
    {"pggate.syslog_ident", [](Config& c, std::string_view v) { return set_non_empty(v, c.syslog_ident); }, nullptr},
    {"pggate.syslog_facility", set_syslog_facility, nullptr},
    {"pggate.verbose", [](Config& c, std::string_view v) { return set_int(v, 0, 2, c.verbose); }, nullptr},
    {"pggate.pidfile", [](Config& c, std::string_view v) { return set_string(v, c.pidfile); }, nullptr},
    {"pggate.user", [](Config& c, std::string_view v) { return set_string(v, c.user); }, nullptr},
    {"pggate.metrics_addr", set_metrics_addr, nullptr},
    {"pggate.metrics_port", [](Config& c, std::string_view v) { return set_int(v, 0, 65535, c.metrics_port); }, nullptr},
    {"pggate.pool_mode", [](Config& c, std::string_view v) { return set_pool_mode(v, c.pool_mode); }, nullptr},
    {"pggate.default_pool_size",
     [](Config& c, std::string_view v) { return set_int(v, 1, kMaxPoolSize, c.default_pool_size); }, nullptr},
    {"pggate.min_pool_size",
     [](Config& c, std::string_view v) { return set_int(v, 0, kMaxPoolSize, c.min_pool_size); }, nullptr},
    {"pggate.reserve_pool_size",
     [](Config& c, std::string_view v) { return set_int(v, 0, kMaxPoolSize, c.reserve_pool_size); }, nullptr},
    {"pggate.reserve_pool_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.reserve_pool_timeout); },
     nullptr},
    {"pggate.max_db_connections",
     [](Config& c, std::string_view v) { return set_int(v, 0, kMaxPoolSize, c.max_db_connections); }, nullptr},
    {"pggate.max_user_connections",
     [](Config& c, std::string_view v) { return set_int(v, 0, kMaxPoolSize, c.max_user_connections); }, nullptr},
    {"pggate.auth_type",
     [](Config& c, std::string_view v) {
         return set_choice<AuthType>(v,
                                     {{"trust", AuthType::Trust},
                                      {"plain", AuthType::Plain},
                                      {"md5", AuthType::Md5},
                                      {"scram-sha-256", AuthType::ScramSha256},
                                      {"cert", AuthType::Cert},
                                      {"hba", AuthType::Hba}},
                                     "an auth type", c.auth_type);
     },
     nullptr},
    {"pggate.auth_file", [](Config& c, std::string_view v) { return set_string(v, c.auth_file); }, nullptr},
    {"pggate.auth_hba_file", [](Config& c, std::string_view v) { return set_string(v, c.auth_hba_file); }, nullptr},
    {"pggate.auth_user", [](Config& c, std::string_view v) { return set_string(v, c.auth_user); }, nullptr},
    {"pggate.auth_query", [](Config& c, std::string_view v) { return set_non_empty(v, c.auth_query); }, nullptr},
    {"pggate.auth_dbname", [](Config& c, std::string_view v) { return set_string(v, c.auth_dbname); }, nullptr},
    {"pggate.auth_query_cache_ttl",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.auth_query_cache_ttl); }, nullptr},
    {"pggate.server_reset_query", [](Config& c, std::string_view v) { return set_string(v, c.server_reset_query); },
     nullptr},
    {"pggate.client_login_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.client_login_timeout); }, nullptr},
    {"pggate.client_idle_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.client_idle_timeout); }, nullptr},
    {"pggate.idle_transaction_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.idle_transaction_timeout); }, nullptr},
    {"pggate.query_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.query_timeout); }, nullptr},
    {"pggate.server_connect_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.server_connect_timeout); }, nullptr},
    {"pggate.server_idle_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.server_idle_timeout); }, nullptr},
    {"pggate.server_lifetime",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.server_lifetime); }, nullptr},
    {"pggate.server_login_retry",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.server_login_retry); }, nullptr},
    {"pggate.server_connect_retries",
     [](Config& c, std::string_view v) { return set_int(v, 0, 100, c.server_connect_retries); }, nullptr},
    {"pggate.server_check_query", [](Config& c, std::string_view v) { return set_string(v, c.server_check_query); },
     nullptr},
    {"pggate.server_check_delay",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.server_check_delay); }, nullptr},
    {"pggate.read_write_split", [](Config& c, std::string_view v) { return set_bool(v, c.read_write_split); }, nullptr},
    {"pggate.load_balance",
     [](Config& c, std::string_view v) {
         return set_choice<LoadBalance>(v,
                                        {{"round_robin", LoadBalance::RoundRobin},
                                         {"random", LoadBalance::Random},
                                         {"least_connections", LoadBalance::LeastConnections}},
                                        "a load balancing method", c.load_balance);
     },
     nullptr},
    {"pggate.read_your_writes", [](Config& c, std::string_view v) { return set_bool(v, c.read_your_writes); }, nullptr},
    {"pggate.read_only_functions",
     [](Config& c, std::string_view v) { return set_name_list(v, true, c.read_only_functions); }, nullptr},
    {"pggate.admin_users", [](Config& c, std::string_view v) { return set_name_list(v, false, c.admin_users); },
     nullptr},
    {"pggate.stats_users", [](Config& c, std::string_view v) { return set_name_list(v, false, c.stats_users); },
     nullptr},
    {"pggate.admin_listen_tcp", [](Config& c, std::string_view v) { return set_bool(v, c.admin_listen_tcp); }, nullptr},
    {"pggate.client_tls_sslmode", [](Config& c, std::string_view v) { return set_sslmode(v, c.client_tls.sslmode); },
     nullptr},
    {"pggate.client_tls_cert_file", [](Config& c, std::string_view v) { return set_string(v, c.client_tls.cert_file); },
     nullptr},
    {"pggate.client_tls_key_file", [](Config& c, std::string_view v) { return set_string(v, c.client_tls.key_file); },
     nullptr},
    {"pggate.client_tls_ca_file", [](Config& c, std::string_view v) { return set_string(v, c.client_tls.ca_file); },
     nullptr},
    {"pggate.client_tls_protocols", [](Config& c, std::string_view v) { return set_tls_protocols(v, c.client_tls); },
     nullptr},
    {"pggate.client_tls_ciphers", [](Config& c, std::string_view v) { return set_non_empty(v, c.client_tls.ciphers); },
     nullptr},
    {"pggate.server_tls_sslmode", [](Config& c, std::string_view v) { return set_sslmode(v, c.server_tls.sslmode); },
     nullptr},
    {"pggate.server_tls_cert_file", [](Config& c, std::string_view v) { return set_string(v, c.server_tls.cert_file); },
     nullptr},
    {"pggate.server_tls_key_file", [](Config& c, std::string_view v) { return set_string(v, c.server_tls.key_file); },
     nullptr},
    {"pggate.server_tls_ca_file", [](Config& c, std::string_view v) { return set_string(v, c.server_tls.ca_file); },
     nullptr},
    {"pggate.server_tls_protocols", [](Config& c, std::string_view v) { return set_tls_protocols(v, c.server_tls); },
     nullptr},
    {"pggate.server_tls_ciphers", [](Config& c, std::string_view v) { return set_non_empty(v, c.server_tls.ciphers); },
     nullptr},
    {"pggate.max_replica_lag",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.max_replica_lag); }, nullptr},
    {"pggate.max_replica_lag_bytes",
     [](Config& c, std::string_view v) { return set_int(v, 0, 1LL << 50, c.max_replica_lag_bytes); }, nullptr},
    {"pggate.replica_fallback",
     [](Config& c, std::string_view v) {
         return set_choice<ReplicaFallback>(
             v, {{"primary", ReplicaFallback::Primary}, {"error", ReplicaFallback::Error}}, "a replica_fallback",
             c.replica_fallback);
     },
     nullptr},
    {"pggate.shadow_reads", [](Config& c, std::string_view v) { return set_int(v, 0, 100, c.shadow_reads); }, nullptr},
    {"pggate.shadow_target",
     [](Config& c, std::string_view v) {
         return set_choice<ShadowTarget>(v, {{"primary", ShadowTarget::Primary}, {"replica", ShadowTarget::Replica}},
                                         "a shadow_target", c.shadow_target);
     },
     nullptr},
    {"pggate.health_check_period",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.health_check_period); }, nullptr},
    {"pggate.health_check_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.health_check_timeout); }, nullptr},
    {"pggate.health_check_user", [](Config& c, std::string_view v) { return set_string(v, c.health_check_user); },
     nullptr},
    {"pggate.health_check_dbname", [](Config& c, std::string_view v) { return set_non_empty(v, c.health_check_dbname); },
     nullptr},
    {"pggate.health_check_max_retries",
     [](Config& c, std::string_view v) { return set_int(v, 0, 1000, c.health_check_max_retries); }, nullptr},
    {"pggate.health_check_retry_delay",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.health_check_retry_delay); },
     nullptr},
    {"pggate.lag_check_period",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.lag_check_period); }, nullptr},
    {"pggate.max_prepared_statements",
     [](Config& c, std::string_view v) { return set_int(v, 0, 100000, c.max_prepared_statements); }, nullptr},
    {"pggate.query_wait_timeout",
     [](Config& c, std::string_view v) { return set_seconds(v, kMaxShutdownTimeout, c.query_wait_timeout); },
     nullptr},
    {"nodes.host", nullptr, set_node_host},
    {"nodes.port", nullptr, [](Node& n, std::string_view v) { return set_int(v, 1, 65535, n.port); }},
    {"nodes.role", nullptr,
     [](Node& n, std::string_view v) {
         return set_choice<NodeRole>(
             v, {{"auto", NodeRole::Auto}, {"primary", NodeRole::Primary}, {"replica", NodeRole::Replica}}, "a role",
             n.role);
     }},
    {"nodes.weight", nullptr, [](Node& n, std::string_view v) { return set_int(v, 0, 1000000, n.weight); }},
    {"databases.dbname", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_non_empty(v, d.dbname); }},
    {"databases.pool_mode", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_pool_mode(v, d.pool.pool_mode); }},
    {"databases.pool_size", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_optional_int(v, 1, kMaxPoolSize, d.pool.pool_size); }},
    {"databases.min_pool_size", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_optional_int(v, 0, kMaxPoolSize, d.pool.min_pool_size); }},
    {"databases.reserve_pool_size", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_optional_int(v, 0, kMaxPoolSize, d.pool.reserve_pool_size); }},
    {"databases.read_write_split", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_optional_bool(v, d.pool.read_write_split); }},
    {"databases.max_db_connections", nullptr, nullptr,
     [](Database& d, std::string_view v) { return set_int(v, 0, kMaxPoolSize, d.max_db_connections); }},
    {"users.pool_mode", nullptr, nullptr, nullptr,
     [](User& u, std::string_view v) { return set_pool_mode(v, u.pool.pool_mode); }},
    {"users.pool_size", nullptr, nullptr, nullptr,
     [](User& u, std::string_view v) { return set_optional_int(v, 1, kMaxPoolSize, u.pool.pool_size); }},
    {"users.read_write_split", nullptr, nullptr, nullptr,
     [](User& u, std::string_view v) { return set_optional_bool(v, u.pool.read_write_split); }},
    {"users.max_user_connections", nullptr, nullptr, nullptr,
     [](User& u, std::string_view v) { return set_int(v, 0, kMaxPoolSize, u.max_user_connections); }},
};

const KeySpec* find_key(std::string_view section, std::string_view name) {
    for (const KeySpec& spec : kKeys)
        if (spec.section() == section && spec.name() == name) return &spec;
    return nullptr;
}

bool is_known_section(std::string_view section) {
    return std::any_of(std::begin(kKeys), std::end(kKeys),
                       [&](const KeySpec& spec) { return spec.section() == section; });
}

bool is_node_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
}

// Everything inih's callbacks share. They must not throw (they are called
// from C), so the first problem is kept here and thrown after ini_parse_stream.
struct Parser {
    std::string_view text_;
    std::size_t pos_ = 0;
    int line_ = 0;  // the line the reader handed out last, which the handler is looking at
    const std::string& source_;
    Config config_;
    std::map<std::string, int, std::less<>> entry_lines_;  // "section.name" -> line
    int primary_line_ = 0;

    std::string error_;
    int error_line_ = 0;

    Parser(std::string_view t, const std::string& s) : text_(t), source_(s) {}

    void fail(std::string_view key, std::string_view what) {
        if (!error_.empty()) return;
        error_ = source_ + ":" + std::to_string(line_) + ": " + std::string(key) + ": " + std::string(what);
        error_line_ = line_;
    }

    void fail_line(std::string_view what) {
        if (!error_.empty()) return;
        error_ = source_ + ":" + std::to_string(line_) + ": " + std::string(what);
        error_line_ = line_;
    }

    // Copies the next physical line into inih's buffer of `size` bytes.
    char* next_line(char* buf, int size) {
        if (!error_.empty() || pos_ >= text_.size()) return nullptr;
        auto newline = text_.find('\n', pos_);
        std::string_view raw = text_.substr(pos_, newline == std::string_view::npos ? std::string_view::npos : newline - pos_);
        pos_ = newline == std::string_view::npos ? text_.size() : newline + 1;
        ++line_;

        if (raw.find('\0') != std::string_view::npos) {
            fail_line("line contains a NUL byte");
            return nullptr;
        }
        if (line_ == 1 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
        // Leading blanks are dropped so that inih never treats an indented
        // line as the continuation of the previous value.
        std::string_view content = trim(raw);
        if (!content.empty() && (content.front() == ';' || content.front() == '#')) {
            // Only a comment: its length does not matter, so pass a stub.
            content = ";";
        }
        // inih would silently cut a longer line and parse the rest as a new one.
        const std::size_t max = static_cast<std::size_t>(size) - 2;  // room for "\n\0"
        if (content.size() > max) {
            fail_line("line is too long (" + std::to_string(content.size()) + " characters; at most " +
                      std::to_string(max) + ")");
            return nullptr;
        }
        // inih calls the handler only for entries, so an unknown section
        // without entries would go unnoticed unless headers are checked here.
        if (!content.empty() && content.front() == '[') {
            for (std::size_t i = 1; i < content.size(); ++i) {
                if (content[i] == ']') {
                    std::string_view section = content.substr(1, i - 1);
                    if (!is_known_section(section)) {
                        fail("[" + std::string(section) + "]", "unknown section");
                        return nullptr;
                    }
                    break;
                }
                if (content[i] == ';' && is_space(content[i - 1])) break;  // inih reports the missing ']'
            }
        }
        std::memcpy(buf, content.data(), content.size());
        buf[content.size()] = '\n';
        buf[content.size() + 1] = '\0';
        return buf;
    }

    void on_entry(std::string_view section, std::string_view name, std::string_view value) {
        if (section.empty()) {
            fail(name, "key before any section (start with [pggate] or [nodes])");
        } else if (section == "nodes") {
            on_node(name, value);
        } else if (section == "databases") {
            on_database(name, value);
        } else if (section == "users") {
            on_user(name, value);
        } else if (!is_known_section(section)) {
            fail("[" + std::string(section) + "]", "unknown section");
        } else {
            const KeySpec* spec = find_key(section, name);
            if (spec == nullptr || spec->set_global == nullptr) {
                fail(name, "unknown key in [" + std::string(section) + "]");
                return;
            }
            std::string what = spec->set_global(config_, value);
            if (!what.empty())
                fail(name, what);
            else
                config_.written[std::string(name)] = std::string(value);
        }
    }

    // Reads the "key=value key=value" fields of a [nodes], [databases] or
    // [users] line into `entry`; false after a failure.
    template <typename Entry>
    bool read_fields(std::string_view section, std::string_view name, std::string_view value, Entry& entry) {
        std::vector<std::string_view> seen;
        while (true) {
            value = trim(value);
            if (value.empty()) return true;
            auto end = std::find_if(value.begin(), value.end(), is_space) - value.begin();
            std::string_view token = value.substr(0, static_cast<std::size_t>(end));
            value.remove_prefix(static_cast<std::size_t>(end));

            auto eq = token.find('=');
            if (eq == std::string_view::npos || eq == 0) {
                fail(name, quoted(token) + " is not key=value");
                return false;
            }
            std::string_view key = token.substr(0, eq);
            std::string field = std::string(name) + "." + std::string(key);
            const KeySpec* spec = find_key(section, key);
            if (spec == nullptr) {
                fail(field, "unknown key (use " + key_list(section) + ")");
                return false;
            }
            if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
                fail(field, "given twice");
                return false;
            }
            seen.push_back(key);
            std::string what = set_field(*spec, entry, token.substr(eq + 1));
            if (!what.empty()) {
                fail(field, what);
                return false;
            }
        }
    }

    static std::string set_field(const KeySpec& spec, Node& n, std::string_view v) { return spec.set_node(n, v); }
    static std::string set_field(const KeySpec& spec, Database& d, std::string_view v) {
        return spec.set_database(d, v);
    }
    static std::string set_field(const KeySpec& spec, User& u, std::string_view v) { return spec.set_user(u, v); }

    // A name may be listed once per section.
    bool first_time(std::string_view section, std::string_view name) {
        auto [it, added] = entry_lines_.emplace(std::string(section) + "." + std::string(name), line_);
        if (!added)
            fail(name, "listed twice in [" + std::string(section) + "] (first on line " + std::to_string(it->second) + ")");
        return added;
    }

    void on_node(std::string_view name, std::string_view value) {
        if (!is_node_name(name)) {
            fail(name, "a node name may only contain A-Z a-z 0-9 _ . -");
            return;
        }
        if (!first_time("nodes", name)) return;
        if (config_.nodes.size() == kMaxNodes) {
            fail(name, "more than " + std::to_string(kMaxNodes) + " nodes");
            return;
        }
        Node node;
        node.name = name;
        if (!read_fields("nodes", name, value, node)) return;
        if (node.host.empty()) {
            fail(name, "host= is required");
            return;
        }
        if (node.role == NodeRole::Primary) {
            if (primary_line_ != 0) {
                fail(name, "role=primary is already given to node " + config_.primary().name + " on line " +
                               std::to_string(primary_line_) + "; there can be only one primary");
                return;
            }
            primary_line_ = line_;
        }
        config_.nodes.push_back(std::move(node));
    }

    // A line without a name ("= pool_size=3") could never match a client,
    // whose database and user names are never empty.
    bool named(std::string_view section, std::string_view name) {
        if (name.empty()) fail_line("[" + std::string(section) + "]: an entry needs a name before '='");
        return !name.empty();
    }

    void on_database(std::string_view name, std::string_view value) {
        if (!named("databases", name) || !first_time("databases", name)) return;
        Database db;
        db.name = name;
        if (read_fields("databases", name, value, db)) config_.databases.push_back(std::move(db));
    }

    void on_user(std::string_view name, std::string_view value) {
        if (!named("users", name) || !first_time("users", name)) return;
        User user;
        user.name = name;
        if (read_fields("users", name, value, user)) config_.users.push_back(std::move(user));
    }

    static std::string key_list(std::string_view section) {
        std::string list;
        for (const KeySpec& spec : kKeys) {
            if (spec.section() != section) continue;
            if (!list.empty()) list += ", ";
            list += spec.name();
        }
        return list;
    }
};

char* read_line(char* buf, int size, void* stream) {
    auto* parser = static_cast<Parser*>(stream);
    try {
        return parser->next_line(buf, size);
    } catch (const std::exception& e) {
        parser->fail_line(e.what());
        return nullptr;
    }
}

int handle_entry(void* user, const char* section, const char* name, const char* value) {
    auto* parser = static_cast<Parser*>(user);
    try {
        parser->on_entry(section, name, value);
    } catch (const std::exception& e) {
        parser->fail(name, e.what());
    }
    return parser->error_.empty() ? 1 : 0;
}

}  // namespace

const Node& Config::primary() const {
    assert(!nodes.empty() && "parse_config never returns a Config without nodes");
    for (const Node& node : nodes)
        if (node.role == NodeRole::Primary) return node;
    return nodes.front();
}

std::optional<std::uint32_t> Config::node_index(std::string_view name) const {
    for (std::uint32_t i = 0; i < nodes.size(); ++i)
        if (nodes[i].name == name) return i;
    return std::nullopt;
}

namespace {

template <typename Entry>
const Entry* find_entry(const std::vector<Entry>& entries, std::string_view name) {
    for (const Entry& e : entries)
        if (e.name == name) return &e;
    return nullptr;
}

}  // namespace

PoolSettings Config::pool_settings(std::string_view database_name, std::string_view user_name) const {
    const Database* db = find_entry(databases, database_name);
    if (db == nullptr) db = find_entry(databases, "*");
    const User* u = find_entry(users, user_name);
    PoolOverrides none;
    const PoolOverrides& d = db != nullptr ? db->pool : none;
    const PoolOverrides& o = u != nullptr ? u->pool : none;

    PoolSettings s;
    s.pool_mode = o.pool_mode.value_or(d.pool_mode.value_or(pool_mode));
    s.pool_size = o.pool_size.value_or(d.pool_size.value_or(default_pool_size));
    s.min_pool_size = std::min(d.min_pool_size.value_or(min_pool_size), s.pool_size);
    s.reserve_pool_size = d.reserve_pool_size.value_or(reserve_pool_size);
    s.read_write_split = o.read_write_split.value_or(d.read_write_split.value_or(read_write_split));
    s.max_db_connections = db != nullptr && db->max_db_connections >= 0 ? db->max_db_connections : max_db_connections;
    s.max_user_connections =
        u != nullptr && u->max_user_connections >= 0 ? u->max_user_connections : max_user_connections;
    s.server_database = db != nullptr && !db->dbname.empty() ? db->dbname : std::string(database_name);
    return s;
}

Config parse_config(std::string_view text, const std::string& source) {
    Parser parser(text, source);
    parser.config_.source = source;
    int rc = ini_parse_stream(read_line, &parser, handle_entry, &parser);
    if (rc > 0 && (parser.error_.empty() || rc < parser.error_line_))
        throw ConfigError(source + ":" + std::to_string(rc) + ": syntax error");
    if (!parser.error_.empty()) throw ConfigError(parser.error_);
    if (rc < 0) throw ConfigError(source + ": cannot parse (inih error " + std::to_string(rc) + ")");

    Config& config = parser.config_;
    if (config.nodes.empty()) throw ConfigError(source + ": [nodes]: at least one node is required");
    if (config.listen_addr.empty() && config.unix_socket_dir.empty())
        throw ConfigError(source + ": [pggate]: listen_addr and unix_socket_dir are both empty, so nothing would listen");
    // Without an auth source the server checks passwords itself, which only
    // works when each client logs in to a server connection of its own.
    if (config.auth_type == AuthType::Hba && config.auth_hba_file.empty())
        throw ConfigError(source + ": [pggate]: auth_type: hba needs auth_hba_file");
    const bool auth_source = !config.auth_file.empty() || !config.auth_user.empty();
    // hba rules may all be trust or reject, which need no secrets.
    if (!auth_source && config.auth_type != AuthType::Trust && config.auth_type != AuthType::Passthrough &&
        config.auth_type != AuthType::Hba && config.auth_type != AuthType::Cert)
        throw ConfigError(source + ": [pggate]: auth_type: needs auth_file or auth_user (or auth_type = trust or cert)");
    if (auth_source && config.auth_type == AuthType::Passthrough) config.auth_type = AuthType::Md5;
    const TlsSettings& ct = config.client_tls;
    if (ct.sslmode != SslMode::Disable && (ct.cert_file.empty() || ct.key_file.empty()))
        throw ConfigError(source + ": [pggate]: client_tls_sslmode: TLS for clients needs client_tls_cert_file and client_tls_key_file");
    if ((ct.sslmode == SslMode::VerifyCa || ct.sslmode == SslMode::VerifyFull) && ct.ca_file.empty())
        throw ConfigError(source + ": [pggate]: client_tls_sslmode: " +
                          (ct.sslmode == SslMode::VerifyCa ? "verify-ca" : "verify-full") +
                          " checks client certificates against client_tls_ca_file, which is not set");
    if (config.auth_type == AuthType::Cert && (ct.sslmode == SslMode::Disable || ct.ca_file.empty()))
        throw ConfigError(source + ": [pggate]: auth_type: cert needs client_tls_sslmode and client_tls_ca_file");
    const TlsSettings& st = config.server_tls;
    if ((st.sslmode == SslMode::VerifyCa || st.sslmode == SslMode::VerifyFull) && st.ca_file.empty())
        throw ConfigError(source + ": [pggate]: server_tls_sslmode: " +
                          (st.sslmode == SslMode::VerifyCa ? "verify-ca" : "verify-full") +
                          " checks server certificates against server_tls_ca_file, which is not set");
    if (st.cert_file.empty() != st.key_file.empty())
        throw ConfigError(source + ": [pggate]: server_tls_cert_file and server_tls_key_file go together");
    if (config.auth_type == AuthType::Passthrough) {
        const char* needs = "transaction pooling needs auth_file, auth_user or auth_type = trust";
        if (config.pool_mode == PoolMode::Transaction) throw ConfigError(source + ": [pggate]: pool_mode: " + needs);
        for (const Database& d : config.databases)
            if (d.pool.pool_mode == PoolMode::Transaction)
                throw ConfigError(source + ": [databases]: " + d.name + ".pool_mode: " + needs);
        for (const User& u : config.users)
            if (u.pool.pool_mode == PoolMode::Transaction)
                throw ConfigError(source + ": [users]: " + u.name + ".pool_mode: " + needs);
    }
    return std::move(config);
}

std::string read_config_file(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!file) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
    std::string text;
    char buf[8192];
    while (true) {
        std::size_t n = std::fread(buf, 1, sizeof buf, file.get());
        text.append(buf, n);
        if (n < sizeof buf) break;
    }
    // fopen() succeeds on a directory; the read is what fails (EISDIR).
    if (std::ferror(file.get())) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
    return text;
}

int effective_workers(const Config& config) {
    if (config.workers > 0) return config.workers;
    auto cpus = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(cpus, 1, kMaxWorkers);
}

const std::vector<std::string_view>& known_keys() {
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> v;
        for (const KeySpec& spec : kKeys) v.push_back(spec.key);
        return v;
    }();
    return keys;
}

}  // namespace pggate::config
