// CancelRequest forwarding to the node running the client's query.
#include "session/cancel.hpp"

#include "core/log.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {
constexpr timeval kCancelTimeout{10, 0};
}

CancelForward::CancelForward(Worker& worker, net::BuffereventPtr client)
    : worker_(worker), client_(std::move(client)) {
    if (client_) bufferevent_disable(client_.get(), EV_READ | EV_WRITE);
    timer_.reset(evtimer_new(worker_.base(), on_timeout, this));
}

void CancelForward::start(const net::SocketAddress* node, std::optional<protocol::BackendKey> backend,
                          std::optional<std::uint32_t> slot) {
    slot_ = slot;
    if (node == nullptr || !backend) {
        finish();
        return;
    }
    server_.reset(bufferevent_socket_new(worker_.base(), -1, BEV_OPT_CLOSE_ON_FREE));
    bufferevent_setcb(server_.get(), nullptr, nullptr, on_server_event, this);
    Bytes packet;
    protocol::build_cancel_request(packet, backend->pid, backend->secret);
    bufferevent_write(server_.get(), packet.data(), packet.size());
    bufferevent_enable(server_.get(), EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(server_.get(), node->get(), static_cast<int>(node->length)) < 0) {
        finish();
        return;
    }
    evtimer_add(timer_.get(), &kCancelTimeout);
}

void CancelForward::on_server_event(bufferevent*, short events, void* arg) {
    auto* c = static_cast<CancelForward*>(arg);
    if (events & BEV_EVENT_ERROR)
        log_warning("cancel request could not be sent: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) c->finish();
}

void CancelForward::on_timeout(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<CancelForward*>(arg);
    log_warning("cancel request: no answer from the server in time");
    c->finish();
}

void CancelForward::finish() {
    if (finished_) return;
    finished_ = true;
    if (slot_) worker_.shm().end_cancel(*slot_);
    if (server_) {
        bufferevent_setcb(server_.get(), nullptr, nullptr, nullptr, nullptr);
        bufferevent_disable(server_.get(), EV_READ | EV_WRITE);
    }
    evtimer_del(timer_.get());
    worker_.retire(this);
}

}  // namespace pggate::session
