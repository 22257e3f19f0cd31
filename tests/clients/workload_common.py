"""Shared parts of the driver workloads in tests/clients: the command line,
libpq-style DSN parsing, the failure log every check writes to, what every
client keeps and checks of its session, and a watchdog so that a hung
workload ends with a report instead of a stuck test.

Run the workloads with Debian's interpreter (/usr/bin/python3), which sees
the python3-psycopg2, python3-psycopg and python3-asyncpg packages.
"""

import argparse
import faulthandler
import os
import secrets
import sys
import threading
import time
import traceback

# Time zones the clients ask for at connect time (never the server default,
# Etc/UTC, so a setting that did not reach the server cannot pass), with what
# PostgreSQL prints for '2020-06-01 12:00:00+00'::timestamptz in each.
ZONES = [
    ("Asia/Tokyo", "2020-06-01 21:00:00+09"),
    ("America/New_York", "2020-06-01 08:00:00-04"),
    ("Europe/Paris", "2020-06-01 14:00:00+02"),
    ("Australia/Sydney", "2020-06-01 22:00:00+10"),
    ("Asia/Kolkata", "2020-06-01 17:30:00+05:30"),
    ("America/Sao_Paulo", "2020-06-01 09:00:00-03"),
    ("Pacific/Auckland", "2020-06-02 00:00:00+12"),
    ("America/Los_Angeles", "2020-06-01 05:00:00-07"),
]
# (to_char, so that DateStyle does not change the text).
TS_PROBE = "to_char('2020-06-01 12:00:00+00'::timestamptz, 'YYYY-MM-DD HH24:MI:SSOF')"
# The session settings a client checks after every step, and its backend.
SETTINGS_QUERY = ("select current_setting('TimeZone'), current_setting('application_name'), "
                  f"{TS_PROBE}, current_setting('DateStyle'), current_setting('IntervalStyle'), "
                  "current_setting('client_encoding'), pg_backend_pid()")


def zone_for(index):
    return ZONES[index % len(ZONES)]


def zone_text(zone):
    for name, text in ZONES:
        if name == zone:
            return text
    raise KeyError(zone)


# ---- DSN --------------------------------------------------------------------


def parse_dsn(dsn):
    """A libpq keyword/value string ("host=h port=5 password='a b'") as a dict."""
    out = {}
    i, n = 0, len(dsn)
    while i < n:
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n:
            break
        eq = dsn.find("=", i)
        if eq < 0:
            raise ValueError(f"missing '=' after {dsn[i:]!r} in the DSN")
        key = dsn[i:eq].strip()
        i = eq + 1
        while i < n and dsn[i].isspace():
            i += 1
        value = []
        if i < n and dsn[i] == "'":
            i += 1
            while i < n and dsn[i] != "'":
                if dsn[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(dsn[i])
                i += 1
            if i >= n:
                raise ValueError("unterminated quoted value in the DSN")
            i += 1
        else:
            while i < n and not dsn[i].isspace():
                if dsn[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(dsn[i])
                i += 1
        out[key] = "".join(value)
    return out


def dsn_string(params):
    """The inverse of parse_dsn."""
    parts = []
    for key, value in params.items():
        value = str(value)
        if value == "" or any(c.isspace() or c in "'\\" for c in value):
            value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        parts.append(f"{key}={value}")
    return " ".join(parts)


class Config:
    def __init__(self, args, params):
        self.params = params  # the DSN as a dict
        self.dsn = dsn_string(params)
        self.clients = args.clients
        self.rounds = args.rounds
        self.mode = args.mode
        self.timeout = args.timeout
        self.split = args.split
        self.run_id = f"{os.getpid()}_{secrets.token_hex(3)}"

    @property
    def transaction_mode(self):
        return self.mode == "transaction"


def parse_args(driver, description):
    p = argparse.ArgumentParser(prog=f"{driver}_workload.py", description=description)
    p.add_argument("dsn", nargs="?", default="",
                   help="libpq keyword/value connection string, e.g. 'host=127.0.0.1 port=6432 "
                        "dbname=postgres user=postgres'")
    p.add_argument("--host", help="overrides host in the DSN")
    p.add_argument("--port", help="overrides port in the DSN")
    p.add_argument("--dbname", help="overrides dbname in the DSN")
    p.add_argument("--user", help="overrides user in the DSN")
    p.add_argument("--clients", type=int, default=8, help="concurrent connections (default 8)")
    p.add_argument("--rounds", type=int, default=3,
                   help="connections each client opens one after the other (default 3)")
    p.add_argument("--mode", choices=["transaction", "session", "direct"], default="transaction",
                   help="how the server side is pooled; LISTEN is only tried outside transaction mode")
    p.add_argument("--split", action="store_true",
                   help="pggate splits reads from writes: reads outside a transaction are expected on replicas")
    p.add_argument("--timeout", type=float, default=240,
                   help="seconds before the workload gives up and reports (default 240)")
    args = p.parse_args()
    try:
        params = parse_dsn(args.dsn)
    except ValueError as e:
        p.error(str(e))
    for key in ("host", "port", "dbname", "user"):
        if getattr(args, key):
            params[key] = getattr(args, key)
    params.setdefault("connect_timeout", "20")
    return Config(args, params)


# ---- failures ---------------------------------------------------------------


class Checks:
    """Every check of every client, thread-safe. Failures are grouped by
    (step, message) so one recurring problem is printed once with a count."""

    def __init__(self, driver):
        self.driver = driver
        self._lock = threading.Lock()
        self._failures = {}  # (step, message) -> [count, first client]
        self._order = []
        self.passed = 0
        self.notes = []

    def fail(self, who, step, message, key=None):
        """key groups failures that are one problem (default: step and message)."""
        key = key or (step, message)
        with self._lock:
            if key not in self._failures:
                self._failures[key] = [0, who, step, message]
                self._order.append(key)
                print(f"FAIL {self.driver} [{who}] {step}: {message}", file=sys.stderr, flush=True)
            self._failures[key][0] += 1

    def ok(self):
        with self._lock:
            self.passed += 1

    def note(self, text):
        with self._lock:
            self.notes.append(text)

    def timed(self, who, step, started, slow=2.0):
        """Notes a step that took more than `slow` seconds (from time.monotonic() `started`)."""
        took = time.monotonic() - started
        if took > slow:
            self.note(f"slow: [{who}] {step} took {took:.1f} s")

    def eq(self, who, step, what, actual, expected, key=None):
        if actual == expected:
            self.ok()
            return True
        self.fail(who, step, f"{what}: expected {expected!r}, got {actual!r}", key)
        return False

    def true(self, who, step, what, condition, detail=""):
        if condition:
            self.ok()
            return True
        self.fail(who, step, f"{what}{': ' + detail if detail else ''}")
        return False

    def exception(self, who, step, exc):
        tb = traceback.extract_tb(exc.__traceback__)
        where = ""
        for frame in reversed(tb):
            if frame.filename.endswith("_workload.py"):
                where = f" (line {frame.lineno}: {frame.line})"
                break
        sqlstate = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
        state = f" SQLSTATE {sqlstate}" if sqlstate else ""
        text = str(exc).strip().replace("\n", " | ")
        self.fail(who, step, f"unexpected {type(exc).__module__}.{type(exc).__name__}{state}: {text}{where}")

    def failed(self):
        with self._lock:
            return bool(self._failures)

    def report(self):
        with self._lock:
            for note in self.notes:
                print(f"note: {note}")
            if not self._failures:
                print(f"{self.driver}: all {self.passed} checks passed")
                return 0
            total = sum(v[0] for v in self._failures.values())
            print(f"{self.driver}: {total} failed checks ({len(self._failures)} distinct), {self.passed} passed:")
            for key in self._order:
                count, who, step, message = self._failures[key]
                print(f"  FAIL [{who}] {step}: {message}" + (f"  (x{count})" if count > 1 else ""))
            return 1


# ---- reads that may run on replicas ------------------------------------------


# Where a read ran, and the server's port (both listed in pggate's
# read_only_functions, so they do not make a read look like a write).
WHERE_QUERY = "select pg_is_in_recovery(), inet_server_port()"
# How long a read through a replica may take to show what another connection
# committed (replication on loopback takes milliseconds).
REPLICA_WAIT = 15


_NOT_YET = object()  # what a read that failed while waiting for a replica stands for


class ReadChecks:
    """The checks of reads that read-write splitting may send to a replica,
    shared by ClientBase and the workloads' main functions."""

    def check_where(self, rows, label):
        """rows: WHERE_QUERY results of reads outside a transaction on a
        connection that has written nothing yet. With splitting they all ran
        on replicas, otherwise all on the primary."""
        on_replica = [bool(r[0]) for r in rows]
        self.eq(f"{label}: reads ran on a replica", on_replica, [self.cfg.split] * len(rows),
                key=("where", label))
        if self.cfg.split:
            self.note_ports(r[1] for r in rows)

    def note_ports(self, ports):
        with _ports_lock:
            _replica_ports.update(ports)

    def eq_read(self, what, read, expected, key=None):
        """Checks the result of read() against `expected`. With splitting the
        read may run on a replica that has not yet replayed a commit of
        another connection (or reach the other replica next time): it is
        asked again until it agrees, for REPLICA_WAIT seconds at most; an
        error (a table the replica does not have yet) counts as not yet."""
        if not self.cfg.split:
            return self.eq(what, read(), expected, key)
        deadline = time.monotonic() + REPLICA_WAIT
        while True:
            try:
                actual = read()
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                actual = _NOT_YET
            if actual == expected or time.monotonic() >= deadline:
                return self.eq(what, actual, expected, key)
            time.sleep(0.02)

    async def eq_read_async(self, what, read, expected, key=None):
        """eq_read for a coroutine function `read` (asyncpg)."""
        import asyncio
        if not self.cfg.split:
            return self.eq(what, await read(), expected, key)
        deadline = time.monotonic() + REPLICA_WAIT
        while True:
            try:
                actual = await read()
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                actual = _NOT_YET
            if actual == expected or time.monotonic() >= deadline:
                return self.eq(what, actual, expected, key)
            await asyncio.sleep(0.02)

    def totals_query(self, table):
        """Rows per client of `table`, and where they were read."""
        return f"select pg_is_in_recovery(), worker, count(*) from {table} group by worker order by worker"

    def totals_expected(self, per_client):
        return [(self.cfg.split, w, per_client) for w in range(self.cfg.clients)]


class Main(ReadChecks):
    """The checks the main function of a workload makes, as client "main"."""

    def __init__(self, cfg, checks, step="totals"):
        self.cfg = cfg
        self.checks = checks
        self.who = "main"
        self.step = step

    def eq(self, what, actual, expected, key=None):
        return self.checks.eq(self.who, self.step, what, actual, expected, key)


_ports_lock = threading.Lock()
_replica_ports = set()


def replica_ports_seen():
    """The server ports of every read that check_where saw on a replica."""
    with _ports_lock:
        return sorted(_replica_ports)


# ---- clients ----------------------------------------------------------------


class ClientBase(ReadChecks):
    """What every workload client keeps (its index, tables, the settings it
    expects) and the checks it reports through, with the step it is in."""

    def __init__(self, driver, cfg, checks, index, table):
        self.cfg = cfg
        self.checks = checks
        self.w = index
        self.table = table
        self.copy_table = table + "_copy"
        self.app = f"{driver}-w{index}"
        self.zone = zone_for(index)[0]
        self.expect = {}
        self.who = ""
        self.step = ""
        self.pids = set()

    def eq(self, what, actual, expected, key=None):
        return self.checks.eq(self.who, self.step, what, actual, expected, key)

    def true(self, what, cond, detail=""):
        return self.checks.true(self.who, self.step, what, cond, detail)

    def rid(self, r, k):
        return self.w * 100000 + r * 10000 + k

    def run(self):
        try:
            for r in range(self.cfg.rounds):
                self.round(r)
        except Exception as e:  # a bug in the workload itself
            self.checks.exception(f"client {self.w}", "client thread", e)

    def check_settings(self, row, expect, label):
        """Compares a SETTINGS_QUERY row with `expect`, and returns the check
        function for the driver's own further checks. One problem shows in
        every later step, so failures group by label and setting."""
        tz, app, ts, datestyle, intervalstyle, encoding, pid = row
        self.pids.add(pid)

        def check(setting, actual, expected):
            self.eq(f"{label}: {setting}", actual, expected, key=("settings", label, setting.split(" ")[0]))
        check("TimeZone", tz, expect["TimeZone"])
        check("application_name", app, expect["application_name"])
        check(f"timestamptz text in {expect['TimeZone']}", ts, zone_text(expect["TimeZone"]))
        check("DateStyle", datestyle, expect.get("DateStyle", "ISO, MDY"))
        check("IntervalStyle", intervalstyle, expect.get("IntervalStyle", "postgres"))
        check("client_encoding", encoding, expect.get("client_encoding", "UTF8"))
        return check


def start_watchdog(checks, seconds):
    """Ends the process with a report (and every thread's stack) when the
    workload is still running after `seconds`."""

    def expire():
        print(f"TIMEOUT: {checks.driver} workload still running after {seconds:g} s; stacks:",
              file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        checks.fail("main", "timeout", f"workload did not finish within {seconds:g} s")
        checks.report()
        sys.stdout.flush()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer
