#!/usr/bin/env bash
# e2e_chaos.sh -- the short form of scripts/chaos.sh run by `make test`
# (well under two minutes on 2 cores): 35 s of SIGKILLs, SIGSTOP/SIGCONTs and
# one Redis restart on a pool of 3 workers serving 2 concurrent streams of
# 45 s clips at 960x540, then every check of scripts/chaos.sh (complete
# streams, each segment index published once, every segment decodes, every
# frame present, continuous timeline, no lease left). The seed is printed;
# rerun a failure with `scripts/chaos.sh --seed N` and the same options.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$here/scripts/chaos.sh" --duration 35 --streams 2 --workers 3 --clip-seconds 45 \
  --size 960x540 --lease-ttl-ms 2000 "$@"
