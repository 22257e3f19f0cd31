// Server connections: connecting, pooled login, idle and reset handling; a
// linked client handles the relay.
#include "session/server_conn.hpp"

#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctime>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/address.hpp"
#include "net/direct_read.hpp"
#include "net/tls.hpp"
#include "protocol/codec.hpp"
#include "session/client_conn.hpp"
#include "session/shadow_read.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {

constexpr std::uint32_t kMaxOwnMessage = 1024 * 1024;

const char* state_name(ServerState s) {
    switch (s) {
        case ServerState::Connecting: return "connecting";
        case ServerState::Login: return "login";
        case ServerState::Idle: return "idle";
        case ServerState::Active: return "active";
        case ServerState::Resetting: return "resetting";
        case ServerState::Testing: return "testing";
        case ServerState::Shadow: return "shadow";
        case ServerState::Closed: return "closed";
    }
    return "?";
}

}  // namespace

ServerConn::ServerConn(Worker& worker, pool::Pool* pool, std::uint32_t node, std::optional<auth::ServerLogin> login)
    : worker_(worker),
      pool_(pool),
      node_(node),
      node_config_(worker.node(node)),
      address_(worker.node_address(node)),
      id_(worker.next_connection_id()),
      login_(std::move(login)) {}

ServerConn::~ServerConn() {
    if (!record_) return;
    worker_.shm().server(*record_).clear();
    worker_.give_server_slot(*record_);
}

void ServerConn::set_state(ServerState next) {
    log_noise("S-%u %s: %s -> %s", id_, node_config_.name.c_str(), state_name(state_), state_name(next));
    state_ = next;
    state_since_ = pool::Clock::now();
    publish_activity();
}

namespace {

shm::ServerActivity activity_of(ServerState s) {
    switch (s) {
        case ServerState::Idle: return shm::ServerActivity::Idle;
        case ServerState::Active: return shm::ServerActivity::Active;
        case ServerState::Resetting: return shm::ServerActivity::Resetting;
        case ServerState::Testing: return shm::ServerActivity::Testing;
        case ServerState::Shadow: return shm::ServerActivity::Shadow;
        case ServerState::Closed: return shm::ServerActivity::Free;
        default: return shm::ServerActivity::Login;
    }
}

}  // namespace

void ServerConn::publish_record(std::string_view user, std::string_view database) {
    record_ = worker_.take_server_slot();
    if (!record_) return;
    shm::ServerInfo info;
    info.activity = activity_of(state_);
    info.user = user;
    info.database = database;
    info.node = node_;
    info.connected_at = std::time(nullptr);
    info.since_ms = unix_now_ms();
    worker_.shm().server(*record_).publish(info);
}

void ServerConn::renumber(std::uint32_t node) {
    node_ = node;
    if (record_) worker_.shm().server(*record_).publish_node(node);
}

void ServerConn::publish_activity() {
    if (!record_) return;
    worker_.shm().server(*record_).publish_activity(activity_of(state_), unix_now_ms(),
                                                     client_ != nullptr ? client_->key_pid() : 0, key_.pid);
}

void ServerConn::check_timeouts(pool::Clock::time_point now) {
    const config::Config& c = worker_.config();
    auto over = [&](pool::Clock::time_point since, double limit) {
        return limit > 0 && std::chrono::duration<double>(now - since).count() >= limit;
    };
    // A pass-through server's login is the client's (client_login_timeout).
    bool logging_in = state_ == ServerState::Connecting || (state_ == ServerState::Login && client_ == nullptr);
    if (logging_in && over(created_at_, c.server_connect_timeout)) {
        log_warning("S-%u %s: no connection and login within server_connect_timeout", id_,
                    node_config_.name.c_str());
        disconnect("server_connect_timeout");
    } else if (state_ == ServerState::Testing && over(state_since_, c.server_connect_timeout)) {
        disconnect("no answer to server_check_query within server_connect_timeout");
    } else if (state_ == ServerState::Shadow && over(state_since_, c.query_timeout)) {
        disconnect("shadow read beyond query_timeout");
    } else if (state_ == ServerState::Idle && over(state_since_, c.server_idle_timeout) && pool_->may_shrink()) {
        disconnect("server_idle_timeout");
    } else if (state_ == ServerState::Idle && over(created_at_, c.server_lifetime)) {
        disconnect("server_lifetime");
    }
}

void ServerConn::start(Bytes startup, ClientConn* client) {
    startup_ = std::move(startup);
    client_ = client;
    // allow asks for TLS only on its second try, prefer on its first.
    const config::SslMode mode = worker_.config().server_tls.sslmode;
    const bool tls = worker_.server_tls() != nullptr;
    try_tls_ = tls && mode != config::SslMode::Allow;
    second_try_left_ = tls && (mode == config::SslMode::Allow || mode == config::SslMode::Prefer);
    connect();
}

void ServerConn::connect() {
    const auto& addr = address_;
    bev_.reset(bufferevent_socket_new(worker_.base(), -1, BEV_OPT_CLOSE_ON_FREE));
    bufferevent_setcb(bev_.get(), on_read, on_write, on_event, this);
    bufferevent_setwatermark(bev_.get(), EV_WRITE, kRelayHighWater / 2, 0);
    if (!addr || bufferevent_socket_connect(bev_.get(), addr->get(), static_cast<int>(addr->length)) < 0) {
        disconnect(addr ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) : "node address unknown");
        return;
    }
    net::read_directly(bev_.get());
}

void ServerConn::link(ClientConn* client) {
    client_ = client;
    set_state(ServerState::Active);
}

void ServerConn::unlink() {
    client_ = nullptr;
    set_state(ServerState::Idle);
    bufferevent_enable(bev_.get(), EV_READ);  // a relay pause must not outlive the link
}

void ServerConn::reset(const std::string& query) {
    set_state(ServerState::Resetting);
    // pggate's own statements must go whatever the reset query does.
    if (!statements_.empty()) send_query("DEALLOCATE ALL");
    statements_.clear();
    sets_.clear();
    send_query(query);
}

void ServerConn::check(const std::string& query) {
    set_state(ServerState::Testing);
    send_query(query);
}

void ServerConn::run_shadow(ShadowRead* run, const std::string& prefix, const Bytes& segment) {
    shadow_ = run;
    set_state(ServerState::Shadow);
    if (!prefix.empty()) send_query(prefix);
    for (std::size_t pos = 0; pos + protocol::kHeaderSize <= segment.size();) {
        tracker_.on_frontend(static_cast<char>(segment[pos]));
        pos += 1 + load_be32(segment.data() + pos + 1);
    }
    bufferevent_write(bev_.get(), segment.data(), segment.size());
}

void ServerConn::end_shadow() {
    shadow_ = nullptr;
    unlink();
    pool_->release(this, false);
}

void ServerConn::send_query(std::string_view sql) {
    Bytes q;
    protocol::build_query(q, sql);
    tracker_.on_frontend('Q');
    bufferevent_write(bev_.get(), q.data(), q.size());
}

void ServerConn::disconnect(const char* reason) {
    if (state_ == ServerState::Closed) return;
    log_debug("S-%u %s: closing: %s", id_, node_config_.name.c_str(), reason);
    ServerState was = state_;
    // Closing the socket alone lets the backend run its query to the end.
    if ((was == ServerState::Active || was == ServerState::Shadow) && tracker_.outstanding() > 0)
        worker_.cancel_backend(address_, key_);
    if (ShadowRead* run = std::exchange(shadow_, nullptr)) run->on_server_lost();
    set_state(ServerState::Closed);
    if (bev_) {
        bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
        bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    }
    ClientConn* client = client_;
    client_ = nullptr;
    if (pool_ != nullptr) pool_->server_closed(this, was, reason);
    worker_.retire(this);
    if (client != nullptr) client->on_server_closed(reason);
}

void ServerConn::note_param(std::span<const std::uint8_t> body) {
    ByteReader r(body.data(), body.size());
    std::string_view name = r.cstring();
    std::string_view value = r.cstring();
    if (r.failed()) return;
    for (auto& [k, v] : params_)
        if (k == name) {
            v = value;
            return;
        }
    params_.emplace_back(name, value);
}

void ServerConn::on_read(bufferevent*, void* arg) {
    auto* s = static_cast<ServerConn*>(arg);
    if (s->tls_ == Tls::Asked)
        s->read_tls_answer();
    else if (s->client_ == nullptr)
        s->read_own();
    else if (!(s->first_answer_pending_ && s->hold_first_answer()))
        s->client_->on_server_readable();
}

void ServerConn::on_write(bufferevent*, void* arg) {
    auto* s = static_cast<ServerConn*>(arg);
    if (s->client_ != nullptr) s->client_->on_server_writable();
}

void ServerConn::on_event(bufferevent*, short events, void* arg) {
    auto* s = static_cast<ServerConn*>(arg);
    if (events & BEV_EVENT_CONNECTED) {
        if (s->tls_ == Tls::Handshake) {
            s->tls_ = Tls::On;
            log_debug("S-%u %s: TLS established (%s)", s->id_, s->node_config_.name.c_str(),
                      net::tls_description(net::tls_session(s->bev_.get())).c_str());
            s->send_startup();
            return;
        }
        const auto& addr = s->address_;
        if (addr && addr->family() != AF_UNIX) {
            int on = 1;
            setsockopt(bufferevent_getfd(s->bev_.get()), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            // TLS is asked for before the startup, as libpq does: SSLRequest, then one byte of answer.
            if (s->try_tls_ && s->worker_.server_tls() != nullptr) {
                s->tls_ = Tls::Asked;
                Bytes request;
                protocol::build_ssl_request(request);
                bufferevent_write(s->bev_.get(), request.data(), request.size());
                bufferevent_enable(s->bev_.get(), EV_READ | EV_WRITE);
                return;
            }
        }
        s->send_startup();
        return;
    }
    if (s->tls_ == Tls::Handshake && (events & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
        const std::string why = "TLS handshake with the server failed: " + net::tls_failure(s->bev_.get());
        if (!s->retry_other_way(why)) s->fail_tls(why);
        return;
    }
    if (events & BEV_EVENT_EOF) {
        // What the server said before closing (a FATAL error) still goes out.
        bufferevent* const closed = s->bev_.get();
        on_read(nullptr, s);
        if (s->bev_.get() != closed) return;  // that refusal began a second try
        s->disconnect("server closed the connection unexpectedly");
    } else if (events & BEV_EVENT_ERROR) {
        s->disconnect(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
}

void ServerConn::send_startup() {
    if (record_) {
        const net::Endpoint local = net::local_endpoint(bufferevent_getfd(bev_.get()));
        worker_.shm().server(*record_).publish_connection(
            local.addr, local.port, tls_ == Tls::On ? net::tls_description(net::tls_session(bev_.get())) : "");
    }
    set_state(client_ != nullptr ? ServerState::Active : ServerState::Login);
    bufferevent_write(bev_.get(), startup_.data(), startup_.size());
    if (!second_try_left_) no_second_try();  // the startup is kept for a second try only
    first_answer_pending_ = client_ != nullptr;
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
    if (client_ != nullptr) client_->on_server_connected();
}

void ServerConn::no_second_try() {
    second_try_left_ = false;
    Bytes().swap(startup_);
}

bool ServerConn::retry_other_way(const std::string& refusal) {
    if (!second_try_left_) return false;
    second_try_left_ = false;
    first_try_ = std::string(try_tls_ ? "with" : "without") + " TLS: " + refusal;
    try_tls_ = !try_tls_;
    log_info("S-%u %s: refused %s; trying again %s TLS, as server_tls_sslmode = %s does", id_,
             node_config_.name.c_str(), first_try_.c_str(), try_tls_ ? "with" : "without",
             try_tls_ ? "allow" : "prefer");
    // The first connection goes once this callback has returned.
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    worker_.retire(std::move(bev_));
    tls_ = Tls::None;
    first_answer_pending_ = false;
    key_ = {};
    params_.clear();
    if (login_) login_->restart();
    set_state(ServerState::Connecting);
    connect();
    return true;
}

std::string ServerConn::first_try_note() const {
    return first_try_.empty() ? std::string() : " (tried first " + first_try_ + ")";
}

Bytes ServerConn::with_first_try(std::span<const std::uint8_t> frame) const {
    std::optional<protocol::ErrorFields> f;
    if (!first_try_.empty() && frame.size() >= protocol::kHeaderSize)
        f = protocol::parse_error_fields(frame.subspan(protocol::kHeaderSize));
    if (!f) return Bytes(frame.begin(), frame.end());
    Bytes out;
    protocol::build_error(out, f->severity.empty() ? "FATAL" : f->severity, f->sqlstate, f->message + first_try_note());
    return out;
}

bool ServerConn::hold_first_answer() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    protocol::MessageHeader h;
    protocol::DecodeError err;
    const protocol::Decode d = net::peek_message(in, 0, protocol::Direction::Backend, kMaxOwnMessage, h, err);
    if (d == protocol::Decode::NeedMore) return true;
    // Anything but a refusal (a malformed one included) is the client's to read.
    if (d == protocol::Decode::Error || h.type != 'E') {
        first_answer_pending_ = false;
        no_second_try();
        return false;
    }
    if (evbuffer_get_length(in) < h.frame_len()) return true;
    first_answer_pending_ = false;
    const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(h.frame_len()));
    const std::span<const std::uint8_t> frame(p, h.frame_len());
    std::optional<protocol::ErrorFields> f = protocol::parse_error_fields(frame.subspan(protocol::kHeaderSize));
    if (retry_other_way(f ? f->message : std::string("an error"))) return true;
    if (!first_try_.empty()) {
        Bytes told = with_first_try(frame);
        evbuffer_drain(in, h.frame_len());
        evbuffer_prepend(in, told.data(), told.size());
    }
    return false;
}

void ServerConn::read_tls_answer() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    char answer = 0;
    if (evbuffer_remove(in, &answer, 1) != 1) return;
    const config::SslMode mode = worker_.config().server_tls.sslmode;
    // Anything behind the answer came before the handshake, unprotected.
    if (evbuffer_get_length(in) > 0) {
        fail_tls("the server sent unencrypted data after its answer to SSLRequest");
        return;
    }
    if (answer == 'N') {
        tls_ = Tls::None;
        second_try_left_ = false;  // no TLS to do without; the startup still goes out below
        if (mode >= config::SslMode::Require) {
            fail_tls("the server does not support TLS, and server_tls_sslmode requires it");
            return;
        }
        send_startup();
        return;
    }
    if (answer != 'S') {
        fail_tls(std::string("invalid answer to SSLRequest: ") + (answer == 'E' ? "an error" : "an unknown byte"));
        return;
    }
    bufferevent* tls = net::tls_connect(worker_.base(), bev_.release(), worker_.server_tls(), node_config_.host,
                                        mode == config::SslMode::VerifyFull);
    if (tls == nullptr) {
        fail_tls("could not start TLS with the server");
        return;
    }
    bev_.reset(tls);
    tls_ = Tls::Handshake;
    bufferevent_setcb(bev_.get(), on_read, on_write, on_event, this);
    bufferevent_setwatermark(bev_.get(), EV_WRITE, kRelayHighWater / 2, 0);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
}

void ServerConn::fail_tls(const std::string& why_now) {
    const std::string why = why_now + first_try_note();
    log_error("S-%u %s: %s", id_, node_config_.name.c_str(), why.c_str());
    if (pool_ != nullptr && client_ == nullptr) {
        Bytes e;
        protocol::build_error(e, "FATAL", "08006", "pggate could not connect to the server: " + why);
        pool_->server_login_failed(this, e);
        return;
    }
    disconnect(why.c_str());
}

void ServerConn::read_own() {
    bufferevent* const bev = bev_.get();
    evbuffer* in = bufferevent_get_input(bev);
    while (state_ != ServerState::Closed && client_ == nullptr) {
        std::size_t len = evbuffer_get_length(in);
        protocol::MessageHeader h;
        protocol::DecodeError err;
        // A shadow read's rows are as long as the client's would be.
        const std::uint32_t max_len = state_ == ServerState::Shadow ? protocol::kMaxWireLength : kMaxOwnMessage;
        protocol::Decode d = net::peek_message(in, 0, protocol::Direction::Backend, max_len, h, err);
        if (d == protocol::Decode::Error) {
            log_error("S-%u %s: protocol error from server: %s", id_, node_config_.name.c_str(),
                      err.message.c_str());
            disconnect("protocol error");
            return;
        }
        if (d == protocol::Decode::NeedMore || len < h.frame_len()) return;
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(h.frame_len()));
        handle_own(h.type, {p + protocol::kHeaderSize, h.body_len()}, {p, h.frame_len()});
        if (bev_.get() != bev) return;  // a second try began on a new connection
        evbuffer_drain(in, h.frame_len());
    }
}

void ServerConn::handle_own(char type, std::span<const std::uint8_t> body, std::span<const std::uint8_t> frame) {
    if (state_ == ServerState::Shadow) {
        if (type == 'Z') {
            auto status = protocol::parse_ready_for_query(body);
            if (!status) {
                disconnect("invalid ReadyForQuery");
                return;
            }
            tracker_.on_ready_for_query(*status);
        } else if (type == 'S') {
            note_param(body);
        }
        shadow_->on_server_message(*this, type, body);
        return;
    }
    switch (type) {
        case 'R': {
            if (state_ != ServerState::Login || !login_) {
                disconnect("unexpected authentication request");
                return;
            }
            auth::ServerLogin::Step step = login_->on_auth_request(body);
            if (!step.ok) {
                log_error("S-%u %s: login as %s failed: %s", id_, node_config_.name.c_str(),
                          pool_->user().c_str(), step.error.c_str());
                Bytes e;
                protocol::build_error(e, "FATAL", "28000", "pggate could not log in to the server: " + step.error);
                pool_->server_login_failed(this, e);
                return;
            }
            if (!step.out.empty()) bufferevent_write(bev_.get(), step.out.data(), step.out.size());
            if (step.done) no_second_try();  // libpq's tries end with AuthenticationOk
            return;
        }
        case 'K':
            if (auto key = protocol::parse_backend_key_data(body)) key_ = *key;
            return;
        case 'S':
            note_param(body);
            return;
        case 'E':
            if (state_ == ServerState::Login) {
                // libpq tries the other way after any refusal of the login.
                std::optional<protocol::ErrorFields> f = protocol::parse_error_fields(body);
                if (retry_other_way(f ? f->message : std::string("an error"))) return;
                pool_->server_login_failed(this, with_first_try(frame));
                return;
            }
            if (state_ == ServerState::Resetting) return;  // ReadyForQuery follows; its status decides
            disconnect(state_ == ServerState::Testing ? "server_check_query failed" : "error from an idle server");
            return;
        case 'Z': {
            auto status = protocol::parse_ready_for_query(body);
            if (!status) {
                disconnect("invalid ReadyForQuery");
                return;
            }
            tracker_.on_ready_for_query(*status);
            if (state_ == ServerState::Login || state_ == ServerState::Resetting || state_ == ServerState::Testing) {
                if (tracker_.outstanding() > 0) return;  // more of the reset to come
                if (!tracker_.releasable()) {
                    disconnect("not idle after login or reset");
                    return;
                }
                set_state(ServerState::Idle);
                pool_->server_ready(this);
                return;
            }
            disconnect("unexpected ReadyForQuery while idle");
            return;
        }
        case 'T':
        case 'D':
        case 'I':
            if (state_ == ServerState::Resetting || state_ == ServerState::Testing) return;  // rows pggate ignores
            disconnect("unexpected message from server");
            return;
        case 'N':
        case 'C':
        case 'A':
            return;  // notices, the reset's or check's CommandComplete, stray notifications
        default:
            disconnect("unexpected message from server");
            return;
    }
}

}  // namespace pggate::session
