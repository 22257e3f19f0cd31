// Unit tests of the [pggate] settings table behind SHOW CONFIG and SET:
// defaults held to the loader, values as written, restart-only keys across
// a reload, and runtime SET text.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"
#include "config/reload.hpp"
#include "config/settings.hpp"

using namespace pggate::config;

namespace {

constexpr const char* kNodes = "[nodes]\ndb1 = host=127.0.0.1\n";

Config parse(const std::string& text) { return parse_config(text, "t.ini"); }

const SettingRow& row(const std::vector<SettingRow>& rows, const std::string& key) {
    for (const SettingRow& r : rows)
        if (r.key == key) return r;
    FAIL("no row " << key);
    return rows.front();
}

}  // namespace

TEST_CASE("settings: one row per [pggate] key, in the loader's order") {
    std::vector<std::string> pggate_keys;
    for (std::string_view key : known_keys())
        if (key.starts_with("pggate.")) pggate_keys.emplace_back(key.substr(7));
    std::vector<std::string> shown;
    for (const SettingRow& r : setting_rows(parse(kNodes))) shown.push_back(r.key);
    CHECK(shown == pggate_keys);
    CHECK_FALSE(is_setting("nodes.host"));
    CHECK_FALSE(is_setting("application_name"));
}

TEST_CASE("settings: writing each default changes nothing") {
    Config defaults = parse(std::string("[pggate]\n") + kNodes);
    for (const SettingRow& r : setting_rows(defaults)) {
        CAPTURE(r.key);
        CHECK(r.value == r.default_value);
        // auth_type's default follows from auth_file and auth_user: no value spells it.
        if (r.key == "auth_type") {
            CHECK(r.default_value.empty());
            continue;
        }
        Config written = parse("[pggate]\n" + r.key + " = " + r.default_value + "\n" + kNodes);
        CHECK(written.written.at(r.key) == r.default_value);
        written.written.clear();
        CHECK(written == defaults);
    }
}

TEST_CASE("settings: the value as the file writes it, the last one of a key given twice") {
    Config c = parse("[pggate]\ndefault_pool_size = 7\nquery_timeout = 2.5\ndefault_pool_size = 9\n" + std::string(kNodes));
    auto rows = setting_rows(c);
    CHECK(row(rows, "default_pool_size").value == "9");
    CHECK(row(rows, "default_pool_size").default_value == "20");
    CHECK(row(rows, "query_timeout").value == "2.5");
    CHECK(row(rows, "pool_mode").value == "session");
    CHECK_FALSE(row(rows, "default_pool_size").needs_restart);
    CHECK(row(rows, "listen_port").needs_restart);
    CHECK(c.default_pool_size == 9);
}

TEST_CASE("settings: a reload keeps restart-only values running and shows the file's as pending") {
    Config running = parse("[pggate]\nlisten_port = 7000\ndefault_pool_size = 5\n" + std::string(kNodes));
    Config next = parse("[pggate]\nlisten_port = 7001\nworkers = 3\ndefault_pool_size = 6\n" + std::string(kNodes));
    auto changed = carry_restart_settings(running, next);
    CHECK(changed == std::vector<std::string>{"listen_port", "workers"});
    auto rows = setting_rows(next);
    CHECK(row(rows, "listen_port").value == "7000");
    CHECK(row(rows, "listen_port").pending == "7001");
    CHECK(row(rows, "workers").value == "0");  // not written before: the default runs
    CHECK(row(rows, "workers").pending == "3");
    CHECK(row(rows, "default_pool_size").value == "6");
    CHECK_FALSE(row(rows, "default_pool_size").pending);
    CHECK(next.listen_port == 7000);

    // The file going back to the running value leaves nothing pending.
    Config back = parse("[pggate]\nlisten_port = 7000\n" + std::string(kNodes));
    CHECK(carry_restart_settings(next, back).empty());
    CHECK(back.pending_restart.empty());
    // Removing a written restart-only key is a change to its default.
    Config removed = parse(kNodes);
    CHECK(carry_restart_settings(running, removed) == std::vector<std::string>{"listen_port"});
    CHECK(row(setting_rows(removed), "listen_port").pending == "6432");
    CHECK(row(setting_rows(removed), "listen_port").value == "7000");
}

TEST_CASE("settings: a runtime SET is a [pggate] line after the file's") {
    const std::string file = "[pggate]\ndefault_pool_size = 5\n[nodes]\ndb1 = host=127.0.0.1";  // no final newline
    const std::string text = with_setting(file, "default_pool_size", "8");
    Config c = parse(text);
    CHECK(c.default_pool_size == 8);
    CHECK(c.nodes.size() == 1);
    CHECK(parse(with_setting(text, "load_balance", "random")).load_balance == LoadBalance::Random);
    CHECK_THROWS_AS(parse(with_setting(file, "default_pool_size", "many")), ConfigError);
    CHECK(default_value("no_such_key") == std::nullopt);
    CHECK(needs_restart("workers"));
    CHECK_FALSE(needs_restart("default_pool_size"));
}

TEST_CASE("settings: a runtime SET reads back the value it was given") {
    // Found by the config fuzz target: "key = ;x" reads as an empty value,
    // so a SET of ";select 1" used to turn server_check_query off.
    const std::string file = "[pggate]\nserver_check_query =;select 1\n[nodes]\ndb1 = host=127.0.0.1\n";
    Config c = parse(file);
    REQUIRE(c.server_check_query == ";select 1");
    CHECK(parse(with_setting(file, "server_check_query", ";select 1")) == c);
    CHECK(parse(with_setting(file, "server_check_query", ";x")).server_check_query == ";x");
    CHECK(parse(with_setting(file, "auth_query", "select a;b")).auth_query == "select a;b");
    CHECK(parse(with_setting(file, "logfile", "")).logfile.empty());

    CHECK(is_writable_value(";select 1"));
    CHECK(is_writable_value("select a;b"));
    CHECK(is_writable_value(""));
    // Values a line of pggate.ini cannot hold, which SET refuses.
    CHECK_FALSE(is_writable_value("select 1 ; select 2"));
    CHECK_FALSE(is_writable_value("a\t;b"));
    CHECK_FALSE(is_writable_value(" x"));
    CHECK_FALSE(is_writable_value("x "));
    CHECK_FALSE(is_writable_value("a\nb"));
    CHECK_FALSE(is_writable_value(std::string("a\0b", 3)));
    CHECK(parse(with_setting(file, "server_check_query", "select 1 ; select 2")).server_check_query == "select 1");
}

TEST_CASE("settings: the man page marks exactly the restart-only keys \"Reload: restart\"") {
    const std::string man = read_config_file("man/pggate.ini.5");
    for (const SettingRow& r : setting_rows(parse(kNodes))) {
        CAPTURE(r.key);
        const std::size_t entry = man.find("\n.TP\n.B " + r.key + "\n");
        REQUIRE(entry != std::string::npos);
        const std::size_t reload = man.find("Reload: ", entry);
        REQUIRE(reload != std::string::npos);
        const bool marked_restart = man.compare(reload, 16, "Reload: restart.") == 0;
        CHECK(marked_restart == r.needs_restart);
    }
}
