// Prometheus text exposition (format 0.0.4) of a snapshot of pggate's
// counters and gauges; pure, so the exact output is testable without shm.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shm/node_table.hpp"
#include "shm/stats.hpp"

namespace pggate::metrics {

struct HistogramSnapshot {
    std::array<std::uint64_t, shm::kBuckets> buckets{};  // per bucket, not cumulative; the last is +Inf
    std::uint64_t sum_ns = 0;
};

struct NodeSnapshot {
    std::string name;
    shm::NodeHealth health = shm::NodeHealth::Unknown;
    shm::NodeRoleSeen role = shm::NodeRoleSeen::Unknown;
    std::int64_t lag_bytes = -1;  // -1: unknown
    std::int64_t lag_us = -1;
    std::uint64_t sv_idle = 0;
    std::uint64_t sv_active = 0;
    std::uint64_t sv_other = 0;  // logging in, resetting or being checked
    std::array<std::uint64_t, 2> queries{};       // by shm::Route
    std::array<std::uint64_t, 2> transactions{};  // by shm::Route
    HistogramSnapshot query_duration;
};

struct Snapshot {
    std::uint64_t cl_active = 0;
    std::uint64_t cl_waiting = 0;
    std::uint64_t cl_idle = 0;
    std::uint64_t clients_accepted = 0;
    std::uint64_t clients_rejected = 0;
    HistogramSnapshot pool_wait;
    std::array<std::uint64_t, shm::kErrorClasses.size()> errors{};
    std::vector<NodeSnapshot> nodes;
    std::vector<std::uint64_t> worker_restarts;  // by worker index
    std::uint64_t shadow_reads = 0;
    std::uint64_t shadow_mismatches = 0;
    // Named prepared statements (transaction pooling).
    std::uint64_t client_parses = 0, server_parses = 0, parses_answered_here = 0, prepared_evictions = 0;
    std::uint64_t reloads_ok = 0;
    std::uint64_t reloads_failed = 0;
};

// The body of GET /metrics.
std::string render(const Snapshot& snapshot);

// A label value as the text format quotes it: \ " and newline escaped.
std::string escape_label(std::string_view value);

}  // namespace pggate::metrics
