#!/usr/bin/env bash
# e2e_chaos_delivery.sh -- tests/e2e_chaos.sh with no shared transcode
# folder (scripts/chaos.sh --delivery): the same 35 s of SIGKILLs,
# SIGSTOP/SIGCONTs, Redis stalls and a Redis restart, the workers writing
# into spool folders of their own and each shim fetching its stream's
# segments. Every check of scripts/chaos.sh, plus each segment delivered
# once by its shim. Rerun a failure with `scripts/chaos.sh --delivery
# --seed N` and the same options.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$here/tests/e2e_chaos.sh" --delivery "$@"
