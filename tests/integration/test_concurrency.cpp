// Many clients at once through pggate: 500 connections open together, each
// gets its own answer, and the connections are spread over both workers.
#include <doctest/doctest.h>

#include <set>

#include "harness.hpp"

using namespace pggate::test;

TEST_CASE("concurrency: 500 concurrent clients each get their own answer") {
    constexpr int kClients = 500;
    raise_nofile(4096);
    Pggate gate({"max_client_conn = 1000"});
    std::vector<PgConn> clients = connect_many(gate.conninfo(), kClients, 120);
    REQUIRE(clients.size() == kClients);

    // Every client has a query in flight at the same time.
    for (int i = 0; i < kClients; ++i) {
        std::string sql = "select " + std::to_string(i) + ", pg_backend_pid()";
        REQUIRE(PQsendQuery(clients[static_cast<std::size_t>(i)].get(), sql.c_str()) == 1);
    }
    int right = 0;
    std::set<std::string> backends;
    for (int i = 0; i < kClients; ++i) {
        PGconn* conn = clients[static_cast<std::size_t>(i)].get();
        PgResult r = get_result(conn, 60);
        if (r.status() == PGRES_TUPLES_OK && r.value(0, 0) == std::to_string(i)) ++right;
        else FAIL_CHECK("client " << i << ": " << r.describe());
        backends.insert(r.value(0, 1));
        CHECK(!get_result(conn, 10));
    }
    CHECK(right == kClients);
    INFO("distinct backends serving the 500 clients: " << backends.size());

    // A second round on the same connections, in the reverse order.
    for (int i = kClients - 1; i >= 0; --i) {
        CHECK(clients[static_cast<std::size_t>(i)].scalar("select " + std::to_string(i * 2)) == std::to_string(i * 2));
    }

    if (direct_mode()) return;
    std::vector<pid_t> workers = gate.worker_pids();
    REQUIRE(workers.size() == 2);
    for (pid_t w : workers) {
        int sockets = socket_fd_count(w);
        INFO("worker " << w << " has " << sockets << " sockets open");
        CHECK(sockets > 100);
    }
}
