// Reload under load: pgbench -c 50 (TPC-B) runs through pggate while the test
// rewrites its ini (pool size, query_timeout) and sends SIGHUP every second,
// with and without invalid files in between; no client may notice.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

namespace {

const std::string kPgEnv =
    std::string("PGPASSWORD=") + Cluster::kAdminPassword + " PGCONNECT_TIMEOUT=10 PGSSLMODE=disable ";
constexpr const char* kDatabase = "reload_bench";
constexpr int kClients = 50;
constexpr const char* kReloaded = "configuration reloaded from";
constexpr const char* kRefused = "reload failed, keeping the running configuration";
// What an invalid file would set if pggate took it anyway: small enough that
// 50 busy clients would show it at once.
constexpr int kInvalidPoolSize = 3;

// A database of its own on the shared cluster, initialised by pgbench -i
// straight on the primary, so pg_stat_activity counts only pggate's servers
// of the benchmark. Dropped (with whatever is still connected) at the end.
class BenchDatabase {
public:
    BenchDatabase() {
        drop();
        cluster().admin_exec(std::string("create database ") + kDatabase);
        std::string output;
        REQUIRE_MESSAGE(run_shell(kPgEnv + "pgbench -i -s 1 -q -h 127.0.0.1 -p " +
                                      std::to_string(cluster().primary_port()) + " -U postgres " + kDatabase,
                                  output) == 0,
                        output);
    }
    ~BenchDatabase() {
        try {
            drop();
        } catch (...) {
        }
    }
    BenchDatabase(const BenchDatabase&) = delete;
    BenchDatabase& operator=(const BenchDatabase&) = delete;

    // Server connections pggate holds to the primary for the benchmark.
    static int servers() {
        return std::stoi(cluster().admin_scalar(std::string("select count(*) from pg_stat_activity where datname = '") +
                                                kDatabase + "' and backend_type = 'client backend'"));
    }

private:
    static void drop() { cluster().admin_exec(std::string("drop database if exists ") + kDatabase + " with (force)"); }
};

// `ini` with the value of each `key = value` line whose key is in `values`
// replaced, and `extra` lines appended to [pggate] (which the harness writes first).
std::string with_settings(const std::string& ini, const std::vector<std::pair<std::string, std::string>>& values,
                          const std::string& extra = "") {
    std::string out;
    std::size_t pos = 0;
    while (pos < ini.size()) {
        std::size_t end = ini.find('\n', pos);
        if (end == std::string::npos) end = ini.size();
        std::string line = ini.substr(pos, end - pos);
        for (const auto& [key, value] : values)
            if (line.starts_with(key + " = ")) line = key + " = " + value;
        out += line + "\n";
        if (line == "[pggate]") out += extra;
        pos = end + 1;
    }
    return out;
}

int log_count(const Pggate& gate, const std::string& needle) {
    const std::string log = gate.log_text();
    int n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + needle.size())) ++n;
    return n;
}

struct ReloadRun {
    std::string pool_mode;
    int sizes[2];       // default_pool_size alternates between these
    int invalid_every;  // every n-th rewrite is an invalid file; 0: none
    int seconds;        // pgbench -T
};

// Rewrites and reload signals, and what the master made of them.
class Rewriter {
public:
    Rewriter(Pggate& gate, const ReloadRun& run) : gate_(gate), run_(run), ini_(read_text_file(gate.ini_path())) {}

    // A valid file with this pool size (query_timeout alternating too);
    // returns once the master logged the reload.
    void valid(int pool_size) {
        const std::string query_timeout = valid_ % 2 == 0 ? "60" : "30";
        send(with_settings(ini_, {{"default_pool_size", std::to_string(pool_size)}, {"query_timeout", query_timeout}}),
             kReloaded, ++valid_);
        running_size_ = pool_size;
    }
    // An invalid file, alternately an unknown key and an unparsable value,
    // that would otherwise shrink the pool to kInvalidPoolSize; returns once
    // the master logged the refusal.
    void invalid() {
        const std::string size = std::to_string(kInvalidPoolSize);
        const std::string text =
            invalid_ % 2 == 0 ? with_settings(ini_, {{"default_pool_size", size}}, "no_such_setting = 1\n")
                              : with_settings(ini_, {{"default_pool_size", size}, {"query_timeout", "soon"}});
        send(text, kRefused, ++invalid_);
    }
    // The n-th rewrite of the run: invalid every run.invalid_every-th, else
    // the next of the alternating pool sizes.
    void step(int n) {
        if (run_.invalid_every > 0 && n % run_.invalid_every == run_.invalid_every - 1)
            invalid();
        else
            valid(run_.sizes[valid_ % 2]);
    }

    int valid_count() const { return valid_; }
    int invalid_count() const { return invalid_; }
    int running_size() const { return running_size_; }
    int late() const { return late_; }

private:
    void send(const std::string& text, const char* outcome, int expected) {
        replace_file(gate_.ini_path(), text);
        gate_.send_signal(SIGHUP);
        // Two SIGHUPs pending at once would be one reload: wait for this one.
        if (!eventually([&] { return log_count(gate_, outcome) >= expected; }, 5)) ++late_;
    }

    Pggate& gate_;
    const ReloadRun& run_;
    const std::string ini_;
    int valid_ = 0, invalid_ = 0, late_ = 0;
    int running_size_ = 0;
};

void reload_under_pgbench(const ReloadRun& run) {
    BenchDatabase db;
    Pggate gate({"pool_mode = " + run.pool_mode, "auth_type = trust", "default_pool_size = " + std::to_string(run.sizes[0]),
                 "query_timeout = 30", "max_client_conn = 100"});
    const bool transaction = run.pool_mode == "transaction";
    Rewriter rewriter(gate, run);

    const auto start = Clock::now();
    Background bench(kPgEnv + "pgbench -n -P 5 -c " + std::to_string(kClients) + " -j 2 -T " +
                     std::to_string(run.seconds) + " -h 127.0.0.1 -p " + std::to_string(gate.port()) +
                     " -U postgres " + kDatabase);
    // Rewrites every second, leaving time for the closing checks below
    // while pgbench still runs.
    int n = 0;
    for (; seconds_since(start) < run.seconds - 15; ++n) {
        const auto step_start = Clock::now();
        rewriter.step(n);
        sleep_for(std::max(0.0, 1 - seconds_since(step_start)));
    }

    // The closing rewrites show the pool follow the file both ways, and an
    // invalid file change nothing, while all 50 clients keep it busy.
    std::vector<int> samples;
    int grown = -1, shrunk = -1;
    const int small = std::min(run.sizes[0], run.sizes[1]), large = std::max(run.sizes[0], run.sizes[1]);
    if (transaction) {
        rewriter.valid(large);
        CHECK(eventually([&] { return (grown = BenchDatabase::servers()) == large; }, 5, 0.1));
        rewriter.valid(small);
        CHECK(eventually([&] { return (shrunk = BenchDatabase::servers()) == small; }, 5, 0.1));
    }
    if (run.invalid_every > 0) {
        rewriter.invalid();
        for (int i = 0; i < 15; ++i, sleep_for(0.1)) samples.push_back(BenchDatabase::servers());
        // More clients than a pool of kInvalidPoolSize would hold: a session
        // pool took the file if one more client cannot get a server.
        if (!transaction) {
            PgConn probe(gate.conninfo(std::string("dbname=") + kDatabase));
            CHECK_MESSAGE(probe.exec("select 1", 10).ok(), gate.log_tail());
        }
    }
    const int rc = bench.wait();
    const std::string& out = bench.output();
    INFO("pgbench:\n" << out);
    INFO("pggate log tail:\n" << gate.log_tail(30));

    const int aborted = count_matches(out, "client [0-9]+ (script [0-9]+ )?aborted");
    const int errors = count_matches(out, "[Ee]rror|FATAL|server closed|terminat");
    const long long failed = number_after(out, "number of failed transactions:");
    const long long processed = number_after(out, "number of transactions actually processed:");
    const double tps = decimal_after(out, "tps = ");
    double lowest = -1;
    std::regex progress("progress: [0-9.]+ s, ([0-9.]+) tps");
    for (std::sregex_iterator it(out.begin(), out.end(), progress), end; it != end; ++it) {
        const double rate = std::stod((*it)[1]);
        if (lowest < 0 || rate < lowest) lowest = rate;
    }
    const int reloaded = log_count(gate, kReloaded), refused = log_count(gate, kRefused);
    const int workers_reloaded = count_matches(gate.log_text(), "worker [0-9]+: configuration reloaded");
    std::string sampled;
    for (int s : samples) sampled += " " + std::to_string(s);
    MESSAGE(run.pool_mode << " pooling, pgbench -c " << kClients << " -j 2 -T " << run.seconds << ": exit " << rc << ", "
                          << processed << " transactions, " << tps << " tps (lowest 5 s interval " << lowest << "), "
                          << failed << " failed, " << aborted << " clients aborted, " << errors << " error lines; "
                          << reloaded << " reloads applied (" << workers_reloaded << " by the 2 workers), " << refused
                          << " invalid files refused, " << rewriter.late() << " reloads logged late");
    if (transaction)
        MESSAGE("servers on the primary: " << grown << " after default_pool_size = " << large << ", " << shrunk
                                           << " after " << small
                                           << std::string(samples.empty() ? "" : "; after an invalid file:")
                                           << sampled);

    CHECK(rc == 0);
    CHECK(failed == 0);
    CHECK(aborted == 0);
    CHECK(errors == 0);
    CHECK(processed > 0);
    CHECK(rewriter.late() == 0);
    CHECK(reloaded == rewriter.valid_count());
    CHECK(refused == rewriter.invalid_count());
    // One rewrite a second until 15 s before pgbench's end.
    CHECK(rewriter.valid_count() + rewriter.invalid_count() >= run.seconds - 15);
    if (run.invalid_every > 0) CHECK(rewriter.invalid_count() >= (run.seconds - 15) / run.invalid_every);
    // Both workers (the harness's default) applied every valid file.
    CHECK(workers_reloaded == reloaded * 2);
    const std::string log = gate.log_text();
    CHECK(log.find("rejected") == std::string::npos);
    CHECK(log.find("killed by signal") == std::string::npos);
    CHECK(log.find("exited with code") == std::string::npos);
    for (int s : samples) {
        CHECK(s > kInvalidPoolSize);
        if (transaction) CHECK(s <= small);
    }
    // Once pgbench has gone, what stays is at most a pool of the running size
    // (in session pooling the probe's server among them), nothing leaked.
    CHECK(BenchDatabase::servers() <= rewriter.running_size());
}

}  // namespace

TEST_CASE("reload: pgbench -c 50 -T 60 in transaction pooling, pool size rewritten and SIGHUP every second: no client notices") {
    PGGATE_ONLY();
    reload_under_pgbench({"transaction", {10, 20}, 0, 60});
}

TEST_CASE("reload: pgbench -c 50 -T 60 in transaction pooling, every third file invalid: refused and the running configuration kept") {
    PGGATE_ONLY();
    reload_under_pgbench({"transaction", {10, 20}, 3, 60});
}

TEST_CASE("reload: pgbench -c 50 -T 30 in session pooling, pool size rewritten, every third file invalid") {
    PGGATE_ONLY();
    reload_under_pgbench({"session", {55, 60}, 3, 30});
}
