// Unit tests of the pure parts of auth_query lookups: reading the query's
// answer (results built with libpq's own constructors) and the settings a
// configuration gives the lookup connections.
#include <doctest/doctest.h>

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_query.hpp"
#include "config/config.hpp"
#include "net/address.hpp"

using namespace pggate;
using auth::LookupOutcome;

namespace {

struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, Clear>;

// A TUPLES_OK result with `columns` text columns and `rows` (nullopt: NULL).
Result tuples(int columns, const std::vector<std::vector<std::optional<std::string>>>& rows) {
    Result r(PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK));
    std::vector<PGresAttDesc> attrs(static_cast<std::size_t>(columns));
    std::vector<std::string> names;
    for (int i = 0; i < columns; ++i) names.push_back("c" + std::to_string(i));
    for (int i = 0; i < columns; ++i) {
        PGresAttDesc& a = attrs[static_cast<std::size_t>(i)];
        a = {};
        a.name = names[static_cast<std::size_t>(i)].data();
        a.typid = 25;  // text
        a.typlen = -1;
        a.atttypmod = -1;
    }
    REQUIRE(PQsetResultAttrs(r.get(), columns, attrs.data()) != 0);
    for (std::size_t row = 0; row < rows.size(); ++row) {
        for (std::size_t col = 0; col < rows[row].size(); ++col) {
            const auto& v = rows[row][col];
            REQUIRE(PQsetvalue(r.get(), static_cast<int>(row), static_cast<int>(col),
                               v ? const_cast<char*>(v->c_str()) : nullptr, v ? static_cast<int>(v->size()) : -1) != 0);
        }
    }
    return r;
}

config::Config config_with(const std::string& extra_pggate, const std::string& node = "host=127.0.0.1 port=5433") {
    return config::parse_config("[pggate]\n" + extra_pggate + "[nodes]\npg1 = " + node + " role=primary\n", "t.ini");
}

}  // namespace

TEST_CASE("auth_query answer: one row's second column is the secret") {
    auth::LookupResult r = auth::read_lookup_answer(tuples(2, {{"alice", "md5abc"}}).get());
    CHECK(r.outcome == LookupOutcome::Found);
    CHECK(r.secret == "md5abc");
    // The first column is not checked: a function may spell the name its own way.
    CHECK(auth::read_lookup_answer(tuples(2, {{std::nullopt, "pw"}}).get()).secret == "pw");
}

TEST_CASE("auth_query answer: no row, a NULL or an empty secret is an unknown user") {
    CHECK(auth::read_lookup_answer(tuples(2, {}).get()).outcome == LookupOutcome::NotFound);
    CHECK(auth::read_lookup_answer(tuples(2, {{"alice", std::nullopt}}).get()).outcome == LookupOutcome::NotFound);
    CHECK(auth::read_lookup_answer(tuples(2, {{"alice", ""}}).get()).outcome == LookupOutcome::NotFound);
}

TEST_CASE("auth_query answer: other shapes and errors are failures of the lookup") {
    auth::LookupResult many = auth::read_lookup_answer(tuples(2, {{"a", "x"}, {"a", "y"}}).get());
    CHECK(many.outcome == LookupOutcome::Failed);
    CHECK(many.error == "auth_query returned 2 rows");

    auth::LookupResult one = auth::read_lookup_answer(tuples(1, {{"x"}}).get());
    CHECK(one.outcome == LookupOutcome::Failed);
    CHECK(one.error == "auth_query returned 1 columns; it must return two (user name, secret)");
    CHECK(auth::read_lookup_answer(tuples(3, {{"a", "b", "c"}}).get()).outcome == LookupOutcome::Failed);
    // Even with no row: a wrong query is a configuration error to report.
    CHECK(auth::read_lookup_answer(tuples(1, {}).get()).outcome == LookupOutcome::Failed);

    Result error(PQmakeEmptyPGresult(nullptr, PGRES_FATAL_ERROR));
    auth::LookupResult failed = auth::read_lookup_answer(error.get());
    CHECK(failed.outcome == LookupOutcome::Failed);
    CHECK(failed.error.rfind("auth_query failed: ", 0) == 0);
    Result command(PQmakeEmptyPGresult(nullptr, PGRES_COMMAND_OK));
    CHECK(auth::read_lookup_answer(command.get()).outcome == LookupOutcome::Failed);
    CHECK(auth::read_lookup_answer(nullptr).outcome == LookupOutcome::Failed);
}

TEST_CASE("auth_query settings from the configuration") {
    config::Config c = config_with(
        "auth_user = lookup\nauth_dbname = authdb\nauth_query_cache_ttl = 4\nserver_connect_timeout = 3\n"
        "server_idle_timeout = 50\nserver_lifetime = 70\n");
    auto addr = net::resolve_node(c.primary());
    auth::Credentials plain{"lookup password", std::nullopt};
    auth::AuthQuerySettings s = auth::auth_query_settings(c, &plain, addr);
    CHECK(s.user == "lookup");
    REQUIRE(s.password.has_value());
    CHECK(*s.password == "lookup password");
    CHECK(s.setup_error.empty());
    CHECK(s.query == config::kDefaultAuthQuery);
    CHECK(s.dbname == "authdb");
    CHECK(s.node == "pg1");
    CHECK(s.host == "127.0.0.1");
    CHECK(s.hostaddr == "127.0.0.1");  // libpq is given the address: it must not resolve names itself
    CHECK(s.port == 5433);
    CHECK(s.timeout == doctest::Approx(3));
    CHECK(s.idle_timeout == doctest::Approx(50));
    CHECK(s.lifetime == doctest::Approx(70));
    CHECK(s.cache_ttl == doctest::Approx(4));

    // Not listed in the auth_file: no password given.
    CHECK_FALSE(auth::auth_query_settings(c, nullptr, addr).password.has_value());
    CHECK(auth::auth_query_settings(c, nullptr, addr).setup_error.empty());
    // A stored secret is no password libpq could send.
    for (const char* secret : {"md5" "0123456789abcdef0123456789abcdef",
                               "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$"
                               "WXdfLOuMrfZCUHKW23iGVSGF6U+0VNwT9fWCDeg3uRI=:"
                               "WTiJWWNbhJnyr9SSbFPdXmwY1WYrSvFGrqbbDYFGuUM="}) {
        CAPTURE(std::string(secret));
        auth::Credentials stored{secret, std::nullopt};
        auth::AuthQuerySettings bad = auth::auth_query_settings(c, &stored, addr);
        CHECK_FALSE(bad.password.has_value());
        CHECK(bad.setup_error.find("need its password in plain text") != std::string::npos);
    }
    // An unresolved primary: every lookup fails, and says why.
    CHECK(auth::auth_query_settings(c, &plain, std::nullopt).setup_error == "the address of node pg1 is unknown");
    // Without a server_connect_timeout a lookup is bounded by the client's login time.
    config::Config no_connect_timeout = config_with("auth_user = a\nserver_connect_timeout = 0\nclient_login_timeout = 9\n");
    CHECK(auth::auth_query_settings(no_connect_timeout, nullptr, addr).timeout == doctest::Approx(9));
}

TEST_CASE("auth_query settings for a primary behind a Unix socket") {
    config::Config c = config_with("auth_user = lookup\n", "host=/run/postgresql port=5432");
    auto addr = net::resolve_node(c.primary());
    REQUIRE(addr.has_value());
    auth::AuthQuerySettings s = auth::auth_query_settings(c, nullptr, addr);
    CHECK(s.host == "/run/postgresql");
    CHECK(s.hostaddr.empty());
    CHECK(s.setup_error.empty());
}
