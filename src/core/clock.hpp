// Time helpers shared by the processes: steady-clock nanoseconds (comparable
// across processes, as shared memory needs), wall-clock milliseconds, and
// seconds as a libevent timeval.
#pragma once

#include <sys/time.h>

#include <chrono>
#include <cstdint>

namespace pggate {

inline std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline std::int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline timeval to_timeval(double seconds) {
    auto whole = static_cast<time_t>(seconds);
    return {whole, static_cast<suseconds_t>((seconds - static_cast<double>(whole)) * 1e6)};
}

}  // namespace pggate
