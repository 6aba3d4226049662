/* pipeline_timeline.h -- where a run stands on the stream's timeline, and
 * where its segments begin: the arithmetic behind pipeline.h's timing
 * contract.
 *
 * "Stream time" is input time minus origin_us (the input's start time):
 * segment k covers stream time [k*T, (k+1)*T). The job starts at its -ss
 * time or at start_number*T; a run starts at the job's start or, resumed,
 * at first_index*T; transcoded video is cut at the first frame at or after
 * each boundary, copied video at keyframes by the ffmpeg CLI's rule (the
 * cutter below). Every answer here is a function of the job and of input
 * timestamps only, never of where a run started, which is what lets a run
 * started at segment k continue the timeline of a run started earlier.
 *
 * A leaf of the pipeline: pure functions over a struct pipeline_timeline,
 * no I/O, no other part of the pipeline. pipeline.c places the run (the
 * timeline_place_* and timeline_*_at_keyframe calls, in the order below);
 * the stages only read it. */
#ifndef FFPOOL_WORKER_PIPELINE_TIMELINE_H
#define FFPOOL_WORKER_PIPELINE_TIMELINE_H

#include <stdint.h>

#include <libavutil/rational.h>

#include "job_spec.h"

struct pipeline_timeline {
    int64_t origin_us;         /* input start time, absolute: stream time 0 */
    int64_t hls_time_us;       /* T: segment k covers stream time [k*T, (k+1)*T) */
    int start_number;          /* file number of the job's first segment */
    int first_index;           /* file number of this run's first segment */
    int64_t start_us;          /* stream time where this run's first segment begins */
    int64_t first_boundary;    /* boundary number k of start_us; the first segment's k is
                                  never below it (AAC priming can precede stream time 0) */
    int trim;                  /* 1 when start_us > 0: frames and samples before it are dropped */
    int64_t job_start_us;      /* stream time where the job's first segment begins */
    int64_t job_boundary;      /* boundary number of job_start_us */
    int64_t copy_job_start_ts; /* copy with -ss: pts (video time base) of the keyframe the
                                  job starts on (the last at or before -ss), else INT64_MIN */
    int64_t copy_start_ts;     /* copy, resumed run: pts (video time base) of this run's
                                  first keyframe, else INT64_MIN */
};

/* ---- placing a run (pipeline.c, in this order) ------------------------------- */

/* Places the job on an input starting at absolute time origin_us: its start
 * (-ss, else start_number*T; a progressive output is one segment from -ss
 * or 0, whatever first_index says). */
void timeline_place_job(struct pipeline_timeline *t, const struct job_spec *spec, int first_index,
                        int64_t origin_us);

/* Video copy with -ss: the job starts on the keyframe at pts ts (time base
 * tb) instead, where the ffmpeg CLI's copy starts. */
void timeline_start_job_at_keyframe(struct pipeline_timeline *t, int64_t ts, AVRational tb);

/* Places the run's first segment: at the job's start, or at first_index*T
 * for a resumed run. */
void timeline_place_run(struct pipeline_timeline *t);

/* Video copy, resumed run: its first segment starts on the keyframe at pts
 * ts, stream time start_us (found by replaying the cutter's rule). */
void timeline_resume_at_keyframe(struct pipeline_timeline *t, int64_t ts, int64_t start_us);

/* Derives trim and first_boundary from the final start_us. */
void timeline_fix_start(struct pipeline_timeline *t);

/* ---- reading it -------------------------------------------------------------- */

/* Whether this run resumes the job (its first segment is after the job's
 * first), as opposed to starting it. */
int timeline_resumed(const struct pipeline_timeline *t);

/* Rounds a / b towards minus infinity (b > 0). */
int64_t timeline_floor_div(int64_t a, int64_t b);

/* The smallest timestamp in tb that lies at or after stream time stream_us. */
int64_t timeline_stream_ts(const struct pipeline_timeline *t, int64_t stream_us, AVRational tb);

/* The smallest timestamp in tb that lies at or after stream time k*T. */
int64_t timeline_boundary_ts(const struct pipeline_timeline *t, int64_t k, AVRational tb);

/* The boundary number k such that ts lies in stream time [k*T, (k+1)*T). */
int64_t timeline_boundary_index(const struct pipeline_timeline *t, int64_t ts, AVRational tb);

/* Stream time of ts, in microseconds. */
int64_t timeline_stream_time_us(const struct pipeline_timeline *t, int64_t ts, AVRational tb);

/* ---- cuts ---------------------------------------------------------------------- */

/* Where a new segment begins: attached by the video stage to the packet of
 * the frame it forced to be an IDR (or of the keyframe a copy cuts at), and
 * what the segment writer cuts by. */
struct segment_cut {
    int index;        /* file number */
    int64_t boundary; /* k: its first frame lies in stream time [k*T, (k+1)*T) */
    int64_t pts;      /* that frame's pts, in the video encoder's time base */
    int64_t start_us; /* that frame's stream time */
    /* Audio before this (video time base) belongs to the previous segment;
     * AV_NOPTS_VALUE: the first packet's dts (stream copy, where every run
     * sees the same packets). */
    int64_t split;
};

/* Where copied video is cut, the ffmpeg CLI's hls rule made absolute: the
 * job's first segment starts at the first keyframe at or after the job's
 * start (with -ss, the keyframe the CLI's seek lands on: the last at or
 * before it, copy_job_start_ts); segment n after it starts at the first
 * later keyframe at or after boundary (job_boundary + n) * T. A function of
 * the source alone, so a resumed run can replay it to find where its first
 * segment starts. */
struct timeline_cutter {
    int started;
    int next_index;      /* file number of the next segment */
    int64_t next_cut_ts; /* keyframes at or past it start a segment (video time base) */
    int64_t start_ts;    /* earlier packets are dropped before the first segment */
    AVRational tb;
};

/* Sets up a cutter over packets in time base tb for a run from the job's
 * start (index start_number). */
void timeline_cutter_init(struct timeline_cutter *c, const struct pipeline_timeline *t,
                          AVRational tb);

/* Sets up the cutter of this run: from the job's start, or, resumed, from
 * the keyframe its first segment starts on (copy_start_ts). */
void timeline_cutter_init_run(struct timeline_cutter *c, const struct pipeline_timeline *t,
                              AVRational tb);

/* Whether a packet (pts in c->tb; key 1 for a keyframe) starts a segment;
 * fills cut if so. Returns 1 (cut), 0 (goes into the open segment) or -1
 * (before the first segment: drop it). */
int timeline_cutter_step(struct timeline_cutter *c, const struct pipeline_timeline *t, int64_t pts,
                         int key, struct segment_cut *cut);

#endif
