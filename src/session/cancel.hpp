// Forwarding of one CancelRequest to the backend a client's key leads to.
#pragma once

#include <cstdint>
#include <optional>

#include "net/address.hpp"
#include "net/event_ptr.hpp"
#include "protocol/messages.hpp"

namespace pggate::session {

class Worker;

// Sends the backend's own key to its node, then closes the requester's
// connection once the server has closed its side (it has acted on the
// request by then), or after a timeout. Without a target it just closes.
class CancelForward {
public:
    CancelForward(Worker& worker, net::BuffereventPtr client);
    // Called once the worker owns this object: it may retire itself at once.
    // `slot`: the client whose cancel this is, counted in flight until done.
    void start(const net::SocketAddress* node, std::optional<protocol::BackendKey> backend,
               std::optional<std::uint32_t> slot = std::nullopt);
    CancelForward(const CancelForward&) = delete;
    CancelForward& operator=(const CancelForward&) = delete;

private:
    static void on_server_event(bufferevent*, short events, void* arg);
    static void on_timeout(evutil_socket_t, short, void* arg);
    void finish();

    Worker& worker_;
    net::BuffereventPtr client_;
    net::BuffereventPtr server_;
    net::EventPtr timer_;
    bool finished_ = false;
    std::optional<std::uint32_t> slot_;
};

}  // namespace pggate::session
