#!/usr/bin/env bash
# bench.sh -- `make bench`: runs every benchmark in scripts/bench/*.sh, each
# comparing ffpool with the ffmpeg CLI in the same run, and collects their
# markdown sections in build/bench/results.md (BENCHMARKS.md records them
# with the command and the machine).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
mkdir -p build/bench
out=build/bench/results.md
{
  echo "# ffpool benchmarks"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r);" \
    "$(ffmpeg -version | head -n 1 | cut -d' ' -f1-3); $(date -u +%Y-%m-%d)"
  echo
} >"$out"
for b in scripts/bench/*.sh; do
  [ -x "$b" ] || continue
  echo "== $b" >&2
  "$b" | tee -a "$out"
  echo >>"$out"
done
echo "bench: results in $out" >&2
