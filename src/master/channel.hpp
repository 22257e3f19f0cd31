// The channel between the master and each child: a socketpair carrying
// length-prefixed frames. Master to child: the bytes of a configuration the
// master has validated. Worker to master: requests of the admin console
// ("SET\0key\0value").
#pragma once

#include <event2/buffer.h>

#include <string>
#include <string_view>

namespace pggate::master {

// Blocking write of one frame; false if the worker is gone.
bool write_channel_frame(int fd, std::string_view payload);

// Takes one whole frame out of `in` if there is one.
bool read_channel_frame(evbuffer* in, std::string& payload);

// Blocking read of one frame (the master, once poll() says one has begun);
// false at EOF, on an error, or for a frame over kMaxRequestFrame bytes.
inline constexpr std::size_t kMaxRequestFrame = 64 * 1024;
bool read_channel_frame(int fd, std::string& payload);

// One frame, for a bufferevent to send.
std::string channel_frame(std::string_view payload);

}  // namespace pggate::master
