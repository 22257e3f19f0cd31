// Walks the typed messages queued in an evbuffer without copying them, so a
// relay can forward whole and partial messages in one move and stop only at
// the messages it must read itself.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <cstdint>

#include "protocol/codec.hpp"

namespace pggate::net {

// Per-direction stream position: how much of the current message's body is
// still to come (it may already have been forwarded in part).
struct ScanState {
    std::size_t body_remaining = 0;
    bool at_boundary() const { return body_remaining == 0; }
};

enum class ScanStop {
    More,     // everything scannable is in `forward`; wait for more bytes
    Message,  // `header` is a message the caller wants whole; it starts at `forward`
    Error,    // `error` says what; bytes from `forward` on are invalid
};

struct ScanResult {
    std::size_t forward = 0;  // bytes that may be forwarded now, from the start
    ScanStop stop = ScanStop::More;
    protocol::MessageHeader header;
    protocol::DecodeError error;
};

// `want(header)` says whether the caller needs that message whole. When it
// does, the scan stops before the message; the caller consumes it and calls
// again. Bytes of messages not wanted are counted in `forward`, including a
// partial body, whose rest state.body_remaining then tracks.
template <typename Want>
ScanResult scan_frames(evbuffer* in, ScanState& state, protocol::Direction dir,
                       std::uint32_t max_length, Want&& want);

namespace detail {
// Copies the (up to kHeaderSize) header bytes at `offset` into `hdr`.
std::size_t peek_header(evbuffer* in, std::size_t offset, std::uint8_t* hdr);
}  // namespace detail

// Decodes the header of the message that starts `offset` bytes into `in`,
// leaving the buffer as it is.
protocol::Decode peek_message(evbuffer* in, std::size_t offset, protocol::Direction dir, std::uint32_t max_length,
                              protocol::MessageHeader& out, protocol::DecodeError& err);

template <typename Want>
ScanResult scan_frames(evbuffer* in, ScanState& state, protocol::Direction dir,
                       std::uint32_t max_length, Want&& want) {
    ScanResult r;
    const std::size_t len = evbuffer_get_length(in);
    std::size_t pos = 0;
    while (true) {
        if (state.body_remaining > 0) {
            std::size_t n = std::min(state.body_remaining, len - pos);
            pos += n;
            state.body_remaining -= n;
            if (state.body_remaining > 0) break;
        }
        if (pos == len) break;
        std::uint8_t hdr[protocol::kHeaderSize];
        std::size_t have = detail::peek_header(in, pos, hdr);
        protocol::Decode d =
            protocol::decode_header({hdr, have}, dir, max_length, r.header, r.error);
        if (d == protocol::Decode::NeedMore) break;
        if (d == protocol::Decode::Error) {
            r.stop = ScanStop::Error;
            break;
        }
        if (want(r.header)) {
            r.stop = ScanStop::Message;
            break;
        }
        pos += protocol::kHeaderSize;
        state.body_remaining = r.header.body_len();
    }
    r.forward = pos;
    return r;
}

}  // namespace pggate::net
