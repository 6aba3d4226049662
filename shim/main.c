/* main.c -- ffpool-shim: what Jellyfin runs as "ffmpeg" and "ffprobe".
 *
 * For a command line the pool serves natively it submits a job, then stays
 * alive exactly like an ffmpeg process would: progress lines on stderr,
 * `q` on stdin (or SIGTERM/SIGINT) cancels, `p`/`u` pause and resume, and
 * the exit status says whether the output is complete. It keeps waiting
 * across a worker takeover: the job lives in Redis, not in any one worker.
 * Everything else is handed to a local ffmpeg/ffprobe (exec, same argv), so
 * Jellyfin cannot tell the difference. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argv.h"
#include "job_spec.h"
#include "log.h"
#include "program.h"
#include "wire.h"

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

/* One progress line in ffmpeg's own shape, which Jellyfin parses. */
static void print_progress(const Ffpool__JobStatus *job, long long elapsed_ms, char end)
{
    char time_text[32];
    format_time(job->out_time_us, time_text, sizeof(time_text));
    double seconds = (double)job->out_time_us / 1e6;
    double fps = elapsed_ms > 0 ? (double)job->frames * 1000.0 / (double)elapsed_ms : 0.0;
    double kbits = seconds > 0 ? (double)job->bytes * 8.0 / seconds / 1000.0 : 0.0;
    fprintf(stderr,
            "frame=%6lld fps=%5.1f q=-1.0 size=%8lldkB time=%s bitrate=%7.1fkbits/s "
            "speed=%5.3gx    %c",
            (long long)job->frames, fps, (long long)(job->bytes / 1024), time_text, kbits,
            job->speed, end);
    fflush(stderr);
}

struct shim_session {
    struct wire_client *client;
    char job_id[64];
    int stdin_open;
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
    Ffpool__Reply *reply = shim_job_request(session, FFPOOL__REQUEST__BODY_CANCEL, err, sizeof(err));
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
                fprintf(stderr, "key    function\n?      show this help\n"
                                "p      pause transcoding\nu      unpause transcoding\n"
                                "q      quit\n");
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

static int shim_submit(struct shim_session *session, const struct job_spec *spec,
                       const char *job_key, char **argv, int argc, char *err, size_t errlen)
{
    int result = -1;
    size_t packed_len = 0;
    uint8_t *packed = job_spec_pack(spec, &packed_len);
    Ffpool__JobSpec *message = NULL;
    Ffpool__Reply *reply = NULL;
    if (packed == NULL ||
        (message = ffpool__job_spec__unpack(NULL, packed_len, packed)) == NULL) {
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
    if (reply == NULL)
        goto cleanup;
    if (reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
        snprintf(err, errlen, "%s: %s", wire_error_name(reply->code),
                 reply->message ? reply->message : "");
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

/* Waits for the job to finish, printing progress. Returns the exit status. */
static int shim_wait(struct shim_session *session, const struct ffpool_config *config)
{
    long long started = program_monotonic_ms();
    long long last_contact = started;
    long long interval = config->shim_progress_interval_ms > 0 ? config->shim_progress_interval_ms
                                                               : 500;
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
                print_progress(job, now - started, '\r');
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
        poll(&pfd, session->stdin_open ? 1 : 0, (int)interval);
    }
}

int main(int argc, char **argv)
{
    struct ffpool_config config;
    shim_find_config(argv[0]);
    char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    int is_probe = strncmp(base, "ffprobe", 7) == 0;

    /* Only our own long options are consumed; ffmpeg's are single-dash. */
    int first = program_start(argc, argv, is_probe ? "ffprobe" : "ffmpeg", usage, &config);
    if (first > 1) {
        argv[first - 1] = argv[0];
        argv += first - 1;
        argc -= first - 1;
    }
    if (is_probe)
        return shim_passthrough(config.shim_fallback_ffprobe, argc, argv, "ffprobe invocation");

    struct job_spec *spec = malloc(sizeof(*spec));
    if (spec == NULL)
        return 1;
    char reason[512];
    enum argv_decision decision = argv_parse_job(argc, argv, spec, reason, sizeof(reason));
    log_info("decision", "decision=%s reason=%s",
             decision == ARGV_NATIVE ? "native"
             : decision == ARGV_PASSTHROUGH ? "passthrough"
                                            : "refuse",
             log_quote(reason));
    if (decision == ARGV_PASSTHROUGH) {
        free(spec);
        return shim_passthrough(config.shim_fallback_ffmpeg, argc, argv, reason);
    }
    if (decision == ARGV_REFUSE) {
        fprintf(stderr, "ffpool: cannot serve this command line: %s\n", reason);
        free(spec);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    char err[600];
    char job_key[33];
    struct shim_session session = {.stdin_open = 1};
    argv_job_key(argc, argv, job_key);
    session.client = wire_client_open(config.scheduler_url, config.api_token,
                                      (int)config.scheduler_timeout_ms, err, sizeof(err));
    if (session.client == NULL) {
        fprintf(stderr, "Error: cannot reach the ffpool scheduler: %s\n", err);
        goto cleanup;
    }
    if (shim_submit(&session, spec, job_key, argv, argc, err, sizeof(err)) != 0) {
        fprintf(stderr, "Error: the ffpool scheduler refused the job: %s\n", err);
        goto cleanup;
    }
    fprintf(stderr, "ffpool: job %s for %s\n", session.job_id, spec->output);
    status = shim_wait(&session, &config);
cleanup:
    wire_client_close(session.client);
    free(spec);
    return status;
}
