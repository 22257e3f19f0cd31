// A client's session state under pooling: its connect-time settings (startup
// parameters and options) are what RESET and RESET ALL take it back to, as on
// a connection of its own, though pooled servers were started with the pool's
// settings; and what its named prepared statements do to the session counts
// when they run.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

namespace {

// The pool mode of the current subcase: a test that calls it runs in both.
std::string each_pool_mode() {
    std::string mode;
    SUBCASE("session pooling") { mode = "session"; }
    SUBCASE("transaction pooling") { mode = "transaction"; }
    return mode;
}

Pggate one_server_pool(const std::string& mode) {
    return Pggate(std::vector<std::string>{"pool_mode = " + mode, "auth_type = trust", "default_pool_size = 1",
                                           "workers = 1"});
}

// Runs `sql` as a named prepared statement, as drivers that prepare
// everything do (psycopg with prepare_threshold=0).
void run_named(PgConn& c, const char* name, const char* sql) {
    PgResult p(PQprepare(c.get(), name, sql, 0, nullptr));
    REQUIRE_MESSAGE(p.ok(), p.describe());
    PgResult r(PQexecPrepared(c.get(), name, 0, nullptr, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(r.ok(), r.describe());
}

std::string reported(const PgConn& c, const char* name) {
    const char* v = PQparameterStatus(c.get(), name);
    return v != nullptr ? v : "<missing>";
}

}  // namespace

TEST_CASE("session state: RESET in a named prepared statement returns to the connect-time values") {
    const std::string mode = each_pool_mode();
    CAPTURE(mode);
    Pggate gate = one_server_pool(mode);
    // None of these is the cluster's default, so a value the server fell back to shows.
    PgConn c(gate.conninfo("application_name=first client_encoding=LATIN1 options='-c TimeZone=Asia/Tokyo'"));
    REQUIRE(c.scalar("show timezone") == "Asia/Tokyo");

    c.exec_ok("set time zone 'Europe/Paris'");
    run_named(c, "reset_tz", "reset timezone");
    CHECK(c.scalar("show timezone") == "Asia/Tokyo");
    CHECK(reported(c, "TimeZone") == "Asia/Tokyo");

    c.exec_ok("set time zone 'Europe/Paris'");
    c.exec_ok("set application_name = 'changed'");
    c.exec_ok("set client_encoding to 'UTF8'");
    run_named(c, "reset_all", "reset all");
    CHECK(c.scalar("show timezone") == "Asia/Tokyo");
    CHECK(c.scalar("show application_name") == "first");
    CHECK(c.scalar("show client_encoding") == "LATIN1");
    CHECK(reported(c, "TimeZone") == "Asia/Tokyo");
    CHECK(reported(c, "application_name") == "first");
    CHECK(reported(c, "client_encoding") == "LATIN1");
}

TEST_CASE("session state: a statement name used again no longer resets what its first statement did") {
    const std::string mode = each_pool_mode();
    CAPTURE(mode);
    Pggate gate = one_server_pool(mode);
    PgConn c(gate.conninfo("options='-c TimeZone=Asia/Tokyo'"));
    run_named(c, "s", "reset timezone");
    c.exec_ok("deallocate s");
    run_named(c, "s", "select 1");
    c.exec_ok("set time zone 'Europe/Paris'");
    PgResult r(PQexecPrepared(c.get(), "s", 0, nullptr, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(r.ok(), r.describe());
    CHECK(c.scalar("show timezone") == "Europe/Paris");
    CHECK(reported(c, "TimeZone") == "Europe/Paris");
}

TEST_CASE("session state: SET and RESET ALL in named prepared statements follow their client, unpinned") {
    PGGATE_ONLY();
    // One server; a pinned client would keep it and the other would wait in vain.
    Pggate gate = transaction_pool(1, {"query_wait_timeout = 5"});
    PgConn a(gate.conninfo("options='-c work_mem=3MB'"));
    PgConn b(gate.conninfo());
    const std::string default_work_mem = b.scalar("show work_mem");
    REQUIRE(default_work_mem != "3MB");

    run_named(a, "set_it", "set work_mem = '5MB'");
    CHECK(b.scalar("show work_mem") == default_work_mem);
    CHECK(a.scalar("show work_mem") == "5MB");
    // Rolled back: gone, as for a simple query.
    a.exec_ok("begin");
    run_named(a, "set_again", "set work_mem = '7MB'");
    a.exec_ok("rollback");
    CHECK(a.scalar("show work_mem") == "5MB");

    run_named(a, "reset_all", "reset all");
    CHECK(b.scalar("show work_mem") == default_work_mem);
    CHECK(a.scalar("show work_mem") == "3MB");  // the connect-time option
    CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));
}
