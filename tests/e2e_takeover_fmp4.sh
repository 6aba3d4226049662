#!/usr/bin/env bash
# e2e_takeover_fmp4.sh -- the takeover test (e2e_takeover.sh) on streams in
# fMP4 segments, which Jellyfin uses for HEVC and AV1 clients and wherever a
# client prefers fMP4-HLS: a 20 s clip through Jellyfin's x264 fMP4 lines,
# the 10.10 shape (tests/corpus/121: AAC encoded, no -hls_segment_options)
# and the 10.11 shape (122: audio copied, -hls_segment_options
# movflags=+frag_discont), the worker holding the job SIGKILLed after
# segment 2. Besides every check of e2e_takeover.sh, this is where a
# survivor whose fragments restart their timeline (tfdt) at 0 fails: each
# segment, read after the init segment, must start and end at the times of
# the same segment of the uninterrupted run. Options go to both runs.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
failed=()
for line in 121 122; do
  "$here/tests/e2e_takeover.sh" --corpus "$line" --duration 20 "$@" || failed+=("$line")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "e2e_takeover_fmp4: FAIL tests/corpus ${failed[*]} (checks above)" >&2
  exit 1
fi
echo "e2e_takeover_fmp4: all checks passed (tests/corpus 121 122)" >&2
