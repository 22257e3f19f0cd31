// Transaction pooling never leaks session state between clients: statements
// that leave state pggate cannot move pin their client to its server, and
// the server is cleaned before another client gets it.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

TEST_CASE("replay: SETs follow their client across a shared server, with transaction semantics") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    const std::string default_work_mem = b.scalar("show work_mem");
    a.exec_ok("set work_mem = '3MB'");
    // One server serves both, so b gets an answer only if a was not pinned.
    CHECK(b.scalar("show work_mem") == default_work_mem);
    CHECK(a.scalar("show work_mem") == "3MB");
    CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));

    b.exec_ok("set search_path = pg_catalog, public");
    CHECK(a.scalar("show search_path") != "pg_catalog, public");
    CHECK(b.scalar("show search_path") == "pg_catalog, public");

    // Rolled back: gone. Committed with a savepoint rolled back: only what came before it.
    a.exec_ok("begin; set work_mem = '7MB'; rollback");
    CHECK(a.scalar("show work_mem") == "3MB");
    a.exec_ok("begin");
    a.exec_ok("set work_mem = '8MB'");
    a.exec_ok("savepoint s");
    a.exec_ok("set work_mem = '9MB'");
    a.exec_ok("rollback to savepoint s");
    a.exec_ok("commit");
    CHECK(b.scalar("show work_mem") == default_work_mem);
    CHECK(a.scalar("show work_mem") == "8MB");

    // A failed transaction's SETs do not survive it, even when COMMIT is sent.
    a.exec_ok("begin");
    a.exec_ok("set work_mem = '11MB'");
    a.exec("select 1/0");
    a.exec("commit");
    CHECK(a.scalar("show work_mem") == "8MB");
    // A failed implicit transaction (one multi-statement query) likewise.
    a.exec("set work_mem = '12MB'; select 1/0");
    CHECK(a.scalar("show work_mem") == "8MB");

    a.exec_ok("reset work_mem");
    CHECK(a.scalar("show work_mem") == default_work_mem);
    CHECK(b.scalar("show search_path") == "pg_catalog, public");
}

TEST_CASE("replay: set_config(..., false) follows its client like SET; list values stay whole") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    const std::string default_path = b.scalar("show search_path");
    // set_config takes the string as the whole value: two schemas (as
    // current_schemas shows), not one named "pg_catalog, public".
    CHECK(a.scalar("select set_config('search_path', 'pg_catalog, public', false)") == "pg_catalog, public");
    CHECK(a.exec_ok("select set_config('pggate.test', 'x,y', false), set_config('work_mem', '5MB', false)")
              .value(0, 0) == "x,y");
    // b shares the one server: a was not pinned, and its settings do not leak.
    CHECK(b.scalar("show search_path") == default_path);
    CHECK(b.scalar("select current_setting('pggate.test', true)").empty());
    CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));
    CHECK(a.scalar("show search_path") == "pg_catalog, public");
    CHECK(a.scalar("select current_schemas(false)::text") == "{pg_catalog,public}");
    CHECK(a.scalar("show work_mem") == "5MB");
    CHECK(a.scalar("select current_setting('pggate.test')") == "x,y");
    // Rolled back: gone; transaction-local: not kept.
    a.exec_ok("begin");
    a.exec_ok("select set_config('work_mem', '6MB', false)");
    a.exec_ok("rollback");
    a.exec_ok("select set_config('work_mem', '7MB', true)");
    CHECK(b.scalar("show work_mem") != "5MB");
    CHECK(a.scalar("show work_mem") == "5MB");
    a.exec_ok("reset all");
    CHECK(a.scalar("show search_path") == default_path);
}

TEST_CASE("replay: a startup option with a list value is replayed whole") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo("options='-c search_path=pg_catalog,public'"));
    PgConn b(gate.conninfo());
    const std::string default_path = b.scalar("show search_path");
    CHECK(a.scalar("select current_schemas(false)::text") == "{pg_catalog,public}");
    CHECK(b.scalar("show search_path") == default_path);
    CHECK(a.scalar("select current_schemas(false)::text") == "{pg_catalog,public}");
    CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));
}

TEST_CASE("pinning: a tracked parameter follows the client without pinning it") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo("application_name=first"));
    PgConn b(gate.conninfo("application_name=second"));
    a.exec_ok("set application_name = 'changed'");
    // With one server, b gets an answer only if a did not keep it.
    CHECK(b.scalar("show application_name") == "second");
    CHECK(a.scalar("show application_name") == "changed");
    CHECK(std::string(PQparameterStatus(a.get(), "application_name")) == "changed");
    CHECK(b.scalar("show application_name") == "second");
}

TEST_CASE("pinning: named prepared statements work and are gone for the next client") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    {
        PgConn a(gate.conninfo());
        PgResult p(PQprepare(a.get(), "s1", "select $1::int + 1", 1, nullptr));
        REQUIRE(PQresultStatus(p.get()) == PGRES_COMMAND_OK);
        for (int i = 0; i < 3; ++i) {
            std::string v = std::to_string(i);
            const char* params[] = {v.c_str()};
            PgResult r(PQexecPrepared(a.get(), "s1", 1, params, nullptr, nullptr, 0));
            REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
            CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == std::to_string(i + 1));
        }
        a.exec_ok("prepare q1 as select 42");
        CHECK(a.scalar("execute q1") == "42");
    }
    PgConn b(gate.conninfo());
    // The same names again: they would clash if the server kept the old ones.
    PgResult p(PQprepare(b.get(), "s1", "select $1::text || 'x'", 1, nullptr));
    CHECK(PQresultStatus(p.get()) == PGRES_COMMAND_OK);
    b.exec_ok("prepare q1 as select 7");
    CHECK(b.scalar("execute q1") == "7");
}

TEST_CASE("pinning: a named statement that pins, prepared while every server is busy, pins at its Parse") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1, {"query_wait_timeout = 2"});
    PgConn holder(gate.conninfo());
    PgConn a(gate.conninfo());
    holder.exec_ok("begin");
    // pggate answers this Parse itself: the one server is busy.
    PgResult p(PQprepare(a.get(), "p", "prepare q as select 42", 0, nullptr));
    REQUIRE_MESSAGE(p.ok(), p.describe());
    holder.exec_ok("commit");
    PgResult r(PQexecPrepared(a.get(), "p", 0, nullptr, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(r.ok(), r.describe());
    // The server that ran PREPARE stays a's: another client's transaction
    // cannot take it (it waits in vain), and a's EXECUTE finds q there.
    REQUIRE(PQsendQuery(holder.get(), "begin; select 1") == 1);
    PgResult waited = get_result(holder.get());
    CHECK(waited.sqlstate() == "08P01");  // query_wait_timeout
    CHECK(a.scalar("execute q") == "42");
}

TEST_CASE("pinning: temporary tables and session advisory locks do not outlive their client") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    {
        PgConn a(gate.conninfo());
        a.exec_ok("create temp table pin_tt(x int)");
        a.exec_ok("insert into pin_tt values (1), (2)");
        CHECK(a.scalar("select count(*) from pin_tt") == "2");
        CHECK(a.scalar("select pg_advisory_lock(4242) is not null") == "t");
    }
    PgConn b(gate.conninfo());
    CHECK(b.scalar("select to_regclass('pg_temp.pin_tt') is null") == "t");
    CHECK(b.scalar("select pg_try_advisory_lock(4242)") == "t");
    b.exec_ok("select pg_advisory_unlock_all()");
}

TEST_CASE("pinning: SET LOCAL and statements in strings or comments do not pin") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    a.exec_ok("begin; set local work_mem = '5MB'; commit");
    a.exec_ok("select 'set work_mem = 1' as s /* listen x; */ -- prepare y");
    a.exec_ok("select $$ create temp table z(x int) $$");
    // b can only be served if a was released after each transaction.
    CHECK(b.scalar("select 1") == "1");
}
