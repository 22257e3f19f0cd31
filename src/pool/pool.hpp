// A pool of server connections for one (database, user, node) in one worker:
// idle servers, clients waiting first-come first-served, and the global limit
// on server connections kept in shared memory across all workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.hpp"

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
    Pool(session::Worker& worker, std::string database, std::string user, std::uint32_t node, std::uint32_t shm_index);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    const std::string& database() const { return database_; }
    const std::string& user() const { return user_; }
    std::uint32_t node() const { return node_; }

    // Gives the client an idle server now, or queues it; the client is told
    // through ClientConn::on_server_assigned or ClientConn::on_pool_error.
    void acquire(session::ClientConn* client);
    void cancel_wait(session::ClientConn* client);
    // Whether acquire() would hand over a server at once.
    bool has_idle() const { return !idle_.empty() && waiting_.empty(); }

    // A client is done with its server: back to idle (after server_reset_query
    // in session mode, or when `reset` says the client left session state on
    // it) or, if it is not clean, closed.
    void release(session::ServerConn* server, bool reset);

    // From ServerConn: logged in or reset, and idle.
    void server_ready(session::ServerConn* server);
    // From ServerConn: login failed with the server's ErrorResponse frame.
    void server_login_failed(session::ServerConn* server, const Bytes& error_frame);
    // From ServerConn's one close path, with the state it was in.
    void server_closed(session::ServerConn* server, session::ServerState was);

    // Server parameters a client is welcomed with; empty until one server logged in.
    const ParamList& welcome_params() const { return welcome_; }
    bool has_welcome() const { return have_welcome_; }

    // Periodic: waiting timeouts, capacity freed by other workers, idle
    // servers other workers' clients are waiting for.
    void tick(Clock::time_point now);

private:
    void open_servers();
    void hand_over(session::ServerConn* server);
    void publish_counts();
    std::uint32_t others_waiting() const;

    session::Worker& worker_;
    std::string database_;
    std::string user_;
    std::uint32_t node_;
    std::uint32_t shm_index_;
    std::deque<std::pair<session::ClientConn*, Clock::time_point>> waiting_;
    std::vector<session::ServerConn*> idle_;
    std::uint32_t servers_ = 0;     // places taken in shm by this worker
    std::uint32_t connecting_ = 0;  // of those, still logging in
    std::uint32_t active_ = 0;
    std::uint32_t published_starved_ = 0;  // this worker's share of the shm starved count
    ParamList welcome_;
    bool have_welcome_ = false;
};

}  // namespace pggate::pool
