#!/usr/bin/env bash
# test.sh -- runs every test: the criterion unit tests (build/tests/test_*)
# against a redis-server this script starts on a free loopback port in a
# temporary folder, then the end-to-end tests (tests/e2e_*.sh), each of which
# brings up and tears down its own pool. Called by `make test`, which builds
# first. Ends with one line "N passed, N failed". Arguments, if any, name the
# tests to run (scripts/test.sh test_queue e2e_shim).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
export BUILD=${BUILD:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-test.XXXXXX")
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
  --daemonize no --maxmemory-policy noeviction >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
export FFPOOL_TEST_REDIS_PORT=$port
# FFPOOL_ARGV_CORPUS, if set, names a folder of further Jellyfin command
# lines that test_argv, test_probe and e2e_replay read beside tests/corpus.
# Under `make asan` every sanitizer report, from a criterion worker or from a
# daemon an end-to-end test started, goes to a file in $tmp/san: criterion
# ignores what LeakSanitizer prints when its worker exits, and the daemons'
# stderr goes to pool logs. A test that leaves a report there fails. The
# options are ignored by binaries built without sanitizers.
mkdir -p "$tmp/san"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}:log_path=$tmp/san/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$tmp/san/ubsan"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp:print_suppressions=0}"

passed=0
failed=0
failed_names=()
durations=()
mkdir -p "$tmp/logs"
run() { # run NAME COMMAND...: output shown as it comes and kept for the digest
  local name=$1; shift
  echo "== $name" >&2
  local ok=1 started=$SECONDS
  "$@" 2>&1 | tee "$tmp/logs/$name.log" || ok=0
  durations+=("$((SECONDS - started)) $name")
  if [ -n "$(ls -A "$tmp/san")" ]; then
    echo "$name: sanitizer reports:" | tee -a "$tmp/logs/$name.log"
    cat "$tmp"/san/* | tee -a "$tmp/logs/$name.log"
    rm -f "$tmp"/san/*
    ok=0
  fi
  if [ "$ok" = 1 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_names+=("$name")
  fi
}
# A CI log often shows only its tail, so the failures are repeated there.
digest() {
  local name
  for name in "${failed_names[@]}"; do
    echo "---- $name: failed checks (then its last lines)"
    grep -E 'FAIL|[Aa]ssert|[Ee]rror|Crash|SUMMARY' "$tmp/logs/$name.log" | head -n 30
    echo "...."
    tail -n 15 "$tmp/logs/$name.log"
  done
}

# Names given on the command line (test_queue, e2e_shim, ...) pick a subset.
wanted() { [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; }
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  wanted "$@" || continue
  run "$name" "$t" --jobs 2
done
for t in tests/e2e_*.sh; do
  [ -x "$t" ] || continue
  name=$(basename "$t" .sh)
  wanted "$@" || continue
  run "$name" "$t"
done

echo
# The CI budget is spent here: the slowest tests, and the whole run.
echo "slowest tests (seconds):"
printf '%s\n' "${durations[@]}" | sort -rn | head -n 8 | sed 's/^/  /'
echo "all tests: ${SECONDS} s"
[ ${#failed_names[@]} -eq 0 ] || { digest; echo "failed: ${failed_names[*]}"; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
