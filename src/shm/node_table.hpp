// The node table in shared memory: what the health process last learned of
// each configured node (up or down, its role, WAL positions and lag), written
// by the health process only and read by every worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace pggate::shm {

constexpr std::uint32_t kMaxNodes = 64;

enum class NodeHealth : std::uint32_t { Unknown = 0, Up = 1, Down = 2 };
enum class NodeRoleSeen : std::uint32_t { Unknown = 0, Primary = 1, Replica = 2 };

// One consistent reading of a node's entry.
struct NodeSample {
    std::uint64_t ident = 0;  // node_ident() of the node the entry describes
    NodeHealth health = NodeHealth::Unknown;
    NodeRoleSeen role = NodeRoleSeen::Unknown;
    std::uint32_t failures = 0;  // failed checks in a row
    // A primary's WAL insert position, a replica's replay position; valid
    // when sampled_at_ns != 0.
    std::uint64_t lsn = 0;
    std::uint64_t receive_lsn = 0;  // replicas
    std::uint32_t timeline = 0;     // 0: unknown
    // A replica's last replayed commit, wall clock (µs since 1970); 0: none.
    std::int64_t replayed_at_us = 0;
    // Steady-clock time (CLOCK_MONOTONIC, ns) the query that read `lsn` was
    // sent: the position is at least what the node had then.
    std::int64_t sampled_at_ns = 0;
    // How far a replica is behind the primary; -1 while unknown.
    std::int64_t lag_bytes = -1;
    std::int64_t lag_us = -1;
    std::int64_t checked_at_ns = 0;  // last successful check (steady clock)
};

// The entry: a sequence lock around the sample (odd while being written).
struct alignas(64) NodeEntry {
    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint64_t> ident;
    std::atomic<std::uint32_t> health;
    std::atomic<std::uint32_t> role;
    std::atomic<std::uint32_t> failures;
    std::atomic<std::uint64_t> lsn;
    std::atomic<std::uint64_t> receive_lsn;
    std::atomic<std::uint32_t> timeline;
    std::atomic<std::int64_t> replayed_at_us;
    std::atomic<std::int64_t> sampled_at_ns;
    std::atomic<std::int64_t> lag_bytes;
    std::atomic<std::int64_t> lag_us;
    std::atomic<std::int64_t> checked_at_ns;
    // Outside the sample: bumped by workers that saw a connection to the
    // node fail, so the health process checks it at once.
    std::atomic<std::uint32_t> check_requests;

    // The health process only.
    void publish(const NodeSample& s);
    // Any process; retries while a write is in progress.
    NodeSample read() const;
};

// Names a node by its address, so a reader can tell an entry written for
// another node (the [nodes] section changed by a reload) from its own.
std::uint64_t node_ident(std::string_view host, int port);

}  // namespace pggate::shm
