#!/usr/bin/env bash
# e2e_delivery.sh -- no shared transcode folder (shim.delivery shim,
# worker/delivery.h, shim/fetch.h): the workers write an HLS stream into
# folders of their own and the shim fetches each segment into Jellyfin's.
#
# The shim runs in a mount namespace of its own (unshare -m, as root) with a
# private tmpfs over Jellyfin's transcode folder, so nothing a worker writes
# to that path can reach it: whatever Jellyfin's folder holds came through
# the shim. The worker holding the job is SIGKILLed once the shim holds
# segment 2 (the job's checkpoint, which in this mode records what the shim
# has acknowledged), wherever its pipeline then is: the segments it made
# and never delivered are made again by the survivor.
#
# Checks: the shim exits 0; the folder as the workers see it stays empty;
# Jellyfin's folder (copied out of the namespace when the shim exits) holds
# every segment, no temporary file, a complete playlist that decodes end to
# end, every frame of the clip once, each segment's presentation times
# those of the same line run in the shared-folder mode (the reference), each
# index checkpointed by exactly one owner; the job ends done with one
# takeover; no spool folder is left by the survivor. Then an fMP4 line
# (init segment and all), the same line run by the worker's ffmpeg CLI, an
# mp3 and an m4a delivered the same way must give exactly the files the
# shared-folder mode gives; and run-once lines (trickplay, extraction of
# one and of two subtitles) the local CLI's files.
# Prints delivery_takeover_gap_s=X (kill to the next segment checkpointed).
# Usage: tests/e2e_delivery.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_need_namespace
export FFPOOL_WORKER_SPOOL_DIR=$dir/spool
lease_clip 36 640x360
lease_pool_up 2
lease_reference

# ---- the delivered run, the shim in its own mount namespace ---------------
mkdir -p "$dir/delivered"
lease_runner=(lease_delivered "$dir/transcodes" "$dir/delivered")
lease_shim_start
# Held by Jellyfin's pause once the shim has its first segment, the shim
# then fetching all the owner has made; then the shim is stopped (SIGSTOP, 3 s: its heartbeat
# lasts 15 s) and the pause lifted, so that the owner makes segments the
# shim never gets; then the owner is SIGKILLed and the shim continued.
has_job() { [ -n "$(e2e_job_id "$dir/shim.log")" ]; }
wait_until 60 has_job || { say "FAIL no job"; exit 1; }
lease_job_id=$(e2e_job_id "$dir/shim.log")
held_at() { [ "$(lease_job_field checkpoint)" -ge "$1" ] 2>/dev/null; }
wait_until 60 held_at "$lease_start_number" || { say "FAIL the shim got no segment"; exit 1; }
rc HSET "ffpool:job:$lease_job_id" paused 1 >/dev/null
sleep 1.5
shim_only=$(pgrep -f "^$build/jellyfin/ffmpeg .*$dir/transcodes" | head -n 1)
check "found the shim's own process ($shim_only)" [ -n "$shim_only" ]
kill -STOP "$shim_only"
held=$(lease_job_field checkpoint)
rc HSET "ffpool:job:$lease_job_id" paused 0 >/dev/null
# The owner hears of the resume at its next renewal (1 s), then makes
# segments until it holds worker.delivery_ahead of them.
sleep 3
victim=$(lease_job_field owner)
victim_pid=$(cat "$pool/$victim.pid")
made=$(find "$dir/spool" -name '*.ts' | wc -l)
lease_signal_worker KILL "$victim_pid"
killed=$(now)
kill -CONT "$shim_only"
say "SIGKILLed $victim (pid $victim_pid): the shim held up to segment $held, $made made and not delivered"
check "the owner had made segments the shim never got ($made)" [ "$made" -ge 1 ]
check "... at most worker.delivery_ahead (3) of them: the spool is bounded" [ "$made" -le 3 ]
lease_shim_wait 120

check "nothing appeared in the transcode folder as the workers see it" \
  [ -z "$(ls -A "$dir/transcodes")" ]
check "the folder the shim wrote was its namespace's own (segments came out of it)" \
  [ -n "$(ls -A "$dir/delivered")" ]
rmdir "$dir/transcodes" && mv "$dir/delivered" "$dir/transcodes"
lease_check_output
first_new=$(awk -v w="$victim" '$3 != w { print $1; exit }' "$dir/owners")
gap=nan
if [ -n "$first_new" ]; then
  at=$(grep -h "event=segment job=$lease_job_id segment=$first_new " "$pool"/worker-*.log |
    sed -n 's/^ts=\([^ ]*\) .*/\1/p' | head -n 1)
  [ -z "$at" ] || gap=$(elapsed "$killed" "$(date -d "$at" +%s.%N)")
fi
say "the survivor's first checkpointed segment ($first_new) came $gap s after the kill"
echo "delivery_takeover_gap_s=$gap"
state=$(lease_job_field state); takeovers=$(lease_job_field takeovers)
check "job done with one takeover ($state, $takeovers)" [ "$state:$takeovers" = "done:1" ]
survivor=$(lease_job_field owner)
check "the survivor left no spool folder" \
  [ -z "$(find "$dir/spool" -mindepth 1 -maxdepth 1 -name "*.$survivor.*")" ]

# ---- the same files as the shared-folder mode -----------------------------
# deliver_same NAME CORPUS [FILES]: the line run once in the shared-folder
# mode and once delivered (shim in its namespace); every file (at least
# FILES, 3 unless given), init segment and playlist included, must be the
# same.
deliver_same() {
  local name=$1 corpus=$2 least=${3:-3} rc_shared=0 rc_ns=0
  local shared=$dir/$name-shared ns=$dir/$name-ns delivered=$dir/$name-delivered
  mkdir -p "$shared" "$ns" "$delivered"
  mapfile -d '' shared_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" \
    --input "$lease_clip" --outdir "$shared")
  mapfile -d '' ns_args < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" \
    --input "$lease_clip" --outdir "$ns")
  "$build/jellyfin/ffmpeg" "${shared_args[@]}" </dev/null 2>"$shared.log" || rc_shared=$?
  lease_delivered "$ns" "$delivered" "$build/jellyfin/ffmpeg" "${ns_args[@]}" </dev/null \
    2>"$ns.log" || rc_ns=$?
  check "$name: both shims exited 0 ($rc_shared, $rc_ns)" [ "$rc_shared:$rc_ns" = 0:0 ]
  check "$name: nothing in the folder as the workers see it" [ -z "$(ls -A "$ns")" ]
  same() {
    local f n=0
    for f in "$shared"/*; do
      cmp -s "$f" "$delivered/$(basename "$f")" || return 1
      n=$((n + 1))
    done
    [ "$n" -ge "$least" ] && [ "$(find "$delivered" -type f | wc -l)" = "$n" ]
  }
  check "$name: every file delivered ($(find "$delivered" -type f | wc -l)) is the shared mode's, byte for byte" \
    same
}

# fMP4 (corpus 121): the init segment too.
deliver_same fmp4 "$(e2e_corpus 121)"

# A line only the worker's ffmpeg CLI runs (corpus 121 with the -async 1
# EncodingHelper adds for WMA/ASF sources, and Debian's aac encoder for
# jellyfin-ffmpeg's libfdk_aac): the CLI writes into the run's folder
# inside the spool, and its segments and init segment are delivered as the
# pipeline's are.
sed -e 's|"-analyzeduration |"-async 1 -analyzeduration |' -e 's|libfdk_aac|aac|' \
  "$(e2e_corpus 121)" >"$dir/cli.txt"
deliver_same cli "$dir/cli.txt"
check "cli: the line ran on a worker's CLI" grep -q 'reason="cli: ' "$dir/cli-ns.log"
# Progressive outputs: one file, written where Jellyfin tails it as it
# grows. The mp3 muxer rewrites its first frame (the Xing header: frame
# count, sizes, seek table) at the end, after the shim has it: those bytes
# come again and are written in place (Delivery.rewrite).
deliver_same mp3 "$(e2e_corpus 034)" 1
check "mp3: the muxer's rewrite at the end was delivered in place" \
  grep -Eq 'event=output_delivered .*rewrites=[1-9]' "$dir/mp3-ns.log"
deliver_same m4a "$(e2e_corpus 133)" 1

# ---- run-once lines: their files come through the shim too ----------------
# local_same NAME ARGS...: the line on the local ffmpeg CLI (outputs under
# NAME-local) and through a delivering shim in its namespace (NAME-ns,
# copied to NAME-delivered), "{out}" standing for the folder: the same exit
# status, the same files byte for byte, and nothing in the folder as the
# workers see it.
local_same() {
  local name=$1 a rc_local=0 rc_ns=0
  shift
  mkdir -p "$dir/$name-local" "$dir/$name-ns" "$dir/$name-delivered"
  local local_line=() ns_line=()
  for a in "$@"; do
    local_line+=("${a//\{out\}/$dir/$name-local}")
    ns_line+=("${a//\{out\}/$dir/$name-ns}")
  done
  ffmpeg "${local_line[@]}" </dev/null >/dev/null 2>&1 || rc_local=$?
  : >"$dir/$name-ns.log"
  FFPOOL_SHIM_LOG_FILE=$dir/$name-ns.log lease_delivered "$dir/$name-ns" "$dir/$name-delivered" \
    "$build/jellyfin/ffmpeg" "${ns_line[@]}" </dev/null >/dev/null 2>&1 || rc_ns=$?
  check "$name: the same exit status ($rc_local, $rc_ns)" [ "$rc_local" = "$rc_ns" ]
  check "$name: it ran on a worker's CLI" grep -q 'reason="cli: run once' "$dir/$name-ns.log"
  check "$name: the files delivered ($(find "$dir/$name-delivered" -type f | wc -l)) are the local CLI's, byte for byte" \
    bash -c "[ -n \"\$(ls -A '$dir/$name-local')\" ] && diff -r '$dir/$name-local' '$dir/$name-delivered'"
  check "$name: nothing in the folder as the workers see it" [ -z "$(ls -A "$dir/$name-ns")" ]
}
printf '1\n00:00:01,000 --> 00:00:03,000\nFirst line\n\n2\n00:00:05,000 --> 00:00:08,500\nSecond line\n' \
  >"$dir/subs.srt"
ffmpeg -nostdin -v error -i "$lease_clip" -i "$dir/subs.srt" -i "$dir/subs.srt" -map 0 -map 1 \
  -map 2 -c copy -c:s ass "$dir/subbed.mkv"
# Trickplay as Jellyfin 10.9+ makes it: tile sheets by an image2 pattern,
# delivered by name once the line has run.
local_same trickplay -loglevel error -an -sn -skip_frame nokey -i "$lease_clip" -threads 1 \
  -vf "fps=1/2,scale=w=160:h=90,tile=4x3" -c:v mjpeg -qscale:v 3 -f image2 -start_number 0 \
  "{out}/%08d.jpg"
# One extracted subtitle: one file, served as it grows.
local_same extract -i "$dir/subbed.mkv" -copyts -map 0:2 -an -vn -c:s copy "{out}/subs.ass"
# Jellyfin 10.11 extracts every text track in one run: two files.
local_same extract2 -i "$dir/subbed.mkv" -copyts -map 0:2 -an -vn -c:s copy "{out}/a.ass" \
  -map 0:3 -an -vn -c:s srt "{out}/b.srt"
lease_finish
