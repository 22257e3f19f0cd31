// Unit tests of MD5 password authentication: digests, the pg_authid secret
// of a real PostgreSQL 15, salted responses and their constant-time check.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "protocol/md5_auth.hpp"

namespace {

using pggate::protocol::is_md5_secret;
using pggate::protocol::md5_check_response;
using pggate::protocol::md5_hex;
using pggate::protocol::md5_password_secret;
using pggate::protocol::md5_salted_response;

// pg_authid of a PostgreSQL 15 cluster after SET password_encryption='md5';
// CREATE ROLE pencil_md5 LOGIN PASSWORD 'pencil'.
constexpr std::string_view kPgUser = "pencil_md5";
constexpr std::string_view kPgSecret = "md54e38c2b9b5f65243346e1e5024fcbd0d";
// "md5" + md5(secret without "md5" + salt), computed independently.
constexpr std::array<std::uint8_t, 4> kSalt1{0x01, 0x02, 0x03, 0x04};
constexpr std::string_view kResponse1 = "md557468a4aea14a6fce0dbdc002787b1d0";
constexpr std::array<std::uint8_t, 4> kSalt2{0xff, 0x00, 0x80, 0x7f};
constexpr std::string_view kResponse2 = "md59c5e865519fbbb223f18bb2579d21872";

}  // namespace

TEST_SUITE("protocol.md5_auth") {

TEST_CASE("MD5 hex digests match RFC 1321") {
    CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK(md5_hex(std::string_view("a\0b", 3)) != md5_hex("a"));
}

TEST_CASE("MD5 password secret matches PostgreSQL's pg_authid") {
    CHECK(md5_password_secret("pencil", kPgUser) == kPgSecret);
    CHECK(md5_password_secret("pencil", "other") != kPgSecret);
}

TEST_CASE("MD5 secret recognition") {
    CHECK(is_md5_secret(kPgSecret));
    CHECK_FALSE(is_md5_secret("md54E38C2B9B5F65243346E1E5024FCBD0D"));  // upper-case hex
    CHECK_FALSE(is_md5_secret("md54e38c2b9b5f65243346e1e5024fcbd0"));   // 34 characters
    CHECK_FALSE(is_md5_secret("md54e38c2b9b5f65243346e1e5024fcbd0d0"));
    CHECK_FALSE(is_md5_secret("md54e38c2b9b5f65243346e1e5024fcbd0g"));
    CHECK_FALSE(is_md5_secret("MD54e38c2b9b5f65243346e1e5024fcbd0d"));
    CHECK_FALSE(is_md5_secret("pencil"));
    CHECK_FALSE(is_md5_secret(""));
}

TEST_CASE("MD5 salted response") {
    CHECK(md5_salted_response(kPgSecret, kSalt1) == kResponse1);
    CHECK(md5_salted_response(kPgSecret, kSalt2) == kResponse2);
    CHECK(md5_salted_response("pencil", kSalt1).empty());  // not an md5 secret
    CHECK(md5_salted_response("", kSalt1).empty());
}

TEST_CASE("MD5 response check with a plain or an md5 secret") {
    CHECK(md5_check_response("pencil", kPgUser, kSalt1, kResponse1));
    CHECK(md5_check_response(kPgSecret, kPgUser, kSalt1, kResponse1));
    CHECK(md5_check_response(kPgSecret, kPgUser, kSalt2, kResponse2));
    // The md5 secret already contains the user; the user argument is unused.
    CHECK(md5_check_response(kPgSecret, "someone-else", kSalt1, kResponse1));

    CHECK_FALSE(md5_check_response("pencil", "other", kSalt1, kResponse1));  // user is salt
    CHECK_FALSE(md5_check_response("crayon", kPgUser, kSalt1, kResponse1));
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt2, kResponse1));  // replay
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, "md557468a4aea14a6fce0dbdc002787b1d1"));
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, "md557468a4aea14a6fce0dbdc002787b1d"));
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, "MD557468A4AEA14A6FCE0DBDC002787B1D0"));
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, ""));
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, "pencil"));
    // Sending the stored secret itself is not a valid response.
    CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, kPgSecret));
    // A SCRAM secret is plain text to MD5 and cannot match a real client.
    CHECK_FALSE(md5_check_response("SCRAM-SHA-256$4096:AAAA$AAAA:AAAA", kPgUser, kSalt1, kResponse1));
}

TEST_CASE("MD5 empty secret never authenticates") {
    // Even a client that sends exactly what an empty password would hash to.
    std::string forged = md5_salted_response(md5_password_secret("", kPgUser), kSalt1);
    REQUIRE(forged.size() == 35);
    CHECK_FALSE(md5_check_response("", kPgUser, kSalt1, forged));
    CHECK_FALSE(md5_check_response("", kPgUser, kSalt1, ""));
}

TEST_CASE("MD5 check survives random responses and secrets") {
    std::mt19937 rng(1321);
    for (int i = 0; i < 2000; ++i) {
        std::string junk(rng() % 40, '\0');
        for (char& c : junk) c = static_cast<char>(rng() % 256);
        if (i % 3 == 0) junk = "md5" + junk;
        CHECK_FALSE(md5_check_response(kPgSecret, kPgUser, kSalt1, junk));
        (void)md5_check_response(junk, kPgUser, kSalt1, kResponse1);
        (void)md5_salted_response(junk, kSalt2);
        (void)is_md5_secret(junk);
    }
}

}  // TEST_SUITE
