// Malformed client input: pggate answers with an ErrorResponse and closes that
// connection, and nothing else suffers. Also SSLRequest/GSSENCRequest refusal.
#include <doctest/doctest.h>

#include "harness.hpp"

using namespace pggate::test;

namespace {

struct BadInput {
    const char* name;
    std::string bytes;
    const char* sqlstate;
    bool login_first = false;  // sent after a successful trust login
};

std::vector<BadInput> bad_inputs() {
    using namespace wire;
    const std::string params = cstr("user") + cstr("postgres") + cstr("database") + cstr("postgres") + cstr("");
    return {
        {"startup length 4", be32(4), "08P01"},
        {"startup length 7", be32(7) + "abc", "08P01"},
        {"startup length 20000 (over 10000)", be32(20000) + be32(kProtocol3) + params, "08P01"},
        {"startup length negative", std::string("\xff\xff\xff\xf0", 4) + be32(kProtocol3), "08P01"},
        {"protocol version 2.0", startup_message({{"user", "postgres"}, {"database", "postgres"}}, 0x00020000),
         "0A000"},
        {"garbage (an HTTP request)", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "08P01"},
        {"startup parameters without terminator", be32(8 + 13) + be32(kProtocol3) + std::string("user\0postgres", 13),
         "08P01"},
        {"message longer than max_packet_size", std::string("Q") + be32(100000) + "select 1", "08P01", true},
        {"message length below 4", std::string("Q") + be32(2), "08P01", true},
        {"unknown message type", message('y', "abc"), "08P01", true},
    };
}

}  // namespace

TEST_CASE("malformed: bad packets get an ErrorResponse and a close, nobody else notices") {
    PGGATE_ONLY();
    Pggate gate({"max_packet_size = 4096"});
    REQUIRE(eventually([&] { return gate.worker_pids().size() == 2; }, 5));
    const std::vector<pid_t> workers = gate.worker_pids();
    PgConn bystander(gate.conninfo());
    bystander.exec_ok("begin");
    bystander.exec_ok("create temp table bystander_t(x int)");

    int round = 0;
    for (const auto& bad : bad_inputs()) {
        CAPTURE(bad.name);
        {
            RawClient raw(gate.port());
            if (bad.login_first) raw.login();
            raw.send(bad.bytes);  // pggate may close before taking it all
            auto fields = raw.read_error(5);
            REQUIRE_MESSAGE(fields.has_value(), "no ErrorResponse (connection " << (raw.eof() ? "closed" : "silent") << ")");
            CHECK_MESSAGE((*fields)['C'] == bad.sqlstate, "SQLSTATE " << (*fields)['C'] << ": " << (*fields)['M']);
            CHECK(!(*fields)['M'].empty());
            CHECK(((*fields)['S'] == "FATAL" || (*fields)['S'] == "ERROR"));
            CHECK_MESSAGE(raw.wait_eof(5), "pggate did not close the connection");
        }
        ++round;
        bystander.exec_ok("insert into bystander_t values (" + std::to_string(round) + ")");
        CHECK(bystander.scalar("select count(*) from bystander_t") == std::to_string(round));
        CHECK(process_alive(gate.master_pid()));
        CHECK(gate.worker_pids() == workers);
    }
    bystander.exec_ok("commit");
    // And new clients still get in.
    PgConn later(gate.conninfo());
    CHECK(later.scalar("select 'fine'") == "fine");
}

TEST_CASE("malformed: SSLRequest is answered 'N', then a StartupMessage works") {
    Pggate gate;
    RawClient raw(gate.port());
    REQUIRE(raw.send(wire::ssl_request()));
    CHECK(raw.read_exact(1, 5) == "N");
    raw.login();
    REQUIRE(raw.send(wire::message('Q', wire::cstr("select 'plain'"))));
    std::string types;
    for (;;) {
        auto m = raw.read_message(5);
        REQUIRE(m.has_value());
        types += m->type;
        if (m->type == 'Z') break;
    }
    CHECK(types == "TDCZ");
}

TEST_CASE("malformed: GSSENCRequest is answered 'N', then a StartupMessage works") {
    // PostgreSQL built with GSSAPI (Debian's) answers 'G'; pggate has no GSSAPI.
    PGGATE_ONLY();
    Pggate gate;
    RawClient raw(gate.port());
    REQUIRE(raw.send(wire::gssenc_request()));
    CHECK(raw.read_exact(1, 5) == "N");
    raw.login();
}
