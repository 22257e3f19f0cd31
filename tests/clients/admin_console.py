"""Talks to pggate's admin console with psycopg 3 (extended protocol, and a
transaction it opens on its own) and prints what it saw, a line per check,
for tests/integration/test_admin.cpp to judge."""
import sys

import psycopg

conninfo = sys.argv[1]
with psycopg.connect(conninfo, autocommit=True) as conn:
    cur = conn.cursor()
    cur.execute("SHOW POOLS")
    print("columns:", ",".join(d.name for d in cur.description))
    for row in cur.fetchall():
        print("pool:", row[0], row[1], "sv_active=%d" % row[6], "node=%s" % row[16])
    for _ in range(2):  # prepared the second time
        cur.execute("show nodes", prepare=True)
        print("nodes:", len(cur.fetchall()))
    try:
        cur.execute("show nonsense")
    except psycopg.Error as e:
        print("error:", e.sqlstate)
    cur.execute("show version")
    print("version:", cur.fetchone()[0])
with psycopg.connect(conninfo) as conn:  # not autocommit: psycopg sends BEGIN first
    print("in transaction:", conn.execute("show lists").fetchone()[0])
