// The worker process: its event loop, accepting, the master channel, signals,
// graceful and fast shutdown, and collection of finished sessions.
#include "session/worker.hpp"

#include <event2/buffer.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <ctime>

#include "core/bytes.hpp"
#include "config/log_target.hpp"
#include "config/reload.hpp"
#include "config/settings.hpp"
#include "core/log.hpp"
#include "core/clock.hpp"
#include "master/channel.hpp"
#include "auth/auth_file.hpp"
#include "pool/pool.hpp"
#include "route/freshness.hpp"
#include "protocol/codec.hpp"
#include "session/cancel.hpp"
#include "session/client_conn.hpp"
#include "session/server_conn.hpp"

namespace pggate::session {

namespace {

std::string describe_peer(const sockaddr* addr, int len) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(addr);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (addr->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    (void)len;
    return "unix";
}

constexpr timeval kAcceptPause{1, 0};

}  // namespace

Worker::Worker(WorkerSetup setup)
    : index_(setup.index),
      config_(std::move(setup.config)),
      config_text_(std::move(setup.config_text)),
      config_generation_(setup.config_generation),
      shm_(setup.shm),
      listen_fds_(std::move(setup.listen_fds)),
      channel_fd_(std::move(setup.channel)),
      rng_(std::random_device{}()) {
    for (std::uint32_t i = shm_.slots_per_worker(); i > 0; --i)
        free_slots_.push_back(index_ * shm_.slots_per_worker() + i - 1);
    free_server_slots_ = free_slots_;
}

Worker::~Worker() = default;

std::uint32_t Worker::random_secret() {
    std::uint32_t v;
    do v = static_cast<std::uint32_t>(rng_()); while (v == 0);
    return v;
}

std::optional<std::uint32_t> Worker::take_slot() {
    if (free_slots_.empty()) return std::nullopt;
    std::uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
}

void Worker::give_slot(std::uint32_t slot) { free_slots_.push_back(slot); }

std::optional<std::uint32_t> Worker::take_server_slot() {
    if (free_server_slots_.empty()) return std::nullopt;
    std::uint32_t s = free_server_slots_.back();
    free_server_slots_.pop_back();
    return s;
}

void Worker::apply_config(config::Config config) {
    const std::vector<config::Node> running = std::exchange(config_.nodes, {});
    config_ = std::move(config);
    node_addresses_.clear();
    for (const config::Node& n : config_.nodes) node_addresses_.push_back(net::resolve_node(n));
    load_credentials();
    load_hba();
    load_tls();
    load_functions();
    node_idents_.clear();
    for (const config::Node& n : config_.nodes) node_idents_.push_back(shm::node_ident(n.host, n.port));
    replica_slots_.clear();
    for (std::uint32_t i = 0; i < config_.nodes.size(); ++i)
        if (config_.nodes[i].role != config::NodeRole::Primary)
            replica_slots_.insert(replica_slots_.end(), static_cast<std::size_t>(std::min(config_.nodes[i].weight, 100)), i);
    // At start (nothing running yet) there is nothing to follow.
    if (!running.empty() && running != config_.nodes) follow_nodes(running);
    for (auto& [key, pool] : pools_) pool->configure(config_.pool_settings(pool->database(), pool->user()));
    if (config_.auth_user.empty()) queried_.clear();
    auth_query_node_ = kNoNode;
    configure_auth_query();
}

void Worker::follow_nodes(const std::vector<config::Node>& running) {
    const std::vector<config::NodeFate> fates = config::node_fates(running, config_.nodes);
    auto place = [&](std::uint32_t old) { return old < fates.size() ? fates[old].to : kNoNode; };
    std::vector<std::uint32_t> from(config_.nodes.size(), shm::WorkerStats::kNoPlace);
    for (std::uint32_t i = 0; i < fates.size(); ++i)
        if (fates[i].to != config::NodeFate::kRemoved) from[fates[i].to] = i;
    shm_.stats(index_).move_nodes(from);
    // Servers first: a pool closing its idle ones below finds them renumbered.
    for (auto& [s, owned] : servers_.live) {
        const std::uint32_t to = place(s->node());
        s->renumber(to == config::NodeFate::kRemoved ? kNoNode : to);
    }
    for (auto& [c, owned] : clients_.live) c->republish_backend();
    // Every pool has its new key before any closes a server or sends a
    // waiter away: a waiter routed elsewhere may look up (or create) a pool.
    auto pools = std::exchange(pools_, {});
    std::vector<pool::Pool*> readdressed;
    const std::size_t kept_removed = removed_pools_.size();
    for (auto& [key, p] : pools) {
        const std::uint32_t old = std::get<2>(key);
        const std::uint32_t to = place(old);
        if (to == config::NodeFate::kRemoved) {
            removed_pools_.push_back(std::move(p));
            continue;
        }
        p->renumber(to);
        if (fates[old].readdressed) readdressed.push_back(p.get());
        pools_.emplace(std::make_tuple(std::get<0>(key), std::get<1>(key), to), std::move(p));
    }
    for (std::size_t i = kept_removed; i < removed_pools_.size(); ++i) {
        pool::Pool& p = *removed_pools_[i];
        log_info("worker %u: node %s left [nodes]; its servers of %s/%s close as they come free", index_,
                 p.node_name().c_str(), p.database().c_str(), p.user().c_str());
        p.node_removed();
    }
    for (pool::Pool* p : readdressed) p->readdress();
}

void Worker::load_functions() {
    functions_ = route::FunctionCatalog();
    for (const std::string& name : config_.read_only_functions) functions_.add(name);
    const std::string learned = shm_.functions().read(functions_version_);
    for (std::size_t pos = 0; pos < learned.size();) {
        std::size_t end = learned.find('\n', pos);
        if (end == std::string::npos) end = learned.size();
        if (end > pos) functions_.add(learned.substr(pos, end - pos));
        pos = end + 1;
    }
}

void Worker::configure_auth_query() {
    route::PrimaryChoice choice = primary();
    // Without a primary, lookups stay where they were: any node has pg_authid.
    if (choice.outcome != route::PrimaryChoice::Outcome::Node || choice.node == auth_query_node_) return;
    auth_query_node_ = choice.node;
    auth_query_->configure(
        auth::auth_query_settings(config_, listed(config_.auth_user), node_addresses_[auth_query_node_]));
}

route::PrimaryChoice Worker::primary() const {
    const bool checks = config_.health_check_period > 0;
    primary_samples_.resize(checks ? std::min<std::size_t>(config_.nodes.size(), shm::kMaxNodes) : 0);
    for (std::uint32_t i = 0; i < primary_samples_.size(); ++i) primary_samples_[i] = node_sample(i);
    return route::choose_primary(config_, primary_samples_, checks);
}

std::string Worker::primary_refusal(const route::PrimaryChoice& choice) const {
    return route::primary_refusal(config_, choice);
}

std::uint32_t Worker::up_node() const {
    std::uint32_t found = kNoNode;
    for (std::uint32_t node = 0; node < config_.nodes.size(); ++node) {
        shm::NodeSample sample = node_sample(node);
        if (sample.health != shm::NodeHealth::Up) continue;
        if (sample.role == shm::NodeRoleSeen::Replica) return node;
        if (found == kNoNode) found = node;
    }
    return found;
}

void Worker::await_primary(ClientConn* client) { awaiting_primary_.emplace_back(client, steady_now_ns()); }

void Worker::cancel_await(ClientConn* client) {
    std::erase_if(awaiting_primary_, [client](const auto& a) { return a.first == client; });
}

// On the pool tick: clients waiting for a primary go on once there is one,
// or a refusal to give them; the others wait up to query_wait_timeout.
void Worker::wake_awaiting() {
    if (awaiting_primary_.empty()) return;
    route::PrimaryChoice choice = primary();
    const std::int64_t now = steady_now_ns();
    const double timeout = config_.query_wait_timeout;
    auto waiting = std::move(awaiting_primary_);
    awaiting_primary_.clear();
    for (auto [client, since] : waiting) {
        if (choice.outcome != route::PrimaryChoice::Outcome::None) {
            client->on_primary_known();
        } else if (timeout > 0 && static_cast<double>(now - since) / 1e9 >= timeout) {
            client->on_primary_wait_timeout(primary_refusal(choice) + "; query_wait_timeout reached");
        } else {
            awaiting_primary_.emplace_back(client, since);
        }
    }
}

ShadowRead& Worker::add_shadow(std::unique_ptr<ShadowRead> run) {
    shadows_.push_back(std::move(run));
    return *shadows_.back();
}

shm::NodeSample Worker::node_sample(std::uint32_t node) const {
    if (node >= node_idents_.size()) return shm::NodeSample{};
    shm::NodeSample s = shm_.node(node).read();
    return s.ident == node_idents_[node] ? s : shm::NodeSample{};
}

void Worker::count_login(bool accepted) {
    shm::WorkerStats& s = shm_.stats(index_);
    shm::bump(accepted ? s.clients_accepted : s.clients_rejected);
}

void Worker::count_error(std::string_view sqlstate) {
    shm::bump(shm_.stats(index_).errors[shm::error_class_index(sqlstate)]);
}

void Worker::count_error_frame(std::span<const std::uint8_t> frame) {
    std::optional<protocol::ErrorFields> f;
    if (frame.size() > protocol::kHeaderSize) f = protocol::parse_error_fields(frame.subspan(protocol::kHeaderSize));
    count_error(f ? std::string_view(f->sqlstate) : std::string_view());
}

void Worker::count_statement(std::uint32_t node, std::int64_t ns, bool transaction_ended) {
    if (node >= config_.nodes.size()) return;
    // Before the health process has seen the node, the configuration says
    // which node is the primary.
    shm::NodeRoleSeen role = node_sample(node).role;
    bool primary = role == shm::NodeRoleSeen::Primary ||
                   (role == shm::NodeRoleSeen::Unknown && &config_.primary() == &config_.nodes[node]);
    auto route = static_cast<std::size_t>(primary ? shm::Route::Primary : shm::Route::Replica);
    shm::NodeStats& s = shm_.stats(index_).nodes[node];
    shm::bump(s.queries[route]);
    if (transaction_ended) shm::bump(s.transactions[route]);
    s.query_duration.observe(ns);
}

pool::Pool* Worker::replica_pool(const std::string& database, const std::string& user, std::uint64_t min_lsn,
                                 bool& none_fit, std::uint32_t avoid) {
    none_fit = true;
    if (replica_slots_.empty()) return nullptr;
    route::Freshness need;
    need.max_lag_us = static_cast<std::int64_t>(config_.max_replica_lag * 1e6);
    need.max_lag_bytes = config_.max_replica_lag_bytes;
    need.min_lsn = min_lsn;
    const std::int64_t now = steady_now_ns();
    // The pool of `node` if it may serve the read.
    auto fit = [&](std::uint32_t node) -> pool::Pool* {
        if (node == avoid) return nullptr;
        shm::NodeSample sample = node_sample(node);
        // A role=auto node reads only once it is seen in recovery.
        if (config_.nodes[node].role == config::NodeRole::Auto && sample.role != shm::NodeRoleSeen::Replica)
            return nullptr;
        route::Unfit unfit = route::judge(sample, need, now);
        if (unfit == route::Unfit::Behind) none_fit = false;
        if (unfit != route::Unfit::None) return nullptr;
        pool::Pool* p = pool_for(database, user, node);
        // A replica whose logins fail is passed over until its pause ends.
        return p != nullptr && p->accepting() ? p : nullptr;
    };
    const std::size_t n = replica_slots_.size();
    switch (config_.load_balance) {
        case config::LoadBalance::RoundRobin:
        case config::LoadBalance::Random: {
            const std::size_t start = config_.load_balance == config::LoadBalance::RoundRobin
                                          ? next_replica_++
                                          : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
            // Each node once, in slot order from `start`.
            std::uint64_t tried = 0;
            static_assert(shm::kMaxNodes <= 64);
            for (std::size_t k = 0; k < n; ++k) {
                std::uint32_t node = replica_slots_[(start + k) % n];
                if (tried & (std::uint64_t{1} << node)) continue;
                tried |= std::uint64_t{1} << node;
                if (pool::Pool* p = fit(node)) return p;
            }
            return nullptr;
        }
        case config::LoadBalance::LeastConnections: {
            // Fewest server connections of this database and user, over all
            // workers, per unit of weight.
            pool::Pool* best = nullptr;
            double best_load = 0;
            for (std::uint32_t node = 0; node < config_.nodes.size(); ++node) {
                if (config_.nodes[node].role == config::NodeRole::Primary || config_.nodes[node].weight == 0) continue;
                pool::Pool* p = fit(node);
                if (p == nullptr) continue;
                auto entry = shm_.pool_index(database, user, config_.nodes[node].name);
                double servers = entry ? shm_.pool(*entry).servers.load(std::memory_order_relaxed) : 0;
                double load = servers / config_.nodes[node].weight;
                if (best == nullptr || load < best_load) {
                    best = p;
                    best_load = load;
                }
            }
            return best;
        }
    }
    return nullptr;
}

void Worker::load_hba() {
    if (config_.auth_type != config::AuthType::Hba) {
        hba_.reset();
        return;
    }
    std::string error;
    auto rules = auth::load_hba_file(config_.auth_hba_file, error);
    if (!rules) {
        log_error("worker %u: auth_hba_file not loaded, keeping the previous rules: %s", index_, error.c_str());
        return;
    }
    hba_ = std::move(rules);
}

void Worker::load_tls() {
    std::string error;
    net::SslCtxPtr clients = net::make_client_side_context(config_.client_tls, error);
    if (!clients && !error.empty())
        log_error("worker %u: client TLS not reloaded, keeping the previous certificate: %s", index_, error.c_str());
    else
        client_tls_ = std::move(clients);
    net::SslCtxPtr servers = net::make_server_side_context(config_.server_tls, error);
    if (!servers && !error.empty())
        log_error("worker %u: server TLS not reloaded, keeping the previous files: %s", index_, error.c_str());
    else
        server_tls_ = std::move(servers);
}

void Worker::load_credentials() {
    if (config_.auth_file.empty()) {
        credentials_.clear();
        return;
    }
    std::string error;
    auto entries = auth::load_auth_file(config_.auth_file, error);
    if (!entries) {
        log_error("worker %u: auth_file not loaded, keeping the previous one: %s", index_, error.c_str());
        return;
    }
    std::unordered_map<std::string, auth::Credentials> next;
    for (auto& [user, secret] : *entries) {
        auth::Credentials c{secret, std::nullopt};
        // A ClientKey learned from a client stays valid while the secret is unchanged.
        auto old = credentials_.find(user);
        if (old != credentials_.end() && old->second.secret == secret) c.client_key = old->second.client_key;
        next.emplace(user, std::move(c));
    }
    credentials_ = std::move(next);
}

int Worker::run() {
    {
        // With the changelist, a write event the relay arms and then
        // withdraws in the same pass (net::write_now) costs no epoll_ctl.
        std::unique_ptr<event_config, decltype(&event_config_free)> cfg(event_config_new(), event_config_free);
        if (cfg) event_config_set_flag(cfg.get(), EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        base_.reset(cfg ? event_base_new_with_config(cfg.get()) : nullptr);
    }
    if (!base_) {
        log_error("event_base_new() failed");
        return 2;
    }
    auth_query_ = std::make_unique<auth::AuthQuery>(base_.get());
    apply_config(std::move(config_));

    for (int sig : {SIGTERM, SIGINT, SIGUSR1}) {
        signal_events_.emplace_back(evsignal_new(base_.get(), sig, on_signal, this));
        event_add(signal_events_.back().get(), nullptr);
    }
    reaper_.reset(event_new(base_.get(), -1, 0, on_reap, this));
    shutdown_timer_.reset(evtimer_new(base_.get(), on_shutdown_deadline, this));
    resume_accept_timer_.reset(evtimer_new(base_.get(), on_resume_accept, this));
    pool_tick_.reset(event_new(base_.get(), -1, EV_PERSIST, on_pool_tick, this));
    // Often enough that a client waiting for a place another worker gives up
    // gets it within a few milliseconds.
    static constexpr timeval kPoolTick{0, 10000};
    event_add(pool_tick_.get(), &kPoolTick);
    timeout_sweep_.reset(event_new(base_.get(), -1, EV_PERSIST, on_timeout_sweep, this));
    static constexpr timeval kTimeoutSweep{0, 500000};
    event_add(timeout_sweep_.get(), &kTimeoutSweep);

    channel_.reset(bufferevent_socket_new(base_.get(), channel_fd_.release(), BEV_OPT_CLOSE_ON_FREE));
    bufferevent_setcb(channel_.get(), on_channel_read, nullptr, on_channel_event, this);
    bufferevent_enable(channel_.get(), EV_READ);

    for (UniqueFd& fd : listen_fds_) {
        // 0: the master already listens with listen_backlog; -1 would listen() again with 128.
        evconnlistener* l = evconnlistener_new(base_.get(), on_accept, this, LEV_OPT_CLOSE_ON_EXEC, 0, fd.get());
        if (l == nullptr) {
            log_error("evconnlistener_new() failed (worker %u)", index_);
            return 2;
        }
        evconnlistener_set_error_cb(l, on_accept_error);
        listeners_.emplace_back(l);
    }
    shm_.worker(index_).config_generation.store(config_generation_, std::memory_order_relaxed);
    shm_.worker(index_).pid.store(getpid(), std::memory_order_release);
    shm_.worker(index_).started_at.store(std::time(nullptr), std::memory_order_relaxed);
    log_info("worker %u started", index_);

    event_base_dispatch(base_.get());

    // Connections still open at a fast shutdown or deadline: close them now.
    clients_ = {};
    auth_query_.reset();
    cancels_ = {};
    servers_ = {};
    pools_.clear();
    removed_pools_.clear();
    log_info("worker %u exiting", index_);
    return exit_code_;
}

void Worker::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int len, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    if (w->shutting_down_) {
        evutil_closesocket(fd);
        w->count_login(false);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    net::SocketAddress address;
    address.length = static_cast<socklen_t>(std::min<std::size_t>(static_cast<std::size_t>(len), sizeof address.storage));
    std::memcpy(&address.storage, addr, address.length);
    w->clients_.add(std::make_unique<ClientConn>(*w, fd, describe_peer(addr, len), address))->start();
}

void Worker::on_accept_error(evconnlistener*, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    int err = EVUTIL_SOCKET_ERROR();
    log_error("accept() failed (worker %u): %s; pausing accepts for a second", w->index_,
              evutil_socket_error_to_string(err));
    for (auto& l : w->listeners_) evconnlistener_disable(l.get());
    evtimer_add(w->resume_accept_timer_.get(), &kAcceptPause);
}

void Worker::on_resume_accept(evutil_socket_t, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    if (w->shutting_down_) return;
    for (auto& l : w->listeners_) evconnlistener_enable(l.get());
}

void Worker::forward_cancel(std::uint32_t pid, std::uint32_t secret, net::BuffereventPtr client) {
    CancelForward* raw = cancels_.add(std::make_unique<CancelForward>(*this, std::move(client)));

    auto target = shm_.begin_cancel(pid, secret);
    if (target && (target->node >= node_addresses_.size() || !node_addresses_[target->node])) {
        shm_.end_cancel(target->slot);
        target.reset();
    }
    if (!target) {
        log_debug("cancel request with an unknown key, or for a client with nothing running, ignored");
        raw->start(nullptr, std::nullopt);
        return;
    }
    std::uint32_t owner = shm_.owner_of_slot(target->slot);
    log_info("cancel forwarded for worker %u by worker %u to node %s", owner, index_,
             config_.nodes[target->node].name.c_str());
    shm_.worker(index_).cancels_forwarded.fetch_add(1, std::memory_order_relaxed);
    raw->start(&*node_addresses_[target->node], protocol::BackendKey{target->backend_pid, target->backend_secret},
               target->slot);
}

void Worker::cancel_backend(const std::optional<net::SocketAddress>& address, const protocol::BackendKey& key) {
    if (key.pid == 0 || !address) return;
    CancelForward* c = cancels_.add(std::make_unique<CancelForward>(*this, nullptr));
    c->start(&*address, key);
}

void Worker::retire(ClientConn* c) {
    if (clients_.retire(c)) event_active(reaper_.get(), 0, 0);
}

void Worker::retire(ServerConn* s) {
    if (servers_.retire(s)) event_active(reaper_.get(), 0, 0);
}

void Worker::retire(CancelForward* c) {
    if (cancels_.retire(c)) event_active(reaper_.get(), 0, 0);
}

void Worker::retire(net::BuffereventPtr bev) {
    retired_connections_.push_back(std::move(bev));
    event_active(reaper_.get(), 0, 0);
}

void Worker::on_reap(evutil_socket_t, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    w->freed_since_trim_ += w->clients_.retired.size();
    w->clients_.retired.clear();
    w->servers_.retired.clear();
    w->cancels_.retired.clear();
    w->retired_connections_.clear();
    w->maybe_finish_shutdown();
}

pool::Pool* Worker::pool_for(const std::string& database, const std::string& user, std::uint32_t node) {
    auto key = std::make_tuple(database, user, node);
    auto it = pools_.find(key);
    if (it != pools_.end()) return it->second.get();
    if (node >= config_.nodes.size()) return nullptr;
    const std::string& name = config_.nodes[node].name;
    auto index = shm_.pool_index(database, user, name);
    auto of_database = shm_.pool_index(database, "", shm::kAllNodes);
    auto of_user = shm_.pool_index("", user, shm::kAllNodes);
    if (!index || !of_database || !of_user) return nullptr;
    auto p = std::make_unique<pool::Pool>(*this, database, user, node, name,
                                          pool::Pool::Entries{*index, *of_database, *of_user},
                                          config_.pool_settings(database, user));
    pool::Pool* raw = p.get();
    pools_.emplace(std::move(key), std::move(p));
    return raw;
}

void Worker::open_server(pool::Pool& pool) {
    Bytes startup;
    protocol::build_startup(startup, {{"user", pool.user()}, {"database", pool.settings().server_database}});
    const auth::Credentials* known = credentials(pool.user());
    auth::ServerLogin login(pool.user(), known != nullptr ? *known : auth::Credentials{});
    ServerConn* s = servers_.add(std::make_unique<ServerConn>(*this, &pool, pool.node(), std::move(login)));
    s->publish_record(pool.user(), pool.database());
    s->start(std::move(startup), nullptr);
}

ServerConn* Worker::open_passthrough_server(Bytes startup, ClientConn* client, std::uint32_t node) {
    ServerConn* s = servers_.add(std::make_unique<ServerConn>(*this, nullptr, node, std::nullopt));
    s->publish_record(client->user(), client->database());
    s->start(std::move(startup), client);
    return s;
}

const auth::Credentials* Worker::listed(const std::string& user) const {
    auto it = credentials_.find(user);
    return it == credentials_.end() ? nullptr : &it->second;
}

const auth::Credentials* Worker::credentials(const std::string& user) const {
    if (const auth::Credentials* c = listed(user)) return c;
    auto it = queried_.find(user);
    return it == queried_.end() ? nullptr : &it->second;
}

void Worker::learn_secret(const std::string& user, const std::string& secret) {
    auth::Credentials& c = queried_[user];
    if (c.secret == secret) return;
    // A ClientKey belongs to the secret it was proven against.
    c = auth::Credentials{secret, std::nullopt};
}

void Worker::forget_secret(const std::string& user) { queried_.erase(user); }

void Worker::remember_client_key(const std::string& user, const std::string& secret, const protocol::ScramKey& key) {
    for (auto* map : {&credentials_, &queried_}) {
        auto it = map->find(user);
        if (it != map->end() && it->second.secret == secret) it->second.client_key = key;
    }
}

void Worker::on_timeout_sweep(evutil_socket_t, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    auto now = pool::Clock::now();
    // After many clients left (a burst of connections is over), the heap
    // they used goes back to the system rather than staying with the worker.
    if (w->freed_since_trim_ >= kTrimAfterClients) {
        w->freed_since_trim_ = 0;
        malloc_trim(0);
    }
    // RECONNECT or KILL from an admin console (of any worker).
    const std::uint64_t controls = w->shm_.controls().generation.load(std::memory_order_acquire);
    const bool controls_changed = controls != w->controls_seen_;
    w->controls_seen_ = controls;
    if (controls_changed)
        for (auto& [key, p] : w->pools_) p->apply_controls();
    w->shm_.worker(w->index_).controls_seen.store(controls, std::memory_order_release);
    // Closing moves objects out of the live maps: walk copies.
    std::vector<ClientConn*> clients;
    clients.reserve(w->clients_.live.size());
    for (auto& entry : w->clients_.live) clients.push_back(entry.first);
    for (ClientConn* c : clients)
        if (c->state() != ClientState::Closed) c->check_timeouts(now, controls_changed);
    std::vector<ServerConn*> servers;
    servers.reserve(w->servers_.live.size());
    for (auto& entry : w->servers_.live) servers.push_back(entry.first);
    for (ServerConn* s : servers)
        if (s->state() != ServerState::Closed) s->check_timeouts(now);
}

void Worker::on_pool_tick(evutil_socket_t, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    auto now = pool::Clock::now();
    // Servers a removed pool closed were collected after the callback that
    // closed them, so a drained pool has no one left to call it.
    std::erase_if(w->removed_pools_, [](const std::unique_ptr<pool::Pool>& p) { return p->drained(); });
    for (auto& [key, p] : w->pools_) p->tick(now);
    w->wake_awaiting();
    w->configure_auth_query();
    if (w->shm_.functions().version() != w->functions_version_) w->load_functions();
    std::erase_if(w->shadows_, [](const std::unique_ptr<ShadowRead>& run) { return run->finished(); });
}

void Worker::on_signal(evutil_socket_t sig, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    switch (sig) {
        case SIGTERM:
            w->begin_shutdown();
            break;
        case SIGINT:
            log_info("worker %u: fast shutdown", w->index_);
            event_base_loopbreak(w->base_.get());
            break;
        case SIGUSR1:
            log_reopen();
            break;
        default:
            break;
    }
}

void Worker::begin_shutdown() {
    if (shutting_down_) return;
    shutting_down_ = true;
    listeners_.clear();
    listen_fds_.clear();
    log_info("worker %u: graceful shutdown, waiting for %zu clients (at most %.0f s)", index_,
             clients_.live.size(), config_.shutdown_timeout);
    timeval tv = to_timeval(config_.shutdown_timeout);
    evtimer_add(shutdown_timer_.get(), &tv);
    maybe_finish_shutdown();
}

void Worker::maybe_finish_shutdown() {
    if (shutting_down_ && clients_.live.empty() && cancels_.live.empty()) event_base_loopbreak(base_.get());
}

void Worker::on_shutdown_deadline(evutil_socket_t, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    log_warning("worker %u: shutdown_timeout reached, closing %zu clients", w->index_, w->clients_.live.size());
    event_base_loopbreak(w->base_.get());
}

void Worker::on_channel_read(bufferevent* bev, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    evbuffer* in = bufferevent_get_input(bev);
    std::string payload;
    while (master::read_channel_frame(in, payload)) {
        std::optional<master::MasterMessage> message = master::decode_master_message(payload);
        if (!message) {
            log_error("worker %u: malformed message from master ignored", w->index_);
            continue;
        }
        if (message->kind == master::MasterMessage::Kind::ReloadAnswer) {
            w->reload_answered(*message);
            continue;
        }
        try {
            w->reconfigure(std::move(message->text));
            w->config_generation_ = message->generation;
            w->shm_.worker(w->index_).config_generation.store(message->generation, std::memory_order_release);
            log_info("worker %u: configuration reloaded", w->index_);
        } catch (const config::ConfigError& e) {
            log_error("worker %u: configuration from master rejected: %s", w->index_, e.what());
        }
    }
}

std::shared_ptr<const Worker::ReloadAnswer> Worker::request_reload() {
    auto answer = std::make_shared<ReloadAnswer>();
    const std::uint64_t number = ++reload_requests_sent_;
    reload_requests_.emplace(number, answer);
    const std::string frame = master::channel_frame(
        master::encode_worker_request({master::WorkerRequest::Kind::Reload, {}, {}, number}));
    bufferevent_write(channel_.get(), frame.data(), frame.size());
    log_info("worker %u: RELOAD from the admin console", index_);
    return answer;
}

void Worker::reload_answered(const master::MasterMessage& message) {
    auto it = reload_requests_.find(message.request);
    if (it == reload_requests_.end()) return;
    std::shared_ptr<ReloadAnswer> answer = it->second.lock();
    reload_requests_.erase(it);
    if (!answer) return;  // the console gave up waiting, or its client left
    answer->answered = true;
    answer->generation = message.generation;
    answer->refusal = message.text;
    // Its console answers now rather than at the next timeout sweep.
    std::vector<ClientConn*> consoles;
    for (auto& entry : clients_.live)
        if (entry.first->state() == ClientState::Admin) consoles.push_back(entry.first);
    for (ClientConn* c : consoles)
        if (c->state() == ClientState::Admin) c->poll_admin();
}

void Worker::reconfigure(std::string text) {
    config::Config c = config::parse_config(text, config_.source);
    config::carry_restart_settings(config_, c);
    log_configure(config::log_target(c, log_quiet()));
    apply_config(std::move(c));
    config_text_ = std::move(text);
}

std::optional<Worker::Refusal> Worker::set_setting(const std::string& key, const std::string& value) {
    if (config::needs_restart(key))
        return Refusal{"55P02", "parameter \"" + key + "\" cannot be changed without restarting pggate"};
    if (value.find_first_of("\r\n") != std::string::npos)
        return Refusal{"22023", "a setting's value is one line"};
    if (!config::is_writable_value(value))
        return Refusal{"22023", "pggate.ini cannot hold this value: no blank at its ends or before a ';'"};
    std::string text = config::with_setting(config_text_, key, value);
    try {
        config::check_reloadable(text, config_.source);
        reconfigure(text);
    } catch (const config::ConfigError& e) {
        return Refusal{"22023", std::string("invalid value for parameter \"") + key + "\": " + e.what()};
    }
    const std::string frame =
        master::channel_frame(master::encode_worker_request({master::WorkerRequest::Kind::Set, key, value, 0}));
    bufferevent_write(channel_.get(), frame.data(), frame.size());
    log_info("worker %u: SET %s = %s from the admin console", index_, key.c_str(), value.c_str());
    return std::nullopt;
}

void Worker::on_channel_event(bufferevent*, short, void* arg) {
    auto* w = static_cast<Worker*>(arg);
    log_warning("worker %u: master is gone, exiting", w->index_);
    event_base_loopbreak(w->base_.get());
}

[[noreturn]] void worker_main(WorkerSetup setup) {
    std::uint32_t index = setup.index;
    log_set_role("worker " + std::to_string(index));
    std::string name = "pggate: w" + std::to_string(index);
    prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
    int code;
    {
        Worker w(std::move(setup));
        code = w.run();
    }
    _exit(code);
}

}  // namespace pggate::session
