#!/usr/bin/env bash
# e2e_lease_playlist_end.sh -- the owner's machine is lost between
# checkpointing the stream's last segment and writing the playlist (test
# hook FFPOOL_TEST_DIE_BEFORE_PLAYLIST_INPUT: the worker and its job process
# SIGKILLed there). The other worker takes the job over at lease expiry and
# finds every segment checkpointed (event=stream_already_complete); it must
# write the final playlist before completing:
#   - the playlist lists every segment and ends with #EXT-X-ENDLIST (a
#     player does not poll it for ever), decodes end to end, every frame of
#     the clip once; every segment published once, by the first owner;
#   - the job ends done after one takeover (epoch 2), and the shim exits 0;
#   - no temporary file is left beside the playlist.
# Usage: tests/e2e_lease_playlist_end.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_clip 12 640x360
export FFPOOL_TEST_DIE_BEFORE_PLAYLIST_INPUT=clip.mkv
lease_pool_up 2 3000
unset FFPOOL_TEST_DIE_BEFORE_PLAYLIST_INPUT
lease_shim_start
lease_wait_segment 0 120
lease_shim_wait 120

lost=$(grep -l "event=test_hook job=$lease_job_id .*DIE_BEFORE_PLAYLIST" "$pool"/worker-*.log | head -n 1)
check "the first owner was lost before writing the final playlist" [ -n "$lost" ]
taker=$(lease_job_field owner)
check "the other worker found the stream complete" \
  grep -q "event=stream_already_complete job=$lease_job_id " "$pool/$taker.log"
last=$((lease_start_number + lease_expected - 1))
check "the playlist lists the last segment ($(basename "$(segment_path $last)"))" \
  grep -q "$(basename "$(segment_path $last)")\$" "$lease_playlist"
lease_check_output
state=$(lease_job_field state); epoch=$(lease_job_field epoch); takeovers=$(lease_job_field takeovers)
check "job done after one takeover ($state epoch=$epoch takeovers=$takeovers)" \
  [ "$state:$epoch:$takeovers" = "done:2:1" ]
lease_finish
