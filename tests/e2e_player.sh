#!/usr/bin/env bash
# e2e_player.sh -- a real player through a takeover: hls.js (npm) in Debian's
# headless Chromium, driven by playwright-core (tests/player/play.js), plays
# the output of a Jellyfin line run through the pool without a kill and the
# output of the same line with the worker holding the job SIGKILLed midway,
# in MPEG-TS segments (tests/corpus/003) and in fMP4 segments (121).
#
#   tests/e2e_player.sh [--rate R] [--keep]
#
# Each output is made by tests/e2e_takeover.sh (a 20 s 320x240 clip, 3 s
# segments, the kill after segment 2; its own checks count here too) and
# served over HTTP on 127.0.0.1 behind a playlist written here the way
# Jellyfin writes its own (DynamicHlsController's VOD playlist): every
# segment declared exactly T seconds, the last one the remainder of the
# clip's duration, #EXT-X-MAP for fMP4. A player trusts those declarations
# and places each segment by the times inside it, so a segment whose times
# are not where the playlist says shows as a stall, a hole or extra frames.
#
# Both outputs are played at R times real time (--rate, 4 by default): the
# whole 20 s clip fits in hls.js's forward buffer (maxBufferLength 30 s),
# so the rate changes neither what is fetched nor where hls.js places it,
# and holes, overlaps and timeline jumps are in media time: they stall the
# same way at any rate. Measured on the fMP4 takeover bug (the survivor's
# segments restarting at 0, from segment 4 on) at 1x, 2x and 4x: the same
# BUFFER_STALLED_ERROR and `waiting` just before 12 s (11.90, 11.82, 11.72)
# with 0.05-0.22 s buffered ahead, the same BUFFER_SEEK_OVER_HOLE at
# 12.159, the same end at 20.160 instead of 20.080; and the intact outputs
# (MPEG-TS and fMP4, uninterrupted and taken over) play cleanly and decode
# 504 frames at each rate (the 500-frame clip's first frames are decoded
# again after the start seek, see play.js). Only the broken stream's frame
# count moves with the rate (504, 502, 500-501). What a higher rate adds is
# load: at 4x on a busy machine Chromium now and then waits for its decoder
# with seconds of data buffered, which is why only waits out of data count
# (below). Recorded per playback: hls.js ERROR events, `waiting` events
# after playback began (with what was buffered ahead), whether `ended`
# fired, currentTime at the end, and the frames decoded
# (getVideoPlaybackQuality().totalVideoFrames).
#
# Passes only if, for each segment type, the uninterrupted output plays to
# its end, and the taken-over output plays to its end, ending at the same
# currentTime (1 ms: both are the same frames at the same times), with no
# hls.js error (BUFFER_STALLED_ERROR, BUFFER_SEEK_OVER_HOLE, ...) and no
# more `waiting` events out of data (less than 1 s buffered ahead; a wait
# with more ahead is the decoder catching up on a busy machine) than the
# uninterrupted output has, and the same decoded frame count.
#
# Needs node and npm (Debian's nodejs/npm are installed when missing) and
# /usr/bin/chromium (scripts/deps.sh installs it; installed here if missing).
# `npm ci` from tests/player/package-lock.json into $BUILD/player (hls.js
# 1.7.4; playwright-core 1.61.1, the newest whose engines allow Node 18,
# Debian 12's nodejs: play.js runs on Debian's node 18.20.4 as on 20).
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

rate=4
lines=(003 121)
while [ $# -gt 0 ]; do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "e2e_player: unknown option $1" >&2; exit 2 ;;
  esac
done
e2e_init e2e_player

# ---- node, npm, chromium; hls.js and playwright-core from the registry ----
need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
modules=$build/player
mkdir -p "$modules"
if ! cmp -s "$here/tests/player/package-lock.json" "$modules/package-lock.json" ||
  [ ! -e "$modules/node_modules/.package-lock.json" ]; then
  cp "$here/tests/player/package.json" "$here/tests/player/package-lock.json" "$modules/"
  if ! (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error) >"$dir/npm.log" 2>&1; then
    cat "$dir/npm.log" >&2
    say "FAIL npm ci in $modules"; failures=$((failures + 1)); e2e_finish "$dir/npm.log"
  fi
fi
hls_js=$modules/node_modules/hls.js/dist/hls.min.js
say "node $(node --version), $(/usr/bin/chromium --version 2>/dev/null | head -n 1)," \
  "hls.js $(node -p "require('$modules/node_modules/hls.js/package.json').version")," \
  "playwright-core $(node -p "require('$modules/node_modules/playwright-core/package.json').version")"

# write_playlist FOLDER PATTERN INIT FIRST COUNT T SECONDS: FOLDER/player.m3u8
# as Jellyfin writes a VOD playlist: COUNT segments from index FIRST, each
# declared exactly T seconds, the last one SECONDS - (COUNT-1)*T; URIs
# relative to the playlist; #EXT-X-MAP when there is an INIT segment.
write_playlist() {
  local folder=$1 base n first=$4 count=$5 t=$6 seconds=$7
  base=$(basename "$2")
  {
    echo "#EXTM3U"
    echo "#EXT-X-PLAYLIST-TYPE:VOD"
    if [ -n "$3" ]; then echo "#EXT-X-VERSION:7"; else echo "#EXT-X-VERSION:3"; fi
    echo "#EXT-X-TARGETDURATION:$t"
    echo "#EXT-X-MEDIA-SEQUENCE:0"
    [ -z "$3" ] || echo "#EXT-X-MAP:URI=\"$(basename "$3")\""
    for ((n = 0; n < count; n++)); do
      awk -v n="$n" -v c="$count" -v t="$t" -v s="$seconds" \
        'BEGIN { printf "#EXTINF:%.6f, nocache,\n", n < c - 1 ? t : s - (c - 1) * t }'
      echo "${base//%d/$((first + n))}"
    done
    echo "#EXT-X-ENDLIST"
  } >"$folder/player.m3u8"
}

# ---- the outputs: each line uninterrupted and through a takeover ----
played=()
for line in "${lines[@]}"; do
  rc=0
  "$here/tests/e2e_takeover.sh" --corpus "$line" --duration 20 --size 320x240 \
    --kill-at-segment 2 --dir "$dir/$line" --keep || rc=$?
  check "$line: e2e_takeover's checks passed (its lines above)" [ "$rc" = 0 ]
  if [ ! -s "$dir/$line/result" ]; then
    say "FAIL $line: e2e_takeover left no output to play"; failures=$((failures + 1))
    continue
  fi
  result() { sed -n "s/^$1=//p" "$dir/$line/result"; }
  check "$line: the stream was taken over (job $(result state), $(result takeovers) takeover, survivor from segment $(result survivor_first))" \
    [ "$(result state):$(result takeovers)" = done:1 ]
  seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$dir/$line/clip.mkv")
  write_playlist "$dir/$line/reference" "$(result reference_pattern)" "$(result reference_init)" \
    "$(result start_number)" "$(result expected)" "$(result hls_time)" "$seconds"
  write_playlist "$dir/$line/transcodes" "$(result pattern)" "$(result init)" \
    "$(result start_number)" "$(result expected)" "$(result hls_time)" "$seconds"
  played+=("$line")
done
[ ${#played[@]} -gt 0 ] || e2e_finish "$dir"/*/shim.log

# ---- play them ----
paths=()
for line in "${played[@]}"; do paths+=("$line/reference/player.m3u8" "$line/transcodes/player.m3u8"); done
started=$(now)
play_rc=0
NODE_PATH=$modules/node_modules node "$here/tests/player/play.js" --hls "$hls_js" --serve "$dir" \
  --rate "$rate" "${paths[@]}" >"$dir/played.jsonl" 2>"$dir/play.log" || play_rc=$?
check "hls.js in Chromium played ${#paths[@]} playlists at ${rate}x (play.js exit $play_rc, $(elapsed "$started") s)" \
  [ "$play_rc" = 0 ]

# verdict LINE: one "ok|FAIL WHAT" line per criterion, from played.jsonl.
verdict() {
  python3 - "$dir/played.jsonl" "$1" <<'EOF'
import collections, json, sys
rows = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    rows[r['path']] = r
line = sys.argv[2]
ref, got = rows.get(line + '/reference/player.m3u8'), rows.get(line + '/transcodes/player.m3u8')
if ref is None or got is None:
    print('FAIL both outputs were played')
    sys.exit()
# A `waiting` event with less than 1 s buffered ahead is a stall: the
# player ran out of data (a hole, or the end of what was appended). With
# more ahead it is the decoder catching up on a busy machine, which says
# nothing about the stream.
def stalls(r):
    return [w for w in r['waiting'] if w['ahead'] < 1.0]
def show(r):
    return 'ended=%s at %.3f of %.3f, %d frames decoded, waiting %s, errors %s' % (
        r['ended'], r['currentTime'], r['duration'] or 0, r['decodedFrames'],
        ['at %.3f with %.3f s ahead' % (w['at'], w['ahead']) for w in r['waiting']] or 'none',
        ['%s@%.3f' % (e['details'], e['at']) for e in r['errors']] or 'none')
print('info uninterrupted: ' + show(ref))
print('info taken over:    ' + show(got))
def ok(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what)
ok(ref['ended'], 'the uninterrupted output plays to its end (ended fired)')
ok(got['ended'] and not got['stuck'],
   'the taken-over output plays to its end (ended fired%s)' %
   (', stuck at %.3f' % got['currentTime'] if got['stuck'] else ''))
ok(abs(got['currentTime'] - ref['currentTime']) <= 0.001,
   'it ends at the uninterrupted output\'s currentTime (%.3f, uninterrupted %.3f)' %
   (got['currentTime'], ref['currentTime']))
extra = collections.Counter(e['details'] for e in got['errors'])
extra.subtract(collections.Counter(e['details'] for e in ref['errors']))
extra = sorted(k for k, n in extra.items() if n > 0)
ok(not extra, 'no hls.js error the uninterrupted output does not have (%s)' % (
   ', '.join(extra) if extra else 'none extra'))
ok(len(stalls(got)) <= len(stalls(ref)),
   'no more waiting events out of data than the uninterrupted output (%d, uninterrupted %d)' %
   (len(stalls(got)), len(stalls(ref))))
ok(got['decodedFrames'] == ref['decodedFrames'],
   'the same number of frames decoded (%d, uninterrupted %d)' %
   (got['decodedFrames'], ref['decodedFrames']))
EOF
}

for line in "${played[@]}"; do
  while IFS= read -r v; do
    case $v in
      "info "*) say "$line: ${v#info }" ;;
      "ok   "*) check "$line: ${v#ok   }" true ;;
      *) check "$line: ${v#FAIL }" false ;;
    esac
  done < <(verdict "$line")
done

e2e_finish "$dir/play.log"
