// Layout and lock-free accessors of the shared-memory segment.
#include "shm/segment.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace pggate::shm {

static_assert(std::is_trivially_destructible_v<WorkerSlot>);
static_assert(std::is_trivially_destructible_v<CancelSlot>);
static_assert(std::is_trivially_destructible_v<NodeEntry>);
static_assert(std::is_trivially_destructible_v<FunctionList>);

namespace {

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Gives the whole pages of [begin, end) back to the kernel. They hold only
// zero bytes, which is what the per-connection records start as, and read
// as zeros again when next touched: a slot's page is resident only once a
// connection used it, not because the creating process initialized every
// one (with max_client_conn = 10,000 that is about 20 MB per process).
void release_zero_pages(unsigned char* begin, unsigned char* end) {
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const std::uintptr_t from = round_up(reinterpret_cast<std::uintptr_t>(begin), page);
    const std::uintptr_t to = reinterpret_cast<std::uintptr_t>(end) / page * page;
    if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_REMOVE);
}

// One more of a global count, unless it is at `limit` already.
bool take_place(std::atomic<std::uint32_t>& total, std::uint32_t limit) {
    std::uint32_t now = total.load(std::memory_order_relaxed);
    do {
        if (now >= limit) return false;
    } while (!total.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel));
    return true;
}

}  // namespace

Segment Segment::create(std::uint32_t workers, std::uint32_t slots_per_worker) {
    std::size_t header_size = round_up(sizeof(Header), 64);
    std::size_t workers_size = round_up(sizeof(WorkerSlot) * workers, 64);
    std::size_t slots_size = round_up(sizeof(CancelSlot) * std::size_t{workers} * slots_per_worker, 64);
    std::size_t pools_size = sizeof(PoolEntry) * kMaxPools;
    std::size_t occupancy_size = sizeof(PoolOccupancy) * kMaxPools * workers;
    std::size_t nodes_size = sizeof(NodeEntry) * kMaxNodes;
    std::size_t functions_size = round_up(sizeof(FunctionList), 64);
    std::size_t stats_size = sizeof(WorkerStats) * workers;
    std::size_t master_stats_size = round_up(sizeof(MasterStats), 64);
    std::size_t clients_size = sizeof(ClientRecord) * std::size_t{workers} * slots_per_worker;
    std::size_t servers_size = sizeof(ServerRecord) * std::size_t{workers} * slots_per_worker;
    std::size_t controls_size = round_up(sizeof(ControlTable), 64);
    std::size_t size = header_size + workers_size + slots_size + pools_size + occupancy_size + nodes_size + functions_size +
                       stats_size + master_stats_size + clients_size + servers_size + controls_size;

    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error(std::string("mmap() failed (shared memory of ") +
                                 std::to_string(size) + " bytes): " + std::strerror(errno));
    // Anonymous mappings are zero-filled: every atomic starts at 0.
    auto* base = static_cast<unsigned char*>(p);
    Segment s;
    s.header_ = new (base) Header{};
    s.header_->magic = kMagic;
    s.header_->layout_version = kLayoutVersion;
    s.header_->workers = workers;
    s.header_->slots_per_worker = slots_per_worker;
    s.header_->size = size;
    s.header_->started_at = std::time(nullptr);
    s.workers_ = new (base + header_size) WorkerSlot[workers]{};
    s.slots_ = new (base + header_size + workers_size) CancelSlot[std::size_t{workers} * slots_per_worker]{};
    s.pools_ = new (base + header_size + workers_size + slots_size) PoolEntry[kMaxPools]{};
    s.occupancy_ = new (base + header_size + workers_size + slots_size + pools_size)
        PoolOccupancy[std::size_t{kMaxPools} * workers]{};
    s.nodes_ = new (base + header_size + workers_size + slots_size + pools_size + occupancy_size) NodeEntry[kMaxNodes]{};
    unsigned char* functions_at = base + header_size + workers_size + slots_size + pools_size + occupancy_size + nodes_size;
    s.functions_ = new (functions_at) FunctionList{};
    s.stats_ = new (functions_at + functions_size) WorkerStats[workers]{};
    s.master_stats_ = new (functions_at + functions_size + stats_size) MasterStats{};
    unsigned char* clients_at = functions_at + functions_size + stats_size + master_stats_size;
    s.clients_ = new (clients_at) ClientRecord[std::size_t{workers} * slots_per_worker]{};
    s.servers_ = new (clients_at + clients_size) ServerRecord[std::size_t{workers} * slots_per_worker]{};
    s.controls_ = new (clients_at + clients_size + servers_size) ControlTable{};
    release_zero_pages(base + header_size + workers_size, base + header_size + workers_size + slots_size);
    release_zero_pages(clients_at, clients_at + clients_size + servers_size);
    return s;
}

std::optional<std::uint32_t> Segment::slot_of_key(std::uint32_t pid) const {
    std::uint64_t total = std::uint64_t{workers()} * slots_per_worker();
    if (pid == 0 || pid > total) return std::nullopt;
    return pid - 1;
}

void Segment::publish_backend(std::uint32_t slot, std::uint32_t client_secret, std::uint32_t node,
                              std::uint32_t backend_pid, std::uint32_t backend_secret) const {
    CancelSlot& s = slots_[slot];
    s.client_secret.store(0, std::memory_order_release);
    s.node.store(node, std::memory_order_relaxed);
    s.backend.store((std::uint64_t{backend_pid} << 32) | backend_secret, std::memory_order_relaxed);
    s.client_secret.store(client_secret, std::memory_order_release);
}

void Segment::release_slot(std::uint32_t slot) const {
    slots_[slot].client_secret.store(0, std::memory_order_release);
    slots_[slot].cancels_in_flight.store(0, std::memory_order_relaxed);
}

std::optional<CancelTarget> Segment::begin_cancel(std::uint32_t pid, std::uint32_t secret) const {
    auto slot = slot_of_key(pid);
    if (!slot || secret == 0) return std::nullopt;
    CancelSlot& s = slots_[*slot];
    if (s.client_secret.load(std::memory_order_acquire) != secret) return std::nullopt;
    s.cancels_in_flight.fetch_add(1, std::memory_order_seq_cst);
    CancelTarget t;
    t.slot = *slot;
    t.node = s.node.load(std::memory_order_relaxed);
    std::uint64_t backend = s.backend.load(std::memory_order_seq_cst);
    t.backend_pid = static_cast<std::uint32_t>(backend >> 32);
    t.backend_secret = static_cast<std::uint32_t>(backend);
    // The key must still be current after reading: the slot was not reused
    // meanwhile. A client between transactions has no backend to cancel.
    if (s.client_secret.load(std::memory_order_acquire) != secret || t.backend_pid == 0) {
        end_cancel(*slot);
        return std::nullopt;
    }
    return t;
}

void Segment::end_cancel(std::uint32_t slot) const {
    std::atomic<std::uint32_t>& n = slots_[slot].cancels_in_flight;
    std::uint32_t now = n.load(std::memory_order_relaxed);
    // Never below zero: a slot reclaimed after a worker died starts again at 0.
    while (now > 0 && !n.compare_exchange_weak(now, now - 1, std::memory_order_seq_cst)) {
    }
}

bool Segment::unpublish_backend(std::uint32_t slot) const {
    CancelSlot& s = slots_[slot];
    s.backend.store(0, std::memory_order_seq_cst);
    return s.cancels_in_flight.load(std::memory_order_seq_cst) == 0;
}

bool Segment::try_admit_client(std::uint32_t worker, std::uint32_t max_clients) const {
    if (!take_place(header_->clients_total, max_clients)) return false;
    workers_[worker].clients.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void Segment::client_left(std::uint32_t worker) const {
    workers_[worker].clients.fetch_sub(1, std::memory_order_relaxed);
    header_->clients_total.fetch_sub(1, std::memory_order_acq_rel);
}

bool Segment::try_begin_login(std::uint32_t worker, std::uint32_t max_logins) const {
    if (!take_place(header_->logins_total, max_logins)) return false;
    workers_[worker].logins.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void Segment::login_ended(std::uint32_t worker) const {
    workers_[worker].logins.fetch_sub(1, std::memory_order_relaxed);
    header_->logins_total.fetch_sub(1, std::memory_order_acq_rel);
}

std::optional<std::size_t> make_pool_key(std::string_view database, std::string_view user, std::string_view node,
                                         char (&out)[kPoolKeySize]) {
    std::size_t len = database.size() + 1 + user.size() + 1 + node.size();
    if (len >= kPoolKeySize) return std::nullopt;
    std::memset(out, 0, kPoolKeySize);
    // std::copy: an empty part (kAllNodes) may have no data pointer at all.
    char* at = std::copy(database.begin(), database.end(), out) + 1;
    at = std::copy(user.begin(), user.end(), at) + 1;
    std::copy(node.begin(), node.end(), at);
    return len;
}

std::optional<PoolKey> parse_pool_key(const PoolEntry& entry) {
    const std::string_view key(entry.key, kPoolKeySize);
    const std::size_t a = key.find('\0');
    const std::size_t b = a == std::string_view::npos ? a : key.find('\0', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    const std::size_t c = key.find('\0', b + 1);
    if (c == std::string_view::npos) return std::nullopt;
    return PoolKey{key.substr(0, a), key.substr(a + 1, b - a - 1), key.substr(b + 1, c - b - 1)};
}

std::optional<std::uint32_t> Segment::pool_index(std::string_view database, std::string_view user,
                                                 std::string_view node) const {
    char key[kPoolKeySize];
    if (!make_pool_key(database, user, node, key)) return std::nullopt;
    // Entries are never freed, so a key found once stays at its index: each
    // worker caches the index. Claiming is a CAS on state; a claimer that
    // loses waits for the winner's key to be published.
    for (std::uint32_t i = 0; i < kMaxPools; ++i) {
        PoolEntry& e = pools_[i];
        std::uint32_t st = e.state.load(std::memory_order_acquire);
        if (st == 0) {
            std::uint32_t expected = 0;
            if (e.state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
                std::memcpy(e.key, key, kPoolKeySize);
                e.state.store(2, std::memory_order_release);
                return i;
            }
            st = expected;
        }
        while (st == 1) st = e.state.load(std::memory_order_acquire);
        if (std::memcmp(e.key, key, kPoolKeySize) == 0) return i;
    }
    return std::nullopt;
}

bool Segment::try_take_server(std::uint32_t pool, std::uint32_t worker, std::uint32_t limit) const {
    std::atomic<std::uint32_t>& servers = pools_[pool].servers;
    std::uint32_t now = servers.load(std::memory_order_relaxed);
    do {
        if (now >= limit) return false;
    } while (!servers.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel));
    occupancy(pool, worker).servers.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void Segment::give_back_server(std::uint32_t pool, std::uint32_t worker) const {
    occupancy(pool, worker).servers.fetch_sub(1, std::memory_order_relaxed);
    pools_[pool].servers.fetch_sub(1, std::memory_order_acq_rel);
}

void Segment::reclaim_worker(std::uint32_t worker) const {
    for (std::uint32_t p = 0; p < kMaxPools; ++p) {
        if (pools_[p].state.load(std::memory_order_acquire) != 2) continue;
        PoolOccupancy& o = occupancy(p, worker);
        pools_[p].servers.fetch_sub(o.servers.exchange(0), std::memory_order_acq_rel);
        pools_[p].starved.fetch_sub(o.starved.exchange(0), std::memory_order_acq_rel);
        o.cl_waiting.store(0);
        o.sv_idle.store(0);
        o.sv_active.store(0);
        o.cl_active.store(0);
        o.sv_login.store(0);
        o.oldest_wait_ns.store(0);
    }
    WorkerSlot& w = workers_[worker];
    std::uint32_t held = w.clients.exchange(0, std::memory_order_acq_rel);
    header_->clients_total.fetch_sub(held, std::memory_order_acq_rel);
    header_->logins_total.fetch_sub(w.logins.exchange(0, std::memory_order_acq_rel), std::memory_order_acq_rel);
    w.pid.store(0, std::memory_order_relaxed);
    std::size_t first = std::size_t{worker} * slots_per_worker();
    for (std::size_t i = 0; i < slots_per_worker(); ++i) {
        slots_[first + i].client_secret.store(0, std::memory_order_release);
        // A write the dead worker left half done is over too.
        clients_[first + i].lock.settle();
        clients_[first + i].clear();
        servers_[first + i].lock.settle();
        servers_[first + i].clear();
    }
}

}  // namespace pggate::shm
