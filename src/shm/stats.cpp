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

}  // namespace pggate::shm
