// Client connections: startup, authentication, welcome, and the relay to a
// linked server, released to the pool at the end of each transaction in
// transaction mode.
#include "session/client_conn.hpp"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "net/address.hpp"
#include "net/direct_read.hpp"
#include "net/tls.hpp"
#include "net/write_now.hpp"
#include "pool/pool.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "session/pin_rules.hpp"
#include "session/server_conn.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {

using protocol::Decode;
using protocol::Direction;

// Server messages pggate reads whole during a pass-through login are small.
constexpr std::uint32_t kMaxLoginMessage = 1024 * 1024;
constexpr timeval kFlushTimeout{5, 0};
// A connection over max_login_clients gets this long to send its first packet.
constexpr timeval kRefusalWait{1, 0};
// Longer Query/Parse messages stream through unread; the client is pinned.
constexpr std::size_t kMaxInspected = 64 * 1024;
// A PasswordMessage is for authentication only, as PostgreSQL says.
constexpr const char* kPasswordAfterLogin = "invalid frontend message type 0x70 (a password message after login)";
// The first byte of a TLS handshake record (a ClientHello).
constexpr std::uint8_t kTlsHandshakeRecord = 0x16;

const char* state_name(ClientState s) {
    switch (s) {
        case ClientState::Startup: return "startup";
        case ClientState::Lookup: return "lookup";
        case ClientState::Auth: return "auth";
        case ClientState::Login: return "login";
        case ClientState::Idle: return "idle";
        case ClientState::Waiting: return "waiting";
        case ClientState::Active: return "active";
        case ClientState::Admin: return "admin";
        case ClientState::Flushing: return "flushing";
        case ClientState::Closed: return "closed";
    }
    return "?";
}

}  // namespace

ClientConn::ClientConn(Worker& worker, evutil_socket_t fd, std::string peer, net::SocketAddress address)
    : worker_(worker), id_(worker.next_connection_id()), peer_(std::move(peer)), address_(address) {
    bev_.reset(bufferevent_socket_new(worker_.base(), fd, BEV_OPT_CLOSE_ON_FREE));
    flush_timer_.reset(evtimer_new(worker_.base(), on_flush_deadline, this));
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    bufferevent_setcb(bev_.get(), on_read, on_write, on_event, this);
    bufferevent_setwatermark(bev_.get(), EV_WRITE, kRelayHighWater / 2, 0);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
    net::read_directly(bev_.get());
    log_debug("C-%u %s: connected", id_, peer_.c_str());
}

void ClientConn::start() {
    // The Unix socket is not counted: the admin console stays within an
    // operator's reach under a flood of connections that never log in.
    if (address_.family() == AF_UNIX) return;
    if (worker_.shm().try_begin_login(worker_.index(), static_cast<std::uint32_t>(worker_.config().max_login_clients))) {
        logging_in_ = true;
        return;
    }
    // Refused in answer to its StartupMessage (after an 'N' to an
    // SSLRequest), the one answer clients show an error in, and given only a
    // moment to send it.
    over_login_cap_ = true;
    evtimer_add(flush_timer_.get(), &kRefusalWait);
}

void ClientConn::refuse_over_login_cap() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    for (;;) {
        if (evbuffer_get_length(in) < 8) return;
        const std::uint8_t* p = evbuffer_pullup(in, 8);
        const std::uint32_t length = load_be32(p);
        const std::uint32_t code = load_be32(p + 4);
        if (length == 16 && code == protocol::kCancelRequestCode) {
            // A cancel costs no login: a flood must not keep queries from being cancelled.
            evtimer_del(flush_timer_.get());
            over_login_cap_ = false;
            read_startup();
            return;
        }
        if (length != 8 || (code != protocol::kSslRequestCode && code != protocol::kGssEncRequestCode)) break;
        evbuffer_drain(in, 8);
        bufferevent_write(bev_.get(), "N", 1);
    }
    fail_client("53300", "too many connections still logging in (max_login_clients)");
}

ClientConn::~ClientConn() {
    if (logging_in_) worker_.shm().login_ended(worker_.index());
    if (state_ == ClientState::Lookup) worker_.auth_query().cancel(id_);
    if (slot_) {
        worker_.shm().client(*slot_).clear();
        worker_.shm().release_slot(*slot_);
        worker_.give_slot(*slot_);
    }
    if (admitted_) worker_.shm().client_left(worker_.index());
}

bufferevent* ClientConn::bev(Side s) const {
    if (s == Side::Client) return bev_.get();
    return server_ != nullptr ? server_->bev() : nullptr;
}

void ClientConn::set_state(ClientState next) {
    log_noise("C-%u %s: %s -> %s", id_, peer_.c_str(), state_name(state_), state_name(next));
    // However the wait ends, the lookup must not call back a client that moved on.
    if (state_ == ClientState::Lookup && next != ClientState::Lookup) worker_.auth_query().cancel(id_);
    // Logged in, or on its way out: its place among those logging in is free.
    if (logging_in_ && next != ClientState::Startup && next != ClientState::Lookup && next != ClientState::Auth &&
        next != ClientState::Login) {
        logging_in_ = false;
        worker_.shm().login_ended(worker_.index());
    }
    state_ = next;
    state_since_ = pool::Clock::now();
    if (slot_)
        worker_.shm().client(*slot_).publish_activity(activity(), unix_now_ms(),
                                                       server_ != nullptr ? server_->node() : Worker::kNoNode);
}

void ClientConn::count_pool_statement(pool::Clock::time_point now, bool transaction_ended) {
    if (xact_since_ == pool::Clock::time_point{}) xact_since_ = statement_since_;
    pool::Pool* pool = server_->pool();
    if (pool == nullptr) return;  // a pass-through server
    shm::PoolOccupancy& c = pool->counters();
    shm::bump(c.query_count);
    shm::bump(c.query_time_us, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - statement_since_).count()));
    if (!transaction_ended) return;
    shm::bump(c.xact_count);
    shm::bump(c.xact_time_us, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - xact_since_).count()));
    xact_since_ = {};
}

shm::ClientActivity ClientConn::activity() const {
    switch (state_) {
        case ClientState::Idle: return shm::ClientActivity::Idle;
        case ClientState::Waiting: return shm::ClientActivity::Waiting;
        case ClientState::Active: return shm::ClientActivity::Active;
        case ClientState::Admin: return shm::ClientActivity::Admin;
        default: return shm::ClientActivity::Login;
    }
}

void ClientConn::publish_client() {
    if (!slot_) return;
    shm::ClientInfo info;
    info.activity = activity();
    info.user = user_;
    info.database = database_;
    info.application_name = application_name_;
    info.pinned = pinned_ != nullptr ? pinned_ : "";
    if (address_.family() == AF_UNIX) {
        info.addr = "unix";
    } else if (const auto colon = peer_.rfind(':'); colon != std::string::npos) {
        info.addr = peer_.substr(0, colon);
        info.port = std::atoi(peer_.c_str() + colon + 1);
    }
    const evutil_socket_t fd = bufferevent_getfd(bev_.get());
    const net::Endpoint local = net::local_endpoint(fd);
    info.local_addr = local.addr;
    info.local_port = local.port;
    if (address_.family() == AF_UNIX) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) info.remote_pid = cred.pid;
    }
    if (tls_) info.tls = net::tls_description(net::tls_session(bev_.get()));
    info.connected_at = connected_unix_s_;
    info.since_ms = unix_now_ms();
    info.node = server_ != nullptr ? server_->node() : Worker::kNoNode;
    worker_.shm().client(*slot_).publish(info);
}

void ClientConn::check_timeouts(pool::Clock::time_point now, bool controls_changed) {
    if (slot_ && worker_.shm().client(*slot_).kill_requested.load(std::memory_order_relaxed) != 0) {
        fail_client("57P01", "terminating connection due to administrator command (KILL_CLIENT)");
        return;
    }
    if (controls_changed && database_ != admin::kAdminDatabase && state_ != ClientState::Startup &&
        pool::Clock::time_point{std::chrono::nanoseconds(worker_.shm().controls().kill_since(database_))} >
            connected_at_) {
        fail_client("57P01", "terminating connection due to administrator command (KILL)");
        return;
    }
    const config::Config& c = worker_.config();
    auto over = [&](pool::Clock::time_point since, double limit) {
        return limit > 0 && std::chrono::duration<double>(now - since).count() >= limit;
    };
    switch (state_) {
        case ClientState::Startup:
        case ClientState::Lookup:
        case ClientState::Auth:
        case ClientState::Login:
            if (over(connected_at_, c.client_login_timeout)) fail_client("08P01", "client_login_timeout");
            return;
        case ClientState::Admin:
            if (console_->busy()) {
                poll_admin();
                return;
            }
            if (over(state_since_, c.client_idle_timeout)) fail_client("08P01", "client_idle_timeout");
            return;
        case ClientState::Idle:
            if (over(state_since_, c.client_idle_timeout)) fail_client("08P01", "client_idle_timeout");
            return;
        case ClientState::Active: {
            const protocol::SyncTracker& t = server_->tracker();
            if (t.outstanding() > 0) {
                if (over(busy_since_, c.query_timeout)) fail_client("57014", "query_timeout");
            } else if (t.status() != 'I') {
                if (over(ready_at_, c.idle_transaction_timeout)) fail_client("25P03", "idle_transaction_timeout");
            } else if (t.synced() && over(ready_at_, c.client_idle_timeout)) {
                fail_client("08P01", "client_idle_timeout");
            }
            return;
        }
        default:
            return;
    }
}

void ClientConn::disconnect(const char* reason) {
    if (state_ == ClientState::Closed) return;
    log_debug("C-%u %s/%s@%s: closing: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(), reason);
    if (state_ == ClientState::Waiting) stop_waiting();
    if (shadow_ != nullptr) std::exchange(shadow_, nullptr)->client_gone();
    if (server_ != nullptr) drop_server(reason);
    set_home_pool(nullptr);
    set_state(ClientState::Closed);
    if (bev_) {
        bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
        bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
        // A last error sits encrypted below a TLS bufferevent when its own
        // output has drained: one write sends it before the socket closes
        // (peeked at: a socket bufferevent's output cannot be drained by others).
        if (bufferevent* socket = bufferevent_get_underlying(bev_.get())) {
            bufferevent_disable(socket, EV_READ | EV_WRITE);  // it must not send the same bytes again
            iovec parts[8];
            const int n = evbuffer_peek(bufferevent_get_output(socket), -1, nullptr, parts, 8);
            if (n > 0 && writev(bufferevent_getfd(socket), parts, std::min(n, 8)) < 0)
                log_debug("C-%u %s: writev() failed (last TLS records): %s", id_, peer_.c_str(), std::strerror(errno));
        }
    }
    evtimer_del(flush_timer_.get());
    worker_.retire(this);
}

// The client no longer needs its server: a clean one goes back to the pool,
// anything else is closed so no pool ever holds a dirty connection.
void ClientConn::drop_server(const char* reason) {
    ServerConn* s = server_;
    server_ = nullptr;
    if (!passthrough() && s->state() == ServerState::Active && s->tracker().releasable() && scan_.at_boundary() &&
        s->scan().at_boundary()) {
        give_back(s, pinned_ != nullptr);
        return;
    }
    if (passthrough() && evbuffer_get_length(bufferevent_get_output(s->bev())) == 0) {
        // Say goodbye properly so the server does not log an unexpected EOF.
        static const char kTerminate[] = {'X', 0, 0, 0, 4};
        send(bufferevent_getfd(s->bev()), kTerminate, sizeof kTerminate, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    s->detach_client();
    s->disconnect(reason);
}

// A clean server goes back to the pool, unless a cancel request for this
// client may still be on its way to it: then it could cancel the next
// client's query, so it is closed instead.
void ClientConn::give_back(ServerConn* s, bool reset) {
    if (!worker_.shm().unpublish_backend(*slot_)) {
        s->detach_client();
        s->disconnect("a cancel request may still reach it");
        return;
    }
    s->unlink();
    s->pool()->release(s, reset);
}

void ClientConn::fail_client(const char* sqlstate, const std::string& message) {
    log_info("C-%u %s/%s@%s: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(), message.c_str());
    worker_.count_error(sqlstate);
    if (!welcomed_) worker_.count_login(false);
    Bytes out;
    protocol::build_error(out, "FATAL", sqlstate, message);
    bufferevent_write(bev_.get(), out.data(), out.size());
    close_after_flush();
}

void ClientConn::close_after_flush() {
    if (state_ == ClientState::Closed) return;
    if (state_ == ClientState::Waiting) stop_waiting();
    if (server_ != nullptr) drop_server("client is closing");
    set_state(ClientState::Flushing);
    bufferevent_disable(bev_.get(), EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
        disconnect("finished");
        return;
    }
    bufferevent_setwatermark(bev_.get(), EV_WRITE, 0, 0);
    evtimer_add(flush_timer_.get(), &kFlushTimeout);
}

void ClientConn::on_flush_deadline(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<ClientConn*>(arg);
    c->disconnect(c->over_login_cap_ && c->state_ == ClientState::Startup ? "over max_login_clients and silent"
                                                                          : "timed out sending the last bytes");
}

// ---- client socket ---------------------------------------------------------

void ClientConn::on_read(bufferevent*, void* arg) {
    auto* c = static_cast<ClientConn*>(arg);
    switch (c->state_) {
        case ClientState::Startup:
            if (c->over_login_cap_)
                c->refuse_over_login_cap();
            else
                c->read_startup();
            break;
        case ClientState::Auth: c->read_auth(); break;
        case ClientState::Idle: c->read_idle(); break;
        case ClientState::Admin: c->read_admin(); break;
        case ClientState::Login:
        case ClientState::Active: c->pump(Side::Client); break;
        case ClientState::Waiting:
            if (evbuffer_get_length(bufferevent_get_input(c->bev_.get())) > kRelayHighWater)
                bufferevent_disable(c->bev_.get(), EV_READ);
            break;
        default: break;
    }
}

void ClientConn::on_write(bufferevent*, void* arg) {
    static_cast<ClientConn*>(arg)->resume_paused(Side::Client);
}

void ClientConn::on_event(bufferevent*, short events, void* arg) {
    auto* c = static_cast<ClientConn*>(arg);
    if (events & BEV_EVENT_CONNECTED) {
        c->on_tls_ready();
        return;
    }
    if (c->tls_ && (events & BEV_EVENT_ERROR) && c->state_ == ClientState::Startup) {
        const std::string why = "TLS handshake failed: " + net::tls_failure(c->bev_.get());
        log_info("C-%u %s: %s", c->id_, c->peer_.c_str(), why.c_str());
        c->disconnect("TLS handshake failed");
        return;
    }
    if (events & BEV_EVENT_EOF)
        c->disconnect("client closed the connection");
    else if (events & BEV_EVENT_ERROR)
        c->disconnect(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

void ClientConn::start_tls(bool direct) {
    bufferevent* tls = net::tls_accept(worker_.base(), bev_.release(), worker_.client_tls());
    if (tls == nullptr) {
        log_info("C-%u %s: TLS handshake failed: %s", id_, peer_.c_str(), direct ? "not a TLS ClientHello" : "no TLS session");
        disconnect("TLS handshake failed");
        return;
    }
    bev_.reset(tls);
    tls_ = true;
    tls_direct_ = direct;
    bufferevent_setcb(bev_.get(), on_read, on_write, on_event, this);
    bufferevent_setwatermark(bev_.get(), EV_WRITE, kRelayHighWater / 2, 0);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
}

void ClientConn::on_tls_ready() {
    SSL* ssl = net::tls_session(bev_.get());
    // Direct TLS has no SSLRequest to say what follows; ALPN must.
    if (tls_direct_ && !net::alpn_is_postgresql(ssl)) {
        log_info("C-%u %s: direct TLS connection without ALPN \"postgresql\"", id_, peer_.c_str());
        disconnect("no ALPN in direct TLS");
        return;
    }
    log_debug("C-%u %s: TLS established (%s)", id_, peer_.c_str(), net::tls_description(ssl).c_str());
}

void ClientConn::read_startup() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    while (state_ == ClientState::Startup) {
        std::size_t len = evbuffer_get_length(in);
        if (len == 0) return;
        std::size_t take = std::min<std::size_t>(len, protocol::kMaxStartupPacket);
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(take));
        // A TLS handshake record where a packet length should be: a client
        // that starts TLS at once (PostgreSQL 17's sslnegotiation=direct).
        if (p[0] == kTlsHandshakeRecord && !tls_ && worker_.client_tls() != nullptr && address_.family() != AF_UNIX) {
            start_tls(true);
            return;
        }
        protocol::StartupPacket pkt;
        protocol::DecodeError err;
        Decode d = protocol::decode_startup({p, take}, pkt, err);
        if (d == Decode::NeedMore) return;
        if (d == Decode::Error) {
            fail_client(err.sqlstate, err.message);
            return;
        }
        switch (pkt.kind) {
            case protocol::StartupKind::SslRequest:
                evbuffer_drain(in, pkt.frame_len);
                if (tls_) {
                    fail_client("08P01", "SSLRequest inside a TLS session");
                    return;
                }
                if (worker_.client_tls() == nullptr || address_.family() == AF_UNIX) {
                    bufferevent_write(bev_.get(), "N", 1);
                    break;
                }
                // Bytes behind the request were sent before the handshake:
                // whoever sent them, they must not count as if encrypted.
                if (evbuffer_get_length(in) > 0) {
                    fail_client("08P01", "received unencrypted data after SSL request");
                    return;
                }
                bufferevent_write(bev_.get(), "S", 1);
                start_tls(false);
                return;
            case protocol::StartupKind::GssEncRequest:
                evbuffer_drain(in, pkt.frame_len);
                bufferevent_write(bev_.get(), "N", 1);
                break;
            case protocol::StartupKind::CancelRequest:
                evbuffer_drain(in, pkt.frame_len);
                bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
                worker_.forward_cancel(pkt.cancel_pid, pkt.cancel_secret, std::move(bev_));
                disconnect("cancel request handed over");
                return;
            case protocol::StartupKind::Startup: {
                Bytes startup(p, p + pkt.frame_len);
                evbuffer_drain(in, pkt.frame_len);
                user_ = pkt.param("user");
                database_ = pkt.param("database");
                if (database_.empty()) database_ = user_;
                if (!tls_ && address_.family() != AF_UNIX &&
                    worker_.config().client_tls.sslmode >= config::SslMode::Require) {
                    fail_client("28000", "SSL required");
                    return;
                }
                const auto max_clients = static_cast<std::uint32_t>(worker_.config().max_client_conn);
                if (!worker_.shm().try_admit_client(worker_.index(), max_clients)) {
                    fail_client("53300", "no more connections allowed (max_client_conn)");
                    return;
                }
                admitted_ = true;
                slot_ = worker_.take_slot();
                if (!slot_) {
                    fail_client("53300", "no more connections allowed (max_client_conn)");
                    return;
                }
                client_secret_ = worker_.random_secret();
                application_name_ = pkt.param("application_name");
                publish_client();
                if (database_ == admin::kAdminDatabase) {
                    begin_admin_login();
                    return;
                }
                if (worker_.shm().controls().disabled(database_)) {
                    fail_client("55000", "database \"" + database_ + "\" does not accept new connections now (DISABLE)");
                    return;
                }
                if (worker_.config().auth_type == config::AuthType::Passthrough) {
                    rename_database(pkt.params, startup);
                    route::PrimaryChoice primary = worker_.primary();
                    if (primary.outcome != route::PrimaryChoice::Outcome::Node) {
                        fail_client("57P03", worker_.primary_refusal(primary));
                        return;
                    }
                    set_state(ClientState::Login);
                    bufferevent_disable(bev_.get(), EV_READ);  // until the server answers
                    server_ = worker_.open_passthrough_server(std::move(startup), this, primary.node);
                    return;
                }
                take_startup_settings(pkt.params);
                if (!bad_startup_route_.empty()) {
                    fail_client("22023", "invalid value for parameter \"pggate.route\": \"" + bad_startup_route_ +
                                             "\" (use primary, replica or auto)");
                    return;
                }
                begin_login();
                return;
            }
        }
    }
}

// A [databases] line may send the client's database under another name.
void ClientConn::rename_database(std::vector<std::pair<std::string, std::string>> params, Bytes& startup) const {
    std::string server_database = worker_.config().pool_settings(database_, user_).server_database;
    if (server_database == database_) return;
    std::erase_if(params, [](const auto& p) { return p.first == "database"; });
    params.emplace_back("database", std::move(server_database));
    startup.clear();
    protocol::build_startup(startup, params);
}

// A pooled server was started for the pool, not for this client: the
// client's own startup settings become parameters pggate keeps in step
// (reported ones) or its connect-time SETs (all others), replayed on every
// server it uses.
void ClientConn::take_startup_settings(const std::vector<std::pair<std::string, std::string>>& params) {
    SetMap baseline;
    auto take = [&](const std::string& name, const std::string& value) {
        if (name == "pggate.route") {
            if (!parse_route_mode(value, startup_route_mode_)) bad_startup_route_ = value;
            route_mode_ = startup_route_mode_;
        } else if (ClientParams::tracked(name))
            startup_params_.emplace_back(name, value);
        else
            baseline[name] = SetValue(sql_literal(value), true);
    };
    for (const auto& [name, value] : params) {
        if (name == "user" || name == "database" || name == "replication") continue;
        if (name == "options") {
            for (const auto& [n, v] : parse_startup_options(value)) take(n, v);
            continue;
        }
        take(name, value);
    }
    sets_.set_baseline(std::move(baseline));
}

// ---- authentication by pggate ------------------------------------------------

bool ClientConn::choose_auth_method() {
    auth_type_ = worker_.config().auth_type;
    if (auth_type_ != config::AuthType::Hba) return true;
    const bool local = address_.family() == AF_UNIX;
    const auth::HbaRules* rules = worker_.hba();
    const auth::HbaRule* rule =
        rules == nullptr ? nullptr
                         : auth::match_hba(*rules, {local, tls_, local ? nullptr : address_.get(), database_, user_});
    // The connection as PostgreSQL names it in a refusal.
    auto who = [&] {
        char host[INET6_ADDRSTRLEN] = "[local]";
        if (address_.family() == AF_INET)
            inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address_.get())->sin_addr, host, sizeof host);
        else if (address_.family() == AF_INET6)
            inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address_.get())->sin6_addr, host, sizeof host);
        return "host \"" + std::string(host) + "\", user \"" + user_ + "\", database \"" + database_ + "\"";
    };
    if (rule == nullptr) {
        fail_client("28000", "no pg_hba.conf entry for " + who() + (tls_ ? ", SSL encryption" : ", no encryption"));
        return false;
    }
    // clientcert is checked before the method asks for anything: without the
    // right certificate a password is never even tried. The cert method
    // checks its certificate itself.
    if (rule->clientcert != auth::HbaClientCert::Off && rule->method != auth::HbaMethod::Cert) {
        SSL* ssl = tls_ ? net::tls_session(bev_.get()) : nullptr;
        if (ssl == nullptr || !net::peer_certificate_verified(ssl)) {
            fail_client("28000", "connection requires a valid client certificate");
            return false;
        }
        if (rule->clientcert == auth::HbaClientCert::VerifyFull && net::verified_peer_cn(ssl) != user_) {
            fail_client("28000", "certificate validation (clientcert=verify-full) failed for user \"" + user_ +
                                     "\": CN mismatch");
            return false;
        }
    }
    switch (rule->method) {
        case auth::HbaMethod::Trust: auth_type_ = config::AuthType::Trust; return true;
        case auth::HbaMethod::Password: auth_type_ = config::AuthType::Plain; return true;
        case auth::HbaMethod::Md5: auth_type_ = config::AuthType::Md5; return true;
        case auth::HbaMethod::ScramSha256: auth_type_ = config::AuthType::ScramSha256; return true;
        case auth::HbaMethod::Reject: fail_client("28000", "pg_hba.conf rejects connection for " + who()); return false;
        case auth::HbaMethod::Cert: auth_type_ = config::AuthType::Cert; return true;
    }
    return false;
}

void ClientConn::begin_login() {
    if (!choose_auth_method()) return;
    const auth::Credentials* listed = worker_.listed(user_);
    auth::AuthQuery& lookups = worker_.auth_query();
    // A user the auth_file lists never costs a query; trust and cert check no secret.
    if (listed != nullptr || !lookups.enabled() || auth_type_ == config::AuthType::Trust ||
        auth_type_ == config::AuthType::Cert) {
        begin_auth(listed);
        return;
    }
    set_state(ClientState::Lookup);
    bufferevent_disable(bev_.get(), EV_READ);  // the client says nothing until asked for a password
    auto answer = lookups.lookup(database_, user_, id_, [this](const auth::LookupResult& r) { on_lookup(r); });
    if (answer) on_lookup(*answer);
}

void ClientConn::on_lookup(const auth::LookupResult& answer) {
    switch (answer.outcome) {
        case auth::LookupOutcome::Found: {
            worker_.learn_secret(user_, answer.secret);
            auth::Credentials found{answer.secret, std::nullopt};
            begin_auth(&found);
            return;
        }
        case auth::LookupOutcome::NotFound:
            // Asked for a password all the same, and refused like a wrong one.
            worker_.forget_secret(user_);
            begin_auth(nullptr);
            return;
        case auth::LookupOutcome::Failed:
            // Not 28P01: nothing is known of the password. A connection
            // failure class tells clients and monitors to retry and look at
            // pggate, whose log has the cause.
            fail_client("08006", "pggate could not look up user \"" + user_ +
                                     "\": its auth_query failed (the pggate log says why)");
            return;
    }
}

void ClientConn::begin_auth(const auth::Credentials* known) {
    SSL* ssl = tls_ ? net::tls_session(bev_.get()) : nullptr;
    if (auth_type_ == config::AuthType::Cert) {
        // The certificate was checked against client_tls_ca_file in the
        // handshake; its CN names the user, as PostgreSQL's cert method does.
        const std::optional<std::string> cn = ssl != nullptr ? net::verified_peer_cn(ssl) : std::nullopt;
        if (!cn) {
            fail_client("28000", "connection requires a valid client certificate");
            return;
        }
        if (*cn != user_) {
            fail_client("28000", "certificate authentication failed for user \"" + user_ + "\"");
            return;
        }
        auth_.emplace(config::AuthType::Trust, user_, known);
        finish_auth();
        return;
    }
    // SCRAM-SHA-256-PLUS binds the exchange to this TLS session.
    auth_.emplace(auth_type_, user_, known, ssl != nullptr ? net::server_end_point_hash(ssl) : Bytes());
    auth::AuthResult r = auth_->begin();
    bufferevent_write(bev_.get(), r.out.data(), r.out.size());
    if (r.step == auth::AuthStep::Failed) {
        fail_client(r.sqlstate, r.error);
        return;
    }
    if (r.step == auth::AuthStep::Done) {
        finish_auth();
        return;
    }
    set_state(ClientState::Auth);
    bufferevent_enable(bev_.get(), EV_READ);
    read_auth();
}

void ClientConn::read_auth() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    while (state_ == ClientState::Auth) {
        protocol::MessageHeader h;
        protocol::DecodeError err;
        Decode d = net::peek_message(in, 0, Direction::Frontend, worker_.config().max_packet_size, h, err);
        if (d == Decode::Error) {
            fail_client(err.sqlstate, err.message);
            return;
        }
        if (d == Decode::NeedMore) return;
        if (h.type != 'p') {
            fail_client("08P01", std::string("expected a password message, got message type '") + h.type + "'");
            return;
        }
        auth::AuthResult r;
        if (h.length > auth::kMaxAuthMessage) {
            // Refused on its header: a client not logged in must not make
            // pggate hold what it declares.
            r = auth_->on_oversized_message();
        } else {
            if (evbuffer_get_length(in) < h.frame_len()) return;
            const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(h.frame_len()));
            r = auth_->on_password_message({p + protocol::kHeaderSize, h.body_len()});
            evbuffer_drain(in, h.frame_len());
        }
        bufferevent_write(bev_.get(), r.out.data(), r.out.size());
        if (r.step == auth::AuthStep::Failed) {
            fail_client(r.sqlstate, r.error);
            return;
        }
        if (r.step == auth::AuthStep::Done) finish_auth();
    }
}

void ClientConn::finish_auth() {
    if (database_ == admin::kAdminDatabase && admin_role_ == AdminRole::None) {
        log_info("C-%u %s/%s@%s: not in admin_users or stats_users", id_, database_.c_str(), user_.c_str(),
                 peer_.c_str());
        // Trust and cert ask for no secret, so there is none to hide.
        if (auth_type_ == config::AuthType::Trust || auth_type_ == config::AuthType::Cert)
            fail_client("28000", "user \"" + user_ + "\" may not use the admin console (not in admin_users or stats_users)");
        else
            fail_client("28P01", "password authentication failed for user \"" + user_ + "\"");
        return;
    }
    if (auto key = auth_->client_key()) worker_.remember_client_key(user_, auth_->secret(), *key);
    auth_.reset();
    Bytes ok;
    protocol::build_auth(ok, 0);  // AuthenticationOk
    bufferevent_write(bev_.get(), ok.data(), ok.size());
    if (admin_role_ != AdminRole::None)
        begin_admin_session();
    else
        begin_session();
}

// Only now: clients that have not proven who they are make no pools.
void ClientConn::begin_session() {
    const char* sqlstate = "57P03";
    std::string refusal;
    if (primary_pool(sqlstate, refusal) == nullptr) {
        // With no single primary (none yet, split brain) a node that is up
        // welcomes the client: its reads go on, its writes wait or are
        // refused as they would be in a session begun earlier.
        const std::uint32_t node = sqlstate == std::string_view("53300") ? Worker::kNoNode : worker_.up_node();
        if (node != Worker::kNoNode) set_home_pool(worker_.pool_for(database_, user_, node));
        if (pool_ == nullptr) {
            if (refusal.empty())
                await_primary();
            else
                fail_client(sqlstate, refusal);
            return;
        }
    }
    if (pool_->has_welcome()) {
        send_welcome(pool_->welcome_params());
        set_state(ClientState::Idle);
        read_idle();
        return;
    }
    // The first client of a pool waits for a server to learn what to say.
    wait_in(pool_);
}

void ClientConn::set_home_pool(pool::Pool* home) {
    if (home == pool_) return;
    if (pool_ != nullptr) pool_->client_left();
    pool_ = home;
    if (pool_ != nullptr) pool_->client_joined();
}

void ClientConn::wait_in(pool::Pool* target) {
    // Reading goes on (on_read stops it only for a client that keeps
    // sending): most waits are short, and stopping and restarting it would
    // cost two epoll_ctl calls each.
    set_state(ClientState::Waiting);
    wait_pool_ = target;
    target->acquire(this);
}

void ClientConn::await_primary() {
    set_state(ClientState::Waiting);
    bufferevent_disable(bev_.get(), EV_READ);
    wait_pool_ = nullptr;
    worker_.await_primary(this);
}

void ClientConn::stop_waiting() {
    if (wait_pool_ != nullptr)
        wait_pool_->cancel_wait(this);
    else
        worker_.cancel_await(this);
}

void ClientConn::on_primary_known() {
    if (state_ != ClientState::Waiting || wait_pool_ != nullptr) return;
    if (!welcomed_) {
        begin_session();
        return;
    }
    set_state(ClientState::Idle);
    bufferevent_enable(bev_.get(), EV_READ);
    read_idle();
}

void ClientConn::on_primary_wait_timeout(const std::string& message) {
    if (!welcomed_ || !refuse_segment("57P03", message)) {
        fail_client("57P03", message);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) read_idle();
}

void ClientConn::send_welcome(const pool::ParamList& server_params) {
    params_.init(server_params, startup_params_);
    startup_params_ = {};
    Bytes out;
    for (const auto& [name, value] : params_.welcome(server_params)) protocol::build_parameter_status(out, name, value);
    worker_.shm().publish_backend(*slot_, client_secret_, pool_->node(), 0, 0);
    protocol::build_backend_key_data(out, worker_.shm().key_pid(*slot_), client_secret_);
    protocol::build_ready_for_query(out, 'I');
    bufferevent_write(bev_.get(), out.data(), out.size());
    welcomed_ = true;
    worker_.count_login(true);
}

void ClientConn::republish_backend() {
    if (!slot_ || server_ == nullptr || state_ == ClientState::Closed) return;
    const protocol::BackendKey& key = server_->backend_key();
    worker_.shm().publish_backend(*slot_, client_secret_, server_->node(), key.pid, key.secret);
}

// ---- pooled: idle, waiting, linked ------------------------------------------

void ClientConn::read_idle() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    protocol::MessageHeader h;
    protocol::DecodeError err;
    Decode d = net::peek_message(in, 0, Direction::Frontend, worker_.config().max_packet_size, h, err);
    if (d == Decode::Error) {
        fail_client(err.sqlstate, err.message);
        return;
    }
    if (d == Decode::NeedMore) return;
    if (h.type == 'X') {
        disconnect("client terminated");
        return;
    }
    if (h.type == 'p') {
        fail_client("08P01", kPasswordAfterLogin);
        return;
    }
    if (!lost_error_.empty()) {
        // Wait for the whole segment the error answers.
        if (!refuse_segment("08006", lost_error_)) return;
        lost_error_.clear();
        if (evbuffer_get_length(in) > 0) read_idle();
        return;
    }
    if (h.type == 'Q' && evbuffer_get_length(in) >= h.frame_len()) {
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(h.frame_len()));
        ByteReader r(p + protocol::kHeaderSize, h.body_len());
        std::string_view sql = r.cstring();
        if (!r.failed() && answer_route_setting(sql, 'I')) {
            evbuffer_drain(in, h.frame_len());
            if (evbuffer_get_length(in) > 0) read_idle();
            return;
        }
    }
    if (answer_parses_locally(!pool_->has_idle())) {
        if (evbuffer_get_length(in) > 0) read_idle();
        return;
    }
    bool partial = false;
    pool::Pool* target = route_next(true, Worker::kNoNode, &partial);
    if (partial) return;  // on_read comes back with the rest
    if (target == nullptr) {  // answered with an error, or waiting for a primary
        if (state_ == ClientState::Idle && evbuffer_get_length(in) > 0) read_idle();
        return;
    }
    wait_in(target);
    if (!shadow_segment_.empty()) start_shadow(target);
}

void ClientConn::on_server_assigned(ServerConn* server) {
    server_ = server;
    server->link(this);
    consumed_ = 0;
    answered_ = false;
    completions_seen_ = 0;
    paused_[0] = paused_[1] = false;
    const protocol::BackendKey& key = server->backend_key();
    const bool only_welcome = !welcomed_ && evbuffer_get_length(bufferevent_get_input(bev_.get())) == 0;
    if (!welcomed_) send_welcome(server->params());
    worker_.shm().publish_backend(*slot_, client_secret_, server->node(), key.pid, key.secret);
    set_state(ClientState::Active);
    ready_at_ = state_since_;
    bufferevent_enable(bev_.get(), EV_READ);
    // A client that waited in its pool only to learn what to be welcomed
    // with has sent nothing yet. In transaction pooling its server goes
    // back at once, before any SET of the client's parameters (the server
    // of its first transaction gets those): were the server still busy
    // with them when the first statement came, that statement would run
    // on the welcoming server, the primary's, however it should be routed.
    if (only_welcome && transaction_pooling() && pinned_ == nullptr && server_->tracker().releasable()) {
        net::write_now(bev_.get());
        release_server();
        return;
    }
    sync_params();
    pump(Side::Client);
    if (state_ == ClientState::Active && transaction_pooling() &&
        pinned_ == nullptr && evbuffer_get_length(bufferevent_get_input(bev_.get())) == 0 && server_->tracker().releasable() &&
        scan_.at_boundary())
        release_server();
}

void ClientConn::sync_params() {
    std::string q = session_state_query(*server_);
    if (q.empty()) return;
    ++swallow_;
    server_->send_query(q);
}

std::string ClientConn::session_state_query(ServerConn& server) {
    std::string q = params_.sync_query(server.params()) + replay_sets(server.sets(), sets_.values());
    if (!q.empty()) server.sets() = sets_.values();
    return q;
}

bool ClientConn::inspects(const protocol::MessageHeader& h) const {
    if (passthrough()) return false;
    // A Bind runs its statement's SETs and resets, in session pooling too:
    // the server resets to the pool's values there as well, not the client's.
    if (h.type == 'B') return rewrites_statements() || !stmt_effects_.empty();
    if (h.type == 'D' || h.type == 'C') return rewrites_statements();
    if (h.type == 'P') return rewrites_statements() || h.frame_len() <= kMaxInspected;
    return h.type == 'Q' && h.frame_len() <= kMaxInspected;
}

void ClientConn::pin(const char* reason) {
    pinned_ = reason;
    publish_client();
    log_debug("C-%u %s/%s@%s: pinned to its server: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(), reason);
}

void ClientConn::release_server() {
    note_transaction_end();
    retry_segment_.clear();
    retries_ = 0;
    read_length_ = 0;
    read_completions_ = 0;
    ServerConn* s = server_;
    server_ = nullptr;
    give_back(s, false);
    paused_[0] = paused_[1] = false;
    set_state(ClientState::Idle);
    bufferevent_enable(bev_.get(), EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) read_idle();
}

void ClientConn::on_pool_error(const char* sqlstate, const std::string& message) {
    fail_client(sqlstate, message);
}

void ClientConn::on_pool_error(const Bytes& error_frame) {
    worker_.count_error_frame(error_frame);
    if (!welcomed_) worker_.count_login(false);
    bufferevent_write(bev_.get(), error_frame.data(), error_frame.size());
    close_after_flush();
}

// ---- the linked server --------------------------------------------------------

void ClientConn::on_server_connected() {
    bufferevent_enable(bev_.get(), EV_READ);
    pump(Side::Client);
}

void ClientConn::on_server_readable() {
    if (state_ == ClientState::Login || state_ == ClientState::Active) pump(Side::Server);
}

void ClientConn::on_server_writable() { resume_paused(Side::Server); }

void ClientConn::on_server_closed(const char* why) {
    if (shadow_ != nullptr) std::exchange(shadow_, nullptr)->client_gone();
    ServerConn* dead = std::exchange(server_, nullptr);
    const bool at_boundary = dead == nullptr || dead->scan().at_boundary();
    const std::uint32_t outstanding = dead != nullptr ? dead->tracker().outstanding() : 0;
    const bool in_transaction = dead != nullptr && (dead->tracker().status() != 'I' || consumed_ > 0);
    const std::uint32_t node = dead != nullptr ? dead->node() : Worker::kNoNode;
    const std::string node_name = dead != nullptr ? dead->node_name() : std::string();
    const std::string cause = server_fatal_.empty() ? std::string(why) : std::exchange(server_fatal_, {});
    if (state_ == ClientState::Closed || state_ == ClientState::Flushing) return;
    if (node != Worker::kNoNode) worker_.request_check(node);
    log_warning("C-%u %s/%s@%s: server connection lost: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(),
                cause.c_str());
    if (state_ == ClientState::Active && retry_read(node, node_name)) return;
    if (state_ == ClientState::Active && at_boundary && scan_.at_boundary() && finish_read(outstanding)) return;
    if (state_ == ClientState::Active && at_boundary && scan_.at_boundary() && transaction_pooling() &&
        pinned_ == nullptr) {
        lose_transaction(outstanding, in_transaction, cause);
        return;
    }
    // An error can only be added between two messages the client receives.
    if (at_boundary)
        fail_client("08006", std::string(state_ == ClientState::Login ? "could not connect to the server: "
                                                                        : "server connection lost: ") + cause);
    else
        close_after_flush();
}

bool ClientConn::finish_read(std::uint32_t outstanding) {
    if (read_completions_ == 0 || completions_seen_ != read_completions_ || outstanding != 1 ||
        consumed_ != read_length_ || swallow_ > 0 || sets_.has_pending() || !params_reset_.empty())
        return false;
    read_completions_ = 0;
    retry_segment_.clear();
    worker_.shm().unpublish_backend(*slot_);
    Bytes out;
    protocol::build_ready_for_query(out, 'I');
    bufferevent_write(bev_.get(), out.data(), out.size());
    paused_[0] = paused_[1] = false;
    set_state(ClientState::Idle);
    bufferevent_enable(bev_.get(), EV_READ);
    log_info("C-%u %s/%s@%s: the read was answered in full before its server was lost; it ends normally", id_,
             database_.c_str(), user_.c_str(), peer_.c_str());
    if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) read_idle();
    return true;
}

void ClientConn::lose_transaction(std::uint32_t outstanding, bool in_transaction, const std::string& cause) {
    const std::string message = "server connection lost, the transaction is rolled back: " + cause;
    worker_.shm().unpublish_backend(*slot_);
    if (sets_.has_pending()) {
        SetMap unused;
        sets_.end_transaction(false, unused);
    }
    params_reset_.clear();
    transaction_failed_ = false;
    write_pending_ = false;
    retry_segment_.clear();
    // Replies owed to queries pggate injected are owed to no one now.
    const std::uint32_t owed = outstanding > swallow_ ? outstanding - swallow_ : 0;
    swallow_ = 0;
    Bytes out;
    for (std::uint32_t i = 0; i < owed; ++i) {
        worker_.count_error("08006");
        protocol::build_error(out, "ERROR", "08006", message);
        protocol::build_ready_for_query(out, 'I');
    }
    bufferevent_write(bev_.get(), out.data(), out.size());
    // Idle in its transaction: the client hears of it at its next request.
    if (owed == 0 && in_transaction) lost_error_ = message;
    paused_[0] = paused_[1] = false;
    set_state(ClientState::Idle);
    bufferevent_enable(bev_.get(), EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) read_idle();
}

void ClientConn::pump(Side from) {
    bufferevent* src = bev(from);
    bufferevent* dst = bev(from == Side::Client ? Side::Server : Side::Client);
    if (src == nullptr || dst == nullptr) return;
    evbuffer* in = bufferevent_get_input(src);
    evbuffer* out = bufferevent_get_output(dst);
    const bool client = from == Side::Client;
    net::ScanState& scan = client ? scan_ : server_->scan();
    const Direction dir = client ? Direction::Frontend : Direction::Backend;
    const bool transaction_mode = transaction_pooling();
    const bool server_was_idle = server_->tracker().outstanding() == 0;
    const std::size_t answer_before = client ? 0 : evbuffer_get_length(out);
    // Bytes taken from `in` this call, counted in the pool however the call ends (SHOW STATS).
    struct Traffic {
        pool::Pool* pool;
        bool received;
        std::size_t bytes = 0;
        ~Traffic() {
            if (pool == nullptr || bytes == 0) return;
            shm::PoolOccupancy& c = pool->counters();
            shm::bump(received ? c.bytes_received : c.bytes_sent, bytes);
        }
    } traffic{server_->pool(), client};

    bool segment_done = false;  // a replica's read segment is all sent; the rest waits
    bool read_answered = false;  // ... and answered, inside a transaction that goes on there
    while (state_ == ClientState::Login || state_ == ClientState::Active) {
        const bool login = state_ == ClientState::Login;
        // A replica is given its read segment and nothing after it: what
        // follows (a pipeline's next segment may write) is routed on its own
        // once the replica is released.
        std::size_t at = consumed_;
        const std::uint32_t max_len = client ? worker_.config().max_packet_size
                                      : login ? kMaxLoginMessage
                                              : protocol::kMaxWireLength;
        protocol::SyncTracker& tracker = server_->tracker();
        net::ScanResult r = net::scan_frames(in, scan, dir, max_len, [&](const protocol::MessageHeader& h) {
            if (client) {
                if (read_length_ > 0 && at >= read_length_) {
                    segment_done = true;
                    return true;
                }
                at += h.frame_len();
                if (h.type == 'X' || (h.type == 'p' && !login) || inspects(h)) return true;
                if ((h.type == 'Q' || h.type == 'P') && transaction_mode && pinned_ == nullptr)
                    pin("a statement too long to inspect");
                tracker.on_frontend(h.type);
                return false;
            }
            return login || swallow_ > 0 || h.type == 'Z' || h.type == 'S' || h.type == '1' || h.type == '3' ||
                   h.type == 'E' || h.type == 'N' || (h.type == 'C' && (sets_.has_pending() || sql_prepared_.awaiting())) ||
                   (shadow_ != nullptr && (h.type == 'D' || h.type == 'E')) ||
                   (read_completions_ > 0 && (h.type == 'C' || h.type == 'I' || h.type == 's'));
        });
        if (r.forward > 0) evbuffer_remove_buffer(in, out, r.forward);
        traffic.bytes += r.forward;
        if (client) consumed_ += r.forward;
        if (segment_done) {
            // A client that pipelines on meanwhile is read no further than the relay's limit.
            if (evbuffer_get_length(in) > kRelayHighWater) bufferevent_disable(src, EV_READ);
            break;
        }
        if (r.stop == net::ScanStop::More) break;
        if (r.stop == net::ScanStop::Error) {
            protocol_error(from, r.error.sqlstate, r.error.message);
            return;
        }
        if (client && !login && r.header.type == 'p') {
            protocol_error(from, "08P01", kPasswordAfterLogin);
            return;
        }
        std::size_t frame_len = r.header.frame_len();
        if (evbuffer_get_length(in) < frame_len) break;
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(frame_len));
        traffic.bytes += frame_len;
        if (client) consumed_ += frame_len;
        if (handle_message(from, r.header.type, {p + protocol::kHeaderSize, r.header.body_len()}))
            evbuffer_remove_buffer(in, out, frame_len);
        else if (state_ != ClientState::Closed)
            evbuffer_drain(in, frame_len);
        if (!client && r.header.type == 'Z' && transaction_mode && state_ == ClientState::Active &&
            pinned_ == nullptr && tracker.releasable() && scan_.at_boundary()) {
            net::write_now(dst);
            release_server();
            return;
        }
        if (!client && r.header.type == 'Z' && read_length_ > 0 && consumed_ >= read_length_ &&
            tracker.outstanding() == 0)
            read_answered = true;
    }
    if (client && server_was_idle && server_ != nullptr && server_->tracker().outstanding() > 0)
        busy_since_ = statement_since_ = pool::Clock::now();
    if (!client && !answered_ && evbuffer_get_length(out) > answer_before) {
        // The answer has begun: the read can no longer be retried elsewhere.
        answered_ = true;
        retry_segment_.clear();
        retries_ = 0;
    }
    const bool relaying = (state_ == ClientState::Login || state_ == ClientState::Active) &&
                          bev(client ? Side::Server : Side::Client) == dst;
    if (relaying && net::write_now(dst) && paused_[int(from)]) {
        // Written out here, so the loop's write callback that would resume
        // the paused side does not come.
        paused_[int(from)] = false;
        bufferevent_enable(src, EV_READ);
    }
    if (relaying && evbuffer_get_length(out) >= kRelayHighWater && !paused_[int(from)]) {
        paused_[int(from)] = true;
        bufferevent_disable(src, EV_READ);
    }
    if (read_answered && state_ == ClientState::Active) {
        // Answered, and the transaction it began goes on there (BEGIN READ
        // ONLY): what the client sends next belongs to it.
        read_length_ = 0;
        if (!paused_[int(Side::Client)]) bufferevent_enable(bev_.get(), EV_READ);
        pump(Side::Client);
    }
}

void ClientConn::resume_paused(Side toward) {
    if (state_ == ClientState::Flushing && toward == Side::Client) {
        if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) disconnect("finished");
        return;
    }
    Side from = toward == Side::Client ? Side::Server : Side::Client;
    if (!paused_[int(from)] || bev(from) == nullptr) return;
    paused_[int(from)] = false;
    bufferevent_enable(bev(from), EV_READ);
    pump(from);  // bytes read before the pause are still waiting
}

bool ClientConn::handle_message(Side from, char type, std::span<const std::uint8_t> body) {
    if (from == Side::Client) {
        if (type == 'X') {
            disconnect("client terminated");
            return false;
        }
        if (type == 'Q') {
            ByteReader r(body.data(), body.size());
            std::string_view sql = r.cstring();
            if (!r.failed() && server_->tracker().outstanding() == 0 &&
                answer_route_setting(sql, server_->tracker().status()))
                return false;
            const bool rewrites = !r.failed() && rewrites_statements();
            std::optional<std::string> rewritten;
            if (rewrites) rewritten = rewrite_sql_statements(sql, true);
            if (rewrites && !rewritten) rewritten = deallocate(sql, false);
            if (r.failed()) {
                if (pinned_ == nullptr) pin("a malformed statement");
            } else {
                // One lexing serves the pin rules and the session-state readers.
                const route::LexResult lexed = route::lex_sql(sql, route::kAllTokens);
                if (pinned_ == nullptr)
                    if (const char* why = pin_reason(lexed, rewrites)) pin(why);
                note_session_ops(sql, lexed, {});
                note_write(sql);
            }
            if (rewritten) {
                send_to_server('Q', {*rewritten, std::string_view("\0", 1)});
                return false;
            }
            server_->tracker().on_frontend(type);
            return true;
        }
        return forward_extended(type, body);
    }
    if (swallow_ > 0) return swallow(type, body);
    if (shadow_ != nullptr && type == 'D') {
        shadow_->client_answer().add_row(body);
        return true;
    }
    if (shadow_ != nullptr && type == 'E') shadow_->client_answer().add_error(body);
    if (type == 'C' || type == 'I' || type == 's') ++completions_seen_;
    switch (type) {
        case '1': {
            ServerStatements::ParseDone done = server_->statements().on_parse_complete();
            if (done.kind == ServerStatements::ParseReply::Confirm)
                if (auto it = stmts_.find(done.client_name); it != stmts_.end()) it->second->accepted = true;
            return done.kind != ServerStatements::ParseReply::Swallow;
        }
        case '3':
            switch (server_->statements().on_close_complete()) {
                case ServerStatements::CloseReply::Forward:
                    return true;
                case ServerStatements::CloseReply::AsParseComplete: {
                    Bytes done;
                    protocol::build_parse_complete(done);
                    bufferevent_write(bev_.get(), done.data(), done.size());
                    return false;
                }
                case ServerStatements::CloseReply::Swallow:
                    return false;
            }
            return true;
        case 'K': {
            auto key = protocol::parse_backend_key_data(body);
            if (!key) {
                protocol_error(Side::Server, "08P01", "invalid BackendKeyData from server");
                return false;
            }
            server_->set_backend_key(*key);
            worker_.shm().publish_backend(*slot_, client_secret_, server_->node(), key->pid, key->secret);
            Bytes out;
            protocol::build_backend_key_data(out, worker_.shm().key_pid(*slot_), client_secret_);
            bufferevent_write(bev_.get(), out.data(), out.size());
            return false;
        }
        case 'Z': {
            auto status = protocol::parse_ready_for_query(body);
            if (!status) {
                protocol_error(Side::Server, "08P01", "invalid ReadyForQuery from server");
                return false;
            }
            sql_prepared_.on_ready_for_query();
            if (shadow_ != nullptr && shadow_->client_ready_for_query()) shadow_ = nullptr;
            if (state_ == ClientState::Active) {
                const auto now = pool::Clock::now();
                worker_.count_statement(server_->node(), std::chrono::nanoseconds(now - statement_since_).count(),
                                        *status == 'I');
                count_pool_statement(now, *status == 'I');
                statement_since_ = now;  // the next pipelined statement's answer starts now
            }
            bool reset = server_ready_for_query(*status);
            if ((reset || !params_reset_.empty()) && server_->tracker().outstanding() == 0) restore_reset_params();
            if (state_ == ClientState::Login) {
                log_debug("C-%u %s/%s@%s: logged in on %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(),
                          server_->node_name().c_str());
                welcomed_ = true;
                worker_.count_login(true);
                set_state(ClientState::Active);
            }
            return true;
        }
        case 'S': {
            server_->note_param(body);
            if (!params_reset_.empty()) return false;  // the pool's values: the client gets its own at 'Z'
            ByteReader r(body.data(), body.size());
            std::string_view name = r.cstring();
            std::string_view value = r.cstring();
            if (!r.failed()) params_.note(name, value);
            return true;
        }
        case 'E':
        case 'N':
            if (state_ == ClientState::Active && transaction_pooling() && pinned_ == nullptr) {
                // A FATAL error, or the warning of an immediate shutdown
                // (class 57P), ends the server, not this client's session:
                // on_server_closed decides what the client is told.
                auto f = protocol::parse_error_fields(body);
                if (f && (f->severity == "FATAL" || f->severity == "PANIC" || f->sqlstate.starts_with("57P"))) {
                    server_fatal_ = f->sqlstate + ": " + f->message;
                    return false;
                }
            }
            if (type == 'N') return true;
            transaction_failed_ = true;
            worker_.count_error_frame({body.data() - protocol::kHeaderSize, body.size() + protocol::kHeaderSize});
            if (state_ == ClientState::Login) {
                worker_.count_login(false);
                bufferevent_write(bev_.get(), body.data() - protocol::kHeaderSize, body.size() + protocol::kHeaderSize);
                close_after_flush();
                return false;
            }
            return true;
        case 'C': {
            sql_prepared_.on_command_complete();
            // COMMIT of a failed transaction answers ROLLBACK.
            ByteReader r(body.data(), body.size());
            if (r.cstring() == "ROLLBACK") transaction_failed_ = true;
            return true;
        }
        case 'R': case 'v': case 'I': case 's':
            return true;
        default:
            protocol_error(Side::Server, "08P01",
                           std::string("unexpected message '") + type + "' from server during login");
            return false;
    }
}

bool ClientConn::note_session_ops(std::string_view sql, const route::LexResult& lexed,
                                  std::string_view statement_name) {
    std::vector<std::string> resets = ClientParams::resets(lexed);
    std::vector<SetOp> ops = session_ops(sql, lexed);
    const bool any = !resets.empty() || !ops.empty();
    if (!statement_name.empty()) {
        // A name used again (after DEALLOCATE or Close) does what its new statement does.
        if (!any)
            stmt_effects_.erase(std::string(statement_name));
        else
            stmt_effects_[std::string(statement_name)] = {std::move(resets), std::move(ops)};
        return any;
    }
    params_reset_.insert(params_reset_.end(), resets.begin(), resets.end());
    if (!ops.empty()) sets_.add(ops);
    return any;
}

void ClientConn::note_bind(std::string_view statement_name) {
    auto it = stmt_effects_.find(std::string(statement_name));
    if (it == stmt_effects_.end()) return;
    params_reset_.insert(params_reset_.end(), it->second.params_reset.begin(), it->second.params_reset.end());
    sets_.add(it->second.ops);
}

void ClientConn::restore_reset_params() {
    Bytes out;
    for (const auto& [name, value] : params_.restore(params_reset_)) protocol::build_parameter_status(out, name, value);
    params_reset_.clear();
    bufferevent_write(bev_.get(), out.data(), out.size());
    sync_params();  // before the ReadyForQuery reaches the client, so before its next message
}

bool ClientConn::server_ready_for_query(char status) {
    server_->tracker().on_ready_for_query(status);
    ready_at_ = pool::Clock::now();
    SessionSets::Outcome outcome;
    if (status == 'I' && sets_.has_pending()) outcome = sets_.end_transaction(!transaction_failed_, server_->sets());
    if (outcome.discard_all) {
        // A committed DISCARD ALL deallocated every statement on the server.
        stmts_.clear();
        sql_prepared_.clear();
        server_->statements().clear();
    }
    transaction_failed_ = false;
    // Parses the server skipped after an error created nothing.
    for (const std::string& name : server_->statements().settle(server_->tracker().completed())) stmts_.erase(name);
    return outcome.reset;
}

// Replies to a query pggate injected: they update what pggate knows of the
// server and never reach the client.
bool ClientConn::swallow(char type, std::span<const std::uint8_t> body) {
    switch (type) {
        case 'S': {
            // The server's spelling of a value pggate set for the client
            // ('utf-8' -> UTF8) is the one to compare with from now on.
            server_->note_param(body);
            ByteReader r(body.data(), body.size());
            std::string_view name = r.cstring();
            std::string_view value = r.cstring();
            if (!r.failed()) params_.note(name, value);
            break;
        }
        case 'E': {
            auto f = protocol::parse_error_fields(body);
            log_warning("C-%u: setting the client's parameters on the server failed: %s", id_,
                        f ? f->message.c_str() : "?");
            break;
        }
        case 'Z':
            if (auto status = protocol::parse_ready_for_query(body)) server_ready_for_query(*status);
            --swallow_;
            break;
        case '1':
            server_->statements().on_parse_complete();
            break;
        case '3':
            server_->statements().on_close_complete();
            break;
        default:
            break;
    }
    return false;
}

void ClientConn::protocol_error(Side from, const std::string& sqlstate, const std::string& message) {
    bool at_boundary = server_ == nullptr || server_->scan().at_boundary();
    if (from == Side::Server)
        log_error("C-%u: protocol error from server: %s", id_, message.c_str());
    // The server must not see the rest of a malformed stream, nor go back to a pool.
    if (server_ != nullptr) {
        ServerConn* s = server_;
        server_ = nullptr;
        s->detach_client();
        s->disconnect("protocol error");
    }
    if (at_boundary)
        fail_client(sqlstate.c_str(), from == Side::Server ? "protocol error from server: " + message : message);
    else
        close_after_flush();
}

}  // namespace pggate::session
