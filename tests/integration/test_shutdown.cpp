// Stopping pggate: SIGTERM lets running sessions finish while refusing new
// ones (bounded by shutdown_timeout); SIGINT stops at once.
#include <doctest/doctest.h>
#include <signal.h>

#include "harness.hpp"

using namespace pggate::test;

namespace {

// After the master exits, its workers must not linger.
void check_workers_gone(const std::vector<pid_t>& workers) {
    for (pid_t w : workers) {
        CAPTURE(w);
        CHECK(eventually([&] { return !process_alive(w); }, 3));
    }
}

}  // namespace

TEST_CASE("shutdown: SIGTERM refuses new clients but lets an open transaction finish") {
    PGGATE_ONLY();
    cluster().admin_exec("drop table if exists shutdown_t; create table shutdown_t(x int)");
    Pggate gate;
    std::vector<pid_t> workers = gate.worker_pids();
    PgConn c(gate.conninfo());
    c.exec_ok("begin");
    c.exec_ok("insert into shutdown_t values (1)");

    gate.send_signal(SIGTERM);
    bool refusing = eventually([&] { return !PgConn::attempt(gate.conninfo(), 2).ok(); }, 3, 0.05);
    CHECK_MESSAGE(refusing, "new connections still accepted 3 s after SIGTERM");
    CHECK(gate.running());

    // The session in its transaction carries on.
    CHECK(c.scalar("select count(*) from shutdown_t") == "1");
    c.exec_ok("insert into shutdown_t values (2)");
    c.exec_ok("commit");
    CHECK(cluster().admin_scalar("select count(*) from shutdown_t") == "2");

    c.close();
    int status = gate.wait_exit(10);
    CHECK_MESSAGE(status == 0, "pggate after SIGTERM and the last client gone: " << status << "; log:\n" << gate.log_tail());
    check_workers_gone(workers);
    cluster().admin_exec("drop table shutdown_t");
}

TEST_CASE("shutdown: SIGTERM with an idle client ends after shutdown_timeout") {
    PGGATE_ONLY();
    Pggate gate({"shutdown_timeout = 1"});
    std::vector<pid_t> workers = gate.worker_pids();
    PgConn c(gate.conninfo());
    CHECK(c.scalar("select 1") == "1");

    auto signaled = Clock::now();
    gate.send_signal(SIGTERM);
    int status = gate.wait_exit(5);
    double took = seconds_since(signaled);
    REQUIRE_MESSAGE(status != -1, "pggate still running 5 s after SIGTERM with shutdown_timeout=1; log:\n" << gate.log_tail());
    CHECK_MESSAGE(took <= 3.0, "exit took " << took << " s");
    CHECK_MESSAGE(status == 0, "exit status " << status);
    check_workers_gone(workers);

    PgResult r = c.exec("select 1", 10);
    CHECK_FALSE(r.ok());
}

TEST_CASE("shutdown: SIGINT exits promptly and cuts clients off") {
    PGGATE_ONLY();
    Pggate gate;
    std::vector<pid_t> workers = gate.worker_pids();
    PgConn idle(gate.conninfo());
    PgConn in_tx(gate.conninfo());
    CHECK(idle.scalar("select 1") == "1");
    in_tx.exec_ok("begin");

    auto signaled = Clock::now();
    gate.send_signal(SIGINT);
    int status = gate.wait_exit(5);
    double took = seconds_since(signaled);
    REQUIRE_MESSAGE(status != -1, "pggate still running 5 s after SIGINT; log:\n" << gate.log_tail());
    CHECK_MESSAGE(took <= 1.5, "exit took " << took << " s");
    CHECK_MESSAGE(status == 0, "exit status " << status);
    check_workers_gone(workers);

    CHECK_FALSE(idle.exec("select 1", 10).ok());
    CHECK_FALSE(in_tx.exec("select 1", 10).ok());
    CHECK_FALSE(PgConn::attempt(gate.conninfo(), 2).ok());
}
