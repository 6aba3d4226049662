#!/usr/bin/env bash
# first_segment.sh -- time to first segment: from the exec of "ffmpeg" until
# segment 0 is ready by Jellyfin's rule (file 0 exists, and file 1 exists or
# the process exited), for the shim on a warm local pool and for the ffmpeg
# CLI on the same argv (tests/corpus/002-*: libx264 veryfast,
# scaled to 720p, HLS mpegts, 3 s segments), on a 1080p clip. In Jellyfin
# this is also the latency of every seek. Runs alternate (pool, CLI, pool,
# ...), each stopped with `q` as Jellyfin does once the segment is ready;
# the pool's worker is idle again before the next run starts.
#
#   scripts/bench/first_segment.sh [RUNS]      (default 10; env FIRST_SEGMENT_RUNS)
#
# With FIRST_SEGMENT_BASELINE=DIR (another build folder, e.g. of the commit
# before a change), a second pool runs from DIR's binaries and each round is
# pool, baseline pool, CLI: a before/after comparison under the same load.
#
# Prints a markdown section: medians, ratio, and where the pool's time goes
# (from the shim's and the worker's own log timestamps: exec -> submitted,
# -> claimed, -> segment 0 published, -> segment 1 published).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
runs=${1:-${FIRST_SEGMENT_RUNS:-10}}
corpus=$(ls "$here"/tests/corpus/002-*.txt | head -n 1)
clip=$build/bench/first_segment_1080p.mkv
mkdir -p "$build/bench"

# A 25 s 1080p clip with texture (noise over testsrc2), made once.
if [ ! -s "$clip" ]; then
  ffmpeg -v error -f lavfi -i "testsrc2=size=1920x1080:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 25 \
    -vf "noise=alls=12:allf=t" -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p \
    -c:a aac -b:a 128k "$clip.tmp.mkv"
  mv "$clip.tmp.mkv" "$clip"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-bench-first.XXXXXX")
cleanup() {
  FFPOOL_BIN=$build/bin "$here/scripts/pool" down --dir "$dir/pool" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
baseline=${FIRST_SEGMENT_BASELINE:-}
case $baseline in /*|"") ;; *) baseline=$here/$baseline ;; esac
if [ -n "$baseline" ]; then
  FFPOOL_BIN=$baseline/bin "$here/scripts/pool" up --workers 1 --dir "$dir/basepool" >/dev/null 2>&1
  trap 'FFPOOL_BIN=$baseline/bin "$here/scripts/pool" down --dir "$dir/basepool" >/dev/null 2>&1 || true; cleanup' EXIT
fi
FFPOOL_BIN=$build/bin "$here/scripts/pool" up --workers 1 --dir "$dir/pool" >/dev/null 2>&1
sleep 0.5 # the workers register and block on their claims

python3 - "$runs" "$corpus" "$clip" "$dir" "$build" "$here" "$baseline" <<'PY'
import datetime, json, os, re, statistics, subprocess, sys, time

runs, corpus, clip, work, build, here, baseline = sys.argv[1:8]
runs = int(runs)
load_before = os.getloadavg()

def pool_env(pooldir):
    env = dict(os.environ)
    for line in open(os.path.join(pooldir, "env")):
        m = re.match(r"export (\w+)=(.*)$", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    return env

def argv_for(outdir):
    os.makedirs(outdir, exist_ok=True)
    out = subprocess.run([sys.executable, os.path.join(here, "tests/jellyfin_argv.py"), corpus,
                          "--input", clip, "--outdir", outdir], check=True,
                         capture_output=True).stdout
    args = out.decode().split("\0")
    if args and args[-1] == "":
        args.pop()
    pattern = args[args.index("-hls_segment_filename") + 1]
    return args, pattern

def running_jobs(bindir, env):
    out = subprocess.run([os.path.join(bindir, "bin/ffpoolctl"), "--json", "workers"],
                         capture_output=True, env=env).stdout.decode()
    return sum(int(x) for x in re.findall(r'"running":(\d+)', out))

def one_run(program, outdir, log, env=None):
    args, pattern = argv_for(outdir)
    seg0, seg1 = pattern.replace("%d", "0"), pattern.replace("%d", "1")
    with open(log, "wb") as err:
        started = time.monotonic()
        wall = time.time()
        proc = subprocess.Popen([program] + args, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
        ready = None
        while ready is None:
            if os.path.exists(seg0) and (os.path.exists(seg1) or proc.poll() is not None):
                ready = time.monotonic() - started
                break
            if proc.poll() is not None and not os.path.exists(seg0):
                break
            if time.monotonic() - started > 120:
                break
            time.sleep(0.005)
        try:
            proc.stdin.write(b"q\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return ready, wall

def log_ts(line):
    m = re.search(r"ts=(\S+)Z", line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()

def pool_phases(shim_log, wall, ready, worker_logs):
    """exec->submitted, ->claimed, ->segment 0 published, ->ready seen (s)."""
    text = open(shim_log, errors="replace").read()
    m = re.search(r"^(.*event=(?:submitted|attached) job=(\S+).*)$", text, re.M)
    if not m:
        return None
    submitted, job = log_ts(m.group(1)), m.group(2)
    marks = {}
    for path in worker_logs:
        for line in open(path, errors="replace"):
            if f"job={job} " not in line + " ":
                continue
            if "event=claimed" in line:
                marks.setdefault("claimed", log_ts(line))
            elif "event=job_start" in line:
                marks.setdefault("started", log_ts(line))
            elif "event=segment " in line and " segment=0 " in line:
                marks.setdefault("seg0", log_ts(line))
    if "claimed" not in marks or "seg0" not in marks:
        return None
    return (submitted - wall, marks["claimed"] - submitted, marks["seg0"] - marks["claimed"],
            wall + ready - marks["seg0"])

pools = [("ffpool shim", build, os.path.join(work, "pool"))]
if baseline:
    pools.append(("baseline shim", baseline, os.path.join(work, "basepool")))
times = {name: [] for name, _, _ in pools}
times["ffmpeg CLI"] = []
phases = []
for i in range(runs):
    for name, bindir, pooldir in pools:
        env = pool_env(pooldir)
        for _ in range(200):  # the worker must be idle: we measure latency, not queueing
            if running_jobs(bindir, env) == 0:
                break
            time.sleep(0.05)
        tag = "pool" if name == "ffpool shim" else "base"
        err = os.path.join(work, f"{tag}{i}.err")
        t, wall = one_run(os.path.join(bindir, "jellyfin/ffmpeg"), os.path.join(work, f"{tag}{i}"),
                          err, env)
        if t is None:
            continue
        times[name].append(t)
        if tag == "pool":
            workers = [os.path.join(pooldir, f) for f in os.listdir(pooldir)
                       if f.startswith("worker-") and f.endswith(".log")]
            p = pool_phases(err, wall, t, workers)
            if p:
                phases.append(p)
    t, _ = one_run("ffmpeg", os.path.join(work, f"cli{i}"), os.path.join(work, f"cli{i}.err"))
    if t is not None:
        times["ffmpeg CLI"].append(t)
pool_times, cli_times = times["ffpool shim"], times["ffmpeg CLI"]

def fmt(xs):
    return "%.3f" % statistics.median(xs) if xs else "n/a"

print("## Time to first segment (Jellyfin's readiness rule)")
print()
print(f"`scripts/bench/first_segment.sh {runs}`: corpus 002 (libx264 veryfast, 1080p -> 720p, "
      f"HLS mpegts, 3 s segments), 25 s textured 1080p clip, {runs} alternating runs each; "
      "pool = 1 warm worker on this machine"
      + (f"; baseline = 1 warm worker built in {baseline}" if baseline else "")
      + f"; {os.cpu_count()} cores, load average (1, 5, 15 min) at the start: "
      + " ".join("%.1f" % x for x in load_before) + ", at the end: "
      + " ".join("%.1f" % x for x in os.getloadavg()) + ".")
print()
print("| | median s | min s | max s | runs |")
print("|---|---|---|---|---|")
for name, xs in times.items():
    if xs:
        print(f"| {name} | {fmt(xs)} | {min(xs):.3f} | {max(xs):.3f} | {len(xs)} |")
    else:
        print(f"| {name} | n/a | n/a | n/a | 0 |")
if pool_times and cli_times:
    ratio = statistics.median(pool_times) / statistics.median(cli_times)
    print()
    print(f"Ratio pool / CLI: **{ratio:.2f}** (goal <= 0.50).")
    if baseline and times["baseline shim"]:
        base = statistics.median(times["baseline shim"]) / statistics.median(cli_times)
        print(f"Baseline / CLI: {base:.2f}.")
if phases:
    cols = list(zip(*phases))
    print()
    print("Where the pool's time goes (medians, from the shim's and worker's log timestamps):")
    print()
    print("| exec -> submitted | -> claimed | claimed -> segment 0 published | -> ready by the rule |")
    print("|---|---|---|---|")
    print("| " + " | ".join("%.3f s" % statistics.median(c) for c in cols) + " |")
PY
