// Framing and validation of startup packets and typed protocol messages.
#include "protocol/codec.hpp"

#include <cstdio>
#include <cstring>

#include "core/bytes.hpp"

namespace pggate::protocol {

namespace {

Decode fail(DecodeError& err, const char* sqlstate, std::string message) {
    err.sqlstate = sqlstate;
    err.message = std::move(message);
    return Decode::Error;
}

// Parses the name/value list of a StartupMessage body (after the version).
bool parse_startup_params(ByteReader& r, StartupPacket& out) {
    while (true) {
        std::string_view name = r.cstring();
        if (r.failed()) return false;
        if (name.empty()) return r.at_end();
        std::string_view value = r.cstring();
        if (r.failed()) return false;
        out.params.emplace_back(std::string(name), std::string(value));
    }
}

// The longest declared length PostgreSQL (for a client's message) or libpq
// (for a server's) takes for a message of this type.
std::uint32_t type_limit(char type, Direction dir) {
    constexpr auto npos = std::string_view::npos;
    if (dir == Direction::Frontend)
        return std::string_view("SHXCDEcf").find(type) != npos ? kMaxSmallFrontendMessage : kMaxFrontendMessage;
    return std::string_view("TDdVENAt").find(type) != npos ? kMaxWireLength : kMaxShortBackendMessage;
}

}  // namespace

std::string_view StartupPacket::param(std::string_view name) const {
    // PostgreSQL lets a repeated parameter's last value win; so must we, or
    // pggate would act on a different user than the server logs in.
    for (auto it = params.rbegin(); it != params.rend(); ++it)
        if (it->first == name) return it->second;
    return {};
}

Decode decode_startup(std::span<const std::uint8_t> in, StartupPacket& out, DecodeError& err) {
    if (in.size() < 4) return Decode::NeedMore;
    std::uint32_t len = load_be32(in.data());
    if (len < 8 || len > kMaxStartupPacket)
        return fail(err, "08P01", "invalid length of startup packet");
    if (in.size() < len) return Decode::NeedMore;

    std::uint32_t code = load_be32(in.data() + 4);
    out = StartupPacket{};
    out.frame_len = len;
    ByteReader r(in.data() + 8, len - 8);
    switch (code) {
        case kSslRequestCode:
        case kGssEncRequestCode:
            if (len != 8) return fail(err, "08P01", "invalid length of encryption request packet");
            out.kind = code == kSslRequestCode ? StartupKind::SslRequest : StartupKind::GssEncRequest;
            return Decode::Ok;
        case kCancelRequestCode:
            if (len != 16) return fail(err, "08P01", "invalid length of cancel request packet");
            out.kind = StartupKind::CancelRequest;
            out.cancel_pid = r.u32();
            out.cancel_secret = r.u32();
            return Decode::Ok;
        default:
            break;
    }
    if ((code >> 16) != 3)
        return fail(err, "0A000",
                    "unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                        std::to_string(code & 0xffff) + ": server supports 3.0 to 3.0");
    out.kind = StartupKind::Startup;
    out.protocol = code;
    if (!parse_startup_params(r, out))
        return fail(err, "08P01", "invalid startup packet layout: expected terminator as last byte");
    if (out.param("user").empty())
        return fail(err, "28000", "no PostgreSQL user name specified in startup packet");
    return Decode::Ok;
}

bool is_frontend_type(char type) {
    switch (type) {
        case 'B': case 'C': case 'd': case 'c': case 'f': case 'D': case 'E':
        case 'H': case 'F': case 'P': case 'p': case 'Q': case 'S': case 'X':
            return true;
        default:
            return false;
    }
}

bool is_backend_type(char type) {
    switch (type) {
        case 'R': case 'K': case '2': case '3': case 'C': case 'd': case 'c':
        case 'G': case 'H': case 'W': case 'D': case 'I': case 'E': case 'V':
        case 'v': case 'n': case 'N': case 'A': case 't': case 'S': case '1':
        case 's': case 'Z': case 'T':
            return true;
        default:
            return false;
    }
}

Decode decode_header(std::span<const std::uint8_t> in, Direction dir, std::uint32_t max_length,
                     MessageHeader& out, DecodeError& err) {
    if (in.empty()) return Decode::NeedMore;
    char type = static_cast<char>(in[0]);
    bool known = dir == Direction::Frontend ? is_frontend_type(type) : is_backend_type(type);
    if (!known) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", in[0]);
        return fail(err, "08P01",
                    std::string(dir == Direction::Frontend ? "invalid frontend message type "
                                                           : "invalid backend message type ") +
                        hex);
    }
    if (in.size() < kHeaderSize) return Decode::NeedMore;
    std::uint32_t len = load_be32(in.data() + 1);
    if (len < 4 || len > kMaxWireLength) return fail(err, "08P01", "invalid message length");
    if (len > max_length)
        return fail(err, "08P01",
                    "message of " + std::to_string(len) + " bytes exceeds max_packet_size (" +
                        std::to_string(max_length) + ")");
    if (len > type_limit(type, dir)) return fail(err, "08P01", "invalid message length");
    out.type = type;
    out.length = len;
    return Decode::Ok;
}

Decode decode_frame(std::span<const std::uint8_t> in, Direction dir, std::uint32_t max_length,
                    Frame& out, DecodeError& err) {
    Decode d = decode_header(in, dir, max_length, out.header, err);
    if (d != Decode::Ok) return d;
    if (in.size() < out.header.frame_len()) return Decode::NeedMore;
    out.body = in.subspan(kHeaderSize, out.header.body_len());
    return Decode::Ok;
}

}  // namespace pggate::protocol
