// Writing a bufferevent's pending output at once, from the relay, instead of
// on the next loop pass: the write event is armed only when the socket
// cannot take everything, which saves two epoll_ctl calls and a wakeup per
// message burst on the hot path.
#pragma once

#include <event2/bufferevent.h>

namespace pggate::net {

// Writes what `bev`'s output holds to its socket now; when everything went,
// the write event armed for it is withdrawn (the event base must use
// EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST for that to cost no system call).
// Only plain socket bufferevents are written this way: a TLS one, or a
// failed or short write, is left to the event loop. Returns whether the
// output is empty afterwards.
bool write_now(bufferevent* bev);

}  // namespace pggate::net
