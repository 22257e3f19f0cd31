// The shared-memory segment mapped by the master before fork: a header,
// one cache-line slot per worker, per-client cancel slots that let any
// worker find the backend running a client's query, and traffic counters.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "shm/client_table.hpp"
#include "shm/control_table.hpp"
#include "shm/function_list.hpp"
#include "shm/node_table.hpp"
#include "shm/pool_table.hpp"
#include "shm/stats.hpp"

namespace pggate::shm {

constexpr std::uint64_t kMagic = 0x7067676174650001ULL;  // "pggate" + 1
constexpr std::uint32_t kLayoutVersion = 8;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

struct Header {
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t workers;
    std::uint32_t slots_per_worker;
    std::uint32_t pad_;
    std::uint64_t size;
    std::int64_t started_at;  // unix seconds the segment was made (pggate started)
    // Clients connected across all workers: admission for max_client_conn.
    alignas(64) std::atomic<std::uint32_t> clients_total;
    // Connections not logged in yet across all workers: max_login_clients.
    std::atomic<std::uint32_t> logins_total;
};

// Written by its worker only (and by the master when it reclaims the slot of
// a dead worker, which by then writes nothing).
struct alignas(64) WorkerSlot {
    std::atomic<std::int32_t> pid;
    std::atomic<std::uint32_t> clients;
    std::atomic<std::uint32_t> restarts;  // written by the master
    std::atomic<std::uint32_t> logins;    // its part of Header::logins_total
    std::atomic<std::int64_t> started_at;  // unix seconds
    std::atomic<std::uint64_t> cancels_forwarded;
    // The controls().generation this worker has acted on (PAUSE waits for all).
    std::atomic<std::uint64_t> controls_seen;
    // Shadow reads compared, and those whose answers differed.
    std::atomic<std::uint64_t> shadow_reads;
    std::atomic<std::uint64_t> shadow_mismatches;
    // The master's number of the configuration this worker runs with
    // (RELOAD waits for all); written before `pid` is published.
    std::atomic<std::uint64_t> config_generation;
};

// Links the cancel key pggate gave a client to its current backend.
// client_secret == 0 means free. The owner writes backend and node first,
// then publishes client_secret; it clears client_secret first on release.
struct CancelSlot {
    std::atomic<std::uint32_t> client_secret;
    std::atomic<std::uint32_t> node;
    std::atomic<std::uint64_t> backend;  // backend pid << 32 | backend secret
    // Cancels forwarded for this client and not yet acted on by the server.
    // The canceller counts itself in before reading `backend`; the owner
    // clears `backend` before looking here, so a server a cancel may still
    // reach is never lent to another client (both sides sequentially consistent).
    std::atomic<std::uint32_t> cancels_in_flight;
};

struct CancelTarget {
    std::uint32_t slot;
    std::uint32_t node;
    std::uint32_t backend_pid;
    std::uint32_t backend_secret;
};

// A view of a mapped segment; copies share the mapping.
class Segment {
public:
    // Maps a fresh shared anonymous segment (MAP_SHARED, so children share it).
    // Throws std::runtime_error if mmap fails.
    static Segment create(std::uint32_t workers, std::uint32_t slots_per_worker);
    Segment() = default;

    Header& header() const { return *header_; }
    WorkerSlot& worker(std::uint32_t index) const { return workers_[index]; }
    std::uint32_t workers() const { return header_->workers; }
    std::uint32_t slots_per_worker() const { return header_->slots_per_worker; }

    // Cancel keys: a client's key pid is its global slot index + 1.
    std::uint32_t key_pid(std::uint32_t slot) const { return slot + 1; }
    std::optional<std::uint32_t> slot_of_key(std::uint32_t pid) const;
    std::uint32_t owner_of_slot(std::uint32_t slot) const { return slot / slots_per_worker(); }
    void publish_backend(std::uint32_t slot, std::uint32_t client_secret, std::uint32_t node,
                         std::uint32_t backend_pid, std::uint32_t backend_secret) const;
    void release_slot(std::uint32_t slot) const;
    // The backend behind a client's cancel key, if the key is current and the
    // client has one; the cancel then counts as in flight until end_cancel.
    std::optional<CancelTarget> begin_cancel(std::uint32_t pid, std::uint32_t secret) const;
    void end_cancel(std::uint32_t slot) const;
    // The owner takes the client's server away: no cancel may reach it after
    // this. Returns false if one may still be on its way to it.
    bool unpublish_backend(std::uint32_t slot) const;

    // Admission against max_client_conn across all workers.
    bool try_admit_client(std::uint32_t worker, std::uint32_t max_clients) const;
    void client_left(std::uint32_t worker) const;
    // Admission against max_login_clients across all workers: a connection
    // counts from its accept until it has logged in or gone (login_ended).
    bool try_begin_login(std::uint32_t worker, std::uint32_t max_logins) const;
    void login_ended(std::uint32_t worker) const;

    // Finds or creates the pool entry for a key; nullopt when the table is full.
    std::optional<std::uint32_t> pool_index(std::string_view database, std::string_view user,
                                            std::string_view node) const;
    PoolEntry& pool(std::uint32_t index) const { return pools_[index]; }
    PoolOccupancy& occupancy(std::uint32_t pool, std::uint32_t worker) const {
        return occupancy_[std::size_t{pool} * workers() + worker];
    }
    // Takes one of the pool's `limit` server places, counted for `worker`.
    bool try_take_server(std::uint32_t pool, std::uint32_t worker, std::uint32_t limit) const;
    void give_back_server(std::uint32_t pool, std::uint32_t worker) const;

    // The health process's view of node `index` (the [nodes] order).
    NodeEntry& node(std::uint32_t index) const { return nodes_[index]; }
    FunctionList& functions() const { return *functions_; }
    // Traffic counters: worker `index`'s own slot, and the master's.
    WorkerStats& stats(std::uint32_t index) const { return stats_[index]; }
    MasterStats& master_stats() const { return *master_stats_; }
    // Who the client of a slot is, for SHOW CLIENTS.
    ClientRecord& client(std::uint32_t slot) const { return clients_[slot]; }
    std::uint32_t slots() const { return workers() * slots_per_worker(); }
    // Server connections, as many places per worker as client slots (a
    // server beyond them is not listed by SHOW SERVERS).
    ServerRecord& server(std::uint32_t slot) const { return servers_[slot]; }
    // DISABLE, RECONNECT and KILL of the admin console.
    ControlTable& controls() const { return *controls_; }

    // Called by the master after a worker died: gives back its clients, its
    // server places and invalidates its cancel keys.
    void reclaim_worker(std::uint32_t worker) const;

private:
    Header* header_ = nullptr;
    PoolEntry* pools_ = nullptr;
    PoolOccupancy* occupancy_ = nullptr;
    NodeEntry* nodes_ = nullptr;
    FunctionList* functions_ = nullptr;
    WorkerStats* stats_ = nullptr;
    MasterStats* master_stats_ = nullptr;
    ClientRecord* clients_ = nullptr;
    ControlTable* controls_ = nullptr;
    ServerRecord* servers_ = nullptr;
    WorkerSlot* workers_ = nullptr;
    CancelSlot* slots_ = nullptr;
};

}  // namespace pggate::shm
