/* job_process.h -- the job process: one per claimed job, started by the
 * worker's supervisor (worker/supervisor.c) as its own binary in a hidden
 * mode, so that a crash, a hang or a runaway allocation inside libav ends
 * that one job and never the worker or its other jobs.
 *
 *   ffpool-worker [--config FILE] --run-job ID OWNER EPOCH CHECKPOINT TAKEOVER CLAIM_STARTED_MS
 *
 * The packed job spec comes on stdin; the configuration is the worker's own
 * (same --config and inherited FFPOOL_* environment); event lines for the
 * worker (worker_event_send) go to fd JOB_PROCESS_REPORT_FD. CLAIM_STARTED_MS
 * is CLOCK_MONOTONIC, which is the same clock in every process of a machine:
 * the job's lease deadline counts from the worker's claim, as before.
 *
 * The job process does everything a job does (worker/job.c): its own Redis
 * connections, lease renewal, the pipeline, fenced checkpoints and the final
 * complete/fail/release, so the lease logic lives in one place. SIGTERM or
 * SIGINT hands the job back (fenced release). It exits 0 whenever it
 * ended the job's run itself, whatever the outcome; anything else (another
 * status, a signal) is an abnormal end that the supervisor records as a
 * failed attempt. This file owns both sides of that command line. */
#ifndef FFPOOL_WORKER_JOB_PROCESS_H
#define FFPOOL_WORKER_JOB_PROCESS_H

#include "config.h"
#include "queue.h"

#define JOB_PROCESS_FLAG "--run-job"
#define JOB_PROCESS_REPORT_FD 3

/* Exit statuses other than 0: set-up failed before the job could run. */
#define JOB_PROCESS_EXIT_USAGE 2
#define JOB_PROCESS_EXIT_SETUP 3
#define JOB_PROCESS_EXIT_EXEC 127 /* fork succeeded, exec did not */

/* The arguments of one job process, as text, ready for execv. */
struct job_process_argv {
    char *argv[9];
    char fields[6][QUEUE_OWNER_MAX + 32];
};

/* Fills out with the command line that runs claim for owner: program
 * (argv[0]), the hidden mode and its arguments. The worker's configuration
 * travels in the environment (config_environment), not as options. Nothing
 * is allocated: out is safe to use after fork. */
void job_process_argv_build(struct job_process_argv *out, char *program, const char *owner,
                            const struct queue_claim *claim, long long claim_started_ms);

/* The job process's main: argv holds the arguments after JOB_PROCESS_FLAG.
 * Returns the process's exit status. */
int job_process_main(const struct ffpool_config *config, int argc, char **argv);

#endif
