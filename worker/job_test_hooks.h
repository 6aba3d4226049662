/* job_test_hooks.h -- test-only fault hooks of a job process.
 *
 * Compiled in, but armed only by environment variables whose names say that
 * they are test hooks; no deployment sets them. tests/e2e_isolation.sh uses
 * them to make one job process misbehave for real while another job runs on
 * the same worker. Each acts on jobs whose input path contains its _INPUT
 * text (every job if that is unset):
 *   FFPOOL_TEST_CRASH_AT_SEGMENT=N, FFPOOL_TEST_CRASH_INPUT=TEXT
 *       die by SIGSEGV instead of publishing segment N;
 *   FFPOOL_TEST_HOG_AT_SEGMENT=N, FFPOOL_TEST_HOG_INPUT=TEXT
 *       at segment N, allocate and touch memory at 64 MB/s (up to 2 GB) and
 *       never go on, still reporting progress (a runaway, not a hang);
 *   FFPOOL_TEST_DIE_BEFORE_COMPLETE_INPUT=TEXT
 *       die by SIGKILL after checkpointing the last segment, before
 *       completing the job (a worker lost at the very end of a stream). */
#ifndef FFPOOL_WORKER_JOB_TEST_HOOKS_H
#define FFPOOL_WORKER_JOB_TEST_HOOKS_H

#include "job.h"

/* Before segment `index` is published: crashes or runs away if armed. */
void job_test_hooks(struct job *job, int index);

/* After the stream's last segment is checkpointed, before the job is
 * completed: dies if armed. */
void job_test_hook_before_complete(const struct job *job);

#endif
