// Unit tests of the ReadyForQuery accounting: simple and extended queries,
// pipelines, transaction status, Flush, and COPY in both protocols (with the
// Syncs a server ignores in copy-in mode).
#include <doctest/doctest.h>

#include <string_view>

#include "protocol/sync_tracker.hpp"

namespace {

using pggate::protocol::SyncTracker;

// Feeds each character of `types` as a frontend message type.
void send(SyncTracker& t, std::string_view types) {
    for (char c : types) t.on_frontend(c);
}

}  // namespace

TEST_SUITE("protocol.sync_tracker") {

TEST_CASE("sync_tracker starts idle and releasable") {
    SyncTracker t;
    CHECK(t.outstanding() == 0);
    CHECK(t.status() == 'I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker simple query owes one ReadyForQuery") {
    SyncTracker t;
    send(t, "Q");
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 0);
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker function call owes one ReadyForQuery") {
    SyncTracker t;
    send(t, "F");
    CHECK(t.outstanding() == 1);
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker extended query owes one ReadyForQuery at Sync") {
    SyncTracker t;
    send(t, "PBE");
    CHECK(t.outstanding() == 0);
    send(t, "S");
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker describe and close messages add nothing") {
    SyncTracker t;
    send(t, "PDBDEC");
    CHECK(t.outstanding() == 0);
    send(t, "S");
    CHECK(t.outstanding() == 1);
}

TEST_CASE("sync_tracker pipeline of three extended queries") {
    SyncTracker t;
    for (int i = 0; i < 3; ++i) send(t, "PBES");
    CHECK(t.outstanding() == 3);
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 2);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 0);
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker pipeline of simple queries") {
    SyncTracker t;
    send(t, "QQ");
    CHECK(t.outstanding() == 2);
    t.on_ready_for_query('I');
    CHECK_FALSE(t.releasable());
    send(t, "Q");
    t.on_ready_for_query('I');
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker transaction status keeps the server") {
    SyncTracker t;
    send(t, "Q");
    t.on_ready_for_query('T');
    CHECK(t.outstanding() == 0);
    CHECK(t.status() == 'T');
    CHECK_FALSE(t.releasable());

    send(t, "Q");
    t.on_ready_for_query('E');
    CHECK(t.status() == 'E');
    CHECK_FALSE(t.releasable());

    send(t, "Q");
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker Flush adds nothing") {
    SyncTracker t;
    send(t, "PBEH");
    CHECK(t.outstanding() == 0);
    send(t, "H");
    CHECK(t.outstanding() == 0);
    send(t, "S");
    CHECK(t.outstanding() == 1);
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker an unexpected ReadyForQuery doesn't underflow") {
    SyncTracker t;
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 0);
    CHECK(t.releasable());
    t.on_ready_for_query('T');
    CHECK(t.outstanding() == 0);
    CHECK_FALSE(t.releasable());
}

TEST_CASE("sync_tracker COPY FROM STDIN in the simple protocol") {
    SyncTracker t;
    send(t, "Q");
    send(t, "dd");
    CHECK_FALSE(t.releasable());
    send(t, "c");
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 0);
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker copy-in is never releasable even with nothing owed") {
    SyncTracker t;
    send(t, "PBES");
    send(t, "d");
    // The Sync was swallowed by copy-in mode, but the COPY is still running.
    CHECK(t.outstanding() == 0);
    CHECK_FALSE(t.releasable());
}

TEST_CASE("sync_tracker COPY FROM STDIN in the extended protocol") {
    SyncTracker t;
    send(t, "PBES");
    CHECK(t.outstanding() == 1);
    send(t, "dd");
    CHECK_FALSE(t.releasable());
    // Syncs and Flushes during copy-in are ignored by the server.
    send(t, "SH");
    send(t, "c");
    CHECK(t.outstanding() == 0);
    send(t, "S");
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.outstanding() == 0);
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker empty COPY FROM STDIN in the extended protocol") {
    SyncTracker t;
    send(t, "PBES");
    send(t, "c");
    send(t, "S");
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker empty COPY FROM STDIN in the simple protocol") {
    SyncTracker t;
    send(t, "Qc");
    CHECK(t.outstanding() == 1);
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker CopyFail in the simple protocol") {
    SyncTracker t;
    send(t, "Qddf");
    CHECK(t.outstanding() == 1);
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.releasable());

    SyncTracker u;
    send(u, "Qf");
    CHECK(u.outstanding() == 1);
    u.on_ready_for_query('I');
    CHECK(u.releasable());
}

TEST_CASE("sync_tracker CopyFail in the extended protocol") {
    SyncTracker t;
    send(t, "PBESddf");
    CHECK(t.outstanding() == 0);
    send(t, "S");
    CHECK(t.outstanding() == 1);
    t.on_ready_for_query('I');
    CHECK(t.releasable());

    SyncTracker u;
    send(u, "PBESfS");
    CHECK(u.outstanding() == 1);
    u.on_ready_for_query('I');
    CHECK(u.releasable());
}

TEST_CASE("sync_tracker COPY TO STDOUT needs no client copy messages") {
    SyncTracker t;
    send(t, "Q");
    t.on_ready_for_query('I');
    CHECK(t.releasable());

    SyncTracker u;
    send(u, "PBES");
    u.on_ready_for_query('I');
    CHECK(u.releasable());
}

TEST_CASE("sync_tracker pipeline with a COPY FROM STDIN in the middle") {
    SyncTracker t;
    send(t, "PBES");    // a plain query
    send(t, "PBES");    // COPY FROM STDIN: its Sync is swallowed
    send(t, "ddcS");    // data, done, the Sync that ends it
    send(t, "PBES");    // another query
    CHECK(t.outstanding() == 3);
    t.on_ready_for_query('I');
    t.on_ready_for_query('I');
    CHECK_FALSE(t.releasable());
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker two COPYs in a row in the simple protocol") {
    SyncTracker t;
    send(t, "Qdc");
    t.on_ready_for_query('I');
    CHECK(t.releasable());
    send(t, "Qddddc");
    CHECK(t.outstanding() == 1);
    t.on_ready_for_query('I');
    CHECK(t.releasable());
}

TEST_CASE("sync_tracker a terminate or unknown message adds nothing") {
    SyncTracker t;
    send(t, "Xp?");
    CHECK(t.outstanding() == 0);
    CHECK(t.releasable());
}

// Extended-protocol messages after the last Sync leave the server holding an
// unnamed statement/portal (or an error that discards all until a Sync):
// releasing it then would hand the next client that batch's replies.
TEST_CASE("sync_tracker unsynced extended messages keep the server") {
    SUBCASE("Parse/Bind/Execute without Sync") {
        SyncTracker t;
        send(t, "PBE");
        CHECK_FALSE(t.releasable());
        CHECK_FALSE(t.synced());
        send(t, "H");
        CHECK_FALSE(t.releasable());
        send(t, "S");
        t.on_ready_for_query('I');
        CHECK(t.releasable());
        CHECK(t.synced());
    }
    SUBCASE("each extended message alone") {
        for (char c : {'P', 'B', 'D', 'C', 'E'}) {
            CAPTURE(c);
            SyncTracker t;
            t.on_frontend(c);
            CHECK_FALSE(t.releasable());
            t.on_frontend('S');
            t.on_ready_for_query('I');
            CHECK(t.releasable());
        }
    }
    SUBCASE("synced() ignores the transaction status") {
        SyncTracker t;
        send(t, "PBES");
        t.on_ready_for_query('T');
        CHECK(t.synced());
        CHECK_FALSE(t.releasable());
    }
    SUBCASE("a pipeline whose second batch is not yet synced") {
        SyncTracker t;
        send(t, "PBES");
        send(t, "PBE");
        t.on_ready_for_query('I');
        CHECK_FALSE(t.releasable());
        send(t, "S");
        t.on_ready_for_query('I');
        CHECK(t.releasable());
    }
    SUBCASE("extended COPY between CopyDone and its Sync") {
        SyncTracker t;
        send(t, "PBESddc");
        CHECK_FALSE(t.releasable());
        send(t, "S");
        t.on_ready_for_query('I');
        CHECK(t.releasable());
    }
}

}  // TEST_SUITE
