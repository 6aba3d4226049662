/* queue.h -- the job queue and lease protocol, kept in Redis.
 *
 * queue.c (the protocol) and queue_conn.c (the connection) are the only files
 * in ffpool that talk to Redis: every state change is one Lua script
 * (proto/lua) run atomically on the server, with the server's clock
 * (TIME) as the only clock. Key names come from keys.h.
 *
 * A job moves QUEUED -> RUNNING -> DONE | FAILED | CANCELLED. A RUNNING job
 * has an owner (a worker id), an epoch (incremented by every claim: the
 * fencing token) and a lease that expires unless renewed. Every call a
 * worker makes on a job it claimed names the owner and epoch it claimed
 * with; if either no longer matches, the call changes nothing and answers
 * QUEUE_FENCED, and the worker must stop writing for that job at once.
 *
 * A struct queue is one connection plus reconnection state. It is not
 * thread-safe: use one per thread. After any Redis error the connection is
 * dropped and the next call reconnects (hiredis contexts that returned an
 * error are never reused). */
#ifndef FFPOOL_QUEUE_H
#define FFPOOL_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_ID_MAX 64
#define QUEUE_OWNER_MAX 128
#define QUEUE_CLAIM_TOKEN_MAX 40 /* a claim token, with its terminating NUL */
#define QUEUE_ERROR_MAX 512
#define QUEUE_ADDRESS_MAX 256 /* a delivery address, "tls+tcp://host:port" */
#define QUEUE_REQUIRES_MAX 2048
/* The text of an fMP4 fragment base (worker/pipeline/fmp4_times.h). */
#define QUEUE_FMP4_BASE_MAX 256
/* Hand-backs of a job no worker could start before it ends FAILED. */
#define QUEUE_MAX_START_FAILURES 10
#define QUEUE_RESULT_MAX 65536 /* a job's result text (a device check's stderr) */

enum queue_status {
    QUEUE_OK = 0,
    QUEUE_FENCED = 1,    /* owner/epoch no longer hold the job: stop writing */
    QUEUE_CANCELLED = 2, /* the job was cancelled (or its client vanished) */
    QUEUE_NOT_FOUND = 3, /* no such job */
    QUEUE_EMPTY = 4,     /* claim: nothing to claim */
    QUEUE_ERROR = -1,    /* Redis unreachable or replied with an error */
};

enum queue_job_state {
    QUEUE_JOB_QUEUED = 0,
    QUEUE_JOB_RUNNING = 1,
    QUEUE_JOB_DONE = 2,
    QUEUE_JOB_FAILED = 3,
    QUEUE_JOB_CANCELLED = 4,
};

struct queue_config {
    char host[256];
    int port;
    char password[256]; /* "" = no AUTH */
    int db;
    int timeout_ms;           /* connect and command time-out */
    int64_t lease_ttl_ms;     /* lease length granted by claim and renew */
    int max_attempts;         /* failures of the job itself before it ends FAILED */
    int max_lost_leases;      /* lapsed leases (its worker lost) before it ends FAILED */
    int64_t heartbeat_ttl_ms; /* client heartbeat; a lapsed one cancels the job. 0 = off */
    int64_t retention_ms;     /* how long finished job records are kept */
    /* A job that needs a capability no live worker offers fails after
     * waiting this long (see queue_claim). 0 = it waits until cancelled. */
    int64_t unroutable_timeout_ms;
    /* Redis Sentinel: "host:port,host:port..." ("" = connect to host:port
     * directly). On every (re)connect each sentinel in turn is asked for
     * master_name's address, and the answer is used only if ROLE there says
     * master; a failover is followed at the next reconnect. */
    char sentinels[512];
    char master_name[128];
    /* Replicas that must acknowledge (Redis WAIT) a claim, a checkpoint or a
     * job's end before the call answers QUEUE_OK, and a finished job before
     * queue_get shows it finished; 0 = none. Asynchronous replication loses
     * what a master acknowledged but never sent when a replica is promoted:
     * a worker then rewrites a segment whose checkpoint it had, or a job a
     * client saw end runs again. Not yet held by enough replicas, the call
     * answers QUEUE_ERROR and is retried as for an unreachable Redis. */
    int wait_replicas;
    /* Sent as CLIENT SETNAME on every (re)connect ("" = none): how an
     * operator tells the connections apart in CLIENT LIST, and how a
     * worker's presence connection is recognised (queue_presence_name). */
    char client_name[QUEUE_OWNER_MAX + 32];
};

/* What a client may read about a job. */
struct queue_job {
    char id[QUEUE_ID_MAX];
    enum queue_job_state state;
    int64_t epoch;
    char owner[QUEUE_OWNER_MAX];
    int checkpoint; /* last published segment index, start_number-1 if none */
    int start_number;
    int attempts;    /* failures of the job itself: its error, crash, hang, memory */
    int leases_lost; /* leases that lapsed (worker died, stalled, lost Redis) */
    int takeovers;   /* claims of a job whose previous lease had expired */
    char error[QUEUE_ERROR_MAX];
    int64_t frames;
    int64_t out_time_us; /* stream time the output has reached */
    int64_t start_us;    /* stream time of the job's first output (time= counts from it) */
    int64_t bytes;
    double speed;
    int64_t progress_version; /* moves on every checkpoint and progress report */
    int paused;
    int64_t duration_us; /* input duration, once a worker has opened it; 0 = unknown */
    char requires[QUEUE_REQUIRES_MAX]; /* routing words, "" = any worker */
    char waiting[QUEUE_ERROR_MAX];     /* QUEUED: why no live worker can run it, "" = none */
    char delivery[QUEUE_ADDRESS_MAX];  /* a deliver job: its owner's address, "" = none */
};

/* A job handed to a worker by queue_claim(). */
struct queue_claim {
    char id[QUEUE_ID_MAX];
    int64_t epoch;
    int checkpoint; /* resume at checkpoint + 1 */
    int takeover;   /* 1 if the previous owner's lease had expired */
    uint8_t *spec;  /* packed ffpool.JobSpec, malloc'd: queue_claim_clear() frees */
    size_t spec_len;
    /* On QUEUE_EMPTY: server ms until the earliest lease expires (the next
     * takeover a claim could make), -1 if no lease is held. A worker waits
     * no longer than this, so a dead worker's job is picked up right at
     * expiry rather than at the next periodic scan. */
    int64_t next_due_ms;
};

struct queue_progress {
    int64_t frames;
    int64_t out_time_us; /* stream time the output has reached */
    int64_t start_us;    /* stream time of the job's first output */
    int64_t bytes;
    double speed;
    int64_t duration_us; /* input duration, 0 = unknown */
};

struct queue;

/* Connects (lazily: a missing Redis is not an error here). Returns NULL only
 * on allocation failure. */
struct queue *queue_open(const struct queue_config *config);
void queue_close(struct queue *queue);

/* Every later call on this queue returns by deadline_ms (monotonic ms,
 * program_monotonic_ms; 0 = no deadline): its connect and command time-out
 * is the configured one or the time left, whichever is shorter, and a call
 * with no time left fails at once with QUEUE_ERROR. A lease renewal uses
 * it so that a Redis stall never holds it past its self-fence point. */
void queue_set_call_deadline(struct queue *queue, long long deadline_ms);

/* The last error, as a sentence. Valid until the next call. */
const char *queue_last_error(const struct queue *queue);

/* Creates a job unless a non-finished job with the same job_key exists, in
 * which case that job is returned (idempotent submit, attach). *created says
 * which happened. */
int queue_submit(struct queue *queue, const char *job_key, const uint8_t *spec, size_t spec_len,
                 int start_number, char id[QUEUE_ID_MAX], int *created);
/* queue_submit for a job that only workers offering every word of needs
 * (space-separated "kind:name", proto/routing.h; NULL or "" = any worker)
 * may claim. Stored as the job's `requires` field. */
int queue_submit_routed(struct queue *queue, const char *job_key, const uint8_t *spec,
                        size_t spec_len, int start_number, const char *needs, char id[QUEUE_ID_MAX],
                        int *created);
/* Reads a job. With wait_replicas, a finished job is shown only once its end
 * is on the replicas (QUEUE_ERROR until then): what tells a client its job
 * ended. */
int queue_get(struct queue *queue, const char *id, struct queue_job *job);
/* queue_get without that wait: what a listing shows. */
int queue_peek(struct queue *queue, const char *id, struct queue_job *job);
/* The result queue_complete_result recorded: *result malloc'd (the caller
 * frees it; NULL when the job has none) and its exit status. */
int queue_job_result(struct queue *queue, const char *id, char **result, int *status);
int queue_cancel(struct queue *queue, const char *id);
/* A client is still waiting for the job: extends its heartbeat. */
int queue_heartbeat(struct queue *queue, const char *id);
int queue_set_paused(struct queue *queue, const char *id, int paused);

/* Claims the most urgent job this worker (owner = its announced id) can
 * run: an expired lease first, then the oldest new job, skipping jobs that
 * require a capability its announcement does not offer. QUEUE_EMPTY when
 * there is none. Each claim looks at a bounded window of waiting jobs (the
 * first 64 due leases and 64 new jobs) and, for a job it skips, records why
 * no live worker can run it (queue_job.waiting) and fails it once that has
 * held for unroutable_timeout_ms. queue_worker_announce() checks the same
 * window, so the deadline needs no scheduler state, only live workers. */
int queue_claim(struct queue *queue, const char *owner, struct queue_claim *claim);
/* queue_claim carrying token (queue_claim_token_new; NULL or "" = none): a
 * claim whose reply was lost (QUEUE_ERROR: a time-out, a dropped
 * connection) is sent again with the same token, and if the lost one did
 * claim a job that is still this owner's under the same epoch, the retry
 * answers that claim again (lease extended) instead of leaving it a phantom
 * lease nobody works on. A new token for each claim that got an answer. */
int queue_claim_with_token(struct queue *queue, const char *owner, const char *token,
                           struct queue_claim *claim);
/* Fills token with a fresh random claim token. */
void queue_claim_token_new(char token[QUEUE_CLAIM_TOKEN_MAX]);
void queue_claim_clear(struct queue_claim *claim);
/* Extends the lease. QUEUE_OK, QUEUE_FENCED or QUEUE_CANCELLED. *paused set
 * when the client asked to pause. */
int queue_renew(struct queue *queue, const char *id, const char *owner, int64_t epoch, int *paused);
/* queue_renew that also records where this owner serves the job's segments
 * (a deliver job, worker/delivery.h): a new address moves the job's
 * progress_version, so a shim watching the job hears of it at once. */
int queue_renew_delivery(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                         const char *delivery, int *paused);
/* Records segment `index` as published, with its duration, and renews. Never
 * moves the checkpoint backwards. last: it is the stream's last segment (a
 * run that takes the job over after it has nothing left to write).
 * fmp4_base (NULL or "" = none): the fragment time base the job's first
 * segment established, kept for the runs that resume the job. *paused (if
 * not NULL) set as queue_renew sets it, so that a pause takes hold at the
 * next segment, not only at the next renewal. */
int queue_checkpoint(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                     int index, int64_t duration_us, int last, const char *fmp4_base, int *paused);
/* What a run resuming the job needs of the segments published before it. */
struct queue_segments {
    int last_index;                      /* checkpointed as the stream's last segment, -1 if none */
    char fmp4_base[QUEUE_FMP4_BASE_MAX]; /* "" if none was recorded */
};
/* Durations of published segments, for rebuilding the playlist after a
 * takeover: durations_us[i] is segment start_number+i, 0 if unknown. If
 * segments is not NULL it gets the rest of what was recorded with them. */
int queue_segment_durations(struct queue *queue, const char *id, int64_t *durations_us, int count,
                            struct queue_segments *segments);
int queue_report_progress(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                          const struct queue_progress *progress);
/* Hands the job back for another worker to resume at once. */
int queue_release(struct queue *queue, const char *id, const char *owner, int64_t epoch);
int queue_complete(struct queue *queue, const char *id, const char *owner, int64_t epoch);
/* queue_complete for a job whose outcome is text and an exit status (a
 * device check: what the CLI prints on stderr, and its exit status), kept
 * as the job's result (queue_job.result). */
int queue_complete_result(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                          const char *result, int result_status);
/* Counts an attempt; the job is requeued, or ends FAILED with `error` once
 * max_attempts is reached. */
int queue_fail(struct queue *queue, const char *id, const char *owner, int64_t epoch,
               const char *error);

/* Complete, fail and release end an owner's run, and each may be sent
 * again when Redis did not answer: the fence makes a repeat change nothing
 * (a fail or release that was applied before its reply was lost answers
 * QUEUE_FENCED), and complete repeats as QUEUE_OK. These send one until
 * Redis answers, trying again every 50 ms after QUEUE_ERROR (unreachable, a
 * time-out, a dropped connection, an error reply) while another try can
 * start before deadline_ms (program_monotonic_ms() clock; the first try is
 * always made). Any answer of the script's, fenced or cancelled too, is
 * final. *tries (if not NULL) gets the number of tries made.
 * queue_complete_until with result NULL is queue_complete. */
int queue_complete_until(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                         const char *result, int result_status, long long deadline_ms, int *tries);
int queue_fail_until(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                     const char *error, long long deadline_ms, int *tries);
int queue_release_until(struct queue *queue, const char *id, const char *owner, int64_t epoch,
                        long long deadline_ms, int *tries);
/* queue_release_until for a job this worker could not start (exec, memory,
 * threads, a spec it cannot hand over): no attempt, since the job never
 * ran, but the job ends FAILED with reason once QUEUE_MAX_START_FAILURES
 * such hand-backs (on any workers) have happened, instead of moving from
 * worker to worker for as long as its client waits. */
int queue_release_unstarted_until(struct queue *queue, const char *id, const char *owner,
                                  int64_t epoch, const char *reason, long long deadline_ms,
                                  int *tries);

/* Blocks up to timeout_ms for a wake-up (a submit or a release). Returns
 * QUEUE_OK on a wake-up or time-out, QUEUE_ERROR if Redis is unreachable. */
int queue_wait(struct queue *queue, int timeout_ms);

/* ---- a dead worker noticed at once (queue_presence.c) ----------------- */

/* A lease queue_presence_reap ended because its owner's connection closed. */
struct queue_reaped {
    char id[QUEUE_ID_MAX];
    char owner[QUEUE_OWNER_MAX];
    int64_t gone_ms; /* how long the owner had been seen gone */
};

/* The CLIENT SETNAME of owner's presence connection, into out: set it as
 * the client_name of the queue that calls queue_presence_hold. Returns 0,
 * or -1 if owner is empty or too long. */
int queue_presence_name(const char *owner, char *out, size_t size);
/* Waits wait_ms in a blocking call on the presence connection (its
 * client_name from queue_presence_name), so that Redis sees it open for as
 * long as the worker lives and a closed one is reopened at once. QUEUE_OK,
 * or QUEUE_ERROR at once while Redis is unreachable. */
int queue_presence_hold(struct queue *queue, const char *owner, int wait_ms);
/* If no worker has within interval_ms: reads which presence connections
 * Redis has and ends, at once, the leases of every worker gone for at least
 * grace_ms (two looks that far apart both missed it), waking the idle
 * workers to take them over. reaped gets up to max of them, *count how
 * many. QUEUE_OK or QUEUE_ERROR. */
int queue_presence_reap(struct queue *queue, const char *owner, int64_t interval_ms,
                        int64_t grace_ms, struct queue_reaped *reaped, int max, int *count);

/* ---- workers and listings ------------------------------------------- */

struct queue_worker {
    char id[QUEUE_OWNER_MAX];
    int slots;
    int running;
    int draining;
    int64_t updated_ms; /* server time of its last announcement */
    uint8_t *caps;      /* packed ffpool.Capabilities, malloc'd, may be NULL */
    size_t caps_len;
};

/* Announces a live worker for ttl_ms, and applies routing deadlines to the
 * jobs a claim would look at (see queue_claim), busy workers included.
 * caps may be NULL to keep the stored ones; given caps also replace the
 * worker's routing offers (the words of routing_worker_offers()); *need_caps is set when the server
 * has none (send them next time), *drain_requested when an operator asked this worker to drain
 * (either output may be NULL). */
int queue_worker_announce(struct queue *queue, const char *worker_id, int64_t ttl_ms, int slots,
                          int running, int draining, const uint8_t *caps, size_t caps_len,
                          int *need_caps, int *drain_requested);
/* Asks a live worker to drain: hand its jobs back and exit.
 * QUEUE_NOT_FOUND when no live worker has that id. */
int queue_worker_request_drain(struct queue *queue, const char *worker_id);
/* The id of the job a job_key created (QUEUE_NOT_FOUND if none is known). */
int queue_job_find(struct queue *queue, const char *job_key, char id[QUEUE_ID_MAX]);
/* Lists live workers (with their capabilities if with_caps). *workers is
 * malloc'd; free with queue_worker_list_free. */
int queue_worker_list(struct queue *queue, int with_caps, struct queue_worker **workers,
                      int *count);
void queue_worker_list_free(struct queue_worker *workers, int count);
/* Up to `limit` job ids, newest first, into ids (QUEUE_ID_MAX each). */
int queue_job_list(struct queue *queue, int limit, char (*ids)[QUEUE_ID_MAX], int *count);

/* QUEUE_OK if Redis answers PING. */
int queue_ping(struct queue *queue);
/* New jobs waiting for a worker (the list KEDA scales on). */
int queue_depth(struct queue *queue, int64_t *depth);

const char *queue_job_state_name(enum queue_job_state state);

#endif
