#!/usr/bin/env bash
# deps.sh -- installs the Debian 12 packages ffpool needs to build, test and
# run locally. Idempotent: does nothing (and needs no network) when every
# package is already there. Run as root, or with sudo available.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config git
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev
  libavdevice-dev libpostproc-dev
  libhiredis-dev libnng-dev libmbedtls-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler
  zlib1g-dev
  libcriterion-dev
  redis-server redis-tools redis-sentinel
  ffmpeg
  iproute2 procps python3 curl openssl yamllint
  chromium
  mesa-vulkan-drivers pocl-opencl-icd
  clang libclang-rt-14-dev lua-check
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a system redis on 6379; ffpool starts its own on a free
# port and never uses that one.
