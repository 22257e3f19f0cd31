// route::judge: which replicas may serve a read, from the health process's samples.
#include <doctest/doctest.h>

#include "route/freshness.hpp"

using namespace pggate;
using route::Freshness;
using route::Unfit;

namespace {

constexpr std::int64_t kNow = 100'000'000'000;  // 100 s on the steady clock

shm::NodeSample fresh_replica() {
    shm::NodeSample s;
    s.health = shm::NodeHealth::Up;
    s.role = shm::NodeRoleSeen::Replica;
    s.lsn = 5000;
    s.sampled_at_ns = kNow - 100'000'000;  // 100 ms ago
    s.lag_bytes = 0;
    s.lag_us = 0;
    return s;
}

}  // namespace

TEST_CASE("without limits any replica not down and not promoted may read, known or not") {
    Freshness none;
    CHECK(route::judge(shm::NodeSample{}, none, kNow) == Unfit::None);
    CHECK(route::judge(fresh_replica(), none, kNow) == Unfit::None);
    shm::NodeSample down = fresh_replica();
    down.health = shm::NodeHealth::Down;
    CHECK(route::judge(down, none, kNow) == Unfit::Down);
    shm::NodeSample promoted = fresh_replica();
    promoted.role = shm::NodeRoleSeen::Primary;
    CHECK(route::judge(promoted, none, kNow) == Unfit::NotReplica);
}

TEST_CASE("max_replica_lag: lag plus the sample's age must stay within it; unknown lag is too much") {
    Freshness need;
    need.max_lag_us = 1'000'000;
    shm::NodeSample s = fresh_replica();
    CHECK(route::judge(s, need, kNow) == Unfit::None);
    s.lag_us = 850'000;  // plus 100 ms of age: within
    CHECK(route::judge(s, need, kNow) == Unfit::None);
    s.lag_us = 950'000;  // plus 100 ms: beyond
    CHECK(route::judge(s, need, kNow) == Unfit::Lagging);
    // A sample too old to vouch for the replica (the health process stalled).
    s = fresh_replica();
    s.sampled_at_ns = kNow - 2'000'000'000;
    CHECK(route::judge(s, need, kNow) == Unfit::Lagging);
    s = fresh_replica();
    s.lag_us = -1;
    CHECK(route::judge(s, need, kNow) == Unfit::Lagging);
    CHECK(route::judge(shm::NodeSample{}, need, kNow) == Unfit::Lagging);
}

TEST_CASE("max_replica_lag_bytes") {
    Freshness need;
    need.max_lag_bytes = 4096;
    shm::NodeSample s = fresh_replica();
    s.lag_bytes = 4096;
    CHECK(route::judge(s, need, kNow) == Unfit::None);
    s.lag_bytes = 4097;
    CHECK(route::judge(s, need, kNow) == Unfit::Lagging);
    // An old sample is fine for a byte limit alone.
    s.lag_bytes = 0;
    s.sampled_at_ns = 1;
    CHECK(route::judge(s, need, kNow) == Unfit::None);
}

TEST_CASE("read_your_writes: the replica must have replayed the position, whatever its age") {
    Freshness need;
    need.min_lsn = 5000;
    shm::NodeSample s = fresh_replica();
    CHECK(route::judge(s, need, kNow) == Unfit::None);
    s.lsn = 4999;
    CHECK(route::judge(s, need, kNow) == Unfit::Behind);
    CHECK(route::judge(shm::NodeSample{}, need, kNow) == Unfit::Behind);
    // Down outranks behind: the client must not wait for it.
    s.health = shm::NodeHealth::Down;
    CHECK(route::judge(s, need, kNow) == Unfit::Down);
}
