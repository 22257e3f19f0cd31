// The session-mode relay: startup packets, pass-through login with pggate's own
// cancel key, then streaming in both directions.
#include "session/session.hpp"

#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {

using protocol::Decode;
using protocol::Direction;

// Output queued toward one side beyond which reading from the other stops;
// reading resumes when the queue drains below half of it.
constexpr std::size_t kHighWater = 256 * 1024;
// Server messages pggate reads whole during login are small; this bounds them.
constexpr std::uint32_t kMaxLoginMessage = 1024 * 1024;
constexpr timeval kFlushTimeout{5, 0};

Side other(Side s) { return s == Side::Client ? Side::Server : Side::Client; }

void set_nodelay(bufferevent* b) {
    int on = 1;
    setsockopt(bufferevent_getfd(b), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

const char* state_name(SessionState s) {
    switch (s) {
        case SessionState::Startup: return "startup";
        case SessionState::Connecting: return "connecting";
        case SessionState::Login: return "login";
        case SessionState::Relay: return "relay";
        case SessionState::Flushing: return "flushing";
        case SessionState::Closed: return "closed";
    }
    return "?";
}

}  // namespace

Session::Session(Worker& worker, evutil_socket_t fd, std::string peer)
    : worker_(worker), id_(worker.next_connection_id()), peer_(std::move(peer)) {
    client_.reset(bufferevent_socket_new(worker_.base(), fd, BEV_OPT_CLOSE_ON_FREE));
    flush_timer_.reset(evtimer_new(worker_.base(), on_flush_deadline, this));
    set_nodelay(client_.get());
    bufferevent_setcb(client_.get(), on_client_read, on_client_write, on_client_event, this);
    bufferevent_setwatermark(client_.get(), EV_WRITE, kHighWater / 2, 0);
    bufferevent_enable(client_.get(), EV_READ | EV_WRITE);
    log_debug("C-%u %s: connected", id_, peer_.c_str());
}

Session::~Session() {
    if (slot_) {
        worker_.shm().release_slot(*slot_);
        worker_.give_slot(*slot_);
    }
    if (admitted_) worker_.shm().client_left(worker_.index());
}

void Session::set_state(SessionState next) {
    log_noise("C-%u %s: %s -> %s", id_, peer_.c_str(), state_name(state_), state_name(next));
    state_ = next;
}

void Session::disconnect(const char* reason) {
    if (state_ == SessionState::Closed) return;
    log_debug("C-%u %s/%s@%s: closing: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(), reason);
    set_state(SessionState::Closed);
    for (bufferevent* b : {client_.get(), server_.get()}) {
        if (b == nullptr) continue;
        bufferevent_setcb(b, nullptr, nullptr, nullptr, nullptr);
        bufferevent_disable(b, EV_READ | EV_WRITE);
    }
    evtimer_del(flush_timer_.get());
    worker_.retire(this);
}

void Session::detach_server() {
    if (server_ == nullptr || server_detached_) return;
    bufferevent_setcb(server_.get(), nullptr, nullptr, nullptr, nullptr);
    bufferevent_disable(server_.get(), EV_READ | EV_WRITE);
    server_detached_ = true;
}

void Session::fail_client(const char* sqlstate, const std::string& message) {
    log_info("C-%u %s/%s@%s: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(), message.c_str());
    Bytes out;
    protocol::build_error(out, "FATAL", sqlstate, message);
    bufferevent_write(client_.get(), out.data(), out.size());
    close_after_flush(Side::Client);
}

void Session::close_after_flush(Side side) {
    if (state_ == SessionState::Closed) return;
    set_state(SessionState::Flushing);
    flushing_side_ = side;
    for (bufferevent* b : {client_.get(), server_.get()})
        if (b != nullptr) bufferevent_disable(b, EV_READ);
    bufferevent* b = bev(side);
    if (b == nullptr || evbuffer_get_length(bufferevent_get_output(b)) == 0) {
        disconnect("finished");
        return;
    }
    bufferevent_setwatermark(b, EV_WRITE, 0, 0);
    evtimer_add(flush_timer_.get(), &kFlushTimeout);
}

void Session::on_flush_deadline(evutil_socket_t, short, void* arg) {
    static_cast<Session*>(arg)->disconnect("timed out sending the last bytes");
}

// ---- client side -----------------------------------------------------------

void Session::on_client_read(bufferevent*, void* arg) {
    auto* s = static_cast<Session*>(arg);
    if (s->state_ == SessionState::Startup)
        s->read_startup();
    else if (s->state_ == SessionState::Login || s->state_ == SessionState::Relay)
        s->pump(Side::Client);
}

void Session::on_client_write(bufferevent*, void* arg) {
    static_cast<Session*>(arg)->resume_paused(Side::Client);
}

void Session::on_client_event(bufferevent*, short events, void* arg) {
    auto* s = static_cast<Session*>(arg);
    if (events & BEV_EVENT_EOF)
        s->disconnect("client closed the connection");
    else if (events & BEV_EVENT_ERROR)
        s->disconnect(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

void Session::read_startup() {
    evbuffer* in = bufferevent_get_input(client_.get());
    while (state_ == SessionState::Startup) {
        std::size_t len = evbuffer_get_length(in);
        if (len == 0) return;
        std::size_t take = std::min<std::size_t>(len, protocol::kMaxStartupPacket);
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(take));
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
            case protocol::StartupKind::GssEncRequest:
                evbuffer_drain(in, pkt.frame_len);
                bufferevent_write(client_.get(), "N", 1);
                break;
            case protocol::StartupKind::CancelRequest:
                evbuffer_drain(in, pkt.frame_len);
                bufferevent_setcb(client_.get(), nullptr, nullptr, nullptr, nullptr);
                worker_.forward_cancel(pkt.cancel_pid, pkt.cancel_secret, std::move(client_));
                disconnect("cancel request handed over");
                return;
            case protocol::StartupKind::Startup:
                startup_packet_.assign(p, p + pkt.frame_len);
                evbuffer_drain(in, pkt.frame_len);
                user_ = pkt.param("user");
                database_ = pkt.param("database");
                if (database_.empty()) database_ = user_;
                if (!worker_.shm().try_admit_client(worker_.index(),
                                                    static_cast<std::uint32_t>(worker_.config().max_client_conn))) {
                    fail_client("53300", "no more connections allowed (max_client_conn)");
                    return;
                }
                admitted_ = true;
                slot_ = worker_.take_slot();
                if (!slot_) {
                    fail_client("53300", "no more connections allowed (max_client_conn)");
                    return;
                }
                start_server_connect();
                return;
        }
    }
}

// ---- server side -----------------------------------------------------------

void Session::start_server_connect() {
    node_ = worker_.primary_node();
    const auto& addr = worker_.node_address(node_);
    if (!addr) {
        fail_client("08006", "could not resolve the address of node " + worker_.node(node_).name);
        return;
    }
    set_state(SessionState::Connecting);
    bufferevent_disable(client_.get(), EV_READ);  // nothing more to read until the server talks
    server_.reset(bufferevent_socket_new(worker_.base(), -1, BEV_OPT_CLOSE_ON_FREE));
    bufferevent_setcb(server_.get(), on_server_read, on_server_write, on_server_event, this);
    bufferevent_setwatermark(server_.get(), EV_WRITE, kHighWater / 2, 0);
    if (bufferevent_socket_connect(server_.get(), addr->get(), static_cast<int>(addr->length)) < 0)
        server_lost(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

void Session::on_server_connected() {
    if (worker_.node_address(node_)->family() != AF_UNIX) set_nodelay(server_.get());
    set_state(SessionState::Login);
    bufferevent_write(server_.get(), startup_packet_.data(), startup_packet_.size());
    Bytes().swap(startup_packet_);
    bufferevent_enable(server_.get(), EV_READ | EV_WRITE);
    bufferevent_enable(client_.get(), EV_READ);
    pump(Side::Client);
}

void Session::on_server_read(bufferevent*, void* arg) {
    auto* s = static_cast<Session*>(arg);
    if (s->state_ == SessionState::Login || s->state_ == SessionState::Relay) s->pump(Side::Server);
}

void Session::on_server_write(bufferevent*, void* arg) {
    static_cast<Session*>(arg)->resume_paused(Side::Server);
}

void Session::on_server_event(bufferevent*, short events, void* arg) {
    auto* s = static_cast<Session*>(arg);
    if (events & BEV_EVENT_CONNECTED) {
        s->on_server_connected();
        return;
    }
    if (events & BEV_EVENT_EOF) {
        // Whatever the server sent before closing (a FATAL error) still goes out.
        s->pump(Side::Server);
        s->server_lost("server closed the connection unexpectedly");
    } else if (events & BEV_EVENT_ERROR) {
        s->server_lost(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
}

void Session::server_lost(const char* why) {
    if (state_ == SessionState::Closed) return;
    const std::string& node = worker_.node(node_).name;
    if (state_ == SessionState::Flushing) {
        if (flushing_side_ == Side::Server) disconnect("server closed after Terminate");
        return;
    }
    log_warning("S-%u %s: lost: %s", id_, node.c_str(), why);
    detach_server();
    // An error can only be added between two messages the client receives.
    if (from_server_.at_boundary()) {
        std::string msg = state_ == SessionState::Connecting
                              ? "could not connect to server " + node + ": " + why
                              : std::string("server connection lost: ") + why;
        fail_client("08006", msg);
    } else {
        close_after_flush(Side::Client);
    }
}

// ---- relay -----------------------------------------------------------------

void Session::pump(Side from) {
    bufferevent* src = bev(from);
    bufferevent* dst = bev(other(from));
    if (src == nullptr || dst == nullptr) return;
    evbuffer* in = bufferevent_get_input(src);
    evbuffer* out = bufferevent_get_output(dst);
    const bool client = from == Side::Client;
    net::ScanState& scan = client ? from_client_ : from_server_;
    const Direction dir = client ? Direction::Frontend : Direction::Backend;
    const std::uint32_t max_len = client ? worker_.config().max_packet_size
                                  : state_ == SessionState::Login ? kMaxLoginMessage
                                                                  : protocol::kMaxWireLength;

    while (state_ == SessionState::Login || state_ == SessionState::Relay) {
        const bool login = state_ == SessionState::Login;
        net::ScanResult r = net::scan_frames(in, scan, dir, max_len, [&](const protocol::MessageHeader& h) {
            return client ? h.type == 'X' : login;
        });
        if (r.forward > 0) evbuffer_remove_buffer(in, out, r.forward);
        if (r.stop == net::ScanStop::More) break;
        if (r.stop == net::ScanStop::Error) {
            protocol_error(from, r.error);
            return;
        }
        std::size_t frame_len = r.header.frame_len();
        if (evbuffer_get_length(in) < frame_len) break;
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(frame_len));
        if (handle_message(from, r.header.type, {p + protocol::kHeaderSize, r.header.body_len()}))
            evbuffer_remove_buffer(in, out, frame_len);
        else
            evbuffer_drain(in, frame_len);
    }
    if (state_ != SessionState::Closed && evbuffer_get_length(out) >= kHighWater && !paused_[int(from)]) {
        paused_[int(from)] = true;
        bufferevent_disable(src, EV_READ);
    }
}

void Session::resume_paused(Side toward) {
    if (state_ == SessionState::Flushing && flushing_side_ == toward) {
        if (evbuffer_get_length(bufferevent_get_output(bev(toward))) == 0) disconnect("finished");
        return;
    }
    Side from = other(toward);
    if (!paused_[int(from)] || state_ == SessionState::Closed) return;
    paused_[int(from)] = false;
    bufferevent_enable(bev(from), EV_READ);
    pump(from);  // bytes read before the pause are still waiting
}

bool Session::handle_message(Side from, char type, std::span<const std::uint8_t> body) {
    if (from == Side::Client) {  // Terminate: pass it on, then close when it is written
        bufferevent_write(server_.get(), &type, 1);
        std::uint8_t len[4] = {0, 0, 0, 4};
        bufferevent_write(server_.get(), len, sizeof len);
        close_after_flush(Side::Server);
        return false;
    }
    switch (type) {
        case 'K': {
            auto key = protocol::parse_backend_key_data(body);
            if (!key) {
                protocol_error(Side::Server, {"08P01", "invalid BackendKeyData from server"});
                return false;
            }
            client_secret_ = worker_.random_secret();
            worker_.shm().publish_backend(*slot_, client_secret_, node_, key->pid, key->secret);
            Bytes out;
            protocol::build_backend_key_data(out, worker_.shm().key_pid(*slot_), client_secret_);
            bufferevent_write(client_.get(), out.data(), out.size());
            return false;
        }
        case 'Z':
            log_debug("C-%u %s/%s@%s: logged in on %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(),
                      worker_.node(node_).name.c_str());
            set_state(SessionState::Relay);
            return true;
        case 'E':
            bufferevent_write(client_.get(), body.data() - protocol::kHeaderSize,
                              body.size() + protocol::kHeaderSize);
            close_after_flush(Side::Client);
            return false;
        case 'R': case 'S': case 'N': case 'v':
            return true;
        default:
            protocol_error(Side::Server, {"08P01", std::string("unexpected message '") + type +
                                                       "' from server during login"});
            return false;
    }
}

void Session::protocol_error(Side from, const protocol::DecodeError& err) {
    if (from == Side::Client) {
        // The server must not see the rest of a malformed stream; the client
        // gets the reason (if it is between messages it receives) and a close.
        detach_server();
        if (from_server_.at_boundary())
            fail_client(err.sqlstate, err.message);
        else
            close_after_flush(Side::Client);
        return;
    }
    log_error("S-%u %s: protocol error from server: %s", id_, worker_.node(node_).name.c_str(),
              err.message.c_str());
    detach_server();
    if (from_server_.at_boundary())
        fail_client("08P01", "protocol error from server: " + err.message);
    else
        close_after_flush(Side::Client);
}

}  // namespace pggate::session
