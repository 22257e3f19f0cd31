// What a statement's answer amounts to for comparing two runs of it: the
// number of rows, a checksum of their bytes that ignores their order (two
// nodes may return unordered rows in different orders), and the SQLSTATE of
// an error (pure).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace pggate::protocol {

struct ResultDigest {
    std::uint64_t rows = 0;
    std::uint64_t checksum = 0;
    std::string sqlstate;  // empty: no error

    // A DataRow's body.
    void add_row(std::span<const std::uint8_t> body);
    // An ErrorResponse's body.
    void add_error(std::span<const std::uint8_t> body);

    bool operator==(const ResultDigest&) const = default;
    // "12 rows, checksum 0123abcd..." or "error 40001".
    std::string describe() const;
};

}  // namespace pggate::protocol
