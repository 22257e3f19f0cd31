// Real client drivers through pggate: the Python workloads of tests/clients
// (psycopg2, psycopg 3, asyncpg) with more clients than servers in
// transaction pooling and in session pooling, psql's \copy, and pgbench in
// its three query modes.
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

Pggate transaction_gate() {
    return Pggate(std::vector<std::string>{"pool_mode = transaction", "auth_type = trust", "default_pool_size = 3",
                                           "workers = 2"});
}

// Session pooling keeps a server per client: room for the 8 clients, their
// second connections and the main one.
Pggate session_gate() {
    return Pggate(std::vector<std::string>{"pool_mode = session", "auth_type = trust", "default_pool_size = 20",
                                           "workers = 2"});
}

// Runs tests/clients/<driver>_workload.py against the gate with 8 clients;
// it exits 0 only when every one of its checks passed, and prints what failed.
void run_workload(const Pggate& gate, const std::string& driver, const std::string& module, const char* mode) {
    Run probe = run_shell(std::string(kPython) + " -c " + shell_quote("import " + module));
    REQUIRE_MESSAGE(probe.status == 0, kPython << " cannot import " << module << " (contrib/install-deps.sh installs "
                                               << "the python3-* driver packages):\n" << probe.output);
    std::string script = repo_root() + "/tests/clients/" + driver + "_workload.py";
    std::string command = std::string(kPython) + " " + shell_quote(script) + " " + shell_quote(gate.conninfo()) +
                          " --clients 8 --rounds 3 --timeout 240 --mode " + (direct_mode() ? "direct" : mode);
    auto start = Clock::now();
    Run run = run_shell(command);
    // The workload's verdict ("<driver>: all N checks passed" or "<driver>: N
    // failed checks ..."), and its notes: how many backends served it, slow steps.
    std::vector<std::string> verdicts = lines_starting_with(run.output, driver + ": ");
    std::string verdict = verdicts.empty() ? last_lines(run.output, 1) : verdicts.back();
    std::string notes;
    for (const auto& line : lines_starting_with(run.output, "note: ")) notes += "\n  " + line;
    MESSAGE(driver << " workload (" << std::string(mode) << " pooling): exit " << run.status << " after "
                   << seconds_since(start) << " s; " << verdict << notes);
    CAPTURE(command);
    INFO("workload output:\n" << run.output);
    INFO("pggate log tail:\n" << gate.log_tail(30));
    CHECK(run.status == 0);
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

}  // namespace

TEST_CASE("drivers: psycopg2 workload through transaction pooling") {
    Pggate gate = transaction_gate();
    run_workload(gate, "psycopg2", "psycopg2", "transaction");
}

TEST_CASE("drivers: psycopg2 workload through session pooling") {
    Pggate gate = session_gate();
    run_workload(gate, "psycopg2", "psycopg2", "session");
}

TEST_CASE("drivers: psycopg 3 workload (prepared statements) through transaction pooling") {
    Pggate gate = transaction_gate();
    run_workload(gate, "psycopg3", "psycopg", "transaction");
}

TEST_CASE("drivers: psycopg 3 workload (prepared statements) through session pooling") {
    Pggate gate = session_gate();
    run_workload(gate, "psycopg3", "psycopg", "session");
}

TEST_CASE("drivers: asyncpg workload (statement cache) through transaction pooling") {
    Pggate gate = transaction_gate();
    run_workload(gate, "asyncpg", "asyncpg", "transaction");
}

TEST_CASE("drivers: asyncpg workload (statement cache) through session pooling") {
    Pggate gate = session_gate();
    run_workload(gate, "asyncpg", "asyncpg", "session");
}

TEST_CASE("drivers: psql \\copy in and out through transaction pooling") {
    constexpr int kRows = 5000;
    constexpr int kParallel = 6;
    Pggate gate = transaction_gate();
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
    for (int p = 0; p < kParallel; ++p) {
        const std::string path = tmp.path + "/part" + std::to_string(p) + ".csv";
        {
            std::ofstream part(path);
            for (int i = 0; i < 2000; ++i) part << 100000 * (p + 1) + i << ",part " << p << "," << p << "\n";
        }
        running.push_back(start_shell(psql(gate, {"\\copy drv_psql_copy (id, note, n) from " + shell_quote(path) +
                                                      " with (format csv)",
                                                  "\\copy (select * from drv_psql_copy where n = " + std::to_string(p) +
                                                      " and note like 'part%') to '/dev/null'"})));
    }
    for (int p = 0; p < kParallel; ++p) {
        Run run = finish_shell(running[static_cast<std::size_t>(p)]);
        CAPTURE(p);
        INFO("psql output:\n" << run.output);
        CHECK(run.status == 0);
    }
    CHECK(admin.scalar("select count(*) from drv_psql_copy") == std::to_string(kRows + kParallel * 2000));
    for (int p = 0; p < kParallel; ++p) {
        CAPTURE(p);
        CHECK(admin.scalar("select count(*) from drv_psql_copy where note = 'part " + std::to_string(p) + "'") ==
              "2000");
    }
    // pggate still serves ordinary queries afterwards.
    PgConn after(gate.conninfo());
    CHECK(after.scalar("select count(*) from drv_psql_copy where id <= 10") == "10");
    admin.exec_ok("drop table drv_psql_copy");
}

TEST_CASE("drivers: pgbench -M simple, extended and prepared through transaction pooling") {
    constexpr int kClients = 8;
    constexpr int kTransactions = 100;
    const std::string pgbench = pg_program("pgbench");
    // Initialized straight on the primary, so only the benchmark goes through pggate.
    Run init = run_shell(pgbench + " -i -s 1 -q " + shell_quote(cluster().admin_conninfo(cluster().primary_port())));
    INFO("pgbench -i output:\n" << init.output);
    REQUIRE(init.status == 0);

    Pggate gate = transaction_gate();
    PgConn admin = cluster().admin();
    int total = 0;
    for (const std::string mode : {"simple", "extended", "prepared"}) {
        CAPTURE(mode);
        Run run = run_shell(pgbench + " -n -M " + mode + " -c " + std::to_string(kClients) + " -j 2 -t " +
                            std::to_string(kTransactions) + " " + shell_quote(gate.conninfo()));
        INFO("pgbench output:\n" << run.output);
        INFO("pggate log tail:\n" << gate.log_tail(30));
        CHECK(run.status == 0);
        const std::string processed = "number of transactions actually processed: ";
        const auto at = run.output.find(processed);
        const int done = at == std::string::npos ? 0 : std::atoi(run.output.c_str() + at + processed.size());
        CHECK(done == kClients * kTransactions);
        CHECK(run.output.find("number of failed transactions: 0 ") != std::string::npos);
        total += done;
        // TPC-B's books balance: every transaction added the same delta to an
        // account, a teller and a branch, and wrote one history row.
        CHECK(admin.scalar("select count(*) from pgbench_history") == std::to_string(total));
        CHECK(admin.scalar("select sum(delta) = (select sum(abalance) from pgbench_accounts)"
                           " and sum(delta) = (select sum(tbalance) from pgbench_tellers)"
                           " and sum(delta) = (select sum(bbalance) from pgbench_branches)"
                           " from pgbench_history") == "t");
    }
    admin.exec_ok("drop table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers");
}
