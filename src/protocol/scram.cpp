// SCRAM-SHA-256 message parsing and key derivation. Every message from the
// peer is validated as a whole before any of it is used, and every failure is
// a returned error: these run on the data path with untrusted input.
#include "protocol/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <utility>
#include <vector>

#include "core/base64.hpp"

namespace pggate::protocol {

namespace {

constexpr std::string_view kSecretPrefix = "SCRAM-SHA-256$";

const unsigned char* uchars(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

bool sha256(std::span<const std::uint8_t> data, ScramKey& out) {
    unsigned int len = 0;
    return EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1 &&
           len == kScramKeyLength;
}

bool hmac_sha256(std::span<const std::uint8_t> key, std::string_view data, ScramKey& out) {
    unsigned int len = 0;
    return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), uchars(data), data.size(),
                out.data(), &len) != nullptr &&
           len == kScramKeyLength;
}

bool salted_password(std::string_view password, std::span<const std::uint8_t> salt, int iterations,
                     ScramKey& out) {
    if (iterations <= 0 || password.size() > INT_MAX || salt.size() > INT_MAX) return false;
    return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                             static_cast<int>(salt.size()), iterations, EVP_sha256(),
                             static_cast<int>(kScramKeyLength), out.data()) == 1;
}

// ClientKey and ServerKey from SaltedPassword (RFC 5802 section 3).
bool derive_keys(const ScramKey& salted, ScramKey& client_key, ScramKey& server_key) {
    return hmac_sha256(salted, "Client Key", client_key) && hmac_sha256(salted, "Server Key", server_key);
}

std::optional<Bytes> random_bytes(std::size_t n) {
    Bytes b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) return std::nullopt;
    return b;
}

std::optional<std::string> random_nonce() {
    auto b = random_bytes(kScramNonceRandomBytes);
    if (!b) return std::nullopt;
    return base64_encode(*b);
}

// RFC 5802 "printable": %x21-7E except ','.
bool is_printable_nonce(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    return true;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

struct Attr {
    char name;
    std::string_view value;
};

// Splits "a=x,b=y" into attributes. No attribute value in SCRAM may contain
// ',' (it is escaped in names and absent from base64 and nonces), so a plain
// split is exact. nullopt if any part is not ALPHA "=" value or has a NUL.
std::optional<std::vector<Attr>> split_attrs(std::string_view msg) {
    std::vector<Attr> out;
    std::size_t pos = 0;
    while (true) {
        std::size_t comma = msg.find(',', pos);
        std::string_view part = msg.substr(pos, comma == std::string_view::npos ? msg.npos : comma - pos);
        if (part.size() < 2 || !is_alpha(part[0]) || part[1] != '=' ||
            part.find('\0') != std::string_view::npos)
            return std::nullopt;
        out.push_back(Attr{part[0], part.substr(2)});
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return out;
}

// Extensions (RFC 5802 attr-val with a non-empty value) are allowed after
// the known attributes and ignored, as PostgreSQL does; one reusing a name
// we rely on is rejected rather than guessed at.
bool extensions_ok(std::span<const Attr> attrs, std::string_view reserved) {
    for (const Attr& a : attrs)
        if (a.value.empty() || reserved.find(a.name) != std::string_view::npos) return false;
    return true;
}

// A positive decimal count without sign, spaces or leading zeros (so that a
// parsed secret formats back to the same text), at most `max`.
std::optional<int> parse_count(std::string_view s, int max) {
    if (s.empty() || s.size() > 10 || s[0] < '1' || s[0] > '9') return std::nullopt;
    long long v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < 1 || v > max) return std::nullopt;
    return static_cast<int>(v);
}

std::optional<ScramKey> decode_key(std::string_view b64) {
    auto b = base64_decode(b64);
    if (!b || b->size() != kScramKeyLength) return std::nullopt;
    ScramKey k{};
    std::copy(b->begin(), b->end(), k.begin());
    return k;
}

// saslname escaping: ',' and '=' must not appear raw in the n= attribute.
std::string escape_saslname(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == ',')
            out += "=2C";
        else if (c == '=')
            out += "=3D";
        else
            out += c;
    }
    return out;
}

}  // namespace

// ---- secrets ---------------------------------------------------------------

std::optional<ScramSecret> parse_scram_secret(std::string_view s) {
    if (s.substr(0, kSecretPrefix.size()) != kSecretPrefix) return std::nullopt;
    s.remove_prefix(kSecretPrefix.size());
    std::size_t colon1 = s.find(':');
    std::size_t dollar = s.find('$');
    if (colon1 == s.npos || dollar == s.npos || dollar < colon1) return std::nullopt;
    std::size_t colon2 = s.find(':', dollar);
    if (colon2 == s.npos) return std::nullopt;

    auto iterations = parse_count(s.substr(0, colon1), INT_MAX);
    auto salt = base64_decode(s.substr(colon1 + 1, dollar - colon1 - 1));
    auto stored = decode_key(s.substr(dollar + 1, colon2 - dollar - 1));
    auto server = decode_key(s.substr(colon2 + 1));
    if (!iterations || !salt || salt->empty() || !stored || !server) return std::nullopt;
    return ScramSecret{*iterations, std::move(*salt), *stored, *server};
}

std::string format_scram_secret(const ScramSecret& secret) {
    return std::string(kSecretPrefix) + std::to_string(secret.iterations) + ":" +
           base64_encode(secret.salt) + "$" + base64_encode(secret.stored_key) + ":" +
           base64_encode(secret.server_key);
}

ScramSecret scram_secret_from_password(std::string_view password, std::span<const std::uint8_t> salt,
                                       int iterations) {
    ScramSecret out;
    ScramKey salted{};
    ScramKey client_key{};
    if (!salted_password(password, salt, iterations, salted) ||
        !derive_keys(salted, client_key, out.server_key) || !sha256(client_key, out.stored_key)) {
        OPENSSL_cleanse(salted.data(), salted.size());
        return ScramSecret{};
    }
    OPENSSL_cleanse(salted.data(), salted.size());
    OPENSSL_cleanse(client_key.data(), client_key.size());
    out.iterations = iterations;
    out.salt.assign(salt.begin(), salt.end());
    return out;
}

// ---- server ----------------------------------------------------------------

ScramServer::ScramServer(ScramSecret secret, std::string server_nonce) : secret_(std::move(secret)) {
    init(std::move(server_nonce));
}

ScramServer::ScramServer(std::string_view password, std::string server_nonce) {
    if (password.empty()) {
        state_ = State::Failed;
        failure_ = "empty password";
        return;
    }
    auto salt = random_bytes(kScramDefaultSaltLength);
    if (!salt) {
        state_ = State::Failed;
        failure_ = "could not generate a random SCRAM salt";
        return;
    }
    secret_ = scram_secret_from_password(password, *salt, kScramDefaultIterations);
    init(std::move(server_nonce));
}

void ScramServer::init(std::string server_nonce) {
    if (secret_.iterations <= 0 || secret_.salt.empty()) {
        state_ = State::Failed;
        failure_ = "unusable SCRAM secret";
        return;
    }
    if (server_nonce.empty()) {
        auto n = random_nonce();
        if (!n) {
            state_ = State::Failed;
            failure_ = "could not generate a random SCRAM nonce";
            return;
        }
        server_nonce = std::move(*n);
    } else if (!is_printable_nonce(server_nonce) || server_nonce.size() > kScramMaxNonceLength) {
        state_ = State::Failed;
        failure_ = "invalid SCRAM server nonce";
        return;
    }
    server_nonce_ = std::move(server_nonce);
}

std::optional<std::string> ScramServer::fail(std::string& error, std::string why, bool malformed) {
    if (state_ != State::Failed) malformed_ = malformed;
    state_ = State::Failed;
    failure_ = why;
    error = std::move(why);
    return std::nullopt;
}

void ScramServer::set_channel_binding(Bytes endpoint_hash, bool plus) {
    endpoint_hash_ = std::move(endpoint_hash);
    plus_ = plus && !endpoint_hash_.empty();
}

std::optional<std::string> ScramServer::client_first(std::string_view msg, std::string& error) {
    if (state_ == State::Failed) return fail(error, failure_);
    if (state_ != State::ExpectClientFirst) return fail(error, "unexpected SCRAM client-first-message");
    if (msg.size() > kScramMaxClientMessage) return fail(error, "SCRAM client-first-message too long", false);
    if (msg.find('\0') != msg.npos) return fail(error, "NUL byte in SCRAM client-first-message");

    // gs2-header: cbind-flag "," [authzid] ","
    if (msg.empty()) return fail(error, "empty SCRAM client-first-message");
    std::size_t at = 0;  // where the authzid field starts
    if (msg[0] == 'p') {
        if (endpoint_hash_.empty()) return fail(error, "SCRAM channel binding was requested but is not supported");
        if (!plus_)
            return fail(error, "the client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
                               "includes channel binding data");
        const std::size_t comma = msg.find(',');
        if (msg.size() < 2 || msg[1] != '=' || comma == std::string_view::npos)
            return fail(error, "malformed SCRAM message (invalid channel-binding flag)");
        if (msg.substr(2, comma - 2) != kChannelBindingType)
            return fail(error, "unsupported SCRAM channel-binding type \"" + std::string(msg.substr(2, comma - 2)) + "\"");
        at = comma + 1;
    } else if (msg[0] == 'n' || msg[0] == 'y') {
        if (msg.size() < 2 || msg[1] != ',')
            return fail(error, "malformed SCRAM message (unexpected channel-binding flag)");
        if (plus_)
            return fail(error, "the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
                               "channel binding data");
        if (msg[0] == 'y' && !endpoint_hash_.empty())
            return fail(error, "SCRAM channel binding negotiation error: the client supports channel binding and "
                               "thinks the server does not, but it does");
        at = 2;
    } else {
        return fail(error, "malformed SCRAM message (unexpected channel-binding flag)");
    }
    if (msg.substr(at, 2) == "a=")
        return fail(error, "SCRAM authorization identity is not supported");
    if (msg.size() <= at || msg[at] != ',')
        return fail(error, "malformed SCRAM message (invalid GS2 header)");
    std::string_view bare = msg.substr(at + 1);

    auto attrs = split_attrs(bare);
    if (!attrs) return fail(error, "malformed SCRAM client-first-message");
    const std::vector<Attr>& a = *attrs;
    if (a[0].name == 'm') return fail(error, "SCRAM mandatory extensions are not supported");
    // The user name is taken from the startup packet, as PostgreSQL does; its
    // content (even its =2C/=3D escaping) is not looked at.
    if (a[0].name != 'n' || a.size() < 2 || a[1].name != 'r')
        return fail(error, "malformed SCRAM client-first-message (expected n= and r=)");
    std::string_view nonce = a[1].value;
    if (nonce.size() > kScramMaxNonceLength) return fail(error, "SCRAM client nonce too long", false);
    if (!is_printable_nonce(nonce)) return fail(error, "invalid SCRAM client nonce");
    if (!extensions_ok(std::span(a).subspan(2), "mnr"))
        return fail(error, "malformed SCRAM client-first-message (bad extension)");

    gs2_header_.assign(msg.substr(0, at + 1));
    client_first_bare_.assign(bare);
    client_nonce_.assign(nonce);
    server_first_ = "r=" + client_nonce_ + server_nonce_ + ",s=" + base64_encode(secret_.salt) +
                    ",i=" + std::to_string(secret_.iterations);
    state_ = State::ExpectClientFinal;
    return server_first_;
}

std::optional<std::string> ScramServer::client_final(std::string_view msg, std::string& error) {
    if (state_ == State::Failed) return fail(error, failure_);
    if (state_ != State::ExpectClientFinal) return fail(error, "unexpected SCRAM client-final-message");
    if (msg.size() > kScramMaxClientMessage) return fail(error, "SCRAM client-final-message too long", false);

    auto attrs = split_attrs(msg);
    if (!attrs || attrs->size() < 3) return fail(error, "malformed SCRAM client-final-message");
    const std::vector<Attr>& a = *attrs;
    if (a[0].name != 'c' || a[1].name != 'r' || a.back().name != 'p')
        return fail(error, "malformed SCRAM client-final-message (expected c=, r=, p=)");
    if (!extensions_ok(std::span(a).subspan(2, a.size() - 3), "cmrp"))
        return fail(error, "malformed SCRAM client-final-message (bad extension)");

    auto cbind = base64_decode(a[0].value);
    if (!cbind) return fail(error, "malformed SCRAM channel binding (invalid base64)");
    // The header again, then with PLUS the TLS session's own binding data.
    Bytes expected(gs2_header_.begin(), gs2_header_.end());
    if (plus_) expected.insert(expected.end(), endpoint_hash_.begin(), endpoint_hash_.end());
    if (*cbind != expected) return fail(error, "SCRAM channel binding check failed");
    if (a[1].value != client_nonce_ + server_nonce_) return fail(error, "SCRAM nonce mismatch");
    auto proof = base64_decode(a.back().value);
    if (!proof) return fail(error, "malformed SCRAM proof (invalid base64)");
    if (proof->size() != kScramKeyLength) return fail(error, "malformed SCRAM proof (wrong length)");

    std::string_view without_proof = msg.substr(0, msg.size() - a.back().value.size() - 3);
    std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);

    ScramKey client_signature{};
    ScramKey recovered{};
    ScramKey recovered_stored{};
    ScramKey server_signature{};
    if (!hmac_sha256(secret_.stored_key, auth_message, client_signature))
        return fail(error, "SCRAM HMAC computation failed", false);
    for (std::size_t i = 0; i < kScramKeyLength; ++i)
        recovered[i] = static_cast<std::uint8_t>((*proof)[i] ^ client_signature[i]);
    if (!sha256(recovered, recovered_stored)) return fail(error, "SCRAM hash computation failed", false);
    if (CRYPTO_memcmp(recovered_stored.data(), secret_.stored_key.data(), kScramKeyLength) != 0)
        return fail(error, "SCRAM proof verification failed (wrong password)", false);
    if (!hmac_sha256(secret_.server_key, auth_message, server_signature))
        return fail(error, "SCRAM HMAC computation failed", false);

    client_key_ = recovered;
    state_ = State::Done;
    return "v=" + base64_encode(server_signature);
}

// ---- client ----------------------------------------------------------------

ScramClient::ScramClient(std::string_view password, std::string client_nonce, std::string_view username)
    : have_password_(true), password_(password), client_nonce_(std::move(client_nonce)) {
    client_first_bare_ = "n=" + escape_saslname(username) + ",r=";
}

ScramClient::ScramClient(const ScramKey& client_key, const ScramSecret& secret, std::string client_nonce,
                         std::string_view username)
    : client_key_(client_key),
      server_key_(secret.server_key),
      expected_iterations_(secret.iterations),
      expected_salt_(secret.salt),
      client_nonce_(std::move(client_nonce)) {
    client_first_bare_ = "n=" + escape_saslname(username) + ",r=";
}

void ScramClient::fail(std::string& error, std::string why) {
    state_ = State::Failed;
    failure_ = why;
    error = std::move(why);
}

std::string ScramClient::client_first() {
    if (state_ != State::Initial) {
        if (state_ != State::Failed) {
            state_ = State::Failed;
            failure_ = "SCRAM client-first-message requested twice";
        }
        return {};
    }
    if (client_nonce_.empty()) {
        auto n = random_nonce();
        if (!n) {
            state_ = State::Failed;
            failure_ = "could not generate a random SCRAM nonce";
            return {};
        }
        client_nonce_ = std::move(*n);
    } else if (!is_printable_nonce(client_nonce_) || client_nonce_.size() > kScramMaxNonceLength) {
        state_ = State::Failed;
        failure_ = "invalid client nonce";
        return {};
    }
    client_first_bare_ += client_nonce_;
    state_ = State::SentFirst;
    return "n,," + client_first_bare_;
}

std::optional<std::string> ScramClient::server_first(std::string_view msg, std::string& error) {
    if (state_ == State::Failed) {
        error = failure_;
        return std::nullopt;
    }
    if (state_ != State::SentFirst) {
        fail(error, "unexpected SCRAM server-first-message");
        return std::nullopt;
    }
    if (msg.size() > kScramMaxServerMessage) {
        fail(error, "SCRAM server-first-message too long");
        return std::nullopt;
    }
    auto attrs = split_attrs(msg);
    if (!attrs) {
        fail(error, "malformed SCRAM server-first-message");
        return std::nullopt;
    }
    const std::vector<Attr>& a = *attrs;
    if (a[0].name == 'm') {
        fail(error, "SCRAM mandatory extensions are not supported");
        return std::nullopt;
    }
    if (a.size() < 3 || a[0].name != 'r' || a[1].name != 's' || a[2].name != 'i' ||
        !extensions_ok(std::span(a).subspan(3), "mrsi")) {
        fail(error, "malformed SCRAM server-first-message (expected r=, s=, i=)");
        return std::nullopt;
    }
    std::string_view nonce = a[0].value;
    // The server must extend our nonce with its own part.
    if (nonce.size() <= client_nonce_.size() || nonce.substr(0, client_nonce_.size()) != client_nonce_ ||
        !is_printable_nonce(nonce)) {
        fail(error, "invalid SCRAM server nonce");
        return std::nullopt;
    }
    auto salt = base64_decode(a[1].value);
    if (!salt || salt->empty()) {
        fail(error, "invalid SCRAM salt");
        return std::nullopt;
    }
    auto iterations = parse_count(a[2].value, kScramMaxServerIterations);
    if (!iterations) {
        fail(error, "invalid SCRAM iteration count");
        return std::nullopt;
    }

    if (have_password_) {
        ScramKey salted{};
        bool ok = salted_password(password_, *salt, *iterations, salted) &&
                  derive_keys(salted, client_key_, server_key_);
        OPENSSL_cleanse(salted.data(), salted.size());
        if (!ok) {
            fail(error, "SCRAM key derivation failed");
            return std::nullopt;
        }
    } else if (*iterations != expected_iterations_ || *salt != expected_salt_) {
        fail(error,
             "the server's SCRAM salt or iteration count differs from the stored secret (copy the "
             "secret from the server's pg_authid)");
        return std::nullopt;
    }

    std::string without_proof = "c=biws,r=" + std::string(nonce);  // biws = base64("n,,")
    std::string auth_message = client_first_bare_ + "," + std::string(msg) + "," + without_proof;
    ScramKey stored_key{};
    ScramKey client_signature{};
    if (!sha256(client_key_, stored_key) || !hmac_sha256(stored_key, auth_message, client_signature) ||
        !hmac_sha256(server_key_, auth_message, server_signature_)) {
        fail(error, "SCRAM HMAC computation failed");
        return std::nullopt;
    }
    ScramKey proof{};
    for (std::size_t i = 0; i < kScramKeyLength; ++i)
        proof[i] = static_cast<std::uint8_t>(client_key_[i] ^ client_signature[i]);
    state_ = State::SentFinal;
    return without_proof + ",p=" + base64_encode(proof);
}

bool ScramClient::server_final(std::string_view msg, std::string& error) {
    if (state_ == State::Failed) {
        error = failure_;
        return false;
    }
    if (state_ != State::SentFinal) {
        fail(error, "unexpected SCRAM server-final-message");
        return false;
    }
    if (msg.size() > kScramMaxServerMessage) {
        fail(error, "SCRAM server-final-message too long");
        return false;
    }
    auto attrs = split_attrs(msg);
    if (!attrs) {
        fail(error, "malformed SCRAM server-final-message");
        return false;
    }
    const std::vector<Attr>& a = *attrs;
    if (a[0].name == 'e') {
        fail(error, "SCRAM server error: " + std::string(a[0].value));
        return false;
    }
    if (a[0].name != 'v' || !extensions_ok(std::span(a).subspan(1), "ev")) {
        fail(error, "malformed SCRAM server-final-message (expected v=)");
        return false;
    }
    auto signature = base64_decode(a[0].value);
    if (!signature || signature->size() != kScramKeyLength) {
        fail(error, "malformed SCRAM server signature");
        return false;
    }
    if (CRYPTO_memcmp(signature->data(), server_signature_.data(), kScramKeyLength) != 0) {
        fail(error, "SCRAM server signature mismatch: the server does not know the password");
        return false;
    }
    state_ = State::Done;
    return true;
}

}  // namespace pggate::protocol
