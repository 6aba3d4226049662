#!/usr/bin/env python3
"""segment_times.py -- the presentation times a player reads from each HLS
segment, and their comparison with another run of the same line.

    segment_times.py probe --pattern P [--init FILE] --first N --count C
    segment_times.py compare REF GOT [--tolerance-ms MS] [--audio-tolerance-ms MS]
                             [--kind video|audio]

`probe` prints one line per segment and stream kind:

    INDEX KIND FIRST_PTS LAST_PTS PACKETS

(seconds, 6 decimals; FIRST and LAST are the smallest and largest
presentation time of that kind's packets in the segment; MISSING in place
of the numbers when the segment or the kind is absent). A segment is read
as a player reads it: an MPEG-TS segment on its own; an fMP4 segment after
the init segment (--init), the two concatenated into one file, so that
the times are the fragment's decode times (tfdt) as the init segment's
time scales and edit list place them. A fragment that restarts its
timeline shows here as a segment starting near 0.

`compare` reads two probe tables (REF: the uninterrupted run, GOT: the run
under test), prints one line per segment whose KIND differs (first or last
time off by more than the tolerance, another packet count, or missing on
either side) and then a summary line "KIND: N of M segments differ" (or
"KIND: none in either run"), and exits 1 if any differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

KINDS = ('video', 'audio')


def probe_file(path):
    """{kind: [pts_time...]} for the first stream of each kind in path."""
    out = subprocess.run(
        ['ffprobe', '-v', 'error', '-show_entries',
         'stream=index,codec_type:packet=stream_index,pts_time', '-of', 'json', path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if out.returncode != 0:
        raise RuntimeError('ffprobe %s: %s' % (path, out.stderr.decode(errors='replace').strip()))
    data = json.loads(out.stdout or b'{}')
    stream_kind = {}
    for s in data.get('streams', []):
        kind = s.get('codec_type')
        if kind in KINDS and kind not in stream_kind.values():
            stream_kind[s['index']] = kind
    times = {kind: [] for kind in stream_kind.values()}
    for p in data.get('packets', []):
        kind = stream_kind.get(p.get('stream_index'))
        t = p.get('pts_time')
        if kind is None or t in (None, 'N/A'):
            continue
        times[kind].append(float(t))
    return times


def probe_segment(path, init):
    """probe_file of the segment, read after the init segment if one is given."""
    if not init:
        return probe_file(path)
    fd, joined = tempfile.mkstemp(suffix='.mp4')
    try:
        with os.fdopen(fd, 'wb') as out:
            for part in (init, path):
                with open(part, 'rb') as f:
                    out.write(f.read())
        return probe_file(joined)
    finally:
        os.unlink(joined)


def cmd_probe(o):
    for index in range(o.first, o.first + o.count):
        path = o.pattern.replace('%d', str(index))
        times = {}
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            try:
                times = probe_segment(path, o.init)
            except (OSError, RuntimeError) as e:
                print('segment_times: %s' % e, file=sys.stderr)
        for kind in KINDS:
            t = times.get(kind)
            if t:
                print('%d %s %.6f %.6f %d' % (index, kind, min(t), max(t), len(t)))
            elif kind in times or not times:
                print('%d %s MISSING' % (index, kind))
    return 0


def read_table(path):
    rows = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) == 5:
                rows[(int(w[0]), w[1])] = (float(w[2]), float(w[3]), int(w[4]))
            elif len(w) == 3:
                rows[(int(w[0]), w[1])] = None
    return rows


def fmt(row):
    return 'missing' if row is None else '%.6f..%.6f (%d packets)' % row


def cmd_compare(o):
    ref, got = read_table(o.ref), read_table(o.got)
    status = 0
    for kind in (o.kind,) if o.kind else KINDS:
        tol = (o.audio_tolerance_ms if kind == 'audio' and o.audio_tolerance_ms is not None
               else o.tolerance_ms) / 1000.0
        # The tables hold microseconds: a difference of exactly the
        # tolerance must not fail on the float's last bit.
        slack = tol + 0.5e-6
        indexes = sorted({i for (i, k) in ref if k == kind} | {i for (i, k) in got if k == kind})
        if not indexes:
            print('%s: none in either run' % kind)
            continue
        bad = 0
        for i in indexes:
            r, g = ref.get((i, kind)), got.get((i, kind))
            if r is not None and g is not None and abs(r[0] - g[0]) <= slack and \
                    abs(r[1] - g[1]) <= slack and r[2] == g[2]:
                continue
            bad += 1
            print('segment %d %s: %s, uninterrupted %s' % (i, kind, fmt(g), fmt(r)))
        print('%s: %d of %d segments differ (tolerance %.3f ms)' % (kind, bad, len(indexes),
                                                                    tol * 1000))
        if bad:
            status = max(status, 1)
    return status


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    pr = sub.add_parser('probe')
    pr.add_argument('--pattern', required=True)
    pr.add_argument('--init')
    pr.add_argument('--first', type=int, required=True)
    pr.add_argument('--count', type=int, required=True)
    co = sub.add_parser('compare')
    co.add_argument('ref')
    co.add_argument('got')
    co.add_argument('--tolerance-ms', type=float, default=1.0)
    co.add_argument('--audio-tolerance-ms', type=float)
    co.add_argument('--kind', choices=KINDS)
    o = p.parse_args()
    return cmd_probe(o) if o.cmd == 'probe' else cmd_compare(o)


if __name__ == '__main__':
    sys.exit(main())
