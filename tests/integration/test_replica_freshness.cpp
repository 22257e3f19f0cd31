// Which replicas may serve a read, from what the health process samples:
// read_your_writes right after a commit with one replica deliberately
// delayed (recovery_min_apply_delay), a replica beyond max_replica_lag left
// out and taken back once it catches up, a down replica passed over,
// replica_fallback = error, and shadow reads comparing a replica's answers
// with the primary's.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

namespace {

// Holds back replay of commits on one replica for as long as it lives.
class ApplyDelay {
public:
    ApplyDelay(int port, const std::string& delay) : port_(port) { set("'" + delay + "'"); }
    ~ApplyDelay() {
        try {
            set("DEFAULT");
            cluster().wait_replicas_caught_up();
        } catch (...) {
        }
    }
    ApplyDelay(const ApplyDelay&) = delete;
    ApplyDelay& operator=(const ApplyDelay&) = delete;

private:
    void set(const std::string& value) {
        cluster().admin_exec("alter system set recovery_min_apply_delay = " + value, port_);
        cluster().admin_exec("select pg_reload_conf()", port_);
        // The reload is asynchronous: new sessions see the value once the
        // postmaster has it, and the startup process soon after.
        const std::string want = value == "DEFAULT" ? "0" : value.substr(1, value.size() - 2);
        REQUIRE(eventually([&] { return cluster().admin_scalar("show recovery_min_apply_delay", port_) == want; }, 10));
        sleep_for(0.2);
    }
    int port_;
};

// The port of the node a fresh client's read ran on ("t" rows only: replicas).
int read_port(Pggate& gate, const std::string& sql = "select inet_server_port() where pg_is_in_recovery()") {
    PgConn c(gate.conninfo());
    PgResult r = c.exec(sql);
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    return r.rows() == 0 ? 0 : std::stoi(r.value(0, 0));
}

}  // namespace

TEST_CASE("freshness: read_your_writes holds right after a commit while a replica lags by seconds") {
    PGGATE_ONLY();
    Table t("rf_ryw");
    const int delayed = cluster().replica_ports()[0];
    const int prompt = cluster().replica_ports()[1];
    ApplyDelay delay(delayed, "3s");
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    std::map<int, int> served;  // port -> reads after a write
    for (int i = 0; i < 10; ++i) {
        c.exec_ok("insert into rf_ryw (v) values (" + std::to_string(i) + ")");
        PgResult r = c.exec_ok("select count(*), inet_server_port() from rf_ryw where v = " + std::to_string(i));
        CHECK(r.value(0, 0) == "1");
        ++served[std::stoi(r.value(0, 1))];
        // Once the primary's position after the commit is sampled, the prompt
        // replica serves the read; the delayed one never does.
        sleep_for(0.5);
        r = c.exec_ok("select count(*), inet_server_port() from rf_ryw where v = " + std::to_string(i));
        CHECK(r.value(0, 0) == "1");
        ++served[std::stoi(r.value(0, 1))];
    }
    MESSAGE("reads after a write by port: primary " << served[cluster().primary_port()] << ", prompt replica "
                                                     << served[prompt] << ", delayed replica " << served[delayed]);
    CHECK(served[delayed] == 0);
    CHECK(served[prompt] >= 5);
}

TEST_CASE("freshness: a replica beyond max_replica_lag is left out, and taken back once it catches up") {
    PGGATE_ONLY();
    Table t("rf_lag");
    const int delayed = cluster().replica_ports()[0];
    const int prompt = cluster().replica_ports()[1];
    Pggate gate(routing({"max_replica_lag = 1", "workers = 1"}));
    // Both replicas serve reads while neither lags.
    std::map<int, int> before;
    REQUIRE(eventually([&] { return ++before[read_port(gate)] > 0 && before.count(delayed) && before.count(prompt); }, 10));
    {
        ApplyDelay delay(delayed, "4s");
        cluster().admin_exec("insert into rf_lag (v) values (1)");
        sleep_for(1.6);
        for (int i = 0; i < 12; ++i) CHECK(read_port(gate) == prompt);
        // Its commit replayed after the delay, the replica is fresh again.
        CHECK(eventually([&] { return read_port(gate) == delayed; }, 10, 0.1));
    }
}

TEST_CASE("freshness: a replica the health process finds down gets no reads; replica_fallback = error refuses them") {
    PGGATE_ONLY();
    auto nodes = [](bool live_replica) {
        std::vector<std::string> n{"pg1 = host=127.0.0.1 port=" + std::to_string(cluster().primary_port()) + " role=primary",
                                   "gone = host=127.0.0.1 port=" + std::to_string(free_port()) + " role=replica"};
        if (live_replica)
            n.push_back("pg2 = host=127.0.0.1 port=" + std::to_string(cluster().replica_ports()[0]) + " role=replica");
        return n;
    };
    const std::vector<std::string> quick{"health_check_retry_delay = 0.1", "health_check_max_retries = 1",
                                         "server_login_retry = 30"};
    {
        PggateOptions options = routing(quick);
        options.nodes = nodes(true);
        Pggate gate(options);
        sleep_for(1);  // the dead replica is marked down
        // No read waits for a login to the dead node (server_login_retry is
        // long): every one is served by the live replica.
        for (int i = 0; i < 8; ++i) CHECK(read_port(gate) == cluster().replica_ports()[0]);
    }
    {
        std::vector<std::string> settings = quick;
        settings.push_back("replica_fallback = error");
        PggateOptions options = routing(settings);
        options.nodes = nodes(false);
        Pggate gate(options);
        sleep_for(1);
        PgConn c(gate.conninfo());
        PgResult refused = c.exec("select 1");
        CHECK(refused.sqlstate() == "57P03");
        PgResult extended(PQexecParams(c.get(), "select $1::int", 1, nullptr, nullptr, nullptr, nullptr, 0));
        CHECK(extended.sqlstate() == "57P03");
        // The client goes on: writes still run on the primary.
        CHECK(c.scalar("select pg_is_in_recovery() from (select txid_current()) s") == "f");
        CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
    }
    {
        PggateOptions options = routing(quick);
        options.nodes = nodes(false);
        Pggate gate(options);
        sleep_for(1);
        PgConn c(gate.conninfo());
        CHECK(c.scalar("select pg_is_in_recovery()") == "f");  // the primary serves it
    }
}

TEST_CASE("freshness: shadow reads run again on the primary, and an answer that differs is logged") {
    PGGATE_ONLY();
    Table t("rf_shadow");
    cluster().admin_exec("insert into rf_shadow (v) values (1), (2), (3)");
    cluster().wait_replicas_caught_up();
    const std::string read = "select v from rf_shadow order by v";
    auto differences = [](const Pggate& gate) {
        std::string log = gate.log_text();
        int n = 0;
        for (std::size_t at = log.find("shadow read differs"); at != std::string::npos;
             at = log.find("shadow read differs", at + 1))
            ++n;
        return n;
    };
    Pggate gate(routing({"shadow_reads = 100", "workers = 1"}));
    PgConn c(gate.conninfo());
    // A shadow runs only on an idle server: each read waits for the last
    // one's shadow to finish.
    for (int i = 0; i < 6; ++i) {
        CHECK(c.exec_ok(read).rows() == 3);
        sleep_for(0.1);
    }
    PgResult extended(PQexecParams(c.get(), "select v from rf_shadow where v > $1", 1, nullptr,
                                   std::vector<const char*>{"1"}.data(), nullptr, nullptr, 0));
    CHECK(extended.rows() == 2);
    sleep_for(0.3);
    CHECK(differences(gate) == 0);

    // Both replicas hold the new row back; the primary has it.
    ApplyDelay first(cluster().replica_ports()[0], "5s");
    ApplyDelay second(cluster().replica_ports()[1], "5s");
    cluster().admin_exec("insert into rf_shadow (v) values (4)");
    for (int i = 0; i < 4; ++i) {
        PgResult r = c.exec_ok(read + " /* stale */");
        CHECK(r.rows() == 3);  // the client still gets the replica's answer
        sleep_for(0.1);
    }
    CHECK(eventually([&] { return differences(gate) >= 4; }, 5));
    std::string log = gate.log_text();
    CHECK(log.find("answered 3 rows") != std::string::npos);
    CHECK(log.find("answered 4 rows") != std::string::npos);
    CHECK(log.find(read + " /* stale */") != std::string::npos);
}
