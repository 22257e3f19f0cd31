// A fast, seeded 64-bit hash of a byte string, for tables keyed by texts that
// clients send (statement texts, function names). It runs four independent
// lanes over 32-byte blocks, so a long text costs about a third of what
// std::hash's one-lane loop does; the seed is random per process, so no
// client can choose texts that collide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pggate {

std::uint64_t text_hash(std::string_view text);

// text_hash for string-keyed containers, which it lets search with a
// string_view, without a copy.
struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return text_hash(s); }
};

}  // namespace pggate
