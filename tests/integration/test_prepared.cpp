// Named prepared statements under transaction pooling: clients share
// servers, yet each sees exactly its own statements, with PostgreSQL's own
// errors and ordering.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

namespace {

std::string run_prepared(PgConn& c, const char* name, const std::string& arg) {
    const char* params[] = {arg.c_str()};
    PgResult r(PQexecPrepared(c.get(), name, 1, params, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(PQresultStatus(r.get()) == PGRES_TUPLES_OK, PQresultErrorMessage(r.get()));
    return PQgetvalue(r.get(), 0, 0);
}

}  // namespace

TEST_CASE("prepared: two clients, one server, same statement name, different statements") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    PgResult pa(PQprepare(a.get(), "s", "select $1::int * 10", 1, nullptr));
    REQUIRE(PQresultStatus(pa.get()) == PGRES_COMMAND_OK);
    PgResult pb(PQprepare(b.get(), "s", "select $1::text || '!'", 1, nullptr));
    REQUIRE(PQresultStatus(pb.get()) == PGRES_COMMAND_OK);
    for (int i = 0; i < 5; ++i) {
        CHECK(run_prepared(a, "s", std::to_string(i)) == std::to_string(i * 10));
        CHECK(run_prepared(b, "s", std::to_string(i)) == std::to_string(i) + "!");
    }
    // Both ran on the one server: neither was pinned to it.
    CHECK(a.scalar("select pg_backend_pid()") == b.scalar("select pg_backend_pid()"));
}

TEST_CASE("prepared: a statement prepared on one server is used after the client moved to another") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(2);
    PgConn a(gate.conninfo());
    PgResult p(PQprepare(a.get(), "moves", "select $1::int + 100", 1, nullptr));
    REQUIRE(PQresultStatus(p.get()) == PGRES_COMMAND_OK);
    // Another client holds a transaction open on one server, so a's next
    // transactions may land on the other one.
    PgConn holder(gate.conninfo());
    holder.exec_ok("begin");
    holder.exec_ok("select 1");
    for (int i = 0; i < 4; ++i) CHECK(run_prepared(a, "moves", std::to_string(i)) == std::to_string(i + 100));
    holder.exec_ok("commit");
    for (int i = 0; i < 4; ++i) CHECK(run_prepared(a, "moves", std::to_string(i)) == std::to_string(i + 100));
}

TEST_CASE("prepared: PostgreSQL's errors for unknown, duplicate and failed statements") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn a(gate.conninfo());
    const char* params[] = {"1"};
    PgResult missing(PQexecPrepared(a.get(), "nope", 1, params, nullptr, nullptr, 0));
    CHECK(std::string(PQresultErrorField(missing.get(), PG_DIAG_SQLSTATE)) == "26000");
    CHECK(std::string(PQresultErrorMessage(missing.get())).find("\"nope\"") != std::string::npos);

    PgResult first(PQprepare(a.get(), "dup", "select 1", 0, nullptr));
    REQUIRE(PQresultStatus(first.get()) == PGRES_COMMAND_OK);
    PgResult second(PQprepare(a.get(), "dup", "select 2", 0, nullptr));
    CHECK(std::string(PQresultErrorField(second.get(), PG_DIAG_SQLSTATE)) == "42P05");

    PgResult bad(PQprepare(a.get(), "bad", "selec 1", 0, nullptr));
    CHECK(std::string(PQresultErrorField(bad.get(), PG_DIAG_SQLSTATE)) == "42601");
    // A statement whose Parse failed does not exist afterwards.
    PgResult after(PQexecPrepared(a.get(), "bad", 0, nullptr, nullptr, nullptr, 0));
    CHECK(std::string(PQresultErrorField(after.get(), PG_DIAG_SQLSTATE)) == "26000");
    CHECK(a.scalar("select 'still usable'") == "still usable");

    // SQL DEALLOCATE of a protocol-level statement frees its name.
    a.exec_ok("deallocate dup");
    PgResult again(PQprepare(a.get(), "dup", "select 3", 0, nullptr));
    CHECK(PQresultStatus(again.get()) == PGRES_COMMAND_OK);
    a.exec_ok("deallocate all");
    PgResult gone(PQexecPrepared(a.get(), "dup", 0, nullptr, nullptr, nullptr, 0));
    CHECK(std::string(PQresultErrorField(gone.get(), PG_DIAG_SQLSTATE)) == "26000");
}

TEST_CASE("prepared: a pipeline that prepares and uses statements, with an error in the middle") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(1);
    PgConn other(gate.conninfo());
    PgConn a(gate.conninfo());
    REQUIRE(PQenterPipelineMode(a.get()) == 1);
    const char* one[] = {"5"};
    REQUIRE(PQsendPrepare(a.get(), "p1", "select $1::int + 1", 1, nullptr));
    REQUIRE(PQsendQueryPrepared(a.get(), "p1", 1, one, nullptr, nullptr, 0));
    REQUIRE(PQsendQueryParams(a.get(), "select 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQsendPrepare(a.get(), "p2", "select 2", 0, nullptr));
    REQUIRE(PQpipelineSync(a.get()));
    REQUIRE(PQsendQueryPrepared(a.get(), "p1", 1, one, nullptr, nullptr, 0));
    REQUIRE(PQsendQueryPrepared(a.get(), "p2", 0, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQpipelineSync(a.get()));

    auto next = [&](ExecStatusType want) {
        PgResult r = get_result(a.get());
        REQUIRE(r.get() != nullptr);
        CHECK_MESSAGE(PQresultStatus(r.get()) == want, PQresStatus(PQresultStatus(r.get())), " ",
                      PQresultErrorMessage(r.get()));
        if (want == PGRES_TUPLES_OK || want == PGRES_COMMAND_OK || want == PGRES_PIPELINE_ABORTED ||
            want == PGRES_FATAL_ERROR)
            CHECK(get_result(a.get()).get() == nullptr);
        return std::string(PQresultStatus(r.get()) == PGRES_TUPLES_OK ? PQgetvalue(r.get(), 0, 0) : "");
    };
    next(PGRES_COMMAND_OK);                    // prepare p1
    CHECK(next(PGRES_TUPLES_OK) == "6");       // execute p1
    next(PGRES_FATAL_ERROR);                   // 1/0
    next(PGRES_PIPELINE_ABORTED);              // prepare p2: skipped
    next(PGRES_PIPELINE_SYNC);
    CHECK(next(PGRES_TUPLES_OK) == "6");       // p1 still there
    next(PGRES_FATAL_ERROR);                   // p2 was never created
    next(PGRES_PIPELINE_SYNC);
    REQUIRE(PQexitPipelineMode(a.get()) == 1);
    CHECK(other.scalar("select 1") == "1");  // the server went back to the pool
}

TEST_CASE("prepared: DEALLOCATE succeeds where the statement's text would no longer parse") {
    // One server that keeps one statement: preparing the next one evicts the
    // last, so each DEALLOCATE below meets a server that lacks its statement.
    Pggate gate = transaction_pool(1, {"max_prepared_statements = 1"});
    PgConn a(gate.conninfo());
    auto prepare = [&](const char* name, const char* sql) {
        PgResult r(PQprepare(a.get(), name, sql, 0, nullptr));
        REQUIRE_MESSAGE(r.ok(), r.describe());
    };
    a.exec_ok("set client_encoding to 'LATIN1'");
    prepare("latin1", "select 'caf\xe9'::text");  // not valid UTF-8
    a.exec_ok("create table prep_dropped_later (x int)");
    prepare("dropped", "select x from prep_dropped_later");
    prepare("last", "select 1");
    a.exec_ok("drop table prep_dropped_later");
    a.exec_ok("set client_encoding to 'UTF8'");

    // psycopg evicts its statements like this: an extended-protocol query.
    PgResult extended(PQexecParams(a.get(), "deallocate latin1", 0, nullptr, nullptr, nullptr, nullptr, 0));
    CHECK_MESSAGE(extended.status() == PGRES_COMMAND_OK, extended.describe());
    CHECK(std::string(PQcmdStatus(extended.get())) == "DEALLOCATE");
    PgResult simple = a.exec("deallocate dropped");
    CHECK_MESSAGE(simple.status() == PGRES_COMMAND_OK, simple.describe());

    // Both names are free again, and the client's other statement still works.
    prepare("latin1", "select 'latin1 again'");
    prepare("dropped", "select 'dropped again'");
    PgResult last(PQexecPrepared(a.get(), "last", 0, nullptr, nullptr, nullptr, 0));
    CHECK_MESSAGE(last.status() == PGRES_TUPLES_OK, last.describe());
}

namespace {

// Runs pgbench against `port` (bounded by `timeout`), returning its output and exit status.
std::pair<std::string, int> pgbench(int port, const std::string& args) {
    std::string cmd = "timeout 60 pgbench " + args + " -h 127.0.0.1 -p " + std::to_string(port) +
                      " -U postgres postgres 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    return {out, pclose(p)};
}

}  // namespace

TEST_CASE("prepared: pgbench -M prepared, 16 clients on 3 servers, transaction pooling") {
    PGGATE_ONLY();
    Pggate gate = transaction_pool(3);
    REQUIRE(pgbench(cluster().primary_port(), "-q -i -s 1").second == 0);
    auto [out, status] = pgbench(gate.port(), "-n -S -M prepared -c 16 -j 2 -T 4");
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(out.find("number of failed transactions: 0 (") != std::string::npos);
    CHECK(out.find("aborted") == std::string::npos);
}

TEST_CASE("prepared: pgbench TPC-B -M prepared with more clients per thread than servers does not deadlock") {
    // pgbench prepares with a blocking call on its one thread: a client
    // preparing BEGIN while the others hold every server in a transaction
    // must be answered without a server.
    PGGATE_ONLY();
    Pggate gate = transaction_pool(2);
    REQUIRE(pgbench(cluster().primary_port(), "-q -i -s 1").second == 0);
    auto [out, status] = pgbench(gate.port(), "-n -M prepared -c 8 -j 1 -T 4");
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(out.find("number of failed transactions: 0 (") != std::string::npos);
    CHECK(out.find("number of transactions actually processed: 0") == std::string::npos);
    CHECK(cluster().admin().scalar("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                                   "and state = 'idle in transaction'") == "0");
}
