// Sequence-locked publishing and reading of node table entries.
#include "shm/node_table.hpp"

namespace pggate::shm {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

void NodeEntry::publish(const NodeSample& s) {
    const std::uint32_t start = seq.load(std::memory_order_relaxed);
    seq.store(start + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    ident.store(s.ident, std::memory_order_relaxed);
    health.store(static_cast<std::uint32_t>(s.health), std::memory_order_relaxed);
    role.store(static_cast<std::uint32_t>(s.role), std::memory_order_relaxed);
    failures.store(s.failures, std::memory_order_relaxed);
    lsn.store(s.lsn, std::memory_order_relaxed);
    receive_lsn.store(s.receive_lsn, std::memory_order_relaxed);
    timeline.store(s.timeline, std::memory_order_relaxed);
    replayed_at_us.store(s.replayed_at_us, std::memory_order_relaxed);
    sampled_at_ns.store(s.sampled_at_ns, std::memory_order_relaxed);
    lag_bytes.store(s.lag_bytes, std::memory_order_relaxed);
    lag_us.store(s.lag_us, std::memory_order_relaxed);
    checked_at_ns.store(s.checked_at_ns, std::memory_order_relaxed);
    seq.store(start + 2, std::memory_order_release);
}

NodeSample NodeEntry::read() const {
    NodeSample s;
    while (true) {
        const std::uint32_t before = seq.load(std::memory_order_acquire);
        if (before & 1U) continue;
        s.ident = ident.load(std::memory_order_relaxed);
        s.health = static_cast<NodeHealth>(health.load(std::memory_order_relaxed));
        s.role = static_cast<NodeRoleSeen>(role.load(std::memory_order_relaxed));
        s.failures = failures.load(std::memory_order_relaxed);
        s.lsn = lsn.load(std::memory_order_relaxed);
        s.receive_lsn = receive_lsn.load(std::memory_order_relaxed);
        s.timeline = timeline.load(std::memory_order_relaxed);
        s.replayed_at_us = replayed_at_us.load(std::memory_order_relaxed);
        s.sampled_at_ns = sampled_at_ns.load(std::memory_order_relaxed);
        s.lag_bytes = lag_bytes.load(std::memory_order_relaxed);
        s.lag_us = lag_us.load(std::memory_order_relaxed);
        s.checked_at_ns = checked_at_ns.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq.load(std::memory_order_relaxed) == before) return s;
    }
}

std::uint64_t node_ident(std::string_view host, int port) {
    // FNV-1a over "host:port".
    std::uint64_t h = 14695981039346656037ULL;
    auto mix = [&](unsigned char c) {
        h ^= c;
        h *= 1099511628211ULL;
    };
    for (char c : host) mix(static_cast<unsigned char>(c));
    mix(':');
    for (unsigned shift = 0; shift < 32; shift += 8) mix(static_cast<unsigned char>(static_cast<unsigned>(port) >> shift));
    return h == 0 ? 1 : h;
}

}  // namespace pggate::shm
