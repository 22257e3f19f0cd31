// Fuzzes the text formats an operator writes: pggate.ini (the inih loader;
// only ConfigError may escape it), pg_hba.conf rules and the auth_file, each
// on every input.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "auth/auth_file.hpp"
#include "auth/hba.hpp"
#include "config/config.hpp"
#include "config/settings.hpp"
#include "fuzz_util.hpp"

using namespace pggate;

namespace {

void check_config(std::string_view text) {
    config::Config c;
    try {
        c = config::parse_config(text, "fuzz.ini");
    } catch (const config::ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.ini:"));
        return;
    }
    FUZZ_CHECK(!c.nodes.empty() && c.nodes.size() <= config::kMaxNodes);
    int primaries = 0;
    for (std::size_t i = 0; i < c.nodes.size(); ++i) {
        const config::Node& n = c.nodes[i];
        FUZZ_CHECK(!n.name.empty() && !n.host.empty() && n.port >= 1 && n.port <= 65535);
        primaries += n.role == config::NodeRole::Primary;
        for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(c.nodes[j].name != n.name);
    }
    FUZZ_CHECK(primaries <= 1);
    const config::Node& primary = c.primary();
    FUZZ_CHECK(primaries == 0 ? &primary == &c.nodes.front() : primary.role == config::NodeRole::Primary);
    FUZZ_CHECK(!c.listen_addr.empty() || !c.unix_socket_dir.empty());
    FUZZ_CHECK(c.auth_type != config::AuthType::Hba || !c.auth_hba_file.empty());
    FUZZ_CHECK(config::effective_workers(c) >= 1);

    for (const config::Database& d : c.databases) {
        for (const config::User& u : c.users) {
            config::PoolSettings s = c.pool_settings(d.name, u.name);
            FUZZ_CHECK(s.pool_size >= 1 && s.min_pool_size <= s.pool_size && !s.server_database.empty());
        }
        FUZZ_CHECK(c.pool_settings(d.name, "nobody").pool_size >= 1);
    }

    std::size_t keys = 0;
    for (std::string_view k : config::known_keys()) keys += k.starts_with("pggate.");
    auto rows = config::setting_rows(c);
    FUZZ_CHECK(rows.size() == keys);
    for (const config::SettingRow& r : rows) {
        FUZZ_CHECK(config::is_setting(r.key));
        auto it = c.written.find(r.key);
        FUZZ_CHECK(r.value == (it != c.written.end() ? it->second : std::string(*config::default_value(r.key))));
    }
    for (const auto& [key, value] : c.written) FUZZ_CHECK(config::is_setting(key));

    // Writing a value the file already gives (what a runtime SET of the same
    // value does) yields the same configuration.
    for (const auto& [key, value] : c.written) {
        std::string again = config::with_setting(text, key, value);
        try {
            FUZZ_CHECK(config::parse_config(again, "fuzz.ini") == c);
        } catch (const config::ConfigError& e) {
            // Only the longer line may be refused.
            FUZZ_CHECK(std::string_view(e.what()).find("line is too long") != std::string_view::npos);
        }
    }
}

sockaddr_in v4(const char* a) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    FUZZ_CHECK(inet_pton(AF_INET, a, &s.sin_addr) == 1);
    return s;
}

sockaddr_in6 v6(const char* a) {
    sockaddr_in6 s{};
    s.sin6_family = AF_INET6;
    FUZZ_CHECK(inet_pton(AF_INET6, a, &s.sin6_addr) == 1);
    return s;
}

void check_hba(std::string_view text) {
    std::string error;
    auto rules = auth::parse_hba(text, error);
    if (!rules) {
        FUZZ_CHECK(error.starts_with("line "));
        return;
    }
    int last_line = 0;
    for (const auth::HbaRule& r : rules->rules) {
        FUZZ_CHECK(r.line > last_line);
        last_line = r.line;
        if (r.kind == auth::HbaRule::Kind::Local) continue;
        if (r.any_address) continue;
        FUZZ_CHECK(r.family == AF_INET || r.family == AF_INET6);
        for (int i = 0; i < 16; ++i) FUZZ_CHECK((r.address[i] & ~r.mask[i]) == 0);
        if (r.family == AF_INET)
            for (int i = 4; i < 16; ++i) FUZZ_CHECK(r.mask[i] == 0);
    }

    static const sockaddr_in a1 = v4("127.0.0.1");
    static const sockaddr_in a2 = v4("10.1.2.3");
    static const sockaddr_in6 a3 = v6("::1");
    static const sockaddr_in6 a4 = v6("::ffff:10.1.2.3");
    const sockaddr* addrs[] = {reinterpret_cast<const sockaddr*>(&a1), reinterpret_cast<const sockaddr*>(&a2),
                               reinterpret_cast<const sockaddr*>(&a3), reinterpret_cast<const sockaddr*>(&a4)};
    std::string db = "postgres";
    std::string user = "alice";
    if (!rules->rules.empty()) {
        if (!rules->rules[0].databases.empty()) db = rules->rules[0].databases[0];
        if (!rules->rules[0].users.empty()) user = rules->rules[0].users[0];
    }
    for (int k = 0; k < 10; ++k) {
        auth::HbaConnection conn;
        conn.local = k == 0;
        conn.tls = k % 2 == 1;
        conn.address = conn.local ? nullptr : addrs[k % 4];
        conn.database = k < 5 ? std::string_view(db) : std::string_view("postgres");
        conn.user = k < 5 ? std::string_view(user) : std::string_view("alice");
        // First match: the earliest rule that matches on its own.
        const auth::HbaRule* first = nullptr;
        for (const auth::HbaRule& r : rules->rules) {
            auth::HbaRules single;
            single.rules.push_back(r);
            if (auth::match_hba(single, conn) != nullptr) {
                first = &r;
                break;
            }
        }
        FUZZ_CHECK(auth::match_hba(*rules, conn) == first);
    }
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        out += c;
        if (c == '"') out += '"';
    }
    return out + "\"";
}

void check_auth_file(std::string_view text) {
    std::string error;
    auto users = auth::parse_auth_file(text, error);
    if (!users) {
        FUZZ_CHECK(error.starts_with("line "));
        return;
    }
    // Written back in the file's own syntax, the same users come out.
    std::string again;
    for (const auto& [user, secret] : *users) {
        FUZZ_CHECK(!user.empty());
        FUZZ_CHECK(user.find('\0') == std::string::npos && secret.find('\0') == std::string::npos);
        FUZZ_CHECK(user.find('\n') == std::string::npos && secret.find('\n') == std::string::npos);
        (void)auth::secret_kind(secret);
        again += quote(user) + " " + quote(secret) + "\n";
    }
    auto back = auth::parse_auth_file(again, error);
    FUZZ_CHECK(back && *back == *users);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_config(text);
    check_hba(text);
    check_auth_file(text);
    return 0;
}
