// Builders and parsers of the protocol messages pggate itself reads or writes.
#include "protocol/messages.hpp"

#include <algorithm>

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

constexpr std::string_view kNul("\0", 1);

}  // namespace

void build_message(Bytes& out, char type, std::initializer_list<std::string_view> parts) {
    std::size_t len = 4;
    for (std::string_view p : parts) len += p.size();
    out.reserve(out.size() + 1 + len);
    ByteWriter w(out);
    w.u8(static_cast<std::uint8_t>(type));
    w.u32(static_cast<std::uint32_t>(len));
    for (std::string_view p : parts) w.raw(p);
}

void build_startup(Bytes& out, const std::vector<std::pair<std::string, std::string>>& params) {
    ByteWriter w(out);
    std::size_t at = w.size();
    w.u32(0);
    w.u32(kProtocolV3);
    for (const auto& [name, value] : params) {
        w.cstring(name);
        w.cstring(value);
    }
    w.u8(0);
    w.patch_u32(at, static_cast<std::uint32_t>(w.size() - at));
}

void build_query(Bytes& out, std::string_view sql) { build_message(out, 'Q', {sql, kNul}); }

void build_ready_for_query(Bytes& out, char status) { build_message(out, 'Z', {std::string_view(&status, 1)}); }

void build_parameter_status(Bytes& out, std::string_view name, std::string_view value) {
    build_message(out, 'S', {name, kNul, value, kNul});
}

void build_auth(Bytes& out, std::uint32_t code, std::string_view payload) {
    std::uint8_t be[4];
    store_be32(be, code);
    build_message(out, 'R', {std::string_view(reinterpret_cast<const char*>(be), 4), payload});
}

void build_parse_complete(Bytes& out) { build_message(out, '1', {}); }

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

void build_ssl_request(Bytes& out) {
    ByteWriter w(out);
    w.u32(8);
    w.u32(kSslRequestCode);
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

bool valid_sqlstate(std::string_view code) {
    return code.size() == 5 &&
           std::all_of(code.begin(), code.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
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
