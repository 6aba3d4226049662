/* session.c -- one native job of the shim: submit it, print ffmpeg's
 * progress lines while it runs, keep Jellyfin's segment readiness rule, and
 * end as ffmpeg would; see session.h.
 *
 * A native run has two threads: the main thread talks to the scheduler
 * (submit, status, pause) and may wait on it for up to scheduler.timeout_ms;
 * the key thread reads stdin and the signals, so that `q`, SIGTERM and
 * SIGINT end the shim within a second whatever the scheduler does. The
 * cancel is sent behind it by a detached `ffpool-shim --cancel-job ID`. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "argv.h"
#include "fetch.h"
#include "log.h"
#include "probe.h"
#include "program.h"
#include "wire.h"

/* Pause between submit attempts while no scheduler or Redis answers. */
#define SHIM_SUBMIT_RETRY_MS 250
/* Status poll interval until the first segment is published. */
#define SHIM_FIRST_SEGMENT_POLL_MS 40
/* A cancel left behind by a stopped shim is retried for the job's heartbeat
 * TTL (after which the pool cancels the job anyway), at least this long. */
#define SHIM_CANCEL_MIN_MS 5000
#define SHIM_CANCEL_RETRY_MS 250
/* A job unclaimed this long with no reason from the pool: the shim says so. */
#define SHIM_QUEUED_SAY_MS 3000
/* Times a job the pool lost is submitted again. */
#define SHIM_RESUBMITS_MAX 3

extern char **environ;

/* ---------------------------------------------------------------------------
 * Driver environment
 * ------------------------------------------------------------------------- */

/* Whether envp[0..index) already has a variable named like entry. */
static int environment_seen(char *const *envp, size_t index, const char *entry, size_t name_len)
{
    for (size_t i = 0; i < index; i++)
        if (strncmp(envp[i], entry, name_len) == 0 && envp[i][name_len] == '=')
            return 1;
    return 0;
}

int shim_environment_forward(struct job_spec *spec, char *const *envp, char *err, size_t errlen)
{
    char *out = spec->environment;
    size_t size = sizeof(spec->environment), used = 0;
    int count = 0;
    out[0] = '\0';
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        const char *entry = envp[i];
        const char *equals = strchr(entry, '=');
        if (equals == NULL || equals == entry)
            continue;
        size_t name_len = (size_t)(equals - entry);
        if (!job_spec_environment_allowed(entry, name_len) ||
            environment_seen(envp, i, entry, name_len))
            continue;
        if (strchr(entry, '\n') != NULL) {
            snprintf(err, errlen, "%.*s holds a newline", (int)name_len, entry);
            out[0] = '\0';
            return -1;
        }
        size_t n = strlen(entry);
        if (used + (used > 0) + n + 1 > size) {
            snprintf(err, errlen, "the driver environment (%.*s...) is longer than %zu bytes",
                     (int)name_len, entry, size - 1);
            out[0] = '\0';
            return -1;
        }
        if (used > 0)
            out[used++] = '\n';
        memcpy(out + used, entry, n + 1);
        used += n;
        count++;
    }
    return count;
}

/* ---------------------------------------------------------------------------
 * Progress
 * ------------------------------------------------------------------------- */

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
    /* time= counts from the job's first output, as ffmpeg's does under
     * -copyts: Jellyfin adds the job's start to it. */
    int64_t out_us = job->out_time_us - job->start_us;
    char time_text[32];
    format_time(out_us, time_text, sizeof(time_text));
    double seconds = (double)out_us / 1e6;
    double fps = elapsed_ms > 0 ? (double)job->frames * 1000.0 / (double)elapsed_ms : 0.0;
    double kbits = seconds > 0 ? (double)job->bytes * 8.0 / seconds / 1000.0 : 0.0;
    fprintf(stderr,
            "frame=%lld fps=%.1f q=-1.0 size=%lldkB time=%s bitrate=%.1fkbits/s speed=%.3gx %c",
            (long long)job->frames, fps, (long long)(job->bytes / 1024), time_text, kbits,
            job->speed, end);
    fflush(stderr);
}

/* ---------------------------------------------------------------------------
 * The session: one native job, two threads
 * ------------------------------------------------------------------------- */

struct shim_session {
    const struct ffpool_config *config;
    struct wire_client *client;
    const struct job_spec *jellyfin_spec; /* segment paths as Jellyfin sees them */
    /* What the job was submitted with, to submit it again if the pool
     * loses it (Redis data loss). */
    const struct job_spec *spec;
    const char *job_key;
    char **argv;
    int argc;
    int resubmits;
    int *placeholders;         /* indexes of the empty files we created */
    ino_t *placeholder_inodes; /* and the inode each got */
    int n_placeholders, placeholders_cap;
    int next_placeholder;     /* lowest index not yet considered */
    int wake_pipe[2];         /* the key thread wakes the main thread's sleeps */
    struct shim_fetch *fetch; /* a delivered job's (spec->deliver): its fetch thread */
    int pause_applied;        /* the key_seq last sent to the scheduler */

    /* Shared with the key thread, under lock. */
    pthread_mutex_t lock;
    char job_id[64]; /* "" until the job is submitted */
    int key_seq;     /* counts p/u requests */
    int key_pause;   /* the last one: 1 pause, 0 resume */
};

/* One per process: the key thread and the signal handler outlive any
 * frame of main's. */
static struct shim_session shim_session = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                           .wake_pipe = {-1, -1}};
static volatile sig_atomic_t signal_received;
static int signal_pipe[2] = {-1, -1};

static void on_signal(int signo)
{
    int saved = errno;
    signal_received = signo;
    if (signal_pipe[1] >= 0) {
        ssize_t ignored = write(signal_pipe[1], "s", 1);
        (void)ignored;
    }
    errno = saved;
}

/* Sends one request; returns the reply or NULL (err set). */
static Ffpool__Reply *shim_call(struct wire_client *client, Ffpool__Request *request, char *err,
                                size_t errlen)
{
    Ffpool__Reply *reply = NULL;
    if (wire_client_call(client, request, &reply, err, errlen) != 0)
        return NULL;
    return reply;
}

/* Sends a Status (with heartbeat), Cancel, Pause or Resume about job_id. */
static Ffpool__Reply *shim_job_request(struct wire_client *client, const char *job_id,
                                       Ffpool__Request__BodyCase kind, char *err, size_t errlen)
{
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__JobRef ref = FFPOOL__JOB_REF__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    ref.job_id = (char *)job_id;
    status.job_id = (char *)job_id;
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
    return shim_call(client, &request, err, errlen);
}

/* ---------------------------------------------------------------------------
 * Stopping: q, SIGTERM, SIGINT
 *
 * Jellyfin writes q and SIGKILLs the process if it has not exited 5 s
 * later, and a seek restart waits for that exit. So the shim exits at once
 * and the cancel is sent behind it by a process of its own: detached (own
 * session; stdin, stdout and stderr on /dev/null, no other descriptor), so
 * it never holds Jellyfin's pipes open, and with the configuration this
 * shim resolved in its environment. It retries until a scheduler answers,
 * for as long as the job's heartbeat would keep the job alive anyway.
 * ------------------------------------------------------------------------- */

/* Starts `ffpool-shim --cancel-job ID` detached. Returns 0, or -1 (then the
 * job ends when its heartbeat lapses). */
static int shim_cancel_spawn(const struct ffpool_config *config, const char *job_id)
{
    int result = -1;
    int have_actions = 0, have_attr = 0;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t no_signals;
    char **env = config_environment(config, environ);
    if (env == NULL)
        goto cleanup;
    if (posix_spawn_file_actions_init(&actions) != 0)
        goto cleanup;
    have_actions = 1;
    if (posix_spawnattr_init(&attr) != 0)
        goto cleanup;
    have_attr = 1;
    sigemptyset(&no_signals);
    if (posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1) != 0 ||
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK) != 0 ||
        posix_spawnattr_setsigmask(&attr, &no_signals) != 0)
        goto cleanup;
    char *args[] = {"ffpool-shim", "--cancel-job", (char *)job_id, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", &actions, &attr, args, env) != 0)
        goto cleanup;
    result = 0;
cleanup:
    if (have_attr)
        posix_spawnattr_destroy(&attr);
    if (have_actions)
        posix_spawn_file_actions_destroy(&actions);
    config_environment_free(env);
    return result;
}

/* Ends the shim now, as ffmpeg ends on q (status 0) or a signal (255):
 * the cancel goes behind it, and the segment folder stays as it is (the
 * placeholder for the next segment included: see Segment readiness).
 * Called from the key thread; never returns. */
static void shim_stop(struct shim_session *session, int signo)
{
    char job_id[64];
    pthread_mutex_lock(&session->lock);
    snprintf(job_id, sizeof(job_id), "%s", session->job_id);
    pthread_mutex_unlock(&session->lock);
    int status = signo != 0 ? 255 : 0;
    if (job_id[0] == '\0' && signo == 0)
        status = 1; /* stopped before the job existed */
    if (job_id[0] != '\0' && shim_cancel_spawn(session->config, job_id) != 0)
        log_warn("cancel_not_started", "job=%s msg=%s", job_id,
                 log_quote("the job ends when its heartbeat lapses"));
    if (signo != 0)
        fprintf(stderr, "Exiting normally, received signal %d.\n", signo);
    else
        fprintf(stderr, "\n[q] command received. Exiting.\n");
    fflush(stderr);
    log_info("stopped", "job=%s by=%s", job_id[0] ? job_id : "none", signo ? "signal" : "q");
    /* The main thread may be inside nng: no atexit handlers behind its back. */
    _exit(status);
}

/* `ffpool-shim --cancel-job ID`: sends Cancel until a scheduler answers, or
 * the job's heartbeat would have lapsed (then the pool cancels it anyway).
 * Returns the exit status. */
int shim_cancel_run(const struct ffpool_config *config, const char *job_id)
{
    long long budget = config->lease_heartbeat_ttl_ms > SHIM_CANCEL_MIN_MS
                           ? config->lease_heartbeat_ttl_ms
                           : SHIM_CANCEL_MIN_MS;
    long long deadline = program_monotonic_ms() + budget;
    char err[512];
    struct wire_client *client = program_client_open(config, 0, err, sizeof(err));
    if (client == NULL) {
        log_warn("cancel_failed", "job=%s error=%s", job_id, log_quote(err));
        return 1;
    }
    int status = 1;
    for (int attempt = 1;; attempt++) {
        Ffpool__Reply *reply =
            shim_job_request(client, job_id, FFPOOL__REQUEST__BODY_CANCEL, err, sizeof(err));
        if (reply != NULL && reply->code != FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE) {
            status = reply->code == FFPOOL__ERROR_CODE__OK ? 0 : 1;
            log_info("cancelled", "job=%s attempts=%d code=%s", job_id, attempt,
                     wire_error_name(reply->code));
            ffpool__reply__free_unpacked(reply, NULL);
            break;
        }
        if (reply != NULL) {
            snprintf(err, sizeof(err), "%s", reply->message ? reply->message : "unavailable");
            ffpool__reply__free_unpacked(reply, NULL);
        }
        if (program_monotonic_ms() >= deadline) {
            log_warn("cancel_failed", "job=%s attempts=%d error=%s", job_id, attempt,
                     log_quote(err));
            break;
        }
        poll(NULL, 0, SHIM_CANCEL_RETRY_MS);
    }
    wire_client_close(client);
    return status;
}

/* The key thread: reads what Jellyfin writes on stdin, and the signals. q,
 * SIGTERM and SIGINT stop the shim from here (shim_stop); p/u (or c, and
 * newline, for older keys) are handed to the main thread, which talks to
 * the scheduler; '?' prints the key help. */
static void *shim_keys_main(void *arg)
{
    struct shim_session *session = arg;
    int stdin_open = 1;
    for (;;) {
        struct pollfd fds[2] = {{.fd = signal_pipe[0], .events = POLLIN},
                                {.fd = STDIN_FILENO, .events = POLLIN}};
        if (poll(fds, stdin_open ? 2 : 1, -1) < 0 && errno != EINTR)
            return NULL;
        if (signal_received)
            shim_stop(session, (int)signal_received);
        if (!stdin_open || fds[1].revents == 0)
            continue;
        char keys[64];
        ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            stdin_open = 0; /* Jellyfin never closes it; a test may */
            continue;
        }
        int requested = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (keys[i] == 'q')
                shim_stop(session, 0);
            if (keys[i] == '?') {
                fputs(probe_key_help, stderr);
                continue;
            }
            int pause = keys[i] == 'p' || keys[i] == 'c';
            if (!pause && keys[i] != 'u' && keys[i] != '\n')
                continue;
            pthread_mutex_lock(&session->lock);
            session->key_seq++;
            session->key_pause = pause;
            pthread_mutex_unlock(&session->lock);
            requested = 1;
        }
        if (requested) {
            ssize_t ignored = write(session->wake_pipe[1], "k", 1);
            (void)ignored;
        }
    }
}

/* Sleeps up to ms, or until the key thread has something for us. */
static void shim_sleep(struct shim_session *session, int ms)
{
    struct pollfd pfd = {.fd = session->wake_pipe[0], .events = POLLIN};
    if (poll(&pfd, 1, ms) > 0) {
        char drain[64];
        while (read(session->wake_pipe[0], drain, sizeof(drain)) > 0)
            ;
    }
}

/* Sends the pause or resume Jellyfin asked for last, if not sent yet. */
static void shim_keys_apply(struct shim_session *session)
{
    pthread_mutex_lock(&session->lock);
    int seq = session->key_seq, pause = session->key_pause;
    pthread_mutex_unlock(&session->lock);
    if (seq == session->pause_applied || session->job_id[0] == '\0')
        return;
    char err[256];
    Ffpool__Reply *reply = shim_job_request(
        session->client, session->job_id,
        pause ? FFPOOL__REQUEST__BODY_PAUSE : FFPOOL__REQUEST__BODY_RESUME, err, sizeof(err));
    if (reply == NULL)
        return; /* tried again at the next poll */
    session->pause_applied = seq;
    ffpool__reply__free_unpacked(reply, NULL);
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
    reply = shim_call(session->client, &request, err, errlen);
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
    pthread_mutex_lock(&session->lock);
    snprintf(session->job_id, sizeof(session->job_id), "%s", reply->job->job_id);
    pthread_mutex_unlock(&session->lock);
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
 * real) or the process gone.
 *
 * What happens to the empty N+1 at exit depends on how the shim ends. When
 * the job is complete or failed, it is removed (an empty file would be
 * served as a segment). When Jellyfin stops the shim (q, SIGTERM, SIGINT),
 * it stays: ffmpeg leaves its unfinished segment N+1 behind, and on a seek
 * restart Jellyfin deletes the newest segment file, taking it for that
 * unfinished one. The empty N+1 is the right file to delete; without it the
 * newest would be the complete N, deleted and transcoded again.
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
        ino_t *inodes = realloc(session->placeholder_inodes, (size_t)cap * sizeof(*inodes));
        if (inodes == NULL)
            return;
        session->placeholder_inodes = inodes;
        session->placeholders_cap = cap;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return; /* the real segment is there already, or the folder is not ours */
    struct stat st;
    int known = fstat(fd, &st) == 0;
    close(fd);
    if (!known) {
        unlink(path);
        return;
    }
    session->placeholder_inodes[session->n_placeholders] = st.st_ino;
    session->placeholders[session->n_placeholders++] = index;
}

/* After segment `held` is in Jellyfin's folder (the job's checkpoint, or
 * what this shim's fetch thread wrote): an empty file for the next one,
 * unless the input ends before it. */
static void shim_placeholders_update(struct shim_session *session, int held,
                                     const Ffpool__JobStatus *job)
{
    const struct job_spec *spec = session->jellyfin_spec;
    if (spec == NULL || spec->segment_filename[0] == '\0' || spec->hls_time_us <= 0)
        return;
    if (session->next_placeholder < spec->start_number + 1)
        session->next_placeholder = spec->start_number + 1;
    int next = held + 1;
    if (held < spec->start_number || next < session->next_placeholder)
        return;
    session->next_placeholder = next + 1;
    if (job->duration_us > 0 && (int64_t)next * spec->hls_time_us >= job->duration_us)
        return;
    shim_placeholder_create(session, next);
}

/* Removes the placeholders that are still ours and empty (never replaced):
 * the job ended on its own, complete or failed. A worker may rename a real
 * segment onto a placeholder at any moment, and that file must stay. A
 * check then an unlink of the path could remove a segment renamed in
 * between, so the file is first moved aside (rename is atomic: whatever is
 * at the path moves), and only the very file the shim created (its inode,
 * still empty) is removed; anything else is linked back, unless an even
 * newer file took the path meanwhile. */
static void shim_placeholders_remove(struct shim_session *session)
{
    for (int i = 0; i < session->n_placeholders; i++) {
        char path[JOB_SPEC_PATH_MAX + 32], aside[JOB_SPEC_PATH_MAX + 64];
        struct stat st;
        if (job_spec_segment_path(session->jellyfin_spec, session->placeholders[i], path,
                                  sizeof(path)) != 0 ||
            lstat(path, &st) != 0 || st.st_ino != session->placeholder_inodes[i] || st.st_size != 0)
            continue; /* replaced already: nothing to do */
        snprintf(aside, sizeof(aside), "%s.shim-%d.aside", path, (int)getpid());
        if (rename(path, aside) != 0)
            continue;
        if (lstat(aside, &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_ino != session->placeholder_inodes[i] || st.st_size != 0)
            (void)link(aside, path); /* a real segment: back in place (EEXIST: a newer one is) */
        unlink(aside);
    }
    free(session->placeholders);
    free(session->placeholder_inodes);
    session->placeholder_inodes = NULL;
    session->placeholders = NULL;
    session->n_placeholders = session->placeholders_cap = 0;
}

/* Cancels the job through the session's scheduler connection (one try;
 * a job left behind ends when its heartbeat lapses). */
static void shim_cancel_job(struct shim_session *session)
{
    char err[512];
    Ffpool__Reply *reply = shim_job_request(session->client, session->job_id,
                                            FFPOOL__REQUEST__BODY_CANCEL, err, sizeof(err));
    log_info("cancelled", "job=%s code=%s", session->job_id,
             reply != NULL ? wire_error_name(reply->code) : err);
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
}

/* Waits for the job to finish, printing progress (a device check prints
 * its result instead). Returns the exit status. */
static int shim_wait(struct shim_session *session, int device_check)
{
    const struct ffpool_config *config = session->config;
    long long started = program_monotonic_ms();
    long long last_contact = started;
    long long last_print = 0;
    long long interval =
        config->shim_progress_interval_ms > 0 ? config->shim_progress_interval_ms : 500;
    /* Until the first segment is ready (also the latency of every seek),
     * the job is polled faster than progress is printed. */
    int first_ready = 0;
    char last_waiting[512] = "";
    /* Since when the job has waited unclaimed (0: it has an owner), and
     * whether that was said. */
    long long queued_since = 0;
    int queued_said = 0;
    for (;;) {
        shim_keys_apply(session);
        char err[512];
        Ffpool__Reply *reply = shim_job_request(session->client, session->job_id,
                                                FFPOOL__REQUEST__BODY_STATUS, err, sizeof(err));
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
        } else if (reply->code == FFPOOL__ERROR_CODE__ERROR_NOT_FOUND &&
                   session->resubmits < SHIM_RESUBMITS_MAX) {
            /* The pool lost the job (Redis lost its data: a failover, a
             * restart without persistence): submitted again under the same
             * key, it is made again from the start, over the same files. */
            char old_id[64];
            snprintf(old_id, sizeof(old_id), "%s", session->job_id);
            ffpool__reply__free_unpacked(reply, NULL);
            reply = NULL;
            session->resubmits++;
            if (shim_submit(session, session->spec, session->job_key, session->argv, session->argc,
                            err, sizeof(err)) == 0) {
                last_contact = now;
                queued_since = 0;
                first_ready = 0;
                if (session->fetch != NULL) {
                    shim_fetch_stop(session->fetch, NULL, 0);
                    session->fetch =
                        shim_fetch_start(config, session->jellyfin_spec, session->job_id);
                }
                log_warn("resubmitted", "lost=%s job=%s", old_id, session->job_id);
                if (!device_check)
                    fprintf(stderr,
                            "\nffpool: job %s was lost by the pool; submitted again as %s\n",
                            old_id, session->job_id);
            }
        } else if (reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
            fprintf(stderr, "Error: %s: %s\n", wire_error_name(reply->code), reply->message);
            ffpool__reply__free_unpacked(reply, NULL);
            return 1;
        } else {
            last_contact = now;
            Ffpool__JobStatus *job = reply->job;
            int exit_status = -1;
            if (job->state == FFPOOL__JOB_STATE__DONE && device_check) {
                /* What the CLI printed there, as it printed it. */
                fputs(job->result, stderr);
                fflush(stderr);
                exit_status = job->result_status;
            } else if (job->state == FFPOOL__JOB_STATE__DONE) {
                print_progress(job, now - started, '\n');
                exit_status = 0;
            } else if (job->state == FFPOOL__JOB_STATE__FAILED) {
                fprintf(stderr, "\nError: %s\n", job->error[0] ? job->error : "job failed");
                exit_status = 1;
            } else if (job->state == FFPOOL__JOB_STATE__CANCELLED) {
                fprintf(stderr, "\nError: the job was cancelled\n");
                exit_status = 1;
            } else if (session->fetch != NULL && shim_fetch_failed(session->fetch) != NULL) {
                /* What the workers make cannot reach Jellyfin's folder. */
                fprintf(stderr, "\nError: %s\n", shim_fetch_failed(session->fetch));
                log_warn("fetch_gave_up", "job=%s error=%s", session->job_id,
                         log_quote(shim_fetch_failed(session->fetch)));
                shim_cancel_job(session);
                exit_status = 1;
            } else if (device_check) {
                /* Its stderr is the check's answer: nothing else on it. A
                 * run-once line's files come through the fetch thread. */
                if (session->fetch != NULL)
                    shim_fetch_follow(session->fetch, job->epoch, job->delivery);
                if (job->waiting[0] != '\0' && strcmp(job->waiting, last_waiting) != 0)
                    log_info("waiting", "job=%s reason=%s", session->job_id,
                             log_quote(job->waiting));
                snprintf(last_waiting, sizeof(last_waiting), "%s", job->waiting);
            } else {
                /* Once per reason: why no worker has the job yet. */
                if (job->waiting[0] != '\0' && strcmp(job->waiting, last_waiting) != 0)
                    fprintf(stderr, "\nffpool: job %s is waiting: %s\n", session->job_id,
                            job->waiting);
                snprintf(last_waiting, sizeof(last_waiting), "%s", job->waiting);
                int held = job->checkpoint;
                if (session->fetch != NULL) {
                    shim_fetch_follow(session->fetch, job->epoch, job->delivery);
                    held = shim_fetch_written(session->fetch);
                }
                shim_placeholders_update(session, held, job);
                if (now - last_print >= interval) {
                    print_progress(job, now - started, '\r');
                    last_print = now;
                }
                first_ready =
                    session->jellyfin_spec == NULL || held >= session->jellyfin_spec->start_number;
            }
            if (exit_status < 0 && job->state == FFPOOL__JOB_STATE__QUEUED) {
                if (queued_since == 0)
                    queued_since = now;
                long long queued_ms = now - queued_since;
                const char *why = job->waiting[0] != '\0'
                                      ? job->waiting
                                      : "no worker has claimed it (none is live, or every "
                                        "one is busy)";
                if (!queued_said && job->waiting[0] == '\0' && queued_ms >= SHIM_QUEUED_SAY_MS &&
                    !device_check) {
                    fprintf(stderr, "\nffpool: job %s is waiting: %s\n", session->job_id, why);
                    queued_said = 1;
                }
                if (config->shim_queued_timeout_ms > 0 &&
                    queued_ms >= config->shim_queued_timeout_ms) {
                    /* Nobody will make this stream: say why and end it, as
                     * the CLI ends on an input it cannot open. */
                    fprintf(stderr, "\nError: ffpool job %s waited %lld s with no worker: %s\n",
                            session->job_id, queued_ms / 1000, why);
                    log_warn("queued_timeout", "job=%s ms=%lld reason=%s", session->job_id,
                             queued_ms, log_quote(why));
                    shim_cancel_job(session);
                    exit_status = 1;
                }
            } else {
                queued_since = 0;
                queued_said = 0;
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
        shim_sleep(session, first_ready ? (int)interval : SHIM_FIRST_SEGMENT_POLL_MS);
    }
}

/* Runs a native job: submit (waiting out a scheduler or Redis restart for
 * as long as a heartbeat would last), then wait. Returns the exit status. */
int shim_run_job(const struct ffpool_config *config, const struct job_spec *spec,
                 const struct job_spec *jellyfin_spec, int argc, char **argv)
{
    struct shim_session *session = &shim_session;
    int status = 1;
    char err[600];
    char job_key[33];
    session->config = config;
    session->jellyfin_spec = jellyfin_spec;
    argv_job_key(argc, argv, job_key);
    session->spec = spec;
    session->job_key = job_key;
    session->argv = argv;
    session->argc = argc;
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
        pipe2(session->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "Error: cannot make a pipe: %s\n", strerror(errno));
        return 1;
    }
    program_on_stop_signals(on_signal);
    pthread_t keys;
    if (pthread_create(&keys, NULL, shim_keys_main, session) != 0) {
        fprintf(stderr, "Error: cannot start the key thread\n");
        return 1;
    }
    pthread_detach(keys);

    session->client = program_client_open(config, 0, err, sizeof(err));
    if (session->client == NULL) {
        fprintf(stderr, "Error: cannot reach the ffpool scheduler: %s\n", err);
        goto cleanup;
    }
    long long give_up = program_monotonic_ms() + config->lease_heartbeat_ttl_ms;
    int submitted;
    while ((submitted = shim_submit(session, spec, job_key, argv, argc, err, sizeof(err))) ==
               SHIM_RETRY &&
           program_monotonic_ms() < give_up) {
        log_warn("submit_retry", "error=%s", log_quote(err));
        shim_sleep(session, SHIM_SUBMIT_RETRY_MS);
    }
    if (submitted != 0) {
        fprintf(stderr, "Error: cannot submit the job to the ffpool pool: %s\n", err);
        goto cleanup;
    }
    /* A device check or a CLI job run once: its result is what it printed. */
    int device_check =
        spec->output_kind == JOB_OUTPUT_DEVICE_CHECK || spec->output_kind == JOB_OUTPUT_CLI;
    if (!device_check)
        fprintf(stderr, "ffpool: job %s for %s\n", session->job_id, spec->output);
    if (spec->deliver &&
        (session->fetch = shim_fetch_start(config, jellyfin_spec, session->job_id)) == NULL) {
        fprintf(stderr, "Error: cannot start the thread that fetches the job's segments\n");
        shim_cancel_job(session);
        goto cleanup;
    }
    status = shim_wait(session, device_check);
cleanup:
    /* A done job's segments are all in place (its owner completed it only
     * once this shim had asked past the last one), but a progressive
     * output's last step, its final size, comes with the end: a failure
     * to write it fails the line. */
    if (shim_fetch_stop(session->fetch, err, sizeof(err)) && status == 0) {
        fprintf(stderr, "\nError: %s\n", err);
        status = 1;
    }
    session->fetch = NULL;
    /* The key thread may still stop the process at any moment: what it
     * reads (lock, job_id, config) stays valid to the end. */
    shim_placeholders_remove(session);
    wire_client_close(session->client);
    session->client = NULL;
    return status;
}
