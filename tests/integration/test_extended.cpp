// Extended-query protocol through pggate: prepared statements, binary
// parameters and results, pipeline mode, flush requests and named portals.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "harness.hpp"

using namespace pggate::test;

namespace {

constexpr Oid kInt4Oid = 23;
constexpr Oid kInt8Oid = 20;
constexpr Oid kByteaOid = 17;
constexpr Oid kTextOid = 25;

std::uint32_t be32_at(const PgResult& r, int row, int col) {
    std::string v = r.value(row, col);
    REQUIRE(v.size() == 4);
    return wire::read_be32(v, 0);
}

// Sends "select $1::int" with parameter `value` into a pipeline.
void send_select_int(PGconn* conn, const std::string& sql, int value) {
    std::string text = std::to_string(value);
    const char* values[1] = {text.c_str()};
    REQUIRE_MESSAGE(PQsendQueryParams(conn, sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0) == 1,
                    PQerrorMessage(conn));
}

// The end of one pipelined query's results: PQgetResult gives nullptr.
void expect_end_of_query(PGconn* conn) {
    PgResult end = get_result(conn, 10);
    CHECK_MESSAGE(!end, "expected the end of a query's results, got " << end.describe());
}

// The types of the messages read until ReadyForQuery, and the text of each DataRow's single column.
struct Reply {
    std::string types;
    std::vector<std::string> rows;
    std::vector<std::string> tags;
};

Reply read_until_ready(RawClient& raw) {
    Reply reply;
    for (;;) {
        auto m = raw.read_message(10);
        REQUIRE_MESSAGE(m.has_value(), "connection closed or silent; got so far: " << reply.types);
        REQUIRE_MESSAGE(m->type != 'E', "error: " << wire::error_fields(m->body)['M']);
        reply.types += m->type;
        if (m->type == 'D') {
            REQUIRE(m->body.size() >= 6);
            std::uint32_t len = wire::read_be32(m->body, 2);
            reply.rows.push_back(m->body.substr(6, len));
        }
        if (m->type == 'C') reply.tags.push_back(m->body.substr(0, m->body.find('\0')));
        if (m->type == 'Z') return reply;
    }
}

}  // namespace

TEST_CASE("extended: PQprepare, PQexecPrepared and PQdescribePrepared") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PgResult prep(PQprepare(c.get(), "add_two", "select $1::int + $2::int as sum", 2, nullptr));
    REQUIRE_MESSAGE(prep.status() == PGRES_COMMAND_OK, prep.describe());

    for (int i = 0; i < 20; ++i) {
        std::string a = std::to_string(i), b = std::to_string(i * 100);
        const char* values[2] = {a.c_str(), b.c_str()};
        PgResult r(PQexecPrepared(c.get(), "add_two", 2, values, nullptr, nullptr, 0));
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        CHECK(r.value(0, 0) == std::to_string(i + i * 100));
    }

    PgResult desc(PQdescribePrepared(c.get(), "add_two"));
    REQUIRE_MESSAGE(desc.status() == PGRES_COMMAND_OK, desc.describe());
    CHECK(PQnparams(desc.get()) == 2);
    CHECK(PQparamtype(desc.get(), 0) == kInt4Oid);
    CHECK(PQparamtype(desc.get(), 1) == kInt4Oid);
    CHECK(PQnfields(desc.get()) == 1);
    CHECK(std::string(PQfname(desc.get(), 0)) == "sum");
    CHECK(PQftype(desc.get(), 0) == kInt4Oid);

    // The statement is visible to SQL on the same session.
    CHECK(c.scalar("select count(*) from pg_prepared_statements where name = 'add_two'") == "1");

    PgResult dup(PQprepare(c.get(), "add_two", "select 1", 0, nullptr));
    CHECK(dup.sqlstate() == "42P05");
    PgResult bad(PQprepare(c.get(), "broken", "selec 1", 0, nullptr));
    CHECK(bad.sqlstate() == "42601");
    PgResult unknown(PQexecPrepared(c.get(), "no_such_statement", 0, nullptr, nullptr, nullptr, 0));
    CHECK(unknown.sqlstate() == "26000");
    c.exec_ok("deallocate add_two");
    PgResult gone(PQdescribePrepared(c.get(), "add_two"));
    CHECK(gone.sqlstate() == "26000");
    CHECK(c.scalar("select 'usable'") == "usable");
}

TEST_CASE("extended: PQexecParams with binary parameters and results") {
    Pggate gate;
    PgConn c(gate.conninfo());

    std::uint32_t n = htonl(21);
    std::string bytes("\x00\x01\x02\xff\x00zz", 7);
    const char* values[2] = {reinterpret_cast<const char*>(&n), bytes.data()};
    int lengths[2] = {4, static_cast<int>(bytes.size())};
    int formats[2] = {1, 1};
    Oid types[2] = {kInt4Oid, kByteaOid};
    PgResult r(PQexecParams(c.get(), "select $1 * 2, $2, length($2)::int8, $2::text", 2, types, values, lengths,
                            formats, 1));
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(PQfformat(r.get(), 0) == 1);
    CHECK(PQftype(r.get(), 0) == kInt4Oid);
    CHECK(be32_at(r, 0, 0) == 42);
    CHECK(r.value(0, 1) == bytes);
    CHECK(PQftype(r.get(), 2) == kInt8Oid);
    std::string len8 = r.value(0, 2);
    REQUIRE(len8.size() == 8);
    CHECK(wire::read_be32(len8, 0) == 0);
    CHECK(wire::read_be32(len8, 4) == 7);
    CHECK(PQftype(r.get(), 3) == kTextOid);
    CHECK(r.value(0, 3) == "\\x000102ff007a7a");

    // A 1 MB binary parameter comes back byte for byte.
    std::string big(1 << 20, '\0');
    std::mt19937 rng(42);
    for (auto& ch : big) ch = static_cast<char>(rng() & 0xff);
    const char* big_values[1] = {big.data()};
    int big_lengths[1] = {static_cast<int>(big.size())};
    int big_formats[1] = {1};
    Oid big_types[1] = {kByteaOid};
    PgResult echo(PQexecParams(c.get(), "select $1", 1, big_types, big_values, big_lengths, big_formats, 1));
    REQUIRE_MESSAGE(echo.status() == PGRES_TUPLES_OK, echo.describe());
    CHECK(echo.value(0, 0).size() == big.size());
    CHECK(echo.value(0, 0) == big);

    // NULL parameters and text results mixed in.
    const char* with_null[2] = {"7", nullptr};
    PgResult mixed(PQexecParams(c.get(), "select $1::int, $2::text is null", 2, nullptr, with_null, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(mixed.status() == PGRES_TUPLES_OK, mixed.describe());
    CHECK(mixed.value(0, 0) == "7");
    CHECK(mixed.value(0, 1) == "t");
}

TEST_CASE("extended: pipeline mode returns results in order") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    for (int i = 1; i <= 3; ++i) send_select_int(conn, "select $1::int", i);
    REQUIRE(PQpipelineSync(conn) == 1);
    for (int i = 1; i <= 3; ++i) {
        PgResult r = get_result(conn, 10);
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        CHECK(r.value(0, 0) == std::to_string(i));
        expect_end_of_query(conn);
    }
    PgResult sync = get_result(conn, 10);
    CHECK(sync.status() == PGRES_PIPELINE_SYNC);
    CHECK(PQexitPipelineMode(conn) == 1);
    CHECK(c.scalar("select 'after pipeline'") == "after pipeline");
}

TEST_CASE("extended: an error mid-pipeline aborts the rest until Sync") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    send_select_int(conn, "select $1::int", 1);
    send_select_int(conn, "select 1 / ($1::int - 1)", 1);  // division by zero
    send_select_int(conn, "select $1::int", 3);
    REQUIRE(PQpipelineSync(conn) == 1);
    // After the Sync a new batch works again.
    send_select_int(conn, "select $1::int", 4);
    REQUIRE(PQpipelineSync(conn) == 1);

    PgResult first = get_result(conn, 10);
    CHECK(first.value(0, 0) == "1");
    expect_end_of_query(conn);
    PgResult failed = get_result(conn, 10);
    CHECK(failed.status() == PGRES_FATAL_ERROR);
    CHECK(failed.sqlstate() == "22012");
    expect_end_of_query(conn);
    PgResult aborted = get_result(conn, 10);
    CHECK(aborted.status() == PGRES_PIPELINE_ABORTED);
    expect_end_of_query(conn);
    CHECK(get_result(conn, 10).status() == PGRES_PIPELINE_SYNC);

    PgResult fourth = get_result(conn, 10);
    CHECK_MESSAGE(fourth.status() == PGRES_TUPLES_OK, fourth.describe());
    CHECK(fourth.value(0, 0) == "4");
    expect_end_of_query(conn);
    CHECK(get_result(conn, 10).status() == PGRES_PIPELINE_SYNC);
    CHECK(PQexitPipelineMode(conn) == 1);
}

TEST_CASE("extended: PQsendFlushRequest gets results before any Sync") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    send_select_int(conn, "select $1::int * 10", 5);
    REQUIRE(PQsendFlushRequest(conn) == 1);
    REQUIRE(PQflush(conn) == 0);
    // No Sync was sent: the answer must still come through.
    PgResult r = get_result(conn, 5);
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(r.value(0, 0) == "50");
    expect_end_of_query(conn);

    send_select_int(conn, "select $1::int * 10", 6);
    REQUIRE(PQsendFlushRequest(conn) == 1);
    REQUIRE(PQflush(conn) == 0);
    PgResult r2 = get_result(conn, 5);
    CHECK(r2.value(0, 0) == "60");
    expect_end_of_query(conn);

    REQUIRE(PQpipelineSync(conn) == 1);
    CHECK(get_result(conn, 10).status() == PGRES_PIPELINE_SYNC);
    CHECK(PQexitPipelineMode(conn) == 1);
}

TEST_CASE("extended: a long pipeline in one batch") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    constexpr int kQueries = 500;
    REQUIRE(PQenterPipelineMode(conn) == 1);
    for (int i = 0; i < kQueries; ++i) send_select_int(conn, "select $1::int + 1", i);
    REQUIRE(PQpipelineSync(conn) == 1);
    int good = 0;
    for (int i = 0; i < kQueries; ++i) {
        PgResult r = get_result(conn, 10);
        if (r.status() == PGRES_TUPLES_OK && r.value(0, 0) == std::to_string(i + 1)) ++good;
        expect_end_of_query(conn);
    }
    CHECK(good == kQueries);
    CHECK(get_result(conn, 10).status() == PGRES_PIPELINE_SYNC);
    CHECK(PQexitPipelineMode(conn) == 1);
}

TEST_CASE("extended: PQsendQueryPrepared in single-row mode and SQL cursors") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    PgResult prep(PQprepare(conn, "series", "select g from generate_series(1, $1::int) g", 1, nullptr));
    REQUIRE_MESSAGE(prep.status() == PGRES_COMMAND_OK, prep.describe());
    const char* values[1] = {"5"};
    REQUIRE(PQsendQueryPrepared(conn, "series", 1, values, nullptr, nullptr, 0) == 1);
    REQUIRE(PQsetSingleRowMode(conn) == 1);
    std::vector<std::string> got;
    for (;;) {
        PgResult r = get_result(conn, 10);
        REQUIRE(r);
        if (r.status() == PGRES_SINGLE_TUPLE) {
            got.push_back(r.value(0, 0));
            continue;
        }
        CHECK(r.status() == PGRES_TUPLES_OK);
        break;
    }
    expect_end_of_query(conn);
    CHECK(got == std::vector<std::string>{"1", "2", "3", "4", "5"});

    // A SQL-level cursor is a named portal too.
    c.exec_ok("begin");
    c.exec_ok("declare cur cursor for select g from generate_series(1, 10) g");
    PgResult f1 = c.exec_ok("fetch 4 from cur");
    CHECK(f1.rows() == 4);
    CHECK(f1.value(3, 0) == "4");
    PgResult f2 = c.exec_ok("fetch 100 from cur");
    CHECK(f2.rows() == 6);
    CHECK(f2.value(0, 0) == "5");
    c.exec_ok("commit");
}

TEST_CASE("extended: named portals executed in parts (raw protocol)") {
    Pggate gate;
    RawClient raw(gate.port());
    raw.login();

    // Two named portals from one named statement, fetched alternately with
    // row limits: each Execute stops with PortalSuspended until the last.
    std::string batch = wire::parse("stmt_series", "select g::text from generate_series(1, 5) g") +
                        wire::bind("p1", "stmt_series") + wire::bind("p2", "stmt_series") +
                        wire::describe_portal("p1") + wire::execute("p1", 2) + wire::execute("p2", 3) +
                        wire::execute("p1", 2) + wire::execute("p2", 0) + wire::execute("p1", 0) +
                        wire::close_portal("p1") + wire::close_portal("p2") + wire::sync();
    REQUIRE(raw.send(batch));
    Reply reply = read_until_ready(raw);
    // 1 ParseComplete, 2 BindComplete x2, T RowDescription,
    // p1: DD s, p2: DDD s, p1: DD s, p2: DD C, p1: D C, 3 CloseComplete x2, Z.
    CHECK(reply.types == "122TDDsDDDsDDsDDCDC33Z");
    CHECK(reply.rows == std::vector<std::string>{"1", "2", "1", "2", "3", "3", "4", "4", "5", "5"});
    CHECK(reply.tags == std::vector<std::string>{"SELECT 2", "SELECT 1"});

    // The connection is still in sync for a simple query afterwards.
    REQUIRE(raw.send(wire::message('Q', wire::cstr("select 'ok'"))));
    Reply simple = read_until_ready(raw);
    CHECK(simple.types == "TDCZ");
    CHECK(simple.rows == std::vector<std::string>{"ok"});
}
