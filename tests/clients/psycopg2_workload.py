#!/usr/bin/python3
"""A realistic psycopg2 workload: several threads, each with its own
connections, doing DDL, transactions that commit and roll back, savepoints,
typed parameters, executemany/execute_values, COPY both ways, server-side
cursors, errors and recovery, and session settings (application_name and
TimeZone given at connect time, SET/RESET of tracked parameters,
client_encoding), checking after every step that the session still has the
settings it asked for. Exits 0 only when every check passed.

  /usr/bin/python3 tests/clients/psycopg2_workload.py \
      'host=127.0.0.1 port=6432 dbname=postgres user=postgres' --clients 8 --mode transaction
"""

import csv
import datetime
import decimal
import io
import select
import sys
import time
import threading
import zoneinfo

import psycopg2
import psycopg2.errors
import psycopg2.extras

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from workload_common import (SETTINGS_QUERY, WHERE_QUERY, Checks, ClientBase, Main, parse_args, replica_ports_seen,
                             start_watchdog, zone_for)

DRIVER = "psycopg2"
ROWS_PER_ROUND = 67  # rows each client round leaves in the main table
COPY_ROWS_PER_ROUND = 250  # and in the copy table


class Client(ClientBase):
    def __init__(self, cfg, checks, index, table):
        super().__init__(DRIVER, cfg, checks, index, table)

    # ---- helpers ----

    def connect(self, index_offset=0, app=None):
        zone = zone_for(self.w + index_offset)[0]
        return psycopg2.connect(self.cfg.dsn, application_name=app or self.app, options=f"-c TimeZone={zone}")

    def verify(self, conn, in_tx=False, expect=None, label="session settings"):
        """The session's tracked settings are what this client set, whatever
        server answers."""
        expect = expect or self.expect
        cur = conn.cursor()
        cur.execute(SETTINGS_QUERY)
        check = self.check_settings(cur.fetchone(), expect, label)
        cur.execute("show timezone")
        check("show timezone", cur.fetchone()[0], expect["TimeZone"])
        if not in_tx:
            conn.commit()

    def count(self, conn, r, table=None):
        cur = conn.cursor()
        cur.execute(f"select count(*), coalesce(sum(n), 0) from {table or self.table} where worker = %s and round = %s",
                    (self.w, r))
        row = cur.fetchone()
        return row

    # ---- the workload ----

    def round(self, r):
        self.who = f"client {self.w} round {r}"
        self.expect = {"TimeZone": self.zone, "application_name": self.app}
        self.step = "connect"
        try:
            conn = self.connect()
            other = self.connect(index_offset=3, app=self.app + "-peer")
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
            ("savepoint", lambda: self.step_savepoint(conn, r)),
            ("parameters", lambda: self.step_parameters(conn)),
            ("executemany", lambda: self.step_executemany(conn, other, r)),
            ("copy", lambda: self.step_copy(conn, r)),
            ("server-side cursor", lambda: self.step_named_cursor(conn, r)),
            ("errors", lambda: self.step_errors(conn, r)),
            ("SET tracked parameters", lambda: self.step_set(conn)),
            ("client_encoding", lambda: self.step_encoding(conn)),
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
                    fn()
                    self.checks.timed(self.who, name, started)
                    if name not in ("startup settings", "peer settings"):
                        self.step = name + " (settings after)"
                        self.verify(conn)
                except Exception as e:
                    self.checks.exception(self.who, self.step, e)
                    if conn.closed:
                        return
                    try:
                        conn.rollback()
                    except Exception as e2:
                        self.checks.exception(self.who, self.step + " (rollback after error)", e2)
                        return
        finally:
            conn.close()
            other.close()

    def step_where(self, conn):
        """Before this connection writes anything: psycopg2 opens a
        transaction for every statement, which runs on the primary; in
        autocommit, and in read-only transactions, reads run on replicas when
        pggate splits them."""
        cur = conn.cursor()
        cur.execute(WHERE_QUERY)
        self.eq("a read in psycopg2's implicit transaction ran on the primary", cur.fetchone()[0], False)
        conn.commit()
        conn.autocommit = True
        try:
            rows = []
            for _ in range(4):
                cur.execute(WHERE_QUERY)
                rows.append(cur.fetchone())
            self.check_where(rows, "autocommit")
        finally:
            conn.autocommit = False
        conn.set_session(readonly=True)
        try:
            cur.execute(WHERE_QUERY)
            self.eq("a read in a read-only transaction ran on a replica", cur.fetchone()[0], self.cfg.split)
            conn.commit()
        finally:
            conn.set_session(readonly=False)

    def step_ddl(self, conn, r):
        t = f"{self.table}_w{self.w}_r{r}"
        cur = conn.cursor()
        cur.execute(f"create table {t} (k int primary key, v text not null)")
        cur.execute(f"insert into {t} select g, 'v' || g from generate_series(1, 10) g")
        conn.commit()
        cur.execute(f"alter table {t} add column w int not null default {self.w}")
        cur.execute(f"create index on {t} (v)")
        conn.commit()
        cur.execute(f"select count(*), sum(k), min(w), max(w) from {t}")
        self.eq("rows in the new table", cur.fetchone(), (10, 55, self.w, self.w))
        conn.commit()
        cur.execute(f"drop table {t}")
        conn.commit()
        cur.execute("select to_regclass(%s)", (t,))
        self.eq("table gone after drop", cur.fetchone()[0], None)
        conn.commit()

    def step_commit(self, conn, other, r):
        cur = conn.cursor()
        for k in range(5):
            cur.execute(f"insert into {self.table} (id, worker, round, n, note) values (%s, %s, %s, %s, %s)",
                        (self.rid(r, k), self.w, r, k, f"commit {k}"))
        self.verify(conn, in_tx=True, label="inside a transaction")
        conn.commit()
        self.eq_read("rows after commit", lambda: self.count(conn, r), (5, 10))
        conn.commit()
        self.eq_read("rows after commit, seen by another connection", lambda: self.count(other, r), (5, 10))
        other.commit()

    def step_rollback(self, conn, other, r):
        cur = conn.cursor()
        for k in range(5, 10):
            cur.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, %s)",
                        (self.rid(r, k), self.w, r, k))
        self.eq_read("rows inside the transaction", lambda: self.count(conn, r), (10, 45))
        conn.rollback()
        self.eq_read("rows after rollback", lambda: self.count(conn, r), (5, 10))
        conn.commit()
        self.eq_read("rows after rollback, seen by another connection", lambda: self.count(other, r), (5, 10))
        other.commit()

    def step_savepoint(self, conn, r):
        cur = conn.cursor()
        cur.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 10)",
                    (self.rid(r, 10), self.w, r))
        cur.execute("savepoint s1")
        try:
            cur.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 10)",
                        (self.rid(r, 10), self.w, r))
            self.true("duplicate key inside a savepoint raises UniqueViolation", False, "no error")
        except psycopg2.errors.UniqueViolation as e:
            self.eq("SQLSTATE of the duplicate", e.pgcode, "23505")
        cur.execute("rollback to savepoint s1")
        cur.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 11)",
                    (self.rid(r, 11), self.w, r))
        conn.commit()
        self.eq_read("rows after the savepoint transaction", lambda: self.count(conn, r), (7, 31))
        conn.commit()

    def step_parameters(self, conn):
        tz = zoneinfo.ZoneInfo(self.expect["TimeZone"])
        moment = datetime.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=datetime.timezone.utc)
        text = "O'Reilly \"quoted\" ; -- % \\ é ✓ 日本"
        values = (42, 2 ** 40, 3.25, decimal.Decimal("12345.678901234567890"), text, None,
                  b"\x00\x01\xfe\xff", datetime.date(2020, 2, 29), moment, [1, 2, 3],
                  psycopg2.extras.Json({"a": [1, "x"], "b": None}), True)
        cur = conn.cursor()
        for _ in range(3):
            cur.execute("select %s, %s::bigint, %s::float8, %s::numeric, %s::text, %s::int, %s::bytea, "
                        "%s::date, %s::timestamptz, %s::int[], %s::jsonb, %s::bool", values)
            row = cur.fetchone()
            self.eq("int", row[0], 42)
            self.eq("bigint", row[1], 2 ** 40)
            self.eq("float8", row[2], 3.25)
            self.eq("numeric", row[3], decimal.Decimal("12345.678901234567890"))
            self.eq("text", row[4], text)
            self.eq("null", row[5], None)
            self.eq("bytea", bytes(row[6]), b"\x00\x01\xfe\xff")
            self.eq("date", row[7], datetime.date(2020, 2, 29))
            self.eq("timestamptz instant", row[8], moment)
            self.eq("timestamptz offset (session time zone)", row[8].utcoffset(), moment.astimezone(tz).utcoffset(),
                    key=("parameters", "timestamptz offset"))
            self.eq("int[]", row[9], [1, 2, 3])
            self.eq("jsonb", row[10], {"a": [1, "x"], "b": None})
            self.eq("bool", row[11], True)
            conn.commit()
        cur.execute("select %(a)s::int + %(b)s::int, %(name)s || '!'", {"a": 40, "b": 2, "name": text})
        self.eq("named parameters", cur.fetchone(), (42, text + "!"))
        conn.commit()

    def step_executemany(self, conn, other, r):
        cur = conn.cursor()
        ins = f"insert into {self.table} (id, worker, round, n, note) values (%s, %s, %s, %s, %s)"
        cur.executemany(ins, [(self.rid(r, k), self.w, r, 1, f"many {k}") for k in range(100, 120)])
        psycopg2.extras.execute_values(
            cur, f"insert into {self.table} (id, worker, round, n, note) values %s",
            [(self.rid(r, k), self.w, r, 1, f"values {k}") for k in range(200, 220)], page_size=7)
        psycopg2.extras.execute_batch(cur, ins, [(self.rid(r, k), self.w, r, 1, None) for k in range(300, 320)],
                                      page_size=6)
        conn.commit()
        self.eq_read("rows after executemany", lambda: self.count(conn, r), (67, 91))
        conn.commit()
        self.eq_read("rows after executemany, seen by another connection", lambda: self.count(other, r), (67, 91))
        other.commit()

    def step_copy(self, conn, r):
        rows = [(str(self.rid(r, k)), str(self.w), str(r), f'note {k}, "quoted" é\tx') for k in range(200)]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        buf.seek(0)
        cur = conn.cursor()
        cur.copy_expert(f"copy {self.copy_table} (id, worker, round, note) from stdin with (format csv)", buf)
        self.eq("rows reported by COPY FROM", cur.rowcount, 200)
        tab = io.StringIO("".join(f"{self.rid(r, k)}\t{self.w}\t{r}\ttab {k}\n" for k in range(1000, 1050)))
        cur.copy_from(tab, self.copy_table, columns=("id", "worker", "round", "note"))
        conn.commit()
        out = io.StringIO()
        cur.copy_expert(f"copy (select id, worker, round, note from {self.copy_table} "
                        f"where worker = {self.w} and round = {r} and id < {self.rid(r, 1000)} order by id) "
                        "to stdout with (format csv)", out)
        back = list(csv.reader(io.StringIO(out.getvalue())))
        self.eq("rows from COPY TO", len(back), 200)
        self.true("COPY TO returns what COPY FROM stored", [tuple(x) for x in back] == rows,
                  f"first row back {back[:1]!r}, sent {rows[:1]!r}")
        out = io.StringIO()
        cur.copy_expert(f"copy (select note from {self.copy_table} where worker = {self.w} and round = {r} "
                        f"and id >= {self.rid(r, 1000)} order by id) to stdout", out)
        self.eq("COPY TO text rows", out.getvalue().splitlines(), [f"tab {k}" for k in range(1000, 1050)])
        conn.commit()
        self.eq_read("rows in the copy table", lambda: self.count(conn, r, self.copy_table)[0], COPY_ROWS_PER_ROUND)
        conn.commit()

    def step_named_cursor(self, conn, r):
        cur = conn.cursor(name=f"nc_{self.w}_{r}")
        cur.itersize = 16
        cur.execute(f"select id from {self.table} where worker = %s order by id", (self.w,))
        seen = 0
        while True:
            batch = cur.fetchmany(10)
            if not batch:
                break
            seen += len(batch)
        cur.close()
        conn.commit()
        self.eq("rows read through a server-side cursor", seen, ROWS_PER_ROUND * (r + 1))

    def step_errors(self, conn, r):
        cur = conn.cursor()
        try:
            cur.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 0)",
                        (self.rid(r, 0), self.w, r))
            self.true("duplicate key raises UniqueViolation", False, "no error")
        except psycopg2.errors.UniqueViolation as e:
            self.eq("SQLSTATE of the duplicate", e.pgcode, "23505")
        try:
            cur.execute("select 1")
            self.true("a failed transaction refuses statements", False, "no error")
        except psycopg2.errors.InFailedSqlTransaction as e:
            self.eq("SQLSTATE in the failed transaction", e.pgcode, "25P02")
        conn.rollback()
        cur.execute("select 1 + 1")
        self.eq("query after the error", cur.fetchone()[0], 2)
        conn.commit()
        for sql, state in (("selec 1", "42601"), ("select 1 / 0", "22012"),
                           ("select * from no_such_table_here", "42P01")):
            try:
                cur.execute(sql)
                self.true(f"{sql!r} fails", False, "no error")
            except psycopg2.Error as e:
                self.eq(f"SQLSTATE of {sql!r}", e.pgcode, state)
            conn.rollback()
        cur.execute(f"insert into {self.table} (id, worker, round, n) values (%s, %s, %s, 1000)",
                    (self.rid(r, 400), self.w, r))
        try:
            cur.execute("select 1 / 0")
        except psycopg2.errors.DivisionByZero:
            pass
        conn.rollback()
        self.eq_read("rows after the failed transactions", lambda: self.count(conn, r), (67, 91))
        conn.commit()

    def step_set(self, conn):
        cur = conn.cursor()
        cur.execute("set time zone 'Asia/Kolkata'")
        conn.commit()
        self.expect["TimeZone"] = "Asia/Kolkata"
        for _ in range(3):
            self.verify(conn, label="after SET TIME ZONE")
        cur.execute("set timezone to 'America/Sao_Paulo'")
        self.verify(conn, in_tx=True, expect=dict(self.expect, TimeZone="America/Sao_Paulo"),
                    label="SET inside a transaction")
        conn.rollback()
        self.verify(conn, label="SET rolled back")
        cur.execute("set datestyle to 'SQL, DMY'")
        cur.execute("set intervalstyle to 'postgres_verbose'")
        cur.execute("set application_name to %s", (self.app + "-renamed",))
        conn.commit()
        self.expect.update({"DateStyle": "SQL, DMY", "IntervalStyle": "postgres_verbose",
                            "application_name": self.app + "-renamed"})
        for _ in range(3):
            cur.execute("select '2020-06-01'::date::text, '1 day 2 hours'::interval::text")
            self.eq("date and interval in the set styles", cur.fetchone(), ("01/06/2020", "@ 1 day 2 hours"))
            conn.commit()
            self.verify(conn, label="after SET DateStyle/IntervalStyle/application_name")
        cur.execute("set datestyle to 'ISO, MDY'")
        cur.execute("set intervalstyle to 'postgres'")
        cur.execute("set time zone %s", (self.zone,))
        conn.commit()
        self.expect.update({"DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "TimeZone": self.zone})

    def step_encoding(self, conn):
        conn.set_client_encoding("LATIN1")
        self.expect["client_encoding"] = "LATIN1"
        cur = conn.cursor()
        for _ in range(3):
            cur.execute("select %s, length(%s), 'caf\u00e9 \u00fc'::text", ("café", "café"))
            self.eq("LATIN1 text both ways", cur.fetchone(), ("café", 4, "café ü"))
            conn.commit()
            self.verify(conn, label="client_encoding LATIN1")
        conn.set_client_encoding("UTF8")
        self.expect["client_encoding"] = "UTF8"
        cur.execute("select %s", ("✓ 日本",))
        self.eq("UTF8 text again", cur.fetchone()[0], "✓ 日本")
        conn.commit()

    def step_reset(self, conn):
        cur = conn.cursor()
        cur.execute("set time zone 'Europe/Paris'")
        cur.execute("set application_name = 'changed'")
        conn.commit()
        cur.execute("reset timezone")
        conn.commit()
        self.expect.update({"TimeZone": self.zone, "application_name": "changed"})
        self.verify(conn, label="after RESET TimeZone (back to the connect-time value)")
        cur.execute("set time zone 'Europe/Paris'")
        cur.execute("set datestyle = 'German'")
        conn.commit()
        cur.execute("reset all")
        conn.commit()
        self.expect = {"TimeZone": self.zone, "application_name": self.app}
        self.verify(conn, label="after RESET ALL (back to the connect-time values)")

    def step_listen(self, conn, other):
        if self.cfg.transaction_mode:
            return  # LISTEN is session state: it would pin the client
        conn.autocommit = True
        try:
            channel = f"ch_{self.cfg.run_id}_{self.w}"
            conn.cursor().execute(f"listen {channel}")
            other.cursor().execute("select pg_notify(%s, %s)", (channel, "hello " + str(self.w)))
            other.commit()
            got = []
            deadline = 10.0
            while not got and deadline > 0:
                if select.select([conn], [], [], 0.5) != ([], [], []):
                    conn.poll()
                    got = [n.payload for n in conn.notifies if n.channel == channel]
                deadline -= 0.5
            self.eq("notification payloads", got, ["hello " + str(self.w)])
            conn.cursor().execute(f"unlisten {channel}")
        finally:
            conn.autocommit = False

    def step_pinned(self, conn):
        """SQL PREPARE follows the client to whichever backend serves it; a
        WITH HOLD cursor is state the client keeps on its server, so in
        transaction mode pggate pins the client to it. Comes last: a pinned
        client keeps a server, and if several did while waiting for another
        connection of theirs, more clients than servers would deadlock."""
        cur = conn.cursor()
        name = f"q_{self.w}"
        cur.execute(f"prepare {name} (int) as select $1 * 2, pg_backend_pid()")
        conn.commit()
        for i in range(5):
            cur.execute(f"execute {name} (%s)", (i,))
            self.eq("SQL prepared statement result", cur.fetchone()[0], i * 2)
            conn.commit()
        hold = conn.cursor(name=f"hold_{self.w}", withhold=True)
        hold.execute("select g from generate_series(1, 30) g")
        conn.commit()
        got = []
        for _ in range(3):
            got += [x[0] for x in hold.fetchmany(10)]
            conn.commit()
        self.eq("rows of a WITH HOLD cursor read across transactions", got, list(range(1, 31)))
        hold.close()
        cur.execute(f"deallocate {name}")
        conn.commit()


def main():
    cfg = parse_args(DRIVER, __doc__.split("\n\n")[0])
    checks = Checks(DRIVER)
    start_watchdog(checks, cfg.timeout)
    table = f"drv_{DRIVER}_{cfg.run_id}"
    who = "main"
    try:
        main_conn = psycopg2.connect(cfg.dsn, application_name=f"{DRIVER}-main")
    except Exception as e:
        checks.exception(who, "connect", e)
        return checks.report()
    cur = main_conn.cursor()
    cur.execute(f"create table {table} (id int primary key, worker int not null, round int not null, "
                "n int not null, note text)")
    cur.execute(f"create table {table}_copy (id int primary key, worker int not null, round int not null, "
                "n int not null default 0, note text, at timestamptz default now())")
    main_conn.commit()
    try:
        clients = [Client(cfg, checks, i, table) for i in range(cfg.clients)]
        threads = [threading.Thread(target=c.run, name=f"client-{c.w}") for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        main = Main(cfg, checks)
        reader = psycopg2.connect(cfg.dsn, application_name=f"{DRIVER}-totals")
        reader.autocommit = True
        try:
            def totals(t):
                def read():
                    c = reader.cursor()
                    c.execute(main.totals_query(t))
                    return c.fetchall()
                return read
            main.eq_read("rows per client in the main table", totals(table),
                         main.totals_expected(ROWS_PER_ROUND * cfg.rounds))
            main.eq_read("rows per client in the copy table", totals(f"{table}_copy"),
                         main.totals_expected(COPY_ROWS_PER_ROUND * cfg.rounds))
        finally:
            reader.close()
        if cfg.split:
            checks.note(f"reads outside transactions ran on the replicas on ports {replica_ports_seen()}")
        pids = set().union(*(c.pids for c in clients))
        checks.note(f"{cfg.clients} clients x {cfg.rounds} rounds were served by {len(pids)} backends")
    except Exception as e:
        checks.exception(who, "totals", e)
        main_conn.rollback()
    finally:
        cur.execute(f"drop table if exists {table}, {table}_copy")
        main_conn.commit()
        main_conn.close()
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
