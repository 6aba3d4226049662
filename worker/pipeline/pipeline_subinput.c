/* pipeline_subinput.c -- the run's second input: an external subtitle file
 * (a PGS .sup, DVD subtitles in .mks/.mkv or .idx/.sub) whose bitmap stream
 * the -filter_complex graph burns in, named there [1:N], as Jellyfin adds it
 * after the media file:
 *   -i file:MEDIA -analyzeduration D -probesize S -ss T -canvas_size WxH
 *   -i file:SUBTITLES ... -filter_complex "[1:0]scale...[sub];[0:0]...[main];
 *                                           [main][sub]overlay..."
 *
 * It is opened as the CLI opens it (its own probe options), and its packets
 * are moved onto the first input's clock as the CLI moves them: each input
 * starts at 0 (its own start time taken off) unless -copyts without
 * -start_at_zero keeps both as they are (Jellyfin's line). The driver asks
 * for the packets due before each video packet of the first input, so the
 * subtitle stage (pipeline_subtitle.c) gets them in time order with the
 * video, as it gets the packets of a subtitle stream of the first input.
 *
 * A run that starts mid-stream (-ss, or a resumed run after a takeover)
 * seeks it to a while before its start, as pipeline_subtitle.c's look-back
 * reads the first input: the subtitle stage keeps, of what starts before the
 * first frame, only what is still on screen, so a resumed run draws what a
 * run from the start draws. Owns its AVFormatContext and one packet; calls
 * nothing of the pipeline but the run's error sink. */
#include "pipeline_subinput.h"

#include <stdio.h>
#include <string.h>

#include <libavutil/mathematics.h>
#include <libavutil/mem.h>

/* How far before a mid-stream run's start the file is read again (PGS and
 * DVD subtitles last seconds); pipeline_subtitle.c looks as far back. */
#define SUBINPUT_LOOKBACK_US 10000000

struct pipeline_subinput {
    struct pipeline_run *run;
    AVFormatContext *format; /* NULL if opening failed */
    int stream;              /* the subtitle stream read, -1 before start */
    int64_t offset_us;       /* added to its times: the first input's clock */
    AVPacket *pkt;           /* the packet read ahead, when pending */
    int64_t pkt_us;          /* its time on the first input's clock */
    int pending, eof;
};

int pipeline_subinput_open(struct pipeline_subinput **out, struct pipeline_run *run)
{
    const struct job_spec *spec = run->spec;
    AVDictionary *options = NULL;
    char url[JOB_SPEC_PATH_MAX + 8];
    struct pipeline_subinput *s = *out = av_mallocz(sizeof(*s));
    if (s == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "open subtitle input %s", spec->subtitle_input);
    s->run = run;
    s->stream = -1;
    s->pkt = av_packet_alloc();
    if (s->pkt == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "open subtitle input %s", spec->subtitle_input);
    /* Through the file protocol, so a ':' in a file name is never taken for
     * a protocol. */
    snprintf(url, sizeof(url), "file:%s", spec->subtitle_input);
    int averr = 0;
    if (spec->subtitle_analyzeduration_us >= 0)
        averr = av_dict_set_int(&options, "analyzeduration", spec->subtitle_analyzeduration_us, 0);
    if (averr >= 0 && spec->subtitle_probesize >= 0)
        averr = av_dict_set_int(&options, "probesize", spec->subtitle_probesize, 0);
    if (averr >= 0)
        averr = avformat_open_input(&s->format, url, NULL, &options);
    av_dict_free(&options);
    if (averr < 0)
        return pipeline_fail(run, averr, "open subtitle input %s", spec->subtitle_input);
    averr = avformat_find_stream_info(s->format, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "read the streams of subtitle input %s",
                             spec->subtitle_input);
    return PIPELINE_OK;
}

AVFormatContext *pipeline_subinput_format(const struct pipeline_subinput *s)
{
    return s->format;
}

int pipeline_subinput_start(struct pipeline_subinput *s, int stream,
                            const struct pipeline_timeline *t, int64_t main_origin_us)
{
    const struct job_spec *spec = s->run->spec;
    AVFormatContext *format = s->format;
    if (stream < 0 || (unsigned)stream >= format->nb_streams)
        return pipeline_fail(s->run, 0, "subtitle input %s has no stream %d", spec->subtitle_input,
                             stream);
    s->stream = stream;
    for (unsigned i = 0; i < format->nb_streams; i++)
        if ((int)i != stream)
            format->streams[i]->discard = AVDISCARD_ALL;
    /* The CLI's input ts_offset: each input's own start time is taken off,
     * unless -copyts without -start_at_zero keeps the times as they are. */
    int64_t origin_us = format->start_time != AV_NOPTS_VALUE ? format->start_time : 0;
    s->offset_us = spec->copyts && !spec->start_at_zero ? 0 : main_origin_us - origin_us;
    if (!t->trim)
        return PIPELINE_OK;
    /* A seek that fails leaves the file at its start: it is then read from
     * there, which finds the same subtitles, only slower. */
    int64_t from = t->origin_us + t->start_us - SUBINPUT_LOOKBACK_US - s->offset_us;
    if (from > origin_us)
        avformat_seek_file(format, -1, INT64_MIN, from, from, 0);
    return PIPELINE_OK;
}

int pipeline_subinput_next(struct pipeline_subinput *s, int64_t until_us, AVPacket **pkt)
{
    *pkt = NULL;
    if (!s->pending)
        av_packet_unref(s->pkt); /* the one handed out last */
    while (!s->pending && !s->eof) {
        int averr = av_read_frame(s->format, s->pkt);
        if (averr == AVERROR_EOF) {
            s->eof = 1;
            break;
        }
        if (averr < 0)
            return pipeline_fail(s->run, averr, "read subtitle input %s",
                                 s->run->spec->subtitle_input);
        AVStream *st = s->format->streams[s->pkt->stream_index];
        int64_t ts = s->pkt->pts != AV_NOPTS_VALUE ? s->pkt->pts : s->pkt->dts;
        if (s->pkt->stream_index != s->stream || ts == AV_NOPTS_VALUE) {
            av_packet_unref(s->pkt); /* nothing to show it at */
            continue;
        }
        /* Onto the first input's clock, in the stream's own time base, as
         * the CLI adds its ts_offset. */
        int64_t shift = av_rescale_q(s->offset_us, AV_TIME_BASE_Q, st->time_base);
        s->pkt->pts = ts + shift;
        if (s->pkt->dts != AV_NOPTS_VALUE)
            s->pkt->dts += shift;
        s->pkt_us = av_rescale_q(s->pkt->pts, st->time_base, AV_TIME_BASE_Q);
        s->pending = 1;
    }
    if (!s->pending || s->pkt_us > until_us)
        return PIPELINE_OK;
    s->pending = 0;
    *pkt = s->pkt;
    return PIPELINE_OK;
}

void pipeline_subinput_close(struct pipeline_subinput **sp)
{
    struct pipeline_subinput *s = *sp;
    if (s == NULL)
        return;
    av_packet_free(&s->pkt);
    avformat_close_input(&s->format);
    av_freep(sp);
}
