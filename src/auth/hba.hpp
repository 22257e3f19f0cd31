// Access rules in pg_hba.conf syntax (auth_type = hba): which authentication
// method a connection gets from its kind (Unix socket or TCP, with or without
// TLS), database, user and client address. Pure: parsing and matching only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pggate::auth {

enum class HbaMethod { Trust, Reject, Password, Md5, ScramSha256, Cert };

// The clientcert option of a hostssl line: a client certificate that
// client_tls_ca_file vouches for is required (VerifyCa), and its CN must be
// the user name (VerifyFull), on top of the method. The cert method implies
// VerifyFull.
enum class HbaClientCert { Off, VerifyCa, VerifyFull };

struct HbaRule {
    enum class Kind { Local, Host, HostSsl, HostNoSsl };
    Kind kind = Kind::Host;
    std::vector<std::string> databases;  // "all", "sameuser", or names ("\"all\"" quoted stays a name)
    std::vector<std::string> users;      // "all" or names
    bool any_address = true;
    int family = 0;                      // AF_INET or AF_INET6 when !any_address
    std::uint8_t address[16] = {};
    std::uint8_t mask[16] = {};
    HbaMethod method = HbaMethod::Reject;
    HbaClientCert clientcert = HbaClientCert::Off;
    int line = 0;
};

struct HbaRules {
    std::vector<HbaRule> rules;
};

// Parses the text of an hba file. On a line pggate cannot honour (a syntax
// error, a feature it does not support such as host names, +groups, the
// ident method or an option other than clientcert, or a line PostgreSQL
// refuses such as cert on a line that is not hostssl) returns nullopt and
// `error` = "line N: what is wrong".
std::optional<HbaRules> parse_hba(std::string_view text, std::string& error);

// Reads and parses a file; `error` names the file.
std::optional<HbaRules> load_hba_file(const std::string& path, std::string& error);

// The first rule that checks client certificates (clientcert or the cert
// method), or nullptr: such a rule can only be met with client_tls_ca_file set.
const HbaRule* first_certificate_rule(const HbaRules& rules);

struct HbaConnection {
    bool local = false;             // Unix socket
    bool tls = false;
    const sockaddr* address = nullptr;  // TCP peer (AF_INET or AF_INET6)
    std::string_view database;
    std::string_view user;
};

// The first rule matching `c`, or nullptr (no rule: the connection is refused).
const HbaRule* match_hba(const HbaRules& rules, const HbaConnection& c);

}  // namespace pggate::auth
