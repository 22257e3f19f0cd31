// The shared-memory segment across real processes: admission limits, pool
// places and the cancel handshake that keeps a server a cancel may still
// reach from being lent to another client; node table entries read whole
// while another process writes them.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "shm/segment.hpp"

using pggate::shm::Segment;
using pggate::shm::ClientInfo;
using pggate::shm::ClientActivity;

namespace {

// Runs `child` in a forked process and returns its exit code.
template <typename F>
int in_child(F&& child) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(child());
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

}  // namespace

TEST_SUITE("shm") {

TEST_CASE("shm: a node entry is never read half written, and names the node it describes") {
    using namespace pggate::shm;
    Segment shm = Segment::create(1, 1);
    // The writer keeps every field of a sample derived from one number; a
    // reader that saw a mix would find them disagree.
    auto sample = [](std::uint64_t n) {
        NodeSample s;
        s.ident = node_ident("db1", 5432);
        s.health = n % 2 ? NodeHealth::Up : NodeHealth::Down;
        s.role = NodeRoleSeen::Replica;
        s.failures = static_cast<std::uint32_t>(n);
        s.lsn = n * 3;
        s.receive_lsn = n * 5;
        s.sampled_at_ns = static_cast<std::int64_t>(n * 7);
        s.lag_bytes = static_cast<std::int64_t>(n * 11);
        s.lag_us = static_cast<std::int64_t>(n * 13);
        s.checked_at_ns = static_cast<std::int64_t>(n * 17);
        return s;
    };
    NodeEntry& entry = shm.node(3);
    entry.publish(sample(1));
    pid_t writer = fork();
    REQUIRE(writer >= 0);
    if (writer == 0) {
        for (std::uint64_t n = 2; n < 2000000; ++n) entry.publish(sample(n));
        _exit(0);
    }
    int torn = 0;
    std::uint64_t last = 0;
    int status = 0;
    // Reads while the writer runs (and once more after it ended).
    for (bool writing = true; writing;) {
        writing = waitpid(writer, &status, WNOHANG) == 0;
        NodeSample s = entry.read();
        std::uint64_t n = s.failures;
        if (s.lsn != n * 3 || s.receive_lsn != n * 5 || s.sampled_at_ns != static_cast<std::int64_t>(n * 7) ||
            s.lag_bytes != static_cast<std::int64_t>(n * 11) || s.lag_us != static_cast<std::int64_t>(n * 13) ||
            s.checked_at_ns != static_cast<std::int64_t>(n * 17) || (s.health == NodeHealth::Up) != (n % 2 == 1))
            ++torn;
        if (n < last) ++torn;  // a reader never goes back in time
        last = n;
    }
    CHECK(torn == 0);
    CHECK(last > 1);
    CHECK(entry.read().ident == node_ident("db1", 5432));
    CHECK(node_ident("db1", 5432) != node_ident("db1", 5433));
    CHECK(node_ident("db1", 5432) != node_ident("db2", 5432));
    CHECK(shm.node(4).read().health == NodeHealth::Unknown);
}

TEST_CASE("shm: max_client_conn holds across processes and a dead worker's clients are reclaimed") {
    Segment shm = Segment::create(2, 8);
    CHECK(in_child([&] {
              int admitted = 0;
              for (int i = 0; i < 5; ++i) admitted += shm.try_admit_client(1, 6) ? 1 : 0;
              return admitted;
          }) == 5);
    CHECK(shm.try_admit_client(0, 6));
    CHECK_FALSE(shm.try_admit_client(0, 6));
    shm.reclaim_worker(1);
    CHECK(shm.try_admit_client(0, 6));
    CHECK(shm.header().clients_total.load() == 2);
}

TEST_CASE("shm: max_login_clients holds across processes and a dead worker's logins are reclaimed") {
    Segment shm = Segment::create(2, 8);
    CHECK(in_child([&] {
              int begun = 0;
              for (int i = 0; i < 5; ++i) begun += shm.try_begin_login(1, 6) ? 1 : 0;
              return begun;
          }) == 5);
    CHECK(shm.try_begin_login(0, 6));
    CHECK_FALSE(shm.try_begin_login(0, 6));
    shm.login_ended(0);
    CHECK(shm.try_begin_login(0, 6));
    shm.reclaim_worker(1);
    CHECK(shm.header().logins_total.load() == 1);
    CHECK(shm.worker(1).logins.load() == 0);
    // Logins and connected clients are counted apart.
    CHECK(shm.header().clients_total.load() == 0);
}

TEST_CASE("shm: a pool's server places are shared by all workers and given back by the master") {
    Segment shm = Segment::create(2, 8);
    auto pool = shm.pool_index("db", "alice", "pg1");
    REQUIRE(pool.has_value());
    CHECK(in_child([&] { return shm.pool_index("db", "alice", "pg1") == pool ? 0 : 1; }) == 0);
    CHECK(in_child([&] { return (shm.try_take_server(*pool, 1, 3) ? 1 : 0) + (shm.try_take_server(*pool, 1, 3) ? 1 : 0); }) == 2);
    CHECK(shm.try_take_server(*pool, 0, 3));
    CHECK_FALSE(shm.try_take_server(*pool, 0, 3));
    CHECK(shm.pool_index("db", "bob", "pg1") != pool);
    shm.reclaim_worker(1);
    CHECK(shm.try_take_server(*pool, 0, 3));
    CHECK(shm.pool(*pool).servers.load() == 2);
}

TEST_CASE("shm: a cancel in flight keeps its server from being lent out") {
    Segment shm = Segment::create(2, 8);
    const std::uint32_t slot = 9;  // owned by worker 1
    const std::uint32_t pid = shm.key_pid(slot);
    shm.publish_backend(slot, 777, 0, 4242, 99);

    // Another worker (process) begins forwarding a cancel for this client.
    CHECK(in_child([&] {
              auto t = shm.begin_cancel(pid, 777);
              return t && t->backend_pid == 4242 && t->backend_secret == 99 ? 0 : 1;
          }) == 0);
    CHECK_FALSE(shm.begin_cancel(pid, 778).has_value());  // wrong secret
    // The owner takes the server away while that cancel may be on its way.
    CHECK_FALSE(shm.unpublish_backend(slot));
    shm.end_cancel(slot);
    shm.publish_backend(slot, 777, 0, 4242, 99);
    CHECK(shm.unpublish_backend(slot));
    // With no backend published, a cancel finds nothing and counts nothing.
    CHECK_FALSE(shm.begin_cancel(pid, 777).has_value());
    shm.publish_backend(slot, 777, 0, 5151, 1);
    CHECK(shm.unpublish_backend(slot));
}

}  // TEST_SUITE

TEST_CASE("client records: published fields read back, long text is cut, free slots read as none") {
    Segment shm = Segment::create(2, 4);
    CHECK(shm.slots() == 8);
    CHECK_FALSE(shm.client(5).read());
    ClientInfo info;
    info.activity = ClientActivity::Idle;
    info.user = "alice";
    info.database = std::string(100, 'd');  // beyond the 64 bytes kept
    info.addr = "192.168.100.200";
    info.port = 54321;
    info.application_name = "report";
    info.connected_at = 1700000000;
    info.since_ms = 1700000000123;
    info.node = 2;
    info.local_addr = "10.1.2.3";
    info.local_port = 6432;
    info.remote_pid = 4711;
    info.tls = "TLSv1.3/TLS_AES_256_GCM_SHA384";
    shm.client(5).publish(info);
    std::optional<ClientInfo> got = shm.client(5).read();
    REQUIRE(got);
    CHECK(got->activity == ClientActivity::Idle);
    CHECK(got->user == "alice");
    CHECK(got->database == std::string(64, 'd'));
    CHECK(got->addr == "192.168.100.200");
    CHECK(got->port == 54321);
    CHECK(got->application_name == "report");
    CHECK(got->pinned.empty());
    CHECK(got->connected_at == 1700000000);
    CHECK(got->node == 2);
    CHECK(got->local_addr == "10.1.2.3");
    CHECK(got->local_port == 6432);
    CHECK(got->remote_pid == 4711);
    CHECK(got->tls == "TLSv1.3/TLS_AES_256_GCM_SHA384");

    shm.client(5).publish_activity(ClientActivity::Active, 1700000001000, 0);
    got = shm.client(5).read();
    REQUIRE(got);
    CHECK(got->activity == ClientActivity::Active);
    CHECK(got->since_ms == 1700000001000);
    CHECK(got->user == "alice");  // untouched by an activity update
    shm.client(5).clear();
    CHECK_FALSE(shm.client(5).read());
}

TEST_CASE("shm: the per-connection records of a new segment are not resident until a connection uses one") {
    Segment shm = Segment::create(2, 20000);
    auto* base = reinterpret_cast<unsigned char*>(&shm.header());
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t pages = (shm.header().size + page - 1) / page;
    auto resident = [&] {
        std::vector<unsigned char> in_core(pages);
        REQUIRE(mincore(base, pages * page, in_core.data()) == 0);
        std::size_t n = 0;
        for (unsigned char c : in_core) n += c & 1;
        return n;
    };
    const std::size_t at_start = resident();
    CHECK(pages > 4000);                // 40,000 slots of client, server and cancel records
    CHECK(at_start * 20 < pages);       // the records' pages were given back
    CHECK_FALSE(shm.client(39999).read());
    ClientInfo info;
    info.activity = ClientActivity::Idle;
    info.user = "alice";
    shm.client(30000).publish(info);
    REQUIRE(shm.client(30000).read());
    CHECK(shm.client(30000).read()->user == "alice");
    CHECK(resident() <= at_start + 4);  // one record costs its own page or two
}

TEST_CASE("server records: the connection's end and TLS read back; a record taken again starts without them") {
    Segment shm = Segment::create(2, 4);
    pggate::shm::ServerInfo info;
    info.activity = pggate::shm::ServerActivity::Login;
    info.user = "app";
    info.database = "db";
    shm.server(3).publish(info);
    REQUIRE(shm.server(3).read());
    CHECK(shm.server(3).read()->local_port == -1);
    CHECK(shm.server(3).read()->tls.empty());
    shm.server(3).publish_connection("127.0.0.1", 40000, "TLSv1.3/TLS_AES_128_GCM_SHA256");
    std::optional<pggate::shm::ServerInfo> got = shm.server(3).read();
    REQUIRE(got);
    CHECK(got->local_addr == "127.0.0.1");
    CHECK(got->local_port == 40000);
    CHECK(got->tls == "TLSv1.3/TLS_AES_128_GCM_SHA256");
    CHECK(got->user == "app");
    shm.server(3).clear();
    shm.server(3).publish(info);  // the next server in that slot
    CHECK(shm.server(3).read()->local_addr.empty());
    CHECK(shm.server(3).read()->local_port == -1);
}

TEST_CASE("client records: a worker that died mid-write leaves a record the master makes readable again") {
    Segment shm = Segment::create(2, 4);
    ClientInfo info;
    info.activity = ClientActivity::Waiting;
    info.user = "bob";
    shm.client(6).publish(info);  // worker 1's slot
    shm.client(6).lock.seq.fetch_add(1);  // a write begun and never ended
    CHECK_FALSE(shm.client(6).read());
    shm.reclaim_worker(1);
    CHECK_FALSE(shm.client(6).read());  // free, and readable
    CHECK(shm.client(6).lock.seq.load() % 2 == 0);
    shm.client(6).publish(info);
    CHECK(shm.client(6).read()->user == "bob");
}

TEST_CASE("controls: the all-databases entry and named ones are found by name, and apply together") {
    Segment shm = Segment::create(1, 1);
    pggate::shm::ControlTable& controls = shm.controls();
    CHECK_FALSE(controls.find(std::string_view{}, false).has_value());  // no data pointer at all
    const auto all = controls.find(std::string_view{}, true);
    REQUIRE(all.has_value());
    CHECK(controls.find("", false) == all);
    const auto app = controls.find("app", true);
    REQUIRE(app.has_value());
    CHECK(*app != *all);
    CHECK(controls.find("ap", false) == std::nullopt);  // a prefix is another name
    CHECK(controls.find("app", true) == app);
    CHECK(controls.find(std::string(pggate::shm::kControlNameSize, 'x'), true) == std::nullopt);

    controls.entries[*app].disabled.store(1);
    CHECK(controls.disabled("app"));
    CHECK_FALSE(controls.disabled("other"));
    controls.entries[*all].paused.store(1);
    CHECK(controls.paused("other"));
    CHECK(controls.paused("app"));
}
