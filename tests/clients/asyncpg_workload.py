#!/usr/bin/python3
"""A realistic asyncpg workload: several asyncio tasks, each with its own
connections, doing DDL, transactions that commit and roll back (with nested
savepoints), typed parameters, executemany, COPY (copy_records_to_table,
copy_to_table, copy_from_query), cursors, errors and recovery, and session
settings (application_name and TimeZone as server_settings, SET/RESET),
checking after every step that the session still has the settings it asked
for. asyncpg prepares every parameterized query as a named statement
(__asyncpg_stmt_N__, the same names on every connection) and caches it, so
the same statements are used again and again from many connections over
shared servers; some clients get a tiny statement cache so asyncpg also
closes statements. Ends with an asyncpg.Pool shared by all tasks, whose
release runs asyncpg's reset query (RESET ALL, UNLISTEN *, ...).
Exits 0 only when every check passed.

  /usr/bin/python3 tests/clients/asyncpg_workload.py \
      'host=127.0.0.1 port=6432 dbname=postgres user=postgres' --clients 8 --mode transaction
"""

import asyncio
import datetime
import decimal
import io
import json
import sys
import time
import zoneinfo

import asyncpg

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from workload_common import (SETTINGS_QUERY, WHERE_QUERY, Checks, ClientBase, Main, parse_args, replica_ports_seen,
                             start_watchdog, zone_for)

DRIVER = "asyncpg"
ROWS_PER_ROUND = 70  # rows each client round leaves in the main table
COPY_ROWS_PER_ROUND = 300  # and in the copy table
PREPARED_LOOPS = 12


def connect_kwargs(cfg):
    """asyncpg takes no libpq keyword/value string: map the DSN's keys."""
    p = cfg.params
    kw = {"host": p.get("host", "127.0.0.1"), "port": int(p.get("port", 5432)),
          "user": p.get("user", "postgres"), "database": p.get("dbname", p.get("user", "postgres")),
          "timeout": float(p.get("connect_timeout", 20)), "ssl": False}
    if "password" in p:
        kw["password"] = p["password"]
    return kw


class Client(ClientBase):
    def __init__(self, cfg, checks, index, table):
        super().__init__(DRIVER, cfg, checks, index, table)
        # Most clients keep asyncpg's default statement cache; every third
        # has room for 3 statements, so asyncpg keeps closing and re-preparing.
        self.cache_size = 3 if index % 3 == 2 else 100

    # ---- helpers ----

    async def connect(self, index_offset=0, app=None):
        zone = zone_for(self.w + index_offset)[0]
        return await asyncpg.connect(**connect_kwargs(self.cfg), statement_cache_size=self.cache_size,
                                     server_settings={"application_name": app or self.app, "TimeZone": zone})

    async def verify(self, conn, expect=None, label="session settings"):
        """The session's tracked settings are what this client set, whatever
        server answers (a cached prepared statement, and a simple query)."""
        expect = expect or self.expect
        row = await conn.fetchrow(SETTINGS_QUERY)
        check = self.check_settings(row, expect, label)
        check("show timezone", await conn.fetchval("show timezone"), expect["TimeZone"])
        check("ParameterStatus TimeZone", conn.get_settings().TimeZone, expect["TimeZone"])

    async def count(self, conn, r, table=None):
        row = await conn.fetchrow(f"select count(*), coalesce(sum(n), 0) from {table or self.table} "
                                  "where worker = $1 and round = $2", self.w, r)
        return tuple(row)

    # ---- the workload ----

    async def run(self):
        try:
            for r in range(self.cfg.rounds):
                await self.round(r)
        except Exception as e:  # a bug in the workload itself
            self.checks.exception(f"client {self.w}", "client task", e)

    async def round(self, r):
        self.who = f"client {self.w} round {r}"
        self.expect = {"TimeZone": self.zone, "application_name": self.app}
        self.step = "connect"
        started = time.monotonic()
        try:
            conn = await self.connect()
            other = await self.connect(index_offset=3, app=self.app + "-peer")
            self.checks.timed(self.who, "connect", started)
        except Exception as e:
            self.checks.exception(self.who, self.step, e)
            return
        peer_expect = {"TimeZone": zone_for(self.w + 3)[0], "application_name": self.app + "-peer"}
        steps = [
            ("startup settings", lambda: self.verify(conn, label="startup settings")),
            ("reads outside a transaction", lambda: self.step_where(conn)),
            ("ddl", lambda: self.step_ddl(conn, r)),
            ("commit", lambda: self.step_commit(conn, other, r)),
            ("rollback", lambda: self.step_rollback(conn, other, r)),
            ("nested transactions", lambda: self.step_nested(conn, r)),
            ("parameters", lambda: self.step_parameters(conn)),
            ("prepared statements", lambda: self.step_prepared(conn, r, 8)),
            ("executemany", lambda: self.step_executemany(conn, other, r)),
            ("copy", lambda: self.step_copy(conn, r)),
            ("cursor", lambda: self.step_cursor(conn, r)),
            ("errors", lambda: self.step_errors(conn, r)),
            ("prepared statements again", lambda: self.step_prepared(conn, r, ROWS_PER_ROUND)),
            ("SET tracked parameters", lambda: self.step_set(conn)),
            ("RESET", lambda: self.step_reset(conn)),
            ("LISTEN/NOTIFY", lambda: self.step_listen(conn, other)),
            ("peer settings", lambda: self.verify(other, expect=peer_expect, label="peer connection")),
            ("pinned session state", lambda: self.step_pinned(conn)),
        ]
        try:
            for name, fn in steps:
                self.step = name
                started = time.monotonic()
                try:
                    await fn()
                    self.checks.timed(self.who, name, started)
                    if name not in ("startup settings", "peer settings"):
                        self.step = name + " (settings after)"
                        await self.verify(conn)
                except Exception as e:
                    self.checks.exception(self.who, self.step, e)
                    if conn.is_closed() or other.is_closed():
                        return
                    # A transaction left open would hold its server.
                    for c in (conn, other):
                        if c.is_in_transaction():
                            try:
                                await c.execute("rollback")
                            except Exception as e2:
                                self.checks.exception(self.who, self.step + " (rollback after error)", e2)
                                return
        finally:
            for c in (conn, other):
                started = time.monotonic()
                try:
                    await c.close(timeout=10)
                    self.checks.timed(self.who, "close", started)
                except Exception as e:
                    self.checks.exception(self.who, "close", e)
                    c.terminate()

    async def step_where(self, conn):
        """Before this connection writes anything: with read/write splitting
        its reads run on replicas; inside a transaction on the primary,
        unless it is read-only. asyncpg prepares a new statement with Parse,
        Describe and Flush, and only then sends Bind, Execute and Sync in the
        same segment: pggate cannot see yet whether that segment writes, so
        its first execution runs on the primary. Executions of the cached
        statement are the reads checked here."""
        first = [await conn.fetchrow(WHERE_QUERY)]
        cached = [await conn.fetchrow(WHERE_QUERY) for _ in range(4)]
        first.append(await conn.fetchrow(WHERE_QUERY + " where $1::int > 0", 1))
        if self.cache_size > 3:
            cached.append(await conn.fetchrow(WHERE_QUERY + " where $1::int > 0", 2))
        self.check_where(cached, "fresh connection, cached statements")
        if not self.cfg.split:
            self.check_where(first, "fresh connection, first executions")
        async with conn.transaction():
            row = await conn.fetchrow(WHERE_QUERY)
        self.eq("a read inside a transaction ran on the primary", row[0], False)
        async with conn.transaction(readonly=True):
            row = await conn.fetchrow(WHERE_QUERY)
        self.eq("a read in a read-only transaction ran on a replica", row[0], self.cfg.split)

    async def step_ddl(self, conn, r):
        t = f"{self.table}_w{self.w}_r{r}"
        await conn.execute(f"create table {t} (k int primary key, v text not null)")
        await conn.execute(f"insert into {t} select g, 'v' || g from generate_series(1, $1::int) g", 10)
        async with conn.transaction():
            await conn.execute(f"alter table {t} add column w int not null default {self.w}")
            await conn.execute(f"create index on {t} (v)")
        for _ in range(3):
            row = await conn.fetchrow(f"select count(*), sum(k), min(w), max(w) from {t} where k > $1", 0)
            self.eq("rows in the new table", tuple(row), (10, 55, self.w, self.w))
        await conn.execute(f"drop table {t}")
        self.eq("table gone after drop", await conn.fetchval("select to_regclass($1)::text", t), None)

    async def step_commit(self, conn, other, r):
        async with conn.transaction():
            for k in range(5):
                await conn.execute(f"insert into {self.table} (id, worker, round, n, note) values ($1, $2, $3, $4, $5)",
                                   self.rid(r, k), self.w, r, k, f"commit {k}")
            await self.verify(conn, label="inside a transaction")
        await self.eq_read_async("rows after commit", lambda: self.count(conn, r), (5, 10))
        await self.eq_read_async("rows after commit, seen by another connection", lambda: self.count(other, r), (5, 10))
        # (Nothing else may wait for a server while the peer's transaction is
        # open: with more clients than servers that could deadlock.)
        tx = other.transaction()
        await tx.start()
        await other.execute(f"insert into {self.table} (id, worker, round, n) values ($1, $2, $3, 5)",
                            self.rid(r, 5), self.w, r)
        await self.eq_read_async("peer's row inside its transaction", lambda: self.count(other, r), (6, 15))
        await tx.commit()
        await self.eq_read_async("peer's row seen after its commit", lambda: self.count(conn, r), (6, 15))

    async def step_rollback(self, conn, other, r):
        class Undo(Exception):
            pass
        try:
            async with conn.transaction():
                for k in range(6, 10):
                    await conn.execute(f"insert into {self.table} (id, worker, round, n) values ($1, $2, $3, $4)",
                                       self.rid(r, k), self.w, r, k)
                await self.eq_read_async("rows inside the transaction", lambda: self.count(conn, r), (10, 45))
                raise Undo()
        except Undo:
            pass
        await self.eq_read_async("rows after rollback", lambda: self.count(conn, r), (6, 15))
        await self.eq_read_async("rows after rollback, seen by another connection", lambda: self.count(other, r), (6, 15))
        tx = other.transaction()
        await tx.start()
        await other.execute(f"insert into {self.table} (id, worker, round, n) values ($1, $2, $3, 99)",
                            self.rid(r, 99), self.w, r)
        await tx.rollback()
        await self.eq_read_async("rows after the peer's rollback", lambda: self.count(conn, r), (6, 15))

    async def step_nested(self, conn, r):
        ins = f"insert into {self.table} (id, worker, round, n) values ($1, $2, $3, $4)"
        async with conn.transaction():
            await conn.execute(ins, self.rid(r, 10), self.w, r, 10)
            try:
                async with conn.transaction():
                    await conn.execute(ins, self.rid(r, 10), self.w, r, 10)
                self.true("duplicate key inside a savepoint raises UniqueViolationError", False, "no error")
            except asyncpg.UniqueViolationError as e:
                self.eq("SQLSTATE of the duplicate", e.sqlstate, "23505")
            async with conn.transaction():
                await conn.execute(ins, self.rid(r, 11), self.w, r, 11)
            sp = conn.transaction()
            await sp.start()
            await conn.execute(ins, self.rid(r, 12), self.w, r, 12)
            await sp.rollback()
        await self.eq_read_async("rows after the nested transactions", lambda: self.count(conn, r), (8, 36))

    async def step_parameters(self, conn):
        moment = datetime.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=datetime.timezone.utc)
        text = "O'Reilly \"quoted\" ; -- % $1 \\ é ✓ 日本"
        values = (42, 2 ** 40, 3.25, decimal.Decimal("12345.678901234567890"), text, None,
                  b"\x00\x01\xfe\xff", datetime.date(2020, 2, 29), moment, [1, 2, 3],
                  json.dumps({"a": [1, "x"], "b": None}), True, datetime.timedelta(days=1, hours=2))
        sql = ("select $1::int, $2::bigint, $3::float8, $4::numeric, $5::text, $6::int, $7::bytea, "
               "$8::date, $9::timestamptz, $10::int[], $11::jsonb, $12::bool, $13::interval, "
               "$9::timestamptz::text")
        for _ in range(3):
            row = await conn.fetchrow(sql, *values)
            self.eq("int", row[0], 42)
            self.eq("bigint", row[1], 2 ** 40)
            self.eq("float8", row[2], 3.25)
            self.eq("numeric", row[3], decimal.Decimal("12345.678901234567890"))
            self.eq("text", row[4], text)
            self.eq("null", row[5], None)
            self.eq("bytea", row[6], b"\x00\x01\xfe\xff")
            self.eq("date", row[7], datetime.date(2020, 2, 29))
            self.eq("timestamptz instant", row[8], moment)
            self.eq("int[]", row[9], [1, 2, 3])
            self.eq("jsonb", json.loads(row[10]), {"a": [1, "x"], "b": None})
            self.eq("bool", row[11], True)
            self.eq("interval", row[12], datetime.timedelta(days=1, hours=2))
            local = moment.astimezone(zoneinfo.ZoneInfo(self.expect["TimeZone"]))
            self.eq("timestamptz as text in the session time zone", row[13][:19],
                    local.strftime("%Y-%m-%d %H:%M:%S"), key=("parameters", "timestamptz text"))

    def prepared_queries(self, r, rows):
        """(sql, args, expected) with the same texts on every client, in an
        order of each client's own, so that the same asyncpg statement name
        means a different statement on different clients."""
        t = self.table
        q = [
            ("select $1::int + 1", lambda i: (i,), lambda i: i + 1),
            ("select $1::text || $2::text", lambda i: ("a", str(i)), lambda i: "a" + str(i)),
            (f"select count(*) from {t} where worker = $1 and round = $2", lambda i: (self.w, r), lambda i: rows),
            ("select $1::numeric * 2", lambda i: (decimal.Decimal(i) / 4,), lambda i: decimal.Decimal(i) / 2),
            ("select array_length($1::int[], 1)", lambda i: (list(range(i + 1)),), lambda i: i + 1),
            ("select $1::timestamptz - interval '1 hour'",
             lambda i: (datetime.datetime(2020, 1, 1, i, tzinfo=datetime.timezone.utc),),
             lambda i: datetime.datetime(2020, 1, 1, i, tzinfo=datetime.timezone.utc) - datetime.timedelta(hours=1)),
            (f"select n from {t} where id = $1", lambda i: (self.rid(r, 10),), lambda i: 10),
            (f"update {t} set n = n where id = $1 returning n", lambda i: (self.rid(r, 11),), lambda i: 11),
            ("select $1::jsonb ->> 'k'", lambda i: (json.dumps({"k": f"v{i}"}),), lambda i: f"v{i}"),
            ("select length($1::bytea)", lambda i: (bytes(i),), lambda i: i),
            ("select $1::int * $2::int - $3::int", lambda i: (i, 2, self.w), lambda i: i * 2 - self.w),
            ("select current_setting('application_name')", lambda i: (), lambda i: self.expect["application_name"]),
        ]
        k = (self.w * 5) % len(q)
        return q[k:] + q[:k]

    async def step_prepared(self, conn, r, rows):
        queries = self.prepared_queries(r, rows)
        explicit = [await conn.prepare(sql) for sql, _, _ in queries[:4]]
        for loop in range(PREPARED_LOOPS):
            for sql, args, expected in queries:
                got = await conn.fetchval(sql, *args(loop))
                self.eq(f"prepared {sql!r}", got, expected(loop), key=("prepared", sql))
            for stmt, (sql, args, expected) in zip(explicit, queries[:4]):
                got = await stmt.fetchval(*args(loop))
                self.eq(f"explicitly prepared {sql!r}", got, expected(loop), key=("explicit", sql))
            if loop == 6:
                try:
                    await conn.fetchval("select 1 / $1::int", 0)
                    self.true("prepared division by zero fails", False, "no error")
                except asyncpg.DivisionByZeroError:
                    pass
                self.eq("prepared statement after a failed one", await conn.fetchval("select 1 / $1::int", 1), 1)
        async with conn.transaction():
            for sql, args, expected in queries[:5]:
                got = await conn.fetchval(sql, *args(1))
                self.eq(f"prepared {sql!r} in a transaction", got, expected(1), key=("prepared tx", sql))
            for stmt, (sql, args, expected) in zip(explicit, queries[:4]):
                self.eq(f"explicitly prepared {sql!r} in a transaction", await stmt.fetchval(*args(2)),
                        expected(2), key=("explicit tx", sql))
        del explicit  # asyncpg closes statements that are no longer referenced

    async def step_executemany(self, conn, other, r):
        ins = f"insert into {self.table} (id, worker, round, n, note) values ($1, $2, $3, $4, $5)"
        await conn.executemany(ins, [(self.rid(r, k), self.w, r, 1, f"many {k}") for k in range(100, 130)])
        async with conn.transaction():
            await conn.executemany(ins, [(self.rid(r, k), self.w, r, 1, None) for k in range(200, 220)])
        stmt = await conn.prepare(ins)
        await stmt.executemany([(self.rid(r, k), self.w, r, 1, "stmt") for k in range(300, 312)])
        await self.eq_read_async("rows after executemany", lambda: self.count(conn, r), (70, 98))
        await self.eq_read_async("rows after executemany, seen by another connection", lambda: self.count(other, r), (70, 98))

    async def step_copy(self, conn, r):
        rows = [(self.rid(r, k), self.w, r, f'note {k}, "quoted" é\tx\\y') for k in range(200)]
        res = await conn.copy_records_to_table(self.copy_table, records=rows, columns=["id", "worker", "round", "note"])
        self.eq("COPY FROM status (copy_records_to_table)", res, "COPY 200")
        out = io.BytesIO()
        await conn.copy_from_query(f"select id, worker, round, note from {self.copy_table} where worker = $1 "
                                   "and round = $2 order by id", self.w, r, output=out, format="csv")
        back = out.getvalue().decode().splitlines()
        self.eq("rows from copy_from_query", len(back), 200)
        self.eq("first row from copy_from_query", back[:1],
                [f'{self.rid(r, 0)},{self.w},{r},"note 0, ""quoted"" é\tx\\y"'])
        src = io.BytesIO("".join(f"{self.rid(r, k)},{self.w},{r},csv {k}\n" for k in range(1000, 1100)).encode())
        res = await conn.copy_to_table(self.copy_table, source=src, columns=["id", "worker", "round", "note"],
                                       format="csv")
        self.eq("COPY FROM status (copy_to_table)", res, "COPY 100")
        async with conn.transaction():
            res = await conn.copy_records_to_table(
                self.copy_table, records=[(self.rid(r, k), self.w, r) for k in range(2000, 2050)],
                columns=["id", "worker", "round"])
            self.eq("COPY FROM status in a transaction", res, "COPY 50")
            self.eq("rows in the copy table inside the transaction", (await self.count(conn, r, self.copy_table))[0],
                    350)
            await conn.execute(f"delete from {self.copy_table} where id >= $1 and worker = $2 and round = $3",
                               self.rid(r, 2000), self.w, r)
        out = io.BytesIO()
        await conn.copy_from_table(self.copy_table, output=out, columns=["id"], format="text")
        mine = [x for x in out.getvalue().decode().split() if int(x) // 10000 == self.w * 10 + r]
        self.eq("rows of this round in copy_from_table", len(mine), COPY_ROWS_PER_ROUND)
        self.eq("rows in the copy table", (await self.count(conn, r, self.copy_table))[0], COPY_ROWS_PER_ROUND)

    async def step_cursor(self, conn, r):
        async with conn.transaction():
            seen = 0
            async for _ in conn.cursor(f"select id from {self.table} where worker = $1 order by id", self.w,
                                       prefetch=16):
                seen += 1
            self.eq("rows read through a cursor", seen, ROWS_PER_ROUND * (r + 1))
            cur = await conn.cursor(f"select id from {self.table} where worker = $1 order by id", self.w)
            first = await cur.fetch(10)
            await cur.forward(5)
            row = await cur.fetchrow()
            self.eq("cursor fetch/forward", (len(first), row is not None), (10, True))

    async def step_errors(self, conn, r):
        ins = f"insert into {self.table} (id, worker, round, n) values ($1, $2, $3, $4)"
        try:
            await conn.execute(ins, self.rid(r, 0), self.w, r, 0)
            self.true("duplicate key raises UniqueViolationError", False, "no error")
        except asyncpg.UniqueViolationError as e:
            self.eq("SQLSTATE of the duplicate", e.sqlstate, "23505")
        self.eq("query after the error", await conn.fetchval("select 1 + $1::int", 1), 2)
        for sql, state in (("selec 1", "42601"), ("select 1 / 0", "22012"),
                           ("select * from no_such_table_here", "42P01")):
            for how in ("simple", "prepared"):
                try:
                    if how == "simple":
                        await conn.execute(sql)
                    else:
                        await conn.fetch(sql)
                    self.true(f"{sql!r} fails ({how})", False, "no error")
                except asyncpg.PostgresError as e:
                    self.eq(f"SQLSTATE of {sql!r} ({how})", e.sqlstate, state)
        try:
            async with conn.transaction():
                await conn.execute(ins, self.rid(r, 400), self.w, r, 1000)
                await conn.execute("select 1 / 0")
        except asyncpg.DivisionByZeroError:
            pass
        self.eq("transaction status after the rollback", conn.is_in_transaction(), False)
        try:
            async with conn.transaction():
                await conn.fetchval("select 1")
                await conn.execute(ins, self.rid(r, 1), self.w, r, 0)
        except asyncpg.UniqueViolationError:
            pass
        await self.eq_read_async("rows after the failed transactions", lambda: self.count(conn, r), (70, 98))

    async def step_set(self, conn):
        await conn.execute("set time zone 'Asia/Kolkata'")
        self.expect["TimeZone"] = "Asia/Kolkata"
        for _ in range(3):
            await self.verify(conn, label="after SET TIME ZONE")
        tx = conn.transaction()
        await tx.start()
        await conn.execute("set timezone to 'America/Sao_Paulo'")
        await self.verify(conn, expect=dict(self.expect, TimeZone="America/Sao_Paulo"),
                          label="SET inside a transaction")
        await tx.rollback()
        await self.verify(conn, label="SET rolled back")
        async with conn.transaction():
            await conn.execute("set local time zone 'Pacific/Auckland'")
            await self.verify(conn, expect=dict(self.expect, TimeZone="Pacific/Auckland"), label="SET LOCAL")
        await self.verify(conn, label="after a transaction with SET LOCAL")
        await conn.execute("set datestyle to 'SQL, DMY'")
        await conn.execute("set intervalstyle to 'postgres_verbose'")
        await conn.execute(f"set application_name = '{self.app}-renamed'")
        self.expect.update({"DateStyle": "SQL, DMY", "IntervalStyle": "postgres_verbose",
                            "application_name": self.app + "-renamed"})
        for _ in range(3):
            row = await conn.fetchrow("select '2020-06-01'::date::text, '1 day 2 hours'::interval::text")
            self.eq("date and interval in the set styles", tuple(row), ("01/06/2020", "@ 1 day 2 hours"))
            await self.verify(conn, label="after SET DateStyle/IntervalStyle/application_name")
        await conn.execute(f"set datestyle to 'ISO, MDY'; set intervalstyle to 'postgres'; set time zone '{self.zone}'")
        self.expect.update({"DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "TimeZone": self.zone})

    async def step_reset(self, conn):
        await conn.execute("set time zone 'Europe/Paris'; set application_name = 'changed'")
        await conn.execute("reset timezone")
        self.expect.update({"TimeZone": self.zone, "application_name": "changed"})
        await self.verify(conn, label="after RESET TimeZone (back to the connect-time value)")
        await conn.execute("set time zone 'Europe/Paris'")
        await conn.execute("set datestyle = 'German'")
        await conn.execute("reset all")
        self.expect = {"TimeZone": self.zone, "application_name": self.app}
        await self.verify(conn, label="after RESET ALL (back to the connect-time values)")

    async def step_listen(self, conn, other):
        if self.cfg.transaction_mode:
            return  # LISTEN is session state: it would pin the client
        channel = f"ch_{self.cfg.run_id}_{self.w}"
        got = asyncio.get_running_loop().create_future()

        def on_notify(_conn, _pid, chan, payload):
            if chan == channel and not got.done():
                got.set_result(payload)
        await conn.add_listener(channel, on_notify)
        await other.execute("select pg_notify($1, $2)", channel, "hello " + str(self.w))
        try:
            payload = await asyncio.wait_for(got, 10)
        except asyncio.TimeoutError:
            payload = None
        self.eq("notification payload", payload, "hello " + str(self.w))
        await conn.remove_listener(channel, on_notify)

    async def step_pinned(self, conn):
        """SQL PREPARE follows the client to whichever backend serves it; a
        WITH HOLD cursor is state the client keeps on its server, so in
        transaction mode pggate pins the client to it. Comes last: a pinned
        client keeps a server, and if several did while waiting for another
        connection of theirs, more clients than servers would deadlock."""
        name = f"q_{self.w}"
        await conn.execute(f"prepare {name} (int) as select $1 * 2, pg_backend_pid()")
        for i in range(5):
            self.eq("SQL prepared statement result", (await conn.fetchrow(f"execute {name} ({i})"))[0], i * 2)
        await conn.execute(f"declare hold_{self.w} cursor with hold for select g from generate_series(1, 30) g")
        got = []
        for _ in range(3):
            got += [x[0] for x in await conn.fetch(f"fetch 10 from hold_{self.w}")]
        self.eq("rows of a WITH HOLD cursor read across transactions", got, list(range(1, 31)))
        await conn.execute(f"close hold_{self.w}; deallocate {name}")
        # set_config() at session level pins too (and is not just a SET).
        await conn.fetchval("select set_config('TimeZone', $1, false)", "Asia/Kolkata")
        self.expect["TimeZone"] = "Asia/Kolkata"
        await self.verify(conn, label="after set_config(TimeZone)")


async def pool_phase(cfg, checks):
    """asyncpg.Pool, the usual way to use asyncpg: more pool connections than
    pggate has servers, each acquire/release cycle ending in asyncpg's reset
    query, which must bring the session back to its connect-time settings."""
    zone = zone_for(5)[0]
    app = f"{DRIVER}-pool"
    pool = await asyncpg.create_pool(**connect_kwargs(cfg), min_size=2, max_size=4,
                                     server_settings={"application_name": app, "TimeZone": zone})

    async def task(i):
        who = f"pool task {i}"
        for n in range(8):
            step = f"acquire {n}"
            try:
                async with pool.acquire() as c:
                    row = await c.fetchrow("select current_setting('TimeZone'), current_setting('application_name'), "
                                           "$1::int * 2", i)
                    checks.eq(who, "pool acquire", "settings after acquire (after asyncpg's reset query)",
                              tuple(row), (zone, app, i * 2), key=("pool", "settings after acquire"))
                    async with c.transaction():
                        checks.eq(who, step, "prepared in a transaction",
                                  await c.fetchval("select $1::text || $2::text", str(i), str(n)), f"{i}{n}",
                                  key=("pool", "prepared"))
                    await c.execute("set time zone 'Asia/Tokyo'" if i % 2 else "set application_name = 'x'")
            except Exception as e:
                checks.exception(who, step, e)

    try:
        await asyncio.gather(*(task(i) for i in range(cfg.clients)))
    finally:
        await pool.close()


async def amain(cfg, checks):
    table = f"drv_{DRIVER}_{cfg.run_id}"
    who = "main"
    try:
        main_conn = await asyncpg.connect(**connect_kwargs(cfg), server_settings={"application_name": f"{DRIVER}-main"})
    except Exception as e:
        checks.exception(who, "connect", e)
        return
    await main_conn.execute(f"create table {table} (id int primary key, worker int not null, round int not null, "
                            "n int not null, note text)")
    await main_conn.execute(f"create table {table}_copy (id int primary key, worker int not null, "
                            "round int not null, n int not null default 0, note text, at timestamptz default now())")
    try:
        clients = [Client(cfg, checks, i, table) for i in range(cfg.clients)]
        await asyncio.gather(*(c.run() for c in clients))
        main = Main(cfg, checks)
        reader = await asyncpg.connect(**connect_kwargs(cfg), server_settings={"application_name": f"{DRIVER}-totals"})
        try:
            def totals(t):
                async def read():
                    return [tuple(x) for x in await reader.fetch(main.totals_query(t))]
                return read
            await main.eq_read_async("rows per client in the main table", totals(table),
                                     main.totals_expected(ROWS_PER_ROUND * cfg.rounds))
            await main.eq_read_async("rows per client in the copy table", totals(f"{table}_copy"),
                                     main.totals_expected(COPY_ROWS_PER_ROUND * cfg.rounds))
        finally:
            await reader.close()
        if cfg.split:
            checks.note(f"reads outside transactions ran on the replicas on ports {replica_ports_seen()}")
        pids = set().union(*(c.pids for c in clients))
        checks.note(f"{cfg.clients} clients x {cfg.rounds} rounds were served by {len(pids)} backends")
    except Exception as e:
        checks.exception(who, "totals", e)
    finally:
        await main_conn.execute(f"drop table if exists {table}, {table}_copy")
        await main_conn.close()
    started = time.monotonic()
    try:
        await pool_phase(cfg, checks)
        checks.timed("pool", "asyncpg.Pool phase", started)
    except Exception as e:
        checks.exception("pool", "asyncpg.Pool", e)


def main():
    cfg = parse_args(DRIVER, __doc__.split("\n\n")[0])
    checks = Checks(DRIVER)
    start_watchdog(checks, cfg.timeout)
    asyncio.run(amain(cfg, checks))
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
