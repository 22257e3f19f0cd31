// The rules of route::judge.
#include "route/freshness.hpp"

#include <algorithm>

namespace pggate::route {

Unfit judge(const shm::NodeSample& s, const Freshness& need, std::int64_t now_ns) {
    if (s.health == shm::NodeHealth::Down) return Unfit::Down;
    if (s.role == shm::NodeRoleSeen::Primary) return Unfit::NotReplica;
    if (need.max_lag_us > 0 || need.max_lag_bytes > 0) {
        if (s.lag_us < 0 || s.lag_bytes < 0 || s.sampled_at_ns == 0) return Unfit::Lagging;
        const std::int64_t age_us = std::max<std::int64_t>(0, (now_ns - s.sampled_at_ns) / 1000);
        if (need.max_lag_us > 0 && s.lag_us + age_us > need.max_lag_us) return Unfit::Lagging;
        if (need.max_lag_bytes > 0 && s.lag_bytes > need.max_lag_bytes) return Unfit::Lagging;
    }
    if (need.min_lsn > 0 && (s.sampled_at_ns == 0 || s.lsn < need.min_lsn)) return Unfit::Behind;
    return Unfit::None;
}

}  // namespace pggate::route
