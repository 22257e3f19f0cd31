#!/usr/bin/env bash
# Installs the Debian packages pggate needs to build, test and run its demo.
# Used by `make demo`, `make check`, `make fuzz` and .ci/run; a no-op when all
# are present.
set -euo pipefail

packages=(
  build-essential autoconf pkg-config
  clang libclang-rt-14-dev  # `make fuzz`: clang++ and its libFuzzer/sanitizer runtimes
  libevent-dev libssl-dev libinih-dev libpq-dev doctest-dev
  postgresql postgresql-contrib postgresql-client
  python3-psycopg2 python3-psycopg python3-asyncpg
  default-jre-headless libpostgresql-jdbc-java
  prometheus  # promtool, which checks /metrics in the tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
