// The admin console (database "pggate"): SHOW POOLS with PgBouncer's columns
// from psql, psycopg 3 and JDBC, counts that hold across workers, who may
// log in and run what, and RELOAD of a good and of a bad file, answered once
// the workers run with it.
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth_support.hpp"
#include "harness.hpp"
#include "tls_support.hpp"

using namespace pggate::test;

namespace {

// What an idle connection is told before pggate closes it (libpq hands an
// ErrorResponse that comes while idle to the notice processor), read until
// the connection ends or `timeout_s` passes.
std::string closing_words(PgConn& c, double timeout_s) {
    std::string told;
    PQsetNoticeProcessor(
        c.get(), [](void* arg, const char* message) { *static_cast<std::string*>(arg) += message; }, &told);
    const auto start = Clock::now();
    while (seconds_since(start) < timeout_s) {
        pollfd p{PQsocket(c.get()), POLLIN, 0};
        if (poll(&p, 1, 100) != 1) continue;
        const bool open = PQconsumeInput(c.get()) == 1;
        PQisBusy(c.get());  // parses what came, handing the error to the notice processor
        if (!open) break;
    }
    PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
    return told;
}

constexpr const char* kPoolsColumns =
    "database,user,cl_active,cl_waiting,cl_active_cancel_req,cl_waiting_cancel_req,sv_active,sv_active_cancel,"
    "sv_being_canceled,sv_idle,sv_used,sv_tested,sv_login,maxwait,maxwait_us,pool_mode,node,role,sv_total";

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// A console with password users of every kind, reachable over TCP too.
PggateOptions console_options(const AuthFile& file, std::vector<std::string> extra = {}) {
    PggateOptions o;
    o.settings = {"auth_type = md5",      "auth_file = " + file.path(), "pool_mode = transaction",
                  "workers = 2",          "admin_users = ops_admin",    "stats_users = ops_stats",
                  "admin_listen_tcp = on"};
    o.settings.insert(o.settings.end(), extra.begin(), extra.end());
    return o;
}

void write_users(const AuthFile& file) {
    file.write({{"ops_admin", "admin_pw"}, {"ops_stats", "stats_pw"}, {"ops_nobody", "nobody_pw"}});
}

// Column index by name of a SHOW result.
int column(const PgResult& r, const std::string& name) {
    for (int c = 0; c < r.cols(); ++c)
        if (PQfname(r.get(), c) == name) return c;
    FAIL("no column " << name);
    return -1;
}

// SHOW POOLS's `field` summed over the rows of (database postgres, `user`).
long pools_sum(PgConn& console, const std::string& user, const std::string& field) {
    PgResult r = console.exec("SHOW POOLS");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    long sum = 0;
    for (int row = 0; row < r.rows(); ++row)
        if (r.value(row, column(r, "database")) == "postgres" && r.value(row, column(r, "user")) == user)
            sum += std::stol(r.value(row, column(r, field)));
    return sum;
}

}  // namespace

TEST_CASE("admin: SHOW POOLS from psql starts with PgBouncer's columns and counts servers of every worker") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    // Four clients inside a transaction each hold a server, in whichever worker accepted them.
    std::vector<PgConn> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back(gate.conninfo("password=" + std::string(Cluster::kAdminPassword)));
        clients.back().exec_ok("begin");
        clients.back().exec_ok("select 1");
    }
    std::set<pid_t> workers;
    for (const PgConn& c : clients) workers.insert(gate.worker_serving(c));
    MESSAGE("the 4 clients are served by " << workers.size() << " worker(s)");

    // pggate's own OS user on the Unix socket needs no password.
    std::string out;
    const std::string psql = std::string(PG_BINDIR) + "/psql " + shell_quote(gate.unix_conninfo("dbname=pggate")) +
                             " -X -A -F, -c 'SHOW POOLS'";
    REQUIRE_MESSAGE(run_shell(psql + " 2>&1", out) == 0, out);
    CHECK_MESSAGE(out.rfind(std::string(kPoolsColumns) + "\n", 0) == 0, out);
    CHECK_MESSAGE(out.find("postgres,postgres,") != std::string::npos, out);

    for (int attempt = 0; attempt < 4; ++attempt) {  // whichever worker the console lands on
        PgConn console(gate.unix_conninfo("dbname=pggate"));
        CHECK(pools_sum(console, "postgres", "sv_active") == 4);
        CHECK(pools_sum(console, "postgres", "cl_waiting") == 0);
    }
    for (PgConn& c : clients) c.exec_ok("commit");
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    CHECK(eventually([&] { return pools_sum(console, "postgres", "sv_active") == 0; }, 5));
    // The four servers stay, idle. Under load the pool has been seen to
    // open one more while the clients logged in (pool size 20 allows it);
    // SHOW NODES, summed over the workers as well, must count the same.
    const long idle = pools_sum(console, "postgres", "sv_idle");
    CHECK(idle >= 4);
    CHECK(idle <= 5);
    CHECK(pools_sum(console, "postgres", "cl_active") == 4);
    clients.clear();
    CHECK(eventually([&] { return pools_sum(console, "postgres", "cl_active") == 0; }, 5));

    PgResult nodes = console.exec("SHOW NODES");
    REQUIRE(nodes.status() == PGRES_TUPLES_OK);
    CHECK(nodes.rows() == 1 + static_cast<int>(cluster().replica_ports().size()));
    CHECK(nodes.value(0, column(nodes, "name")) == "pg1");
    CHECK(nodes.value(0, column(nodes, "port")) == std::to_string(cluster().primary_port()));
    CHECK(nodes.value(0, column(nodes, "servers")) == std::to_string(idle));
    CHECK(std::stol(nodes.value(0, column(nodes, "queries"))) >= 12);  // BEGIN, SELECT, COMMIT of 4 clients
    PgResult workers_shown = console.exec("SHOW WORKERS");
    CHECK(workers_shown.rows() == 2);
    PgResult bad = console.exec("SHOW NONSENSE");
    CHECK(bad.sqlstate() == "42601");
    CHECK(console.scalar("show version").rfind("pggate ", 0) == 0);
}

TEST_CASE("admin: psycopg 3 and JDBC read SHOW POOLS over the extended protocol") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    PgConn held(gate.conninfo("password=" + std::string(Cluster::kAdminPassword)));
    held.exec_ok("begin");
    held.exec_ok("select 1");

    std::string out;
    const std::string py = "/usr/bin/python3 " + repo_root() + "/tests/clients/admin_console.py " +
                           shell_quote(gate.unix_conninfo("dbname=pggate"));
    REQUIRE_MESSAGE(run_shell(py + " 2>&1", out) == 0, out);
    CHECK_MESSAGE(out.find(std::string("columns: ") + kPoolsColumns + "\n") != std::string::npos, out);
    CHECK_MESSAGE(out.find("pool: postgres postgres sv_active=1 node=pg1\n") != std::string::npos, out);
    CHECK_MESSAGE(out.find("nodes: " + std::to_string(1 + cluster().replica_ports().size()) + "\nnodes: ") !=
                      std::string::npos,
                  out);
    CHECK_MESSAGE(out.find("error: 42601\n") != std::string::npos, out);
    CHECK_MESSAGE(out.find("version: pggate ") != std::string::npos, out);
    CHECK_MESSAGE(out.find("in transaction: databases\n") != std::string::npos, out);

    // JDBC has no Unix sockets: a password user over TCP.
    const std::string url = "jdbc:postgresql://127.0.0.1:" + std::to_string(gate.port()) +
                            "/pggate?user=ops_stats&password=stats_pw&sslmode=disable";
    const std::string java = "java -cp /usr/share/java/postgresql.jar " + repo_root() +
                             "/tests/clients/AdminConsole.java " + shell_quote(url);
    REQUIRE_MESSAGE(run_shell(java + " 2>&1", out) == 0, out);
    CHECK_MESSAGE(out.find(std::string("columns: ") + kPoolsColumns + "\n") != std::string::npos, out);
    CHECK_MESSAGE(out.find("pool: postgres postgres sv_active=1 node=pg1\n") != std::string::npos, out);
    CHECK_MESSAGE(out.find("nodes: " + std::to_string(1 + cluster().replica_ports().size()) + "\n") !=
                      std::string::npos,
                  out);
}

TEST_CASE("admin: stats_users may only SHOW; other users are refused as a wrong password is, and TCP without admin_listen_tcp") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    auto tcp = [&](const std::string& user, const std::string& password) {
        return PgConn::attempt(gate.conninfo("dbname=pggate user=" + user + " password=" + password));
    };

    PgConn stats = tcp("ops_stats", "stats_pw");
    REQUIRE_MESSAGE(stats.ok(), stats.error_message());
    CHECK(stats.exec("SHOW POOLS").status() == PGRES_TUPLES_OK);
    for (const char* command : {"RELOAD", "SHUTDOWN", "PAUSE"}) {
        PgResult refused = stats.exec(command);
        CHECK_MESSAGE(refused.sqlstate() == "42501", command << ": " << refused.describe());
    }
    CHECK(stats.exec("SHOW LISTS").status() == PGRES_TUPLES_OK);  // the session goes on

    PgConn admin = tcp("ops_admin", "admin_pw");
    REQUIRE_MESSAGE(admin.ok(), admin.error_message());
    CHECK(admin.exec("RELOAD").status() == PGRES_COMMAND_OK);

    // No user enumeration: an admin with a wrong password, a user of the
    // auth_file who is neither admin nor stats user (even with the right
    // password), and a name nobody has are all asked for a password and all
    // refused with the same error.
    for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
             {"ops_admin", "not_the_password"}, {"ops_nobody", "not_the_password"}, {"ops_nobody", "nobody_pw"},
             {"no_such_user", "not_the_password"}}) {
        CAPTURE(user);
        PgConn refused = tcp(user, password);
        CHECK_FALSE(refused.ok());
        CHECK_MESSAGE(refused.error_sqlstate() == "28P01", refused.error_message());
        CHECK_MESSAGE(refused.error_message().find("password authentication failed for user \"" + user + "\"") !=
                          std::string::npos,
                      refused.error_message());
        CHECK_MESSAGE(refused.error_message().find("admin_users") == std::string::npos, refused.error_message());
        // Without a password libpq gives up where the server asks for one: the same point for all.
        PgConn asked = PgConn::attempt(gate.conninfo("dbname=pggate user=" + user));
        CHECK_FALSE(asked.ok());
        CHECK_MESSAGE(asked.error_message().find("no password supplied") != std::string::npos, asked.error_message());
    }
    CHECK(eventually([&] { return gate.log_text().find("not in admin_users or stats_users") != std::string::npos; }, 5));

    // Without admin_listen_tcp the console is on the Unix socket only.
    Pggate closed(console_options(file, {"admin_listen_tcp = off"}));
    PgConn over_tcp = PgConn::attempt(closed.conninfo("dbname=pggate user=ops_admin password=admin_pw"));
    CHECK_FALSE(over_tcp.ok());
    CHECK_MESSAGE(over_tcp.error_sqlstate() == "28000", over_tcp.error_message());
    PgConn local(closed.unix_conninfo("dbname=pggate"));
    CHECK(local.exec("SHOW POOLS").status() == PGRES_TUPLES_OK);
}

TEST_CASE("admin: RELOAD applies a good file and refuses a bad one, saying why") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file, {"default_pool_size = 20"}));
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    const std::string good = read_text_file(gate.ini_path());

    replace_file(gate.ini_path(), good + "\n[pggate]\nno_such_setting = 1\n");
    PgResult refused = console.exec("RELOAD");
    CHECK_MESSAGE(refused.sqlstate() == "F0000", refused.describe());
    CHECK_MESSAGE(refused.error().find("no_such_setting") != std::string::npos, refused.describe());
    sleep_for(0.5);
    CHECK(gate.log_text().find("configuration reloaded") == std::string::npos);

    std::string changed = good;
    const auto at = changed.find("default_pool_size = 20");
    REQUIRE(at != std::string::npos);
    changed.replace(at, std::string("default_pool_size = 20").size(), "default_pool_size = 7");
    replace_file(gate.ini_path(), changed);
    CHECK(console.exec("RELOAD").status() == PGRES_COMMAND_OK);
    CHECK(eventually([&] { return gate.log_text().find("configuration reloaded") != std::string::npos; }, 5));
    PgResult databases = console.exec("SHOW DATABASES");
    REQUIRE(databases.status() == PGRES_TUPLES_OK);
    bool seen = false;
    for (int row = 0; row < databases.rows(); ++row)
        if (databases.value(row, column(databases, "name")) == "postgres") {
            seen = true;
            CHECK(databases.value(row, column(databases, "pool_size")) == "7");
        }
    CHECK_MESSAGE(seen, "no postgres row in SHOW DATABASES");
}

namespace {

// SHOW CONFIG's row of `key` as (value, default, changeable, pending or "NULL").
std::vector<std::string> config_row(PgConn& console, const std::string& key) {
    PgResult r = console.exec("SHOW CONFIG");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    for (int row = 0; row < r.rows(); ++row)
        if (r.value(row, column(r, "key")) == key) {
            const int pending = column(r, "pending");
            return {r.value(row, column(r, "value")), r.value(row, column(r, "default")),
                    r.value(row, column(r, "changeable")),
                    PQgetisnull(r.get(), row, pending) ? "NULL" : r.value(row, pending)};
        }
    FAIL("SHOW CONFIG has no row " << key);
    return {};
}

using Row = std::vector<std::string>;

}  // namespace

TEST_CASE("admin: SHOW CONFIG shows running values and waiting restart-only ones; SET reaches every worker") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file, {"default_pool_size = 20"}));
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    const std::string port = std::to_string(gate.port());
    CHECK(config_row(console, "default_pool_size") == Row{"20", "20", "yes", "NULL"});
    CHECK(config_row(console, "listen_port") == Row{port, "6432", "restart", "NULL"});
    CHECK(config_row(console, "query_wait_timeout") == Row{"120", "120", "yes", "NULL"});

    // A reload applies what it can and shows what waits for a restart.
    std::string text = read_text_file(gate.ini_path());
    const std::string port_line = "listen_port = " + port;
    REQUIRE(text.find(port_line) != std::string::npos);
    text.replace(text.find(port_line), port_line.size(), "listen_port = " + std::to_string(gate.port() + 1));
    text.replace(text.find("default_pool_size = 20"), std::string("default_pool_size = 20").size(),
                 "default_pool_size = 7");
    replace_file(gate.ini_path(), text);
    REQUIRE(console.exec("RELOAD").status() == PGRES_COMMAND_OK);
    CHECK(eventually([&] { return config_row(console, "default_pool_size")[0] == "7"; }, 5));
    CHECK(config_row(console, "listen_port") == Row{port, "6432", "restart", std::to_string(gate.port() + 1)});
    CHECK(gate.log_text().find("listen_port changed but needs a restart") != std::string::npos);

    // SET: every worker runs with it (consoles land on either of the two).
    PgResult set = console.exec("SET default_pool_size = 3");
    REQUIRE_MESSAGE(set.status() == PGRES_COMMAND_OK, set.describe());
    CHECK(config_row(console, "default_pool_size")[0] == "3");  // at once in the console's own worker
    for (int attempt = 0; attempt < 6; ++attempt) {
        PgConn other(gate.unix_conninfo("dbname=pggate"));
        CHECK(eventually([&] { return config_row(other, "default_pool_size")[0] == "3"; }, 5));
        PgResult databases = other.exec("SHOW DATABASES");
        for (int row = 0; row < databases.rows(); ++row)
            if (databases.value(row, column(databases, "name")) == "postgres")
                CHECK(databases.value(row, column(databases, "pool_size")) == "3");
    }
    // Refusals say why, and the console goes on.
    PgResult restart_only = console.exec("SET listen_port = 7777");
    CHECK_MESSAGE(restart_only.sqlstate() == "55P02", restart_only.describe());
    PgResult bad = console.exec("SET default_pool_size = many");
    CHECK_MESSAGE(bad.sqlstate() == "22023", bad.describe());
    CHECK_MESSAGE(bad.error().find("\"many\" is not an integer") != std::string::npos, bad.describe());
    // pggate.ini would read the rest after " ;" as a comment.
    PgResult unwritable = console.exec("SET server_check_query = 'select 1 ; select 2'");
    CHECK_MESSAGE(unwritable.sqlstate() == "22023", unwritable.describe());
    CHECK(console.exec("SET application_name = 'dashboard'").status() == PGRES_COMMAND_OK);  // a driver's own
    CHECK(console.exec("SET extra_float_digits = 3").status() == PGRES_COMMAND_OK);
    // A key that is no setting (a typo) is refused, not answered "SET".
    PgResult unknown = console.exec("SET default_pool_sise = 5");
    CHECK_MESSAGE(unknown.sqlstate() == "42704", unknown.describe());
    CHECK_MESSAGE(unknown.error().find("default_pool_sise") != std::string::npos, unknown.describe());
    CHECK(config_row(console, "default_pool_size")[0] == "3");
    PgConn stats = PgConn::attempt(gate.conninfo("dbname=pggate user=ops_stats password=stats_pw"));
    REQUIRE_MESSAGE(stats.ok(), stats.error_message());
    CHECK(stats.exec("SET default_pool_size = 4").sqlstate() == "42501");

    // A SET lasts until a reload reads the file again.
    REQUIRE(console.exec("RELOAD").status() == PGRES_COMMAND_OK);
    CHECK(eventually([&] { return config_row(console, "default_pool_size")[0] == "7"; }, 5));
}

TEST_CASE("admin: RELOAD answers once the new configuration runs: SHOW CONFIG right after it sees it; a refused file gets the master's reason") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file, {"default_pool_size = 20"}));
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    const std::string good = read_text_file(gate.ini_path());
    const std::string line = "default_pool_size = 20";
    REQUIRE(good.find(line) != std::string::npos);
    auto with_pool_size = [&](const std::string& value) {
        std::string text = good;
        text.replace(text.find(line), line.size(), "default_pool_size = " + value);
        return text;
    };

    // Several rounds: an answer that came before the worker ran with the
    // file would show the previous value in one of them.
    std::string running = "20";
    for (int round = 0; round < 5; ++round) {
        running = std::to_string(30 + round);
        replace_file(gate.ini_path(), with_pool_size(running));
        PgResult reloaded = console.exec("RELOAD");
        REQUIRE_MESSAGE(reloaded.status() == PGRES_COMMAND_OK, reloaded.describe());
        CHECK(config_row(console, "default_pool_size")[0] == running);  // the same connection, at once
        PgConn fresh(gate.unix_conninfo("dbname=pggate"));  // whichever worker it lands on
        CHECK(config_row(fresh, "default_pool_size")[0] == running);
    }

    // Refused by the master: its reason (what it logged), and the running value stays.
    replace_file(gate.ini_path(), with_pool_size("many"));
    PgResult refused = console.exec("RELOAD");
    CHECK_MESSAGE(refused.sqlstate() == "F0000", refused.describe());
    const std::string prefix = "reload refused, the running configuration stays: ";
    REQUIRE_MESSAGE(refused.error().rfind(prefix, 0) == 0, refused.describe());
    const std::string reason = refused.error().substr(prefix.size());
    CHECK_MESSAGE(reason.find("\"many\"") != std::string::npos, refused.describe());
    CHECK_MESSAGE(gate.log_text().find("reload failed, keeping the running configuration: " + reason) !=
                      std::string::npos,
                  gate.log_tail());
    CHECK(config_row(console, "default_pool_size")[0] == running);
}

TEST_CASE("admin: RELOAD waits without stalling its worker, and says so when the master does not answer in 5 s") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    const std::string tcp_admin = gate.conninfo("dbname=pggate user=ops_admin password=admin_pw");
    PgConn console(tcp_admin);
    // Another console on the same worker: its loop must go on while RELOAD waits.
    const pid_t worker = gate.worker_serving(console);
    REQUIRE(worker != 0);
    std::optional<PgConn> neighbour;
    for (int attempt = 0; attempt < 40 && !neighbour; ++attempt) {
        PgConn c(tcp_admin);
        if (gate.worker_serving(c) == worker) neighbour.emplace(std::move(c));
    }
    REQUIRE(neighbour);

    struct Resume {  // whatever fails below, the master must not stay stopped
        pid_t master;
        ~Resume() { kill(master, SIGCONT); }
    } resume{gate.master_pid()};
    gate.send_signal(SIGSTOP);
    const auto start = Clock::now();
    REQUIRE(PQsendQuery(console.get(), "RELOAD") == 1);
    sleep_for(1);
    CHECK(neighbour->exec("SHOW VERSION").status() == PGRES_TUPLES_OK);
    PgResult late = get_result(console.get(), 15);
    const double waited = seconds_since(start);
    CHECK(get_result(console.get(), 5).get() == nullptr);
    CHECK_MESSAGE(late.sqlstate() == "57014", late.describe());
    CHECK_MESSAGE(late.error().find("did not answer within 5 s") != std::string::npos, late.describe());
    CHECK(waited >= 4.5);
    CHECK(waited < 10);

    // Once the master goes on, the next RELOAD is answered as usual (the
    // answer to the abandoned one goes nowhere).
    gate.send_signal(SIGCONT);
    PgResult again = console.exec("RELOAD");
    CHECK_MESSAGE(again.status() == PGRES_COMMAND_OK, again.describe());
    CHECK(console.exec("SHOW VERSION").status() == PGRES_TUPLES_OK);
}

TEST_CASE("admin: SHOW PREPARED counts clients' named Parses and the fewer Parses servers needed") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    // One worker: its two servers are the only ones (no places handed between workers).
    Pggate gate(console_options(file, {"default_pool_size = 2", "workers = 1"}));
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    auto total = [&](const std::string& field) {
        PgResult r = console.exec("SHOW PREPARED");
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        CHECK(r.rows() == 1);  // one row per worker
        long sum = 0;
        for (int row = 0; row < r.rows(); ++row) sum += std::stol(r.value(row, column(r, field)));
        return sum;
    };
    const std::string script = gate.ini_path() + ".sql";
    std::ofstream(script) << "SELECT 1;\n";
    // 8 clients each prepare the one statement once; the 2 servers need it once each.
    std::string out;
    const std::string pgbench = std::string("PGPASSWORD=") + Cluster::kAdminPassword + " " + PG_BINDIR +
                                "/pgbench -n -M prepared -c 8 -j 2 -t 50 -f " + script + " -h 127.0.0.1 -p " +
                                std::to_string(gate.port()) + " -U postgres postgres";
    REQUIRE_MESSAGE(run_shell(pgbench + " 2>&1", out) == 0, out);
    const long client_parses = total("client_parses"), server_parses = total("server_parses");
    MESSAGE("pgbench -M prepared -c 8 -t 50: " << client_parses << " client Parses, " << server_parses
                                               << " server Parses, " << total("answered_here") << " answered by pggate");
    CHECK(client_parses == 8);
    CHECK(server_parses >= 1);
    CHECK(server_parses <= 2);
    CHECK(total("evictions") == 0);
}

TEST_CASE("admin: SHOW CLIENTS lists every worker's clients with PgBouncer's columns; KILL_CLIENT closes just that one") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    std::vector<PgConn> clients;
    for (int i = 0; i < 4; ++i)
        clients.emplace_back(gate.conninfo("application_name=app" + std::to_string(i) +
                                           " password=" + std::string(Cluster::kAdminPassword)));
    clients[0].exec_ok("begin");
    clients[0].exec_ok("select 1");
    clients[1].exec_ok("listen some_channel");  // pins it to its server

    PgConn console(gate.unix_conninfo("dbname=pggate application_name=console"));
    PgResult r = console.exec("SHOW CLIENTS");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    std::string header;
    for (int c = 0; c < 19; ++c) header += std::string(c ? "," : "") + PQfname(r.get(), c);
    CHECK(header ==
          "type,user,database,state,addr,port,local_addr,local_port,connect_time,request_time,wait,wait_us,"
          "close_needed,ptr,link,remote_pid,tls,application_name,id");
    std::map<std::string, int> row_of;  // application_name -> row
    for (int row = 0; row < r.rows(); ++row) row_of[r.value(row, column(r, "application_name"))] = row;
    REQUIRE(row_of.size() == 5);  // the four clients and this console
    std::set<std::string> workers;
    for (int i = 0; i < 4; ++i) {
        const int row = row_of.at("app" + std::to_string(i));
        CHECK(r.value(row, column(r, "user")) == "postgres");
        CHECK(r.value(row, column(r, "database")) == "postgres");
        CHECK(r.value(row, column(r, "state")) == "active");
        CHECK(r.value(row, column(r, "addr")) == "127.0.0.1");
        // The id is the key pid the client was given (what libpq reports as the backend pid).
        CHECK(r.value(row, column(r, "id")) == std::to_string(PQbackendPID(clients[i].get())));
        workers.insert(r.value(row, column(r, "worker")));
    }
    MESSAGE("the 4 clients are on " << workers.size() << " worker(s)");
    CHECK(r.value(row_of.at("app0"), column(r, "activity")) == "active");  // inside its transaction
    CHECK(r.value(row_of.at("app0"), column(r, "node")) == "pg1");
    CHECK(r.value(row_of.at("app2"), column(r, "activity")) == "idle");
    CHECK(PQgetisnull(r.get(), row_of.at("app2"), column(r, "pinned")));
    CHECK_FALSE(PQgetisnull(r.get(), row_of.at("app1"), column(r, "pinned")));
    CHECK(r.value(row_of.at("console"), column(r, "database")) == "pggate");
    CHECK(r.value(row_of.at("console"), column(r, "activity")) == "admin");
    CHECK(r.value(row_of.at("console"), column(r, "addr")) == "unix");

    // KILL_CLIENT closes the client with that id, in whichever worker has it.
    const std::string victim = std::to_string(PQbackendPID(clients[2].get()));
    PgResult killed = console.exec("KILL_CLIENT " + victim);
    REQUIRE_MESSAGE(killed.status() == PGRES_COMMAND_OK, killed.describe());
    CHECK(eventually([&] { return clients[2].exec("select 1").status() != PGRES_TUPLES_OK; }, 5));
    CHECK_MESSAGE(PQstatus(clients[2].get()) == CONNECTION_BAD, PQerrorMessage(clients[2].get()));
    CHECK(clients[3].scalar("select 7") == "7");
    clients[0].exec_ok("commit");
    CHECK(eventually([&] {
        PgResult after = console.exec("SHOW CLIENTS");
        for (int row = 0; row < after.rows(); ++row)
            if (after.value(row, column(after, "application_name")) == "app2") return false;
        return after.rows() == 4;
    }, 5));
    PgResult unknown = console.exec("KILL_CLIENT 999999");
    CHECK_MESSAGE(unknown.sqlstate() == "42704", unknown.describe());
    PgConn stats = PgConn::attempt(gate.conninfo("dbname=pggate user=ops_stats password=stats_pw"));
    REQUIRE_MESSAGE(stats.ok(), stats.error_message());
    CHECK(stats.exec("KILL_CLIENT " + std::to_string(PQbackendPID(clients[3].get()))).sqlstate() == "42501");
    CHECK(clients[3].scalar("select 8") == "8");
}

TEST_CASE("admin: SHOW STATS_TOTALS and SHOW STATS count each database's transactions, queries and bytes over all workers") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    auto totals = [&] {
        std::map<std::string, long long> out;
        PgResult r = console.exec("SHOW STATS_TOTALS");
        REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
        for (int row = 0; row < r.rows(); ++row)
            if (r.value(row, column(r, "database")) == "postgres")
                for (const char* field : {"xact_count", "query_count", "bytes_received", "bytes_sent", "query_time"})
                    out[field] = std::stoll(r.value(row, column(r, field)));
        return out;
    };
    auto before = totals();
    {
        // Two clients, likely on both workers: 200 single statements and one
        // explicit transaction of four (BEGIN, two SELECTs, COMMIT).
        PgConn a(gate.conninfo("password=" + std::string(Cluster::kAdminPassword)));
        PgConn b(gate.conninfo("password=" + std::string(Cluster::kAdminPassword)));
        for (int i = 0; i < 100; ++i) {
            REQUIRE(a.scalar("select 1") == "1");
            REQUIRE(b.scalar("select 1") == "1");
        }
        a.exec_ok("begin");
        a.exec_ok("select 1");
        a.exec_ok("select 2");
        a.exec_ok("commit");
    }
    auto after = totals();
    MESSAGE("200 statements and one 4-statement transaction: xact_count +" << after["xact_count"] - before["xact_count"]
                                                                           << ", query_count +"
                                                                           << after["query_count"] - before["query_count"]
                                                                           << ", bytes_received +"
                                                                           << after["bytes_received"] - before["bytes_received"]
                                                                           << ", bytes_sent +"
                                                                           << after["bytes_sent"] - before["bytes_sent"]);
    CHECK(after["xact_count"] - before["xact_count"] == 201);
    CHECK(after["query_count"] - before["query_count"] == 204);
    // A Query message of "select 1" is 14 bytes; its answer (RowDescription,
    // DataRow, CommandComplete, ReadyForQuery) more than 50.
    CHECK(after["bytes_received"] - before["bytes_received"] >= 200 * 14);
    CHECK(after["bytes_received"] - before["bytes_received"] < 200 * 14 + 2000);
    CHECK(after["bytes_sent"] - before["bytes_sent"] >= 200 * 50);
    CHECK(after["query_time"] > before["query_time"]);

    PgResult stats = console.exec("SHOW STATS");
    REQUIRE_MESSAGE(stats.status() == PGRES_TUPLES_OK, stats.describe());
    std::string header;
    for (int c = 0; c < stats.cols(); ++c) header += std::string(c ? "," : "") + PQfname(stats.get(), c);
    CHECK(header ==
          "database,total_xact_count,total_query_count,total_received,total_sent,total_xact_time,total_query_time,"
          "total_wait_time,avg_xact_count,avg_query_count,avg_recv,avg_sent,avg_xact_time,avg_query_time,avg_wait_time");
    for (int row = 0; row < stats.rows(); ++row)
        if (stats.value(row, 0) == "postgres") {
            CHECK(std::stoll(stats.value(row, column(stats, "total_xact_count"))) == after["xact_count"]);
            CHECK(std::stoll(stats.value(row, column(stats, "avg_query_time"))) ==
                  after["query_time"] / after["query_count"]);
        }
}

TEST_CASE("admin: SHOW DATABASES has PgBouncer's columns in its order; paused and disabled read 0 or 1") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file, {"default_pool_size = 5", "server_lifetime = 1200", "max_db_connections = 9"}));
    const std::string login = "password=" + std::string(Cluster::kAdminPassword);
    PgConn a(gate.conninfo(login)), b(gate.conninfo(login));
    REQUIRE(a.scalar("select 1") == "1");
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    auto postgres_row = [&](PgResult& r) {
        for (int row = 0; row < r.rows(); ++row)
            if (r.value(row, column(r, "name")) == "postgres") return row;
        FAIL("SHOW DATABASES has no row postgres");
        return -1;
    };
    PgResult r = console.exec("SHOW DATABASES");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    std::string header;
    for (int c = 0; c < r.cols(); ++c) header += std::string(c ? "," : "") + PQfname(r.get(), c);
    CHECK(header ==
          "name,host,port,database,force_user,pool_size,min_pool_size,reserve_pool_size,server_lifetime,pool_mode,"
          "load_balance_hosts,max_connections,current_connections,max_client_connections,current_client_connections,"
          "paused,disabled,read_write_split");
    const int row = postgres_row(r);
    CHECK(r.value(row, column(r, "host")) == "127.0.0.1");  // the primary's
    CHECK(r.value(row, column(r, "port")) == std::to_string(cluster().primary_port()));
    CHECK(r.value(row, column(r, "database")) == "postgres");
    CHECK(r.value(row, column(r, "pool_size")) == "5");
    CHECK(r.value(row, column(r, "server_lifetime")) == "1200");
    CHECK(r.value(row, column(r, "max_connections")) == "9");
    CHECK(r.value(row, column(r, "current_client_connections")) == "2");
    CHECK(r.value(row, column(r, "paused")) == "0");
    CHECK(r.value(row, column(r, "disabled")) == "0");

    REQUIRE(console.exec("PAUSE postgres").status() == PGRES_COMMAND_OK);
    REQUIRE(console.exec("DISABLE postgres").status() == PGRES_COMMAND_OK);
    PgResult held = console.exec("SHOW DATABASES");
    CHECK(held.value(postgres_row(held), column(held, "paused")) == "1");
    CHECK(held.value(postgres_row(held), column(held, "disabled")) == "1");
    REQUIRE(console.exec("RESUME postgres").status() == PGRES_COMMAND_OK);
    REQUIRE(console.exec("ENABLE postgres").status() == PGRES_COMMAND_OK);
    PgResult after = console.exec("SHOW DATABASES");
    CHECK(after.value(postgres_row(after), column(after, "paused")) == "0");
    CHECK(after.value(postgres_row(after), column(after, "disabled")) == "0");
    CHECK(a.scalar("select 2") == "2");
}

TEST_CASE("admin: DISABLE and ENABLE gate new connections, RECONNECT replaces servers unnoticed, KILL closes a database's clients") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file, {"default_pool_size = 4"}));
    const std::string login = "password=" + std::string(Cluster::kAdminPassword);
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    PgConn a(gate.conninfo(login));
    REQUIRE(a.scalar("select 1") == "1");

    // DISABLE: new connections refused, existing ones go on; ENABLE undoes it.
    REQUIRE(console.exec("DISABLE postgres").status() == PGRES_COMMAND_OK);
    for (int i = 0; i < 4; ++i) {  // whichever worker accepts it
        PgConn refused = PgConn::attempt(gate.conninfo(login));
        CHECK_FALSE(refused.ok());
        CHECK_MESSAGE(refused.error_sqlstate() == "55000", refused.error_message());
    }
    CHECK(a.scalar("select 2") == "2");
    PgResult dbs = console.exec("SHOW DATABASES");
    for (int row = 0; row < dbs.rows(); ++row)
        if (dbs.value(row, column(dbs, "name")) == "postgres") CHECK(dbs.value(row, column(dbs, "disabled")) == "1");
    REQUIRE(console.exec("ENABLE postgres").status() == PGRES_COMMAND_OK);
    PgConn b(gate.conninfo(login));
    REQUIRE_MESSAGE(b.ok(), b.error_message());

    // RECONNECT: no server from before it serves again; clients notice nothing.
    std::set<std::string> old_backends;
    for (int i = 0; i < 20; ++i) {
        old_backends.insert(a.scalar("select pg_backend_pid()"));
        old_backends.insert(b.scalar("select pg_backend_pid()"));
    }
    b.exec_ok("begin");
    const std::string held = b.scalar("select pg_backend_pid()");
    REQUIRE(console.exec("RECONNECT postgres").status() == PGRES_COMMAND_OK);
    sleep_for(1);  // a sweep of every worker
    CHECK(b.scalar("select pg_backend_pid()") == held);  // a transaction keeps its server
    b.exec_ok("commit");
    for (int i = 0; i < 20; ++i) {
        const std::string pa = a.scalar("select pg_backend_pid()"), pb = b.scalar("select pg_backend_pid()");
        CHECK_MESSAGE(old_backends.count(pa) == 0, "a server from before RECONNECT served again: " << pa);
        CHECK_MESSAGE(old_backends.count(pb) == 0, "a server from before RECONNECT served again: " << pb);
    }
    MESSAGE(old_backends.size() << " servers before RECONNECT, none served after it");

    // KILL: the database's clients are closed; new ones may connect.
    REQUIRE(console.exec("KILL postgres").status() == PGRES_COMMAND_OK);
    // Read while idle, not by sending a query: a query racing the close
    // can make the kernel reset the connection and drop the FATAL before
    // libpq reads it.
    const std::string a_told = closing_words(a, 5);
    CHECK_MESSAGE(a_told.find("terminating connection due to administrator command (KILL)") != std::string::npos, a_told);
    CHECK_MESSAGE(closing_words(b, 5).find("(KILL)") != std::string::npos, "b was not killed");
    PgConn after(gate.conninfo(login));
    CHECK(after.scalar("select 3") == "3");
    CHECK(console.scalar("show version").rfind("pggate ", 0) == 0);  // the console stays

    PgConn stats = PgConn::attempt(gate.conninfo("dbname=pggate user=ops_stats password=stats_pw"));
    REQUIRE_MESSAGE(stats.ok(), stats.error_message());
    for (const char* command : {"DISABLE postgres", "ENABLE postgres", "RECONNECT", "KILL postgres"})
        CHECK_MESSAGE(stats.exec(command).sqlstate() == "42501", command);
    CHECK(console.exec("KILL pggate").sqlstate() == "42501");
}

TEST_CASE("admin: SHOW SERVERS lists every worker's servers, linked to their clients while in use") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    std::vector<PgConn> clients;
    std::vector<std::string> backends;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back(gate.conninfo("password=" + std::string(Cluster::kAdminPassword)));
        clients.back().exec_ok("begin");
        backends.push_back(clients.back().scalar("select pg_backend_pid()"));
    }
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    PgResult r = console.exec("SHOW SERVERS");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    std::string header;
    for (int c = 0; c < 18; ++c) header += std::string(c ? "," : "") + PQfname(r.get(), c);
    CHECK(header ==
          "type,user,database,state,addr,port,local_addr,local_port,connect_time,request_time,wait,wait_us,"
          "close_needed,ptr,link,remote_pid,tls,application_name");
    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        int found = -1;
        for (int row = 0; row < r.rows(); ++row)
            if (r.value(row, column(r, "remote_pid")) == backends[i]) found = row;
        REQUIRE(found >= 0);
        CHECK(r.value(found, column(r, "state")) == "active");
        char link[24];
        std::snprintf(link, sizeof link, "%x", static_cast<unsigned>(PQbackendPID(clients[i].get())));
        CHECK(r.value(found, column(r, "link")) == link);  // the ptr SHOW CLIENTS gives that client
        CHECK(r.value(found, column(r, "user")) == "postgres");
        CHECK(r.value(found, column(r, "node")) == "pg1");
        CHECK(r.value(found, column(r, "port")) == std::to_string(cluster().primary_port()));
    }
    CHECK(r.rows() == pools_sum(console, "postgres", "sv_total"));  // every worker's servers
    for (PgConn& c : clients) c.exec_ok("commit");
    CHECK(eventually([&] {
        PgResult after = console.exec("SHOW SERVERS");
        int idle = 0;
        for (int row = 0; row < after.rows(); ++row)
            if (after.value(row, column(after, "state")) == "idle" &&
                PQgetisnull(after.get(), row, column(after, "link")))
                ++idle;
        return idle == after.rows() && idle >= 4;
    }, 5));
}

TEST_CASE("admin: SHOW CLIENTS and SHOW SERVERS fill tls, local_addr, local_port and remote_pid; SHOW SERVERS says why a server is pinned") {
    PGGATE_ONLY();
    TestCa ca("pggate test CA");
    ca.issue("gate", "localhost", "DNS:localhost,IP:127.0.0.1");
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file, client_tls(ca, "prefer")));
    const std::string login = "password=" + std::string(Cluster::kAdminPassword);
    PgConn secure(gate.conninfo("sslmode=require application_name=secure " + login));
    PgConn plain(gate.conninfo("sslmode=disable application_name=plain " + login));
    secure.exec_ok("begin");
    const std::string secure_backend = secure.scalar("select pg_backend_pid()");
    const std::string secure_server_port = secure.scalar("select inet_client_port()");  // pggate's end
    plain.exec_ok("listen some_channel");  // pins it to its server
    const std::string plain_backend = plain.scalar("select pg_backend_pid()");

    PgConn console(gate.unix_conninfo("dbname=pggate application_name=console"));
    PgResult r = console.exec("SHOW CLIENTS");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    std::map<std::string, int> row_of;  // application_name -> row
    for (int row = 0; row < r.rows(); ++row) row_of[r.value(row, column(r, "application_name"))] = row;
    REQUIRE(row_of.size() == 3);
    const int s = row_of.at("secure"), p = row_of.at("plain"), c = row_of.at("console");
    const std::string tls = r.value(s, column(r, "tls"));
    CHECK_MESSAGE(tls.rfind("TLSv1.", 0) == 0, tls);
    CHECK_MESSAGE(tls.find('/') != std::string::npos, tls);  // protocol/cipher
    CHECK(PQgetisnull(r.get(), p, column(r, "tls")));
    for (int row : {s, p}) {
        CHECK(r.value(row, column(r, "local_addr")) == "127.0.0.1");
        CHECK(r.value(row, column(r, "local_port")) == std::to_string(gate.port()));
        CHECK(r.value(row, column(r, "remote_pid")) == "0");  // unknown over TCP
    }
    CHECK(r.value(s, column(r, "port")) == std::to_string(secure.local_port()));
    CHECK(r.value(c, column(r, "local_addr")) == "unix");
    CHECK(r.value(c, column(r, "remote_pid")) == std::to_string(getpid()));  // libpq runs in this process

    PgResult servers = console.exec("SHOW SERVERS");
    REQUIRE_MESSAGE(servers.status() == PGRES_TUPLES_OK, servers.describe());
    int secure_row = -1, plain_row = -1;
    for (int row = 0; row < servers.rows(); ++row) {
        if (servers.value(row, column(servers, "remote_pid")) == secure_backend) secure_row = row;
        if (servers.value(row, column(servers, "remote_pid")) == plain_backend) plain_row = row;
    }
    REQUIRE(secure_row >= 0);
    REQUIRE(plain_row >= 0);
    CHECK(servers.value(secure_row, column(servers, "local_addr")) == "127.0.0.1");
    CHECK(servers.value(secure_row, column(servers, "local_port")) == secure_server_port);
    CHECK(PQgetisnull(servers.get(), secure_row, column(servers, "tls")));  // the nodes take plain connections
    CHECK(PQgetisnull(servers.get(), secure_row, column(servers, "pinned")));  // in a transaction, not pinned
    CHECK_FALSE(PQgetisnull(servers.get(), plain_row, column(servers, "pinned")));
    CHECK(servers.value(plain_row, column(servers, "pinned")) == r.value(p, column(r, "pinned")));
    secure.exec_ok("commit");
}

namespace {

// SHOW SERVERS's rows in `state`, and SHOW POOLS's `field` summed over the pools, read together.
std::pair<int, long> servers_and_pools(PgConn& console, const std::string& state, const std::string& field) {
    PgResult r = console.exec("SHOW SERVERS");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    int servers = 0;
    for (int row = 0; row < r.rows(); ++row)
        if (r.value(row, column(r, "state")) == state) ++servers;
    return {servers, pools_sum(console, "postgres", field)};
}

}  // namespace

TEST_CASE("admin: SHOW POOLS counts the servers being reset (sv_used) and checked (sv_tested) that SHOW SERVERS lists") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    // Session mode resets a server its client left; a server idle for 0 s is checked before it serves.
    Pggate gate(console_options(file, {"pool_mode = session", "workers = 1",
                                       "server_reset_query = select pg_sleep(2)", "server_check_delay = 0",
                                       "server_check_query = select pg_sleep(2)"}));
    const std::string login = "password=" + std::string(Cluster::kAdminPassword);
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    {
        PgConn a(gate.conninfo(login));
        REQUIRE(a.scalar("select 1") == "1");
    }
    CHECK(eventually([&] { return servers_and_pools(console, "used", "sv_used") == std::pair<int, long>{1, 1}; }, 1.5));
    CHECK(pools_sum(console, "postgres", "sv_login") == 0);  // a reset is not a login
    CHECK(eventually([&] { return servers_and_pools(console, "idle", "sv_idle") == std::pair<int, long>{1, 1}; }, 5));
    CHECK(pools_sum(console, "postgres", "sv_used") == 0);

    // The next client's server is checked first (in a thread: its login or query waits for the check).
    std::thread b([&] {
        PgConn c(gate.conninfo(login));
        CHECK(c.scalar("select 2") == "2");
    });
    CHECK(eventually([&] { return servers_and_pools(console, "tested", "sv_tested") == std::pair<int, long>{1, 1}; },
                     1.5));
    CHECK(pools_sum(console, "postgres", "sv_login") == 0);
    b.join();
}

namespace {

// Whether an async query sent with PQsendQuery has its whole answer.
bool finished(PGconn* c) {
    if (PQconsumeInput(c) == 0) return true;  // the connection broke: nothing more to wait for
    return PQisBusy(c) == 0;
}

// The results of a finished async query; the status of the last one.
ExecStatusType drain(PGconn* c) {
    ExecStatusType last = PGRES_EMPTY_QUERY;
    while (PGresult* r = PQgetResult(c)) {
        last = PQresultStatus(r);
        PQclear(r);
    }
    return last;
}

}  // namespace

TEST_CASE("admin: PAUSE answers once the database's servers are released in every worker; clients wait until RESUME") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    const std::string login = "password=" + std::string(Cluster::kAdminPassword);
    PgConn holder(gate.conninfo(login));
    PgConn waiter(gate.conninfo(login));
    REQUIRE(waiter.scalar("select 1") == "1");
    holder.exec_ok("begin");
    holder.exec_ok("select 1");  // holds a server until COMMIT

    PgConn console(gate.unix_conninfo("dbname=pggate"));
    REQUIRE(PQsendQuery(console.get(), "PAUSE postgres") == 1);
    sleep_for(1.5);
    CHECK_FALSE(finished(console.get()));  // a transaction still holds a server

    REQUIRE(PQsendQuery(waiter.get(), "select 42") == 1);
    holder.exec_ok("commit");
    const auto released = Clock::now();
    CHECK(eventually([&] { return finished(console.get()); }, 5, 0.05));
    MESSAGE("PAUSE answered " << seconds_since(released) << " s after the last server was released");
    CHECK(drain(console.get()) == PGRES_COMMAND_OK);
    CHECK(console.scalar("show version").rfind("pggate ", 0) == 0);  // the console goes on
    CHECK(pools_sum(console, "postgres", "sv_active") == 0);

    sleep_for(1);
    CHECK_FALSE(finished(waiter.get()));  // held back while paused
    PgConn other_console(gate.unix_conninfo("dbname=pggate"));
    REQUIRE(other_console.exec("RESUME postgres").status() == PGRES_COMMAND_OK);
    CHECK(eventually([&] { return finished(waiter.get()); }, 5, 0.05));
    CHECK(drain(waiter.get()) == PGRES_TUPLES_OK);
    CHECK(holder.scalar("select 7") == "7");
}

TEST_CASE("admin: SHUTDOWN WAIT_FOR_SERVERS lets transactions under way finish, takes no new ones, then stops") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    const std::string login = "password=" + std::string(Cluster::kAdminPassword);
    PgConn holder(gate.conninfo(login));
    holder.exec_ok("begin");
    holder.exec_ok("select 1");

    PgConn console(gate.unix_conninfo("dbname=pggate"));
    REQUIRE(PQsendQuery(console.get(), "SHUTDOWN WAIT_FOR_SERVERS") == 1);
    sleep_for(1.5);
    CHECK(gate.running());
    PgConn late = PgConn::attempt(gate.conninfo(login));
    CHECK_FALSE(late.ok());
    CHECK_MESSAGE(late.error_sqlstate() == "55000", late.error_message());
    CHECK(holder.scalar("select 2") == "2");  // its transaction goes on
    PgResult committed = holder.exec("commit");
    CHECK(committed.status() == PGRES_COMMAND_OK);
    const auto released = Clock::now();
    CHECK(gate.wait_exit(10) == 0);
    MESSAGE("pggate exited " << seconds_since(released) << " s after the last transaction ended");
    CHECK(finished(console.get()));  // answered, and closed as pggate stopped
}

TEST_CASE("admin: SUSPEND is refused with a pointer to SIGUSR2") {
    PGGATE_ONLY();
    AuthFile file;
    write_users(file);
    Pggate gate(console_options(file));
    PgConn console(gate.unix_conninfo("dbname=pggate"));
    PgResult r = console.exec("SUSPEND");
    CHECK(r.sqlstate() == "0A000");
    CHECK(r.error().find("SIGUSR2") != std::string::npos);
}
