// Unit tests of text_hash: equal texts hash equally wherever they sit in
// memory, and texts that differ in one byte, at any position and for every
// length the lanes and the tail handle, hash differently and spread.
#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "core/text_hash.hpp"

using pggate::text_hash;

TEST_SUITE("core.text_hash") {

TEST_CASE("a text hashes the same wherever it is stored") {
    const std::string a = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";
    std::string padded = "xx" + a;
    CHECK(text_hash(a) == text_hash(std::string_view(padded).substr(2)));
    CHECK(text_hash(a) == text_hash(std::string(a)));
    CHECK(text_hash("") == text_hash(std::string_view()));
}

TEST_CASE("one changed byte changes the hash, at every position of texts of every length up to 100") {
    for (std::size_t len = 1; len <= 100; ++len) {
        std::string base(len, 'a');
        for (std::size_t i = 0; i < len; ++i) base[i] = static_cast<char>('a' + (i * 7) % 26);
        const std::uint64_t h = text_hash(base);
        for (std::size_t pos = 0; pos < len; ++pos) {
            std::string changed = base;
            changed[pos] ^= 0x01;
            INFO("length ", len, ", byte ", pos);
            CHECK(text_hash(changed) != h);
        }
    }
}

TEST_CASE("a longer text of trailing zero bytes is a different text") {
    std::string s = "abc";
    const std::uint64_t h = text_hash(s);
    s.push_back('\0');
    CHECK(text_hash(s) != h);
    std::string block(32, 'q');
    const std::uint64_t hb = text_hash(block);
    block.push_back('\0');
    CHECK(text_hash(block) != hb);
}

TEST_CASE("statement texts that differ only in a number spread over the table's buckets") {
    // 4096 texts of one shape, as an application's generated queries are:
    // their low bits, which pick the bucket, must not cluster, and one
    // flipped input bit flips about half the output bits.
    std::set<std::uint64_t> hashes;
    std::set<std::uint64_t> low_bits;
    int flipped_total = 0;
    std::uint64_t previous = 0;
    for (int i = 0; i < 4096; ++i) {
        const std::string sql = "SELECT * FROM orders WHERE id = " + std::to_string(i) + " AND region = 'north'";
        const std::uint64_t h = text_hash(sql);
        hashes.insert(h);
        low_bits.insert(h & 1023);
        if (i > 0) flipped_total += std::popcount(h ^ previous);
        previous = h;
    }
    CHECK(hashes.size() == 4096);
    CHECK(low_bits.size() > 950);  // of 1024 buckets; a uniform hash fills about 1003
    const double mean_flipped = flipped_total / 4095.0;
    CHECK(mean_flipped > 28);
    CHECK(mean_flipped < 36);
}

}  // TEST_SUITE
