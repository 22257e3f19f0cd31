// Unit tests of SCRAM-SHA-256: the RFC 7677 exchange, secrets made by a real
// PostgreSQL 15, client and server against each other (also in the pooler's
// ClientKey mode), and tampered, malformed and random input. Also covers the
// strict base64 codec SCRAM relies on.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/base64.hpp"
#include "protocol/scram.hpp"

namespace {

using namespace std::string_view_literals;
using pggate::base64_decode;
using pggate::base64_encode;
using pggate::Bytes;
using pggate::protocol::parse_scram_secret;
using pggate::protocol::ScramClient;
using pggate::protocol::ScramKey;
using pggate::protocol::ScramSecret;
using pggate::protocol::ScramServer;

// RFC 7677 section 3.
constexpr std::string_view kRfcPassword = "pencil";
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// Read from pg_authid of a PostgreSQL 15 cluster after
// CREATE ROLE ... PASSWORD '<password>' with password_encryption=scram-sha-256.
constexpr std::string_view kPgPencilSecret =
    "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
    "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=";
constexpr std::string_view kPgQuotePassword = "pa\"ss,w=rd";
constexpr std::string_view kPgQuoteSecret =
    "SCRAM-SHA-256$4096:d95Qw8urqzE7cpBbWHTWiA==$+Wq6kVPUsXtaEz56KToT9D53cOufcqhhVGrAUqH5pZU=:"
    "5lx9P3ir0abRypZp7bQIx4nUOCdm8LiQEkiQXf05lpk=";
constexpr std::string_view kPgUtf8Password = "p\xc3\xa4ssw\xc3\xb6rd";  // "pässwörd", NFC
constexpr std::string_view kPgUtf8Secret =
    "SCRAM-SHA-256$4096:QIWn46kb1HPkhNUKbTEKDg==$9k8eYGAdg0AMCBdiX4Q4hx42E8Jpu0PPLv0FfVy/PFo=:"
    "T268TpIP1VKeoTkQW1KWf8oaJd/2XwIwRoBYVFeMoqg=";
// U+FB01 (the "fi" ligature) + "sh": SASLprep's NFKC turns it into "fish".
constexpr std::string_view kPgLigaturePassword = "\xef\xac\x81sh";
constexpr std::string_view kPgLigatureSecret =
    "SCRAM-SHA-256$4096:TaRCKZMRXoMFm5AW8nsRhQ==$jGJuzcLYpJVNKJCl/ff3vyhE0I6zpCASwCXoWoRs/o0=:"
    "iYTf2X3+QOXCQMgdT3v3RJU8lJW3C2ZkQcKSBxrsCj8=";

Bytes b64(std::string_view s) {
    auto b = base64_decode(s);
    REQUIRE(b.has_value());
    return *b;
}

// Cached: PBKDF2 with 4096 iterations would dominate the fuzz loops.
const ScramSecret& rfc_secret() {
    static const ScramSecret secret =
        pggate::protocol::scram_secret_from_password(kRfcPassword, b64(kRfcSalt), 4096);
    return secret;
}

// HMAC(SaltedPassword, "Client Key") of the RFC exchange, as a ScramServer
// recovers it from the RFC proof.
const ScramKey& rfc_client_key() {
    static const ScramKey key = [] {
        ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
        std::string error;
        REQUIRE(server.client_first(kRfcClientFirst, error).has_value());
        REQUIRE(server.client_final(kRfcClientFinal, error).has_value());
        return server.client_key();
    }();
    return key;
}

// A server that has accepted the RFC client-first-message.
ScramServer rfc_server_after_first() {
    ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
    std::string error;
    auto first = server.client_first(kRfcClientFirst, error);
    REQUIRE(first.has_value());
    return server;
}

// A client that has sent its client-first-message and may take
// kRfcServerFirst; by default in ClientKey mode, which skips PBKDF2.
ScramClient rfc_client_after_first(bool with_password = false) {
    const std::string nonce(kRfcClientNonce);
    ScramClient client = with_password ? ScramClient(kRfcPassword, nonce, "user")
                                       : ScramClient(rfc_client_key(), rfc_secret(), nonce, "user");
    REQUIRE(client.client_first() == kRfcClientFirst);
    return client;
}

// A client-final-message with the RFC 7677 keys and nonces whose channel
// binding attribute is `cbind` (base64 of the gs2 header and any binding data).
std::string rfc_client_final(const std::string& cbind) {
    const ScramKey client_key = rfc_client_key();
    const ScramSecret secret = rfc_secret();
    const std::string without_proof = "c=" + cbind + ",r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const std::string auth_message =
        "n=user,r=rOprNGfwEbeRWgbNEkqO," + std::string(kRfcServerFirst) + "," + without_proof;
    ScramKey signature{};
    unsigned int len = 0;
    REQUIRE(HMAC(EVP_sha256(), secret.stored_key.data(), static_cast<int>(secret.stored_key.size()),
                 reinterpret_cast<const unsigned char*>(auth_message.data()), auth_message.size(), signature.data(),
                 &len) != nullptr);
    ScramKey proof{};
    for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = static_cast<std::uint8_t>(client_key[i] ^ signature[i]);
    return without_proof + ",p=" + base64_encode(proof);
}

// Runs a whole exchange; returns the server's error or "" on success of both.
std::string exchange(ScramClient& client, ScramServer& server) {
    std::string error;
    std::string first = client.client_first();
    if (first.empty()) return "client_first failed";
    auto server_first = server.client_first(first, error);
    if (!server_first) return "server: " + error;
    auto client_final = client.server_first(*server_first, error);
    if (!client_final) return "client: " + error;
    auto server_final = server.client_final(*client_final, error);
    if (!server_final) return "server: " + error;
    if (!client.server_final(*server_final, error)) return "client: " + error;
    return {};
}

std::string random_string(std::mt19937& rng, std::size_t max_len, std::string_view alphabet) {
    std::size_t len = std::uniform_int_distribution<std::size_t>(0, max_len)(rng);
    std::string s;
    for (std::size_t i = 0; i < len; ++i) {
        if (alphabet.empty())
            s += static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
        else
            s += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    }
    return s;
}

// One random edit: flip, delete, insert or truncate.
std::string mutate(std::mt19937& rng, std::string s) {
    constexpr std::string_view kInteresting = ",=rpcvnsiaemyx0A+/\0\xff"sv;
    auto pick_pos = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
        case 0:
            if (!s.empty()) s[pick_pos(s.size() - 1)] ^= static_cast<char>(1 << (rng() % 8));
            break;
        case 1:
            if (!s.empty()) s.erase(pick_pos(s.size() - 1), 1);
            break;
        case 2:
            s.insert(pick_pos(s.size()), 1, kInteresting[rng() % kInteresting.size()]);
            break;
        default:
            s.resize(pick_pos(s.size()));
            break;
    }
    return s;
}

}  // namespace

TEST_SUITE("protocol.scram") {

TEST_CASE("SCRAM base64 encodes and strictly decodes RFC 4648 vectors") {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
        Bytes raw(plain.begin(), plain.end());
        CHECK(base64_encode(raw) == encoded);
        auto back = base64_decode(encoded);
        REQUIRE(back.has_value());
        CHECK(*back == raw);
    }
    Bytes all(256);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
    CHECK(base64_decode(base64_encode(all)) == all);

    for (std::string_view bad : {"Zg", "Zg=", "Z===", "====", "=Zg=", "Zg==Zg==", "Zh==", "Zm9=",
                                 "Zm9v ", " Zm9v", "Zm9v\n", "Zm!v", "Zm9v-_==", "Zm=v"}) {
        CAPTURE(bad);
        CHECK_FALSE(base64_decode(bad).has_value());
    }
    CHECK_FALSE(base64_decode(std::string_view("Zm\0v", 4)).has_value());
}

TEST_CASE("SCRAM secret parse and format round-trip; malformed secrets are rejected") {
    auto s = parse_scram_secret(kPgPencilSecret);
    REQUIRE(s.has_value());
    CHECK(s->iterations == 4096);
    CHECK(s->salt.size() == 16);
    CHECK(pggate::protocol::format_scram_secret(*s) == kPgPencilSecret);

    const std::string_view bad[] = {
        "",
        "SCRAM-SHA-256$",
        "scram-sha-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$0:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$-1:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$+4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$2147483648:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$04096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$4096x:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$4096:$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ=$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        // StoredKey one byte short, then ServerKey with a trailing byte.
        "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiA==:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=AAAA",
        "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=",
        "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==:G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=$"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=",
        "SCRAM-SHA-256$4096:gd0LQMDAozueNzrt/VgBXQ==$G0CDseoYpTY8+dkqo+2ypf+yx5fJgBV0uqE8LrhOiJg=:"
        "SpoKxbrs727UNQlVjddHDpqwTK8d+4HIj8pDbCcEW04=:",
        "md54e38c2b9b5f65243346e1e5024fcbd0d",
        "pencil",
    };
    for (std::string_view b : bad) {
        CAPTURE(b);
        CHECK_FALSE(parse_scram_secret(b).has_value());
    }
}

TEST_CASE("SCRAM secrets derived from a password match PostgreSQL 15's pg_authid") {
    struct Case {
        std::string_view password;
        std::string_view secret;
    };
    for (Case c : {Case{"pencil", kPgPencilSecret}, Case{kPgQuotePassword, kPgQuoteSecret},
                   Case{kPgUtf8Password, kPgUtf8Secret}}) {
        CAPTURE(c.secret);
        auto pg = parse_scram_secret(c.secret);
        REQUIRE(pg.has_value());
        ScramSecret ours = pggate::protocol::scram_secret_from_password(c.password, pg->salt, pg->iterations);
        CHECK(ours.iterations == pg->iterations);
        CHECK(ours.salt == pg->salt);
        CHECK(ours.stored_key == pg->stored_key);
        CHECK(ours.server_key == pg->server_key);
        CHECK(pggate::protocol::format_scram_secret(ours) == c.secret);
    }

    // Documents the one known gap: without SASLprep, a password that NFKC
    // changes derives a different secret than PostgreSQL stores.
    auto pg = parse_scram_secret(kPgLigatureSecret);
    REQUIRE(pg.has_value());
    CHECK(pggate::protocol::scram_secret_from_password(kPgLigaturePassword, pg->salt, pg->iterations)
              .stored_key != pg->stored_key);
    CHECK(pggate::protocol::scram_secret_from_password("fish", pg->salt, pg->iterations).stored_key ==
          pg->stored_key);
}

TEST_CASE("SCRAM server reproduces the RFC 7677 exchange") {
    ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
    std::string error;
    auto first = server.client_first(kRfcClientFirst, error);
    REQUIRE(first.has_value());
    CHECK(*first == kRfcServerFirst);
    CHECK_FALSE(server.succeeded());
    auto final_msg = server.client_final(kRfcClientFinal, error);
    REQUIRE_MESSAGE(final_msg.has_value(), error);
    CHECK(*final_msg == kRfcServerFinal);
    CHECK(server.succeeded());

    // The recovered ClientKey is HMAC(SaltedPassword, "Client Key"): it hashes
    // to the StoredKey and, used by a client, reproduces the RFC proof.
    ScramClient by_key(server.client_key(), server.secret(), std::string(kRfcClientNonce), "user");
    CHECK(by_key.client_first() == kRfcClientFirst);
    auto client_final = by_key.server_first(kRfcServerFirst, error);
    REQUIRE_MESSAGE(client_final.has_value(), error);
    CHECK(*client_final == kRfcClientFinal);
    CHECK(by_key.server_final(kRfcServerFinal, error));
    CHECK(by_key.succeeded());
}

TEST_CASE("SCRAM client reproduces the RFC 7677 exchange") {
    ScramClient client(kRfcPassword, std::string(kRfcClientNonce), "user");
    CHECK(client.client_first() == kRfcClientFirst);
    std::string error;
    auto final_msg = client.server_first(kRfcServerFirst, error);
    REQUIRE_MESSAGE(final_msg.has_value(), error);
    CHECK(*final_msg == kRfcClientFinal);
    CHECK_FALSE(client.succeeded());
    CHECK(client.server_final(kRfcServerFinal, error));
    CHECK(client.succeeded());
}

TEST_CASE("SCRAM client escapes the user name and defaults to libpq's empty n=") {
    ScramClient plain("pw", "abc");
    CHECK(plain.client_first() == "n,,n=,r=abc");
    ScramClient odd("pw", "abc", "a,b=c");
    CHECK(odd.client_first() == "n,,n=a=2Cb=3Dc,r=abc");
    ScramClient random_nonce("pw");
    std::string first = random_nonce.client_first();
    REQUIRE(first.size() == std::string_view("n,,n=,r=").size() + 24);
    CHECK(first.substr(0, 8) == "n,,n=,r=");
    CHECK(ScramClient("pw").client_first() != first);
}

TEST_CASE("SCRAM client and server agree with a password, a stored secret and the real PG secret") {
    SUBCASE("password on both sides") {
        ScramClient client("correct horse");
        ScramServer server("correct horse");
        CHECK(exchange(client, server) == "");
        CHECK(client.succeeded());
        CHECK(server.succeeded());
        CHECK(server.secret().iterations == pggate::protocol::kScramDefaultIterations);
        CHECK(server.secret().salt.size() == pggate::protocol::kScramDefaultSaltLength);
    }
    SUBCASE("server holds PostgreSQL's secret") {
        auto secret = parse_scram_secret(kPgQuoteSecret);
        REQUIRE(secret.has_value());
        ScramClient client(kPgQuotePassword, {}, "scram_quote");
        ScramServer server(*secret);
        CHECK(exchange(client, server) == "");
        CHECK(server.succeeded());
    }
    SUBCASE("y,, gs2 header (client supports channel binding, thinks we do not)") {
        // ScramClient always sends "n,,", so build this proof by hand: the RFC
        // keys, with c=eSws (base64 of "y,,") in the AuthMessage.
        std::string error;
        const ScramKey client_key = rfc_client_key();
        const std::string client_final = rfc_client_final("eSws");

        ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
        REQUIRE(server.client_first("y,,n=user,r=rOprNGfwEbeRWgbNEkqO", error).has_value());
        auto ok = server.client_final(client_final, error);
        REQUIRE_MESSAGE(ok.has_value(), error);
        CHECK(server.succeeded());
        CHECK(server.client_key() == client_key);

        // The same exchange claiming "n,," in its channel binding is refused.
        ScramServer other(rfc_secret(), std::string(kRfcServerNonce));
        REQUIRE(other.client_first("y,,n=user,r=rOprNGfwEbeRWgbNEkqO", error).has_value());
        CHECK_FALSE(other.client_final(kRfcClientFinal, error).has_value());
        CHECK(error.find("channel binding check failed") != std::string::npos);
    }
}

TEST_CASE("SCRAM pooler mode: a ClientKey recovered from one login logs in elsewhere") {
    auto pg_secret = parse_scram_secret(kPgPencilSecret);
    REQUIRE(pg_secret.has_value());

    // The application logs in to pggate, which holds only the secret.
    ScramClient app("pencil");
    ScramServer front(*pg_secret);
    REQUIRE(exchange(app, front) == "");

    // pggate logs in to "PostgreSQL" (a second server with the same secret)
    // with nothing but what the first exchange gave it.
    ScramClient pooler(front.client_key(), front.secret());
    ScramServer backend(*pg_secret);
    CHECK(exchange(pooler, backend) == "");
    CHECK(pooler.succeeded());
    CHECK(backend.succeeded());
    CHECK(backend.client_key() == front.client_key());

    SUBCASE("a backend secret with another salt is reported, not just refused") {
        ScramSecret other = pggate::protocol::scram_secret_from_password("pencil", b64("c2FsdHNhbHQ="), 4096);
        ScramClient pooler2(front.client_key(), front.secret());
        ScramServer backend2(other);
        std::string err = exchange(pooler2, backend2);
        CHECK(err.find("salt or iteration count differs") != std::string::npos);
    }
    SUBCASE("a backend secret with another password fails the proof") {
        ScramSecret other = pggate::protocol::scram_secret_from_password("crayon", pg_secret->salt, 4096);
        ScramClient pooler2(front.client_key(), front.secret());
        ScramServer backend2(other);
        CHECK(exchange(pooler2, backend2).find("server: SCRAM proof verification failed") == 0);
    }
}

TEST_CASE("SCRAM wrong password and wrong server are rejected") {
    SUBCASE("server refuses a wrong password") {
        ScramClient client("pencil!");
        ScramServer server(rfc_secret());
        CHECK(exchange(client, server).find("server: SCRAM proof verification failed") == 0);
        CHECK_FALSE(server.succeeded());
        CHECK_FALSE(server.failed_malformed());  // well-formed, only wrong
        CHECK(server.client_key() == ScramKey{});
    }
    SUBCASE("client refuses a server that only knows the StoredKey") {
        // An impostor that stole the StoredKey can verify the proof but cannot
        // sign: its ServerKey is wrong.
        ScramSecret stolen = rfc_secret();
        stolen.server_key[0] ^= 1;
        ScramClient client(kRfcPassword);
        ScramServer server(stolen);
        CHECK(exchange(client, server).find("client: SCRAM server signature mismatch") == 0);
        CHECK_FALSE(client.succeeded());
    }
    SUBCASE("empty password never authenticates") {
        ScramClient client("");
        ScramServer server(std::string_view{});
        CHECK(exchange(client, server) == "server: empty password");
    }
}

TEST_CASE("SCRAM server rejects tampered client-final-messages") {
    std::string error;
    struct Case {
        std::string_view msg;
        std::string_view error;
    };
    const Case cases[] = {
        // channel binding: "y,," instead of "n,,", invalid base64, missing
        {"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "channel binding check failed"},
        {"c=biw,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "invalid base64"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "malformed"},
        // nonce: server part altered, client part only, extended
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "nonce mismatch"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "nonce mismatch"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0x,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "nonce mismatch"},
        // proof: one bit flipped, truncated, too long, not base64, missing
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=",
         "verification failed"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndQ==",
         "wrong length"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQAAAA=",
         "wrong length"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
         "invalid base64"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "malformed"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=", "wrong length"},
        // an extension changes the AuthMessage, so the RFC proof no longer fits
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,x=1,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "verification failed"},
        // a second proof in extension position, trailing comma, order swapped
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "bad extension"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,",
         "malformed"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "malformed"},
        {"", "malformed"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.msg);
        ScramServer server = rfc_server_after_first();
        auto out = server.client_final(c.msg, error);
        CHECK_FALSE(out.has_value());
        CHECK_MESSAGE(error.find(c.error) != std::string::npos, error);
        CHECK_FALSE(server.succeeded());
        CHECK(server.failed_malformed() == (c.error != "verification failed"));
        // A failed exchange stays failed, even for the right message.
        CHECK_FALSE(server.client_final(kRfcClientFinal, error).has_value());
        CHECK(server.failed_malformed() == (c.error != "verification failed"));
    }
}

TEST_CASE("SCRAM server rejects malformed client-first-messages") {
    const std::string long_nonce(pggate::protocol::kScramMaxNonceLength + 1, 'x');
    const std::string max_nonce(pggate::protocol::kScramMaxNonceLength, 'x');
    struct Case {
        std::string msg;
        std::string_view error;
    };
    const Case cases[] = {
        {"", "empty"},
        {"p=tls-server-end-point,,n=,r=abc", "channel binding was requested"},
        {"n,a=admin,n=,r=abc", "authorization identity"},
        {"y,a=admin,n=,r=abc", "authorization identity"},
        {"x,,n=,r=abc", "channel-binding flag"},
        {"n", "channel-binding flag"},
        {"n,", "GS2 header"},
        {"n,x,n=,r=abc", "GS2 header"},
        {"n,,", "malformed"},
        {"n,,n=", "expected n= and r="},
        {"n,,r=abc", "expected n= and r="},
        {"n,,n=,r=", "invalid SCRAM client nonce"},
        {"n,,m=ext,n=,r=abc", "mandatory extensions"},
        {"n,,n=,x=1,r=abc", "expected n= and r="},
        {"n,,n=,r=abc,", "malformed"},
        {"n,,n=,r=abc,x=", "bad extension"},
        {"n,,n=,r=abc,r=def", "bad extension"},
        {"n,,n=,r=ab c", "invalid SCRAM client nonce"},
        {"n,,n=,r=ab\x7f", "invalid SCRAM client nonce"},
        {"n,,n=,r=ab\xc3\xa4", "invalid SCRAM client nonce"},
        {std::string("n,,n=,r=ab\0c", 12), "NUL byte"},
        {"n,,n=,r=" + long_nonce, "nonce too long"},
        {"n,,n=," + std::string(5000, 'a') + ",r=abc", "too long"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.msg);
        ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
        std::string error;
        CHECK_FALSE(server.client_first(c.msg, error).has_value());
        CHECK_MESSAGE(error.find(c.error) != std::string::npos, error);
        // Too long to read is not a malformed message: PostgreSQL fails the authentication.
        CHECK(server.failed_malformed() == (c.error.find("too long") == std::string_view::npos));
    }

    // Accepted: the longest nonce, an escaped or absent user name and
    // extensions, all ignored.
    for (std::string ok : {"n,,n=,r=" + max_nonce, std::string("n,,n=a=2Cb,r=abc"),
                           std::string("y,,n=*,r=abc,x=ext,y=1")}) {
        CAPTURE(ok);
        ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
        std::string error;
        CHECK_MESSAGE(server.client_first(ok, error).has_value(), error);
    }
}

TEST_CASE("SCRAM calls out of order are errors") {
    std::string error;
    SUBCASE("server: final before first") {
        ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
        CHECK_FALSE(server.client_final(kRfcClientFinal, error).has_value());
        CHECK(error.find("unexpected") != std::string::npos);
        CHECK(server.failed_malformed());
        CHECK_FALSE(server.client_first(kRfcClientFirst, error).has_value());
    }
    SUBCASE("server: first twice, and anything after success") {
        ScramServer server = rfc_server_after_first();
        CHECK_FALSE(server.client_first(kRfcClientFirst, error).has_value());
        ScramServer done = rfc_server_after_first();
        REQUIRE(done.client_final(kRfcClientFinal, error).has_value());
        CHECK_FALSE(done.client_final(kRfcClientFinal, error).has_value());
        CHECK_FALSE(done.client_first(kRfcClientFirst, error).has_value());
    }
    SUBCASE("client: server_first before client_first") {
        ScramClient client(kRfcPassword, std::string(kRfcClientNonce), "user");
        CHECK_FALSE(client.server_first(kRfcServerFirst, error).has_value());
        CHECK(client.client_first().empty());
    }
    SUBCASE("client: final before first, client_first twice") {
        ScramClient client = rfc_client_after_first();
        CHECK_FALSE(client.server_final(kRfcServerFinal, error));
        ScramClient twice = rfc_client_after_first();
        CHECK(twice.client_first().empty());
        CHECK_FALSE(twice.server_first(kRfcServerFirst, error).has_value());
        CHECK(error.find("twice") != std::string::npos);
    }
    SUBCASE("client: server_final twice") {
        ScramClient client = rfc_client_after_first();
        REQUIRE(client.server_first(kRfcServerFirst, error).has_value());
        REQUIRE(client.server_final(kRfcServerFinal, error));
        CHECK_FALSE(client.server_final(kRfcServerFinal, error));
        CHECK_FALSE(client.succeeded());
    }
    SUBCASE("bad injected nonces and unusable secrets fail up front") {
        ScramServer comma(rfc_secret(), "ab,c");
        CHECK_FALSE(comma.client_first(kRfcClientFirst, error).has_value());
        CHECK(error.find("nonce") != std::string::npos);
        ScramServer zero(ScramSecret{}, "abc");
        CHECK_FALSE(zero.client_first(kRfcClientFirst, error).has_value());
        CHECK(error.find("unusable") != std::string::npos);
        ScramClient space("pw", "a b");
        CHECK(space.client_first().empty());
        CHECK_FALSE(space.server_first(kRfcServerFirst, error).has_value());
        CHECK(error.find("nonce") != std::string::npos);
    }
}

TEST_CASE("SCRAM client rejects malformed or hostile server-first-messages") {
    struct Case {
        std::string msg;
        std::string_view error;
    };
    const std::string kSaltIter = ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const Case cases[] = {
        {"", "malformed"},
        {"r=rOprNGfwEbeRWgbNEkqO" + kSaltIter, "invalid SCRAM server nonce"},  // no server part
        {"r=rOprNGfwEbeRWgbNEkqX%hvY" + kSaltIter, "invalid SCRAM server nonce"},
        {"r=rOprNGfwEbeRWgbNEkq" + kSaltIter, "invalid SCRAM server nonce"},
        {"r=rOprNGfwEbeRWgbNEkqO\x80" + kSaltIter, "invalid SCRAM server nonce"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=,i=4096", "invalid SCRAM salt"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", "invalid SCRAM salt"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i= 4096", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==", "expected r=, s=, i="},
        {"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqO%hvY,i=4096", "expected r=, s=, i="},
        {"m=x,r=rOprNGfwEbeRWgbNEkqO%hvY" + kSaltIter, "mandatory extensions"},
        {"e=other-error", "expected r=, s=, i="},
        {"r=rOprNGfwEbeRWgbNEkqO" + std::string(pggate::protocol::kScramMaxServerMessage, 'x') + kSaltIter,
         "too long"},
        {std::string("r=rOprNGfwEbeRWgbNEkqO%hv\0Y", 27) + kSaltIter, "malformed"},
    };
    for (const Case& c : cases) {
        for (bool with_password : {false, true}) {
            CAPTURE(c.msg.substr(0, 100));
            CAPTURE(with_password);
            ScramClient client = rfc_client_after_first(with_password);
            std::string error;
            CHECK_FALSE(client.server_first(c.msg, error).has_value());
            CHECK_MESSAGE(error.find(c.error) != std::string::npos, error);
        }
    }

    // A long but legal server nonce is fine as long as the message fits.
    ScramClient client = rfc_client_after_first();
    std::string error;
    CHECK(client.server_first("r=rOprNGfwEbeRWgbNEkqO" + std::string(8000, 'x') + kSaltIter + ",z=ext", error)
              .has_value());
}

TEST_CASE("SCRAM client rejects a wrong or malformed server-final-message") {
    const std::string_view cases[] = {
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",  // one bit off
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95A==",  // short
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",   // bad padding
        "v=",
        "e=invalid-proof",
        "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        "",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,",
    };
    for (std::string_view c : cases) {
        CAPTURE(c);
        ScramClient client = rfc_client_after_first(c == cases[0]);
        std::string error;
        REQUIRE(client.server_first(kRfcServerFirst, error).has_value());
        CHECK_FALSE(client.server_final(c, error));
        CHECK_FALSE(client.succeeded());
        CHECK_FALSE(error.empty());
    }
    ScramClient client = rfc_client_after_first();
    std::string error;
    REQUIRE(client.server_first(kRfcServerFirst, error).has_value());
    CHECK_FALSE(client.server_final("e=invalid-proof", error));
    CHECK(error == "SCRAM server error: invalid-proof");
}

TEST_CASE("SCRAM parsers survive random and mutated input") {
    std::mt19937 rng(20240601);
    constexpr std::string_view kAttrAlphabet = "nyrpcsivexm=,abAB09+/%$\\ \x7f\x80";
    std::string error;
    for (int i = 0; i < 3000; ++i) {
        std::string junk = random_string(rng, 80, i % 2 ? std::string_view{} : kAttrAlphabet);
        (void)base64_decode(junk);
        (void)parse_scram_secret(junk);
        (void)parse_scram_secret("SCRAM-SHA-256$" + junk);
        {
            ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
            (void)server.client_first(junk, error);
            (void)server.client_first("n,," + junk, error);
        }
        {
            ScramServer server = rfc_server_after_first();
            (void)server.client_final(junk, error);
            CHECK_FALSE(server.succeeded());
        }
        {
            ScramClient client = rfc_client_after_first();
            (void)client.server_first(junk, error);
            (void)client.server_final(junk, error);
            CHECK_FALSE(client.succeeded());
        }
    }

    // Mutations of valid messages reach the deeper checks. No mutation of the
    // client-final-message may pass: every byte of it is covered by the proof.
    for (int i = 0; i < 1500; ++i) {
        std::string m = mutate(rng, std::string(kRfcClientFirst));
        ScramServer s1(rfc_secret(), std::string(kRfcServerNonce));
        (void)s1.client_first(m, error);

        m = mutate(rng, std::string(kRfcClientFinal));
        ScramServer s2 = rfc_server_after_first();
        bool accepted = s2.client_final(m, error).has_value();
        CHECK(accepted == (m == kRfcClientFinal));

        m = mutate(rng, std::string(kRfcServerFirst));
        ScramClient c1 = rfc_client_after_first();
        (void)c1.server_first(m, error);

        m = mutate(rng, std::string(kRfcServerFinal));
        ScramClient c2 = rfc_client_after_first();
        REQUIRE(c2.server_first(kRfcServerFirst, error).has_value());
        bool ok = c2.server_final(m, error);
        // One edit cannot append a whole ",x=y" extension, so only the
        // unchanged message may pass.
        CHECK(ok == (m == kRfcServerFinal));

        m = mutate(rng, std::string(kPgPencilSecret));
        auto parsed = parse_scram_secret(m);
        if (parsed) CHECK(pggate::protocol::format_scram_secret(*parsed) == m);
    }
}

}  // TEST_SUITE

TEST_CASE("SCRAM-SHA-256-PLUS: the TLS session's tls-server-end-point data is checked; downgrades are refused") {
    const Bytes hash(32, 0xab);  // the server certificate's hash, as net::server_end_point_hash gives it
    const std::string header = "p=tls-server-end-point,,";
    Bytes bound(header.begin(), header.end());
    bound.insert(bound.end(), hash.begin(), hash.end());
    const std::string bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    std::string error;
    auto server_for = [&](bool offered, bool plus) {
        ScramServer server(rfc_secret(), std::string(kRfcServerNonce));
        server.set_channel_binding(offered ? hash : Bytes(), plus);
        return server;
    };

    SUBCASE("bound to this session: accepted") {
        ScramServer server = server_for(true, true);
        REQUIRE(server.client_first(header + bare, error).has_value());
        auto final_msg = server.client_final(rfc_client_final(base64_encode(bound)), error);
        REQUIRE_MESSAGE(final_msg.has_value(), error);
        CHECK(server.succeeded());
    }
    SUBCASE("bound to another session (a man in the middle): refused") {
        ScramServer server = server_for(true, true);
        REQUIRE(server.client_first(header + bare, error).has_value());
        Bytes other = bound;
        other.back() ^= 1;
        CHECK_FALSE(server.client_final(rfc_client_final(base64_encode(other)), error).has_value());
        CHECK(error == "SCRAM channel binding check failed");
        // The header alone, without the data, is no binding either.
        ScramServer again = server_for(true, true);
        REQUIRE(again.client_first(header + bare, error).has_value());
        const std::string header_only = base64_encode(Bytes(header.begin(), header.end()));
        CHECK_FALSE(again.client_final(rfc_client_final(header_only), error).has_value());
    }
    SUBCASE("y while PLUS was offered: a downgrade") {
        ScramServer server = server_for(true, false);
        CHECK_FALSE(server.client_first("y,," + bare, error).has_value());
        CHECK(error.find("channel binding negotiation error") != std::string::npos);
    }
    SUBCASE("n while PLUS was offered: a client that cannot bind") {
        ScramServer server = server_for(true, false);
        REQUIRE(server.client_first("n,," + bare, error).has_value());
        CHECK(server.client_final(rfc_client_final("biws"), error).has_value());
    }
    SUBCASE("the mechanism and the gs2 header disagree") {
        ScramServer plus_without_data = server_for(true, true);
        CHECK_FALSE(plus_without_data.client_first("n,," + bare, error).has_value());
        CHECK(error.find("does not include channel binding data") != std::string::npos);
        ScramServer data_without_plus = server_for(true, false);
        CHECK_FALSE(data_without_plus.client_first(header + bare, error).has_value());
        CHECK(error.find("without channel binding") != std::string::npos);
    }
    SUBCASE("other binding types, and p without TLS") {
        ScramServer unique = server_for(true, true);
        CHECK_FALSE(unique.client_first("p=tls-unique,," + bare, error).has_value());
        CHECK(error == "unsupported SCRAM channel-binding type \"tls-unique\"");
        ScramServer plain = server_for(false, true);
        CHECK_FALSE(plain.client_first(header + bare, error).has_value());
        CHECK(error == "SCRAM channel binding was requested but is not supported");
    }
}
