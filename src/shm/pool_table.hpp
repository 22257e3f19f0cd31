// Pools in shared memory: one entry per (database, user, node name), found by
// key from any worker, plus one per database and one per user for their
// limits. It holds the pool's global server count (the limit that holds across
// workers) and per-worker occupancy for the admin console.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pggate::shm {

constexpr std::uint32_t kMaxPools = 512;
// The node of the entries that count a whole database's servers (user "")
// or a whole user's (database ""): no node has an empty name.
constexpr std::string_view kAllNodes;
constexpr std::size_t kPoolKeySize = 192;

// What one worker has in one pool; written by that worker only.
struct alignas(64) PoolOccupancy {
    std::atomic<std::uint32_t> servers;    // counted in PoolEntry::servers too
    std::atomic<std::uint32_t> sv_idle;
    std::atomic<std::uint32_t> sv_active;
    std::atomic<std::uint32_t> sv_login;   // logging in, resetting or being checked
    std::atomic<std::uint32_t> cl_active;  // logged-in clients whose home is this pool
    std::atomic<std::uint32_t> cl_waiting;
    std::atomic<std::uint32_t> starved;  // this worker's share of PoolEntry::starved
    // Steady-clock time (ns) the longest-waiting client began to wait; 0: none waits.
    std::atomic<std::int64_t> oldest_wait_ns;
    // Traffic of this worker's clients on this pool's servers (SHOW STATS),
    // added with single-writer bumps: times in microseconds.
    std::atomic<std::uint64_t> xact_count;
    std::atomic<std::uint64_t> query_count;
    std::atomic<std::uint64_t> bytes_received;  // from clients
    std::atomic<std::uint64_t> bytes_sent;      // to clients
    std::atomic<std::uint64_t> xact_time_us;
    std::atomic<std::uint64_t> query_time_us;
    std::atomic<std::uint64_t> wait_time_us;
};

struct alignas(64) PoolEntry {
    std::atomic<std::uint32_t> state;  // 0 free, 1 being claimed, 2 in use
    // "database\0user\0node name", set before state = 2. By name, not by
    // place in [nodes], so a reload that reorders the nodes leaves each
    // entry with its node whichever worker reloaded first.
    char key[kPoolKeySize];
    std::atomic<std::uint32_t> servers;  // server connections of all workers
    // Clients waiting in all workers with no server on its way to them: what
    // a worker holding idle servers of a full pool gives places up for.
    std::atomic<std::uint32_t> starved;
    // After a failed connect or login (server_login_retry): no worker opens a
    // server of this pool before this steady-clock time, in nanoseconds.
    std::atomic<std::int64_t> retry_until_ns;
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

// Turns (database, user, node name) into the bytes stored as an entry's key;
// nullopt if they do not fit.
std::optional<std::size_t> make_pool_key(std::string_view database, std::string_view user, std::string_view node,
                                         char (&out)[kPoolKeySize]);

// An entry's key read back; views into the entry.
struct PoolKey {
    std::string_view database, user, node;
    // A pool of one node, not a database's or a user's total.
    bool is_pool() const { return !node.empty() && !database.empty() && !user.empty(); }
};
std::optional<PoolKey> parse_pool_key(const PoolEntry& entry);

}  // namespace pggate::shm
