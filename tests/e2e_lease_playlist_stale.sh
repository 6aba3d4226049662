#!/usr/bin/env bash
# e2e_lease_playlist_stale.sh -- an owner stalls between checkpointing a
# segment and writing the playlist (test hook
# FFPOOL_TEST_STOP_BEFORE_PLAYLIST_AT_SEGMENT: its job process SIGSTOPped
# there, as a frozen VM or an NFS stall would hold it). The other worker
# takes the job over, finishes the stream and completes it; then the stalled
# owner is continued, and must not replace the final playlist with its own
# older one (no #EXT-X-ENDLIST, missing the later segments):
#   - while it is stopped, a temporary playlist named for it (as it would
#     have left one had it stalled half-way through writing) is beside the
#     playlist; the new owner's stale-temp sweep removes it;
#   - after SIGCONT the stalled owner refuses to put its playlist in place
#     (event=playlist_refused: the lease is no longer certainly its), and
#     its temporary file is its own (owner and epoch in the name), not one
#     every writer shares;
#   - the playlist is byte for byte the new owner's final one, unchanged
#     (inode and mtime) after the stalled owner's exit; the stream is
#     complete (ENDLIST, decodes, every frame once, each index published
#     once); no temporary file is left; the job is done, epoch 2.
# Usage: tests/e2e_lease_playlist_stale.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 15 640x360
export FFPOOL_TEST_STOP_BEFORE_PLAYLIST_AT_SEGMENT=1 FFPOOL_TEST_STOP_BEFORE_PLAYLIST_INPUT=clip.mkv
lease_pool_up 2 3000
unset FFPOOL_TEST_STOP_BEFORE_PLAYLIST_AT_SEGMENT FFPOOL_TEST_STOP_BEFORE_PLAYLIST_INPUT
stalled_pid=""
continue_stalled() { [ -z "$stalled_pid" ] || kill -CONT "$stalled_pid" 2>/dev/null || true; }
e2e_at_exit continue_stalled
lease_shim_start
lease_wait_segment 0 120

hook_log() { grep -l "event=test_hook job=$lease_job_id .*STOP_BEFORE_PLAYLIST" "$pool"/worker-*.log; }
wait_until 60 hook_log >/dev/null || { say "FAIL the hook never stopped the owner"; exit 1; }
stalled_log=$(hook_log | head -n 1)
stalled_owner=$(basename "$stalled_log" .log)
stalled_pid=$(sed -n "s/.*event=test_hook job=$lease_job_id .* pid=\([0-9]*\) .*/\1/p" "$stalled_log" | head -n 1)
stalled_epoch=$(sed -n "s/.*event=job_process_started job=$lease_job_id epoch=\([0-9]*\) pid=$stalled_pid\$/\1/p" \
  "$stalled_log" | head -n 1)
stopped() { [ "$(awk '/^State:/ { print $2 }' "/proc/$stalled_pid/status" 2>/dev/null)" = T ]; }
wait_until 10 stopped || { say "FAIL job process $stalled_pid is not stopped"; exit 1; }
say "job process $stalled_pid of $stalled_owner (epoch $stalled_epoch) stopped after checkpointing segment 1"
# What the stalled owner would have left had it stopped half-way through
# writing its playlist.
stale_temp=$lease_playlist.$stalled_owner.e$stalled_epoch.tmp
printf '#EXTM3U\n# half-written by a stalled owner\n' >"$stale_temp"

lease_shim_wait 120
new_owner=$(lease_job_field owner)
check "another worker took the job over ($stalled_owner -> $new_owner)" [ "$new_owner" != "$stalled_owner" ]
check "the new owner's sweep removed the stalled owner's temporary playlist" \
  bash -c "[ ! -e '$stale_temp' ] && grep -q 'event=stale_temp_removed job=$lease_job_id .*$(basename "$stale_temp")' '$pool/$new_owner.log'"
cp "$lease_playlist" "$dir/playlist.final"
before=$(stat -c '%i %.9Y' "$lease_playlist")

kill -CONT "$stalled_pid"
gone() { ! alive "$stalled_pid"; }
check "the stalled job process ended after SIGCONT" wait_until 30 gone
stalled_pid=""
sleep 0.5
after=$(stat -c '%i %.9Y' "$lease_playlist")
check "the playlist was not replaced after the new owner's end ($before / $after)" [ "$before" = "$after" ]
check "the playlist is the new owner's final one" cmp -s "$dir/playlist.final" "$lease_playlist"
refused=$(grep -h "event=playlist_refused job=$lease_job_id " "$pool/$stalled_owner.log" || true)
check "the stalled owner refused to put its playlist in place" [ -n "$refused" ]
check "its temporary playlist was its own ($(sed -n 's/.* temp=\([^ ]*\).*/\1/p' <<<"$refused"))" \
  grep -q "temp=\"\?$lease_playlist\.$stalled_owner\.e$stalled_epoch\.tmp" <<<"$refused"
lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch)
check "job done, epoch $((stalled_epoch + 1)) ($state epoch=$epoch)" \
  [ "$state:$epoch" = "done:$((stalled_epoch + 1))" ]
lease_finish
