// pggate authenticating clients itself (auth_type + auth_file) and logging in
// to servers with the stored secret: plain, md5 and SCRAM (with the ClientKey
// taken from the client's proof), trust, and auth_file reloads on SIGHUP.
#include <doctest/doctest.h>
#include <signal.h>

#include "auth_support.hpp"
#include "harness.hpp"

using namespace pggate::test;

namespace {

PggateOptions proxy_auth(const std::string& auth_type, const std::string& auth_file) {
    PggateOptions options;
    options.settings = {"pool_mode = transaction", "auth_type = " + auth_type, "workers = 2", "default_pool_size = 4"};
    if (!auth_file.empty()) options.settings.push_back("auth_file = " + auth_file);
    return options;
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
