# shellcheck shell=bash
# e2e_lib.sh -- what every end-to-end test needs, in one place (sourced, not
# run: it is not executable, so scripts/test.sh skips it).
#
#   . "$(dirname "$0")/e2e_lib.sh"
#   e2e_init NAME            # "NAME: ..." lines, a temp folder $dir, an EXIT trap
#   check "what" COMMAND...  # "NAME: ok   what" or "NAME: FAIL what", never stops
#   e2e_finish LOG...        # exit 1 (with the logs' tails) if a check failed
#
# Sets here (the checkout), build (absolute), failures (0) and keep
# (FFPOOL_TEST_KEEP, 0 by default; a script's --keep sets it to 1); a script
# sets corpus (the Jellyfin command line it replays, see e2e_corpus). The EXIT
# trap runs the functions a script registered with e2e_at_exit, stops the
# pool in $pool (if any), and removes $dir unless a check failed, the script
# failed or keep=1 (then it prints "kept DIR").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
failures=0
keep=${FFPOOL_TEST_KEEP:-0}
dir=""
pool=""
corpus=""
e2e_name=e2e
e2e_exit_hooks=()

# e2e_init NAME: NAME prefixes every line; makes $dir (unless a --dir option
# set it already) and $pool=$dir/pool, and installs the cleanup.
e2e_init() {
  e2e_name=$1
  [ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-$1.XXXXXX")
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  pool=$dir/pool
  trap e2e_cleanup EXIT
}

# e2e_at_exit FUNCTION: FUNCTION runs at exit, before the pool is stopped.
e2e_at_exit() { e2e_exit_hooks+=("$1"); }

# e2e_cleanup: the EXIT trap (see the header); keeps the exit status.
e2e_cleanup() {
  local rc=$? hook
  for hook in "${e2e_exit_hooks[@]}"; do "$hook" || true; done
  if [ -n "$pool" ]; then
    FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$pool" >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 0 ] && [ "$failures" = 0 ] && [ "$rc" = 0 ]; then
    rm -rf "$dir"
  else
    say "kept $dir"
  fi
}

# say WORDS...: one line "NAME: WORDS" on stderr.
say() { echo "$e2e_name: $*" >&2; }

# check DESCRIPTION COMMAND...: records a failed check without stopping.
check() {
  local what=$1; shift
  if "$@"; then say "ok   $what"; else say "FAIL $what"; failures=$((failures + 1)); fi
}

# e2e_finish [LOG...]: exits 1 showing the LOGs' last lines if a check
# failed, else says "all checks passed".
e2e_finish() {
  if [ "$failures" != 0 ]; then
    say "$failures check(s) failed; logs:"
    [ $# = 0 ] || tail -n 20 "$@" >&2 || true
    exit 1
  fi
  say "all checks passed"
}

# e2e_corpus NUMBER: path of the Jellyfin corpus line NUMBER-*.txt; exits 2
# if there is none (before e2e_init too: nothing to clean up yet).
e2e_corpus() {
  local files=("$here"/tests/corpus/"$1"-*.txt)
  if [ ! -f "${files[0]}" ]; then
    echo "$(basename "$0" .sh): corpus line not found (tests/corpus/$1-*.txt)" >&2
    exit 2
  fi
  echo "${files[0]}"
}

# e2e_job_id LOG: the job id the shim announced in LOG (empty if none yet).
e2e_job_id() { sed -n 's/^ffpool: job \([^ ]*\) for .*/\1/p' "$1" 2>/dev/null | head -n 1 || true; }

# e2e_wait_job_id LOG: waits up to 20 s for the shim's job line in LOG and
# prints the job id (empty if none came).
e2e_wait_job_id() {
  local k id=""
  for ((k = 0; k < 400; k++)); do
    id=$(e2e_job_id "$1")
    [ -n "$id" ] && break
    sleep 0.05
  done
  echo "$id"
}

# e2e_shim_args INPUT OUTDIR [OPTION...]: the argv Jellyfin would give the
# shim for corpus line $corpus, on INPUT into OUTDIR (OPTIONs go to
# tests/jellyfin_argv.py), in ${args[@]}; its -hls_segment_filename in $pattern.
e2e_shim_args() {
  local input=$1 outdir=$2 i
  shift 2
  mapfile -d '' args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$input" \
    --outdir "$outdir" "$@")
  pattern=""
  for ((i = 0; i < ${#args[@]} - 1; i++)); do
    if [ "${args[i]}" = -hls_segment_filename ]; then pattern=${args[i+1]}; fi
  done
}

# segment_path N: the path of segment N ($pattern with N for its %d).
# shellcheck disable=SC2059 # the pattern is the format
segment_path() { printf "${pattern//%d/%s}" "$1"; }

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# alive PID: true while PID runs; a zombie (still answering kill -0) is dead.
alive() {
  local state
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# now: the time in seconds, with nanoseconds.
now() { date +%s.%N; }

# elapsed START [END]: seconds from START to END (default: now), 3 decimals.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'; }

# lt A B: true if the number A is less than B.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
