#!/usr/bin/env bash
# e2e_shim_resubmit.sh -- Redis loses a running job (a failover to a
# replica that never got it, a restart without persistence): the shim's
# next status call gets NOT_FOUND, and instead of failing the stream it
# submits the job again under the same key; the pool makes it again over
# the same files and Jellyfin gets a whole stream. A real pool
# (scripts/pool, one worker) and the real shim with Jellyfin's 10.8 line
# (tests/corpus/002-*) on a clip.
#
#   tests/e2e_shim_resubmit.sh [--keep]
#
# Checks, each printed as ok/FAIL: the shim exits 0 and says the job was
# submitted again; the new job is done; the playlist is complete and every
# segment it lists is there and decodes.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
e2e_init e2e_shim_resubmit
[ "${1:-}" = --keep ] && keep=1
shim_pid=""
stop_shim() { if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi; }
e2e_at_exit stop_shim

mkdir -p "$dir/media" "$dir/out"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 \
  -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$clip"

export FFPOOL_SHIM_NO_POOL_POLICY=fail
export FFPOOL_SHIM_CAPS_CACHE=$dir/caps.cache
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$pool" >/dev/null 2>&1
# shellcheck disable=SC1091
. "$pool/env"
rcli() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }

e2e_shim_args "$clip" "$dir/out"
"$build/jellyfin/ffmpeg" "${args[@]}" </dev/null 2>"$dir/shim.log" &
shim_pid=$!
job=$(e2e_wait_job_id "$dir/shim.log")
wait_until 30 test -s "$(segment_path 1)" || say "segment 1 never appeared"

# Everything Redis held of the job, gone at once.
key=$(rcli HGET "ffpool:job:$job" job_key)
rcli DEL "ffpool:job:$job" "ffpool:job:$job:segments" >/dev/null
[ -n "$key" ] && rcli DEL "ffpool:jobkey:$key" >/dev/null
rcli ZREM ffpool:queue "$job" >/dev/null
rcli ZREM ffpool:leases "$job" >/dev/null
rcli ZREM ffpool:jobs "$job" >/dev/null
say "deleted job $job (key ${key:-none}) from Redis mid-stream"

rc=0
timeout 90 tail --pid="$shim_pid" -f /dev/null || true
wait "$shim_pid" || rc=$?
shim_pid=""
new=$(grep -o "submitted again as [^ ]*" "$dir/shim.log" | awk '{print $4}' | tail -1)
check "the shim exits 0 (exit $rc)" test "$rc" = 0
check "it says the job was submitted again (as ${new:-nothing})" test -n "$new" -a "$new" != "$job"
check "the new job is done ($(rcli HGET "ffpool:job:$new" state))" \
  test "$(rcli HGET "ffpool:job:$new" state)" = done
check "the playlist is complete" grep -q '^#EXT-X-ENDLIST' "$playlist"
listed=$(grep -c '^#EXTINF' "$playlist" || true)
check "it lists the whole clip's segments ($listed)" test "$listed" -ge $((30 / hls_time))
missing=0
for ((k = start_number; k < start_number + listed; k++)); do
  if [ ! -s "$(segment_path "$k")" ] || [ -n "$(segment_decode_errors "$k")" ]; then
    missing=$((missing + 1))
  fi
done
check "every listed segment is there and decodes ($missing not)" test "$missing" = 0

e2e_finish "$dir/shim.log" "$pool/scheduler.log" "$pool/worker-1.log"
