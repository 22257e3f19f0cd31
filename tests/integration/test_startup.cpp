// Start-up refusals: a second pggate with the same pidfile stops at once
// (exit status 3) while the first serves on, and a listening socket that
// cannot be opened is fatal (exit status 2), as pggate(1) says.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "harness.hpp"

using namespace pggate::test;

namespace {

std::string pggate_bin() {
    const char* bin = std::getenv("PGGATE_BIN");
    return bin != nullptr ? bin : repo_root() + "/pggate";
}

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

}  // namespace

TEST_CASE("startup: a second pggate with the same configuration refuses to start while the first serves on") {
    PGGATE_ONLY();
    const std::string pidfile = "/tmp/pggate-startup-" + std::to_string(getpid()) + ".pid";
    Pggate gate({"auth_type = trust", "workers = 2", "pidfile = " + pidfile});
    const std::string first = std::to_string(gate.master_pid());
    REQUIRE(first_line(pidfile) == first);

    // The same file, so the same port, Unix socket, log and pidfile; in the
    // foreground, as the first: were it not refused it would serve until killed.
    std::string out;
    const int status = run_shell("timeout 20 " + pggate_bin() + " " + gate.ini_path(), out);
    CHECK_MESSAGE(status == 3, out);
    CHECK_MESSAGE(out.find("pggate: another pggate (pid " + first + ") holds the lock on the pidfile " + pidfile +
                           ": it is running, this one stops") != std::string::npos,
                  out);
    // It stopped before it opened a socket or wrote anything but its refusal.
    CHECK(count_matches(gate.log_text(), "starting [0-9]+ workers") == 1);
    CHECK(first_line(pidfile) == first);
    CHECK(gate.running());
    for (int i = 0; i < 8; ++i) {
        PgConn c(gate.conninfo());
        CHECK(c.scalar("select 1") == "1");
    }
    {
        PgConn local(gate.unix_conninfo());
        CHECK(local.scalar("select 2") == "2");
    }

    // Once the first stops, the pidfile goes with it.
    gate.send_signal(SIGTERM);
    CHECK_MESSAGE(gate.wait_exit(15) == 0, gate.log_tail());
    CHECK(access(pidfile.c_str(), F_OK) != 0);
}

TEST_CASE("startup: a listening socket that cannot be opened is fatal (exit status 2)") {
    PGGATE_ONLY();
    // The primary's port: PostgreSQL holds it without SO_REUSEPORT.
    Pggate broken(PggateOptions{{"listen_port = " + std::to_string(cluster().primary_port())}, {}, "", false, nullptr});
    CHECK_MESSAGE(broken.wait_exit(10) == 2, broken.log_text());
    CHECK_MESSAGE(broken.log_text().find("Address already in use") != std::string::npos, broken.log_text());
}
