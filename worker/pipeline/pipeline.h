/* pipeline.h -- the worker's libav transcode pipeline.
 *
 * This is the only part of ffpool that calls libavformat, libavcodec,
 * libavfilter, libswscale and libswresample. It turns a struct job_spec into
 * HLS segments on disk, starting at any segment index, and knows nothing of
 * Redis, leases or nng: the caller learns about each finished segment through
 * callbacks and decides whether it may be published.
 *
 * Segment timing contract (what makes takeover invisible to a player):
 *  - Segment k covers stream time [k*T, (k+1)*T) where stream time 0 is the
 *    input's start time and T = spec->hls_time_us. Its first video frame is
 *    the first frame with pts >= k*T, encoded as an IDR.
 *  - Output timestamps are a pure function of the input timestamps, the same
 *    on every worker and every run, so a run started at segment k produces
 *    segments k.. that continue the timeline of a run started earlier.
 *  - The first segment of a job (first_index == spec->start_number) starts
 *    at spec->seek_us when an input -ss was given, else at start_number*T;
 *    a resumed run (first_index > start_number) starts at first_index*T.
 *    Boundaries after the first are always at absolute multiples of T.
 *  - The audio frame grid is anchored to stream time 0, not to the start of
 *    the run.
 *  - A segment is written to a temporary file beside its final path; the
 *    pipeline never creates the final file itself. The caller publishes it
 *    (rename) from the segment callback, so a killed worker never leaves a
 *    half-written segment under a name Jellyfin would serve.
 *
 * Video copy (video_codec "copy"): segments start on source keyframes, as
 * the ffmpeg CLI's hls muxer cuts them: the job's first segment at the first
 * keyframe at or after the job's start, segment start_number+n at the first
 * later keyframe at or after boundary (k0+n)*T (k0 = the job start's
 * boundary). With a keyframe at least every T that is the first keyframe at
 * or after k*T; with sparser keyframes the numbering follows the CLI's. A
 * resumed run replays that rule over the input's keyframes (demuxing only)
 * to find where its first segment starts. Packets go through -bsf:v; with
 * -copyts -start_at_zero timestamps are moved so the input starts at 0.
 *
 * fMP4 (segment_type fmp4): each segment file is one styp+sidx+moof+mdat
 * fragment; the init segment (ftyp+moov) is written beside the playlist
 * under init_filename, atomically, by the job's first run (replacing one a
 * former job left, as the ffmpeg CLI does) and never overwritten by a
 * resumed run, whose moov (edit list) would differ. A resumed run's
 * fragments carry the decode and presentation times (tfdt, sidx) and the
 * sequence numbers (mfhd) that the uninterrupted run's would, so a player
 * reads one timeline across a takeover (see cb->fmp4_base).
 *
 * Progressive output (output_kind JOB_OUTPUT_PROGRESSIVE): one muxer writes
 * spec->output directly while it grows (Jellyfin tails it); first_index is
 * ignored (a progressive job always starts from its beginning) and
 * segment_done is never called: the file is complete (trailer written) when
 * pipeline_run returns PIPELINE_OK. (So a caller that writes a playlist from
 * segment_done never writes one over a progressive output.) */
#ifndef FFPOOL_WORKER_PIPELINE_H
#define FFPOOL_WORKER_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "job_spec.h"

struct pipeline_segment {
    int index;              /* absolute segment number, as in the file name */
    const char *temp_path;  /* complete segment, written and closed */
    const char *final_path; /* where the caller should publish it */
    int64_t start_us;       /* stream time of its first frame */
    int64_t duration_us;    /* its length, for #EXTINF */
    int last;               /* 1 for the final segment of the input */
    /* fMP4, the job's first segment only: the base its fragment times are
     * counted from (fmp4_times.h), to be recorded with its checkpoint and
     * handed to every later run as pipeline_callbacks.fmp4_base. NULL
     * otherwise. */
    const char *fmp4_base;
};

struct pipeline_progress {
    int64_t frames;      /* video frames encoded in this run */
    int64_t out_time_us; /* stream time reached */
    int64_t start_us;    /* stream time of the job's first output: what ffmpeg's
                            time= counts from (it prints out_time_us - start_us) */
    int64_t bytes;       /* bytes written in this run */
    double speed;        /* out_time advance / wall time, this run */
    int64_t duration_us; /* the input's duration, 0 if unknown */
};

struct pipeline_callbacks {
    void *opaque;
    /* A segment is complete in temp_path. Return 0 to go on (the callback
     * has published or discarded it), non-zero to stop the run at once
     * (lease lost, job cancelled, worker draining). */
    int (*segment_done)(void *opaque, const struct pipeline_segment *segment);
    /* Polled at least once per decoded frame. Non-zero stops the run. */
    int (*should_stop)(void *opaque);
    /* Optional; called about once per second of wall time, and once more
     * just before the last segment is delivered. */
    void (*progress)(void *opaque, const struct pipeline_progress *progress);
    /* Appended to a segment's final path to name its temporary file (NULL:
     * ".tmp"). Must be unique to the run: a stalled former owner that wakes
     * up must never write into the file a new owner is about to publish. */
    const char *temp_suffix;
    /* Optional, for a resumed stream copy: how far (us of stream time)
     * segment first_index begins after the job's first segment, i.e. the
     * sum of the durations the runs before published. With it the run seeks
     * straight there and checks that a keyframe starts the segment at that
     * time; without it (0), or when the check fails, it replays the
     * keyframes from the job's start, reading the whole input up to there. */
    int64_t resume_offset_us;
    /* Optional, for a resumed fMP4 run: the fmp4_base the job's first run
     * handed out with its first segment. With it the run's fragments carry
     * the times the uninterrupted run's would; without it (NULL) they are
     * placed as if the job had started at stream time 0. */
    const char *fmp4_base;
};

enum pipeline_result {
    PIPELINE_OK = 0,      /* every segment to the end of input was delivered */
    PIPELINE_STOPPED = 1, /* a callback asked to stop */
    PIPELINE_ERROR = -1,  /* err says why (bad input, codec, disk...) */
};

/* Transcodes spec from segment first_index (>= spec->start_number) to the end
 * of the input, calling cb->segment_done once per segment in index order.
 * Returns a pipeline_result; on PIPELINE_ERROR err holds one sentence naming
 * the failing step and libav's reason. Frees everything it allocated on
 * every path. */
int pipeline_run(const struct job_spec *spec, int first_index, const struct pipeline_callbacks *cb,
                 char *err, size_t errlen);

#endif
