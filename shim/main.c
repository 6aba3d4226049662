/* main.c -- ffpool-shim: what Jellyfin runs as "ffmpeg" and "ffprobe".
 *
 * For a command line the pool serves natively it submits a job, then stays
 * alive exactly like an ffmpeg process would: progress lines on stderr,
 * `q` on stdin (or SIGTERM/SIGINT) cancels, `p`/`u` pause and resume, and
 * the exit status says whether the output is complete. It keeps waiting
 * across a worker takeover: the job lives in Redis, not in any one worker.
 * While no worker can run the job (routing: a filter or encoder nobody
 * offers) it prints the reason once, and exits 1 with it if the job fails.
 * Everything else is handed to a local ffmpeg/ffprobe (exec, same argv), so
 * Jellyfin cannot tell the difference.
 *
 * Jellyfin's start-up probes (-version, -encoders, -filters, -h filter=...)
 * are answered from the pool's workers (probe.c) through the scheduler's
 * Capabilities request, within a short time-out; without a pool the shim
 * follows shim.no_pool_policy (a local ffmpeg answers, or a clear error).
 * Paths go through paths.map (pathmap.c) before they reach the pool or the
 * local ffprobe. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "argv.h"
#include "config.h"
#include "job_spec.h"
#include "log.h"
#include "pathmap.h"
#include "probe.h"
#include "program.h"
#include "wire.h"

/* Start-up probes must never hang Jellyfin: the pool gets this long at most
 * (or scheduler.timeout_ms if shorter) before shim.no_pool_policy applies. */
#define SHIM_PROBE_TIMEOUT_MS 2000
/* Jellyfin writes '?' and closes stdin at once; a caller that never closes
 * it still gets an answer in this time. */
#define SHIM_PAUSE_PROBE_TIMEOUT_MS 10000
/* Pause between submit attempts while no scheduler or Redis answers. */
#define SHIM_SUBMIT_RETRY_MS 250
/* Status poll interval until the first segment is published. */
#define SHIM_FIRST_SEGMENT_POLL_MS 40

static volatile sig_atomic_t signal_received;

static void on_signal(int signo)
{
    signal_received = signo;
}

static const char usage[] =
    "Usage: ffmpeg [ffmpeg options]   (ffpool-shim, installed as Jellyfin's ffmpeg)\n"
    "       ffprobe [ffprobe options]\n\n"
    "Serves Jellyfin's HLS transcodes from the ffpool worker pool and hands every\n"
    "other invocation to the local ffmpeg/ffprobe named in the configuration. The\n"
    "configuration comes from $FFPOOL_CONFIG, else ffpool.yaml beside this program,\n"
    "plus FFPOOL_* environment variables.\n";

/* Jellyfin passes no options of ours, so the configuration is found without
 * arguments: $FFPOOL_CONFIG, or ffpool.yaml in the folder of the program
 * (the folder Jellyfin was pointed at). */
static void shim_find_config(const char *argv0)
{
    if (getenv("FFPOOL_CONFIG") != NULL || strchr(argv0, '/') == NULL)
        return;
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", argv0);
    char path[4200];
    snprintf(path, sizeof(path), "%s/ffpool.yaml", dirname(copy));
    if (access(path, R_OK) == 0)
        setenv("FFPOOL_CONFIG", path, 0);
}

/* Replaces this process with the local program; returns only on failure. */
static int shim_passthrough(const char *program, int argc, char **argv, const char *reason)
{
    if (program[0] == '\0') {
        fprintf(stderr, "ffpool: %s, and no local fallback is configured (shim.fallback_*)\n",
                reason);
        return 1;
    }
    log_info("passthrough", "program=%s reason=%s", log_quote(program), log_quote(reason));
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (args == NULL)
        return 1;
    args[0] = (char *)program;
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    execv(program, args);
    fprintf(stderr, "ffpool: cannot run %s: %s\n", program, strerror(errno));
    free(args);
    return 1;
}

static void format_time(int64_t us, char *out, size_t outlen)
{
    if (us < 0)
        us = 0;
    int64_t centis = us / 10000;
    snprintf(out, outlen, "%02lld:%02lld:%02lld.%02lld", (long long)(centis / 360000),
             (long long)(centis / 6000 % 60), (long long)(centis / 100 % 60),
             (long long)(centis % 100));
}

/* One progress line in ffmpeg's own shape, which Jellyfin parses. Jellyfin
 * splits it on single spaces and reads "size=", "bitrate=" and "fps=" from
 * their own tokens, so unlike ffmpeg's padded columns ("size=     256kB",
 * which it cannot read) every value is glued to its key. */
static void print_progress(const Ffpool__JobStatus *job, long long elapsed_ms, char end)
{
    char time_text[32];
    format_time(job->out_time_us, time_text, sizeof(time_text));
    double seconds = (double)job->out_time_us / 1e6;
    double fps = elapsed_ms > 0 ? (double)job->frames * 1000.0 / (double)elapsed_ms : 0.0;
    double kbits = seconds > 0 ? (double)job->bytes * 8.0 / seconds / 1000.0 : 0.0;
    fprintf(stderr,
            "frame=%lld fps=%.1f q=-1.0 size=%lldkB time=%s bitrate=%.1fkbits/s speed=%.3gx %c",
            (long long)job->frames, fps, (long long)(job->bytes / 1024), time_text, kbits,
            job->speed, end);
    fflush(stderr);
}

struct shim_session {
    struct wire_client *client;
    char job_id[64];
    int stdin_open;
    const struct job_spec *jellyfin_spec; /* segment paths as Jellyfin sees them */
    int *placeholders;                    /* indexes of the empty files we created */
    int n_placeholders, placeholders_cap;
    int next_placeholder; /* lowest index not yet considered */
};

/* Sends one request about our job; returns the reply or NULL (err set). */
static Ffpool__Reply *shim_call(struct shim_session *session, Ffpool__Request *request, char *err,
                                size_t errlen)
{
    Ffpool__Reply *reply = NULL;
    if (wire_client_call(session->client, request, &reply, err, errlen) != 0)
        return NULL;
    return reply;
}

static Ffpool__Reply *shim_job_request(struct shim_session *session, Ffpool__Request__BodyCase kind,
                                       char *err, size_t errlen)
{
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__JobRef ref = FFPOOL__JOB_REF__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    ref.job_id = session->job_id;
    status.job_id = session->job_id;
    status.heartbeat = 1;
    request.body_case = kind;
    if (kind == FFPOOL__REQUEST__BODY_STATUS)
        request.status = &status;
    else if (kind == FFPOOL__REQUEST__BODY_CANCEL)
        request.cancel = &ref;
    else if (kind == FFPOOL__REQUEST__BODY_PAUSE)
        request.pause = &ref;
    else
        request.resume = &ref;
    return shim_call(session, &request, err, errlen);
}

static void shim_cancel(struct shim_session *session)
{
    char err[256];
    Ffpool__Reply *reply =
        shim_job_request(session, FFPOOL__REQUEST__BODY_CANCEL, err, sizeof(err));
    if (reply == NULL)
        log_warn("cancel_failed", "job=%s error=%s", session->job_id, log_quote(err));
    else
        ffpool__reply__free_unpacked(reply, NULL);
}

/* Reads what Jellyfin wrote on stdin: q quits; p/u (or c + newline, for
 * older keys) pause and resume. Returns 1 when the job must be cancelled. */
static int shim_read_keys(struct shim_session *session)
{
    if (!session->stdin_open)
        return 0;
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    while (poll(&pfd, 1, 0) > 0) {
        char keys[64];
        ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
        if (n <= 0) {
            session->stdin_open = 0;
            return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
            Ffpool__Request__BodyCase kind = FFPOOL__REQUEST__BODY__NOT_SET;
            if (keys[i] == 'q')
                return 1;
            if (keys[i] == 'p' || keys[i] == 'c')
                kind = FFPOOL__REQUEST__BODY_PAUSE;
            else if (keys[i] == 'u' || keys[i] == '\n')
                kind = FFPOOL__REQUEST__BODY_RESUME;
            else if (keys[i] == '?')
                fputs(probe_key_help, stderr);
            if (kind != FFPOOL__REQUEST__BODY__NOT_SET) {
                char err[256];
                Ffpool__Reply *reply = shim_job_request(session, kind, err, sizeof(err));
                if (reply != NULL)
                    ffpool__reply__free_unpacked(reply, NULL);
            }
        }
    }
    return 0;
}

/* Submits (or attaches to) the job. Returns 0, -1 when the scheduler
 * refused it, or SHIM_RETRY when no scheduler or no Redis answered (a
 * submit is idempotent through job_key, so it may simply be sent again). */
#define SHIM_RETRY (-2)
static int shim_submit(struct shim_session *session, const struct job_spec *spec,
                       const char *job_key, char **argv, int argc, char *err, size_t errlen)
{
    int result = -1;
    size_t packed_len = 0;
    uint8_t *packed = job_spec_pack(spec, &packed_len);
    Ffpool__JobSpec *message = NULL;
    Ffpool__Reply *reply = NULL;
    if (packed == NULL || (message = ffpool__job_spec__unpack(NULL, packed_len, packed)) == NULL) {
        snprintf(err, errlen, "cannot encode the job");
        goto cleanup;
    }
    /* The original command line travels with the job, for operators. */
    char **saved_argv = message->argv;
    size_t saved_n = message->n_argv;
    message->argv = argv;
    message->n_argv = (size_t)argc;

    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__SubmitRequest submit = FFPOOL__SUBMIT_REQUEST__INIT;
    submit.job_key = (char *)job_key;
    submit.spec = message;
    request.body_case = FFPOOL__REQUEST__BODY_SUBMIT;
    request.submit = &submit;
    reply = shim_call(session, &request, err, errlen);
    message->argv = saved_argv;
    message->n_argv = saved_n;
    if (reply == NULL) {
        result = SHIM_RETRY;
        goto cleanup;
    }
    if (reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
        snprintf(err, errlen, "%s: %s", wire_error_name(reply->code),
                 reply->message ? reply->message : "");
        if (reply->code == FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE)
            result = SHIM_RETRY;
        goto cleanup;
    }
    snprintf(session->job_id, sizeof(session->job_id), "%s", reply->job->job_id);
    log_info(reply->job->created ? "submitted" : "attached", "job=%s", session->job_id);
    result = 0;
cleanup:
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
    if (message != NULL)
        ffpool__job_spec__free_unpacked(message, NULL);
    free(packed);
    return result;
}

/* ---------------------------------------------------------------------------
 * Segment readiness
 *
 * Jellyfin serves segment N once file N exists AND file N+1 exists (or the
 * process exited): with ffmpeg, N+1 appears the moment N is finished. A
 * worker publishes each segment atomically (rename when complete), so N+1
 * would appear only a whole segment later. As soon as the job's checkpoint
 * says N is published, the shim creates an empty N+1 at its final name
 * (O_EXCL: never over a real one); the worker's rename replaces it. Jellyfin
 * never serves it early, because that needs N+2 (created only once N+1 is
 * real) or the process gone, and the shim removes its placeholders that are
 * still empty before it exits, whatever the outcome.
 * ------------------------------------------------------------------------- */

static void shim_placeholder_create(struct shim_session *session, int index)
{
    char path[JOB_SPEC_PATH_MAX + 32];
    if (job_spec_segment_path(session->jellyfin_spec, index, path, sizeof(path)) != 0)
        return;
    if (session->n_placeholders == session->placeholders_cap) {
        int cap = session->placeholders_cap ? session->placeholders_cap * 2 : 16;
        int *grown = realloc(session->placeholders, (size_t)cap * sizeof(*grown));
        if (grown == NULL)
            return;
        session->placeholders = grown;
        session->placeholders_cap = cap;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return; /* the real segment is there already, or the folder is not ours */
    close(fd);
    session->placeholders[session->n_placeholders++] = index;
}

/* After the job says segment `checkpoint` is published: an empty file for
 * the next one, unless the input ends before it. */
static void shim_placeholders_update(struct shim_session *session, const Ffpool__JobStatus *job)
{
    const struct job_spec *spec = session->jellyfin_spec;
    if (spec == NULL || spec->segment_filename[0] == '\0' || spec->hls_time_us <= 0)
        return;
    if (session->next_placeholder < spec->start_number + 1)
        session->next_placeholder = spec->start_number + 1;
    int next = job->checkpoint + 1;
    if (job->checkpoint < spec->start_number || next < session->next_placeholder)
        return;
    session->next_placeholder = next + 1;
    if (job->duration_us > 0 && (int64_t)next * spec->hls_time_us >= job->duration_us)
        return;
    shim_placeholder_create(session, next);
}

/* Removes the placeholders that are still empty (never replaced). */
static void shim_placeholders_remove(struct shim_session *session)
{
    for (int i = 0; i < session->n_placeholders; i++) {
        char path[JOB_SPEC_PATH_MAX + 32];
        struct stat st;
        if (job_spec_segment_path(session->jellyfin_spec, session->placeholders[i], path,
                                  sizeof(path)) == 0 &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
            unlink(path);
    }
    free(session->placeholders);
    session->placeholders = NULL;
    session->n_placeholders = session->placeholders_cap = 0;
}

/* Waits for the job to finish, printing progress. Returns the exit status. */
static int shim_wait(struct shim_session *session, const struct ffpool_config *config)
{
    long long started = program_monotonic_ms();
    long long last_contact = started;
    long long last_print = 0;
    long long interval =
        config->shim_progress_interval_ms > 0 ? config->shim_progress_interval_ms : 500;
    /* Until the first segment is ready (also the latency of every seek),
     * the job is polled faster than progress is printed. */
    int first_ready = 0;
    char last_waiting[512] = "";
    for (;;) {
        if (signal_received) {
            shim_cancel(session);
            fprintf(stderr, "Exiting normally, received signal %d.\n", (int)signal_received);
            return 255;
        }
        if (shim_read_keys(session)) {
            shim_cancel(session);
            fprintf(stderr, "\n[q] command received. Exiting.\n");
            return 0;
        }
        char err[512];
        Ffpool__Reply *reply =
            shim_job_request(session, FFPOOL__REQUEST__BODY_STATUS, err, sizeof(err));
        long long now = program_monotonic_ms();
        if (reply == NULL || reply->code == FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE) {
            /* No scheduler (or no Redis) right now: the job goes on in the
             * pool; keep trying for as long as its heartbeat would last. */
            if (now - last_contact > config->lease_heartbeat_ttl_ms) {
                fprintf(stderr, "Error: lost contact with the ffpool scheduler: %s\n",
                        reply ? reply->message : err);
                if (reply != NULL)
                    ffpool__reply__free_unpacked(reply, NULL);
                return 1;
            }
        } else if (reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
            fprintf(stderr, "Error: %s: %s\n", wire_error_name(reply->code), reply->message);
            ffpool__reply__free_unpacked(reply, NULL);
            return 1;
        } else {
            last_contact = now;
            Ffpool__JobStatus *job = reply->job;
            int exit_status = -1;
            if (job->state == FFPOOL__JOB_STATE__DONE) {
                print_progress(job, now - started, '\n');
                exit_status = 0;
            } else if (job->state == FFPOOL__JOB_STATE__FAILED) {
                fprintf(stderr, "\nError: %s\n", job->error[0] ? job->error : "job failed");
                exit_status = 1;
            } else if (job->state == FFPOOL__JOB_STATE__CANCELLED) {
                fprintf(stderr, "\nError: the job was cancelled\n");
                exit_status = 1;
            } else {
                /* Once per reason: why no worker has the job yet. */
                if (job->waiting[0] != '\0' && strcmp(job->waiting, last_waiting) != 0)
                    fprintf(stderr, "\nffpool: job %s is waiting: %s\n", session->job_id,
                            job->waiting);
                snprintf(last_waiting, sizeof(last_waiting), "%s", job->waiting);
                shim_placeholders_update(session, job);
                if (now - last_print >= interval) {
                    print_progress(job, now - started, '\r');
                    last_print = now;
                }
                first_ready = session->jellyfin_spec == NULL ||
                              job->checkpoint >= session->jellyfin_spec->start_number;
            }
            if (exit_status >= 0) {
                log_info("finished", "job=%s state=%d takeovers=%d", session->job_id,
                         (int)job->state, job->takeovers);
                ffpool__reply__free_unpacked(reply, NULL);
                return exit_status;
            }
        }
        if (reply != NULL)
            ffpool__reply__free_unpacked(reply, NULL);
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        poll(&pfd, session->stdin_open ? 1 : 0,
             first_ready ? (int)interval : SHIM_FIRST_SEGMENT_POLL_MS);
    }
}

/* ---------------------------------------------------------------------------
 * Start-up probes and ffprobe
 * ------------------------------------------------------------------------- */

/* What to do when the pool cannot answer a probe: exec the local ffmpeg
 * ("fallback", the default) or fail with a clear error ("fail"). */
static int shim_no_pool(const struct ffpool_config *config, const struct probe_request *request,
                        int argc, char **argv, const char *why)
{
    if (strcmp(config->shim_no_pool_policy, "fail") == 0) {
        fprintf(stderr, "ffpool: the worker pool cannot answer %s: %s (shim.no_pool_policy=fail)\n",
                probe_kind_name(request->kind), why);
        log_warn("probe_failed", "probe=%s reason=%s", log_quote(probe_kind_name(request->kind)),
                 log_quote(why));
        return 1;
    }
    char reason[600];
    snprintf(reason, sizeof(reason), "no pool to answer the probe (%s)", why);
    return shim_passthrough(config->shim_fallback_ffmpeg, argc, argv, reason);
}

/* Answers a probe from the capabilities of the live workers. */
static int shim_probe(const struct ffpool_config *config, const struct probe_request *request,
                      int argc, char **argv)
{
    if (request->kind == PROBE_PAUSE_KEYS)
        return probe_pause_keys(STDIN_FILENO, stderr, SHIM_PAUSE_PROBE_TIMEOUT_MS);

    int timeout = (int)config->scheduler_timeout_ms;
    if (timeout <= 0 || timeout > SHIM_PROBE_TIMEOUT_MS)
        timeout = SHIM_PROBE_TIMEOUT_MS;
    char err[600];
    Ffpool__Reply *reply = NULL;
    struct probe_caps *caps = NULL;
    int status;
    struct wire_client *client = program_client_open(config, timeout, err, sizeof(err));
    if (client == NULL)
        return shim_no_pool(config, request, argc, argv, err);
    Ffpool__Request message = FFPOOL__REQUEST__INIT;
    Ffpool__Empty empty = FFPOOL__EMPTY__INIT;
    message.body_case = FFPOOL__REQUEST__BODY_CAPABILITIES;
    message.capabilities = &empty;
    if (wire_client_call(client, &message, &reply, err, sizeof(err)) != 0) {
        wire_client_close(client);
        return shim_no_pool(config, request, argc, argv, err);
    }
    wire_client_close(client);
    if (reply->code != FFPOOL__ERROR_CODE__OK) {
        snprintf(err, sizeof(err), "%s: %s", wire_error_name(reply->code),
                 reply->message ? reply->message : "");
        ffpool__reply__free_unpacked(reply, NULL);
        return shim_no_pool(config, request, argc, argv, err);
    }
    caps = probe_caps_build(reply->workers, reply->n_workers);
    if (caps == NULL) {
        ffpool__reply__free_unpacked(reply, NULL);
        return shim_no_pool(config, request, argc, argv, "no worker published its capabilities");
    }
    log_info("probe", "probe=%s workers=%zu", log_quote(probe_kind_name(request->kind)),
             reply->n_workers);
    status = probe_answer(request, caps, stdout, stderr);
    fflush(stdout);
    probe_caps_free(caps);
    ffpool__reply__free_unpacked(reply, NULL);
    return status;
}

/* ffprobe runs locally, on the worker-side paths of the same files. */
static int shim_ffprobe(const struct ffpool_config *config, const struct pathmap *map, int argc,
                        char **argv)
{
    char **owned = calloc((size_t)argc + 1, sizeof(*owned));
    if (owned == NULL)
        return 1;
    int changed = pathmap_apply_argv(map, argc, argv, owned);
    if (changed < 0) {
        fprintf(stderr, "ffpool: cannot map the paths of this ffprobe command line\n");
        pathmap_argv_free(argc, owned);
        free(owned);
        return 1;
    }
    if (changed > 0)
        log_info("paths_mapped", "count=%d", changed);
    int status = shim_passthrough(config->shim_fallback_ffprobe, argc, argv, "ffprobe invocation");
    pathmap_argv_free(argc, owned);
    free(owned);
    return status;
}

/* Loads the configuration. Under its own name the shim is a program of
 * ours (--help, --version, --config); under Jellyfin's names every option
 * but a leading --config belongs to ffmpeg (`-h filter=X`, `--version`).
 * Returns the index of the first argument that is not ours. */
static int shim_configure(int argc, char **argv, int as_ffmpeg, int is_probe,
                          struct ffpool_config *config)
{
    if (!as_ffmpeg)
        return program_start(argc, argv, is_probe ? "ffprobe" : "ffmpeg", usage, config);
    const char *config_path = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--config") == 0) {
        config_path = argv[i + 1];
        i += 2;
    }
    char err[512];
    if (config_load(config, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "ffpool: %s\n", err);
        exit(2);
    }
    int level = log_level_parse(config->log_level);
    log_init(is_probe ? "ffprobe" : "ffmpeg", level < 0 ? LOG_INFO : (enum log_level)level);
    return i;
}

int main(int argc, char **argv)
{
    struct ffpool_config config;
    shim_find_config(argv[0]);
    char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    int is_probe = strncmp(base, "ffprobe", 7) == 0;
    int as_ffmpeg = is_probe || strncmp(base, "ffmpeg", 6) == 0;

    int first = shim_configure(argc, argv, as_ffmpeg, is_probe, &config);
    if (first > 1) {
        argv[first - 1] = argv[0];
        argv += first - 1;
        argc -= first - 1;
    }
    struct pathmap map;
    char err[600];
    if (pathmap_parse(&map, config.paths_map, err, sizeof(err)) != 0) {
        fprintf(stderr, "ffpool: %s\n", err);
        return 1;
    }
    if (is_probe)
        return shim_ffprobe(&config, &map, argc, argv);

    struct probe_request probe;
    if (probe_classify(argc, argv, &probe) != PROBE_NONE) {
        log_info("decision", "decision=probe probe=%s", log_quote(probe_kind_name(probe.kind)));
        return shim_probe(&config, &probe, argc, argv);
    }

    struct job_spec *spec = malloc(sizeof(*spec));
    struct job_spec *jellyfin_spec = NULL;
    if (spec == NULL)
        return 1;
    char reason[512];
    enum argv_decision decision = argv_parse_job(argc, argv, spec, reason, sizeof(reason));
    log_info("decision", "decision=%s reason=%s", argv_decision_name(decision), log_quote(reason));
    if (decision == ARGV_PASSTHROUGH) {
        free(spec);
        return shim_passthrough(config.shim_fallback_ffmpeg, argc, argv, reason);
    }
    if (decision == ARGV_REFUSE) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", reason);
        free(spec);
        return 1;
    }
    jellyfin_spec = malloc(sizeof(*jellyfin_spec));
    if (jellyfin_spec == NULL) {
        free(spec);
        return 1;
    }
    memcpy(jellyfin_spec, spec, sizeof(*spec));
    int mapped = pathmap_apply_spec(&map, spec, err, sizeof(err));
    if (mapped < 0) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", err);
        free(spec);
        free(jellyfin_spec);
        return 1;
    }
    if (mapped > 0)
        log_info("paths_mapped", "count=%d input=%s output=%s", mapped, log_quote(spec->input),
                 log_quote(spec->output));

    program_on_stop_signals(on_signal);

    int status = 1;
    char job_key[33];
    struct shim_session session = {.stdin_open = 1, .jellyfin_spec = jellyfin_spec};
    argv_job_key(argc, argv, job_key);
    session.client = program_client_open(&config, 0, err, sizeof(err));
    if (session.client == NULL) {
        fprintf(stderr, "Error: cannot reach the ffpool scheduler: %s\n", err);
        goto cleanup;
    }
    /* A scheduler restarting or Redis failing over is waited out for as
     * long as a job's heartbeat would last; q or a signal stops waiting. */
    long long give_up = program_monotonic_ms() + config.lease_heartbeat_ttl_ms;
    int submitted;
    while ((submitted = shim_submit(&session, spec, job_key, argv, argc, err, sizeof(err))) ==
               SHIM_RETRY &&
           program_monotonic_ms() < give_up && !signal_received) {
        log_warn("submit_retry", "error=%s", log_quote(err));
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&pfd, session.stdin_open ? 1 : 0, SHIM_SUBMIT_RETRY_MS) > 0) {
            char key = 0;
            ssize_t n = read(STDIN_FILENO, &key, 1);
            if (n <= 0)
                session.stdin_open = 0; /* closed: sleep plainly from now on */
            else if (key == 'q')
                goto cleanup; /* stopped before the job existed */
        }
    }
    if (submitted != 0) {
        fprintf(stderr, "Error: cannot submit the job to the ffpool pool: %s\n", err);
        goto cleanup;
    }
    fprintf(stderr, "ffpool: job %s for %s\n", session.job_id, spec->output);
    status = shim_wait(&session, &config);
cleanup:
    shim_placeholders_remove(&session);
    wire_client_close(session.client);
    free(spec);
    free(jellyfin_spec);
    return status;
}
