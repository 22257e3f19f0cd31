// A worker process: one libevent loop that accepts clients from the shared
// listening sockets, runs their sessions, forwards cancel requests, and
// follows the master's orders (new configuration, shutdown).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "auth/auth_query.hpp"
#include "auth/credentials.hpp"
#include "auth/hba.hpp"
#include "config/config.hpp"
#include "core/bytes.hpp"
#include "protocol/messages.hpp"
#include "core/fd.hpp"
#include "master/channel.hpp"
#include "net/address.hpp"
#include "net/event_ptr.hpp"
#include "net/tls.hpp"
#include "route/classifier.hpp"
#include "route/primary.hpp"
#include "session/inert_texts.hpp"
#include "session/prepared.hpp"
#include "session/shadow_read.hpp"
#include "shm/segment.hpp"

namespace pggate::pool {
class Pool;
}

namespace pggate::session {

class ClientConn;
class ServerConn;
class CancelForward;

// Objects a worker owns, freed only after the callback that retired them.
template <typename T>
struct Owned {
    std::unordered_map<T*, std::unique_ptr<T>> live;
    std::vector<std::unique_ptr<T>> retired;

    T* add(std::unique_ptr<T> p) {
        T* raw = p.get();
        live.emplace(raw, std::move(p));
        return raw;
    }
    bool retire(T* p) {
        auto it = live.find(p);
        if (it == live.end()) return false;
        retired.push_back(std::move(it->second));
        live.erase(it);
        return true;
    }
};

struct WorkerSetup {
    std::uint32_t index = 0;
    config::Config config;
    std::string config_text;  // what `config` was parsed from
    std::uint64_t config_generation = 0;  // the master's number of `config`
    shm::Segment shm;
    std::vector<UniqueFd> listen_fds;  // this worker's TCP sockets and the shared Unix socket
    UniqueFd channel;                  // to the master; EOF means the master is gone
};

class Worker {
public:
    explicit Worker(WorkerSetup setup);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Runs the loop until shutdown; returns the process exit code.
    int run();

    event_base* base() const { return base_.get(); }
    const config::Config& config() const { return config_; }

    // SET of [pggate] setting `key` from the admin console: checked as the
    // master checks it, applied here at once and sent to the master, which
    // gives every child the result. Returns the refusal (SQLSTATE, message).
    struct Refusal {
        std::string sqlstate, message;
    };
    std::optional<Refusal> set_setting(const std::string& key, const std::string& value);
    // RELOAD from the admin console: the master reads the file again. The
    // answer is filled in when the master's comes, which is after the new
    // configuration (if any) runs in this worker.
    struct ReloadAnswer {
        bool answered = false;
        std::uint64_t generation = 0;  // the configuration the reload made; 0: refused
        std::string refusal;           // why, as the master logged it
    };
    std::shared_ptr<const ReloadAnswer> request_reload();
    const shm::Segment& shm() const { return shm_; }
    std::uint32_t index() const { return index_; }
    // The node that takes writes now: from the health process's samples
    // (role=auto nodes follow promotions), else the configuration.
    route::PrimaryChoice primary() const;
    // Why writes cannot go anywhere now (choice.outcome is not Node).
    std::string primary_refusal(const route::PrimaryChoice& choice) const;
    // A client whose write waits until some node is the primary (no node is
    // known to be one); told through ClientConn::on_primary_known or, after
    // query_wait_timeout, on_pool_error.
    void await_primary(ClientConn* client);
    void cancel_await(ClientConn* client);
    // A node the health process last saw up (replicas first), kNoNode if none.
    std::uint32_t up_node() const;
    // Whether the health process marked `node` down.
    bool node_down(std::uint32_t node) const { return node_sample(node).health == shm::NodeHealth::Down; }
    // Asks the health process to check `node` now (a connection to it failed).
    void request_check(std::uint32_t node) {
        if (node < config_.nodes.size()) shm_.node(node).check_requests.fetch_add(1, std::memory_order_relaxed);
    }
    const config::Node& node(std::uint32_t i) const { return config_.nodes[i]; }
    const std::optional<net::SocketAddress>& node_address(std::uint32_t i) const { return node_addresses_[i]; }
    std::uint32_t next_connection_id() { return ++connection_ids_; }
    std::uint32_t random_secret();

    // A cancel slot in shm for a new client; nullopt when this worker has none left.
    std::optional<std::uint32_t> take_slot();
    void give_slot(std::uint32_t slot);
    // The same for the shm records of server connections (SHOW SERVERS).
    std::optional<std::uint32_t> take_server_slot();
    void give_server_slot(std::uint32_t slot) { free_server_slots_.push_back(slot); }

    // Forwards a client's CancelRequest to the backend its key leads to, whichever
    // worker owns that client. `client` is the requester's connection, closed
    // once the server has taken the request.
    void forward_cancel(std::uint32_t pid, std::uint32_t secret, net::BuffereventPtr client);

    // Cancels whatever the backend with `key` at `address` is running (for a
    // server connection pggate abandons mid-query).
    void cancel_backend(const std::optional<net::SocketAddress>& address, const protocol::BackendKey& key);

    // Collects a finished connection or cancel after the current callback returns.
    void retire(ClientConn* c);
    void retire(ServerConn* s);
    void retire(CancelForward* c);
    // A connection a ServerConn gave up for another (libpq's second try).
    void retire(net::BuffereventPtr bev);

    // The pool of (database, user, node); nullptr when the shared pool table is full.
    pool::Pool* pool_for(const std::string& database, const std::string& user, std::uint32_t node);
    // Opens a pooled server connection that logs in with the pool user's credentials.
    void open_server(pool::Pool& pool);
    // Opens a server connection that `client` logs in to itself (pass-through).
    ServerConn* open_passthrough_server(Bytes startup, ClientConn* client, std::uint32_t node);

    // The user's auth_file entry (nullptr: not listed).
    const auth::Credentials* listed(const std::string& user) const;
    // What pggate logs in to servers as `user` with: the auth_file entry, else
    // the secret auth_query found last (nullptr: neither).
    const auth::Credentials* credentials(const std::string& user) const;
    // auth_query's answer for a user the auth_file does not list.
    void learn_secret(const std::string& user, const std::string& secret);
    void forget_secret(const std::string& user);
    // A ClientKey recovered from a client's SCRAM proof against `secret`;
    // kept only while that is still the user's secret.
    void remember_client_key(const std::string& user, const std::string& secret, const protocol::ScramKey& key);
    auth::AuthQuery& auth_query() { return *auth_query_; }
    // The auth_hba_file rules (auth_type = hba); nullptr if none could be loaded.
    const auth::HbaRules* hba() const { return hba_ ? &*hba_ : nullptr; }
    // TLS toward clients and toward the nodes; nullptr: that side is off.
    SSL_CTX* client_tls() const { return client_tls_.get(); }
    SSL_CTX* server_tls() const { return server_tls_.get(); }
    StatementRegistry& statements() { return statements_; }
    InertTexts& inert_texts() { return inert_texts_; }

    // Read/write splitting: what a statement text does (cached per worker).
    const route::Classification& classify(std::string_view sql) { return classifications_.classify(sql, functions_); }
    bool has_replicas() const { return !replica_slots_.empty(); }
    // The pool of the replica a read of (database, user) goes to next, by
    // load_balance and weight, among those fit for it: up, within
    // max_replica_lag, past `min_lsn` (0: any), and accepting. nullptr when
    // none is; `none_fit` then says whether that is so even without min_lsn.
    // `avoid` is a node a read just failed on (kNoNode: none).
    static constexpr std::uint32_t kNoNode = shm::kMaxNodes;
    pool::Pool* replica_pool(const std::string& database, const std::string& user, std::uint64_t min_lsn,
                             bool& none_fit, std::uint32_t avoid = kNoNode);
    // Shadow reads: whether this read is one (shadow_reads percent), and a
    // new one, owned by the worker until both its sides are done with it.
    bool shadows_next_read() {
        return config_.shadow_reads > 0 && std::uniform_int_distribution<int>(0, 99)(rng_) < config_.shadow_reads;
    }
    ShadowRead& add_shadow(std::unique_ptr<ShadowRead> run);
    // What the health process last published of a node (a default sample
    // while the entry describes another node or none yet).
    shm::NodeSample node_sample(std::uint32_t node) const;

    // Traffic counters, in this worker's own slot of shm (shm/stats.hpp).
    // A client welcomed once logged in (accepted), or refused before that.
    void count_login(bool accepted);
    // An ErrorResponse pggate sends a client: its SQLSTATE, or the whole frame.
    void count_error(std::string_view sqlstate);
    void count_error_frame(std::span<const std::uint8_t> frame);
    // A statement `node` answered (its ReadyForQuery) after `ns`; the route
    // is the node's role now.
    void count_statement(std::uint32_t node, std::int64_t ns, bool transaction_ended);
    void count_pool_wait(std::int64_t ns) { shm_.stats(index_).pool_wait.observe(ns); }
    shm::PreparedStats& prepared_stats() { return shm_.stats(index_).prepared; }

private:
    static void on_accept(evconnlistener* l, evutil_socket_t fd, sockaddr* addr, int len, void* arg);
    static void on_accept_error(evconnlistener* l, void* arg);
    static void on_signal(evutil_socket_t sig, short events, void* arg);
    static void on_channel_read(bufferevent* bev, void* arg);
    static void on_channel_event(bufferevent* bev, short events, void* arg);
    static void on_reap(evutil_socket_t, short, void* arg);
    static void on_shutdown_deadline(evutil_socket_t, short, void* arg);
    static void on_resume_accept(evutil_socket_t, short, void* arg);
    static void on_pool_tick(evutil_socket_t, short, void* arg);
    static void on_timeout_sweep(evutil_socket_t, short, void* arg);

    void apply_config(config::Config config);
    // A reload's new [nodes] (already in config_) against the `running` one:
    // pools, servers and counters follow their node to its new place; those
    // of a removed or readdressed node close as they come free.
    void follow_nodes(const std::vector<config::Node>& running);
    // Parses configuration text the master sent (or a SET made of it) and
    // runs with it; throws config::ConfigError.
    void reconfigure(std::string text);
    void reload_answered(const master::MasterMessage& answer);
    // auth_query asks the primary: it follows promotions.
    void configure_auth_query();
    void wake_awaiting();
    void load_credentials();
    void load_hba();
    // Certificates and keys are read again at every reload; a file that
    // cannot be used keeps the running context.
    void load_tls();
    // read_only_functions and the names the health process learned.
    void load_functions();
    void begin_shutdown();
    void maybe_finish_shutdown();

    std::uint32_t index_;
    config::Config config_;
    std::string config_text_;
    std::uint64_t config_generation_;
    // RELOADs sent to the master, by number, while their console waits.
    std::unordered_map<std::uint64_t, std::weak_ptr<ReloadAnswer>> reload_requests_;
    std::uint64_t reload_requests_sent_ = 0;
    shm::Segment shm_;
    std::vector<UniqueFd> listen_fds_;
    UniqueFd channel_fd_;
    std::vector<std::optional<net::SocketAddress>> node_addresses_;
    // primary()'s copy of the node samples, kept between calls: it runs for
    // every transaction that goes to the primary.
    mutable std::vector<shm::NodeSample> primary_samples_;
    std::uint32_t auth_query_node_ = kNoNode;  // where auth_query was last pointed

    net::EventBasePtr base_;
    std::vector<net::ListenerPtr> listeners_;
    std::vector<net::EventPtr> signal_events_;
    net::BuffereventPtr channel_;
    net::EventPtr reaper_;
    net::EventPtr shutdown_timer_;
    net::EventPtr resume_accept_timer_;
    net::EventPtr pool_tick_;
    net::EventPtr timeout_sweep_;

    // Before the clients: one waiting for a lookup cancels it when freed.
    std::unique_ptr<auth::AuthQuery> auth_query_;
    Owned<ClientConn> clients_;
    Owned<ServerConn> servers_;
    Owned<CancelForward> cancels_;
    std::vector<net::BuffereventPtr> retired_connections_;
    std::map<std::tuple<std::string, std::string, std::uint32_t>, std::unique_ptr<pool::Pool>> pools_;
    // Pools of nodes a reload removed, until nothing refers to them (pool tick).
    std::vector<std::unique_ptr<pool::Pool>> removed_pools_;
    std::unordered_map<std::string, auth::Credentials> credentials_;
    std::optional<auth::HbaRules> hba_;
    net::SslCtxPtr client_tls_;
    net::SslCtxPtr server_tls_;
    // Secrets auth_query found, kept past the cache's TTL for server logins.
    std::unordered_map<std::string, auth::Credentials> queried_;
    StatementRegistry statements_;
    InertTexts inert_texts_;
    route::FunctionCatalog functions_;
    std::uint32_t functions_version_ = 0;  // of the learned names in functions_
    std::uint64_t controls_seen_ = 0;      // shm controls().generation last acted on
    // Clients freed since the heap was last trimmed (on the timeout sweep).
    std::size_t freed_since_trim_ = 0;
    static constexpr std::size_t kTrimAfterClients = 1000;
    route::ClassificationCache classifications_;
    // Replica nodes, each as often as its weight (for weighted choice), and
    // where round_robin goes next.
    std::vector<std::uint32_t> replica_slots_;
    std::size_t next_replica_ = 0;
    std::vector<std::uint64_t> node_idents_;  // shm::node_ident of each node
    std::vector<std::unique_ptr<ShadowRead>> shadows_;
    std::vector<std::pair<ClientConn*, std::int64_t>> awaiting_primary_;  // since (steady ns)
    std::vector<std::uint32_t> free_slots_;
    std::vector<std::uint32_t> free_server_slots_;
    std::uint32_t connection_ids_ = 0;
    std::mt19937 rng_;
    bool shutting_down_ = false;
    int exit_code_ = 0;
};

// Entry point of a forked worker process; never returns.
[[noreturn]] void worker_main(WorkerSetup setup);

}  // namespace pggate::session
