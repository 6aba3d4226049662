#!/usr/bin/env bash
# demo.sh -- `make demo`: a 30 s clip transcoded from a real Jellyfin command
# line by a local pool of two workers; the worker holding the job is
# SIGKILLed halfway and the other one finishes the stream. Prints which
# worker wrote each segment, the takeover gap, and the validation; exits
# non-zero if any check fails. The pool is brought down on every exit path.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$here/tests/e2e_takeover.sh" --duration 30 --kill-at-segment 4 --summary "$@"
