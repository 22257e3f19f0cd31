// The wire codec of the PostgreSQL protocol v3, without I/O: it frames
// startup-phase packets and typed messages from bytes, validating a whole
// frame (or header) before the caller consumes anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pggate::protocol {

constexpr std::uint32_t kProtocolV3 = 0x00030000;
constexpr std::uint32_t kCancelRequestCode = 80877102;
constexpr std::uint32_t kSslRequestCode = 80877103;
constexpr std::uint32_t kGssEncRequestCode = 80877104;
// PostgreSQL's own limit for a startup packet.
constexpr std::uint32_t kMaxStartupPacket = 10000;
// Message lengths are int32 on the wire; anything above this is negative.
constexpr std::uint32_t kMaxWireLength = 0x7fffffff;
// What PostgreSQL lets a client declare, length word included
// (PQ_LARGE_MESSAGE_LIMIT, and PQ_SMALL_MESSAGE_LIMIT for Sync, Flush,
// Close, Describe, Execute, Terminate, CopyDone and CopyFail): a server drops
// a client that declares more, so pggate refuses it before passing it on.
constexpr std::uint32_t kMaxFrontendMessage = 0x3ffffffe;  // 1 GB - 2
constexpr std::uint32_t kMaxSmallFrontendMessage = 10000;
// What libpq takes from a server for any message but the long kinds (rows,
// row and parameter descriptions, copy data, function results, errors,
// notices, notifications); a longer one is a server out of sync, or not a
// PostgreSQL server at all.
constexpr std::uint32_t kMaxShortBackendMessage = 30000;
constexpr std::size_t kHeaderSize = 5;  // type byte + int32 length

enum class Decode { NeedMore, Ok, Error };

// Why bytes could not be decoded, as the client will be told.
struct DecodeError {
    const char* sqlstate = "08P01";  // protocol_violation
    std::string message;
};

enum class StartupKind { Startup, SslRequest, GssEncRequest, CancelRequest };

struct StartupPacket {
    StartupKind kind = StartupKind::Startup;
    std::uint32_t protocol = 0;       // Startup only
    std::vector<std::pair<std::string, std::string>> params;  // Startup only, in wire order
    std::uint32_t cancel_pid = 0;     // CancelRequest only
    std::uint32_t cancel_secret = 0;  // CancelRequest only
    std::size_t frame_len = 0;        // bytes the packet occupies

    // The value of a parameter; the last one when it is repeated.
    std::string_view param(std::string_view name) const;
};

// Decodes the startup-phase packet at the start of `in` (no type byte).
// Ok: `out` is filled and out.frame_len bytes may be consumed.
Decode decode_startup(std::span<const std::uint8_t> in, StartupPacket& out, DecodeError& err);

enum class Direction { Frontend, Backend };  // who sent the message

struct MessageHeader {
    char type = 0;
    std::uint32_t length = 0;  // as on the wire: includes itself, not the type byte
    std::size_t frame_len() const { return 1 + std::size_t{length}; }
    std::size_t body_len() const { return std::size_t{length} - 4; }
};

// Decodes a typed message header at the start of `in`: the type byte must be
// one `dir` may send and the length must be in [4, max_length] and within
// the limits above for its type.
Decode decode_header(std::span<const std::uint8_t> in, Direction dir, std::uint32_t max_length,
                     MessageHeader& out, DecodeError& err);

struct Frame {
    MessageHeader header;
    std::span<const std::uint8_t> body;
};

// Decodes a whole typed message; NeedMore until all of it is in `in`.
Decode decode_frame(std::span<const std::uint8_t> in, Direction dir, std::uint32_t max_length,
                    Frame& out, DecodeError& err);

bool is_frontend_type(char type);
bool is_backend_type(char type);

}  // namespace pggate::protocol
