// A pool of server connections for one (database, user, node) in one worker:
// idle servers, clients waiting first-come first-served, and the limits on
// server connections kept in shared memory across all workers (per pool, per
// database, per user).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/bytes.hpp"
#include "shm/pool_table.hpp"

namespace pggate::session {
class ClientConn;
class ServerConn;
class Worker;
enum class ServerState;
}  // namespace pggate::session

namespace pggate::pool {

using Clock = std::chrono::steady_clock;
using ParamList = std::vector<std::pair<std::string, std::string>>;

class Pool {
public:
    // The shm entries count the servers of this pool, of its database and of its user.
    struct Entries {
        std::uint32_t pool, database, user;
    };
    Pool(session::Worker& worker, std::string database, std::string user, std::uint32_t node, std::string node_name,
         Entries entries, config::PoolSettings settings);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    const std::string& database() const { return database_; }
    const std::string& user() const { return user_; }
    // The node's place in the running [nodes]; Worker::kNoNode once a reload removed it.
    std::uint32_t node() const { return node_; }
    const std::string& node_name() const { return node_name_; }
    const config::PoolSettings& settings() const { return settings_; }
    // New settings after a reload; servers beyond a smaller size close as they come free.
    // A reload also ends a server_login_retry pause.
    void configure(config::PoolSettings settings);
    // A reload of [nodes] moved the node to place `node`.
    void renumber(std::uint32_t node) { node_ = node; }
    // A reload changed the node's host or port: the servers opened before
    // close, idle ones now and busy ones when they are released.
    void readdress();
    // A reload removed the node: idle servers close now, busy ones when they
    // are released (a transaction on one runs to its end), waiters go
    // elsewhere, and no server opens again.
    void node_removed();
    bool removed() const { return removed_; }
    // Nothing (server, waiter or client) refers to the pool any more.
    bool drained() const;
    // Whether an unused server may close on server_idle_timeout (min_pool_size keeps some).
    bool may_shrink() const;

    // Gives the client an idle server now, or queues it; the client is told
    // through ClientConn::on_server_assigned or ClientConn::on_pool_error.
    void acquire(session::ClientConn* client);
    void cancel_wait(session::ClientConn* client);
    // An idle server for pggate's own use (a shadow read), counted active
    // until release(); nullptr if none is idle, clients wait, or it is due
    // for server_check_query. Never opens a server.
    session::ServerConn* take_idle();
    // Whether acquire() would hand over a server at once.
    bool has_idle() const { return !idle_.empty() && waiting_.empty(); }
    // False while a failed login pauses the pool (server_login_retry).
    bool accepting() const { return !login_paused(Clock::now()); }

    // A client is done with its server: back to idle (after server_reset_query
    // in session mode, or when `reset` says the client left session state on
    // it) or, if it is not clean, closed.
    void release(session::ServerConn* server, bool reset);

    // From ServerConn: logged in or reset, and idle.
    void server_ready(session::ServerConn* server);
    // From ServerConn: login failed with the server's ErrorResponse frame.
    void server_login_failed(session::ServerConn* server, const Bytes& error_frame);
    // From ServerConn's one close path, with the state it was in and why.
    void server_closed(session::ServerConn* server, session::ServerState was, const char* reason);

    // Server parameters a client is welcomed with; empty until one server logged in.
    const ParamList& welcome_params() const { return welcome_; }
    bool has_welcome() const { return have_welcome_; }

    // A logged-in client made this pool its home (the pool of its database
    // and user on the primary, or on the node that welcomed it), or left it.
    void client_joined();
    void client_left();

    // This worker's traffic counters in the pool's shm entry (SHOW STATS).
    shm::PoolOccupancy& counters() const;

    // The admin console's controls of this pool's database, read from shm.
    // RECONNECT or KILL: idle servers opened before it close now, busy ones
    // when they are released. PAUSE: no server is handed to a client (they
    // wait) until RESUME.
    void apply_controls();

    // Periodic: waiting timeouts, capacity freed by other workers, idle
    // servers other workers' clients are waiting for, min_pool_size.
    void tick(Clock::time_point now);

private:
    // Which limit kept a server from being opened.
    enum class Limit { None, Pool, Database, User };

    void open_servers();
    Limit take_place(std::uint32_t pool_limit);
    void give_back_place();
    void open_one();
    bool needs_check(const session::ServerConn* server) const;
    // A connect or login failed: fail the waiters and pause (server_login_retry).
    void login_failed(Bytes error_frame);
    // Waiters that can go to another node do; the others get `error_frame`
    // (or, when it is empty, keep waiting).
    void send_waiters_away(const Bytes& error_frame);
    // The health process marked this pool's node down: no new servers, idle
    // ones closed, waiters sent away.
    void node_down();
    Bytes node_down_error() const;
    Bytes node_removed_error() const;
    // Whether a pause after a failed login, in any worker, still runs.
    bool login_paused(Clock::time_point now) const;
    void hand_over(session::ServerConn* server);
    // Servers opened before `since` close, idle ones now and busy ones when
    // released, saying `reason`.
    void close_older(Clock::time_point since, const char* reason);
    void publish_counts();
    void adjust_starved(Limit level, std::uint32_t add, std::uint32_t remove);
    std::uint32_t entry_for(Limit level) const;
    std::uint32_t limit_of(Limit level) const;
    // How many clients of other pools or workers wait for a place this pool's idle servers hold.
    std::uint32_t others_waiting() const;
    // Those of them held back at `level` (0 while it has room).
    std::uint32_t starved_elsewhere(Limit level) const;
    // Whether one of them should have this pool's next free server's place now.
    bool others_waited_long() const;
    // Whether another worker's client of this pool, held back by its size,
    // has waited since before `since`.
    bool waited_longer_elsewhere(Clock::time_point since) const;

    session::Worker& worker_;
    std::string database_;
    std::string user_;
    std::uint32_t node_;
    std::string node_name_;
    bool removed_ = false;
    Entries entries_;
    Clock::time_point reconnect_before_{};  // servers opened before this close when free
    const char* reconnect_reason_ = "";
    config::PoolSettings settings_;
    bool paused_;  // PAUSE of its database
    std::deque<std::pair<session::ClientConn*, Clock::time_point>> waiting_;
    std::vector<session::ServerConn*> idle_;
    std::uint32_t connecting_ = 0;  // servers logging in, resetting or being checked
    std::uint32_t active_ = 0;
    std::uint32_t clients_ = 0;  // whose home this pool is (client_joined)
    // This pool's waiters with no server on its way, published in the
    // starved count of the entry whose limit stopped them.
    std::uint32_t published_starved_ = 0;
    Limit published_level_ = Limit::None;
    Limit blocked_by_ = Limit::None;
    // After a failed connect or login, new servers wait until the pause ends
    // (published in shm for all workers) and clients arriving meanwhile get
    // the failure at once: the server's own when this worker saw it.
    Clock::time_point retry_at_{};
    // Failed connects in a row (server_connect_retries), and when the next
    // attempt may start.
    std::uint32_t connect_failures_ = 0;
    Clock::time_point reconnect_at_{};
    Bytes last_failure_;
    Bytes login_error_;  // the server's answer to a failed login, until the close reports it
    ParamList welcome_;
    bool have_welcome_ = false;
};

}  // namespace pggate::pool
