#!/usr/bin/env python3
"""jellyfin_argv.py -- turn a corpus file from tests/corpus/ into the
argv Jellyfin's ffmpeg would receive, with the media and transcode paths
rewritten to a test clip and a test folder.

    jellyfin_argv.py FILE [--input CLIP] [--outdir DIR] [--drop-seek-offset]

prints the arguments (without the program) NUL-separated, for
`mapfile -d ''`. Splitting follows .NET's rules for one argument string:
whitespace separates, double quotes group, a backslash escapes only a quote.
"""
import argparse
import os
import re
import sys


def dotnet_split(line):
    """Splits like .NET's ProcessStartInfo.Arguments (CommandLineToArgvW)."""
    args, cur, i, in_quotes, have = [], [], 0, False, False
    while i < len(line):
        c = line[i]
        if c == '\\':
            j = i
            while j < len(line) and line[j] == '\\':
                j += 1
            n = j - i
            if j < len(line) and line[j] == '"':
                cur.append('\\' * (n // 2))
                if n % 2:
                    cur.append('"')
                    i = j + 1
                else:
                    i = j
                have = True
                continue
            cur.append('\\' * n)
            have = True
            i = j
            continue
        if c == '"':
            if in_quotes and i + 1 < len(line) and line[i + 1] == '"':
                cur.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            have = True
            i += 1
            continue
        if c in ' \t' and not in_quotes:
            if have:
                args.append(''.join(cur))
                cur, have = [], False
            i += 1
            continue
        cur.append(c)
        have = True
        i += 1
    if have:
        args.append(''.join(cur))
    return args


def corpus_arguments(text):
    """The argument string of a corpus file, whatever form the log had."""
    lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith('#')]
    line = ' '.join(lines).strip()
    if line.startswith('time '):
        line = line[5:].strip()
    m = re.match(r'^"([^"]*)"\s+with args\s+"(.*)"\s*$', line)
    if m:
        return m.group(2).replace('\\"', '"')
    m = re.match(r'^"([^"]*)"\s+"(.*)"\s*$', line)
    if m:  # Jellyfin's log form: "program" "args with \"escaped\" quotes"
        return m.group(2).replace('\\"', '"')
    return line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ''


def rewrite(args, clip, outdir, drop_seek_offset):
    out = []
    for i, a in enumerate(args):
        prev = args[i - 1] if i else ''
        if clip and prev == '-i':
            a = 'file:' + clip if a.startswith('file:') else clip
        elif outdir and (prev in ('-hls_segment_filename', '-segment_list', '-y')
                         or (i == len(args) - 1 and not a.startswith('-'))):
            a = os.path.join(outdir, os.path.basename(a))
        if drop_seek_offset and a.startswith('expr:gte(t,'):
            a = re.sub(r'expr:gte\(t,[0-9.]+\+n_forced', 'expr:gte(t,n_forced', a)
        out.append(a)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('file')
    p.add_argument('--input')
    p.add_argument('--outdir')
    p.add_argument('--drop-seek-offset', action='store_true')
    p.add_argument('--set', action='append', default=[],
                   help='OPTION=VALUE: replace the value of an option')
    p.add_argument('--drop', action='append', default=[],
                   help='OPTION: remove an option and its value')
    o = p.parse_args()
    args = rewrite(dotnet_split(corpus_arguments(open(o.file).read())), o.input, o.outdir,
                   o.drop_seek_offset)
    for opt in o.drop:
        while opt in args[:-1]:
            i = args.index(opt)
            del args[i:i + 2]
    for s in o.set:
        opt, val = s.split('=', 1)
        for i in range(len(args) - 1):
            if args[i] == opt:
                args[i + 1] = val
    sys.stdout.write('\0'.join(args) + '\0')


if __name__ == '__main__':
    main()
