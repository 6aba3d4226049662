#!/usr/bin/env bash
# e2e_isolation.sh -- one job's crash, hang or runaway memory never takes
# down another job on the same worker, nor the worker itself. One worker with
# two slots (so both jobs share it), metrics on:
#   A. crash: a long job runs while a second job's process dies by SIGSEGV
#      at segment 1 (test hook FFPOOL_TEST_CRASH_AT_SEGMENT, armed for inputs
#      named *crash*), on each of its lease.max_attempts (3) attempts. The
#      long job completes intact (every segment decodes, every frame once,
#      one epoch: never interrupted); the crashed job ends failed with
#      attempts 3 and error "job process killed by SIGSEGV" in Redis, in
#      `ffpoolctl job ID` and on the shim's stderr.
#   B. hang: the job process of a job is SIGSTOPped as soon as it starts (a
#      stopped process makes no progress); the watchdog
#      (worker.job_watchdog_ms) kills it, the attempt is counted with "no
#      progress for 5 s", and the job runs again from its checkpoint and
#      completes intact.
#   C. memory: a job process allocates without end from segment 1 (test hook
#      FFPOOL_TEST_HOG_AT_SEGMENT, inputs named *hog*); the memory ceiling
#      (worker.job_memory_limit_mb) kills it and the attempt is counted with
#      "memory above 400 MB" (1500 MB under AddressSanitizer); the job is
#      then cancelled.
# Throughout: the worker process is the same one (pid unchanged, alive), and
# its /metrics counts 3 crashes, 1 watchdog kill, at least 1 memory kill.
#   D. the worker is SIGKILLed while a job runs: its job process dies with it
#      (PR_SET_PDEATHSIG), leaving no writer behind.
# Usage: tests/e2e_isolation.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 003)
e2e_init e2e_isolation
declare -A shim_pid=()
stop_shims() {
  local name
  for name in "${!shim_pid[@]}"; do
    kill -KILL "${shim_pid[$name]}" 2>/dev/null && wait "${shim_pid[$name]}" 2>/dev/null || true
  done
  # A stopped job process must not outlive the test (the worker's SIGKILL
  # at pool down takes it with it through PR_SET_PDEATHSIG).
  [ -n "${stopped_pid:-}" ] && kill -CONT "$stopped_pid" 2>/dev/null || true
}
e2e_at_exit stop_shims
fail_now() { say "FAIL $*"; failures=$((failures + 1)); tail -n 30 "$pool"/worker-1.log >&2 || true; exit 1; }

# clip NAME SECONDS SIZE: an mkv shaped like Jellyfin's input.
clip() {
  ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=$3:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$2" \
    -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 128k "$dir/$1.mkv"
}

# shim_start NAME: the shim on $dir/NAME.mkv with corpus 003's command line,
# output in $dir/NAME/, stderr in $dir/NAME.log. Sets pattern_NAME, playlist_NAME.
shim_start() {
  local name=$1 args pattern
  mkdir -p "$dir/$name"
  e2e_shim_args "$dir/$name.mkv" "$dir/$name"
  printf -v "pattern_$name" '%s' "$pattern"
  printf -v "playlist_$name" '%s' "${args[${#args[@]}-1]}"
  mkfifo "$dir/$name.stdin"
  exec {fd}<>"$dir/$name.stdin" # held open: the shim reads q from it, never EOF
  "$build/jellyfin/ffmpeg" "${args[@]}" <"$dir/$name.stdin" 2>"$dir/$name.log" &
  shim_pid[$name]=$!
}
# shim_wait NAME SECONDS: waits for the shim; sets shim_rc to its exit status.
shim_wait() {
  local name=$1 k
  shim_rc=0
  for ((k = 0; k < $2 * 20; k++)); do kill -0 "${shim_pid[$name]}" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "${shim_pid[$name]}" 2>/dev/null; then
    kill -KILL "${shim_pid[$name]}"; say "shim $name still running after $2 s"
  fi
  wait "${shim_pid[$name]}" || shim_rc=$?
  unset "shim_pid[$name]"
}
job_of() { e2e_job_id "$dir/$1.log"; }
has_job() { [ -n "$(job_of "$1")" ]; }
segment() { local p="pattern_$1"; printf "${!p//%d/%s}" "$2"; }
# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s.
wait_until() {
  local n=$(( $1 * 10 )) k; shift
  for ((k = 0; k < n; k++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
field() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$1" "$2"; }
worker_same() { [ "$(cat "$pool/worker-1.pid")" = "$worker_pid" ] && kill -0 "$worker_pid"; }
failed_lines() { grep -c "event=job_process_failed job=$1 .*$2" "$pool/worker-1.log" || true; }
metric() { curl -fsS --max-time 5 "$metrics/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# check_output NAME SECONDS_OF_CLIP: complete, decodable, every frame once.
check_output() {
  local name=$1 expected=$(( ($2 + 2) / 3 )) n bad=0 out frames clip_frames count
  local pl="playlist_$name"
  count=$(ls "$dir/$name" | grep -c '\.ts$' || true)
  check "$name: $expected segments ($count)" [ "$count" = "$expected" ]
  for ((n = 0; n < expected; n++)); do
    out=$(timeout 60 ffmpeg -nostdin -v error -i "$(segment "$name" $n)" -f null - 2>&1 || echo "exit $?")
    [ -z "$out" ] || { bad=$((bad + 1)); say "$name segment $n: $out"; }
  done
  check "$name: every segment decodes without errors" [ "$bad" = 0 ]
  check "$name: playlist complete" grep -q '^#EXT-X-ENDLIST' "${!pl}"
  frames=$(timeout 60 ffprobe -v error -select_streams v:0 -show_entries packet=pts_time \
    -of csv=p=0 "${!pl}" | grep -c . || true)
  clip_frames=$(ffprobe -v error -count_packets -select_streams v:0 \
    -show_entries stream=nb_read_packets -of csv=p=0 "$dir/$name.mkv")
  check "$name: every frame of the clip once ($frames of $clip_frames)" [ "$frames" = "$clip_frames" ]
  check "$name: no temporary files left" [ -z "$(ls "$dir/$name" | grep '\.tmp$' || true)" ]
}

clip long 120 640x360
clip crash 12 320x240
clip hog 12 320x240
cp "$dir/long.mkv" "$dir/stall.mkv"
cp "$dir/long.mkv" "$dir/orphan.mkv"
clip late 12 320x240

export FFPOOL_WORKER_SLOTS=2
export FFPOOL_WORKER_JOB_WATCHDOG_MS=5000
# A ceiling well above a healthy job's resident memory: AddressSanitizer's
# shadow memory and quarantine add hundreds of MB to every process.
mem_limit=400
ldd "$build/bin/ffpool-worker" | grep -q libasan && mem_limit=1500
export FFPOOL_WORKER_JOB_MEMORY_LIMIT_MB=$mem_limit
export FFPOOL_TEST_CRASH_AT_SEGMENT=1 FFPOOL_TEST_CRASH_INPUT=crash.mkv
export FFPOOL_TEST_HOG_AT_SEGMENT=1 FFPOOL_TEST_HOG_INPUT=hog.mkv
export FFPOOL_TEST_DIE_BEFORE_COMPLETE_INPUT=late.mkv
# A lease longer than the watchdog: the hung job's attempt is recorded by
# the watchdog, not by a takeover after the lease expires.
# The pool also reads a config file, which is broken once it is up (a
# ConfigMap edited in place): job processes get the worker's configuration
# as it was at start, so nothing below may notice.
printf 'log:\n  level: info\n' >"$dir/ffpool.yaml"
FFPOOL_CONFIG=$dir/ffpool.yaml FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --metrics \
  --lease-ttl-ms 15000 --dir "$pool" 2>/dev/null
printf 'log: [unclosed\n' >"$dir/ffpool.yaml"
unset FFPOOL_TEST_CRASH_AT_SEGMENT FFPOOL_TEST_CRASH_INPUT FFPOOL_TEST_HOG_AT_SEGMENT FFPOOL_TEST_HOG_INPUT \
  FFPOOL_TEST_DIE_BEFORE_COMPLETE_INPUT
# shellcheck disable=SC1091
. "$pool/env"
metrics=$(awk '$1 == "worker-1" { print $2 }' "$pool/metrics")
worker_pid=$(cat "$pool/worker-1.pid")

# ---- A. a crash beside a running job ----
shim_start long
wait_until 120 test -e "$(segment long 1)" || fail_now "long job: segment 1 never appeared"
long_job=$(job_of long)
shim_start crash
shim_wait crash 120; crash_rc=$shim_rc
crash_job=$(job_of crash)
say "crash job $crash_job ended (shim rc=$crash_rc)"
check "crash job: shim exited non-zero ($crash_rc)" [ "$crash_rc" != 0 ]
state=$(field "$crash_job" state); attempts=$(field "$crash_job" attempts); error=$(field "$crash_job" error)
check "crash job: failed after 3 attempts ($state, $attempts)" [ "$state:$attempts" = failed:3 ]
check "crash job: error kept ($error)" [ "$error" = "job process killed by SIGSEGV" ]
check "crash job: the shim printed why" grep -q '^Error: job process killed by SIGSEGV' "$dir/crash.log"
"$build/bin/ffpoolctl" job "$crash_job" >"$dir/ctl-crash.txt"
check "crash job: ffpoolctl job shows failed, 3 attempts and the error" \
  grep -Pzq 'state +failed(.|\n)*attempts +3(.|\n)*error +job process killed by SIGSEGV' "$dir/ctl-crash.txt"
check "crash job: the worker logged 3 crashed job processes" [ "$(failed_lines "$crash_job" SIGSEGV)" = 3 ]
check "crash job: segment 0 was published, segment 1 never" \
  [ -e "$(segment crash 0)" -a ! -e "$(segment crash 1)" ]

shim_wait long 300; long_rc=$shim_rc
check "long job: shim exited 0 ($long_rc)" [ "$long_rc" = 0 ]
check_output long 120
last_crash=$(grep "event=job_process_failed job=$crash_job " "$pool/worker-1.log" | tail -n 1 | cut -d' ' -f1)
long_done=$(grep "event=job_done job=$long_job " "$pool/worker-1.log" | cut -d' ' -f1)
check "the long job ran through all three crashes ($long_done after $last_crash)" \
  [ -n "$last_crash" -a "$long_done" \> "$last_crash" ]
long_state=$(field "$long_job" state):$(field "$long_job" epoch):$(field "$long_job" attempts)
check "long job: done in one run, never interrupted ($long_state)" [ "$long_state" = done:1:0 ]
check "worker: same process, alive (pid $worker_pid)" worker_same

# ---- B. a hung job process: the watchdog ----
shim_start stall
wait_until 60 has_job stall || fail_now "stall job: never submitted"
stall_job=$(job_of stall)
# Stopped at once: the job must not have finished first.
stopped_pid=""
for ((k = 0; k < 3000; k++)); do
  stopped_pid=$(sed -n "s/.*event=job_process_started job=$stall_job .* pid=\([0-9]*\).*/\1/p" \
    "$pool/worker-1.log" | tail -n 1)
  [ -n "$stopped_pid" ] && break
  sleep 0.02
done
[ -n "$stopped_pid" ] || fail_now "stall job: no job process started"
kill -STOP "$stopped_pid"
say "SIGSTOPped the job process $stopped_pid of $stall_job"
wait_until 30 grep -q "event=job_process_failed job=$stall_job .*no progress" "$pool/worker-1.log" ||
  fail_now "stall job: the watchdog did not kill the stopped job process"
check "stall job: the stopped job process is gone" bash -c "! kill -0 $stopped_pid 2>/dev/null"
stopped_pid=""
shim_wait stall 120; stall_rc=$shim_rc
check "stall job: shim exited 0 ($stall_rc)" [ "$stall_rc" = 0 ]
check_output stall 120
state=$(field "$stall_job" state); attempts=$(field "$stall_job" attempts); error=$(field "$stall_job" error)
check "stall job: done after one counted attempt ($state, $attempts)" [ "$state:$attempts" = done:1 ]
check "stall job: the watchdog's reason kept ($error)" [ "$error" = "job process killed: no progress for 5 s" ]
"$build/bin/ffpoolctl" job "$stall_job" >"$dir/ctl-stall.txt"
check "stall job: ffpoolctl job shows the attempt and the reason" \
  grep -Pzq 'attempts +1(.|\n)*error +job process killed: no progress for 5 s' "$dir/ctl-stall.txt"

# ---- C. runaway memory: the ceiling ----
shim_start hog
wait_until 60 has_job hog || fail_now "hog job: never submitted"
hog_job=$(job_of hog)
wait_until 120 grep -q "event=job_process_failed job=$hog_job .*memory above" "$pool/worker-1.log" ||
  fail_now "hog job: the memory ceiling did not kill the job process"
error=$(field "$hog_job" error); attempts=$(field "$hog_job" attempts)
check "hog job: attempt counted ($attempts)" [ "$attempts" -ge 1 ]
check "hog job: the ceiling's reason kept ($error)" \
  grep -q "^job process killed: memory above $mem_limit MB" <<<"$error"
"$build/bin/ffpoolctl" cancel "$hog_job" >/dev/null
shim_wait hog 60; hog_rc=$shim_rc
check "hog job: shim exited non-zero after the cancel ($hog_rc)" [ "$hog_rc" != 0 ]

# ---- the worker throughout ----
check "no job process failed to start although the config file broke" \
  bash -c "! grep -q 'event=job_process_setup_failed' '$pool/worker-1.log'"
check "worker: same process, alive, after all three (pid $worker_pid)" worker_same
check "worker: it never restarted (one event=started)" [ "$(grep -c 'event=started ' "$pool/worker-1.log")" = 1 ]
crashes=$(metric ffpool_job_process_crashes_total)
watchdog=$(metric ffpool_job_process_watchdog_kills_total)
memory=$(metric ffpool_job_process_memory_kills_total)
check "metrics: 3 crashes ($crashes)" [ "$crashes" = 3 ]
check "metrics: 1 watchdog kill ($watchdog)" [ "$watchdog" = 1 ]
check "metrics: memory kills counted ($memory)" [ "${memory%.*}" -ge 1 ]
check "/healthz still answers 200" curl -fsS --max-time 5 -o /dev/null "$metrics/healthz"

# ---- D. the owner lost after its last segment, before completing ----
# The next run finds the last segment checkpointed: the stream is whole, the
# job ends done (not failed for want of frames past the end).
shim_start late
shim_wait late 120; late_rc=$shim_rc
late_job=$(job_of late)
check "late loss: shim exited 0 ($late_rc)" [ "$late_rc" = 0 ]
state=$(field "$late_job" state); attempts=$(field "$late_job" attempts)
check "late loss: job done after the lost attempt ($state, attempts $attempts)" \
  [ "$state:$attempts" = done:1 ]
check "late loss: the next run saw the stream complete" \
  grep -q "event=stream_already_complete job=$late_job " "$pool/worker-1.log"
check_output late 12

# ---- E. a SIGKILLed worker leaves no job process behind ----
shim_start orphan
wait_until 120 test -e "$(segment orphan 0)" || fail_now "orphan job: segment 0 never appeared"
orphan_job=$(job_of orphan)
orphan_pid=$(sed -n "s/.*event=job_process_started job=$orphan_job .* pid=\([0-9]*\).*/\1/p" \
  "$pool/worker-1.log" | tail -n 1)
kill -KILL "$worker_pid"
# Dead: gone, or a zombie its new parent has not reaped yet.
gone() { ! alive "$orphan_pid"; }
check "the job process $orphan_pid died with its SIGKILLed worker" wait_until 5 gone

e2e_finish "$pool/worker-1.log"
