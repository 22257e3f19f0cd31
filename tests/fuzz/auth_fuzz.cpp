// Fuzzes the password exchanges: SCRAM-SHA-256 as server (pggate checking a
// client) and as client (pggate logging in), the ClientAuth and ServerLogin
// state machines, the MD5 helpers, base64 and the SCRAM secret format.
//
// Input: byte 0 picks the scenario and byte 1 its options; the rest is the
// messages of the exchange, separated by fuzz::kSeparator.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_file.hpp"
#include "auth/client_auth.hpp"
#include "core/base64.hpp"
#include "core/bytes.hpp"
#include "fuzz_util.hpp"
#include "protocol/codec.hpp"
#include "protocol/md5_auth.hpp"
#include "protocol/messages.hpp"
#include "protocol/scram.hpp"

using namespace pggate;
using namespace pggate::protocol;
using pggate::auth::ClientAuth;
using pggate::auth::Credentials;
using pggate::auth::ServerLogin;
using pggate::config::AuthType;

namespace {

using Span = std::span<const std::uint8_t>;
using Parts = std::vector<std::string_view>;

std::string_view text(Span s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }
Span bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
std::string_view part(const Parts& p, std::size_t i) { return i < p.size() ? p[i] : std::string_view(); }

// RFC 7677's example exchange (password "pencil", user "user" in n=); the
// login scenarios use the same password for the auth_file user kUser.
constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kUser = "alice";
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

struct Fixture {
    ScramSecret secret;  // of kPassword with the RFC's salt and 4096 iterations
    std::string secret_text;
    std::string md5_secret;  // of kPassword for kUser
    ScramKey client_key{};   // the one ClientKey whose hash is secret.stored_key
    // The auth_file's SCRAM secret in the login scenarios: 16 iterations, so
    // that an honest exchange costs little of the run's time.
    ScramSecret fast;
    std::string fast_text;
    ScramKey fast_client_key{};

    Fixture() {
        secret = scram_secret_from_password(kPassword, *base64_decode(kSaltB64), 4096);
        FUZZ_CHECK(secret.iterations == 4096);
        secret_text = format_scram_secret(secret);
        md5_secret = md5_password_secret(kPassword, kUser);
        // The RFC's own client proof recovers it.
        ScramServer server(secret, std::string(kServerNonce));
        std::string error;
        FUZZ_CHECK(server.client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", error) == std::string(kServerFirst));
        FUZZ_CHECK(server.client_final(kClientFinal, error).has_value() && server.succeeded());
        client_key = server.client_key();

        const std::uint8_t salt[] = {'f', 'a', 's', 't'};
        fast = scram_secret_from_password(kPassword, salt, 16);
        fast_text = format_scram_secret(fast);
        ScramServer checker(fast);
        ScramClient honest(kPassword);
        auto s1 = checker.client_first(honest.client_first(), error);
        auto c2 = honest.server_first(s1.value_or(""), error);
        FUZZ_CHECK(c2 && checker.client_final(*c2, error) && checker.succeeded());
        fast_client_key = checker.client_key();
    }
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

bool printable_nonce(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e && c != ','; });
}

bool is_base64_key(std::string_view s) {
    auto b = base64_decode(s);
    return b && b->size() == kScramKeyLength;
}

// The value of the attribute `k` (counted from 0) of "a=x,b=y", or nullopt.
std::optional<std::string_view> nth_attr(std::string_view msg, std::size_t k) {
    for (std::size_t i = 0; i < k; ++i) {
        std::size_t comma = msg.find(',');
        if (comma == std::string_view::npos) return std::nullopt;
        msg.remove_prefix(comma + 1);
    }
    return msg.substr(0, msg.find(','));
}

// Whether a server-first-message would make a password-mode client derive
// keys with more iterations than a fuzz run can afford (a server's choice
// costs time, not correctness).
bool too_costly(std::string_view server_first) {
    auto i = nth_attr(server_first, 2);
    if (!i || !i->starts_with("i=")) return false;
    std::string_view digits = i->substr(2);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;  // refused before any derivation
    return digits.size() > 4 || std::stoi(std::string(digits)) > 4096;
}

// An Authentication ('R') message's code and payload, from a builder's output.
struct AuthRequest {
    std::uint32_t code = 0;
    std::string payload;
};
std::vector<AuthRequest> auth_requests(const Bytes& out) {
    std::vector<AuthRequest> reqs;
    Span in(out);
    while (!in.empty()) {
        Frame f;
        DecodeError err;
        FUZZ_CHECK(decode_frame(in, Direction::Backend, kMaxWireLength, f, err) == Decode::Ok);
        FUZZ_CHECK(f.header.type == 'R' && f.body.size() >= 4);
        reqs.push_back({load_be32(f.body.data()), std::string(text(f.body.subspan(4)))});
        in = in.subspan(f.header.frame_len());
    }
    return reqs;
}

// The bodies of the PasswordMessage ('p') frames in `out`; `out` holds nothing else.
std::vector<std::string> password_messages(const Bytes& out) {
    std::vector<std::string> bodies;
    Span in(out);
    while (!in.empty()) {
        Frame f;
        DecodeError err;
        FUZZ_CHECK(decode_frame(in, Direction::Frontend, kMaxWireLength, f, err) == Decode::Ok);
        FUZZ_CHECK(f.header.type == 'p');
        bodies.emplace_back(text(f.body));
        in = in.subspan(f.header.frame_len());
    }
    return bodies;
}

std::string sasl_initial_response(std::string_view first) {
    std::string body(kScramMechanism);
    body.push_back('\0');
    Bytes len;
    ByteWriter(len).u32(static_cast<std::uint32_t>(first.size()));
    body.append(len.begin(), len.end());
    body += first;
    return body;
}

// ---- scenarios -------------------------------------------------------------

// pggate as SCRAM server with a known secret and nonce; the client's messages are the input.
void scram_server(const Parts& msgs) {
    const Fixture& fx = fixture();
    ScramServer server(fx.secret, std::string(kServerNonce));
    enum { First, Final, Done, Failed } state = First;
    for (std::size_t i = 0; i < std::max<std::size_t>(msgs.size(), 2); ++i) {
        std::string_view msg = part(msgs, i);
        std::string error;
        const bool as_first = i % 2 == 0;
        auto reply = as_first ? server.client_first(msg, error) : server.client_final(msg, error);
        const bool expected_step = (as_first && state == First) || (!as_first && state == Final);
        if (!reply) {
            FUZZ_CHECK(!error.empty() && !server.succeeded());
            state = Failed;
            continue;
        }
        FUZZ_CHECK(expected_step && error.empty());
        if (as_first) {
            // r=<client nonce><server nonce>,s=<salt>,i=<count>
            const std::string tail = std::string(kServerNonce) + ",s=" + std::string(kSaltB64) + ",i=4096";
            FUZZ_CHECK(reply->starts_with("r=") && reply->ends_with(tail) && reply->size() > 2 + tail.size());
            FUZZ_CHECK(printable_nonce(reply->substr(2, reply->size() - 2 - tail.size())));
            state = Final;
        } else {
            // Only the right proof gets here, and it yields the one ClientKey.
            FUZZ_CHECK(server.succeeded() && server.client_key() == fx.client_key);
            FUZZ_CHECK(reply->starts_with("v=") && is_base64_key(reply->substr(2)));
            state = Done;
        }
    }
    FUZZ_CHECK(server.succeeded() == (state == Done));
}

// Both sides honest, with nonces, user name, password, salt and iteration
// count from the input: the exchange succeeds exactly when those are valid.
void scram_round_trip(const Parts& p, unsigned options) {
    std::string cnonce(part(p, 0).substr(0, 1100));
    std::string snonce(part(p, 1).substr(0, 1100));
    std::string_view user = part(p, 2).substr(0, 300);
    std::string_view password = part(p, 3);
    Bytes salt(part(p, 4).begin(), part(p, 4).end());
    if (salt.empty()) salt = {1, 2, 3, 4};
    if (salt.size() > 64) salt.resize(64);
    const int iterations = 1 + static_cast<int>(options % 8);

    ScramSecret secret = scram_secret_from_password(password, salt, iterations);
    FUZZ_CHECK(secret.iterations == iterations);

    std::size_t escaped = 0;
    for (char c : user) escaped += c == ',' || c == '=' ? 3 : 1;
    const std::size_t first_len = 5 + escaped + 3 + (cnonce.empty() ? 24 : cnonce.size());
    const bool valid = (cnonce.empty() || (printable_nonce(cnonce) && cnonce.size() <= kScramMaxNonceLength)) &&
                       (snonce.empty() || (printable_nonce(snonce) && snonce.size() <= kScramMaxNonceLength)) &&
                       user.find('\0') == std::string_view::npos && first_len <= kScramMaxClientMessage;

    ScramServer server(secret, snonce);
    ScramClient client(password, cnonce, user);
    std::string error;
    std::string first = client.client_first();
    bool ok = !first.empty();
    std::optional<std::string> server_first, client_final, server_final;
    if (ok) ok = (server_first = server.client_first(first, error)).has_value();
    if (ok) ok = (client_final = client.server_first(*server_first, error)).has_value();
    if (ok) ok = (server_final = server.client_final(*client_final, error)).has_value();
    if (ok) ok = client.server_final(*server_final, error);
    FUZZ_CHECK(ok == valid);
    FUZZ_CHECK(ok == (client.succeeded() && server.succeeded()));
    if (!ok) return;
    FUZZ_CHECK(first.size() == first_len);

    // The recovered ClientKey logs in without the password (pggate's
    // pass-on of a client's SCRAM login to the servers).
    ScramServer backend(server.secret(), "");
    ScramClient relay(server.client_key(), server.secret(), "", user);
    std::string f1 = relay.client_first();
    auto s1 = backend.client_first(f1, error);
    FUZZ_CHECK(s1.has_value());
    auto f2 = relay.server_first(*s1, error);
    FUZZ_CHECK(f2.has_value());
    auto s2 = backend.client_final(*f2, error);
    FUZZ_CHECK(s2.has_value() && relay.server_final(*s2, error));
    FUZZ_CHECK(backend.client_key() == server.client_key());

    // Any other password fails the proof.
    std::string wrong(password);
    wrong += 'x';
    ScramServer checker(secret, snonce);
    ScramClient liar(wrong, cnonce, user);
    auto l1 = checker.client_first(liar.client_first(), error);
    FUZZ_CHECK(l1.has_value());
    auto l2 = liar.server_first(*l1, error);
    FUZZ_CHECK(l2.has_value());
    FUZZ_CHECK(!checker.client_final(*l2, error).has_value() && !error.empty() && !checker.succeeded());
}

// pggate as SCRAM client (with the RFC nonce); the server's messages are the input.
void scram_client(const Parts& msgs, bool with_password) {
    const Fixture& fx = fixture();
    if (with_password && too_costly(part(msgs, 0))) return;
    std::optional<ScramClient> client;
    if (with_password)
        client.emplace(kPassword, std::string(kClientNonce), "user");
    else
        client.emplace(fx.client_key, fx.secret, std::string(kClientNonce), "user");
    FUZZ_CHECK(client->client_first() == "n,,n=user,r=" + std::string(kClientNonce));
    FUZZ_CHECK(client->client_first().empty());  // twice fails the exchange
    // A fresh one for the rest.
    if (with_password)
        client.emplace(kPassword, std::string(kClientNonce), "user");
    else
        client.emplace(fx.client_key, fx.secret, std::string(kClientNonce), "user");
    client->client_first();

    std::string error;
    std::string_view server_first = part(msgs, 0);
    auto final_msg = client->server_first(server_first, error);
    FUZZ_CHECK(final_msg.has_value() == error.empty());
    if (final_msg) {
        auto nonce = nth_attr(server_first, 0);
        FUZZ_CHECK(nonce && nonce->starts_with("r=" + std::string(kClientNonce)) && nonce->size() > 2 + kClientNonce.size());
        FUZZ_CHECK(final_msg->starts_with("c=biws," + std::string(*nonce) + ",p="));
        FUZZ_CHECK(is_base64_key(final_msg->substr(final_msg->rfind(",p=") + 3)));
        if (!with_password)
            FUZZ_CHECK(server_first.find(",s=" + std::string(kSaltB64) + ",i=4096") != std::string_view::npos);
        if (server_first == kServerFirst) FUZZ_CHECK(*final_msg == kClientFinal);  // the RFC's answer
    }
    for (std::size_t i = 1; i < std::max<std::size_t>(msgs.size(), 2); ++i) {
        std::string err2;
        bool done = client->server_final(part(msgs, i), err2);
        FUZZ_CHECK(done != !err2.empty());
        // Only the first server-final after a good server-first can succeed.
        FUZZ_CHECK(!done || (i == 1 && final_msg && part(msgs, i).starts_with("v=")));
        FUZZ_CHECK(done == client->succeeded());
        if (!done) FUZZ_CHECK(!client->succeeded());
    }
}

enum class Cred { None, Plain, Md5, Scram, Empty };

Credentials credentials_for(Cred c, bool with_key) {
    const Fixture& fx = fixture();
    Credentials cr;
    switch (c) {
        case Cred::None:
        case Cred::Empty: break;
        case Cred::Plain: cr.secret = kPassword; break;
        case Cred::Md5: cr.secret = fx.md5_secret; break;
        case Cred::Scram: cr.secret = fx.fast_text; break;
    }
    if (with_key && c == Cred::Scram) cr.client_key = fx.fast_client_key;
    return cr;
}

constexpr AuthType kAuthTypes[] = {AuthType::Passthrough, AuthType::Trust, AuthType::Plain,
                                   AuthType::Md5, AuthType::ScramSha256, AuthType::Hba};

// A refusal is a wrong password (28P01, PostgreSQL's words) or, for a
// message no client could have meant, a protocol violation (08P01).
void check_failed(const auth::AuthResult& r) {
    FUZZ_CHECK(r.step == auth::AuthStep::Failed && r.out.empty());
    const std::string_view state = r.sqlstate;
    FUZZ_CHECK(state == "28P01" || state == "08P01");
    if (state == "28P01")
        FUZZ_CHECK(r.error == "password authentication failed for user \"" + std::string(kUser) + "\"");
    else
        FUZZ_CHECK(!r.error.empty() && r.error.find("password authentication failed") == std::string::npos);
}

// ClientAuth fed the client's PasswordMessage bodies from the input.
void client_auth(const Parts& msgs, unsigned options) {
    const AuthType type = kAuthTypes[options % 6];
    const Cred cred = static_cast<Cred>(options / 6 % 5);
    Credentials cr = credentials_for(cred, false);
    ClientAuth a(type, std::string(kUser), cred == Cred::None ? nullptr : &cr);
    const bool known = cred != Cred::None && cred != Cred::Empty;
    FUZZ_CHECK(a.secret() == (known ? cr.secret : std::string()));

    auth::AuthResult r = a.begin();
    if (type == AuthType::Trust) {
        FUZZ_CHECK(r.step == auth::AuthStep::Done && r.out.empty());
        return;
    }
    if (type == AuthType::Passthrough || type == AuthType::Hba) {
        check_failed(r);
        return;
    }
    FUZZ_CHECK(r.step == auth::AuthStep::Continue);
    auto reqs = auth_requests(r.out);
    FUZZ_CHECK(reqs.size() == 1);
    const std::uint32_t code = reqs[0].code;
    FUZZ_CHECK(code == 3 || code == 5 || code == 10);
    if (code == 5) FUZZ_CHECK(reqs[0].payload.size() == 4);
    if (code == 10) FUZZ_CHECK(reqs[0].payload == std::string("SCRAM-SHA-256\0\0", 15));
    const bool scram = code == 10;

    for (std::size_t i = 0; i < msgs.size(); ++i) {
        std::string_view body = msgs[i];
        r = a.on_password_message(bytes(body));
        if (r.step == auth::AuthStep::Failed) {
            check_failed(r);
            FUZZ_CHECK(!a.client_key());
            return;
        }
        if (r.step == auth::AuthStep::Continue) {
            FUZZ_CHECK(scram && i == 0);
            auto cont = auth_requests(r.out);
            FUZZ_CHECK(cont.size() == 1 && cont[0].code == 11 && cont[0].payload.starts_with("r="));
            continue;
        }
        // Done: only with the right answer for a known user.
        FUZZ_CHECK(known);
        if (code == 3) FUZZ_CHECK(body == std::string(kPassword) + '\0');
        if (code == 5) {
            auto salt = bytes(reqs[0].payload);
            std::string expected =
                md5_salted_response(fixture().md5_secret, std::span<const std::uint8_t, 4>(salt.data(), 4));
            FUZZ_CHECK(body == expected + '\0');
        }
        if (scram) {
            FUZZ_CHECK(i == 1 && a.client_key().has_value());
            if (cred == Cred::Scram) FUZZ_CHECK(*a.client_key() == fixture().fast_client_key);
            auto fin = auth_requests(r.out);
            FUZZ_CHECK(fin.size() == 1 && fin[0].code == 12 && fin[0].payload.starts_with("v="));
        }
        return;
    }
}

// An honest client answering ClientAuth with a password from the input:
// it gets in exactly when the password is right and pggate can check it.
void client_auth_honest(const Parts& p, unsigned options) {
    const AuthType type = kAuthTypes[options % 6];
    const Cred cred = static_cast<Cred>(options / 6 % 5);
    // A password is a C string (in the auth_file and in a PasswordMessage);
    // with NULs, HMAC's zero padding of short keys would make "pencil\0" a
    // second spelling of "pencil".
    std::string_view password = part(p, 0).substr(0, 64);
    password = password.substr(0, password.find('\0'));
    Credentials cr = credentials_for(cred, false);
    ClientAuth a(type, std::string(kUser), cred == Cred::None ? nullptr : &cr);
    const bool known = cred != Cred::None && cred != Cred::Empty;

    auth::AuthResult r = a.begin();
    bool expect;
    switch (type) {
        case AuthType::Trust: expect = true; break;
        case AuthType::Plain: expect = known && password == kPassword; break;
        case AuthType::Md5: expect = known && password == kPassword; break;
        case AuthType::ScramSha256: expect = known && cred != Cred::Md5 && password == kPassword; break;
        default: expect = false; break;
    }
    std::optional<ScramClient> scram;
    for (int round = 0; round < 3 && r.step == auth::AuthStep::Continue; ++round) {
        auto reqs = auth_requests(r.out);
        FUZZ_CHECK(reqs.size() == 1);
        std::string answer;
        std::string error;
        switch (reqs[0].code) {
            case 3: answer = std::string(password) + '\0'; break;
            case 5: {
                auto salt = bytes(reqs[0].payload);
                answer = md5_salted_response(md5_password_secret(password, kUser),
                                             std::span<const std::uint8_t, 4>(salt.data(), 4)) +
                         '\0';
                break;
            }
            case 10:
                scram.emplace(password);
                answer = sasl_initial_response(scram->client_first());
                break;
            case 11: {
                FUZZ_CHECK(scram.has_value());
                auto fin = scram->server_first(reqs[0].payload, error);
                FUZZ_CHECK(fin.has_value());
                answer = *fin;
                break;
            }
            default: FUZZ_CHECK(false);
        }
        r = a.on_password_message(bytes(answer));
    }
    FUZZ_CHECK((r.step == auth::AuthStep::Done) == expect);
    if (r.step == auth::AuthStep::Failed) check_failed(r);
    if (scram && expect) {
        auto fin = auth_requests(r.out);
        std::string error;
        FUZZ_CHECK(fin.size() == 1 && fin[0].code == 12 && scram->server_final(fin[0].payload, error));
        FUZZ_CHECK(a.client_key().has_value());
    }
}

// ServerLogin fed the server's Authentication bodies from the input.
void server_login(const Parts& msgs, unsigned options) {
    const Cred cred = static_cast<Cred>(options % 5);
    const bool with_key = options & 8;
    Credentials cr = credentials_for(cred, with_key);
    ServerLogin login(std::string(kUser), cr);
    for (std::string_view body : msgs) {
        if (cred == Cred::Plain && body.size() >= 4 && too_costly(body.substr(4))) return;
        ServerLogin::Step s = login.on_auth_request(bytes(body));
        if (!s.ok) {
            FUZZ_CHECK(!s.error.empty() && s.out.empty() && !s.done);
            return;
        }
        FUZZ_CHECK(s.error.empty() && body.size() >= 4);
        const std::uint32_t code = load_be32(bytes(body).data());
        auto answers = password_messages(s.out);
        if (s.done) {
            FUZZ_CHECK(code == 0 && answers.empty());
            return;
        }
        if (code == 12) {  // a verified server-final answers nothing
            FUZZ_CHECK(answers.empty());
            continue;
        }
        FUZZ_CHECK(answers.size() == 1);
        switch (code) {
            case 3:
                FUZZ_CHECK(cred == Cred::Plain && answers[0] == std::string(kPassword) + '\0');
                break;
            case 5: {
                FUZZ_CHECK(cred == Cred::Plain || cred == Cred::Md5);
                auto salt = bytes(body.substr(4, 4));
                FUZZ_CHECK(answers[0] == md5_salted_response(fixture().md5_secret,
                                                             std::span<const std::uint8_t, 4>(salt.data(), 4)) +
                                             '\0');
                break;
            }
            case 10:
                FUZZ_CHECK(cred == Cred::Plain || (cred == Cred::Scram && with_key));
                FUZZ_CHECK(answers[0].starts_with(std::string("SCRAM-SHA-256\0", 14)));
                break;
            case 11:
                FUZZ_CHECK(answers[0].starts_with("c=biws,r="));
                break;
            default:
                FUZZ_CHECK(false);  // any other method is refused
        }
    }
}

// An honest server asking for the method the input picks: the login
// succeeds exactly when the credentials can answer it.
void server_login_honest(const Parts& p, unsigned options) {
    const Fixture& fx = fixture();
    const Cred cred = static_cast<Cred>(options % 5);
    const bool with_key = options & 8;
    const unsigned method = options / 16 % 3;  // cleartext, md5, SASL
    std::string salt_text(part(p, 0).substr(0, 4));
    salt_text.resize(4, 's');
    Credentials cr = credentials_for(cred, with_key);
    ServerLogin login(std::string(kUser), cr);

    Bytes req;
    std::uint32_t codes[] = {3, 5, 10};
    std::string payload = method == 1 ? salt_text : method == 2 ? std::string("SCRAM-SHA-256\0\0", 15) : "";
    build_auth(req, codes[method], payload);
    bool expect = method == 0 ? cred == Cred::Plain
                : method == 1 ? cred == Cred::Plain || cred == Cred::Md5
                              : cred == Cred::Plain || (cred == Cred::Scram && with_key);
    ScramServer server(fx.fast);
    bool ok = true;
    bool done = false;
    for (int round = 0; round < 4 && ok && !done; ++round) {
        Frame f;
        DecodeError err;
        FUZZ_CHECK(decode_frame(req, Direction::Backend, kMaxWireLength, f, err) == Decode::Ok);
        ServerLogin::Step s = login.on_auth_request(f.body);
        ok = s.ok;
        done = s.done;
        if (!ok || done) break;
        auto answers = password_messages(s.out);
        FUZZ_CHECK(answers.size() == 1 || (answers.empty() && load_be32(f.body.data()) == 12));
        req.clear();
        std::string error;
        switch (load_be32(f.body.data())) {
            case 3:
                ok = answers[0] == std::string(kPassword) + '\0';
                build_auth(req, ok ? 0 : 1);
                break;
            case 5:
                ok = md5_check_response(fx.md5_secret, kUser, bytes(salt_text).first<4>(),
                                        std::string_view(answers[0]).substr(0, answers[0].size() - 1));
                build_auth(req, ok ? 0 : 1);
                break;
            case 10: {
                ByteReader rd(bytes(answers[0]).data(), answers[0].size());
                FUZZ_CHECK(rd.cstring() == kScramMechanism);
                std::uint32_t len = rd.u32();
                FUZZ_CHECK(!rd.failed() && len == rd.remaining());
                auto reply = server.client_first(std::string_view(answers[0]).substr(answers[0].size() - len), error);
                FUZZ_CHECK(reply.has_value());
                build_auth(req, 11, *reply);
                break;
            }
            case 11: {
                auto reply = server.client_final(answers[0], error);
                ok = reply.has_value();
                if (ok) build_auth(req, 12, *reply);
                break;
            }
            case 12:
                build_auth(req, 0);
                break;
        }
    }
    FUZZ_CHECK((ok && done) == expect);
}

// The MD5 helpers, base64 and the SCRAM secret format on arbitrary text.
void helpers(const Parts& p) {
    std::string_view a = part(p, 0);
    std::string_view b = part(p, 1);

    std::string hex = md5_hex(a);
    FUZZ_CHECK(hex.size() == 32 && std::all_of(hex.begin(), hex.end(), [](char c) {
                   return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
               }));
    std::string secret = md5_password_secret(a, b);
    FUZZ_CHECK(is_md5_secret(secret) && secret == "md5" + md5_hex(std::string(a) + std::string(b)));
    FUZZ_CHECK(auth::secret_kind(secret) == auth::SecretKind::Md5);
    std::uint8_t salt[4] = {};
    std::copy_n(b.begin(), std::min<std::size_t>(4, b.size()), salt);
    std::string response = md5_salted_response(secret, salt);
    FUZZ_CHECK(is_md5_secret(response));
    FUZZ_CHECK(md5_check_response(secret, b, salt, response));
    // `a` as the stored secret: a password checks like its MD5 secret, an MD5 secret only as itself.
    const bool a_matches = !a.empty() && (!is_md5_secret(a) || a == secret);
    FUZZ_CHECK(md5_check_response(a, b, salt, response) == a_matches);
    std::string altered = response;
    altered.back() = altered.back() == '0' ? '1' : '0';
    FUZZ_CHECK(!md5_check_response(secret, b, salt, altered));
    FUZZ_CHECK(!md5_check_response("", b, salt, response));
    FUZZ_CHECK(md5_salted_response(a, salt).empty() == !is_md5_secret(a));

    // One spelling per value.
    std::string enc = base64_encode(bytes(a));
    auto dec = base64_decode(enc);
    FUZZ_CHECK(dec && std::ranges::equal(*dec, bytes(a)));
    if (auto d = base64_decode(a)) FUZZ_CHECK(base64_encode(*d) == a);

    if (auto s = parse_scram_secret(a)) {
        FUZZ_CHECK(format_scram_secret(*s) == a);
        FUZZ_CHECK(auth::secret_kind(a) == auth::SecretKind::Scram);
        FUZZ_CHECK(s->iterations >= 1 && !s->salt.empty());
    } else {
        FUZZ_CHECK(auth::secret_kind(a) != auth::SecretKind::Scram);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Cursor c(text(Span(data, size)));
    const unsigned scenario = c.byte();
    const unsigned options = c.byte();
    const Parts parts = fuzz::split_parts(c.rest());
    switch (scenario % 9) {
        case 0: scram_server(parts); break;
        case 1: scram_round_trip(parts, options); break;
        case 2: scram_client(parts, false); break;
        case 3: scram_client(parts, true); break;
        case 4: client_auth(parts, options); break;
        case 5: client_auth_honest(parts, options); break;
        case 6: server_login(parts, options); break;
        case 7: server_login_honest(parts, options); break;
        case 8: helpers(parts); break;
    }
    return 0;
}
