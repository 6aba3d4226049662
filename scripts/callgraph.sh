#!/usr/bin/env bash
# callgraph.sh -- the file-level call graph of the worker's libav pipeline,
# read from its object files with nm, and a check that it has no cycle.
#
#   scripts/callgraph.sh [-q] [OBJECT.o...]
#
# Without arguments it reads $BUILD/obj/worker/pipeline/*.o and
# $BUILD/obj/worker/pipeline_caps.o (BUILD defaults to build; `make lint`
# builds them first). A file calls another when it uses a global symbol the
# other defines (a function, or a table of functions); static functions
# never show. Prints one line per file, "file.c -> callee.c (symbols) ...",
# in an order where every file comes after the files it calls (leaves
# first), and exits 0; on a cycle it names the files in it and exits 1.
# -q prints only the verdict (make lint).
# Needs only binutils' nm and coreutils' tsort.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
quiet=0
if [ "${1:-}" = -q ]; then quiet=1; shift; fi
if [ $# -eq 0 ]; then
  shopt -s nullglob
  set -- "$build"/obj/worker/pipeline/*.o "$build"/obj/worker/pipeline_caps.o
  shopt -u nullglob
fi
[ $# -gt 0 ] || { echo "callgraph: no objects (build first: make)" >&2; exit 2; }
for o in "$@"; do [ -f "$o" ] || { echo "callgraph: no object $o" >&2; exit 2; }; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/callgraph.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# "symbol file" for every global symbol defined, "file symbol" for every use.
for o in "$@"; do
  name=$(basename "$o" .o).c
  nm -g --defined-only "$o" | awk -v f="$name" 'NF == 3 {print $3, f}' >>"$tmp/defined"
  nm -u "$o" | awk -v f="$name" '{print f, $NF}' >>"$tmp/used"
  echo "$name" >>"$tmp/files"
done
touch "$tmp/defined" "$tmp/used"

# Edges "caller callee symbol", without calls within a file.
awk 'NR == FNR {owner[$1] = $2; next}
     ($2 in owner) && owner[$2] != $1 {print $1, owner[$2], $2}' \
  "$tmp/defined" "$tmp/used" | sort -u >"$tmp/edges"

# tsort wants "before after": a callee before its caller. Every file is
# listed (paired with itself) so that files without calls appear too.
{ awk '{print $2, $1}' "$tmp/edges"; awk '{print $1, $1}' "$tmp/files"; } >"$tmp/pairs"
acyclic=1
tsort "$tmp/pairs" >"$tmp/order" 2>"$tmp/loop" || acyclic=0
[ "$acyclic" = 1 ] || sort -u "$tmp/files" >"$tmp/order"

# "caller callee (symbols)", one line per pair of files.
awk '{key = $1 " " $2; calls[key] = calls[key] (calls[key] == "" ? "" : " ") $3}
     END {for (k in calls) print k, "(" calls[k] ")"}' "$tmp/edges" | sort >"$tmp/pairs-named"
while [ "$quiet" = 0 ] && read -r file; do
  line=$(awk -v f="$file" '$1 == f {$1 = ""; print substr($0, 2)}' "$tmp/pairs-named" |
    paste -sd ';' - | sed 's/;/; /g')
  echo "$file -> ${line:-(nothing)}"
done <"$tmp/order"

if [ "$acyclic" = 0 ]; then
  sed -n 's/^tsort: //p' "$tmp/loop" | grep -v 'input contains a loop' | sort -u >"$tmp/cycle"
  echo "callgraph: these files call each other in a cycle: $(paste -sd ' ' "$tmp/cycle")" >&2
  exit 1
fi
echo "callgraph: no cycle among $(wc -l <"$tmp/files") files" >&2
