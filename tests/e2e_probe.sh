#!/usr/bin/env bash
# e2e_probe.sh -- Jellyfin's start-up probes through the real shim binary,
# answered by a real pool (redis-server, scheduler, two workers), against
# Debian's ffmpeg CLI on the same libav.
#
#   tests/e2e_probe.sh [--keep]
#
# Checks, each printed as ok/FAIL:
#   - `-h filter=NAME` (as Jellyfin runs it, banner and all): stdout byte for
#     byte the CLI's, for Jellyfin's filters (10.11's option checks and its
#     hardware paths), filters with constants and every shape of header;
#     stderr (the banner) the CLI's but for its "built with" line, which
#     names the compiler of the ffmpeg program (no library reports it);
#   - `-h bsf=NAME` for every bit-stream filter: stdout the CLI's;
#   - Jellyfin's CheckFilterWithOption / CheckBitStreamFilterWithOption
#     answer for the shim as for the CLI;
#   - `-version`: the CLI's text but for "built with"; Jellyfin's fallback
#     parser, (lib\w+)\s+(\d+)\.\s*(\d+), finds the same eight libraries
#     with the same versions as in the CLI's, each once;
#   - the size of what a worker publishes (its packed Capabilities in
#     Redis), printed with the Redis memory it takes, and within the budget
#     that leaves room for 16 workers in the client's 4 MiB reply limit.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

e2e_init e2e_probe
[ "${1:-}" = --keep ] && keep=1
ffmpeg_shim=$build/jellyfin/ffmpeg
cli=/usr/bin/ffmpeg

FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 2 --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
rcli() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }
workers_with_caps() {
  local id n=0
  for id in $(rcli ZRANGE ffpool:workers 0 -1); do
    [ "$(rcli HSTRLEN "ffpool:worker:$id" caps)" -gt 0 ] && n=$((n + 1))
  done
  echo "$n"
}
for _ in $(seq 1 100); do
  [ "$(workers_with_caps)" = 2 ] && break
  sleep 0.1
done
check "both workers published their capabilities" [ "$(workers_with_caps)" = 2 ]

# same_but_compiler_line OURS THEIRS: the files are equal but for line 2,
# which in THEIRS is the CLI's "built with" line.
same_but_compiler_line() {
  sed -n '2p' "$2" | grep -q 'built with ' &&
    cmp -s <(sed '2d' "$1") <(sed '2d' "$2")
}

# ---- -h filter=NAME ----
filters=(overlay scale tonemap_opencl overlay_vaapi overlay_opencl overlay_vulkan
  transpose_opencl scale_cuda overlay_cuda scale_vulkan tonemap_cuda tonemapx tonemap
  tonemap_vaapi zscale transpose yadif bwdif deinterlace_vaapi scale_vaapi format hwupload
  hwmap subtitles setpts aresample amix concat split nullsrc anullsink showinfo volume
  loudnorm scale2ref lut fps pad)
differ=()
banner_differ=()
for f in "${filters[@]}"; do
  "$ffmpeg_shim" -h "filter=$f" >"$dir/ours.out" 2>"$dir/ours.err" </dev/null || true
  "$cli" -h "filter=$f" >"$dir/cli.out" 2>"$dir/cli.err" </dev/null || true
  cmp -s "$dir/ours.out" "$dir/cli.out" || {
    differ+=("$f")
    diff "$dir/ours.out" "$dir/cli.out" >"$dir/diff-filter-$f.txt" || true
  }
  same_but_compiler_line "$dir/ours.err" "$dir/cli.err" || banner_differ+=("$f")
done
check "-h filter=NAME stdout is the CLI's, byte for byte, for ${#filters[@]} filters" \
  [ ${#differ[@]} = 0 ]
[ ${#differ[@]} = 0 ] || say "differ: ${differ[*]} (diffs in $dir/diff-filter-*.txt)"
check "-h filter=NAME banner on stderr is the CLI's but for 'built with'" [ ${#banner_differ[@]} = 0 ]
[ ${#banner_differ[@]} = 0 ] || say "banner differs for: ${banner_differ[*]}"
check "an overlay's help carries option types, help text, ranges and constants" \
  grep -q '^     repeat          0            ..FV....... Repeat the previous frame\.$' \
  <("$ffmpeg_shim" -hide_banner -h filter=overlay 2>/dev/null)

# ---- -h bsf=NAME, every bsf ----
mapfile -t bsfs < <("$cli" -hide_banner -bsfs 2>/dev/null | sed '1d;/^$/d')
differ=()
for b in "${bsfs[@]}" no_such_bsf; do
  cmp -s <("$ffmpeg_shim" -hide_banner -h "bsf=$b" 2>/dev/null </dev/null) \
    <("$cli" -hide_banner -h "bsf=$b" 2>/dev/null </dev/null) || differ+=("$b")
done
check "-h bsf=NAME stdout is the CLI's for all ${#bsfs[@]} bsfs and an unknown one" \
  [ ${#bsfs[@]} -gt 10 -a ${#differ[@]} = 0 ]
[ ${#differ[@]} = 0 ] || say "differ: ${differ[*]}"

# ---- Jellyfin 10.11's option checks (EncoderValidator.cs) ----
# Its 14 look for texts that Debian's 5.1 mostly lacks (bt2390 and the
# others came with later libav or jellyfin-ffmpeg), so 4 more checks of the
# same kinds (option help, constant help, constant name) look for texts this
# libav has.
# jellyfin_check KIND NAME TEXT PROGRAM: "true" if PROGRAM's -h KIND=NAME
# names it ("Filter NAME" / "Bit stream filter NAME") and contains TEXT.
jellyfin_check() {
  local header out
  if [ "$1" = filter ]; then header="Filter $2"; else header="Bit stream filter $2"; fi
  out=$("$4" -h "$1=$2" 2>/dev/null </dev/null || true)
  if [[ $out == *"$header"* && $out == *"$3"* ]]; then echo true; else echo false; fi
}
mismatched=()
while IFS='|' read -r kind name text; do
  ours=$(jellyfin_check "$kind" "$name" "$text" "$ffmpeg_shim")
  theirs=$(jellyfin_check "$kind" "$name" "$text" "$cli")
  [ "$ours" = "$theirs" ] || mismatched+=("$name:$text ($ours, CLI $theirs)")
done <<'EOT'
filter|scale_cuda|format
filter|tonemap_cuda|GPU accelerated HDR to SDR tonemapping
filter|tonemap_opencl|bt2390
filter|overlay_opencl|Action to take when encountering EOF from secondary input
filter|overlay_vaapi|Action to take when encountering EOF from secondary input
filter|overlay_vulkan|Action to take when encountering EOF from secondary input
filter|transpose_opencl|rotate by half-turn
filter|overlay_opencl|alpha_format
filter|overlay_cuda|alpha_format
bsf|hevc_metadata|remove_dovi
bsf|hevc_metadata|remove_hdr10plus
bsf|av1_metadata|remove_dovi
bsf|av1_metadata|remove_hdr10plus
bsf|dovi_rpu|strip
filter|overlay_cuda|Action to take when encountering EOF from secondary input
filter|transpose_opencl|rotate counter-clockwise with vertical flip
filter|tonemap_opencl|mobius
bsf|hevc_metadata|Set colour primaries (table E-3)
EOT
check "Jellyfin's 14 option checks, and 4 alike that Debian's libav has, answer as against the CLI" \
  [ ${#mismatched[@]} = 0 ]
[ ${#mismatched[@]} = 0 ] || say "mismatched: ${mismatched[*]}"

# ---- -version ----
"$ffmpeg_shim" -version >"$dir/version.ours" 2>/dev/null </dev/null
"$cli" -version >"$dir/version.cli" 2>/dev/null </dev/null
check "-version is the CLI's but for 'built with'" same_but_compiler_line "$dir/version.ours" "$dir/version.cli"
# Jellyfin's LibraryRegex, applied as .NET does (Multiline, every match,
# into a dictionary that refuses a second entry of one name).
libraries() {
  python3 - "$1" <<'EOT'
import re, sys
found = {}
for m in re.finditer(r'((?P<name>lib\w+)\s+(?P<major>[0-9]+)\.\s*(?P<minor>[0-9]+))',
                     open(sys.argv[1]).read(), re.M):
    if m['name'] in found:
        sys.exit('library %s twice' % m['name'])
    found[m['name']] = '%d.%d' % (int(m['major']), int(m['minor']))
print(' '.join('%s=%s' % kv for kv in found.items()))
EOT
}
ours=$(libraries "$dir/version.ours" || echo error)
theirs=$(libraries "$dir/version.cli" || echo error)
say "Jellyfin reads from the shim's -version: $ours"
want="libavutil libavcodec libavformat libavdevice libavfilter libswscale libswresample libpostproc"
names=$(tr ' ' '\n' <<<"$ours" | cut -d= -f1 | paste -sd' ')
check "Jellyfin's fallback parser finds the same eight libraries and versions as in the CLI's" \
  [ "$ours" = "$theirs" -a "$names" = "$want" ]

# ---- sizes ----
id=$(rcli ZRANGE ffpool:workers 0 0)
caps_bytes=$(rcli HSTRLEN "ffpool:worker:$id" caps)
memory=$(rcli MEMORY USAGE "ffpool:worker:$id")
say "packed Capabilities per worker: $caps_bytes bytes; Redis MEMORY USAGE ffpool:worker:$id: $memory bytes"
check "a worker's Capabilities leave room for 16 workers in a 4 MiB reply ($caps_bytes < 262144)" \
  [ "$caps_bytes" -gt 0 -a "$caps_bytes" -lt 262144 ]

e2e_finish "$pool"/*.log
