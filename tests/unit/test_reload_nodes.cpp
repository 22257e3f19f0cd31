// Unit tests of what a reload of [nodes] keeps: which running node each new
// entry is (by name, readdressed or not), the per-node counters following
// their node to its new place, and the admin views of a removed node's pool.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "admin/views.hpp"
#include "config/config.hpp"
#include "config/reload.hpp"
#include "shm/segment.hpp"

using namespace pggate;

namespace {

config::Config nodes(const std::string& lines) {
    return config::parse_config("[pggate]\nauth_type = trust\n[nodes]\n" + lines, "t.ini");
}

}  // namespace

TEST_CASE("node fates: a node is known by its name; host or port make it readdressed, role and weight do not") {
    const config::Config running = nodes(
        "pg1 = host=db1 port=5432 role=primary\npg2 = host=db2 port=5432 role=replica\n"
        "pg3 = host=db3 port=5432 role=replica\npg4 = host=db4 port=5432 role=replica\n");
    const config::Config next = nodes(
        "pg3 = host=db3 port=5433 role=replica\npg1 = host=db1 port=5432 role=primary\n"
        "pg4 = host=db4 port=5432 role=auto weight=5\npg5 = host=db2 port=5432 role=replica\n");
    const std::vector<config::NodeFate> fates = config::node_fates(running.nodes, next.nodes);
    REQUIRE(fates.size() == 4);
    CHECK(fates[0].to == 1);
    CHECK_FALSE(fates[0].readdressed);
    // pg2's address lives on under another name: a new node, pg2 is gone.
    CHECK(fates[1].to == config::NodeFate::kRemoved);
    CHECK(fates[2].to == 0);
    CHECK(fates[2].readdressed);
    CHECK(fates[3].to == 2);
    CHECK_FALSE(fates[3].readdressed);
    CHECK(config::node_fates(running.nodes, running.nodes)[3].to == 3);
}

TEST_CASE("worker stats: a node's counters follow it to its new place; new and unused places start at zero") {
    shm::Segment seg = shm::Segment::create(1, 4);
    shm::WorkerStats& st = seg.stats(0);
    for (std::uint32_t i = 0; i < 3; ++i) {
        shm::bump(st.nodes[i].queries[0], 10 * (i + 1));
        shm::bump(st.nodes[i].transactions[1], i + 1);
        st.nodes[i].query_duration.observe(1000 * (i + 1));
    }
    // Node 2 moves first, node 0 second, node 1 is removed, a new node is third.
    st.move_nodes({2, 0, shm::WorkerStats::kNoPlace});
    CHECK(st.nodes[0].queries[0].load() == 30);
    CHECK(st.nodes[0].transactions[1].load() == 3);
    CHECK(st.nodes[0].query_duration.sum_ns.load() == 3000);
    CHECK(st.nodes[1].queries[0].load() == 10);
    CHECK(st.nodes[1].query_duration.sum_ns.load() == 1000);
    CHECK(st.nodes[2].queries[0].load() == 0);
    CHECK(st.nodes[2].query_duration.sum_ns.load() == 0);
    CHECK(st.nodes[3].queries[0].load() == 0);
}

TEST_CASE("pool keys: entries are keyed by node name and read back whole") {
    shm::Segment seg = shm::Segment::create(1, 4);
    const auto pool = seg.pool_index("app", "alice", "pg2");
    const auto total = seg.pool_index("app", "", shm::kAllNodes);
    REQUIRE(pool);
    REQUIRE(total);
    CHECK(seg.pool_index("app", "alice", "pg2") == pool);
    CHECK(seg.pool_index("app", "alice", "pg3") != pool);
    const auto key = shm::parse_pool_key(seg.pool(*pool));
    REQUIRE(key);
    CHECK(key->database == "app");
    CHECK(key->user == "alice");
    CHECK(key->node == "pg2");
    CHECK(key->is_pool());
    CHECK_FALSE(shm::parse_pool_key(seg.pool(*total))->is_pool());
}

TEST_CASE("admin views: after [nodes] changed, pools and servers count toward their node by name") {
    // Running: pg1 primary, pg2 and pg3 replicas. Reloaded: pg3 moved to the
    // front, pg2 removed while one of its servers still closes.
    const config::Config reloaded = nodes("pg3 = host=db3 port=5432 role=replica\npg1 = host=db1 port=5432 role=primary\n");
    shm::Segment seg = shm::Segment::create(1, 4);
    const std::uint32_t of_pg3 = *seg.pool_index("app", "alice", "pg3");
    const std::uint32_t of_pg2 = *seg.pool_index("app", "alice", "pg2");
    const std::uint32_t of_gone = *seg.pool_index("app", "bob", "pg2");  // no servers left: no row
    (void)of_gone;
    REQUIRE(seg.try_take_server(of_pg3, 0, 10));
    REQUIRE(seg.try_take_server(of_pg3, 0, 10));
    REQUIRE(seg.try_take_server(of_pg2, 0, 10));
    const admin::Clocks now{1, 0};
    admin::Outcome pools = admin::show("pools", reloaded, seg, now);
    REQUIRE(pools.table);
    const auto& cols = pools.table->columns();
    auto value = [&](const admin::Table::Row& r, const std::string& name) -> std::string {
        for (std::size_t i = 0; i < cols.size(); ++i)
            if (cols[i].name == name) return r[i].value_or("NULL");
        FAIL("no column " << name);
        return "";
    };
    REQUIRE(pools.table->rows().size() == 2);
    for (const auto& row : pools.table->rows()) {
        if (value(row, "node") == "pg3") {
            CHECK(value(row, "sv_total") == "2");
            CHECK(value(row, "role") == "replica");
        } else {
            CHECK(value(row, "node") == "pg2");
            CHECK(value(row, "user") == "alice");
            CHECK(value(row, "role") == "NULL");
        }
    }
    admin::Outcome shown = admin::show("nodes", reloaded, seg, now);
    REQUIRE(shown.table);
    REQUIRE(shown.table->rows().size() == 2);
    const auto& ncols = shown.table->columns();
    auto nvalue = [&](std::size_t r, const std::string& name) -> std::string {
        for (std::size_t i = 0; i < ncols.size(); ++i)
            if (ncols[i].name == name) return shown.table->rows()[r][i].value_or("NULL");
        FAIL("no column " << name);
        return "";
    };
    CHECK(nvalue(0, "name") == "pg3");
    CHECK(nvalue(0, "servers") == "2");
    CHECK(nvalue(1, "name") == "pg1");
    CHECK(nvalue(1, "servers") == "0");
}
