/* supervisor.h -- the worker's job processes: starts one per claimed job
 * and watches it, so that nothing a job does can take the worker or its
 * other jobs down.
 *
 * Each job runs in a child process (worker/job_process.h): the worker's own
 * binary re-executed through a descriptor of /proc/self/exe (fork, then exec
 * at once: never a bare fork of this multi-threaded process), with
 * PR_SET_PDEATHSIG so that a worker killed with SIGKILL leaves no job
 * process behind writing segments.
 * The child reports event lines on a pipe (worker_metrics.h); the supervisor
 * applies them to the worker's metrics and counts each as progress. It kills
 * a child (SIGKILL) that reports nothing for worker.job_watchdog_ms, or whose
 * resident memory passes worker.job_memory_limit_mb.
 *
 * When a child ends abnormally (a signal, a non-zero status, killed by the
 * watchdog or the memory ceiling) the supervisor records a failed attempt
 * with the reason, through the same fenced queue_fail the job itself would
 * use, with the child's owner and epoch: the attempt is counted and the
 * reason kept, the job is requeued to resume from its checkpoint, and after
 * lease.max_attempts it ends FAILED. This is safe because the supervisor
 * acts only after waitpid() has reaped the child (it can write nothing
 * more), and the fence makes the call a no-op if the job has moved on (the
 * child completed, released or lost it first).
 *
 * Not thread-safe: the worker's main thread calls everything, between
 * claims (so the thread that forks, which PR_SET_PDEATHSIG watches, lives as
 * long as the worker). */
#ifndef FFPOOL_WORKER_SUPERVISOR_H
#define FFPOOL_WORKER_SUPERVISOR_H

#include "config.h"
#include "queue.h"
#include "worker_metrics.h"

struct supervisor;

/* A supervisor of up to n_slots job processes for worker owner. program is
 * the worker's argv[0], the job processes' argv[0] (they run the worker's
 * own binary); it must outlive the supervisor. Returns NULL on allocation
 * failure. */
struct supervisor *supervisor_create(const struct ffpool_config *config,
                                     struct worker_metrics *metrics, const char *owner, int n_slots,
                                     char *program);

/* Starts a job process for claim (the lease counted from claim_started_ms).
 * Returns 0, or -1 with err (nothing started; the caller hands the job
 * back). */
int supervisor_start(struct supervisor *sup, const struct queue_claim *claim,
                     long long claim_started_ms, char *err, size_t errlen);

/* Waits up to timeout_ms (0: not at all) for news from the job processes,
 * applies their event lines, enforces the watchdog and the memory ceiling,
 * and reaps the ones that ended (recording failed attempts through queue).
 * Returns how many job processes are still running. */
int supervisor_poll(struct supervisor *sup, struct queue *queue, int timeout_ms);

/* Asks every job process to hand its job back (SIGTERM: a fenced release)
 * and waits for them up to grace_ms; any still running then is killed and
 * its job released on its behalf. Returns when none is left. */
void supervisor_drain(struct supervisor *sup, struct queue *queue, long long grace_ms);

/* Frees the supervisor; call after supervisor_drain. NULL is fine. */
void supervisor_destroy(struct supervisor *sup);

/* After a job process could not be started (or died before its job ran:
 * exec, memory, Redis, threads), the worker claims nothing for a few
 * seconds, so that the job it handed back goes to a healthy worker instead
 * of bouncing here. */
void supervisor_back_off(struct supervisor *sup);
int supervisor_backing_off(const struct supervisor *sup);

#endif
