/* job.c -- runs one claimed job: lease renewal, the pipeline, publishing
 * each segment, the playlist, and the final complete/fail/release. See
 * job.h for the self-fencing invariant.
 *
 * This code runs in a job process (worker/job_process.c), one per job, never
 * in the worker itself: it reports metric updates and progress to the worker
 * as event lines (worker_event_send) on job->report_fd, and the worker's
 * watchdog kills it when those stop. The test-only fault hooks that make a
 * job process misbehave on purpose live in job_test_hooks.c. */
#include "job.h"

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_job.h"
#include "device_check.h"
#include "job_test_hooks.h"
#include "log.h"
#include "pipeline.h"
#include "playlist.h"
#include "program.h"

/* A device check (drivers starting, nothing else) longer than this is
 * hung in a driver. */
#define DEVICE_CHECK_TIMEOUT_MS 30000

/* Pause between checkpoint attempts while Redis is unreachable. */
#define CHECKPOINT_RETRY_MS 50

/* Progress lines are sent at most this often: the worker's watchdog counts
 * in seconds, and a pipe write per decoded frame would be waste. */
#define PROGRESS_REPORT_INTERVAL_MS 250

/* State of one pipeline run, seen by its callbacks. */
struct job_run {
    struct job *job;
    struct queue *queue;
    int64_t *durations_us; /* index i = segment start_number + i */
    int durations_cap;
    int segments_published;
    long long last_progress_ms;
    int64_t resume_offset_us; /* sum of the published durations before first_index; 0 unknown */
    struct queue_segments published; /* the last segment's index, the fMP4 base */
    int last_published;              /* this run published the stream's last segment */
    int last_index;                  /* the stream's last segment, once known; -1 before */
    int playlist_ended;              /* the playlist in place lists it, with #EXT-X-ENDLIST */
    /* Why a finished segment could not be put in place ("" = none): the job
     * fails with it (a permission, a full or read-only disk, a stale NFS
     * handle), not as a lapsed lease. */
    char publish_error[512];
    /* Names this run's temporary files, segments' and playlist's:
     * ".<owner>.e<epoch>.tmp". */
    char temp_suffix[QUEUE_OWNER_MAX + 48];
};

static void job_set_deadline_from(struct job *job, long long renew_started_ms)
{
    atomic_store(&job->lease_deadline_ms, renew_started_ms + job->config->lease_ttl_ms -
                                              job->config->lease_safety_margin_ms);
}

static int job_lease_valid(struct job *job)
{
    return program_monotonic_ms() < atomic_load(&job->lease_deadline_ms);
}

/* The local lease deadline (monotonic ms), also how long the calls that end
 * the run (complete, fail, release) are retried while Redis does not answer:
 * past it the lease may lapse, and the next claim finds the job where this
 * run left it (a lost completion is redone by stream_already_complete, a
 * lost fail or release is counted as a lost lease). */
static long long job_deadline(struct job *job)
{
    return atomic_load(&job->lease_deadline_ms);
}

/* The lease is certainly still ours: no other owner was seen and the local
 * deadline has not passed. (A drain or a cancel leaves it ours.) */
static int job_lease_held(struct job *job)
{
    int reason = atomic_load(&job->stop_reason);
    return reason != JOB_STOP_FENCED && reason != JOB_STOP_LEASE && job_lease_valid(job);
}

static void job_report(struct job *job, enum worker_event event, double value)
{
    worker_event_send(job->report_fd, event, value);
}

/* Tells the worker's watchdog that the pipeline is moving. Called from the
 * pipeline thread only (last_progress_report_ms is that thread's). */
static void job_report_progress(struct job *job)
{
    long long now = program_monotonic_ms();
    atomic_store(&job->pipeline_alive_ms, now);
    if (now - job->last_progress_report_ms < PROGRESS_REPORT_INTERVAL_MS)
        return;
    job->last_progress_report_ms = now;
    job_report(job, WORKER_EVENT_PROGRESS, 0);
}

/* Returns 1 if this call set the reason (it was the first), else 0. */
static int job_stop(struct job *job, enum job_stop_reason reason)
{
    int expected = JOB_RUNNING;
    int first = atomic_compare_exchange_strong(&job->stop_reason, &expected, (int)reason);
    pthread_mutex_lock(&job->lock);
    pthread_cond_broadcast(&job->wake);
    pthread_mutex_unlock(&job->lock);
    return first;
}

void job_request_stop(struct job *job, enum job_stop_reason reason)
{
    job_stop(job, reason);
}

/* The local deadline passed (a stall, a partition, a Redis outage): stop
 * writing, and say so once, whichever thread noticed first. */
static void job_self_fence(struct job *job, const char *where)
{
    if (!job_stop(job, JOB_STOP_LEASE))
        return;
    job_report(job, WORKER_EVENT_LEASE_LOST, 1);
    log_warn("self_fenced", "job=%s epoch=%lld where=%s overdue_ms=%lld msg=%s", job->id,
             (long long)job->epoch, where,
             program_monotonic_ms() - atomic_load(&job->lease_deadline_ms),
             log_quote("lease could not be renewed in time; stopped writing"));
}

/* Redis said another owner holds the job (a renew, a checkpoint or a
 * progress report was fenced): stop writing, and say so once. */
static void job_fenced(struct job *job, const char *where)
{
    if (!job_stop(job, JOB_STOP_FENCED))
        return;
    job_report(job, WORKER_EVENT_LEASE_LOST, 1);
    log_warn("fenced", "job=%s epoch=%lld where=%s msg=%s", job->id, (long long)job->epoch, where,
             log_quote("another worker owns the job now"));
}

/* ---- lease renewal ------------------------------------------------------ */

/* Pause between two tries of a renewal that failed (Redis did not answer in
 * time, or the connection dropped), while the lease may still be saved. */
#define RENEW_RETRY_MS 100

/* Waits on job->wake until monotonic time until_ms, a stop or the end of
 * the job. job->wake waits on CLOCK_MONOTONIC (job_create): a wall clock
 * stepped back must not delay a renewal past the deadline. */
static void job_renew_wait(struct job *job, long long until_ms)
{
    struct timespec until = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000L};
    pthread_mutex_lock(&job->lock);
    while (!atomic_load(&job->finished) && atomic_load(&job->stop_reason) == JOB_RUNNING &&
           program_monotonic_ms() < until_ms)
        if (pthread_cond_timedwait(&job->wake, &job->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&job->lock);
}

/* A pipeline that has started and then not moved for worker.job_stall_ms
 * is hung (a read on a stalled network share, F9): the job stops renewing
 * and writing (a self-fence), so that its lease lapses and another worker,
 * whose share may well answer, takes the stream over in seconds. The hung
 * process is left to the watchdog; nothing it does later can publish.
 * Returns 1 when that is the case. A pipeline still opening its input has
 * not started: that can rightly take long, and the watchdog bounds it. */
static int job_pipeline_stalled(struct job *job)
{
    long long alive = atomic_load(&job->pipeline_alive_ms);
    long long limit = job->config->worker_job_stall_ms;
    long long quiet = program_monotonic_ms() - alive;
    if (limit <= 0 || alive == 0 || quiet < limit)
        return 0;
    log_warn("pipeline_stalled", "job=%s epoch=%lld quiet_ms=%lld msg=%s", job->id,
             (long long)job->epoch, quiet,
             log_quote("no progress: the lease is left to lapse for another worker"));
    job_self_fence(job, "stalled");
    return 1;
}

/* Renews the lease: once at once (the claim, the fork and the exec of this
 * process have used part of the first lease, F8), then every TTL/5. Each
 * renewal must return before the self-fence point (queue_set_call_deadline
 * caps its time-out at the time left), and one that fails is tried again
 * every RENEW_RETRY_MS until that point: a Redis stall shorter than the
 * lease costs nothing. Only when the deadline passes without a renewal does
 * the job stop writing (job_self_fence). */
static void *job_renew_main(void *arg)
{
    struct job *job = arg;
    struct queue *queue = queue_open(&job->queue_config);
    long long interval = config_lease_renew_interval_ms(job->config);
    long long next_renew = program_monotonic_ms();
    int failures = 0;

    while (queue != NULL) {
        job_renew_wait(job, next_renew);
        if (atomic_load(&job->finished) || atomic_load(&job->stop_reason) != JOB_RUNNING)
            break;
        if (job_pipeline_stalled(job))
            break;

        /* The deadline counts from before the call: the lease the server
         * grants runs from its own clock, at some moment after this. */
        long long started = program_monotonic_ms();
        int paused = 0;
        queue_set_call_deadline(queue, job_deadline(job));
        int status = queue_renew_delivery(queue, job->id, job->owner, job->epoch,
                                          job->delivery_address, &paused);
        if (status == QUEUE_OK) {
            job_set_deadline_from(job, started);
            atomic_store(&job->paused, paused);
            if (failures > 0)
                log_info("renew_recovered", "job=%s tries=%d", job->id, failures + 1);
            failures = 0;
            next_renew = started + interval;
        } else if (status == QUEUE_FENCED || status == QUEUE_NOT_FOUND) {
            job_fenced(job, "renew");
        } else if (status == QUEUE_CANCELLED) {
            log_info("cancelled", "job=%s", job->id);
            job_request_stop(job, JOB_STOP_CANCELLED);
        } else {
            job_report(job, WORKER_EVENT_REDIS_ERROR, 1);
            if (failures++ == 0)
                log_warn("renew_failed", "job=%s error=%s msg=%s", job->id,
                         log_quote(queue_last_error(queue)),
                         log_quote("retrying until the lease deadline"));
            if (!job_lease_valid(job))
                job_self_fence(job, "renew");
            next_renew = program_monotonic_ms() + RENEW_RETRY_MS;
        }
    }
    queue_close(queue);
    return NULL;
}

/* ---- pipeline callbacks ------------------------------------------------- */

static int job_should_stop(void *opaque)
{
    struct job_run *run = opaque;
    struct job *job = run->job;
    /* Paused by the client (Jellyfin's throttling): hold the pipeline, but
     * keep checking the lease and the stop flag. */
    while (atomic_load(&job->paused) && atomic_load(&job->stop_reason) == JOB_RUNNING &&
           job_lease_valid(job)) {
        job_report_progress(job); /* waiting by request is not a hang */
        usleep(50 * 1000);
    }
    job_report_progress(job);
    if (!job_lease_valid(job))
        job_self_fence(job, "pipeline");
    return atomic_load(&job->stop_reason) != JOB_RUNNING;
}

static int job_record_duration(struct job_run *run, int index, int64_t duration_us)
{
    int slot = index - run->job->spec.start_number;
    if (slot < 0)
        return -1;
    if (slot >= run->durations_cap) {
        int cap = run->durations_cap ? run->durations_cap * 2 : 64;
        while (cap <= slot)
            cap *= 2;
        int64_t *grown = realloc(run->durations_us, (size_t)cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        memset(grown + run->durations_cap, 0, (size_t)(cap - run->durations_cap) * sizeof(*grown));
        run->durations_us = grown;
        run->durations_cap = cap;
    }
    run->durations_us[slot] = duration_us;
    return 0;
}

/* How a playlist may be put in place. */
enum job_playlist_commit {
    JOB_PLAYLIST_UNDER_LEASE, /* only while the lease is certainly ours */
    JOB_PLAYLIST_COMPLETED,   /* Redis completed the job under this owner and epoch */
};

/* Rewrites the playlist: segments start_number .. start_number+count-1,
 * ended adding #EXT-X-ENDLIST. It is written into this run's own temporary
 * file (owner and epoch in its name, as its segments': a stalled former
 * owner writes into a file of its own, which the next owner's sweep
 * removes) and renamed over the published one only if the lease is
 * certainly ours right before the rename: a segment's commit point. Once
 * Redis has completed the job under this owner and epoch, no other owner
 * has claimed it since this run's claim and none can: the final playlist
 * then goes in place whatever the local deadline says. Returns 0 when it is
 * in place, 1 if refused (the job self-fences), -1 if it could not be
 * written (logged). */
static int job_publish_playlist(struct job_run *run, int count, int ended,
                                enum job_playlist_commit commit)
{
    struct job *job = run->job;
    char temp[JOB_SPEC_PATH_MAX + sizeof(run->temp_suffix)], err[512];
    if (count <= 0 || count > run->durations_cap)
        return -1;
    snprintf(temp, sizeof(temp), "%s%s", job->spec.output, run->temp_suffix);
    if (playlist_write_temp(&job->spec, run->durations_us, count, ended, temp, err, sizeof(err)) !=
        0) {
        log_warn("playlist_failed", "job=%s error=%s", job->id, log_quote(err));
        return -1;
    }
    if (commit == JOB_PLAYLIST_UNDER_LEASE && !job_lease_held(job)) {
        unlink(temp);
        job_report(job, WORKER_EVENT_FENCED_WRITE, 1);
        log_warn("playlist_refused", "job=%s segments=%d epoch=%lld temp=%s msg=%s", job->id, count,
                 (long long)job->epoch, log_quote(temp),
                 log_quote("lease no longer certainly ours; playlist not replaced"));
        if (!job_lease_valid(job))
            job_self_fence(job, "playlist");
        return 1;
    }
    if (rename(temp, job->spec.output) != 0) {
        log_warn("playlist_failed", "job=%s path=%s error=%s", job->id, log_quote(job->spec.output),
                 log_quote(strerror(errno)));
        unlink(temp);
        return -1;
    }
    if (ended)
        run->playlist_ended = 1;
    return 0;
}

/* Records segment index as published (in Jellyfin's folder), with its
 * duration. Redis away (a restart, a failover) is retried until the lease
 * deadline, holding the caller, so that no published segment goes
 * unrecorded; past the deadline the job stops and the next owner rewrites
 * this segment from the last checkpoint. The reply also carries the
 * client's pause, which then holds the pipeline from this segment on (a
 * renewal can be a third of a lease away, and a fast encode writes many
 * segments in that time). Returns 0, or 1 when the run stops. */
static int job_checkpoint(struct job *job, struct queue *queue, int index, int64_t duration_us,
                          int last, const char *fmp4_base)
{
    int paused = 0;
    int status = queue_checkpoint(queue, job->id, job->owner, job->epoch, index, duration_us, last,
                                  fmp4_base, &paused);
    for (int tries = 1; status == QUEUE_ERROR; tries++) {
        job_report(job, WORKER_EVENT_REDIS_ERROR, 1);
        if (tries == 1)
            log_warn("checkpoint_failed", "job=%s segment=%d error=%s msg=%s", job->id, index,
                     log_quote(queue_last_error(queue)),
                     log_quote("retrying until the lease deadline"));
        if (atomic_load(&job->stop_reason) != JOB_RUNNING)
            return 1;
        if (!job_lease_valid(job)) {
            job_self_fence(job, "checkpoint");
            return 1;
        }
        usleep(CHECKPOINT_RETRY_MS * 1000);
        status = queue_checkpoint(queue, job->id, job->owner, job->epoch, index, duration_us, last,
                                  fmp4_base, &paused);
        if (status == QUEUE_OK)
            log_info("checkpoint_recovered", "job=%s segment=%d tries=%d", job->id, index,
                     tries + 1);
    }
    if (status == QUEUE_CANCELLED) {
        job_request_stop(job, JOB_STOP_CANCELLED);
        return 1;
    }
    if (status == QUEUE_FENCED || status == QUEUE_NOT_FOUND) {
        job_fenced(job, "checkpoint");
        return 1;
    }
    atomic_store(&job->paused, paused);
    job_report(job, WORKER_EVENT_SEGMENT, 1);
    log_info("segment", "job=%s segment=%d epoch=%lld worker=%s duration_us=%lld", job->id, index,
             (long long)job->epoch, job->owner, (long long)duration_us);
    return 0;
}

/* ---- delivery through the shim (delivery.h) ----------------------------- */

/* The delivery server's commit: the shim holds item in Jellyfin's folder. */
static int job_delivery_commit(void *opaque, struct queue *queue, const struct delivery_item *item)
{
    struct job *job = opaque;
    if (job_checkpoint(job, queue, item->index, item->duration_us, item->last,
                       item->fmp4_base[0] != '\0' ? item->fmp4_base : NULL) != 0)
        return 1;
    atomic_fetch_add(&job->delivered, 1);
    if (item->last)
        atomic_store(&job->delivered_last, 1);
    return 0;
}

static int job_delivery_may_serve(void *opaque)
{
    return job_lease_held(opaque);
}

/* Waits while more than `most` segments are made and not acknowledged:
 * the spool stays bounded, and a shim that stops asking ends the run.
 * Returns PIPELINE_OK, PIPELINE_STOPPED (the job stops: fenced, cancelled,
 * drained, the lease lost) or PIPELINE_ERROR (no shim asked for so long,
 * run->publish_error says so). */
static int job_delivery_wait(struct job_run *run, int most)
{
    struct job *job = run->job;
    long long timeout = job->config->worker_delivery_timeout_ms;
    while (delivery_pending(job->delivery) > most) {
        if (atomic_load(&job->stop_reason) != JOB_RUNNING)
            return PIPELINE_STOPPED;
        if (!job_lease_valid(job)) {
            job_self_fence(job, "delivery");
            return PIPELINE_STOPPED;
        }
        long long quiet = program_monotonic_ms() - delivery_last_request_ms(job->delivery);
        if (timeout > 0 && quiet > timeout) {
            snprintf(run->publish_error, sizeof(run->publish_error),
                     "no shim asked for the job's segments for %lld s (at %s): is the worker's "
                     "address reachable from Jellyfin's host (worker.advertise_host)?",
                     quiet / 1000, job->delivery_address);
            return PIPELINE_ERROR;
        }
        job_report_progress(job); /* waiting for the shim is not a hang */
        delivery_wait(job->delivery, 100);
    }
    return PIPELINE_OK;
}

/* A made segment goes to the delivery server with the playlist that lists
 * it; the pipeline then waits while worker.delivery_ahead segments are
 * unacknowledged. */
static int job_segment_offer(struct job_run *run, const struct pipeline_segment *segment)
{
    struct job *job = run->job;
    char err[512];
    struct delivery_item *item = calloc(1, sizeof(*item));
    if (item == NULL || job_record_duration(run, segment->index, segment->duration_us) != 0) {
        free(item);
        unlink(segment->final_path);
        snprintf(run->publish_error, sizeof(run->publish_error), "out of memory");
        return 1;
    }
    int count = segment->index - job->spec.start_number + 1;
    item->playlist = playlist_text(&job->spec, run->durations_us, count, segment->last,
                                   &item->playlist_len, err, sizeof(err));
    if (item->playlist == NULL) {
        free(item);
        unlink(segment->final_path);
        snprintf(run->publish_error, sizeof(run->publish_error), "%s", err);
        return 1;
    }
    item->index = segment->index;
    snprintf(item->path, sizeof(item->path), "%s", segment->final_path);
    item->duration_us = segment->duration_us;
    item->last = segment->last;
    snprintf(item->fmp4_base, sizeof(item->fmp4_base), "%s",
             segment->fmp4_base != NULL ? segment->fmp4_base : "");
    delivery_offer(job->delivery, item);
    log_info("segment_made", "job=%s segment=%d epoch=%lld duration_us=%lld", job->id,
             segment->index, (long long)job->epoch, (long long)segment->duration_us);
    run->segments_published++;
    if (segment->last)
        run->last_index = segment->index;
    return job_delivery_wait(run, (int)job->config->worker_delivery_ahead - 1) == PIPELINE_OK ? 0
                                                                                              : 1;
}

static int job_segment_done(void *opaque, const struct pipeline_segment *segment)
{
    struct job_run *run = opaque;
    struct job *job = run->job;

    job_test_hooks(job, segment->index);
    /* The commit point: never make a segment visible unless the lease is
     * still ours by our own clock. */
    if (atomic_load(&job->stop_reason) != JOB_RUNNING || !job_lease_valid(job)) {
        job_report(job, WORKER_EVENT_FENCED_WRITE, 1);
        log_warn("segment_refused", "job=%s segment=%d epoch=%lld msg=%s", job->id, segment->index,
                 (long long)job->epoch,
                 log_quote("lease no longer certainly ours; segment not published"));
        unlink(segment->temp_path);
        if (!job_lease_valid(job))
            job_self_fence(job, "publish");
        return 1;
    }
    if (rename(segment->temp_path, segment->final_path) != 0) {
        int error = errno;
        log_error("publish_failed", "job=%s segment=%d error=%s", job->id, segment->index,
                  log_quote(strerror(error)));
        unlink(segment->temp_path);
        /* ENOENT: the temporary file is gone, removed by a successor's
         * sweep, so this run has been replaced: a stop, not a failure. */
        if (error != ENOENT)
            snprintf(run->publish_error, sizeof(run->publish_error),
                     "cannot put segment %d in place at %s: %s", segment->index,
                     segment->final_path, strerror(error));
        return 1;
    }
    /* A delivered job's segment is in the spool: the shim's
     * acknowledgement, not this rename, is its checkpoint. */
    if (job->delivery != NULL)
        return job_segment_offer(run, segment);
    /* The segment is on disk: record it. */
    if (job_checkpoint(job, run->queue, segment->index, segment->duration_us, segment->last,
                       segment->fmp4_base) != 0)
        return 1;
    run->segments_published++;
    run->last_published = segment->last;
    if (segment->last)
        run->last_index = segment->index;

    job_test_hook_before_playlist(job, segment->index, segment->last);
    if (job_record_duration(run, segment->index, segment->duration_us) != 0)
        return 0;
    /* A refused playlist stops the run at once, but for the stream's last
     * segment: the stream is whole and recorded, so the job still tries to
     * complete (fenced in Redis), and a completion puts the final playlist
     * in place (job_complete). */
    int count = segment->index - job->spec.start_number + 1;
    if (job_publish_playlist(run, count, segment->last, JOB_PLAYLIST_UNDER_LEASE) == 1 &&
        !segment->last)
        return 1;
    return 0;
}

static void job_progress(void *opaque, const struct pipeline_progress *progress)
{
    struct job_run *run = opaque;
    struct job *job = run->job;
    struct queue_progress report = {
        .frames = progress->frames,
        .out_time_us = progress->out_time_us,
        .start_us = progress->start_us,
        .bytes = progress->bytes,
        .speed = progress->speed,
        .duration_us = progress->duration_us,
    };
    job_report(job, WORKER_EVENT_SPEED, progress->speed);
    int status = queue_report_progress(run->queue, job->id, job->owner, job->epoch, &report);
    if (status == QUEUE_FENCED)
        job_fenced(job, "progress");
    else if (status == QUEUE_CANCELLED)
        job_request_stop(job, JOB_STOP_CANCELLED);
}

/* ---- the job thread ----------------------------------------------------- */

/* Loads the durations of segments published by earlier owners, so that the
 * rebuilt playlist lists them too. */
static void job_load_durations(struct job_run *run)
{
    struct job *job = run->job;
    int count = job->first_index - job->spec.start_number;
    if (count <= 0 || job_record_duration(run, job->first_index - 1, 0) != 0)
        return;
    if (queue_segment_durations(run->queue, job->id, run->durations_us, count, &run->published) !=
        QUEUE_OK)
        log_warn("durations_unavailable", "job=%s error=%s", job->id,
                 log_quote(queue_last_error(run->queue)));
    if (job->spec.output_kind == JOB_OUTPUT_HLS && job->spec.segment_type == JOB_SEGMENT_FMP4 &&
        run->published.fmp4_base[0] == '\0')
        log_warn("fmp4_base_unknown", "job=%s msg=%s", job->id,
                 log_quote("no fragment time base recorded: resumed segments are placed as if "
                           "the job started at stream time 0"));
    /* Every duration known: a stream copy resumes with a seek instead of
     * reading the input from the start (pipeline.h). */
    int64_t sum = 0;
    for (int i = 0; i < count && sum >= 0; i++)
        sum = run->durations_us[i] > 0 ? sum + run->durations_us[i] : -1;
    run->resume_offset_us = sum > 0 ? sum : 0;
    for (int i = 0; i < count; i++)
        if (run->durations_us[i] <= 0)
            run->durations_us[i] = job->spec.hls_time_us;
}

/* Removes the temporary files "<final_path>.*.tmp" of other runs. */
static void job_remove_stale_temps_of(struct job *job, const char *final_path,
                                      const char *own_suffix)
{
    char pattern[JOB_SPEC_PATH_MAX + 16];
    snprintf(pattern, sizeof(pattern), "%s.*.tmp", final_path);
    glob_t found;
    if (glob(pattern, GLOB_NOSORT | GLOB_NOESCAPE, NULL, &found) != 0)
        return;
    for (size_t i = 0; i < found.gl_pathc; i++) {
        size_t len = strlen(found.gl_pathv[i]), suffix_len = strlen(own_suffix);
        if (len >= suffix_len && strcmp(found.gl_pathv[i] + len - suffix_len, own_suffix) == 0)
            continue;
        if (unlink(found.gl_pathv[i]) == 0)
            log_info("stale_temp_removed", "job=%s path=%s", job->id, log_quote(found.gl_pathv[i]));
    }
    globfree(&found);
}

/* A worker killed mid-segment leaves its temporary file (named for its
 * owner and epoch) beside the segment this run is about to write, or the one
 * after if it died between publishing and checkpointing, and one killed
 * while writing the playlist leaves its temporary playlist. Removes those;
 * a stalled owner still writing one only loses an unlinked file. */
static void job_remove_stale_temps(struct job *job, const char *own_suffix)
{
    for (int index = job->first_index; index <= job->first_index + 1; index++) {
        char final_path[JOB_SPEC_PATH_MAX];
        if (job_spec_segment_path(&job->spec, index, final_path, sizeof(final_path)) != 0)
            break;
        job_remove_stale_temps_of(job, final_path, own_suffix);
    }
    if (job->spec.output_kind == JOB_OUTPUT_HLS || job->spec.output_kind == JOB_OUTPUT_CLI_HLS)
        job_remove_stale_temps_of(job, job->spec.output, own_suffix);
}

/* A device check: its output and exit status are the job's result. A check
 * that cannot run (or hangs in a driver) fails the job with the reason. */
static void job_device_check(struct job *job, struct job_run *run)
{
    char *output = NULL, err[512];
    int exit_status = 0;
    if (device_check_run(&job->spec, DEVICE_CHECK_TIMEOUT_MS, QUEUE_RESULT_MAX, &output,
                         &exit_status, err, sizeof(err)) != 0) {
        job_report(job, WORKER_EVENT_JOB_FAILED, 1);
        log_error("job_failed", "job=%s epoch=%lld error=%s", job->id, (long long)job->epoch,
                  log_quote(err));
        queue_fail_until(run->queue, job->id, job->owner, job->epoch, err, job_deadline(job), NULL);
        return;
    }
    int status = queue_complete_until(run->queue, job->id, job->owner, job->epoch, output,
                                      exit_status, job_deadline(job), NULL);
    log_info("job_done", "job=%s epoch=%lld device_check_status=%d bytes=%zu status=%d", job->id,
             (long long)job->epoch, exit_status, strlen(output), status);
    free(output);
}

/* ---- CLI jobs ------------------------------------------------------------ */

/* The CLI runner's stop poll: as job_should_stop, but never waits (a pause
 * holds the CLI by signal: job_cli_paused). The watchdog hears of a CLI
 * only while it prints (job_cli_active) or is paused by request. */
static int job_cli_should_stop(void *opaque)
{
    struct job_run *run = opaque;
    struct job *job = run->job;
    if (atomic_load(&job->paused))
        job_report_progress(job);
    if (!job_lease_valid(job))
        job_self_fence(job, "cli");
    return atomic_load(&job->stop_reason) != JOB_RUNNING;
}

static void job_cli_active(void *opaque)
{
    struct job_run *run = opaque;
    job_report_progress(run->job);
}

static int job_cli_paused(void *opaque)
{
    struct job_run *run = opaque;
    return atomic_load(&run->job->paused);
}

/* A CLI job that is not a stream: run once; what it printed on stderr and
 * its exit status are the job's result, as a device check's. */
static void job_cli_once(struct job *job, struct job_run *run, const struct cli_callbacks *cb)
{
    char *output = NULL, err[512];
    int exit_status = 0;
    int ran = cli_run_once(&job->spec, job->config->worker_ffmpeg, cb, QUEUE_RESULT_MAX, &output,
                           &exit_status, err, sizeof(err));
    /* Delivered: the shim has the line's files before Jellyfin hears it
     * ended (one file served as it grew; several once the CLI exited). */
    if (ran == 0 && job->delivery != NULL) {
        int offered = 0, waited = PIPELINE_ERROR;
        if (job->delivery_file)
            delivery_end(job->delivery);
        else
            offered = delivery_offer_files(job->delivery, job->spool, err, sizeof(err));
        if (offered >= 0 && (waited = job_delivery_wait(run, 0)) != PIPELINE_OK)
            snprintf(err, sizeof(err), "%s", run->publish_error);
        log_info("cli_delivered", "job=%s files=%d single=%d ok=%d", job->id, offered,
                 job->delivery_file, waited == PIPELINE_OK);
        ran = waited == PIPELINE_OK ? 0 : waited == PIPELINE_STOPPED ? 1 : -1;
    }
    if (ran == 1) {
        free(output);
        log_info("job_stopped", "job=%s epoch=%lld reason=%d", job->id, (long long)job->epoch,
                 atomic_load(&job->stop_reason));
        return;
    }
    if (ran != 0) {
        free(output);
        job_report(job, WORKER_EVENT_JOB_FAILED, 1);
        log_error("job_failed", "job=%s epoch=%lld error=%s", job->id, (long long)job->epoch,
                  log_quote(err));
        queue_fail_until(run->queue, job->id, job->owner, job->epoch, err, job_deadline(job), NULL);
        return;
    }
    int status = queue_complete_until(run->queue, job->id, job->owner, job->epoch, output,
                                      exit_status, job_deadline(job), NULL);
    log_info("job_done", "job=%s epoch=%lld cli_status=%d bytes=%zu status=%d", job->id,
             (long long)job->epoch, exit_status, strlen(output), status);
    free(output);
}

/* The stream is whole: completes the job, then puts the final playlist in
 * place if it was refused after the last segment (the completion proves that
 * nobody else has written since this run's claim). */
static void job_complete(struct job_run *run, double seconds)
{
    struct job *job = run->job;
    if (run->last_published)
        job_test_hook_before_complete(job);
    int tries = 0;
    int status = queue_complete_until(run->queue, job->id, job->owner, job->epoch, NULL, 0,
                                      job_deadline(job), &tries);
    if (status == QUEUE_OK && run->last_index >= 0 && !run->playlist_ended && job->delivery == NULL)
        job_publish_playlist(run, run->last_index - job->spec.start_number + 1, 1,
                             JOB_PLAYLIST_COMPLETED);
    if (status == QUEUE_ERROR)
        log_warn("complete_failed", "job=%s epoch=%lld tries=%d error=%s msg=%s", job->id,
                 (long long)job->epoch, tries, log_quote(queue_last_error(run->queue)),
                 log_quote("the next owner finds the stream complete and completes it"));
    log_info("job_done", "job=%s epoch=%lld segments=%d seconds=%.2f status=%d tries=%d", job->id,
             (long long)job->epoch, run->segments_published, seconds, status, tries);
}

/* 1 if a progressive output already holds bytes (an earlier run wrote
 * them, and a reader may be tailing them). Delivered, the first segment
 * was committed before the shim's first byte was served (delivery.h). */
static int job_output_written(const struct job *job)
{
    if (job->delivery != NULL)
        return job->first_index > job->spec.start_number;
    struct stat st;
    return stat(job->spec.output, &st) == 0 && st.st_size > 0;
}

static void *job_main(void *arg)
{
    struct job *job = arg;
    struct job_run run = {.job = job, .published = {.last_index = -1}, .last_index = -1};
    char err[1024] = "";
    long long started = program_monotonic_ms();

    run.queue = queue_open(&job->queue_config);
    if (run.queue == NULL) {
        log_error("job_failed", "job=%s error=%s", job->id, "out of memory");
        goto done;
    }
    job_load_durations(&run);
    log_info("job_start", "job=%s epoch=%lld first_segment=%d takeover=%d input=%s", job->id,
             (long long)job->epoch, job->first_index, job->takeover, log_quote(job->spec.input));

    /* Temporary files carry the owner and epoch: a former owner that wakes
     * up after a stall writes into its own file, never into one this run
     * publishes. */
    snprintf(run.temp_suffix, sizeof(run.temp_suffix), ".%s.e%lld.tmp", job->owner,
             (long long)job->epoch);
    job_remove_stale_temps(job, run.temp_suffix);
    struct pipeline_callbacks callbacks = {
        .opaque = &run,
        .segment_done = job_segment_done,
        .should_stop = job_should_stop,
        .progress = job_progress,
        .temp_suffix = run.temp_suffix,
        .resume_offset_us = run.resume_offset_us,
        .fmp4_base = run.published.fmp4_base[0] != '\0' ? run.published.fmp4_base : NULL,
    };
    struct cli_callbacks cli = {
        .opaque = &run,
        .segment_done = job_segment_done,
        .should_stop = job_cli_should_stop,
        .paused = job_cli_paused,
        .active = job_cli_active,
        .progress = job_progress,
        .temp_suffix = run.temp_suffix,
        .resume_offset_us = run.resume_offset_us,
    };
    int result;
    if (job->spec.output_kind == JOB_OUTPUT_DEVICE_CHECK) {
        job_device_check(job, &run);
        goto done;
    }
    if (job_spec_is_cli(&job->spec) && job->config->worker_ffmpeg[0] == '\0') {
        /* Routing keeps CLI jobs from a worker without a CLI: not reached. */
        snprintf(err, sizeof(err), "this worker has no ffmpeg CLI (worker.ffmpeg is empty)");
        queue_fail_until(run.queue, job->id, job->owner, job->epoch, err, job_deadline(job), NULL);
        goto done;
    }
    if (job->spec.output_kind == JOB_OUTPUT_CLI && job->delivery_file &&
        job->first_index > job->spec.start_number) {
        /* As a progressive output: the shim holds the first run's bytes. */
        snprintf(err, sizeof(err), "output %s cannot be written again by another run",
                 job->spec.output);
        queue_fail_until(run.queue, job->id, job->owner, job->epoch, err, job_deadline(job), NULL);
        goto done;
    }
    if (job->spec.output_kind == JOB_OUTPUT_CLI) {
        job_cli_once(job, &run, &cli);
        goto done;
    }
    if (run.published.last_index >= 0 && job->first_index > run.published.last_index) {
        /* The owner before died or drained between checkpointing the last
         * segment and completing the job: the stream is whole, but its
         * playlist may lack the last segment and #EXT-X-ENDLIST (it died
         * before writing it): write it, then complete. */
        log_info("stream_already_complete", "job=%s epoch=%lld last_segment=%d", job->id,
                 (long long)job->epoch, run.published.last_index);
        run.last_index = run.published.last_index;
        /* A delivered stream's shim wrote it before acknowledging the
         * last segment. */
        if (job->delivery == NULL)
            job_publish_playlist(&run, run.last_index - job->spec.start_number + 1, 1,
                                 JOB_PLAYLIST_UNDER_LEASE);
        else
            delivery_end(job->delivery); /* the shim's next request is answered END */
        result = PIPELINE_OK;
    } else if (job->spec.output_kind == JOB_OUTPUT_PROGRESSIVE && job->epoch > 1 &&
               job_output_written(job)) {
        /* Jellyfin is tailing that file from the byte it has reached: a
         * second run would rewrite it from the start under the reader. A
         * run before this one that wrote nothing (handed back before its
         * start, a lost claim, a drain at once) leaves nothing to tail. */
        snprintf(err, sizeof(err), "progressive output %s cannot be resumed by another run",
                 job->spec.output);
        result = PIPELINE_ERROR;
    } else {
        if (job->spec.output_kind == JOB_OUTPUT_CLI_HLS)
            result = cli_run_hls(&job->spec, job->first_index, job->config->worker_ffmpeg, &cli,
                                 err, sizeof(err));
        else
            result = pipeline_run(&job->spec, job->first_index, &callbacks, err, sizeof(err));
        /* Delivered: the stream is whole once the shim has every segment. */
        if (result == PIPELINE_OK && job->delivery != NULL) {
            delivery_end(job->delivery);
            result = job_delivery_wait(&run, 0);
        }
    }
    int reason = atomic_load(&job->stop_reason);
    double seconds = (double)(program_monotonic_ms() - started) / 1000.0;

    /* Every segment delivered: the stream is whole, so the job completes
     * whatever stopped it since (a drain, a self-fence after the last
     * checkpoint) unless another owner holds it or it was cancelled.
     * Complete is fenced in Redis and writes nothing here: always safe to
     * try. */
    if (run.publish_error[0] != '\0' && reason == JOB_RUNNING) {
        result = PIPELINE_ERROR;
        snprintf(err, sizeof(err), "%s", run.publish_error);
    }
    if (result == PIPELINE_OK && reason != JOB_STOP_FENCED && reason != JOB_STOP_CANCELLED) {
        job_complete(&run, seconds);
    } else if (result == PIPELINE_ERROR && reason == JOB_RUNNING) {
        job_report(job, WORKER_EVENT_JOB_FAILED, 1);
        log_error("job_failed", "job=%s epoch=%lld error=%s", job->id, (long long)job->epoch,
                  log_quote(err));
        queue_fail_until(run.queue, job->id, job->owner, job->epoch, err, job_deadline(job), NULL);
    } else if (reason == JOB_STOP_DRAIN) {
        int tries = 0;
        int status = queue_release_until(run.queue, job->id, job->owner, job->epoch,
                                         job_deadline(job), &tries);
        log_info("job_released", "job=%s epoch=%lld segments=%d status=%d tries=%d", job->id,
                 (long long)job->epoch, run.segments_published, status, tries);
    } else {
        log_info("job_stopped", "job=%s epoch=%lld reason=%d segments=%d", job->id,
                 (long long)job->epoch, reason, run.segments_published);
    }

done:
    free(run.durations_us);
    queue_close(run.queue);
    atomic_store(&job->finished, 1);
    pthread_mutex_lock(&job->lock);
    pthread_cond_broadcast(&job->wake);
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

struct job *job_create(const struct ffpool_config *config, const struct queue_config *queue_config,
                       int report_fd, const char *owner, const struct queue_claim *claim, char *err,
                       size_t errlen)
{
    struct job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (job_spec_unpack(claim->spec, claim->spec_len, &job->spec, err, errlen) != 0) {
        free(job);
        return NULL;
    }
    snprintf(job->id, sizeof(job->id), "%s", claim->id);
    snprintf(job->owner, sizeof(job->owner), "%s", owner);
    job->epoch = claim->epoch;
    job->takeover = claim->takeover;
    job->first_index = claim->checkpoint + 1;
    if (job->first_index < job->spec.start_number)
        job->first_index = job->spec.start_number;
    job->config = config;
    job->queue_config = *queue_config;
    job->report_fd = report_fd;
    if (job->spec.deliver &&
        delivery_spool_prepare(&job->spec, config->worker_spool_dir, job->id, job->owner,
                               job->epoch, job->spool, sizeof(job->spool), err, errlen) != 0) {
        delivery_spool_remove(job->spool);
        free(job);
        return NULL;
    }
    pthread_mutex_init(&job->lock, NULL);
    pthread_condattr_t wake_attr;
    pthread_condattr_init(&wake_attr);
    pthread_condattr_setclock(&wake_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&job->wake, &wake_attr);
    pthread_condattr_destroy(&wake_attr);
    return job;
}

/* A deliver job's segment server, started before the first renewal
 * records its address. */
static int job_delivery_start(struct job *job)
{
    const struct ffpool_config *config = job->config;
    /* The spec's paths point into the spool (delivery_spool_prepare). */
    char init_path[JOB_SPEC_PATH_MAX + 64] = "";
    int pattern = 0;
    job->delivery_file = job->spec.output_kind == JOB_OUTPUT_PROGRESSIVE ||
                         (job->spec.output_kind == JOB_OUTPUT_CLI &&
                          job_spec_cli_outputs(&job->spec, NULL, &pattern) == 1 && !pattern);
    if (job->spec.segment_type == JOB_SEGMENT_FMP4 && job->first_index == job->spec.start_number)
        job_spec_init_path(&job->spec, init_path, sizeof(init_path));
    struct delivery_config delivery = {
        .listen_url = config->worker_delivery_listen,
        .advertise_host = config->worker_advertise_host,
        .token = config->api_token,
        .tls_cert = config->api_tls_cert,
        .tls_key = config->api_tls_key,
        .job_id = job->id,
        .epoch = job->epoch,
        .init_path = init_path,
        .file_path = job->delivery_file ? job->spec.output : "",
        .start_number = job->spec.start_number,
        .first_index = job->first_index,
        .queue_config = &job->queue_config,
    };
    struct delivery_callbacks callbacks = {
        .opaque = job,
        .may_serve = job_delivery_may_serve,
        .commit = job_delivery_commit,
    };
    char err[512];
    job->delivery = delivery_start(&delivery, &callbacks, job->delivery_address,
                                   sizeof(job->delivery_address), err, sizeof(err));
    if (job->delivery == NULL) {
        log_error("delivery_failed", "job=%s error=%s", job->id, log_quote(err));
        return -1;
    }
    log_info("delivery", "job=%s address=%s spool=%s", job->id, job->delivery_address,
             log_quote(job->spool));
    return 0;
}

int job_start(struct job *job, long long claim_started_ms)
{
    if (job->spec.deliver && job_delivery_start(job) != 0)
        return -1;
    job_set_deadline_from(job, claim_started_ms);
    if (pthread_create(&job->renew_thread, NULL, job_renew_main, job) != 0)
        return -1;
    job->threads_started = 1;
    if (pthread_create(&job->thread, NULL, job_main, job) != 0) {
        atomic_store(&job->finished, 1);
        job_request_stop(job, JOB_STOP_DRAIN);
        return -1;
    }
    job->threads_started |= 2;
    return 0;
}

void job_destroy(struct job *job)
{
    if (job == NULL)
        return;
    if (job->threads_started & 2)
        pthread_join(job->thread, NULL);
    if (job->threads_started & 1)
        pthread_join(job->renew_thread, NULL);
    delivery_stop(job->delivery);
    delivery_spool_remove(job->spool);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->wake);
    free(job);
}
