#!/usr/bin/env bash
# Builds the Debian package and proves it on this machine (Debian 12, as
# root): the source and binary packages build, lintian finds no error or
# warning in them nor a missing hardening flag, `apt-get install
# ./pggate_*.deb` installs it, pggate starts with the shipped
# /etc/pggate/pggate.ini (under systemd when it runs, else as the pggate
# user), a client connects through it, a SIGHUP reloads it and the admin
# console answers SHOW POOLS to the pggate user. Then the same package
# under a higher version is installed over it while clients connect all the
# time: none sees an error, and the postinst's online upgrade (SIGUSR2) puts
# a new master in the pidfile.
# A throwaway primary + replica on 5432/5433 stand behind it (the shipped
# [nodes]). Everything is removed again at the end (the package is
# purged). Counts go to build/results/package.count for `tests/run.sh
# --summary`; the last line is "package: N passed, M failed".
#
#   contrib/package-test.sh
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
work=$(mktemp -d /tmp/pggate-package.XXXXXX)
chmod 755 "$work"
pgcluster="$repo/tests/harness/pgcluster.sh"
results="$repo/build/results"
. "$repo/contrib/steps.sh"
under_systemd=false
[ -d /run/systemd/system ] && under_systemd=true

finish() {
  if $under_systemd; then
    systemctl stop pggate >/dev/null 2>&1
  elif [ -s /var/run/pggate/pggate.pid ]; then
    kill -INT "$(cat /var/run/pggate/pggate.pid)" 2>/dev/null
    sleep 1
  fi
  apt-get purge -y -qq pggate >/dev/null 2>&1
  "$pgcluster" destroy "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
  mkdir -p "$results"
  echo "$passed $failed" > "$results/package.count"
  echo "package: $passed passed, $failed failed"
  exit $((failed > 0 ? 1 : 0))
}
trap finish EXIT

[ "$(id -u)" -eq 0 ] || { echo "package-test: run as root (it installs the package)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
step "build tools installed" apt-get install -y -qq --no-install-recommends debhelper lintian fakeroot dpkg-dev devscripts

psql=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1)
[ -n "$psql" ] || psql=$(command -v psql)

# The package is built from a copy of the tree, so this checkout's own build stays as it is.
# Its directory is named as dpkg-source expects: <source>-<version>.
tree="$work/pggate-$(dpkg-parsechangelog -l "$repo/contrib/debian/changelog" -S Version)"
mkdir -p "$tree"
tar -C "$repo" --exclude=./build --exclude=./.git --exclude=./demo --exclude=./pggate \
    --exclude=./config.mk --exclude=./config.status --exclude=./config.log --exclude=./configure \
    --exclude=./autom4te.cache -cf - . | tar -C "$tree" -xf -
cp -a "$repo/contrib/debian" "$tree/debian"
# The source package too (native, 3.0), so that its format and version agree.
build_deb() { (cd "$tree" && dpkg-buildpackage -us -uc -j"$(nproc)"); }
step "dpkg-buildpackage -us -uc (source and binary)" build_deb
deb=$(ls "$work"/pggate_*.deb 2>/dev/null | head -n 1)
changes=$(ls "$work"/pggate_*.changes 2>/dev/null | head -n 1)
[ -n "$deb" ] && [ -n "$changes" ] || exit 1
echo "built $(cd "$work" && echo pggate_*)"
step "lintian on the .changes (.dsc, source and .deb): no errors, no warnings" lintian --fail-on error,warning "$changes"
# dpkg-buildflags' hardening (fortify, stack protector, relro, bindnow, PIE)
# reached the compiler and the linker.
step "lintian: no hardening tag" lintian --fail-on info,pedantic --display-level '>=pedantic' \
  --tags hardening-no-bindnow,hardening-no-fortify-functions,hardening-no-pie,hardening-no-relro "$deb"
# Debian 12's dpkg-buildflags does not add -fcf-protection (dpkg 1.22
# does), so control flow protection is not asked for.
hardening() {
  dpkg-deb -x "$deb" "$work/unpacked" && hardening-check --nocfprotection "$work/unpacked/usr/sbin/pggate"
}
step "hardening-check /usr/sbin/pggate" hardening

step "apt-get install ./$(basename "$deb")" apt-get install -y -qq "$deb"
step "binary, conffile, unit, logrotate and man pages in place" \
  test -x /usr/sbin/pggate -a -f /etc/pggate/pggate.ini -a -f /lib/systemd/system/pggate.service \
       -a -f /etc/logrotate.d/pggate -a -f /usr/share/man/man1/pggate.1.gz -a -f /usr/share/man/man5/pggate.ini.5.gz
step "/etc/pggate/pggate.ini is a conffile" grep -qx /etc/pggate/pggate.ini /var/lib/dpkg/info/pggate.conffiles
step "system user pggate" getent passwd pggate
step "shipped configuration is valid" /usr/sbin/pggate -t /etc/pggate/pggate.ini

step "throwaway primary + replica on 5432/5433" "$pgcluster" start "$work/pg" 5432 5433
# health_check_user is empty in the shipped file: checks log in as the OS user.
step "a role for the health checks" "$psql" -X -q -h 127.0.0.1 -p 5432 -U postgres postgres -c 'CREATE ROLE pggate LOGIN'
start_pggate() {
  if $under_systemd; then
    systemctl restart pggate
  else
    mkdir -p /var/run/pggate && chown pggate:pggate /var/run/pggate
    runuser -u pggate -- /usr/sbin/pggate -d /etc/pggate/pggate.ini
  fi
}
step "pggate starts with the shipped configuration" start_pggate
through() { PGCONNECT_TIMEOUT=5 "$psql" -X -At -h 127.0.0.1 -p 6432 -U postgres postgres -c "$1"; }
connected() {
  for _ in $(seq 50); do
    [ "$(through 'select 40 + 2' 2>/dev/null)" = 42 ] && return 0
    sleep 0.2
  done
  through 'select 40 + 2'
}
step "a client connects through it" connected
reload() {
  if $under_systemd; then
    systemctl reload pggate
  else
    kill -HUP "$(cat /var/run/pggate/pggate.pid)"
  fi
  for _ in $(seq 50); do
    grep -q "configuration reloaded" /var/log/pggate/pggate.log && return 0
    sleep 0.2
  done
  tail -n 20 /var/log/pggate/pggate.log
  return 1
}
step "SIGHUP reloads it" reload
step "clients still served after the reload" connected
console() { runuser -u pggate -- "$psql" -X -A -h /var/run/pggate -p 6432 -U pggate pggate -c "$1"; }
show_pools() {
  local out
  out=$(console 'SHOW POOLS') || return 1
  echo "$out"
  head -n 1 <<<"$out" | grep -q '^database|user|cl_active|cl_waiting|cl_active_cancel_req|'
}
step "SHOW POOLS as the pggate user on the Unix socket" show_pools
primary_up() {
  for _ in $(seq 50); do
    console 'SHOW NODES' | grep -q '^primary|127.0.0.1|5432|primary|primary|up|' && return 0
    sleep 0.2
  done
  console 'SHOW NODES'
  return 1
}
step "SHOW NODES: the shipped primary is up" primary_up

# A package upgrade refuses no connection: the same package under a higher
# version is installed over this one while clients connect all the time and
# one keeps a session open across it; the postinst has the running pggate
# start the new binary (SIGUSR2), which takes over the pidfile.
version=$(dpkg-deb -f "$deb" Version)
upgrade_deb="$work/upgrade/pggate_${version}+upgrade_$(dpkg-deb -f "$deb" Architecture).deb"
repack() {
  mkdir -p "$work/upgrade"
  dpkg-deb -R "$deb" "$work/upgrade/tree"
  sed -i "s/^Version: .*/Version: ${version}+upgrade/" "$work/upgrade/tree/DEBIAN/control"
  dpkg-deb --root-owner-group -b "$work/upgrade/tree" "$upgrade_deb"
}
step "the package again as version ${version}+upgrade" repack
old_pid=$(cat /var/run/pggate/pggate.pid 2>/dev/null)
errors="$work/upgrade/errors" served="$work/upgrade/served" stop_loop="$work/upgrade/stop"
: >"$errors"
: >"$served"
client_loop() {
  until [ -e "$stop_loop" ]; do
    if [ "$(through 'select 1' 2>>"$errors")" = 1 ]; then echo >>"$served"; else echo "query failed" >>"$errors"; fi
  done
}
client_loop &
loop_pid=$!
# A session that spans the upgrade: it started on the old pggate and ends there.
PGCONNECT_TIMEOUT=5 "$psql" -X -At -h 127.0.0.1 -p 6432 -U postgres postgres \
  -c 'select pg_sleep(4)' -c 'select 7' >"$work/upgrade/session" 2>&1 &
session_pid=$!
sleep 1
step "apt-get install the upgrade while clients connect" apt-get install -y -qq "$upgrade_deb"
new_master() {
  local pid
  for _ in $(seq 100); do
    pid=$(cat /var/run/pggate/pggate.pid 2>/dev/null)
    [ -n "$pid" ] && [ "$pid" != "$old_pid" ] && kill -0 "$pid" 2>/dev/null && { echo "pid $old_pid -> $pid"; return 0; }
    sleep 0.2
  done
  echo "the pidfile still says ${pid:-nothing} (was $old_pid)"
  tail -n 20 /var/log/pggate/pggate.log
  return 1
}
step "a new master took over the pidfile" new_master
if $under_systemd; then
  step "systemd's main pid is the new master" \
    test "$(systemctl show --property=MainPID --value pggate)" = "$(cat /var/run/pggate/pggate.pid)"
fi
sleep 1
touch "$stop_loop"
wait "$loop_pid"
session_ok() { wait "$session_pid" && [ "$(tail -n 1 "$work/upgrade/session")" = 7 ] || { cat "$work/upgrade/session"; return 1; }; }
step "the session open across the upgrade ended normally" session_ok
no_errors() { echo "$(wc -l <"$served") connections served"; [ -s "$served" ] && [ ! -s "$errors" ] || { cat "$errors"; return 1; }; }
step "no client saw a connection error during the upgrade" no_errors
old_gone() {
  for _ in $(seq 50); do
    # Gone, or a zombie that this container's pid 1 has not reaped yet.
    [ -e "/proc/$old_pid" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$old_pid/status" 2>/dev/null || return 0
    sleep 0.2
  done
  return 1
}
step "the old master exited once its clients were done" old_gone
step "the installed version is ${version}+upgrade" test "$(dpkg-query -W -f '${Version}' pggate)" = "${version}+upgrade"
step "clients still served after the upgrade" connected
