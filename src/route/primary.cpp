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
    for (std::uint32_t i = 0; i < count; ++i) {
        if (config.nodes[i].role != config::NodeRole::Auto || !up(i) || samples[i].role != shm::NodeRoleSeen::Primary)
            continue;
        if (choice.outcome == PrimaryChoice::Outcome::Node) {
            choice.outcome = PrimaryChoice::Outcome::SplitBrain;
            choice.other = i;
            return choice;
        }
        choice.outcome = PrimaryChoice::Outcome::Node;
        choice.node = i;
    }
    return choice;
}

}  // namespace pggate::route
