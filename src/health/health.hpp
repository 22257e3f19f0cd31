// The health process: a child of the master that checks every node with
// libpq (never blocking: one slow node delays no other's checks) and writes
// what it learns into the node table in shared memory.
#pragma once

#include "config/config.hpp"
#include "core/fd.hpp"
#include "shm/segment.hpp"

namespace pggate::health {

struct HealthSetup {
    config::Config config;
    shm::Segment shm;
    UniqueFd channel;  // the master's channel: configurations
};

[[noreturn]] void health_main(HealthSetup setup);

}  // namespace pggate::health
