// Reloading [nodes]: a replica added takes reads, a removed one finishes the
// transaction it runs and then gets no more work, a node given another
// address drops its servers to the old one, counters stay with their node's
// name through a reorder, and reads running through repeated node reloads
// never fail.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

namespace {

constexpr const char* kUser = "reload_nodes_user";
constexpr const char* kWorkerReloaded = "worker 0: configuration reloaded";
constexpr const char* kRead = "select inet_server_port()";

int log_count(const Pggate& gate, const std::string& needle) {
    const std::string log = gate.log_text();
    int n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + needle.size())) ++n;
    return n;
}

std::string node_line(const std::string& name, int port, const std::string& rest = "role=replica") {
    return name + " = host=127.0.0.1 port=" + std::to_string(port) + " " + rest;
}

std::string primary_line() { return node_line("pg1", cluster().primary_port(), "role=primary"); }

// A pggate splitting reads, with one worker (so a reload is applied by the
// time it logged once more) and the test's own user, whose server
// connections pg_stat_activity tells from everyone else's.
class Gate {
public:
    explicit Gate(const std::vector<std::string>& nodes, const std::vector<std::string>& extra = {}) {
        cluster().admin_exec(std::string("drop role if exists ") + kUser);
        cluster().admin_exec(std::string("create role ") + kUser + " login");
        guard_.roles.push_back(kUser);
        // A replica that has not replayed the role refuses its logins.
        cluster().wait_replicas_caught_up();
        PggateOptions options = routing(extra);
        options.settings.push_back("workers = 1");
        options.nodes = nodes;
        gate_ = std::make_unique<Pggate>(options);
    }

    Pggate& operator*() { return *gate_; }
    Pggate* operator->() { return gate_.get(); }
    std::string conninfo() const { return gate_->conninfo(std::string("user=") + kUser); }

    // Rewrites [nodes] and reloads; returns once the worker applied it (the
    // health process may take a moment more to publish nodes at their new
    // places: until then the worker sees them unchecked).
    void reload(const std::vector<std::string>& nodes) {
        const std::string ini = read_text_file(gate_->ini_path());
        const std::size_t at = ini.find("[nodes]\n");
        REQUIRE(at != std::string::npos);
        std::string text = ini.substr(0, at) + "[nodes]\n";
        for (const std::string& line : nodes) text += line + "\n";
        replace_file(gate_->ini_path(), text);
        const int before = log_count(*gate_, kWorkerReloaded);
        gate_->send_signal(SIGHUP);
        REQUIRE_MESSAGE(eventually([&] { return log_count(*gate_, kWorkerReloaded) >= before + 1; }, 10),
                        gate_->log_tail());
    }

private:
    TrustGuard guard_;
    std::unique_ptr<Pggate> gate_;
};

// pggate's server connections (the test user's backends) on the node at `port`.
int servers_on(int port) {
    return std::stoi(cluster().admin_scalar(std::string("select count(*) from pg_stat_activity where usename = '") +
                                                kUser + "' and backend_type = 'client backend'",
                                            port));
}

int read_port(PgConn& c) { return std::stoi(c.scalar(kRead)); }

// The ports `n` reads of `c` went to.
std::set<int> read_ports(PgConn& c, int n) {
    std::set<int> ports;
    for (int i = 0; i < n; ++i) ports.insert(read_port(c));
    return ports;
}

std::string show_nodes_value(Pggate& gate, const std::string& node, const std::string& column) {
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    PgResult r = console.exec("SHOW NODES");
    REQUIRE(r.status() == PGRES_TUPLES_OK);
    int name_col = -1, value_col = -1;
    for (int i = 0; i < r.cols(); ++i) {
        const std::string c = PQfname(r.get(), i);
        if (c == "name") name_col = i;
        if (c == column) value_col = i;
    }
    REQUIRE(name_col >= 0);
    REQUIRE(value_col >= 0);
    for (int row = 0; row < r.rows(); ++row)
        if (r.value(row, name_col) == node) return r.value(row, value_col);
    return "";
}

}  // namespace

TEST_CASE("reload nodes: a replica added by a reload takes reads, from clients connected before it") {
    PGGATE_ONLY();
    const std::vector<int>& replicas = cluster().replica_ports();
    REQUIRE(replicas.size() >= 2);
    Gate gate({primary_line(), node_line("pg2", replicas[0])});
    PgConn c(gate.conninfo());
    CHECK(read_ports(c, 6) == std::set<int>{replicas[0]});

    gate.reload({primary_line(), node_line("pg2", replicas[0]), node_line("pg3", replicas[1])});
    CHECK_MESSAGE(eventually([&] { return show_nodes_value(*gate, "pg3", "state") == "up"; }, 10), gate->log_tail());
    // Round robin over both replicas once the new one is seen up.
    std::set<int> seen;
    CHECK_MESSAGE(eventually([&] {
                      seen.insert(read_port(c));
                      return seen.count(replicas[1]) == 1;
                  }, 10),
                  gate->log_tail());
    CHECK(seen.count(cluster().primary_port()) == 0);
    CHECK(servers_on(replicas[1]) >= 1);
    CHECK(std::stol(show_nodes_value(*gate, "pg3", "queries")) >= 1);
    // Writes still go to the primary.
    CHECK(std::stoi(c.scalar("select inet_server_port() from (select txid_current()) t")) == cluster().primary_port());
}

TEST_CASE("reload nodes: a removed replica finishes the transaction on it, then gets no work and its servers close") {
    PGGATE_ONLY();
    const std::vector<int>& replicas = cluster().replica_ports();
    REQUIRE(replicas.size() >= 2);
    Gate gate({primary_line(), node_line("pg2", replicas[0]), node_line("pg3", replicas[1])});
    // Idle servers on both replicas, from a client that stays connected.
    PgConn other(gate.conninfo());
    CHECK_MESSAGE(eventually([&] { return read_ports(other, 4) == std::set<int>{replicas[0], replicas[1]}; }, 10),
                  gate->log_tail());

    PgConn c(gate.conninfo());
    c.exec_ok("begin read only");
    const int held = read_port(c);
    REQUIRE((held == replicas[0] || held == replicas[1]));
    const int kept = held == replicas[0] ? replicas[1] : replicas[0];
    const std::string kept_name = held == replicas[0] ? "pg3" : "pg2";
    gate.reload({primary_line(), node_line(kept_name, kept)});
    CHECK_MESSAGE(eventually([&] { return show_nodes_value(*gate, kept_name, "state") == "up"; }, 10), gate->log_tail());

    // The transaction runs on to its end on the same server.
    CHECK(read_port(c) == held);
    CHECK(c.scalar("select count(*) from pg_class where relname = 'pg_class'") == "1");
    CHECK(servers_on(held) >= 1);
    c.exec_ok("commit");
    // Its next reads, and everyone's, go to the node that is left.
    CHECK(read_ports(c, 6) == std::set<int>{kept});
    CHECK(read_ports(other, 6) == std::set<int>{kept});
    CHECK_MESSAGE(eventually([&] { return servers_on(held) == 0; }, 5), gate->log_tail());
    PgConn console(gate->unix_conninfo("dbname=pggate"));
    CHECK(console.exec("SHOW NODES").rows() == 2);
    CHECK(console.exec("SHOW POOLS").ok());
    CHECK(console.exec("SHOW SERVERS").ok());
}

TEST_CASE("reload nodes: a node given another port drops its idle servers to the old one at once") {
    PGGATE_ONLY();
    const std::vector<int>& replicas = cluster().replica_ports();
    REQUIRE(replicas.size() >= 2);
    Gate gate({primary_line(), node_line("pg2", replicas[0])});
    PgConn c(gate.conninfo());
    CHECK(read_ports(c, 4) == std::set<int>{replicas[0]});
    REQUIRE(servers_on(replicas[0]) >= 1);

    gate.reload({primary_line(), node_line("pg2", replicas[1])});
    CHECK_MESSAGE(eventually([&] { return servers_on(replicas[0]) == 0; }, 5), gate->log_tail());
    CHECK_MESSAGE(eventually([&] { return show_nodes_value(*gate, "pg2", "state") == "up"; }, 10), gate->log_tail());
    CHECK(read_ports(c, 6) == std::set<int>{replicas[1]});
    CHECK(servers_on(replicas[1]) >= 1);
    CHECK(show_nodes_value(*gate, "pg2", "port") == std::to_string(replicas[1]));
}

TEST_CASE("reload nodes: reordering [nodes] keeps each node's servers, counters and health with its name") {
    PGGATE_ONLY();
    const std::vector<int>& replicas = cluster().replica_ports();
    REQUIRE(replicas.size() >= 2);
    // pg3 takes no reads (weight 0): every read counts toward pg2.
    Gate gate({primary_line(), node_line("pg2", replicas[0]), node_line("pg3", replicas[1], "role=replica weight=0")});
    PgConn c(gate.conninfo());
    CHECK(read_ports(c, 10) == std::set<int>{replicas[0]});
    const long pg2_queries = std::stol(show_nodes_value(*gate, "pg2", "queries"));
    const long pg3_queries = std::stol(show_nodes_value(*gate, "pg3", "queries"));
    CHECK(pg2_queries >= 10);
    const int servers = servers_on(replicas[0]);
    REQUIRE(servers >= 1);

    gate.reload({node_line("pg3", replicas[1], "role=replica weight=0"), node_line("pg2", replicas[0]), primary_line()});
    CHECK(std::stol(show_nodes_value(*gate, "pg2", "queries")) == pg2_queries);
    CHECK(std::stol(show_nodes_value(*gate, "pg3", "queries")) == pg3_queries);
    CHECK_MESSAGE(eventually([&] { return show_nodes_value(*gate, "pg2", "state") == "up"; }, 10), gate->log_tail());
    CHECK(show_nodes_value(*gate, "pg2", "servers") == std::to_string(servers));
    // The servers to pg2 stayed connected and serve the next reads.
    CHECK(read_ports(c, 6) == std::set<int>{replicas[0]});
    CHECK(servers_on(replicas[0]) == servers);
    CHECK(std::stol(show_nodes_value(*gate, "pg2", "queries")) >= pg2_queries + 6);
}

TEST_CASE("reload nodes: pgbench reads and writes through node reloads every half second fail nothing") {
    PGGATE_ONLY();
    const std::vector<int>& replicas = cluster().replica_ports();
    REQUIRE(replicas.size() >= 2);
    Table table("reload_nodes_bench");
    cluster().admin_exec("grant all on sequence reload_nodes_bench_id_seq to public");
    Gate gate({primary_line(), node_line("pg2", replicas[0]), node_line("pg3", replicas[1])},
              {"max_client_conn = 100", "health_check_period = 1"});
    const std::string script = gate->dir() + "/bench.sql";
    {
        std::ofstream out(script);
        out << "select inet_server_port();\n"
               "begin read only;\nselect count(*) from reload_nodes_bench;\ncommit;\n"
               "insert into reload_nodes_bench (v) values (1);\n";
    }
    constexpr int kSeconds = 20;
    Background bench("PGCONNECT_TIMEOUT=10 PGSSLMODE=disable " + std::string(PG_BINDIR) + "/pgbench -n -c 8 -j 2 -T " +
                     std::to_string(kSeconds) + " -f " + script + " -h 127.0.0.1 -p " + std::to_string(gate->port()) +
                     " -U " + kUser + " postgres");
    const std::vector<std::vector<std::string>> layouts = {
        {primary_line(), node_line("pg2", replicas[0])},
        {primary_line(), node_line("pg2", replicas[0]), node_line("pg3", replicas[1])},
        {node_line("pg3", replicas[1]), primary_line(), node_line("pg2", replicas[0])},
        {primary_line(), node_line("pg2", replicas[1])},
        {primary_line(), node_line("pg3", replicas[0], "role=replica weight=3"), node_line("pg2", replicas[1])},
        {primary_line(), node_line("pg2", replicas[0]), node_line("pg3", replicas[1])},
    };
    const auto start = Clock::now();
    int reloads = 0;
    for (std::size_t i = 0; seconds_since(start) < kSeconds - 4; ++i, ++reloads) {
        gate.reload(layouts[i % layouts.size()]);
        sleep_for(0.5);
    }
    const int status = bench.wait();
    CHECK_MESSAGE(status == 0, bench.output() << "\n" << gate->log_tail());
    CHECK_MESSAGE(number_after(bench.output(), "number of failed transactions: ") == 0, bench.output());
    CHECK(number_after(bench.output(), "number of transactions actually processed: ") > 100);
    CHECK(reloads >= 10);
    CHECK(gate->running());
}
