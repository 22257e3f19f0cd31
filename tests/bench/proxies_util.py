#!/usr/bin/python3
"""Helpers of tests/bench/proxies.sh, the proxy benchmark: CPU time and
memory of a process tree read from /proc, one pgbench run turned into a
result row (TPS, latency average and p99 from its per-transaction log, CPU
per transaction), the idle-connections memory test, and the Markdown report
spliced into docs/benchmarks.md.

    proxies_util.py cpu PID...
    proxies_util.py tree PID...
    proxies_util.py mem PID...
    proxies_util.py result OUT ERR LOGPREFIX RC CPU_BEFORE CPU_AFTER
    proxies_util.py idle DSN COUNT PID...
    proxies_util.py report WORKDIR OUTFILE
    proxies_util.py splice DOC SECTION

Run it with Debian's interpreter (/usr/bin/python3), which sees
python3-psycopg2.
"""

import glob
import json
import math
import os
import resource
import selectors
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
BEGIN_MARK = "<!-- bench-proxies:begin -->"
END_MARK = "<!-- bench-proxies:end -->"


# ---- /proc ---------------------------------------------------------------

def read_stat(pid):
    """(ppid, ticks) of a process, ticks = utime+stime+cutime+cstime; None
    once it is gone. The command name may hold spaces and parentheses, so
    the fields are counted from the last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
    ppid = int(fields[1])
    ticks = sum(int(x) for x in fields[11:15])
    return ppid, ticks


def process_tree(roots):
    """The roots and all their descendants that are alive now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = read_stat(entry)
        if st is not None:
            children.setdefault(st[0], []).append(int(entry))
    seen, todo = [], [int(r) for r in roots]
    while todo:
        pid = todo.pop()
        if pid in seen or not os.path.exists(f"/proc/{pid}"):
            continue
        seen.append(pid)
        todo.extend(children.get(pid, []))
    return seen


def tree_ticks(roots):
    """CPU ticks of a process tree. A child that exited and was reaped is
    in its parent's cutime/cstime, so nothing is lost or counted twice."""
    total = 0
    for pid in process_tree(roots):
        st = read_stat(pid)
        if st is not None:
            total += st[1]
    return total


def tree_memory(roots):
    """(sum of VmRSS, sum of Pss, processes) of a tree, in kB. RSS counts
    shared pages (the binary, shared memory) once per process; PSS shares
    them out, so its sum is the tree's real footprint."""
    rss = pss = n = 0
    for pid in process_tree(roots):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            pass
    return rss, pss, n


# ---- one pgbench run -------------------------------------------------------

def parse_pgbench(out_text):
    """tps, transactions, failed transactions and (with -C) the average
    connection time in ms, from pgbench's summary; None where it is missing."""
    tps = tx = failed = conn = None
    for line in out_text.splitlines():
        line = line.strip()
        if line.startswith("tps = "):
            tps = float(line.split()[2])
        elif line.startswith("number of transactions actually processed:"):
            tx = int(line.split(":")[1].split()[0])
        elif line.startswith("number of failed transactions:"):
            failed = int(line.split(":")[1].split()[0])
        elif line.startswith("average connection time = "):
            conn = float(line.split()[4])
    return tps, tx, failed, conn


def logins_hint(out_text):
    """Why a run that pgbench did not fail can have no transaction: its
    clients were still logging in when the duration ran out."""
    clients = duration = None
    for line in out_text.splitlines():
        line = line.strip()
        if line.startswith("number of clients:"):
            clients = line.split(":")[1].strip()
        elif line.startswith("duration:"):
            duration = line.split(":")[1].strip()
    if clients and duration:
        return f" in {duration}: the logins of {clients} clients took longer than that"
    return ""


def pgbench_errors(err_text):
    """(error lines, the one that says best what went wrong): a client's
    abort first, else the first error."""
    lines = [" ".join(l.split()) for l in err_text.splitlines()
             if ("error" in l.lower() or "fatal" in l.lower()) and "results are incomplete" not in l]
    aborted = [l for l in lines if "aborted" in l]
    best = (aborted or lines or [""])[0]
    return len(lines), best[:300]


def log_latencies(prefix):
    """Per-transaction latencies in µs from pgbench -l files PREFIX.<pid>[.<thread>]
    (third field of each line: the transaction's time)."""
    values = []
    for path in glob.glob(glob.escape(prefix) + ".*"):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    values.append(int(parts[2]))
    return values


def percentile(sorted_values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the
    values at or below it."""
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def cmd_result(out_path, err_path, prefix, rc, cpu_before, cpu_after):
    """Prints, tab-separated: status tps transactions lat_avg_ms lat_p99_ms
    cpu_us_per_tx connect_ms errors message ('-' for what does not apply).
    status is failed when pgbench says the run failed (exit status, failed
    or no transactions), errors counts the error lines it printed anyway."""
    with open(out_path, errors="replace") as f:
        out_text = f.read()
    with open(err_path, errors="replace") as f:
        err_text = f.read()
    tps, tx, failed, conn = parse_pgbench(out_text)
    nerr, message = pgbench_errors(err_text)
    lat = sorted(log_latencies(prefix))
    status = "ok"
    if int(rc) != 0 or tps is None or not tx:
        status = "failed"
        if not message and int(rc) == 0:
            message = "no transaction was processed" + logins_hint(out_text)
        message = message or f"pgbench exited with status {rc}"
    elif failed:
        status = "failed"
        message = f"{failed} failed transactions; {message}"
    avg = f"{statistics.fmean(lat) / 1000:.3f}" if lat else "-"
    p99 = f"{percentile(lat, 99) / 1000:.3f}" if lat else "-"
    cpu = "-"
    if cpu_before != "-" and cpu_after != "-" and tx:
        cpu = f"{(int(cpu_after) - int(cpu_before)) / CLK_TCK * 1e6 / tx:.2f}"
    fields = [status, f"{tps:.1f}" if tps is not None else "-", str(tx) if tx is not None else "-",
              avg, p99, cpu, f"{conn:.3f}" if conn is not None else "-", str(nerr),
              message.replace("\t", " ")]
    print("\t".join(fields))


# ---- idle connections ------------------------------------------------------

def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def open_idle(dsn, count, parallel=64):
    """Opens COUNT connections (PARALLEL logins in flight at once) and
    returns (open connections, errors, first error)."""
    import psycopg2
    import psycopg2.extensions as ext

    sel = selectors.DefaultSelector()
    done, errors, first = [], 0, ""
    pending, started = 0, 0

    def step(conn):
        nonlocal pending, errors, first
        try:
            state = conn.poll()
        except psycopg2.Error as e:
            pending -= 1
            errors += 1
            first = first or " ".join(str(e).split())
            try:
                sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()
            return
        if state == ext.POLL_OK:
            pending -= 1
            sel.unregister(conn)
            done.append(conn)
            return
        events = selectors.EVENT_READ if state == ext.POLL_READ else selectors.EVENT_WRITE
        try:
            sel.modify(conn, events)
        except KeyError:
            sel.register(conn, events)

    deadline = time.monotonic() + 600
    while (started < count or pending) and time.monotonic() < deadline:
        while started < count and pending < parallel:
            started += 1
            try:
                conn = psycopg2.connect(dsn, async_=1)
            except psycopg2.Error as e:
                errors += 1
                first = first or " ".join(str(e).split())
                continue
            pending += 1
            sel.register(conn, selectors.EVENT_WRITE)
            step(conn)
        for key, _ in sel.select(timeout=1.0):
            step(key.fileobj)
    if pending:
        errors += pending
        first = first or "logins still pending after 600 s"
    return done, errors, first


def cmd_idle(dsn, count, roots):
    """Prints one JSON object: the proxy tree's memory before, with COUNT idle
    clients, and after they left."""
    count = int(count)
    raise_nofile(count + 100)
    import psycopg2
    # One login first, so that what the first client makes once (a server
    # connection, caches) is in the baseline and not in the per-client figure.
    psycopg2.connect(dsn).close()
    time.sleep(1.0)
    before = tree_memory(roots)
    start = time.monotonic()
    conns, errors, first = open_idle(dsn, count)
    elapsed = time.monotonic() - start
    time.sleep(2.0)
    during = tree_memory(roots)
    for c in conns:
        c.close()
    time.sleep(2.0)
    after = tree_memory(roots)
    print(json.dumps({
        "requested": count, "opened": len(conns), "errors": errors, "first_error": first,
        "seconds": round(elapsed, 1),
        "rss_before": before[0], "pss_before": before[1], "procs_before": before[2],
        "rss_idle": during[0], "pss_idle": during[1], "procs_idle": during[2],
        "rss_after": after[0], "pss_after": after[1],
    }))


# ---- report ----------------------------------------------------------------

PROXY_LABELS = {
    "direct": "direct",
    "pggate": "pggate",
    "pgbouncer": "PgBouncer",
    "pgbouncer2": "PgBouncer ×2",
    "pgpool": "Pgpool-II",
    "pggate-split": "pggate, split",
    "pgpool-lb": "Pgpool-II, LB",
}
PROXY_ORDER = list(PROXY_LABELS)
WORKLOAD_LABELS = {
    "select-simple": "pgbench -S, -M simple",
    "select-extended": "pgbench -S, -M extended",
    "select-prepared": "pgbench -S, -M prepared",
    "tpcb": "pgbench TPC-B (default script), -M simple",
    "connect": "pgbench -C -S, -M simple (a new connection and SCRAM login per transaction)",
}
WORKLOAD_ORDER = list(WORKLOAD_LABELS)


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def read_results(path):
    """{(section, proxy, workload, clients): [run dicts]} from results.tsv."""
    cells = {}
    if not os.path.exists(path):
        return cells
    num = lambda v, t: None if v == "-" else t(v)
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 14:
                continue
            section, proxy, workload, clients, _rep = p[:5]
            status, tps, tx, avg, p99, cpu, conn, nerr, msg = p[5:14]
            cells.setdefault((section, proxy, workload, int(clients)), []).append({
                "status": status, "tps": num(tps, float), "tx": num(tx, int), "avg": num(avg, float),
                "p99": num(p99, float), "cpu": num(cpu, float), "conn": num(conn, float),
                "errors": int(nerr), "msg": msg})
    return cells


def summarize(runs):
    """A cell's figures: medians over its runs when every run worked;
    otherwise what failed."""
    ok = [r for r in runs if r["status"] == "ok"]
    s = {"n": len(runs), "ok": len(ok)}
    if not runs or len(ok) != len(runs):
        bad = [r for r in runs if r["status"] != "ok"]
        s["msg"] = bad[0]["msg"] if bad else "no run"
        return s

    def med(key):
        vals = [r[key] for r in ok if r[key] is not None]
        return statistics.median(vals) if vals else None
    s.update(tps=med("tps"), avg=med("avg"), p99=med("p99"), cpu=med("cpu"), conn=med("conn"),
             lo=min(r["tps"] for r in ok), hi=max(r["tps"] for r in ok),
             errors=sum(r["errors"] for r in ok),
             msg=next((r["msg"] for r in ok if r["errors"]), ""))
    return s


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}".replace(",", " ") if digits == 0 else f"{v:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def cmd_report(workdir, outfile):
    meta = read_meta(os.path.join(workdir, "meta.env"))
    cells = read_results(os.path.join(workdir, "results.tsv"))
    summary = {k: summarize(v) for k, v in cells.items()}
    runs, secs = meta.get("runs", "?"), meta.get("seconds", "?")
    smoke = meta.get("smoke") == "1"
    out = []
    w = out.append
    w(BEGIN_MARK)
    w("<!-- Written by tests/bench/proxies.sh; everything up to the end mark is replaced by its next run. -->")
    w("")
    title = f"### Measured on {meta.get('date', '?')}"
    if smoke:
        title = f"### Smoke run of {meta.get('date', '?')} (not a measurement)"
    w(title)
    w("")
    if smoke:
        w(f"**BENCH_SECONDS={secs}, BENCH_RUNS={runs}"
          + (", on a reduced matrix" if meta.get("reduced") == "1" else "")
          + ": this run only shows that the harness works. Its figures are not measurements** "
          "(a measurement takes at least 10 s and 3 runs per figure, on a quiet machine).")
        w("")
    w(f"Machine: {meta.get('nproc', '?')} CPUs (`nproc`), `/proc/cpuinfo` model name "
      f"\"{meta.get('cpu', '?')}\", {meta.get('mem', '?')} memory, kernel {meta.get('kernel', '?')}, "
      f"Debian {meta.get('debian', '?')}. Load average (1, 5, 15 min) at the start: "
      f"{meta.get('load_start', '?')}; at the end: {meta.get('load_end', '?')}.")
    w("")
    w(f"Software: {meta.get('pg_version', '?')}; {meta.get('pgbench_version', '?')}; "
      f"{meta.get('pggate_version', '?')} (commit {meta.get('commit', '?')}); "
      f"{meta.get('pgbouncer_version', '?')}; {meta.get('pgpool_version', '?')}.")
    w("")
    each = (f"each figure is the median of {runs} runs of {secs} s" if runs != "1"
            else f"each figure is from one run of {secs} s")
    w(f"Run: `{meta.get('command', 'make bench-proxies')}`: {each} (after a {meta.get('warmup', '?')} s warm-up run that is not "
      f"counted), `pgbench -j 2 -n`, pgbench scale {meta.get('scale', '?')}, pool size "
      f"{meta.get('pool_size', '?')} server connections, SCRAM-SHA-256 logins everywhere. "
      f"Client counts {meta.get('clients', '?')} for every workload"
      + (f", also {meta['many_clients']} for {meta['many_workloads']}"
         if meta.get("many_clients") and meta.get("many_workloads") else "") + ".")
    w("")
    w("The proxies (their files are at the end):")
    w("")
    w(f"- **pggate**: a master, 2 worker processes (one libevent loop each) and a health "
      f"process; transaction pooling with one pool of {meta.get('pool_size', '?')} server "
      "connections that all workers share; clients log in with SCRAM against an auth_file "
      "holding the role's SCRAM secret, and pggate logs in to PostgreSQL with the same secret; "
      "metrics off; `read_write_split = off` (on in the routing run).")
    w(f"- **PgBouncer**: one process, one event loop; transaction pooling, pool of "
      f"{meta.get('pool_size', '?')}, SCRAM with the same secret in its auth_file. "
      f"**PgBouncer ×2**: two such processes on the same port (`so_reuseport = 1`, a Unix "
      f"socket directory and pidfile each), whose pools are separate: "
      f"{meta.get('bouncer2_pool', '?')} server connections each, so the same "
      f"{meta.get('pool_size', '?')} in all.")
    w(f"- **Pgpool-II**: a process per client. {meta.get('pgpool_children', '?')} children "
      "(`num_init_children`: 10 more than the most clients of any run) each serve one client "
      "connection at a time and keep its server connection for the next client "
      "(`connection_cache`, `max_pool = 1`), so it holds up to one server connection per "
      "child instead of a fixed pool; a client beyond the children waits in the listen "
      "queue. It is connection pooling only (raw mode, no load balancing), apart from the "
      "routing run. Clients log in with SCRAM (pool_hba.conf), but pool_passwd must hold "
      "the password itself (plain text here): Pgpool-II cannot log in to PostgreSQL with "
      "a SCRAM secret, and so derives the SCRAM keys from the password at every login.")
    w("")
    notes = []

    def table(section, workload):
        rows = sorted((k for k in summary if k[0] == section and k[2] == workload),
                      key=lambda k: (k[3], PROXY_ORDER.index(k[1]) if k[1] in PROXY_ORDER else 99))
        if not rows:
            return
        wl_label = WORKLOAD_LABELS.get(workload, workload)
        w(f"#### {wl_label}" + (" — routing run (primary + 1 replica)" if section == "routing" else ""))
        w("")
        connect = workload == "connect"
        head = ["clients", "proxy", "TPS", "TPS min–max", "vs direct", "vs PgBouncer",
                "latency avg ms", "latency p99 ms"] + (["connection ms"] if connect else []) + ["proxy CPU µs/tx"]
        w("| " + " | ".join(head) + " |")
        w("|--:|---|" + "--:|" * (len(head) - 2))
        for k in rows:
            s = summary[k]
            label = PROXY_LABELS.get(k[1], k[1])
            if "tps" not in s:
                notes.append(f"{label}, {wl_label}, {k[3]} clients: {s['n'] - s['ok']} of {s['n']} "
                             f"runs failed; pgbench said: `{s['msg']}`")
                w(f"| {k[3]} | {label} | **failed** [{len(notes)}] |" + " |" * (len(head) - 3))
                continue
            mark = ""
            if s["errors"]:
                why = ""
                if "already exists" in s["msg"]:
                    why = (" (pgbench names its statements alike in every connection, so a client "
                           "that gets a server where another client prepared them runs them: "
                           "the run finishes although the pooler does not follow prepared "
                           "statements)")
                notes.append(f"{label}, {wl_label}, {k[3]} clients: every run finished, but pgbench "
                             f"printed {s['errors']} error lines, such as `{s['msg']}`{why}")
                mark = f" [{len(notes)}]"
            direct = summary.get(("primary", "direct", workload, k[3]), {}).get("tps")
            bouncer = summary.get(("primary", "pgbouncer", workload, k[3]), {}).get("tps")
            spread = f"{fmt(s['lo'])}–{fmt(s['hi'])}" if s["n"] > 1 else "—"
            cells_ = [str(k[3]), label, fmt(s["tps"]) + mark, spread,
                      "—" if k[1] == "direct" else ratio(s["tps"], direct),
                      "—" if k[1] == "pgbouncer" else ratio(s["tps"], bouncer),
                      fmt(s["avg"], 3), fmt(s["p99"], 3)]
            if connect:
                cells_.append(fmt(s["conn"], 3))
            cells_.append("—" if k[1] == "direct" else fmt(s["cpu"], 1))
            w("| " + " | ".join(cells_) + " |")
        w("")

    for wl in WORKLOAD_ORDER + sorted({k[2] for k in summary} - set(WORKLOAD_ORDER)):
        table("primary", wl)
    if any(k[0] == "routing" for k in summary):
        w("Routing run: a streaming replica joins the primary; pggate splits reads from "
          "writes (`read_write_split = on`), Pgpool-II balances reads with the replica's "
          "weight 1 and the primary's 0, so both send every read they can to the replica. "
          "\"vs direct\" and \"vs PgBouncer\" compare with the primary-only runs above.")
        w("")
        for wl in WORKLOAD_ORDER:
            table("routing", wl)
    if notes:
        w("Notes:")
        w("")
        for i, n in enumerate(notes, 1):
            w(f"{i}. {n}")
        w("")

    idle_path = os.path.join(workdir, "idle.jsonl")
    if os.path.exists(idle_path):
        w(f"#### Memory with idle clients")
        w("")
        w("Sums over all the proxy's processes, in MB; per client: (with clients − before) / "
          "clients opened, in kB. RSS counts shared pages once per process; PSS divides them "
          "between the processes that share them.")
        w("")
        w("| proxy | clients opened | processes | RSS before | RSS with clients | RSS per client kB | PSS before | PSS with clients | PSS per client kB | PSS after they left | login time s |")
        w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        with open(idle_path) as f:
            for line in f:
                proxy, data = line.split("\t", 1)
                d = json.loads(data)
                label = PROXY_LABELS.get(proxy, proxy)
                n = d["opened"]
                per_rss = (d["rss_idle"] - d["rss_before"]) / n if n else None
                per_pss = (d["pss_idle"] - d["pss_before"]) / n if n else None
                opened = f"{n} of {d['requested']}"
                w(f"| {label} | {opened} | {d['procs_idle']} | {d['rss_before'] / 1024:.1f} | "
                  f"{d['rss_idle'] / 1024:.1f} | {fmt(per_rss, 1)} | {d['pss_before'] / 1024:.1f} | "
                  f"{d['pss_idle'] / 1024:.1f} | {fmt(per_pss, 1)} | {d['pss_after'] / 1024:.1f} | "
                  f"{d['seconds']} |")
                if d["errors"]:
                    w(f"| | {d['errors']} logins failed: `{d['first_error'][:200]}` | | | | | | | | | |")
        w("")

    confdir = os.path.join(workdir, "report-conf")
    if os.path.isdir(confdir):
        w("#### Configurations of this run")
        w("")
        w("Exactly the files the run used, with the password and the SCRAM secret replaced "
          "by placeholders; the ports are picked free at each run.")
        w("")
        for name in sorted(os.listdir(confdir)):
            with open(os.path.join(confdir, name)) as f:
                text = f.read().rstrip("\n")
            w(f"<details><summary>{name}</summary>")
            w("")
            w("```ini" if name.endswith((".ini", ".conf")) and "hba" not in name else "```")
            w(text)
            w("```")
            w("")
            w("</details>")
            w("")
    w(END_MARK)
    with open(outfile, "w") as f:
        f.write("\n".join(out) + "\n")


def cmd_splice(doc, section_path):
    """Replaces the text between the marks in DOC by SECTION (appends it when
    DOC has no marks yet); the rest of DOC stays as it is."""
    with open(section_path) as f:
        section = f.read()
    with open(doc) as f:
        text = f.read()
    b, e = text.find(BEGIN_MARK), text.find(END_MARK)
    if b >= 0 and e > b:
        text = text[:b] + section.rstrip("\n") + text[e + len(END_MARK):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    if not text.endswith("\n"):
        text += "\n"
    tmp = doc + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, doc)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "cpu":
        print(tree_ticks(args))
    elif cmd == "tree":
        print(" ".join(str(p) for p in process_tree(args)))
    elif cmd == "mem":
        print("%d %d %d" % tree_memory(args))
    elif cmd == "result" and len(args) == 6:
        cmd_result(*args)
    elif cmd == "idle" and len(args) >= 3:
        cmd_idle(args[0], args[1], args[2:])
    elif cmd == "report" and len(args) == 2:
        cmd_report(*args)
    elif cmd == "splice" and len(args) == 2:
        cmd_splice(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
