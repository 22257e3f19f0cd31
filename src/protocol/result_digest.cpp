// ResultDigest: per-row FNV-1a hashes, summed so the order does not matter.
#include "protocol/result_digest.hpp"

#include <cstdio>

#include "protocol/messages.hpp"

namespace pggate::protocol {

void ResultDigest::add_row(std::span<const std::uint8_t> body) {
    std::uint64_t h = 14695981039346656037ULL;
    for (std::uint8_t b : body) {
        h ^= b;
        h *= 1099511628211ULL;
    }
    ++rows;
    checksum += h;
}

void ResultDigest::add_error(std::span<const std::uint8_t> body) {
    if (!sqlstate.empty()) return;
    auto fields = parse_error_fields(body);
    sqlstate = fields && !fields->sqlstate.empty() ? fields->sqlstate : "?????";
}

std::string ResultDigest::describe() const {
    char buf[96];
    if (!sqlstate.empty())
        std::snprintf(buf, sizeof buf, "error %s after %llu rows", sqlstate.c_str(), static_cast<unsigned long long>(rows));
    else
        std::snprintf(buf, sizeof buf, "%llu rows, checksum %016llx", static_cast<unsigned long long>(rows),
                      static_cast<unsigned long long>(checksum));
    return buf;
}

}  // namespace pggate::protocol
