// LsnHistory and pg_lsn parsing.
#include "health/lag.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace pggate::health {

void LsnHistory::add(std::int64_t at_ns, std::uint64_t lsn) {
    if (!samples_.empty() && lsn < samples_.back().lsn) samples_.clear();
    if (!samples_.empty() && lsn == samples_.back().lsn) {
        samples_.back().at_ns = at_ns;  // the last time the primary was known to be here counts
        return;
    }
    if (samples_.size() == capacity_) samples_.pop_front();
    samples_.push_back({at_ns, lsn});
}

std::optional<std::uint64_t> LsnHistory::latest() const {
    if (samples_.empty()) return std::nullopt;
    return samples_.back().lsn;
}

std::optional<std::int64_t> LsnHistory::lag_ns(std::uint64_t replay_lsn, std::int64_t at_ns) const {
    if (samples_.empty()) return std::nullopt;
    if (replay_lsn >= samples_.back().lsn) return 0;
    // The first sample beyond the replica; the one before it, the replica has.
    auto beyond = std::upper_bound(samples_.begin(), samples_.end(), replay_lsn,
                                   [](std::uint64_t lsn, const Sample& s) { return lsn < s.lsn; });
    if (beyond != samples_.begin()) return std::max<std::int64_t>(0, at_ns - (beyond - 1)->at_ns);
    // Behind every sample kept: the primary passed it before the oldest one
    // was taken, which says how far behind it is only once the history has
    // been kept for its whole length.
    if (samples_.size() < capacity_) return std::nullopt;
    return std::max<std::int64_t>(0, at_ns - samples_.front().at_ns);
}

std::optional<std::int64_t> LsnHistory::lag_bytes(std::uint64_t replay_lsn) const {
    if (samples_.empty()) return std::nullopt;
    return replay_lsn >= samples_.back().lsn ? 0 : static_cast<std::int64_t>(samples_.back().lsn - replay_lsn);
}

std::optional<std::uint64_t> parse_lsn(const char* text) {
    if (text == nullptr) return std::nullopt;
    const char* end = text + std::strlen(text);
    const char* slash = std::find(text, end, '/');
    if (slash == end || slash == text || slash + 1 == end) return std::nullopt;
    std::uint32_t hi = 0, lo = 0;
    auto a = std::from_chars(text, slash, hi, 16);
    auto b = std::from_chars(slash + 1, end, lo, 16);
    if (a.ec != std::errc() || a.ptr != slash || b.ec != std::errc() || b.ptr != end) return std::nullopt;
    return (std::uint64_t{hi} << 32) | lo;
}

}  // namespace pggate::health
