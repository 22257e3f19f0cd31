// The Prometheus text pggate serves: exact lines for a small snapshot,
// cumulative histogram buckets, label escaping; and a snapshot summed from
// shared-memory counters written by other processes.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "config/config.hpp"
#include "metrics/render.hpp"
#include "metrics/snapshot.hpp"
#include "shm/segment.hpp"

using namespace pggate;
using metrics::HistogramSnapshot;
using metrics::NodeSnapshot;
using metrics::Snapshot;

namespace {

Snapshot small_snapshot() {
    Snapshot s;
    s.cl_active = 2;
    s.cl_waiting = 1;
    s.cl_idle = 5;
    s.clients_accepted = 40;
    s.clients_rejected = 3;
    s.pool_wait.buckets[0] = 7;
    s.errors[shm::error_class_index("42601")] = 4;
    NodeSnapshot primary;
    primary.name = "pg1";
    primary.health = shm::NodeHealth::Up;
    primary.role = shm::NodeRoleSeen::Primary;
    primary.sv_idle = 3;
    primary.sv_active = 1;
    primary.queries = {10, 0};
    primary.transactions = {9, 0};
    NodeSnapshot replica;
    replica.name = "pg2";
    replica.health = shm::NodeHealth::Down;
    replica.role = shm::NodeRoleSeen::Replica;
    replica.lag_bytes = 1024;
    replica.lag_us = 1500000;
    replica.queries = {0, 1000};
    replica.transactions = {0, 1000};
    s.nodes = {primary, replica};
    s.worker_restarts = {0, 2};
    s.shadow_reads = 6;
    s.shadow_mismatches = 1;
    s.reloads_ok = 3;
    s.reloads_failed = 1;
    return s;
}

bool has(const std::string& text, const std::string& block) { return text.find(block) != std::string::npos; }

}  // namespace

TEST_SUITE("metrics") {
TEST_CASE("render: HELP and TYPE lines, then the samples of each family") {
    const std::string text = metrics::render(small_snapshot());
    CHECK(has(text, "# HELP pggate_client_connections Client connections by state (idle: logging in or between transactions).\n"
                    "# TYPE pggate_client_connections gauge\n"
                    "pggate_client_connections{state=\"active\"} 2\n"
                    "pggate_client_connections{state=\"waiting\"} 1\n"
                    "pggate_client_connections{state=\"idle\"} 5\n"));
    CHECK(has(text, "# TYPE pggate_clients_accepted_total counter\npggate_clients_accepted_total 40\n"));
    CHECK(has(text, "# TYPE pggate_clients_rejected_total counter\npggate_clients_rejected_total 3\n"));
    CHECK(has(text, "pggate_server_connections{node=\"pg1\",state=\"active\"} 1\n"
                    "pggate_server_connections{node=\"pg1\",state=\"idle\"} 3\n"
                    "pggate_server_connections{node=\"pg1\",state=\"other\"} 0\n"));
    CHECK(has(text, "# TYPE pggate_queries_total counter\n"
                    "pggate_queries_total{node=\"pg1\",route=\"primary\"} 10\n"
                    "pggate_queries_total{node=\"pg1\",route=\"replica\"} 0\n"
                    "pggate_queries_total{node=\"pg2\",route=\"primary\"} 0\n"
                    "pggate_queries_total{node=\"pg2\",route=\"replica\"} 1000\n"));
    CHECK(has(text, "pggate_transactions_total{node=\"pg1\",route=\"primary\"} 9\n"));
    CHECK(has(text, "pggate_errors_total{sqlstate_class=\"42\"} 4\n"));
    CHECK(has(text, "pggate_errors_total{sqlstate_class=\"other\"} 0\n"));
    CHECK(has(text, "pggate_node_up{node=\"pg1\"} 1\npggate_node_up{node=\"pg2\"} 0\n"));
    CHECK(has(text, "pggate_node_role{node=\"pg2\",role=\"primary\"} 0\n"
                    "pggate_node_role{node=\"pg2\",role=\"replica\"} 1\n"
                    "pggate_node_role{node=\"pg2\",role=\"unknown\"} 0\n"));
    // Lag is left out while unknown (pg1's is), not written as -1.
    CHECK(has(text, "# TYPE pggate_node_replication_lag_bytes gauge\n"
                    "pggate_node_replication_lag_bytes{node=\"pg2\"} 1024\n# HELP"));
    CHECK(has(text, "pggate_node_replication_lag_seconds{node=\"pg2\"} 1.5\n"));
    CHECK(!has(text, "lag_bytes{node=\"pg1\"}"));
    CHECK(has(text, "pggate_reloads_total{result=\"ok\"} 3\npggate_reloads_total{result=\"failed\"} 1\n"));
    CHECK(has(text, "pggate_worker_restarts_total{worker=\"0\"} 0\npggate_worker_restarts_total{worker=\"1\"} 2\n"));
    CHECK(has(text, "pggate_shadow_reads_total 6\n"));
    CHECK(has(text, "pggate_shadow_read_mismatches_total 1\n"));
    // Every sample line belongs to a family declared before it.
    std::string declared;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        REQUIRE(end != std::string::npos);
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.starts_with("# TYPE ")) {
            declared = line.substr(7, line.find(' ', 7) - 7);
        } else if (!line.starts_with("# HELP ")) {
            CAPTURE(line);
            CHECK(line.starts_with(declared));
        }
    }
}

TEST_CASE("render: histogram buckets are cumulative and end with +Inf, _sum in seconds, _count") {
    Snapshot s;
    s.pool_wait.buckets[0] = 2;   // <= 0.5 ms
    s.pool_wait.buckets[3] = 1;   // <= 5 ms
    s.pool_wait.buckets.back() = 1;  // beyond 10 s
    s.pool_wait.sum_ns = 12'504'000'000;
    const std::string text = metrics::render(s);
    CHECK(has(text, "# TYPE pggate_pool_wait_seconds histogram\n"
                    "pggate_pool_wait_seconds_bucket{le=\"0.0005\"} 2\n"
                    "pggate_pool_wait_seconds_bucket{le=\"0.001\"} 2\n"
                    "pggate_pool_wait_seconds_bucket{le=\"0.0025\"} 2\n"
                    "pggate_pool_wait_seconds_bucket{le=\"0.005\"} 3\n"
                    "pggate_pool_wait_seconds_bucket{le=\"0.01\"} 3\n"));
    CHECK(has(text, "pggate_pool_wait_seconds_bucket{le=\"10\"} 3\n"
                    "pggate_pool_wait_seconds_bucket{le=\"+Inf\"} 4\n"
                    "pggate_pool_wait_seconds_sum 12.504\n"
                    "pggate_pool_wait_seconds_count 4\n"));

    NodeSnapshot n;
    n.name = "pg1";
    n.query_duration.buckets[1] = 5;
    s.nodes = {n};
    CHECK(has(metrics::render(s), "pggate_query_duration_seconds_bucket{node=\"pg1\",le=\"0.0005\"} 0\n"
                                  "pggate_query_duration_seconds_bucket{node=\"pg1\",le=\"0.001\"} 5\n"
                                  "pggate_query_duration_seconds_bucket{node=\"pg1\",le=\"0.0025\"} 5\n"));
}

TEST_CASE("render: label values are escaped") {
    CHECK(metrics::escape_label("plain") == "plain");
    CHECK(metrics::escape_label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    Snapshot s;
    NodeSnapshot n;
    n.name = "we\"ird\\node\n";
    s.nodes = {n};
    CHECK(has(metrics::render(s), "pggate_node_up{node=\"we\\\"ird\\\\node\\n\"} 0\n"));
}

TEST_CASE("stats: histogram buckets by upper bound, SQLSTATE classes") {
    shm::Histogram h{};
    h.observe(0);
    h.observe(500'000);    // on the bound: in it
    h.observe(500'001);
    h.observe(60'000'000'000);
    CHECK(h.buckets[0].load() == 2);
    CHECK(h.buckets[1].load() == 1);
    CHECK(h.buckets.back().load() == 1);
    CHECK(h.sum_ns.load() == 60'001'000'001ULL);
    CHECK(shm::kErrorClasses[shm::error_class_index("42601")] == "42");
    CHECK(shm::kErrorClasses[shm::error_class_index("XX000")] == "XX");
    CHECK(shm::kErrorClasses[shm::error_class_index("ZZ123")] == "other");
    CHECK(shm::kErrorClasses[shm::error_class_index("")] == "other");
}

TEST_CASE("snapshot: sums what worker processes counted in shared memory") {
    config::Config c = config::parse_config(
        "[pggate]\n[nodes]\npg1 = host=127.0.0.1 port=5432 role=primary\npg2 = host=127.0.0.1 port=5433 role=replica\n",
        "t.ini");
    shm::Segment seg = shm::Segment::create(2, 4);
    auto pool = seg.pool_index("db", "alice", "pg2");
    REQUIRE(pool);
    REQUIRE(seg.pool_index("db", "", shm::kAllNodes));
    for (std::uint32_t w = 0; w < 2; ++w) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            shm::WorkerStats& st = seg.stats(w);
            shm::bump(st.clients_accepted, 10 + w);
            shm::bump(st.nodes[1].queries[static_cast<std::size_t>(shm::Route::Replica)], 500);
            st.nodes[1].query_duration.observe(2'000'000);
            st.pool_wait.observe(0);
            shm::bump(st.errors[shm::error_class_index("42601")]);
            seg.occupancy(*pool, w).servers.store(3);
            seg.occupancy(*pool, w).sv_idle.store(2);
            seg.occupancy(*pool, w).sv_active.store(1);
            seg.occupancy(*pool, w).cl_active.store(1);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        REQUIRE(WIFEXITED(status));
    }
    REQUIRE(seg.try_admit_client(0, 100));
    REQUIRE(seg.try_admit_client(0, 100));
    REQUIRE(seg.try_admit_client(1, 100));
    shm::bump(seg.master_stats().reloads_failed);

    Snapshot s = metrics::take_snapshot(c, seg);
    CHECK(s.clients_accepted == 21);
    CHECK(s.cl_active == 2);
    CHECK(s.cl_idle == 1);
    REQUIRE(s.nodes.size() == 2);
    CHECK(s.nodes[0].name == "pg1");
    CHECK(s.nodes[1].queries[1] == 1000);
    CHECK(s.nodes[1].queries[0] == 0);
    CHECK(s.nodes[1].query_duration.buckets[2] == 2);
    CHECK(s.nodes[1].query_duration.sum_ns == 4'000'000);
    CHECK(s.nodes[1].sv_idle == 4);
    CHECK(s.nodes[1].sv_active == 2);
    CHECK(s.nodes[0].sv_idle == 0);
    CHECK(s.pool_wait.buckets[0] == 2);
    CHECK(s.errors[shm::error_class_index("42")] == 2);
    CHECK(s.reloads_failed == 1);
    CHECK(s.worker_restarts.size() == 2);
    // No health process has written the node table: nothing is known yet.
    CHECK(s.nodes[1].health == shm::NodeHealth::Unknown);
    CHECK(s.nodes[1].lag_bytes == -1);
}
}  // TEST_SUITE
