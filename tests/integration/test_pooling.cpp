// Server pooling through pggate: transaction mode shares few servers among
// many clients without leaking transactions, COPYs or waits between them;
// session mode resets a server before handing it on; pgbench runs clean.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>

#include "harness.hpp"

using namespace pggate::test;

namespace {

// The nodes line for the primary alone, so that every query meets the same
// pool whatever routing pggate may learn later.
std::vector<std::string> primary_only() {
    return {"pg1 = host=127.0.0.1 port=" + std::to_string(cluster().primary_port()) + " role=primary"};
}

// pggate authenticating clients itself (trust), pooling in `mode`, two
// workers (a "workers" line in `extra` replaces that), in front of the
// primary alone; `extra` adds further [pggate] lines.
PggateOptions pooled(const std::vector<std::string>& extra, const std::string& mode = "transaction") {
    PggateOptions options;
    options.settings = {"auth_type = trust", "pool_mode = " + mode, "workers = 2"};
    options.settings.insert(options.settings.end(), extra.begin(), extra.end());
    options.nodes = primary_only();
    return options;
}

std::string quote_literal(const std::string& s) {
    std::string out = "'";
    for (char ch : s) out += ch == '\'' ? std::string("''") : std::string(1, ch);
    return out + "'";
}

// Backends on the primary (other than the asking connection) in `state`.
int backends_in_state(PgConn& admin, const std::string& state) {
    return std::stoi(admin.scalar("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                                  "and pid <> pg_backend_pid() and state = " + quote_literal(state)));
}

// Client backends on the primary logged in as `user` (other than the asking connection).
int backends_of(PgConn& admin, const std::string& user) {
    return std::stoi(admin.scalar("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                                  "and pid <> pg_backend_pid() and usename = " + quote_literal(user) +
                                  " and datname = 'postgres'"));
}

// Waits until the primary runs `query` (so a cancel cannot arrive before it).
void wait_running(PgConn& admin, const std::string& query) {
    std::string sql = "select count(*) from pg_stat_activity where state = 'active' and query = " + quote_literal(query);
    bool running = eventually([&] { return admin.scalar(sql) == "1"; }, 10, 0.01);
    REQUIRE_MESSAGE(running, "'" << query << "' did not start running on the primary");
}

// PQexec without doctest (usable off the main thread): "" when the result
// has status `want`, else what went wrong. *value gets the first field.
std::string exec_plain(PGconn* conn, const std::string& sql, ExecStatusType want, std::string* value = nullptr) {
    PGresult* r = PQexec(conn, sql.c_str());
    std::string error;
    if (r == nullptr || PQresultStatus(r) != want) {
        error = "'" + sql + "': " + (r ? PQresStatus(PQresultStatus(r)) : "no result") + " " + PQerrorMessage(conn);
    } else if (value != nullptr) {
        *value = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    }
    PQclear(r);
    return error;
}

// True when the query sent on `conn` is still unanswered (reading what has come).
bool still_busy(PGconn* conn) {
    PQconsumeInput(conn);
    return PQisBusy(conn) != 0;
}

// Sends a CancelRequest for `conn` (libpq's PQcancel); true when it was sent.
bool send_cancel(PGconn* conn) {
    PGcancel* cancel = PQgetCancel(conn);
    REQUIRE(cancel != nullptr);
    char err[256] = "";
    int ok = PQcancel(cancel, err, sizeof err);
    PQfreeCancel(cancel);
    CHECK_MESSAGE(ok == 1, "PQcancel failed: " << err);
    return ok == 1;
}

// Drops what a test made on the primary, however the test ends.
struct Cleanup {
    std::vector<std::string> statements;
    ~Cleanup() {
        try {
            PgConn admin = cluster().admin();
            for (const auto& sql : statements) admin.exec(sql);
        } catch (...) {
            // Already failing; leftovers are dropped again by the next run.
        }
    }
};

}  // namespace

TEST_CASE("pooling: 20 clients share 3 servers in transaction mode") {
    PGGATE_ONLY();
    constexpr int kClients = 20;
    constexpr int kRounds = 50;
    constexpr int kPoolSize = 3;
    Cleanup cleanup{{"drop table if exists pool_load_rows", "drop role if exists pool_load"}};
    {
        PgConn admin = cluster().admin();
        admin.exec_ok("drop table if exists pool_load_rows");
        admin.exec_ok("drop role if exists pool_load");
        admin.exec_ok("create role pool_load login");
        admin.exec_ok("create table pool_load_rows(client int, n int)");
        admin.exec_ok("grant select, insert on pool_load_rows to pool_load");
    }
    Pggate gate(pooled({"default_pool_size = " + std::to_string(kPoolSize), "query_wait_timeout = 60"}));
    std::string conninfo = gate.conninfo("user=pool_load");

    std::atomic<int> connected{0}, finished{0};
    std::vector<std::string> errors(kClients);
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
        threads.emplace_back([&, c] {
            std::string& error = errors[static_cast<std::size_t>(c)];
            PGconn* conn = PQconnectdb(conninfo.c_str());
            if (PQstatus(conn) != CONNECTION_OK) error = std::string("connect: ") + PQerrorMessage(conn);
            ++connected;
            // Everyone is connected before anyone starts: 20 clients at once.
            while (connected.load() < kClients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            for (int i = 0; i < kRounds && error.empty(); ++i) {
                std::string insert = "insert into pool_load_rows values (" + std::to_string(c) + ", " + std::to_string(i) + ")";
                std::string count;
                error = exec_plain(conn, "begin", PGRES_COMMAND_OK);
                if (error.empty()) error = exec_plain(conn, insert, PGRES_COMMAND_OK);
                if (error.empty() && PQtransactionStatus(conn) != PQTRANS_INTRANS) error = "not in a transaction after insert";
                if (error.empty()) error = exec_plain(conn, "commit", PGRES_COMMAND_OK);
                if (error.empty()) {
                    error = exec_plain(conn, "select count(*) from pool_load_rows where client = " + std::to_string(c),
                                       PGRES_TUPLES_OK, &count);
                }
                if (error.empty() && count != std::to_string(i + 1)) {
                    error = "own rows " + count + ", expected " + std::to_string(i + 1);
                }
                if (!error.empty()) error = "round " + std::to_string(i) + ": " + error;
            }
            PQfinish(conn);
            ++finished;
        });
    }

    // Samples the primary while the clients run.
    PgConn admin = cluster().admin();
    int samples = 0, most = 0;
    auto started = Clock::now();
    while (finished.load() < kClients && seconds_since(started) < 180) {
        int now = backends_of(admin, "pool_load");
        most = std::max(most, now);
        ++samples;
        sleep_for(0.01);
    }
    if (finished.load() < kClients) {
        FAIL_CHECK("clients still running after 180 s; pggate log:\n" << gate.log_tail());
        gate.send_signal(SIGKILL);  // its workers follow, closing the clients' sockets
    }
    for (auto& t : threads) t.join();

    int failed = 0;
    for (int c = 0; c < kClients; ++c) {
        const std::string& error = errors[static_cast<std::size_t>(c)];
        if (!error.empty()) {
            ++failed;
            FAIL_CHECK("client " << c << ": " << error);
        }
    }
    CHECK(failed == 0);
    INFO("pool_load backends on the primary: at most " << most << " in " << samples << " samples");
    CHECK(samples >= 5);
    CHECK(most >= 1);
    CHECK(most <= kPoolSize);
    CHECK(backends_of(admin, "pool_load") <= kPoolSize);
    CHECK(admin.scalar("select count(*) from pool_load_rows") == std::to_string(kClients * kRounds));
    CHECK(admin.scalar("select count(distinct (client, n)) from pool_load_rows") == std::to_string(kClients * kRounds));
}

TEST_CASE("pooling: one server serves clients in turn") {
    PGGATE_ONLY();
    // One worker: with two, the one server may move between the workers
    // (closed in one, opened in the other) and its pid would change.
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 20", "workers = 1"}));
    PgConn admin = cluster().admin();

    PgConn a(gate.conninfo());
    std::string pid = a.scalar("select pg_backend_pid()");
    CHECK(a.scalar("select pg_backend_pid()") == pid);
    {
        PgConn b(gate.conninfo());
        CHECK(b.scalar("select pg_backend_pid()") == pid);
        for (int i = 0; i < 5; ++i) {
            CHECK(a.scalar("select pg_backend_pid()") == pid);
            CHECK(b.scalar("select pg_backend_pid()") == pid);
        }
        b.exec_ok("begin");
        CHECK(b.scalar("select pg_backend_pid()") == pid);
        b.exec_ok("commit");
    }
    PgConn c(gate.conninfo());
    CHECK(c.scalar("select pg_backend_pid()") == pid);
    CHECK(a.scalar("select pg_backend_pid()") == pid);
    CHECK(backends_of(admin, "postgres") == 1);
}

TEST_CASE("pooling: a transaction holding the only server makes clients of both workers wait") {
    PGGATE_ONLY();
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 20"}));
    PgConn admin = cluster().admin();

    // A, a client on A's worker and one on the other worker, each served once.
    PgConn a(gate.conninfo());
    CHECK(a.scalar("select 'a'") == "a");
    pid_t worker_a = gate.worker_serving(a);
    REQUIRE(worker_a != 0);
    std::optional<PgConn> same, other;
    for (int tries = 0; tries < 40 && (!same || !other); ++tries) {
        PgConn c(gate.conninfo());
        auto& slot = gate.worker_serving(c) == worker_a ? same : other;
        if (!slot) slot.emplace(std::move(c));
    }
    REQUIRE_MESSAGE(same.has_value(), "no connection out of 40 landed on A's worker");
    REQUIRE_MESSAGE(other.has_value(), "no connection out of 40 landed on the other worker");
    CHECK(same->scalar("select 'same worker'") == "same worker");
    CHECK(other->scalar("select 'other worker'") == "other worker");
    CHECK(a.scalar("select 'a again'") == "a again");
    CHECK(eventually([&] { return backends_of(admin, "postgres") <= 1; }, 3));

    a.exec_ok("begin");
    REQUIRE(PQsendQuery(same->get(), "select pg_backend_pid(), 'same'") == 1);
    REQUIRE(PQsendQuery(other->get(), "select pg_backend_pid(), 'other'") == 1);
    sleep_for(0.5);
    CHECK_MESSAGE(still_busy(same->get()), "a client was answered while A held the only server");
    CHECK_MESSAGE(still_busy(other->get()), "a client of the other worker was answered while A held the only server");
    CHECK(a.scalar("select 'a still in its transaction'") == "a still in its transaction");
    CHECK(PQtransactionStatus(a.get()) == PQTRANS_INTRANS);
    CHECK(still_busy(same->get()));
    CHECK(still_busy(other->get()));
    CHECK(backends_of(admin, "postgres") == 1);
    a.exec_ok("commit");

    PgResult r_same = get_result(same->get(), 10);
    REQUIRE_MESSAGE(r_same.status() == PGRES_TUPLES_OK, r_same.describe());
    CHECK(r_same.value(0, 1) == "same");
    CHECK(!get_result(same->get(), 10));
    PgResult r_other = get_result(other->get(), 10);
    REQUIRE_MESSAGE(r_other.status() == PGRES_TUPLES_OK, r_other.describe());
    CHECK(r_other.value(0, 1) == "other");
    CHECK(!get_result(other->get(), 10));
    CHECK(a.scalar("select 'a after commit'") == "a after commit");
    CHECK(backends_of(admin, "postgres") <= 1);
}

TEST_CASE("pooling: a client that keeps the only server busy does not starve a client of the other worker") {
    PGGATE_ONLY();
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 20"}));
    PgConn busy(gate.conninfo());
    CHECK(busy.scalar("select 1") == "1");
    const pid_t busy_worker = gate.worker_serving(busy);
    REQUIRE(busy_worker != 0);
    std::optional<PgConn> other;
    for (int tries = 0; tries < 40 && !other; ++tries) {
        PgConn c(gate.conninfo());
        if (gate.worker_serving(c) != busy_worker) other.emplace(std::move(c));
    }
    REQUIRE_MESSAGE(other.has_value(), "no connection out of 40 landed on the other worker");

    // `busy` sends its next query as soon as the last one is answered, so
    // its worker never sees the server idle; the other worker's client must
    // still get its turns.
    std::atomic<bool> stop{false};
    std::atomic<int> busy_queries{0};
    std::thread loop([&] {
        while (!stop.load()) {
            PgResult r(PQexec(busy.get(), "select pg_sleep(0.002)"));
            if (r.status() == PGRES_TUPLES_OK) busy_queries.fetch_add(1);
        }
    });
    int other_queries = 0;
    std::vector<double> waits;
    const Clock::time_point start = Clock::now();
    while (seconds_since(start) < 3) {
        const Clock::time_point sent = Clock::now();
        CHECK(other->scalar("select 'other'") == "other");
        waits.push_back(seconds_since(sent));
        ++other_queries;
    }
    stop.store(true);
    loop.join();
    std::sort(waits.begin(), waits.end());
    CAPTURE(busy_queries.load());
    CAPTURE(other_queries);
    CAPTURE(waits.back());
    MESSAGE("median " << waits[waits.size() / 2] << " p90 " << waits[waits.size() * 9 / 10] << " max " << waits.back());
    CHECK(busy_queries.load() > 20);
    CHECK(other_queries > 20);
    CHECK(waits[waits.size() / 2] < 1.0);
}

TEST_CASE("pooling: transaction status and transaction-local settings in transaction mode") {
    Pggate gate(pooled({"default_pool_size = 2"}));
    PgConn c(gate.conninfo());
    PGconn* conn = c.get();
    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
    c.exec_ok("begin");
    CHECK(PQtransactionStatus(conn) == PQTRANS_INTRANS);
    c.exec_ok("select 1");
    CHECK(PQtransactionStatus(conn) == PQTRANS_INTRANS);
    PgResult err = c.exec("select 1/0");
    CHECK(err.sqlstate() == "22012");
    CHECK(PQtransactionStatus(conn) == PQTRANS_INERROR);
    PgResult refused = c.exec("select 2");
    CHECK(refused.sqlstate() == "25P02");
    CHECK(PQtransactionStatus(conn) == PQTRANS_INERROR);
    c.exec_ok("rollback");
    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);

    std::string default_work_mem = c.scalar("show work_mem");
    c.exec_ok("begin");
    c.exec_ok("set local work_mem = '1MB'");
    CHECK(c.scalar("show work_mem") == "1MB");
    c.exec_ok("commit");
    CHECK(c.scalar("show work_mem") == default_work_mem);

    // Several statements in one Query: one transaction, one server.
    PgResult multi = c.exec("begin; set local work_mem = '2MB'; select current_setting('work_mem')");
    CHECK(multi.value(0, 0) == "2MB");
    CHECK(PQtransactionStatus(conn) == PQTRANS_INTRANS);
    CHECK(c.scalar("show work_mem") == "2MB");
    c.exec_ok("rollback");
    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);

    // An implicit transaction that fails leaves the client idle.
    PgResult implicit = c.exec("select 1; select 1/0; select 3");
    CHECK(implicit.sqlstate() == "22012");
    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
    CHECK(c.scalar("select 'fine'") == "fine");
}

TEST_CASE("pooling: a client gone mid-transaction never hands its server on dirty") {
    PGGATE_ONLY();
    Cleanup cleanup{{"drop table if exists pool_dirty_rows"}};
    cluster().admin_exec("drop table if exists pool_dirty_rows");
    cluster().admin_exec("create table pool_dirty_rows(x int)");
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 15"}));
    PgConn admin = cluster().admin();

    for (std::string how : {"socket closed", "Terminate sent", "socket closed mid-query"}) {
        CAPTURE(how);
        REQUIRE(eventually([&] { return backends_in_state(admin, "idle in transaction") == 0; }, 5));
        if (how == "Terminate sent") {
            PgConn a(gate.conninfo());
            a.exec_ok("begin");
            a.exec_ok("create temp table t_dirty(x int)");
            a.exec_ok("insert into pool_dirty_rows values (1)");
            CHECK(PQtransactionStatus(a.get()) == PQTRANS_INTRANS);
            CHECK(backends_in_state(admin, "idle in transaction") == 1);
            // PQfinish: Terminate without COMMIT.
        } else {
            RawClient a(gate.port());
            a.login();
            std::string sql = "BEGIN; create temp table t_dirty(x int); insert into pool_dirty_rows values (1); SELECT 1";
            if (how == "socket closed mid-query") sql += "; select pg_sleep(1)";
            REQUIRE(a.send(wire::message('Q', wire::cstr(sql))));
            if (how == "socket closed") {
                for (;;) {
                    auto m = a.read_message(10);
                    REQUIRE_MESSAGE(m.has_value(), "no ReadyForQuery after the transaction's statements");
                    REQUIRE_MESSAGE(m->type != 'E', wire::error_fields(m->body)['M']);
                    if (m->type == 'Z') {
                        CHECK(m->body == "T");
                        break;
                    }
                }
                CHECK(backends_in_state(admin, "idle in transaction") == 1);
            } else {
                wait_running(admin, sql);
            }
            // The socket closes here, the transaction still open.
        }

        PgConn b(gate.conninfo());
        CHECK(PQtransactionStatus(b.get()) == PQTRANS_IDLE);
        CHECK(b.scalar("select 1") == "1");
        CHECK(PQtransactionStatus(b.get()) == PQTRANS_IDLE);
        // B is in a transaction of its own, not inside A's.
        CHECK(b.scalar("select txid_current_if_assigned() is null") == "t");
        CHECK(b.scalar("select to_regclass('pg_temp.t_dirty') is null") == "t");
        CHECK(b.scalar("select count(*) from pool_dirty_rows") == "0");
        b.exec_ok("begin");
        CHECK(b.scalar("select count(*) from pool_dirty_rows") == "0");
        b.exec_ok("commit");
        CHECK(PQtransactionStatus(b.get()) == PQTRANS_IDLE);
        bool clean = eventually([&] { return backends_in_state(admin, "idle in transaction") == 0; }, 3);
        CHECK_MESSAGE(clean, "a backend is still idle in transaction; pggate log:\n" << gate.log_tail(20));
        CHECK(eventually([&] { return backends_of(admin, "postgres") <= 1; }, 3));
        CHECK(b.scalar("select 'b still works'") == "b still works");
    }
    CHECK(admin.scalar("select count(*) from pool_dirty_rows") == "0");
}

TEST_CASE("pooling: a client gone mid-COPY leaves no rows and no busy server") {
    PGGATE_ONLY();
    Cleanup cleanup{{"drop table if exists pool_copy_rows"}};
    cluster().admin_exec("drop table if exists pool_copy_rows");
    cluster().admin_exec("create table pool_copy_rows(id int, payload text)");
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 15"}));
    PgConn admin = cluster().admin();
    const std::string copy_busy =
        "select count(*) from pg_stat_activity where pid <> pg_backend_pid() and state <> 'idle' "
        "and query ilike 'copy pool_copy_rows%'";

    std::string rows;
    for (int i = 1; i <= 2000; ++i) rows += std::to_string(i) + "\tkilled copy row\n";

    for (std::string how : {"raw socket closed", "libpq PQfinish"}) {
        CAPTURE(how);
        if (how == "raw socket closed") {
            RawClient a(gate.port());
            a.login();
            REQUIRE(a.send(wire::message('Q', wire::cstr("copy pool_copy_rows from stdin"))));
            for (;;) {
                auto m = a.read_message(10);
                REQUIRE_MESSAGE(m.has_value(), "no CopyInResponse");
                REQUIRE_MESSAGE(m->type != 'E', wire::error_fields(m->body)['M']);
                if (m->type == 'G') break;
            }
            REQUIRE(a.send(wire::message('d', rows)));
            REQUIRE(eventually([&] { return admin.scalar(copy_busy) == "1"; }, 5));
        } else {
            PgConn a(gate.conninfo());
            PgResult start = a.exec("copy pool_copy_rows from stdin");
            REQUIRE_MESSAGE(start.status() == PGRES_COPY_IN, start.describe());
            REQUIRE(PQputCopyData(a.get(), rows.data(), static_cast<int>(rows.size())) == 1);
            REQUIRE(PQflush(a.get()) == 0);
            REQUIRE(eventually([&] { return admin.scalar(copy_busy) == "1"; }, 5));
        }

        PgConn b(gate.conninfo());
        CHECK(b.scalar("select 'b works'") == "b works");
        CHECK(b.scalar("select count(*) from pool_copy_rows") == "0");
        CHECK(b.scalar("select txid_current_if_assigned() is null") == "t");
        // A COPY of B's own goes through whole.
        PgResult mine = b.exec("copy pool_copy_rows from stdin");
        REQUIRE_MESSAGE(mine.status() == PGRES_COPY_IN, mine.describe());
        std::string two = "1\tb\n2\tb\n";
        REQUIRE(PQputCopyData(b.get(), two.data(), static_cast<int>(two.size())) == 1);
        REQUIRE(PQputCopyEnd(b.get(), nullptr) == 1);
        PgResult done = get_result(b.get(), 10);
        CHECK_MESSAGE(done.status() == PGRES_COMMAND_OK, done.describe());
        CHECK(!get_result(b.get(), 10));
        CHECK(b.scalar("select count(*) from pool_copy_rows where payload = 'killed copy row'") == "0");
        CHECK(b.scalar("select count(*) from pool_copy_rows") == "2");
        b.exec_ok("delete from pool_copy_rows");

        bool clean = eventually([&] { return admin.scalar(copy_busy) == "0"; }, 3);
        CHECK_MESSAGE(clean, "the killed COPY is still running on the primary; pggate log:\n" << gate.log_tail(20));
        CHECK(eventually([&] { return backends_in_state(admin, "idle in transaction") == 0; }, 3));
    }
    CHECK(admin.scalar("select count(*) from pool_copy_rows") == "0");
}

namespace {

// Sends "select $1::int, $2::text" into the pipeline.
void send_pair(PGconn* conn, int value, const std::string& tag) {
    std::string text = std::to_string(value);
    const char* values[2] = {text.c_str(), tag.c_str()};
    REQUIRE_MESSAGE(PQsendQueryParams(conn, "select $1::int, $2::text", 2, nullptr, values, nullptr, nullptr, 0) == 1,
                    PQerrorMessage(conn));
}

void expect_pair(PGconn* conn, int value, const std::string& tag) {
    PgResult r = get_result(conn, 10);
    CHECK_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(r.value(0, 0) == std::to_string(value));
    CHECK(r.value(0, 1) == tag);
    PgResult end = get_result(conn, 10);
    CHECK_MESSAGE(!end, "expected the end of a query's results, got " << end.describe());
}

void expect_sync(PGconn* conn) {
    PgResult r = get_result(conn, 10);
    CHECK_MESSAGE(r.status() == PGRES_PIPELINE_SYNC, r.describe());
}

}  // namespace

TEST_CASE("pooling: pipelines in transaction mode, two clients sharing one server") {
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 20"}));
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    PGconn* ca = a.get();
    PGconn* cb = b.get();
    REQUIRE(PQenterPipelineMode(ca) == 1);
    REQUIRE(PQenterPipelineMode(cb) == 1);

    for (int batch = 0; batch < 3; ++batch) {
        CAPTURE(batch);
        for (int i = 0; i < 5; ++i) send_pair(ca, batch * 10 + i, "a");
        REQUIRE(PQpipelineSync(ca) == 1);
        for (int i = 0; i < 5; ++i) send_pair(cb, batch * 10 + i, "b");
        REQUIRE(PQpipelineSync(cb) == 1);
        for (int i = 0; i < 5; ++i) expect_pair(ca, batch * 10 + i, "a");
        expect_sync(ca);
        for (int i = 0; i < 5; ++i) expect_pair(cb, batch * 10 + i, "b");
        expect_sync(cb);
    }

    // Two syncs sent at once: the server goes idle after the first while the
    // second batch is already on its way.
    for (int i = 0; i < 3; ++i) send_pair(ca, 100 + i, "a1");
    REQUIRE(PQpipelineSync(ca) == 1);
    for (int i = 0; i < 2; ++i) send_pair(ca, 200 + i, "a2");
    REQUIRE(PQpipelineSync(ca) == 1);
    for (int i = 0; i < 4; ++i) send_pair(cb, 300 + i, "b1");
    REQUIRE(PQpipelineSync(cb) == 1);
    for (int i = 0; i < 3; ++i) expect_pair(ca, 100 + i, "a1");
    expect_sync(ca);
    for (int i = 0; i < 2; ++i) expect_pair(ca, 200 + i, "a2");
    expect_sync(ca);
    for (int i = 0; i < 4; ++i) expect_pair(cb, 300 + i, "b1");
    expect_sync(cb);

    // An error mid-pipeline aborts the rest up to the Sync.
    send_pair(ca, 1, "ok");
    REQUIRE(PQsendQueryParams(ca, "select 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    for (int i = 3; i <= 5; ++i) send_pair(ca, i, "skipped");
    REQUIRE(PQpipelineSync(ca) == 1);
    send_pair(cb, 7, "b meanwhile");
    REQUIRE(PQpipelineSync(cb) == 1);
    expect_pair(ca, 1, "ok");
    {
        PgResult r = get_result(ca, 10);
        CHECK(r.status() == PGRES_FATAL_ERROR);
        CHECK(r.sqlstate() == "22012");
        CHECK(!get_result(ca, 10));
    }
    for (int i = 3; i <= 5; ++i) {
        PgResult r = get_result(ca, 10);
        CHECK_MESSAGE(r.status() == PGRES_PIPELINE_ABORTED, r.describe());
        CHECK(!get_result(ca, 10));
    }
    expect_sync(ca);
    expect_pair(cb, 7, "b meanwhile");
    expect_sync(cb);

    // Still usable: a transaction inside one pipeline, then plain queries.
    for (const char* sql : {"begin", "set local work_mem = '5MB'", "select current_setting('work_mem')", "commit"}) {
        REQUIRE(PQsendQueryParams(ca, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    }
    REQUIRE(PQpipelineSync(ca) == 1);
    for (int i = 0; i < 4; ++i) {
        PgResult r = get_result(ca, 10);
        CHECK_MESSAGE(r.ok(), r.describe());
        if (i == 2) CHECK(r.value(0, 0) == "5MB");
        CHECK(!get_result(ca, 10));
    }
    expect_sync(ca);
    CHECK(PQexitPipelineMode(ca) == 1);
    CHECK(PQexitPipelineMode(cb) == 1);
    CHECK(PQtransactionStatus(ca) == PQTRANS_IDLE);
    CHECK(a.scalar("select 'a after pipelines'") == "a after pipelines");
    CHECK(b.scalar("select 'b after pipelines'") == "b after pipelines");
}

TEST_CASE("pooling: a client waiting longer than query_wait_timeout is told so and disconnected") {
    PGGATE_ONLY();
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 1"}));
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());
    CHECK(b.scalar("select 'b before'") == "b before");
    a.exec_ok("begin");
    a.exec_ok("select 1");

    auto sent = Clock::now();
    REQUIRE(PQsendQuery(b.get(), "select 'b waits'") == 1);
    PgResult r = get_result(b.get(), 10);
    double waited = seconds_since(sent);
    CHECK(r.status() == PGRES_FATAL_ERROR);
    CHECK_MESSAGE(r.sqlstate() == "08P01", r.describe());
    CHECK_MESSAGE(r.error().find("query_wait_timeout") != std::string::npos, r.describe());
    CHECK(waited >= 0.9);
    CHECK(waited < 3.5);
    bool closed = eventually(
        [&] {
            PQconsumeInput(b.get());
            while (PGresult* more = PQgetResult(b.get())) PQclear(more);
            return PQstatus(b.get()) == CONNECTION_BAD;
        },
        3);
    CHECK_MESSAGE(closed, "pggate kept the timed-out client connected");

    // A is unaffected, and once it commits others get the server again.
    CHECK(PQtransactionStatus(a.get()) == PQTRANS_INTRANS);
    CHECK(a.scalar("select 'a holds on'") == "a holds on");
    a.exec_ok("commit");
    PgConn c(gate.conninfo());
    CHECK(c.scalar("select 'c after'") == "c after");
}

TEST_CASE("pooling: clients that leave while waiting for a server leave the queue") {
    PGGATE_ONLY();
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 20"}));
    PgConn admin = cluster().admin();
    PgConn a(gate.conninfo());
    std::vector<PgConn> leavers;
    for (int i = 0; i < 4; ++i) leavers.emplace_back(gate.conninfo());
    PgConn stays(gate.conninfo());
    for (auto& c : leavers) CHECK(c.scalar("select 'served once'") == "served once");
    CHECK(stays.scalar("select 'served once'") == "served once");

    a.exec_ok("begin");
    for (auto& c : leavers) REQUIRE(PQsendQuery(c.get(), "select 'never answered'") == 1);
    REQUIRE(PQsendQuery(stays.get(), "select 'stays'") == 1);
    sleep_for(0.3);
    for (auto& c : leavers) CHECK(still_busy(c.get()));
    leavers.clear();  // gone while queued
    sleep_for(0.3);
    CHECK(still_busy(stays.get()));
    a.exec_ok("commit");

    PgResult r = get_result(stays.get(), 10);
    CHECK_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(r.value(0, 0) == "stays");
    CHECK(!get_result(stays.get(), 10));
    for (int i = 0; i < 5; ++i) {
        PgConn c(gate.conninfo());
        CHECK(c.scalar("select " + std::to_string(i)) == std::to_string(i));
        CHECK(a.scalar("select 'a'") == "a");
    }
    CHECK(eventually([&] { return backends_of(admin, "postgres") <= 1; }, 3));
    CHECK(backends_in_state(admin, "idle in transaction") == 0);
}

TEST_CASE("pooling: session mode resets a server before the next client gets it") {
    Cleanup cleanup{{"drop role if exists pool_session"}};
    cluster().admin_exec("drop role if exists pool_session");
    cluster().admin_exec("create role pool_session login");
    Pggate gate(pooled({"default_pool_size = 2"}, "session"));
    PgConn admin = cluster().admin();
    std::string shown_default = admin.scalar("show work_mem");

    constexpr int kRounds = 6;
    std::set<std::string> pids;
    std::string trail;  // server pid @ worker, per round
    for (int round = 0; round < kRounds; ++round) {
        CAPTURE(round);
        {
            PgConn c(gate.conninfo("user=pool_session"));
            CHECK(c.scalar("show work_mem") == shown_default);
            CHECK(c.scalar("select count(*) from pg_prepared_statements") == "0");
            CHECK(c.scalar("select to_regclass('pg_temp.session_leftover') is null") == "t");
            CHECK(c.scalar("select current_setting('application_name')") != "leftover");
            std::string pid = c.scalar("select pg_backend_pid()");
            pids.insert(pid);
            trail += " " + pid + "@w" + std::to_string(direct_mode() ? 0 : gate.worker_serving(c));
            std::string mem = std::to_string(round + 3) + "MB";
            c.exec_ok("set work_mem = '" + mem + "'");
            c.exec_ok("set application_name = 'leftover'");
            c.exec_ok("prepare leftover as select 1");
            c.exec_ok("create temp table session_leftover(x int)");
            CHECK(c.scalar("show work_mem") == mem);
        }
        if (!direct_mode()) CHECK(backends_of(admin, "pool_session") <= 2);
    }
    INFO("distinct servers over " << kRounds << " session clients: " << pids.size()
                                     << "; server pid @ worker pid per round:" << trail);
    if (!direct_mode()) {
        // Servers may move between workers (an idle one is closed for a client
        // waiting in the other worker), so more than two can appear; but a
        // session pool that opened a new server for every client reuses nothing.
        CHECK_MESSAGE(pids.size() < static_cast<std::size_t>(kRounds), "no server was reused in session mode");
    }
}

TEST_CASE("pooling: cancel in transaction mode reaches the running query, and only it") {
    Pggate gate(pooled({"default_pool_size = 1", "query_wait_timeout = 30"}));
    PgConn admin = cluster().admin();
    PgConn a(gate.conninfo());
    PgConn b(gate.conninfo());

    for (int round = 0; round < 4; ++round) {
        CAPTURE(round);
        PgConn& c = round % 2 == 0 ? a : b;
        bool in_tx = round >= 2;
        if (in_tx) c.exec_ok("begin");
        std::string query = "select pg_sleep(30), " + std::to_string(round);
        REQUIRE(PQsendQuery(c.get(), query.c_str()) == 1);
        wait_running(admin, query);
        auto sent = Clock::now();
        send_cancel(c.get());
        PgResult r = get_result(c.get(), 10);
        CHECK_MESSAGE(r.sqlstate() == "57014", r.describe());
        CHECK(seconds_since(sent) < 5);
        CHECK(!get_result(c.get(), 10));
        if (in_tx) {
            CHECK(PQtransactionStatus(c.get()) == PQTRANS_INERROR);
            c.exec_ok("rollback");
        }
        CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
        CHECK(c.scalar("select 'after cancel'") == "after cancel");
    }

    // A cancel from a client with nothing running does not hit the query
    // another client now runs on the server they share.
    CHECK(a.scalar("select 'a idle'") == "a idle");
    std::string query = "select pg_sleep(1.5), 'b keeps running'";
    auto started = Clock::now();
    REQUIRE(PQsendQuery(b.get(), query.c_str()) == 1);
    wait_running(admin, query);
    send_cancel(a.get());
    PgResult r = get_result(b.get(), 10);
    CHECK_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(r.value(0, 1) == "b keeps running");
    CHECK(seconds_since(started) >= 1.4);
    CHECK(!get_result(b.get(), 10));
    CHECK(a.scalar("select 'a fine'") == "a fine");
    CHECK(b.scalar("select 'b fine'") == "b fine");
}

TEST_CASE("pooling: pgbench select-only, simple and extended, through transaction pooling") {
    Cleanup cleanup{{"drop database if exists pool_bench with (force)"}};
    {
        PgConn admin = cluster().admin();
        admin.exec_ok("drop database if exists pool_bench with (force)");
        admin.exec_ok("create database pool_bench");
    }
    std::string env = std::string("PGPASSWORD=") + Cluster::kAdminPassword + " PGCONNECT_TIMEOUT=10 PGSSLMODE=disable ";
    std::string output;
    int rc = run_shell(env + "pgbench -i -s 1 -q -h 127.0.0.1 -p " + std::to_string(cluster().primary_port()) +
                           " -U postgres pool_bench",
                       output);
    REQUIRE_MESSAGE(rc == 0, "pgbench -i failed (" << rc << "):\n" << output);

    Pggate gate(pooled({"default_pool_size = 4", "max_client_conn = 100"}));
    for (std::string mode : {"simple", "extended"}) {
        CAPTURE(mode);
        rc = run_shell(env + "pgbench -n -S -M " + mode + " -c 16 -j 2 -T 5 -h 127.0.0.1 -p " +
                           std::to_string(gate.port()) + " -U postgres pool_bench",
                       output);
        INFO("pgbench output:\n" << output);
        INFO("pggate log tail:\n" << gate.log_tail(20));
        CHECK(rc == 0);
        CHECK(number_after(output, "number of failed transactions:") == 0);
        CHECK(number_after(output, "number of transactions actually processed:") > 0);
        CHECK(number_after(output, "number of clients:") == 16);
    }
    if (!direct_mode()) {
        // A server one worker just closed for another's waiting clients may
        // still show while its backend exits.
        CHECK(eventually(
            [] {
                return std::stoi(cluster().admin_scalar(
                           "select count(*) from pg_stat_activity where datname = 'pool_bench'")) <= 4;
            },
            5));
    }
}
