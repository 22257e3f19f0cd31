// SQL-level prepared statements under transaction pooling: which names are
// replaced, and when PREPARE and DEALLOCATE take effect.
#include <doctest/doctest.h>

#include "session/sql_prepared.hpp"

using pggate::session::SqlPrepared;

namespace {

struct Client {
    SqlPrepared sql;
    std::uint64_t next = 100;

    std::optional<SqlPrepared::Plan> send(const std::string& text, bool whole_query = true) {
        return sql.rewrite(text, whole_query, [this] { return ++next; });
    }
    // The server completes `n` statements, then says ReadyForQuery.
    void answer(int n) {
        for (int i = 0; i < n; ++i) sql.on_command_complete();
        sql.on_ready_for_query();
    }
};

}  // namespace

TEST_SUITE("session.sql_prepared") {

TEST_CASE("sql_prepared: PREPARE gets a server name and counts once the server completed it") {
    Client c;
    auto plan = c.send("PREPARE q1 (int) AS select $1 + 1");
    REQUIRE(plan);
    CHECK(plan->sql == "PREPARE pggate_101 (int) AS select $1 + 1");
    CHECK(plan->created == std::vector<std::uint64_t>{101});
    CHECK(plan->needed.empty());
    CHECK(c.sql.awaiting());
    CHECK(c.sql.empty());
    c.answer(1);
    CHECK_FALSE(c.sql.awaiting());
    CHECK_FALSE(c.sql.empty());

    auto exec = c.send("execute Q1(41)");
    REQUIRE(exec);
    CHECK(exec->sql == "execute pggate_101(41)");
    REQUIRE(exec->needed.size() == 1);
    CHECK(exec->needed[0]->prepare_sql() == "PREPARE pggate_101 (int) AS select $1 + 1");
    CHECK_FALSE(c.sql.awaiting());
}

TEST_CASE("sql_prepared: a PREPARE that failed, or did not run after an error, takes no effect") {
    Client c;
    REQUIRE(c.send("select 1/0; PREPARE a AS select 1; PREPARE b AS select 2"));
    c.answer(0);  // ErrorResponse at the first statement, then ReadyForQuery
    CHECK(c.sql.empty());
    CHECK_FALSE(c.send("execute a"));

    REQUIRE(c.send("PREPARE a AS select 1; select 1/0; PREPARE b AS select 2"));
    c.answer(1);
    CHECK(c.send("execute a"));
    CHECK_FALSE(c.send("execute b"));
}

TEST_CASE("sql_prepared: EXECUTE inside EXPLAIN and CREATE TABLE AS; quoted names keep their case") {
    Client c;
    REQUIRE(c.send("prepare \"Mixed\" as select 1; prepare plain as select 2"));
    c.answer(2);
    auto plan = c.send("explain execute \"Mixed\"; create table t as execute plain; execute mixed");
    REQUIRE(plan);
    CHECK(plan->sql == "explain execute pggate_101; create table t as execute pggate_102; execute mixed");
    CHECK(plan->needed.size() == 2);
    // Names in strings and comments are left alone.
    CHECK_FALSE(c.send("select 'execute plain' -- execute plain"));
}

TEST_CASE("sql_prepared: DEALLOCATE of a known name, of an unknown one, and ALL") {
    Client c;
    REQUIRE(c.send("prepare a as select 1; prepare b as select 2"));
    c.answer(2);
    auto plan = c.send("deallocate prepare a");
    REQUIRE(plan);
    CHECK(plan->sql == "deallocate prepare pggate_101");
    CHECK(plan->dropped == std::vector<std::uint64_t>{101});
    c.answer(1);
    CHECK_FALSE(c.send("execute a"));
    CHECK_FALSE(c.send("deallocate nosuch"));  // the server reports it with the client's name
    REQUIRE(c.send("deallocate all"));
    c.answer(1);
    CHECK(c.sql.empty());
}

TEST_CASE("sql_prepared: PREPARE of a name in use goes to the server under the existing name") {
    Client c;
    REQUIRE(c.send("prepare a as select 1"));
    c.answer(1);
    auto again = c.send("prepare a as select 2");
    REQUIRE(again);
    CHECK(again->sql == "prepare pggate_101 as select 2");
    CHECK(again->created.empty());
    REQUIRE(again->needed.size() == 1);
    c.answer(0);
    CHECK(c.send("execute a")->sql == "execute pggate_101");
}

TEST_CASE("sql_prepared: Queries and Syncs in flight are matched with their ReadyForQuery in order") {
    Client c;
    REQUIRE(c.send("prepare a as select 1"));
    c.sql.on_sync();                    // an extended-protocol batch behind it
    CHECK_FALSE(c.send("select 1"));    // and a Query without statements to track
    REQUIRE(c.send("prepare b as select 2"));
    c.answer(1);  // the first Query
    CHECK(c.send("execute a"));
    c.answer(3);  // the batch: its CommandCompletes count for nothing
    c.answer(1);  // "select 1"
    CHECK_FALSE(c.send("execute b"));
    c.answer(1);  // prepare b
    CHECK(c.send("execute b"));
    for (int i = 0; i < 3; ++i) c.answer(1);  // the three EXECUTEs sent meanwhile
    CHECK_FALSE(c.sql.awaiting());
}

TEST_CASE("sql_prepared: in an extended-protocol Parse only EXECUTE and DEALLOCATE names are replaced") {
    Client c;
    CHECK_FALSE(c.send("prepare a as select 1", false));
    CHECK_FALSE(c.sql.awaiting());
    REQUIRE(c.send("prepare a as select 1"));
    c.answer(1);
    CHECK(c.send("execute a", false)->sql == "execute pggate_101");
    CHECK(c.send("deallocate a", false)->sql == "deallocate pggate_101");
    CHECK(c.sql.empty());  // at once: no CommandComplete is matched in the extended protocol
}

}
