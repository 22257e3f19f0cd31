// Big-endian integer access for the wire protocol, and a growable byte buffer
// for building messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace pggate {

inline std::uint32_t load_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

inline std::uint16_t load_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

using Bytes = std::vector<std::uint8_t>;

// Appends wire-format values to a byte vector.
class ByteWriter {
public:
    explicit ByteWriter(Bytes& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v) {
        out_.push_back(static_cast<std::uint8_t>(v >> 8));
        out_.push_back(static_cast<std::uint8_t>(v));
    }
    void u32(std::uint32_t v) {
        std::size_t at = out_.size();
        out_.resize(at + 4);
        store_be32(out_.data() + at, v);
    }
    void raw(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }
    void cstring(std::string_view s) {
        raw(s);
        out_.push_back(0);
    }
    std::size_t size() const { return out_.size(); }
    void patch_u32(std::size_t at, std::uint32_t v) { store_be32(out_.data() + at, v); }

private:
    Bytes& out_;
};

// Reads wire-format values from a message body; any read past the end or a
// missing string terminator sets failed() instead of reading out of bounds.
class ByteReader {
public:
    ByteReader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
    bool failed() const { return failed_; }
    std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
    bool at_end() const { return p_ == end_; }

    std::uint8_t u8() {
        if (!need(1)) return 0;
        return *p_++;
    }
    std::uint16_t u16() {
        if (!need(2)) return 0;
        std::uint16_t v = load_be16(p_);
        p_ += 2;
        return v;
    }
    std::uint32_t u32() {
        if (!need(4)) return 0;
        std::uint32_t v = load_be32(p_);
        p_ += 4;
        return v;
    }
    std::string_view cstring() {
        const void* nul = failed_ || p_ == end_ ? nullptr : std::memchr(p_, 0, remaining());
        if (nul == nullptr) {
            failed_ = true;
            return {};
        }
        std::string_view s(reinterpret_cast<const char*>(p_),
                           static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - p_));
        p_ += s.size() + 1;
        return s;
    }

private:
    bool need(std::size_t n) {
        if (failed_ || remaining() < n) {
            failed_ = true;
            return false;
        }
        return true;
    }
    const std::uint8_t* p_;
    const std::uint8_t* end_;
    bool failed_ = false;
};

}  // namespace pggate
