// Unit tests of the auth_file parser: quoting, comments, secret kinds, and
// errors that name the offending line.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include "auth/auth_file.hpp"

namespace {

using pggate::auth::load_auth_file;
using pggate::auth::parse_auth_file;
using pggate::auth::secret_kind;
using pggate::auth::SecretKind;

constexpr std::string_view kScram =
    "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
    "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=";

// The error parse_auth_file gives for `text`, which must be rejected.
std::string error_for(std::string_view text) {
    std::string error;
    auto users = parse_auth_file(text, error);
    CHECK_FALSE(users.has_value());
    return error;
}

}  // namespace

TEST_SUITE("auth.auth_file") {

TEST_CASE("auth_file secret kinds") {
    CHECK(secret_kind("pencil") == SecretKind::Plain);
    CHECK(secret_kind("") == SecretKind::Plain);
    CHECK(secret_kind("md54e38c2b9b5f65243346e1e5024fcbd0d") == SecretKind::Md5);
    CHECK(secret_kind("md54e38c2b9b5f65243346e1e5024fcbd0") == SecretKind::Plain);
    CHECK(secret_kind(kScram) == SecretKind::Scram);
    // Like PostgreSQL: a secret that does not parse is a plain-text password.
    CHECK(secret_kind("SCRAM-SHA-256$4096:broken") == SecretKind::Plain);
}

TEST_CASE("auth_file parses quoted fields, comments and blank lines") {
    const std::string text = std::string("; a comment\n") +
                             "# another\n"
                             "\n"
                             "   \t\n"
                             "\"alice\" \"pencil\"\n"
                             "  \"bob\"\t\"md54e38c2b9b5f65243346e1e5024fcbd0d\"  \"ignored\" more\r\n"
                             "\"carol\" \"" + std::string(kScram) + "\"\n"
                             "\"quo\"\"te\" \"say \"\"hi\"\"\"\n"
                             "\"spaces in name\" \"\"\n"
                             "  ; indented comment\n"
                             "\"dave\" \"x\" # trailing comment";
    std::string error;
    auto users = parse_auth_file(text, error);
    REQUIRE_MESSAGE(users.has_value(), error);
    CHECK(users->size() == 6);
    CHECK(users->at("alice") == "pencil");
    CHECK(users->at("bob") == "md54e38c2b9b5f65243346e1e5024fcbd0d");
    CHECK(users->at("carol") == kScram);
    CHECK(users->at("quo\"te") == "say \"hi\"");
    CHECK(users->at("spaces in name").empty());
    CHECK(users->at("dave") == "x");
}

TEST_CASE("auth_file empty text is an empty list") {
    std::string error;
    auto users = parse_auth_file("", error);
    REQUIRE(users.has_value());
    CHECK(users->empty());
    users = parse_auth_file("\n\n; nothing\n", error);
    REQUIRE(users.has_value());
    CHECK(users->empty());
}

TEST_CASE("auth_file malformed lines are errors naming the line") {
    CHECK(error_for("\"a\" \"b\"\nalice pencil\n") == "line 2: expected a double-quoted field");
    CHECK(error_for("\"alice\"\n") == "line 1: missing secret field");
    CHECK(error_for("\"alice\"   \n") == "line 1: expected a double-quoted field");
    CHECK(error_for("\"alice\"\"pencil\"\n") == "line 1: missing secret field");
    CHECK(error_for("\"alice\"x \"pencil\"\n") == "line 1: expected whitespace after the user name");
    CHECK(error_for("\n\n\"alice\" \"pencil\"x\n") ==
          "line 3: expected whitespace or end of line after the secret");
    CHECK(error_for("\"alice\" \"pencil\n\"\n") == "line 1: unterminated quoted field");
    CHECK(error_for("\"alice \"pencil\"\n") == "line 1: expected whitespace after the user name");
    CHECK(error_for("\"\" \"pencil\"\n") == "line 1: empty user name");
    CHECK(error_for("\"alice\" pencil\n") == "line 1: expected a double-quoted field");
    CHECK(error_for(std::string_view("\"al\0ice\" \"x\"\n", 13)) == "line 1: NUL byte in field");
    CHECK(error_for("\"alice\" \"a\"\n\"bob\" \"b\"\n\"alice\" \"c\"\n") ==
          "line 3: user \"alice\" is already listed on line 1");
}

TEST_CASE("auth_file loads from disk and reports I/O errors with the path") {
    char path[] = "/tmp/pggate_test_auth_file_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    {
        std::ofstream out(path);
        out << "\"alice\" \"pencil\"\n\"bob\" \"" << kScram << "\"\n";
    }
    std::string error;
    auto users = load_auth_file(path, error);
    REQUIRE_MESSAGE(users.has_value(), error);
    CHECK(users->size() == 2);
    CHECK(users->at("bob") == kScram);

    {
        std::ofstream out(path);
        out << "\"alice\" \"pencil\"\nbroken\n";
    }
    CHECK_FALSE(load_auth_file(path, error).has_value());
    CHECK(error == std::string(path) + ": line 2: expected a double-quoted field");

    std::remove(path);
    CHECK_FALSE(load_auth_file(path, error).has_value());
    CHECK(error.find(std::string("open() failed (") + path + "): ") == 0);

    CHECK_FALSE(load_auth_file("/", error).has_value());
    CHECK(error.find("read() failed (/): ") == 0);
}

TEST_CASE("auth_file parser survives random input") {
    std::mt19937 rng(42);
    constexpr std::string_view kAlphabet = "\"\" \t\n\r;#ab";
    for (int i = 0; i < 3000; ++i) {
        std::string text(rng() % 60, '\0');
        for (char& c : text)
            c = i % 2 ? static_cast<char>(rng() % 256) : kAlphabet[rng() % kAlphabet.size()];
        std::string error;
        auto users = parse_auth_file(text, error);
        if (!users) CHECK(error.rfind("line ", 0) == 0);
    }
}

}  // TEST_SUITE
