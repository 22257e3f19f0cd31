#!/usr/bin/env bash
# Installs the Debian packages pggate needs to build, test and run its demo
# (and node-postgres from npm where Debian's cannot be installed; see below).
# Used by `make demo`, `make check`, `make check-clients`, `make fuzz` and
# .ci/run; a no-op when all are present.
set -euo pipefail

packages=(
  build-essential autoconf pkg-config
  clang libclang-rt-14-dev  # `make fuzz`: clang++ and its libFuzzer/sanitizer runtimes
  libevent-dev libssl-dev libinih-dev libpq-dev doctest-dev
  postgresql postgresql-contrib postgresql-client
  python3-psycopg2 python3-psycopg python3-asyncpg python3-sqlalchemy
  default-jdk-headless libpostgresql-jdbc-java  # javac for the JDBC workload
  prometheus  # promtool, which checks /metrics in the tests
  mandoc      # lints the man pages in the unit tests
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# node-postgres (make check-clients): Debian's node-pg needs Debian's nodejs.
# Where nodejs comes from another repository (NodeSource's, which Debian's
# node-* packages do not accept), the same version of pg comes from the npm
# registry instead, installed globally (/usr/lib/node_modules).
node_pg_version=8.8.0
npm_pg=0
if ! installed nodejs || dpkg-query -W -f='${Version}' nodejs | grep -q dfsg; then
  packages+=(nodejs node-pg)
elif [ ! -f /usr/lib/node_modules/pg/package.json ] && [ ! -f /usr/share/nodejs/pg/package.json ]; then
  npm_pg=1
fi

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ "$npm_pg" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  [ ${#missing[@]} -eq 0 ] || {
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
  }
  [ "$npm_pg" -eq 0 ] || echo "install-deps: missing node module pg: sudo npm install -g pg@$node_pg_version" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "$npm_pg" -eq 1 ]; then
  npm install -g --no-audit --no-fund --loglevel=error "pg@$node_pg_version"
fi
