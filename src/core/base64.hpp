// Base64 (RFC 4648, standard alphabet, padded) for SCRAM attributes and
// secrets; decoding is strict so one value has exactly one accepted spelling.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace pggate {

std::string base64_encode(std::span<const std::uint8_t> data);

// nullopt unless `text` is canonical padded base64: length a multiple of 4,
// only alphabet characters, '=' only as the final one or two, and zero bits
// where padding leaves them unused. No whitespace is skipped. "" decodes to
// no bytes.
std::optional<Bytes> base64_decode(std::string_view text);

}  // namespace pggate
