#!/usr/bin/env bash
# Checks `make install`: into a staging directory (DESTDIR) with
# prefix=/usr/local and sysconfdir=/etc the binary, the sample configuration
# and both man pages land where they belong, and a second install keeps a
# pggate.ini the admin edited. Counts go to build/results/install.count for
# `tests/run.sh --summary`; the last line is "install: N passed, M failed".
#   tests/install-test.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
results=build/results
stage=$(mktemp -d /tmp/pggate-install.XXXXXX)
. contrib/steps.sh

finish() {
  rm -rf "$stage"
  mkdir -p "$results"
  echo "$passed $failed" > "$results/install.count"
  echo "install: $passed passed, $failed failed"
  exit $((failed > 0 ? 1 : 0))
}
trap finish EXIT

install_into_stage() { make --no-print-directory install DESTDIR="$stage" prefix=/usr/local sysconfdir=/etc; }
step "make install DESTDIR=... prefix=/usr/local sysconfdir=/etc" install_into_stage
step "the binary in /usr/local/sbin, executable" test -x "$stage/usr/local/sbin/pggate"
step "it runs: pggate -V" "$stage/usr/local/sbin/pggate" -V
step "the sample in /etc/pggate/pggate.ini" cmp etc/pggate.ini "$stage/etc/pggate/pggate.ini"
step "pggate(1) in /usr/local/share/man/man1" cmp man/pggate.1 "$stage/usr/local/share/man/man1/pggate.1"
step "pggate.ini(5) in /usr/local/share/man/man5" cmp man/pggate.ini.5 "$stage/usr/local/share/man/man5/pggate.ini.5"
nothing_else() {
  local found
  found=$(cd "$stage" && find . -type f | sort | tr '\n' ' ')
  echo "$found"
  [ "$found" = "./etc/pggate/pggate.ini ./usr/local/sbin/pggate ./usr/local/share/man/man1/pggate.1 ./usr/local/share/man/man5/pggate.ini.5 " ]
}
step "nothing else is installed" nothing_else

echo "; edited by the admin" >> "$stage/etc/pggate/pggate.ini"
cp "$stage/etc/pggate/pggate.ini" "$stage/edited.ini"
step "a second make install" install_into_stage
step "the second install keeps the edited pggate.ini" cmp "$stage/edited.ini" "$stage/etc/pggate/pggate.ini"
