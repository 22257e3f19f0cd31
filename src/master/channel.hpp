// The master-to-worker channel: a socketpair carrying length-prefixed frames
// (today: the bytes of a configuration the master has validated).
#pragma once

#include <event2/buffer.h>

#include <string>
#include <string_view>

namespace pggate::master {

// Blocking write of one frame; false if the worker is gone.
bool write_channel_frame(int fd, std::string_view payload);

// Takes one whole frame out of `in` if there is one.
bool read_channel_frame(evbuffer* in, std::string& payload);

}  // namespace pggate::master
