#!/usr/bin/env bash
# The proxy benchmark (`make bench-proxies`): on one machine and in one run,
# the same pgbench workloads against a direct connection to a throwaway
# PostgreSQL primary, pggate, PgBouncer (one process and two sharing the
# port) and Pgpool-II, then a routing run with a streaming replica, then
# memory with idle clients; the results go into docs/benchmarks.md.
# docs/benchmarks.md says what it measures; the environment variables below
# change the matrix. Everything it starts it stops, and its temporary
# directory goes, also when it is interrupted.
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd -P)
pgcluster="$repo/tests/harness/pgcluster.sh"
python=/usr/bin/python3
util=("$python" "$repo/tests/bench/proxies_util.py")
pggate_bin=${PGGATE:-$repo/pggate}

seconds=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-3}
warmup=${BENCH_WARMUP:-2}
scale=${BENCH_SCALE:-10}
pool_size=${BENCH_POOL_SIZE:-20}
proxies=${BENCH_PROXIES-direct pggate pgbouncer pgbouncer2 pgpool}
workloads=${BENCH_WORKLOADS-select-simple select-extended select-prepared tpcb connect}
clients_all=${BENCH_CLIENTS-1 32}
many_clients=${BENCH_MANY_CLIENTS-500}
many_workloads=${BENCH_MANY_WORKLOADS-select-simple connect}
route_proxies=${BENCH_ROUTE_PROXIES-pggate-split pgpool-lb}
route_workloads=${BENCH_ROUTE_WORKLOADS-select-simple tpcb}
route_clients=${BENCH_ROUTE_CLIENTS-32}
idle_conns=${BENCH_IDLE_CONNS:-10000}
idle_proxies=${BENCH_IDLE_PROXIES-pggate pgbouncer}
report=${BENCH_REPORT:-$repo/docs/benchmarks.md}
out=${BENCH_OUT:-$repo/build/bench/proxies}

prog=bench-proxies
w=
job_pid=
running_pids=()
running_sig=

say() { echo "$prog: $*"; }
die() {
  echo "$prog: $*" >&2
  exit 1
}

for v in seconds runs scale pool_size idle_conns; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_${v^^} must be a positive number (is '${!v}')"
done
[[ "$warmup" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a number of seconds (is '$warmup')"
for p in $proxies; do
  case $p in direct | pggate | pgbouncer | pgbouncer2 | pgpool) ;; *) die "unknown proxy in BENCH_PROXIES: $p" ;; esac
done
for p in $route_proxies; do
  case $p in pggate-split | pgpool-lb) ;; *) die "unknown proxy in BENCH_ROUTE_PROXIES: $p" ;; esac
done
for p in $idle_proxies; do
  case $p in pggate | pgbouncer) ;; *) die "unknown proxy in BENCH_IDLE_PROXIES: $p" ;; esac
done
for x in $workloads $many_workloads $route_workloads; do
  case $x in select-simple | select-extended | select-prepared | tpcb | connect) ;; *) die "unknown workload: $x" ;; esac
done
for c in $clients_all $many_clients $route_clients; do
  [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "bad client count: $c"
done

# ---- tools -------------------------------------------------------------------

is_root() { [ "$(id -u)" -eq 0 ]; }

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    echo "$PG_BINDIR"
    return
  fi
  local dirs
  dirs=(/usr/lib/postgresql/*/bin)
  printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

needs() {
  local p
  for p in $proxies $route_proxies $idle_proxies; do
    [[ "$p" == "$1"* ]] && return 0
  done
  return 1
}

# The poolers come from Debian's packages. They are installed here, not by
# contrib/install-deps.sh, because only this benchmark needs them.
ensure_packages() {
  local missing=()
  needs pgbouncer && [ ! -x /usr/sbin/pgbouncer ] && missing+=(pgbouncer)
  needs pgpool && [ ! -x /usr/sbin/pgpool ] && missing+=(pgpool2)
  "$python" -c 'import psycopg2' 2>/dev/null || missing+=(python3-psycopg2)
  command -v setpriv >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! is_root; then
    die "missing packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]}) and run again"
  fi
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$out/apt.log" 2>&1; then
    apt-get update -q >>"$out/apt.log" 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$out/apt.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed (see $out/apt.log)"
  fi
  # Where the packages' own services were started (systemd), they would
  # hold the default ports for nothing: the benchmark runs its own.
  local svc
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for svc in pgbouncer pgpool2; do
      if systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" && systemctl disable --quiet "$svc" &&
          say "stopped and disabled the $svc service its package started (the benchmark runs its own)"
      fi
    done
  fi
}

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
  return 1
}

# Six consecutive free ports below the ephemeral range, so that the clients'
# own ports never take one of them.
pick_ports() {
  local base n ok
  for _ in $(seq 100); do
    base=$((20000 + RANDOM % 12000))
    ok=1
    for ((n = 0; n < 6; n++)); do
      if port_taken $((base + n)); then
        ok=0
        break
      fi
    done
    if [ $ok -eq 1 ]; then
      pport=$base rport=$((base + 1)) gate_port=$((base + 2)) bouncer_port=$((base + 3))
      pgpool_port=$((base + 4)) pcp_port=$((base + 5))
      return 0
    fi
  done
  die "found no six free consecutive ports in 20000-32000"
}

# ---- processes -----------------------------------------------------------------

pids_alive() {
  local p
  for p in "$@"; do
    kill -0 "$p" 2>/dev/null && return 0
  done
  return 1
}

# Stops the proxy processes in running_pids: running_sig to the roots (each
# proxy's own fast shutdown), SIGKILL to whatever of their trees is left
# after 15 s.
stop_running() {
  [ ${#running_pids[@]} -eq 0 ] && return 0
  local tree p
  tree=$("${util[@]}" tree "${running_pids[@]}")
  kill -"$running_sig" "${running_pids[@]}" 2>/dev/null
  for _ in $(seq 150); do
    pids_alive "${running_pids[@]}" || break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  pids_alive $tree && kill -KILL $tree 2>/dev/null
  for p in "${running_pids[@]}"; do wait "$p" 2>/dev/null; done
  running_pids=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$job_pid" ]; then
    kill -TERM "$job_pid" 2>/dev/null
    wait "$job_pid" 2>/dev/null
  fi
  stop_running
  if [ -n "$w" ] && [ -d "$w" ]; then
    [ -f "$w/pg/primary.log" ] && tail -n 2000 "$w/pg/primary.log" >"$out/logs/postgresql-primary.log"
    [ -f "$w/pg/replica1.log" ] && tail -n 2000 "$w/pg/replica1.log" >"$out/logs/postgresql-replica1.log"
    "$pgcluster" destroy "$w/pg" >/dev/null || echo "$prog: could not remove the PostgreSQL cluster in $w/pg" >&2
    rm -rf "$w"
  fi
  exit "$rc"
}

# Runs a command in the background and waits for it, so that a signal
# reaches the trap at once (and the trap stops the command).
run_job() {
  "$@" &
  job_pid=$!
  wait "$job_pid"
  local rc=$?
  job_pid=
  return $rc
}

# PgBouncer refuses to run as root: as root the poolers run as the postgres
# system user. setpriv execs the pooler, so $! of "${as_pg[@]}" cmd & is the
# pooler itself.
as_pg=()
is_root && as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)

give_to_postgres() {
  if is_root; then chown -R postgres:postgres "$1"; fi
}

# SQL on the primary as the superuser, over its Unix socket.
psql_primary() {
  "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$w/pg" -p "$pport" -U postgres -d "${2:-postgres}" -c "$1"
}

# Waits until a login as bench through 127.0.0.1:$1 works while the proxy
# runs; $2 names it, $3 is its log.
wait_ready() {
  for _ in $(seq 300); do
    if "$bindir/psql" -X -q -A -t -h 127.0.0.1 -p "$1" -U bench -d bench -c 'select 1' >/dev/null 2>&1; then
      return 0
    fi
    if [ ${#running_pids[@]} -gt 0 ] && ! pids_alive "${running_pids[@]}"; then
      break
    fi
    sleep 0.1
  done
  echo "$prog: $2 does not answer on 127.0.0.1:$1" >&2
  [ -f "$3" ] && tail -n 20 "$3" >&2
  return 1
}

# ---- the cluster -------------------------------------------------------------

setup_cluster() {
  "$pgcluster" start "$w/pg" "$pport" || die "starting PostgreSQL failed"
  # Enough server connections for every client of the direct runs and every
  # Pgpool-II child; shared_buffers holds the pgbench tables.
  local maxconn=$((max_clients + 200))
  [ $maxconn -lt 700 ] && maxconn=700
  psql_primary "alter system set max_connections = $maxconn" >/dev/null &&
    psql_primary "alter system set shared_buffers = '256MB'" >/dev/null || die "configuring PostgreSQL failed"
  "$pgcluster" stop "$w/pg" && "$pgcluster" start "$w/pg" "$pport" || die "restarting PostgreSQL failed"

  password=$("$python" -c 'import secrets; print(secrets.token_hex(12))')
  export PGPASSWORD=$password
  psql_primary "set password_encryption = 'scram-sha-256'; create role bench login password '$password'" >/dev/null &&
    psql_primary "create database bench owner bench" >/dev/null || die "creating the bench role and database failed"
  secret=$(psql_primary "select rolpassword from pg_authid where rolname = 'bench'")
  [[ "$secret" == SCRAM-SHA-256* ]] || die "the bench role has no SCRAM secret"

  # The bench role logs in with SCRAM over TCP, directly and through every
  # proxy; the superuser (setup, health checks) keeps trust.
  cat >"$w/pg/primary/pg_hba.conf" <<EOF
# pg_hba.conf of the proxy benchmark (tests/bench/proxies.sh)
# TYPE  DATABASE     USER   ADDRESS       METHOD
local   all          all                  trust
host    all          bench  127.0.0.1/32  scram-sha-256
host    all          all    127.0.0.1/32  trust
local   replication  all                  trust
host    replication  all    127.0.0.1/32  trust
EOF
  psql_primary "select pg_reload_conf()" >/dev/null || die "reloading pg_hba.conf failed"
  cp "$w/pg/primary/pg_hba.conf" "$out/report-conf/pg_hba.conf"

  say "pgbench -i -s $scale"
  "$pgbench" -i -q -s "$scale" -h "$w/pg" -p "$pport" -U bench bench >"$w/pgbench-init.log" 2>&1 ||
    { tail -n 5 "$w/pgbench-init.log" >&2; die "pgbench -i failed"; }
  psql_primary "checkpoint" >/dev/null
}

add_replica() {
  "$pgcluster" start "$w/pg" "$pport" "$rport" || return 1
  # Caught up with the primary before any read goes to it.
  local lsn
  lsn=$(psql_primary "select pg_current_wal_lsn()")
  for _ in $(seq 300); do
    [ "$("$bindir/psql" -X -q -A -t -h "$w/pg" -p "$rport" -U postgres -d postgres \
      -c "select pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  return 1
}

# What pgbench does before a run without -n, but directly on the primary
# rather than through the proxy.
reset_tpcb() {
  "$bindir/psql" -X -q -h "$w/pg" -p "$pport" -U postgres -d bench -c "vacuum pgbench_branches" \
    -c "vacuum pgbench_tellers" -c "truncate pgbench_history" >/dev/null
}

# ---- proxies -------------------------------------------------------------------

# Keeps a copy of a configuration file for the report, without the secrets.
keep_conf() {
  local text
  text=$(<"$1")
  text=${text//"$secret"/<SCRAM secret of bench>}
  text=${text//"$password"/<password of bench>}
  text=${text//"$w"/<tmp>}
  printf '%s\n' "$text" >"$out/report-conf/$2"
}

write_pggate_conf() { # dir split
  local d=$1 split=$2
  mkdir -p "$d"
  printf '"bench" "%s"\n' "$secret" >"$d/auth_file"
  cat >"$d/pggate.ini" <<EOF
; pggate for the proxy benchmark (written by tests/bench/proxies.sh)
[pggate]
listen_addr = 127.0.0.1
listen_port = $gate_port
listen_backlog = 4096
unix_socket_dir = $d
workers = 2
max_client_conn = $max_client_conn
pool_mode = transaction
default_pool_size = $pool_size
auth_type = scram-sha-256
auth_file = $d/auth_file
metrics_port = 0
logfile = $d/pggate.log
pidfile = $d/pggate.pid
health_check_user = postgres
server_tls_sslmode = disable
read_write_split = $split

[nodes]
primary = host=127.0.0.1 port=$pport role=primary
EOF
  if [ "$split" = on ]; then
    echo "replica = host=127.0.0.1 port=$rport role=replica" >>"$d/pggate.ini"
  fi
}

start_pggate() { # split
  local d="$w/pggate-$1" name=pggate.ini
  write_pggate_conf "$d" "$1"
  [ "$1" = on ] && name=pggate-split.ini
  keep_conf "$d/pggate.ini" "$name"
  keep_conf "$d/auth_file" "pggate-auth_file"
  "$pggate_bin" -t "$d/pggate.ini" >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; return 1; }
  "$pggate_bin" "$d/pggate.ini" >"$d/stderr.log" 2>&1 &
  running_pids=($!)
  running_sig=INT
  proxy_port=$gate_port
  wait_ready "$gate_port" pggate "$d/pggate.log"
}

write_pgbouncer_conf() { # dir pool reuseport
  local d=$1
  mkdir -p "$d"
  printf '"bench" "%s"\n' "$secret" >"$d/userlist.txt"
  cat >"$d/pgbouncer.ini" <<EOF
; PgBouncer for the proxy benchmark (written by tests/bench/proxies.sh)
[databases]
bench = host=127.0.0.1 port=$pport dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
listen_backlog = 4096
unix_socket_dir = $d
so_reuseport = $3
pidfile = $d/pgbouncer.pid
logfile = $d/pgbouncer.log
auth_type = scram-sha-256
auth_file = $d/userlist.txt
pool_mode = transaction
default_pool_size = $2
max_client_conn = $max_client_conn
server_tls_sslmode = disable
log_connections = 0
log_disconnections = 0
EOF
  give_to_postgres "$d"
}

start_pgbouncer() { # processes
  local n=$1 i d pool=$pool_size reuse=0
  if [ "$n" -gt 1 ]; then
    pool=$((pool_size / n))
    [ $pool -lt 1 ] && pool=1
    reuse=1
  fi
  running_pids=()
  running_sig=TERM
  for ((i = 1; i <= n; i++)); do
    d="$w/pgbouncer$n-$i"
    write_pgbouncer_conf "$d" "$pool" "$reuse"
    "${as_pg[@]}" /usr/sbin/pgbouncer "$d/pgbouncer.ini" >"$d/stderr.log" 2>&1 &
    running_pids+=($!)
  done
  if [ "$n" -eq 1 ]; then
    keep_conf "$w/pgbouncer1-1/pgbouncer.ini" pgbouncer.ini
    keep_conf "$w/pgbouncer1-1/userlist.txt" pgbouncer-userlist.txt
  else
    keep_conf "$w/pgbouncer$n-1/pgbouncer.ini" "pgbouncer-x$n-process-1.ini"
    echo "; the other processes: the same with <tmp>/pgbouncer$n-2 ... in place of <tmp>/pgbouncer$n-1" \
      >>"$out/report-conf/pgbouncer-x$n-process-1.ini"
  fi
  proxy_port=$bouncer_port
  wait_ready "$bouncer_port" PgBouncer "$w/pgbouncer$n-1/pgbouncer.log" || return 1
  # Both processes must be listening before the run starts.
  for ((i = 1; i <= n; i++)); do
    for _ in $(seq 100); do
      [ -S "$w/pgbouncer$n-$i/.s.PGSQL.$bouncer_port" ] && break
      sleep 0.1
    done
    [ -S "$w/pgbouncer$n-$i/.s.PGSQL.$bouncer_port" ] || { say "PgBouncer process $i is not listening"; return 1; }
  done
}

write_pgpool_conf() { # dir lb
  local d=$1
  mkdir -p "$d"
  printf 'bench:TEXT%s\n' "$password" >"$d/pool_passwd"
  : >"$d/pcp.conf"
  cat >"$d/pool_hba.conf" <<EOF
# pool_hba.conf of the proxy benchmark
local   all  all                  trust
host    all  bench  127.0.0.1/32  scram-sha-256
host    all  all    127.0.0.1/32  trust
EOF
  local mode=raw lb=off
  [ "$2" = on ] && mode=streaming_replication lb=on
  cat >"$d/pgpool.conf" <<EOF
# Pgpool-II for the proxy benchmark (written by tests/bench/proxies.sh):
# connection pooling; load balancing only in the routing run.
backend_clustering_mode = '$mode'
listen_addresses = '127.0.0.1'
port = $pgpool_port
socket_dir = '$d'
pcp_listen_addresses = ''
pcp_port = $pcp_port
pcp_socket_dir = '$d'
wd_ipc_socket_dir = '$d'
listen_backlog_multiplier = 2
serialize_accept = off
reserved_connections = 0
backend_hostname0 = '127.0.0.1'
backend_port0 = $pport
backend_weight0 = $([ "$2" = on ] && echo 0 || echo 1)
backend_flag0 = 'DISALLOW_TO_FAILOVER'
enable_pool_hba = on
pool_passwd = 'pool_passwd'
ssl = off
num_init_children = $pgpool_children
max_pool = 1
child_life_time = 0
child_max_connections = 0
connection_life_time = 0
client_idle_limit = 0
connection_cache = on
load_balance_mode = $lb
health_check_period = 0
sr_check_period = $([ "$2" = on ] && echo 10 || echo 0)
sr_check_user = 'postgres'
sr_check_password = ''
failover_on_backend_error = off
use_watchdog = off
memory_cache_enabled = off
log_destination = 'stderr'
logging_collector = off
log_connections = off
log_min_messages = warning
logdir = '$d'
pid_file_name = '$d/pgpool.pid'
EOF
  if [ "$2" = on ]; then
    cat >>"$d/pgpool.conf" <<EOF
backend_hostname1 = '127.0.0.1'
backend_port1 = $rport
backend_weight1 = 1
backend_flag1 = 'DISALLOW_TO_FAILOVER'
EOF
  fi
  give_to_postgres "$d"
}

start_pgpool() { # lb
  local d="$w/pgpool-$1" name=pgpool.conf
  write_pgpool_conf "$d" "$1"
  [ "$1" = on ] && name=pgpool-lb.conf
  keep_conf "$d/pgpool.conf" "$name"
  [ "$1" = off ] && keep_conf "$d/pool_hba.conf" pgpool-pool_hba.conf && keep_conf "$d/pool_passwd" pgpool-pool_passwd
  "${as_pg[@]}" /usr/sbin/pgpool -n -D -f "$d/pgpool.conf" -F "$d/pcp.conf" -a "$d/pool_hba.conf" \
    >"$d/pgpool.log" 2>&1 &
  running_pids=($!)
  running_sig=INT
  proxy_port=$pgpool_port
  wait_ready "$pgpool_port" Pgpool-II "$d/pgpool.log" || return 1
  # Every child forked before the clients come.
  for _ in $(seq 100); do
    [ "$(pgrep -c -P "${running_pids[0]}")" -ge "$pgpool_children" ] && return 0
    sleep 0.1
  done
  return 0
}

# Starts proxy $1 (direct: nothing) and sets proxy_port and running_pids.
start_proxy() {
  case $1 in
    direct) running_pids=() proxy_port=$pport ;;
    pggate) start_pggate off ;;
    pggate-split) start_pggate on ;;
    pgbouncer) start_pgbouncer 1 ;;
    pgbouncer2) start_pgbouncer 2 ;;
    pgpool) start_pgpool off ;;
    pgpool-lb) start_pgpool on ;;
  esac
}

# ---- runs ----------------------------------------------------------------------

pgbench_args() { # workload clients seconds
  local a=(-n -j 2 -c "$2" -T "$3" -h 127.0.0.1 -p "$proxy_port" -U bench)
  case $1 in
    select-simple) a+=(-S -M simple) ;;
    select-extended) a+=(-S -M extended) ;;
    select-prepared) a+=(-S -M prepared) ;;
    tpcb) a+=(-M simple) ;;
    connect) a+=(-C -S -M simple) ;;
  esac
  printf '%s\n' "${a[@]}"
}

# One (proxy, workload, clients) cell: a warm-up run, then $runs counted runs,
# each a line of results.tsv.
run_cell() { # section proxy workload clients
  local section=$1 proxy=$2 wl=$3 c=$4 rep args prefix before after rc row
  mapfile -t args < <(pgbench_args "$wl" "$c" "$seconds")
  if [ "$warmup" -gt 0 ]; then
    [ "$wl" = tpcb ] && reset_tpcb
    local wargs
    mapfile -t wargs < <(pgbench_args "$wl" "$c" "$warmup")
    run_job "$pgbench" "${wargs[@]}" bench >/dev/null 2>&1
  fi
  for ((rep = 1; rep <= runs; rep++)); do
    [ "$wl" = tpcb ] && reset_tpcb
    prefix="$w/runlog/pgbench_log"
    rm -rf "$w/runlog" && mkdir -p "$w/runlog"
    before=- after=-
    [ ${#running_pids[@]} -gt 0 ] && before=$("${util[@]}" cpu "${running_pids[@]}")
    run_job "$pgbench" "${args[@]}" -l --log-prefix="$prefix" bench >"$w/runlog/out" 2>"$w/runlog/err"
    rc=$?
    [ ${#running_pids[@]} -gt 0 ] && after=$("${util[@]}" cpu "${running_pids[@]}")
    row=$("${util[@]}" result "$w/runlog/out" "$w/runlog/err" "$prefix" "$rc" "$before" "$after")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$proxy" "$wl" "$c" "$rep" "$row" >>"$out/results.tsv"
    IFS=$'\t' read -r st tps _ avg p99 cpu _ _ msg <<<"$row"
    if [ "$st" = ok ]; then
      say "$proxy $wl c=$c run $rep/$runs: $tps tps, latency avg $avg ms, p99 $p99 ms, proxy CPU $cpu µs/tx"
    else
      say "$proxy $wl c=$c run $rep/$runs: FAILED: $msg"
      cp "$w/runlog/err" "$out/logs/failed-$section-$proxy-$wl-c$c-run$rep.err"
      cp "$w/runlog/out" "$out/logs/failed-$section-$proxy-$wl-c$c-run$rep.out"
    fi
    pids_alive "${running_pids[@]}" || [ ${#running_pids[@]} -eq 0 ] || { say "$proxy has exited"; return 1; }
  done
}

record_failed_start() { # section proxy workloads...
  local section=$1 proxy=$2 wl c rep
  shift 2
  for wl in "$@"; do
    for c in $(clients_for "$section" "$wl"); do
      for ((rep = 1; rep <= runs; rep++)); do
        printf '%s\t%s\t%s\t%s\t%s\tfailed\t-\t-\t-\t-\t-\t-\t0\t%s did not start\n' "$section" "$proxy" "$wl" "$c" "$rep" "$proxy" \
          >>"$out/results.tsv"
      done
    done
  done
}

clients_for() { # section workload
  if [ "$1" = routing ]; then
    echo "$route_clients"
    return
  fi
  local c=$clients_all x
  for x in $many_workloads; do
    [ "$x" = "$2" ] && c="$c $many_clients"
  done
  echo "$c"
}

run_proxy() { # section proxy workloads...
  local section=$1 proxy=$2 wl c
  shift 2
  say "---- $proxy"
  if ! start_proxy "$proxy"; then
    say "$proxy did not start; its rows say so"
    stop_running
    record_failed_start "$section" "$proxy" "$@"
    return
  fi
  for wl in "$@"; do
    for c in $(clients_for "$section" "$wl"); do
      run_cell "$section" "$proxy" "$wl" "$c" || break 2
    done
  done
  stop_running
  keep_logs "$section-$proxy"
}

# Keeps the end of the logs of the proxy that just stopped (everything in
# $w that is not the cluster's), for a look after the run.
keep_logs() {
  local f
  for f in "$w"/*/*.log; do
    [ -f "$f" ] || continue
    case $f in "$w/pg/"* | "$w/runlog/"*) continue ;; esac
    tail -n 2000 "$f" >"$out/logs/$1-$(basename "$(dirname "$f")")-$(basename "$f")"
    rm -f "$f"
  done
}

run_idle() { # proxy
  local proxy=$1 json
  say "---- $proxy with $idle_conns idle clients"
  start_proxy "$proxy" || { say "$proxy did not start"; stop_running; return; }
  run_job "${util[@]}" idle "host=127.0.0.1 port=$proxy_port dbname=bench user=bench" "$idle_conns" \
    "${running_pids[@]}" >"$w/idle.json" || say "the idle client failed"
  json=$(<"$w/idle.json")
  if [ -n "$json" ]; then
    printf '%s\t%s\n' "$proxy" "$json" >>"$out/idle.jsonl"
    say "$proxy: $json"
  fi
  stop_running
  keep_logs "idle-$proxy"
}

# ---- main ----------------------------------------------------------------------

if needs pggate && [ ! -x "$pggate_bin" ]; then
  die "$pggate_bin not found: build it first (make BUILD=release all), or set PGGATE"
fi
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -e "$out/meta.env" ]; then
  die "$out is not empty and holds no earlier results: set BENCH_OUT to another directory"
fi
rm -rf "$out" && mkdir -p "$out/report-conf" "$out/logs" || die "cannot create $out"
ensure_packages
bindir=$(find_bindir)
pgbench="$bindir/pgbench"
[ -x "$pgbench" ] || pgbench=$(command -v pgbench) || die "pgbench not found (apt-get install postgresql-contrib)"
[ -x "$bindir/psql" ] || die "no psql in $bindir"

# Up to 10,000 idle clients, each a socket in this process tree and in the
# proxy's.
hard=$(ulimit -Hn)
[ "$hard" != unlimited ] && [ "$hard" -lt 65536 ] && { ulimit -Hn 65536 2>/dev/null || true; }
ulimit -Sn "$(ulimit -Hn)"

max_clients=1
for c in $clients_all $many_clients $route_clients; do
  [ "$c" -gt "$max_clients" ] && max_clients=$c
done
max_client_conn=$((max_clients + 100))
[ -n "$idle_proxies" ] && [ $((idle_conns + 100)) -gt $max_client_conn ] && max_client_conn=$((idle_conns + 100))
# Pgpool-II serves one client per child process: a child for every client.
pgpool_children=$((max_clients + 10))

w=$(mktemp -d /tmp/pggate-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$w"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

pick_ports
smoke=0
[ "$seconds" -lt 10 ] || [ "$runs" -lt 3 ] && smoke=1
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "smoke=$smoke"
  echo "seconds=$seconds"
  echo "runs=$runs"
  echo "warmup=$warmup"
  echo "scale=$scale"
  echo "pool_size=$pool_size"
  echo "bouncer2_pool=$(( pool_size / 2 > 0 ? pool_size / 2 : 1 ))"
  echo "pgpool_children=$pgpool_children"
  echo "clients=${clients_all// /, }"
  echo "many_clients=${many_clients// /, }"
  echo "many_workloads=${many_workloads// /, }"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem=$(awk '/^MemTotal/ { printf "%.1f GiB (MemTotal %s kB)", $2 / 1048576, $2 }' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "debian=$(cat /etc/debian_version 2>/dev/null || echo '?')"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pg_version=$("$bindir/postgres" --version)"
  echo "pgbench_version=$("$pgbench" --version)"
  echo "pggate_version=$("$pggate_bin" -V 2>/dev/null | head -n 1)"
  echo "commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$(git -C "$repo" diff --quiet HEAD -- src 2>/dev/null || echo '+changes')"
  echo "pgbouncer_version=$( (/usr/sbin/pgbouncer --version 2>/dev/null || echo PgBouncer not installed) | head -n 1)"
  echo "pgpool_version=$( (/usr/sbin/pgpool --version 2>&1 || echo Pgpool-II not installed) | head -n 1)"
  cmd='' reduced=0
  for v in BENCH_SECONDS BENCH_RUNS BENCH_WARMUP BENCH_SCALE BENCH_POOL_SIZE BENCH_PROXIES BENCH_WORKLOADS \
    BENCH_CLIENTS BENCH_MANY_CLIENTS BENCH_MANY_WORKLOADS BENCH_ROUTE_PROXIES BENCH_ROUTE_WORKLOADS \
    BENCH_ROUTE_CLIENTS BENCH_IDLE_CONNS BENCH_IDLE_PROXIES; do
    [ -n "${!v+x}" ] || continue
    cmd="$cmd$v='${!v}' "
    case $v in BENCH_SECONDS | BENCH_RUNS | BENCH_WARMUP) ;; *) reduced=1 ;; esac
  done
  echo "command=${cmd}make bench-proxies"
  echo "reduced=$reduced"
} >"$out/meta.env"

say "PostgreSQL on 127.0.0.1:$pport, scratch directory $w, results in $out"
setup_cluster

for proxy in $proxies; do
  run_proxy primary "$proxy" $workloads
done

if [ -n "$route_proxies" ] && [ -n "$route_workloads" ] && [ -n "$route_clients" ]; then
  say "---- routing run: adding a streaming replica on 127.0.0.1:$rport"
  if add_replica; then
    for proxy in $route_proxies; do
      run_proxy routing "$proxy" $route_workloads
    done
  else
    say "the replica did not start or catch up; no routing run"
  fi
fi

for proxy in $idle_proxies; do
  run_idle "$proxy"
done

echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.env"
"${util[@]}" report "$out" "$out/report.md" || die "writing the report failed"
if [ "$report" != - ]; then
  "${util[@]}" splice "$report" "$out/report.md" || die "writing into $report failed"
  say "results written into $report (and $out/report.md)"
else
  say "results in $out/report.md"
fi
