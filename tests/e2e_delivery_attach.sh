#!/usr/bin/env bash
# e2e_delivery_attach.sh -- a second shim attaches to a delivered job
# (shim.delivery shim) once the first is gone, as when the Jellyfin that
# ran a line dies and another replica runs the same line: the submit finds
# the running job by its key, and the new shim follows its owner as the
# first did (JobStatus.delivery). It asks for the stream from its start;
# the owner answers AHEAD with the first segment no shim has acknowledged,
# and the new shim goes on from there.
#
# Each shim runs in a mount namespace of its own with a private tmpfs over
# Jellyfin's folder (unshare -m, as root), as two Jellyfin pods would: the
# first is SIGKILLed once it holds segment 2; the second is started at
# once with the same command line.
#
# Checks: the second shim attached (no second job), was told where to go
# on, and exited 0; the job ended done with no takeover; the second shim's
# folder holds every segment from the first one the first shim never
# acknowledged to the end, and a complete playlist; a segment both shims
# hold is the same file; the two folders together hold the whole stream
# (every segment once, every frame, each segment's times those of an
# uninterrupted run), and each index was checkpointed once. Then a shim
# that goes away with no other to attach: the job is cancelled, its spool
# folder removed; a shim whose folder is full (ENOSPC) exits 1 saying so
# and its job is cancelled; and the worker serves the next job.
# Usage: tests/e2e_delivery_attach.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_need_namespace
export FFPOOL_WORKER_SPOOL_DIR=$dir/spool
lease_clip 36 640x360
lease_pool_up 1
lease_reference

mkdir -p "$dir/first" "$dir/second"
lease_runner=(lease_delivered "$dir/transcodes" "$dir/first")
lease_shim_start
has_job() { [ -n "$(e2e_job_id "$dir/shim.log")" ]; }
wait_until 60 has_job || { say "FAIL no job"; exit 1; }
lease_job_id=$(e2e_job_id "$dir/shim.log")
held_at() { [ "$(lease_job_field checkpoint)" -ge "$1" ] 2>/dev/null; }
wait_until 60 held_at $((lease_start_number + 2)) || { say "FAIL the first shim got no segment 2"; exit 1; }
first_shim=$(pgrep -f "^$build/jellyfin/ffmpeg .*$dir/transcodes" | head -n 1)
check "found the first shim's own process ($first_shim)" [ -n "$first_shim" ]
kill -KILL "$first_shim"
lease_shim_wait 30
held=$(lease_job_field checkpoint)
say "SIGKILLed the first shim; the job's checkpoint (what it acknowledged) was segment $held"

rc2=0
lease_delivered "$dir/transcodes" "$dir/second" "$build/jellyfin/ffmpeg" "${lease_args[@]}" \
  </dev/null 2>"$dir/second.log" || rc2=$?
check "the second shim exited 0 (rc=$rc2)" [ "$rc2" = 0 ]
check "it attached to the running job ($lease_job_id), no second job" \
  grep -q "event=attached job=$lease_job_id" "$dir/second.log"
check "it was told where the stream goes on" \
  grep -q "event=fetch_attached job=$lease_job_id" "$dir/second.log"
state=$(lease_job_field state); takeovers=$(lease_job_field takeovers)
check "job done with no takeover ($state, $takeovers)" [ "$state:$takeovers" = "done:0" ]
check "nothing appeared in the transcode folder as the workers see it" \
  [ -z "$(ls -A "$dir/transcodes")" ]

# What the second shim holds: every segment from the first one the first
# shim never acknowledged to the end, and a playlist of the whole stream.
last=$((lease_start_number + lease_expected - 1))
second_from=$((held + 1))
second_whole() {
  local n
  for ((n = second_from; n <= last; n++)); do
    [ -s "$dir/second/$(basename "$(segment_path "$n")")" ] || return 1
  done
}
check "the second shim holds segments $second_from to $last" second_whole
check "its playlist lists the whole stream and ends" \
  bash -c "[ \$(grep -c '^#EXTINF' '$dir/second/$(basename "$lease_playlist")') = $lease_expected ] &&
    grep -qx '#EXT-X-ENDLIST' '$dir/second/$(basename "$lease_playlist")'"
both_same() {
  local f
  for f in "$dir"/first/*.ts; do
    # (an empty file is a placeholder the SIGKILLed shim left)
    if [ ! -s "$f" ] || [ ! -e "$dir/second/$(basename "$f")" ]; then continue; fi
    cmp -s "$f" "$dir/second/$(basename "$f")" || return 1
  done
}
check "a segment both shims hold is the same file" both_same

# The two folders together: the whole stream, as one Jellyfin folder shared
# by both replicas would hold it.
rmdir "$dir/transcodes"
mkdir -p "$dir/transcodes"
find "$dir/first" -name '*.ts' -size +0 -exec cp -t "$dir/transcodes/" {} +
cp "$dir"/second/* "$dir/transcodes/"
lease_shim_rc=$rc2
lease_check_output

# ---- a shim that goes away for good ---------------------------------------
# Jellyfin gone and no other shim: nobody asks for the segments, the owner
# stops at worker.delivery_ahead of them, the shim's heartbeat lapses
# (lease.heartbeat_ttl_ms, 15 s) and the job is cancelled; the worker
# removes its spool folder and serves the next job.
rm -rf "$dir/transcodes" "$dir/first"
mkdir -p "$dir/transcodes" "$dir/first"
lease_shim_start
wait_until 60 has_job || { say "FAIL no job"; exit 1; }
lease_job_id=$(e2e_job_id "$dir/shim.log")
wait_until 60 held_at "$lease_start_number" || { say "FAIL the shim got no segment"; exit 1; }
gone_shim=$(pgrep -f "^$build/jellyfin/ffmpeg .*$dir/transcodes" | head -n 1)
kill -KILL "$gone_shim"
gone_at=$(now)
lease_shim_wait 30
ended() { [ "$(lease_job_field state)" = cancelled ]; }
wait_until 40 ended || true
state=$(lease_job_field state)
check "with no shim left, the job was cancelled ($state, $(elapsed "$gone_at" "$(now)") s after the kill)" \
  [ "$state" = cancelled ]
spool_empty() { [ -z "$(find "$dir/spool" -mindepth 1 -maxdepth 1)" ]; }
wait_until 10 spool_empty || true
check "the worker removed the job's spool folder" spool_empty

# ---- a folder that cannot take the segments --------------------------------
# Jellyfin's folder full (a 16 kB tmpfs): the shim tries each write 20
# times, 250 ms apart, then ends the job: it exits 1 saying why and cancels
# it, and the worker removes its spool folder. (Another folder: another
# job, not the cancelled one's key.)
full_args=("${lease_args[@]//"$dir/transcodes"/"$dir/fullfolder"}")
mkdir -p "$dir/fullfolder" "$dir/full"
rc3=0
full_at=$(now)
lease_tmpfs_size=16k lease_delivered "$dir/fullfolder" "$dir/full" "$build/jellyfin/ffmpeg" \
  "${full_args[@]}" </dev/null 2>"$dir/full.log" || rc3=$?
check "a shim whose folder is full exits 1 (rc=$rc3, $(elapsed "$full_at" "$(now)") s)" [ "$rc3" = 1 ]
check "it says why ($(grep -o "cannot write into Jellyfin's folder: [^:]*: [^\"]*" "$dir/full.log" | head -n 1))" \
  grep -q "Error: cannot write into Jellyfin's folder: .*No space left on device" "$dir/full.log"
lease_job_id=$(e2e_job_id "$dir/full.log")
check "its job ($lease_job_id) was cancelled" [ "$(lease_job_field state)" = cancelled ]
wait_until 10 spool_empty || true
check "the worker removed that job's spool folder too" spool_empty
rm -rf "$dir/transcodes" "$dir/reference"
lease_runner=()
lease_shim_start "$lease_clip" "$dir/reference"
lease_shim_wait 120
check "the worker then serves the next job (shared folder: rc=$lease_shim_rc)" [ "$lease_shim_rc" = 0 ]
lease_finish
