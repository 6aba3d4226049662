#!/bin/sh
# deletion-cost.sh -- the worker pod's sidecar. Keeps the pod's
# controller.kubernetes.io/pod-deletion-cost annotation equal to the number
# of jobs the worker beside it is running (its ffpool_worker_jobs_in_progress
# gauge), so that on scale-down the ReplicaSet removes idle workers first
# (the lowest cost goes first). It patches only when the value changes: the
# annotation is meant to change rarely, and a job starting or ending is rare.
#
# Needs curl and a POSIX sh (the curlimages/curl image), the pod's service
# account token and a Role allowing get/patch on pods (worker-rbac.yaml).
# If the worker's /metrics is not answering, it leaves the annotation alone.
set -u
: "${POD_NAME:?}" "${POD_NAMESPACE:?}"
metrics_url=${METRICS_URL:-http://127.0.0.1:9090/metrics}
interval=${INTERVAL_SECONDS:-5}
sa=${SERVICEACCOUNT_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
api=${KUBERNETES_API:-https://kubernetes.default.svc}
last=""
trap 'exit 0' TERM INT

while :; do
  jobs=$(curl -fsS --max-time 2 "$metrics_url" 2>/dev/null |
    awk '$1 ~ /^ffpool_worker_jobs_in_progress($|\{)/ { sum += $2; found = 1 }
         END { if (!found) exit 1; printf "%d\n", sum }') || jobs=""
  if [ -n "$jobs" ] && [ "$jobs" != "$last" ]; then
    # The token is read each time: projected tokens are rotated.
    if curl -fsS --max-time 5 --cacert "$sa/ca.crt" -X PATCH \
        -H "Authorization: Bearer $(cat "$sa/token")" \
        -H "Content-Type: application/merge-patch+json" \
        --data "{\"metadata\":{\"annotations\":{\"controller.kubernetes.io/pod-deletion-cost\":\"$jobs\"}}}" \
        "$api/api/v1/namespaces/$POD_NAMESPACE/pods/$POD_NAME" >/dev/null; then
      echo "deletion-cost: pod-deletion-cost=$jobs"
      last=$jobs
    else
      echo "deletion-cost: patching pod $POD_NAME failed; will retry" >&2
    fi
  fi
  sleep "$interval" &
  wait $!
done
