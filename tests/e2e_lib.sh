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

# On one machine the workers see every folder: the tests run their shims in
# the shared-folder mode (shim.delivery shared) unless they ask for another.
# The delivery tests run theirs with the binary's default, shim
# (tests/e2e_lease_lib.sh lease_delivered).
export FFPOOL_SHIM_DELIVERY=${FFPOOL_SHIM_DELIVERY:-shared}

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
# tests/jellyfin_argv.py), in ${args[@]}, and what it says of its output:
# $pattern (-hls_segment_filename), $playlist (the last argument),
# $hls_time, $start_number, $segment_type (mpegts or fmp4) and, for fMP4,
# $init (the init segment: -hls_fmp4_init_filename beside the playlist, as
# the hls muxer places it; empty for MPEG-TS).
# shellcheck disable=SC2034 # the variables are for the calling script
e2e_shim_args() {
  local input=$1 outdir=$2 i init_name=init.mp4
  shift 2
  mapfile -d '' args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$input" \
    --outdir "$outdir" "$@")
  if [ ${#args[@]} = 0 ]; then
    echo "$(basename "$0" .sh): no argv from $corpus ($*)" >&2
    exit 2
  fi
  pattern=""; hls_time=""; start_number=0; segment_type=mpegts; init=""
  for ((i = 0; i < ${#args[@]} - 1; i++)); do
    case ${args[i]} in
      -hls_segment_filename) pattern=${args[i+1]} ;;
      -hls_time) hls_time=${args[i+1]} ;;
      -start_number) start_number=${args[i+1]} ;;
      -hls_segment_type) segment_type=${args[i+1]} ;;
      -hls_fmp4_init_filename) init_name=${args[i+1]} ;;
    esac
  done
  playlist=${args[${#args[@]}-1]}
  if [ "$segment_type" = fmp4 ]; then
    case $init_name in /*) init=$init_name ;; *) init=$(dirname "$playlist")/$init_name ;; esac
  fi
}

# segment_path N: the path of segment N ($pattern with N for its %d).
# shellcheck disable=SC2059 # the pattern is the format
segment_path() { printf "${pattern//%d/%s}" "$1"; }

# segment_count: how many segment files ($pattern with any number) there are
# (the init segment and temporary files are not counted).
segment_count() {
  local base prefix suffix
  base=$(basename "$pattern"); prefix=${base%%%d*}; suffix=${base#*%d}
  find "$(dirname "$pattern")" -maxdepth 1 -type f -name "$prefix*$suffix" -printf '%f\n' |
    awk -v p="$prefix" -v s="$suffix" \
      'substr($0, 1, length(p)) == p && substr($0, length($0) - length(s) + 1) == s &&
       substr($0, length(p) + 1, length($0) - length(p) - length(s)) ~ /^[0-9]+$/' | wc -l
}

# segment_decode_errors N: what `ffmpeg -v error` prints decoding segment N
# on its own as a player reads it (an fMP4 segment after $init); empty if
# it decodes cleanly.
segment_decode_errors() {
  local seg
  seg=$(segment_path "$1")
  if [ -n "$init" ]; then
    cat "$init" "$seg" >"$dir/segment-joined.mp4"
    seg=$dir/segment-joined.mp4
  fi
  timeout 60 ffmpeg -nostdin -v error -i "$seg" -f null - 2>&1 || echo "exit $?"
}

# ---- presentation times, segment by segment (tests/segment_times.py) ----
# A player reads each segment's times as they are on disk: an MPEG-TS
# segment's PES timestamps, an fMP4 fragment's decode time (tfdt) placed by
# the init segment. These two functions compare them with those of an
# uninterrupted run of the same line on the same clip, which is what a
# stream that moved between workers must reproduce.

# e2e_segment_times TABLE PATTERN INIT FIRST COUNT: writes to TABLE the
# times of segments FIRST .. FIRST+COUNT-1 of PATTERN (read after INIT, the
# init segment, unless INIT is empty).
e2e_segment_times() {
  python3 "$here/tests/segment_times.py" probe --pattern "$2" ${3:+--init "$3"} \
    --first "$4" --count "$5" >"$1"
}

# e2e_check_segment_times WHAT REF GOT: one check per stream kind (video,
# audio) that every segment of table GOT starts and ends at the times of
# the same segment in table REF (the uninterrupted run), with as many
# packets; each segment that differs is listed. The tolerance is 1 ms, for
# two reasons: both runs make every timestamp from the same source times by
# the same rules, so encoded streams agree to the tick (1/90000 s in
# MPEG-TS, the track's time scale in fMP4) and differ only by the 6-decimal
# printing; and a copied stream's times are the source's, which Matroska
# rounds to 1 ms: an uninterrupted fMP4 run starts each fragment where the
# previous one's last sample ends (AAC: 1024 samples after it), a resumed
# run at its first packet's own rounded time, up to one 1 ms tick apart
# (seen on tests/corpus/044). A segment shifted by one video frame (40 ms
# at 25 fps) or one AAC frame (21.3 ms at 48 kHz), or restarting at 0, fails.
e2e_check_segment_times() {
  local what=$1 ref=$2 got=$3 kind out rc
  for kind in video audio; do
    rc=0
    out=$(python3 "$here/tests/segment_times.py" compare "$ref" "$got" --kind "$kind" \
      --tolerance-ms 1) || rc=$?
    sed '$d' <<<"$out" | head -n 12 | while IFS= read -r line; do say "  $line"; done
    check "$what: $kind first/last pts and packet count of every segment as in the uninterrupted run ($(tail -n 1 <<<"$out"))" \
      [ "$rc" = 0 ]
  done
}

# e2e_check_timeline WHAT TABLE: every segment's video and audio start
# after the previous segment's last packet and less than 1 s later (the
# timeline goes forward from segment to segment, without a hole).
e2e_check_timeline() {
  local what=$1 table=$2 out
  out=$(awk '$3 == "MISSING" { print "segment " $1 " " $2 ": missing"; next }
    { if (($2) in last && ($3 <= last[$2] || $3 - last[$2] >= 1))
        printf "segment %d %s starts at %s, the previous one ended at %.6f\n", $1, $2, $3, last[$2]
      last[$2] = $4 }' "$table")
  [ -z "$out" ] || head -n 12 <<<"$out" | while IFS= read -r line; do say "  $line"; done
  check "$what: each segment's video and audio continue the previous segment's timeline" [ -z "$out" ]
}

# free_port and wait_until (scripts/lib.sh).
# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"

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
