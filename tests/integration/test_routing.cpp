// Read/write splitting against a primary and two streaming replicas: where
// each statement actually ran (pg_is_in_recovery() and the server's port,
// read in the statement itself), for simple and extended queries, pipelines,
// transactions, hints, read_your_writes and pgbench.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

namespace {

// "t" when the statement ran on a replica.
std::string on_replica(PgConn& c, const std::string& sql) { return c.scalar(sql); }

std::string extended_scalar(PgConn& c, const std::string& sql) {
    PgResult r(PQexecParams(c.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(r.ok(), r.describe());
    return r.value(0, 0);
}

}  // namespace

TEST_CASE("routing: reads go to replicas, writes and what may write to the primary") {
    PGGATE_ONLY();
    Table t("rt_basic");
    Pggate gate(routing());
    auto fresh = [&] { return PgConn(gate.conninfo()); };

    { PgConn c = fresh(); CHECK(on_replica(c, "select pg_is_in_recovery()") == "t"); }
    { PgConn c = fresh(); CHECK(extended_scalar(c, "select pg_is_in_recovery()") == "t"); }
    { PgConn c = fresh(); CHECK(on_replica(c, "select pg_is_in_recovery() from rt_basic union all select true limit 1") == "t"); }
    // Writes, and reads that may write.
    { PgConn c = fresh(); CHECK(on_replica(c, "insert into rt_basic (v) values (1) returning pg_is_in_recovery()") == "f"); }
    { PgConn c = fresh(); CHECK(on_replica(c, "select pg_is_in_recovery() from (select nextval('rt_basic_id_seq')) s") == "f"); }
    { PgConn c = fresh(); CHECK(on_replica(c, "select pg_is_in_recovery() from rt_basic for update") != "t"); }
    {
        PgConn c = fresh();
        CHECK(on_replica(c, "with d as (delete from rt_basic where v = -1 returning 1) select pg_is_in_recovery()") == "f");
    }
    // Hints.
    { PgConn c = fresh(); CHECK(on_replica(c, "/* pggate:primary */ select pg_is_in_recovery()") == "f"); }
    // Transactions: on the primary unless read-only.
    {
        PgConn c = fresh();
        c.exec_ok("begin");
        CHECK(on_replica(c, "select pg_is_in_recovery()") == "f");
        c.exec_ok("commit");
        c.exec_ok("begin read only");
        CHECK(on_replica(c, "select pg_is_in_recovery()") == "t");
        CHECK(on_replica(c, "select pg_is_in_recovery()") == "t");
        c.exec_ok("commit");
    }
}

TEST_CASE("routing: reads spread over both replicas; session state follows the client there") {
    PGGATE_ONLY();
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    c.exec_ok("set work_mem = '7MB'");
    std::set<std::string> ports;
    for (int i = 0; i < 12; ++i) {
        PgResult r = c.exec_ok("select pg_is_in_recovery(), inet_server_port()::text, current_setting('work_mem')");
        CHECK(r.value(0, 0) == "t");
        CHECK(r.value(0, 2) == "7MB");
        ports.insert(r.value(0, 1));
    }
    std::set<std::string> replicas;
    for (int p : cluster().replica_ports()) replicas.insert(std::to_string(p));
    CHECK(ports == replicas);
}

TEST_CASE("routing: a pipeline segment with a write anywhere runs whole on the primary") {
    PGGATE_ONLY();
    Table t("rt_pipe");
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    REQUIRE(PQenterPipelineMode(c.get()) == 1);
    REQUIRE(PQsendQueryParams(c.get(), "select pg_is_in_recovery()", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
    REQUIRE(PQsendQueryParams(c.get(), "insert into rt_pipe (v) values (2) returning pg_is_in_recovery()", 0, nullptr,
                              nullptr, nullptr, nullptr, 0) == 1);
    REQUIRE(PQpipelineSync(c.get()) == 1);
    for (int i = 0; i < 2; ++i) {
        PgResult r = get_result(c.get());
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        CHECK(r.value(0, 0) == "f");
        CHECK(!get_result(c.get()));
    }
    CHECK(get_result(c.get()).status() == PGRES_PIPELINE_SYNC);
    REQUIRE(PQexitPipelineMode(c.get()) == 1);
}

TEST_CASE("routing: a pipeline's read segment goes to a replica and its next segment, a write, to the primary") {
    PGGATE_ONLY();
    Table t("rt_pipe2");
    // Without read_your_writes, so that every round's first read may go to a replica.
    Pggate gate(routing({"read_your_writes = off"}));
    PgConn c(gate.conninfo());
    REQUIRE(eventually([&] { return on_replica(c, "select pg_is_in_recovery()") == "t"; }, 15));
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        // All of it in one write: a read segment, then a writing one, then a read again.
        REQUIRE(PQenterPipelineMode(c.get()) == 1);
        REQUIRE(PQsendQueryParams(c.get(), "select pg_is_in_recovery()", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
        REQUIRE(PQpipelineSync(c.get()) == 1);
        REQUIRE(PQsendQueryParams(c.get(), "insert into rt_pipe2 (v) values (3) returning pg_is_in_recovery()", 0,
                                  nullptr, nullptr, nullptr, nullptr, 0) == 1);
        REQUIRE(PQpipelineSync(c.get()) == 1);
        REQUIRE(PQsendQueryParams(c.get(), "select 42", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
        REQUIRE(PQpipelineSync(c.get()) == 1);
        for (const char* expected : {"t", "f", "42"}) {
            PgResult r = get_result(c.get());
            REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
            CHECK(r.value(0, 0) == expected);
            CHECK(!get_result(c.get()));
            CHECK(get_result(c.get()).status() == PGRES_PIPELINE_SYNC);
        }
        REQUIRE(PQexitPipelineMode(c.get()) == 1);
    }
    CHECK(cluster().admin_scalar("select count(*) from rt_pipe2") == "5");
}

TEST_CASE("routing: a read segment written message by message still goes to a replica; a Flush in it routes at once") {
    PGGATE_ONLY();
    Pggate gate(routing({"read_your_writes = off"}));
    {
        PgConn c(gate.conninfo());
        REQUIRE(eventually([&] { return on_replica(c, "select pg_is_in_recovery()") == "t"; }, 15));
    }
    RawClient raw(gate.port());
    raw.login();
    // Each piece in its own write, apart in time, as drivers that write
    // message by message send them.
    auto send_apart = [&](const std::vector<std::string>& pieces) {
        for (const std::string& piece : pieces) {
            REQUIRE(raw.send(piece));
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
        }
    };
    auto rows_until_ready = [&] {
        std::vector<std::string> rows;
        for (;;) {
            auto m = raw.read_message(10);
            REQUIRE_MESSAGE(m.has_value(), "no ReadyForQuery");
            REQUIRE_MESSAGE(m->type != 'E', wire::error_fields(m->body)['M']);
            if (m->type == 'D') rows.push_back(m->body.substr(6, wire::read_be32(m->body, 2)));
            if (m->type == 'Z') return rows;
        }
    };
    const std::string sql = "select pg_is_in_recovery()::text";
    for (int round = 0; round < 3; ++round) {
        CAPTURE(round);
        send_apart({wire::parse("", sql), wire::bind("", ""), wire::describe_portal(""), wire::execute("", 0),
                    wire::sync()});
        CHECK(rows_until_ready() == std::vector<std::string>{"true"});
        // A Query cut inside its own message.
        const std::string query = wire::message('Q', wire::cstr(sql));
        send_apart({query.substr(0, 3), query.substr(3, 12), query.substr(15)});
        CHECK(rows_until_ready() == std::vector<std::string>{"true"});
    }
    // A client that asks for what it sent so far (Flush) waits for it before
    // it sends the rest: pggate must not wait for the segment's end.
    REQUIRE(raw.send(wire::parse("", sql) + wire::flush()));
    auto parsed = raw.read_message(5);
    REQUIRE_MESSAGE(parsed.has_value(), "no ParseComplete after a Flush");
    CHECK(parsed->type == '1');
    REQUIRE(raw.send(wire::bind("", "") + wire::execute("", 0) + wire::sync()));
    CHECK(rows_until_ready().size() == 1);
    // A write written piece by piece still goes to the primary.
    send_apart({wire::parse("", "select pg_is_in_recovery()::text from (select txid_current()) t"), wire::bind("", ""),
                wire::execute("", 0), wire::sync()});
    CHECK(rows_until_ready() == std::vector<std::string>{"false"});
}

TEST_CASE("routing: BEGIN READ ONLY on a replica keeps the transaction's later statements there") {
    PGGATE_ONLY();
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    REQUIRE(eventually([&] { return on_replica(c, "select pg_is_in_recovery()") == "t"; }, 15));
    c.exec_ok("begin read only");
    const std::string port = c.scalar("select current_setting('port')");
    CHECK(c.scalar("select pg_is_in_recovery()") == "t");
    CHECK(c.scalar("select current_setting('port')") == port);
    c.exec_ok("commit");
}

TEST_CASE("routing: after its own write a client reads what it wrote (read_your_writes)") {
    PGGATE_ONLY();
    Table t("rt_ryw");
    Pggate gate(routing());
    PgConn writer(gate.conninfo());
    CHECK(on_replica(writer, "select pg_is_in_recovery()") == "t");
    for (int i = 0; i < 20; ++i) {
        writer.exec_ok("insert into rt_ryw (v) values (" + std::to_string(i) + ")");
        CHECK(writer.scalar("select count(*) from rt_ryw where v = " + std::to_string(i)) == "1");
    }
    // Another client is not held back.
    PgConn other(gate.conninfo());
    CHECK(on_replica(other, "select pg_is_in_recovery()") == "t");
}

TEST_CASE("routing: read_write_split = off keeps everything on the primary") {
    PGGATE_ONLY();
    Pggate gate(routing({"read_write_split = off"}));
    PgConn c(gate.conninfo());
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "f");
}

TEST_CASE("routing: pgbench -S (simple and prepared) is served by the replicas, TPC-B runs clean") {
    PGGATE_ONLY();
    {
        PgConn admin = cluster().admin();
        admin.exec_ok("drop database if exists rt_bench with (force)");
        admin.exec_ok("create database rt_bench");
    }
    std::string env = std::string("PGPASSWORD=") + Cluster::kAdminPassword + " PGCONNECT_TIMEOUT=10 PGSSLMODE=disable ";
    std::string output;
    REQUIRE(run_shell(env + "pgbench -i -s 1 -q -h 127.0.0.1 -p " + std::to_string(cluster().primary_port()) +
                          " -U postgres rt_bench",
                      output) == 0);
    cluster().wait_replicas_caught_up();
    auto commits = [](int port) {
        return std::stoll(cluster().admin_scalar(
            "select xact_commit from pg_stat_database where datname = 'rt_bench'", port));
    };
    auto snapshot = [&] {
        std::vector<long long> v;
        for (int port : cluster().all_ports()) v.push_back(commits(port));
        return v;
    };
    Pggate gate(routing({"default_pool_size = 8", "max_client_conn = 100"}));
    int rc = 0;
    for (std::string mode : {"simple", "prepared"}) {
        CAPTURE(mode);
        std::vector<long long> before = snapshot();
        rc = run_shell(env + "pgbench -n -S -M " + mode + " -c 32 -j 2 -T 5 -h 127.0.0.1 -p " +
                           std::to_string(gate.port()) + " -U postgres rt_bench",
                       output);
        INFO("pgbench:\n" << output);
        CHECK(rc == 0);
        long long tx = number_after(output, "number of transactions actually processed:");
        CHECK(number_after(output, "number of failed transactions:") == 0);
        // Statistics reach pg_stat_database when sessions report them: idle
        // ones after a second, or up to ten when the stats lock was busy.
        std::vector<long long> after;
        long long on_replicas = 0;
        eventually(
            [&] {
                after = snapshot();
                on_replicas = 0;
                for (std::size_t i = 1; i < after.size(); ++i) on_replicas += after[i] - before[i];
                return on_replicas >= tx * 95 / 100;
            },
            15, 0.5);
        MESSAGE("pgbench -S -M " << mode << ": " << tx << " transactions, " << on_replicas
                                 << " commits on replicas, " << after[0] - before[0] << " on the primary");
        CHECK(on_replicas >= tx * 95 / 100);
    }

    rc = run_shell(env + "pgbench -n -M prepared -c 8 -j 2 -T 5 -h 127.0.0.1 -p " + std::to_string(gate.port()) +
                       " -U postgres rt_bench",
                   output);
    CHECK(rc == 0);
    CHECK(number_after(output, "number of failed transactions:") == 0);
    CHECK(number_after(output, "number of transactions actually processed:") > 0);
    cluster().admin_exec("drop database if exists rt_bench with (force)");
}

TEST_CASE("routing: SET pggate.route and the startup parameter choose the node kind; pggate answers them") {
    PGGATE_ONLY();
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "t");
    PgResult set = c.exec("SET pggate.route = primary");
    CHECK(set.status() == PGRES_COMMAND_OK);
    CHECK(std::string(PQcmdStatus(set.get())) == "SET");
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "f");
    // Never sent on: the servers have no such setting.
    CHECK(on_replica(c, "select current_setting('pggate.route', true) is null") == "t");
    c.exec_ok("set pggate.route to 'replica'");
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "t");
    // Inside a transaction the answer carries the transaction's status.
    c.exec_ok("set pggate.route = auto");
    c.exec_ok("begin");
    c.exec_ok("set pggate.route = primary");
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_INTRANS);
    c.exec_ok("commit");
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "f");
    PgResult bad = c.exec("set pggate.route = sideways");
    CHECK(bad.sqlstate() == "22023");
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "f");
    PgResult reset = c.exec("reset pggate.route");
    CHECK(std::string(PQcmdStatus(reset.get())) == "RESET");
    CHECK(on_replica(c, "select pg_is_in_recovery()") == "t");

    PgConn pinned(gate.conninfo("options='-c pggate.route=primary'"));
    CHECK(on_replica(pinned, "select pg_is_in_recovery()") == "f");
    pinned.exec_ok("reset pggate.route");  // back to the startup value
    CHECK(on_replica(pinned, "select pg_is_in_recovery()") == "f");
    PgConn refused = PgConn::attempt(gate.conninfo("options='-c pggate.route=nowhere'"));
    CHECK_FALSE(refused.ok());
    CHECK(refused.error_sqlstate() == "22023");
}

TEST_CASE("routing: read_write_split per user and per database") {
    PGGATE_ONLY();
    TrustGuard guard{{"rt_noread"}};
    cluster().admin_exec("drop role if exists rt_noread");
    cluster().admin_exec("create role rt_noread login");
    PggateOptions options = routing();
    options.extra = "[databases]\nrt_alias = dbname=postgres read_write_split=off\n"
                    "[users]\nrt_noread = read_write_split=off\n";
    Pggate gate(options);
    PgConn user_off(gate.conninfo("user=rt_noread"));
    CHECK(on_replica(user_off, "select pg_is_in_recovery()") == "f");
    PgConn db_off(gate.conninfo("dbname=rt_alias"));
    CHECK(on_replica(db_off, "select pg_is_in_recovery()") == "f");
    PgConn others(gate.conninfo());
    CHECK(on_replica(others, "select pg_is_in_recovery()") == "t");
}

TEST_CASE("routing: a read waiting for an unreachable replica goes elsewhere instead of failing") {
    PGGATE_ONLY();
    PggateOptions options = routing({"server_login_retry = 1"});
    options.nodes = {"pg1 = host=127.0.0.1 port=" + std::to_string(cluster().primary_port()) + " role=primary",
                     "gone = host=127.0.0.1 port=" + std::to_string(free_port()) + " role=replica",
                     "pg2 = host=127.0.0.1 port=" + std::to_string(cluster().replica_ports()[0]) + " role=replica"};
    Pggate gate(options);
    std::set<std::string> seen;
    for (int i = 0; i < 12; ++i) {
        PgConn c(gate.conninfo());
        PgResult r = c.exec("select pg_is_in_recovery()");
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        seen.insert(r.value(0, 0));
        if (i == 5) sleep_for(1.2);  // past server_login_retry: the dead replica is tried again
    }
    CHECK(seen.count("t") == 1);  // the live replica served some
}

TEST_CASE("routing: a prepared write counts for read_your_writes when it runs, not when it is prepared") {
    PGGATE_ONLY();
    Table t("rt_prep");
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    PgResult ins(PQprepare(c.get(), "ins", "insert into rt_prep (v) values ($1)", 1, nullptr));
    REQUIRE(PQresultStatus(ins.get()) == PGRES_COMMAND_OK);
    PgResult sel(PQprepare(c.get(), "sel", "select (select count(*) from rt_prep where v = 5), pg_is_in_recovery()", 0,
                           nullptr));
    REQUIRE(PQresultStatus(sel.get()) == PGRES_COMMAND_OK);
    auto run_sel = [&] {
        PgResult r(PQexecPrepared(c.get(), "sel", 0, nullptr, nullptr, nullptr, 0));
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        return r.value(0, 0) + r.value(0, 1);
    };
    CHECK(run_sel() == "0t");
    const char* params[] = {"5"};
    PgResult done(PQexecPrepared(c.get(), "ins", 1, params, nullptr, nullptr, 0));
    REQUIRE_MESSAGE(done.status() == PGRES_COMMAND_OK, done.describe());
    CHECK(run_sel().substr(0, 1) == "1");
}
