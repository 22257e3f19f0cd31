#!/usr/bin/python3
"""A realistic psycopg 3 workload: several threads, each with its own
connections, doing DDL, transaction blocks that commit and roll back (with
nested savepoints), typed parameters, executemany and pipelines, COPY (text
and binary), server-side cursors, errors and recovery, session settings
(application_name and TimeZone given at connect time, SET/RESET), and above
all named prepared statements: prepare_threshold 0 or 1 and prepare=True,
a small prepared_max so psycopg evicts with DEALLOCATE, and rollbacks and
DROPs that make it send DEALLOCATE ALL, all with the same query texts on
every connection so statements meet each other on shared servers. Checks
after every step that the session still has the settings it asked for.
Exits 0 only when every check passed.

  /usr/bin/python3 tests/clients/psycopg3_workload.py \
      'host=127.0.0.1 port=6432 dbname=postgres user=postgres' --clients 8 --mode transaction
"""

import datetime
import decimal
import sys
import threading
import time
import zoneinfo

import psycopg
import psycopg.errors
from psycopg import sql as pgsql
from psycopg.types.json import Jsonb

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from workload_common import (SETTINGS_QUERY, WHERE_QUERY, Checks, ClientBase, Main, parse_args, replica_ports_seen,
                             start_watchdog, zone_for)

DRIVER = "psycopg3"
ROWS_PER_ROUND = 70  # rows each client round leaves in the main table
COPY_ROWS_PER_ROUND = 300  # and in the copy table
PREPARED_LOOPS = 12


class Client(ClientBase):
    def __init__(self, cfg, checks, index, table):
        super().__init__(DRIVER, cfg, checks, index, table)
        # How this client prepares: 0 = everything at once, 1 = on the second
        # run, 1000 = in effect only what is executed with prepare=True.
        self.threshold = (0, 1, 1000)[index % 3]
        self.prepared_max = 4 if index % 2 else 100

    # ---- helpers ----

    def connect(self, index_offset=0, app=None, autocommit=True):
        zone = zone_for(self.w + index_offset)[0]
        conn = psycopg.connect(self.cfg.dsn, autocommit=autocommit, prepare_threshold=self.threshold,
                               application_name=app or self.app, options=f"-c TimeZone={zone}")
        conn.prepared_max = self.prepared_max
        return conn

    def verify(self, conn, expect=None, label="session settings"):
        """The session's tracked settings are what this client set, whatever
        server answers. Runs prepared too, on clients that prepare everything."""
        expect = expect or self.expect
        row = conn.execute(SETTINGS_QUERY).fetchone()
        check = self.check_settings(row, expect, label)
        check("show timezone", conn.execute("show timezone").fetchone()[0], expect["TimeZone"])
        check("ParameterStatus TimeZone", conn.info.parameter_status("TimeZone"), expect["TimeZone"])

    def count(self, conn, r, table=None):
        return conn.execute(f"select count(*), coalesce(sum(n), 0) from {table or self.table} "
                            "where worker = %s and round = %s", (self.w, r)).fetchone()

    # ---- the workload ----

    def round(self, r):
        self.who = f"client {self.w} round {r}"
        self.expect = {"TimeZone": self.zone, "application_name": self.app}
        self.step = "connect"
        try:
            conn = self.connect()
            other = self.connect(index_offset=3, app=self.app + "-peer", autocommit=False)
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
            ("executemany and pipeline", lambda: self.step_executemany(conn, other, r)),
            ("copy", lambda: self.step_copy(conn, r)),
            ("server-side cursor", lambda: self.step_named_cursor(conn, r)),
            ("errors", lambda: self.step_errors(conn, r)),
            ("prepared statements again", lambda: self.step_prepared(conn, r, ROWS_PER_ROUND)),
            ("SET tracked parameters", lambda: self.step_set(conn)),
            ("client_encoding", lambda: self.step_encoding(conn)),
            ("RESET", lambda: self.step_reset(conn)),
            ("LISTEN/NOTIFY", lambda: self.step_listen(conn, other)),
            ("peer settings", lambda: (self.verify(other, expect=peer_expect, label="peer connection"),
                                       other.commit())),
            ("pinned session state", lambda: self.step_pinned(conn)),
        ]
        try:
            for name, fn in steps:
                self.step = name
                started = time.monotonic()
                try:
                    fn()
                    self.checks.timed(self.who, name, started)
                    if name not in ("startup settings", "peer settings"):
                        self.step = name + " (settings after)"
                        self.verify(conn)
                except Exception as e:
                    self.checks.exception(self.who, self.step, e)
                    if conn.closed:
                        return
                    for c in (conn, other):
                        try:
                            c.rollback()
                        except Exception as e2:
                            self.checks.exception(self.who, self.step + " (rollback after error)", e2)
                            return
        finally:
            conn.close()
            other.close()

    def step_where(self, conn):
        """Before this connection writes anything: with read/write splitting
        its reads run on replicas, prepared or not."""
        rows = [conn.execute(WHERE_QUERY, prepare=i % 2 == 1).fetchone() for i in range(4)]
        self.check_where(rows, "fresh connection")
        with conn.transaction():
            row = conn.execute(WHERE_QUERY).fetchone()
        self.eq("a read inside a transaction block ran on the primary", row[0], False)

    def step_ddl(self, conn, r):
        t = f"{self.table}_w{self.w}_r{r}"
        conn.execute(f"create table {t} (k int primary key, v text not null)")
        conn.execute(f"insert into {t} select g, 'v' || g from generate_series(1, 10) g")
        with conn.transaction():
            conn.execute(f"alter table {t} add column w int not null default {self.w}")
            conn.execute(f"create index on {t} (v)")
        for _ in range(3):
            row = conn.execute(f"select count(*), sum(k), min(w), max(w) from {t}").fetchone()
            self.eq("rows in the new table", row, (10, 55, self.w, self.w))
        conn.execute(f"drop table {t}")
        self.eq("table gone after drop", conn.execute("select to_regclass(%s)", (t,)).fetchone()[0], None)

    def step_commit(self, conn, other, r):
        with conn.transaction():
            for k in range(5):
                conn.execute(f"insert into {self.table} (id, worker, round, n, note) values (%s, %s, %s, %s, %s)",
                             (self.rid(r, k), self.w, r, k, f"commit {k}"))
            self.verify(conn, label="inside a transaction")
        self.eq_read("rows after commit", lambda: self.count(conn, r), (5, 10))
        self.eq_read("rows after commit, seen by another connection", lambda: self.count(other, r), (5, 10))
        other.commit()
        # The peer is not in autocommit: its statements open a transaction
        # that lasts until commit(). (Nothing else may wait for a server
        # meanwhile: with more clients than servers that could deadlock.)
        other.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 5)",
                      (self.rid(r, 5), self.w, r))
        self.eq_read("peer's row inside its transaction", lambda: self.count(other, r), (6, 15))
        other.commit()
        self.eq_read("peer's row seen after its commit", lambda: self.count(conn, r), (6, 15))

    def step_rollback(self, conn, other, r):
        with conn.transaction():
            for k in range(6, 10):
                conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, %s)",
                             (self.rid(r, k), self.w, r, k))
            self.eq_read("rows inside the transaction", lambda: self.count(conn, r), (10, 45))
            raise psycopg.Rollback()
        self.eq_read("rows after rollback", lambda: self.count(conn, r), (6, 15))
        self.eq_read("rows after rollback, seen by another connection", lambda: self.count(other, r), (6, 15))
        other.commit()
        other.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 99)",
                      (self.rid(r, 99), self.w, r))
        other.rollback()
        self.eq_read("rows after the peer's rollback", lambda: self.count(conn, r), (6, 15))

    def step_nested(self, conn, r):
        with conn.transaction():
            conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 10)",
                         (self.rid(r, 10), self.w, r))
            try:
                with conn.transaction():
                    conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 10)",
                                 (self.rid(r, 10), self.w, r))
                self.true("duplicate key inside a savepoint raises UniqueViolation", False, "no error")
            except psycopg.errors.UniqueViolation as e:
                self.eq("SQLSTATE of the duplicate", e.sqlstate, "23505")
            with conn.transaction():
                conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 11)",
                             (self.rid(r, 11), self.w, r))
            with conn.transaction():
                conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 12)",
                             (self.rid(r, 12), self.w, r))
                raise psycopg.Rollback()
        self.eq_read("rows after the nested transactions", lambda: self.count(conn, r), (8, 36))

    def step_parameters(self, conn):
        tz = zoneinfo.ZoneInfo(self.expect["TimeZone"])
        moment = datetime.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=datetime.timezone.utc)
        text = "O'Reilly \"quoted\" ; -- % $1 \\ é ✓ 日本"
        values = (42, 2 ** 40, 3.25, decimal.Decimal("12345.678901234567890"), text, None,
                  b"\x00\x01\xfe\xff", datetime.date(2020, 2, 29), moment, [1, 2, 3],
                  Jsonb({"a": [1, "x"], "b": None}), True, datetime.timedelta(days=1, hours=2))
        sql = ("select %s, %s::bigint, %s::float8, %s::numeric, %s::text, %s::int, %s::bytea, "
               "%s::date, %s::timestamptz, %s::int[], %s::jsonb, %s::bool, %s::interval")
        for binary in (False, True, False):
            row = conn.cursor(binary=binary).execute(sql, values).fetchone()
            how = "binary" if binary else "text"
            self.eq(f"int ({how})", row[0], 42)
            self.eq(f"bigint ({how})", row[1], 2 ** 40)
            self.eq(f"float8 ({how})", row[2], 3.25)
            self.eq(f"numeric ({how})", row[3], decimal.Decimal("12345.678901234567890"))
            self.eq(f"text ({how})", row[4], text)
            self.eq(f"null ({how})", row[5], None)
            self.eq(f"bytea ({how})", bytes(row[6]), b"\x00\x01\xfe\xff")
            self.eq(f"date ({how})", row[7], datetime.date(2020, 2, 29))
            self.eq(f"timestamptz instant ({how})", row[8], moment)
            self.eq(f"timestamptz offset ({how}, session time zone)", row[8].utcoffset(),
                    moment.astimezone(tz).utcoffset(), key=("parameters", "timestamptz offset", how))
            self.eq(f"int[] ({how})", row[9], [1, 2, 3])
            self.eq(f"jsonb ({how})", row[10], {"a": [1, "x"], "b": None})
            self.eq(f"bool ({how})", row[11], True)
            self.eq(f"interval ({how})", row[12], datetime.timedelta(days=1, hours=2))
        row = conn.execute("select %(a)s::int + %(b)s::int, %(name)s || '!'",
                           {"a": 40, "b": 2, "name": text}).fetchone()
        self.eq("named parameters", row, (42, text + "!"))

    def prepared_queries(self, r, rows):
        """(sql, params, expected result) with the same texts on every client,
        in an order of each client's own, so that the same driver-made name
        (_pg3_0, ...) means a different statement on different clients."""
        t = self.table
        q = [
            ("select %s::int + 1", lambda i: (i,), lambda i: (i + 1,)),
            ("select %s::text || %s::text", lambda i: ("a", str(i)), lambda i: ("a" + str(i),)),
            (f"select count(*) from {t} where worker = %s and round = %s", lambda i: (self.w, r), lambda i: (rows,)),
            ("select %s::numeric * 2", lambda i: (decimal.Decimal(i) / 4,), lambda i: (decimal.Decimal(i) / 2,)),
            ("select array_length(%s::int[], 1)", lambda i: (list(range(i + 1)),), lambda i: (i + 1,)),
            ("select %s::timestamptz - interval '1 hour'",
             lambda i: (datetime.datetime(2020, 1, 1, i, tzinfo=datetime.timezone.utc),),
             lambda i: (datetime.datetime(2020, 1, 1, i, tzinfo=datetime.timezone.utc) - datetime.timedelta(hours=1),)),
            (f"select id, n from {t} where id = %s", lambda i: (self.rid(r, 10),), lambda i: (self.rid(r, 10), 10)),
            (f"update {t} set n = n where id = %s returning n", lambda i: (self.rid(r, 11),), lambda i: (11,)),
            ("select %s::jsonb ->> 'k'", lambda i: (Jsonb({"k": f"v{i}"}),), lambda i: (f"v{i}",)),
            ("select length(%s::bytea)", lambda i: (bytes(i),), lambda i: (i,)),
            ("select %s::int, %s::int, %s::int", lambda i: (i, -i, self.w), lambda i: (i, -i, self.w)),
            ("select current_setting('application_name')", lambda i: None,
             lambda i: (self.expect["application_name"],)),
        ]
        k = (self.w * 5) % len(q)
        return q[k:] + q[:k]

    def step_prepared(self, conn, r, rows):
        queries = self.prepared_queries(r, rows)
        explicit = self.threshold == 1000
        for loop in range(PREPARED_LOOPS):
            for sql, params, expected in queries:
                got = conn.execute(sql, params(loop), prepare=True if explicit else None).fetchone()
                self.eq(f"prepared {sql!r}", got, expected(loop), key=("prepared", sql))
            if loop == 3:
                # A rollback makes psycopg forget its statements and send
                # DEALLOCATE ALL; they are prepared again under new names.
                with conn.transaction():
                    conn.execute(queries[0][0], queries[0][1](loop), prepare=True)
                    raise psycopg.Rollback()
            if loop == 6:
                try:
                    conn.execute("select 1 / %s::int", (0,), prepare=True)
                    self.true("prepared division by zero fails", False, "no error")
                except psycopg.errors.DivisionByZero:
                    pass
                self.eq("prepared statement after a failed one", conn.execute(
                    "select 1 / %s::int", (1,), prepare=True).fetchone(), (1,))
        names = getattr(getattr(conn, "_prepared", None), "_names", None)
        if names is not None:
            self.true("psycopg holds named prepared statements", len(names) > 0,
                      f"prepare_threshold={self.threshold}: none")
        # The same statements inside a transaction block.
        with conn.transaction():
            for sql, params, expected in queries[:5]:
                got = conn.execute(sql, params(1), prepare=True if explicit else None).fetchone()
                self.eq(f"prepared {sql!r} in a transaction", got, expected(1), key=("prepared tx", sql))

    def step_executemany(self, conn, other, r):
        cur = conn.cursor()
        ins = f"insert into {self.table} (id, worker, round, n, note) values (%s, %s, %s, %s, %s)"
        cur.executemany(ins, [(self.rid(r, k), self.w, r, 1, f"many {k}") for k in range(100, 130)])
        self.eq("executemany rowcount", cur.rowcount, 30)
        with conn.transaction():
            cur.executemany(ins, [(self.rid(r, k), self.w, r, 1, None) for k in range(200, 220)])
        results = []
        with conn.pipeline():
            for k in range(300, 312):
                conn.execute(ins, (self.rid(r, k), self.w, r, 1, "pipeline"))
            c1 = conn.execute(f"select count(*) from {self.table} where worker = %s and round = %s", (self.w, r))
            c2 = conn.execute("select %s::int * 3", (self.w,))
            results = [c1.fetchone(), c2.fetchone()]
        self.eq("results from a pipeline", results, [(70,), (self.w * 3,)])
        self.eq_read("rows after executemany", lambda: self.count(conn, r), (70, 98))
        self.eq_read("rows after executemany, seen by another connection", lambda: self.count(other, r), (70, 98))
        other.commit()

    def step_copy(self, conn, r):
        rows = [(self.rid(r, k), self.w, r, f'note {k}, "quoted" é\tx\\y') for k in range(200)]
        cur = conn.cursor()
        with conn.transaction():
            with cur.copy(f"copy {self.copy_table} (id, worker, round, note) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
        self.eq("rows reported by COPY FROM", cur.rowcount, 200)
        binrows = [(self.rid(r, k), self.w, r, f"bin {k}") for k in range(1000, 1100)]
        with cur.copy(f"copy {self.copy_table} (id, worker, round, note) from stdin (format binary)") as copy:
            copy.set_types(["int4", "int4", "int4", "text"])
            for row in binrows:
                copy.write_row(row)
        with cur.copy(f"copy (select id, worker, round, note from {self.copy_table} where worker = {self.w} "
                      f"and round = {r} and id < {self.rid(r, 1000)} order by id) to stdout") as copy:
            copy.set_types(["int4", "int4", "int4", "text"])
            back = list(copy.rows())
        self.eq("rows from COPY TO", len(back), 200)
        self.true("COPY TO returns what COPY FROM stored", back == rows,
                  f"first row back {back[:1]!r}, sent {rows[:1]!r}")
        with cur.copy(f"copy (select id, worker, round, note from {self.copy_table} where worker = {self.w} "
                      f"and round = {r} and id >= {self.rid(r, 1000)} order by id) to stdout (format binary)") as copy:
            copy.set_types(["int4", "int4", "int4", "text"])
            back = list(copy.rows())
        self.true("binary COPY round trip", back == binrows, f"first row back {back[:1]!r}")
        raw = b"".join(f"{self.rid(r, k)},{self.w},{r},csv {k}\n".encode() for k in range(2000, 2050))
        with cur.copy(f"copy {self.copy_table} (id, worker, round, note) from stdin (format csv)") as copy:
            for i in range(0, len(raw), 333):
                copy.write(raw[i:i + 333])
        self.eq_read("rows in the copy table", lambda: self.count(conn, r, self.copy_table)[0], 350)
        conn.execute(f"delete from {self.copy_table} where worker = %s and round = %s and id >= %s",
                     (self.w, r, self.rid(r, 2025)))
        self.eq_read("rows in the copy table after delete", lambda: self.count(conn, r, self.copy_table)[0],
                COPY_ROWS_PER_ROUND + 25)
        conn.execute(f"delete from {self.copy_table} where worker = %s and round = %s and id >= %s",
                     (self.w, r, self.rid(r, 2000)))

    def step_named_cursor(self, conn, r):
        with conn.transaction():
            with conn.cursor(name=f"nc_{self.w}_{r}") as cur:
                cur.itersize = 16
                cur.execute(f"select id from {self.table} where worker = %s order by id", (self.w,))
                seen = 0
                while True:
                    batch = cur.fetchmany(10)
                    if not batch:
                        break
                    seen += len(batch)
        self.eq("rows read through a server-side cursor", seen, ROWS_PER_ROUND * (r + 1))

    def step_errors(self, conn, r):
        try:
            conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 0)",
                         (self.rid(r, 0), self.w, r))
            self.true("duplicate key raises UniqueViolation", False, "no error")
        except psycopg.errors.UniqueViolation as e:
            self.eq("SQLSTATE of the duplicate", e.sqlstate, "23505")
        self.eq("query after the error", conn.execute("select 1 + 1").fetchone()[0], 2)
        for sql, state in (("selec 1", "42601"), ("select 1 / 0", "22012"),
                           ("select * from no_such_table_here", "42P01")):
            try:
                conn.execute(sql)
                self.true(f"{sql!r} fails", False, "no error")
            except psycopg.Error as e:
                self.eq(f"SQLSTATE of {sql!r}", e.sqlstate, state)
        try:
            with conn.transaction():
                conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 1000)",
                             (self.rid(r, 400), self.w, r))
                conn.execute("select 1 / 0")
        except psycopg.errors.DivisionByZero:
            pass
        try:
            with conn.transaction():
                conn.execute("select 1")
                conn.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 0)",
                             (self.rid(r, 1), self.w, r))
        except psycopg.errors.UniqueViolation:
            pass
        self.eq_read("rows after the failed transactions", lambda: self.count(conn, r), (70, 98))

    def step_set(self, conn):
        conn.execute("set time zone 'Asia/Kolkata'")
        self.expect["TimeZone"] = "Asia/Kolkata"
        for _ in range(3):
            self.verify(conn, label="after SET TIME ZONE")
        with conn.transaction():
            conn.execute("set timezone to 'America/Sao_Paulo'")
            self.verify(conn, expect=dict(self.expect, TimeZone="America/Sao_Paulo"),
                        label="SET inside a transaction")
            raise psycopg.Rollback()
        self.verify(conn, label="SET rolled back")
        with conn.transaction():
            conn.execute("set local time zone 'Pacific/Auckland'")
            self.verify(conn, expect=dict(self.expect, TimeZone="Pacific/Auckland"), label="SET LOCAL")
        self.verify(conn, label="after a transaction with SET LOCAL")
        conn.execute("set datestyle to 'SQL, DMY'")
        conn.execute("set intervalstyle to 'postgres_verbose'")
        conn.execute(pgsql.SQL("set application_name = {}").format(self.app + "-renamed"))
        self.expect.update({"DateStyle": "SQL, DMY", "IntervalStyle": "postgres_verbose",
                            "application_name": self.app + "-renamed"})
        for _ in range(3):
            row = conn.execute("select '2020-06-01'::date::text, '1 day 2 hours'::interval::text").fetchone()
            self.eq("date and interval in the set styles", row, ("01/06/2020", "@ 1 day 2 hours"))
            self.verify(conn, label="after SET DateStyle/IntervalStyle/application_name")
        conn.execute("set datestyle to 'ISO, MDY'")
        conn.execute("set intervalstyle to 'postgres'")
        conn.execute(pgsql.SQL("set time zone {}").format(self.zone))
        self.expect.update({"DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "TimeZone": self.zone})

    def step_encoding(self, conn):
        conn.execute("set client_encoding to 'LATIN1'")
        self.expect["client_encoding"] = "LATIN1"
        self.eq("psycopg's connection encoding", conn.info.encoding, "iso8859-1")
        for _ in range(3):
            row = conn.execute("select %s, length(%s), 'caf\u00e9 \u00fc'::text", ("café", "café")).fetchone()
            self.eq("LATIN1 text both ways", row, ("café", 4, "café ü"))
            self.verify(conn, label="client_encoding LATIN1")
        conn.execute("set client_encoding to 'UTF8'")
        self.expect["client_encoding"] = "UTF8"
        self.eq("UTF8 text again", conn.execute("select %s", ("✓ 日本",)).fetchone()[0], "✓ 日本")

    def step_reset(self, conn):
        conn.execute("set time zone 'Europe/Paris'")
        conn.execute("set application_name = 'changed'")
        conn.execute("reset timezone")
        self.expect.update({"TimeZone": self.zone, "application_name": "changed"})
        self.verify(conn, label="after RESET TimeZone (back to the connect-time value)")
        conn.execute("set time zone 'Europe/Paris'")
        conn.execute("set datestyle = 'German'")
        conn.execute("reset all")
        self.expect = {"TimeZone": self.zone, "application_name": self.app}
        self.verify(conn, label="after RESET ALL (back to the connect-time values)")

    def step_listen(self, conn, other):
        if self.cfg.transaction_mode:
            return  # LISTEN is session state: it would pin the client
        channel = f"ch_{self.cfg.run_id}_{self.w}"
        got = []
        conn.add_notify_handler(lambda n: got.append(n.payload) if n.channel == channel else None)
        conn.execute(f"listen {channel}")
        other.execute("select pg_notify(%s, %s)", (channel, "hello " + str(self.w)))
        other.commit()
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            conn.execute("select 1")
            time.sleep(0.05)
        self.eq("notification payloads", got, ["hello " + str(self.w)])
        conn.execute(f"unlisten {channel}")

    def step_pinned(self, conn):
        """SQL PREPARE follows the client to whichever backend serves it; a
        WITH HOLD cursor is state the client keeps on its server, so in
        transaction mode pggate pins the client to it. Comes last: a pinned
        client keeps a server, and if several did while waiting for another
        connection of theirs, more clients than servers would deadlock."""
        name = f"q_{self.w}"
        conn.execute(f"prepare {name} (int) as select $1 * 2, pg_backend_pid()")
        for i in range(5):
            self.eq("SQL prepared statement result", conn.execute(f"execute {name} ({i})").fetchone()[0], i * 2)
        with conn.cursor(name=f"hold_{self.w}", withhold=True) as hold:
            with conn.transaction():
                hold.execute("select g from generate_series(1, 30) g")
            got = []
            for _ in range(3):
                got += [x[0] for x in hold.fetchmany(10)]
        self.eq("rows of a WITH HOLD cursor read across transactions", got, list(range(1, 31)))
        conn.execute(f"deallocate {name}")
        # set_config() at session level pins too (and is not just a SET).
        conn.execute("select set_config('TimeZone', %s, false)", ("Asia/Kolkata",))
        self.expect["TimeZone"] = "Asia/Kolkata"
        self.verify(conn, label="after set_config(TimeZone)")


def main():
    cfg = parse_args(DRIVER, __doc__.split("\n\n")[0])
    checks = Checks(DRIVER)
    start_watchdog(checks, cfg.timeout)
    table = f"drv_{DRIVER}_{cfg.run_id}"
    who = "main"
    try:
        main_conn = psycopg.connect(cfg.dsn, autocommit=True, application_name=f"{DRIVER}-main")
    except Exception as e:
        checks.exception(who, "connect", e)
        return checks.report()
    main_conn.execute(f"create table {table} (id int primary key, worker int not null, round int not null, "
                      "n int not null, note text)")
    main_conn.execute(f"create table {table}_copy (id int primary key, worker int not null, round int not null, "
                      "n int not null default 0, note text, at timestamptz default now())")
    try:
        clients = [Client(cfg, checks, i, table) for i in range(cfg.clients)]
        threads = [threading.Thread(target=c.run, name=f"client-{c.w}") for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        main = Main(cfg, checks)
        with psycopg.connect(cfg.dsn, autocommit=True, application_name=f"{DRIVER}-totals") as reader:
            def totals(t):
                return lambda: [tuple(x) for x in reader.execute(main.totals_query(t)).fetchall()]
            main.eq_read("rows per client in the main table", totals(table),
                         main.totals_expected(ROWS_PER_ROUND * cfg.rounds))
            main.eq_read("rows per client in the copy table", totals(f"{table}_copy"),
                         main.totals_expected(COPY_ROWS_PER_ROUND * cfg.rounds))
        if cfg.split:
            checks.note(f"reads outside transactions ran on the replicas on ports {replica_ports_seen()}")
        pids = set().union(*(c.pids for c in clients))
        checks.note(f"{cfg.clients} clients x {cfg.rounds} rounds were served by {len(pids)} backends")
    except Exception as e:
        checks.exception(who, "totals", e)
    finally:
        main_conn.execute(f"drop table if exists {table}, {table}_copy")
        main_conn.close()
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
