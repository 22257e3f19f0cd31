// pggate's processes: one master and N workers, a global max_client_conn, a
// worker killed with SIGKILL costing only its own clients before it is
// respawned, and the Unix socket they share (its mode and group).
#include <doctest/doctest.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>

#include "harness.hpp"

using namespace pggate::test;

TEST_CASE("workers: one master and exactly the configured number of workers") {
    PGGATE_ONLY();
    {
        Pggate gate;
        CHECK(process_comm(gate.master_pid()) == "pggate");
        CHECK(eventually([&] { return gate.worker_pids().size() == 2; }, 5));
        std::vector<pid_t> workers = gate.worker_pids();
        CHECK(workers.size() == 2);
        for (pid_t w : workers) {
            CHECK(w != gate.master_pid());
            CHECK(process_alive(w));
        }
        // Stable: nothing respawns in a loop.
        sleep_for(0.3);
        CHECK(gate.worker_pids() == workers);
    }
    {
        Pggate gate({"workers = 3"});
        CHECK(eventually([&] { return gate.worker_pids().size() == 3; }, 5));
        sleep_for(0.2);
        CHECK(gate.worker_pids().size() == 3);
    }
}

TEST_CASE("workers: max_client_conn holds across all workers") {
    PGGATE_ONLY();
    Pggate gate({"max_client_conn = 5"});
    std::vector<PgConn> clients;
    for (int i = 0; i < 5; ++i) {
        // The readiness probe's slot may take a moment to be given back.
        std::optional<PgConn> c;
        eventually([&] {
            c.emplace(PgConn::attempt(gate.conninfo(), 5));
            return c->ok();
        }, 3, 0.05);
        REQUIRE_MESSAGE(c->ok(), "client " << i + 1 << " of 5 refused: " << c->error_message());
        clients.push_back(std::move(*c));
    }
    // Whichever worker takes the 6th, it is refused.
    for (int attempt = 0; attempt < 6; ++attempt) {
        CAPTURE(attempt);
        PgConn sixth = PgConn::attempt(gate.conninfo(), 5);
        CHECK_FALSE(sixth.ok());
        CHECK_MESSAGE(sixth.error_sqlstate() == "53300", sixth.error_message());
    }
    for (auto& c : clients) CHECK(c.scalar("select 1") == "1");

    // A slot given back can be taken again.
    clients.pop_back();
    std::optional<PgConn> again;
    bool reconnected = eventually([&] {
        again.emplace(PgConn::attempt(gate.conninfo(), 5));
        return again->ok();
    }, 3, 0.05);
    CHECK_MESSAGE(reconnected, again->error_message());
}

TEST_CASE("workers: kill -9 of a worker costs only its own clients and it is respawned") {
    PGGATE_ONLY();
    Pggate gate({"max_client_conn = 200"});
    REQUIRE(eventually([&] { return gate.worker_pids().size() == 2; }, 5));
    const std::vector<pid_t> before = gate.worker_pids();

    // Enough clients that both workers serve some.
    std::vector<PgConn> clients;
    std::vector<pid_t> serving;
    std::map<pid_t, int> per_worker;
    while (clients.size() < 10 || (per_worker.size() < 2 && clients.size() < 60)) {
        clients.emplace_back(gate.conninfo());
        CHECK(clients.back().scalar("select 1") == "1");
        pid_t w = gate.worker_serving(clients.back());
        REQUIRE_MESSAGE(w != 0, "no worker holds client " << clients.size());
        serving.push_back(w);
        ++per_worker[w];
    }
    REQUIRE_MESSAGE(per_worker.size() == 2, "all " << clients.size() << " clients landed on one worker");
    const pid_t victim = serving.front();
    INFO("victim worker " << victim << " serves " << per_worker[victim] << " of " << clients.size() << " clients");

    auto killed_at = Clock::now();
    REQUIRE(kill(victim, SIGKILL) == 0);
    // A replacement appears within a second.
    bool respawned = eventually([&] {
        auto now = gate.worker_pids();
        return now.size() == 2 && std::find(now.begin(), now.end(), victim) == now.end();
    }, 3, 0.01);
    double respawn_s = seconds_since(killed_at);
    CHECK(respawned);
    CHECK_MESSAGE(respawn_s <= 1.0, "new worker after " << respawn_s << " s");
    std::vector<pid_t> after = gate.worker_pids();
    CHECK(std::find(after.begin(), after.end(), victim) == after.end());
    CHECK(gate.running());

    int survivors = 0;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        CAPTURE(i);
        PgResult r = clients[i].exec("select 'alive'", 10);
        bool worked = r.status() == PGRES_TUPLES_OK && r.value(0, 0) == "alive";
        if (serving[i] == victim) {
            CHECK_FALSE(worked);
        } else {
            CHECK_MESSAGE(worked, r.describe() << " / " << clients[i].error_message());
            if (worked) ++survivors;
        }
    }
    CHECK(survivors >= 1);
    CHECK(survivors == static_cast<int>(clients.size()) - per_worker[victim]);

    // New clients get in, on old and new workers alike.
    for (int i = 0; i < 10; ++i) {
        PgConn fresh = PgConn::attempt(gate.conninfo(), 5);
        REQUIRE_MESSAGE(fresh.ok(), "new client " << i << " after the kill: " << fresh.error_message());
        CHECK(fresh.scalar("select 40 + 2") == "42");
    }
    CHECK(gate.master_pid() != 0);
    CHECK(process_alive(gate.master_pid()));
}

TEST_CASE("workers: the Unix socket file gets unix_socket_mode and unix_socket_group") {
    PGGATE_ONLY();
    const group* g = getgrnam("postgres");
    REQUIRE_MESSAGE(g != nullptr, "the postgres group comes with the server package");
    const gid_t gid = g->gr_gid;
    Pggate gate({"unix_socket_mode = 0770", "unix_socket_group = postgres"});
    struct stat st {};
    const std::string path = gate.unix_socket_dir() + "/.s.PGSQL." + std::to_string(gate.port());
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0770);
    CHECK(st.st_gid == gid);
    PgConn local(gate.unix_conninfo(std::string("password=") + Cluster::kAdminPassword));
    CHECK(local.scalar("select 1") == "1");

    // A group that does not exist stops start-up with the key named, when
    // the socket is made: exit status 2, as for a user that does not exist.
    Pggate broken(PggateOptions{{"unix_socket_group = no_such_group_here"}, {}, "", false, nullptr});
    CHECK(broken.wait_exit(10) == 2);
    CHECK_MESSAGE(broken.log_text().find("unix_socket_group: no group named \"no_such_group_here\"") != std::string::npos,
                  broken.log_text());
}
