#!/usr/bin/env bash
# e2e_hw_route.sh -- hardware lines go to the workers that have the hardware:
# a real pool (scripts/pool) with one worker that opened no device
# (worker.hw_devices: none) and, later, one that opened what this machine
# has (auto: Vulkan on lavapipe, OpenCL on pocl), jobs through the real
# shim, Debian's ffmpeg to compare device checks with.
#
#   tests/e2e_hw_route.sh [--keep]
#
# Checks, each printed as ok/FAIL:
#   - what each worker offers: no device:* word from the plain worker,
#     device:vulkan and device:opencl from the other;
#   - with only the plain worker, Jellyfin's Vulkan device check goes to
#     the local ffmpeg (shim.no_pool_policy=fallback), stderr as the CLI's;
#     under fail it is refused at once, naming the missing device;
#   - a Jellyfin-shaped Vulkan transcode (scale_vulkan between hwupload and
#     hwdownload) submitted under fail waits ("no worker offers
#     device:vulkan"), runs once the device worker joins, only there, and
#     writes every segment;
#   - the Vulkan and OpenCL device checks then run on the device worker (its
#     job, by its owner), their stderr byte for byte the CLI's on this
#     machine (addresses aside) and the same exit status;
#   - a VAAPI line (corpus 006, no worker has VAAPI here) goes to the local
#     ffmpeg under fallback, with the reason in the shim's log.
# shellcheck source=tests/e2e_lib.sh
. "$(dirname "$0")/e2e_lib.sh"

corpus=$(e2e_corpus 002)
vaapi_corpus=$(e2e_corpus 006)
e2e_init e2e_hw_route
[ "${1:-}" = --keep ] && keep=1
shim=$build/jellyfin/ffmpeg
shim_pid=""
stop_extra() {
  if [ -n "$shim_pid" ]; then kill -KILL "$shim_pid" 2>/dev/null || true; fi
}
e2e_at_exit stop_extra

if ! ffmpeg -v quiet -init_hw_device vulkan=vk -f lavfi -i nullsrc=d=0.1 -f null - 2>/dev/null; then
  # Not a skip: scripts/deps.sh installs mesa-vulkan-drivers (lavapipe),
  # so a machine that cannot open Vulkan has lost a dependency.
  say "FAIL: this machine opens no Vulkan device (scripts/deps.sh installs mesa-vulkan-drivers)"
  exit 1
fi

mkdir -p "$dir/media" "$dir/out"
clip=$dir/media/clip.mkv
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 7 \
  -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p -c:a aac -b:a 64k "$clip"

export FFPOOL_SHIM_CAPS_CACHE=$dir/caps.cache
export FFPOOL_SHIM_LOG_FILE=$dir/shim.log
FFPOOL_WORKER_HW_DEVICES=none FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 \
  --dir "$pool" >/dev/null
# shellcheck disable=SC1091
. "$pool/env"
wait_until 10 bash -c "redis-cli -p $FFPOOL_REDIS_PORT --raw EXISTS ffpool:worker:worker-1:offers | grep -qx 1" || true
check "the plain worker offers no device" \
  bash -c "! redis-cli -p $FFPOOL_REDIS_PORT --raw SMEMBERS ffpool:worker:worker-1:offers | grep -q '^device:'"

rcli() { redis-cli -p "$FFPOOL_REDIS_PORT" --raw "$@"; }

# same_stderr NAME ARG...: the shim and the local ffmpeg on the same
# arguments; stderr in $dir/NAME.{shim,cli}, addresses masked; true when
# stderr and exit status agree.
same_stderr() {
  local name=$1; shift
  local rc_shim=0 rc_cli=0
  "$shim" "$@" </dev/null >/dev/null 2>"$dir/$name.shim" || rc_shim=$?
  ffmpeg "$@" </dev/null >/dev/null 2>"$dir/$name.cli" || rc_cli=$?
  [ "$rc_shim" = "$rc_cli" ] || { say "$name: exit $rc_shim, local $rc_cli"; return 1; }
  diff <(sed -E 's/0x[0-9a-f]+/0xADDR/g' "$dir/$name.cli") \
    <(sed -E 's/0x[0-9a-f]+/0xADDR/g' "$dir/$name.shim") >&2
}
vulkan_check=(-v verbose -hide_banner -init_hw_device vulkan=vk)
opencl_check=(-v verbose -hide_banner -init_hw_device opencl=ocl)

# ==== only the plain worker ====
check "Vulkan device check, no worker has Vulkan: the local ffmpeg answers" \
  same_stderr vk_local "${vulkan_check[@]}"
check "... and the shim's log says why" \
  grep -q 'decision=passthrough reason="passthrough: no worker for this hardware: no live worker offers device:vulkan"' \
  "$dir/shim.log"
rc=0
FFPOOL_SHIM_NO_POOL_POLICY=fail "$shim" "${vulkan_check[@]}" </dev/null 2>"$dir/vk_fail.err" || rc=$?
check "under shim.no_pool_policy=fail it is refused at once (rc=$rc), naming the device" \
  bash -c "[ $rc = 1 ] && grep -q 'no live worker offers device:vulkan (shim.no_pool_policy=fail)' '$dir/vk_fail.err'"

# A Jellyfin HLS line (corpus 002's shape) whose scaling runs on Vulkan.
vf="setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,format=yuv420p,hwupload"
vf+=",scale_vulkan=w=480:h=270,hwdownload,format=yuv420p"
mapfile -d '' line < <(python3 "$here/tests/jellyfin_argv.py" "$corpus" --input "$clip" \
  --outdir "$dir/out" "--set=-vf=$vf")
line=(-init_hw_device vulkan=vk -filter_hw_device vk "${line[@]}")
: >"$dir/vk_job.log"
FFPOOL_SHIM_NO_POOL_POLICY=fail "$shim" "${line[@]}" </dev/null 2>>"$dir/vk_job.log" &
shim_pid=$!
job=$(e2e_wait_job_id "$dir/vk_job.log")
check "the Vulkan transcode is submitted under fail ($job)" [ -n "$job" ]
wait_until 10 bash -c "'$build/bin/ffpoolctl' job '$job' 2>/dev/null | grep -q '^waiting *no worker offers device:vulkan$'" || true
check "it waits: no worker offers device:vulkan" \
  bash -c "'$build/bin/ffpoolctl' job '$job' | grep -q '^waiting *no worker offers device:vulkan$'"

# ==== the device worker joins ====
FFPOOL_WORKER_ID=worker-gpu setsid "$build/bin/ffpool-worker" >>"$pool/worker-gpu.log" 2>&1 </dev/null &
echo $! >"$pool/worker-gpu.pid"
rc=0
wait "$shim_pid" || rc=$?
shim_pid=""
"$build/bin/ffpoolctl" job "$job" >"$dir/vk_job.txt" 2>&1 || true
check "the Vulkan transcode ran to the end once the device worker joined (rc=$rc)" [ "$rc" = 0 ]
check "... on the device worker only" \
  bash -c "grep -q '^owner *worker-gpu' '$dir/vk_job.txt' && grep -q '^takeovers *0' '$dir/vk_job.txt'"
count=$(find "$dir/out" -name '*.ts' | wc -l)
check "... and wrote all 3 segments ($count)" [ "$count" = 3 ]
size=$(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 \
  "$(find "$dir/out" -name '*0.ts' | head -1)" | awk 'NF && !seen++')
check "... scaled by scale_vulkan to 480x270 ($size)" [ "$size" = 480,270 ]
check "the device worker offers device:vulkan and device:opencl" \
  bash -c "rcli() { redis-cli -p $FFPOOL_REDIS_PORT --raw \"\$@\"; }
           rcli SMEMBERS ffpool:worker:worker-gpu:offers | grep -qx device:vulkan &&
           rcli SMEMBERS ffpool:worker:worker-gpu:offers | grep -qx device:opencl"

"$build/bin/ffpoolctl" workers >"$dir/workers.txt"
check "ffpoolctl workers lists each worker's devices" \
  bash -c "grep -Eq '^worker-1 .* -$' '$dir/workers.txt' &&
           grep -Eq '^worker-gpu .* (opencl,vulkan|vulkan,opencl)$' '$dir/workers.txt'"

# last_job_owner: the worker that ran the shim's last job.
last_job_owner() {
  local id
  id=$(grep -o 'event=submitted job=[^ ]*' "$dir/shim.log" | tail -1 | sed 's/.*job=//')
  "$build/bin/ffpoolctl" job "$id" 2>/dev/null | awk '$1 == "owner" { print $2 }'
}
: >"$dir/shim.log"
check "Vulkan device check: stderr and exit status of the CLI's, from a worker" \
  same_stderr vk_pool "${vulkan_check[@]}"
owner=$(last_job_owner)
check "... the device worker's ($owner)" [ "$owner" = worker-gpu ]
check "... which says what Jellyfin reads (a Vulkan device and its extensions)" \
  grep -q 'VK_KHR' "$dir/vk_pool.shim"
: >"$dir/shim.log"
check "OpenCL device check: stderr and exit status of the CLI's, from a worker" \
  same_stderr ocl_pool "${opencl_check[@]}"
owner=$(last_job_owner)
check "... the device worker's ($owner)" [ "$owner" = worker-gpu ]

# ==== a VAAPI line: no worker has VAAPI, unless this machine has a GPU ====
if rcli SMEMBERS ffpool:worker:worker-gpu:offers | grep -qx device:vaapi; then
  say "this machine opens VAAPI: the VAAPI line's fallback is not checked here"
else
  mapfile -d '' vaapi_line < <(python3 "$here/tests/jellyfin_argv.py" "$vaapi_corpus" --input "$clip" \
    --outdir "$dir/out")
  : >"$dir/shim.log"
  "$shim" "${vaapi_line[@]}" </dev/null >/dev/null 2>"$dir/vaapi.err" || true
  check "a VAAPI line goes to the local ffmpeg under fallback, the reason logged" \
    grep -q 'decision=passthrough reason="passthrough: no worker for this hardware: no live worker offers device:vaapi"' \
    "$dir/shim.log"
fi

e2e_finish "$pool"/worker-*.log "$dir/shim.log"
