// Online binary upgrade: SIGUSR2 starts pggate again with the listening
// sockets handed over, the old one drains, and clients that connect all
// the while (pgbench -C) never see a refused connection.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "harness.hpp"

using namespace pggate::test;

namespace {

pid_t pid_in(const std::string& pidfile) {
    std::ifstream in(pidfile);
    pid_t pid = 0;
    in >> pid;
    return pid;
}

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

// Stops the pggate that took over (no longer the harness's child) at the end.
struct StopAtEnd {
    std::string pidfile;
    pid_t first;
    std::string script;
    ~StopAtEnd() {
        const pid_t pid = pid_in(pidfile);
        if (pid > 0 && pid != first) {
            kill(pid, SIGINT);
            eventually([&] { return !alive(pid); }, 10);
        }
        unlink(script.c_str());
        unlink(pidfile.c_str());
    }
};

}  // namespace

TEST_CASE("upgrade: SIGUSR2 under pgbench -C hands the sockets over without a connection error") {
    PGGATE_ONLY();
    const std::string stem = "/tmp/pggate-upgrade-" + std::to_string(getpid());
    const std::string pidfile = stem + ".pid";
    const std::string script = stem + ".sql";
    std::ofstream(script) << "select 1;\n";
    Pggate gate({"auth_type = trust", "pool_mode = transaction", "workers = 2", "pidfile = " + pidfile});
    const pid_t first = gate.master_pid();
    REQUIRE(pid_in(pidfile) == first);
    StopAtEnd stop{pidfile, first, script};

    Background bench("PGCONNECT_TIMEOUT=10 PGSSLMODE=disable pgbench -n -C -c 8 -j 2 -T 20 -f " + script +
                     " -h 127.0.0.1 -p " + std::to_string(gate.port()) + " -U postgres postgres");
    sleep_for(5);
    gate.send_signal(SIGUSR2);
    REQUIRE_MESSAGE(eventually([&] { return pid_in(pidfile) != first && alive(pid_in(pidfile)); }, 10),
                    gate.log_tail());
    const pid_t second = pid_in(pidfile);
    // The old master drains and exits; the new one serves on.
    CHECK_MESSAGE(gate.wait_exit(15) == 0, gate.log_tail());
    // Over the Unix socket, whose file the old master must leave in place.
    PgConn unix_client(gate.unix_conninfo());
    CHECK(unix_client.scalar("select 1") == "1");

    const int status = bench.wait();
    const std::string& out = bench.output();
    MESSAGE("pgbench -C -c 8 -T 20 across the upgrade (pid " << first << " -> " << second << "):\n"
                                                             << out.substr(out.find("number of transactions")));
    CHECK_MESSAGE(status == 0, out);
    CHECK_MESSAGE(out.find("number of failed transactions: 0 (") != std::string::npos, out);
    CHECK_MESSAGE(out.find("error") == std::string::npos, out);
    CHECK_MESSAGE(out.find("failed:") == std::string::npos, out);
    CHECK(std::stol(out.substr(out.find("actually processed: ") + 20)) > 1000);
    const std::string log = gate.log_text();
    CHECK_MESSAGE(log.find("took over the listening sockets of the pggate being upgraded (TCP: yes, Unix: yes)") !=
                      std::string::npos,
                  gate.log_tail());
    CHECK(log.find("upgrade: the new pggate is ready") != std::string::npos);
}

TEST_CASE("upgrade: with a broken configuration the upgrade is refused and pggate serves on") {
    PGGATE_ONLY();
    Pggate gate({"auth_type = trust"});
    std::ofstream(gate.ini_path(), std::ios::app) << "\n[pggate]\nno_such_setting = 1\n";
    gate.send_signal(SIGUSR2);
    CHECK(eventually([&] { return gate.log_text().find("upgrade refused") != std::string::npos; }, 5));
    CHECK(gate.running());
    PgConn c(gate.conninfo());
    CHECK(c.scalar("select 1") == "1");
}

TEST_CASE("upgrade: the new pggate takes over the pidfile's lock, so a second start is still refused") {
    PGGATE_ONLY();
    const std::string pidfile = "/tmp/pggate-upgrade-lock-" + std::to_string(getpid()) + ".pid";
    Pggate gate({"auth_type = trust", "pidfile = " + pidfile});
    const pid_t first = gate.master_pid();
    REQUIRE(pid_in(pidfile) == first);
    StopAtEnd stop{pidfile, first, ""};
    gate.send_signal(SIGUSR2);
    REQUIRE_MESSAGE(eventually([&] { return pid_in(pidfile) != first && alive(pid_in(pidfile)); }, 10),
                    gate.log_tail());
    const pid_t second = pid_in(pidfile);
    CHECK_MESSAGE(gate.wait_exit(15) == 0, gate.log_tail());
    // The old master is gone and left the file to the new one, lock and all.
    CHECK(pid_in(pidfile) == second);
    const char* bin = std::getenv("PGGATE_BIN");
    std::string out;
    CHECK_MESSAGE(run_shell("timeout 20 " + std::string(bin != nullptr ? bin : "./pggate") + " " + gate.ini_path(),
                            out) == 3,
                  out);
    CHECK_MESSAGE(out.find("another pggate (pid " + std::to_string(second) + ") holds the lock") != std::string::npos,
                  out);
    PgConn c(gate.conninfo());
    CHECK(c.scalar("select 1") == "1");
}
