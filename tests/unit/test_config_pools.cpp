// The [databases] and [users] sections and how pool settings resolve from
// them and from [pggate].
#include <doctest/doctest.h>

#include "config/config.hpp"

using namespace pggate::config;

namespace {

constexpr const char* kNodes = "[nodes]\nn1 = host=127.0.0.1\n";

Config parse(const std::string& text) {
    return parse_config(std::string("[pggate]\nauth_type = trust\n") + text + kNodes, "t.ini");
}

std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("without [databases] and [users] every pool gets the [pggate] settings") {
    Config c = parse(
        "pool_mode = transaction\ndefault_pool_size = 7\nmin_pool_size = 2\nreserve_pool_size = 3\n"
        "max_db_connections = 40\nmax_user_connections = 50\n");
    PoolSettings s = c.pool_settings("app", "alice");
    CHECK(s.pool_mode == PoolMode::Transaction);
    CHECK(s.pool_size == 7);
    CHECK(s.min_pool_size == 2);
    CHECK(s.reserve_pool_size == 3);
    CHECK(s.max_db_connections == 40);
    CHECK(s.max_user_connections == 50);
    CHECK(s.server_database == "app");
}

TEST_CASE("a user's line beats its database's line, which beats [pggate]") {
    Config c = parse(
        "default_pool_size = 7\n"
        "[databases]\napp = pool_mode=transaction pool_size=5 min_pool_size=1 max_db_connections=9\n"
        "[users]\nalice = pool_mode=session pool_size=3 max_user_connections=4\n");
    PoolSettings alice = c.pool_settings("app", "alice");
    CHECK(alice.pool_mode == PoolMode::Session);
    CHECK(alice.pool_size == 3);
    CHECK(alice.min_pool_size == 1);
    CHECK(alice.max_db_connections == 9);
    CHECK(alice.max_user_connections == 4);
    PoolSettings bob = c.pool_settings("app", "bob");
    CHECK(bob.pool_mode == PoolMode::Transaction);
    CHECK(bob.pool_size == 5);
    CHECK(bob.max_user_connections == 0);
    PoolSettings other = c.pool_settings("other", "bob");
    CHECK(other.pool_mode == PoolMode::Session);
    CHECK(other.pool_size == 7);
    CHECK(other.max_db_connections == 0);
}

TEST_CASE("dbname renames the database on the servers; * covers unlisted databases") {
    Config c = parse("[databases]\nshop = dbname=shop_prod\n* = pool_size=2\n");
    CHECK(c.pool_settings("shop", "u").server_database == "shop_prod");
    CHECK(c.pool_settings("shop", "u").pool_size == 20);
    CHECK(c.pool_settings("misc", "u").server_database == "misc");
    CHECK(c.pool_settings("misc", "u").pool_size == 2);
}

TEST_CASE("min_pool_size never exceeds the pool's size") {
    Config c = parse("min_pool_size = 10\n[users]\nalice = pool_size=4\n");
    CHECK(c.pool_settings("db", "alice").min_pool_size == 4);
    CHECK(c.pool_settings("db", "bob").min_pool_size == 10);
}

TEST_CASE("[databases] and [users] lines are checked field by field") {
    CHECK(error_of("[databases]\napp = pool_size=0\n") == "t.ini:4: app.pool_size: 0 is out of range (1..100000)");
    CHECK(error_of("[databases]\napp = pool_mode=statement\n") ==
          "t.ini:4: app.pool_mode: \"statement\" is not a pool mode (use session or transaction)");
    CHECK(error_of("[databases]\napp = host=x\n") ==
          "t.ini:4: app.host: unknown key (use dbname, pool_mode, pool_size, min_pool_size, reserve_pool_size, "
          "read_write_split, max_db_connections)");
    CHECK(error_of("[databases]\napp = dbname=\n") == "t.ini:4: app.dbname: must not be empty");
    // Found by the config fuzz target: a line without a name was taken as the pool of database "".
    CHECK(error_of("[databases]\n= pool_size=3\n") == "t.ini:4: [databases]: an entry needs a name before '='");
    CHECK(error_of("[users]\n = pool_size=3\n") == "t.ini:4: [users]: an entry needs a name before '='");
    CHECK(error_of("[users]\nalice = max_db_connections=3\n") ==
          "t.ini:4: alice.max_db_connections: unknown key (use pool_mode, pool_size, read_write_split, "
          "max_user_connections)");
    CHECK(error_of("[users]\nalice = pool_size=2 pool_size=3\n") == "t.ini:4: alice.pool_size: given twice");
    CHECK(error_of("[users]\nalice = pool_size=2\nalice = pool_size=3\n") ==
          "t.ini:5: alice: listed twice in [users] (first on line 4)");
}

TEST_CASE("the same name may appear as a database, a user and a node") {
    Config c = parse("[databases]\nn1 = pool_size=2\n[users]\nn1 = pool_size=3\n");
    CHECK(c.pool_settings("n1", "x").pool_size == 2);
    CHECK(c.pool_settings("x", "n1").pool_size == 3);
}

TEST_CASE("transaction pooling anywhere needs pggate to authenticate clients") {
    auto passthrough = [](const std::string& text) {
        try {
            parse_config("[pggate]\n" + text + kNodes, "t.ini");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(passthrough("[databases]\napp = pool_mode=transaction\n") ==
          "t.ini: [databases]: app.pool_mode: transaction pooling needs auth_file, auth_user or auth_type = trust");
    CHECK(passthrough("[users]\nalice = pool_mode=transaction\n") ==
          "t.ini: [users]: alice.pool_mode: transaction pooling needs auth_file, auth_user or auth_type = trust");
    CHECK(passthrough("[databases]\napp = pool_mode=session pool_size=3\n").empty());
}

TEST_CASE("server check and retry settings") {
    Config d = parse("");
    CHECK(d.server_check_query == "select 1");
    CHECK(d.server_check_delay == 30.0);
    CHECK(d.server_login_retry == 15.0);
    CHECK(d.reserve_pool_timeout == 5.0);
    Config c = parse("server_check_query =\nserver_check_delay = 0\nserver_login_retry = 0.5\n");
    CHECK(c.server_check_query.empty());
    CHECK(c.server_check_delay == 0.0);
    CHECK(c.server_login_retry == 0.5);
}

TEST_CASE("read/write splitting settings") {
    Config d = parse("");
    CHECK(d.read_write_split);
    CHECK(d.read_your_writes);
    CHECK(d.load_balance == LoadBalance::RoundRobin);
    CHECK(d.read_only_functions.empty());
    Config c = parse("read_write_split = off\nload_balance = Least_Connections\nread_your_writes = no\n"
                     "read_only_functions = My_Func, app.lookup ,pg_is_in_recovery\n");
    CHECK_FALSE(c.read_write_split);
    CHECK_FALSE(c.read_your_writes);
    CHECK(c.load_balance == LoadBalance::LeastConnections);
    CHECK(c.read_only_functions == std::vector<std::string>{"my_func", "app.lookup", "pg_is_in_recovery"});
    CHECK(error_of("load_balance = fastest\n") ==
          "t.ini:3: load_balance: \"fastest\" is not a load balancing method (use round_robin, random or "
          "least_connections)");
    CHECK(error_of("read_only_functions = a,,b\n") == "t.ini:3: read_only_functions: empty entry in the list");
}

TEST_CASE("read_write_split per database and per user") {
    Config c = parse("read_write_split = on\n[databases]\nreports = read_write_split=off\n"
                     "[users]\nanalyst = read_write_split=yes\n");
    CHECK(c.pool_settings("app", "bob").read_write_split);
    CHECK_FALSE(c.pool_settings("reports", "bob").read_write_split);
    CHECK(c.pool_settings("reports", "analyst").read_write_split);
    CHECK(error_of("[users]\nx = read_write_split=maybe\n") ==
          "t.ini:4: x.read_write_split: \"maybe\" is not a boolean (use 1/0, on/off, true/false or yes/no)");
}
