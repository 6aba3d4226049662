# shellcheck shell=bash
# e2e_lease_lib.sh -- shared by the tests/e2e_lease_*.sh scenarios (sourced,
# not run: it is not executable, so scripts/test.sh skips it).
#
# Each scenario: a clip generated with lavfi, a local pool (scripts/pool), the
# shim run with a real Jellyfin command line (corpus 003, paths rewritten),
# some failure injected, then the same output checks as e2e_takeover.sh
# (count, contiguity, every segment and the playlist decode, every frame
# once, each index published by exactly one owner). A scenario in which the
# stream moves between workers or runs first calls lease_reference: the same
# line on the same clip through the pool with no failure, whose segments'
# presentation times every later stream's must then equal
# (e2e_check_segment_times). Everything started is
# stopped on every exit path; the mktemp folder is removed when all checks
# pass and kept (path printed) when one fails.
# Builds on e2e_lib.sh: $dir, $pool, check, say, e2e_finish and the cleanup.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

e2e_init "$(basename "$0" .sh)"
lease_shim_pid=""
# What lease_shim_start runs the shim under (a scenario may set it: a
# command that ends by running its arguments).
lease_runner=()
mkdir -p "$dir/transcodes"

# lease_cleanup: kills the shim and continues stopped workers (SIGSTOP), or
# the pool's SIGTERM would wait on them.
lease_cleanup() {
  if [ -n "$lease_shim_pid" ]; then kill -KILL "$lease_shim_pid" 2>/dev/null || true; fi
  for f in "$pool"/worker-*.pid; do
    [ -e "$f" ] && lease_signal_worker CONT "$(cat "$f")"
  done
}
e2e_at_exit lease_cleanup

# lease_signal_worker SIGNAL PID: signals a worker together with its job
# processes. Every worker runs in a process group of its own (setsid), and
# its job processes share it: a stalled machine (a frozen VM, SIGSTOP) stops
# them all at once, whereas stopping the worker process alone would leave
# its job processes running, renewing and finishing their jobs.
lease_signal_worker() { kill -"$1" -- "-$2" 2>/dev/null || kill -"$1" "$2" 2>/dev/null || true; }

# lease_clip DURATION SIZE: an mkv shaped like Jellyfin's input.
lease_clip() {
  lease_duration=$1
  lease_rate=25
  lease_clip=$dir/clip.mkv
  ffmpeg -v error -f lavfi -i "testsrc2=size=$2:rate=$lease_rate" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$lease_duration" \
    -c:v libx264 -preset veryfast -g $((lease_rate * 2)) -pix_fmt yuv420p -c:a aac -b:a 128k \
    "$lease_clip"
  lease_clip_frames=$(ffprobe -v error -count_packets -select_streams v:0 \
    -show_entries stream=nb_read_packets -of csv=p=0 "$lease_clip")
}

# lease_pool_up WORKERS [TTL_MS]: TTL_MS omitted, the built-in default.
lease_pool_up() {
  FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers "$1" --dir "$pool" \
    ${2:+--lease-ttl-ms "$2"} >/dev/null
  # shellcheck disable=SC1091
  . "$pool/env"
  # shellcheck disable=SC2317 # called by the scenarios
  rc() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }
}

# lease_shim_start [INPUT [OUTDIR]]: runs the shim in the background on the
# clip (or INPUT) with corpus 003's command line, into $dir/transcodes (or
# OUTDIR, emptied first); sets the segment pattern etc.
# shellcheck disable=SC2120 # INPUT is optional
lease_shim_start() {
  local input=${1:-$lease_clip} out=${2:-$dir/transcodes} corpus
  corpus=$(e2e_corpus 003)
  rm -rf "$out" && mkdir -p "$out"
  mapfile -d '' lease_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" \
    --input "$input" --outdir "$out")
  lease_hls_time=3; lease_start_number=0; pattern=""
  local i
  for ((i = 0; i < ${#lease_args[@]} - 1; i++)); do
    case ${lease_args[i]} in
      -hls_time) lease_hls_time=${lease_args[i+1]} ;;
      -start_number) lease_start_number=${lease_args[i+1]} ;;
      -hls_segment_filename) pattern=${lease_args[i+1]} ;;
    esac
  done
  lease_playlist=${lease_args[${#lease_args[@]}-1]}
  lease_expected=$(( (lease_duration + lease_hls_time - 1) / lease_hls_time ))
  [ -e "$dir/stdin" ] || mkfifo "$dir/stdin"
  exec 3<>"$dir/stdin"
  : >"$dir/shim.log"
  "${lease_runner[@]}" "$build/jellyfin/ffmpeg" "${lease_args[@]}" <"$dir/stdin" 2>"$dir/shim.log" &
  lease_shim_pid=$!
  lease_job_id=""
}

wait_for_file() { # wait_for_file PATH SECONDS
  local n=$(( $2 * 50 )) k
  for ((k = 0; k < n; k++)); do [ -e "$1" ] && return 0; sleep 0.02; done
  return 1
}

# lease_wait_segment N SECONDS: until segment start_number+N is on disk.
lease_wait_segment() {
  if ! wait_for_file "$(segment_path $((lease_start_number + $1)))" "$2"; then
    say "FAIL segment $((lease_start_number + $1)) never appeared"
    failures=$((failures + 1))
    tail -n 20 "$dir/shim.log" "$pool"/*.log >&2 || true
    exit 1
  fi
  lease_job_id=$(e2e_job_id "$dir/shim.log")
}

# lease_job_field FIELD
lease_job_field() { rc HGET "ffpool:job:$lease_job_id" "$1"; }

# lease_owner_pid: pid of the worker holding the job now.
lease_owner_pid() { cat "$pool/$(lease_job_field owner).pid"; }

# lease_shim_wait SECONDS: waits for the shim; sets lease_shim_rc.
lease_shim_wait() {
  local k n=$(( $1 * 20 ))
  lease_shim_rc=0
  for ((k = 0; k < n; k++)); do kill -0 "$lease_shim_pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$lease_shim_pid" 2>/dev/null; then
    say "FAIL shim still running after $1 s"; failures=$((failures + 1))
    kill -KILL "$lease_shim_pid"; lease_shim_rc=124
  fi
  wait "$lease_shim_pid" || lease_shim_rc=$?
  lease_shim_pid=""
}

# lease_reference: the clip through the pool with nothing injected, into
# $dir/reference; its segments' times go to $dir/reference.times, which
# lease_check_output then compares every stream's with. Call it before the
# scenario's own stream (it sets what lease_shim_start sets).
lease_reference() {
  lease_shim_start "$lease_clip" "$dir/reference"
  lease_shim_wait 120
  check "uninterrupted run: shim exited 0 (rc=$lease_shim_rc)" [ "$lease_shim_rc" = 0 ]
  e2e_segment_times "$dir/reference.times" "$pattern" "" "$lease_start_number" "$lease_expected"
  e2e_check_timeline "uninterrupted run" "$dir/reference.times"
}

# lease_owners: "index epoch worker" per published segment, sorted, from
# the workers' event=segment log lines.
lease_owners() {
  grep -h "event=segment job=$lease_job_id " "$pool"/worker-*.log |
    sed -n 's/.* segment=\([0-9]*\) epoch=\([0-9]*\) worker=\([^ ]*\) .*/\1 \2 \3/p' | sort -n
}

# lease_check_output: the stream is complete, decodable, every frame once,
# each index published once; and, after lease_reference, each segment's
# presentation times those of the uninterrupted run.
lease_check_output() {
  check "shim exited 0 (rc=$lease_shim_rc)" [ "$lease_shim_rc" = 0 ]
  local count missing=0 bad=0 n out
  count=$(find "$dir/transcodes" -maxdepth 1 -type f -name '*.ts' | wc -l)
  check "segment count $count = $lease_expected" [ "$count" = "$lease_expected" ]
  for ((n = lease_start_number; n < lease_start_number + lease_expected; n++)); do
    [ -e "$(segment_path $n)" ] || missing=$((missing + 1))
  done
  check "no segment index missing" [ "$missing" = 0 ]
  check "no temporary files left" [ -z "$(find "$dir/transcodes" -name '*.tmp')" ]
  for ((n = lease_start_number; n < lease_start_number + lease_expected; n++)); do
    out=$(timeout 60 ffmpeg -v error -i "$(segment_path $n)" -f null - 2>&1 || echo "exit $?")
    [ -z "$out" ] || { bad=$((bad + 1)); say "segment $n: $out"; }
  done
  check "every segment decodes without errors" [ "$bad" = 0 ]
  # A playlist without ENDLIST is a live one: ffmpeg would wait for more.
  local frames=0 ended=0
  grep -q '^#EXT-X-ENDLIST' "$lease_playlist" 2>/dev/null && ended=1
  check "playlist is complete (#EXT-X-ENDLIST)" [ "$ended" = 1 ]
  if [ "$ended" = 1 ]; then
    out=$(timeout 60 ffmpeg -v error -i "$lease_playlist" -f null - 2>&1 || echo "exit $?")
    check "playlist decodes end to end silently" [ -z "$out" ]
    frames=$(timeout 60 ffprobe -v error -select_streams v:0 -show_entries packet=pts_time \
      -of csv=p=0 "$lease_playlist" | grep -c . || true)
  fi
  check "output has every frame of the clip ($frames of $lease_clip_frames)" \
    [ "$frames" = "$lease_clip_frames" ]
  lease_owners >"$dir/owners"
  check "each segment index published exactly once" \
    [ "$(cut -d' ' -f1 "$dir/owners" | uniq -d | wc -l)" = 0 ]
  check "every segment's publication was logged" [ "$(wc -l <"$dir/owners")" = "$lease_expected" ]
  if [ -s "$dir/reference.times" ]; then
    e2e_segment_times "$dir/transcodes.times" "$pattern" "" "$lease_start_number" "$lease_expected"
    e2e_check_segment_times "segment times" "$dir/reference.times" "$dir/transcodes.times"
  fi
}

# lease_kill_held_owner WORKER: SIGKILLs WORKER, which holds the job while
# its client's pause holds the pipeline (so that it dies between two
# segments), lifts the pause, waits for the shim and checks the output.
# Sets lease_victim_pid, lease_gap_first (that segment's index) and
# lease_gap: seconds from the kill to the first segment another worker put
# on disk ("nan" if none).
lease_kill_held_owner() {
  local killed first_new
  lease_victim_pid=$(cat "$pool/$1.pid")
  lease_signal_worker KILL "$lease_victim_pid"
  killed=$(now)
  rc HSET "ffpool:job:$lease_job_id" paused 0 >/dev/null
  lease_shim_wait 120
  lease_check_output
  first_new=$(awk -v w="$1" '$3 != w { print $1; exit }' "$dir/owners")
  lease_gap=nan
  [ -z "$first_new" ] ||
    lease_gap=$(elapsed "$killed" "$(stat -c %.9Y "$(segment_path "$first_new")")")
  lease_gap_first=$first_new
}

# lease_finish: exit status from the checks.
lease_finish() { e2e_finish "$dir/shim.log" "$pool"/*.log; }

# lease_need_namespace: exits unless this runs as root with unshare -m.
lease_need_namespace() {
  if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
    say "FAIL this test needs root and unshare -m (a mount namespace of its own)"
    exit 1
  fi
}

# lease_delivered FOLDER COPY COMMAND...: COMMAND as a shim that delivers
# (shim.delivery shim, the binary's default: the setting is unset), in a mount namespace of its own with a private
# tmpfs over FOLDER (Jellyfin's folder), so that nothing a worker writes to
# that path can reach it; when COMMAND exits, what it wrote there is copied
# to COPY. Returns COMMAND's status. lease_tmpfs_size (e.g. 16k) makes that
# tmpfs that small.
lease_delivered() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  env -u FFPOOL_SHIM_DELIVERY lease_tmpfs_opts="mode=0755${lease_tmpfs_size:+,size=$lease_tmpfs_size}" \
    unshare -m bash -c 'folder=$1 copy=$2; shift 2
mount -t tmpfs -o "$lease_tmpfs_opts" tmpfs "$folder" || exit 97
rc=0; "$@" || rc=$?
cp -a "$folder"/. "$copy"/; exit $rc' namespace "$@"
}
