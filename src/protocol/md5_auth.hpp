// PostgreSQL's MD5 password authentication maths: the "md5..." secret stored
// in pg_authid and the salted response to AuthenticationMD5Password.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pggate::protocol {

constexpr std::size_t kMd5SecretLength = 35;  // "md5" + 32 hex digits

// Lower-case hex MD5 of `data`; empty only if the digest is unavailable
// (e.g. an OpenSSL FIPS configuration without MD5).
std::string md5_hex(std::string_view data);

// The pg_authid form of a password: "md5" + md5_hex(password + user).
std::string md5_password_secret(std::string_view password, std::string_view user);

// True for "md5" followed by exactly 32 lower-case hex digits, the test
// PostgreSQL itself uses to tell an MD5 secret from a plain-text password.
bool is_md5_secret(std::string_view secret);

// What a client sends for AuthenticationMD5Password when it already holds
// the "md5..." secret: "md5" + md5_hex(secret_md5 without "md5" + salt).
// Returns "" if `secret_md5` is not an MD5 secret.
std::string md5_salted_response(std::string_view secret_md5, std::span<const std::uint8_t, 4> salt);

// Checks a client's PasswordMessage `response` against `secret`, which is
// either a plain-text password or an "md5..." secret. The final comparison
// is constant time. An empty secret never matches, like PostgreSQL refusing
// empty passwords.
bool md5_check_response(std::string_view secret, std::string_view user,
                        std::span<const std::uint8_t, 4> salt, std::string_view response);

}  // namespace pggate::protocol
