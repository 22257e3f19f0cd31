// Cancel requests under transaction pooling reach only the query of the
// client whose key they carry, even while its server is handed to others.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace pggate::test;

TEST_CASE("cancel race: cancels for one client never cancel another client's query on the same server") {
    PGGATE_ONLY();
    Pggate gate(std::vector<std::string>{"pool_mode = transaction", "auth_type = trust", "default_pool_size = 1",
                                         "workers = 2"});
    PgConn target(gate.conninfo());
    PgConn bystander(gate.conninfo());
    PGcancel* cancel = PQgetCancel(target.get());
    REQUIRE(cancel != nullptr);

    std::atomic<bool> stop{false};
    std::atomic<int> cancels_sent{0};
    std::thread canceller([&] {
        char err[256];
        while (!stop.load()) {
            if (PQcancel(cancel, err, sizeof err)) cancels_sent.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    std::atomic<int> target_canceled{0};
    std::atomic<int> target_queries{0};
    std::thread target_loop([&] {
        while (!stop.load()) {
            PgResult r(PQexec(target.get(), "select pg_sleep(0.01)"));
            const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
            if (state != nullptr && std::string(state) == "57014") target_canceled.fetch_add(1);
            target_queries.fetch_add(1);
        }
    });
    int bystander_queries = 0;
    std::vector<std::string> bystander_errors;
    Clock::time_point start = Clock::now();
    while (seconds_since(start) < 4) {
        PgResult r(PQexec(bystander.get(), "select pg_sleep(0.01)"));
        ++bystander_queries;
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) bystander_errors.push_back(PQresultErrorMessage(r.get()));
    }
    stop.store(true);
    canceller.join();
    target_loop.join();
    PQfreeCancel(cancel);

    CAPTURE(bystander_queries);
    CAPTURE(target_queries.load());
    CAPTURE(cancels_sent.load());
    CHECK(bystander_queries > 20);
    CHECK(cancels_sent.load() > 100);
    CHECK(target_canceled.load() > 0);  // the cancels were real and did reach their client
    CHECK(bystander_errors.empty());
    if (!bystander_errors.empty()) MESSAGE("first bystander error: " << bystander_errors.front());
}
