// One connection to a PostgreSQL server. Pooled, it logs in by itself with
// the user's credentials, waits idle in its pool, serves one linked client at
// a time and is reset between clients. Passed through, it belongs to one
// client from the start and that client drives the login.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "auth/client_auth.hpp"
#include "core/bytes.hpp"
#include "config/config.hpp"
#include "net/address.hpp"
#include "net/event_ptr.hpp"
#include "net/frame_scan.hpp"
#include "pool/pool.hpp"
#include "protocol/messages.hpp"
#include "protocol/sync_tracker.hpp"
#include "session/prepared.hpp"
#include "session/session_sets.hpp"

namespace pggate::session {

class ClientConn;
class ShadowRead;
class Worker;

// Output queued toward one side beyond which reading from the other stops;
// reading resumes when the queue drains below half of it.
constexpr std::size_t kRelayHighWater = 256 * 1024;

enum class ServerState {
    Connecting,
    Login,      // pooled: authenticating with the user's credentials
    Idle,       // in its pool
    Active,     // linked to a client (pass-through servers are linked from the start)
    Resetting,  // running server_reset_query
    Testing,    // running server_check_query before serving a client
    Shadow,     // running a shadow read (no client; its answer is only compared)
    Closed,
};

class ServerConn {
public:
    // `pool` is null for a pass-through server; `login` carries the
    // credentials a pooled server logs in with.
    ServerConn(Worker& worker, pool::Pool* pool, std::uint32_t node, std::optional<auth::ServerLogin> login);
    ~ServerConn();
    ServerConn(const ServerConn&) = delete;
    ServerConn& operator=(const ServerConn&) = delete;

    // Connects and sends `startup`. A pass-through server is linked to
    // `client` at once.
    void start(Bytes startup, ClientConn* client);

    void link(ClientConn* client);
    // Back to the pool's hands: idle, reading again.
    void unlink();
    // Forgets the client without a state change, so closing does not call it back.
    void detach_client() { client_ = nullptr; }
    void reset(const std::string& query);
    // Runs server_check_query; the pool gets the server back through server_ready.
    void check(const std::string& query);
    // Taken idle from its pool for a shadow read: runs `prefix` (if any)
    // and the client's `segment`, reporting every answer message to `run`.
    void run_shadow(ShadowRead* run, const std::string& prefix, const Bytes& segment);
    // The shadow read is answered: back to the pool.
    void end_shadow();
    // Sends a simple Query pggate itself answers for (its replies never reach a client).
    void send_query(std::string_view sql);
    // The one close path: tells the pool and a linked client.
    void disconnect(const char* reason);
    // Closes the server if it overstayed a connect, idle or lifetime limit.
    void check_timeouts(pool::Clock::time_point now);

    ServerState state() const { return state_; }
    // The pool it belongs to; null for a pass-through server.
    pool::Pool* pool() const { return pool_; }
    pool::Clock::time_point created_at() const { return created_at_; }
    pool::Clock::time_point state_since() const { return state_since_; }
    std::uint32_t id() const { return id_; }
    // The node's place in the running [nodes]; Worker::kNoNode once a reload removed it.
    std::uint32_t node() const { return node_; }
    const std::string& node_name() const { return node_config_.name; }
    // A reload of [nodes] moved its node to place `node` (or removed it).
    void renumber(std::uint32_t node);
    bufferevent* bev() const { return bev_.get(); }
    net::ScanState& scan() { return scan_; }
    protocol::SyncTracker& tracker() { return tracker_; }
    ServerStatements& statements() { return statements_; }
    // The session-level SETs pggate knows this server carries.
    SetMap& sets() { return sets_; }
    const protocol::BackendKey& backend_key() const { return key_; }
    void set_backend_key(protocol::BackendKey key) {
        key_ = key;
        publish_activity();
    }
    // SHOW SERVERS: this server's shm record (who it logs in as, where),
    // then at each change what its state says.
    void publish_record(std::string_view user, std::string_view database);
    const pool::ParamList& params() const { return params_; }
    void note_param(std::span<const std::uint8_t> body);

private:
    static void on_read(bufferevent*, void* arg);
    static void on_write(bufferevent*, void* arg);
    static void on_event(bufferevent*, short events, void* arg);

    void set_state(ServerState next);
    // Opens the TCP connection (again, for libpq's second try).
    void connect();
    // Sends the StartupMessage once the connection is up (and TLS agreed).
    void send_startup();
    // libpq's second try: server_tls_sslmode = allow tried without TLS and
    // `refusal` is why the server refused, or prefer tried with TLS and the
    // handshake failed or the server refused. True when a new connection
    // the other way has begun (the current one is dropped).
    bool retry_other_way(const std::string& refusal);
    // The login went too far for a second try: the startup is not needed again.
    void no_second_try();
    // After a second try: what the first try met, appended to the refusal
    // the client gets ("" when there was no second try).
    std::string first_try_note() const;
    // `frame`, an ErrorResponse, with first_try_note() added to its message.
    Bytes with_first_try(std::span<const std::uint8_t> frame) const;
    // Pass-through: holds the server's first answer back from the client
    // until it is known not to be a refusal a second try may overcome.
    // True while it is held (incomplete, or a second try began).
    bool hold_first_answer();
    // The one-byte answer to pggate's SSLRequest: 'S' starts the handshake.
    void read_tls_answer();
    // TLS could not be had as server_tls_sslmode asks: the connection fails
    // like a login (pooled) or closes its client (pass-through).
    void fail_tls(const std::string& why);
    void publish_activity();
    // Messages of a server with no client: login, reset, or stray ones while idle.
    void read_own();
    void handle_own(char type, std::span<const std::uint8_t> body, std::span<const std::uint8_t> frame);

    Worker& worker_;
    pool::Pool* pool_;
    std::uint32_t node_;
    // The node as it was when the connection opened: a reload that readdresses
    // or removes it leaves this connection talking to (and cancelling on) the
    // server it logged in to, until it closes.
    config::Node node_config_;
    std::optional<net::SocketAddress> address_;
    std::uint32_t id_;
    ServerState state_ = ServerState::Connecting;
    std::optional<auth::ServerLogin> login_;
    net::BuffereventPtr bev_;
    // TLS toward the server: not used, SSLRequest sent, handshake running, on.
    enum class Tls { None, Asked, Handshake, On } tls_ = Tls::None;
    // Whether this connection asks for TLS; whether libpq's second try (the
    // other way, for allow and prefer) is still to come; what the first try
    // met, once it was made.
    bool try_tls_ = false;
    bool second_try_left_ = false;
    std::string first_try_;
    // Pass-through: the server has not answered the startup yet.
    bool first_answer_pending_ = false;
    ClientConn* client_ = nullptr;
    ShadowRead* shadow_ = nullptr;
    Bytes startup_;
    net::ScanState scan_;
    protocol::SyncTracker tracker_;
    ServerStatements statements_;
    SetMap sets_;
    protocol::BackendKey key_;
    pool::ParamList params_;
    pool::Clock::time_point created_at_ = pool::Clock::now();
    pool::Clock::time_point state_since_ = created_at_;
    std::optional<std::uint32_t> record_;  // its shm::ServerRecord, while a place is free
};

}  // namespace pggate::session
