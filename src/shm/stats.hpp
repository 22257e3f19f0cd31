// Traffic counters in shared memory: one slot per worker, written by that
// worker only with relaxed atomics and summed by the metrics process, so
// counting takes no lock shared with the data path.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shm/node_table.hpp"

namespace pggate::shm {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Upper bounds of the duration histograms' finite buckets, with their
// spelling in the `le` label; one more bucket (+Inf) follows.
struct BucketBound {
    std::int64_t ns;
    std::string_view text;
};
inline constexpr std::array<BucketBound, 14> kBucketBounds{{
    {500'000, "0.0005"},
    {1'000'000, "0.001"},
    {2'500'000, "0.0025"},
    {5'000'000, "0.005"},
    {10'000'000, "0.01"},
    {25'000'000, "0.025"},
    {50'000'000, "0.05"},
    {100'000'000, "0.1"},
    {250'000'000, "0.25"},
    {500'000'000, "0.5"},
    {1'000'000'000, "1"},
    {2'500'000'000, "2.5"},
    {5'000'000'000, "5"},
    {10'000'000'000, "10"},
}};
inline constexpr std::size_t kBuckets = kBucketBounds.size() + 1;

// The SQLSTATE classes PostgreSQL defines (Appendix A of its manual), then
// one slot for any other.
inline constexpr std::array<std::string_view, 44> kErrorClasses{
    "00", "01", "02", "03", "08", "09", "0A", "0B", "0F", "0L", "0P", "0Z", "20", "21", "22",
    "23", "24", "25", "26", "27", "28", "2B", "2D", "2F", "34", "38", "39", "3B", "3D", "3F",
    "40", "42", "44", "53", "54", "55", "57", "58", "72", "F0", "HV", "P0", "XX", "other",
};
// The index in kErrorClasses of the class of `sqlstate` (its first two characters).
std::size_t error_class_index(std::string_view sqlstate);

// Buckets are not cumulative here (each observation adds to one bucket) and
// their sum is the count, so a reader never sees a count that disagrees
// with the buckets it read.
struct Histogram {
    std::array<std::atomic<std::uint64_t>, kBuckets> buckets;
    std::atomic<std::uint64_t> sum_ns;

    // The owning worker only.
    void observe(std::int64_t ns);
};

enum class Route : std::uint32_t { Primary = 0, Replica = 1 };

struct NodeStats {
    std::array<std::atomic<std::uint64_t>, 2> queries;       // by Route
    std::array<std::atomic<std::uint64_t>, 2> transactions;  // by Route
    Histogram query_duration;
};

// Named prepared statements under transaction pooling.
struct PreparedStats {
    std::atomic<std::uint64_t> client_parses;  // named Parse messages from clients
    std::atomic<std::uint64_t> server_parses;  // Parse messages pggate sent servers for them
    std::atomic<std::uint64_t> answered_here;  // client Parses answered with no server
    std::atomic<std::uint64_t> evictions;      // closed on a server beyond max_prepared_statements
};

struct alignas(64) WorkerStats {
    std::atomic<std::uint64_t> clients_accepted;
    std::atomic<std::uint64_t> clients_rejected;
    Histogram pool_wait;
    std::array<std::atomic<std::uint64_t>, kErrorClasses.size()> errors;
    std::array<NodeStats, kMaxNodes> nodes;  // by place in [nodes]
    PreparedStats prepared;

    // The owning worker, when a reload reorders [nodes]: the counters of
    // place `from[i]` move to place i, so they stay with their node's name;
    // a place with kNoPlace (a new node) and places no longer used start at 0.
    static constexpr std::uint32_t kNoPlace = 0xFFFFFFFF;
    void move_nodes(const std::vector<std::uint32_t>& from);
};

// Written by the master only.
struct alignas(64) MasterStats {
    std::atomic<std::uint64_t> reloads_ok;
    std::atomic<std::uint64_t> reloads_failed;
};

// Adds to a counter that has a single writer: a plain load and store,
// cheaper than a locked read-modify-write and just as exact.
inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace pggate::shm
