// The metrics process: a child of the master serving GET /metrics
// (Prometheus) and GET /healthz over HTTP on metrics_addr:metrics_port,
// from shared memory only.
#pragma once

#include "config/config.hpp"
#include "core/fd.hpp"
#include "shm/segment.hpp"

namespace pggate::metrics {

struct MetricsSetup {
    config::Config config;
    shm::Segment shm;
    UniqueFd channel;  // the master's channel: configurations; EOF: exit
};

// Exits 2 (the master does not respawn it) when the endpoint cannot be bound.
[[noreturn]] void metrics_main(MetricsSetup setup);

}  // namespace pggate::metrics
