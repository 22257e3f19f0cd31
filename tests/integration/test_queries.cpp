// Simple-query protocol through pggate: results, multi-statement strings,
// ParameterStatus, notices, LISTEN/NOTIFY, errors, transactions, Unix socket, SSL.
#include <doctest/doctest.h>
#include <poll.h>

#include "harness.hpp"

using namespace pggate::test;

namespace {

// Every result of one PQsendQuery, in order.
std::vector<PgResult> all_results(PGconn* conn, const std::string& sql) {
    REQUIRE_MESSAGE(PQsendQuery(conn, sql.c_str()) == 1, PQerrorMessage(conn));
    std::vector<PgResult> results;
    while (PGresult* r = PQgetResult(conn)) results.emplace_back(r);
    return results;
}

struct Notice {
    std::string severity;
    std::string sqlstate;
    std::string message;
};

void collect_notice(void* arg, const PGresult* res) {
    auto* notices = static_cast<std::vector<Notice>*>(arg);
    auto field = [res](int code) {
        const char* v = PQresultErrorField(res, code);
        return std::string(v ? v : "");
    };
    notices->push_back({field(PG_DIAG_SEVERITY_NONLOCALIZED), field(PG_DIAG_SQLSTATE), field(PG_DIAG_MESSAGE_PRIMARY)});
}

// Waits up to timeout_s for a notification on conn.
std::unique_ptr<PGnotify, decltype(&PQfreemem)> wait_notify(PGconn* conn, double timeout_s) {
    auto start = Clock::now();
    for (;;) {
        REQUIRE(PQconsumeInput(conn) == 1);
        if (PGnotify* n = PQnotifies(conn)) return {n, &PQfreemem};
        double left = timeout_s - seconds_since(start);
        if (left <= 0) return {nullptr, &PQfreemem};
        pollfd p{PQsocket(conn), POLLIN, 0};
        poll(&p, 1, static_cast<int>(left * 1000) + 1);
    }
}

}  // namespace

TEST_CASE("queries: simple query returns rows and columns") {
    Pggate gate;
    PgConn c(gate.conninfo());
    CHECK(c.scalar("select 1") == "1");
    PgResult r = c.exec_ok("select g, 'row ' || g, null::text from generate_series(1, 5000) g");
    REQUIRE(r.rows() == 5000);
    REQUIRE(r.cols() == 3);
    CHECK(r.value(0, 0) == "1");
    CHECK(r.value(4999, 1) == "row 5000");
    CHECK(r.is_null(1234, 2));
    CHECK(std::string(PQfname(r.get(), 1)) == "?column?");
    // A large row crosses many network buffers.
    CHECK(c.scalar("select length(repeat('x', 3000000))") == "3000000");
    PgResult big = c.exec_ok("select repeat('y', 3000000)");
    CHECK(big.value(0, 0).size() == 3000000);
    CHECK(big.value(0, 0) == std::string(3000000, 'y'));
}

TEST_CASE("queries: a multi-statement string yields one result per statement") {
    Pggate gate;
    PgConn c(gate.conninfo());

    auto two = all_results(c.get(), "select 1; select 2");
    REQUIRE(two.size() == 2);
    CHECK(two[0].status() == PGRES_TUPLES_OK);
    CHECK(two[0].value(0, 0) == "1");
    CHECK(two[1].value(0, 0) == "2");

    // An error stops the rest of the string.
    auto stopped = all_results(c.get(), "select 1; select 1/0; select 3");
    REQUIRE(stopped.size() == 2);
    CHECK(stopped[0].value(0, 0) == "1");
    CHECK(stopped[1].status() == PGRES_FATAL_ERROR);
    CHECK(stopped[1].sqlstate() == "22012");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);

    // The statements of one string form one implicit transaction: the
    // failure rolls back the earlier insert.
    c.exec_ok("create temp table multi_t(x int)");
    auto rolled = all_results(c.get(), "insert into multi_t values (1); select 1/0");
    REQUIRE(rolled.size() == 2);
    CHECK(rolled[1].sqlstate() == "22012");
    CHECK(c.scalar("select count(*) from multi_t") == "0");

    auto mixed = all_results(c.get(), "insert into multi_t values (1), (2); select count(*) from multi_t; set search_path = public");
    REQUIRE(mixed.size() == 3);
    CHECK(mixed[0].status() == PGRES_COMMAND_OK);
    CHECK(std::string(PQcmdTuples(mixed[0].get())) == "2");
    CHECK(mixed[1].value(0, 0) == "2");
    CHECK(std::string(PQcmdStatus(mixed[2].get())) == "SET");
    CHECK(c.scalar("select 42") == "42");
}

TEST_CASE("queries: ParameterStatus values reach the client") {
    Pggate gate;
    PgConn c(gate.conninfo("application_name=itest_app client_encoding=UTF8"));
    auto param = [&](const char* name) {
        const char* v = PQparameterStatus(c.get(), name);
        return std::string(v ? v : "<missing>");
    };
    CHECK(param("server_version") == c.scalar("show server_version"));
    CHECK(PQserverVersion(c.get()) >= 100000);
    CHECK(param("client_encoding") == "UTF8");
    CHECK(param("application_name") == "itest_app");
    CHECK(c.scalar("show application_name") == "itest_app");
    CHECK(param("server_encoding") == c.scalar("show server_encoding"));
    CHECK(param("standard_conforming_strings") == "on");
    CHECK(param("integer_datetimes") == "on");
    CHECK(param("DateStyle") == c.scalar("show DateStyle"));
    CHECK(param("TimeZone") == c.scalar("show TimeZone"));

    // A SET of a reported parameter sends a new ParameterStatus.
    c.exec_ok("set application_name = 'renamed_app'");
    CHECK(param("application_name") == "renamed_app");
    c.exec_ok("set DateStyle = 'SQL, DMY'");
    CHECK(param("DateStyle") == "SQL, DMY");
    c.exec_ok("reset DateStyle");
    CHECK(param("DateStyle") == c.scalar("show DateStyle"));
}

TEST_CASE("queries: notices are delivered") {
    Pggate gate;
    PgConn c(gate.conninfo());
    std::vector<Notice> notices;
    PQsetNoticeReceiver(c.get(), collect_notice, &notices);

    c.exec_ok("DO $$ begin raise notice 'x'; end $$");
    REQUIRE(notices.size() == 1);
    CHECK(notices[0].severity == "NOTICE");
    CHECK(notices[0].sqlstate == "00000");
    CHECK(notices[0].message == "x");

    notices.clear();
    c.exec_ok("DO $$ begin raise warning 'w1'; raise notice 'n2'; raise notice '%', repeat('z', 20000); end $$");
    REQUIRE(notices.size() == 3);
    CHECK(notices[0].severity == "WARNING");
    CHECK(notices[0].sqlstate == "01000");
    CHECK(notices[0].message == "w1");
    CHECK(notices[1].message == "n2");
    CHECK(notices[2].message == std::string(20000, 'z'));

    // Notices interleaved with the rows of a result.
    notices.clear();
    c.exec_ok("create function pg_temp.noisy(i int) returns int language plpgsql as "
              "$$ begin raise notice 'row %', i; return i; end $$");
    PgResult r = c.exec_ok("select pg_temp.noisy(g) from generate_series(1, 3) g");
    CHECK(r.rows() == 3);
    CHECK(r.value(2, 0) == "3");
    REQUIRE(notices.size() == 3);
    CHECK(notices[2].message == "row 3");
}

TEST_CASE("queries: LISTEN/NOTIFY between two clients") {
    Pggate gate;
    PgConn listener(gate.conninfo());
    PgConn notifier(gate.conninfo());
    listener.exec_ok("listen itest_channel");
    std::string notifier_pid = notifier.scalar("select pg_backend_pid()");

    // Delivered while the listener is idle: nothing asked for it.
    notifier.exec_ok("notify itest_channel, 'hello'");
    auto n = wait_notify(listener.get(), 5);
    REQUIRE_MESSAGE(n != nullptr, "no notification within 5 s");
    CHECK(std::string(n->relname) == "itest_channel");
    CHECK(std::string(n->extra) == "hello");
    CHECK(std::to_string(n->be_pid) == notifier_pid);

    // Inside a transaction the notification waits for COMMIT.
    notifier.exec_ok("begin");
    notifier.exec_ok("select pg_notify('itest_channel', 'in-tx')");
    CHECK(wait_notify(listener.get(), 0.3) == nullptr);
    notifier.exec_ok("commit");
    auto n2 = wait_notify(listener.get(), 5);
    REQUIRE(n2 != nullptr);
    CHECK(std::string(n2->extra) == "in-tx");

    // Several notifications in a burst all arrive, in order.
    notifier.exec_ok("select pg_notify('itest_channel', g::text) from generate_series(1, 50) g");
    for (int i = 1; i <= 50; ++i) {
        auto m = wait_notify(listener.get(), 5);
        REQUIRE_MESSAGE(m != nullptr, "notification " << i << " of 50 missing");
        CHECK(std::string(m->extra) == std::to_string(i));
    }

    listener.exec_ok("unlisten itest_channel");
    notifier.exec_ok("notify itest_channel, 'ignored'");
    CHECK(wait_notify(listener.get(), 0.3) == nullptr);
}

TEST_CASE("queries: an error carries its SQLSTATE and the connection stays usable") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PgResult r = c.exec("select 1/0");
    CHECK(r.status() == PGRES_FATAL_ERROR);
    CHECK(r.sqlstate() == "22012");
    CHECK(r.error() == "division by zero");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
    CHECK(c.scalar("select 2 + 2") == "4");

    PgResult syntax = c.exec("selec 1");
    CHECK(syntax.sqlstate() == "42601");
    PgResult missing = c.exec("select * from no_such_table_itest");
    CHECK(missing.sqlstate() == "42P01");
    PgResult raised = c.exec("DO $$ begin raise exception using errcode = 'P0123', message = 'custom'; end $$");
    CHECK(raised.sqlstate() == "P0123");
    CHECK(raised.error() == "custom");
    CHECK(c.scalar("select 'still here'") == "still here");
}

TEST_CASE("queries: transaction status follows BEGIN, errors and ROLLBACK") {
    Pggate gate;
    PgConn c(gate.conninfo());
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
    c.exec_ok("begin");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_INTRANS);
    c.exec_ok("create temp table tx_t(x int)");
    c.exec_ok("insert into tx_t values (1)");
    CHECK(c.scalar("select count(*) from tx_t") == "1");
    CHECK(c.exec("select 1/0").sqlstate() == "22012");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_INERROR);
    CHECK(c.exec("select 1").sqlstate() == "25P02");
    c.exec_ok("rollback");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
    // The rolled-back table is gone.
    CHECK(c.exec("select * from tx_t").sqlstate() == "42P01");

    c.exec_ok("begin");
    c.exec_ok("create temp table tx_t2(x int)");
    c.exec_ok("commit");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
    CHECK(c.scalar("select count(*) from tx_t2") == "0");
}

TEST_CASE("queries: a client over the Unix socket") {
    Pggate gate;
    PgConn c(gate.unix_conninfo());
    CHECK(c.scalar("select 'unix'") == "unix");
    CHECK(std::string(PQhost(c.get())) == gate.unix_socket_dir());
    // The backend sees pggate (or, directly, this client) as its peer.
    CHECK(c.scalar("select 7 * 6") == "42");
}

TEST_CASE("queries: sslmode=prefer falls back to plain text, sslmode=require fails") {
    Pggate gate;
    PgConn prefer(gate.conninfo("sslmode=prefer"));
    CHECK(PQsslInUse(prefer.get()) == 0);
    CHECK(prefer.scalar("select 1") == "1");

    PgConn require = PgConn::attempt(gate.conninfo("sslmode=require"), 5);
    CHECK_FALSE(require.ok());
    CHECK_MESSAGE(require.error_message().find("does not support SSL") != std::string::npos, require.error_message());
    // The refused TLS attempt did not hurt the other client.
    CHECK(prefer.scalar("select 2") == "2");
}
