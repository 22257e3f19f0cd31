// Unit tests of the auth_query lookup books: cached answers and their TTL,
// waiters of one key sharing a lookup, cancellation, and callbacks that call
// back into the table.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "auth/lookup_table.hpp"

using namespace pggate::auth;
using namespace std::chrono_literals;

namespace {

const LookupKey kAlice{"app", "alice"};
const LookupKey kBob{"app", "bob"};

LookupResult found(const std::string& secret) { return {LookupOutcome::Found, secret, {}}; }

// Records what each waiter heard.
struct Heard {
    std::vector<std::pair<int, LookupResult>> answers;
    LookupTable::Callback waiter(int who) {
        return [this, who](const LookupResult& r) { answers.emplace_back(who, r); };
    }
};

}  // namespace

TEST_CASE("lookup table: the first waiter of a key starts the lookup, the others join it") {
    LookupTable t;
    Heard heard;
    auto now = LookupTable::Clock::now();
    CHECK(t.cached(kAlice, now) == nullptr);
    CHECK(t.wait(kAlice, 1, heard.waiter(1)));
    CHECK_FALSE(t.wait(kAlice, 2, heard.waiter(2)));
    CHECK_FALSE(t.wait(kAlice, 3, heard.waiter(3)));
    CHECK(t.wait(kBob, 4, heard.waiter(4)));  // another user: a lookup of its own
    CHECK(t.in_flight(kAlice));
    CHECK(t.waiters() == 4);

    t.finish(kAlice, found("s1"), now, 10);
    REQUIRE(heard.answers.size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(heard.answers[static_cast<std::size_t>(i)].first == i + 1);  // in the order they came
        CHECK(heard.answers[static_cast<std::size_t>(i)].second.secret == "s1");
    }
    CHECK_FALSE(t.in_flight(kAlice));
    CHECK(t.in_flight(kBob));
    CHECK(t.waiters() == 1);
}

TEST_CASE("lookup table: answers are kept for the TTL; failures and TTL 0 are not kept") {
    LookupTable t;
    auto now = LookupTable::Clock::now();
    t.finish(kAlice, found("s1"), now, 2.5);
    REQUIRE(t.cached(kAlice, now) != nullptr);
    CHECK(t.cached(kAlice, now + 2s)->secret == "s1");
    CHECK(t.cached(kAlice, now + 2500ms) == nullptr);
    CHECK(t.cached_answers() == 0);  // an expired answer is dropped when met

    // An unknown user is an answer too.
    t.finish(kBob, {LookupOutcome::NotFound, {}, {}}, now, 10);
    REQUIRE(t.cached(kBob, now) != nullptr);
    CHECK(t.cached(kBob, now)->outcome == LookupOutcome::NotFound);

    // A failure says nothing of the user: the next login asks again.
    t.finish(kAlice, {LookupOutcome::Failed, {}, "connection refused"}, now, 10);
    CHECK(t.cached(kAlice, now) == nullptr);
    t.finish(kAlice, found("s2"), now, 0);
    CHECK(t.cached(kAlice, now) == nullptr);

    // A newer answer replaces an older one; clear_cache() forgets all.
    t.finish(kAlice, found("s3"), now, 10);
    t.finish(kAlice, found("s4"), now, 10);
    CHECK(t.cached(kAlice, now)->secret == "s4");
    t.clear_cache();
    CHECK(t.cached(kAlice, now) == nullptr);
    CHECK(t.cached(kBob, now) == nullptr);
}

TEST_CASE("lookup table: the key includes the database") {
    LookupTable t;
    auto now = LookupTable::Clock::now();
    t.finish({"db1", "alice"}, found("in db1"), now, 10);
    CHECK(t.cached({"db2", "alice"}, now) == nullptr);
    Heard heard;
    CHECK(t.wait({"db1", "alice"}, 1, heard.waiter(1)));
    CHECK(t.wait({"db2", "alice"}, 2, heard.waiter(2)));
}

TEST_CASE("lookup table: a cancelled waiter is never called") {
    LookupTable t;
    Heard heard;
    auto now = LookupTable::Clock::now();
    t.wait(kAlice, 1, heard.waiter(1));
    t.wait(kAlice, 2, heard.waiter(2));
    t.cancel(1);
    t.cancel(99);  // unknown: nothing happens
    t.finish(kAlice, found("s1"), now, 10);
    REQUIRE(heard.answers.size() == 1);
    CHECK(heard.answers[0].first == 2);

    // Every waiter gone: the lookup still ends normally and its answer is kept.
    t.wait(kBob, 3, heard.waiter(3));
    t.cancel(3);
    CHECK(t.in_flight(kBob));
    t.finish(kBob, found("s2"), now, 10);
    CHECK(heard.answers.size() == 1);
    CHECK(t.cached(kBob, now)->secret == "s2");
    CHECK(t.waiters() == 0);

    // A finish nobody waits for (its waiters all left long ago) is harmless.
    t.finish({"x", "y"}, found("s"), now, 10);
}

TEST_CASE("lookup table: callbacks may cancel later waiters and start new lookups") {
    LookupTable t;
    auto now = LookupTable::Clock::now();
    std::vector<int> called;
    bool restarted = false;
    t.wait(kAlice, 1, [&](const LookupResult&) {
        called.push_back(1);
        t.cancel(2);  // e.g. a client whose failure closes another
        // The same key again: nothing is in flight any more, so this starts a lookup.
        restarted = t.wait(kAlice, 4, [&](const LookupResult&) { called.push_back(4); });
    });
    t.wait(kAlice, 2, [&](const LookupResult&) { called.push_back(2); });
    t.wait(kAlice, 3, [&](const LookupResult&) { called.push_back(3); });
    t.finish(kAlice, {LookupOutcome::Failed, {}, "boom"}, now, 10);
    CHECK(called == std::vector<int>{1, 3});
    CHECK(restarted);
    CHECK(t.in_flight(kAlice));
    t.finish(kAlice, found("s"), now, 10);
    CHECK(called == std::vector<int>{1, 3, 4});
}

TEST_CASE("lookup table: expired answers do not pile up") {
    LookupTable t;
    auto now = LookupTable::Clock::now();
    for (int i = 0; i < 5000; ++i) t.finish({"db", "user" + std::to_string(i)}, found("s"), now, 1);
    // All of those expired; new answers push them out.
    auto later = now + 2s;
    for (int i = 0; i < 100; ++i) t.finish({"db", "new" + std::to_string(i)}, found("s"), later, 1);
    for (int i = 0; i < 3500; ++i) t.finish({"db", "more" + std::to_string(i)}, found("s"), later, 1);
    CHECK(t.cached_answers() < 5000);
    CHECK(t.cached({"db", "new5"}, later) != nullptr);
}
