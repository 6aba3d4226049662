/* main.c -- ffpool-worker: claims jobs from Redis and runs each in a job
 * process of its own.
 *
 * The main thread claims and supervises: while a slot is free it asks for
 * the most urgent job (an expired lease first), and otherwise blocks on the
 * wake-up list (a submit or a release pushes to it) until the earliest lease
 * held by anyone expires, and never longer than worker.scan_interval_ms, so
 * that an expired lease is taken over right at its expiry even when nobody
 * wakes it. Each claimed job runs in a child process (worker/supervisor.c,
 * worker/job_process.c): a crash, hang or runaway allocation in one job ends
 * that job's attempt and nothing else. Between claims the main thread reads
 * the children's progress, enforces their watchdog and memory ceiling and
 * reaps them. SIGTERM (a Kubernetes scale-down) or an operator's drain stops
 * claiming and has every job process hand its job back at once.
 *
 * `ffpool-worker --run-job ...` is the job process itself (job_process.h);
 * `ffpool-worker --device-check ARG...` runs Jellyfin's device check for
 * one (hw_device.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_caps.h"
#include "hw_check.h"
#include "job_process.h"
#include "job_spec.h"
#include "log.h"
#include "metrics.h"
#include "pipeline_caps.h"
#include "presence.h"
#include "program.h"
#include "queue.h"
#include "supervisor.h"

/* How often a worker announces itself, and how long an announcement lasts:
 * a worker that stops announcing drops out of the pool's capabilities. */
#define ANNOUNCE_INTERVAL_MS 2000
#define ANNOUNCE_TTL_MS 10000

static volatile sig_atomic_t drain_requested;

/* Publishes this worker (load, and its capabilities when Redis lacks them). */
struct announcer {
    uint8_t *caps;
    size_t caps_len;
    int need_caps;
    long long last_ms;
};

static void announce(struct queue *queue, struct announcer *a, const char *owner, int slots,
                     int running, int draining, int force)
{
    long long now = program_monotonic_ms();
    if (!force && a->last_ms != 0 && now - a->last_ms < ANNOUNCE_INTERVAL_MS)
        return;
    a->last_ms = now;
    int drain = 0;
    int status =
        queue_worker_announce(queue, owner, ANNOUNCE_TTL_MS, slots, running, draining,
                              a->need_caps ? a->caps : NULL, a->caps_len, &a->need_caps, &drain);
    if (status != QUEUE_OK)
        a->need_caps = 1;
    if (drain && !draining) {
        log_info("drain_requested", "worker=%s msg=%s", owner,
                 log_quote("an operator asked this worker to drain"));
        drain_requested = 1;
    }
}

static void on_signal(int signo)
{
    (void)signo;
    drain_requested = 1;
}

/* Liveness: the worker's own claim loop passes at least every second or
 * so, whatever Redis does; a minute without a pass means it is stuck. */
#define LIVENESS_STALL_MS 60000

struct worker_health {
    struct worker_metrics *metrics;
    atomic_int redis_ok;
    atomic_int draining;
};

static int worker_alive(void *opaque)
{
    struct worker_health *h = opaque;
    return program_monotonic_ms() - atomic_load(&h->metrics->last_tick_ms) < LIVENESS_STALL_MS;
}

static int worker_ready(void *opaque)
{
    struct worker_health *h = opaque;
    return atomic_load(&h->redis_ok) && !atomic_load(&h->draining);
}

static const char usage[] =
    "Usage: ffpool-worker [--config FILE]\n\n"
    "Claims transcode jobs from Redis under a lease and writes their HLS\n"
    "segments with libav, checkpointing each one, so that another worker can\n"
    "take a job over from the next segment if this one dies. Each job runs\n"
    "in a process of its own, killed when it makes no progress or uses too\n"
    "much memory. SIGTERM hands running jobs back and exits.\n";

/* How long a draining worker waits for its job processes to hand their
 * jobs back: one does it within a frame or two, one retrying a checkpoint
 * while Redis is away stops by its lease deadline; past that it is stuck. */
#define DRAIN_GRACE_EXTRA_MS 2000

/* With every slot busy, how long to wait for news from the job processes
 * between two passes of the loop. */
#define BUSY_POLL_MS 200

/* How long to block for a wake-up after an empty claim: the scan interval,
 * or less when a lease expires sooner, so that a dead worker's job is
 * claimed within a few ms of its expiry (the takeover gap is then the TTL,
 * not TTL + scan interval). LEASE_EXPIRY_SLACK_MS covers the server's
 * millisecond rounding. */
#define LEASE_EXPIRY_SLACK_MS 2

static int claim_wait_ms(const struct queue_claim *claim, int scan_interval_ms)
{
    int wait = scan_interval_ms > 0 ? scan_interval_ms : 500;
    if (claim->next_due_ms >= 0 && claim->next_due_ms + LEASE_EXPIRY_SLACK_MS < wait)
        wait = (int)claim->next_due_ms + LEASE_EXPIRY_SLACK_MS;
    return wait;
}

/* Drivers that take longer than this to open a device at start are not
 * offered. */
#define WORKER_DEVICE_PROBE_MS 20000

/* An ffmpeg CLI that takes longer than this to list what it has is not
 * offered. */
#define WORKER_CLI_PROBE_MS 20000

static void worker_id_default(char *out, size_t outlen)
{
    char host[256] = "worker";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(out, outlen, "%s-%d", host, (int)getpid());
}

int main(int argc, char **argv)
{
    struct ffpool_config config;
    int first_arg = program_start(argc, argv, "ffpool-worker", usage, &config);
    if (first_arg < argc && strcmp(argv[first_arg], JOB_PROCESS_FLAG) == 0)
        return job_process_main(&config, argc - first_arg - 1, argv + first_arg + 1);
    /* A fresh process for a device check: drivers start in no process
     * whose threads they could trip over (see hw_device.h). */
    if (first_arg < argc && strcmp(argv[first_arg], HW_DEVICE_CHECK_FLAG) == 0)
        return hw_device_check((const char *const *)argv + first_arg + 1, argc - first_arg - 1);

    char lease_err[768];
    if (config_check_lease(&config, lease_err, sizeof(lease_err)) != 0) {
        fprintf(stderr, "ffpool-worker: %s\n", lease_err);
        return 2;
    }
    program_on_stop_signals(on_signal);

    char owner[QUEUE_OWNER_MAX];
    if (config.worker_id[0] != '\0')
        snprintf(owner, sizeof(owner), "%s", config.worker_id);
    else
        worker_id_default(owner, sizeof(owner));

    /* The hardware this machine really has, found before any thread starts
     * (the probe forks): what routes hardware jobs here. */
    char devices[HW_DEVICE_TYPES_MAX][32];
    int n_devices = hw_device_probe(config.worker_hw_devices, devices, HW_DEVICE_TYPES_MAX,
                                    WORKER_DEVICE_PROBE_MS);
    char device_list[HW_DEVICE_TYPES_MAX * 33] = "";
    for (int i = 0; i < n_devices; i++)
        snprintf(device_list + strlen(device_list), sizeof(device_list) - strlen(device_list),
                 "%s%s", i > 0 ? "," : "", devices[i]);

    /* The ffmpeg CLI that runs the lines the pipeline does not take: what it
     * lists routes CLI jobs here. One that cannot be read is not offered,
     * and the worker runs native jobs only. */
    Ffpool__CliInfo *cli = NULL;
    char cli_err[512] = "";
    if (config.worker_ffmpeg[0] != '\0')
        cli = cli_caps_probe(config.worker_ffmpeg, WORKER_CLI_PROBE_MS, cli_err, sizeof(cli_err));

    int n_slots = config.worker_slots > 0 ? (int)config.worker_slots : 1;
    struct worker_metrics metrics;
    struct metrics *registry = config.metrics_listen[0] ? metrics_create() : NULL;
    worker_metrics_init(&metrics, registry);
    struct supervisor *supervisor = supervisor_create(&config, &metrics, owner, n_slots, argv[0]);
    struct queue_config queue_config;
    program_queue_config(&config, &queue_config);
    struct queue *queue = queue_open(&queue_config);
    if (supervisor == NULL || queue == NULL) {
        log_error("start_failed", "error=%s", "out of memory");
        supervisor_destroy(supervisor);
        queue_close(queue);
        metrics_destroy(registry);
        cli_caps_free(cli);
        return 1;
    }
    log_info("started",
             "worker=%s slots=%d redis=%s:%lld lease_ttl_ms=%lld job_watchdog_ms=%lld "
             "job_memory_limit_mb=%lld devices=%s",
             owner, n_slots, config.redis_host, (long long)config.redis_port,
             (long long)config.lease_ttl_ms, (long long)config.worker_job_watchdog_ms,
             (long long)config.worker_job_memory_limit_mb, log_quote(device_list));
    if (cli != NULL) {
        char version[256];
        cli_caps_version_line(cli, version, sizeof(version));
        log_info("cli", "path=%s version=%s encoders=%zu decoders=%zu filters=%zu hwaccels=%zu",
                 log_quote(cli->path), log_quote(version), cli->n_encoders, cli->n_decoders,
                 cli->n_filters, cli->n_hwaccels);
    } else if (config.worker_ffmpeg[0] != '\0') {
        log_warn("cli_unavailable", "path=%s error=%s", log_quote(config.worker_ffmpeg),
                 log_quote(cli_err));
    }
    struct worker_health health = {.metrics = &metrics};
    struct metrics_server *metrics_server = NULL;
    if (registry != NULL) {
        char err[256];
        metrics_server = metrics_server_start(registry, config.metrics_listen, worker_alive,
                                              worker_ready, &health, err, sizeof(err));
        if (metrics_server == NULL) {
            log_error("start_failed", "error=%s", log_quote(err));
            metrics_destroy(registry);
            supervisor_destroy(supervisor);
            queue_close(queue);
            cli_caps_free(cli);
            return 1;
        }
        log_info("metrics", "url=%s", config.metrics_listen);
    }

    /* Redis sees this worker alive for as long as it is (presence.h): a
     * worker that dies has its jobs taken over at once, not at lease end. */
    struct presence *presence = NULL;
    if (config.lease_owner_gone_grace_ms > 0) {
        char err[256];
        presence = presence_start(&queue_config, owner, config.lease_owner_gone_grace_ms, err,
                                  sizeof(err));
        if (presence == NULL)
            log_warn("presence_off", "worker=%s error=%s", owner, log_quote(err));
    }

    struct announcer announcer = {.need_caps = 1};
    announcer.caps =
        pipeline_capabilities_pack_devices(&announcer.caps_len, devices, n_devices, cli);
    cli_caps_free(cli);

    int redis_down_logged = 0;
    /* One token per claim, kept while the claim goes unanswered: a retry
     * then gets back the job a claim whose reply was lost took. */
    char claim_token[QUEUE_CLAIM_TOKEN_MAX];
    queue_claim_token_new(claim_token);
    while (!drain_requested) {
        int running = supervisor_poll(supervisor, queue, 0);
        worker_metrics_tick(&metrics);
        announce(queue, &announcer, owner, n_slots, running, 0, 0);
        if (running >= n_slots || supervisor_backing_off(supervisor)) {
            supervisor_poll(supervisor, queue, BUSY_POLL_MS);
            continue;
        }
        struct queue_claim claim;
        memset(&claim, 0, sizeof(claim));
        long long claim_started = program_monotonic_ms();
        int status = queue_claim_with_token(queue, owner, claim_token, &claim);
        atomic_store(&health.redis_ok, status != QUEUE_ERROR);
        if (status != QUEUE_ERROR)
            queue_claim_token_new(claim_token);
        if (status == QUEUE_ERROR) {
            metrics_counter_add(metrics.redis_errors, 1);
            if (!redis_down_logged)
                log_warn("redis_unavailable", "error=%s", log_quote(queue_last_error(queue)));
            redis_down_logged = 1;
            usleep(500 * 1000);
            continue;
        }
        /* Any answer, an empty one too, means Redis is back. */
        if (redis_down_logged)
            log_info("redis_available", "");
        redis_down_logged = 0;
        if (status == QUEUE_EMPTY) {
            queue_wait(queue, claim_wait_ms(&claim, (int)config.worker_scan_interval_ms));
            continue;
        }
        if (status != QUEUE_OK)
            continue;

        /* A spec this worker cannot read fails here, without a process.
         * Either call is retried while the lease just claimed lasts. */
        char err[512];
        struct job_spec spec;
        long long lease_until = claim_started + config.lease_ttl_ms - config.lease_safety_margin_ms;
        if (job_spec_unpack(claim.spec, claim.spec_len, &spec, err, sizeof(err)) != 0) {
            log_error("job_unreadable", "job=%s error=%s", claim.id, log_quote(err));
            queue_fail_until(queue, claim.id, owner, claim.epoch, err, lease_until, NULL);
        } else if (supervisor_start(supervisor, &claim, claim_started, err, sizeof(err)) != 0) {
            log_error("job_start_failed", "job=%s error=%s", claim.id, log_quote(err));
            queue_release_unstarted_until(queue, claim.id, owner, claim.epoch, err, lease_until,
                                          NULL);
            supervisor_back_off(supervisor);
        } else {
            log_info("claimed", "job=%s epoch=%lld checkpoint=%d takeover=%d", claim.id,
                     (long long)claim.epoch, claim.checkpoint, claim.takeover);
        }
        queue_claim_clear(&claim);
    }

    atomic_store(&health.draining, 1);
    log_info("draining", "worker=%s", owner);
    announce(queue, &announcer, owner, n_slots, supervisor_poll(supervisor, queue, 0), 1, 1);
    supervisor_drain(supervisor, queue, config.lease_ttl_ms + DRAIN_GRACE_EXTRA_MS);
    presence_stop(presence);
    supervisor_destroy(supervisor);
    free(announcer.caps);
    queue_close(queue);
    metrics_server_stop(metrics_server);
    metrics_destroy(registry);
    log_info("stopped", "worker=%s", owner);
    return 0;
}
