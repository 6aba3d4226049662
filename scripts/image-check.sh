#!/usr/bin/env bash
# image-check.sh -- proves that Dockerfile.worker builds and that its image
# works, on a machine that reaches Debian's package mirror but no container
# registry. Slow (10-20 minutes the first time), so it is not part of
# `make test`. Needs root (debootstrap, buildah's chroot isolation).
#
#   scripts/image-check.sh [--storage DIR] [--keep] [--tag NAME]
#
#   1. debian:bookworm-slim, made here: debootstrap --variant=minbase from
#      Debian's packages, slimmed like the official image (no docs, man pages
#      or locales; apt lists removed), packed as a tar and imported into a
#      buildah store (buildah from scratch + add + commit) as
#      localhost/debian:bookworm-slim and docker.io/library/debian:bookworm-slim.
#   2. buildah bud --isolation chroot --pull=never -f Dockerfile.worker.
#   3. Inside the image (buildah run --isolation chroot): every binary's
#      --version, the image's user and entrypoint, no compiler or -dev
#      package in the runtime stage.
#   4. The shim bundle as Jellyfin's init container uses it: `cp -R -P` of
#      /opt/ffpool/jellyfin as uid 10001 into a host folder, then ffmpeg and
#      ffprobe --version from that folder inside the bare base image (glibc
#      and nothing else), with ldd finding every library.
#   5. A real transcode: redis-server on the host loopback (a free port), the
#      scheduler and a worker from the image (host network, one YAML config),
#      the image's shim given a Jellyfin HLS command line for a 12 s clip;
#      checks the shim exits 0, every segment exists and decodes, the job
#      ends `done` in Redis. Then SIGTERM to tini (the image's entrypoint)
#      must make the worker exit within 5 s.
#   6. Cleans up: stops what it started (by pid), removes the containers,
#      images and the temporary store (unless --storage or --keep).
#
# Options:
#   --storage DIR   use (and keep) this buildah store; a base image already
#                   in it is reused, and --layers caches the build steps
#   --keep          keep the temporary folder, store and logs
#   --tag NAME      name of the built image (default localhost/ffpool:image-check)
# Environment: FFPOOL_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#   FFPOOL_STORAGE_DRIVER (default overlay; vfs where overlay is unavailable).
#
# Exits 0 only when every step passed; prints `image-check: ok` or the step
# that failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mirror=${FFPOOL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
driver=${FFPOOL_STORAGE_DRIVER:-overlay}
storage=""
keep=0
tag=localhost/ffpool:image-check
while [ $# -gt 0 ]; do
  case $1 in
    --storage) storage=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image-check: unknown option $1" >&2; exit 2 ;;
  esac
done

started=$(date +%s)
say() { echo "image-check: [$(($(date +%s) - started))s] $*" >&2; }
fail() { say "FAIL $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (debootstrap and buildah's chroot isolation need it)"

# ---- tools ----
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v python3 >/dev/null || need+=(python3)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ffpool-image-check.XXXXXX")
chmod 755 "$work"
if [ -z "$storage" ]; then
  storage=$work/storage
  own_storage=1
else
  mkdir -p "$storage"
  storage=$(cd "$storage" && pwd)
  own_storage=0
fi
B=(buildah --root "$storage/root" --runroot "$storage/run" --storage-driver "$driver")
export BUILDAH_ISOLATION=chroot
containers=()
pids=()

cleanup() {
  local rc=$?
  set +e
  # Newest first (a container's process before the buildah run around it):
  # SIGTERM, up to 5 s to go, then SIGKILL.
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  { wait; } 2>/dev/null || true
  for c in "${containers[@]}"; do "${B[@]}" rm "$c" >/dev/null 2>&1 || true; done
  if [ "$keep" = 1 ]; then
    say "kept $work (store $storage)"
  else
    if [ "$own_storage" = 1 ]; then
      "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
      # Overlay mounts must be gone before the folder can be removed.
      { grep -F " $storage/" /proc/mounts || true; } | awk '{ print $2 }' | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    fi
    rm -rf "$work"
  fi
  if [ $rc = 0 ]; then say "ok (total $(($(date +%s) - started)) s)"; else say "FAILED (rc=$rc)"; fi
}
trap cleanup EXIT

# run [OPTIONS] CONTAINER [--] COMMAND...: buildah run with chroot isolation
# and the host's network.
run() {
  "${B[@]}" run --isolation chroot --network host "$@"
}

# ---- 1. the base image ----
base=localhost/debian:bookworm-slim
if "${B[@]}" inspect --type image "$base" >/dev/null 2>&1; then
  say "1/5 base: reusing $base from $storage"
else
  say "1/5 base: debootstrap bookworm (minbase) from $mirror"
  rootfs=$work/rootfs
  debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap (log above)"; }
  # What the official slim image does: no docs, man pages or locales from
  # later installs, apt caches cleaned after every install, the usual sources.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/*/changelog* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
  : >"$rootfs/etc/hostname"
  tar --numeric-owner --xattrs --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$rootfs" -cf "$work/base.tar" .
  rm -rf "$rootfs"
  say "1/5 base: rootfs tar $(du -h "$work/base.tar" | cut -f1); importing"
  c=$("${B[@]}" from scratch)
  containers+=("$c")
  "${B[@]}" add "$c" "$work/base.tar" / >/dev/null
  "${B[@]}" config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch amd64 "$c"
  "${B[@]}" commit --quiet --rm "$c" "$base" >/dev/null
  containers=()
  "${B[@]}" tag "$base" docker.io/library/debian:bookworm-slim
  rm -f "$work/base.tar"
fi

# ---- 2. the image ----
say "2/5 build: buildah bud --isolation chroot -f Dockerfile.worker (log: $work/build.log)"
bud_started=$(date +%s)
if ! "${B[@]}" bud --isolation chroot --pull=never --layers -f "$here/Dockerfile.worker" \
     -t "$tag" "$here" >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  fail "buildah bud (last lines of the build log above)"
fi
say "2/5 build: done in $(($(date +%s) - bud_started)) s; image $tag"
"${B[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' >&2

# ---- 3. what is in it ----
c=$("${B[@]}" from --pull=never "$tag")
containers+=("$c")
for b in ffpool-worker ffpool-scheduler ffpool-shim ffpoolctl; do
  v=$(run "$c" /usr/local/bin/$b --version) || fail "$b --version"
  say "3/5 $b --version: $v"
done
v=$(run "$c" /opt/ffpool/jellyfin/ffpool-shim --version) || fail "/opt/ffpool/jellyfin/ffpool-shim --version"
say "3/5 /opt/ffpool/jellyfin/ffpool-shim --version (the bundle): $v"
config=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}' "$tag")
say "3/5 user and entrypoint: $config"
[ "$config" = '10001:10001 [/usr/bin/tini -- /usr/local/bin/ffpool-worker]' ] ||
  fail "unexpected user/entrypoint: $config"
uid=$(run "$c" id -u)
[ "$uid" = 10001 ] || fail "commands run as uid $uid, not 10001"
dev=$(run "$c" sh -c "dpkg-query -W -f '\${Package}\n' | grep -E -- '-dev\$|^gcc(-[0-9]+)?\$|^g\\+\\+|^cpp(-[0-9]+)?\$|^make\$|^build-essential\$|^patchelf\$' || true")
[ -z "$dev" ] || fail "build packages in the runtime image: $dev"
say "3/5 runtime stage has no compiler or -dev package; runs as uid $uid"

# ---- 4. the shim bundle, as the Jellyfin init container uses it ----
mkdir -p "$work/jf"
chmod 777 "$work/jf"
run -v "$work/jf:/ffpool" "$c" -- cp -R -P --remove-destination /opt/ffpool/jellyfin/. /ffpool/ ||
  fail "copying /opt/ffpool/jellyfin as uid 10001 (the init container command)"
say "4/5 init-container copy: $(cd "$work/jf" && ls | tr '\n' ' ')($(du -sh "$work/jf" | cut -f1))"
bare=$("${B[@]}" from --pull=never "$base")
containers+=("$bare")
missing=$(run -v "$work/jf:/jf" "$bare" -- sh -c 'ldd /jf/ffpool-shim | grep "not found" || true')
[ -z "$missing" ] || fail "the shim bundle misses libraries in a bare Debian: $missing"
# Under the names ffmpeg/ffprobe every option is ffmpeg's (--version too),
# so the bundle runs by its own name; the links must point at it.
v=$(run -v "$work/jf:/jf" "$bare" -- /jf/ffpool-shim --version) ||
  fail "the bundled shim does not run in the bare base image"
say "4/5 in bare debian:bookworm-slim: /jf/ffpool-shim --version: $v"
for n in ffmpeg ffprobe; do
  l=$(readlink "$work/jf/$n" || true)
  [ "$l" = ffpool-shim ] || fail "$n in the bundle is not a link to ffpool-shim (${l:-not a link})"
done
say "4/5 ffmpeg and ffprobe are relative links to ffpool-shim"
glibc=$(objdump -T "$work/jf/ffpool-shim" "$work"/jf/lib/* 2>/dev/null |
  grep -o 'GLIBC_[0-9.]*' | sort -u -V | tail -n 1 || true)
[ -n "$glibc" ] && say "4/5 the bundle needs glibc >= ${glibc#GLIBC_}"

# ---- 5. a real transcode against a Redis on the host ----
# shellcheck source=scripts/lib.sh
. "$here/scripts/lib.sh"
t=$work/t
mkdir -p "$t/redis" "$t/transcodes"
chmod 777 "$t" "$t/transcodes"
redis_port=$(free_port)
sched_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$t/redis" --save '' --appendonly no \
  --maxmemory-policy noeviction --daemonize no >"$t/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$redis_port" ping >/dev/null || fail "redis-server did not start"
cat >"$t/ffpool.yaml" <<EOF
redis:
  host: 127.0.0.1
  port: $redis_port
scheduler:
  listen: tcp://127.0.0.1:$sched_port
  url: tcp://127.0.0.1:$sched_port
api:
  token: image-check-token
worker:
  id: image-check-worker
log:
  level: info
EOF
chmod 644 "$t/ffpool.yaml"
duration=12
ffmpeg -v error -f lavfi -i "testsrc2=size=640x360:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t "$duration" -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 128k "$t/clip.mkv"
chmod 644 "$t/clip.mkv"

# start NAME CONTAINER COMMAND...: runs COMMAND in the container in the
# background; inside, the process writes its own pid (chroot isolation has
# no pid namespace, so it is the host's pid) to $t/NAME.pid.
start() {
  local name=$1 ctr=$2; shift 2
  run -v "$t:$t" "$ctr" -- sh -c 'echo $$ >"$0"; exec "$@"' "$t/$name.pid" "$@" \
    >"$t/$name.log" 2>&1 </dev/null &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$t/$name.pid" ] && break; sleep 0.1; done
  [ -s "$t/$name.pid" ] || fail "$name did not start (see $t/$name.log): $(tail -n 5 "$t/$name.log")"
  pids+=("$(cat "$t/$name.pid")")
}
cs=$("${B[@]}" from --pull=never "$tag")
containers+=("$cs")
start scheduler "$cs" /usr/local/bin/ffpool-scheduler --config "$t/ffpool.yaml"
cw=$("${B[@]}" from --pull=never "$tag")
containers+=("$cw")
# The image's own entrypoint: tini forwards SIGTERM to the worker.
start worker "$cw" /usr/bin/tini -s -- /usr/local/bin/ffpool-worker --config "$t/ffpool.yaml"
sleep 1
for n in scheduler worker; do
  kill -0 "$(cat "$t/$n.pid")" 2>/dev/null || fail "$n exited at start: $(tail -n 5 "$t/$n.log")"
done
say "5/5 redis 127.0.0.1:$redis_port on the host; scheduler and worker running from the image"
# For information only (not a check of the image): Jellyfin's first start-up
# probe, answered by the shim from the pool.
probe=$(timeout 20 "${B[@]}" run --isolation chroot --network host -v "$t:$t" "$c" -- \
  env FFPOOL_CONFIG="$t/ffpool.yaml" /opt/ffpool/jellyfin/ffmpeg -version 2>/dev/null </dev/null | head -n 1 || true)
say "5/5 (information) Jellyfin's probe 'ffmpeg -version' through the image's shim: ${probe:-no answer}"

# Jellyfin 10.8's HLS command line (tests/corpus/003), split as .NET
# splits it, with the media and transcode paths pointed at this test.
out=$t/transcodes/2a308e3c1a02707845b73d2e389fd93b
args=(-analyzeduration 200M -f matroska,webm -autorotate 0 -i "file:$t/clip.mkv"
  -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s
  -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4875352 -bufsize 9750704
  -x264opts:0 subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none
  -force_key_frames:0 'expr:gte(t,0+n_forced*3)' -sc_threshold:v:0 0
  -vf 'setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\,ih*a)\,min(1918\,1080*a))/2)*2:trunc(min(max(iw/a\,ih)\,min(1918/a\,1080))/2)*2,format=yuv420p'
  -codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls
  -max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0
  -hls_segment_filename "$out%d.ts" -hls_playlist_type vod -hls_list_size 0 -y "$out.m3u8")
shim_started=$(date +%s)
shim_rc=0
timeout 180 "${B[@]}" run --isolation chroot --network host -v "$t:$t" "$c" -- \
  env FFPOOL_CONFIG="$t/ffpool.yaml" /opt/ffpool/jellyfin/ffmpeg "${args[@]}" \
  </dev/null >"$t/shim.out" 2>"$t/shim.log" || shim_rc=$?
say "5/5 shim exited $shim_rc after $(($(date +%s) - shim_started)) s: $(tr '\r' '\n' <"$t/shim.log" | grep -v '^$' | tail -n 1)"
if [ "$shim_rc" != 0 ]; then
  tail -n 20 "$t/shim.log" "$t/scheduler.log" "$t/worker.log" >&2
  fail "the shim did not finish the transcode"
fi
expected=$(( (duration + 2) / 3 ))
count=$(ls "$t/transcodes" | grep -c '\.ts$' || true)
[ "$count" = "$expected" ] || fail "$count segments, expected $expected: $(ls "$t/transcodes")"
for ((n = 0; n < expected; n++)); do
  e=$(ffmpeg -v error -i "${out}$n.ts" -f null - 2>&1 || echo "exit $?")
  [ -z "$e" ] || fail "segment $n does not decode: $e"
done
e=$(ffmpeg -v error -i "$out.m3u8" -f null - 2>&1 || echo "exit $?")
[ -z "$e" ] || fail "the playlist does not decode end to end: $e"
owner=$(stat -c %u "${out}0.ts")
job_id=$(sed -n 's/^ffpool: job \([^ ]*\) for .*/\1/p' "$t/shim.log" | head -n 1)
state=$(redis-cli -p "$redis_port" --raw HGET "ffpool:job:$job_id" state)
[ "$state" = done ] || fail "job $job_id ends in state '$state', not done"
say "5/5 transcode ok: job $job_id done, $count segments (written by uid $owner), each and the playlist decode cleanly"

# SIGTERM to tini (what the kubelet sends to PID 1) must stop the worker fast.
tini_pid=$(cat "$t/worker.pid")
kill -TERM "$tini_pid"
stopped=0
for _ in $(seq 1 50); do kill -0 "$tini_pid" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
[ "$stopped" = 1 ] || fail "the worker was still running 5 s after SIGTERM to tini: $(tail -n 5 "$t/worker.log")"
say "5/5 SIGTERM to tini: worker exited within 5 s ($(tail -n 1 "$t/worker.log"))"
