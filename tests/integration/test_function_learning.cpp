// Functions the health process learns from pg_proc: a STABLE or IMMUTABLE
// function of the application is a read, a VOLATILE one stays on the primary.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

namespace {

// Two functions with the same body, which says where it ran.
struct Functions {
    Functions() {
        drop();
        for (const char* volatility : {"stable", "volatile"})
            cluster().admin_exec(std::string("create function fl_") + volatility +
                                 "() returns bool language sql " + volatility + " as 'select pg_is_in_recovery()'");
        cluster().wait_replicas_caught_up();
    }
    ~Functions() {
        try {
            drop();
        } catch (...) {
        }
    }
    static void drop() {
        cluster().admin_exec("drop function if exists fl_stable()");
        cluster().admin_exec("drop function if exists fl_volatile()");
    }
};

}  // namespace

TEST_CASE("function learning: a STABLE function reads on replicas once learned; a VOLATILE one never does") {
    PGGATE_ONLY();
    Functions functions;
    Pggate gate(routing());
    PgConn c(gate.conninfo());
    // Learned at startup, in a round trip or two after the primary is known.
    CHECK(eventually([&] { return c.scalar("select fl_stable()") == "t"; }, 15, 0.1));
    CHECK(c.scalar("select public.fl_stable()") == "t");
    for (int i = 0; i < 10; ++i) CHECK(c.scalar("select fl_volatile()") == "f");
    CHECK(gate.log_text().find("non-volatile function names from pg_proc") != std::string::npos);
}
