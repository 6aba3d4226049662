#!/usr/bin/env bash
# demo.sh -- `make demo`: a 30 s 1280x720 clip transcoded from a real
# Jellyfin command line by a local pool of two workers, first without a
# kill, then with the worker holding the job SIGKILLed halfway and the other
# one finishing the stream. Prints which worker wrote each segment and the
# presentation times in it, the takeover gap, and the validation (the times
# of every segment against the run without a kill among it); exits non-zero
# if any check fails. The pool is brought down on every exit path.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$here/tests/e2e_takeover.sh" --duration 30 --size 1280x720 --kill-at-segment 4 --summary "$@"
