#!/usr/bin/env bash
# memory.sh -- benchmark: the worker's resident memory over consecutive jobs
# (scripts/leakcheck.sh --skip-valgrind: one worker, N small jobs of a 6 s
# 160x90 clip through the shim, VmRSS sampled every few jobs), beside the
# peak RSS of the ffmpeg CLI running the same Jellyfin command line once.
# Prints a markdown section for build/bench/results.md.
#
#   scripts/bench/memory.sh [--jobs N]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=200
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) jobs=$2; shift 2 ;;
    *) echo "memory: unknown option $1" >&2; exit 2 ;;
  esac
done
corpus=$(ls "$here"/tests/corpus/003-*.txt 2>/dev/null | head -n 1)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench-memory.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$here/scripts/leakcheck.sh" --skip-valgrind --jobs "$jobs" --sample-every 10 >"$tmp/rss.txt"
summary=$(grep 'first (after job 1)' "$tmp/rss.txt")
read -r first last max < <(sed -n 's/.*first (after job 1) \([0-9]*\) kB, last (after job [0-9]*) \([0-9]*\) kB, max \([0-9]*\) kB.*/\1 \2 \3/p' <<<"$summary")

# The ffmpeg CLI on the same command line, once: its peak RSS.
ffmpeg -v error -f lavfi -i "testsrc2=size=160x90:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 6 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 64k "$tmp/short.mkv"
mkdir -p "$tmp/cli"
cli_kb=$(python3 - "$here/tests/jellyfin_argv.py" "$corpus" "$tmp/short.mkv" "$tmp/cli" <<'EOF'
import resource, subprocess, sys
argv = subprocess.run([sys.executable, sys.argv[1], sys.argv[2], '--input', sys.argv[3],
                       '--outdir', sys.argv[4]], check=True, capture_output=True).stdout
args = [a.decode() for a in argv.split(b'\0') if a]
subprocess.run(['ffmpeg', '-v', 'error', '-nostdin'] + args, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
)

echo "## Worker memory over $jobs consecutive jobs"
echo
echo "\`scripts/bench/memory.sh --jobs $jobs\`: one ffpool-worker, $jobs jobs one after the other"
echo "(6 s 160x90 clip, Jellyfin line 003, two 3 s segments each), VmRSS sampled every 10 jobs."
echo
echo "| measure | kB |"
echo "|---|---|"
echo "| worker RSS after job 1 | $first |"
echo "| worker RSS after job $jobs | $last |"
echo "| worker RSS max | $max |"
echo "| growth, job 1 to job $jobs | $((last - first)) |"
echo "| ffmpeg CLI peak RSS, same job once | $cli_kb |"
echo
echo '```'
sed -n '/^worker RSS/,$p' "$tmp/rss.txt"
echo '```'
