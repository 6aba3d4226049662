/* pipeline_pace.c -- -readrate: reads the input no faster than R times real
 * time, as the ffmpeg CLI's demuxer does.
 *
 * Jellyfin adds `-readrate 10` to HLS stream copies when it deletes old
 * segments behind the player, so that a remux does not race to the end of
 * the film and leave it all on disk; `-re` (live TV) is a rate of 1; from
 * version 8.0 on it adds `-readrate_catchup C`, the speed a read that fell
 * behind the rate may catch up at (the CLI before 8.0 catches up at once).
 *
 * The rule, per input stream: a packet whose timestamp lies d after that
 * stream's first packet in this run is read on only once R x (wall time
 * since the run's first packet) has reached d. A run that resumes a job
 * starts its own clock, as a CLI restarted at -ss would. Behind the rate,
 * with a catch-up speed C, progress since falling behind is held to C x
 * the wall time since. A leaf of the pipeline: it knows packets and
 * clocks, nothing of the stages, and calls no other part of the pipeline. */
#include "pipeline_pace.h"

#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>
#include <libavutil/time.h>

#include "pipeline.h"

struct pipeline_pace {
    double rate;       /* 0: off */
    double catchup;    /* 0: a read that fell behind catches up at once */
    int64_t *first_us; /* per input stream: its first packet's time, AV_NOPTS_VALUE before */
    unsigned streams;
    int64_t started;     /* wall clock (us) of the run's first packet, 0 before it */
    int64_t progress_us; /* the furthest progress read so far */
    int behind;          /* catching up since behind_since, from behind_progress_us */
    int64_t behind_since;
    int64_t behind_progress_us;
};

/* The longest single sleep: a stop request is noticed this soon. */
#define PACE_SLEEP_MAX_US 50000
/* Within this of the rate, a read counts as keeping up (not catching up). */
#define PACE_KEEPING_UP_US 1000

int pipeline_pace_open(struct pipeline_pace **out, const struct job_spec *spec, unsigned streams)
{
    struct pipeline_pace *p = *out = av_mallocz(sizeof(*p));
    if (p == NULL)
        return AVERROR(ENOMEM);
    p->rate = spec->readrate;
    p->catchup = spec->readrate_catchup;
    if (p->rate <= 0)
        return 0;
    p->first_us = av_malloc_array(streams > 0 ? streams : 1, sizeof(*p->first_us));
    if (p->first_us == NULL)
        return AVERROR(ENOMEM);
    for (unsigned i = 0; i < streams; i++)
        p->first_us[i] = AV_NOPTS_VALUE;
    p->streams = streams;
    return 0;
}

void pipeline_pace_free(struct pipeline_pace **p)
{
    if (*p != NULL)
        av_freep(&(*p)->first_us);
    av_freep(p);
}

/* How far (us of input time) the read may have got at wall time now. */
static int64_t pace_allowed(const struct pipeline_pace *p, int64_t now)
{
    int64_t allowed = (int64_t)((double)(now - p->started) * p->rate);
    if (p->catchup > 0 && p->behind) {
        int64_t burst =
            p->behind_progress_us + (int64_t)((double)(now - p->behind_since) * p->catchup);
        if (burst < allowed)
            allowed = burst;
    }
    return allowed;
}

int pipeline_pace_wait(struct pipeline_pace *p, const AVPacket *pkt, AVRational tb,
                       int (*stopped)(void *opaque), void *opaque)
{
    if (p->rate <= 0 || pkt->stream_index < 0 || (unsigned)pkt->stream_index >= p->streams)
        return PIPELINE_OK;
    int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (ts == AV_NOPTS_VALUE)
        return PIPELINE_OK;
    int64_t at_us = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
    int64_t now = av_gettime_relative();
    if (p->started == 0)
        p->started = now;
    if (p->first_us[pkt->stream_index] == AV_NOPTS_VALUE)
        p->first_us[pkt->stream_index] = at_us;
    int64_t progress = at_us - p->first_us[pkt->stream_index];

    /* Fell behind the rate since the last packet (a stall, a pause): from
     * here progress is held to the catch-up speed until it is back. */
    int64_t rate_line = (int64_t)((double)(now - p->started) * p->rate);
    if (!p->behind && p->progress_us + PACE_KEEPING_UP_US < rate_line) {
        p->behind = 1;
        p->behind_since = now;
        p->behind_progress_us = p->progress_us;
    } else if (p->behind && p->progress_us + PACE_KEEPING_UP_US >= rate_line) {
        p->behind = 0;
    }
    for (;;) {
        int64_t allowed = pace_allowed(p, now);
        if (progress <= allowed)
            break;
        int ret = stopped(opaque);
        if (ret != PIPELINE_OK)
            return ret;
        double speed = p->behind && p->catchup > 0 ? p->catchup : p->rate;
        int64_t wait = (int64_t)((double)(progress - allowed) / speed) + 1;
        av_usleep((unsigned)(wait < PACE_SLEEP_MAX_US ? wait : PACE_SLEEP_MAX_US));
        now = av_gettime_relative();
    }
    if (progress > p->progress_us)
        p->progress_us = progress;
    return PIPELINE_OK;
}
