// auth_type = hba: the first matching line of auth_hba_file picks each
// connection's method (trust on the Unix socket, reject, cleartext password,
// SCRAM over TCP), a connection no line matches is refused like PostgreSQL
// refuses it, and a reload with a broken file keeps the rules in force.
#include <doctest/doctest.h>
#include <signal.h>


#include "auth_support.hpp"
#include "harness.hpp"

using namespace pggate::test;

namespace {

// The Authentication request code pggate answers a startup as `user` with
// (3 cleartext, 5 MD5, 10 SASL), or -1 with `error` set to its ErrorResponse message.
int auth_request_for(const Pggate& gate, const std::string& user, std::string& error) {
    RawClient raw(gate.port());
    raw.send(wire::startup_message({{"user", user}, {"database", "postgres"}}));
    auto m = raw.read_message(5);
    REQUIRE(m.has_value());
    if (m->type == 'E') {
        auto fields = wire::error_fields(m->body);
        error = fields['C'] + " " + fields['M'];
        return -1;
    }
    REQUIRE(m->type == 'R');
    return static_cast<int>(wire::read_be32(m->body, 0));
}

const char* kRules =
    "# test rules\n"
    "local   all  all                    trust\n"
    "host    all  hba_rejected  127.0.0.1/32  reject\n"
    "host    all  hba_plain     127.0.0.0 255.0.0.0  password\n"
    "host    all  postgres,hba_scram  127.0.0.1/32  scram-sha-256\n";

}  // namespace

TEST_CASE("hba: each connection gets the method of the first matching line") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_role(guard, "hba_rejected", "pw-r", "scram-sha-256");
    create_role(guard, "hba_plain", "pw-p", "scram-sha-256");
    create_role(guard, "hba_scram", "pw-s", "scram-sha-256");
    create_role(guard, "hba_nobody", "pw-n", "scram-sha-256");
    AuthFile users;
    users.write({{"hba_rejected", "pw-r"}, {"hba_plain", "pw-p"}, {"hba_scram", "pw-s"}, {"hba_nobody", "pw-n"}});
    std::string hba = users.path() + ".hba";
    replace_file(hba, kRules);
    PggateOptions options;
    options.settings = {"auth_type = hba", "auth_hba_file = " + hba, "auth_file = " + users.path(),
                        "pool_mode = transaction", "workers = 2"};
    Pggate gate(options);

    std::string error;
    CHECK(auth_request_for(gate, "hba_plain", error) == 3);
    CHECK(auth_request_for(gate, "hba_scram", error) == 10);
    CHECK(auth_request_for(gate, "hba_rejected", error) == -1);
    CHECK(error == "28000 pg_hba.conf rejects connection for host \"127.0.0.1\", user \"hba_rejected\", database \"postgres\"");
    CHECK(auth_request_for(gate, "hba_nobody", error) == -1);
    CHECK(error == "28000 no pg_hba.conf entry for host \"127.0.0.1\", user \"hba_nobody\", database \"postgres\", "
                   "no encryption");

    check_login_works(gate, "hba_plain", "pw-p");
    check_login_works(gate, "hba_scram", "pw-s");
    check_login_refused(gate, "hba_scram", "wrong");
    // The Unix socket: trust, no password asked.
    PgConn local = PgConn::attempt(gate.unix_conninfo("user=hba_nobody passfile=/nonexistent"));
    REQUIRE_MESSAGE(local.ok(), local.error_message());
    CHECK(local.scalar("select current_user") == "hba_nobody");

    // A broken file on reload: the old rules stay in force.
    replace_file(hba, std::string(kRules) + "host all all db.example.com trust\n");
    gate.send_signal(SIGHUP);
    CHECK(eventually([&] { return gate.log_text().find("auth_hba_file") != std::string::npos; }, 5));
    CHECK(auth_request_for(gate, "hba_nobody", error) == -1);
    CHECK(auth_request_for(gate, "hba_plain", error) == 3);
    // A good one: the new rules apply to new connections (md5 with a plain secret: an MD5 challenge).
    replace_file(hba, "host all all 127.0.0.1/32 md5\nlocal all all trust\n");
    gate.send_signal(SIGHUP);
    CHECK(eventually([&] { std::string e; return auth_request_for(gate, "hba_nobody", e) == 5; }, 5));
    check_login_works(gate, "hba_nobody", "pw-n");
}

namespace {

// `pggate -t` on an ini with auth_type = hba and `hba_text` as its
// auth_hba_file: its exit status, and what it printed in `out`.
int check_config(const AuthFile& users, const std::string& hba_text, const std::string& extra, std::string& out) {
    std::string hba = users.path() + ".hba";
    replace_file(hba, hba_text);
    std::string ini = users.path() + ".ini";
    replace_file(ini, "[pggate]\nauth_type = hba\nauth_hba_file = " + hba + "\n" + extra +
                        "[nodes]\npg1 = host=127.0.0.1 port=" + std::to_string(cluster().primary_port()) + "\n");
    std::string cmd = std::string(getenv("PGGATE_BIN") ? getenv("PGGATE_BIN") : "./pggate") + " -t " + ini + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    out.clear();
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    return WEXITSTATUS(pclose(p));
}

}  // namespace

TEST_CASE("hba: a file pggate cannot honour stops start-up with the line named") {
    PGGATE_ONLY();
    AuthFile users;
    std::string out;
    CHECK(check_config(users, "local all all trust\nhost all all 10.0.0.0/8 ident\n", "", out) != 0);
    CHECK_MESSAGE(out.find("auth_hba_file") != std::string::npos, out);
    CHECK_MESSAGE(out.find("line 2: authentication method \"ident\" is not supported") != std::string::npos, out);
    // An option after the method is honoured or refused, never skipped.
    CHECK(check_config(users, "host all all 10.0.0.0/8 md5 clientcert=verify-full\n", "", out) != 0);
    CHECK_MESSAGE(out.find("line 1: clientcert can only be configured for \"hostssl\" rows") != std::string::npos, out);
    // A certificate check without a CA to check against could only refuse.
    CHECK(check_config(users, "local all all trust\nhostssl all all 10.0.0.0/8 md5 clientcert=verify-ca\n", "", out) != 0);
    CHECK_MESSAGE(out.find("line 2: client certificates (clientcert, or the cert method) can only be checked with "
                           "client_tls_ca_file set") != std::string::npos, out);
}
