// COPY through pggate: 100 MB in each direction with pggate's memory staying
// flat (it must stream, not buffer; also to a TLS client), CopyFail, and bad
// data mid-COPY.
#include <doctest/doctest.h>
#include <poll.h>

#include <algorithm>

#include "harness.hpp"
#include "tls_support.hpp"

using namespace pggate::test;

namespace {

constexpr int kRows = 1000000;
constexpr int kPayload = 95;
constexpr long kRssSlackKb = 30 * 1024;

// Waits until the connection's socket is ready for `events`, or FAILs.
void wait_socket(PGconn* conn, short events, double timeout_s) {
    pollfd p{PQsocket(conn), events, 0};
    if (poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) FAIL("socket not ready within " << timeout_s << " s");
}

// Pushes everything libpq has queued, reading whatever the server sends
// meanwhile (a non-blocking connection).
void flush_all(PGconn* conn) {
    for (;;) {
        int f = PQflush(conn);
        if (f == -1) FAIL("PQflush failed: " << PQerrorMessage(conn));
        if (f == 0) return;
        wait_socket(conn, POLLOUT | POLLIN, 30);
        if (PQconsumeInput(conn) == 0) FAIL("PQconsumeInput failed: " << PQerrorMessage(conn));
    }
}

void put_copy_data(PGconn* conn, const std::string& data) {
    for (;;) {
        int r = PQputCopyData(conn, data.data(), static_cast<int>(data.size()));
        if (r == -1) FAIL("PQputCopyData failed: " << PQerrorMessage(conn));
        if (r == 1) break;
        wait_socket(conn, POLLOUT, 30);
        flush_all(conn);
    }
    flush_all(conn);
}

void put_copy_end(PGconn* conn, const char* error) {
    for (;;) {
        int r = PQputCopyEnd(conn, error);
        REQUIRE_MESSAGE(r != -1, PQerrorMessage(conn));
        if (r == 1) break;
        wait_socket(conn, POLLOUT, 30);
    }
    flush_all(conn);
}

// Rows "<id>\t<payload>\n" with ids [from, to).
std::string rows_text(int from, int to) {
    static const std::string payload(kPayload, 'p');
    std::string out;
    out.reserve(static_cast<std::size_t>(to - from) * (kPayload + 10));
    for (int i = from; i < to; ++i) {
        out += std::to_string(i);
        out += '\t';
        out += payload;
        out += '\n';
    }
    return out;
}

// Samples pggate's memory; keeps the highest value.
struct RssWatch {
    const Pggate& gate;
    long baseline = 0;
    long peak = 0;
    explicit RssWatch(const Pggate& g) : gate(g), baseline(g.total_rss_kb()), peak(baseline) {}
    void sample() { peak = std::max(peak, gate.total_rss_kb()); }
    void check(const char* what) const {
        if (direct_mode()) return;
        MESSAGE(std::string(what) << ": pggate RSS " << baseline << " kB before, peak " << peak << " kB during");
        if (gate.sanitized()) {
            MESSAGE("pggate runs under AddressSanitizer: memory is checked in the release build only");
            return;
        }
        CHECK(peak - baseline < kRssSlackKb);
    }
};

}  // namespace

TEST_CASE("copy: COPY FROM STDIN of 100 MB streams through with flat memory") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    c.exec_ok("create temp table copy_in(id int, payload text)");
    RssWatch rss(gate);

    PgResult start = c.exec("copy copy_in from stdin");
    REQUIRE_MESSAGE(start.status() == PGRES_COPY_IN, start.describe());
    REQUIRE(PQsetnonblocking(conn, 1) == 0);
    constexpr int kRowsPerChunk = 640;  // about 64 kB
    long long sent = 0;
    for (int i = 1, chunk = 0; i <= kRows; i += kRowsPerChunk, ++chunk) {
        std::string data = rows_text(i, std::min(i + kRowsPerChunk, kRows + 1));
        put_copy_data(conn, data);
        sent += static_cast<long long>(data.size());
        if (chunk % 16 == 0) rss.sample();
    }
    put_copy_end(conn, nullptr);
    REQUIRE(PQsetnonblocking(conn, 0) == 0);
    rss.sample();
    CHECK(sent >= 100LL * 1000 * 1000);

    PgResult done = get_result(conn, 120);
    REQUIRE_MESSAGE(done.status() == PGRES_COMMAND_OK, done.describe());
    CHECK(std::string(PQcmdTuples(done.get())) == std::to_string(kRows));
    CHECK(!get_result(conn, 10));
    PgResult check = c.exec_ok("select count(*), sum(id), min(length(payload)), max(length(payload)) from copy_in");
    CHECK(check.value(0, 0) == std::to_string(kRows));
    CHECK(check.value(0, 1) == std::to_string(static_cast<long long>(kRows) * (kRows + 1) / 2));
    CHECK(check.value(0, 2) == std::to_string(kPayload));
    CHECK(check.value(0, 3) == std::to_string(kPayload));
    rss.check("COPY FROM STDIN");
}

namespace {

// 100 MB of COPY TO STDOUT read slower than the server writes it, through
// `gate` with `extra` conninfo; pggate's memory must stay flat.
void copy_to_slow_reader(const Pggate& gate, const std::string& extra) {
    PgConn c(gate.conninfo(extra));
    PGconn* conn = c.get();
    RssWatch rss(gate);

    PgResult start = c.exec("copy (select g, repeat('x', " + std::to_string(kPayload) +
                            ") from generate_series(1, " + std::to_string(kRows) + ") g) to stdout");
    REQUIRE_MESSAGE(start.status() == PGRES_COPY_OUT, start.describe());
    long long bytes = 0, rows = 0, since_pause = 0;
    auto began = Clock::now();
    for (;;) {
        char* buf = nullptr;
        int n = PQgetCopyData(conn, &buf, 1);
        if (n > 0) {
            bytes += n;
            rows += std::count(buf, buf + n, '\n');
            PQfreemem(buf);
            since_pause += n;
            // Read slower than the server writes, so a pggate that does not
            // hold back reading from the server would pile the data up.
            if (since_pause >= (1 << 20)) {
                since_pause = 0;
                rss.sample();
                sleep_for(0.015);
            }
            continue;
        }
        if (n == -1) break;  // done
        if (n != 0) FAIL("PQgetCopyData failed: " << PQerrorMessage(conn));
        if (seconds_since(began) > 300) FAIL("COPY TO STDOUT still running after 300 s");
        wait_socket(conn, POLLIN, 30);
        if (PQconsumeInput(conn) == 0) FAIL("PQconsumeInput failed: " << PQerrorMessage(conn));
    }
    rss.sample();
    PgResult done = get_result(conn, 30);
    REQUIRE_MESSAGE(done.status() == PGRES_COMMAND_OK, done.describe());
    CHECK(std::string(PQcmdTuples(done.get())) == std::to_string(kRows));
    CHECK(!get_result(conn, 10));

    long long expected = 0;
    for (int g = 1; g <= kRows; ++g) expected += static_cast<long long>(std::to_string(g).size()) + 1 + kPayload + 1;
    CHECK(rows == kRows);
    CHECK(bytes == expected);
    CHECK(bytes >= 100LL * 1000 * 1000);
    rss.check("COPY TO STDOUT");
    CHECK(c.scalar("select 'after copy'") == "after copy");
}

}  // namespace

TEST_CASE("copy: COPY TO STDOUT of 100 MB to a slow reader with flat memory") {
    Pggate gate;
    copy_to_slow_reader(gate, "");
}

TEST_CASE("copy: COPY TO STDOUT of 100 MB to a slow TLS reader with flat memory") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    Pggate gate(client_tls(ca, "require"));
    copy_to_slow_reader(gate, std::string("sslmode=require password=") + Cluster::kAdminPassword);
}

TEST_CASE("copy: CopyFail from the client ends the COPY with an error") {
    Pggate gate;
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    c.exec_ok("create temp table copy_fail(id int, payload text)");

    PgResult start = c.exec("copy copy_fail from stdin");
    REQUIRE(start.status() == PGRES_COPY_IN);
    REQUIRE(PQsetnonblocking(conn, 1) == 0);
    put_copy_data(conn, rows_text(1, 1000));
    put_copy_end(conn, "client gave up");
    REQUIRE(PQsetnonblocking(conn, 0) == 0);
    PgResult failed = get_result(conn, 30);
    CHECK(failed.status() == PGRES_FATAL_ERROR);
    CHECK(failed.sqlstate() == "57014");
    CHECK_MESSAGE(failed.error().find("client gave up") != std::string::npos, failed.describe());
    CHECK(!get_result(conn, 10));

    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
    CHECK(c.scalar("select count(*) from copy_fail") == "0");
    CHECK(c.scalar("select 'usable'") == "usable");

    // Bad data mid-COPY: the server's error arrives, the rest is ignored.
    PgResult again = c.exec("copy copy_fail from stdin");
    REQUIRE(again.status() == PGRES_COPY_IN);
    REQUIRE(PQsetnonblocking(conn, 1) == 0);
    put_copy_data(conn, rows_text(1, 100) + "not-a-number\tx\n" + rows_text(100, 2000));
    put_copy_end(conn, nullptr);
    REQUIRE(PQsetnonblocking(conn, 0) == 0);
    PgResult bad = get_result(conn, 30);
    CHECK(bad.status() == PGRES_FATAL_ERROR);
    CHECK(bad.sqlstate() == "22P02");
    CHECK(!get_result(conn, 10));
    CHECK(c.scalar("select count(*) from copy_fail") == "0");

    // And a good COPY on the same connection afterwards.
    PgResult good = c.exec("copy copy_fail from stdin");
    REQUIRE(good.status() == PGRES_COPY_IN);
    REQUIRE(PQputCopyData(conn, "1\tone\n2\ttwo\n", 12) == 1);
    REQUIRE(PQputCopyEnd(conn, nullptr) == 1);
    PgResult ok = get_result(conn, 30);
    CHECK_MESSAGE(ok.status() == PGRES_COMMAND_OK, ok.describe());
    CHECK(!get_result(conn, 10));
    CHECK(c.scalar("select string_agg(payload, ',' order by id) from copy_fail") == "one,two");
}
