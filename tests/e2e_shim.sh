#!/usr/bin/env bash
# e2e_shim.sh -- the shim as Jellyfin sees it: a local pool (redis-server,
# scheduler, two workers), the real shim binary under Jellyfin's names, and
# this script playing Jellyfin's part with a real 10.8 command line
# (tests/corpus/002-*) on a synthetic clip.
#
#   tests/e2e_shim.sh [--keep]
#
# Jellyfin's paths and the workers' paths differ (paths.map): Jellyfin uses
# DIR/jf/..., the workers DIR/w/..., and DIR/jf is a symlink to DIR/w so that
# this script can watch the segments the way Jellyfin would.
#
# Checks, each printed as ok/FAIL:
#   - start-up probes through the binary: -version (Jellyfin's regex),
#     -encoders, -h filter=, the pause-key check, the hwaccel-flag check (exit
#     code equal to the local CLI's); ffprobe on Jellyfin's own paths (never
#     mapped: it runs here), and its -only_first_vframe check; no scheduler
#     and nothing cached -> shim.no_pool_policy (fallback answers like the
#     local ffmpeg, fail exits non-zero), both fast with shim.probe_wait_ms 0
#     (the cache and the wait are e2e_shim_probes' subject);
#   - a session: segments ready by Jellyfin's rule (file N exists and file N+1
#     exists or the process exited), the job submitted with worker-side paths,
#     progress lines at least every second that Jellyfin's parser reads,
#     p/u pause and resume (no segment while paused), q mid-stream (the shim
#     exits within 1 s, the job is cancelled, the worker frees its slot; what
#     q leaves in the folder is e2e_shim_stop's subject);
#   - a seek restart like Jellyfin's: the newest segment deleted, -ss N*T and
#     -start_number N on the same paths, runs to the end and exits 0, its
#     time= counting from its own start (Jellyfin adds the start to it);
#   - attach: a second shim with the same argv joins the running job (one job)
#     and both exit 0;
#   - a SIGKILLed shim's job is cancelled once its heartbeat lapses.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_shim
[ "${1:-}" = --keep ] && keep=1
ffmpeg_shim=$build/jellyfin/ffmpeg
ffprobe_shim=$build/jellyfin/ffprobe
duration=90
hls_time=3
shim_pids=()
key_fds=()
stop_shims() {
  local pid
  for pid in "${shim_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$dir/pool0" >/dev/null 2>&1 || true
}
e2e_at_exit stop_shims

# ---- media: Jellyfin's side is a symlink to the workers' side ----
mkdir -p "$dir/w/media"
ln -s w "$dir/jf"
ffmpeg -v error -f lavfi -i "testsrc2=size=960x540:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$duration" \
  -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$dir/w/media/clip.mkv"
jclip=$dir/jf/media/clip.mkv

# ---- the pool: a short client heartbeat, paths mapped ----
export FFPOOL_LEASE_HEARTBEAT_TTL_MS=2000
export FFPOOL_PATHS_MAP="$dir/jf=$dir/w"
# This test's own capabilities cache; a probe without a pool does not wait.
export FFPOOL_SHIM_CAPS_CACHE=$dir/caps.cache FFPOOL_SHIM_PROBE_WAIT_MS=0
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 2 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
for _ in $(seq 1 50); do
  [ "$("$build/bin/ffpoolctl" --json workers 2>/dev/null | grep -o '"id"' | wc -l)" = 2 ] && break
  sleep 0.1
done

# ==== start-up probes through the binary ====
out=$("$ffmpeg_shim" -version 2>/dev/null)
check "-version matches ^ffmpeg version n?((?:[0-9]+\\.?)+) and names the CLI's version" \
  [ "$(echo "$out" | head -n 1 | grep -oE '^ffmpeg version n?([0-9]+\.?)+')" = \
    "$(ffmpeg -version | head -n 1 | grep -oE '^ffmpeg version n?([0-9]+\.?)+')" ]
check "-encoders lists libx264 in Jellyfin's format" \
  bash -c "'$ffmpeg_shim' -hide_banner -encoders 2>/dev/null | grep -qE '^ V[^ ]{5} libx264 +.+$'"
check "-h filter=scale says 'Filter scale' and lists its options" \
  bash -c "'$ffmpeg_shim' -h filter=scale 2>/dev/null | grep -q '^Filter scale$' &&
           '$ffmpeg_shim' -h filter=scale 2>/dev/null | grep -q 'force_original_aspect_ratio'"
started=$(now)
err=$(printf '?' | "$ffmpeg_shim" -hide_banner -f lavfi -i nullsrc=s=1x1:d=10000 -f null - 2>&1 >/dev/null) && rc=0 || rc=$?
took=$(elapsed "$started")
check "pause-key check: '?' shows 'p      pause transcoding', exit 0 at end of stdin (${took}s)" \
  bash -c "[ $rc = 0 ] && grep -q 'p      pause transcoding' <<<'$err' && awk 'BEGIN { exit !($took < 2) }'"
lowprio=(-loglevel quiet -hwaccel_flags +low_priority -hide_banner -f lavfi -i nullsrc=s=1x1:d=100 -f null -)
"$ffmpeg_shim" "${lowprio[@]}" </dev/null 2>/dev/null && rc=0 || rc=$?
ffmpeg "${lowprio[@]}" </dev/null 2>/dev/null && cli_rc=0 || cli_rc=$?
check "low-priority check exits like the pool's libav ($rc, CLI $cli_rc)" [ "$rc" = "$cli_rc" ]

# ffprobe runs on Jellyfin's host: its paths are Jellyfin's, never mapped
# (here the worker side of the map does not exist on this host).
json=$(FFPOOL_PATHS_MAP="$dir/jf=/ffpool-e2e-absent" "$ffprobe_shim" -v error \
  -print_format json -show_streams -show_format "file:$jclip" 2>/dev/null || true)
check "ffprobe reads Jellyfin's own path, unmapped (JSON streams h264 + aac)" \
  bash -c "grep -q '\"codec_name\": \"h264\"' <<<'$json' && grep -q '\"codec_name\": \"aac\"' <<<'$json'"
vframe=(-loglevel quiet -f lavfi -i nullsrc=s=1x1:d=1 -only_first_vframe)
"$ffprobe_shim" "${vframe[@]}" </dev/null >/dev/null 2>&1 && rc=0 || rc=$?
ffprobe "${vframe[@]}" </dev/null >/dev/null 2>&1 && cli_rc=0 || cli_rc=$?
check "ffprobe -only_first_vframe check answers as the local ffprobe ($rc, local $cli_rc)" [ "$rc" = "$cli_rc" ]

# No scheduler at all: the policy decides, quickly.
nowhere=tcp://127.0.0.1:$(free_port)
started=$(now)
out=$(FFPOOL_SCHEDULER_URL=$nowhere FFPOOL_SHIM_NO_POOL_POLICY=fallback "$ffmpeg_shim" -version 2>/dev/null || true)
took=$(elapsed "$started")
check "no pool, policy fallback: -version is the local ffmpeg's, in ${took}s (< 4 s)" \
  bash -c "[ \"\$1\" = \"\$(ffmpeg -version)\" ] && awk 'BEGIN { exit !($took < 4) }'" _ "$out"
started=$(now)
err=$(FFPOOL_SCHEDULER_URL=$nowhere FFPOOL_SHIM_NO_POOL_POLICY=fail "$ffmpeg_shim" -encoders 2>&1 >/dev/null) && rc=0 || rc=$?
took=$(elapsed "$started")
check "no pool, policy fail: exit $rc, a clear error, in ${took}s (< 4 s)" \
  bash -c "[ $rc != 0 ] && grep -q 'no_pool_policy=fail' <<<\"\$1\" && awk 'BEGIN { exit !($took < 4) }'" _ "$err"

# A scheduler with no worker registered: the same policies.
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 0 --dir "$dir/pool0" >/dev/null 2>&1
empty_url=$(sed -n 's/^export FFPOOL_SCHEDULER_URL=//p' "$dir/pool0/env")
started=$(now)
err=$(FFPOOL_SCHEDULER_URL=$empty_url FFPOOL_SHIM_NO_POOL_POLICY=fail "$ffmpeg_shim" -version 2>&1 >/dev/null) && rc=0 || rc=$?
took=$(elapsed "$started")
check "no worker registered, policy fail: exit $rc, says so, in ${took}s (< 1 s)" \
  bash -c "[ $rc != 0 ] && grep -q 'no worker has registered' <<<\"\$1\" && awk 'BEGIN { exit !($took < 1) }'" _ "$err"
out=$(FFPOOL_SCHEDULER_URL=$empty_url "$ffmpeg_shim" -hide_banner -encoders 2>/dev/null || true)
check "no worker registered, policy fallback (default): -encoders is the local ffmpeg's" \
  bash -c "[ \"\$1\" = \"\$(ffmpeg -hide_banner -encoders 2>/dev/null)\" ]" _ "$out"
FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$dir/pool0" >/dev/null 2>&1 || true

# ==== helpers for sessions ====
# jellyfin_args OUTDIR [--set OPT=V]...: the corpus line's argv in ${args[@]}.
jellyfin_args() {
  local outdir=$1; shift
  mkdir -p "${outdir/#$dir\/jf/$dir/w}"
  e2e_shim_args "$jclip" "$outdir" "$@"
}
segment_count() { ls "$(dirname "$pattern")" | grep -c '\.ts$' || true; }

# start_shim NAME: runs the shim on ${args[@]} with a stdin Jellyfin can
# write keys to (fd in key_fd) and stderr stamped line by line (\r or \n)
# into DIR/NAME.err; the pid goes to shim_pid.
start_shim() {
  local name=$1
  mkfifo "$dir/$name.in"
  exec {key_fd}<>"$dir/$name.in"
  key_fds+=("$key_fd")
  "$ffmpeg_shim" "${args[@]}" <"$dir/$name.in" 2> >(python3 -u -c '
import sys, time, re
buf = b""
while True:
    chunk = sys.stdin.buffer.read1(4096)
    if not chunk:
        break
    buf += chunk
    *lines, buf = re.split(rb"[\r\n]", buf)
    for line in lines:
        if line:
            sys.stdout.write("%.3f %s\n" % (time.time(), line.decode(errors="replace")))
    sys.stdout.flush()
' >"$dir/$name.err") &
  shim_pid=$!
  shim_pids+=("$shim_pid")
}

# Jellyfin's rule: segment N is ready when file N exists and file N+1
# exists or the process has exited.
segment_ready() { # N PID
  [ -e "$(segment_path "$1")" ] || return 1
  [ -e "$(segment_path $(($1 + 1)))" ] && return 0
  ! alive "$2"
}
wait_ready() { # N PID SECONDS
  local k
  for ((k = 0; k < $3 * 20; k++)); do segment_ready "$1" "$2" && return 0; sleep 0.05; done
  return 1
}
wait_exit() { # PID SECONDS
  local k
  for ((k = 0; k < $2 * 20; k++)); do alive "$1" || return 0; sleep 0.05; done
  return 1
}
# The stamper is a python process that may start well after the shim has
# written its first lines (seconds on a loaded machine), so wait for the line.
job_of() { # NAME: the job id the shim announced, waiting up to 10 s for it
  local k id
  for ((k = 0; k < 200; k++)); do
    id=$(sed -n 's/^[0-9.]* ffpool: job \([^ ]*\) for .*/\1/p' "$dir/$1.err" 2>/dev/null | head -n 1)
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.05
  done
  return 1
}
job_state() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$1" state; }
wait_state() { # JOB STATE SECONDS
  local k
  for ((k = 0; k < $3 * 20; k++)); do [ "$(job_state "$1")" = "$2" ] && return 0; sleep 0.05; done
  return 1
}
running_jobs() {
  "$build/bin/ffpoolctl" --json workers | grep -o '"running":[0-9]*' | cut -d: -f2 |
    awk '{ s += $1 } END { print s + 0 }'
}

# Jellyfin's progress parser (TranscodeManager.ParseLogLine): split on single
# spaces; fps from "fps=X" (or "fps=" then X), time= as a TimeSpan, size= must
# contain "kb", bitrate= must contain "kbits/s". Prints "lines parsed max_gap".
progress_report() {
  python3 - "$1" <<'PY'
import re, sys
stamps, parsed = [], 0
for record in open(sys.argv[1], errors="replace"):
    t, _, line = record.rstrip("\n").partition(" ")
    if not line.startswith("frame="):
        continue
    stamps.append(float(t))
    parts = line.split(" ")
    ok = {"fps": False, "time": False, "size": False, "bitrate": False}
    for i, p in enumerate(parts):
        low = p.lower()
        if low == "fps=" and i + 1 < len(parts):
            try: float(parts[i + 1]); ok["fps"] = True
            except ValueError: pass
        elif low.startswith("fps="):
            try: float(p.split("=", 1)[1]); ok["fps"] = True
            except ValueError: pass
        elif low.startswith("time="):
            ok["time"] = re.fullmatch(r"\d+:\d\d:\d\d(\.\d+)?", p.split("=", 1)[1]) is not None
        elif low.startswith("size="):
            v = p.split("=", 1)[1]
            if "kb" in v.lower():
                try: int(re.sub("(?i)kb", "", v)); ok["size"] = True
                except ValueError: pass
        elif low.startswith("bitrate="):
            v = p.split("=", 1)[1]
            if "kbits/s" in v.lower():
                try: float(re.sub("(?i)kbits/s", "", v)); ok["bitrate"] = True
                except ValueError: pass
    parsed += all(ok.values())
gaps = [b - a for a, b in zip(stamps, stamps[1:])]
print(len(stamps), parsed, "%.3f" % (max(gaps) if gaps else 99))
PY
}

# ==== session 1: play, pause, resume, stop with q ====
tc1=$dir/jf/tc1
jellyfin_args "$tc1"
start_shim s1
s1=$shim_pid
check "segment 0 ready by Jellyfin's rule" wait_ready 0 "$s1" 60
job1=$(job_of s1)
check "the scheduler got worker-side paths (paths.map)" \
  grep -q "event=submit job=$job1 input=\"\\?$dir/w/media/clip.mkv\"\\? output=\"\\?$dir/w/tc1/" "$pool/scheduler.log"
printf p >&"$key_fd"
# The worker sees the pause at its next lease renewal (TTL/3 = 1 s): wait
# until no segment has appeared for 1.5 s, then watch for 2 s more.
paused_count=$(segment_count)
for _ in $(seq 1 20); do
  sleep 1.5
  [ "$(segment_count)" = "$paused_count" ] && break
  paused_count=$(segment_count)
done
sleep 2
check "no segment appears while paused ($paused_count before, $(segment_count) after 2 s)" \
  [ "$(segment_count)" = "$paused_count" ]
check "the job reads paused" [ "$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job1" paused)" = 1 ]
printf u >&"$key_fd"
resumed=0
for _ in $(seq 1 200); do
  [ "$(segment_count)" -gt "$paused_count" ] && { resumed=1; break; }
  sleep 0.05
done
printf 'q\n' >&"$key_fd"
quit_at=$(now)
check "segments continue after u" [ "$resumed" = 1 ]
wait_exit "$s1" 5 || true
took=$(elapsed "$quit_at")
check "q: the shim exits within 1 s (${took}s)" lt "$took" 1
check "q: the job is cancelled" wait_state "$job1" cancelled 3
read -r n_lines n_parsed max_gap < <(progress_report "$dir/s1.err")
check "progress: $n_lines lines, $n_parsed parse with Jellyfin's rules, largest gap ${max_gap}s (<= 1 s)" \
  bash -c "[ $n_lines -ge 3 ] && [ $n_parsed = $n_lines ] && awk 'BEGIN { exit !($max_gap <= 1.05) }'"
freed=0
for _ in $(seq 1 100); do [ "$(running_jobs)" = 0 ] && { freed=1; break; }; sleep 0.1; done
check "q: the worker frees its slot" [ "$freed" = 1 ]
count=$(segment_count)
sleep 1.5
check "q: no segment after the cancel" [ "$(segment_count)" = "$count" ]

# ==== session 2: seek restart, like Jellyfin ====
newest=$(ls -t "$(dirname "$pattern")" | grep '\.ts$' | head -n 1)
restart=$(sed 's/.*[^0-9]\([0-9]*\)\.ts$/\1/' <<<"$newest")
rm -f "$(dirname "$pattern")/$newest"
seek=$(awk -v n="$restart" -v t="$hls_time" 'BEGIN { s = n * t; printf "%02d:%02d:%06.3f", s / 3600, s % 3600 / 60, s % 60 }')
jellyfin_args "$tc1" "--set=-start_number=$restart"
with_seek=()
for a in "${args[@]}"; do
  [ "$a" = -i ] && with_seek+=(-ss "$seek")
  with_seek+=("$a")
done
args=("${with_seek[@]}")
start_shim s2
s2=$shim_pid
check "seek restart at segment $restart (-ss $seek): segment $restart ready" wait_ready "$restart" "$s2" 60
wait_exit "$s2" 90 || true
rc=0; wait "$s2" || rc=$?
check "seek restart: the shim exits 0 at the end (rc=$rc)" [ "$rc" = 0 ]
# Jellyfin adds the job's start to time=, so time= counts from the job's
# first output (ffmpeg's under -copyts): the last one is the job's own
# length, duration - restart x T, not the stream time it reached.
last_time=$(grep -o 'time=[0-9:.]*' "$dir/s2.err" | tail -n 1 |
  awk -F'[=:]' '{ printf "%.2f", $2 * 3600 + $3 * 60 + $4 }')
check "seek restart: the last time= is the job's own length, $((duration - restart * hls_time)) s (time=${last_time:-none})" \
  awk -v t="${last_time:--1}" -v want="$((duration - restart * hls_time))" 'BEGIN { exit !(t - want < 1 && want - t < 1) }'
last=$(( (duration + hls_time - 1) / hls_time - 1 ))
missing=0
for ((n = 0; n <= last; n++)); do [ -e "$(segment_path "$n")" ] || missing=$((missing + 1)); done
check "segments 0..$last all present after the restart" [ "$missing" = 0 ]
check "no empty segment file after the end" [ -z "$(find "$(dirname "$pattern")" -name '*.ts' -size 0)" ]
out=$(ffmpeg -v error -i "$(segment_path "$restart")" -f null - 2>&1 || echo "exit $?")
check "the restarted segment $restart decodes cleanly" [ -z "$out" ]
first_pts() { ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 "$1" |
  awk -F, '$1 != "" { print $1 }' | sort -g | head -n 1; }
pts0=$(first_pts "$(segment_path 0)")
ptsn=$(first_pts "$(segment_path "$restart")")
check "segment $restart starts $restart x ${hls_time}s after segment 0 (pts $pts0 -> $ptsn)" \
  awk -v a="$pts0" -v b="$ptsn" -v d="$((restart * hls_time))" 'BEGIN { x = b - a - d; exit !(x < 0.05 && x > -0.05) }'

# ==== session 3: attach ====
jellyfin_args "$dir/jf/tc2"
start_shim s3a
s3a=$shim_pid
job_of s3a >/dev/null || true
start_shim s3b
s3b=$shim_pid
wait_exit "$s3a" 90 || true
wait_exit "$s3b" 10 || true
rc_a=0; wait "$s3a" || rc_a=$?
rc_b=0; wait "$s3b" || rc_b=$?
check "attach: both shims exit 0 ($rc_a, $rc_b)" [ "$rc_a:$rc_b" = 0:0 ]
check "attach: the second shim joined job $(job_of s3a) ($(job_of s3b))" \
  bash -c "[ -n '$(job_of s3a)' ] && [ '$(job_of s3a)' = '$(job_of s3b)' ] && grep -q 'event=attached' '$dir/s3b.err'"
check "attach: one job submitted for the output" \
  [ "$(grep -c "event=submit .*output=\"\\?$dir/w/tc2/" "$pool/scheduler.log")" = 1 ]

# ==== session 4: a SIGKILLed shim ====
jellyfin_args "$dir/jf/tc3"
start_shim s4
s4=$shim_pid
wait_ready 0 "$s4" 60 || true
job4=$(job_of s4)
# Paused first (Jellyfin throttling), so that the job is still there to be
# cancelled however fast this machine encodes the rest of the clip.
printf p >&"$key_fd"
for _ in $(seq 1 100); do
  [ "$(redis-cli -p "$FFPOOL_REDIS_PORT" --raw HGET "ffpool:job:$job4" paused)" = 1 ] && break
  sleep 0.05
done
kill -KILL "$s4"
killed_at=$(now)
check "SIGKILL: job $job4 is cancelled once the 2 s heartbeat lapses" wait_state "$job4" cancelled 10
took=$(elapsed "$killed_at")
check "SIGKILL: cancelled after ${took}s (between 1.5 and 8 s)" \
  bash -c "awk 'BEGIN { exit !($took >= 1.5 && $took < 8) }'"
count=$(segment_count)
sleep 1.5
check "SIGKILL: no segment after the cancel" [ "$(segment_count)" = "$count" ]

e2e_finish "$dir"/*.err "$pool"/*.log
