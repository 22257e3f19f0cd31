# Counted check steps for the shell tests (contrib/package-test.sh,
# tests/install-test.sh), sourced by them: step "what" command... runs the
# command, counts it in `passed` or `failed`, and shows its output's last
# lines when it fails.
passed=0 failed=0

step() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
    echo "$out" | tail -n 30 | sed 's/^/    /'
  fi
}
