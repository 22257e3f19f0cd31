// Session SET tracking: which statements are session-state operations, and
// which of them survive their transaction (commit, rollback, savepoints).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "session/session_sets.hpp"

using pggate::session::replay_sets;
using pggate::session::session_ops;
using pggate::session::SessionSets;
using pggate::session::SetMap;
using pggate::session::SetOp;
using pggate::session::SetValue;

namespace {

// A client and the one server that runs all its transactions.
struct Session {
    SessionSets sets;
    SetMap server;
};

// Runs `sql` as one transaction that ends as `committed` says; the server
// ends up with the same SETs as the client.
SetMap after(Session& s, const std::string& sql, bool committed = true) {
    s.sets.add(session_ops(sql));
    s.sets.end_transaction(committed, s.server);
    CHECK(s.server == s.sets.values());
    return s.sets.values();
}

}  // namespace

TEST_SUITE("session.session_sets") {

TEST_CASE("session_sets: SET forms and their values as written") {
    auto ops = session_ops("set search_path = app, \"Public\"; SET SESSION work_mem TO '64MB'; set myext.level=3");
    REQUIRE(ops.size() == 3);
    CHECK(ops[0].kind == SetOp::Kind::Set);
    CHECK(ops[0].name == "search_path");
    CHECK(ops[0].value == "app, \"Public\"");
    CHECK(ops[1].name == "work_mem");
    CHECK(ops[1].value == "'64MB'");
    CHECK(ops[2].name == "myext.level");
    CHECK(ops[2].value == "3");
}

TEST_CASE("session_sets: select set_config(..., false) is a SET of the literal as the whole value") {
    auto ops = session_ops("SELECT set_config('Search_Path', 'a, b', false), pg_catalog.set_config('x.y', $$1$$, false)");
    REQUIRE(ops.size() == 2);
    CHECK(ops[0].kind == SetOp::Kind::Set);
    CHECK(ops[0].name == "search_path");
    CHECK(ops[0].value == SetValue("'a, b'", true));
    CHECK(ops[1].name == "x.y");
    CHECK(ops[1].value == SetValue("$$1$$", true));
    // Transaction-local, not plain, or carried by ParameterStatus: no SET.
    for (const char* sql : {"select set_config('a.b', 'c', true)", "select set_config('a.b', 'c', false) from t",
                            "select set_config('a.b', lower('C'), false)", "select set_config('timezone', 'UTC', false)",
                            "select set_config('a.b', 'c', false), 1"}) {
        CAPTURE(sql);
        CHECK(session_ops(sql).empty());
    }
}

TEST_CASE("session_sets: replay uses set_config for literal values and SET for SQL text") {
    SetMap server{{"work_mem", "'1MB'"}};
    SetMap client{{"search_path", SetValue("E'a,b'", true)}, {"work_mem", "'2MB'"}};
    CHECK(replay_sets(server, client) ==
          "SELECT pg_catalog.set_config(E'search_path', E'a,b', false);SET work_mem = '2MB';");
    // Same text, different form: still replayed.
    CHECK(replay_sets(SetMap{{"x.y", "'1'"}}, SetMap{{"x.y", SetValue("'1'", true)}}) ==
          "SELECT pg_catalog.set_config(E'x.y', '1', false);");
}

TEST_CASE("session_sets: set_config and SET of one parameter replace each other") {
    Session s;
    CHECK(after(s, "set a.x = 1") == SetMap{{"a.x", "1"}});
    CHECK(after(s, "select set_config('a.x', '2', false)") == SetMap{{"a.x", SetValue("'2'", true)}});
    CHECK(after(s, "select set_config('a.x', '3', false)", false) == SetMap{{"a.x", SetValue("'2'", true)}});
    CHECK(after(s, "reset a.x").empty());
}

TEST_CASE("session_sets: not session state, or carried elsewhere") {
    for (const char* sql : {"set local work_mem = '1MB'", "set transaction read only", "set role admin",
                            "set session authorization alice", "set time zone 'UTC'", "set application_name = 'x'",
                            "SET TimeZone = 'UTC'", "select 'set work_mem = 1'", "-- set work_mem = 1",
                            "reset application_name"}) {
        CAPTURE(sql);
        CHECK(session_ops(sql).empty());
    }
}

TEST_CASE("session_sets: commit keeps, rollback drops, later SETs win, RESET and DEFAULT remove") {
    Session s;
    CHECK(after(s, "set work_mem = '2MB'") == SetMap{{"work_mem", "'2MB'"}});
    CHECK(after(s, "set work_mem = '3MB'", false) == SetMap{{"work_mem", "'2MB'"}});
    CHECK(after(s, "set work_mem = '4MB'; set work_mem = '5MB'") == SetMap{{"work_mem", "'5MB'"}});
    CHECK(after(s, "set search_path = a") == SetMap{{"search_path", "a"}, {"work_mem", "'5MB'"}});
    CHECK(after(s, "reset work_mem") == SetMap{{"search_path", "a"}});
    CHECK(after(s, "set search_path to default").empty());
    after(s, "set a.b = 1; set c.d = 2");
    CHECK(after(s, "reset all").empty());
    after(s, "set a.b = 1");
    CHECK(after(s, "discard all").empty());
}

TEST_CASE("session_sets: savepoints") {
    Session s;
    CHECK(after(s, "begin; set a.x = 1; savepoint sp; set a.y = 2; rollback to savepoint sp; set a.z = 3; commit") ==
          SetMap{{"a.x", "1"}, {"a.z", "3"}});
    Session t;
    CHECK(after(t, "begin; savepoint one; set a.x = 1; savepoint two; set a.y = 2; release two; rollback to one; "
                   "commit")
              .empty());
    Session u;
    CHECK(after(u, "begin; savepoint one; set a.x = 1; release savepoint one; commit") == SetMap{{"a.x", "1"}});
    Session v;
    CHECK(after(v, "begin; savepoint sp; set a.x = 1; rollback work to sp; commit").empty());
}

TEST_CASE("session_sets: replay takes a server to the client's state") {
    SetMap server{{"work_mem", "'8MB'"}, {"search_path", "a"}};
    SetMap client{{"search_path", "b"}, {"a.x", "1"}};
    CHECK(replay_sets(server, client) == "SET a.x = 1;SET search_path = b;RESET work_mem;");
    CHECK(replay_sets(client, client).empty());
}

}  // TEST_SUITE
