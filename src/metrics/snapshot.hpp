// Reads pggate's counters and gauges out of shared memory into a Snapshot:
// per-worker slots summed, pool occupancy grouped by node, the node table.
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "metrics/render.hpp"
#include "shm/segment.hpp"

namespace pggate::metrics {

// What the health process last published of each configured node (a
// default sample while an entry still describes another node or none).
std::vector<shm::NodeSample> node_samples(const config::Config& config, const shm::Segment& shm);

// Lock-free reads only: workers are never held up by a scrape.
Snapshot take_snapshot(const config::Config& config, const shm::Segment& shm);

}  // namespace pggate::metrics
