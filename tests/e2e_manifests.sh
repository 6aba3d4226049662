#!/usr/bin/env bash
# e2e_manifests.sh -- checks deploy/ without a cluster:
#   1. yamllint --strict (deploy/.yamllint) on every YAML file under deploy/;
#   2. `npm ci` in deploy/validate and `node validate.js`: every Kubernetes and
#      KEDA object against the upstream schemas (kubernetes-models validate()),
#      unknown fields, kustomization references, ffpool configuration keys
#      (and, where kubectl exists, every kustomization rendered);
#   3. the shell scripts the manifests ship: `sh -n`, and the worker's
#      deletion-cost sidecar run against a fake /metrics and API server on
#      the loopback (it must patch the annotation on change only, with the
#      token, and stop at once on SIGTERM).
# Installs yamllint (Debian package) when missing, and Node.js/npm if absent.
# Prints one line per file or check, and exits 0 only when all passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

need=()
command -v yamllint >/dev/null || need+=(yamllint)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "e2e_manifests: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- 1. yamllint, one line per file ----
echo "== yamllint $(yamllint --version | cut -d' ' -f2) (deploy/.yamllint)"
mapfile -t yaml_files < <(yamllint --list-files -c deploy/.yamllint deploy | sort)
[ ${#yaml_files[@]} -gt 0 ] || bad "yamllint found no files under deploy/"
lint_out=$(yamllint --strict -f parsable -c deploy/.yamllint "${yaml_files[@]}" 2>&1) || true
for f in "${yaml_files[@]}"; do
  problems=$(grep -F "$f:" <<<"$lint_out" || true)
  if [ -z "$problems" ]; then
    ok "yamllint $f"
  else
    bad "yamllint $f"
    sed 's/^/       /' <<<"$problems"
  fi
done

# ---- 2. schemas (kubernetes-models, @kubernetes-models/keda) ----
echo "== validate.js (node $(node --version))"
if (cd deploy/validate && npm ci --no-audit --no-fund --loglevel=error >/tmp/e2e_manifests_npm.$$ 2>&1); then
  set +e
  node deploy/validate/validate.js
  rc=$?
  set -e
  if [ $rc = 0 ]; then ok "validate.js: every manifest valid"; else bad "validate.js (exit $rc; details above)"; fi
else
  cat /tmp/e2e_manifests_npm.$$ >&2
  bad "npm ci in deploy/validate"
fi
rm -f /tmp/e2e_manifests_npm.$$

# ---- 3. shipped shell scripts ----
echo "== scripts"
for s in deploy/k8s/base/worker/deletion-cost.sh deploy/k8s/redis-sentinel/init.sh; do
  if sh -n "$s"; then ok "sh -n $s"; else bad "sh -n $s"; fi
done

# The deletion-cost sidecar against a fake worker /metrics and Kubernetes API.
t=$(mktemp -d "${TMPDIR:-/tmp}/ffpool-e2e-manifests.XXXXXX")
server_pid=""
sidecar_pid=""
cleanup() {
  for pid in $sidecar_pid $server_pid; do
    kill -TERM "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
  done
  rm -rf "$t"
}
trap cleanup EXIT
mkdir -p "$t/sa"
echo "test-token" >"$t/sa/token"
: >"$t/sa/ca.crt"
echo 0 >"$t/jobs"
cat >"$t/server.py" <<'EOF'
import http.server, json, os, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        jobs = open(os.path.join(d, "jobs")).read().strip()
        if self.path != "/metrics" or jobs == "down":
            self.send_response(503); self.end_headers(); return
        body = ("# TYPE ffpool_worker_jobs_in_progress gauge\n"
                "ffpool_worker_jobs_in_progress %s\nffpool_other 7\n" % jobs).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_PATCH(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(os.path.join(d, "patches"), "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers["Authorization"],
                                "type": self.headers["Content-Type"], "body": json.loads(body)}) + "\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"{}")
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(os.path.join(d, "port"), "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
python3 "$t/server.py" "$t" &
server_pid=$!
for _ in $(seq 1 50); do [ -s "$t/port" ] && break; sleep 0.1; done
port=$(cat "$t/port")
POD_NAME=ffpool-worker-abc POD_NAMESPACE=jellyfin METRICS_URL=http://127.0.0.1:$port/metrics \
  KUBERNETES_API=http://127.0.0.1:$port SERVICEACCOUNT_DIR=$t/sa INTERVAL_SECONDS=0.2 \
  sh deploy/k8s/base/worker/deletion-cost.sh >"$t/sidecar.log" 2>&1 &
sidecar_pid=$!
# The fake /metrics reads $t/jobs on every request: it is replaced whole
# (rename), never truncated then written, which a read between the two would
# see empty.
set_jobs() { echo "$1" >"$t/jobs.new" && mv "$t/jobs.new" "$t/jobs"; }
sleep 1
set_jobs 2
sleep 1
set_jobs down
sleep 1
set_jobs 1
sleep 1
kill -TERM "$sidecar_pid"
stopped=0
for _ in $(seq 1 20); do kill -0 "$sidecar_pid" 2>/dev/null || { stopped=1; break; }; sleep 0.05; done
sidecar_pid=""
costs=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    p = json.loads(line)
    ok = (p["path"] == "/api/v1/namespaces/jellyfin/pods/ffpool-worker-abc" and p["auth"] == "Bearer test-token"
          and p["type"] == "application/merge-patch+json")
    print(p["body"]["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] if ok else "bad-request")
' "$t/patches" 2>/dev/null | tr '\n' ' ' || true)
if [ "$costs" = "0 2 1 " ]; then
  ok "deletion-cost sidecar: patched 0, 2, 1 on change only (none while /metrics was down)"
else
  bad "deletion-cost sidecar: patches were '$costs', expected '0 2 1 '"
  sed 's/^/       /' "$t/sidecar.log"
fi
if [ "$stopped" = 1 ]; then ok "deletion-cost sidecar: exits within 1 s of SIGTERM"; else bad "deletion-cost sidecar: still running 1 s after SIGTERM"; fi

echo "e2e_manifests: $passed passed, $failed failed"
[ "$failed" = 0 ]
