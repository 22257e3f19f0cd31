// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it: the pg_authid
// secret format, the server side that verifies pggate's clients, and the
// client side that logs pggate in to PostgreSQL. Pure maths, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace pggate::protocol {

constexpr std::size_t kScramKeyLength = 32;  // SHA-256 output
using ScramKey = std::array<std::uint8_t, kScramKeyLength>;

constexpr std::string_view kScramMechanism = "SCRAM-SHA-256";
constexpr std::string_view kScramPlusMechanism = "SCRAM-SHA-256-PLUS";
// The one channel binding type PostgreSQL defines (RFC 5929).
constexpr std::string_view kChannelBindingType = "tls-server-end-point";
constexpr int kScramDefaultIterations = 4096;  // PostgreSQL's default
constexpr std::size_t kScramDefaultSaltLength = 16;
constexpr std::size_t kScramNonceRandomBytes = 18;  // 24 base64 characters
// Bounds on what a peer may send us; far above what real peers send.
constexpr std::size_t kScramMaxNonceLength = 1024;
constexpr std::size_t kScramMaxClientMessage = 4096;
constexpr std::size_t kScramMaxServerMessage = 16 * 1024;
constexpr int kScramMaxServerIterations = 10'000'000;

struct ScramSecret {
    int iterations = 0;
    Bytes salt;
    ScramKey stored_key{};
    ScramKey server_key{};
};

// Parses "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (the
// pg_authid form, base64 fields). nullopt on any deviation: iterations not
// in 1..INT_MAX, empty salt, keys not exactly 32 bytes, non-canonical base64.
std::optional<ScramSecret> parse_scram_secret(std::string_view s);
std::string format_scram_secret(const ScramSecret& secret);

// Derives the secret PostgreSQL would store for `password`. PostgreSQL
// SASLprep-normalizes the password first; that is the identity for ASCII
// (and PostgreSQL uses the raw bytes whenever SASLprep rejects the input,
// e.g. ASCII control characters), so only non-ASCII passwords that NFKC or
// SASLprep's mapping would change derive a different secret here.
// On an OpenSSL failure the result has iterations == 0, which no parser or
// ScramServer accepts.
ScramSecret scram_secret_from_password(std::string_view password, std::span<const std::uint8_t> salt,
                                       int iterations);

// pggate as the SCRAM server, verifying a connecting client. One object per
// exchange: client_first, then client_final. Any error (malformed message,
// wrong proof, call out of order) fails the exchange for good.
class ScramServer {
public:
    // `server_nonce` empty: 18 random bytes in base64. A non-empty one must
    // be printable ASCII without ',' and at most kScramMaxNonceLength long.
    explicit ScramServer(ScramSecret secret, std::string server_nonce = {});
    // For a plain-text password: derives a secret with a random 16-byte salt
    // and 4096 iterations. An empty password fails every exchange.
    explicit ScramServer(std::string_view password, std::string server_nonce = {});

    // Channel binding, set before client_first: `endpoint_hash` is the
    // tls-server-end-point data of the client's TLS session (empty: no TLS,
    // so SCRAM-SHA-256-PLUS was not offered) and `plus` says whether the
    // client chose SCRAM-SHA-256-PLUS. A client that says it could bind but
    // thinks the server cannot ("y") while PLUS was offered is refused: that
    // is a downgrade.
    void set_channel_binding(Bytes endpoint_hash, bool plus);

    // Takes the client-first-message (the SASLInitialResponse data) and
    // returns the server-first-message, or nullopt with `error` set.
    std::optional<std::string> client_first(std::string_view msg, std::string& error);
    // Takes the client-final-message and, if the proof is right, returns the
    // server-final-message ("v=..."); nullopt with `error` set otherwise.
    std::optional<std::string> client_final(std::string_view msg, std::string& error);

    bool succeeded() const { return state_ == State::Done; }
    // The exchange failed on a malformed or out-of-order message (a protocol
    // violation), not on a proof that does not check out, a message too long
    // to read or an unusable secret.
    bool failed_malformed() const { return state_ == State::Failed && malformed_; }
    // The ClientKey recovered from the client's proof; all zeros until
    // succeeded(). With secret() it lets pggate log in to a backend that
    // holds the same secret without knowing the password (ScramClient).
    const ScramKey& client_key() const { return client_key_; }
    const ScramSecret& secret() const { return secret_; }

private:
    enum class State { ExpectClientFirst, ExpectClientFinal, Done, Failed };
    void init(std::string server_nonce);
    std::optional<std::string> fail(std::string& error, std::string why, bool malformed = true);

    State state_ = State::ExpectClientFirst;
    std::string failure_;  // why the exchange failed, repeated to late callers
    bool malformed_ = false;
    ScramSecret secret_;
    std::string server_nonce_;
    Bytes endpoint_hash_;            // empty: PLUS not offered
    bool plus_ = false;              // the client chose SCRAM-SHA-256-PLUS
    std::string gs2_header_;         // "n,,", "y,," or "p=tls-server-end-point,,"
    std::string client_first_bare_;  // for the AuthMessage
    std::string server_first_;
    std::string client_nonce_;
    ScramKey client_key_{};
};

// pggate as the SCRAM client, logging in to PostgreSQL. One object per
// exchange: client_first, server_first, server_final. Any error fails the
// exchange for good.
class ScramClient {
public:
    // `client_nonce` empty: 18 random bytes in base64; a given one must be
    // printable ASCII without ','. `username` goes into the n= attribute,
    // which PostgreSQL ignores (libpq sends it empty).
    explicit ScramClient(std::string_view password, std::string client_nonce = {},
                         std::string_view username = {});
    // No-plaintext mode: the ClientKey (recovered by a ScramServer from the
    // connecting client's proof) plus the secret it was verified against,
    // whose ServerKey authenticates the backend. Works only if the backend's
    // pg_authid secret has the same salt and iteration count, i.e. the
    // auth_file secret was copied from it; server_first says so otherwise.
    ScramClient(const ScramKey& client_key, const ScramSecret& secret, std::string client_nonce = {},
                std::string_view username = {});

    // The client-first-message "n,,n=<user>,r=<nonce>" for SASLInitialResponse.
    // "" if called twice or no random nonce could be made; the exchange has
    // then failed and server_first reports why.
    std::string client_first();
    // Takes the server-first-message (AuthenticationSASLContinue data) and
    // returns the client-final-message, or nullopt with `error` set.
    std::optional<std::string> server_first(std::string_view msg, std::string& error);
    // Takes the server-final-message (AuthenticationSASLFinal data); true only
    // if the server proved it knows the ServerKey.
    bool server_final(std::string_view msg, std::string& error);

    bool succeeded() const { return state_ == State::Done; }

private:
    enum class State { Initial, SentFirst, SentFinal, Done, Failed };
    void fail(std::string& error, std::string why);

    State state_ = State::Initial;
    std::string failure_;
    bool have_password_ = false;
    std::string password_;
    ScramKey client_key_{};  // key mode: given; password mode: derived in server_first
    ScramKey server_key_{};
    int expected_iterations_ = 0;  // key mode only
    Bytes expected_salt_;          // key mode only
    std::string client_nonce_;
    std::string client_first_bare_;
    ScramKey server_signature_{};
};

}  // namespace pggate::protocol
