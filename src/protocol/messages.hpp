// Typed protocol messages pggate reads or writes itself (as opposed to the
// ones it only forwards): builders append whole frames, parsers read bodies.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.hpp"

namespace pggate::protocol {

// Any typed message: the type byte, the length, then `parts` one after another.
void build_message(Bytes& out, char type, std::initializer_list<std::string_view> parts);
void build_query(Bytes& out, std::string_view sql);
void build_ready_for_query(Bytes& out, char status);
void build_parameter_status(Bytes& out, std::string_view name, std::string_view value);
// An Authentication ('R') request: its code, then `payload` as it is.
void build_auth(Bytes& out, std::uint32_t code, std::string_view payload = {});
void build_parse_complete(Bytes& out);
// A protocol 3.0 StartupMessage with `params` in order.
void build_startup(Bytes& out, const std::vector<std::pair<std::string, std::string>>& params);

// ErrorResponse with severity FATAL or ERROR, a SQLSTATE and a message.
void build_error(Bytes& out, std::string_view severity, std::string_view sqlstate,
                 std::string_view message);
void build_backend_key_data(Bytes& out, std::uint32_t pid, std::uint32_t secret);
void build_cancel_request(Bytes& out, std::uint32_t pid, std::uint32_t secret);
void build_ssl_request(Bytes& out);

struct BackendKey {
    std::uint32_t pid = 0;
    std::uint32_t secret = 0;
};
std::optional<BackendKey> parse_backend_key_data(std::span<const std::uint8_t> body);

// Transaction status byte of ReadyForQuery: 'I', 'T' or 'E'.
std::optional<char> parse_ready_for_query(std::span<const std::uint8_t> body);

struct ErrorFields {
    std::string severity;
    std::string sqlstate;
    std::string message;
};
// Reads an ErrorResponse/NoticeResponse body; missing fields stay empty.
std::optional<ErrorFields> parse_error_fields(std::span<const std::uint8_t> body);
// Five digits or upper-case letters: a SQLSTATE as PostgreSQL sends one.
bool valid_sqlstate(std::string_view code);

}  // namespace pggate::protocol
