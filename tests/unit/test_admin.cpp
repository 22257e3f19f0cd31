// The admin console's pure parts: its command language, result encoding, the
// protocol session (simple and extended query, errors, permissions) and the
// SHOW POOLS / SHOW NODES tables read from a real shared-memory segment.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "admin/command.hpp"
#include "admin/console.hpp"
#include "admin/table.hpp"
#include "admin/views.hpp"
#include "config/config.hpp"
#include "protocol/messages.hpp"
#include "shm/segment.hpp"

using namespace pggate;
using namespace pggate::admin;

namespace {

// A message as sent: its type and body.
struct Msg {
    char type;
    std::string body;
};

std::vector<Msg> split(const Bytes& out) {
    std::vector<Msg> msgs;
    std::size_t at = 0;
    while (at + 5 <= out.size()) {
        const std::uint32_t len = load_be32(out.data() + at + 1);
        msgs.push_back({static_cast<char>(out[at]),
                        std::string(reinterpret_cast<const char*>(out.data() + at + 5), len - 4)});
        at += 1 + len;
    }
    REQUIRE(at == out.size());
    return msgs;
}

std::string types(const Bytes& out) {
    std::string t;
    for (const Msg& m : split(out)) t += m.type;
    return t;
}

// The SQLSTATE of the first ErrorResponse in `out`.
std::string sqlstate(const Bytes& out) {
    for (const Msg& m : split(out)) {
        if (m.type != 'E') continue;
        auto f = protocol::parse_error_fields({reinterpret_cast<const std::uint8_t*>(m.body.data()), m.body.size()});
        return f ? f->sqlstate : "";
    }
    return "";
}

Bytes body(std::initializer_list<std::string_view> parts) {
    Bytes b;
    for (std::string_view p : parts) b.insert(b.end(), p.begin(), p.end());
    return b;
}

const std::string_view kNul("\0", 1);
const std::string_view kZero16("\0\0", 2);
const std::string_view kZero32("\0\0\0\0", 4);

// A console whose runner shows a one-column table for SHOW and records what ran.
struct Fixture {
    std::vector<std::string> ran;
    Console console;
    explicit Fixture(bool admin = true)
        : console(admin, [this](const Command& c, bool describe_only) {
              if (!describe_only) ran.push_back(c.what.empty() ? "verb" : c.what);
              if (c.verb == Verb::Show) {
                  if (c.what != "pools") return Outcome::fail("42601", "unknown");
                  Table t({{"database", ColumnType::Text}, {"cl_active", ColumnType::Int8}});
                  t.add({"app", "3"});
                  t.add({std::nullopt, "0"});
                  return Outcome{std::move(t), {}, {}, {}, {}};
              }
              return Outcome::done("RELOAD");
          }) {}
    Bytes send(char type, const Bytes& b, bool* goes_on = nullptr) {
        Bytes out;
        const bool on = console.on_message(type, b, out);
        if (goes_on != nullptr) *goes_on = on;
        return out;
    }
    Bytes query(const std::string& sql) { return send('Q', body({sql, kNul})); }
};

}  // namespace

TEST_CASE("admin commands: verbs, arguments, case and trailing semicolons") {
    CHECK(parse_command("SHOW POOLS").verb == Verb::Show);
    CHECK(parse_command("show Pools;").what == "pools");
    CHECK(parse_command("  ;; ").verb == Verb::Empty);
    CHECK(parse_command("reload").verb == Verb::Reload);
    Command pause = parse_command("PAUSE \"My Db\"");
    CHECK(pause.verb == Verb::Pause);
    CHECK(pause.what == "My Db");
    CHECK(parse_command("PAUSE").what.empty());
    CHECK(parse_command("shutdown wait_for_clients").what == "wait_for_clients");
    CHECK(parse_command("SHUTDOWN now").verb == Verb::Invalid);
    CHECK(parse_command("KILL_CLIENT 12").what == "12");
    CHECK(parse_command("KILL_CLIENT x").verb == Verb::Invalid);
    CHECK(parse_command("DISABLE").verb == Verb::Invalid);
    CHECK(parse_command("RELOAD now").verb == Verb::Invalid);
    CHECK(parse_command("SHOW").verb == Verb::Invalid);
    Command set = parse_command("SET query_timeout = '2.5'");
    CHECK(set.verb == Verb::Set);
    CHECK(set.what == "query_timeout");
    CHECK(set.value == "2.5");
    CHECK(parse_command("set application_name to 'it''s'").value == "it's");
    CHECK(parse_command("SET x =").verb == Verb::Invalid);
    CHECK(parse_command("begin").verb == Verb::Transaction);
    CHECK(parse_command("ABORT").what == "ROLLBACK");
    CHECK(parse_command("show 'pools").verb == Verb::Invalid);
    CHECK(parse_command("select 1").error.find("unknown command") != std::string::npos);
    CHECK(parse_command("show pools(").verb == Verb::Invalid);
    CHECK(parse_command("SHOW POOLS").read_only());
    CHECK_FALSE(parse_command("RELOAD").read_only());
}

TEST_CASE("admin commands: a query splits at semicolons outside quotes") {
    auto parts = split_statements("show pools; set a = 'x;y'; reload");
    REQUIRE(parts.size() == 3);
    CHECK(parts[1] == " set a = 'x;y';");
    CHECK(split_statements("").size() == 1);
    CHECK(split_statements("show pools;").size() == 1);
}

TEST_CASE("admin tables encode as RowDescription, DataRows with NULLs, CommandComplete") {
    Table t({{"name", ColumnType::Text}, {"n", ColumnType::Int8}});
    t.add({"a", "1"});
    t.add({std::nullopt, "22"});
    Bytes out;
    t.encode_description(out);
    t.encode_rows(out);
    auto msgs = split(out);
    REQUIRE(msgs.size() == 4);
    CHECK(msgs[0].type == 'T');
    CHECK(msgs[0].body.substr(0, 2) == std::string("\0\2", 2));
    CHECK(msgs[0].body.find(std::string("n\0\0\0\0\0\0\0\0\0\0\x14\0\x08", 14)) != std::string::npos);  // int8, typlen 8
    CHECK(msgs[1].body == std::string("\0\2\0\0\0\1a\0\0\0\1" "1", 12));
    CHECK(msgs[2].body == std::string("\0\2\xff\xff\xff\xff\0\0\0\2" "22", 12));
    CHECK(msgs[3].type == 'C');
    CHECK(msgs[3].body == std::string("SHOW\0", 5));
}

TEST_CASE("admin console: simple queries, empty ones, errors and several statements") {
    Fixture f;
    CHECK(types(f.query("SHOW POOLS")) == "TDDCZ");
    CHECK(types(f.query("")) == "IZ");
    Bytes bad = f.query("SHOW nothing");
    CHECK(types(bad) == "EZ");
    CHECK(sqlstate(bad) == "42601");
    CHECK(sqlstate(f.query("frobnicate")) == "42601");
    // Statements run in order; an error stops the rest.
    f.ran.clear();
    CHECK(types(f.query("show pools; reload; show nothing; reload")) == "TDDCCEZ");
    CHECK(f.ran == std::vector<std::string>{"pools", "verb", "nothing"});
    bool goes_on = true;
    CHECK(f.send('X', {}, &goes_on).empty());
    CHECK_FALSE(goes_on);
}

TEST_CASE("admin console: stats_users may SHOW but not change anything") {
    Fixture f(false);
    CHECK(types(f.query("SHOW POOLS")) == "TDDCZ");
    Bytes refused = f.query("RELOAD");
    CHECK(sqlstate(refused) == "42501");
    CHECK(f.ran == std::vector<std::string>{"pools"});  // RELOAD never reached the runner
    CHECK(types(f.query("BEGIN")) == "CZ");
}

TEST_CASE("admin console: Parse, Bind, Describe, Execute, Sync as drivers send them") {
    Fixture f;
    Bytes out = f.send('P', body({"s1", kNul, "SHOW POOLS", kNul, kZero16}));
    out = f.send('B', body({"", kNul, "s1", kNul, kZero16, kZero16, kZero16}));
    CHECK(types(out) == "2");
    CHECK(types(f.send('D', body({"S", "s1", kNul}))) == "tT");
    CHECK(types(f.send('D', body({"P", "", kNul}))) == "T");
    CHECK(f.ran.empty());  // describing runs nothing
    CHECK(types(f.send('E', body({"", kNul, kZero32}))) == "DDC");
    CHECK(types(f.send('S', {})) == "Z");
    // A command that is not SHOW describes as NoData and runs at Execute.
    f.send('P', body({"", kNul, "RELOAD", kNul, kZero16}));
    f.send('B', body({"", kNul, "", kNul, kZero16, kZero16, kZero16}));
    CHECK(types(f.send('D', body({"P", "", kNul}))) == "n");
    CHECK(types(f.send('E', body({"", kNul, kZero32}))) == "C");
    CHECK(f.ran.back() == "verb");
    f.send('S', {});
    // Closing a statement, then binding it, fails; all up to Sync is skipped.
    CHECK(types(f.send('C', body({"S", "s1", kNul}))) == "3");
    Bytes missing = f.send('B', body({"", kNul, "s1", kNul, kZero16, kZero16, kZero16}));
    CHECK(sqlstate(missing) == "26000");
    CHECK(f.send('E', body({"", kNul, kZero32})).empty());
    CHECK(types(f.send('S', {})) == "Z");
    // Parameters are refused; a duplicate name too.
    f.send('P', body({"s2", kNul, "SHOW POOLS", kNul, kZero16}));
    Bytes param = f.send('B', body({"", kNul, "s2", kNul, kZero16, std::string_view("\0\1", 2), kZero32, kZero16}));
    CHECK(sqlstate(param) == "08P01");
    f.send('S', {});
    CHECK(sqlstate(f.send('P', body({"s2", kNul, "SHOW POOLS", kNul, kZero16}))) == "42P05");
}

TEST_CASE("admin console: a malformed message ends the session with a FATAL") {
    Fixture f;
    bool goes_on = true;
    Bytes out = f.send('Q', body({"SHOW POOLS"}), &goes_on);  // no terminator
    CHECK_FALSE(goes_on);
    CHECK(sqlstate(out) == "08P01");
    Fixture g;
    out = g.send('d', body({"x"}), &goes_on);
    CHECK(goes_on);
    CHECK(sqlstate(out) == "0A000");
}

TEST_CASE("admin views: SHOW POOLS sums the workers' occupancy; SHOW NODES reads the node table") {
    config::Config config = config::parse_config(
        "[pggate]\nauth_type = trust\npool_mode = transaction\n[nodes]\npg1 = host=db1 port=5432 role=primary\n"
        "pg2 = host=db2 port=5433 role=replica\n",
        "t.ini");
    shm::Segment shm = shm::Segment::create(2, 4);
    const std::uint32_t pool = *shm.pool_index("app", "alice", "pg2");
    shm.pool_index("app", "", shm::kAllNodes);  // a database total: not a pool row
    REQUIRE(shm.try_take_server(pool, 0, 10));
    REQUIRE(shm.try_take_server(pool, 1, 10));
    REQUIRE(shm.try_take_server(pool, 1, 10));
    shm.occupancy(pool, 0).sv_active.store(1);
    shm.occupancy(pool, 1).sv_idle.store(2);
    shm.occupancy(pool, 0).cl_active.store(3);
    shm.occupancy(pool, 1).cl_waiting.store(1);
    shm.occupancy(pool, 1).oldest_wait_ns.store(1'000'000'000);
    shm::NodeSample s;
    s.ident = shm::node_ident("db2", 5433);
    s.health = shm::NodeHealth::Up;
    s.role = shm::NodeRoleSeen::Replica;
    s.lag_bytes = 4096;
    s.lag_us = 1'500'000;
    s.sampled_at_ns = 1;
    s.lsn = (std::uint64_t{0x16} << 32) | 0xB374D848;
    shm.node(1).publish(s);

    const Clocks now{3'500'000'000, 0};
    Outcome pools = show("pools", config, shm, now);
    REQUIRE(pools.table);
    REQUIRE(pools.table->rows().size() == 1);
    const auto& row = pools.table->rows()[0];
    const auto& cols = pools.table->columns();
    auto value = [&](const Table::Row& r, const std::string& name) -> std::string {
        for (std::size_t i = 0; i < cols.size(); ++i)
            if (cols[i].name == name) return r[i].value_or("NULL");
        FAIL("no column " << name);
        return "";
    };
    CHECK(value(row, "database") == "app");
    CHECK(value(row, "user") == "alice");
    CHECK(value(row, "cl_active") == "3");
    CHECK(value(row, "cl_waiting") == "1");
    CHECK(value(row, "sv_active") == "1");
    CHECK(value(row, "sv_idle") == "2");
    CHECK(value(row, "maxwait") == "2");
    CHECK(value(row, "maxwait_us") == "500000");
    CHECK(value(row, "pool_mode") == "transaction");
    CHECK(value(row, "node") == "pg2");
    CHECK(value(row, "role") == "replica");
    CHECK(value(row, "sv_total") == "3");

    Outcome nodes = show("nodes", config, shm, now);
    REQUIRE(nodes.table);
    REQUIRE(nodes.table->rows().size() == 2);
    const auto& ncols = nodes.table->columns();
    auto nvalue = [&](std::size_t r, const std::string& name) -> std::string {
        for (std::size_t i = 0; i < ncols.size(); ++i)
            if (ncols[i].name == name) return nodes.table->rows()[r][i].value_or("NULL");
        FAIL("no column " << name);
        return "";
    };
    CHECK(nvalue(0, "state") == "unknown");  // never checked
    CHECK(nvalue(0, "lag_bytes") == "NULL");
    CHECK(nvalue(1, "state") == "up");
    CHECK(nvalue(1, "seen_as") == "replica");
    CHECK(nvalue(1, "lag_bytes") == "4096");
    CHECK(nvalue(1, "lag_seconds") == "1.500");
    CHECK(nvalue(1, "lsn") == "16/B374D848");
    CHECK(nvalue(1, "servers") == "3");
    CHECK(show("nothing", config, shm, now).sqlstate == "42601");
}

TEST_CASE("admin console: a command that waits answers nothing until it is done, then the rest of its query") {
    bool released = false;
    Console console(true, [&](const Command& c, bool) {
        if (c.verb == Verb::Show) {
            Table t({{"version", ColumnType::Text}});
            t.add({"x"});
            return Outcome{std::move(t), {}, {}, {}, {}};
        }
        Outcome o = Outcome::done("PAUSE");
        o.until = [&]() -> std::optional<Outcome> {
            if (!released) return std::nullopt;
            return Outcome::done("PAUSE");
        };
        return o;
    });
    Bytes out;
    REQUIRE(console.on_message('Q', body({"PAUSE; SHOW VERSION", kNul}), out));
    CHECK(out.empty());
    CHECK(console.busy());
    console.poll(out);
    CHECK(out.empty());
    released = true;
    console.poll(out);
    CHECK(types(out) == "CTDCZ");  // PAUSE's CommandComplete, then SHOW VERSION, then ReadyForQuery
    CHECK_FALSE(console.busy());

    // Over the extended protocol the Execute's CommandComplete waits; the Sync after it is the owner's to hold.
    released = false;
    out.clear();
    console.on_message('P', body({kNul, "PAUSE", kNul, kZero16}), out);
    console.on_message('B', body({kNul, kNul, kZero16, kZero16, kZero16}), out);
    console.on_message('E', body({kNul, kZero32}), out);
    CHECK(types(out) == "12");
    CHECK(console.busy());
    released = true;
    out.clear();
    console.poll(out);
    CHECK(types(out) == "C");
    CHECK_FALSE(console.busy());
}

TEST_CASE("admin console: a command that waits may fail after all: an error ends its query, or skips to Sync") {
    std::optional<Outcome> finished;
    Console console(true, [&](const Command& c, bool) {
        if (c.verb == Verb::Show) return Outcome::done("SHOW");
        Outcome o = Outcome::done("RELOAD");
        o.until = [&] { return finished; };
        return o;
    });
    Bytes out;
    REQUIRE(console.on_message('Q', body({"RELOAD; SHOW VERSION", kNul}), out));
    CHECK(out.empty());
    finished = Outcome::fail("F0000", "reload refused");
    console.poll(out);
    CHECK(types(out) == "EZ");  // the error, no SHOW VERSION, ReadyForQuery
    CHECK(sqlstate(out) == "F0000");
    CHECK_FALSE(console.busy());

    // An Execute's error: all up to Sync is ignored, Sync answers.
    finished.reset();
    out.clear();
    console.on_message('P', body({kNul, "RELOAD", kNul, kZero16}), out);
    console.on_message('B', body({kNul, kNul, kZero16, kZero16, kZero16}), out);
    console.on_message('E', body({kNul, kZero32}), out);
    CHECK(types(out) == "12");
    finished = Outcome::fail("57014", "no answer");
    out.clear();
    console.poll(out);
    CHECK(types(out) == "E");
    out.clear();
    console.on_message('E', body({kNul, kZero32}), out);
    CHECK(out.empty());
    console.on_message('S', {}, out);
    CHECK(types(out) == "Z");

    // Done at once (the answer was already there): answered like any command.
    out.clear();
    finished = Outcome::done("RELOAD");
    REQUIRE(console.on_message('Q', body({"RELOAD", kNul}), out));
    CHECK(types(out) == "CZ");
}
