// One client connection: startup packets, authentication (by pggate with an
// auth source, else passed through to a server of its own), then the relay to
// whichever server its pool lends it, with backpressure both ways.
#pragma once

#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <span>
#include <string>

#include "admin/console.hpp"
#include "auth/client_auth.hpp"
#include "auth/lookup_table.hpp"
#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "net/address.hpp"
#include "net/event_ptr.hpp"
#include "net/frame_scan.hpp"
#include "pool/pool.hpp"
#include "session/client_params.hpp"
#include "session/prepared.hpp"
#include "session/sql_prepared.hpp"
#include "session/session_sets.hpp"
#include "session/worker.hpp"
#include "shm/client_table.hpp"

namespace pggate::session {

class ServerConn;
class ShadowRead;
class Worker;

enum class ClientState {
    Startup,   // reading SSLRequest / StartupMessage / CancelRequest
    Lookup,    // auth_query is finding the secret of a user the auth_file does not list
    Auth,      // pggate is checking the client's password
    Login,     // pass-through: the server is authenticating the client
    Idle,      // logged in, no server (between transactions)
    Waiting,   // queued in its pool for a server
    Active,    // linked to a server: everything streams both ways
    Admin,     // logged in to the admin console (database "pggate")
    Flushing,  // sending last bytes (an error) before closing
    Closed,    // retired; freed after the current callback
};

class ClientConn {
public:
    // `peer` names the client in logs; `address` is where it connects from
    // (AF_UNIX for the Unix socket).
    ClientConn(Worker& worker, evutil_socket_t fd, std::string peer, net::SocketAddress address);
    ~ClientConn();
    ClientConn(const ClientConn&) = delete;
    ClientConn& operator=(const ClientConn&) = delete;

    // Once the worker owns it: counts the connection among those logging in
    // (max_login_clients) until it has logged in or gone, or refuses it.
    void start();

    ClientState state() const { return state_; }
    const std::string& user() const { return user_; }
    const std::string& database() const { return database_; }
    // The id SHOW CLIENTS shows (its cancel key pid); 0 before it has one.
    std::uint32_t key_pid() const { return slot_ ? worker_.shm().key_pid(*slot_) : 0; }

    // The one path every failure and normal end takes.
    void disconnect(const char* reason);
    // A reload renumbered its server's node: a cancel request (which finds
    // the node by its place) must reach that server still.
    void republish_backend();

    // From the pool.
    void on_server_assigned(ServerConn* server);
    void on_pool_error(const char* sqlstate, const std::string& message);
    void on_pool_error(const Bytes& error_frame);
    // `failed` (a replica's pool) cannot connect: a client waiting there to
    // read, which has sent it nothing yet, waits in another pool instead.
    // False if the client has nowhere else to go.
    bool reroute_from(pool::Pool* failed);
    // From the worker: the client waited for a primary (await_primary) and
    // there is one now, or a refusal to give it.
    void on_primary_known();
    // From the worker: no primary came within query_wait_timeout. A session
    // gets an ERROR for the statements that waited and goes on (its reads
    // still have replicas); a login still waiting is refused.
    void on_primary_wait_timeout(const std::string& message);
    // An admin console command that waits (PAUSE, RELOAD): finished if it is
    // done. The timeout sweep calls it, and the worker when an answer came.
    void poll_admin();

    // Ends the client if it overstayed one of its timeouts, or the admin
    // console killed it (KILL_CLIENT; KILL of its database, looked at when
    // `controls_changed`).
    void check_timeouts(pool::Clock::time_point now, bool controls_changed);

    // From the linked server.
    void on_server_connected();
    void on_server_readable();
    void on_server_writable();
    void on_server_closed(const char* why);

private:
    enum class RouteMode { Auto, Primary, Replica };
    enum class Side { Client, Server };

    static void on_read(bufferevent*, void* arg);
    static void on_write(bufferevent*, void* arg);
    static void on_event(bufferevent*, short events, void* arg);
    static void on_flush_deadline(evutil_socket_t, short, void* arg);

    void set_state(ClientState next);
    // SHOW CLIENTS: the shared record of this client (all of it, or at each
    // state change what the state says).
    shm::ClientActivity activity() const;
    // SHOW STATS: a statement's ReadyForQuery, counted in its server's pool.
    void count_pool_statement(pool::Clock::time_point now, bool transaction_ended);
    void publish_client();
    // Over max_login_clients: the StartupMessage is answered with 53300.
    void refuse_over_login_cap();
    // TLS agreed (`direct`: the client began with a ClientHello, no
    // SSLRequest): bev_ becomes a TLS bufferevent over the socket.
    void start_tls(bool direct);
    void on_tls_ready();
    void read_startup();
    void take_startup_settings(const std::vector<std::pair<std::string, std::string>>& params);
    void begin_login();
    // Read/write splitting (transaction pooling): the pool the client's next
    // transaction or pipeline segment goes to, from what its buffered input
    // does; the primary's unless all of it may run on a replica. With
    // `may_refuse` and replica_fallback = error, a read no replica is fit for
    // is answered with an error here instead (nullptr).
    // A read that failed on node `avoid` before its answer began goes
    // elsewhere. nullptr also when the client now waits for a primary, and
    // (with `partial` set) when what has come of the segment only reads and
    // the rest is still on its way: drivers that write a segment's messages
    // one by one would otherwise send every read to the primary.
    pool::Pool* route_next(bool may_refuse = true, std::uint32_t avoid = Worker::kNoNode, bool* partial = nullptr);
    // The pool of the node that takes writes now (pool_ follows it); nullptr
    // when there is none: `sqlstate` and `refusal` say why, or `refusal` is
    // empty when no node is known to be the primary yet.
    pool::Pool* primary_pool(const char*& sqlstate, std::string& refusal);
    // primary_pool for the next segment: a refusal answers the segment with
    // an error, no primary makes the client wait for one (both: nullptr).
    // The admin console (session/admin_session.cpp).
    void begin_admin_login();
    void begin_admin_session();
    void read_admin();

    pool::Pool* writer_pool();
    // The pool the client counts in (SHOW POOLS cl_active); nullptr: none.
    void set_home_pool(pool::Pool* home);
    void await_primary();
    // Queues the client in `target` for a server.
    void wait_in(pool::Pool* target);
    // Leaves the pool queue or the wait for a primary.
    void stop_waiting();
    // After authentication: the primary's pool, and the welcome.
    void begin_session();
    // Answers the client's next segment (a Query, or messages through Sync)
    // with an error and ReadyForQuery without running it; false while the
    // segment is not wholly buffered yet.
    bool refuse_segment(const char* sqlstate, const std::string& message);
    // The length of the client's next segment if all of it is buffered, else 0.
    std::size_t buffered_segment_length();
    // The linked server died before the answer to the read it was given
    // began: the read goes to another node. False when that cannot be.
    bool retry_read(std::uint32_t failed_node, const std::string& failed_name);
    // The linked server died between messages of an unpinned transaction-
    // pooled client: its transaction (if it had one, or had sent part of a
    // request) is gone, the session goes on.
    void lose_transaction(std::uint32_t outstanding, bool in_transaction, const std::string& cause);
    // A replica that dies after answering a read in full, all but its
    // ReadyForQuery: the client gets that ReadyForQuery from pggate.
    bool finish_read(std::uint32_t outstanding);
    bool splits_reads() const;
    // The client's next segment, as scan_next_segment finds it.
    struct Segment {
        std::size_t length = 0;
        std::string_view statement;  // the first statement's text
        bool uses_named = false;     // prepares or binds a named statement
        bool parses_named = false;   // prepares one
        std::uint32_t completions = 0;  // the replies that end its statements (C, I or s)
    };
    enum class SegmentScan { Reads, Writes, Partial };
    // Partial: only reads so far, and neither its end nor a Flush has come.
    SegmentScan scan_next_segment(Segment& segment);
    bool reads_only(std::string_view sql);
    // Remembers that the client sent something that may write, and when its
    // transaction ends, so its later reads see it (read_your_writes).
    void note_write(std::string_view sql);
    void note_transaction_end();
    // Shadow reads: route_next keeps a copy of a read picked for one, which
    // starts once the read has its server from `served`.
    void plan_shadow(std::size_t length, std::string_view statement);
    void start_shadow(pool::Pool* served);
    pool::Pool* shadow_target(pool::Pool* served);
    // The Query that gives `server` this client's parameters and SETs
    // (empty: it has them); the server counts as having them from now.
    std::string session_state_query(ServerConn& server);
    // A Query that only sets or resets pggate.route: answered here with
    // `status` in its ReadyForQuery. False for any other text.
    bool answer_route_setting(std::string_view sql, char status);
    static bool parse_route_mode(std::string_view value, RouteMode& mode);
    // auth_type_ from the configuration or, for hba, the first matching rule;
    // false after refusing the client.
    bool choose_auth_method();
    void on_lookup(const auth::LookupResult& answer);
    // `known` is the user's secret (nullptr: an unknown user).
    void begin_auth(const auth::Credentials* known);
    void read_auth();
    void finish_auth();
    void send_welcome(const pool::ParamList& server_params);
    // Brings a newly linked server to the client's parameters.
    void sync_params();
    void read_idle();
    void pump(Side from);
    // A message the relay reads whole; returns true if it goes on to the peer unchanged.
    bool handle_message(Side from, char type, std::span<const std::uint8_t> body);
    bool swallow(char type, std::span<const std::uint8_t> body);
    // Returns whether a committed RESET left the server on its own defaults.
    bool server_ready_for_query(char status);
    // Records the session-state operations of `sql`: at once for an unnamed
    // statement or a Query, at each Bind (note_bind) for a named statement.
    // Returns whether `sql` has any.
    bool note_session_ops(std::string_view sql, const route::LexResult& lexed, std::string_view statement_name);
    void note_bind(std::string_view statement_name);
    // After a segment that reset parameters: the client is told its
    // connect-time values and the server is brought back to them.
    void restore_reset_params();
    // Transaction pooling renames named statements per server: Parse, Bind,
    // Describe and Close are read whole and sent on rewritten; returns true
    // when the message goes on unchanged.
    bool rewrites_statements() const;
    bool forward_extended(char type, std::span<const std::uint8_t> body);
    void ensure_prepared(const StatementPtr& stmt);
    // Closes the server's least recently used statement beyond max_prepared_statements.
    void evict_prepared(std::uint64_t segment);
    // A Parse, whether a server gets it now or later: its statement pins the
    // client at once if it has to, wherever it will run.
    void note_parse(std::string_view name, std::string_view sql, bool malformed);
    // Prepares a trivial statement under `stmt`'s server name, for a
    // DEALLOCATE of it on a server that lacks it: its own text may no longer
    // parse there (written in a client_encoding the client has left since,
    // naming a table dropped since), yet PostgreSQL's DEALLOCATE never fails
    // for that.
    void prepare_stand_in(const StatementPtr& stmt);
    // An idle client's Parse messages and Sync answered without a server:
    // statements a server accepted before, or (`unvalidated`, when the pool
    // has no idle server) any statement, prepared on a server at first use so
    // that its errors show there. A client that prepares while others hold
    // every server must not wait for one: they may be waiting for it (one
    // client thread driving several connections). False if the input starts
    // otherwise.
    bool answer_parses_locally(bool unvalidated);
    // SQL DEALLOCATE of the client's protocol-level statements: keeps the
    // books and returns the SQL to send instead (nullopt: `sql` as it is).
    std::optional<std::string> deallocate(std::string_view sql, bool extended);
    // SQL-level PREPARE/EXECUTE/DEALLOCATE names replaced by server names,
    // after the statements this server lacks are prepared on it; returns the
    // SQL to send instead (nullopt: `sql` as it is).
    std::optional<std::string> rewrite_sql_statements(std::string_view sql, bool whole_query);
    void send_to_server(char type, std::initializer_list<std::string_view> parts);
    void pin(const char* reason);
    // Whether a Query or Parse must be read whole to see if it pins the client.
    bool inspects(const protocol::MessageHeader& h) const;
    void release_server();
    void give_back(ServerConn* server, bool reset);
    void drop_server(const char* reason);
    void protocol_error(Side from, const std::string& sqlstate, const std::string& message);
    void fail_client(const char* sqlstate, const std::string& message);
    void close_after_flush();
    void resume_paused(Side toward);
    bool passthrough() const { return pool_ == nullptr; }
    void rename_database(std::vector<std::pair<std::string, std::string>> params, Bytes& startup) const;
    bool transaction_pooling() const {
        return pool_ != nullptr && pool_->settings().pool_mode == config::PoolMode::Transaction;
    }
    bufferevent* bev(Side s) const;

    Worker& worker_;
    std::uint32_t id_;
    std::string peer_;
    net::SocketAddress address_;
    // The method pggate checks the password with: auth_type, or for hba the rule's.
    config::AuthType auth_type_ = config::AuthType::Passthrough;
    ClientState state_ = ClientState::Startup;
    net::BuffereventPtr bev_;
    bool tls_ = false;
    bool tls_direct_ = false;
    net::EventPtr flush_timer_;
    net::ScanState scan_;
    bool paused_[2] = {false, false};  // reading from that side stopped for backpressure

    std::string user_;
    std::string database_;
    // Set for the admin console: who may do what there (admin_users: all).
    enum class AdminRole { None, Stats, Admin } admin_role_ = AdminRole::None;
    std::unique_ptr<admin::Console> console_;
    std::string application_name_;
    std::int64_t connected_unix_s_ = std::time(nullptr);
    pool::Clock::time_point xact_since_{};  // the current transaction's first statement began; {}: none
    pool::Pool* pool_ = nullptr;       // the primary's pool: welcome, settings, writes
    pool::Pool* wait_pool_ = nullptr;  // the pool the client waits in (Waiting)
    // read_your_writes: a statement that may write was sent in the current
    // transaction; when the last such transaction ended (steady clock, 0:
    // never); the primary's position sampled after that (0: none yet).
    bool write_pending_ = false;
    // A shadow read planned for the next segment, and the one whose answer
    // this client is being relayed.
    Bytes shadow_segment_;
    std::string shadow_statement_;
    ShadowRead* shadow_ = nullptr;
    std::int64_t ryw_since_ns_ = 0;
    std::uint64_t ryw_lsn_ = 0;
    // pggate.route: the client's own choice of node kind, set by a startup
    // parameter or "SET pggate.route" (answered by pggate, never sent on).
    RouteMode route_mode_ = RouteMode::Auto;
    RouteMode startup_route_mode_ = RouteMode::Auto;
    std::string bad_startup_route_;  // an invalid startup value, refused after login starts
    ServerConn* server_ = nullptr;
    // Read retry: a copy of the read segment routed to a replica, kept until
    // the answer begins; how much client input the linked server was given
    // and whether any of its answer reached the client; retries so far.
    Bytes retry_segment_;
    std::size_t consumed_ = 0;
    bool answered_ = false;
    std::uint32_t retries_ = 0;
    // The read segment on a replica (0: none) and how many of the replies
    // that end its statements came back.
    std::size_t read_length_ = 0;
    std::uint32_t read_completions_ = 0;
    std::uint32_t completions_seen_ = 0;
    // The FATAL error a dying server sent (transaction pooling), and the
    // error owed to a client whose transaction died while it was idle in it.
    std::string server_fatal_;
    std::string lost_error_;
    std::optional<auth::ClientAuth> auth_;
    bool welcomed_ = false;
    pool::ParamList startup_params_;
    ClientParams params_;
    // ReadyForQuery messages of injected queries still to swallow.
    std::uint32_t swallow_ = 0;
    // The client's session-level SETs (transaction pooling), and what the
    // current transaction's replies say about whether it commits.
    SessionSets sets_;
    // Reported parameters the client's statements reset, restored at their
    // ReadyForQuery.
    std::vector<std::string> params_reset_;
    // What the client's named statements do to its session state: they do it
    // each time they run, so it is noted at their Binds, not at their Parse.
    struct StatementEffects {
        std::vector<std::string> params_reset;
        std::vector<SetOp> ops;
    };
    std::unordered_map<std::string, StatementEffects> stmt_effects_;
    bool transaction_failed_ = false;
    // The client's named statements (transaction pooling): protocol-level and SQL-level.
    std::unordered_map<std::string, StatementPtr> stmts_;
    SqlPrepared sql_prepared_;
    // Why the client keeps its server until it leaves (nullptr: not pinned).
    const char* pinned_ = nullptr;
    bool admitted_ = false;
    bool logging_in_ = false;      // counted in max_login_clients
    bool over_login_cap_ = false;  // beyond it: refused at its StartupMessage
    std::optional<std::uint32_t> slot_;
    std::uint32_t client_secret_ = 0;

    pool::Clock::time_point connected_at_ = pool::Clock::now();
    pool::Clock::time_point state_since_ = connected_at_;
    pool::Clock::time_point ready_at_ = connected_at_;    // last ReadyForQuery (or link)
    pool::Clock::time_point busy_since_ = connected_at_;  // the server began owing a reply
    pool::Clock::time_point statement_since_ = connected_at_;  // for the query duration histogram
};

}  // namespace pggate::session
