// SQL-level PREPARE / EXECUTE / DEALLOCATE in transaction pooling: each
// client's statements follow it to whichever server it gets, clients sharing
// a server never see each other's, and errors are PostgreSQL's own.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

TEST_CASE("sql prepare: two clients on one server use the same name for different statements") {
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    a.exec_ok("PREPARE q (int) AS SELECT $1 * 2");
    b.exec_ok("prepare Q as select 'b' || 'b'");
    CHECK(a.scalar("EXECUTE q(21)") == "42");
    CHECK(b.scalar("execute q") == "bb");
    CHECK(a.scalar("execute Q (5)") == "10");
    if (!direct_mode()) {
        // One server serves both: neither client was pinned to it.
        CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));
    }
    // EXPLAIN EXECUTE and CREATE TABLE AS EXECUTE find the statement too.
    CHECK(a.exec_ok("explain execute q(1)").rows() >= 1);
    a.exec_ok("create temp table sqlprep_t as execute q(4)");
    CHECK(a.scalar("select * from sqlprep_t") == "8");
}

TEST_CASE("sql prepare: errors are the server's, with the client's names") {
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    PgResult missing = a.exec("execute nosuch");
    CHECK(missing.sqlstate() == "26000");
    CHECK_MESSAGE(missing.error().find("\"nosuch\"") != std::string::npos, missing.describe());
    PgResult bad = a.exec("prepare broken as select from_nowhere");
    CHECK(bad.sqlstate() == "42703");
    CHECK(a.exec("execute broken").sqlstate() == "26000");
    // A PREPARE after an error in the same query string never ran.
    CHECK(a.exec("select 1/0; prepare late as select 1").sqlstate() == "22012");
    CHECK(a.exec("execute late").sqlstate() == "26000");
    // One before the error did.
    CHECK(a.exec("prepare early as select 'e'; select 1/0").sqlstate() == "22012");
    CHECK(a.scalar("execute early") == "e");
    // A name in use is refused.
    CHECK(a.exec("prepare early as select 2").sqlstate() == "42P05");
    CHECK(a.scalar("execute early") == "e");
    a.exec_ok("deallocate early");
    CHECK(a.exec("execute early").sqlstate() == "26000");
    CHECK(a.exec("deallocate early").sqlstate() == "26000");
    a.exec_ok("prepare early as select 'again'");
    CHECK(a.scalar("execute early") == "again");
    a.exec_ok("deallocate all");
    CHECK(a.exec("execute early").sqlstate() == "26000");
}

TEST_CASE("sql prepare: a statement follows its client to a server that never saw it") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(2);
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    a.exec_ok("prepare pid_of as select pg_backend_pid()::text || ':' || $1::text");
    std::string first = a.scalar("execute pid_of('x')");
    std::string first_pid = first.substr(0, first.find(':'));
    CHECK(first == first_pid + ":x");
    // b takes that server (the most recently used idle one) and keeps it in a transaction.
    b.exec_ok("begin");
    CHECK(b.scalar("select pg_backend_pid()::text") == first_pid);
    std::string second = a.scalar("execute pid_of('y')");
    CHECK(second.substr(second.find(':')) == ":y");
    CHECK(second.substr(0, second.find(':')) != first_pid);
    // b's server does not know a's name.
    PgResult r = b.exec("execute pid_of('z')");
    CHECK(r.sqlstate() == "26000");
    b.exec("rollback");
    // In the extended protocol too (an unnamed Parse of EXECUTE).
    PgResult ext(PQexecParams(a.get(), "execute pid_of('w')", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(PQresultStatus(ext.get()) == PGRES_TUPLES_OK, std::string(PQerrorMessage(a.get())));
    std::string third = PQgetvalue(ext.get(), 0, 0);
    CHECK(third.substr(third.find(':')) == ":w");
}

TEST_CASE("sql prepare: a rolled back transaction does not undo PREPARE, as in PostgreSQL") {
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    a.exec_ok("begin");
    a.exec_ok("prepare in_tx as select 'kept'");
    a.exec_ok("rollback");
    CHECK(a.scalar("execute in_tx") == "kept");
}
