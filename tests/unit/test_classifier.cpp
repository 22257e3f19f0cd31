// Unit tests of the statement classifier: a routing corpus (every rule, the
// lexical traps, hints, access modes), the function catalog, the cache, and
// random input.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "route/classifier.hpp"

namespace {

using pggate::route::Classification;
using pggate::route::ClassificationCache;
using pggate::route::classify;
using pggate::route::FunctionCatalog;
using pggate::route::RouteHint;
using pggate::route::StatementKind;

constexpr StatementKind R = StatementKind::Read;
constexpr StatementKind W = StatementKind::Write;
constexpr StatementKind B = StatementKind::Begin;
constexpr StatementKind BRO = StatementKind::BeginReadOnly;
constexpr StatementKind TE = StatementKind::TransactionEnd;
constexpr StatementKind TC = StatementKind::TransactionControl;
constexpr StatementKind S = StatementKind::Session;
constexpr StatementKind U = StatementKind::Unknown;

constexpr RouteHint kNoHint = RouteHint::None;
constexpr RouteHint kPrimary = RouteHint::Primary;
constexpr RouteHint kReplica = RouteHint::Replica;

// The access mode a statement states, as the two flags report it.
enum class Mode { None, ReadOnly, ReadWrite };

struct Case {
    const char* sql;
    StatementKind kind;
    const char* reason = nullptr;  // checked when given
    RouteHint hint = kNoHint;
    Mode mode = Mode::None;
};

constexpr Mode RO = Mode::ReadOnly;
constexpr Mode RW = Mode::ReadWrite;

// The corpus. Every row also checks that there is no hint and no access
// mode unless it names one.
const Case kCorpus[] = {
    // Plain reads.
    {"SELECT 1", R},
    {"select * from users where id = $1", R},
    {"select * from t where a = $1 and b = $2::int", R},
    {"VALUES (1, 'a'), (2, 'b')", R},
    {"TABLE accounts", R},
    {"table public.accounts", R},
    {"(select 1) union all (select 2)", R},
    {"((select 1))", R},
    {"select a from t order by a desc limit 10 offset 5", R},
    {"select * from t where a between 1 and 2 and b like 'x%' and c is not distinct from d", R},
    {"select * from t join lateral (select 1) s on true", R},
    {"select * from t where id in (select id from u) and exists (select 1) and a = any (array[1])", R},
    {"select * from t where b <> all (select 1) or c = some (select 2)", R},
    {"select row(1, 2), array(select 1)", R},
    {"select * from t for read only", R},
    {"select date '2020-01-01' + interval '1 day'", R},
    {"select 1; select 2", R},
    {"", R},
    {";", R},
    {"-- nothing but a comment", R},
    // Keywords and function names inside strings, comments and quoted identifiers.
    {"SELECT a FROM t WHERE c = 'insert into t values (1)'", R},
    {"select 'it''s; delete from t'", R},
    {"select E'it\\'s; update t set a = 1'", R},
    {"select e'\\\\'; select 'nextval(1)'", R},
    {"select $$delete from t$$", R},
    {"select $tag$ drop table t; $$ nextval('s') $$ $tag$", R},
    {"select $a$ $ab$ ; insert $a$", R},
    {"select 1 -- update t set a = 1", R},
    {"select /* insert /* nested */ into t */ 1", R},
    {"select 1 /* ; delete from t; */", R},
    {"select \"insert\", \"update\" from t", R},
    {"select \"delete\" from \"merge\" where \"into\" = 1", R},
    {"select \"for\" from t where \"for\" = 'update'", R},
    {"with x as (select \"delete\" from t) select * from x", R},
    {"select U&'d\\0061t\\+000061', B'101', X'1F', N'nat'", R},
    {"select \"nextval\" from t", R},
    // WITH of reads only.
    {"WITH x AS (SELECT 1 AS a) SELECT * FROM x", R},
    {"with recursive t(n) as (values (1) union all select n + 1 from t where n < 10) select sum(n) from t", R},
    {"with t(a, b) as materialized (select 1, 2) select * from t", R},
    {"with t(a) as not materialized (select 1) select * from t", R},
    {"with a as (select 1), b(x) as (select 2) select * from a, b", R},
    // Read-only function calls and constructs that look like calls.
    {"select count(*), sum(a), avg(b), max(c) from t group by d having min(e) > 1", R},
    {"select now(), current_setting('search_path'), version(), pg_backend_pid()", R},
    {"select random(), gen_random_uuid(), clock_timestamp()", R},
    {"select to_char(now(), 'YYYY'), date_trunc('day', now()), age(now())", R},
    {"select coalesce(a, 0), nullif(b, 1), greatest(1, 2), least(3, 4) from t", R},
    {"select cast(a as varchar(10)), a::numeric(10, 2), extract(year from now()) from t", R},
    {"select substring(a from 1 for 2), trim(both ' ' from a), position('x' in a) from t", R},
    {"select overlay(a placing 'b' from 1 for 1) from t", R},
    {"select count(*) filter (where a > 1), rank() over (partition by b order by c) from t", R},
    {"select percentile_cont(0.5) within group (order by a) from t", R},
    {"select string_agg(a, ',' order by a), array_agg(distinct b), jsonb_agg(c) from t", R},
    {"select row_number() over w, lag(a) over w from t window w as (order by a)", R},
    {"select pg_catalog.now(), pg_catalog.count(*) from t", R},
    {"select \"pg_catalog\".\"now\"()", R},
    {"select jsonb_build_object('a', 1), jsonb_insert('{}', '{a}', '1')", R},
    {"select * from generate_series(1, 10) as g(n)", R},
    {"select x from generate_series(1, 3) g(x)", R},
    {"select * from unnest(array[1, 2]) with ordinality as u(x, i)", R},
    {"select * from unnest(array[1, 2]) with ordinality u(x, i)", R},
    {"select * from (select 1, 2) as s(a, b)", R},
    {"select * from t tablesample bernoulli (10) repeatable (42)", R},
    {"select * from t tablesample system_rows(10)", R},
    {"select timestamp(3) '2020-01-01', current_timestamp(0)", R},
    {"select * from t group by grouping sets ((a), (b)), rollup (c), cube (d)", R},
    {"select lower(\"Name\"), upper(a) from \"Users\"", R},
    {"select has_table_privilege('t', 'select'), pg_size_pretty(pg_relation_size('t'))", R},
    {"select my_ro_func(1)", R},
    {"select app.report(1)", R},
    // SHOW, EXPLAIN without ANALYZE, COPY ... TO STDOUT, cursors.
    {"SHOW search_path", R},
    {"show all", R},
    {"EXPLAIN SELECT * FROM t", R},
    {"explain verbose select 1", R},
    {"EXPLAIN (FORMAT JSON) SELECT 1", R},
    {"EXPLAIN INSERT INTO t VALUES (1)", R},
    {"explain update t set a = nextval('s')", R},
    {"explain select * from t for update", R},
    {"explain (analyze false) delete from t", R},
    {"explain (analyze off, costs on) update t set a = 1", R},
    {"explain (analyze 0) insert into t values (1)", R},
    {"EXPLAIN ANALYZE SELECT * FROM t", R},
    {"explain analyze verbose select count(*) from t", R},
    {"explain (analyze, buffers) select * from t", R},
    {"explain (analyze true) values (1)", R},
    {"COPY t TO STDOUT", R},
    {"copy (select * from t where a > 1) to stdout with (format csv)", R},
    {"COPY public.t (a, b) TO STDOUT", R},
    {"copy binary t to stdout", R},
    {"copy \"T\" to stdout (format binary)", R},
    {"FETCH 10 FROM c", R},
    {"fetch all in c", R},
    {"MOVE FORWARD 5 IN c", R},
    {"close c", R},
    {"DECLARE c CURSOR FOR SELECT * FROM t", R},
    {"declare c binary no scroll cursor without hold for select 1", R},

    // Statements that write by their first word.
    {"INSERT INTO t VALUES (1)", W, "INSERT"},
    {"insert into t select * from u", W, "INSERT"},
    {"UPDATE t SET a = 1", W, "UPDATE"},
    {"delete from t where a = 1", W, "DELETE"},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", W, "MERGE"},
    {"truncate t", W, "TRUNCATE"},
    {"CREATE TABLE t (a int)", W, "CREATE"},
    {"create table t2 as select * from t", W, "CREATE"},
    {"create temp table x (a int)", W, "CREATE"},
    {"create function f() returns int language sql as $$ select 1 $$", W, "CREATE"},
    {"ALTER TABLE t ADD COLUMN b int", W, "ALTER"},
    {"DROP TABLE t", W, "DROP"},
    {"COMMENT ON TABLE t IS 'x'", W, "COMMENT"},
    {"GRANT SELECT ON t TO bob", W, "GRANT"},
    {"revoke all on t from bob", W, "REVOKE"},
    {"REINDEX TABLE t", W, "REINDEX"},
    {"CLUSTER t USING t_pkey", W, "CLUSTER"},
    {"REFRESH MATERIALIZED VIEW mv", W, "REFRESH MATERIALIZED VIEW"},
    {"VACUUM (ANALYZE) t", W, "VACUUM"},
    {"ANALYZE t", W, "ANALYZE"},
    {"analyse t", W, "ANALYZE"},
    {"LOCK TABLE t IN ACCESS SHARE MODE", W, "LOCK"},
    {"CALL my_proc(1)", W, "CALL"},
    {"DO $$BEGIN PERFORM 1; END$$", W, "DO"},
    {"NOTIFY ch, 'x'", W, "NOTIFY"},
    {"LISTEN ch", W, "LISTEN"},
    {"UNLISTEN *", W, "UNLISTEN"},
    {"CHECKPOINT", W, "CHECKPOINT"},
    {"SECURITY LABEL ON TABLE t IS 'x'", W, "SECURITY LABEL"},
    {"IMPORT FOREIGN SCHEMA s FROM SERVER f INTO l", W, "IMPORT FOREIGN SCHEMA"},
    {"REASSIGN OWNED BY a TO b", W, "REASSIGN OWNED"},
    {"EXECUTE q(1)", W, "EXECUTE"},
    {"PREPARE TRANSACTION 'x'", W, "PREPARE TRANSACTION"},
    {"COMMIT PREPARED 'x'", W, "COMMIT PREPARED"},
    {"rollback prepared 'x'", W, "ROLLBACK PREPARED"},
    // COPY directions.
    {"COPY t FROM STDIN", W, "COPY ... FROM"},
    {"copy t (a, b) from stdin with (format csv)", W, "COPY ... FROM"},
    {"copy binary public.t from '/tmp/t.bin'", W, "COPY ... FROM"},
    {"copy (select 1) to '/tmp/x'", W, "COPY ... TO a server file or program"},
    {"COPY t TO PROGRAM 'gzip > /tmp/t.gz'", W, "COPY ... TO a server file or program"},
    {"copy (insert into t values (1) returning *) to stdout", W, "INSERT"},
    {"copy (select nextval('s')) to stdout", W, "function nextval"},
    // SELECTs that write through a function.
    {"select nextval('s')", W, "function nextval"},
    {"SELECT setval('s', 10)", W, "function setval"},
    {"select pg_catalog.nextval('s')", W, "function nextval"},
    {"select PG_CATALOG.NEXTVAL('s')", W, "function nextval"},
    {"select \"nextval\"('s')", W, "function nextval"},
    {"select pg_advisory_lock(1)", W, "function pg_advisory_lock"},
    {"select pg_try_advisory_lock(1, 2)", W, "function pg_try_advisory_lock"},
    {"select pg_advisory_xact_lock(1)", W, "function pg_advisory_xact_lock"},
    {"select set_config('a.b', 'c', false)", W, "function set_config"},
    {"select lo_import('/tmp/x')", W, "large-object function"},
    {"select lo_unlink(123)", W, "large-object function"},
    {"select pg_notify('ch', 'x')", W, "function pg_notify"},
    {"select txid_current()", W, "function txid_current"},
    {"select pg_current_xact_id()", W, "function pg_current_xact_id"},
    {"select pg_terminate_backend(123)", W, "function pg_terminate_backend"},
    {"select currval('s')", W, "function not known to be read-only"},
    {"select my_func(1)", W, "function not known to be read-only"},
    {"select public.my_func(1)", W, "function not known to be read-only"},
    {"select public.now()", W, "function not known to be read-only"},
    {"select \"Now\"()", W, "function not known to be read-only"},
    {"select public.my_ro_func(1)", W, "function not known to be read-only"},
    {"select report(1)", W, "function not known to be read-only"},
    {"select * from t where a = my_func(b)", W, "function not known to be read-only"},
    {"select * from t order by my_func(a)", W, "function not known to be read-only"},
    {"select * from t where a = 'x' or my_func(1)", W, "function not known to be read-only"},
    {"select (select nextval('s'))", W, "function nextval"},
    {"select * from t where id in (select id from u where f(x))", W, "function not known to be read-only"},
    {"select * from t, my_srf(1) as x(a)", W, "function not known to be read-only"},
    {"select distinct my_func(a) from t", W, "function not known to be read-only"},
    {"values (nextval('s'))", W, "function nextval"},
    {"select count(*) filter (where my_func(a)) from t", W, "function not known to be read-only"},
    {"select * from t join lateral my_srf(t.a) s on true", W, "function not known to be read-only"},
    {"select case when a then nextval('s') else 0 end from t", W, "function nextval"},
    {"select 1 from t where a between my_func(1) and 2", W, "function not known to be read-only"},
    {"select 'x' || \"my_func\"(a) from t", W, "function not known to be read-only"},
    {"select filter(a), over(b) from t", W, "function not known to be read-only"},
    {"select * from t where not materialized(a)", W, "function not known to be read-only"},
    {"select 1 from t where a operator(pg_catalog.=) nextval('s')", W, "function nextval"},
    // Row locks anywhere in the statement.
    {"SELECT * FROM t FOR UPDATE", W, "SELECT ... FOR UPDATE"},
    {"select * from t for no key update", W, "SELECT ... FOR NO KEY UPDATE"},
    {"select * from t for share", W, "SELECT ... FOR SHARE"},
    {"select * from t for key share skip locked", W, "SELECT ... FOR KEY SHARE"},
    {"select * from t for update of t nowait", W, "SELECT ... FOR UPDATE"},
    {"select * from t where id in (select id from u for update)", W, "SELECT ... FOR UPDATE"},
    {"(select * from t for share)", W, "SELECT ... FOR SHARE"},
    {"with x as (select * from t for update) select * from x", W, "SELECT ... FOR UPDATE"},
    {"declare c cursor for select * from t for update", W, "SELECT ... FOR UPDATE"},
    // SELECT ... INTO creates a table.
    {"SELECT * INTO new_t FROM t", W, "SELECT ... INTO"},
    {"select a into temp tmp from t", W, "SELECT ... INTO"},
    {"with x as (select 1) select * into t2 from x", W, "SELECT ... INTO"},
    // Writes hidden in WITH.
    {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", W, "writable CTE"},
    {"with x as (insert into t values (1) returning id) select id from x", W, "writable CTE"},
    {"with x as (update t set a = 1 returning *) select 1", W, "writable CTE"},
    {"WITH x AS MATERIALIZED (DELETE FROM t RETURNING *) SELECT 1", W, "writable CTE"},
    {"with a as (select 1), b as (merge into t using s on true when matched then delete returning *) select 1", W,
     "writable CTE"},
    {"with recursive r(n) as (select 1), d as (delete from t) select * from r", W, "writable CTE"},
    {"with x as (select 1) insert into t select * from x", W, "INSERT"},
    {"with x as (select 1) update t set a = 1", W, "UPDATE"},
    {"with x as (select id from t) delete from u using x", W, "DELETE"},
    {"with x as (select 1) merge into t using x on true when matched then delete", W, "MERGE"},
    {"with x as (select nextval('s')) select * from x", W, "function nextval"},
    // EXPLAIN ANALYZE runs what it explains.
    {"EXPLAIN ANALYZE INSERT INTO t VALUES (1)", W, "INSERT"},
    {"explain analyse delete from t", W, "DELETE"},
    {"explain (analyze) update t set a = 1", W, "UPDATE"},
    {"explain (costs off, analyze true) merge into t using s on true when matched then delete", W, "MERGE"},
    {"explain (analyze on) select nextval('s')", W, "function nextval"},
    {"explain (analyze 1, format yaml) with x as (delete from t returning 1) select * from x", W, "writable CTE"},
    {"explain analyze verbose select * from t for update", W, "SELECT ... FOR UPDATE"},
    {"explain analyze create table x as select 1", W, "CREATE"},
    {"explain execute q(1)", W, "EXECUTE"},
    // Temporary objects live only in the primary backend that made them.
    {"select * from pg_temp.tmp", W, "temporary object (pg_temp)"},
    {"select * from pg_temp_3.tmp", W, "temporary object (pg_temp)"},
    {"select * from \"pg_temp\".tmp", W, "temporary object (pg_temp)"},
    {"table pg_temp.tmp", W, "temporary object (pg_temp)"},
    {"copy pg_temp.t to stdout", W, "temporary object (pg_temp)"},
    {"explain select * from pg_temp.t", W, "temporary object (pg_temp)"},
    {"select * from pg_temporary.t", R},
    // Several statements.
    {"select 1; insert into t values (1)", W, "INSERT"},
    {"insert into t values (1); select 1", W, "INSERT"},
    {"select 1; select nextval('s')", W, "function nextval"},
    {"select 1; delete from t; select 2", W, "DELETE"},
    {"BEGIN; SELECT 1; COMMIT", W, "several statements with transaction or session control"},
    {"begin; insert into t values (1); commit", W, "INSERT"},
    {"select 1; savepoint a", W, "several statements with transaction or session control"},
    {"set a = 1; set b = 2", S},
    {"savepoint a; release a", TC},
    {"commit; commit", W, "several statements with transaction or session control"},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", W, "cursor WITH HOLD"},

    // Transactions.
    {"BEGIN", B},
    {"begin work", B},
    {"BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE", B},
    {"begin read write", B, nullptr, kNoHint, RW},
    {"START TRANSACTION", B},
    {"start transaction isolation level read committed", B},
    {"begin isolation level read uncommitted, deferrable", B},
    {"begin read only read write", B, nullptr, kNoHint, RW},
    {"BEGIN READ ONLY", BRO, nullptr, kNoHint, RO},
    {"begin transaction read only", BRO, nullptr, kNoHint, RO},
    {"START TRANSACTION READ ONLY", BRO, nullptr, kNoHint, RO},
    {"begin isolation level repeatable read, read only", BRO, nullptr, kNoHint, RO},
    {"begin isolation level repeatable read read only", BRO, nullptr, kNoHint, RO},
    {"start transaction read only, isolation level serializable, deferrable", BRO, nullptr, kNoHint, RO},
    {"begin read write, read only", BRO, nullptr, kNoHint, RO},
    {"COMMIT", TE},
    {"commit work", TE},
    {"END", TE},
    {"end transaction", TE},
    {"ROLLBACK", TE},
    {"abort", TE},
    {"commit and no chain", TE},
    {"rollback transaction and no chain", TE},
    {"COMMIT AND CHAIN", TC},
    {"rollback and chain", TC},
    {"SAVEPOINT a", TC},
    {"release savepoint a", TC},
    {"RELEASE a", TC},
    {"ROLLBACK TO SAVEPOINT a", TC},
    {"rollback to a", TC},
    {"rollback work to savepoint a", TC},
    {"SET TRANSACTION READ ONLY", TC, nullptr, kNoHint, RO},
    {"set transaction isolation level serializable, read write", TC, nullptr, kNoHint, RW},
    {"set transaction isolation level serializable", TC},
    {"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", TC},
    {"SET CONSTRAINTS ALL DEFERRED", TC},
    {"set local statement_timeout = 0", TC},
    {"set transaction_read_only = on", TC, nullptr, kNoHint, RO},
    {"SET LOCAL transaction_read_only TO off", TC, nullptr, kNoHint, RW},
    {"set transaction_isolation = 'serializable'", TC},
    {"set local default_transaction_read_only = on", TC},

    // Session state.
    {"SET search_path = app, public", S},
    {"set statement_timeout to 0", S},
    {"SET SESSION work_mem = '64MB'", S},
    {"SET ROLE admin", S},
    {"set session authorization alice", S},
    {"SET TIME ZONE 'UTC'", S},
    {"RESET ALL", S},
    {"reset default_transaction_read_only", S},
    {"DISCARD ALL", S},
    {"PREPARE q (int) AS SELECT $1", S},
    {"prepare q as insert into t values (1)", S},
    {"DEALLOCATE q", S},
    {"deallocate prepare all", S},
    {"LOAD 'auto_explain'", S},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", S, nullptr, kNoHint, RO},
    {"set session characteristics as transaction isolation level serializable, read write", S, nullptr, kNoHint, RW},
    {"SET default_transaction_read_only = on", S, nullptr, kNoHint, RO},
    {"set default_transaction_read_only to 'off'", S, nullptr, kNoHint, RW},
    {"set session default_transaction_read_only = true", S, nullptr, kNoHint, RO},
    {"SET default_transaction_read_only = 0", S, nullptr, kNoHint, RW},
    {"set default_transaction_read_only = Y", S, nullptr, kNoHint, RO},
    {"set default_transaction_read_only = 'OF'", S, nullptr, kNoHint, RW},
    {"set default_transaction_read_only = o", S},
    {"set default_transaction_read_only to default", S},
    {"set default_transaction_read_only = on; select 1", W, "several statements with transaction or session control",
     kNoHint, RO},

    // Unreadable or unrecognised.
    {"select 'unterminated", U, "unterminated string, quoted identifier or comment"},
    {"select \"unterminated", U, "unterminated string, quoted identifier or comment"},
    {"select $$ unterminated", U, "unterminated string, quoted identifier or comment"},
    {"select $a$ x $b$", U, "unterminated string, quoted identifier or comment"},
    {"select /* unterminated", U, "unterminated string, quoted identifier or comment"},
    {"select E'\\'", U, "unterminated string, quoted identifier or comment"},
    {"select 1; insert into t values ('x", U, "unterminated string, quoted identifier or comment"},
    {"frobnicate the table", U, "unrecognised statement"},
    {"1 + 1", U, "unrecognised statement"},
    {"\"select\" 1", U, "unrecognised statement"},
    {"(insert into t values (1))", U, "unrecognised statement"},
    {"insert into t values (1); frobnicate", U, "unrecognised statement"},
    {"start the engine", U, "unrecognised START"},
    {"explain", U, "EXPLAIN without a statement"},
    {"explain analyze begin", U, "EXPLAIN of a statement that cannot be explained"},
    {"copy t", U, "unrecognised COPY"},
    {"declare c cursor", U, "unrecognised DECLARE"},

    // Hints: only a block comment that opens the text.
    {"/* pggate:replica */ select 1", R, nullptr, kReplica},
    {"/* PGGATE:PRIMARY */ SELECT 1", R, nullptr, kPrimary},
    {"  \n\t/* pggate:primary */ select 1", R, nullptr, kPrimary},
    {"/*pggate:replica*/select 1", R, nullptr, kReplica},
    {"/* app=billing pggate:replica route */ select 1", R, nullptr, kReplica},
    {"/* outer /* pggate:replica */ */ select 1", R, nullptr, kReplica},
    {"/* pggate:primary pggate:replica */ select 1", R, nullptr, kPrimary},
    {"/* pggate:replica */ insert into t values (1)", W, "INSERT", kReplica},
    {"/* pggate:primary */ begin read only", BRO, nullptr, kPrimary, RO},
    {"/* pggate:replica */ select 1; select 2", R, nullptr, kReplica},
    {"/* pggate:replica */ select 'open", U, "unterminated string, quoted identifier or comment", kReplica},
    {"select 1 /* pggate:replica */", R},
    {"select /* pggate:replica */ 1", R},
    {"select 1; /* pggate:replica */ select 2", R},
    {"-- pggate:replica\nselect 1", R},
    {"/* other */ /* pggate:replica */ select 1", R},
    {"/* pggate:replicas */ select 1", R},
    {"/* not_pggate:replica */ select 1", R},
    {"select '/* pggate:replica */'", R},
};

FunctionCatalog corpus_catalog() {
    FunctionCatalog functions;
    functions.add("my_ro_func");
    functions.add("app.report");
    return functions;
}

Mode mode_of(const Classification& c) {
    if (c.read_only_setting && c.read_write_setting) FAIL("both access modes at once");
    if (c.read_only_setting) return Mode::ReadOnly;
    return c.read_write_setting ? Mode::ReadWrite : Mode::None;
}

std::string reason_of(const Classification& c) { return c.reason ? c.reason : "(none)"; }

// Names for failure messages, which would show enums as numbers.
std::string name(StatementKind k) {
    const char* names[] = {"Read",           "Write",              "Begin",   "BeginReadOnly",
                           "TransactionEnd", "TransactionControl", "Session", "Unknown"};
    return names[static_cast<int>(k)];
}
std::string name(RouteHint h) {
    const char* names[] = {"None", "Primary", "Replica"};
    return names[static_cast<int>(h)];
}
std::string name(Mode m) {
    const char* names[] = {"None", "ReadOnly", "ReadWrite"};
    return names[static_cast<int>(m)];
}

}  // namespace

TEST_SUITE("route.classifier") {

TEST_CASE("classifier routing corpus") {
    static_assert(sizeof kCorpus / sizeof kCorpus[0] >= 150, "the corpus covers at least 150 statements");
    const FunctionCatalog functions = corpus_catalog();
    for (const Case& c : kCorpus) {
        std::string sql = c.sql;
        CAPTURE(sql);
        Classification got = classify(sql, functions);
        CHECK(name(got.kind) == name(c.kind));
        CHECK(name(got.hint) == name(c.hint));
        CHECK(name(mode_of(got)) == name(c.mode));
        if (c.reason) CHECK(reason_of(got) == std::string(c.reason));
    }
}

TEST_CASE("classifier gives a reason exactly for Write and Unknown") {
    const FunctionCatalog functions = corpus_catalog();
    for (const Case& c : kCorpus) {
        std::string sql = c.sql;
        CAPTURE(sql);
        Classification got = classify(sql, functions);
        const bool needs_reason = got.kind == StatementKind::Write || got.kind == StatementKind::Unknown;
        CHECK((got.reason != nullptr) == needs_reason);
    }
}

TEST_CASE("classifier: a user function is a write until the catalog knows it") {
    FunctionCatalog functions;
    CHECK(classify("select my_func(1)", functions).kind == StatementKind::Write);
    CHECK(classify("select app.f(1)", functions).kind == StatementKind::Write);
    functions.add("my_func");
    functions.add("app.f");
    CHECK(classify("select my_func(1)", functions).kind == StatementKind::Read);
    CHECK(classify("select app.f(1)", functions).kind == StatementKind::Read);
    // The qualified name says nothing about other schemas' f or the search path's.
    CHECK(classify("select f(1)", functions).kind == StatementKind::Write);
    CHECK(classify("select other.my_func(1)", functions).kind == StatementKind::Write);
}

TEST_CASE("function catalog: built-ins, pg_catalog and added names") {
    FunctionCatalog functions;
    CHECK(functions.read_only("now"));
    CHECK(functions.read_only("pg_catalog.now"));
    CHECK(functions.read_only("current_setting"));
    CHECK_FALSE(functions.read_only("set_config"));
    CHECK_FALSE(functions.read_only("nextval"));
    CHECK_FALSE(functions.read_only("pg_catalog.nextval"));
    CHECK_FALSE(functions.read_only("public.now"));
    CHECK_FALSE(functions.read_only("pg_catalog.now.x"));
    CHECK_FALSE(functions.read_only("NOW"));
    CHECK_FALSE(functions.read_only(""));

    std::uint64_t before = functions.stamp();
    functions.add("app.f");
    CHECK(functions.stamp() != before);
    CHECK(functions.read_only("app.f"));
    CHECK_FALSE(functions.read_only("f"));
    // Each catalog has its own stamp, so a cache cannot mistake one for another.
    CHECK(FunctionCatalog().stamp() != FunctionCatalog().stamp());
}

TEST_CASE("classification cache returns what classify returns") {
    const FunctionCatalog functions = corpus_catalog();
    ClassificationCache cache(1000);
    for (int round = 0; round < 2; ++round) {
        for (const Case& c : kCorpus) {
            std::string sql = c.sql;
            CAPTURE(sql);
            Classification direct = classify(sql, functions);
            const Classification& cached = cache.classify(sql, functions);
            CHECK(cached.kind == direct.kind);
            CHECK(cached.hint == direct.hint);
            CHECK(cached.read_only_setting == direct.read_only_setting);
            CHECK(cached.read_write_setting == direct.read_write_setting);
            CHECK(reason_of(cached) == reason_of(direct));
        }
    }
    // The corpus has distinct texts only, each kept once.
    CHECK(cache.size() == sizeof kCorpus / sizeof kCorpus[0]);
}

TEST_CASE("classification cache keeps a hit's entry and respects its bound") {
    const FunctionCatalog functions;
    ClassificationCache cache(4);
    const Classification* first = &cache.classify("select 1", functions);
    CHECK(&cache.classify("select 1", functions) == first);
    CHECK(cache.size() == 1);
    for (int i = 0; i < 50; ++i) {
        std::string sql = "select " + std::to_string(i);
        CHECK(cache.classify(sql, functions).kind == StatementKind::Read);
        CHECK(cache.size() <= 4);
    }
    // The newest entry is still there: asking again adds nothing.
    std::size_t before = cache.size();
    cache.classify("select 49", functions);
    CHECK(cache.size() == before);
}

TEST_CASE("classification cache does not keep long texts") {
    const FunctionCatalog functions;
    ClassificationCache cache;
    std::string sql = "select 1" + std::string(ClassificationCache::kMaxTextBytes, ' ') + "; insert into t values (1)";
    const Classification& c = cache.classify(sql, functions);
    CHECK(c.kind == StatementKind::Write);
    CHECK(reason_of(c) == "INSERT");
    CHECK(cache.size() == 0);
}

TEST_CASE("classification cache forgets when the catalog changes") {
    FunctionCatalog functions;
    ClassificationCache cache;
    CHECK(cache.classify("select my_func(1)", functions).kind == StatementKind::Write);
    functions.add("my_func");
    CHECK(cache.classify("select my_func(1)", functions).kind == StatementKind::Read);
    // Another catalog, another answer.
    const FunctionCatalog builtins_only;
    CHECK(cache.classify("select my_func(1)", builtins_only).kind == StatementKind::Write);
}

TEST_CASE("classifier: a statement too long to read whole is unknown unless its start writes") {
    const FunctionCatalog functions;
    std::string ids;
    for (int i = 0; i < 40000; ++i) ids += std::to_string(i) + ",";
    ids += "0";
    Classification select = classify("select * from t where id in (" + ids + ")", functions);
    CHECK(select.kind == StatementKind::Unknown);
    CHECK(reason_of(select) == "statement too long to classify");
    Classification insert = classify("insert into t values (" + ids + ")", functions);
    CHECK(insert.kind == StatementKind::Write);
    CHECK(reason_of(insert) == "INSERT");
    // Statements after the long one are still read on their own.
    CHECK(classify("insert into t values (" + ids + "); frobnicate", functions).kind == StatementKind::Unknown);
    // Shorter IN lists are read to the end.
    CHECK(classify("select * from t where id in (" + ids.substr(0, 20000) + "0)", functions).kind ==
          StatementKind::Read);
}

TEST_CASE("classifier survives random mixes of SQL pieces") {
    const std::string_view pieces[] = {"select", "insert", "with", "x", "as", "(", ")", "'", "\"", "$$", "$a$",
                                       "E'",     "\\",     "--",   "/*", "*/", ";", "for", "update", "into", ".",
                                       "f",      "nextval", "pg_temp", "explain", "analyze", "copy", "to", "stdout",
                                       "begin",  "read",   "only", "set", ",", "=", "on", "\n", " ", "1", "\xc3\xa9"};
    constexpr std::size_t kPieces = sizeof pieces / sizeof pieces[0];
    const FunctionCatalog functions;
    std::mt19937 rng(4242);
    std::uniform_int_distribution<std::size_t> pick(0, kPieces - 1);
    std::uniform_int_distribution<std::size_t> len(0, 30);
    for (int iter = 0; iter < 20000; ++iter) {
        std::string sql;
        for (std::size_t k = len(rng); k > 0; --k) {
            sql += pieces[pick(rng)];
            sql += ' ';
        }
        Classification c = classify(sql, functions);
        const bool needs_reason = c.kind == StatementKind::Write || c.kind == StatementKind::Unknown;
        CHECK((c.reason != nullptr) == needs_reason);
    }
}

}  // TEST_SUITE

TEST_CASE("classifier counts the statements a simple Query answers one by one") {
    FunctionCatalog functions;
    CHECK(classify("", functions).statements == 0);
    CHECK(classify(" ; ;", functions).statements == 0);
    CHECK(classify("SELECT 1", functions).statements == 1);
    CHECK(classify("SELECT 1;", functions).statements == 1);
    CHECK(classify("SELECT 1; SELECT 2", functions).statements == 2);
    CHECK(classify("SELECT ';'; SELECT $$a;b$$; /* ; */ SELECT 3 -- ;", functions).statements == 3);
}
