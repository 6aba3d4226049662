/* job_test_hooks.c -- test-only fault hooks of a job process; see
 * job_test_hooks.h. Nothing here runs unless a FFPOOL_TEST_* variable arms
 * it. */
#include "job_test_hooks.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "program.h"
#include "worker_metrics.h"

#define TEST_HOG_STEP_MB 8
#define TEST_HOG_STEP_MS 125
#define TEST_HOG_MAX_MB 2048

static int job_test_hook_armed(const struct job *job, const char *at_name, const char *input_name,
                               int index)
{
    const char *at = getenv(at_name);
    if (at == NULL || at[0] == '\0' || atoi(at) != index)
        return 0;
    const char *input = getenv(input_name);
    return input == NULL || strstr(job->spec.input, input) != NULL;
}

void job_test_hook_before_start(const struct job *job)
{
    const char *ms = getenv("FFPOOL_TEST_SLOW_START_MS");
    if (ms == NULL || atoi(ms) <= 0 || job->epoch != 1)
        return;
    const char *input = getenv("FFPOOL_TEST_SLOW_START_INPUT");
    if (input != NULL && input[0] != '\0' && strstr(job->spec.input, input) == NULL)
        return;
    log_warn("test_hook", "job=%s pid=%d msg=%s", job->id, (int)getpid(),
             log_quote("FFPOOL_TEST_SLOW_START_MS: sleeping before the job starts"));
    usleep((useconds_t)atoi(ms) * 1000);
}

void job_test_hooks(struct job *job, int index)
{
    if (job_test_hook_armed(job, "FFPOOL_TEST_CRASH_AT_SEGMENT", "FFPOOL_TEST_CRASH_INPUT",
                            index)) {
        log_warn("test_hook", "job=%s segment=%d msg=%s", job->id, index,
                 log_quote("FFPOOL_TEST_CRASH_AT_SEGMENT: raising SIGSEGV"));
        /* The default action, even under a sanitizer that catches SIGSEGV:
         * the process dies by the signal, as it would in libav. */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
    if (job->epoch == 1 &&
        job_test_hook_armed(job, "FFPOOL_TEST_HANG_AT_SEGMENT", "FFPOOL_TEST_HANG_INPUT", index)) {
        /* A read hung on a stalled share, on this machine only: no
         * callback, no progress, for ever (the watchdog ends it). */
        log_warn("test_hook", "job=%s segment=%d msg=%s", job->id, index,
                 log_quote("FFPOOL_TEST_HANG_AT_SEGMENT: hanging (first run only)"));
        for (;;)
            pause();
    }
    if (job_test_hook_armed(job, "FFPOOL_TEST_HOG_AT_SEGMENT", "FFPOOL_TEST_HOG_INPUT", index)) {
        log_warn("test_hook", "job=%s segment=%d msg=%s", job->id, index,
                 log_quote("FFPOOL_TEST_HOG_AT_SEGMENT: allocating without end"));
        for (int mb = 0;; mb += TEST_HOG_STEP_MB) {
            if (mb < TEST_HOG_MAX_MB) {
                char *block = malloc((size_t)TEST_HOG_STEP_MB << 20);
                if (block != NULL)
                    memset(block, 0x5a, (size_t)TEST_HOG_STEP_MB << 20);
            }
            /* A leak in a pipeline that still moves: the stall check
             * (worker.job_stall_ms) must not end it before the memory
             * ceiling does, even where allocating is slow (ASan). */
            atomic_store(&job->pipeline_alive_ms, program_monotonic_ms());
            worker_event_send(job->report_fd, WORKER_EVENT_PROGRESS, 0);
            usleep(TEST_HOG_STEP_MS * 1000);
        }
    }
}

/* Whether the hook whose _INPUT variable is input_name is armed for this
 * job: the variable is set and the job's input path contains its text. */
static int job_test_hook_input_armed(const struct job *job, const char *input_name)
{
    const char *input = getenv(input_name);
    return input != NULL && input[0] != '\0' && strstr(job->spec.input, input) != NULL;
}

/* Stops this job process (every thread: the lease is no longer renewed)
 * until a SIGCONT. The log line names the pid for the test to continue. */
static void job_test_hook_stop(const struct job *job, int index, const char *hook)
{
    log_warn("test_hook", "job=%s segment=%d pid=%d msg=%s", job->id, index, (int)getpid(),
             log_quote(hook));
    raise(SIGSTOP);
}

void job_test_hook_before_playlist(const struct job *job, int index, int last)
{
    if (last && job_test_hook_input_armed(job, "FFPOOL_TEST_DIE_BEFORE_PLAYLIST_INPUT")) {
        /* The machine lost: the worker first, so that no supervisor
         * records the attempt and the job is taken over at lease expiry. */
        log_warn("test_hook", "job=%s segment=%d msg=%s", job->id, index,
                 log_quote("FFPOOL_TEST_DIE_BEFORE_PLAYLIST_INPUT: SIGKILL to the worker and "
                           "its job process"));
        kill(getppid(), SIGKILL);
        raise(SIGKILL);
    }
    if (job_test_hook_armed(job, "FFPOOL_TEST_STOP_BEFORE_PLAYLIST_AT_SEGMENT",
                            "FFPOOL_TEST_STOP_BEFORE_PLAYLIST_INPUT", index))
        job_test_hook_stop(job, index, "FFPOOL_TEST_STOP_BEFORE_PLAYLIST_AT_SEGMENT: SIGSTOP");
}

void job_test_hook_before_complete(const struct job *job)
{
    if (job_test_hook_input_armed(job, "FFPOOL_TEST_STOP_BEFORE_COMPLETE_INPUT"))
        job_test_hook_stop(job, -1, "FFPOOL_TEST_STOP_BEFORE_COMPLETE_INPUT: SIGSTOP");
    if (!job_test_hook_input_armed(job, "FFPOOL_TEST_DIE_BEFORE_COMPLETE_INPUT"))
        return;
    log_warn("test_hook", "job=%s msg=%s", job->id,
             log_quote("FFPOOL_TEST_DIE_BEFORE_COMPLETE_INPUT: raising SIGKILL"));
    raise(SIGKILL);
}
