// Unit tests of the pin rules: every kind of statement that leaves session
// state pggate cannot carry to another server pins, and the look-alikes that
// don't (local/transaction scope, synced parameters, words inside strings,
// quotes and comments) don't.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "session/pin_rules.hpp"

namespace {

using pggate::session::pin_reason;

bool pins(std::string_view sql) { return pin_reason(sql) != nullptr; }

}  // namespace

TEST_SUITE("session.pin_rules") {

TEST_CASE("pin_rules SET of a parameter does not pin: pggate replays it") {
    const char* cases[] = {
        "SET work_mem = '64MB'",
        "set work_mem to 1024",
        "SET SESSION work_mem = '1GB'",
        "set search_path = app, public",
        "SET \"work_mem\" = '4MB'",
        "SET statement_timeout TO DEFAULT",
        "set myext.flag = on",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK_FALSE(pins(sql));
    }
}

TEST_CASE("pin_rules role, authorization and session characteristics pin") {
    const char* role = pin_reason("SET ROLE admin");
    REQUIRE(role != nullptr);
    CHECK(std::string(role) == "SET ROLE");
    CHECK(pins("set session role admin"));
    CHECK(pins("SET role NONE"));

    const char* auth = pin_reason("SET SESSION AUTHORIZATION alice");
    REQUIRE(auth != nullptr);
    CHECK(std::string(auth) == "SET SESSION AUTHORIZATION");
    CHECK(pins("set session authorization default"));

    const char* chars = pin_reason("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE");
    REQUIRE(chars != nullptr);
    CHECK(std::string(chars) == "SET SESSION CHARACTERISTICS");
}

TEST_CASE("pin_rules PREPARE, LISTEN and LOAD pin") {
    CHECK(pins("PREPARE q (int) AS SELECT $1"));
    CHECK(pins("prepare q as select 1"));
    // Unless pggate carries the client's SQL statements itself.
    CHECK(pin_reason("prepare q as select 1", true) == nullptr);
    CHECK(std::string(pin_reason("prepare q as select 1; listen x", true)) == "LISTEN");
    CHECK(pins("LISTEN channel"));
    CHECK(pins("listen \"Chan\""));
    CHECK(pins("LOAD 'auto_explain'"));
}

TEST_CASE("pin_rules cursors WITH HOLD pin, others don't") {
    CHECK(pins("DECLARE c CURSOR WITH HOLD FOR SELECT 1"));
    CHECK(pins("declare c no scroll cursor with hold for select * from t"));
    CHECK(pins("DECLARE c BINARY INSENSITIVE CURSOR WITH HOLD FOR SELECT 1"));
    CHECK_FALSE(pins("DECLARE c CURSOR FOR SELECT 1"));
    CHECK_FALSE(pins("DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1"));
    CHECK_FALSE(pins("declare c scroll cursor for select 'with hold'"));
}

TEST_CASE("pin_rules temporary objects pin") {
    const char* cases[] = {
        "CREATE TEMP TABLE t (a int)",
        "create temporary table t as select 1",
        "CREATE GLOBAL TEMPORARY TABLE t (a int)",
        "CREATE LOCAL TEMP TABLE t (a int)",
        "CREATE OR REPLACE TEMP VIEW v AS SELECT 1",
        "create temp sequence s",
        "CREATE TEMP TABLE IF NOT EXISTS t (a int)",
        "SELECT 1 AS a INTO TEMP t",
        "select * into temporary table t from u",
        "SELECT a, b INTO TEMP TABLE t FROM u WHERE c",
        "CREATE TABLE pg_temp.t (a int)",
        "create table if not exists PG_TEMP.t as select 1",
        "CREATE VIEW pg_temp_3.v AS SELECT 1",
        "CREATE SEQUENCE \"pg_temp\".s",
        "SELECT 1 AS a INTO pg_temp.t",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK(pins(sql));
    }
    CHECK_FALSE(pins("CREATE TABLE t (a int)"));
    CHECK_FALSE(pins("CREATE UNLOGGED TABLE t (a int)"));
    CHECK_FALSE(pins("SELECT 1 INTO t"));
    CHECK_FALSE(pins("select * into temp_t from u"));
    CHECK_FALSE(pins("CREATE TABLE pg_temporary.t (a int)"));
    CHECK_FALSE(pins("CREATE TABLE pg_temp_x.t (a int)"));
    CHECK_FALSE(pins("select * into pg_temp_t from u"));
}

TEST_CASE("pin_rules session advisory locks pin, transaction locks don't") {
    CHECK(pins("select pg_advisory_lock(1)"));
    CHECK(pins("SELECT pg_try_advisory_lock(1, 2)"));
    CHECK(pins("select pg_advisory_lock_shared(42)"));
    CHECK(pins("select pg_try_advisory_lock_shared(42)"));
    CHECK(pins("select pg_catalog.pg_advisory_lock(1)"));
    CHECK(pins("SELECT PG_ADVISORY_LOCK(1)"));
    CHECK(pins("select x from t where pg_try_advisory_lock(t.id)"));
    CHECK_FALSE(pins("select pg_advisory_xact_lock(1)"));
    CHECK_FALSE(pins("select pg_try_advisory_xact_lock(1)"));
    CHECK_FALSE(pins("select pg_advisory_xact_lock_shared(1)"));
}

TEST_CASE("pin_rules set_config pins unless its is_local is a literal true or pggate replays it") {
    // A select of nothing but set_config('name', '<literal>', false) calls is replayed instead.
    CHECK_FALSE(pins("select set_config('a.b', 'c', false)"));
    CHECK_FALSE(pins("SELECT pg_catalog.set_config('a.b', 'true', false), set_config('x.y', $$z$$, false)"));
    CHECK(pins("select set_config('a.b', 'c', false) from t"));
    CHECK(pins("select set_config('a.b', 'c', false) where false"));
    CHECK(pins("select set_config('a.b', current_user, false)"));
    CHECK(pins("select set_config(E'a.b', 'c', false)"));
    CHECK(pins("SELECT set_config('a.b', 'c', f())"));
    CHECK(pins("select set_config('a.b', 'c', $1)"));
    CHECK(pins("select 1, set_config('a.b', 'c', false), true"));
    CHECK_FALSE(pins("select set_config('a.b', 'c', true)"));
    CHECK_FALSE(pins("SELECT SET_CONFIG('a.b', 'c', TRUE)"));
    CHECK_FALSE(pins("select set_config('a.b', lower('C'), true)"));
}

TEST_CASE("pin_rules local and transaction SETs don't pin") {
    CHECK_FALSE(pins("SET LOCAL work_mem = '1GB'"));
    CHECK_FALSE(pins("set local role admin"));
    CHECK_FALSE(pins("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"));
    CHECK_FALSE(pins("set transaction read only"));
}

TEST_CASE("pin_rules SET of a synced parameter doesn't pin") {
    const char* cases[] = {
        "SET application_name = 'app'",
        "set APPLICATION_NAME to 'x'",
        "SET TimeZone = 'UTC'",
        "SET timezone TO 'Europe/Paris'",
        "SET \"TimeZone\" = 'UTC'",
        "SET \"application_name\" = 'q'",
        "SET DateStyle = 'ISO, MDY'",
        "set datestyle to german",
        "SET client_encoding = 'UTF8'",
        "SET IntervalStyle = postgres",
        "SET standard_conforming_strings = on",
        "SET SESSION application_name = 'a'",
        "SET TIME ZONE 'UTC'",
        "set time zone local",
        "SET SESSION TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK_FALSE(pins(sql));
    }
}

TEST_CASE("pin_rules statements that undo or don't touch session state don't pin") {
    const char* cases[] = {
        "RESET work_mem",
        "RESET ALL",
        "reset role",
        "DISCARD ALL",
        "DEALLOCATE q",
        "DEALLOCATE ALL",
        "UNLISTEN *",
        "unlisten chan",
        "SELECT 1",
        "select * from t where a = $1",
        "INSERT INTO t VALUES (1, 'x')",
        "UPDATE t SET a = 1 WHERE b = 2",
        "DELETE FROM t WHERE a = 1",
        "BEGIN",
        "START TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "COMMIT",
        "ROLLBACK",
        "CLOSE c",
        "FETCH 10 FROM c",
        "",
        ";;",
        "-- just a comment",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK_FALSE(pins(sql));
    }
}

TEST_CASE("pin_rules pinning words inside strings, quotes and comments don't pin") {
    const char* cases[] = {
        "select 'listen x'",
        "select 'pg_advisory_lock(1)'",
        "select E'set_config(\\'a\\', \\'b\\', false)'",
        "select $$ select pg_advisory_lock(1) $$",
        "select $f$ listen x; prepare q as select 1; $f$",
        "select 1 as \"pg_advisory_lock\"",
        "select \"set_config\" from t",
        "select \"into\" \"temp\" from t",
        "select 1 -- pg_advisory_lock(1)",
        "/* listen x; */ select 1",
        "select /* /* set_config('a','b',false) */ */ 1",
        "insert into log values ('SET ROLE admin'), ($$CREATE TEMP TABLE t$$)",
        "DECLARE c CURSOR FOR SELECT '; WITH HOLD'",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK_FALSE(pins(sql));
    }
}

TEST_CASE("pin_rules multi-statement text pins if any statement pins") {
    CHECK(pins("select 1; listen x"));
    CHECK(pins("LISTEN x; SELECT 1"));
    CHECK(pins("begin; listen x; commit"));
    CHECK(pins("select 1;;; select pg_advisory_lock(1);"));
    CHECK_FALSE(pins("select 1; select 2; set local work_mem = 1"));
    CHECK_FALSE(pins("begin; set transaction read only; select 'listen'; commit"));
}

TEST_CASE("pin_rules unterminated text pins") {
    const char* cases[] = {
        "select 'abc",
        "select \"abc",
        "select /* abc",
        "select $$ abc",
        "select 1; select E'x\\'",
        "SET application_name = 'x",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK(pins(sql));
    }
}

TEST_CASE("pin_rules long statements are read to their end") {
    std::string sql = "select ";
    for (int i = 0; i < 500; ++i) sql += "a" + std::to_string(i) + ", ";
    sql += "pg_advisory_lock(1)";
    CHECK(pins(sql));
}

TEST_CASE("pin_rules quoted function names pin too") {
    // A quoted name calls the same function when spelled in lower case.
    CHECK(pins("select \"pg_advisory_lock\"(1)"));
    CHECK(pins("select \"set_config\"('a', 'b', false)"));
    CHECK(pins("select pg_catalog.\"pg_try_advisory_lock\"(1)"));
    // Upper case in quotes is another (nonexistent) function; a name without
    // a call is a column.
    CHECK_FALSE(pins("select \"PG_ADVISORY_LOCK\"(1)"));
    CHECK_FALSE(pins("select pg_advisory_lock from t"));
    CHECK_FALSE(pins("select set_config from t"));
}

TEST_CASE("pin_rules set_config looks at its third argument only") {
    CHECK(pins("select set_config('a.b', 'c', not true)"));
    CHECK(pins("select set_config('a.b', 'c', true and false)"));
    CHECK(pins("select set_config(case when true then 'a.b' end, 'c', false)"));
    CHECK(pins("select set_config('a.b', 'c', is_local => false)"));
    CHECK(pins("select set_config('a.b', 'c', false) from t where x in (select true)"));
    CHECK_FALSE(pins("select set_config('a.b', lower('C'), true)"));
    CHECK_FALSE(pins("select set_config(('a.b'), 'c', true)"));
    CHECK_FALSE(pins("select set_config('a.b', array['c', 'd'][1], true)"));
    CHECK_FALSE(pins("select set_config('a.b', 'c', true), set_config('d.e', 'f', true)"));
    CHECK(pins("select set_config('a.b', 'c', true), set_config('d.e', 'f', false)"));
}

TEST_CASE("pin_rules tables and columns named temp don't pin") {
    CHECK_FALSE(pins("create table t (temp int)"));
    CHECK_FALSE(pins("create table temp (a int)"));
    CHECK_FALSE(pins("create unique index on temp (a)"));
    CHECK_FALSE(pins("insert into temp values (1)"));
    CHECK_FALSE(pins("update temp set a = 1"));
    CHECK(pins("with x as (select 1) select * into temp t from x"));
}

// Known bug: a statement that starts with "(" is never looked at, because
// statement_reason() returns at once when the first token is not a word.
TEST_CASE("pin_rules parenthesized statements pin") {
    CHECK(pins("(select pg_advisory_lock(1))"));
    CHECK(pins("(select set_config('a.b', 'c', false))"));
    CHECK(pins("((select 1) union (select pg_try_advisory_lock(2)))"));
}

// Known bug: EXPLAIN ANALYZE runs CREATE TABLE AS and SELECT INTO, creating
// the temporary table, but the rules only look at CREATE/SELECT/WITH first.
TEST_CASE("pin_rules EXPLAIN ANALYZE of a temporary table pins") {
    CHECK(pins("EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1"));
    CHECK(pins("explain (analyze) select 1 into temp t"));
}

}  // TEST_SUITE
