// Direct reads into a socket bufferevent's input: see direct_read.hpp.
#include "net/direct_read.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <sys/uio.h>

#include <cerrno>

namespace pggate::net {

namespace {

// One read takes what a pipelined burst or a result page usually is; the
// input grows by this much only while the bytes are there to fill it.
constexpr ev_ssize_t kReadChunk = 16384;

// What libevent assigned to socket bufferevents' read events, kept when the
// first one is taken over so that read_by_libevent can put it back.
event_callback_fn libevent_read = nullptr;

void fail(bufferevent* bev, short what) {
    bufferevent_disable(bev, EV_READ);
    if (bev->errorcb != nullptr) bev->errorcb(bev, static_cast<short>(BEV_EVENT_READING | what), bev->cbarg);
}

void on_readable(evutil_socket_t fd, short events, void* arg) {
    auto* bev = static_cast<bufferevent*>(arg);
    if (!(events & EV_READ)) {
        fail(bev, BEV_EVENT_TIMEOUT);
        return;
    }
    evbuffer* in = bev->input;
    // A socket bufferevent keeps its input's end frozen so that only its
    // own reads add to it; they thaw it around the read, as here.
    evbuffer_unfreeze(in, 0);
    evbuffer_iovec space[2];
    const int chunks = evbuffer_reserve_space(in, kReadChunk, space, 2);
    iovec iov[2];
    for (int i = 0; i < chunks; ++i) iov[i] = {space[i].iov_base, space[i].iov_len};
    const ssize_t got = chunks > 0 ? readv(fd, iov, chunks) : -1;
    const int read_errno = errno;
    int used = 0;
    for (ssize_t left = got; left > 0; ++used) {
        if (static_cast<std::size_t>(left) < space[used].iov_len) space[used].iov_len = static_cast<std::size_t>(left);
        left -= static_cast<ssize_t>(space[used].iov_len);
    }
    evbuffer_commit_space(in, space, used);
    evbuffer_freeze(in, 0);
    if (got > 0) {
        if (bev->readcb != nullptr && evbuffer_get_length(in) >= bev->wm_read.low) bev->readcb(bev, bev->cbarg);
        return;
    }
    if (got < 0 && (read_errno == EAGAIN || read_errno == EWOULDBLOCK || read_errno == EINTR)) return;
    errno = read_errno;  // the event callback reports the socket's error
    fail(bev, got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
}

// Assigns `callback` to `bev`'s read event, keeping whether it was armed.
void reassign(bufferevent* bev, event_callback_fn callback) {
    event* ev = &bev->ev_read;
    const bool armed = event_pending(ev, EV_READ, nullptr) != 0;
    if (armed) event_del(ev);
    event_assign(ev, bev->ev_base, event_get_fd(ev), EV_READ | EV_PERSIST | EV_FINALIZE, callback, bev);
    if (armed) event_add(ev, nullptr);
}

}  // namespace

void read_directly(bufferevent* bev) {
    event* ev = &bev->ev_read;
    if (bufferevent_getfd(bev) < 0 || bufferevent_get_underlying(bev) != nullptr || bev->wm_read.high != 0) return;
    const event_callback_fn current = event_get_callback(ev);
    if (current == on_readable) return;
    libevent_read = current;
    reassign(bev, on_readable);
}

void read_by_libevent(bufferevent* bev) {
    if (event_get_callback(&bev->ev_read) == on_readable && libevent_read != nullptr)
        reassign(bev, libevent_read);
}

}  // namespace pggate::net
