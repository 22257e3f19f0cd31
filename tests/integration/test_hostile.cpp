// Attacker-style input: lengths that lie in the startup packet and after
// login, truncated packets, abuse of the SCRAM exchange, probing which users
// exist, a misbehaving server behind pggate, and slowloris floods of
// connections that never log in (max_login_clients). Checked against
// PostgreSQL itself with PGGATE_DIRECT=1 wherever it applies.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "auth_support.hpp"
#include "core/base64.hpp"
#include "harness.hpp"
#include "protocol/scram.hpp"

using namespace pggate::test;

namespace {

constexpr std::size_t npos = std::string::npos;

// The processes pggate had when a test began: hostile input must crash or
// restart none of them.
class Survivors {
public:
    explicit Survivors(const Pggate& gate, std::size_t workers = 2) : gate_(gate) {
        if (direct_mode()) return;
        REQUIRE(eventually([&] { return gate.worker_pids().size() == workers; }, 5));
        workers_ = gate.worker_pids();
    }
    void check() const {
        if (direct_mode()) return;
        CHECK(process_alive(gate_.master_pid()));
        CHECK(gate_.worker_pids() == workers_);
    }

private:
    const Pggate& gate_;
    std::vector<pid_t> workers_;
};

// How a connection ended: the ErrorResponse it got, if any, and whether the
// peer closed it afterwards.
struct Ending {
    std::optional<std::map<char, std::string>> error;
    bool closed = false;
};

Ending ending_of(RawClient& raw, double timeout_s = 5) {
    Ending e;
    e.error = raw.read_error(timeout_s);
    e.closed = raw.wait_eof(timeout_s);
    return e;
}

// pggate always says why before it closes. PostgreSQL only logs some
// refusals (COMMERROR) and closes without a word: `pg_says` tells which,
// and in direct mode no ErrorResponse is then expected.
void check_refused(const Ending& e, const std::string& sqlstate, const std::string& message, bool pg_says = true) {
    CHECK_MESSAGE(e.closed, "the connection was not closed");
    if (direct_mode() && !pg_says) {
        CHECK_MESSAGE(!e.error.has_value(), "PostgreSQL said " << (*e.error).at('C') << ": " << (*e.error).at('M'));
        return;
    }
    REQUIRE_MESSAGE(e.error.has_value(), "no ErrorResponse before the close");
    std::map<char, std::string> f = *e.error;
    CHECK_MESSAGE(f['C'] == sqlstate, f['C'] << ": " << f['M']);
    CHECK(f['S'] == "FATAL");
    CHECK_MESSAGE(f['M'].find(message) != npos, "message: " << f['M']);
}

std::string with_length(char type, std::uint32_t length, std::string_view body = {}) {
    return std::string(1, type) + wire::be32(length) + std::string(body);
}

std::string startup_params() {
    return wire::cstr("user") + wire::cstr("postgres") + wire::cstr("database") + wire::cstr("postgres") + wire::cstr("");
}


// ---- SCRAM by hand -----------------------------------------------------------

std::string sasl_initial(std::string_view mechanism, std::string_view data) {
    return wire::message('p', wire::cstr(mechanism) + wire::be32(static_cast<std::uint32_t>(data.size())) +
                                  std::string(data));
}

// The StartupMessage, and the AuthenticationSASL offer it gets (REQUIREd).
void start_scram(RawClient& raw, const std::string& user) {
    REQUIRE(raw.send(wire::startup_message({{"user", user}, {"database", "postgres"}})));
    auto m = raw.read_message(5);
    REQUIRE_MESSAGE(m.has_value(), "no answer to the StartupMessage");
    REQUIRE_MESSAGE(m->type == 'R', "got message type " << m->type);
    REQUIRE(wire::read_be32(m->body, 0) == 10);
    CHECK(m->body.substr(4) == wire::cstr("SCRAM-SHA-256") + wire::cstr(""));
}

std::map<char, std::string> scram_attributes(std::string_view msg) {
    std::map<char, std::string> out;
    std::size_t pos = 0;
    while (pos < msg.size()) {
        std::size_t comma = msg.find(',', pos);
        std::string_view part = msg.substr(pos, comma == npos ? npos : comma - pos);
        if (part.size() >= 2 && part[1] == '=') out[part[0]] = std::string(part.substr(2));
        if (comma == npos) break;
        pos = comma + 1;
    }
    return out;
}

// Starts SCRAM as `user` up to the server-first-message (REQUIREd): its r, s, i.
std::map<char, std::string> scram_server_first(RawClient& raw, const std::string& user, const std::string& nonce) {
    start_scram(raw, user);
    REQUIRE(raw.send(sasl_initial("SCRAM-SHA-256", "n,,n=,r=" + nonce)));
    auto m = raw.read_message(5);
    REQUIRE_MESSAGE(m.has_value(), "no answer to the SASLInitialResponse");
    if (m->type == 'E') FAIL("SASLInitialResponse refused: " << wire::error_fields(m->body)['M']);
    REQUIRE(m->type == 'R');
    REQUIRE(wire::read_be32(m->body, 0) == 11);
    return scram_attributes(m->body.substr(4));
}

// A client-final-message with a proof made of zeros: wrong for any password.
std::string wrong_proof_final(const std::string& server_nonce) {
    const std::vector<std::uint8_t> zeros(32, 0);
    return "c=biws,r=" + server_nonce + ",p=" + pggate::base64_encode(zeros);
}

// A whole SCRAM login as `user`, read through ReadyForQuery (REQUIREd).
void scram_login(RawClient& raw, const std::string& user, const std::string& password) {
    pggate::protocol::ScramClient scram(password);
    start_scram(raw, user);
    REQUIRE(raw.send(sasl_initial("SCRAM-SHA-256", scram.client_first())));
    auto m = raw.read_message(5);
    REQUIRE(m.has_value());
    REQUIRE(m->type == 'R');
    std::string error;
    auto final_message = scram.server_first(m->body.substr(4), error);
    REQUIRE_MESSAGE(final_message.has_value(), error);
    REQUIRE(raw.send(wire::message('p', *final_message)));
    for (;;) {
        m = raw.read_message(5);
        REQUIRE_MESSAGE(m.has_value(), "login: connection closed or silent before ReadyForQuery");
        if (m->type == 'E') FAIL("login refused: " << wire::error_fields(m->body)['M']);
        if (m->type == 'R' && wire::read_be32(m->body, 0) == 12) CHECK(scram.server_final(m->body.substr(4), error));
        if (m->type == 'Z') break;
    }
    CHECK(scram.succeeded());
}

// ---- a misbehaving server -----------------------------------------------------

// Blocking socket I/O with a deadline, for the fake server's thread.
bool fake_read(int fd, std::string& out, std::size_t n, double timeout_s = 5) {
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    out.clear();
    while (out.size() < n) {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        pollfd p{fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) return false;
        char buf[65536];
        ssize_t got = recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
        if (got <= 0) return false;
        out.append(buf, static_cast<std::size_t>(got));
    }
    return true;
}

bool fake_write(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads the StartupMessage (or anything framed like one), after an
// SSLRequest answered 'N' as a server without TLS does; false on EOF or silence.
bool fake_read_startup(int fd) {
    for (;;) {
        std::string len;
        std::string rest;
        if (!fake_read(fd, len, 4) || !fake_read(fd, rest, wire::read_be32(len, 0) - 4)) return false;
        if (rest.size() != 4 || wire::read_be32(rest, 0) != wire::kSslRequestCode) return true;
        if (!fake_write(fd, "N")) return false;
    }
}

// Reads one typed message from pggate: its type and body.
std::optional<BackendMessage> fake_read_message(int fd, double timeout_s = 5) {
    std::string header;
    std::string body;
    if (!fake_read(fd, header, 5, timeout_s)) return std::nullopt;
    std::uint32_t len = wire::read_be32(header, 1);
    if (len < 4 || len > (1u << 20) || !fake_read(fd, body, len - 4, timeout_s)) return std::nullopt;
    return BackendMessage{header[0], body};
}

std::string auth_request(std::uint32_t code, std::string_view data = {}) {
    return wire::message('R', wire::be32(code) + std::string(data));
}

// What a real server sends after authentication, up to ReadyForQuery.
std::string fake_welcome() {
    return auth_request(0) + wire::message('S', wire::cstr("server_version") + wire::cstr("15.0")) +
           wire::message('S', wire::cstr("client_encoding") + wire::cstr("UTF8")) +
           wire::message('S', wire::cstr("integer_datetimes") + wire::cstr("on")) +
           wire::message('K', wire::be32(4242) + wire::be32(77)) + wire::message('Z', "I");
}

// Waits until pggate (the peer) closes; what it sent meanwhile is dropped.
void fake_wait_close(int fd, double timeout_s = 5) {
    std::string ignored;
    while (fake_read(fd, ignored, 1, timeout_s)) {
    }
}

// A PostgreSQL server that misbehaves on purpose: a thread accepting on
// 127.0.0.1 that runs the current script on each connection, on a thread of
// its own, then closes it. No doctest assertions run on these threads.
class FakeServer {
public:
    using Script = std::function<void(int fd)>;

    FakeServer() {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE_MESSAGE(listen_fd_ >= 0, "socket() failed: " << std::strerror(errno));
        int on = 1;
        setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        port_ = free_port();
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        REQUIRE_MESSAGE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                        "bind() failed: " << std::strerror(errno));
        REQUIRE(listen(listen_fd_, 64) == 0);
        acceptor_ = std::thread([this] { run(); });
    }
    ~FakeServer() {
        stop_ = true;
        acceptor_.join();
        for (auto& t : sessions_) t.join();
        close(listen_fd_);
    }
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    int port() const { return port_; }
    int connections() const { return accepted_.load(); }
    void set_script(Script script) {
        std::lock_guard lock(mutex_);
        script_ = std::move(script);
    }

private:
    void run() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            ++accepted_;
            Script script;
            {
                std::lock_guard lock(mutex_);
                script = script_;
            }
            sessions_.emplace_back([fd, script] {
                if (script) script(fd);
                close(fd);
            });
        }
    }

    int listen_fd_ = -1;
    int port_ = 0;
    std::mutex mutex_;
    Script script_;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::vector<std::thread> sessions_;  // only the acceptor thread touches it until the join
    std::thread acceptor_;               // last: starts once the members it uses exist
};

// The client-first-message pggate sent (a SASLInitialResponse), or "".
std::string client_first_of(const BackendMessage& m) {
    if (m.type != 'p') return {};
    std::size_t nul = m.body.find('\0');
    if (nul == npos || m.body.size() < nul + 5) return {};
    return m.body.substr(nul + 5);
}

// Offers SCRAM and reads pggate's client-first-message: the nonce in it, or "".
std::string fake_scram_start(int fd) {
    if (!fake_read_startup(fd) || !fake_write(fd, auth_request(10, wire::cstr("SCRAM-SHA-256") + wire::cstr(""))))
        return {};
    auto first = fake_read_message(fd);
    if (!first) return {};
    return scram_attributes(client_first_of(*first).substr(3))['r'];
}

std::string fake_salt() {
    const std::vector<std::uint8_t> salt(16, 7);
    return pggate::base64_encode(salt);
}

}  // namespace

// ---- lengths that lie ------------------------------------------------------------

TEST_CASE("hostile: startup packets with impossible lengths are refused with 08P01 and closed") {
    Pggate gate;
    Survivors survivors(gate);
    PgConn bystander(gate.conninfo());
    struct Case {
        std::string name;
        std::string bytes;
    };
    const std::string version = wire::be32(wire::kProtocol3);
    const std::vector<Case> cases = {
        {"length 0xFFFFFFFF (negative)", wire::be32(0xFFFFFFFFu) + version + startup_params()},
        {"length 0", wire::be32(0) + version},
        {"length 3 (below 4)", wire::be32(3) + version},
        {"length 7 (no room for a version)", wire::be32(7) + "abc"},
        {"length 20000 (over PostgreSQL's 10000)", wire::be32(20000) + version + startup_params()},
        {"length 1 GB + 1", wire::be32(0x40000001u) + version + startup_params()},
        {"length 2^31", wire::be32(0x80000000u) + version + startup_params()},
        {"length 2^32 - 8", wire::be32(0xFFFFFFF8u) + version + startup_params()},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        RawClient raw(gate.port());
        raw.send(c.bytes);  // the peer may close before taking it all
        // PostgreSQL logs "invalid length of startup packet" and closes without a word.
        check_refused(ending_of(raw), "08P01", "invalid length of startup packet", false);
        CHECK(bystander.scalar("select 'still here'") == "still here");
    }
    survivors.check();
}

TEST_CASE("hostile: message lengths that lie after login are refused with 08P01 and closed") {
    struct Case {
        std::string name;
        std::string bytes;
    };
    const std::vector<Case> cases = {
        {"Query length 0xFFFFFFFF", with_length('Q', 0xFFFFFFFFu, "select 1")},
        {"Query length 0", with_length('Q', 0)},
        {"Query length 3 (below 4)", with_length('Q', 3, "select 1")},
        {"Query length 1 GB (over PostgreSQL's 1 GB - 2)", with_length('Q', 0x40000000u, "select 1")},
        {"Query length 2^31", with_length('Q', 0x80000000u, "select 1")},
        {"Sync length 20000 (over PostgreSQL's 10000 for it)", with_length('S', 20000, std::string(100, 'x'))},
        {"Parse length 2^32 - 1", with_length('P', 0xFFFFFFFFu, "x")},
    };
    // Session pooling (the server relays at once) and transaction pooling
    // (pggate reads the client while it has no server).
    for (const bool transaction : {false, true}) {
        CAPTURE(transaction);
        if (transaction && direct_mode()) break;
        Pggate gate(transaction ? std::vector<std::string>{"pool_mode = transaction", "auth_type = trust", "default_pool_size = 2"}
                                : std::vector<std::string>{});
        Survivors survivors(gate);
        PgConn bystander(gate.conninfo());
        for (const auto& c : cases) {
            CAPTURE(c.name);
            RawClient raw(gate.port());
            raw.login();
            raw.send(c.bytes);
            // PostgreSQL logs "invalid message length" and closes without a word.
            check_refused(ending_of(raw), "08P01", "invalid message length", false);
            CHECK(bystander.scalar("select 'still here'") == "still here");
        }
        survivors.check();
    }
}

TEST_CASE("hostile: a message over a small max_packet_size is refused in login and after it; one under it works") {
    PGGATE_ONLY();
    TrustGuard guard;
    std::string secret = create_role(guard, "hostile_mps", "pw_mps", "scram-sha-256");
    AuthFile file;
    file.write({{"hostile_mps", secret}});
    Pggate gate(std::vector<std::string>{"max_packet_size = 4096", "auth_type = scram-sha-256", "auth_file = " + file.path()});
    Survivors survivors(gate);
    {
        RawClient raw(gate.port());
        start_scram(raw, "hostile_mps");
        raw.send(with_length('p', 5000, std::string(100, 'x')));
        check_refused(ending_of(raw), "08P01", "max_packet_size");
    }
    PgConn client(gate.conninfo("user=hostile_mps password=pw_mps"));
    std::string padding(3900, ' ');
    CHECK(client.scalar("select 'fits'" + padding) == "fits");
    PgResult too_long = client.exec("select 'too long'" + std::string(5000, ' '));
    CHECK(too_long.sqlstate() == "08P01");
    CHECK_MESSAGE(too_long.error().find("max_packet_size") != npos, too_long.describe());
    CHECK(PQstatus(client.get()) == CONNECTION_BAD);
    survivors.check();
}

TEST_CASE("hostile: 50 packets declaring 1 GB leave pggate's memory as it was") {
    PGGATE_ONLY();
    TrustGuard guard;
    std::string secret = create_role(guard, "hostile_big", "pw_big", "scram-sha-256");
    AuthFile file;
    file.write({{"hostile_big", secret}});
    Pggate gate(std::vector<std::string>{"auth_type = scram-sha-256", "auth_file = " + file.path()});
    Survivors survivors(gate);
    PgConn bystander(gate.conninfo("user=hostile_big password=pw_big"));
    CHECK(bystander.scalar("select 1") == "1");
    const long before_kb = gate.total_rss_kb();

    // Each declares about 1 GB in one phase and sends 64 kB of it: refused
    // on the header, as PostgreSQL refuses it (a SASL message over its
    // limit fails the authentication there).
    const std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 50; ++i) {
        CAPTURE(i);
        RawClient startup(gate.port());
        startup.send(wire::be32(0x40000000u) + wire::be32(wire::kProtocol3) + chunk);
        check_refused(ending_of(startup), "08P01", "invalid length of startup packet");

        RawClient sasl(gate.port());
        start_scram(sasl, "hostile_big");
        sasl.send(with_length('p', 0x3ffffff0u, chunk));
        check_refused(ending_of(sasl), "28P01", "password authentication failed for user \"hostile_big\"");

        RawClient query(gate.port());
        scram_login(query, "hostile_big", "pw_big");
        query.send(with_length('Q', 0x40000000u, chunk));
        check_refused(ending_of(query), "08P01", "invalid message length");
    }
    // An unauthenticated client streaming a password message of almost 1 GB
    // is cut off long before pggate holds much of it.
    std::vector<std::unique_ptr<RawClient>> streams;
    const std::string eight_mb(8 << 20, 'y');
    for (int i = 0; i < 10; ++i) {
        streams.push_back(std::make_unique<RawClient>(gate.port()));
        start_scram(*streams.back(), "hostile_big");
        streams.back()->send(with_length('p', 0x3ff00000u, eight_mb));
    }
    const long after_kb = gate.total_rss_kb();
    for (auto& s : streams) CHECK(s->wait_eof(5));
    MESSAGE("pggate RSS before " << before_kb << " kB, after 150 packets declaring 1 GB and 80 MB streamed: " << after_kb
                                 << " kB");
    if (!gate.sanitized()) CHECK(after_kb - before_kb < 40 * 1024);
    CHECK(bystander.scalar("select 'unharmed'") == "unharmed");
    survivors.check();
}

// ---- truncated packets -----------------------------------------------------------

TEST_CASE("hostile: half a packet and then a close costs nothing, in login and after it") {
    // A small max_login_clients would run out if a half-read client kept its place.
    Pggate gate({"max_login_clients = 4", "pool_mode = transaction", "auth_type = trust", "default_pool_size = 1"});
    Survivors survivors(gate);
    const std::string startup = wire::startup_message({{"user", "postgres"}, {"database", "postgres"}});
    for (int i = 0; i < 20; ++i) {
        RawClient raw(gate.port());
        raw.send(startup.substr(0, startup.size() / 2));
    }
    // Once pggate has seen them go, their places are free again.
    auto logs_in = [&] {
        std::optional<PgConn> c;
        bool in = eventually([&] {
            c.emplace(PgConn::attempt(gate.conninfo(), 5));
            return c->ok();
        }, 5, 0.05);
        CHECK_MESSAGE(in, c->error_message());
        return std::move(*c);
    };
    logs_in();
    // After login: half a Query, then gone. With one server in the pool, the
    // next client gets that very server: it must not have half a Query in it.
    for (int i = 0; i < 5; ++i) {
        RawClient raw(gate.port());
        raw.login();
        const std::string q = wire::message('Q', wire::cstr("select 'never run'"));
        raw.send(q.substr(0, q.size() / 2));
    }
    for (int i = 0; i < 5; ++i) {
        RawClient raw(gate.port());
        raw.login();
        raw.send(with_length('Q', 100000, "select "));  // declared long, hardly sent
    }
    PgConn next = logs_in();
    REQUIRE(next.ok());
    CHECK(next.scalar("select 'clean server'") == "clean server");
    CHECK(next.scalar("select count(*) from pg_stat_activity where query like '%never run%' and pid <> pg_backend_pid()") ==
          "0");
    survivors.check();
}

TEST_CASE("hostile: half a packet and then silence is closed by client_login_timeout") {
    PGGATE_ONLY();
    TrustGuard guard;
    std::string secret = create_role(guard, "hostile_slow", "pw_slow", "scram-sha-256");
    AuthFile file;
    file.write({{"hostile_slow", secret}});
    Pggate gate(std::vector<std::string>{"client_login_timeout = 1", "auth_type = scram-sha-256", "auth_file = " + file.path()});
    Survivors survivors(gate);
    PgConn bystander(gate.conninfo("user=hostile_slow password=pw_slow"));
    const auto start = Clock::now();
    const std::string startup = wire::startup_message({{"user", "hostile_slow"}, {"database", "postgres"}});
    RawClient half_startup(gate.port());
    half_startup.send(startup.substr(0, 9));
    RawClient one_byte(gate.port());
    one_byte.send(std::string(1, '\0'));
    RawClient half_sasl(gate.port());
    start_scram(half_sasl, "hostile_slow");
    const std::string initial = sasl_initial("SCRAM-SHA-256", "n,,n=,r=slowloris");
    half_sasl.send(initial.substr(0, initial.size() / 2));
    for (RawClient* raw : {&half_startup, &one_byte, &half_sasl}) {
        check_refused(ending_of(*raw, 4), "08P01", "client_login_timeout");
    }
    const double took = seconds_since(start);
    MESSAGE("closed " << took << " s after connecting (client_login_timeout = 1, checked twice a second)");
    CHECK(took >= 0.9);
    CHECK(took < 3.5);
    CHECK(bystander.scalar("select 'logged in long ago'") == "logged in long ago");
    survivors.check();
}

// ---- abusing the SCRAM exchange ---------------------------------------------------

TEST_CASE("hostile: SCRAM out of order, unknown mechanisms and oversized messages get 08P01 or 28P01 and a close") {
    TrustGuard guard;
    const std::string user = "hostile_scram";
    std::string secret = create_role(guard, user, "pw_scram", "scram-sha-256");
    AuthFile file;
    file.write({{user, secret}});
    cluster().set_hba("scram-sha-256");
    cluster().wait_replicas_caught_up();
    Pggate gate(std::vector<std::string>{"auth_type = scram-sha-256", "auth_file = " + file.path()});
    Survivors survivors(gate);
    PgConn bystander(gate.conninfo("user=hostile_scram password=pw_scram"));

    struct Case {
        std::string name;
        std::function<void(RawClient&)> send;
        const char* sqlstate;
        std::string message;  // a part of it; PostgreSQL's and pggate's wording differ
    };
    const std::string startup = wire::startup_message({{"user", "postgres"}, {"database", "postgres"}});
    const std::vector<Case> cases = {
        {"a second StartupMessage instead of the SASLInitialResponse",
         [&](RawClient& raw) {
             start_scram(raw, user);
             raw.send(startup);
         },
         "08P01", ""},
        {"a second StartupMessage instead of the client-final-message",
         [&](RawClient& raw) {
             scram_server_first(raw, user, "second-startup");
             raw.send(startup);
         },
         "08P01", ""},
        {"a SASLResponse before the SASLInitialResponse",
         [&](RawClient& raw) {
             start_scram(raw, user);
             raw.send(wire::message('p', wrong_proof_final("abcdefabcdef")));
         },
         "08P01", ""},
        {"a SASLInitialResponse naming an unknown mechanism",
         [&](RawClient& raw) {
             start_scram(raw, user);
             raw.send(sasl_initial("SCRAM-SHA-1", "n,,n=,r=abcdef"));
         },
         "08P01", "mechanism"},
        {"a malformed client-first-message",
         [&](RawClient& raw) {
             start_scram(raw, user);
             raw.send(sasl_initial("SCRAM-SHA-256", "garbage"));
         },
         "08P01", ""},
        {"a client-first-message with a 100 kB nonce",
         [&](RawClient& raw) {
             start_scram(raw, user);
             raw.send(sasl_initial("SCRAM-SHA-256", "n,,n=,r=" + std::string(100 * 1024, 'n')));
         },
         "28P01", "password authentication failed for user \"hostile_scram\""},
        {"a malformed client-final-message",
         [&](RawClient& raw) {
             auto first = scram_server_first(raw, user, "malformed-final");
             raw.send(wire::message('p', "c=biws,r=" + first['r'] + ",p=not*base64"));
         },
         "08P01", ""},
        {"a client-final-message with another nonce",
         [&](RawClient& raw) {
             scram_server_first(raw, user, "nonce-one");
             raw.send(wire::message('p', wrong_proof_final("nonce-two-and-more")));
         },
         "08P01", ""},
        {"a wrong proof",
         [&](RawClient& raw) {
             auto first = scram_server_first(raw, user, "wrong-proof");
             raw.send(wire::message('p', wrong_proof_final(first['r'])));
         },
         "28P01", "password authentication failed for user \"hostile_scram\""},
        {"a wrong proof and a third SASL message after it",
         [&](RawClient& raw) {
             auto first = scram_server_first(raw, user, "third-message");
             raw.send(wire::message('p', wrong_proof_final(first['r'])) + wire::message('p', wrong_proof_final(first['r'])));
         },
         "28P01", "password authentication failed"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        RawClient raw(gate.port());
        c.send(raw);
        check_refused(ending_of(raw), c.sqlstate, c.message);
    }
    CHECK(bystander.scalar("select current_user") == user);
    survivors.check();
}

TEST_CASE("hostile: a PasswordMessage nobody asked for is a protocol violation") {
    for (const bool transaction : {false, true}) {
        CAPTURE(transaction);
        if (transaction && direct_mode()) break;
        Pggate gate(transaction ? std::vector<std::string>{"pool_mode = transaction", "auth_type = trust"} : std::vector<std::string>{});
        Survivors survivors(gate);
        PgConn bystander(gate.conninfo());
        {
            RawClient raw(gate.port());  // trust: no password is ever asked for
            raw.login();
            raw.send(wire::message('p', wire::cstr("secret")));
            check_refused(ending_of(raw), "08P01", "");
        }
        {
            RawClient raw(gate.port());
            raw.send(wire::message('p', wire::cstr("secret")));
            // 'p' and a length read as a startup packet of 0x70000000 bytes.
            check_refused(ending_of(raw), "08P01", "invalid length of startup packet", false);
        }
        CHECK(bystander.scalar("select 'fine'") == "fine");
        survivors.check();
    }
}

// ---- what a login failure tells ------------------------------------------------------

TEST_CASE("hostile: errors before authentication never tell whether a user exists") {
    TrustGuard guard;
    std::string secret = create_role(guard, "hostile_known", "pw_known", "scram-sha-256");
    create_role(guard, "hostile_plain", "pw_plain", "scram-sha-256");
    AuthFile file;
    file.write({{"hostile_known", secret}, {"hostile_plain", "pw_plain"}});
    cluster().set_hba("scram-sha-256");
    cluster().wait_replicas_caught_up();
    Pggate gate(std::vector<std::string>{"auth_type = scram-sha-256", "auth_file = " + file.path()});
    Survivors survivors(gate);

    // libpq's view: a wrong password and an unknown user read the same.
    const std::vector<std::string> users = {"hostile_known", "hostile_plain", "hostile_nobody"};
    std::vector<std::string> shapes;
    for (const auto& user : users) {
        CAPTURE(user);
        PgConn c = PgConn::attempt(gate.conninfo("user=" + user + " password=pw_wrong"));
        CHECK_FALSE(c.ok());
        CHECK_MESSAGE(c.error_sqlstate() == "28P01", c.error_message());
        shapes.push_back(fatal_shape(c.error_message(), user));
        CHECK_MESSAGE(shapes.back().find("password authentication failed for user \"<user>\"") != npos, shapes.back());
    }
    CHECK(shapes[1] == shapes[0]);
    CHECK(shapes[2] == shapes[0]);

    // The exchange itself: the same salt length and iterations, a salt that
    // stays the same from one attempt to the next, the same final refusal.
    for (const auto& user : users) {
        CAPTURE(user);
        std::string salt;
        for (int attempt = 0; attempt < 2; ++attempt) {
            CAPTURE(attempt);
            RawClient raw(gate.port());
            const std::string nonce = "probe" + std::to_string(attempt) + "abcdefghijkl";
            auto first = scram_server_first(raw, user, nonce);
            CHECK(first['r'].rfind(nonce, 0) == 0);
            CHECK(first['r'].size() > nonce.size() + 16);
            CHECK(first['i'] == "4096");
            auto salt_bytes = pggate::base64_decode(first['s']);
            REQUIRE(salt_bytes.has_value());
            CHECK(salt_bytes->size() == 16);
            if (attempt == 0) salt = first['s'];
            CHECK_MESSAGE(first['s'] == salt, "the salt changed between attempts");
            raw.send(wire::message('p', wrong_proof_final(first['r'])));
            auto e = ending_of(raw);
            REQUIRE(e.error.has_value());
            CHECK((*e.error)['C'] == "28P01");
            CHECK((*e.error)['M'] == "password authentication failed for user \"" + user + "\"");
            CHECK(e.closed);
        }
    }
    check_login_works(gate, "hostile_known", "pw_known");
    check_login_works(gate, "hostile_plain", "pw_plain");
    survivors.check();
}

// ---- a misbehaving server ------------------------------------------------------------

TEST_CASE("hostile: a misbehaving server gets pggate's client a clean error, and pggate stays up") {
    PGGATE_ONLY();
    FakeServer fake;
    AuthFile file;
    file.write({{"fake_user", "fake_pw"}});
    PggateOptions options;
    options.settings = {"auth_type = plain", "auth_file = " + file.path(), "server_connect_retries = 0",
                        "server_login_retry = 0", "server_connect_timeout = 3", "query_timeout = 10"};
    options.nodes = {"fake = host=127.0.0.1 port=" + std::to_string(fake.port()) + " role=primary"};
    options.wait_ready = false;
    Pggate gate(options);
    Survivors survivors(gate);
    const std::string conninfo = gate.conninfo("user=fake_user password=fake_pw");
    const std::string row_description = wire::message(
        'T', wire::be16(1) + wire::cstr("x") + wire::be32(0) + wire::be16(0) + wire::be32(23) + wire::be16(4) +
                 wire::be32(0xFFFFFFFFu) + wire::be16(0));

    struct Case {
        std::string name;
        FakeServer::Script script;
        const char* sqlstate;  // nullptr: the client can only be closed
        std::string message;   // a part of it
    };
    const std::vector<Case> cases = {
        {"an ErrorResponse without a SQLSTATE",
         [](int fd) {
             if (fake_read_startup(fd))
                 fake_write(fd, wire::message('E', wire::cstr("SFATAL") + wire::cstr("Mno code in this error") + wire::cstr("")));
         },
         "08006", "no code in this error"},
        {"an ErrorResponse with no fields at all",
         [](int fd) {
             if (fake_read_startup(fd)) fake_write(fd, wire::message('E', std::string(1, '\0')));
         },
         "08006", "pggate could not log in to the server"},
        {"an ErrorResponse with a malformed SQLSTATE",
         [](int fd) {
             if (fake_read_startup(fd))
                 fake_write(fd, wire::message('E', wire::cstr("SFATAL") + wire::cstr("C0") + wire::cstr("Mshort code") +
                                                       wire::cstr("")));
         },
         "08006", "short code"},
        // libpq's framing refuses a message of 100 kB that may not be long;
        // pggate's SCRAM client one over 16 kB.
        {"a server-first-message with a 100 kB nonce",
         [](int fd) {
             std::string nonce = fake_scram_start(fd);
             if (nonce.empty()) return;
             fake_write(fd, auth_request(11, "r=" + nonce + std::string(100 * 1024, 'z') + ",s=" + fake_salt() + ",i=4096"));
             fake_wait_close(fd);
         },
         "08006", "pggate could not connect to server fake"},
        {"a server-first-message with a 20 kB nonce",
         [](int fd) {
             std::string nonce = fake_scram_start(fd);
             if (nonce.empty()) return;
             fake_write(fd, auth_request(11, "r=" + nonce + std::string(20 * 1024, 'z') + ",s=" + fake_salt() + ",i=4096"));
             fake_wait_close(fd);
         },
         "28000", "SCRAM server-first-message too long"},
        {"AuthenticationOk without the SCRAM server signature",
         [](int fd) {
             std::string nonce = fake_scram_start(fd);
             if (nonce.empty()) return;
             fake_write(fd, auth_request(11, "r=" + nonce + "fakeserver,s=" + fake_salt() + ",i=4096"));
             if (!fake_read_message(fd)) return;  // the client-final-message
             fake_write(fd, fake_welcome());
             fake_wait_close(fd);
         },
         "28000", "pggate could not log in to the server"},
        {"a wrong SCRAM server signature",
         [](int fd) {
             std::string nonce = fake_scram_start(fd);
             if (nonce.empty()) return;
             fake_write(fd, auth_request(11, "r=" + nonce + "fakeserver,s=" + fake_salt() + ",i=4096"));
             if (!fake_read_message(fd)) return;
             const std::vector<std::uint8_t> zeros(32, 0);
             fake_write(fd, auth_request(12, "v=" + pggate::base64_encode(zeros)) + fake_welcome());
             fake_wait_close(fd);
         },
         "28000", "pggate could not log in to the server"},
        {"a huge length during the login",
         [](int fd) {
             if (!fake_read_startup(fd)) return;
             fake_write(fd, with_length('R', 0x7ffffff0u, wire::be32(0) + "abcd"));
             fake_wait_close(fd);
         },
         "08006", "pggate could not connect to server fake"},
        {"a close in the middle of the login",
         [](int fd) {
             if (fake_read_startup(fd)) fake_write(fd, auth_request(0).substr(0, 6));
         },
         "08006", "pggate could not connect to server fake"},
        {"a negative length in the answer to a query",
         [](int fd) {
             if (!fake_read_startup(fd) || !fake_write(fd, fake_welcome()) || !fake_read_message(fd)) return;
             fake_write(fd, with_length('D', 0xFFFFFFF0u, "abcd"));
             fake_wait_close(fd);
         },
         "08P01", "protocol error from server"},
        {"a ReadyForQuery declaring 1 GB in the answer to a query",
         [](int fd) {
             if (!fake_read_startup(fd) || !fake_write(fd, fake_welcome()) || !fake_read_message(fd)) return;
             fake_write(fd, with_length('Z', 0x40000000u, "I"));
             fake_wait_close(fd);
         },
         "08P01", "protocol error from server"},
        {"a close between two messages of an answer",
         [&](int fd) {
             if (!fake_read_startup(fd) || !fake_write(fd, fake_welcome()) || !fake_read_message(fd)) return;
             fake_write(fd, row_description);
         },
         "08006", "server connection lost"},
        {"a close in the middle of a DataRow",
         [&](int fd) {
             if (!fake_read_startup(fd) || !fake_write(fd, fake_welcome()) || !fake_read_message(fd)) return;
             const std::string row = wire::message('D', wire::be16(1) + wire::be32(1) + "1");
             fake_write(fd, row_description + row.substr(0, 7));
         },
         nullptr, ""},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        fake.set_script(c.script);
        // Once a server of the pool has welcomed a client, later clients are
        // welcomed at once and meet the server with their first query.
        PgConn client = PgConn::attempt(conninfo, 8);
        if (!client.ok()) {
            REQUIRE(c.sqlstate != nullptr);
            CHECK_MESSAGE(client.error_sqlstate() == c.sqlstate, client.error_message());
            CHECK_MESSAGE(client.error_message().find(c.message) != npos, client.error_message());
        } else {
            PgResult r = client.exec("select 1", 10);
            CHECK_FALSE(r.ok());
            // An error cannot go in the middle of a message: such a client is only closed.
            if (c.sqlstate != nullptr) {
                CHECK_MESSAGE(r.sqlstate() == c.sqlstate, r.describe());
                CHECK_MESSAGE(r.error().find(c.message) != npos, r.describe());
            }
            CHECK(PQstatus(client.get()) == CONNECTION_BAD);
        }
        // The worker still serves: the admin console answers over the Unix socket.
        PgConn console(gate.unix_conninfo("dbname=pggate"));
        CHECK(console.exec("SHOW VERSION").ok());
        survivors.check();
    }
    CHECK(fake.connections() >= static_cast<int>(cases.size()));
}

// ---- slowloris -------------------------------------------------------------------------

TEST_CASE("hostile: 1000 connections that never log in slow no one down and are closed by client_login_timeout") {
    PGGATE_ONLY();
    constexpr int kIdle = 1000;
    raise_nofile(4096);
    Pggate gate({"client_login_timeout = 3", "max_client_conn = 100", "max_login_clients = 1200",
                 "listen_backlog = 2048", "pool_mode = transaction", "auth_type = trust"});
    Survivors survivors(gate);
    // Each worker's socket keeps listen_backlog, or a burst of connections
    // overflows it and waits a second for the SYN to be sent again.
    std::string listening;
    if (run_shell("ss -Hltn 'sport = :" + std::to_string(gate.port()) + "'", listening) == 0) {
        CHECK_MESSAGE(count_matches(listening, "LISTEN +0 +2048 ") == 2, listening);
    }
    PgConn normal(gate.conninfo());
    auto latencies = [&](int n) {
        std::vector<double> ms;
        for (int i = 0; i < n; ++i) {
            auto t = Clock::now();
            CHECK(normal.scalar("select " + std::to_string(i)) == std::to_string(i));
            ms.push_back(seconds_since(t) * 1000);
        }
        std::sort(ms.begin(), ms.end());
        return ms;
    };
    const std::vector<double> quiet = latencies(50);
    const long before_kb = gate.total_rss_kb();

    std::vector<std::unique_ptr<RawClient>> idle;
    const auto start = Clock::now();
    double slowest_connect = 0;
    for (int i = 0; i < kIdle; ++i) {
        auto t0 = Clock::now();
        idle.push_back(std::make_unique<RawClient>(gate.port()));
        slowest_connect = std::max(slowest_connect, seconds_since(t0));
        if (i % 2 == 1) idle.back()->send(std::string(1, '\0'));  // one byte of a length
    }
    const double connect_s = seconds_since(start);
    // All of them held by the workers (and still within client_login_timeout).
    bool held = eventually([&] {
        int sockets = 0;
        for (pid_t w : gate.worker_pids()) sockets += socket_fd_count(w);
        return sockets >= kIdle;
    }, 1.5, 0.05);
    CHECK_MESSAGE(held, "pggate did not take all " << kIdle << " connections");
    const long flooded_kb = gate.total_rss_kb();
    const std::vector<double> flooded = latencies(50);
    PgConn newcomer(gate.conninfo());
    CHECK(newcomer.scalar("select 'let in'") == "let in");
    const double in_flood_s = seconds_since(start);
    CHECK_MESSAGE(in_flood_s < 3, "the measurements outlasted client_login_timeout (" << in_flood_s << " s)");

    const long grown_kb = flooded_kb - before_kb;
    constexpr long kBoundKb = 64 * 1024;  // 64 kB per connection would be far more than it needs
    MESSAGE(kIdle << " idle connections opened in " << connect_s << " s (the slowest in " << slowest_connect * 1000
                  << " ms); pggate RSS " << before_kb << " kB before, "
                  << flooded_kb << " kB with them (+" << grown_kb << " kB, " << grown_kb * 1024 / kIdle
                  << " bytes each; bound +" << kBoundKb << " kB)");
    MESSAGE("select latency, quiet: median " << quiet[25] << " ms, max " << quiet.back() << " ms; with " << kIdle
                                             << " idle connections: median " << flooded[25] << " ms, max "
                                             << flooded.back() << " ms");
    if (!gate.sanitized()) CHECK(grown_kb < kBoundKb);
    CHECK(flooded.back() < 1000);  // not a limit on speed: a worker stuck on the flood would take seconds

    // client_login_timeout closes every one of them, with a reason.
    int closed = 0;
    int told = 0;
    for (auto& raw : idle) {
        auto e = raw->read_error(std::max(0.1, 6 - seconds_since(start)));
        if (e && (*e)['C'] == "08P01" && (*e)['M'] == "client_login_timeout") ++told;
        if (raw->wait_eof(std::max(0.1, 7 - seconds_since(start)))) ++closed;
    }
    MESSAGE("all closed " << seconds_since(start) << " s after the first connected (client_login_timeout = 3)");
    CHECK(closed == kIdle);
    CHECK(told == kIdle);
    CHECK(normal.scalar("select 'unharmed'") == "unharmed");
    CHECK(newcomer.scalar("select 'unharmed'") == "unharmed");
    survivors.check();
}

TEST_CASE("hostile: max_login_clients refuses connections beyond it with 53300, never logged-in clients") {
    PGGATE_ONLY();
    constexpr int kCap = 20;
    Pggate gate({"max_login_clients = " + std::to_string(kCap), "client_login_timeout = 30"});
    Survivors survivors(gate);
    PgConn logged_in(gate.conninfo());
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    PgResult config = console.exec("SHOW CONFIG");
    REQUIRE(config.ok());
    bool listed = false;
    for (int row = 0; row < config.rows(); ++row)
        if (config.value(row, 0) == "max_login_clients") {
            listed = true;
            CHECK(config.value(row, 1) == std::to_string(kCap));
            CHECK(config.value(row, 2) == "1000");
        }
    CHECK(listed);

    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < kCap; ++i) idle.push_back(std::make_unique<RawClient>(gate.port()));
    // The workers take them in far less than this; a probe taken before
    // one of them would push that one over the cap instead.
    sleep_for(0.3);
    // The next one is refused in answer to its StartupMessage (after the 'N'
    // to its SSLRequest), where libpq and JDBC show it.
    RawClient probe(gate.port());
    probe.send(wire::ssl_request() + wire::startup_message({{"user", "postgres"}, {"database", "postgres"}}));
    CHECK(probe.read_exact(1, 2) == "N");
    auto refusal = probe.read_error(2);
    REQUIRE_MESSAGE(refusal.has_value(), "not refused with " << kCap << " logging in");
    CHECK(probe.wait_eof(2));
    CHECK((*refusal)['C'] == "53300");
    CHECK((*refusal)['S'] == "FATAL");
    CHECK((*refusal)['M'] == "too many connections still logging in (max_login_clients)");
    {
        RawClient extra(gate.port());
        extra.send(wire::startup_message({{"user", "postgres"}, {"database", "postgres"}}));
        auto e = ending_of(extra, 2);
        REQUIRE(e.error.has_value());
        CHECK((*e.error)['C'] == "53300");
        CHECK(e.closed);
    }
    {
        // Over the cap and silent: closed within a moment, not held for client_login_timeout.
        RawClient silent(gate.port());
        const auto start = Clock::now();
        CHECK(silent.wait_eof(3));
        CHECK(seconds_since(start) < 2.5);
    }
    PgConn refused = PgConn::attempt(gate.conninfo(), 5);
    CHECK_FALSE(refused.ok());
    CHECK_MESSAGE(refused.error_sqlstate() == "53300", refused.error_message());
    CHECK_MESSAGE(refused.error_message().find("too many connections still logging in") != npos, refused.error_message());
    // A cancel request is still taken (it costs no login).
    REQUIRE(PQsendQuery(logged_in.get(), "select pg_sleep(30)") == 1);
    sleep_for(0.3);
    PGcancel* cancel = PQgetCancel(logged_in.get());
    char errbuf[256];
    CHECK(PQcancel(cancel, errbuf, sizeof errbuf) == 1);
    PQfreeCancel(cancel);
    PgResult cancelled = get_result(logged_in.get(), 10);
    CHECK_MESSAGE(cancelled.sqlstate() == "57014", cancelled.describe());
    while (get_result(logged_in.get(), 10)) {
    }

    // Logged-in clients go on, and the console on the Unix socket is not counted.
    CHECK(logged_in.scalar("select 'unaffected'") == "unaffected");
    PgConn console2(gate.unix_conninfo("dbname=pggate"));
    CHECK(console2.exec("SHOW CLIENTS").ok());

    // Places come back when those logging in leave (or finish logging in).
    idle.resize(idle.size() - 5);
    std::optional<PgConn> later;
    bool in = eventually([&] {
        later.emplace(PgConn::attempt(gate.conninfo(), 5));
        return later->ok();
    }, 5, 0.05);
    CHECK_MESSAGE(in, later->error_message());
    // Logging in and out many times leaks no place.
    for (int i = 0; i < 3 * kCap; ++i) CHECK(PgConn::attempt(gate.conninfo(), 5).ok());
    survivors.check();
}
