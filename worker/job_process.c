/* job_process.c -- the job process's command line and main; see
 * job_process.h. */
#include "job_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "job_test_hooks.h"
#include "log.h"
#include "program.h"

/* A packed spec is a few KB; this only bounds a broken stdin. */
#define JOB_PROCESS_SPEC_MAX (16 << 20)

/* How long the main thread waits for a stop signal before it looks again
 * whether the job has finished. */
#define JOB_PROCESS_WAIT_MS 100

enum job_process_field {
    FIELD_ID,
    FIELD_OWNER,
    FIELD_EPOCH,
    FIELD_CHECKPOINT,
    FIELD_TAKEOVER,
    FIELD_CLAIM_STARTED,
    N_FIELDS
};

void job_process_argv_build(struct job_process_argv *out, char *program, const char *owner,
                            const struct queue_claim *claim, long long claim_started_ms)
{
    snprintf(out->fields[FIELD_ID], sizeof(out->fields[0]), "%s", claim->id);
    snprintf(out->fields[FIELD_OWNER], sizeof(out->fields[0]), "%s", owner);
    snprintf(out->fields[FIELD_EPOCH], sizeof(out->fields[0]), "%lld", (long long)claim->epoch);
    snprintf(out->fields[FIELD_CHECKPOINT], sizeof(out->fields[0]), "%d", claim->checkpoint);
    snprintf(out->fields[FIELD_TAKEOVER], sizeof(out->fields[0]), "%d", claim->takeover);
    snprintf(out->fields[FIELD_CLAIM_STARTED], sizeof(out->fields[0]), "%lld", claim_started_ms);
    int n = 0;
    out->argv[n++] = program;
    out->argv[n++] = JOB_PROCESS_FLAG;
    for (int i = 0; i < N_FIELDS; i++)
        out->argv[n++] = out->fields[i];
    out->argv[n] = NULL;
}

/* Reads all of fd into a malloc'd buffer. Returns it (free it), or NULL. */
static uint8_t *job_process_read_spec(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            uint8_t *grown = cap < JOB_PROCESS_SPEC_MAX ? realloc(buf, cap * 2) : NULL;
            if (grown == NULL)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got == 0) {
            *len = n;
            return buf;
        }
        if (got < 0)
            break;
        n += (size_t)got;
    }
    free(buf);
    return NULL;
}

int job_process_main(const struct ffpool_config *config, int argc, char **argv)
{
    if (argc != N_FIELDS) {
        fprintf(stderr, "ffpool-worker: %s is started by the worker, not by hand\n",
                JOB_PROCESS_FLAG);
        return JOB_PROCESS_EXIT_USAGE;
    }
    struct queue_claim claim;
    memset(&claim, 0, sizeof(claim));
    snprintf(claim.id, sizeof(claim.id), "%s", argv[FIELD_ID]);
    claim.epoch = strtoll(argv[FIELD_EPOCH], NULL, 10);
    claim.checkpoint = atoi(argv[FIELD_CHECKPOINT]);
    claim.takeover = atoi(argv[FIELD_TAKEOVER]);
    long long claim_started_ms = strtoll(argv[FIELD_CLAIM_STARTED], NULL, 10);

    claim.spec = job_process_read_spec(STDIN_FILENO, &claim.spec_len);
    if (claim.spec == NULL) {
        log_error("job_setup_failed", "job=%s error=%s", claim.id,
                  log_quote("cannot read the job spec from the worker"));
        return JOB_PROCESS_EXIT_SETUP;
    }
    int report_fd = fcntl(JOB_PROCESS_REPORT_FD, F_GETFD) == -1 ? -1 : JOB_PROCESS_REPORT_FD;

    /* Stop signals are taken by this thread only (sigtimedwait below): the
     * job's threads inherit the blocked mask, and a handler is never needed. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct queue_config queue_config;
    program_queue_config(config, &queue_config);
    char err[512];
    struct job *job =
        job_create(config, &queue_config, report_fd, argv[FIELD_OWNER], &claim, err, sizeof(err));
    queue_claim_clear(&claim);
    if (job == NULL) {
        log_error("job_setup_failed", "job=%s error=%s", argv[FIELD_ID], log_quote(err));
        return JOB_PROCESS_EXIT_SETUP;
    }
    job_test_hook_before_start(job);
    if (job_start(job, claim_started_ms) != 0) {
        log_error("job_setup_failed", "job=%s error=%s", job->id,
                  log_quote("cannot start the job's threads"));
        job_destroy(job);
        return JOB_PROCESS_EXIT_SETUP;
    }
    while (!atomic_load(&job->finished)) {
        struct timespec wait = {0, JOB_PROCESS_WAIT_MS * 1000000L};
        int signo = sigtimedwait(&stop_signals, NULL, &wait);
        if (signo == SIGTERM || signo == SIGINT)
            job_request_stop(job, JOB_STOP_DRAIN);
    }
    job_destroy(job);
    return 0;
}
