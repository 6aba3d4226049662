/* cli_job.h -- runs a job on the worker's ffmpeg CLI (worker.ffmpeg): a
 * Jellyfin line the libav pipeline does not take.
 *
 * An HLS stream (JOB_OUTPUT_CLI_HLS) runs as a native one does, segment by
 * segment: the CLI writes into a folder private to the run, beside the
 * playlist; each segment its playlist lists (the run's playlist is an
 * event one, which hlsenc rewrites after closing each segment) goes to the
 * caller's segment_done, which
 * publishes it under the lease and checkpoints it. A run that starts at
 * segment k > start_number restarts the CLI the way Jellyfin restarts
 * after a seek: -ss at k x T (from the line's own -ss), -start_number k,
 * and the keyframe expression's origin moved to k x T, so its segments cut
 * where the uninterrupted run's did. Nothing the CLI writes reaches
 * Jellyfin's folder except through segment_done.
 *
 * Anything else (JOB_OUTPUT_CLI: images, extraction, scans) runs once, as
 * given; what the CLI prints on stderr and its exit status are the job's
 * result.
 *
 * The CLI runs in a process group of its own, dies with the job process
 * (PR_SET_PDEATHSIG), reads nothing from stdin, and is SIGKILLed when the
 * job stops. */
#ifndef FFPOOL_WORKER_CLI_JOB_H
#define FFPOOL_WORKER_CLI_JOB_H

#include <stddef.h>

#include "job_spec.h"
#include "pipeline.h"

struct cli_callbacks {
    void *opaque;
    /* As pipeline_callbacks.segment_done (CLI_HLS only). */
    int (*segment_done)(void *opaque, const struct pipeline_segment *segment);
    /* Polled every 100 ms; must not block. Non-zero stops the CLI. */
    int (*should_stop)(void *opaque);
    /* Polled with should_stop: non-zero holds the CLI (SIGSTOP) until it
     * returns 0 again (Jellyfin's throttling). May be NULL. */
    int (*paused)(void *opaque);
    /* Optional: called after a poll in which the CLI printed something
     * (its liveness, for a watchdog). */
    void (*active)(void *opaque);
    /* Optional: the CLI's -progress reports (CLI_HLS only). */
    void (*progress)(void *opaque, const struct pipeline_progress *progress);
    /* Names the run's private folder (".ffpool-cli" + suffix beside the
     * playlist): unique to the owner and epoch, as pipeline_callbacks. */
    const char *temp_suffix;
    /* For a run that resumes: the sum of the durations of the segments
     * published before it (0: unknown). With it the CLI restarts exactly at
     * the frame the next segment begins with (see cli_job.c). */
    int64_t resume_offset_us;
};

/* Runs a CLI_HLS job from segment first_index on the CLI at ffmpeg (a path
 * or a name looked up in PATH). Returns a pipeline_result: PIPELINE_OK when
 * the CLI exited 0 and every segment it listed was delivered; on
 * PIPELINE_ERROR err holds the CLI's exit status and its last stderr line. */
int cli_run_hls(const struct job_spec *spec, int first_index, const char *ffmpeg,
                const struct cli_callbacks *cb, char *err, size_t errlen);

/* Runs a CLI job once. Returns 0 with what the CLI printed on stderr in a
 * malloc'd *output (at most output_max - 1 bytes: beyond that its start and
 * its end, with a line saying what was left out) and its exit status in
 * *status (128 + N if signal N ended it), 1 if should_stop stopped it, or
 * -1 with a sentence in err when it could not be started. */
int cli_run_once(const struct job_spec *spec, const char *ffmpeg, const struct cli_callbacks *cb,
                 size_t output_max, char **output, int *status, char *err, size_t errlen);

#endif
