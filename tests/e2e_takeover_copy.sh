#!/usr/bin/env bash
# e2e_takeover_copy.sh -- the takeover test (e2e_takeover.sh) on Jellyfin's
# remuxes (video copied), whose survivor seeks to the stream time of its
# first segment instead of re-encoding from a keyframe before it: a 30 s
# clip (keyframe every 2 s, so the 6 s segments cut where the CLI would)
# through
#   - tests/corpus/018, H.264 copied into MPEG-TS (run from the start: its
#     -ss is dropped and -start_number set to 0);
#   - 004, H.264 copied into fMP4, the audio encoded;
#   - 044, HEVC copied into fMP4 (hvc1), the audio copied (an H.265 clip);
# the worker holding the job SIGKILLed after segment 1. Every check of
# e2e_takeover.sh, the per-segment presentation times against the
# uninterrupted run's included. Options go to every run.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
failed=()
run() { # run LINE [OPTION...]
  local line=$1
  shift
  "$here/tests/e2e_takeover.sh" --corpus "$line" --duration 30 --kill-at-segment 1 "$@" ||
    failed+=("$line")
}
run 018 --drop -ss --set -start_number=0 "$@"
run 004 "$@"
run 044 --hevc "$@"
if [ ${#failed[@]} -gt 0 ]; then
  echo "e2e_takeover_copy: FAIL tests/corpus ${failed[*]} (checks above)" >&2
  exit 1
fi
echo "e2e_takeover_copy: all checks passed (tests/corpus 018 004 044)" >&2
