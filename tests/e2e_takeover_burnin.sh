#!/usr/bin/env bash
# e2e_takeover_burnin.sh -- the takeover test (e2e_takeover.sh) on a stream
# that burns a graphical subtitle into the picture: Jellyfin's -filter_complex
# line (tests/corpus/104) on an 18 s clip with a DVD subtitle track, the worker
# holding the job SIGKILLed after segment 2; besides every check of
# e2e_takeover.sh, the survivor's first segment must carry the subtitle as
# the ffmpeg CLI draws it (the resumed run reads back the subtitle already on
# screen at its start).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$here/tests/e2e_takeover.sh" --subtitles --duration 18 --size 1280x720 \
  --corpus "$here/tests/corpus/104-hls-x264-pgs-burnin-filter_complex-mpegts-10.9.txt" "$@"
