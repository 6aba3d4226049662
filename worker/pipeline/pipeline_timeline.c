/* pipeline_timeline.c -- the run's place on the stream timeline and the
 * segment boundaries (see pipeline_timeline.h).
 *
 * Pure arithmetic: every function here is a function of its arguments. It
 * must never read the input, keep state between calls or call another part
 * of the pipeline: a stage on either of a run's threads may call it. */
#include "pipeline_timeline.h"

#include <string.h>

#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>

/* A progressive output is one "segment" this long (a century). */
#define TIMELINE_PROGRESSIVE_SPAN_US (100LL * 365 * 24 * 3600 * 1000000)

/* ---- placing a run ------------------------------------------------------------- */

void timeline_place_job(struct pipeline_timeline *t, const struct job_spec *spec, int first_index,
                        int64_t origin_us)
{
    memset(t, 0, sizeof(*t));
    t->origin_us = origin_us;
    t->start_number = spec->start_number;
    t->first_index = first_index;
    t->copy_start_ts = INT64_MIN;
    t->copy_job_start_ts = INT64_MIN;
    if (spec->output_kind == JOB_OUTPUT_PROGRESSIVE) {
        /* One file from the start (or the -ss point): a single "segment". */
        t->first_index = spec->start_number;
        t->hls_time_us = TIMELINE_PROGRESSIVE_SPAN_US;
        t->job_start_us = spec->seek_us != JOB_SPEC_UNSET ? spec->seek_us : 0;
    } else {
        t->hls_time_us = spec->hls_time_us;
        t->job_start_us = spec->seek_us != JOB_SPEC_UNSET ? spec->seek_us
                                                          : spec->start_number * spec->hls_time_us;
    }
    t->job_boundary = timeline_floor_div(t->job_start_us, t->hls_time_us);
}

void timeline_start_job_at_keyframe(struct pipeline_timeline *t, int64_t ts, AVRational tb)
{
    t->copy_job_start_ts = ts;
    t->job_start_us = timeline_stream_time_us(t, ts, tb);
    t->job_boundary = timeline_floor_div(t->job_start_us, t->hls_time_us);
}

void timeline_place_run(struct pipeline_timeline *t)
{
    t->start_us = timeline_resumed(t) ? t->first_index * t->hls_time_us : t->job_start_us;
}

void timeline_resume_at_keyframe(struct pipeline_timeline *t, int64_t ts, int64_t start_us)
{
    t->copy_start_ts = ts;
    t->start_us = start_us;
}

void timeline_fix_start(struct pipeline_timeline *t)
{
    t->trim = t->start_us > 0;
    t->first_boundary = timeline_floor_div(t->start_us, t->hls_time_us);
}

/* ---- reading it ------------------------------------------------------------------- */

int timeline_resumed(const struct pipeline_timeline *t)
{
    return t->first_index > t->start_number;
}

int64_t timeline_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t timeline_stream_ts(const struct pipeline_timeline *t, int64_t stream_us, AVRational tb)
{
    return av_rescale_q_rnd(t->origin_us + stream_us, AV_TIME_BASE_Q, tb,
                            AV_ROUND_UP | AV_ROUND_PASS_MINMAX);
}

int64_t timeline_boundary_ts(const struct pipeline_timeline *t, int64_t k, AVRational tb)
{
    return timeline_stream_ts(t, k * t->hls_time_us, tb);
}

int64_t timeline_boundary_index(const struct pipeline_timeline *t, int64_t ts, AVRational tb)
{
    int64_t k = timeline_floor_div(timeline_stream_time_us(t, ts, tb), t->hls_time_us);
    /* The rounding to microseconds can be off by one near a boundary; settle
     * it with exact comparisons in tb. */
    while (timeline_boundary_ts(t, k + 1, tb) <= ts)
        k++;
    while (timeline_boundary_ts(t, k, tb) > ts)
        k--;
    return k;
}

int64_t timeline_stream_time_us(const struct pipeline_timeline *t, int64_t ts, AVRational tb)
{
    return av_rescale_q(ts, tb, AV_TIME_BASE_Q) - t->origin_us;
}

/* ---- the copy cutter ---------------------------------------------------------------- */

void timeline_cutter_init(struct timeline_cutter *c, const struct pipeline_timeline *t,
                          AVRational tb)
{
    memset(c, 0, sizeof(*c));
    c->tb = tb;
    c->next_index = t->start_number;
    if (t->copy_job_start_ts != INT64_MIN)
        c->start_ts = t->copy_job_start_ts; /* tb is the input video stream's, as there */
    else
        c->start_ts = t->job_start_us > 0 ? timeline_stream_ts(t, t->job_start_us, tb) : INT64_MIN;
}

void timeline_cutter_init_run(struct timeline_cutter *c, const struct pipeline_timeline *t,
                              AVRational tb)
{
    timeline_cutter_init(c, t, tb);
    if (t->copy_start_ts != INT64_MIN) {
        /* A resumed run: its first segment starts at the keyframe the
         * replay of the cutter found (pipeline_input.c). */
        c->start_ts = t->copy_start_ts;
        c->next_index = t->first_index;
    }
}

int timeline_cutter_step(struct timeline_cutter *c, const struct pipeline_timeline *t, int64_t pts,
                         int key, struct segment_cut *cut)
{
    if (!c->started) {
        if (!key || pts == AV_NOPTS_VALUE || pts < c->start_ts)
            return -1;
    } else if (!key || pts == AV_NOPTS_VALUE || pts < c->next_cut_ts) {
        return 0;
    }
    int64_t boundary = t->job_boundary + (c->next_index - t->start_number);
    cut->index = c->next_index;
    cut->boundary = boundary;
    cut->pts = pts;
    cut->start_us = timeline_stream_time_us(t, pts, c->tb);
    cut->split = AV_NOPTS_VALUE;
    c->started = 1;
    c->next_index++;
    c->next_cut_ts = timeline_boundary_ts(t, boundary + 1, c->tb);
    return 1;
}
