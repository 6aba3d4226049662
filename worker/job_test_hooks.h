/* job_test_hooks.h -- test-only fault hooks of a job process.
 *
 * Compiled in, but armed only by environment variables whose names say that
 * they are test hooks; no deployment sets them. tests/e2e_isolation.sh uses
 * them to make one job process misbehave for real while another job runs on
 * the same worker, the tests/e2e_lease_*.sh scenarios to lose or stall an
 * owner at a precise point. Each acts on jobs whose input path contains its
 * _INPUT text (every job if that is unset; a hook named by its _INPUT
 * variable alone is armed by it):
 *   FFPOOL_TEST_CRASH_AT_SEGMENT=N, FFPOOL_TEST_CRASH_INPUT=TEXT
 *       die by SIGSEGV instead of publishing segment N;
 *   FFPOOL_TEST_HANG_AT_SEGMENT=N, FFPOOL_TEST_HANG_INPUT=TEXT
 *       in the job's first run (epoch 1), hang before publishing segment N
 *       with no callback and no progress (a read on a stalled share of
 *       this machine: another worker's runs go on);
 *   FFPOOL_TEST_HOG_AT_SEGMENT=N, FFPOOL_TEST_HOG_INPUT=TEXT
 *       at segment N, allocate and touch memory at 64 MB/s (up to 2 GB) and
 *       never go on, still reporting progress (a runaway, not a hang);
 *   FFPOOL_TEST_DIE_BEFORE_PLAYLIST_INPUT=TEXT
 *       after checkpointing the stream's last segment, before writing the
 *       playlist, SIGKILL the worker and this job process (a machine lost
 *       at the very end of a stream: the job is taken over at lease expiry);
 *   FFPOOL_TEST_STOP_BEFORE_PLAYLIST_AT_SEGMENT=N,
 *   FFPOOL_TEST_STOP_BEFORE_PLAYLIST_INPUT=TEXT
 *       after checkpointing segment N, before writing the playlist, stop
 *       this job process by SIGSTOP (a stalled owner; the test continues
 *       it, with the pid the test_hook log line names);
 *   FFPOOL_TEST_STOP_BEFORE_COMPLETE_INPUT=TEXT
 *       stop by SIGSTOP after the stream's last segment and playlist,
 *       before completing the job (the test continues it);
 *   FFPOOL_TEST_DIE_BEFORE_COMPLETE_INPUT=TEXT
 *       die by SIGKILL after checkpointing the last segment, before
 *       completing the job (a worker lost at the very end of a stream);
 *   FFPOOL_TEST_SLOW_START_MS=N, FFPOOL_TEST_SLOW_START_INPUT=TEXT
 *       in the job's first run (epoch 1), sleep N ms before starting the
 *       job (a slow fork and exec on a loaded node: the claimed lease is
 *       running meanwhile). */
#ifndef FFPOOL_WORKER_JOB_TEST_HOOKS_H
#define FFPOOL_WORKER_JOB_TEST_HOOKS_H

#include "job.h"

/* Before the job's threads start: sleeps if armed. */
void job_test_hook_before_start(const struct job *job);

/* Before segment `index` is published: crashes or runs away if armed. */
void job_test_hooks(struct job *job, int index);

/* After segment `index` is checkpointed (last: the stream's last), before
 * the playlist is written: kills or stops the job process if armed. */
void job_test_hook_before_playlist(const struct job *job, int index, int last);

/* After the stream's last segment is checkpointed, before the job is
 * completed: stops or dies if armed. */
void job_test_hook_before_complete(const struct job *job);

#endif
