// Histogram bucketing and SQLSTATE class lookup for the shared counters.
#include "shm/stats.hpp"

#include <algorithm>
#include <type_traits>

namespace pggate::shm {

static_assert(std::is_trivially_destructible_v<WorkerStats>);
static_assert(std::is_trivially_destructible_v<MasterStats>);

std::size_t error_class_index(std::string_view sqlstate) {
    const std::size_t other = kErrorClasses.size() - 1;
    if (sqlstate.size() < 2) return other;
    auto end = kErrorClasses.begin() + static_cast<std::ptrdiff_t>(other);
    auto it = std::find(kErrorClasses.begin(), end, sqlstate.substr(0, 2));
    return static_cast<std::size_t>(it - kErrorClasses.begin());
}

void Histogram::observe(std::int64_t ns) {
    if (ns < 0) ns = 0;
    auto it = std::find_if(kBucketBounds.begin(), kBucketBounds.end(), [&](const BucketBound& b) { return ns <= b.ns; });
    bump(buckets[static_cast<std::size_t>(it - kBucketBounds.begin())]);
    bump(sum_ns, static_cast<std::uint64_t>(ns));
}

namespace {

// A NodeStats's values, outside shared memory.
struct NodeValues {
    std::array<std::uint64_t, 2> queries{}, transactions{};
    std::array<std::uint64_t, kBuckets> buckets{};
    std::uint64_t sum_ns = 0;
};

NodeValues values_of(const NodeStats& s) {
    NodeValues v;
    for (std::size_t r = 0; r < 2; ++r) {
        v.queries[r] = s.queries[r].load(std::memory_order_relaxed);
        v.transactions[r] = s.transactions[r].load(std::memory_order_relaxed);
    }
    for (std::size_t b = 0; b < kBuckets; ++b) v.buckets[b] = s.query_duration.buckets[b].load(std::memory_order_relaxed);
    v.sum_ns = s.query_duration.sum_ns.load(std::memory_order_relaxed);
    return v;
}

void store(NodeStats& s, const NodeValues& v) {
    for (std::size_t r = 0; r < 2; ++r) {
        s.queries[r].store(v.queries[r], std::memory_order_relaxed);
        s.transactions[r].store(v.transactions[r], std::memory_order_relaxed);
    }
    for (std::size_t b = 0; b < kBuckets; ++b) s.query_duration.buckets[b].store(v.buckets[b], std::memory_order_relaxed);
    s.query_duration.sum_ns.store(v.sum_ns, std::memory_order_relaxed);
}

}  // namespace

void WorkerStats::move_nodes(const std::vector<std::uint32_t>& from) {
    std::array<NodeValues, kMaxNodes> before;
    for (std::size_t i = 0; i < kMaxNodes; ++i) before[i] = values_of(nodes[i]);
    for (std::size_t i = 0; i < kMaxNodes; ++i)
        store(nodes[i], i < from.size() && from[i] < kMaxNodes ? before[from[i]] : NodeValues{});
}

}  // namespace pggate::shm
