// Header peeking for scan_frames: a header may straddle evbuffer chains.
#include "net/frame_scan.hpp"

#include <algorithm>

namespace pggate::net::detail {

std::size_t peek_header(evbuffer* in, std::size_t offset, std::uint8_t* hdr) {
    evbuffer_ptr p;
    if (evbuffer_ptr_set(in, &p, offset, EVBUFFER_PTR_SET) < 0) return 0;
    ev_ssize_t n = evbuffer_copyout_from(in, &p, hdr, protocol::kHeaderSize);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

}  // namespace pggate::net::detail

namespace pggate::net {

protocol::Decode peek_message(evbuffer* in, std::size_t offset, protocol::Direction dir, std::uint32_t max_length,
                              protocol::MessageHeader& out, protocol::DecodeError& err) {
    std::uint8_t hdr[protocol::kHeaderSize];
    std::size_t have = detail::peek_header(in, offset, hdr);
    return protocol::decode_header({hdr, have}, dir, max_length, out, err);
}

}  // namespace pggate::net
