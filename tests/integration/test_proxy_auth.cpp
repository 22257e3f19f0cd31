// pggate authenticating clients itself (auth_type + auth_file) and logging in
// to servers with the stored secret: plain, md5 and SCRAM (with the ClientKey
// taken from the client's proof), trust, and auth_file reloads on SIGHUP.
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "harness.hpp"

using namespace pggate::test;

namespace {

// A private directory for an auth_file, removed with the object.
class AuthFile {
public:
    AuthFile() {
        char pattern[] = "/tmp/pggate-authfile-XXXXXX";
        REQUIRE(mkdtemp(pattern) != nullptr);
        dir_ = pattern;
        path_ = dir_ + "/userlist.txt";
    }
    ~AuthFile() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    AuthFile(const AuthFile&) = delete;
    AuthFile& operator=(const AuthFile&) = delete;

    const std::string& path() const { return path_; }

    // Writes `"user" "secret"` lines; the harness's superuser (which pggate's
    // readiness probe logs in as) is always listed with its plain password.
    void write(const std::vector<std::pair<std::string, std::string>>& entries) const {
        std::string tmp = path_ + ".new";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << "; written by test_proxy_auth\n";
            out << "\"postgres\" \"" << Cluster::kAdminPassword << "\"\n";
            for (const auto& [user, secret] : entries) out << "\"" << user << "\" \"" << secret << "\"\n";
            out.close();
            REQUIRE_MESSAGE(out.good(), "writing " << tmp << " failed");
        }
        std::filesystem::rename(tmp, path_);
    }

private:
    std::string dir_;
    std::string path_;
};

// Creates a login role with `password` stored as `encryption` (md5 or
// scram-sha-256) and returns the secret PostgreSQL stored.
std::string create_role(TrustGuard& guard, const std::string& role, const std::string& password,
                        const std::string& encryption) {
    guard.roles.push_back(role);
    PgConn admin = cluster().admin();
    admin.exec_ok("drop role if exists " + role);
    admin.exec_ok("set password_encryption = '" + encryption + "'");
    std::string create = "create role " + role + " login";
    if (!password.empty()) create += " password '" + password + "'";
    admin.exec_ok(create);
    if (password.empty()) return "";
    return admin.scalar("select rolpassword from pg_authid where rolname = '" + role + "'");
}

PggateOptions proxy_auth(const std::string& auth_type, const std::string& auth_file) {
    PggateOptions options;
    options.settings = {"pool_mode = transaction", "auth_type = " + auth_type, "workers = 2", "default_pool_size = 4"};
    if (!auth_file.empty()) options.settings.push_back("auth_file = " + auth_file);
    return options;
}

// Logs in through pggate as `user` and checks that queries run as that user
// (which, in transaction mode, is when pggate logs in to the server).
void check_login_works(const Pggate& gate, const std::string& user, const std::string& password) {
    std::string extra = "user=" + user + (password.empty() ? std::string(" passfile=/nonexistent") : " password=" + password);
    PgConn c = PgConn::attempt(gate.conninfo(extra));
    REQUIRE_MESSAGE(c.ok(), "login of " << user << " refused: " << c.error_message() << "\npggate log:\n"
                                        << gate.log_tail(20));
    PgResult r = c.exec("select current_user, session_user, 'works'");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe() << "\npggate log:\n" << gate.log_tail(20));
    CHECK(r.value(0, 0) == user);
    CHECK(r.value(0, 1) == user);
    CHECK(r.value(0, 2) == "works");
    c.exec_ok("begin");
    c.exec_ok("select 1");
    c.exec_ok("commit");
}

void check_login_refused(const Pggate& gate, const std::string& user, const std::string& password) {
    PgConn c = PgConn::attempt(gate.conninfo("user=" + user + " password=" + password));
    CHECK_FALSE(c.ok());
    CHECK_MESSAGE(c.error_sqlstate() == "28P01", c.error_message());
    CHECK_MESSAGE(c.error_message().find("password authentication failed for user") != std::string::npos,
                  c.error_message());
}

// The "FATAL: ..." line of a failed login with the user name replaced by <user>.
std::string fatal_shape(const std::string& message, const std::string& user) {
    auto pos = message.find("FATAL:");
    std::string line = pos == std::string::npos ? message : message.substr(pos);
    line = line.substr(0, line.find('\n'));
    for (auto at = line.find(user); at != std::string::npos; at = line.find(user, at)) {
        line.replace(at, user.size(), "<user>");
        at += 6;
    }
    return line;
}

}  // namespace

TEST_CASE("proxy auth: md5 secrets from the auth_file, md5 on the server") {
    TrustGuard guard;
    std::string secret = create_role(guard, "pa_md5", "pw_md5_right", "md5");
    REQUIRE(secret.rfind("md5", 0) == 0);
    AuthFile file;
    file.write({{"pa_md5", secret}});
    cluster().set_hba("md5");
    cluster().wait_replicas_caught_up();

    Pggate gate(proxy_auth("md5", file.path()));
    check_login_works(gate, "pa_md5", "pw_md5_right");
    check_login_refused(gate, "pa_md5", "pw_md5_wrong");
    // A second client after the failure, now with a server in the pool.
    check_login_works(gate, "pa_md5", "pw_md5_right");
    // Without a password libpq gives up once pggate asks for one.
    PgConn none = PgConn::attempt(gate.conninfo("user=pa_md5 passfile=/nonexistent"));
    CHECK_FALSE(none.ok());
    CHECK_MESSAGE(none.error_message().find("no password supplied") != std::string::npos, none.error_message());
}

TEST_CASE("proxy auth: SCRAM secrets from the auth_file, SCRAM on the server") {
    TrustGuard guard;
    std::string secret = create_role(guard, "pa_scram", "pw_scram_right", "scram-sha-256");
    REQUIRE(secret.rfind("SCRAM-SHA-256$", 0) == 0);
    AuthFile file;
    file.write({{"pa_scram", secret}});
    cluster().set_hba("scram-sha-256");
    cluster().wait_replicas_caught_up();

    Pggate gate(proxy_auth("scram-sha-256", file.path()));
    check_login_works(gate, "pa_scram", "pw_scram_right");
    check_login_refused(gate, "pa_scram", "pw_scram_wrong");
    // Several clients at once: more than one server connection logs in.
    std::vector<PgConn> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(PgConn::attempt(gate.conninfo("user=pa_scram password=pw_scram_right")));
        REQUIRE_MESSAGE(clients.back().ok(), clients.back().error_message());
        clients.back().exec_ok("begin");
        CHECK(clients.back().scalar("select current_user") == "pa_scram");
    }
    for (auto& c : clients) c.exec_ok("commit");
    PgConn admin = cluster().admin();
    CHECK(std::stoi(admin.scalar("select count(*) from pg_stat_activity where usename = 'pa_scram'")) >= 3);
}

TEST_CASE("proxy auth: a plain password in the auth_file, SCRAM on the server") {
    TrustGuard guard;
    create_role(guard, "pa_plain", "pw_plain_right", "scram-sha-256");
    AuthFile file;
    file.write({{"pa_plain", "pw_plain_right"}});
    cluster().set_hba("scram-sha-256");
    cluster().wait_replicas_caught_up();

    Pggate gate(proxy_auth("plain", file.path()));
    check_login_works(gate, "pa_plain", "pw_plain_right");
    check_login_refused(gate, "pa_plain", "pw_plain_wrong");
    check_login_works(gate, "pa_plain", "pw_plain_right");
}

TEST_CASE("proxy auth: an unknown user fails exactly like a wrong password") {
    PGGATE_ONLY();
    TrustGuard guard;
    std::string md5_secret = create_role(guard, "pa_known_md5", "pw_known", "md5");
    std::string scram_secret = create_role(guard, "pa_known_scram", "pw_known", "scram-sha-256");
    create_role(guard, "pa_known_plain", "pw_known", "scram-sha-256");
    // A role the server has but the auth_file does not list.
    create_role(guard, "pa_unlisted", "pw_known", "scram-sha-256");
    AuthFile file;
    file.write({{"pa_known_md5", md5_secret}, {"pa_known_scram", scram_secret}, {"pa_known_plain", "pw_known"}});

    for (std::string auth_type : {"plain", "md5", "scram-sha-256"}) {
        CAPTURE(auth_type);
        std::string known = auth_type == "md5" ? "pa_known_md5" : auth_type == "plain" ? "pa_known_plain" : "pa_known_scram";
        Pggate gate(proxy_auth(auth_type, file.path()));
        PgConn wrong = PgConn::attempt(gate.conninfo("user=" + known + " password=pw_wrong"));
        PgConn unknown = PgConn::attempt(gate.conninfo("user=pa_nobody_here password=pw_wrong"));
        PgConn unlisted = PgConn::attempt(gate.conninfo("user=pa_unlisted password=pw_known"));
        CHECK_FALSE(wrong.ok());
        CHECK_FALSE(unknown.ok());
        CHECK_FALSE(unlisted.ok());
        CHECK_MESSAGE(wrong.error_sqlstate() == "28P01", wrong.error_message());
        CHECK_MESSAGE(unknown.error_sqlstate() == "28P01", unknown.error_message());
        CHECK_MESSAGE(unlisted.error_sqlstate() == "28P01", unlisted.error_message());
        std::string wrong_shape = fatal_shape(wrong.error_message(), known);
        CHECK_MESSAGE(wrong_shape.find("password authentication failed for user") != std::string::npos, wrong_shape);
        CHECK(fatal_shape(unknown.error_message(), "pa_nobody_here") == wrong_shape);
        CHECK(fatal_shape(unlisted.error_message(), "pa_unlisted") == wrong_shape);
        // The right password still works for the listed user.
        check_login_works(gate, known, "pw_known");
    }
}

TEST_CASE("proxy auth: auth_type = trust with no auth_file lets any existing role in") {
    TrustGuard guard;
    create_role(guard, "pa_trust", "", "scram-sha-256");
    Pggate gate(proxy_auth("trust", ""));
    check_login_works(gate, "pa_trust", "");
    check_login_works(gate, "pa_trust", "anything_at_all");
    check_login_works(gate, "postgres", "");
}

TEST_CASE("proxy auth: a user added to the auth_file can log in after SIGHUP") {
    PGGATE_ONLY();
    TrustGuard guard;
    std::string first = create_role(guard, "pa_first", "pw_first", "md5");
    std::string added = create_role(guard, "pa_added", "pw_added", "md5");
    AuthFile file;
    file.write({{"pa_first", first}});
    cluster().set_hba("md5");
    cluster().wait_replicas_caught_up();

    Pggate gate(proxy_auth("md5", file.path()));
    check_login_works(gate, "pa_first", "pw_first");
    check_login_refused(gate, "pa_added", "pw_added");
    PgConn kept(gate.conninfo("user=pa_first password=pw_first"));

    file.write({{"pa_first", first}, {"pa_added", added}});
    gate.send_signal(SIGHUP);
    bool took = eventually([&] { return PgConn::attempt(gate.conninfo("user=pa_added password=pw_added"), 5).ok(); }, 10, 0.1);
    REQUIRE_MESSAGE(took, "pa_added still refused 10 s after SIGHUP; pggate log:\n" << gate.log_tail(20));
    check_login_works(gate, "pa_added", "pw_added");
    check_login_works(gate, "pa_first", "pw_first");
    check_login_refused(gate, "pa_added", "pw_wrong");
    CHECK(kept.scalar("select current_user") == "pa_first");

    // And a user taken out of the file is refused after the next reload.
    file.write({{"pa_added", added}});
    gate.send_signal(SIGHUP);
    bool gone = eventually([&] { return !PgConn::attempt(gate.conninfo("user=pa_first password=pw_first"), 5).ok(); }, 10, 0.1);
    CHECK_MESSAGE(gone, "pa_first still let in 10 s after being removed and SIGHUP");
    check_login_refused(gate, "pa_first", "pw_first");
    check_login_works(gate, "pa_added", "pw_added");
    CHECK(kept.scalar("select 'existing session unaffected'") == "existing session unaffected");
    CHECK(gate.running());
}
