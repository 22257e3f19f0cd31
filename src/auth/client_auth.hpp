// pggate authenticating a client itself (sans-IO): it produces the
// Authentication* messages to send and checks the client's answers against
// the user's secret. Unknown users go through the same exchange and get the
// same error as a wrong password, so the reply reveals nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "auth/credentials.hpp"
#include "config/config.hpp"
#include "core/bytes.hpp"
#include "protocol/scram.hpp"

namespace pggate::auth {

enum class AuthStep { Continue, Done, Failed };

// The longest PasswordMessage or SASL response pggate reads from a client
// (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH): what a client that has not proven
// who it is may make pggate hold.
constexpr std::uint32_t kMaxAuthMessage = 65535;

struct AuthResult {
    AuthStep step = AuthStep::Continue;
    Bytes out;  // messages to send the client (for Done: any final SASL message)
    // For Failed, the error as PostgreSQL reports it: 28P01 "password
    // authentication failed" for a wrong password, an unknown user or a
    // message too long to read; 08P01 for a malformed message.
    const char* sqlstate = "28P01";
    std::string error;
};

// Makes the secret key the made-up SCRAM salts of unknown users (and of
// users with a plain-text password) are derived from: a keyed hash of the user name, so a name gets the same salt at every
// attempt and in every worker, as a real user's does, yet nobody can compute
// it. The master calls it once before it forks.
void init_mock_salt_key();

class ClientAuth {
public:
    // `known` is the user's credentials, or nullptr for a user pggate does
    // not know. `endpoint_hash` is the client's TLS session's channel
    // binding data (empty without TLS): with it SCRAM-SHA-256-PLUS is offered.
    ClientAuth(config::AuthType type, std::string user, const Credentials* known, Bytes endpoint_hash = {});

    // The first message(s) to send; Done at once for trust.
    AuthResult begin();
    // A PasswordMessage/SASL response ('p') body from the client.
    AuthResult on_password_message(std::span<const std::uint8_t> body);
    // A 'p' message longer than kMaxAuthMessage, left unread: it fails the
    // authentication, as in PostgreSQL.
    AuthResult on_oversized_message() { return fail(); }

    // After a successful SCRAM exchange: the client's ClientKey.
    std::optional<protocol::ScramKey> client_key() const;
    // The secret the client is checked against ("" for an unknown user).
    const std::string& secret() const { return secret_; }

private:
    enum class Method { Trust, Plain, Md5, Scram, Reject };
    AuthResult fail();
    static AuthResult violation(std::string message);

    Method method_;
    std::string user_;
    std::string secret_;
    bool known_;
    std::uint8_t salt_[4] = {0, 0, 0, 0};
    Bytes endpoint_hash_;
    std::unique_ptr<protocol::ScramServer> scram_;
    bool scram_started_ = false;
};

// pggate logging in to a server as a user (sans-IO): answers each
// Authentication* request with what the user's credentials allow.
class ServerLogin {
public:
    ServerLogin(std::string user, Credentials credentials);

    struct Step {
        bool ok = true;     // false: login cannot go on; `error` says why
        bool done = false;  // AuthenticationOk seen
        Bytes out;          // messages to send the server
        std::string error;
    };
    // The body of an 'R' message from the server.
    Step on_auth_request(std::span<const std::uint8_t> body);
    // Forgets an exchange begun on a connection that was given up, so the
    // login starts afresh on the next one.
    void restart() { scram_.reset(); }

private:
    std::string user_;
    Credentials credentials_;
    std::unique_ptr<protocol::ScramClient> scram_;
};

}  // namespace pggate::auth
