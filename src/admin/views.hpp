// What the admin console's SHOW commands display, read from the shared
// memory segment and the running configuration, so every worker shows the
// same state.
#pragma once

#include <cstdint>
#include <string_view>

#include "admin/console.hpp"
#include "config/config.hpp"
#include "shm/segment.hpp"

namespace pggate::admin {

struct Clocks {
    std::int64_t steady_ns;  // CLOCK_MONOTONIC, as shm timestamps
    std::int64_t unix_s;     // wall clock
};

// Server connections of `database` ("" = all) linked to a client, over all workers.
std::uint64_t servers_in_use(const shm::Segment& shm, std::string_view database);

// SHOW `what` (lower case): a table, or an error for an unknown subject.
Outcome show(std::string_view what, const config::Config& config, const shm::Segment& shm, Clocks now);

}  // namespace pggate::admin
