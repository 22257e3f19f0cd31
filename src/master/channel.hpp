// The channel between the master and each child: a socketpair carrying
// length-prefixed frames. Master to child: the bytes of a configuration the
// master has validated, and the answer to a worker's reload request. Worker
// to master: requests of the admin console (SET, RELOAD).
#pragma once

#include <event2/buffer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pggate::master {

// What the master tells a child.
struct MasterMessage {
    enum class Kind { Config, ReloadAnswer };
    Kind kind = Kind::Config;
    // Config: the number of this configuration (each one the master applies
    // gets the next). ReloadAnswer: the configuration the reload made, 0 if
    // the master refused the file.
    std::uint64_t generation = 0;
    std::uint64_t request = 0;  // ReloadAnswer: the worker's number of its request
    std::string text;           // Config: the configuration; ReloadAnswer: why it was refused
};
std::string encode_master_message(const MasterMessage& message);
// nullopt: a malformed payload.
std::optional<MasterMessage> decode_master_message(std::string_view payload);

// What a worker asks of the master for its admin console.
struct WorkerRequest {
    enum class Kind { Set, Reload };
    Kind kind = Kind::Set;
    std::string key, value;     // Set: [pggate] key = value
    std::uint64_t request = 0;  // Reload: the number the master's answer repeats
};
std::string encode_worker_request(const WorkerRequest& request);
std::optional<WorkerRequest> decode_worker_request(std::string_view payload);

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
