#!/usr/bin/env bash
# Creates, stops and destroys a throwaway PostgreSQL cluster on loopback: one
# primary and streaming replicas, used by the integration tests and the demo.
#
#   pgcluster.sh start   DIR PRIMARY_PORT [REPLICA_PORT...]
#   pgcluster.sh stop    DIR
#   pgcluster.sh destroy DIR
#
# Nodes live in DIR/primary and DIR/replica1..N, log to DIR/<node>.log and put
# their Unix sockets in DIR (DIR/.s.PGSQL.<port>). The superuser is "postgres",
# every local and loopback connection is trusted. `start` on a directory it
# created before starts whatever is not running; `stop` and `destroy` on a
# missing directory do nothing. On any failure it says what failed and exits 1.
set -uo pipefail

prog=pgcluster
marker=.pgcluster

die() {
  echo "$prog: $*" >&2
  exit 1
}

# Prints the last lines of a log to stderr, to go with a failure message.
show_log() {
  if [ -f "$1" ]; then
    echo "---- last lines of $1:" >&2
    tail -n 25 "$1" >&2
    echo "----" >&2
  fi
}

usage() {
  cat >&2 <<EOF
usage: $0 start DIR PRIMARY_PORT [REPLICA_PORT...]
       $0 stop DIR
       $0 destroy DIR
EOF
  exit 2
}

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    [ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR=$PG_BINDIR has no initdb"
    echo "$PG_BINDIR"
    return
  fi
  local dirs best
  dirs=(/usr/lib/postgresql/*/bin)
  best=$(printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1)
  if [ ! -x "$best/initdb" ]; then
    die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql), or set PG_BINDIR"
  fi
  echo "$best"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# PostgreSQL refuses to run as root: as root, server-side commands run as the
# postgres system user, from a directory it can enter.
as_pg() {
  if is_root; then
    (cd "$dir" && runuser -u postgres -- "$@")
  else
    (cd "$dir" && "$@")
  fi
}

valid_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# Runs one SQL statement on the node listening on port $1 and prints the
# unaligned result.
sql() {
  "$bindir/psql" -X -q -A -t -h "$dir" -p "$1" -U postgres -d postgres -c "$2" 2>&1
}

node_running() {
  [ -f "$dir/$1/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$dir/$1" status >/dev/null 2>&1
}

# Starts node $1 (its port is in its configuration) unless it already runs.
start_node() {
  local node=$1
  node_running "$node" && return 0
  if ! as_pg "$bindir/pg_ctl" -D "$dir/$node" -l "$dir/$node.log" -w -t 60 start >"$dir/$node.pg_ctl.out" 2>&1; then
    show_log "$dir/$node.pg_ctl.out"
    show_log "$dir/$node.log"
    die "starting $node failed (pg_ctl start -D $dir/$node)"
  fi
}

# Stops node $1: fast shutdown, then immediate, then SIGKILL of the postmaster.
stop_node() {
  local node=$1 pid
  node_running "$node" || return 0
  as_pg "$bindir/pg_ctl" -D "$dir/$node" -m fast -w -t 15 stop >/dev/null 2>&1 && return 0
  as_pg "$bindir/pg_ctl" -D "$dir/$node" -m immediate -w -t 10 stop >/dev/null 2>&1 && return 0
  pid=$(head -n 1 "$dir/$node/postmaster.pid" 2>/dev/null)
  if [[ "$pid" =~ ^[0-9]+$ ]]; then
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
  fi
  echo "$prog: could not stop $node (postmaster pid ${pid:-unknown})" >&2
  return 1
}

init_primary() {
  local port=$1 conf="$dir/primary/postgresql.conf"
  if ! as_pg "$bindir/initdb" -D "$dir/primary" -U postgres -A trust -E UTF8 --locale=C --no-sync \
      >"$dir/initdb.log" 2>&1; then
    show_log "$dir/initdb.log"
    die "initdb of $dir/primary failed"
  fi
  # Trust for everything on loopback; the harness rewrites the non-replication
  # lines (set_hba) to test client authentication.
  cat >"$dir/primary/pg_hba.conf" <<EOF
# pg_hba.conf written by pgcluster.sh
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    all          all   ::1/128       trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
host    replication  all   ::1/128       trust
EOF
  cat >>"$conf" <<EOF || die "writing $conf failed"

# ---- pgcluster.sh settings (a later line wins over an earlier one)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 700
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
cluster_name = 'primary'
EOF
}

# Clones the primary (listening on $2) into replica $1 with a replication slot
# of the same name, listening on port $3.
init_replica() {
  local node=$1 pport=$2 port=$3 out
  # A slot left over from an interrupted earlier attempt would make -C fail.
  out=$(sql "$pport" "select pg_drop_replication_slot('$node') from pg_replication_slots where slot_name = '$node'") ||
    die "dropping old replication slot $node failed: $out"
  if ! as_pg "$bindir/pg_basebackup" -D "$dir/$node" -h "$dir" -p "$pport" -U postgres \
      -R -X stream -c fast -C -S "$node" --no-sync >"$dir/$node.basebackup.log" 2>&1; then
    show_log "$dir/$node.basebackup.log"
    die "pg_basebackup into $dir/$node failed"
  fi
  # cluster_name becomes the walreceiver's application_name, which names the
  # replica in the primary's pg_stat_replication.
  cat >>"$dir/$node/postgresql.conf" <<EOF || die "writing $dir/$node/postgresql.conf failed"
port = $port
cluster_name = '$node'
EOF
}

cmd_start() {
  [ $# -ge 2 ] || usage
  dir=$1
  shift
  local pport=$1
  shift
  local rports=("$@") p n
  for p in "$pport" "${rports[@]}"; do
    valid_port "$p" || die "invalid port: $p"
  done

  mkdir -p "$dir" || die "cannot create $dir"
  dir=$(cd "$dir" && pwd -P) || die "cannot enter $dir"
  if [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/$marker" ]; then
    die "$dir is neither empty nor a cluster made by $prog"
  fi
  touch "$dir/$marker" || die "cannot write into $dir"
  chmod 755 "$dir" || die "chmod 755 $dir failed"
  if is_root; then
    chown postgres:postgres "$dir" || die "chown postgres $dir failed"
    runuser -u postgres -- test -x "$dir" -a -w "$dir" ||
      die "the postgres user cannot enter $dir: every parent directory must be searchable (chmod o+x)"
  fi

  # Rejects a port something else listens on before anything is created, so
  # the message names the port instead of a log line about bind().
  for p in "$pport" "${rports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! grep -qs "^port = $p\$" "$dir"/*/postgresql.conf; then
      die "port $p on 127.0.0.1 is already in use"
    fi
  done

  [ -f "$dir/primary/PG_VERSION" ] || init_primary "$pport"
  start_node primary

  n=0
  for p in "${rports[@]}"; do
    n=$((n + 1))
    [ -f "$dir/replica$n/PG_VERSION" ] || init_replica "replica$n" "$pport" "$p"
  done
  # Replicas start in parallel; each pg_ctl waits for its own node.
  local pids=() failed=0
  for ((i = 1; i <= n; i++)); do
    start_node "replica$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    wait "$p" || failed=1
  done
  [ "$failed" -eq 0 ] || exit 1

  [ "$n" -eq 0 ] && return 0
  local names="" streaming=""
  for ((i = 1; i <= n; i++)); do names+="${names:+,}'replica$i'"; done
  for _ in $(seq 300); do
    streaming=$(sql "$pport" "select count(*) from pg_stat_replication where state = 'streaming' and application_name in ($names)")
    [ "$streaming" = "$n" ] && return 0
    sleep 0.1
  done
  for ((i = 1; i <= n; i++)); do show_log "$dir/replica$i.log"; done
  die "replicas not streaming after 30 s (pg_stat_replication: $streaming of $n streaming)"
}

# Stops replicas before the primary so its fast shutdown need not wait for
# walsenders; all replicas stop in parallel.
stop_all() {
  local pids=() p failed=0 d
  for d in "$dir"/replica*; do
    [ -f "$d/PG_VERSION" ] || continue
    stop_node "$(basename "$d")" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    wait "$p" || failed=1
  done
  stop_node primary || failed=1
  return $failed
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  dir=$1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P) || die "cannot enter $dir"
  stop_all || die "stopping the cluster in $dir failed"
}

cmd_destroy() {
  [ $# -eq 1 ] || usage
  dir=$1
  [ -e "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P) || die "cannot enter $dir"
  [ -e "$dir/$marker" ] || die "refusing to remove $dir: it was not made by $prog"
  stop_all || die "stopping the cluster in $dir failed; not removing it"
  rm -rf "$dir" || die "removing $dir failed"
}

[ $# -ge 1 ] || usage
bindir=$(find_bindir) || exit 1
dir=
case "$1" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  destroy) shift; cmd_destroy "$@" ;;
  *) usage ;;
esac
