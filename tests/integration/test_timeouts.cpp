// Client and server timeouts end exactly the connections that overstayed,
// with the documented SQLSTATE, and leave no transaction open on a server.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

namespace {

Pggate pool_with(std::vector<std::string> settings) {
    settings.insert(settings.end(), {"pool_mode = transaction", "auth_type = trust", "workers = 1"});
    return Pggate(settings);
}

std::string open_transactions() {
    return cluster().admin().scalar(
        "select count(*) from pg_stat_activity where backend_type = 'client backend' and state like 'idle in%'");
}

}  // namespace

TEST_CASE("timeouts: idle_transaction_timeout closes the client and rolls back on the server") {
    PGGATE_ONLY();
    Pggate gate = pool_with({"idle_transaction_timeout = 1"});
    PgConn c(gate.conninfo());
    c.exec_ok("begin");
    c.exec_ok("select 1");
    sleep_for(2.2);
    PgResult r = c.exec("select 2");
    CHECK(PQresultStatus(r.get()) != PGRES_TUPLES_OK);
    CHECK(std::string(PQerrorMessage(c.get())).find("idle_transaction_timeout") != std::string::npos);
    CHECK(eventually([] { return open_transactions() == "0"; }, 3));
    // A client that keeps working inside its transaction is not touched.
    PgConn busy(gate.conninfo());
    busy.exec_ok("begin");
    for (int i = 0; i < 6; ++i) {
        sleep_for(0.4);
        busy.exec_ok("select 1");
    }
    busy.exec_ok("commit");
}

TEST_CASE("timeouts: query_timeout ends a long query with 57014, short ones run") {
    PGGATE_ONLY();
    Pggate gate = pool_with({"query_timeout = 1"});
    PgConn c(gate.conninfo());
    c.exec_ok("select pg_sleep(0.3)");
    Clock::time_point start = Clock::now();
    PgResult r = c.exec("select pg_sleep(10)");
    CHECK(PQresultStatus(r.get()) != PGRES_TUPLES_OK);
    CHECK(seconds_since(start) < 4);
    CHECK(std::string(PQerrorMessage(c.get())).find("query_timeout") != std::string::npos);
    // The server that ran it is gone, not back in the pool still sleeping.
    CHECK(eventually(
        [] {
            return cluster().admin().scalar(
                       "select count(*) from pg_stat_activity where query = 'select pg_sleep(10)' and state = 'active'") == "0";
        },
        3));
    PgConn next(gate.conninfo());
    CHECK(next.scalar("select 1") == "1");
}

TEST_CASE("timeouts: client_login_timeout closes a connection that never logs in") {
    PGGATE_ONLY();
    Pggate gate = pool_with({"client_login_timeout = 1"});
    RawClient raw(gate.port());
    auto error = raw.read_error(4);
    REQUIRE(error.has_value());
    CHECK((*error)['C'] == "08P01");
    CHECK((*error)['M'] == "client_login_timeout");
    CHECK(raw.wait_eof(2));
    PgConn ok(gate.conninfo());
    CHECK(ok.scalar("select 1") == "1");
}

TEST_CASE("timeouts: client_idle_timeout closes idle clients only") {
    PGGATE_ONLY();
    Pggate gate = pool_with({"client_idle_timeout = 1"});
    PgConn idle(gate.conninfo());
    PgConn active(gate.conninfo());
    for (int i = 0; i < 6; ++i) {
        sleep_for(0.4);
        active.exec_ok("select 1");
    }
    PgResult r = idle.exec("select 1");
    CHECK(PQresultStatus(r.get()) != PGRES_TUPLES_OK);
    CHECK(active.scalar("select 'alive'") == "alive");
}

TEST_CASE("timeouts: server_idle_timeout and server_lifetime close unused servers") {
    PGGATE_ONLY();
    for (const char* setting : {"server_idle_timeout = 1", "server_lifetime = 1"}) {
        CAPTURE(setting);
        Pggate gate = pool_with({setting});
        PgConn c(gate.conninfo("application_name=timeouts"));
        std::string pid = c.scalar("select pg_backend_pid()");
        auto alive = [&] {
            return cluster().admin().scalar("select count(*) from pg_stat_activity where pid = " + pid) == "1";
        };
        CHECK(alive());
        CHECK(eventually([&] { return !alive(); }, 4));
        CHECK(c.scalar("select 1") == "1");  // the client gets a new server
    }
}
