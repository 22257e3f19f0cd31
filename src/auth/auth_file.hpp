// The auth_file: user names and their secrets (plain text, "md5..." or
// "SCRAM-SHA-256$..."), in the quoted two-field format poolers share.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pggate::auth {

// One line of the file.
struct AuthFileEntry {
    std::string user;
    std::string secret;
};

enum class SecretKind { Plain, Md5, Scram };

// Md5 for "md5" + 32 lower-case hex digits, Scram for a secret that
// parse_scram_secret accepts, Plain for anything else. Like PostgreSQL, a
// malformed "SCRAM-SHA-256$..." string is therefore a plain-text password.
SecretKind secret_kind(std::string_view secret);

// Parses the file's text into user -> secret. Each line is `"user" "secret"`:
// both fields in double quotes, "" inside a field for a literal quote,
// whitespace between them, anything after the second field (following
// whitespace) ignored. Blank lines and lines whose first non-blank character
// is ';' or '#' are skipped; CRLF endings are accepted. A malformed line, an
// empty user name or a user listed twice is an error naming the line.
std::optional<std::unordered_map<std::string, std::string>> parse_auth_file(std::string_view text,
                                                                            std::string& error);

// Reads and parses the file at `path`; errors are prefixed with the path.
std::optional<std::unordered_map<std::string, std::string>> load_auth_file(const std::string& path,
                                                                           std::string& error);

}  // namespace pggate::auth
