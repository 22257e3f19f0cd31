// Unit tests of the inert statement texts: found by an equal text only,
// long texts not kept, and the set bounded however many texts arrive.
#include <doctest/doctest.h>

#include <string>

#include "session/inert_texts.hpp"

using pggate::session::InertTexts;

TEST_SUITE("inert texts") {

TEST_CASE("a remembered text is found by an equal text, not by one that differs") {
    InertTexts set;
    const std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
    CHECK_FALSE(set.contains(sql));
    set.add(sql);
    CHECK(set.contains(std::string(sql)));
    CHECK_FALSE(set.contains("select abalance FROM pgbench_accounts WHERE aid = $1"));
    CHECK_FALSE(set.contains(sql + " "));
    CHECK_FALSE(set.contains(sql.substr(0, sql.size() - 1)));
}

TEST_CASE("texts longer than the limit are not kept") {
    InertTexts set;
    const std::string at_limit(InertTexts::kMaxTextBytes, 'x');
    const std::string over(InertTexts::kMaxTextBytes + 1, 'x');
    set.add(at_limit);
    set.add(over);
    CHECK(set.contains(at_limit));
    CHECK_FALSE(set.contains(over));
    CHECK(set.size() == 1);
}

TEST_CASE("a full set starts over: never more than its capacity") {
    InertTexts set;
    for (std::size_t i = 0; i < InertTexts::kCapacity; ++i) set.add("SELECT " + std::to_string(i));
    CHECK(set.size() == InertTexts::kCapacity);
    CHECK(set.contains("SELECT 0"));
    set.add("SELECT next");
    CHECK(set.size() == 1);
    CHECK(set.contains("SELECT next"));
    CHECK_FALSE(set.contains("SELECT 0"));
    for (std::size_t i = 0; i < 5 * InertTexts::kCapacity; ++i) {
        set.add("SELECT " + std::to_string(i));
        REQUIRE(set.size() <= InertTexts::kCapacity);
    }
}

}  // TEST_SUITE
