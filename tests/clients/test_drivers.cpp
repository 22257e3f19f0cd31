// Real client drivers through pggate (`make check-clients`), each in session
// pooling and in transaction pooling with read/write splitting over two
// replicas (more clients than servers): the workloads of tests/clients
// (psycopg2, psycopg 3, asyncpg, SQLAlchemy ORM, JDBC, node-postgres),
// libpq's pipeline mode, psql's \copy, and pgbench in its three query modes.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

#ifndef PG_BINDIR
#define PG_BINDIR ""
#endif

namespace {

// Debian's interpreter: it sees the python3-psycopg2, python3-psycopg and
// python3-asyncpg packages, which a pyenv python3 on the PATH would not.
constexpr const char* kPython = "/usr/bin/python3";

struct Run {
    int status = -1;  // exit code, 128 + signal when killed, -1 when it did not run
    std::string output;  // stdout and stderr together
};

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

// Starts a shell command line, its stderr joined to its stdout.
FILE* start_shell(const std::string& command) {
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    REQUIRE_MESSAGE(pipe != nullptr, "popen(" << command << ") failed");
    return pipe;
}

// Reads a started command to its end and reaps it.
Run finish_shell(FILE* pipe) {
    Run run;
    char buf[4096];
    for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) run.output.append(buf, n);
    int status = pclose(pipe);
    if (status != -1 && WIFEXITED(status)) run.status = WEXITSTATUS(status);
    else if (status != -1 && WIFSIGNALED(status)) run.status = 128 + WTERMSIG(status);
    return run;
}

Run run_shell(const std::string& command) { return finish_shell(start_shell(command)); }

std::vector<std::string> lines_starting_with(const std::string& text, const std::string& prefix) {
    std::vector<std::string> lines;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (text.compare(pos, prefix.size(), prefix) == 0) lines.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return lines;
}

// A PostgreSQL client program: from the build's PostgreSQL, else the PATH.
std::string pg_program(const std::string& name) {
    std::string dir = PG_BINDIR;
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    return name;
}

// How the gate pools: session pooling (everything on the primary), or
// transaction pooling with read/write splitting over the two replicas.
enum class Pooling { session, split };

const char* pooling_name(Pooling p) {
    return p == Pooling::session ? "session pooling" : "transaction pooling with read/write splitting";
}

// Whether reads outside transactions are expected on replicas.
bool splits(Pooling p) { return p == Pooling::split && !direct_mode(); }

// Session pooling keeps a server per client: room for the 8 clients, their
// second connections and the main one. Transaction pooling has fewer servers
// per node than clients, so clients share them; the functions the workloads
// ask where they ran are listed as read-only (routing()).
Pggate make_gate(Pooling p) {
    if (p == Pooling::session)
        return Pggate(std::vector<std::string>{"pool_mode = session", "auth_type = trust", "default_pool_size = 20",
                                               "workers = 2"});
    return Pggate(routing({"default_pool_size = 3"}));
}

// Waits until a fresh client's read runs on a replica (REQUIREd within 15 s):
// just after start-up, under load, the first reads can still land on the
// primary, and the workloads check where theirs ran from their first one.
void await_replica_reads(const Pggate& gate, Pooling p) {
    if (!splits(p)) return;
    auto start = Clock::now();
    bool on_replica = eventually(
        [&] {
            PgConn c(gate.conninfo());
            return c.scalar("select pg_is_in_recovery()") == "t";
        },
        15, 0.05);
    INFO("pggate log tail:\n" << gate.log_tail(30));
    REQUIRE_MESSAGE(on_replica, "reads did not reach a replica within 15 s");
    if (seconds_since(start) > 0.5) MESSAGE("reads reached a replica after " << seconds_since(start) << " s");
}

// The directory of this test binary (build/<variant>), where compiled
// workloads go.
std::string build_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    REQUIRE_MESSAGE(!ec, "readlink(/proc/self/exe) failed: " << ec.message());
    return exe.parent_path().string();
}

// Runs a workload command; it exits 0 only when every one of its checks
// passed, prints "<driver>: all N checks passed" or "<driver>: N failed
// checks ..." and what failed, and "note: " lines (where reads ran, slow steps).
void run_workload_command(const Pggate& gate, const std::string& driver, const std::string& command, Pooling p) {
    auto start = Clock::now();
    Run run = run_shell(command);
    std::vector<std::string> verdicts = lines_starting_with(run.output, driver + ": ");
    std::string verdict = verdicts.empty() ? last_lines(run.output, 1) : verdicts.back();
    std::string notes;
    for (const auto& line : lines_starting_with(run.output, "note: ")) notes += "\n  " + line;
    MESSAGE(driver << " workload (" << std::string(pooling_name(p)) << "): exit " << run.status << " after "
                   << seconds_since(start) << " s; " << verdict << notes);
    CAPTURE(command);
    INFO("workload output:\n" << run.output);
    INFO("pggate log tail:\n" << gate.log_tail(30));
    CHECK(run.status == 0);
    CHECK(verdict.find(" checks passed") != std::string::npos);
}

std::string workload_flags(Pooling p, int clients, int rounds) {
    std::string flags = " --clients " + std::to_string(clients) + " --rounds " + std::to_string(rounds) +
                        " --timeout 240";
    return splits(p) ? flags + " --split" : flags;
}

// Runs tests/clients/<driver>_workload.py against a gate with 8 clients.
void run_python_workload(Pooling p, const std::string& driver, const std::string& module) {
    Run probe = run_shell(std::string(kPython) + " -c " + shell_quote("import " + module));
    REQUIRE_MESSAGE(probe.status == 0, kPython << " cannot import " << module << " (contrib/install-deps.sh installs "
                                               << "the python3-* driver packages):\n" << probe.output);
    Pggate gate = make_gate(p);
    await_replica_reads(gate, p);
    const char* mode = direct_mode() ? "direct" : p == Pooling::session ? "session" : "transaction";
    std::string script = repo_root() + "/tests/clients/" + driver + "_workload.py";
    run_workload_command(gate, driver,
                         std::string(kPython) + " " + shell_quote(script) + " " + shell_quote(gate.conninfo()) +
                             " --mode " + mode + workload_flags(p, 8, 3),
                         p);
}

constexpr const char* kJdbcJar = "/usr/share/java/postgresql.jar";

// Compiles tests/clients/JdbcWorkload.java into build/<variant>/java (once
// per test process) and runs it against a gate: half its clients with the
// driver's default prepareThreshold, half with 1.
void run_jdbc_workload(Pooling p) {
    REQUIRE_MESSAGE(access(kJdbcJar, R_OK) == 0, kJdbcJar << " is missing (libpostgresql-jdbc-java)");
    static std::string classes;
    if (classes.empty()) {
        const std::string dir = build_dir() + "/java";
        Run javac = run_shell("javac -encoding UTF-8 -d " + shell_quote(dir) + " -cp " + kJdbcJar + " " +
                              shell_quote(repo_root() + "/tests/clients/JdbcWorkload.java"));
        REQUIRE_MESSAGE(javac.status == 0, "javac (default-jdk-headless) failed:\n" << javac.output);
        classes = dir;
    }
    Pggate gate = make_gate(p);
    await_replica_reads(gate, p);
    const std::string url = "jdbc:postgresql://127.0.0.1:" + std::to_string(gate.port()) +
                            "/postgres?user=postgres&sslmode=disable";
    run_workload_command(gate, "jdbc",
                         "java -Dfile.encoding=UTF-8 -cp " + shell_quote(classes + ":" + kJdbcJar) + " JdbcWorkload " +
                             shell_quote(url) + workload_flags(p, 8, 2),
                         p);
}

// Debian's node-pg lives in /usr/share/nodejs, one from npm in /usr/lib/node_modules.
constexpr const char* kNodeEnv = "NODE_PATH=/usr/share/nodejs:/usr/lib/node_modules ";

void run_node_workload(Pooling p) {
    Run probe = run_shell(std::string(kNodeEnv) + "node -e " + shell_quote("require('pg')"));
    REQUIRE_MESSAGE(probe.status == 0, "node cannot load pg (contrib/install-deps.sh installs nodejs and "
                                       << "node-pg):\n" << probe.output);
    Pggate gate = make_gate(p);
    await_replica_reads(gate, p);
    run_workload_command(gate, "node-pg",
                         std::string(kNodeEnv) + "node " + shell_quote(repo_root() + "/tests/clients/node_pg_workload.js") +
                             " " + shell_quote(gate.conninfo()) + workload_flags(p, 8, 2),
                         p);
}

// A directory of its own under /tmp, removed with the object.
struct TempDir {
    std::string path;
    TempDir() {
        char pattern[] = "/tmp/pggate-drivers-XXXXXX";
        REQUIRE(mkdtemp(pattern) != nullptr);
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string psql(const Pggate& gate, const std::vector<std::string>& commands) {
    std::string line = pg_program("psql") + " -X -q -v ON_ERROR_STOP=1 " + shell_quote(gate.conninfo());
    for (const auto& c : commands) line += " -c " + shell_quote(c);
    return line;
}


// libpq's pipeline mode: several queries sent before any answer is read,
// a failing one among them (the rest of its segment is skipped, the next
// segment runs), prepared statements, and a transaction block that fails
// inside a pipeline and is rolled back; results are checked one by one.
void pipeline_workload(Pooling p) {
    Pggate gate = make_gate(p);
    await_replica_reads(gate, p);
    PgConn admin = cluster().admin();
    admin.exec_ok("drop table if exists drv_pipeline");
    admin.exec_ok("create table drv_pipeline (id int primary key, note text)");
    admin.exec_ok("grant all on drv_pipeline to public");
    if (splits(p)) cluster().wait_replicas_caught_up();
    INFO("pggate log tail:\n" << gate.log_tail(30));

    auto send = [](PGconn* c, const char* sql, std::vector<const char*> params = {}) {
        REQUIRE_MESSAGE(PQsendQueryParams(c, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr,
                                          nullptr, 0) == 1,
                        PQerrorMessage(c));
    };
    // The next result of the pipeline, and the nullptr that ends each query's results.
    auto next = [](PGconn* c, ExecStatusType expected) {
        PgResult r = get_result(c);
        CHECK_MESSAGE(r.status() == expected, r.describe());
        if (expected != PGRES_PIPELINE_SYNC) CHECK_FALSE(get_result(c));
        return r;
    };

    // Reads only, before this client writes anything: with splitting the
    // whole segment runs on a replica.
    PgConn reader(gate.conninfo());
    REQUIRE(PQenterPipelineMode(reader.get()) == 1);
    for (int i = 0; i < 3; ++i) send(reader.get(), "select pg_is_in_recovery(), $1::int * 2", {i == 0 ? "0" : "21"});
    REQUIRE(PQpipelineSync(reader.get()) == 1);
    for (int i = 0; i < 3; ++i) {
        PgResult r = next(reader.get(), PGRES_TUPLES_OK);
        CHECK(r.value(0, 0) == (splits(p) ? "t" : "f"));
        CHECK(r.value(0, 1) == (i == 0 ? "0" : "42"));
    }
    next(reader.get(), PGRES_PIPELINE_SYNC);
    REQUIRE(PQexitPipelineMode(reader.get()) == 1);

    PgConn c(gate.conninfo());
    PGconn* pc = c.get();
    REQUIRE(PQenterPipelineMode(pc) == 1);
    // Segment 1: two inserts, a read of them, a failing statement, and two
    // more that are skipped once it failed. The segment is one implicit
    // transaction: the failure undoes the inserts too. Segment 2 runs after
    // the Sync.
    send(pc, "insert into drv_pipeline values ($1, $2) returning id", {"1", "one"});
    send(pc, "insert into drv_pipeline values ($1, $2)", {"2", "two"});
    send(pc, "select count(*), string_agg(note, ',' order by id) from drv_pipeline");
    send(pc, "select 1 / $1::int", {"0"});
    send(pc, "insert into drv_pipeline values (3, 'skipped')");
    send(pc, "select 'skipped too'");
    REQUIRE(PQpipelineSync(pc) == 1);
    REQUIRE(PQsendPrepare(pc, "drv_ins", "insert into drv_pipeline values ($1, $2) returning note", 2, nullptr) == 1);
    const char* four[] = {"4", "four"};
    const char* five[] = {"5", "five"};
    REQUIRE(PQsendQueryPrepared(pc, "drv_ins", 2, four, nullptr, nullptr, 0) == 1);
    REQUIRE(PQsendQueryPrepared(pc, "drv_ins", 2, five, nullptr, nullptr, 0) == 1);
    REQUIRE(PQsendDescribePrepared(pc, "drv_ins") == 1);
    send(pc, "select count(*) from drv_pipeline");
    REQUIRE(PQpipelineSync(pc) == 1);
    REQUIRE(PQflush(pc) == 0);

    CHECK(next(pc, PGRES_TUPLES_OK).value(0, 0) == "1");
    PgResult second = next(pc, PGRES_COMMAND_OK);
    CHECK(std::string(PQcmdTuples(second.get())) == "1");
    PgResult agg = next(pc, PGRES_TUPLES_OK);
    CHECK(agg.value(0, 0) == "2");
    CHECK(agg.value(0, 1) == "one,two");
    CHECK(next(pc, PGRES_FATAL_ERROR).sqlstate() == "22012");
    next(pc, PGRES_PIPELINE_ABORTED);
    next(pc, PGRES_PIPELINE_ABORTED);
    next(pc, PGRES_PIPELINE_SYNC);
    next(pc, PGRES_COMMAND_OK);  // Parse
    CHECK(next(pc, PGRES_TUPLES_OK).value(0, 0) == "four");
    CHECK(next(pc, PGRES_TUPLES_OK).value(0, 0) == "five");
    PgResult described = next(pc, PGRES_COMMAND_OK);
    CHECK(PQnparams(described.get()) == 2);
    CHECK(PQnfields(described.get()) == 1);
    CHECK(next(pc, PGRES_TUPLES_OK).value(0, 0) == "2");
    next(pc, PGRES_PIPELINE_SYNC);

    // A transaction block inside one segment that fails half way: nothing of
    // it stays, the COMMIT is skipped, and after the Sync the session is in a
    // failed transaction until ROLLBACK.
    send(pc, "begin");
    send(pc, "insert into drv_pipeline values (6, 'in the failed block')");
    send(pc, "insert into drv_pipeline values (4, 'duplicate')");
    send(pc, "insert into drv_pipeline values (7, 'skipped')");
    send(pc, "commit");
    REQUIRE(PQpipelineSync(pc) == 1);
    next(pc, PGRES_COMMAND_OK);
    next(pc, PGRES_COMMAND_OK);
    CHECK(next(pc, PGRES_FATAL_ERROR).sqlstate() == "23505");
    next(pc, PGRES_PIPELINE_ABORTED);
    next(pc, PGRES_PIPELINE_ABORTED);
    next(pc, PGRES_PIPELINE_SYNC);
    CHECK(PQtransactionStatus(pc) == PQTRANS_INERROR);
    send(pc, "select 1");
    REQUIRE(PQpipelineSync(pc) == 1);
    CHECK(next(pc, PGRES_FATAL_ERROR).sqlstate() == "25P02");
    next(pc, PGRES_PIPELINE_SYNC);
    send(pc, "rollback");
    // A committed block in the same pipeline, after the rollback.
    send(pc, "begin");
    REQUIRE(PQsendQueryPrepared(pc, "drv_ins", 2, std::vector<const char*>{"8", "eight"}.data(), nullptr, nullptr, 0) == 1);
    send(pc, "commit");
    REQUIRE(PQpipelineSync(pc) == 1);
    next(pc, PGRES_COMMAND_OK);
    next(pc, PGRES_COMMAND_OK);
    CHECK(next(pc, PGRES_TUPLES_OK).value(0, 0) == "eight");
    next(pc, PGRES_COMMAND_OK);
    next(pc, PGRES_PIPELINE_SYNC);
    CHECK(PQtransactionStatus(pc) == PQTRANS_IDLE);
    REQUIRE(PQexitPipelineMode(pc) == 1);

    // The session goes on outside pipeline mode, with its prepared statement.
    CHECK(c.scalar("select string_agg(id::text, ',' order by id) from drv_pipeline") == "4,5,8");
    const char* nine[] = {"9", "nine"};
    PgResult again(PQexecPrepared(pc, "drv_ins", 2, nine, nullptr, nullptr, 0));
    CHECK_MESSAGE(again.status() == PGRES_TUPLES_OK, again.describe());
    CHECK(admin.scalar("select string_agg(id::text, ',' order by id) from drv_pipeline") == "4,5,8,9");
    admin.exec_ok("drop table drv_pipeline");
}

// psql's \\copy in and out (CSV with quotes, newlines in fields, non-ASCII
// text and NULLs), inside a rolled-back transaction, failing, and several at
// once.
void psql_copy(Pooling p) {
    constexpr int kRows = 5000;
    constexpr int kParallel = 6;
    Pggate gate = make_gate(p);
    await_replica_reads(gate, p);
    TempDir tmp;
    PgConn admin = cluster().admin();
    admin.exec_ok("drop table if exists drv_psql_copy");
    admin.exec_ok("create table drv_psql_copy (id int primary key, note text, n int)");

    // Quotes, commas, a newline inside a field, non-ASCII text and NULLs.
    const std::string in_path = tmp.path + "/in.csv";
    {
        std::ofstream in(in_path);
        for (int i = 1; i <= kRows; ++i) {
            in << i << ",";
            if (i % 7 == 0) in << "\"line one\nline two, \"\"quoted\"\" é\"";
            else if (i % 11 != 0) in << "row " << i << " ✓";
            in << "," << i % 13 << "\n";
        }
    }
    Run copy_in = run_shell(psql(gate, {"\\copy drv_psql_copy (id, note, n) from " + shell_quote(in_path) +
                                            " with (format csv)"}));
    INFO("psql output:\n" << copy_in.output);
    CHECK(copy_in.status == 0);
    CHECK(admin.scalar("select count(*) from drv_psql_copy") == std::to_string(kRows));
    CHECK(admin.scalar("select count(*) from drv_psql_copy where note is null") ==
          std::to_string(kRows / 11 - kRows / 77));
    // With splitting, COPY (SELECT ...) TO STDOUT runs on a replica: let them
    // replay the load. (A replica can be unfit for a moment, as when its
    // health check was slow: a fresh psql is asked again, for a bounded time.)
    if (splits(p)) cluster().wait_replicas_caught_up();
    Run where;
    int tries = 0;
    eventually(
        [&] {
            ++tries;
            where = run_shell(psql(gate, {"\\copy (select pg_is_in_recovery()) to stdout"}));
            return where.status != 0 || where.output == (splits(p) ? "t\n" : "f\n");
        },
        10, 0.1);
    INFO("psql output:\n" << where.output);
    INFO("pggate log tail:\n" << gate.log_tail(30));
    CHECK(where.status == 0);
    CHECK(where.output == (splits(p) ? "t\n" : "f\n"));
    if (tries > 1) MESSAGE("COPY TO STDOUT ran where expected after " << tries << " tries");

    const std::string out_path = tmp.path + "/out.csv";
    Run copy_out = run_shell(psql(gate, {"\\copy (select id, note, n from drv_psql_copy order by id) to " +
                                             shell_quote(out_path) + " with (format csv)"}));
    INFO("psql output:\n" << copy_out.output);
    CHECK(copy_out.status == 0);
    CHECK_MESSAGE(read_text_file(out_path) == read_text_file(in_path), "\\copy out differs from what \\copy in loaded");

    // A \copy inside a transaction that is rolled back leaves nothing behind.
    const std::string more_path = tmp.path + "/more.csv";
    std::ofstream(more_path) << kRows + 1 << ",more,1\n" << kRows + 2 << ",more,2\n";
    Run rolled_back = run_shell(psql(gate, {"begin", "\\copy drv_psql_copy (id, note, n) from " +
                                                        shell_quote(more_path) + " with (format csv)",
                                            "select count(*) from drv_psql_copy", "rollback"}));
    INFO("psql output:\n" << rolled_back.output);
    CHECK(rolled_back.status == 0);
    CHECK(admin.scalar("select count(*) from drv_psql_copy") == std::to_string(kRows));

    // A \copy that fails (duplicate keys) loads nothing, and the next one works.
    Run failing = run_shell(psql(gate, {"\\copy drv_psql_copy (id, note, n) from " + shell_quote(in_path) +
                                            " with (format csv)"}));
    INFO("psql output:\n" << failing.output);
    CHECK(failing.status != 0);
    CHECK(failing.output.find("duplicate key") != std::string::npos);
    CHECK(admin.scalar("select count(*) from drv_psql_copy") == std::to_string(kRows));

    // More \copy sessions at once than the pool has servers.
    std::vector<FILE*> running;
    for (int part = 0; part < kParallel; ++part) {
        const std::string path = tmp.path + "/part" + std::to_string(part) + ".csv";
        {
            std::ofstream out(path);
            for (int i = 0; i < 2000; ++i) out << 100000 * (part + 1) + i << ",part " << part << "," << part << "\n";
        }
        running.push_back(start_shell(psql(gate, {"\\copy drv_psql_copy (id, note, n) from " + shell_quote(path) +
                                                      " with (format csv)",
                                                  "\\copy (select * from drv_psql_copy where n = " + std::to_string(part) +
                                                      " and note like 'part%') to '/dev/null'"})));
    }
    for (int part = 0; part < kParallel; ++part) {
        Run run = finish_shell(running[static_cast<std::size_t>(part)]);
        CAPTURE(part);
        INFO("psql output:\n" << run.output);
        CHECK(run.status == 0);
    }
    CHECK(admin.scalar("select count(*) from drv_psql_copy") == std::to_string(kRows + kParallel * 2000));
    for (int part = 0; part < kParallel; ++part) {
        CAPTURE(part);
        CHECK(admin.scalar("select count(*) from drv_psql_copy where note = 'part " + std::to_string(part) + "'") ==
              "2000");
    }
    // pggate still serves ordinary queries afterwards.
    PgConn after(gate.conninfo());
    CHECK(after.scalar("select count(*) from drv_psql_copy where id <= 10") == "10");
    admin.exec_ok("drop table drv_psql_copy");
}

// pgbench's TPC-B in its three query modes (simple, extended, prepared);
// with splitting also its select-only script, whose reads the replicas serve.
void pgbench_modes(Pooling p) {
    constexpr int kClients = 8;
    constexpr int kTransactions = 100;
    const std::string pgbench = pg_program("pgbench");
    // Initialized straight on the primary, so only the benchmark goes through pggate.
    Run init = run_shell(pgbench + " -i -s 1 -q " + shell_quote(cluster().admin_conninfo(cluster().primary_port())));
    INFO("pgbench -i output:\n" << init.output);
    REQUIRE(init.status == 0);
    if (splits(p)) cluster().wait_replicas_caught_up();

    Pggate gate = make_gate(p);
    await_replica_reads(gate, p);
    PgConn admin = cluster().admin();
    auto replica_commits = [] {
        long long sum = 0;
        for (int port : cluster().replica_ports())
            sum += std::stoll(cluster().admin_scalar(
                "select xact_commit from pg_stat_database where datname = 'postgres'", port));
        return sum;
    };
    int total = 0;
    for (const std::string mode : {"simple", "extended", "prepared"}) {
        CAPTURE(mode);
        Run run = run_shell(pgbench + " -n -M " + mode + " -c " + std::to_string(kClients) + " -j 2 -t " +
                            std::to_string(kTransactions) + " " + shell_quote(gate.conninfo()));
        INFO("pgbench output:\n" << run.output);
        INFO("pggate log tail:\n" << gate.log_tail(30));
        CHECK(run.status == 0);
        const long long done = number_after(run.output, "number of transactions actually processed:");
        CHECK(done == kClients * kTransactions);
        CHECK(number_after(run.output, "number of failed transactions:") == 0);
        total += static_cast<int>(done);
        // TPC-B's books balance: every transaction added the same delta to an
        // account, a teller and a branch, and wrote one history row.
        CHECK(admin.scalar("select count(*) from pgbench_history") == std::to_string(total));
        CHECK(admin.scalar("select sum(delta) = (select sum(abalance) from pgbench_accounts)"
                           " and sum(delta) = (select sum(tbalance) from pgbench_tellers)"
                           " and sum(delta) = (select sum(bbalance) from pgbench_branches)"
                           " from pgbench_history") == "t");
        if (!splits(p)) continue;
        // Select-only: every transaction is one read, counted as a commit on
        // the replica that ran it once its session reports statistics.
        const long long before = replica_commits();
        Run reads = run_shell(pgbench + " -n -S -M " + mode + " -c 4 -j 2 -t 50 " + shell_quote(gate.conninfo()));
        INFO("pgbench -S output:\n" << reads.output);
        CHECK(reads.status == 0);
        const long long read_tx = number_after(reads.output, "number of transactions actually processed:");
        CHECK(read_tx == 200);
        long long on_replicas = 0;
        eventually([&] { return (on_replicas = replica_commits() - before) >= read_tx; }, 15, 0.2);
        MESSAGE("pgbench -S -M " << mode << ": " << read_tx << " transactions, " << on_replicas
                                 << " commits on the replicas");
        CHECK(on_replicas >= read_tx);
    }
    admin.exec_ok("drop table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers");
}

}  // namespace

// ---- the test cases: every driver in both poolings ---------------------------

TEST_CASE("drivers: psycopg2 workload through session pooling") {
    run_python_workload(Pooling::session, "psycopg2", "psycopg2");
}

TEST_CASE("drivers: psycopg2 workload through transaction pooling with read/write splitting") {
    run_python_workload(Pooling::split, "psycopg2", "psycopg2");
}

TEST_CASE("drivers: psycopg 3 workload (prepared statements) through session pooling") {
    run_python_workload(Pooling::session, "psycopg3", "psycopg");
}

TEST_CASE("drivers: psycopg 3 workload (prepared statements) through transaction pooling with read/write splitting") {
    run_python_workload(Pooling::split, "psycopg3", "psycopg");
}

TEST_CASE("drivers: asyncpg workload (statement cache) through session pooling") {
    run_python_workload(Pooling::session, "asyncpg", "asyncpg");
}

TEST_CASE("drivers: asyncpg workload (statement cache) through transaction pooling with read/write splitting") {
    run_python_workload(Pooling::split, "asyncpg", "asyncpg");
}

TEST_CASE("drivers: SQLAlchemy ORM workload through session pooling") {
    run_python_workload(Pooling::session, "sqlalchemy", "sqlalchemy");
}

TEST_CASE("drivers: SQLAlchemy ORM workload through transaction pooling with read/write splitting") {
    run_python_workload(Pooling::split, "sqlalchemy", "sqlalchemy");
}

TEST_CASE("drivers: JDBC workload (prepareThreshold default and 1, cursor fetch, COPY) through session pooling") {
    run_jdbc_workload(Pooling::session);
}

TEST_CASE("drivers: JDBC workload (prepareThreshold default and 1, cursor fetch, COPY) through transaction pooling "
          "with read/write splitting") {
    run_jdbc_workload(Pooling::split);
}

TEST_CASE("drivers: node-postgres workload through session pooling") { run_node_workload(Pooling::session); }

TEST_CASE("drivers: node-postgres workload through transaction pooling with read/write splitting") {
    run_node_workload(Pooling::split);
}

TEST_CASE("drivers: libpq pipeline mode through session pooling") { pipeline_workload(Pooling::session); }

TEST_CASE("drivers: libpq pipeline mode through transaction pooling with read/write splitting") {
    pipeline_workload(Pooling::split);
}

TEST_CASE("drivers: psql \\copy in and out through session pooling") { psql_copy(Pooling::session); }

TEST_CASE("drivers: psql \\copy in and out through transaction pooling with read/write splitting") {
    psql_copy(Pooling::split);
}

TEST_CASE("drivers: pgbench -M simple, extended and prepared through session pooling") {
    pgbench_modes(Pooling::session);
}

TEST_CASE("drivers: pgbench -M simple, extended and prepared through transaction pooling with read/write "
          "splitting") {
    pgbench_modes(Pooling::split);
}
