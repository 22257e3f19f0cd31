// Unit tests of the per-client server parameters: which names are tracked,
// how startup values override the pool's welcome values, what the client's
// own SETs change, and the exact SET text that syncs a server.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pool/pool.hpp"
#include "session/client_params.hpp"

namespace {

using pggate::pool::ParamList;
using pggate::session::ClientParams;

const std::string* value_of(const ClientParams& p, const std::string& name) {
    for (const auto& [k, v] : p.values())
        if (k == name) return &v;
    return nullptr;
}

std::size_t count_of(const ClientParams& p, const std::string& name) {
    std::size_t n = 0;
    for (const auto& [k, v] : p.values()) n += k == name;
    return n;
}

// What a PostgreSQL server reports at login, in its order and spelling.
ParamList server_welcome() {
    return {{"application_name", ""},
            {"client_encoding", "UTF8"},
            {"DateStyle", "ISO, MDY"},
            {"integer_datetimes", "on"},
            {"IntervalStyle", "postgres"},
            {"is_superuser", "off"},
            {"server_encoding", "UTF8"},
            {"server_version", "16.2"},
            {"standard_conforming_strings", "on"},
            {"TimeZone", "UTC"}};
}

}  // namespace

TEST_SUITE("session.client_params") {

TEST_CASE("client_params tracked names, any case") {
    for (const char* name : {"client_encoding", "DateStyle", "IntervalStyle", "TimeZone", "application_name",
                             "standard_conforming_strings", "datestyle", "DATESTYLE", "timezone", "TIMEZONE",
                             "intervalstyle", "Application_Name", "CLIENT_ENCODING", "Standard_Conforming_Strings"}) {
        CAPTURE(name);
        CHECK(ClientParams::tracked(name));
    }
    for (const char* name : {"server_version", "is_superuser", "integer_datetimes", "server_encoding",
                             "session_authorization", "work_mem", "search_path", "", "TimeZon", "TimeZone ",
                             "_TimeZone"}) {
        CAPTURE(name);
        CHECK_FALSE(ClientParams::tracked(name));
    }
}

TEST_CASE("client_params init: startup values override welcome values") {
    ClientParams p;
    p.init(server_welcome(), {{"user", "alice"},
                              {"database", "app"},
                              {"application_name", "psql"},
                              {"datestyle", "German, DMY"},
                              {"TIMEZONE", "Europe/Paris"},
                              {"work_mem", "64MB"},
                              {"options", "-c work_mem=1MB"}});
    // Canonical spelling, overriding the welcome entry in place.
    REQUIRE(value_of(p, "DateStyle") != nullptr);
    CHECK(*value_of(p, "DateStyle") == "German, DMY");
    CHECK(count_of(p, "DateStyle") == 1);
    CHECK(value_of(p, "datestyle") == nullptr);
    REQUIRE(value_of(p, "TimeZone") != nullptr);
    CHECK(*value_of(p, "TimeZone") == "Europe/Paris");
    CHECK(value_of(p, "TIMEZONE") == nullptr);
    CHECK(*value_of(p, "application_name") == "psql");
    // Welcome values the client did not override.
    CHECK(*value_of(p, "client_encoding") == "UTF8");
    CHECK(*value_of(p, "IntervalStyle") == "postgres");
    // Untracked startup parameters are not kept.
    CHECK(value_of(p, "user") == nullptr);
    CHECK(value_of(p, "database") == nullptr);
    CHECK(value_of(p, "work_mem") == nullptr);
    CHECK(value_of(p, "options") == nullptr);
}

TEST_CASE("client_params init adds a tracked startup value the welcome lacks") {
    ClientParams p;
    p.init({{"TimeZone", "UTC"}}, {{"Application_Name", "job"}, {"client_encoding", "LATIN1"}});
    REQUIRE(value_of(p, "application_name") != nullptr);
    CHECK(*value_of(p, "application_name") == "job");
    CHECK(*value_of(p, "client_encoding") == "LATIN1");
    CHECK(*value_of(p, "TimeZone") == "UTC");
    CHECK(p.values().size() == 3);
}

TEST_CASE("client_params welcome: the server's list in its order, with the client's own values") {
    ClientParams p;
    p.init(server_welcome(), {{"TimeZone", "Europe/Paris"}, {"application_name", "psql"}});
    CHECK(p.values().size() == 6);  // the tracked ones only
    ParamList expected = server_welcome();
    expected[0].second = "psql";
    expected[9].second = "Europe/Paris";
    CHECK(p.welcome(server_welcome()) == expected);
    p.note("DateStyle", "SQL, DMY");
    expected[2].second = "SQL, DMY";
    CHECK(p.welcome(server_welcome()) == expected);
}

TEST_CASE("client_params init twice starts over") {
    ClientParams p;
    p.init(server_welcome(), {{"application_name", "first"}});
    p.init({{"TimeZone", "UTC"}}, {});
    CHECK(p.values() == ParamList{{"TimeZone", "UTC"}});
}

TEST_CASE("client_params: clients that connect with the same values share one copy; a SET changes only its own") {
    ClientParams a, b, c;
    a.init(server_welcome(), {{"application_name", "app"}});
    b.init(server_welcome(), {{"application_name", "app"}});
    c.init(server_welcome(), {{"application_name", "other"}});
    CHECK(&a.values() == &b.values());
    CHECK(&a.values() != &c.values());

    b.note("TimeZone", "Asia/Tokyo");
    CHECK(*value_of(b, "TimeZone") == "Asia/Tokyo");
    CHECK(*value_of(a, "TimeZone") == "UTC");
    CHECK(b.restore({"all"}) == ParamList{{"TimeZone", "UTC"}});
    CHECK(&a.values() == &b.values());
    CHECK(*value_of(c, "application_name") == "other");
}

TEST_CASE("client_params: a worker's many distinct connect-time lists stay correct past the shared ones") {
    std::vector<ClientParams> clients(200);
    for (std::size_t i = 0; i < clients.size(); ++i)
        clients[i].init(server_welcome(), {{"application_name", "app" + std::to_string(i)}});
    for (std::size_t i = 0; i < clients.size(); ++i)
        CHECK(*value_of(clients[i], "application_name") == "app" + std::to_string(i));
}

TEST_CASE("client_params note records tracked values only") {
    ClientParams p;
    p.init(server_welcome(), {});
    p.note("TimeZone", "Asia/Tokyo");
    p.note("datestyle", "SQL, DMY");
    p.note("application_name", "renamed");
    p.note("is_superuser", "on");
    p.note("work_mem", "1GB");
    CHECK(*value_of(p, "TimeZone") == "Asia/Tokyo");
    CHECK(*value_of(p, "DateStyle") == "SQL, DMY");
    CHECK(count_of(p, "DateStyle") == 1);
    CHECK(*value_of(p, "application_name") == "renamed");
    CHECK(value_of(p, "is_superuser") == nullptr);  // untracked: the pool's, not kept per client
    CHECK(value_of(p, "work_mem") == nullptr);

    ClientParams q;
    q.note("IntervalStyle", "iso_8601");
    CHECK(q.values() == ParamList{{"IntervalStyle", "iso_8601"}});
}

TEST_CASE("client_params sync_query is empty when the server matches") {
    ClientParams p;
    p.init(server_welcome(), {});
    CHECK(p.sync_query(server_welcome()).empty());

    ClientParams empty;
    CHECK(empty.sync_query({}).empty());
    CHECK(empty.sync_query(server_welcome()).empty());
}

TEST_CASE("client_params sync_query sets differing and missing values only") {
    ClientParams p;
    p.init(server_welcome(), {{"application_name", "psql"}, {"TimeZone", "Europe/Paris"}});
    // Untracked welcome values (server_version, is_superuser, …) never appear.
    ParamList server = server_welcome();
    server.emplace_back("server_version", "15.0");
    CHECK(p.sync_query(server) == "SET application_name = E'psql';SET TimeZone = E'Europe/Paris';");

    ParamList partial = {{"application_name", "psql"}, {"client_encoding", "UTF8"}};
    CHECK(p.sync_query(partial) ==
          "SET DateStyle = E'ISO, MDY';SET IntervalStyle = E'postgres';"
          "SET standard_conforming_strings = E'on';SET TimeZone = E'Europe/Paris';");
}

TEST_CASE("client_params sync_query escapes quotes and backslashes") {
    ClientParams p;
    p.init({}, {{"application_name", "it's\\ok"}});
    CHECK(p.sync_query({}) == "SET application_name = E'it''s\\\\ok';");
    CHECK(p.sync_query({{"application_name", "it's\\ok"}}).empty());

    p.note("application_name", "''\\\\");
    CHECK(p.sync_query({}) == "SET application_name = E'''''\\\\\\\\';");

    p.note("application_name", "");
    CHECK(p.sync_query({}) == "SET application_name = E'';");
    CHECK(p.sync_query({{"application_name", ""}}).empty());
}

TEST_CASE("client_params sync_query compares values exactly") {
    ClientParams p;
    p.init({}, {{"TimeZone", "utc"}});
    CHECK(p.sync_query({{"TimeZone", "UTC"}}) == "SET TimeZone = E'utc';");
}

}  // TEST_SUITE
