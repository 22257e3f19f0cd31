// Failover, each on a private cluster: a replica stopped under pgbench (reads
// retried, the node marked down and taken back), a primary killed and a
// replica promoted with role=auto nodes, split brain, a backend terminated
// inside a client's transaction, lag reaching routing within a
// lag_check_period, and a node that accepts TCP but never answers.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

namespace {

// "name = host=127.0.0.1 port=N role=R", as the harness writes [nodes].
std::string node_line(const std::string& name, int port, const std::string& role) {
    return name + " = host=127.0.0.1 port=" + std::to_string(port) + " role=" + role;
}

// pg1 (the cluster's primary), pg2, pg3 (its replicas), with these roles.
std::vector<std::string> cluster_nodes(const Cluster& cl, const std::string& primary_role,
                                       const std::string& replica_role) {
    std::vector<std::string> nodes{node_line("pg1", cl.primary_port(), primary_role)};
    int n = 2;
    for (int port : cl.replica_ports()) nodes.push_back(node_line("pg" + std::to_string(n++), port, replica_role));
    return nodes;
}

// routing() in front of a private cluster.
PggateOptions private_routing(const Cluster& cl, std::vector<std::string> nodes,
                              const std::vector<std::string>& extra = {}) {
    PggateOptions options = routing(extra);
    options.cluster = &cl;
    options.nodes = std::move(nodes);
    return options;
}

// A statement that writes (txid_current() takes an xid): it must run on a
// primary, whose port it returns.
constexpr const char* kWrite = "select inet_server_port() from (select txid_current()) s";
// A read: the port of whichever node served it.
constexpr const char* kRead = "select inet_server_port()";

int port_of(PgConn& c, const char* sql) {
    PgResult r = c.exec(sql);
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, "'" << sql << "': " << r.describe());
    return std::stoi(r.value(0, 0));
}

bool log_has(const Pggate& gate, const std::string& needle) {
    return gate.log_text().find(needle) != std::string::npos;
}

// Seconds until `needle` shows in the log, polled every 20 ms; -1 when it
// does not within timeout_s.
double wait_log(const Pggate& gate, const std::string& needle, double timeout_s) {
    const auto start = Clock::now();
    if (eventually([&] { return log_has(gate, needle); }, timeout_s, 0.02)) return seconds_since(start);
    return -1;
}

// Holds back replay of commits on one replica of `cl` for as long as it lives.
class ApplyDelay {
public:
    ApplyDelay(const Cluster& cl, int port, const std::string& delay) : cl_(cl), port_(port) { set("'" + delay + "'"); }
    ~ApplyDelay() {
        try {
            set("DEFAULT");
            cl_.wait_replicas_caught_up();
        } catch (...) {
        }
    }
    ApplyDelay(const ApplyDelay&) = delete;
    ApplyDelay& operator=(const ApplyDelay&) = delete;

private:
    void set(const std::string& value) {
        cl_.admin_exec("alter system set recovery_min_apply_delay = " + value, port_);
        cl_.admin_exec("select pg_reload_conf()", port_);
        const std::string want = value == "DEFAULT" ? "0" : value.substr(1, value.size() - 2);
        REQUIRE(eventually([&] { return cl_.admin_scalar("show recovery_min_apply_delay", port_) == want; }, 10));
        sleep_for(0.2);  // the startup process reloads a moment after the postmaster
    }
    const Cluster& cl_;
    int port_;
};

// A TCP port on 127.0.0.1 that accepts connections (the kernel completes
// the handshake into the listen backlog) but never reads or writes a byte.
class Unresponsive {
public:
    Unresponsive() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE_MESSAGE(fd_ >= 0, "socket() failed: " << std::strerror(errno));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        REQUIRE_MESSAGE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                        "bind() failed: " << std::strerror(errno));
        REQUIRE_MESSAGE(listen(fd_, 64) == 0, "listen() failed: " << std::strerror(errno));
        socklen_t len = sizeof addr;
        REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port_ = ntohs(addr.sin_port);
    }
    ~Unresponsive() {
        if (fd_ >= 0) close(fd_);
    }
    Unresponsive(const Unresponsive&) = delete;
    Unresponsive& operator=(const Unresponsive&) = delete;
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

const std::string kPgEnv =
    std::string("PGPASSWORD=") + Cluster::kAdminPassword + " PGCONNECT_TIMEOUT=10 PGSSLMODE=disable ";

}  // namespace

TEST_CASE("failover: pgbench -S loses no client when a replica stops mid-run; the replica is marked down, then serves again") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    std::string output;
    REQUIRE_MESSAGE(run_shell(kPgEnv + "pgbench -i -s 1 -q -h 127.0.0.1 -p " + std::to_string(cl->primary_port()) +
                                  " -U postgres postgres",
                              output) == 0,
                    output);
    cl->wait_replicas_caught_up();
    const int victim = cl->replica_ports()[0];  // pg2
    const double period = 1, retries = 2;  // health_check_retry_delay = 0.5 below
    Pggate gate(private_routing(*cl, cluster_nodes(*cl, "primary", "replica"),
                                {"health_check_period = 1", "health_check_max_retries = 2",
                                 "health_check_retry_delay = 0.5", "default_pool_size = 8", "max_client_conn = 100",
                                 "server_login_retry = 1"}));
    {
        PgConn c(gate.conninfo());
        std::set<int> seen;
        REQUIRE(eventually([&] { return seen.insert(port_of(c, kRead)), seen.count(victim) == 1; }, 10));
    }

    constexpr int kClients = 16;
    const auto bench_start = Clock::now();
    Background bench(kPgEnv + "pgbench -n -S -P 1 -c " + std::to_string(kClients) + " -j 2 -T 20 -h 127.0.0.1 -p " +
                     std::to_string(gate.port()) + " -U postgres postgres");
    sleep_for(6);
    std::string ctl;
    REQUIRE_MESSAGE(cl->pg_ctl(victim, "stop -m immediate", &ctl) == 0, ctl);
    const double stopped_at = seconds_since(bench_start);
    // Marked down within health_check_period × (health_check_max_retries + 1).
    const double down_after = wait_log(gate, "node pg2 is down", 15);
    const int rc = bench.wait();
    const std::string& out = bench.output();
    INFO("pgbench:\n" << out);

    // PG15: "client 6 script 0 aborted in command 1 query 0: ..."; older: "client 6 aborted ...".
    const int aborted = count_matches(out, "client [0-9]+ (script [0-9]+ )?aborted");
    const double tps = decimal_after(out, "tps = ");
    const long long failed = number_after(out, "number of failed transactions:");
    const long long processed = number_after(out, "number of transactions actually processed:");
    // Per-second throughput after the stop, from the -P 1 progress lines.
    double min_tps_after = -1;
    int seconds_after = 0;
    std::regex progress("progress: ([0-9.]+) s, ([0-9.]+) tps");
    for (std::sregex_iterator it(out.begin(), out.end(), progress), end; it != end; ++it) {
        const double at = std::stod((*it)[1]), rate = std::stod((*it)[2]);
        if (at - 1 < stopped_at + 0.01) continue;  // the interval began before the stop
        ++seconds_after;
        if (min_tps_after < 0 || rate < min_tps_after) min_tps_after = rate;
    }
    MESSAGE("replica stopped " << stopped_at << " s into pgbench -S -c " << kClients << " -T 20: exit " << rc << ", "
                               << aborted << " clients aborted, " << failed << " failed transactions, " << processed
                               << " processed, " << tps << " tps overall, lowest per-second tps after the stop "
                               << min_tps_after << " over " << seconds_after << " s");
    MESSAGE("replica logged down " << down_after << " s after pg_ctl stop returned (bound: health_check_period x "
                                   "(health_check_max_retries + 1) = " << period * (retries + 1) << " s)");
    // A read in flight on the stopped replica had no byte of its answer sent
    // (pgbench -S answers are one small row): each is retried elsewhere, so
    // no client aborts. Without retries those in flight there abort (8 of 16
    // here, one per server connection of the replica's pool), so a bound of
    // "at most the 16 clients" would not tell the two apart.
    // What pggate did with each read caught on the stopped replica.
    std::string log = gate.log_text();
    MESSAGE("reads caught on the stopped replica: " << count_matches(log, "runs elsewhere") << " retried elsewhere, "
                                                    << count_matches(log, "answered in full") << " answered in full "
                                                    << "(only the ReadyForQuery missing)");
    CHECK(aborted == 0);
    CHECK(failed == 0);
    CHECK(processed > 0);
    CHECK(seconds_after >= 5);     // pgbench ran on to its end
    CHECK(min_tps_after > 0);      // reads kept being served each second
    CHECK(down_after >= 0);
    CHECK(down_after <= period * (retries + 1) + 2.0);  // + slack for a loaded 2-core machine

    // Started again, it serves reads with no reload.
    REQUIRE_MESSAGE(cl->pg_ctl(victim, "start", &ctl) == 0, ctl);
    const auto restarted = Clock::now();
    PgConn c(gate.conninfo());
    const bool back = eventually([&] { return port_of(c, kRead) == victim; }, 20, 0.05);
    const double back_after = seconds_since(restarted);
    MESSAGE("after pg_ctl start returned, the replica served a read again after " << back_after << " s");
    CHECK_MESSAGE(back, gate.log_tail());
    log = gate.log_text();
    const auto down_line = log.find("node pg2 is down");
    CHECK((down_line != std::string::npos && log.find("node pg2 is up", down_line) != std::string::npos));
}

TEST_CASE("failover: role=auto writes wait while there is no primary and go to the promoted replica, no reload") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    const int old_primary = cl->primary_port();
    const int promoted = cl->replica_ports()[0];  // pg2
    const int other = cl->replica_ports()[1];     // pg3
    const double period = 1, wait_timeout = 3;
    Pggate gate(private_routing(*cl, cluster_nodes(*cl, "auto", "auto"),
                                {"health_check_period = 1", "health_check_max_retries = 1",
                                 "health_check_retry_delay = 0.2", "query_wait_timeout = 3", "server_login_retry = 1",
                                 "workers = 1"}));
    for (const char* node : {"pg1", "pg2", "pg3"}) CHECK(wait_log(gate, "node " + std::string(node) + " is up", 10) >= 0);
    // Every client connects while there is a primary.
    PgConn c(gate.conninfo());
    PgConn first(gate.conninfo());
    PgConn second(gate.conninfo());
    CHECK(port_of(c, kWrite) == old_primary);
    // Reads from a client that has not written (no read-your-writes wait).
    const std::set<int> replicas(cl->replica_ports().begin(), cl->replica_ports().end());
    std::set<int> read_ports;
    for (int i = 0; i < 6; ++i) read_ports.insert(port_of(first, kRead));
    CHECK(read_ports == replicas);

    std::string ctl;
    REQUIRE_MESSAGE(cl->pg_ctl(old_primary, "stop -m immediate", &ctl) == 0, ctl);
    REQUIRE_MESSAGE(wait_log(gate, "node pg1 is down", 10) >= 0, gate.log_tail());

    // With no primary a write waits, for query_wait_timeout at most.
    auto sent = Clock::now();
    REQUIRE(PQsendQuery(first.get(), kWrite) == 1);
    PgResult gave_up = get_result(first.get(), wait_timeout + 10);
    const double waited = seconds_since(sent);
    MESSAGE("with no primary a write waited " << waited << " s (query_wait_timeout = " << wait_timeout
                                              << "), then: " << gave_up.describe());
    CHECK(gave_up.sqlstate() == "57P03");
    CHECK(PQstatus(first.get()) == CONNECTION_OK);
    CHECK(!get_result(first.get()));
    CHECK(waited >= wait_timeout - 0.5);
    CHECK(waited <= wait_timeout + 3);

    // One that is still waiting when a replica is promoted runs there.
    REQUIRE(PQsendQuery(second.get(), kWrite) == 1);
    sleep_for(1);
    REQUIRE(PQconsumeInput(second.get()) == 1);
    CHECK(PQisBusy(second.get()) == 1);        // waiting, not failed
    CHECK(replicas.count(port_of(c, kRead)));  // reads go on meanwhile, even after a write
    CHECK(replicas.count(port_of(first, kRead)));  // the client that gave up goes on
    const auto promote_start = Clock::now();
    REQUIRE_MESSAGE(cl->pg_ctl(promoted, "promote", &ctl) == 0, ctl);
    const double promote_took = seconds_since(promote_start);
    const auto promoted_at = Clock::now();
    PgResult ran = get_result(second.get(), 30);
    const double write_after = seconds_since(promoted_at);
    REQUIRE_MESSAGE(ran.status() == PGRES_TUPLES_OK, ran.describe() << "\n" << gate.log_tail());
    CHECK(std::stoi(ran.value(0, 0)) == promoted);
    CHECK(!get_result(second.get()));
    MESSAGE("pg_ctl promote took " << promote_took << " s; the waiting write ran on the new primary " << write_after
                                   << " s after it returned (two health periods: " << 2 * period << " s)");
    CHECK(write_after <= 2 * period + 1.5);  // + slack for a loaded 2-core machine
    // Same pggate, no reload: new writes go there too, reads to the replica left.
    CHECK(port_of(c, kWrite) == promoted);
    CHECK(port_of(second, kWrite) == promoted);
    PgConn fresh(gate.conninfo());
    for (int i = 0; i < 3; ++i) CHECK(port_of(fresh, kRead) == other);
}

TEST_CASE("failover: two role=auto primaries (split brain) refuse writes with 57P03; a role=primary node keeps them") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    const int primary = cl->primary_port();
    const int promoted = cl->replica_ports()[0];  // pg2
    const int replica = cl->replica_ports()[1];   // pg3
    const std::vector<std::string> settings{"health_check_period = 1", "health_check_max_retries = 1",
                                            "health_check_retry_delay = 0.2", "workers = 1"};
    Pggate all_auto(private_routing(*cl, cluster_nodes(*cl, "auto", "auto"), settings));
    std::vector<std::string> pinned_nodes = cluster_nodes(*cl, "primary", "auto");
    Pggate pinned(private_routing(*cl, pinned_nodes, settings));
    PgConn c(all_auto.conninfo());
    PgConn p(pinned.conninfo());
    CHECK(port_of(c, kWrite) == primary);
    CHECK(port_of(p, kWrite) == primary);

    std::string ctl;
    REQUIRE_MESSAGE(cl->pg_ctl(promoted, "promote", &ctl) == 0, ctl);  // the old primary keeps running
    const double seen_after = wait_log(all_auto, "split brain", 10);
    MESSAGE("split brain logged " << seen_after << " s after pg_ctl promote returned");
    CHECK_MESSAGE(seen_after >= 0, all_auto.log_tail());

    for (int i = 0; i < 3; ++i) {
        PgResult refused = c.exec(kWrite);
        CHECK_MESSAGE(refused.sqlstate() == "57P03", refused.describe());
        CHECK(PQstatus(c.get()) == CONNECTION_OK);
        CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
        CHECK(port_of(c, kRead) == replica);  // the connection goes on; reads to the node in recovery
    }
    PgConn fresh(all_auto.conninfo());
    CHECK(port_of(fresh, kRead) == replica);
    CHECK(c.exec(kWrite).sqlstate() == "57P03");

    // role=primary is not second-guessed: writes go on there; reads (of a
    // client that has not written) to the replica, never to the claimant.
    CHECK_MESSAGE(wait_log(pinned, "node pg2 is now a primary", 10) >= 0, pinned.log_tail());
    PgConn p_fresh(pinned.conninfo());
    for (int i = 0; i < 3; ++i) {
        CHECK(port_of(p, kWrite) == primary);
        CHECK(port_of(p_fresh, kRead) == replica);
    }
    CHECK(port_of(p_fresh, kWrite) == primary);
}

namespace {

// Begins a transaction through `gate` with an insert into fo_killed, has the
// primary terminate the backend serving it, and returns the client with
// that transaction open. The insert must never be committed.
PgConn client_whose_backend_dies(const Cluster& cl, const Pggate& gate) {
    cl.admin_exec("create table if not exists fo_killed (id serial primary key, v int)");
    PgConn c(gate.conninfo());
    c.exec_ok("begin");
    c.exec_ok("insert into fo_killed (v) values (1)");
    const std::string pid = c.scalar("select pg_backend_pid()");
    CHECK(cl.admin_scalar("select pg_terminate_backend(" + pid + ")") == "t");
    REQUIRE(eventually(
        [&] { return cl.admin_scalar("select count(*) from pg_stat_activity where pid = " + pid) == "0"; }, 10));
    sleep_for(0.5);  // pggate has seen its server go by now
    return c;
}

}  // namespace

TEST_CASE("failover: transaction mode: a backend killed mid-transaction fails the next statement, the client goes on") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    Pggate gate(private_routing(*cl, cluster_nodes(*cl, "primary", "replica"), {"health_check_period = 1"}));
    PgConn c = client_whose_backend_dies(*cl, gate);
    PgResult next = c.exec("insert into fo_killed (v) values (2)");
    const std::string state = next.sqlstate();
    MESSAGE("the statement after the kill: " << next.describe());
    CHECK(next.status() == PGRES_FATAL_ERROR);
    CHECK_MESSAGE((state == "08006" || state.rfind("57P", 0) == 0), next.describe());
    CHECK_MESSAGE(PQstatus(c.get()) == CONNECTION_OK, c.error_message());
    PgResult one = c.exec("select 1");
    CHECK_MESSAGE(one.ok(), one.describe() << " / " << c.error_message());
    CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
    CHECK(cl->admin_scalar("select count(*) from fo_killed") == "0");
    // And it can write again.
    if (one.ok()) {
        c.exec_ok("insert into fo_killed (v) values (3)");
        CHECK(cl->admin_scalar("select count(*) from fo_killed where v = 3") == "1");
    }
}

TEST_CASE("failover: session mode: a backend killed mid-transaction ends the client connection") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    PggateOptions options = private_routing(*cl, cluster_nodes(*cl, "primary", "replica"),
                                            {"pool_mode = session", "read_write_split = off", "health_check_period = 1"});
    Pggate gate(options);
    PgConn c = client_whose_backend_dies(*cl, gate);
    PgResult next = c.exec("insert into fo_killed (v) values (2)");
    MESSAGE("the statement after the kill: " << next.describe() << " / " << c.error_message());
    CHECK(!next.ok());
    // libpq may learn of the close only on the next attempt.
    if (PQstatus(c.get()) == CONNECTION_OK) CHECK(!c.exec("select 1").ok());
    CHECK(PQstatus(c.get()) == CONNECTION_BAD);
    CHECK(cl->admin_scalar("select count(*) from fo_killed") == "0");
    // pggate itself goes on.
    PgConn again(gate.conninfo());
    CHECK(again.scalar("select 1") == "1");
}

namespace {

// Seconds after a commit on the primary (made while `delayed` holds commits
// back) during which a client's reads through `gate` still reached
// `delayed`; 0 when none did after the commit.
double stale_read_window(const Cluster& cl, const Pggate& gate, int delayed, int prompt, const char* table,
                         std::map<int, int>& after) {
    PgConn c(gate.conninfo());
    std::set<int> seen;
    REQUIRE_MESSAGE(eventually([&] { return seen.insert(port_of(c, kRead)), seen.count(delayed) && seen.count(prompt); },
                               10),
                    gate.log_tail());
    cl.admin_exec(std::string("insert into ") + table + " (v) values (1)");
    const auto wrote = Clock::now();
    double last = 0;
    while (seconds_since(wrote) < 3) {
        const int port = port_of(c, kRead);
        ++after[port];
        if (port == delayed) last = seconds_since(wrote);
        sleep_for(0.01);  // leave the health process its CPU
    }
    return last;
}

}  // namespace

TEST_CASE("failover: a delayed replica's lag reaches routing within a lag_check_period (bytes, then seconds)") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    const int delayed = cl->replica_ports()[0];
    const int prompt = cl->replica_ports()[1];
    const double lag_check_period = 0.2, max_lag = 0.5;
    cl->admin_exec("create table fo_lag (id serial primary key, v int)");
    cl->wait_replicas_caught_up();
    const std::vector<std::string> nodes = cluster_nodes(*cl, "primary", "replica");
    {
        Pggate gate(private_routing(*cl, nodes,
                                    {"health_check_period = 1", "lag_check_period = 0.2", "max_replica_lag_bytes = 1",
                                     "workers = 1"}));
        ApplyDelay delay(*cl, delayed, "30s");
        std::map<int, int> after;
        const double window = stale_read_window(*cl, gate, delayed, prompt, "fo_lag", after);
        MESSAGE("max_replica_lag_bytes = 1: reads reached the delayed replica for " << window
                                                                                    << " s after the commit (reads in 3 s: delayed "
                                                                                    << after[delayed] << ", prompt " << after[prompt]
                                                                                    << ", primary " << after[cl->primary_port()] << ")");
        CHECK(window <= lag_check_period + 1.0);  // + polling and scheduling slack
        CHECK(after[delayed] < after[prompt] + after[cl->primary_port()]);
    }
    {
        Pggate gate(private_routing(*cl, nodes,
                                    {"health_check_period = 1", "lag_check_period = 0.2", "max_replica_lag = 0.5",
                                     "workers = 1"}));
        ApplyDelay delay(*cl, delayed, "30s");
        std::map<int, int> after;
        const double window = stale_read_window(*cl, gate, delayed, prompt, "fo_lag", after);
        MESSAGE("max_replica_lag = 0.5: reads reached the delayed replica for " << window
                                                                                << " s after the commit (reads in 3 s: delayed "
                                                                                << after[delayed] << ", prompt " << after[prompt]
                                                                                << ", primary " << after[cl->primary_port()] << ")");
        CHECK(window <= max_lag + lag_check_period + 1.0);
        CHECK(after[delayed] < after[prompt] + after[cl->primary_port()]);
    }
}

TEST_CASE("failover: a node that accepts TCP but never answers is marked down after its timeouts; reads stay on healthy replicas") {
    PGGATE_ONLY();
    auto cl = Cluster::create(2);
    Unresponsive hung;
    std::vector<std::string> nodes = cluster_nodes(*cl, "primary", "replica");
    nodes.push_back(node_line("hung", hung.port(), "replica"));
    const double timeout = 1, retries = 2, retry_delay = 0.5;
    const double expected = timeout * (retries + 1) + retry_delay * retries;
    const auto start = Clock::now();  // the health process starts a moment later
    Pggate gate(private_routing(*cl, nodes,
                                {"health_check_period = 1", "health_check_timeout = 1", "health_check_max_retries = 2",
                                 "health_check_retry_delay = 0.5", "lag_check_period = 0.2", "max_replica_lag = 0.5",
                                 "workers = 1"}));
    PgConn c(gate.conninfo());
    // Sampling has begun once both healthy replicas serve reads.
    std::set<int> seen;
    REQUIRE_MESSAGE(eventually([&] {
                        seen.insert(port_of(c, kRead));
                        return seen.count(cl->replica_ports()[0]) && seen.count(cl->replica_ports()[1]);
                    }, 10),
                    gate.log_tail());
    const double sampling_from = seconds_since(start);
    std::map<int, int> reads;
    double down_at = -1;
    const std::string needle = "node hung is down after 3 failed checks";
    while (seconds_since(start) < 20 && (down_at < 0 || seconds_since(start) < down_at + 1)) {
        ++reads[port_of(c, kRead)];
        if (down_at < 0 && log_has(gate, needle)) down_at = seconds_since(start);
        sleep_for(0.02);
    }
    int total = 0, on_replicas = 0;
    for (auto [port, n] : reads) total += n;
    for (int port : cl->replica_ports()) on_replicas += reads[port];
    MESSAGE("hung node logged down " << down_at << " s after pggate was started (expected about timeout x (retries + 1)"
                                        " + retry delays = " << expected << " s); from "
                                     << sampling_from << " s on, " << on_replicas << " of " << total
                                     << " reads on the healthy replicas, " << reads[cl->primary_port()]
                                     << " on the primary");
    CHECK_MESSAGE(down_at >= 0, gate.log_tail());
    CHECK(down_at >= expected - 0.3);
    CHECK(down_at <= expected + 3);
    // Were the healthy replicas' samples held up behind the hung node's
    // checks, they would go stale past max_replica_lag and reads would fall
    // back to the primary most of the time; a few may on a loaded machine.
    CHECK(total > 0);
    CHECK(on_replicas >= total * 95 / 100);
}
