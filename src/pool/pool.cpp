// Acquire/release of pooled server connections under a limit shared by all workers.
#include "pool/pool.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "session/client_conn.hpp"
#include "session/server_conn.hpp"
#include "session/worker.hpp"

namespace pggate::pool {

Pool::Pool(session::Worker& worker, std::string database, std::string user, std::uint32_t node, std::uint32_t shm_index)
    : worker_(worker), database_(std::move(database)), user_(std::move(user)), node_(node), shm_index_(shm_index) {}

void Pool::acquire(session::ClientConn* client) {
    if (!idle_.empty() && waiting_.empty()) {
        session::ServerConn* s = idle_.back();  // most recently used: warmest caches
        idle_.pop_back();
        ++active_;
        publish_counts();
        client->on_server_assigned(s);
        return;
    }
    waiting_.emplace_back(client, Clock::now());
    open_servers();
}

void Pool::cancel_wait(session::ClientConn* client) {
    auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& w) { return w.first == client; });
    if (it == waiting_.end()) return;
    waiting_.erase(it);
    publish_counts();
}

// Opens as many servers as there are waiting clients not yet covered by a
// connection in progress, as far as the global limit allows.
void Pool::open_servers() {
    const auto limit = static_cast<std::uint32_t>(worker_.config().default_pool_size);
    while (waiting_.size() > connecting_) {
        if (!worker_.shm().try_take_server(shm_index_, worker_.index(), limit)) break;
        ++servers_;
        ++connecting_;
        worker_.open_server(*this);
    }
    publish_counts();
}

void Pool::release(session::ServerConn* server, bool reset) {
    if (!server->tracker().releasable()) {
        server->disconnect("released while not idle");
        return;
    }
    --active_;
    const std::string& query = worker_.config().server_reset_query;
    if (reset || (worker_.config().pool_mode == config::PoolMode::Session && !query.empty())) {
        ++connecting_;  // busy until the reset completes, like a login
        publish_counts();
        server->reset(query.empty() ? "DISCARD ALL" : query);
        return;
    }
    hand_over(server);
}

void Pool::server_ready(session::ServerConn* server) {
    if (connecting_ > 0) --connecting_;
    if (!have_welcome_) {
        welcome_ = server->params();
        have_welcome_ = true;
    }
    hand_over(server);
}

// An idle server goes to the first waiting client, or to another worker's
// waiting clients by closing it (freeing the place), or to the idle list.
void Pool::hand_over(session::ServerConn* server) {
    if (!waiting_.empty()) {
        session::ClientConn* c = waiting_.front().first;
        waiting_.pop_front();
        ++active_;
        publish_counts();
        c->on_server_assigned(server);
        return;
    }
    if (others_waiting() > 0) {
        server->disconnect("giving the place to a client waiting in another worker");
        return;
    }
    idle_.push_back(server);
    publish_counts();
}

void Pool::server_login_failed(session::ServerConn* server, const Bytes& error_frame) {
    // Every waiter would hit the same error (same database, user, node).
    auto waiters = std::move(waiting_);
    waiting_.clear();
    publish_counts();
    server->disconnect("login failed");
    for (auto& [client, since] : waiters) client->on_pool_error(error_frame);
}

void Pool::server_closed(session::ServerConn* server, session::ServerState was) {
    idle_.erase(std::remove(idle_.begin(), idle_.end(), server), idle_.end());
    using session::ServerState;
    if ((was == ServerState::Connecting || was == ServerState::Login || was == ServerState::Resetting) &&
        connecting_ > 0)
        --connecting_;
    if (was == ServerState::Active && active_ > 0) --active_;
    --servers_;
    worker_.shm().give_back_server(shm_index_, worker_.index());
    publish_counts();
    open_servers();
}

// Clients of other workers that wait because the pool is full everywhere;
// while there is room, they open servers of their own.
std::uint32_t Pool::others_waiting() const {
    const shm::PoolEntry& entry = worker_.shm().pool(shm_index_);
    if (entry.servers.load(std::memory_order_relaxed) < static_cast<std::uint32_t>(worker_.config().default_pool_size))
        return 0;
    std::uint32_t all = entry.starved.load(std::memory_order_relaxed);
    std::uint32_t mine = published_starved_;
    return all > mine ? all - mine : 0;
}

void Pool::tick(Clock::time_point now) {
    const double timeout = worker_.config().query_wait_timeout;
    while (timeout > 0 && !waiting_.empty() &&
           std::chrono::duration<double>(now - waiting_.front().second).count() >= timeout) {
        session::ClientConn* c = waiting_.front().first;
        waiting_.pop_front();
        publish_counts();
        c->on_pool_error("08P01", "query_wait_timeout: no server connection became free in time");
    }
    // Another worker may have freed a place.
    if (!waiting_.empty()) open_servers();
    // Another worker's clients wait while this one holds idle servers.
    for (std::uint32_t n = others_waiting(); n > 0 && !idle_.empty(); --n) {
        session::ServerConn* s = idle_.back();
        idle_.pop_back();
        s->disconnect("giving the place to a client waiting in another worker");
    }
    publish_counts();
}

void Pool::publish_counts() {
    shm::PoolOccupancy& o = worker_.shm().occupancy(shm_index_, worker_.index());
    o.sv_idle.store(static_cast<std::uint32_t>(idle_.size()), std::memory_order_relaxed);
    o.sv_active.store(active_, std::memory_order_relaxed);
    o.cl_waiting.store(static_cast<std::uint32_t>(waiting_.size()), std::memory_order_relaxed);
    auto waiting = static_cast<std::uint32_t>(waiting_.size());
    std::uint32_t starved = waiting > connecting_ ? waiting - connecting_ : 0;
    if (starved != published_starved_) {
        shm::PoolEntry& entry = worker_.shm().pool(shm_index_);
        if (starved > published_starved_)
            entry.starved.fetch_add(starved - published_starved_, std::memory_order_relaxed);
        else
            entry.starved.fetch_sub(published_starved_ - starved, std::memory_order_relaxed);
        o.starved.store(starved, std::memory_order_relaxed);
        published_starved_ = starved;
    }
}

}  // namespace pggate::pool
