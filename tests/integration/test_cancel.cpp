// Query cancellation through pggate: PQcancel reaches the right backend from
// whichever worker accepts it, and a CancelRequest with a wrong key does nothing.
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <sstream>
#include <string_view>

#include "harness.hpp"

using namespace pggate::test;

namespace {

// Waits until the primary runs `query` (so a cancel cannot arrive before it).
void wait_running(PgConn& admin, const std::string& query) {
    std::string quoted;
    for (char ch : query) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
    std::string sql = "select count(*) from pg_stat_activity where state = 'active' and query = '" + quoted + "'";
    bool running = eventually([&] { return admin.scalar(sql) == "1"; }, 10, 0.01);
    REQUIRE_MESSAGE(running, "'" << query << "' did not start running on the primary");
}

// Reads "cancel forwarded for worker <owner> by worker <receiver>" in a log line.
bool parse_forwarded(const std::string& line, long& owner, long& receiver) {
    static const std::string head = "cancel forwarded for worker ";
    static const std::string middle = " by worker ";
    auto pos = line.find(head);
    if (pos == std::string::npos) return false;
    const char* p = line.c_str() + pos + head.size();
    char* end = nullptr;
    owner = std::strtol(p, &end, 10);
    if (end == p || std::string_view(end).substr(0, middle.size()) != middle) return false;
    p = end + middle.size();
    receiver = std::strtol(p, &end, 10);
    return end != p;
}

}  // namespace

TEST_CASE("cancel: PQcancel stops a running query, whichever worker takes the cancel") {
    Pggate gate;
    PgConn admin = cluster().admin();
    constexpr int kRounds = 20;
    int canceled = 0;
    for (int i = 0; i < kRounds; ++i) {
        CAPTURE(i);
        PgConn c(gate.conninfo());
        std::string query = "select pg_sleep(30), " + std::to_string(i);
        REQUIRE(PQsendQuery(c.get(), query.c_str()) == 1);
        wait_running(admin, query);

        PGcancel* cancel = PQgetCancel(c.get());
        REQUIRE(cancel != nullptr);
        char err[256] = "";
        auto sent = Clock::now();
        int ok = PQcancel(cancel, err, sizeof err);
        PQfreeCancel(cancel);
        CHECK_MESSAGE(ok == 1, "PQcancel failed: " << err);

        PgResult r = get_result(c.get(), 10);
        double elapsed = seconds_since(sent);
        CHECK_MESSAGE(r.sqlstate() == "57014", r.describe());
        CHECK(elapsed < 5);
        if (r.sqlstate() == "57014" && elapsed < 5) ++canceled;
        CHECK(!get_result(c.get(), 10));
        CHECK(c.scalar("select 'after cancel'") == "after cancel");
    }
    CHECK(canceled == kRounds);

    if (direct_mode()) return;
    // Some cancel must have been accepted by a worker other than the one
    // serving the query and forwarded to it.
    std::istringstream log(gate.log_text());
    std::string line;
    int forwarded = 0, across = 0;
    while (std::getline(log, line)) {
        long owner = -1, receiver = -1;
        if (!parse_forwarded(line, owner, receiver)) continue;
        ++forwarded;
        if (owner != receiver) ++across;
    }
    INFO("log lines 'cancel forwarded for worker X by worker Y': " << forwarded << ", with X != Y: " << across);
    INFO("pggate log tail:\n" << gate.log_tail(20));
    CHECK(across >= 1);
}

TEST_CASE("cancel: a CancelRequest with a wrong key cancels nothing") {
    Pggate gate;
    PgConn admin = cluster().admin();
    PgConn c(gate.conninfo());
    std::string query = "select pg_sleep(1), 'wrong key'";
    std::mt19937 rng(std::random_device{}());

    auto started = Clock::now();
    REQUIRE(PQsendQuery(c.get(), query.c_str()) == 1);
    wait_running(admin, query);
    {
        // The right process, a key that is (but for a 2^-32 chance) wrong.
        RawClient raw(gate.port());
        REQUIRE(raw.send(wire::cancel_request(static_cast<std::uint32_t>(PQbackendPID(c.get())), rng())));
        // A cancel connection gets no answer; it is just closed.
        CHECK(raw.wait_eof(5));
    }
    {
        // A process nobody has.
        RawClient raw(gate.port());
        REQUIRE(raw.send(wire::cancel_request(0x7ffffff0u, rng())));
        CHECK(raw.wait_eof(5));
    }
    PgResult r = get_result(c.get(), 10);
    CHECK_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe());
    CHECK(seconds_since(started) >= 0.9);
    CHECK(!get_result(c.get(), 10));
    CHECK(c.scalar("select 'still fine'") == "still fine");
}
