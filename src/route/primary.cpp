// The rules of route::choose_primary.
#include "route/primary.hpp"

namespace pggate::route {

PrimaryChoice choose_primary(const config::Config& config, std::span<const shm::NodeSample> samples,
                             bool health_checks) {
    PrimaryChoice choice;
    const auto count = static_cast<std::uint32_t>(config.nodes.size());
    if (!health_checks) {
        choice.outcome = PrimaryChoice::Outcome::Node;
        choice.node = static_cast<std::uint32_t>(&config.primary() - config.nodes.data());
        return choice;
    }
    auto up = [&](std::uint32_t i) { return i < samples.size() && samples[i].health == shm::NodeHealth::Up; };
    for (std::uint32_t i = 0; i < count; ++i) {
        if (config.nodes[i].role != config::NodeRole::Primary) continue;
        choice.node = i;
        choice.outcome = up(i) && samples[i].role == shm::NodeRoleSeen::Replica ? PrimaryChoice::Outcome::InRecovery
                                                                                 : PrimaryChoice::Outcome::Node;
        return choice;
    }
    // Claimants whose last check failed count only when no other claims:
    // an old primary that stopped answering is not a rival to the replica
    // promoted in its place, in the moment before it is marked down.
    for (bool answering : {true, false}) {
        for (std::uint32_t i = 0; i < count; ++i) {
            if (config.nodes[i].role != config::NodeRole::Auto || !up(i) ||
                samples[i].role != shm::NodeRoleSeen::Primary || (samples[i].failures == 0) != answering)
                continue;
            if (choice.outcome == PrimaryChoice::Outcome::Node) {
                choice.outcome = PrimaryChoice::Outcome::SplitBrain;
                choice.other = i;
                return choice;
            }
            choice.outcome = PrimaryChoice::Outcome::Node;
            choice.node = i;
        }
        if (choice.outcome == PrimaryChoice::Outcome::Node) return choice;
    }
    return choice;
}

std::string primary_refusal(const config::Config& config, const PrimaryChoice& choice) {
    using Outcome = PrimaryChoice::Outcome;
    switch (choice.outcome) {
        case Outcome::SplitBrain:
            return "nodes " + config.nodes[choice.node].name + " and " + config.nodes[choice.other].name +
                   " both claim to be the primary (split brain): writes are refused until only one does";
        case Outcome::InRecovery:
            return "node " + config.nodes[choice.node].name +
                   " is configured as the primary (role=primary) but is in recovery: writes are refused";
        case Outcome::None:
            return "no node is the primary now (the primary is down and none has been promoted)";
        case Outcome::Node:
            break;
    }
    return {};
}

}  // namespace pggate::route
