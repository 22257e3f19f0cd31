// Acquire/release of pooled server connections under limits shared by all
// workers: the pool's size, max_db_connections and max_user_connections.
#include "pool/pool.hpp"

#include <algorithm>
#include <limits>

#include "core/log.hpp"
#include "protocol/messages.hpp"
#include "session/client_conn.hpp"
#include "session/server_conn.hpp"
#include "session/worker.hpp"

namespace pggate::pool {

namespace {

// A server that comes free with no client of its own pool waiting is closed
// for a client of another worker waiting for its place only once that client
// has waited this long: under load a server comes free between two of this
// worker's transactions, and closing it at once would trade a busy server
// for a new connection (a backend started) again and again.
constexpr auto kLendAfterWait = std::chrono::milliseconds(10);
// An idle server is closed for a client waiting in another pool or worker
// once it has stayed unused this long (checked on the 10 ms pool tick).
constexpr auto kLendAfterIdle = std::chrono::milliseconds(20);

double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

// A server's refusal of a login goes to the waiting clients as it is, unless
// it lacks a SQLSTATE they (and monitors) could act on: then pggate says it
// itself, with the server's message.
Bytes with_sqlstate(const Bytes& error_frame) {
    std::optional<protocol::ErrorFields> f;
    if (error_frame.size() >= protocol::kHeaderSize)
        f = protocol::parse_error_fields(
            {error_frame.data() + protocol::kHeaderSize, error_frame.size() - protocol::kHeaderSize});
    if (f && protocol::valid_sqlstate(f->sqlstate)) return error_frame;
    Bytes frame;
    protocol::build_error(frame, "FATAL", "08006",
                          "pggate could not log in to the server: " +
                              (f && !f->message.empty() ? f->message : std::string("it refused without saying why")));
    return frame;
}

}  // namespace

Pool::Pool(session::Worker& worker, std::string database, std::string user, std::uint32_t node, std::string node_name,
           Entries entries, config::PoolSettings settings)
    : worker_(worker),
      database_(std::move(database)),
      user_(std::move(user)),
      node_(node),
      node_name_(std::move(node_name)),
      entries_(entries),
      settings_(std::move(settings)),
      paused_(worker_.shm().controls().paused(database_)) {}

void Pool::configure(config::PoolSettings settings) {
    settings_ = std::move(settings);
    // A reload is the operator's answer to a failing login: try again now.
    retry_at_ = {};
    worker_.shm().pool(entries_.pool).retry_until_ns.store(0, std::memory_order_relaxed);
}

void Pool::readdress() {
    // The failures were the old address's.
    connect_failures_ = 0;
    reconnect_at_ = {};
    close_older(Clock::now(), "its node's address changed in [nodes]");
}

void Pool::node_removed() {
    removed_ = true;
    node_ = session::Worker::kNoNode;
    close_older(Clock::now(), "its node was removed from [nodes]");
    send_waiters_away(node_removed_error());
}

bool Pool::drained() const {
    return idle_.empty() && active_ == 0 && connecting_ == 0 && waiting_.empty() && clients_ == 0;
}

Bytes Pool::node_removed_error() const {
    Bytes frame;
    protocol::build_error(frame, "FATAL", "08006", "node " + node_name_ + " was removed from [nodes] by a reload");
    return frame;
}

bool Pool::login_paused(Clock::time_point now) const {
    std::int64_t until = worker_.shm().pool(entries_.pool).retry_until_ns.load(std::memory_order_relaxed);
    return now < retry_at_ || std::chrono::nanoseconds(now.time_since_epoch()).count() < until;
}

void Pool::acquire(session::ClientConn* client) {
    if (removed_) {
        if (!client->reroute_from(this)) client->on_pool_error(node_removed_error());
        return;
    }
    if (worker_.node_down(node_)) {
        if (!client->reroute_from(this)) client->on_pool_error(node_down_error());
        return;
    }
    if (paused_) {  // PAUSE: it waits for RESUME
        waiting_.emplace_back(client, Clock::now());
        publish_counts();
        return;
    }
    if (waiting_.empty() && !idle_.empty()) {
        session::ServerConn* s = idle_.back();  // most recently used: warmest caches
        idle_.pop_back();
        if (!needs_check(s)) {
            ++active_;
            publish_counts();
            worker_.count_pool_wait(0);
            client->on_server_assigned(s);
            return;
        }
        // The client waits for the checked server, which goes to the first waiter.
        ++connecting_;
        s->check(worker_.config().server_check_query);
    } else if (login_paused(Clock::now())) {
        if (Clock::now() < retry_at_) {
            client->on_pool_error(last_failure_);
        } else {
            client->on_pool_error("08006", "server login has been failing, try again later (server_login_retry)");
        }
        return;
    }
    waiting_.emplace_back(client, Clock::now());
    open_servers();
}

session::ServerConn* Pool::take_idle() {
    if (!waiting_.empty() || idle_.empty() || needs_check(idle_.back())) return nullptr;
    session::ServerConn* s = idle_.back();
    idle_.pop_back();
    ++active_;
    publish_counts();
    return s;
}

void Pool::cancel_wait(session::ClientConn* client) {
    auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& w) { return w.first == client; });
    if (it == waiting_.end()) return;
    waiting_.erase(it);
    publish_counts();
}

bool Pool::needs_check(const session::ServerConn* server) const {
    const config::Config& c = worker_.config();
    return !c.server_check_query.empty() &&
           seconds_between(server->state_since(), Clock::now()) >= c.server_check_delay;
}

std::uint32_t Pool::entry_for(Limit level) const {
    switch (level) {
        case Limit::Database: return entries_.database;
        case Limit::User: return entries_.user;
        default: return entries_.pool;
    }
}

std::uint32_t Pool::limit_of(Limit level) const {
    constexpr auto kNone = std::numeric_limits<std::uint32_t>::max();
    switch (level) {
        case Limit::Database:
            return settings_.max_db_connections > 0 ? static_cast<std::uint32_t>(settings_.max_db_connections) : kNone;
        case Limit::User:
            return settings_.max_user_connections > 0 ? static_cast<std::uint32_t>(settings_.max_user_connections)
                                                      : kNone;
        default: return static_cast<std::uint32_t>(settings_.pool_size);
    }
}

// Takes a place at every level, or none: `pool_limit` for the pool itself
// (its size, plus the reserve or only min_pool_size), then the database's and
// the user's limits.
Pool::Limit Pool::take_place(std::uint32_t pool_limit) {
    const shm::Segment& shm = worker_.shm();
    const std::uint32_t w = worker_.index();
    if (!shm.try_take_server(entries_.pool, w, pool_limit)) return Limit::Pool;
    if (!shm.try_take_server(entries_.database, w, limit_of(Limit::Database))) {
        shm.give_back_server(entries_.pool, w);
        return Limit::Database;
    }
    if (!shm.try_take_server(entries_.user, w, limit_of(Limit::User))) {
        shm.give_back_server(entries_.database, w);
        shm.give_back_server(entries_.pool, w);
        return Limit::User;
    }
    return Limit::None;
}

void Pool::give_back_place() {
    const shm::Segment& shm = worker_.shm();
    const std::uint32_t w = worker_.index();
    for (std::uint32_t entry : {entries_.pool, entries_.database, entries_.user}) shm.give_back_server(entry, w);
}

void Pool::open_one() {
    ++connecting_;
    worker_.open_server(*this);
}

// Opens as many servers as there are waiting clients not yet covered by a
// connection in progress, as far as the limits allow. A client that has
// waited reserve_pool_timeout may use the reserve.
void Pool::open_servers() {
    blocked_by_ = Limit::None;
    const auto now = Clock::now();
    if (removed_ || login_paused(now) || now < reconnect_at_ || worker_.node_down(node_)) {
        publish_counts();
        return;
    }
    auto pool_limit = static_cast<std::uint32_t>(settings_.pool_size);
    if (settings_.reserve_pool_size > 0 && !waiting_.empty() &&
        seconds_between(waiting_.front().second, now) >= worker_.config().reserve_pool_timeout)
        pool_limit += static_cast<std::uint32_t>(settings_.reserve_pool_size);
    // A place another worker's client has waited longer for is left to it
    // (its worker takes it on its next tick): otherwise the place a worker
    // gives up goes straight back to the worker that gave it.
    if (!waiting_.empty() && waited_longer_elsewhere(waiting_.front().second)) {
        blocked_by_ = Limit::Pool;
        publish_counts();
        return;
    }
    while (waiting_.size() > connecting_) {
        Limit blocked = take_place(pool_limit);
        if (blocked != Limit::None) {
            blocked_by_ = blocked;
            break;
        }
        open_one();
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
    if (reset || (settings_.pool_mode == config::PoolMode::Session && !query.empty())) {
        ++connecting_;  // busy until the reset completes, like a login
        publish_counts();
        server->reset(query.empty() ? "DISCARD ALL" : query);
        return;
    }
    hand_over(server);
}

void Pool::server_ready(session::ServerConn* server) {
    if (connecting_ > 0) --connecting_;
    connect_failures_ = 0;
    if (!have_welcome_) {
        welcome_ = server->params();
        have_welcome_ = true;
    }
    hand_over(server);
}

// An idle server goes to the first waiting client, or is closed for a client
// of another pool or worker that should have its place now, or is closed
// when the pool is above its size (the reserve, or a smaller size after a
// reload), or joins the idle list (where the pool tick closes it if it stays
// unused while others wait). Above its size and reserve together (a smaller
// pool after a reload) it is closed even while clients wait, or a pool that
// is always busy would never shrink.
void Pool::hand_over(session::ServerConn* server) {
    if (server->created_at() < reconnect_before_ || removed_) {
        server->disconnect(reconnect_reason_);
        return;
    }
    if (paused_) {
        idle_.push_back(server);
        publish_counts();
        return;
    }
    const std::uint32_t servers = worker_.shm().pool(entries_.pool).servers.load(std::memory_order_relaxed);
    if (servers > limit_of(Limit::Pool) + static_cast<std::uint32_t>(settings_.reserve_pool_size)) {
        server->disconnect("the pool is above its size");
        return;
    }
    if (!waiting_.empty()) {
        auto [c, since] = waiting_.front();
        waiting_.pop_front();
        ++active_;
        publish_counts();
        const std::int64_t waited_ns = std::chrono::nanoseconds(Clock::now() - since).count();
        worker_.count_pool_wait(waited_ns);
        shm::bump(counters().wait_time_us, static_cast<std::uint64_t>(waited_ns / 1000));
        c->on_server_assigned(server);
        return;
    }
    if (others_waited_long()) {
        server->disconnect("giving the place to a client waiting in another pool or worker");
        return;
    }
    if (servers > limit_of(Limit::Pool)) {
        server->disconnect("the pool is above its size");
        return;
    }
    idle_.push_back(server);
    publish_counts();
}

void Pool::server_login_failed(session::ServerConn* server, const Bytes& error_frame) {
    login_error_ = with_sqlstate(error_frame);
    server->disconnect("login failed");
}

void Pool::login_failed(Bytes error_frame) {
    retry_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(worker_.config().server_login_retry));
    worker_.shm().pool(entries_.pool).retry_until_ns.store(
        std::chrono::nanoseconds(retry_at_.time_since_epoch()).count(), std::memory_order_relaxed);
    last_failure_ = std::move(error_frame);
    // Every waiter would hit the same failure (same database, user, node).
    send_waiters_away(last_failure_);
}

void Pool::send_waiters_away(const Bytes& error_frame) {
    auto waiters = std::move(waiting_);
    waiting_.clear();
    for (auto& waiter : waiters) {
        session::ClientConn* client = waiter.first;
        if (client->reroute_from(this)) continue;
        if (error_frame.empty())
            waiting_.push_back(waiter);
        else
            client->on_pool_error(error_frame);
    }
    publish_counts();
}

Bytes Pool::node_down_error() const {
    Bytes frame;
    protocol::build_error(frame, "FATAL", "08006",
                          "node " + node_name_ + " is down (its health checks fail)");
    return frame;
}

void Pool::node_down() {
    for (session::ServerConn* s : std::exchange(idle_, {})) s->disconnect("its node is down");
    if (!waiting_.empty()) send_waiters_away(node_down_error());
}

namespace {

// A failure to connect that a moment later may not happen: the server could
// not be reached, or cannot take connections now (starting up, shutting
// down: class 57P).
bool transient(const Bytes& error_frame) {
    if (error_frame.empty()) return true;
    if (error_frame.size() < protocol::kHeaderSize) return false;
    auto f = protocol::parse_error_fields(
        {error_frame.data() + protocol::kHeaderSize, error_frame.size() - protocol::kHeaderSize});
    return f && f->sqlstate.starts_with("57P");
}

}  // namespace

void Pool::server_closed(session::ServerConn* server, session::ServerState was, const char* reason) {
    idle_.erase(std::remove(idle_.begin(), idle_.end(), server), idle_.end());
    using session::ServerState;
    const bool logging_in = was == ServerState::Connecting || was == ServerState::Login;
    if ((logging_in || was == ServerState::Resetting || was == ServerState::Testing) && connecting_ > 0)
        --connecting_;
    if ((was == ServerState::Active || was == ServerState::Shadow) && active_ > 0) --active_;
    give_back_place();
    if (logging_in) {
        Bytes frame = std::move(login_error_);
        login_error_.clear();
        const bool retry = transient(frame);
        if (retry) worker_.request_check(node_);
        if (retry && connect_failures_ < static_cast<std::uint32_t>(worker_.config().server_connect_retries)) {
            ++connect_failures_;
            const double delay = std::min(0.1 * (1u << std::min(connect_failures_ - 1, 20u)),
                                          std::max(0.1, worker_.config().server_login_retry));
            reconnect_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
            log_info("connecting to node %s for %s/%s failed (%s); attempt %u of %d in %.1f s",
                     node_name_.c_str(), database_.c_str(), user_.c_str(), reason, connect_failures_ + 1,
                     worker_.config().server_connect_retries + 1, delay);
            // Reads need not wait for it; writes do.
            send_waiters_away({});
        } else {
            connect_failures_ = 0;
            if (frame.empty())
                protocol::build_error(frame, "FATAL", "08006",
                                      "pggate could not connect to server " + node_name_ + ": " + reason);
            login_failed(std::move(frame));
        }
    }
    publish_counts();
    open_servers();
}

// Clients of other pools or workers that wait because a limit this pool's
// servers count toward is reached; while there is room they open servers of
// their own.
std::uint32_t Pool::others_waiting() const {
    return std::max({starved_elsewhere(Limit::Pool), starved_elsewhere(Limit::Database), starved_elsewhere(Limit::User)});
}

std::uint32_t Pool::starved_elsewhere(Limit level) const {
    const shm::PoolEntry& entry = worker_.shm().pool(entry_for(level));
    if (entry.servers.load(std::memory_order_relaxed) < limit_of(level)) return 0;
    const std::uint32_t all = entry.starved.load(std::memory_order_relaxed);
    const std::uint32_t mine = published_level_ == level ? published_starved_ : 0;
    return all > mine ? all - mine : 0;
}

// Whether a client waits for a place this pool's servers hold and should get
// one now: one of another worker's clients of this pool that has waited
// kLendAfterWait, or any client of another pool held back by the database's
// or the user's limit (whose waits are published with their own pools).
bool Pool::others_waited_long() const {
    return starved_elsewhere(Limit::Database) > 0 || starved_elsewhere(Limit::User) > 0 ||
           (starved_elsewhere(Limit::Pool) > 0 && waited_longer_elsewhere(Clock::now() - kLendAfterWait));
}

bool Pool::waited_longer_elsewhere(Clock::time_point since) const {
    const shm::Segment& shm = worker_.shm();
    const std::int64_t before = std::chrono::nanoseconds(since.time_since_epoch()).count();
    for (std::uint32_t w = 0; w < shm.workers(); ++w) {
        if (w == worker_.index()) continue;
        const shm::PoolOccupancy& o = shm.occupancy(entries_.pool, w);
        const std::int64_t oldest = o.oldest_wait_ns.load(std::memory_order_relaxed);
        if (oldest != 0 && oldest < before && o.starved.load(std::memory_order_relaxed) > 0) return true;
    }
    return false;
}

bool Pool::may_shrink() const {
    return worker_.shm().pool(entries_.pool).servers.load(std::memory_order_relaxed) >
           static_cast<std::uint32_t>(settings_.min_pool_size);
}

void Pool::tick(Clock::time_point now) {
    if (removed_) return;
    if (worker_.node_down(node_)) node_down();
    const double timeout = worker_.config().query_wait_timeout;
    while (timeout > 0 && !waiting_.empty() && seconds_between(waiting_.front().second, now) >= timeout) {
        session::ClientConn* c = waiting_.front().first;
        waiting_.pop_front();
        publish_counts();
        c->on_pool_error("08P01", "query_wait_timeout: no server connection became free in time");
    }
    // Another worker or pool may have freed a place, or the reserve opened.
    if (!waiting_.empty() && !paused_) open_servers();
    // A server that stayed idle here while clients of other pools or workers
    // wait gives them its place.
    std::uint32_t lend = others_waiting();
    while (lend > 0 && !idle_.empty() && now - idle_.front()->state_since() >= kLendAfterIdle) {
        session::ServerConn* s = idle_.front();
        idle_.erase(idle_.begin());
        s->disconnect("giving the place to a client waiting in another pool or worker");
        --lend;
    }
    // min_pool_size: the pool-level limit of these places is the minimum itself,
    // so workers together never open more than it.
    if (!login_paused(now) && now >= reconnect_at_ && !worker_.node_down(node_))
        while (take_place(static_cast<std::uint32_t>(settings_.min_pool_size)) == Limit::None) open_one();
    publish_counts();
}

void Pool::adjust_starved(Limit level, std::uint32_t add, std::uint32_t remove) {
    const std::uint32_t entry = entry_for(level);
    shm::PoolEntry& e = worker_.shm().pool(entry);
    shm::PoolOccupancy& o = worker_.shm().occupancy(entry, worker_.index());
    e.starved.fetch_add(add, std::memory_order_relaxed);
    e.starved.fetch_sub(remove, std::memory_order_relaxed);
    o.starved.fetch_add(add, std::memory_order_relaxed);
    o.starved.fetch_sub(remove, std::memory_order_relaxed);
}

void Pool::apply_controls() {
    const bool was_paused = paused_;
    paused_ = worker_.shm().controls().paused(database_);
    if (was_paused && !paused_) {
        // RESUME: the idle servers go to the clients that waited, then new ones open for the rest.
        while (!waiting_.empty() && !idle_.empty()) {
            session::ServerConn* s = idle_.back();
            idle_.pop_back();
            hand_over(s);
        }
        if (!waiting_.empty()) open_servers();
    }
    const Clock::time_point since{std::chrono::nanoseconds(worker_.shm().controls().reconnect_since(database_))};
    if (since <= reconnect_before_) {
        publish_counts();
        return;
    }
    close_older(since, "RECONNECT from the admin console");
}

void Pool::close_older(Clock::time_point since, const char* reason) {
    reconnect_before_ = std::max(reconnect_before_, since);
    reconnect_reason_ = reason;
    std::vector<session::ServerConn*> old;
    std::erase_if(idle_, [&](session::ServerConn* s) {
        if (s->created_at() >= since) return false;
        old.push_back(s);
        return true;
    });
    for (session::ServerConn* s : old) s->disconnect(reason);
    publish_counts();
}

shm::PoolOccupancy& Pool::counters() const { return worker_.shm().occupancy(entries_.pool, worker_.index()); }

void Pool::client_joined() {
    ++clients_;
    publish_counts();
}

void Pool::client_left() {
    --clients_;
    publish_counts();
}

void Pool::publish_counts() {
    shm::PoolOccupancy& o = worker_.shm().occupancy(entries_.pool, worker_.index());
    o.sv_idle.store(static_cast<std::uint32_t>(idle_.size()), std::memory_order_relaxed);
    o.sv_active.store(active_, std::memory_order_relaxed);
    o.sv_login.store(connecting_, std::memory_order_relaxed);
    o.cl_active.store(clients_, std::memory_order_relaxed);
    o.cl_waiting.store(static_cast<std::uint32_t>(waiting_.size()), std::memory_order_relaxed);
    o.oldest_wait_ns.store(
        waiting_.empty() ? 0
                         : std::chrono::duration_cast<std::chrono::nanoseconds>(waiting_.front().second.time_since_epoch())
                               .count(),
        std::memory_order_relaxed);
    auto waiting = static_cast<std::uint32_t>(waiting_.size());
    // Clients held back by PAUSE want no server yet.
    std::uint32_t starved = !paused_ && waiting > connecting_ ? waiting - connecting_ : 0;
    Limit level = starved == 0 ? Limit::None : blocked_by_ == Limit::None ? Limit::Pool : blocked_by_;
    if (level == published_level_ && starved == published_starved_) return;
    if (published_level_ != Limit::None) adjust_starved(published_level_, 0, published_starved_);
    if (level != Limit::None) adjust_starved(level, starved, 0);
    published_level_ = level;
    published_starved_ = starved;
}

}  // namespace pggate::pool
