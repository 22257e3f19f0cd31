// Client authentication by pggate, and pggate's own login to servers.
#include "auth/client_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>

#include "auth/auth_file.hpp"
#include "protocol/md5_auth.hpp"
#include "protocol/messages.hpp"

namespace pggate::auth {

namespace {

constexpr std::uint32_t kAuthOk = 0;
constexpr std::uint32_t kAuthCleartext = 3;
constexpr std::uint32_t kAuthMd5 = 5;
constexpr std::uint32_t kAuthSasl = 10;
constexpr std::uint32_t kAuthSaslContinue = 11;
constexpr std::uint32_t kAuthSaslFinal = 12;

using protocol::build_auth;

// Appends one PasswordMessage / SASL response ('p') with `payload` as its body.
void build_password_message(Bytes& out, std::string_view payload) { protocol::build_message(out, 'p', {payload}); }

std::string_view as_text(std::span<const std::uint8_t> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

bool plain_password_matches(std::string_view secret, std::string_view user, std::string_view password) {
    switch (secret_kind(secret)) {
        case SecretKind::Plain:
            return secret.size() == password.size() && CRYPTO_memcmp(secret.data(), password.data(), secret.size()) == 0;
        case SecretKind::Md5: {
            std::string computed = protocol::md5_password_secret(password, user);
            return computed.size() == secret.size() && CRYPTO_memcmp(computed.data(), secret.data(), secret.size()) == 0;
        }
        case SecretKind::Scram: {
            auto stored = protocol::parse_scram_secret(secret);
            if (!stored) return false;
            auto derived = protocol::scram_secret_from_password(password, stored->salt, stored->iterations);
            return CRYPTO_memcmp(derived.stored_key.data(), stored->stored_key.data(), stored->stored_key.size()) == 0;
        }
    }
    return false;
}

std::uint8_t mock_salt_key[32];

// The salt an unknown user's made-up SCRAM secret shows: stable per name.
Bytes mock_salt(std::string_view user) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), mock_salt_key, sizeof mock_salt_key, reinterpret_cast<const unsigned char*>(user.data()),
         user.size(), digest, &len);
    return Bytes(digest, digest + std::min<std::size_t>(len, protocol::kScramDefaultSaltLength));
}

}  // namespace

void init_mock_salt_key() { RAND_bytes(mock_salt_key, sizeof mock_salt_key); }

ClientAuth::ClientAuth(config::AuthType type, std::string user, const Credentials* known, Bytes endpoint_hash)
    : user_(std::move(user)), known_(known != nullptr && !known->secret.empty()), endpoint_hash_(std::move(endpoint_hash)) {
    if (known_) secret_ = known->secret;
    SecretKind kind = known_ ? secret_kind(secret_) : SecretKind::Plain;
    switch (type) {
        case config::AuthType::Trust: method_ = Method::Trust; break;
        case config::AuthType::Plain: method_ = Method::Plain; break;
        case config::AuthType::Md5: method_ = kind == SecretKind::Scram ? Method::Scram : Method::Md5; break;
        case config::AuthType::ScramSha256: method_ = Method::Scram; break;
        case config::AuthType::Passthrough:
        case config::AuthType::Cert:  // checked by the caller, from the TLS session
        case config::AuthType::Hba: method_ = Method::Reject; break;  // hba: the caller passes the rule's method
    }
    // A SCRAM exchange needs a SCRAM or plain secret; with an md5 one it
    // cannot succeed, like an unknown user's.
    if (method_ == Method::Scram && kind == SecretKind::Md5) known_ = false;
}

AuthResult ClientAuth::fail() {
    return {AuthStep::Failed, {}, "28P01", "password authentication failed for user \"" + user_ + "\""};
}

AuthResult ClientAuth::violation(std::string message) {
    return {AuthStep::Failed, {}, "08P01", std::move(message)};
}

AuthResult ClientAuth::begin() {
    AuthResult r;
    switch (method_) {
        case Method::Trust:
            r.step = AuthStep::Done;
            return r;
        case Method::Plain:
            build_auth(r.out, kAuthCleartext);
            return r;
        case Method::Md5:
            RAND_bytes(salt_, sizeof salt_);
            build_auth(r.out, kAuthMd5, {reinterpret_cast<const char*>(salt_), sizeof salt_});
            return r;
        case Method::Scram: {
            if (known_ && secret_kind(secret_) == SecretKind::Scram) {
                scram_ = std::make_unique<protocol::ScramServer>(*protocol::parse_scram_secret(secret_));
            } else if (known_) {
                // A plain-text password: its secret is made with the same
                // stable salt an unknown user is shown, so that the two look
                // alike, and like a stored secret, from one attempt to the next.
                scram_ = std::make_unique<protocol::ScramServer>(
                    protocol::scram_secret_from_password(secret_, mock_salt(user_), protocol::kScramDefaultIterations));
            } else {
                // An unknown user gets a made-up secret: the exchange runs and
                // fails like a wrong password. Random keys, not ones derived
                // from a random password, so a stranger's attempt costs no
                // key derivation in the worker's loop.
                protocol::ScramSecret fake;
                fake.iterations = protocol::kScramDefaultIterations;
                fake.salt = mock_salt(user_);
                RAND_bytes(fake.stored_key.data(), static_cast<int>(fake.stored_key.size()));
                RAND_bytes(fake.server_key.data(), static_cast<int>(fake.server_key.size()));
                scram_ = std::make_unique<protocol::ScramServer>(std::move(fake));
            }
            std::string mechanisms;
            if (!endpoint_hash_.empty()) {
                mechanisms.append(protocol::kScramPlusMechanism);
                mechanisms.push_back('\0');
            }
            mechanisms.append(protocol::kScramMechanism);
            mechanisms.push_back('\0');
            mechanisms.push_back('\0');
            build_auth(r.out, kAuthSasl, mechanisms);
            return r;
        }
        case Method::Reject:
            break;
    }
    return fail();
}

AuthResult ClientAuth::on_password_message(std::span<const std::uint8_t> body) {
    switch (method_) {
        case Method::Plain:
        case Method::Md5: {
            ByteReader rd(body.data(), body.size());
            std::string_view answer = rd.cstring();
            if (rd.failed() || !rd.at_end()) return violation("invalid password packet size");
            if (!known_) return fail();
            bool ok = method_ == Method::Plain
                          ? plain_password_matches(secret_, user_, answer)
                          : protocol::md5_check_response(secret_, user_, std::span<const std::uint8_t, 4>(salt_, 4), answer);
            if (!ok) return fail();
            AuthResult done;
            done.step = AuthStep::Done;
            return done;
        }
        case Method::Scram: {
            std::string error;
            AuthResult r;
            if (!scram_started_) {
                scram_started_ = true;
                ByteReader rd(body.data(), body.size());
                std::string_view mechanism = rd.cstring();
                if (rd.failed()) return violation("malformed SASLInitialResponse: no mechanism name");
                const bool plus = !endpoint_hash_.empty() && mechanism == protocol::kScramPlusMechanism;
                if (mechanism != protocol::kScramMechanism && !plus)
                    return violation("client selected an invalid SASL authentication mechanism");
                std::uint32_t len = rd.u32();
                if (rd.failed() || len != rd.remaining())
                    return violation("malformed SASLInitialResponse: its length does not match its data");
                scram_->set_channel_binding(endpoint_hash_, plus);
                auto reply = scram_->client_first(as_text(body.subspan(body.size() - len)), error);
                if (!reply) return scram_->failed_malformed() ? violation(error) : fail();
                build_auth(r.out, kAuthSaslContinue, *reply);
                return r;
            }
            auto reply = scram_->client_final(as_text(body), error);
            if (!reply && scram_->failed_malformed()) return violation(error);
            if (!reply || !known_) return fail();
            build_auth(r.out, kAuthSaslFinal, *reply);
            r.step = AuthStep::Done;
            return r;
        }
        default:
            return fail();
    }
}

std::optional<protocol::ScramKey> ClientAuth::client_key() const {
    if (scram_ && scram_->succeeded()) return scram_->client_key();
    return std::nullopt;
}

ServerLogin::ServerLogin(std::string user, Credentials credentials)
    : user_(std::move(user)), credentials_(std::move(credentials)) {}

ServerLogin::Step ServerLogin::on_auth_request(std::span<const std::uint8_t> body) {
    Step s;
    ByteReader rd(body.data(), body.size());
    std::uint32_t code = rd.u32();
    if (rd.failed()) return {false, false, {}, "invalid authentication request from server"};
    const std::string& secret = credentials_.secret;
    SecretKind kind = secret_kind(secret);
    auto cannot = [&](const char* what) {
        return Step{false, false, {}, std::string("server asks for ") + what + " authentication, and pggate has no "
                                                                               "usable secret for user \"" + user_ + "\""};
    };
    switch (code) {
        case kAuthOk:
            // A SCRAM server proves it knows the secret before letting us in;
            // one that skips that may be anyone, harvesting our proof.
            if (scram_ && !scram_->succeeded())
                return {false, false, {}, "server sent AuthenticationOk before proving it knows the password (no SCRAM server signature)"};
            s.done = true;
            return s;
        case kAuthCleartext:
            if (secret.empty() || kind != SecretKind::Plain) return cannot("cleartext password");
            build_password_message(s.out, std::string(secret) + '\0');
            return s;
        case kAuthMd5: {
            std::uint8_t salt[4];
            for (auto& b : salt) b = rd.u8();
            if (rd.failed()) return {false, false, {}, "invalid MD5 authentication request from server"};
            if (secret.empty() || kind == SecretKind::Scram) return cannot("MD5");
            std::string md5 = kind == SecretKind::Md5 ? secret : protocol::md5_password_secret(secret, user_);
            build_password_message(s.out, protocol::md5_salted_response(md5, std::span<const std::uint8_t, 4>(salt, 4)) + '\0');
            return s;
        }
        case kAuthSasl: {
            bool offered = false;
            while (true) {
                std::string_view m = rd.cstring();
                if (rd.failed()) return {false, false, {}, "invalid SASL authentication request from server"};
                if (m.empty()) break;
                offered = offered || m == protocol::kScramMechanism;
            }
            if (!offered) return {false, false, {}, "server offers no SASL mechanism pggate supports"};
            if (kind == SecretKind::Plain && !secret.empty()) {
                scram_ = std::make_unique<protocol::ScramClient>(secret);
            } else if (kind == SecretKind::Scram && credentials_.client_key) {
                scram_ = std::make_unique<protocol::ScramClient>(*credentials_.client_key,
                                                                 *protocol::parse_scram_secret(secret));
            } else {
                return cannot("SCRAM-SHA-256");
            }
            std::string first = scram_->client_first();
            std::string payload(protocol::kScramMechanism);
            payload.push_back('\0');
            Bytes len;
            ByteWriter(len).u32(static_cast<std::uint32_t>(first.size()));
            payload.append(len.begin(), len.end());
            payload += first;
            build_password_message(s.out, payload);
            return s;
        }
        case kAuthSaslContinue: {
            std::string error;
            if (!scram_) return {false, false, {}, "unexpected SASL continue from server"};
            auto reply = scram_->server_first(as_text(body.subspan(4)), error);
            if (!reply) return {false, false, {}, "SCRAM with server failed: " + error};
            build_password_message(s.out, *reply);
            return s;
        }
        case kAuthSaslFinal: {
            std::string error;
            if (!scram_ || !scram_->server_final(as_text(body.subspan(4)), error))
                return {false, false, {}, "server's SCRAM signature is invalid: " + error};
            return s;
        }
        default:
            return {false, false, {}, "server asks for an authentication method pggate does not support (code " +
                                          std::to_string(code) + ")"};
    }
}

}  // namespace pggate::auth
