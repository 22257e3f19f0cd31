// LsnHistory (replica lag from the primary's positions over time) and pg_lsn parsing.
#include <doctest/doctest.h>

#include "health/lag.hpp"

using pggate::health::LsnHistory;
using pggate::health::parse_lsn;

namespace {
constexpr std::int64_t kMs = 1000000;
}

TEST_CASE("parse_lsn reads pg_lsn text and refuses anything else") {
    CHECK(parse_lsn("0/0") == 0u);
    CHECK(parse_lsn("16/B374D848") == ((0x16ULL << 32) | 0xB374D848ULL));
    CHECK(parse_lsn("FFFFFFFF/FFFFFFFF") == ~0ULL);
    CHECK_FALSE(parse_lsn(nullptr));
    CHECK_FALSE(parse_lsn(""));
    CHECK_FALSE(parse_lsn("16B374D848"));
    CHECK_FALSE(parse_lsn("/1"));
    CHECK_FALSE(parse_lsn("1/"));
    CHECK_FALSE(parse_lsn("1/2/3"));
    CHECK_FALSE(parse_lsn("1/xyz"));
    CHECK_FALSE(parse_lsn("100000000/0"));  // more than 32 bits per half
}

TEST_CASE("a replica's lag is the time since the primary was last seen where the replica is") {
    LsnHistory h;
    CHECK_FALSE(h.lag_ns(100, 0));
    CHECK_FALSE(h.lag_bytes(100));
    h.add(0, 100);
    h.add(200 * kMs, 100);  // still there: this later time counts
    h.add(400 * kMs, 150);
    h.add(600 * kMs, 300);
    CHECK(h.latest() == 300u);
    // Caught up with the latest sample: no lag, whenever asked.
    CHECK(h.lag_ns(300, 5000 * kMs) == 0);
    CHECK(h.lag_bytes(300) == 0);
    CHECK(h.lag_ns(400, 700 * kMs) == 0);
    // At 100: the primary was there until 200 ms at least.
    CHECK(h.lag_ns(100, 700 * kMs) == 500 * kMs);
    CHECK(h.lag_bytes(100) == 200);
    // Between samples: the last sample it has replayed counts.
    CHECK(h.lag_ns(200, 700 * kMs) == 300 * kMs);
    CHECK(h.lag_ns(150, 700 * kMs) == 300 * kMs);
    CHECK(h.lag_ns(299, 700 * kMs) == 300 * kMs);
    // Asked with a time before the sample: never negative.
    CHECK(h.lag_ns(150, 100 * kMs) == 0);
}

TEST_CASE("behind every sample kept, the lag is known only once the history is full") {
    LsnHistory h(3);
    h.add(1000 * kMs, 500);
    h.add(2000 * kMs, 600);
    CHECK_FALSE(h.lag_ns(400, 3000 * kMs));
    CHECK(h.lag_bytes(400) == 200);
    h.add(3000 * kMs, 700);
    // Full: the primary passed 400 before the oldest sample, 2 s ago at least.
    CHECK(h.lag_ns(400, 3000 * kMs) == 2000 * kMs);
    h.add(4000 * kMs, 800);  // the oldest (500) is dropped
    CHECK(h.lag_ns(550, 4000 * kMs) == 2000 * kMs);
    CHECK(h.lag_ns(600, 4000 * kMs) == 2000 * kMs);
}

TEST_CASE("a lower position (another primary) starts the history afresh") {
    LsnHistory h;
    h.add(0, 1000);
    h.add(100 * kMs, 2000);
    h.add(200 * kMs, 50);
    CHECK(h.latest() == 50u);
    CHECK(h.lag_ns(50, 300 * kMs) == 0);
    CHECK(h.lag_bytes(40) == 10);
    h.clear();
    CHECK_FALSE(h.latest());
}
