#!/usr/bin/env bash
# Runs each fuzz target for a bounded time on a fresh copy of its seed corpus
# (build/fuzz/corpus/<target>; the committed seeds are never written) and
# records the outcome as build/results/fuzz-<target>.count, "1 0" or "0 1",
# for tests/run.sh --summary. A crash, leak, timeout or invariant failure
# fails the target; what libFuzzer saved is in build/fuzz/artifacts/<target>/.
#   tests/fuzz/run.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=$1
shift
results=build/results
mkdir -p "$results"
status=0
for target in "$@"; do
  bin=build/fuzz/${target}_fuzz
  corpus=build/fuzz/corpus/$target
  artifacts=build/fuzz/artifacts/$target/
  log=$results/fuzz-$target.log
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts")
  [ -f tests/fuzz/"$target".dict ] && args+=(-dict=tests/fuzz/"$target".dict)
  echo "== fuzz $target (${seconds}s)"
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  # libFuzzer's last status line ("#N DONE cov: .. ft: .. corp: ..") and final stats.
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  execs=$(sed -nE 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
    echo "1 0" >"$results/fuzz-$target.count"
    echo "   passed: ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
  else
    echo "0 1" >"$results/fuzz-$target.count"
    status=1
    echo "   FAILED (rc $rc) after ${execs:-?} execs; see $log and $artifacts"
    grep -E 'ERROR: |invariant violated|SUMMARY: |Test unit written' "$log" | head -n 10 | sed 's/^/   /'
  fi
done
exit $status
