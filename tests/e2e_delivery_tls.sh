#!/usr/bin/env bash
# e2e_delivery_tls.sh -- delivery through the shim (shim.delivery shim) over
# TLS, with the API token: each job process listens on
# worker.delivery_listen tls+tcp://, presenting api.tls_cert/api.tls_key,
# and the shim checks the certificate against api.tls_ca and the host it
# dials.
#  1. A shim that trusts the workers' certificate gets the stream, over
#     tls+tcp://, in its own mount namespace (nothing a worker writes to
#     Jellyfin's folder can reach it): every segment, a complete playlist.
#  2. A shim that trusts another certificate gets nothing: no segment is
#     written into its folder, and the job fails once no shim has asked for
#     worker.delivery_timeout_ms (6 s here), saying which address Jellyfin
#     could not reach; the shim exits 1 with that message.
# Usage: tests/e2e_delivery_tls.sh   (FFPOOL_TEST_KEEP=1 keeps the folder)
# shellcheck source=tests/e2e_lease_lib.sh
. "$(dirname "$0")/e2e_lease_lib.sh"

lease_need_namespace
tls=$dir/tls
mkdir -p "$tls"
# A self-signed pair per name; Debian's mbedTLS matches DNS names only, so
# the address is given as a DNS name too.
for name in worker stranger; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tls/$name.key" -out "$tls/$name.crt" -days 2 -subj "/CN=ffpool-test-$name" \
    -addext "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1" >/dev/null 2>&1 ||
    { say "FAIL openssl could not make a test certificate"; exit 1; }
done
export FFPOOL_WORKER_SPOOL_DIR=$dir/spool
export FFPOOL_WORKER_DELIVERY_LISTEN=tls+tcp://127.0.0.1:0 FFPOOL_WORKER_ADVERTISE_HOST=127.0.0.1
export FFPOOL_API_TLS_CERT=$tls/worker.crt FFPOOL_API_TLS_KEY=$tls/worker.key
export FFPOOL_WORKER_DELIVERY_TIMEOUT_MS=6000
FFPOOL_API_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export FFPOOL_API_TOKEN
lease_clip 12 640x360
lease_pool_up 1

# ---- 1. trusted -------------------------------------------------------------
mkdir -p "$dir/delivered"
lease_runner=(lease_delivered "$dir/transcodes" "$dir/delivered")
export FFPOOL_API_TLS_CA=$tls/worker.crt
lease_shim_start
lease_shim_wait 60
check "the shim exited 0 (rc=$lease_shim_rc)" [ "$lease_shim_rc" = 0 ]
check "it fetched over TLS ($(grep -o 'address=tls+tcp://[^ ]*' "$dir/shim.log" | head -n 1))" \
  grep -q 'event=fetch_owner .*address=tls+tcp://127.0.0.1:' "$dir/shim.log"
delivered=$(find "$dir/delivered" -name '*.ts' -size +0 | wc -l)
check "every segment is in Jellyfin's folder ($delivered of $lease_expected)" \
  [ "$delivered" = "$lease_expected" ]
check "its playlist lists them all and ends" \
  bash -c "[ \$(grep -c '^#EXTINF' '$dir/delivered/$(basename "$lease_playlist")') = $lease_expected ] &&
    grep -qx '#EXT-X-ENDLIST' '$dir/delivered/$(basename "$lease_playlist")'"
check "nothing appeared in the transcode folder as the workers see it" \
  [ -z "$(ls -A "$dir/transcodes")" ]

# ---- 2. not trusted -----------------------------------------------------------
rm -rf "$dir/transcodes" "$dir/refused"
mkdir -p "$dir/refused"
lease_runner=(lease_delivered "$dir/transcodes" "$dir/refused")
export FFPOOL_API_TLS_CA=$tls/stranger.crt
lease_shim_start
lease_shim_wait 60
check "a shim trusting another certificate exits 1 (rc=$lease_shim_rc)" [ "$lease_shim_rc" = 1 ]
check "it wrote no segment" [ -z "$(find "$dir/refused" -name '*.ts' -size +0)" ]
check "the job failed, naming the address Jellyfin could not reach" \
  grep -q 'no shim asked for the job.s segments .*tls+tcp://127.0.0.1:' "$dir/shim.log"
lease_finish
