// Which node takes writes, from the configured roles and what the health
// process last saw of each node (pure, no I/O). A node pinned with
// role=primary is the primary whatever else claims to be; otherwise the one
// role=auto node seen up and out of recovery is (one whose last check
// failed only if no other is). Writes are refused rather than sent to a
// node in recovery or to one of two claimants.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "config/config.hpp"
#include "shm/node_table.hpp"

namespace pggate::route {

struct PrimaryChoice {
    enum class Outcome {
        Node,        // `node` takes writes
        None,        // no node is known to be a primary (yet)
        SplitBrain,  // `node` and `other` both claim to be
        InRecovery,  // the pinned primary `node` is in recovery
    };
    Outcome outcome = Outcome::None;
    std::uint32_t node = 0;
    std::uint32_t other = 0;
};

// `samples[i]` is node i's; with `health_checks` off nothing is seen and the
// configuration alone decides (Config::primary()).
PrimaryChoice choose_primary(const config::Config& config, std::span<const shm::NodeSample> samples,
                             bool health_checks);

// Why writes cannot go anywhere (choice.outcome is not Node); empty when they can.
std::string primary_refusal(const config::Config& config, const PrimaryChoice& choice);

}  // namespace pggate::route
