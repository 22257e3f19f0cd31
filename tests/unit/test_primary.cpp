// route::choose_primary: which node takes writes, from roles and samples.
#include <doctest/doctest.h>

#include <vector>

#include "route/primary.hpp"

using namespace pggate;
using route::PrimaryChoice;
using Outcome = route::PrimaryChoice::Outcome;

namespace {

config::Config nodes(std::vector<config::NodeRole> roles) {
    config::Config c;
    for (std::size_t i = 0; i < roles.size(); ++i) {
        config::Node n;
        n.name = "pg" + std::to_string(i + 1);
        n.host = "127.0.0.1";
        n.port = 5432 + static_cast<int>(i);
        n.role = roles[i];
        c.nodes.push_back(n);
    }
    return c;
}

shm::NodeSample seen(shm::NodeRoleSeen role, shm::NodeHealth health = shm::NodeHealth::Up) {
    shm::NodeSample s;
    s.health = health;
    s.role = role;
    return s;
}

constexpr auto kPrimary = shm::NodeRoleSeen::Primary;
constexpr auto kReplica = shm::NodeRoleSeen::Replica;
constexpr auto kAuto = config::NodeRole::Auto;

}  // namespace

TEST_CASE("without health checks the configuration decides: role=primary, else the first node") {
    std::vector<shm::NodeSample> samples(3, seen(kReplica));
    PrimaryChoice c = route::choose_primary(nodes({kAuto, config::NodeRole::Primary, kAuto}), samples, false);
    CHECK(c.outcome == Outcome::Node);
    CHECK(c.node == 1);
    c = route::choose_primary(nodes({config::NodeRole::Replica, kAuto}), samples, false);
    CHECK(c.outcome == Outcome::Node);
    CHECK(c.node == 0);
}

TEST_CASE("role=auto: the one node seen up and out of recovery takes writes") {
    auto config = nodes({kAuto, kAuto, kAuto});
    std::vector<shm::NodeSample> samples{seen(kReplica), seen(kPrimary), seen(kReplica)};
    PrimaryChoice c = route::choose_primary(config, samples, true);
    CHECK(c.outcome == Outcome::Node);
    CHECK(c.node == 1);

    SUBCASE("a primary marked down is no primary: writes wait for a promotion") {
        samples[1].health = shm::NodeHealth::Down;
        CHECK(route::choose_primary(config, samples, true).outcome == Outcome::None);
        samples[2] = seen(kPrimary);
        c = route::choose_primary(config, samples, true);
        CHECK(c.outcome == Outcome::Node);
        CHECK(c.node == 2);
    }
    SUBCASE("nothing seen yet: no primary rather than a guess") {
        std::vector<shm::NodeSample> unknown(3);
        CHECK(route::choose_primary(config, unknown, true).outcome == Outcome::None);
    }
    SUBCASE("two claimants: split brain, naming both") {
        samples[2] = seen(kPrimary);
        c = route::choose_primary(config, samples, true);
        CHECK(c.outcome == Outcome::SplitBrain);
        CHECK(c.node == 1);
        CHECK(c.other == 2);
    }
    SUBCASE("a claimant whose last check failed yields to one that answers, and wins alone") {
        samples[2] = seen(kPrimary);
        samples[1].failures = 1;  // the old primary, not marked down yet
        c = route::choose_primary(config, samples, true);
        CHECK(c.outcome == Outcome::Node);
        CHECK(c.node == 2);
        samples[2].failures = 1;
        CHECK(route::choose_primary(config, samples, true).outcome == Outcome::SplitBrain);
        samples[2] = seen(kReplica);
        c = route::choose_primary(config, samples, true);
        CHECK(c.outcome == Outcome::Node);
        CHECK(c.node == 1);
    }
    SUBCASE("a role=replica node seen as primary claims nothing") {
        config.nodes[0].role = config::NodeRole::Replica;
        samples[0] = seen(kPrimary);
        c = route::choose_primary(config, samples, true);
        CHECK(c.outcome == Outcome::Node);
        CHECK(c.node == 1);
    }
}

TEST_CASE("a pinned primary wins over claimants, but never takes writes while in recovery") {
    auto config = nodes({kAuto, config::NodeRole::Primary, kAuto});
    std::vector<shm::NodeSample> samples{seen(kPrimary), seen(kPrimary), seen(kPrimary)};
    PrimaryChoice c = route::choose_primary(config, samples, true);
    CHECK(c.outcome == Outcome::Node);
    CHECK(c.node == 1);
    samples[1].health = shm::NodeHealth::Down;  // down: still the one writes go to
    CHECK(route::choose_primary(config, samples, true).outcome == Outcome::Node);
    samples[1] = seen(kReplica);
    c = route::choose_primary(config, samples, true);
    CHECK(c.outcome == Outcome::InRecovery);
    CHECK(c.node == 1);
}
