// Frames on the master-to-worker channel: a 4-byte big-endian length, then the payload.
#include "master/channel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "core/bytes.hpp"

namespace pggate::master {

std::string channel_frame(std::string_view payload) {
    std::string frame(4, '\0');
    store_be32(reinterpret_cast<std::uint8_t*>(frame.data()), static_cast<std::uint32_t>(payload.size()));
    frame.append(payload);
    return frame;
}

namespace {

// Reads exactly `len` bytes; false at EOF or on an error.
bool read_full(int fd, char* data, std::size_t len) {
    std::size_t off = 0;
    while (off < len) {
        ssize_t n = recv(fd, data + off, len - off, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

bool read_channel_frame(int fd, std::string& payload) {
    std::uint8_t len_bytes[4];
    if (!read_full(fd, reinterpret_cast<char*>(len_bytes), 4)) return false;
    const std::size_t len = load_be32(len_bytes);
    if (len > kMaxRequestFrame) return false;
    payload.resize(len);
    return read_full(fd, payload.data(), len);
}

bool write_channel_frame(int fd, std::string_view payload) {
    const std::string frame = channel_frame(payload);
    std::size_t off = 0;
    while (off < frame.size()) {
        ssize_t n = send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

bool read_channel_frame(evbuffer* in, std::string& payload) {
    std::uint8_t len_bytes[4];
    if (evbuffer_copyout(in, len_bytes, 4) != 4) return false;
    std::size_t len = load_be32(len_bytes);
    if (evbuffer_get_length(in) < 4 + len) return false;
    evbuffer_drain(in, 4);
    payload.resize(len);
    evbuffer_remove(in, payload.data(), len);
    return true;
}

}  // namespace pggate::master
