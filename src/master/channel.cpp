// Frames on the master-to-worker channel: a 4-byte big-endian length, then the
// payload: fields separated by NUL bytes, the first one naming the message.
#include "master/channel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <initializer_list>

#include "core/bytes.hpp"

namespace pggate::master {

namespace {

constexpr char kSep = '\0';

// Splits `rest` at its first NUL: the field before it, and `rest` after it.
// Without one, the whole of `rest` is the field and `rest` ends empty.
std::string_view take_field(std::string_view& rest, bool& had_separator) {
    const std::size_t at = rest.find(kSep);
    had_separator = at != std::string_view::npos;
    std::string_view field = rest.substr(0, at);
    rest = had_separator ? rest.substr(at + 1) : std::string_view{};
    return field;
}

bool parse_number(std::string_view text, std::uint64_t& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

std::string join(std::initializer_list<std::string_view> fields) {
    std::string out;
    bool first = true;
    for (std::string_view f : fields) {
        if (!first) out += kSep;
        first = false;
        out.append(f);
    }
    return out;
}

}  // namespace

std::string encode_master_message(const MasterMessage& m) {
    const std::string generation = std::to_string(m.generation);
    if (m.kind == MasterMessage::Kind::Config) return join({"CONFIG", generation, m.text});
    return join({"RELOAD", std::to_string(m.request), generation, m.text});
}

std::optional<MasterMessage> decode_master_message(std::string_view payload) {
    MasterMessage m;
    bool sep = false;
    const std::string_view kind = take_field(payload, sep);
    if (!sep) return std::nullopt;
    if (kind == "RELOAD") {
        m.kind = MasterMessage::Kind::ReloadAnswer;
        if (!parse_number(take_field(payload, sep), m.request) || !sep) return std::nullopt;
    } else if (kind != "CONFIG") {
        return std::nullopt;
    }
    if (!parse_number(take_field(payload, sep), m.generation) || !sep) return std::nullopt;
    m.text = payload;
    return m;
}

std::string encode_worker_request(const WorkerRequest& r) {
    if (r.kind == WorkerRequest::Kind::Reload) return join({"RELOAD", std::to_string(r.request)});
    return join({"SET", r.key, r.value});
}

std::optional<WorkerRequest> decode_worker_request(std::string_view payload) {
    WorkerRequest r;
    bool sep = false;
    const std::string_view kind = take_field(payload, sep);
    if (!sep) return std::nullopt;
    if (kind == "RELOAD") {
        r.kind = WorkerRequest::Kind::Reload;
        return parse_number(payload, r.request) ? std::optional(r) : std::nullopt;
    }
    if (kind != "SET") return std::nullopt;
    r.key = take_field(payload, sep);
    if (!sep) return std::nullopt;
    r.value = payload;
    return r;
}

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
