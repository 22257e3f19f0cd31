// Builders and parsers of the protocol messages pggate itself reads or writes.
#include "protocol/messages.hpp"

#include "protocol/codec.hpp"

namespace pggate::protocol {

namespace {

// Starts a typed message; returns where its length goes.
std::size_t begin_message(ByteWriter& w, char type) {
    w.u8(static_cast<std::uint8_t>(type));
    std::size_t at = w.size();
    w.u32(0);
    return at;
}

void end_message(ByteWriter& w, std::size_t length_at) {
    w.patch_u32(length_at, static_cast<std::uint32_t>(w.size() - length_at));
}

}  // namespace

void build_error(Bytes& out, std::string_view severity, std::string_view sqlstate,
                 std::string_view message) {
    ByteWriter w(out);
    std::size_t at = begin_message(w, 'E');
    w.u8('S');
    w.cstring(severity);
    w.u8('V');
    w.cstring(severity);
    w.u8('C');
    w.cstring(sqlstate);
    w.u8('M');
    w.cstring(message);
    w.u8(0);
    end_message(w, at);
}

void build_backend_key_data(Bytes& out, std::uint32_t pid, std::uint32_t secret) {
    ByteWriter w(out);
    std::size_t at = begin_message(w, 'K');
    w.u32(pid);
    w.u32(secret);
    end_message(w, at);
}

void build_cancel_request(Bytes& out, std::uint32_t pid, std::uint32_t secret) {
    ByteWriter w(out);
    w.u32(16);
    w.u32(kCancelRequestCode);
    w.u32(pid);
    w.u32(secret);
}

std::optional<BackendKey> parse_backend_key_data(std::span<const std::uint8_t> body) {
    ByteReader r(body.data(), body.size());
    BackendKey key{r.u32(), r.u32()};
    if (r.failed() || !r.at_end()) return std::nullopt;
    return key;
}

std::optional<char> parse_ready_for_query(std::span<const std::uint8_t> body) {
    if (body.size() != 1) return std::nullopt;
    char status = static_cast<char>(body[0]);
    if (status != 'I' && status != 'T' && status != 'E') return std::nullopt;
    return status;
}

std::optional<ErrorFields> parse_error_fields(std::span<const std::uint8_t> body) {
    ByteReader r(body.data(), body.size());
    ErrorFields f;
    while (true) {
        std::uint8_t code = r.u8();
        if (r.failed()) return std::nullopt;
        if (code == 0) break;
        std::string_view value = r.cstring();
        if (r.failed()) return std::nullopt;
        switch (code) {
            case 'S': if (f.severity.empty()) f.severity = value; break;
            case 'V': f.severity = value; break;
            case 'C': f.sqlstate = value; break;
            case 'M': f.message = value; break;
            default: break;
        }
    }
    if (!r.at_end()) return std::nullopt;
    return f;
}

}  // namespace pggate::protocol
