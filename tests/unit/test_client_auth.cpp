// Unit tests of proxy-side authentication: ClientAuth (pggate checking a
// client) played against ServerLogin (pggate logging in to a server) for
// every auth type and pair of secrets, unknown users, the SCRAM ClientKey
// pooler chain, and ServerLogin's refusals of requests it cannot answer.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/client_auth.hpp"
#include "auth/credentials.hpp"
#include "core/base64.hpp"
#include "config/config.hpp"
#include "core/bytes.hpp"
#include "protocol/md5_auth.hpp"
#include "protocol/scram.hpp"

namespace {

using pggate::ByteReader;
using pggate::Bytes;
using pggate::ByteWriter;
using pggate::auth::AuthResult;
using pggate::auth::AuthStep;
using pggate::auth::ClientAuth;
using pggate::auth::Credentials;
using pggate::auth::ServerLogin;
using pggate::config::AuthType;
using pggate::protocol::format_scram_secret;
using pggate::protocol::md5_password_secret;
using pggate::protocol::ScramKey;
using pggate::protocol::scram_secret_from_password;

constexpr std::string_view kUser = "u";
constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kWrongPassword = "crayon";
constexpr int kIterations = 4096;
const std::string kFailure = "password authentication failed for user \"u\"";

constexpr std::uint32_t kAuthOk = 0;
constexpr std::uint32_t kAuthCleartext = 3;
constexpr std::uint32_t kAuthMd5 = 5;
constexpr std::uint32_t kAuthSasl = 10;
constexpr std::uint32_t kAuthSaslContinue = 11;
constexpr std::uint32_t kAuthSaslFinal = 12;

const Bytes& salt() {
    static const Bytes s = {0x5a, 0x11, 0x7e, 0x03, 0x9c, 0x42, 0xd0, 0x18,
                            0x77, 0x21, 0xe4, 0x6b, 0x0f, 0xa9, 0x33, 0xc5};
    return s;
}

std::string scram_secret(std::string_view password) {
    return format_scram_secret(scram_secret_from_password(password, salt(), kIterations));
}

// HMAC(PBKDF2(password, salt, i), "Client Key"), computed here independently
// of src/protocol/scram.cpp.
ScramKey client_key_for(std::string_view password) {
    std::array<std::uint8_t, 32> salted{};
    REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt().data(),
                              static_cast<int>(salt().size()), kIterations, EVP_sha256(), 32, salted.data()) == 1);
    ScramKey key{};
    unsigned int len = 0;
    const std::string_view label = "Client Key";
    REQUIRE(HMAC(EVP_sha256(), salted.data(), static_cast<int>(salted.size()),
                 reinterpret_cast<const unsigned char*>(label.data()), label.size(), key.data(), &len) != nullptr);
    REQUIRE(len == key.size());
    return key;
}

struct Frame {
    char type;
    Bytes body;
};

// Splits wire frames (type, length, body), checking every length.
std::vector<Frame> frames(const Bytes& wire) {
    std::vector<Frame> out;
    std::size_t at = 0;
    while (at < wire.size()) {
        REQUIRE(wire.size() - at >= 5);
        std::uint32_t len = pggate::load_be32(wire.data() + at + 1);
        REQUIRE(len >= 4);
        REQUIRE(wire.size() - at - 1 >= len);
        out.push_back({static_cast<char>(wire[at]), Bytes(wire.begin() + static_cast<std::ptrdiff_t>(at + 5),
                                                          wire.begin() + static_cast<std::ptrdiff_t>(at + 1 + len))});
        at += 1 + len;
    }
    return out;
}

// The single 'R' frame of `wire`, and its authentication code.
Frame only_auth_frame(const Bytes& wire, std::uint32_t expected_code) {
    std::vector<Frame> fs = frames(wire);
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].type == 'R');
    REQUIRE(fs[0].body.size() >= 4);
    CHECK(pggate::load_be32(fs[0].body.data()) == expected_code);
    return fs[0];
}

Bytes auth_body(std::uint32_t code, std::string_view payload = {}) {
    Bytes b;
    ByteWriter w(b);
    w.u32(code);
    w.raw(payload);
    return b;
}

Bytes text_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

enum class Outcome { Done, Failed, LoginRefused };

const char* name(Outcome o) {
    switch (o) {
        case Outcome::Done: return "Done";
        case Outcome::Failed: return "Failed";
        case Outcome::LoginRefused: return "LoginRefused";
    }
    return "?";
}

struct Exchange {
    Outcome outcome = Outcome::Failed;
    std::string error;       // ClientAuth's 28P01 message, or ServerLogin's reason
    std::vector<std::uint32_t> requests;  // the auth codes ClientAuth sent, in order
};

// Plays a ClientAuth (the checking side) against a ServerLogin (the answering
// side) until one of them ends it. Every 'R' frame goes to the ServerLogin
// as a body; every 'p' frame it answers goes to the ClientAuth as a body.
// After Done, an AuthenticationOk is delivered too, which must end the login.
Exchange play(ClientAuth& checker, ServerLogin& login) {
    Exchange ex;
    AuthResult r = checker.begin();
    for (int round = 0; round < 8; ++round) {
        Bytes answer;
        for (const Frame& f : frames(r.out)) {
            REQUIRE(f.type == 'R');
            REQUIRE(f.body.size() >= 4);
            ex.requests.push_back(pggate::load_be32(f.body.data()));
            ServerLogin::Step s = login.on_auth_request(f.body);
            if (!s.ok) {
                CHECK_FALSE(s.error.empty());
                ex.outcome = Outcome::LoginRefused;
                ex.error = s.error;
                return ex;
            }
            CHECK_FALSE(s.done);
            answer.insert(answer.end(), s.out.begin(), s.out.end());
        }
        if (r.step == AuthStep::Done) {
            CHECK(answer.empty());
            CHECK(r.error.empty());
            ServerLogin::Step s = login.on_auth_request(auth_body(kAuthOk));
            CHECK(s.ok);
            CHECK(s.done);
            CHECK(s.out.empty());
            ex.outcome = Outcome::Done;
            return ex;
        }
        if (r.step == AuthStep::Failed) {
            CHECK(r.out.empty());
            ex.outcome = Outcome::Failed;
            ex.error = r.error;
            return ex;
        }
        std::vector<Frame> ps = frames(answer);
        REQUIRE(ps.size() == 1);
        REQUIRE(ps[0].type == 'p');
        r = checker.on_password_message(ps[0].body);
    }
    FAIL("the exchange did not end");
    return ex;
}

enum class Kind { Plain, Md5, Scram };

const char* name(Kind k) {
    switch (k) {
        case Kind::Plain: return "plain";
        case Kind::Md5: return "md5";
        case Kind::Scram: return "scram";
    }
    return "?";
}

const char* name(AuthType t) {
    switch (t) {
        case AuthType::Plain: return "plain";
        case AuthType::Md5: return "md5";
        case AuthType::ScramSha256: return "scram-sha-256";
        case AuthType::Trust: return "trust";
        case AuthType::Passthrough: return "passthrough";
        case AuthType::Cert: return "cert";
        case AuthType::Hba: return "hba";
    }
    return "?";
}

// What pggate's auth_file holds for the user, for `password`.
Credentials known_secret(Kind k, std::string_view password) {
    switch (k) {
        case Kind::Plain: return {std::string(password), std::nullopt};
        case Kind::Md5: return {md5_password_secret(password, kUser), std::nullopt};
        case Kind::Scram: return {scram_secret(password), std::nullopt};
    }
    return {};
}

// What the answering side holds: for SCRAM the secret plus the ClientKey.
Credentials login_secret(Kind k, std::string_view password) {
    Credentials c = known_secret(k, password);
    if (k == Kind::Scram) c.client_key = client_key_for(password);
    return c;
}

// What must happen with the right password for auth type × known secret × login secret.
Outcome expected(AuthType type, Kind known, Kind login) {
    switch (type) {
        case AuthType::Plain:
            // Cleartext: only a plain-text password can answer; any known secret checks it.
            return login == Kind::Plain ? Outcome::Done : Outcome::LoginRefused;
        case AuthType::Md5:
            if (known == Kind::Scram)  // like PostgreSQL: md5 with a SCRAM secret runs SCRAM
                return login == Kind::Md5 ? Outcome::LoginRefused : Outcome::Done;
            return login == Kind::Scram ? Outcome::LoginRefused : Outcome::Done;
        case AuthType::ScramSha256:
            if (login == Kind::Md5) return Outcome::LoginRefused;
            if (login == Kind::Scram) {
                // ClientKey mode needs the very salt and iterations of the login's secret.
                return known == Kind::Scram ? Outcome::Done : Outcome::LoginRefused;
            }
            // A known md5 secret cannot verify a SCRAM proof.
            return known == Kind::Md5 ? Outcome::Failed : Outcome::Done;
        default:
            break;
    }
    return Outcome::Failed;
}

constexpr AuthType kTypes[] = {AuthType::Plain, AuthType::Md5, AuthType::ScramSha256};
constexpr Kind kKinds[] = {Kind::Plain, Kind::Md5, Kind::Scram};

}  // namespace

TEST_SUITE("auth.client_auth") {

TEST_CASE("client_auth every auth type against every pair of secrets") {
    for (AuthType type : kTypes) {
        for (Kind known : kKinds) {
            for (Kind login_kind : kKinds) {
                CAPTURE(name(type));
                CAPTURE(name(known));
                CAPTURE(name(login_kind));
                Credentials k = known_secret(known, kPassword);
                ClientAuth checker(type, std::string(kUser), &k);
                ServerLogin login(std::string(kUser), login_secret(login_kind, kPassword));
                Exchange ex = play(checker, login);
                Outcome want = expected(type, known, login_kind);
                CAPTURE(ex.error);
                CHECK(std::string(name(ex.outcome)) == name(want));
                if (ex.outcome == Outcome::Failed) CHECK(ex.error == kFailure);
                // The request follows the type, except md5 over a SCRAM secret.
                REQUIRE_FALSE(ex.requests.empty());
                std::uint32_t first = ex.requests.front();
                if (type == AuthType::Plain) CHECK(first == kAuthCleartext);
                if (type == AuthType::Md5) CHECK(first == (known == Kind::Scram ? kAuthSasl : kAuthMd5));
                if (type == AuthType::ScramSha256) CHECK(first == kAuthSasl);
                if (ex.outcome == Outcome::Done && first == kAuthSasl) {
                    CHECK(ex.requests == std::vector<std::uint32_t>{kAuthSasl, kAuthSaslContinue, kAuthSaslFinal});
                    CHECK(checker.client_key().has_value());
                } else {
                    CHECK_FALSE(checker.client_key().has_value());
                }
            }
        }
    }
}

TEST_CASE("client_auth a wrong password fails wherever the right one works") {
    for (AuthType type : kTypes) {
        for (Kind known : kKinds) {
            for (Kind login_kind : kKinds) {
                CAPTURE(name(type));
                CAPTURE(name(known));
                CAPTURE(name(login_kind));
                Credentials k = known_secret(known, kPassword);
                ClientAuth checker(type, std::string(kUser), &k);
                ServerLogin login(std::string(kUser), login_secret(login_kind, kWrongPassword));
                Exchange ex = play(checker, login);
                Outcome right = expected(type, known, login_kind);
                Outcome want = right == Outcome::Done ? Outcome::Failed : right;
                CAPTURE(ex.error);
                CHECK(std::string(name(ex.outcome)) == name(want));
                if (ex.outcome == Outcome::Failed) CHECK(ex.error == kFailure);
                CHECK_FALSE(checker.client_key().has_value());
            }
        }
    }
}

TEST_CASE("client_auth an unknown user fails like a wrong password") {
    for (AuthType type : kTypes) {
        CAPTURE(name(type));
        ClientAuth checker(type, std::string(kUser), nullptr);
        ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
        Exchange ex = play(checker, login);
        CHECK(ex.outcome == Outcome::Failed);
        CHECK(ex.error == kFailure);
        if (type == AuthType::ScramSha256) {
            // The whole exchange runs: SASL, SASLContinue, then the failure.
            CHECK(ex.requests == std::vector<std::uint32_t>{kAuthSasl, kAuthSaslContinue});
        } else {
            CHECK(ex.requests == std::vector<std::uint32_t>{type == AuthType::Plain ? kAuthCleartext : kAuthMd5});
        }
        CHECK_FALSE(checker.client_key().has_value());
    }
}

TEST_CASE("client_auth an unknown user's SCRAM exchange step by step") {
    ClientAuth checker(AuthType::ScramSha256, std::string(kUser), nullptr);
    AuthResult r = checker.begin();
    CHECK(r.step == AuthStep::Continue);
    Frame sasl = only_auth_frame(r.out, kAuthSasl);

    ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
    ServerLogin::Step s = login.on_auth_request(sasl.body);
    REQUIRE(s.ok);
    std::vector<Frame> ps = frames(s.out);
    REQUIRE(ps.size() == 1);
    r = checker.on_password_message(ps[0].body);
    CHECK(r.step == AuthStep::Continue);
    Frame cont = only_auth_frame(r.out, kAuthSaslContinue);

    s = login.on_auth_request(cont.body);
    REQUIRE(s.ok);
    ps = frames(s.out);
    REQUIRE(ps.size() == 1);
    r = checker.on_password_message(ps[0].body);
    CHECK(r.step == AuthStep::Failed);
    CHECK(r.error == kFailure);
    CHECK(r.out.empty());
}

TEST_CASE("client_auth an unknown user's made-up salt is the same at every attempt, like a real user's") {
    // The salt= of the server-first-message `user`'s SCRAM exchange shows.
    auto salt_shown = [](const std::string& user, const Credentials* known) {
        ClientAuth checker(AuthType::ScramSha256, user, known);
        Frame sasl = only_auth_frame(checker.begin().out, kAuthSasl);
        ServerLogin login(user, Credentials{std::string(kPassword), std::nullopt});
        std::vector<Frame> ps = frames(login.on_auth_request(sasl.body).out);
        REQUIRE(ps.size() == 1);
        Frame cont = only_auth_frame(checker.on_password_message(ps[0].body).out, kAuthSaslContinue);
        const std::string text(cont.body.begin() + 4, cont.body.end());
        const auto at = text.find(",s=");
        REQUIRE(at != std::string::npos);
        return text.substr(at + 3, text.find(",i=") - at - 3);
    };
    const std::string first = salt_shown("nobody", nullptr);
    CHECK(first == salt_shown("nobody", nullptr));
    CHECK(first.size() == 24);  // 16 bytes in base64, as PostgreSQL's own salts
    CHECK(first != salt_shown("nobody_else", nullptr));
    const Credentials real{scram_secret(kPassword), std::nullopt};
    CHECK(salt_shown("alice", &real) == salt_shown("alice", &real));
}

TEST_CASE("client_auth a known user with an empty secret is unknown") {
    Credentials empty{"", std::nullopt};
    for (AuthType type : kTypes) {
        CAPTURE(name(type));
        ClientAuth checker(type, std::string(kUser), &empty);
        ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
        Exchange ex = play(checker, login);
        CHECK(ex.outcome == Outcome::Failed);
        CHECK(ex.error == kFailure);
    }
}

TEST_CASE("client_auth trust is done at once, passthrough refuses here") {
    Credentials k = known_secret(Kind::Plain, kPassword);
    ClientAuth trust(AuthType::Trust, std::string(kUser), &k);
    AuthResult r = trust.begin();
    CHECK(r.step == AuthStep::Done);
    CHECK(r.out.empty());
    CHECK(r.error.empty());

    ClientAuth trust_unknown(AuthType::Trust, std::string(kUser), nullptr);
    CHECK(trust_unknown.begin().step == AuthStep::Done);

    // Passthrough leaves authentication to the server; ClientAuth has no part in it.
    ClientAuth pass(AuthType::Passthrough, std::string(kUser), &k);
    r = pass.begin();
    CHECK(r.step == AuthStep::Failed);
    CHECK(r.error == kFailure);
}

TEST_CASE("client_auth request frames") {
    Credentials k = known_secret(Kind::Plain, kPassword);
    SUBCASE("cleartext") {
        ClientAuth c(AuthType::Plain, std::string(kUser), &k);
        Bytes out = c.begin().out;
        CHECK(out == Bytes{'R', 0, 0, 0, 8, 0, 0, 0, 3});
    }
    SUBCASE("md5 with a 4-byte salt, fresh for each exchange") {
        ClientAuth a(AuthType::Md5, std::string(kUser), &k);
        ClientAuth b(AuthType::Md5, std::string(kUser), &k);
        Frame fa = only_auth_frame(a.begin().out, kAuthMd5);
        Frame fb = only_auth_frame(b.begin().out, kAuthMd5);
        CHECK(fa.body.size() == 8);
        CHECK(fb.body.size() == 8);
        CHECK(fa.body != fb.body);  // 1 in 2^32 to fail by chance
    }
    SUBCASE("SASL lists SCRAM-SHA-256") {
        ClientAuth c(AuthType::ScramSha256, std::string(kUser), &k);
        Frame f = only_auth_frame(c.begin().out, kAuthSasl);
        const std::string list("SCRAM-SHA-256\0\0", 15);
        CHECK(Bytes(f.body.begin() + 4, f.body.end()) == text_bytes(list));
    }
}

// A malformed message is a protocol violation (08P01), as PostgreSQL reports
// it, whether the user is known or not.
void check_violation(const AuthResult& r) {
    CHECK(r.step == AuthStep::Failed);
    CHECK(std::string_view(r.sqlstate) == "08P01");
    CHECK_FALSE(r.error.empty());
    CHECK(r.out.empty());
}

TEST_CASE("client_auth malformed password messages are protocol violations") {
    Credentials k = known_secret(Kind::Plain, kPassword);
    SUBCASE("cleartext without its NUL, known user or not") {
        ClientAuth c(AuthType::Plain, std::string(kUser), &k);
        c.begin();
        AuthResult r = c.on_password_message(text_bytes(kPassword));
        check_violation(r);
        CHECK(r.error == "invalid password packet size");
        ClientAuth unknown(AuthType::Plain, std::string(kUser), nullptr);
        unknown.begin();
        check_violation(unknown.on_password_message(text_bytes(kPassword)));
    }
    SUBCASE("cleartext with bytes after the NUL") {
        ClientAuth c(AuthType::Plain, std::string(kUser), &k);
        c.begin();
        Bytes body = text_bytes(kPassword);
        body.push_back(0);
        body.push_back('x');
        check_violation(c.on_password_message(body));
    }
    SUBCASE("cleartext, right password") {
        ClientAuth c(AuthType::Plain, std::string(kUser), &k);
        c.begin();
        Bytes body = text_bytes(kPassword);
        body.push_back(0);
        AuthResult r = c.on_password_message(body);
        CHECK(r.step == AuthStep::Done);
        CHECK(r.out.empty());
    }
    SUBCASE("an empty body") {
        for (AuthType type : kTypes) {
            ClientAuth c(type, std::string(kUser), &k);
            c.begin();
            check_violation(c.on_password_message({}));
        }
    }
    SUBCASE("SASL with another mechanism") {
        ClientAuth c(AuthType::ScramSha256, std::string(kUser), &k);
        c.begin();
        Bytes body;
        ByteWriter w(body);
        w.cstring("SCRAM-SHA-256-PLUS");
        w.u32(3);
        w.raw("n,,");
        AuthResult r = c.on_password_message(body);
        check_violation(r);
        CHECK(r.error == "client selected an invalid SASL authentication mechanism");
    }
    SUBCASE("a SASLResponse in place of the SASLInitialResponse") {
        ClientAuth c(AuthType::ScramSha256, std::string(kUser), nullptr);
        c.begin();
        check_violation(c.on_password_message(text_bytes("c=biws,r=abcdef,p=AAAA")));
    }
    SUBCASE("a malformed client-first-message, known user or not") {
        for (const Credentials* known : std::array<const Credentials*, 2>{&k, nullptr}) {
            ClientAuth c(AuthType::ScramSha256, std::string(kUser), known);
            c.begin();
            Bytes body;
            ByteWriter w(body);
            w.cstring("SCRAM-SHA-256");
            w.u32(7);
            w.raw("garbage");
            check_violation(c.on_password_message(body));
        }
    }
    SUBCASE("SASL with a wrong length") {
        ClientAuth c(AuthType::ScramSha256, std::string(kUser), &k);
        c.begin();
        Bytes body;
        ByteWriter w(body);
        w.cstring("SCRAM-SHA-256");
        w.u32(100);
        w.raw("n,,n=,r=abc");
        check_violation(c.on_password_message(body));
    }
    SUBCASE("SASL with no initial response") {
        ClientAuth c(AuthType::ScramSha256, std::string(kUser), &k);
        c.begin();
        Bytes body;
        ByteWriter w(body);
        w.cstring("SCRAM-SHA-256");
        w.u32(0xffffffffu);
        check_violation(c.on_password_message(body));
    }
}

TEST_CASE("client_auth too long to read, or a nonce too long, fails like a wrong password") {
    Credentials k = known_secret(Kind::Scram, kPassword);
    for (const Credentials* known : std::array<const Credentials*, 2>{&k, nullptr}) {
        ClientAuth c(AuthType::ScramSha256, std::string(kUser), known);
        c.begin();
        AuthResult r = c.on_oversized_message();
        CHECK(r.step == AuthStep::Failed);
        CHECK(std::string_view(r.sqlstate) == "28P01");
        CHECK(r.error == kFailure);

        ClientAuth n(AuthType::ScramSha256, std::string(kUser), known);
        n.begin();
        const std::string first = "n,,n=,r=" + std::string(2000, 'x');
        Bytes body;
        ByteWriter w(body);
        w.cstring("SCRAM-SHA-256");
        w.u32(static_cast<std::uint32_t>(first.size()));
        w.raw(first);
        r = n.on_password_message(body);
        CHECK(r.step == AuthStep::Failed);
        CHECK(std::string_view(r.sqlstate) == "28P01");
        CHECK(r.error == kFailure);
    }
}

// The salt in the server-first-message a ClientAuth sends for `known`.
std::string offered_salt(const Credentials* known, std::string_view user = kUser) {
    ClientAuth c(AuthType::ScramSha256, std::string(user), known);
    c.begin();
    Bytes body;
    ByteWriter w(body);
    w.cstring("SCRAM-SHA-256");
    const std::string first = "n,,n=,r=abcdef";
    w.u32(static_cast<std::uint32_t>(first.size()));
    w.raw(first);
    AuthResult r = c.on_password_message(body);
    REQUIRE(r.step == AuthStep::Continue);
    Frame f = only_auth_frame(r.out, kAuthSaslContinue);
    std::string msg(f.body.begin() + 4, f.body.end());
    auto s = msg.find(",s=");
    REQUIRE(s != std::string::npos);
    auto end = msg.find(',', s + 3);
    CHECK(msg.substr(end) == ",i=4096");
    return msg.substr(s + 3, end - s - 3);
}

TEST_CASE("client_auth a user with a plain-text password shows the salt an unknown one would, every time") {
    Credentials plain = known_secret(Kind::Plain, kPassword);
    const std::string salt = offered_salt(&plain);
    CHECK(salt == offered_salt(&plain));
    CHECK(salt == offered_salt(nullptr));
    CHECK(salt != offered_salt(&plain, "someone_else"));
    CHECK(pggate::base64_decode(salt)->size() == pggate::protocol::kScramDefaultSaltLength);
    // And it still logs in with that salt.
    ClientAuth checker(AuthType::ScramSha256, std::string(kUser), &plain);
    ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
    CHECK(play(checker, login).outcome == Outcome::Done);
}

TEST_CASE("client_auth survives random password messages") {
    Credentials secrets[] = {known_secret(Kind::Plain, kPassword), known_secret(Kind::Md5, kPassword),
                             known_secret(Kind::Scram, kPassword)};
    std::mt19937 rng(99);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> len(0, 64);
    for (int iter = 0; iter < 600; ++iter) {
        AuthType type = kTypes[static_cast<std::size_t>(iter) % 3];
        const Credentials& k = secrets[static_cast<std::size_t>(iter / 3) % 3];
        ClientAuth c(type, std::string(kUser), &k);
        c.begin();
        for (int msg = 0; msg < 3; ++msg) {
            Bytes body(len(rng));
            for (auto& b : body) b = static_cast<std::uint8_t>(byte(rng));
            if (msg == 0 && iter % 2 == 0 && type != AuthType::Plain) {
                // Sometimes a well-formed SASL header with a random message.
                Bytes sasl;
                ByteWriter w(sasl);
                w.cstring("SCRAM-SHA-256");
                w.u32(static_cast<std::uint32_t>(body.size()));
                sasl.insert(sasl.end(), body.begin(), body.end());
                body = sasl;
            }
            AuthResult r = c.on_password_message(body);
            CHECK(r.step != AuthStep::Done);
            if (r.step == AuthStep::Failed) {
                if (std::string_view(r.sqlstate) == "28P01")
                    CHECK(r.error == kFailure);
                else
                    check_violation(r);
                break;
            }
        }
    }
}

TEST_CASE("client_auth SCRAM ClientKey feeds the pooler chain") {
    const std::string secret = scram_secret(kPassword);
    for (AuthType type : {AuthType::ScramSha256, AuthType::Md5}) {
        CAPTURE(name(type));
        // The application logs in to pggate with its password.
        Credentials k{secret, std::nullopt};
        ClientAuth first(type, std::string(kUser), &k);
        ServerLogin app(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
        REQUIRE(play(first, app).outcome == Outcome::Done);
        std::optional<ScramKey> key = first.client_key();
        REQUIRE(key.has_value());
        CHECK(*key == client_key_for(kPassword));

        // pggate logs in to the next hop (a server, or another pooler) with
        // the secret and the recovered key, without the password.
        ClientAuth next(AuthType::ScramSha256, std::string(kUser), &k);
        ServerLogin hop(std::string(kUser), Credentials{secret, key});
        Exchange ex = play(next, hop);
        CHECK(ex.outcome == Outcome::Done);
        REQUIRE(next.client_key().has_value());
        CHECK(*next.client_key() == *key);

        // And the hop after that.
        ClientAuth third(AuthType::Md5, std::string(kUser), &k);
        ServerLogin hop2(std::string(kUser), Credentials{secret, next.client_key()});
        CHECK(play(third, hop2).outcome == Outcome::Done);
    }
}

TEST_CASE("client_auth a SCRAM secret without a ClientKey cannot answer SCRAM") {
    Credentials k = known_secret(Kind::Scram, kPassword);
    ClientAuth checker(AuthType::ScramSha256, std::string(kUser), &k);
    ServerLogin login(std::string(kUser), Credentials{scram_secret(kPassword), std::nullopt});
    Exchange ex = play(checker, login);
    CHECK(ex.outcome == Outcome::LoginRefused);
    CHECK(ex.error.find("SCRAM-SHA-256") != std::string::npos);
}

TEST_CASE("client_auth ClientKey mode against a secret with another salt is refused by the login") {
    // The backend's secret was made with another salt: the key is useless there.
    Credentials k{format_scram_secret(scram_secret_from_password(kPassword, Bytes{1, 2, 3, 4}, kIterations)),
                  std::nullopt};
    ClientAuth checker(AuthType::ScramSha256, std::string(kUser), &k);
    ServerLogin login(std::string(kUser), login_secret(Kind::Scram, kPassword));
    Exchange ex = play(checker, login);
    CHECK(ex.outcome == Outcome::LoginRefused);
    CHECK_FALSE(ex.error.empty());
}

TEST_CASE("server_login answers cleartext and md5 requests") {
    SUBCASE("cleartext with a plain password") {
        ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
        ServerLogin::Step s = login.on_auth_request(auth_body(kAuthCleartext));
        CHECK(s.ok);
        CHECK_FALSE(s.done);
        const std::string want("pencil\0", 7);
        std::vector<Frame> fs = frames(s.out);
        REQUIRE(fs.size() == 1);
        CHECK(fs[0].type == 'p');
        CHECK(fs[0].body == text_bytes(want));
    }
    SUBCASE("md5 with a plain password or an md5 secret gives the same answer") {
        const std::uint8_t salt4[4] = {0xde, 0xad, 0xbe, 0xef};
        std::string payload(reinterpret_cast<const char*>(salt4), 4);
        std::string expected = pggate::protocol::md5_salted_response(md5_password_secret(kPassword, kUser),
                                                                      std::span<const std::uint8_t, 4>(salt4, 4));
        REQUIRE_FALSE(expected.empty());
        expected.push_back('\0');
        for (const std::string& secret : {std::string(kPassword), md5_password_secret(kPassword, kUser)}) {
            ServerLogin login(std::string(kUser), Credentials{secret, std::nullopt});
            ServerLogin::Step s = login.on_auth_request(auth_body(kAuthMd5, payload));
            CHECK(s.ok);
            std::vector<Frame> fs = frames(s.out);
            REQUIRE(fs.size() == 1);
            CHECK(fs[0].type == 'p');
            CHECK(fs[0].body == text_bytes(expected));
        }
    }
    SUBCASE("AuthenticationOk ends the login") {
        ServerLogin login(std::string(kUser), Credentials{});
        ServerLogin::Step s = login.on_auth_request(auth_body(kAuthOk));
        CHECK(s.ok);
        CHECK(s.done);
        CHECK(s.out.empty());
    }
}

TEST_CASE("server_login refuses requests it cannot answer") {
    const std::string md5 = md5_password_secret(kPassword, kUser);
    const std::string scram = scram_secret(kPassword);
    auto refused = [](const Credentials& c, const Bytes& body) {
        ServerLogin login(std::string(kUser), c);
        ServerLogin::Step s = login.on_auth_request(body);
        CHECK_FALSE(s.ok);
        CHECK_FALSE(s.done);
        CHECK(s.out.empty());
        CHECK_FALSE(s.error.empty());
        return s.error;
    };
    SUBCASE("cleartext with only an md5 secret") {
        std::string e = refused({md5, std::nullopt}, auth_body(kAuthCleartext));
        CHECK(e.find("cleartext") != std::string::npos);
        CHECK(e.find("\"u\"") != std::string::npos);
    }
    SUBCASE("cleartext with a SCRAM secret, even with its key") {
        refused({scram, client_key_for(kPassword)}, auth_body(kAuthCleartext));
    }
    SUBCASE("cleartext or md5 with no secret") {
        refused({}, auth_body(kAuthCleartext));
        refused({}, auth_body(kAuthMd5, "salt"));
        refused({}, auth_body(kAuthSasl, std::string("SCRAM-SHA-256\0\0", 15)));
    }
    SUBCASE("md5 with a SCRAM secret") {
        std::string e = refused({scram, client_key_for(kPassword)}, auth_body(kAuthMd5, "salt"));
        CHECK(e.find("MD5") != std::string::npos);
    }
    SUBCASE("SASL with an md5 secret") {
        refused({md5, std::nullopt}, auth_body(kAuthSasl, std::string("SCRAM-SHA-256\0\0", 15)));
    }
    SUBCASE("unsupported methods") {
        for (std::uint32_t code : {2u, 6u, 7u, 8u, 9u, 13u, 99u, 0xffffffffu}) {
            CAPTURE(code);
            refused({std::string(kPassword), std::nullopt}, auth_body(code));
        }
        std::string e = refused({std::string(kPassword), std::nullopt}, auth_body(7));
        CHECK(e.find("7") != std::string::npos);
    }
    SUBCASE("SASL without SCRAM-SHA-256") {
        refused({std::string(kPassword), std::nullopt},
                auth_body(kAuthSasl, std::string("SCRAM-SHA-256-PLUS\0\0", 20)));
        refused({std::string(kPassword), std::nullopt}, auth_body(kAuthSasl, std::string("\0", 1)));
        refused({std::string(kPassword), std::nullopt}, auth_body(kAuthSasl, std::string("scram-sha-256\0\0", 15)));
    }
    SUBCASE("SASL offering PLUS first still picks SCRAM-SHA-256") {
        ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
        ServerLogin::Step s =
            login.on_auth_request(auth_body(kAuthSasl, std::string("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34)));
        REQUIRE(s.ok);
        std::vector<Frame> fs = frames(s.out);
        REQUIRE(fs.size() == 1);
        CHECK(fs[0].type == 'p');
        ByteReader rd(fs[0].body.data(), fs[0].body.size());
        CHECK(rd.cstring() == "SCRAM-SHA-256");
        std::uint32_t len = rd.u32();
        CHECK_FALSE(rd.failed());
        CHECK(len == rd.remaining());
    }
    SUBCASE("malformed request bodies") {
        Credentials c{std::string(kPassword), std::nullopt};
        refused(c, Bytes{});
        refused(c, Bytes{0, 0, 0});
        refused(c, auth_body(kAuthMd5, "ab"));                               // salt too short
        refused(c, auth_body(kAuthSasl));                                    // no mechanism list
        refused(c, auth_body(kAuthSasl, "SCRAM-SHA-256"));                   // list without NULs
        refused(c, auth_body(kAuthSasl, std::string("SCRAM-SHA-256\0", 14))); // list without its end
    }
    SUBCASE("SASL continue or final out of order") {
        Credentials c{std::string(kPassword), std::nullopt};
        refused(c, auth_body(kAuthSaslContinue, "r=abc,s=QUJD,i=4096"));
        refused(c, auth_body(kAuthSaslFinal, "v=AAAA"));
        refused(c, auth_body(kAuthSaslContinue));
        refused(c, auth_body(kAuthSaslFinal));
    }
    SUBCASE("SASL continue with garbage after a proper start") {
        ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
        REQUIRE(login.on_auth_request(auth_body(kAuthSasl, std::string("SCRAM-SHA-256\0\0", 15))).ok);
        ServerLogin::Step s = login.on_auth_request(auth_body(kAuthSaslContinue, "garbage"));
        CHECK_FALSE(s.ok);
        CHECK_FALSE(s.error.empty());
    }
}

TEST_CASE("server_login rejects a forged server signature") {
    Credentials k = known_secret(Kind::Scram, kPassword);
    ClientAuth checker(AuthType::ScramSha256, std::string(kUser), &k);
    ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
    AuthResult r = checker.begin();
    ServerLogin::Step s = login.on_auth_request(only_auth_frame(r.out, kAuthSasl).body);
    REQUIRE(s.ok);
    r = checker.on_password_message(frames(s.out).at(0).body);
    s = login.on_auth_request(only_auth_frame(r.out, kAuthSaslContinue).body);
    REQUIRE(s.ok);
    r = checker.on_password_message(frames(s.out).at(0).body);
    REQUIRE(r.step == AuthStep::Done);
    Frame final_frame = only_auth_frame(r.out, kAuthSaslFinal);
    // Flip one bit of the signature's base64 text.
    REQUIRE(final_frame.body.size() > 8);
    final_frame.body[6] = final_frame.body[6] == 'A' ? 'B' : 'A';
    s = login.on_auth_request(final_frame.body);
    CHECK_FALSE(s.ok);
    CHECK_FALSE(s.error.empty());
}

TEST_CASE("server_login refuses AuthenticationOk before the SCRAM server signature") {
    Credentials k = known_secret(Kind::Scram, kPassword);
    ClientAuth checker(AuthType::ScramSha256, std::string(kUser), &k);
    ServerLogin login(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
    AuthResult r = checker.begin();
    ServerLogin::Step s = login.on_auth_request(only_auth_frame(r.out, kAuthSasl).body);
    REQUIRE(s.ok);
    // AuthenticationOk right after the SASLInitialResponse, and after the client-final-message.
    ServerLogin early(std::string(kUser), Credentials{std::string(kPassword), std::nullopt});
    REQUIRE(early.on_auth_request(only_auth_frame(r.out, kAuthSasl).body).ok);
    ServerLogin::Step ok = early.on_auth_request(auth_body(kAuthOk));
    CHECK_FALSE(ok.ok);
    CHECK_FALSE(ok.done);
    CHECK(ok.error.find("SCRAM") != std::string::npos);

    r = checker.on_password_message(frames(s.out).at(0).body);
    s = login.on_auth_request(only_auth_frame(r.out, kAuthSaslContinue).body);
    REQUIRE(s.ok);
    ok = login.on_auth_request(auth_body(kAuthOk));
    CHECK_FALSE(ok.ok);
    CHECK_FALSE(ok.done);
    CHECK_FALSE(ok.error.empty());
}

TEST_CASE("server_login survives random request bodies") {
    std::mt19937 rng(4242);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> len(0, 48);
    std::uniform_int_distribution<std::uint32_t> code(0, 14);
    Credentials creds[] = {{std::string(kPassword), std::nullopt},
                           {md5_password_secret(kPassword, kUser), std::nullopt},
                           {scram_secret(kPassword), client_key_for(kPassword)},
                           {}};
    for (int iter = 0; iter < 2000; ++iter) {
        ServerLogin login(std::string(kUser), creds[static_cast<std::size_t>(iter) % 4]);
        for (int msg = 0; msg < 3; ++msg) {
            Bytes body;
            ByteWriter w(body);
            if (iter % 5 != 0) w.u32(code(rng));
            std::size_t n = len(rng);
            for (std::size_t i = 0; i < n; ++i) w.u8(static_cast<std::uint8_t>(byte(rng)));
            ServerLogin::Step s = login.on_auth_request(body);
            if (!s.ok) {
                CHECK_FALSE(s.error.empty());
                break;
            }
        }
    }
}

}  // TEST_SUITE
