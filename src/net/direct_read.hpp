// Reading a plain socket bufferevent's input with one readv of up to 16 kB
// per readable event. libevent 2.1's own read asks the kernel how much is
// queued (ioctl FIONREAD) before every read and reads at most 4 kB: one
// system call more per message, and several reads for a large result.
#pragma once

#include <event2/bufferevent.h>

namespace pggate::net {

// Makes `bev`'s read event read directly; everything else (enable, disable,
// callbacks, EOF and errors through the event callback) behaves as before.
// `bev` must be a socket bufferevent whose socket is set (after
// bufferevent_socket_connect for an outgoing one) and that has no read
// watermarks; anything else is left as it is.
void read_directly(bufferevent* bev);

// Gives `bev`'s read event back to libevent, which a TLS filter on top of it
// relies on (it suspends and watermarks the reads of what it wraps).
void read_by_libevent(bufferevent* bev);

}  // namespace pggate::net
