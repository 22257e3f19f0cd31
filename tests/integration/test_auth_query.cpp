// pggate looking up the users its auth_file does not list by running
// auth_query as auth_user on the primary: SCRAM and md5 secrets down to the
// server login, refusals that look like a wrong password, auth_file
// precedence, the answer cache, failures of the lookup itself, and many
// clients of one user at once.
#include <doctest/doctest.h>
#include <signal.h>

#include "auth_support.hpp"
#include "harness.hpp"

using namespace pggate::test;

namespace {

constexpr const char* kLookupUser = "aq_lookup";
constexpr const char* kLookupPassword = "aq_lookup_pw";

// What every test needs on the cluster side: auth_user's role (a superuser,
// so the default query may read pg_authid) and a users file that lists it.
// Trust comes back and the roles go at the end.
struct LookupSetup {
    TrustGuard guard;
    AuthFile file;

    LookupSetup() {
        role(kLookupUser, kLookupPassword, "superuser");
        file.write({{kLookupUser, kLookupPassword}});
    }
    // A login role with `attributes`, its `password` stored as `encryption`;
    // returns the stored secret.
    std::string role(const std::string& name, const std::string& password, const std::string& attributes = "",
                     const std::string& encryption = "scram-sha-256") {
        return create_role(guard, name, password, encryption, attributes);
    }
    // Transaction pooling, the users file, lookups as auth_user, and `extra` settings.
    PggateOptions options(const std::vector<std::string>& extra = {}) const {
        PggateOptions o;
        o.settings = {"pool_mode = transaction", "auth_file = " + file.path(),
                      std::string("auth_user = ") + kLookupUser, "default_pool_size = 4"};
        o.settings.insert(o.settings.end(), extra.begin(), extra.end());
        return o;
    }
};

std::string lookup_sessions_query() {
    return "select count(*) from pg_stat_activity where application_name = 'pggate auth_query'";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// The client's view of a failed lookup: 08006 and a message naming auth_query.
void check_lookup_failed(const Pggate& gate, const std::string& user, const std::string& password) {
    PgConn c = PgConn::attempt(gate.conninfo("user=" + user + " password=" + password));
    CHECK_FALSE(c.ok());
    CHECK_MESSAGE(c.error_sqlstate() == "08006", c.error_message());
    CHECK_MESSAGE(c.error_message().find("auth_query failed") != std::string::npos, c.error_message());
}

}  // namespace

TEST_CASE("auth_query: SCRAM- and md5-stored users log in and the server login works") {
    PGGATE_ONLY();
    LookupSetup setup;
    std::string scram = setup.role("aq_scram", "pw_scram");
    std::string md5 = setup.role("aq_md5", "pw_md5", "", "md5");
    REQUIRE(scram.rfind("SCRAM-SHA-256$", 0) == 0);
    REQUIRE(md5.rfind("md5", 0) == 0);
    // md5 in pg_hba.conf: the server asks SCRAM-stored roles for SCRAM (pggate
    // answers with the ClientKey of the client's proof) and md5-stored ones
    // for MD5 (pggate answers with the secret).
    cluster().set_hba("md5");

    Pggate gate(setup.options({"workers = 1"}));
    check_login_works(gate, "aq_scram", "pw_scram");
    check_login_works(gate, "aq_md5", "pw_md5");
    // Held open: the next server logins need more connections in each pool.
    std::vector<PgConn> held;
    for (const auto& [user, password] : {std::pair{"aq_scram", "pw_scram"}, std::pair{"aq_md5", "pw_md5"}}) {
        for (int i = 0; i < 2; ++i) {
            held.emplace_back(gate.conninfo(std::string("user=") + user + " password=" + password));
            held.back().exec_ok("begin");
            CHECK(held.back().scalar("select current_user") == user);
        }
    }
    PgConn admin = cluster().admin();
    CHECK(std::stoi(admin.scalar("select count(*) from pg_stat_activity where usename in ('aq_scram', 'aq_md5')")) >= 4);
    for (auto& c : held) c.exec_ok("commit");

    // One lookup connection, kept open from lookup to lookup.
    std::string pid = admin.scalar("select string_agg(pid::text, ',') from pg_stat_activity "
                                   "where application_name = 'pggate auth_query'");
    CHECK(admin.scalar(lookup_sessions_query()) == "1");
    check_login_works(gate, "aq_md5", "pw_md5");
    check_login_works(gate, "aq_scram", "pw_scram");
    CHECK(admin.scalar("select string_agg(pid::text, ',') from pg_stat_activity "
                       "where application_name = 'pggate auth_query'") == pid);

    // Ended on the server side while unused: the next lookup gets a new one.
    setup.role("aq_later", "pw_later");
    admin.exec_ok("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pggate auth_query'");
    check_login_works(gate, "aq_later", "pw_later");
    CHECK(admin.scalar(lookup_sessions_query()) == "1");
    CHECK(gate.log_text().find("auth_query connection as aq_lookup failed") == std::string::npos);
}

TEST_CASE("auth_query: wrong passwords, unknown, expired and NOLOGIN roles are refused alike") {
    PGGATE_ONLY();
    LookupSetup setup;
    setup.role("aq_user", "pw_right");
    setup.role("aq_expired", "pw_right", "valid until '2001-01-01'");
    setup.role("aq_future", "pw_right", "valid until '2999-01-01'");
    setup.role("aq_nologin", "pw_right");
    cluster().admin_exec("alter role aq_nologin nologin");
    setup.role("aq_md5only", "pw_right", "", "md5");

    // scram-sha-256 for everyone: every refusal below follows the same exchange.
    Pggate gate(setup.options({"auth_type = scram-sha-256", "workers = 2"}));
    PgConn wrong = PgConn::attempt(gate.conninfo("user=aq_user password=pw_wrong"));
    CHECK_FALSE(wrong.ok());
    CHECK_MESSAGE(wrong.error_sqlstate() == "28P01", wrong.error_message());
    std::string shape = fatal_shape(wrong.error_message(), "aq_user");
    CHECK_MESSAGE(shape.find("password authentication failed for user \"<user>\"") != std::string::npos, shape);

    for (const char* user : {"aq_nobody_here", "aq_expired", "aq_nologin", "aq_md5only"}) {
        CAPTURE(user);
        PgConn refused = PgConn::attempt(gate.conninfo(std::string("user=") + user + " password=pw_right"));
        CHECK_FALSE(refused.ok());
        CHECK_MESSAGE(refused.error_sqlstate() == "28P01", refused.error_message());
        CHECK(fatal_shape(refused.error_message(), user) == shape);
    }
    check_login_works(gate, "aq_user", "pw_right");
    check_login_works(gate, "aq_future", "pw_right");

    // md5: an md5-stored user's wrong password and an unknown user, alike too.
    Pggate md5_gate(setup.options({"auth_type = md5"}));
    PgConn md5_wrong = PgConn::attempt(md5_gate.conninfo("user=aq_md5only password=pw_wrong"));
    PgConn md5_unknown = PgConn::attempt(md5_gate.conninfo("user=aq_nobody_here password=pw_wrong"));
    CHECK_MESSAGE(md5_wrong.error_sqlstate() == "28P01", md5_wrong.error_message());
    CHECK_MESSAGE(md5_unknown.error_sqlstate() == "28P01", md5_unknown.error_message());
    CHECK(fatal_shape(md5_unknown.error_message(), "aq_nobody_here") == fatal_shape(md5_wrong.error_message(), "aq_md5only"));
    check_login_works(md5_gate, "aq_md5only", "pw_right");
    CHECK(gate.running());
}

TEST_CASE("auth_query: a user the auth_file lists is never looked up") {
    PGGATE_ONLY();
    LookupSetup setup;
    // The server trusts everyone, so only pggate's check decides.
    setup.role("aq_listed", "pw_in_database");
    setup.role("aq_unlisted", "pw_in_database");
    setup.file.write({{kLookupUser, kLookupPassword}, {"aq_listed", "pw_in_file"}});

    Pggate gate(setup.options({"workers = 1", "verbose = 1"}));
    check_login_works(gate, "aq_listed", "pw_in_file");
    check_login_refused(gate, "aq_listed", "pw_in_database");
    check_login_works(gate, "aq_unlisted", "pw_in_database");
    std::string log = gate.log_text();
    CHECK(count_of(log, "auth_query lookup of user \"aq_listed\"") == 0);
    CHECK(count_of(log, "auth_query lookup of user \"aq_unlisted\"") == 1);
}

TEST_CASE("auth_query: answers are reused for auth_query_cache_ttl seconds") {
    PGGATE_ONLY();
    LookupSetup setup;
    setup.role("aq_cache", "pw_old");
    const double ttl = 3;

    {
        // One worker: the cache is a worker's own.
        Pggate gate(setup.options({"workers = 1", "auth_query_cache_ttl = 3"}));
        Clock::time_point cached_at = Clock::now();
        check_login_works(gate, "aq_cache", "pw_old");
        cluster().admin_exec("alter role aq_cache password 'pw_new'");
        check_login_works(gate, "aq_cache", "pw_old");
        check_login_refused(gate, "aq_cache", "pw_new");
        // Only meaningful if the machine was quick enough to stay inside the TTL.
        CHECK_MESSAGE(seconds_since(cached_at) < ttl, "the checks inside the TTL took longer than the TTL");

        sleep_for(std::max(0.0, ttl + 0.3 - seconds_since(cached_at)));
        check_login_works(gate, "aq_cache", "pw_new");
        check_login_refused(gate, "aq_cache", "pw_old");
    }
    {
        // 0: no cache, a change shows at once.
        Pggate gate(setup.options({"workers = 1", "auth_query_cache_ttl = 0"}));
        check_login_works(gate, "aq_cache", "pw_new");
        cluster().admin_exec("alter role aq_cache password 'pw_newer'");
        check_login_works(gate, "aq_cache", "pw_newer");
        check_login_refused(gate, "aq_cache", "pw_new");
    }
    {
        // A reload forgets cached answers.
        Pggate gate(setup.options({"workers = 1", "auth_query_cache_ttl = 600"}));
        check_login_works(gate, "aq_cache", "pw_newer");
        cluster().admin_exec("alter role aq_cache password 'pw_newest'");
        check_login_refused(gate, "aq_cache", "pw_newest");
        gate.send_signal(SIGHUP);
        bool forgot = eventually([&] { return PgConn::attempt(gate.conninfo("user=aq_cache password=pw_newest"), 5).ok(); },
                                 10, 0.1);
        CHECK_MESSAGE(forgot, "the cached answer outlived a reload; log:\n" << gate.log_tail(20));
    }
}

TEST_CASE("auth_query: a failing lookup gets a clear error, and nothing else suffers") {
    PGGATE_ONLY();
    LookupSetup setup;
    setup.role("aq_user", "pw_user");
    setup.file.write({{kLookupUser, "aq_wrong_password"}});
    cluster().set_hba("md5");

    Pggate gate(setup.options({"workers = 2"}));
    check_lookup_failed(gate, "aq_user", "pw_user");
    // Failures are not cached: the next client asks again, and fails again.
    check_lookup_failed(gate, "aq_user", "pw_user");
    CHECK(gate.log_text().find("password authentication failed for user \"aq_lookup\"") != std::string::npos);
    // Listed users do not need the lookup.
    check_login_works(gate, "postgres", Cluster::kAdminPassword);
    CHECK(gate.running());

    // Fixed in the users file and reloaded: lookups work.
    setup.file.write({{kLookupUser, kLookupPassword}});
    gate.send_signal(SIGHUP);
    bool works = eventually([&] { return PgConn::attempt(gate.conninfo("user=aq_user password=pw_user"), 5).ok(); }, 10, 0.1);
    REQUIRE_MESSAGE(works, "lookups still fail 10 s after fixing auth_user's password; log:\n" << gate.log_tail(20));
    check_login_works(gate, "aq_user", "pw_user");

    // An auth_query that fails in the server, and an auth_dbname that does not exist.
    Pggate bad_query(setup.options({"workers = 1", "auth_query = SELECT $1::text, (1 / 0)::text"}));
    check_lookup_failed(bad_query, "aq_user", "pw_user");
    CHECK(bad_query.log_text().find("division by zero") != std::string::npos);
    check_login_works(bad_query, "postgres", Cluster::kAdminPassword);

    Pggate bad_db(setup.options({"workers = 1", "auth_dbname = aq_no_such_db"}));
    check_lookup_failed(bad_db, "aq_user", "pw_user");
    CHECK(bad_db.log_text().find("\"aq_no_such_db\" does not exist") != std::string::npos);
    {
        // auth_dbname names where the query runs; the client still gets its own database.
        Pggate other_db(setup.options({"workers = 1", "auth_dbname = template1"}));
        check_login_works(other_db, "aq_user", "pw_user");
        CHECK(cluster().admin_scalar(lookup_sessions_query() + " and datname = 'template1'") == "1");
    }
    // Gone with pggate, so that template1 is free for CREATE DATABASE again.
    CHECK(eventually([] { return cluster().admin_scalar(lookup_sessions_query() + " and datname = 'template1'") == "0"; },
                     10));
}

TEST_CASE("auth_query: slow lookups, clients leaving during them, and the timeout") {
    PGGATE_ONLY();
    LookupSetup setup;
    setup.role("aq_slow", "pw_slow");
    const std::string slow_query =
        "auth_query = SELECT rolname, rolpassword FROM pg_catalog.pg_authid, pg_catalog.pg_sleep(1) WHERE rolname = $1";

    {
        Pggate gate(setup.options({"workers = 1", "auth_query_cache_ttl = 0", slow_query}));
        // Clients that send their startup packet and leave while the lookup runs.
        for (int i = 0; i < 5; ++i) {
            RawClient quitter(gate.port());
            REQUIRE(quitter.send(wire::startup_message({{"user", "aq_slow"}, {"database", "postgres"}})));
        }
        check_login_works(gate, "aq_slow", "pw_slow");
        // A listed user does not wait for anyone's lookup.
        Clock::time_point start = Clock::now();
        RawClient waiting(gate.port());
        REQUIRE(waiting.send(wire::startup_message({{"user", "aq_slow"}, {"database", "postgres"}})));
        check_login_works(gate, "postgres", Cluster::kAdminPassword);
        CHECK(seconds_since(start) < 0.8);
        CHECK(gate.running());
    }
    {
        Pggate gate(setup.options(
            {"workers = 1", "server_connect_timeout = 0.3",
                   "auth_query = SELECT rolname, rolpassword FROM pg_catalog.pg_authid, pg_catalog.pg_sleep(2) "
                   "WHERE rolname = $1"}));
        Clock::time_point start = Clock::now();
        check_lookup_failed(gate, "aq_slow", "pw_slow");
        CHECK(seconds_since(start) < 1.5);
        CHECK(gate.log_text().find("no answer to auth_query within 0.3 s") != std::string::npos);
        check_login_works(gate, "postgres", Cluster::kAdminPassword);
        CHECK(gate.running());
    }
}

TEST_CASE("auth_query: many clients of one user at once share one lookup") {
    PGGATE_ONLY();
    LookupSetup setup;
    setup.role("aq_many", "pw_many");
    cluster().set_hba("scram-sha-256");

    const int workers = 2;
    Pggate gate(setup.options({"workers = 2", "verbose = 1", "default_pool_size = 8"}));
    std::vector<PgConn> clients = connect_many(gate.conninfo("user=aq_many password=pw_many"), 40);
    for (PgConn& c : clients) CHECK(c.scalar("select current_user") == "aq_many");
    // Each worker looked the user up once: the others joined that lookup or
    // found its cached answer.
    std::size_t lookups = count_of(gate.log_text(), "auth_query lookup of user \"aq_many\"");
    CHECK(lookups >= 1);
    CHECK(lookups <= static_cast<std::size_t>(workers));
}
