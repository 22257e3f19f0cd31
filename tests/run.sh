#!/usr/bin/env bash
# Runs the test suites of one build (unit_tests and integration_tests unless
# named) and records their counts as build/results/<build>-<suite>.count;
# `tests/run.sh --summary` adds up every recorded run and prints the totals.
#   tests/run.sh build/release /abs/path/to/pggate [suite...]
set -uo pipefail
cd "$(dirname "$0")/.."
results=build/results

if [ "${1:-}" = "--summary" ]; then
  passed=0 failed=0
  for f in "$results"/*.count; do
    [ -f "$f" ] || continue
    read -r p fl < "$f"
    passed=$((passed + p)); failed=$((failed + fl))
    echo "  $(basename "$f" .count): $p passed, $fl failed"
  done
  # The failed test cases, each with its first failed check, so that a run
  # whose log is cut still says what broke.
  for log in "$results"/*.log; do
    [ -f "$log" ] || continue
    awk -v suite="$(basename "$log" .log)" '
      /^TEST CASE:/ { tc = $0; sub(/^TEST CASE: */, "", tc); shown = 0 }
      /(ERROR|FATAL ERROR):/ && !shown { print "  FAILED " suite ": " tc; print "    " $0; shown = 1 }
      /invariant violated|FAILED \(rc/ { print "  FAILED " suite ": " $0 }
    ' "$log"
  done
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
  exit
fi

out=$1
export PGGATE_BIN=$2
shift 2
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit_tests integration_tests)
mkdir -p "$results"
variant=$(basename "$out")
status=0
for suite in "${suites[@]}"; do
  log="$results/$variant-$suite.log"
  echo "== $variant $suite"
  "$out/$suite" --no-colors=true ${DOCTEST_ARGS:-} 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^\[doctest\] test cases:' "$log" | tail -1)
  p=$(sed -nE 's/.*\| *([0-9]+) passed.*/\1/p' <<<"$line")
  f=$(sed -nE 's/.*\| *([0-9]+) failed.*/\1/p' <<<"$line")
  # A suite that crashed before doctest could count counts as one failure.
  if [ -z "$p" ]; then p=0; f=1; fi
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  echo "$p $f" > "$results/$variant-$suite.count"
  [ "$rc" -eq 0 ] || status=1
done
exit $status
