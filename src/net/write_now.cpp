// Writing a bufferevent's output from the relay without waiting for the loop.
#include "net/write_now.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

namespace pggate::net {

bool write_now(bufferevent* bev) {
    evbuffer* out = bufferevent_get_output(bev);
    if (evbuffer_get_length(out) == 0) return true;
    const evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || bufferevent_get_underlying(bev) != nullptr || bufferevent_openssl_get_ssl(bev) != nullptr)
        return false;
    // A socket bufferevent keeps its output's front frozen, so that only it
    // drains it; it thaws it around its own writes, as here.
    evbuffer_unfreeze(out, 1);
    const int written = evbuffer_write(out, fd);
    evbuffer_freeze(out, 1);
    // An error (a reset peer) leaves the data queued: the loop's own write
    // attempt meets it again and reports it through the event callback.
    if (written <= 0 || evbuffer_get_length(out) > 0) return false;
    event_del(&bev->ev_write);
    return true;
}

}  // namespace pggate::net
