/* delivery.h -- a deliver job's segments, served to the shim by the job
 * process that makes them (JobSpec.deliver, shim.delivery "shim").
 *
 * The worker never sees Jellyfin's transcode folder. Its pipeline writes
 * each segment into a folder of its own (worker.spool_dir), and this
 * server hands it to the shim, which writes it into Jellyfin's folder
 * (temporary name, then rename) and then asks for the next one. That
 * request acknowledges every segment before it, and only then does the
 * owner checkpoint them: the checkpoint in Redis records what Jellyfin's
 * folder holds. A takeover resumes after the last segment the shim has,
 * and a segment the dead owner made but never delivered is made again.
 *
 * Transport: the job API's (wire.h: nng REQ/REP, protobuf, the API token,
 * TLS with api.tls_cert/api.tls_key for a tls+tcp:// listen URL). Each job
 * process listens on a port of its own (worker.delivery_listen, port 0:
 * one the kernel picks) and records the address in the job at its first
 * renewal, under its fence (queue_renew_delivery), so the shim always
 * dials the job's current owner, and a shim attached from a second
 * Jellyfin replica finds it the same way. The shim pulls: only Jellyfin's
 * side needs to reach the workers.
 *
 * Bounded: the pipeline waits while `ahead` segments are made and not yet
 * acknowledged (job.c), so the spool holds at most that many. A shim that
 * stops asking ends the job: its heartbeat lapses (cancel), or, with no
 * request for worker.delivery_timeout_ms, the job fails saying so. */
#ifndef FFPOOL_DELIVERY_H
#define FFPOOL_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "job_spec.h"
#include "queue.h"

/* One segment made and not yet acknowledged. */
struct delivery_item {
    int index;
    char path[JOB_SPEC_PATH_MAX + 64]; /* the file in the spool */
    int64_t duration_us;
    int last;       /* the stream's last segment */
    char name[256]; /* a run-once line's file: its name in the output's folder */
    char fmp4_base[QUEUE_FMP4_BASE_MAX];
    char *playlist; /* malloc'd: the playlist listing it, written after it */
    size_t playlist_len;
    struct delivery_item *next;
};

struct delivery_callbacks {
    void *opaque;
    /* 1 while the lease is certainly the run's: only then is a byte served. */
    int (*may_serve)(void *opaque);
    /* The shim holds item in Jellyfin's folder: record it (checkpoint).
     * Called on the server's thread, with the server's own Redis
     * connection, in index order. Returns 0, or 1 when the run stops
     * (fenced, cancelled, the lease lost). */
    int (*commit)(void *opaque, struct queue *queue, const struct delivery_item *item);
};

struct delivery_config {
    const char *listen_url;     /* worker.delivery_listen */
    const char *advertise_host; /* the host the shim dials ("" = this host's address) */
    const char *token;          /* api.token */
    const char *tls_cert;       /* api.tls_cert, api.tls_key: for a tls+tcp:// URL */
    const char *tls_key;
    const char *job_id;
    int64_t epoch;
    /* The fMP4 init segment this run writes (index -1); "" = none to serve
     * (MPEG-TS, or a resumed run, whose init differs from the first run's
     * that Jellyfin already has). */
    const char *init_path;
    /* A progressive output, or a run-once line's one plain file (its copy
     * in the spool), or "" for a stream. Served as it grows; at the end,
     * the blocks its muxer rewrote after they were served are served again
     * (Delivery.rewrite). Segment start_number is committed before the
     * shim's first byte is served: a run after it must not write the file
     * again from its start. */
    const char *file_path;
    int start_number;
    /* The run's first segment: those before it were acknowledged to an
     * earlier run. */
    int first_index;
    const struct queue_config *queue_config; /* for the server's connection */
};

struct delivery;

/* Listens and starts serving; writes the address the shim dials into
 * address. Returns NULL with err (address in use, bad URL, TLS files). */
struct delivery *delivery_start(const struct delivery_config *config,
                                const struct delivery_callbacks *callbacks, char *address,
                                size_t address_len, char *err, size_t errlen);

/* Hands a made segment to the server (it takes the item, and frees it once
 * acknowledged). */
void delivery_offer(struct delivery *delivery, struct delivery_item *item);

/* Segments offered and not yet acknowledged. */
int delivery_pending(struct delivery *delivery);

/* Waits up to ms for an acknowledgement. */
void delivery_wait(struct delivery *delivery, int ms);

/* The run makes no more segments: a request past the last one answers END. */
void delivery_end(struct delivery *delivery);

/* Monotonic ms of the shim's last request (the server's start before any). */
long long delivery_last_request_ms(struct delivery *delivery);

/* Stops serving and removes the segments never acknowledged. */
void delivery_stop(struct delivery *delivery);

/* Points a deliver job's output paths (playlist, segments, an absolute
 * init segment) into a folder of its own, spool_dir/ID.OWNER.eEPOCH
 * (spool_dir "": $TMPDIR/ffpool-spool), written into spool. Returns 0, or
 * -1 with err. */
int delivery_spool_prepare(struct job_spec *spec, const char *spool_dir, const char *job_id,
                           const char *owner, int64_t epoch, char *spool, size_t spool_len,
                           char *err, size_t errlen);

/* The spool folder of one run (job, owner, epoch), whether or not it exists. */
void delivery_spool_path(const char *spool_dir, const char *job_id, const char *owner,
                         int64_t epoch, char *out, size_t len);

/* Offers every file a run-once line that writes several (a pattern,
 * several outputs: job_spec_cli_outputs) left in the spool, by name, and
 * ends the delivery. Returns how many, or -1 with err. */
int delivery_offer_files(struct delivery *delivery, const char *spool, char *err, size_t errlen);

/* Removes a spool folder and whatever is left in it ("" = none). */
void delivery_spool_remove(const char *spool);

#endif
