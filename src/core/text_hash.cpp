// The seeded four-lane text hash: see text_hash.hpp.
#include "core/text_hash.hpp"

#include <sys/random.h>

#include <bit>
#include <cstring>
#include <random>

namespace pggate {

namespace {

constexpr std::uint64_t kMulA = 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio, odd
constexpr std::uint64_t kMulB = 0xc2b2ae3d27d4eb4fULL;
constexpr std::uint64_t kMulC = 0xff51afd7ed558ccdULL;

std::uint64_t process_seed() {
    std::uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = std::random_device{}();
    return seed;
}

std::uint64_t load64(const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

std::uint32_t load32(const char* p) {
    std::uint32_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

std::uint64_t mix(std::uint64_t lane, std::uint64_t word) { return std::rotl(lane + word * kMulB, 29) * kMulA; }

std::uint64_t finish(std::uint64_t h) {
    h ^= h >> 33;
    h *= kMulC;
    h ^= h >> 29;
    h *= kMulB;
    return h ^ (h >> 32);
}

}  // namespace

std::uint64_t text_hash(std::string_view text) {
    static const std::uint64_t seed = process_seed();
    const char* p = text.data();
    const std::size_t size = text.size();
    std::uint64_t h = seed ^ (size * kMulA);
    if (size < 8) {
        // Short texts in one word, from loads that may overlap: the length
        // is in h, so overlapping bytes cannot make two texts alike.
        if (size >= 4) return finish(mix(h, (std::uint64_t{load32(p)} << 32) | load32(p + size - 4)));
        if (size > 0) {
            const auto byte = [p](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(p[i])}; };
            return finish(mix(h, byte(0) | byte(size / 2) << 8 | byte(size - 1) << 16));
        }
        return finish(h);
    }
    std::size_t left = size;
    if (left >= 32) {
        std::uint64_t a = seed + kMulA, b = seed ^ kMulB, c = seed, d = seed - kMulC;
        for (; left >= 32; p += 32, left -= 32) {
            a = mix(a, load64(p));
            b = mix(b, load64(p + 8));
            c = mix(c, load64(p + 16));
            d = mix(d, load64(p + 24));
        }
        h += std::rotl(a, 1) + std::rotl(b, 13) + std::rotl(c, 27) + std::rotl(d, 41);
    }
    for (; left >= 8; p += 8, left -= 8) h = mix(h, load64(p));
    // The last 1 to 7 bytes as the text's last word, overlapping the one
    // before (the text is at least 8 bytes long here).
    if (left > 0) h = mix(h, load64(text.data() + size - 8));
    return finish(h);
}

}  // namespace pggate
