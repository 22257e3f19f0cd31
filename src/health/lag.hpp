// Replica lag from WAL positions: the primary's positions over time tell how
// long ago the primary was where a replica is now (pure, no I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace pggate::health {

class LsnHistory {
public:
    explicit LsnHistory(std::size_t capacity = 1024) : capacity_(capacity) {}

    // A sample of the primary's position, read by a query sent at `at_ns`.
    // A position lower than the last one (another primary) starts afresh.
    void add(std::int64_t at_ns, std::uint64_t lsn);
    void clear() { samples_.clear(); }
    std::optional<std::uint64_t> latest() const;

    // How far behind the primary a replica that has replayed `replay_lsn`
    // (read by a query sent at `at_ns`) is: none when it has replayed all the
    // latest sample shows; else the time since the last sample it has
    // replayed (at most one sampling period more than the truth). nullopt
    // when that cannot be told: no samples, or it is behind all of them
    // before the history is full (then: at least since the oldest).
    std::optional<std::int64_t> lag_ns(std::uint64_t replay_lsn, std::int64_t at_ns) const;
    std::optional<std::int64_t> lag_bytes(std::uint64_t replay_lsn) const;

private:
    struct Sample {
        std::int64_t at_ns;
        std::uint64_t lsn;
    };
    std::size_t capacity_;
    std::deque<Sample> samples_;
};

// "16/B374D848" (pg_lsn's text) as a number; nullopt if malformed.
std::optional<std::uint64_t> parse_lsn(const char* text);

}  // namespace pggate::health
