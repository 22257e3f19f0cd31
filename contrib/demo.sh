#!/usr/bin/env bash
# Starts (and stops) a throwaway demo: a PostgreSQL primary on 5433, a
# streaming replica on 5434 and pggate on 6432, all under <repo>/demo.
#
#   contrib/demo.sh start     (what `make demo` runs)
#   contrib/demo.sh stop
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
demo="$repo/demo"
pgcluster="$repo/tests/harness/pgcluster.sh"
pggate="$repo/pggate"
ini="$demo/pggate.ini"
pidfile="$demo/pggate.pid"
logfile="$demo/pggate.log"
primary_port=5433
replica_port=5434
pggate_port=6432

die() {
  echo "demo: $*" >&2
  exit 1
}

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pggate_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

find_psql() {
  if command -v psql >/dev/null 2>&1; then
    command -v psql
    return
  fi
  local d dirs
  dirs=(/usr/lib/postgresql/*/bin)
  d=${PG_BINDIR:-$(printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1)}
  [ -x "$d/psql" ] || die "psql not found (apt-get install postgresql-client)"
  echo "$d/psql"
}

print_usage_hints() {
  cat <<EOF

pggate demo is running:
  pggate      127.0.0.1:$pggate_port and $demo/.s.PGSQL.$pggate_port   (log: $logfile)
  primary     127.0.0.1:$primary_port   (log: $demo/primary.log)
  replica     127.0.0.1:$replica_port   (log: $demo/replica1.log)

Connect through pggate:
  psql -h 127.0.0.1 -p $pggate_port -U postgres -d postgres
  psql -h $demo -p $pggate_port -U postgres -d postgres
  pgbench -h 127.0.0.1 -p $pggate_port -U postgres -i postgres && pgbench -h 127.0.0.1 -p $pggate_port -U postgres -c 10 -T 10 postgres

Stop it (and remove $demo):
  contrib/demo.sh stop      (or: make demo-stop)
EOF
}

cmd_start() {
  [ -x "$pggate" ] || die "$pggate not found: build it first (make)"
  if pid=$(pggate_pid); then
    echo "demo: already running (pggate pid $pid)"
    print_usage_hints
    return 0
  fi
  if [ -e "$demo" ] && [ ! -e "$demo/.pgcluster" ]; then
    die "$demo exists but is not a demo directory; move it away first"
  fi
  local p
  for p in $primary_port $replica_port $pggate_port; do
    if port_taken "$p"; then
      if [ -e "$demo/.pgcluster" ] && [ "$p" != "$pggate_port" ]; then
        die "port $p is taken, maybe by a demo cluster left running: run contrib/demo.sh stop first"
      fi
      die "port $p on 127.0.0.1 is already in use; the demo needs ports $primary_port, $replica_port and $pggate_port"
    fi
  done

  echo "demo: starting PostgreSQL (primary :$primary_port, replica :$replica_port) in $demo"
  "$pgcluster" start "$demo" "$primary_port" "$replica_port" || die "starting the PostgreSQL cluster failed"

  cat >"$ini" <<EOF || die "writing $ini failed"
; pggate configuration for the demo (written by contrib/demo.sh)
[pggate]
listen_addr = 127.0.0.1
listen_port = $pggate_port
unix_socket_dir = $demo
workers = 2
logfile = $logfile
pidfile = $pidfile
; the demo cluster trusts local logins of its superuser
health_check_user = postgres

[nodes]
; role=auto: pggate finds out which node is the primary and follows promotions
pg1 = host=127.0.0.1 port=$primary_port role=auto
pg2 = host=127.0.0.1 port=$replica_port role=auto
EOF

  "$pggate" -t "$ini" >/dev/null 2>"$demo/pggate-check.err" || {
    cat "$demo/pggate-check.err" >&2
    die "pggate rejects $ini"
  }
  echo "demo: starting pggate on 127.0.0.1:$pggate_port"
  (cd "$repo" && ./pggate -d "$ini") || {
    [ -f "$logfile" ] && tail -n 20 "$logfile" >&2
    die "pggate -d $ini failed (contrib/demo.sh stop cleans up)"
  }

  local psql
  psql=$(find_psql) || exit 1
  for _ in $(seq 100); do
    if "$psql" -X -q -h 127.0.0.1 -p "$pggate_port" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
      print_usage_hints
      return 0
    fi
    sleep 0.1
  done
  echo "---- last lines of $logfile:" >&2
  tail -n 20 "$logfile" >&2 2>/dev/null
  die "pggate does not answer on 127.0.0.1:$pggate_port after 10 s (contrib/demo.sh stop cleans up)"
}

cmd_stop() {
  local pid
  if pid=$(pggate_pid); then
    echo "demo: stopping pggate (pid $pid)"
    kill -TERM "$pid"
    # SIGTERM waits for clients; escalate to a fast shutdown, then to SIGKILL.
    for sig in INT KILL; do
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break 2
        sleep 0.1
      done
      echo "demo: pggate still running, sending SIG$sig"
      kill -"$sig" "$pid" 2>/dev/null
    done
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "pggate (pid $pid) does not exit"
  fi
  if [ -e "$demo" ]; then
    echo "demo: stopping PostgreSQL and removing $demo"
    "$pgcluster" destroy "$demo" || die "removing the demo cluster failed"
  fi
  echo "demo: stopped"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
