// Client authentication through pggate with each pg_hba.conf method the
// cluster offers: trust, password, md5 and scram-sha-256.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness.hpp"

using namespace pggate::test;

namespace {

std::string role_for(std::string method) {
    std::replace(method.begin(), method.end(), '-', '_');
    return "auth_" + method;
}

}  // namespace

TEST_CASE("auth: trust, password, md5 and scram-sha-256 through pggate") {
    Pggate gate;
    TrustGuard guard;
    for (std::string method : {"trust", "password", "md5", "scram-sha-256"}) {
        CAPTURE(method);
        std::string role = role_for(method);
        std::string password = "secret_" + role;
        guard.roles.push_back(role);
        cluster().set_hba(method);
        {
            PgConn admin = cluster().admin();
            admin.exec_ok("drop role if exists " + role);
            admin.exec_ok(std::string("set password_encryption = '") + (method == "md5" ? "md5" : "scram-sha-256") + "'");
            admin.exec_ok("create role " + role + " login password '" + password + "'");
            std::string stored = admin.scalar("select left(rolpassword, 3) from pg_authid where rolname = '" + role + "'");
            CHECK(stored == (method == "md5" ? "md5" : "SCR"));
        }
        cluster().wait_replicas_caught_up();

        PgConn good = PgConn::attempt(gate.conninfo("user=" + role + " password=" + password));
        REQUIRE_MESSAGE(good.ok(), "right password refused: " << good.error_message());
        CHECK(good.scalar("select current_user") == role);
        CHECK(good.scalar("select session_user") == role);

        PgConn bad = PgConn::attempt(gate.conninfo("user=" + role + " password=wrong_password"));
        if (method == "trust") {
            CHECK_MESSAGE(bad.ok(), "trust refused a connection: " << bad.error_message());
        } else {
            CHECK_FALSE(bad.ok());
            CHECK_MESSAGE(bad.error_sqlstate() == "28P01", bad.error_message());
            // Without any password the client itself gives up once asked for one.
            PgConn none = PgConn::attempt(gate.conninfo("user=" + role + " passfile=/nonexistent"));
            CHECK_FALSE(none.ok());
            CHECK_MESSAGE(none.error_message().find("no password supplied") != std::string::npos, none.error_message());
        }
        // The failed attempts left the good session alone.
        CHECK(good.scalar("select 1") == "1");
    }
}
