// Pool settings per database and per user ([databases], [users]), the limits
// that hold across pools and workers (max_db_connections,
// max_user_connections), min_pool_size, the reserve pool, server_check_query
// and server_login_retry, against the real primary.
#include <doctest/doctest.h>

#include <set>

#include "harness.hpp"

using namespace pggate::test;

namespace {

std::string primary_node() {
    return "pg1 = host=127.0.0.1 port=" + std::to_string(cluster().primary_port()) + " role=primary";
}

// Two workers, trust, the primary alone; `settings` adds [pggate] lines and
// `sections` further sections.
PggateOptions gate_options(const std::vector<std::string>& settings, const std::string& sections = "") {
    PggateOptions options;
    options.settings = {"auth_type = trust", "workers = 2"};
    options.settings.insert(options.settings.end(), settings.begin(), settings.end());
    options.nodes = {primary_node()};
    options.extra = sections;
    return options;
}

// Client backends on the primary for `user` (other than the asking one).
int backends_of(PgConn& admin, const std::string& user) {
    return std::stoi(admin.scalar("select count(*) from pg_stat_activity where backend_type = 'client backend' "
                                  "and pid <> pg_backend_pid() and usename = '" + user + "'"));
}

std::set<std::string> backend_pids_of(PgConn& admin, const std::string& user) {
    PgResult r = admin.exec_ok("select pid from pg_stat_activity where backend_type = 'client backend' "
                               "and usename = '" + user + "'");
    std::set<std::string> pids;
    for (int i = 0; i < r.rows(); ++i) pids.insert(r.value(i, 0));
    return pids;
}

// True when the query sent on `conn` is still unanswered.
bool still_busy(PGconn* conn) {
    PQconsumeInput(conn);
    return PQisBusy(conn) == 1;
}

void create_roles(TrustGuard& guard, const std::vector<std::string>& roles) {
    PgConn admin = cluster().admin();
    for (const auto& role : roles) {
        guard.roles.push_back(role);
        admin.exec_ok("drop role if exists " + role);
        admin.exec_ok("create role " + role + " login");
    }
}

}  // namespace

TEST_CASE("pool limits: [users] sets pool_mode and pool_size per user") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_tx", "plim_sess"});
    Pggate gate(gate_options({"pool_mode = session", "default_pool_size = 5", "query_wait_timeout = 1.5"},
                             "[users]\nplim_tx = pool_mode=transaction pool_size=1\n"
                             "plim_sess = pool_size=1\n"));
    PgConn admin = cluster().admin();

    // Transaction mode with one server: two clients take turns on it.
    PgConn t1(gate.conninfo("user=plim_tx"));
    PgConn t2(gate.conninfo("user=plim_tx"));
    for (int i = 0; i < 3; ++i) {
        CHECK(t1.scalar("select 't1'") == "t1");
        CHECK(t2.scalar("select 't2'") == "t2");
        CHECK(backends_of(admin, "plim_tx") <= 1);
    }

    // Session mode with one server: the first client keeps it, the second
    // waits (at login, or at its first query when its worker's pool already
    // knows what to welcome it with) until query_wait_timeout ends it.
    PgConn s1(gate.conninfo("user=plim_sess"));
    CHECK(s1.scalar("select 'first'") == "first");
    PgConn s2 = PgConn::attempt(gate.conninfo("user=plim_sess"));
    std::string failure = s2.ok() ? s2.exec("select 'second'").error() : s2.error_message();
    CHECK_MESSAGE(failure.find("query_wait_timeout") != std::string::npos, failure);
    CHECK(s1.scalar("select 'first still served'") == "first still served");
    CHECK(backends_of(admin, "plim_sess") == 1);
}

TEST_CASE("pool limits: [databases] dbname serves a database under another name") {
    PGGATE_ONLY();
    Pggate gate(gate_options({"pool_mode = transaction"}, "[databases]\nalias_db = dbname=postgres pool_size=2\n"));
    PgConn c(gate.conninfo("dbname=alias_db"));
    CHECK(c.scalar("select current_database()") == "postgres");
}

TEST_CASE("pool limits: max_db_connections holds over users and workers; an idle pool gives way") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_a", "plim_b", "plim_c"});
    Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 5", "query_wait_timeout = 20"},
                             "[databases]\npostgres = max_db_connections=2\n"));
    PgConn admin = cluster().admin();
    auto db_backends = [&] {
        return std::stoi(admin.scalar("select count(*) from pg_stat_activity where usename like 'plim\\_%'"));
    };

    // A third user's clients (several, so both workers have some) log in
    // first; then two other users take the database's two places from
    // plim_c's idle servers, and hold them in a transaction each.
    std::vector<PgConn> waiting;
    for (int i = 0; i < 4; ++i) {
        waiting.emplace_back(gate.conninfo("user=plim_c"));
        CHECK(waiting.back().scalar("select current_user") == "plim_c");
    }
    PgConn a(gate.conninfo("user=plim_a"));
    PgConn b(gate.conninfo("user=plim_b"));
    a.exec_ok("begin");
    b.exec_ok("begin");
    CHECK(a.scalar("select current_user") == "plim_a");
    CHECK(b.scalar("select current_user") == "plim_b");
    CHECK(db_backends() == 2);

    for (auto& w : waiting) REQUIRE(PQsendQuery(w.get(), "select current_user") == 1);
    sleep_for(0.5);
    for (auto& w : waiting) CHECK_MESSAGE(still_busy(w.get()), "a client got past max_db_connections");
    CHECK(db_backends() == 2);

    // a commits: its server goes idle in plim_a's pool, which must give the
    // place up to plim_c's clients rather than keep it.
    a.exec_ok("commit");
    for (auto& w : waiting) {
        PgResult r = get_result(w.get(), 10);
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe() << "\n" << gate.log_tail(20));
        CHECK(r.value(0, 0) == "plim_c");
        CHECK(!get_result(w.get(), 10));
        CHECK(db_backends() <= 2);
    }
    CHECK(b.scalar("select 'b still in its transaction'") == "b still in its transaction");
    b.exec_ok("commit");
    CHECK(db_backends() <= 2);
}

TEST_CASE("pool limits: max_user_connections holds over the user's databases") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_u"});
    Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 5", "query_wait_timeout = 20"},
                             "[databases]\nd1 = dbname=postgres\nd2 = dbname=postgres\n"
                             "[users]\nplim_u = max_user_connections=1\n"));
    PgConn admin = cluster().admin();
    PgConn one(gate.conninfo("user=plim_u dbname=d1"));
    PgConn two(gate.conninfo("user=plim_u dbname=d2"));
    one.exec_ok("begin");
    CHECK(one.scalar("select 'd1'") == "d1");
    REQUIRE(PQsendQuery(two.get(), "select 'd2'") == 1);
    sleep_for(0.5);
    CHECK_MESSAGE(still_busy(two.get()), "the user's second database got a server past max_user_connections");
    CHECK(backends_of(admin, "plim_u") == 1);
    one.exec_ok("commit");
    PgResult r = get_result(two.get(), 10);
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(r.value(0, 0) == "d2");
    CHECK(!get_result(two.get(), 10));
    CHECK(backends_of(admin, "plim_u") == 1);
}

TEST_CASE("pool limits: min_pool_size keeps servers open, through server_idle_timeout, without churn") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_min"});
    Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 5", "min_pool_size = 3",
                              "server_idle_timeout = 1"}));
    PgConn admin = cluster().admin();
    {
        PgConn c(gate.conninfo("user=plim_min"));
        CHECK(c.scalar("select 1") == "1");
    }
    REQUIRE_MESSAGE(eventually([&] { return backends_of(admin, "plim_min") == 3; }, 5),
                    "backends: " << backends_of(admin, "plim_min"));
    std::set<std::string> before = backend_pids_of(admin, "plim_min");
    sleep_for(2.5);  // past server_idle_timeout twice
    CHECK(backends_of(admin, "plim_min") == 3);
    CHECK(backend_pids_of(admin, "plim_min") == before);
}

TEST_CASE("pool limits: the reserve pool serves a client that waited reserve_pool_timeout, then closes") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_res"});
    Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 1", "reserve_pool_size = 1",
                              "reserve_pool_timeout = 1", "query_wait_timeout = 20"}));
    PgConn admin = cluster().admin();
    PgConn holder(gate.conninfo("user=plim_res"));
    holder.exec_ok("begin");
    CHECK(holder.scalar("select 'holding'") == "holding");

    PgConn late(gate.conninfo("user=plim_res"));
    Clock::time_point sent = Clock::now();
    REQUIRE(PQsendQuery(late.get(), "select 'from the reserve'") == 1);
    sleep_for(0.4);
    CHECK_MESSAGE(still_busy(late.get()), "served before reserve_pool_timeout");
    PgResult r = get_result(late.get(), 10);
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(r.value(0, 0) == "from the reserve");
    CHECK(seconds_since(sent) >= 0.9);
    CHECK(!get_result(late.get(), 10));
    CHECK(PQtransactionStatus(holder.get()) == PQTRANS_INTRANS);
    // Nobody waits any more: the reserve server closes, the pool is back to its size.
    CHECK(eventually([&] { return backends_of(admin, "plim_res") == 1; }, 5));
    holder.exec_ok("commit");
}

TEST_CASE("pool limits: server_check_query runs on servers unused for server_check_delay") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_chk"});
    PgConn admin = cluster().admin();
    admin.exec_ok("drop sequence if exists plim_check_seq");
    admin.exec_ok("create sequence plim_check_seq");
    admin.exec_ok("grant usage, select on sequence plim_check_seq to public");
    auto checks = [&] { return std::stoi(admin.scalar("select last_value from plim_check_seq")); };

    SUBCASE("delay 0: every handover of an idle server is checked") {
        Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 1",
                                  "server_check_query = select nextval('plim_check_seq')", "server_check_delay = 0"}));
        PgConn c(gate.conninfo("user=plim_chk"));
        CHECK(c.scalar("select 'first'") == "first");  // a new server: not checked
        int start = checks();
        for (int i = 0; i < 5; ++i) CHECK(c.scalar("select " + std::to_string(i)) == std::to_string(i));
        CHECK(checks() - start >= 5);
    }
    SUBCASE("a long delay: servers in steady use are not checked") {
        Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 1",
                                  "server_check_query = select nextval('plim_check_seq')",
                                  "server_check_delay = 600"}));
        PgConn c(gate.conninfo("user=plim_chk"));
        CHECK(c.scalar("select 'first'") == "first");
        int start = checks();
        for (int i = 0; i < 5; ++i) CHECK(c.scalar("select " + std::to_string(i)) == std::to_string(i));
        CHECK(checks() == start);
    }
    SUBCASE("a failing check closes the server and the client gets a fresh one") {
        Pggate gate(gate_options({"pool_mode = transaction", "default_pool_size = 1",
                                  "server_check_query = select 1/0", "server_check_delay = 0"}));
        PgConn c(gate.conninfo("user=plim_chk"));
        std::string first = c.scalar("select pg_backend_pid()");
        std::string second = c.scalar("select pg_backend_pid()");
        CHECK(first != second);
        CHECK(eventually([&] { return backends_of(admin, "plim_chk") == 1; }, 5));
    }
    admin.exec_ok("drop sequence plim_check_seq");
}

TEST_CASE("pool limits: server_login_retry pauses a pool whose server login failed") {
    PGGATE_ONLY();
    TrustGuard guard;
    create_roles(guard, {"plim_retry"});
    PgConn admin = cluster().admin();
    admin.exec_ok("alter role plim_retry nologin");
    Pggate gate(gate_options({"pool_mode = transaction", "server_login_retry = 2"}));

    auto attempt = [&] {
        PgConn c = PgConn::attempt(gate.conninfo("user=plim_retry"));
        if (!c.ok()) return c.error_sqlstate() + " " + c.error_message();
        PgResult r = c.exec("select 'in'");
        return r.ok() ? r.value(0, 0) : r.sqlstate() + " " + r.error();
    };
    std::string first = attempt();
    CHECK_MESSAGE(first.find("28000") == 0, first);
    CHECK_MESSAGE(first.find("not permitted to log in") != std::string::npos, first);

    // The server would take the login now, but the pool waits out its pause
    // in every worker and answers with the failure (the server's own in the
    // worker that saw it).
    admin.exec_ok("alter role plim_retry login");
    Clock::time_point fixed = Clock::now();
    for (int i = 0; i < 6; ++i) {
        std::string during = attempt();
        CHECK_MESSAGE((during.find("not permitted to log in") != std::string::npos ||
                       during.find("server login has been failing") != std::string::npos),
                      during);
    }
    CHECK(seconds_since(fixed) < 1.5);
    CHECK(eventually([&] { return attempt() == "in"; }, 5, 0.2));
}

TEST_CASE("pool limits: an unreachable node fails waiting clients at once with 08006") {
    PGGATE_ONLY();
    PggateOptions options = gate_options({"pool_mode = transaction", "query_wait_timeout = 30"});
    options.nodes = {"down = host=127.0.0.1 port=" + std::to_string(free_port()) + " role=primary"};
    options.wait_ready = false;
    Pggate gate(options);
    REQUIRE(eventually([&] { return gate.running() && !gate.worker_pids().empty(); }, 10));
    sleep_for(0.3);
    Clock::time_point start = Clock::now();
    PgConn c = PgConn::attempt(gate.conninfo());
    std::string sqlstate = c.ok() ? c.exec("select 1").sqlstate() : c.error_sqlstate();
    CHECK(sqlstate == "08006");
    CHECK(seconds_since(start) < 10);
}
