// Whether a replica may serve a read, from what the health process last saw
// of it: up, still a replica, within the lag limits, and (read_your_writes)
// past the WAL position the client's reads must see (pure, no I/O).
#pragma once

#include <cstdint>

#include "shm/node_table.hpp"

namespace pggate::route {

struct Freshness {
    std::int64_t max_lag_us = 0;     // 0: no limit
    std::int64_t max_lag_bytes = 0;  // 0: no limit
    std::uint64_t min_lsn = 0;       // 0: none
};

enum class Unfit {
    None,
    Down,        // the health process marked it down
    NotReplica,  // it was promoted
    Lagging,     // beyond a lag limit, or its lag is unknown while there is one
    Behind,      // it has not replayed min_lsn (yet)
};

// `now_ns` is the steady clock: a sample's age counts as lag, since the
// replica may have stopped replaying just after it.
Unfit judge(const shm::NodeSample& replica, const Freshness& need, std::int64_t now_ns);

}  // namespace pggate::route
