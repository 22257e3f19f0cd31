// TLS on both sides of pggate, with a test CA the test makes with the
// openssl command: clients verifying pggate (verify-full), pggate verifying
// a PostgreSQL that accepts only hostssl, pggate's own client certificate,
// libpq's second try for server_tls_sslmode allow and prefer, SCRAM channel
// binding, client certificates (auth_type = cert, hba clientcert),
// certificate reload, and plaintext after an SSLRequest.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "auth_support.hpp"
#include "harness.hpp"
#include "tls_support.hpp"

using namespace pggate::test;

namespace {

// The CN of the certificate pggate showed on this connection.
std::string peer_cn(const PgConn& c) {
    auto* ssl = static_cast<SSL*>(PQsslStruct(c.get(), "OpenSSL"));
    if (ssl == nullptr) return "";
    X509* cert = SSL_get0_peer_certificate(ssl);
    char cn[256] = "";
    if (cert != nullptr) X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    return cn;
}

// A client that starts TLS at once, without SSLRequest (PostgreSQL 17's
// sslnegotiation=direct), offering `alpn` (wire format; empty: no ALPN),
// then sends a StartupMessage. The first byte pggate answers with, -1 when
// the handshake fails, -2 when the connection ends without an answer.
int direct_tls_answer(int port, std::string_view alpn) {
    RawClient client(port);
    fcntl(client.fd(), F_SETFL, fcntl(client.fd(), F_GETFL) & ~O_NONBLOCK);  // OpenSSL's blocking calls below
    timeval limit{5, 0};
    setsockopt(client.fd(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, client.fd());
    if (!alpn.empty())
        SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()), static_cast<unsigned>(alpn.size()));
    int answer = -1;
    if (SSL_connect(ssl) == 1) {
        const std::string startup = wire::startup_message({{"user", "postgres"}, {"database", "postgres"}});
        SSL_write(ssl, startup.data(), static_cast<int>(startup.size()));
        char first = 0;
        answer = SSL_read(ssl, &first, 1) == 1 ? first : -2;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return answer;
}

// Replaces a node's pg_hba.conf (keeping its owner) and reloads it; the
// reload takes effect a moment later.
void write_hba(const Cluster& nodes, const std::string& text) {
    const std::string path = nodes.node_dir(nodes.primary_port()) + "/pg_hba.conf";
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
    nodes.admin_exec("select pg_reload_conf()");
}

const char* const kHostsslOnly = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n";

// A private node with TLS on, `ca`'s certificate "node" (issued first) as
// its own and `ca` vouching for client certificates, and `hba` as its
// pg_hba.conf.
std::unique_ptr<Cluster> tls_node(const TestCa& ca, const std::string& hba) {
    auto nodes = Cluster::create(0);
    const std::string data = nodes->node_dir(nodes->primary_port());
    run_ok("cp " + ca.cert("node") + " " + data + "/server.crt && cp " + ca.key("node") + " " + data +
           "/server.key && cp " + ca.ca_file() + " " + data + "/root.crt && chown postgres: " + data + "/server.crt " +
           data + "/server.key " + data + "/root.crt && chmod 600 " + data + "/server.key");
    nodes->admin_exec("alter system set ssl = on");
    nodes->admin_exec("alter system set ssl_ca_file = 'root.crt'");
    write_hba(*nodes, hba);
    return nodes;
}

// pggate in front of `nodes`' primary alone.
std::unique_ptr<Pggate> gate_for(const Cluster& nodes, std::vector<std::string> settings, bool wait_ready) {
    return std::make_unique<Pggate>(PggateOptions{
        std::move(settings), {"pg1 = host=127.0.0.1 port=" + std::to_string(nodes.primary_port()) + " role=primary"}, "",
        wait_ready, &nodes});
}

// A login through a pggate not waited for: the first answer once it listens.
PgConn first_answer(const Pggate& gate, const std::string& extra) {
    PgConn c = PgConn::attempt(gate.conninfo(extra));
    eventually([&] {
        c = PgConn::attempt(gate.conninfo(extra));
        return c.error_message().find("Connection refused") == std::string::npos;
    }, 10, 0.1);
    return c;
}

}  // namespace

TEST_CASE("tls: a direct TLS connection (no SSLRequest) is served when it names ALPN postgresql") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    Pggate gate(client_tls(ca, "prefer"));
    using namespace std::string_view_literals;
    CHECK(direct_tls_answer(gate.port(), "\x0apostgresql"sv) == 'R');  // an authentication request
    CHECK(direct_tls_answer(gate.port(), "\x08http/1.1\x0apostgresql"sv) == 'R');
    CHECK(direct_tls_answer(gate.port(), "") == -2);                // closed after the handshake
    CHECK(direct_tls_answer(gate.port(), "\x08http/1.1"sv) == -1);  // no_application_protocol alert
    PgConn ok(gate.conninfo(std::string("sslmode=require password=") + Cluster::kAdminPassword));
    CHECK(ok.scalar("select 1") == "1");
}

TEST_CASE("tls: psql verifies pggate with sslmode=verify-full; client_tls_sslmode = require refuses plain TCP") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    Pggate gate(client_tls(ca, "require"));

    std::string output;
    const std::string target = "host=localhost port=" + std::to_string(gate.port()) +
                               " dbname=postgres user=postgres sslmode=verify-full sslrootcert=" + ca.ca_file();
    int rc = run_shell("PGPASSWORD=" + std::string(Cluster::kAdminPassword) + " psql '" + target +
                           "' -X -c '\\conninfo' -Atc 'select 40 + 2'",
                       output);
    CHECK_MESSAGE(rc == 0, output);
    CHECK_MESSAGE(output.find("SSL connection (protocol: TLSv1.3") != std::string::npos, output);
    CHECK_MESSAGE(output.find("42") != std::string::npos, output);

    // The same check against another CA fails: pggate's certificate is what was verified.
    TestCa other("another CA");
    PgConn wrong_ca = PgConn::attempt(gate.conninfo("host=localhost sslmode=verify-full sslrootcert=" + other.ca_file()));
    CHECK_FALSE(wrong_ca.ok());
    CHECK_MESSAGE(wrong_ca.error_message().find("certificate verify failed") != std::string::npos,
                  wrong_ca.error_message());

    PgConn plain = PgConn::attempt(gate.conninfo("sslmode=disable"));
    CHECK_FALSE(plain.ok());
    CHECK_MESSAGE(plain.error_sqlstate() == "28000", plain.error_message());
    CHECK_MESSAGE(plain.error_message().find("SSL required") != std::string::npos, plain.error_message());
    // The Unix socket is not TCP: it needs no TLS.
    PgConn local(gate.unix_conninfo(std::string("password=") + Cluster::kAdminPassword));
    CHECK(local.scalar("select 1") == "1");
    CHECK(PQsslInUse(local.get()) == 0);
}

TEST_CASE("tls: bytes sent behind an SSLRequest before the handshake are refused, never read as plaintext") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    Pggate gate(client_tls(ca, "prefer"));

    RawClient client(gate.port());
    REQUIRE(client.send(wire::ssl_request() + wire::startup_message({{"user", "postgres"}, {"database", "postgres"}})));
    auto error = client.read_error(5);
    REQUIRE(error.has_value());
    CHECK((*error)['C'] == "08P01");
    CHECK((*error)['M'] == "received unencrypted data after SSL request");
    CHECK(client.wait_eof(5));

    // A well-behaved client on the same pggate goes on.
    PgConn ok(gate.conninfo(std::string("sslmode=require password=") + Cluster::kAdminPassword));
    CHECK(PQsslInUse(ok.get()) == 1);
    CHECK(ok.scalar("select 1") == "1");
}

TEST_CASE("tls: SCRAM-SHA-256-PLUS with channel_binding=require over pggate's TLS") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    TrustGuard guard;
    const std::string secret = create_role(guard, "tls_scram", "scram_pw", "scram-sha-256");
    AuthFile users;
    users.write({{"tls_scram", secret}});
    std::vector<std::string> settings = client_tls(ca, "prefer");
    settings.insert(settings.end(), {"auth_type = scram-sha-256", "auth_file = " + users.path()});
    Pggate gate(settings);

    PgConn bound = PgConn::attempt(gate.conninfo("user=tls_scram password=scram_pw sslmode=verify-full host=localhost "
                                                 "channel_binding=require sslrootcert=" + ca.ca_file()));
    REQUIRE_MESSAGE(bound.ok(), bound.error_message() << "\n" << gate.log_tail(20));
    CHECK(bound.scalar("select current_user") == "tls_scram");

    PgConn wrong = PgConn::attempt(gate.conninfo("user=tls_scram password=nope sslmode=require channel_binding=require"));
    CHECK_FALSE(wrong.ok());
    CHECK_MESSAGE(wrong.error_sqlstate() == "28P01", wrong.error_message());

    // Without TLS there is nothing to bind to: libpq refuses to go on, and
    // plain SCRAM still works for clients that do not ask for binding.
    PgConn unbound = PgConn::attempt(gate.conninfo("user=tls_scram password=scram_pw sslmode=disable channel_binding=require"));
    CHECK_FALSE(unbound.ok());
    PgConn plain(gate.conninfo("user=tls_scram password=scram_pw sslmode=disable"));
    CHECK(plain.scalar("select 1") == "1");
}

TEST_CASE("tls: auth_type = cert takes the user from a verified client certificate") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    ca.issue("alice", "tls_alice");
    TestCa stranger("a CA pggate does not trust");
    stranger.issue("alice", "tls_alice");
    TrustGuard guard;
    create_role(guard, "tls_alice", "", "scram-sha-256");
    create_role(guard, "tls_bob", "", "scram-sha-256");
    std::vector<std::string> settings = client_tls(ca, "verify-ca");
    settings.push_back("auth_type = cert");
    Pggate gate(PggateOptions{settings, {}, "", false, nullptr});

    auto with_cert = [&](const TestCa& issuer, const std::string& user) {
        return PgConn::attempt(gate.conninfo("user=" + user + " sslmode=require sslcert=" + issuer.cert("alice") +
                                             " sslkey=" + issuer.key("alice")));
    };
    // Not waited for by the harness: its probe has no certificate.
    PgConn alice = with_cert(ca, "tls_alice");
    eventually([&] { return (alice = with_cert(ca, "tls_alice")).ok(); }, 10, 0.1);
    REQUIRE_MESSAGE(alice.ok(), alice.error_message() << "\n" << gate.log_tail(20));
    CHECK(alice.scalar("select current_user") == "tls_alice");

    PgConn bob = with_cert(ca, "tls_bob");
    CHECK_FALSE(bob.ok());
    CHECK_MESSAGE(bob.error_sqlstate() == "28000", bob.error_message());
    CHECK_MESSAGE(bob.error_message().find("certificate authentication failed for user \"tls_bob\"") != std::string::npos,
                  bob.error_message());

    // verify-ca: no certificate, or one from another CA, fails the handshake itself.
    PgConn none = PgConn::attempt(gate.conninfo("user=tls_alice sslmode=require sslcert=/nonexistent"));
    CHECK_FALSE(none.ok());
    PgConn forged = with_cert(stranger, "tls_alice");
    CHECK_FALSE(forged.ok());
    CHECK(alice.scalar("select 2") == "2");
}

TEST_CASE("tls: a reload picks up a new certificate; one that cannot be used keeps the running one") {
    PGGATE_ONLY();
    TestCa first("first CA");
    first.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    TestCa second("second CA");
    second.issue("gate", "localhost.second", "DNS:localhost,IP:127.0.0.1");
    // pggate reads its files from a directory of its own, rewritten in place.
    char tmpl[] = "/tmp/pggate-tls-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    run_ok("cp " + first.cert("gate") + " " + dir + "/gate.crt && cp " + first.key("gate") + " " + dir + "/gate.key");
    Pggate gate({"client_tls_sslmode = prefer", "client_tls_cert_file = " + dir + "/gate.crt",
                 "client_tls_key_file = " + dir + "/gate.key"});
    const std::string login = std::string("sslmode=require password=") + Cluster::kAdminPassword;
    PgConn before(gate.conninfo(login));
    CHECK(peer_cn(before) == "localhost");

    run_ok("cp " + second.cert("gate") + " " + dir + "/gate.crt && cp " + second.key("gate") + " " + dir + "/gate.key");
    gate.send_signal(SIGHUP);
    CHECK(eventually([&] { return peer_cn(PgConn::attempt(gate.conninfo(login))) == "localhost.second"; }, 10));
    PgConn verified = PgConn::attempt(
        gate.conninfo("host=localhost sslmode=verify-full password=" + std::string(Cluster::kAdminPassword) +
                      " sslrootcert=" + second.ca_file()));
    CHECK_MESSAGE(verified.ok(), verified.error_message());

    // A key that does not belong to the certificate: the reload is refused.
    run_ok("cp " + first.key("gate") + " " + dir + "/gate.key");
    gate.send_signal(SIGHUP);
    CHECK(eventually([&] { return gate.log_text().find("reload failed, keeping the running configuration: client_tls_key_file") != std::string::npos; }, 10));
    PgConn after(gate.conninfo(login));
    CHECK(peer_cn(after) == "localhost.second");
    CHECK(before.scalar("select 1") == "1");  // connected before both reloads
    std::string ignored;
    run_shell("rm -rf " + dir, ignored);
}

TEST_CASE("tls: pggate with server_tls_sslmode = verify-full logs in to a PostgreSQL that accepts only hostssl") {
    PGGATE_ONLY();
    TestCa ca("node CA");
    ca.issue("node", "localhost", "DNS:localhost,IP:127.0.0.1");
    auto nodes = tls_node(ca, kHostsslOnly);
    const int port = nodes->primary_port();
    REQUIRE(eventually([&] { return !PgConn::attempt(nodes->admin_conninfo(port, "sslmode=disable"), 2).ok(); }, 10));

    auto gate = gate_for(*nodes, {"server_tls_sslmode = verify-full", "server_tls_ca_file = " + ca.ca_file()}, true);
    PgConn c(gate->conninfo("sslmode=disable"));
    CHECK(c.scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()") == "t");
    CHECK(c.scalar("select version from pg_stat_ssl where pid = pg_backend_pid()") == "TLSv1.3");

    // A CA that did not sign the node's certificate: pggate refuses the node.
    TestCa other("another CA");
    auto distrustful = gate_for(*nodes, {"server_tls_sslmode = verify-full", "server_tls_ca_file = " + other.ca_file()}, false);
    PgConn refused = first_answer(*distrustful, "sslmode=disable");
    CHECK_FALSE(refused.ok());
    CHECK_MESSAGE(refused.error_message().find("certificate verify failed") != std::string::npos,
                  refused.error_message() << "\n" << distrustful->log_tail(10));

    // server_tls_sslmode = disable cannot reach a hostssl-only node at all.
    auto plain = gate_for(*nodes, {"server_tls_sslmode = disable"}, false);
    PgConn no_tls = PgConn::attempt(plain->conninfo("sslmode=disable"));
    CHECK_FALSE(no_tls.ok());
    CHECK(c.scalar("select 1") == "1");
}

TEST_CASE("tls: server_tls_cert_file is the certificate a node's cert line lets pggate in with") {
    PGGATE_ONLY();
    TestCa ca("node CA");
    ca.issue("node", "localhost", "DNS:localhost,IP:127.0.0.1");
    ca.issue("pggate", "tls_cert_user");
    // The harness's superuser keeps a password line; the test's user has a cert line only.
    auto nodes = tls_node(ca, "local all all trust\n"
                              "hostssl all tls_cert_user 127.0.0.1/32 cert\n"
                              "host all postgres 127.0.0.1/32 md5\n");
    const int port = nodes->primary_port();
    nodes->admin_exec("create role tls_cert_user login");
    REQUIRE(eventually([&] { return !PgConn::attempt(nodes->admin_conninfo(port, "user=tls_cert_user sslmode=disable"), 2).ok(); }, 10));
    const std::vector<std::string> verified{"server_tls_sslmode = verify-full", "server_tls_ca_file = " + ca.ca_file()};
    auto with_cert = verified;
    with_cert.insert(with_cert.end(), {"server_tls_cert_file = " + ca.cert("pggate"), "server_tls_key_file = " + ca.key("pggate")});

    for (const char* auth : {"", "auth_type = trust"}) {
        CAPTURE(auth);
        auto settings = with_cert;
        if (*auth != '\0') settings.push_back(auth);
        // Not waited for: pooled, the harness's probe has no password to log in with.
        auto gate = gate_for(*nodes, settings, false);
        PgConn c = first_answer(*gate, "user=tls_cert_user sslmode=disable");
        REQUIRE_MESSAGE(c.ok(), c.error_message() << "\n" << gate->log_tail(10));
        CHECK(c.scalar("select current_user") == "tls_cert_user");
        CHECK(c.scalar("select client_dn from pg_stat_ssl where pid = pg_backend_pid()") == "/CN=tls_cert_user");
    }

    // No certificate configured: the node's refusal reaches the client.
    auto bare = gate_for(*nodes, verified, false);
    PgConn refused = first_answer(*bare, "user=tls_cert_user sslmode=disable");
    CHECK_FALSE(refused.ok());
    CHECK_MESSAGE(refused.error_sqlstate() == "28000", refused.error_message());
    CHECK_MESSAGE(refused.error_message().find("connection requires a valid client certificate") != std::string::npos,
                  refused.error_message());
    // prefer (the default) then tries without TLS, as libpq does; the client
    // hears of both refusals, pooled or passed through.
    for (const char* auth : {"", "auth_type = trust"}) {
        CAPTURE(auth);
        std::vector<std::string> settings{"server_tls_sslmode = prefer"};
        if (*auth != '\0') settings.push_back(auth);
        auto gate = gate_for(*nodes, settings, false);
        PgConn twice = first_answer(*gate, "user=tls_cert_user sslmode=disable");
        CHECK_FALSE(twice.ok());
        CHECK_MESSAGE(twice.error_sqlstate() == "28000", twice.error_message());
        CHECK_MESSAGE(twice.error_message().find("no pg_hba.conf entry for host \"127.0.0.1\", user \"tls_cert_user\"") !=
                          std::string::npos, twice.error_message());
        CHECK_MESSAGE(twice.error_message().find("(tried first with TLS: connection requires a valid client certificate)") !=
                          std::string::npos, twice.error_message());
    }
}

TEST_CASE("tls: server_tls_sslmode = allow tries without TLS first, and with TLS when a hostssl-only node refuses") {
    PGGATE_ONLY();
    TestCa ca("node CA");
    ca.issue("node", "localhost", "DNS:localhost,IP:127.0.0.1");
    auto nodes = tls_node(ca, kHostsslOnly);
    const int port = nodes->primary_port();
    REQUIRE(eventually([&] { return !PgConn::attempt(nodes->admin_conninfo(port, "sslmode=disable"), 2).ok(); }, 10));
    const std::string ssl_in_use = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";

    for (const char* auth : {"", "auth_type = trust"}) {
        CAPTURE(auth);
        std::vector<std::string> settings{"server_tls_sslmode = allow"};
        if (*auth != '\0') settings.push_back(auth);
        auto gate = gate_for(*nodes, settings, true);
        PgConn c = PgConn::attempt(gate->conninfo("sslmode=disable"));
        REQUIRE_MESSAGE(c.ok(), c.error_message() << "\n" << gate->log_tail(10));
        CHECK(c.scalar(ssl_in_use) == "t");
        CHECK(gate->log_text().find("trying again with TLS, as server_tls_sslmode = allow does") != std::string::npos);
    }

    // A node that takes plain connections: allow uses none.
    nodes->set_hba("trust");
    REQUIRE(eventually([&] { return PgConn::attempt(nodes->admin_conninfo(port, "sslmode=disable"), 2).ok(); }, 10));
    auto gate = gate_for(*nodes, {"server_tls_sslmode = allow"}, true);
    PgConn plain(gate->conninfo("sslmode=disable"));
    CHECK(plain.scalar(ssl_in_use) == "f");

    // prefer: a handshake that fails (no TLS version both sides accept) is
    // tried again without TLS; require has no second try.
    auto prefer = gate_for(*nodes, {"server_tls_sslmode = prefer", "server_tls_protocols = tlsv1.0"}, true);
    PgConn after_handshake(prefer->conninfo("sslmode=disable"));
    CHECK(after_handshake.scalar(ssl_in_use) == "f");
    CHECK(prefer->log_text().find("refused with TLS: TLS handshake with the server failed") != std::string::npos);
    auto require = gate_for(*nodes, {"server_tls_sslmode = require", "server_tls_protocols = tlsv1.0"}, false);
    PgConn no_retry = first_answer(*require, "sslmode=disable");
    CHECK_FALSE(no_retry.ok());
    CHECK_MESSAGE(no_retry.error_message().find("TLS handshake with the server failed") != std::string::npos,
                  no_retry.error_message());
}

TEST_CASE("tls: server_tls_sslmode = prefer connects without TLS to a node with ssl = off") {
    PGGATE_ONLY();
    REQUIRE(cluster().admin_scalar("show ssl") == "off");
    Pggate gate({"server_tls_sslmode = prefer"});
    PgConn c(gate.conninfo(std::string("sslmode=disable password=") + Cluster::kAdminPassword));
    CHECK(c.scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()") == "f");
    CHECK(gate.log_text().find("trying again") == std::string::npos);
}

TEST_CASE("tls: hostssl and hostnossl lines of auth_hba_file tell TLS connections from plain ones") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    char tmpl[] = "/tmp/pggate-hba-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string hba = std::string(tmpl) + "/hba.conf";
    std::ofstream(hba) << "local all all trust\n"
                          "hostnossl all tls_plain_only 127.0.0.1/32 trust\n"
                          "hostssl all all 127.0.0.1/32 trust\n"
                          "hostnossl all all 127.0.0.1/32 reject\n";
    TrustGuard guard;
    create_role(guard, "tls_plain_only", "", "scram-sha-256");
    std::vector<std::string> settings = client_tls(ca, "prefer");
    settings.insert(settings.end(), {"auth_type = hba", "auth_hba_file = " + hba});
    Pggate gate(settings);

    PgConn over_tls(gate.conninfo("sslmode=require"));
    CHECK(over_tls.scalar("select 1") == "1");
    PgConn plain = PgConn::attempt(gate.conninfo("sslmode=disable"));
    CHECK_FALSE(plain.ok());
    CHECK_MESSAGE(plain.error_sqlstate() == "28000", plain.error_message());
    CHECK_MESSAGE(plain.error_message().find("pg_hba.conf rejects connection") != std::string::npos, plain.error_message());
    // A user only hostnossl lets in: plain text works, TLS finds no line.
    PgConn plain_user(gate.conninfo("user=tls_plain_only sslmode=disable"));
    CHECK(plain_user.scalar("select current_user") == "tls_plain_only");
    PgConn tls_user = PgConn::attempt(gate.conninfo("user=tls_plain_only sslmode=require"));
    CHECK(tls_user.ok());  // hostssl all all matches it too
    std::string ignored;
    run_shell(std::string("rm -rf ") + tmpl, ignored);
}

TEST_CASE("tls: hba clientcert=verify-full asks for the user's certificate and the password; verify-ca for any the CA signed") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    ca.issue("full", "tls_full");
    ca.issue("other", "tls_other");
    TrustGuard guard;
    create_role(guard, "tls_full", "full_pw", "scram-sha-256");
    create_role(guard, "tls_ca", "ca_pw", "scram-sha-256");
    AuthFile users;
    users.write({{"tls_full", "full_pw"}, {"tls_ca", "ca_pw"}});
    const std::string hba = users.path() + ".hba";
    const std::string rules =
        "hostssl all postgres 127.0.0.1/32 scram-sha-256\n"
        "hostssl all tls_ca   127.0.0.1/32 scram-sha-256 clientcert=verify-ca\n"
        "hostssl all all      127.0.0.1/32 scram-sha-256 clientcert=verify-full\n";
    replace_file(hba, rules);
    std::vector<std::string> settings = client_tls(ca, "require");
    settings.insert(settings.end(), {"auth_type = hba", "auth_hba_file = " + hba, "auth_file = " + users.path()});
    Pggate gate(settings);

    // A login over TLS with the client certificate `cert` ("": none).
    auto login = [&](const std::string& user, const std::string& password, const std::string& cert) {
        std::string extra = "user=" + user + " password=" + password + " sslmode=require";
        extra += cert.empty() ? std::string(" sslcert=/nonexistent") : " sslcert=" + ca.cert(cert) + " sslkey=" + ca.key(cert);
        return PgConn::attempt(gate.conninfo(extra));
    };
    PgConn none = login("tls_full", "full_pw", "");
    CHECK_FALSE(none.ok());
    CHECK_MESSAGE(none.error_sqlstate() == "28000", none.error_message());
    CHECK_MESSAGE(none.error_message().find("connection requires a valid client certificate") != std::string::npos,
                  none.error_message());
    PgConn right = login("tls_full", "full_pw", "full");
    REQUIRE_MESSAGE(right.ok(), right.error_message() << "\n" << gate.log_tail(20));
    CHECK(right.scalar("select current_user") == "tls_full");
    // The certificate is on top of the password, not instead of it.
    PgConn wrong_password = login("tls_full", "not_it", "full");
    CHECK_FALSE(wrong_password.ok());
    CHECK_MESSAGE(wrong_password.error_sqlstate() == "28P01", wrong_password.error_message());
    PgConn wrong_cn = login("tls_full", "full_pw", "other");
    CHECK_FALSE(wrong_cn.ok());
    CHECK_MESSAGE(wrong_cn.error_sqlstate() == "28000", wrong_cn.error_message());
    CHECK_MESSAGE(wrong_cn.error_message().find("clientcert=verify-full") != std::string::npos, wrong_cn.error_message());
    // verify-ca: any certificate the CA signed, whatever its CN.
    PgConn ca_only = login("tls_ca", "ca_pw", "other");
    CHECK_MESSAGE(ca_only.ok(), ca_only.error_message());
    CHECK_FALSE(login("tls_ca", "ca_pw", "").ok());

    // An option pggate cannot honour: the reload is refused, the rules stay.
    replace_file(hba, rules + "hostssl all all 127.0.0.1/32 cert map=certmap\n");
    gate.send_signal(SIGHUP);
    CHECK(eventually([&] {
        return gate.log_text().find("line 4: authentication option \"map\" is not supported") != std::string::npos;
    }, 10));
    CHECK_FALSE(login("tls_full", "full_pw", "").ok());
    CHECK(login("tls_full", "full_pw", "full").ok());
    CHECK(right.scalar("select 1") == "1");
}
