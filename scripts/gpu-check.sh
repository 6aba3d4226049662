#!/usr/bin/env bash
# gpu-check.sh -- the hardware check an operator runs on a machine with a
# GPU (issue 13): which hardware devices this machine opens, whether the
# worker's device check (what Jellyfin's own checks read) prints exactly
# what the ffmpeg CLI prints for each, and the hardware end-to-end tests
# (tests/e2e_hw_*.sh) with those devices present.
#
#   scripts/gpu-check.sh [--no-build] [--no-tests]
#
#   1. make (BUILD, default build/, as the Makefile) unless --no-build.
#   2. Looks for devices: every /dev/dri/renderD* node (its PCI vendor and
#      kernel driver from /sys), every /dev/nvidia[0-9]* GPU, the Vulkan
#      devices the loader lists, an OpenCL GPU device.
#   3. For each candidate, Jellyfin-shaped device checks, each run twice:
#      `$BUILD/bin/ffpool-worker --device-check ARG...` and
#      `ffmpeg -v verbose -hide_banner -init_hw_device ARG...`; stderr
#      (addresses masked) and exit status must be the same. A device
#      "opened" when that output has no "Device creation failed".
#        VAAPI    vaapi=va:NODE
#        DRM      drm=dr:NODE, and Vulkan derived from it (Jellyfin's
#                 check: drm=dr:NODE vulkan=vk@dr)
#        QSV      on Intel nodes, as Jellyfin derives it:
#                 vaapi=va:NODE,driver=iHD qsv=qs@va
#        CUDA     cuda=cu:N for each NVIDIA GPU (NVENC, NVDEC and scale_cuda
#                 run on it; the device check opens CUDA only)
#        Vulkan   vulkan=vk:N for each GPU in the Vulkan listing
#        OpenCL   opencl=ocl,device_type=gpu
#      Software implementations are not GPUs and are never counted: a
#      Vulkan device of type "software" (lavapipe) and OpenCL on the CPU
#      (pocl) are reported as such and skipped. Both run under `make test`.
#   4. When at least one GPU device opened, runs every tests/e2e_hw_*.sh
#      through scripts/test.sh NAME, with FFPOOL_GPU_DEVICES set to the
#      devices that opened ("vaapi:/dev/dri/renderD128 qsv:/dev/dri/renderD128
#      cuda:0 ..."), unless --no-tests. A test's own "SKIP" lines are
#      reported as skips, never as passes.
#   5. Prints what ran and passed, what failed, and what was skipped and
#      why; the last line reads `gpu-check: N passed, N failed, N skipped`.
#
# It never reports a hardware path as tested unless it ran here: a device
# that did not open is "skipped", and the end-to-end tests are reported by
# name with the devices that were present, not as proof that a given
# device was used (read their logs for that).
#
# Exit status: 0 when nothing failed (a machine without a GPU: every
# hardware path skipped, exit 0), 1 when a check or a test failed, 2 when
# the build failed or the arguments are wrong.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here" || exit 2
export BUILD=${BUILD:-build}
build=1
tests=1
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) build=0 ;;
    --no-tests) tests=0 ;;
    -h|--help) sed -n '2,46p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option $1 (--no-build, --no-tests)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "gpu-check: $*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-gpu-check.XXXXXX")
keep_work=0
cleanup() { [ "$keep_work" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

passed=()   # "what: detail"
failed=()
skipped=()
pass() { passed+=("$*"); echo "  ok    $*"; }
fail() { failed+=("$*"); echo "  FAIL  $*"; keep_work=1; }
skip() { skipped+=("$*"); echo "  skip  $*"; }

# ---- 1. build ----
if [ "$build" = 1 ]; then
  say "building (make, BUILD=$BUILD)"
  if ! make -j"$(nproc)" all >"$work/make.log" 2>&1; then
    tail -n 30 "$work/make.log" >&2
    say "make failed (last lines above)"
    exit 2
  fi
fi
worker=$BUILD/bin/ffpool-worker
if [ ! -x "$worker" ]; then
  say "$worker is missing: build first (make), or drop --no-build"
  exit 2
fi
cli=""
if command -v ffmpeg >/dev/null; then
  cli=ffmpeg
  say "ffmpeg CLI: $(ffmpeg -hide_banner -version 2>/dev/null | head -n 1)"
else
  say "no ffmpeg CLI on PATH (scripts/deps.sh installs Debian's): device checks run without comparison"
fi

# ---- 2. what is there ----
shopt -s nullglob
nodes=(/dev/dri/renderD*)
nvidia=(/dev/nvidia[0-9] /dev/nvidia[0-9][0-9])
hw_tests=(tests/e2e_hw_*.sh)
shopt -u nullglob
vendor_name() {
  case $1 in
    0x8086) echo Intel ;;
    0x1002) echo AMD ;;
    0x10de) echo NVIDIA ;;
    *) echo "vendor $1" ;;
  esac
}
declare -A node_vendor=()
say "render nodes: ${nodes[*]:-none}"
for n in "${nodes[@]}"; do
  sys=/sys/class/drm/$(basename "$n")/device
  v=$(cat "$sys/vendor" 2>/dev/null || echo unknown)
  d=$(basename "$(readlink "$sys/driver" 2>/dev/null || echo unknown)")
  node_vendor[$n]=$v
  access="read/write"
  if [ ! -r "$n" ] || [ ! -w "$n" ]; then
    access="NOT accessible to uid $(id -u) (group $(stat -c %G "$n"): add the user to it)"
  fi
  echo "  $n: $(vendor_name "$v"), kernel driver $d, $access"
done
say "NVIDIA GPUs: ${nvidia[*]:-none}$( [ -r /proc/driver/nvidia/version ] && echo "; $(head -n 1 /proc/driver/nvidia/version)")"

# ---- 3. device checks ----
# check LABEL ARG...: the worker's device check and the CLI's on the same
# arguments. Sets $opened (1/0) and $out (the worker's stderr file);
# returns 1 when they disagree (recorded as a failure by the caller).
n_check=0
check() {
  local label=$1; shift
  n_check=$((n_check + 1))
  out=$work/check$n_check.worker
  local cli_out=$work/check$n_check.cli rc_w=0 rc_c=0
  timeout 60 "$worker" --device-check "$@" </dev/null >/dev/null 2>"$out" || rc_w=$?
  opened=0
  if ! grep -q 'Device creation failed' "$out" && grep -q 'Use -h to get full help' "$out"; then
    opened=1
  fi
  echo "$label: $*" >"$work/check$n_check.what"
  [ -n "$cli" ] || return 0
  local args=()
  for a in "$@"; do args+=(-init_hw_device "$a"); done
  timeout 60 ffmpeg -v verbose -hide_banner "${args[@]}" </dev/null >/dev/null 2>"$cli_out" || rc_c=$?
  if [ "$rc_w" != "$rc_c" ] ||
     ! diff <(sed -E 's/0x[0-9a-f]+/0xADDR/g' "$cli_out") <(sed -E 's/0x[0-9a-f]+/0xADDR/g' "$out") \
       >"$work/check$n_check.diff"; then
    {
      echo "        worker exit $rc_w, CLI exit $rc_c; diff CLI -> worker in $work/check$n_check.diff:"
      head -n 20 "$work/check$n_check.diff" | sed 's/^/        /'
    } >"$work/check$n_check.note"
    return 1
  fi
  return 0
}
# why FILE: the line that says why a device did not open.
why() {
  grep -v -E '^(Failed to set value|Error parsing global options)' "$1" | grep -v 'Device creation failed' |
    sed -E 's/^\[[^]]*\] //' | tail -n 1
}
# try WHAT-OPENED LABEL ARG...: one device check, recorded: passed when it
# opened and the worker printed what the CLI printed, failed when they
# differ, skipped when the device did not open.
# listing LABEL ARG...: a device check run for what it lists (Vulkan,
# OpenCL): recorded only when the worker and the CLI disagree.
listing() {
  local label=$1; shift
  if ! check "$label" "$@"; then
    fail "$label ($*): the worker's device check differs from the CLI's"
    cat "$work/check$n_check.note"
  fi
}
found=()      # type:device of every device that opened
compared() { [ -n "$cli" ] && echo "worker = CLI" || echo "not compared: no ffmpeg CLI"; }
try() {
  local found_as=$1 label=$2; shift 2
  if ! check "$label" "$@"; then
    fail "$label ($*): the worker's device check differs from the CLI's"
    cat "$work/check$n_check.note"
  elif [ "$opened" = 1 ]; then
    pass "$label ($*): opened; $(compared)"
    [ -n "$found_as" ] && found+=("$found_as")
  else
    skip "$label ($*): did not open: $(why "$out") ($(compared))"
  fi
}

say "device checks (ffpool-worker --device-check against ffmpeg -v verbose -hide_banner -init_hw_device)"
if [ ${#nodes[@]} -eq 0 ]; then
  skip "VAAPI, QSV, DRM: no /dev/dri render node"
fi
for n in "${nodes[@]}"; do
  try "vaapi:$n" "VAAPI on $n" "vaapi=va:$n"
  grep -E 'VAAPI driver:|Initialised VAAPI' "$out" | sed -E 's/^\[[^]]*\] /        /'
  try "drm:$n" "DRM on $n" "drm=dr:$n"
  try "vulkan-drm:$n" "Vulkan derived from DRM on $n (Jellyfin's check)" "drm=dr:$n" "vulkan=vk@dr"
  if [ "${node_vendor[$n]}" = 0x8086 ]; then
    try "qsv:$n" "QSV on $n (derived from VAAPI, iHD)" "vaapi=va:$n,driver=iHD" "qsv=qs@va"
  else
    skip "QSV on $n: not an Intel GPU ($(vendor_name "${node_vendor[$n]}"))"
  fi
done

if [ ${#nvidia[@]} -eq 0 ]; then
  skip "CUDA/NVENC/NVDEC: no NVIDIA GPU (/dev/nvidia0...)"
fi
for g in "${nvidia[@]}"; do
  i=${g#/dev/nvidia}
  try "cuda:$i" "CUDA on GPU $i" "cuda=cu:$i"
  if [ "$opened" = 1 ] && ! ldconfig -p 2>/dev/null | grep -q 'libnvidia-encode\.so\.1'; then
    echo "        libnvidia-encode.so.1 is not installed: CUDA opens but NVENC cannot (a container needs NVIDIA_DRIVER_CAPABILITIES with video)"
  fi
done

# Vulkan: the loader's listing, then each device that is a GPU.
listing "Vulkan device listing" "vulkan=vk"
mapfile -t vk_list < <(sed -n -E 's/^\[[^]]*\] +([0-9]+): (.*) \((integrated|discrete|virtual|software|unknown)\) \(0x[0-9a-f]+\)$/\1|\3|\2/p' "$out")
vk_gpus=0
for entry in "${vk_list[@]}"; do
  IFS='|' read -r idx kind name <<<"$entry"
  if [ "$kind" = software ]; then
    skip "Vulkan device $idx, $name: a software implementation (lavapipe), not a GPU"
    continue
  fi
  vk_gpus=$((vk_gpus + 1))
  try "vulkan:$idx" "Vulkan device $idx, $name ($kind)" "vulkan=vk:$idx"
done
if [ ${#vk_list[@]} -eq 0 ]; then
  skip "Vulkan: the loader lists no device: $(why "$out")"
fi

# OpenCL: a GPU device only (pocl's CPU device is not one).
try "opencl:gpu" "OpenCL on a GPU" "opencl=ocl,device_type=gpu"
listing "OpenCL device listing" "opencl=ocl"
if [ "$opened" = 1 ]; then
  sed -n -E 's/^\[[^]]*\] ([0-9]+\.[0-9]+: .*)$/        OpenCL platform.device: \1/p' "$out"
  if grep -q 'Portable Computing Language' "$out"; then
    echo "        (Portable Computing Language is pocl: OpenCL on the CPU, not counted)"
  fi
fi

# ---- 4. hardware end-to-end tests ----
gpu_found=()
for f in "${found[@]}"; do
  case $f in vulkan-drm:*) ;; *) gpu_found+=("$f") ;; esac
done
say "hardware end-to-end tests: ${#hw_tests[@]} found (${hw_tests[*]:-none})"
if [ ${#gpu_found[@]} -eq 0 ]; then
  skip "hardware end-to-end tests: no GPU device opened here (they run on lavapipe and pocl under make test)"
elif [ "$tests" = 0 ]; then
  skip "hardware end-to-end tests: --no-tests"
elif [ ${#hw_tests[@]} -eq 0 ]; then
  skip "hardware end-to-end tests: there are none (tests/e2e_hw_*.sh)"
else
  export FFPOOL_GPU_DEVICES="${gpu_found[*]}"
  say "FFPOOL_GPU_DEVICES=$FFPOOL_GPU_DEVICES"
  for t in "${hw_tests[@]}"; do
    name=$(basename "$t" .sh)
    log=$work/$name.log
    rc=0
    scripts/test.sh "$name" >"$log" 2>&1 || rc=$?
    skips=$(grep -E '^(SKIP|skip)\b|: SKIP\b|\bSKIP:' "$log" | head -n 5 || true)
    if [ "$rc" = 0 ] && [ -z "$skips" ]; then
      pass "$name: passed with devices present: $FFPOOL_GPU_DEVICES (log: $log)"
      keep_work=1
    elif [ "$rc" = 0 ]; then
      pass "$name: passed, but the test skipped parts: $(head -n 1 <<<"$skips") (log: $log)"
      while IFS= read -r line; do echo "          $line"; done <<<"$skips"
      keep_work=1
    elif [ -n "$skips" ] && ! grep -q -E '^FAIL|\bFAIL\b' "$log"; then
      skip "$name: the test skipped itself (log: $log): $(head -n 1 <<<"$skips")"
      keep_work=1
    else
      fail "$name: failed (exit $rc; log: $log)"
      grep -E 'FAIL' "$log" | awk '!seen[$0]++' | head -n 10 | sed 's/^/          /'
    fi
  done
fi

# ---- 5. summary ----
echo
say "summary"
if [ ${#nodes[@]} -eq 0 ] && [ ${#nvidia[@]} -eq 0 ] && [ "$vk_gpus" = 0 ] && [ ${#gpu_found[@]} -eq 0 ]; then
  echo "  skipped: no GPU (no /dev/dri render node, no NVIDIA device, no Vulkan or OpenCL GPU): no hardware path was tested here"
elif [ ${#gpu_found[@]} -eq 0 ]; then
  echo "  a GPU is present but no device opened (the reasons are below): no hardware path was tested here"
else
  echo "  GPU devices that opened here: ${gpu_found[*]}"
fi
if [ ${#passed[@]} -gt 0 ]; then
  echo "  ran and passed:"
  printf '    %s\n' "${passed[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "  FAILED:"
  printf '    %s\n' "${failed[@]}"
fi
if [ ${#skipped[@]} -gt 0 ]; then
  echo "  skipped (not tested here):"
  printf '    %s\n' "${skipped[@]}"
fi
[ "$keep_work" = 1 ] && echo "  logs kept in $work"
echo "gpu-check: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
[ ${#failed[@]} -eq 0 ]
