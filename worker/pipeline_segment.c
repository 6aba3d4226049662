/* pipeline_segment.c -- cuts encoded packets into HLS MPEG-TS segments.
 *
 * The only part of the pipeline that muxes. Each segment is its own mpegts
 * muxer writing to "<final path>.tmp"; when the segment is complete (trailer
 * written, file closed) segment_done hands it to the caller, who publishes
 * it. The writer never creates a final path itself and removes the temp file
 * of a segment it abandons, so a stopped run leaves nothing half-written.
 *
 * Where segments are cut: with video, at the packet the video stage marked
 * with a struct segment_cut (the IDR that starts segment k). Audio packets
 * belong to the segment whose video was on screen at their pts, so an audio
 * packet at or past the current segment's nominal end waits in a queue until
 * the next cut says which side of it the packet falls. Audio-only runs cut
 * on the audio packets themselves.
 *
 * Timestamps: output = input timestamp + shift_us, where shift_us is derived
 * from the input's stream start times and the encoders' delays only (see
 * segment_writer_add_stream), never from where the run started. Every worker
 * therefore muxes identical timestamps for a given frame. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/mathematics.h>

#include "pipeline_internal.h"

/* The ffmpeg CLI's default -max_delay (0.7 s): the mpegts muxer offsets
 * timestamps by twice this, and Jellyfin's segments carry that offset. */
#define SEGMENT_DEFAULT_MAX_DELAY_US 700000
/* Audio packets held back waiting for video (about 7 minutes of AAC at
 * 48 kHz): more means the video has stalled, not that it is late. */
#define SEGMENT_AUDIO_QUEUE_MAX 20000

int segment_writer_init(struct segment_writer *w, struct pipeline_run *run, int has_video,
                        int has_audio)
{
    memset(w, 0, sizeof(*w));
    w->run = run;
    w->streams[SEGMENT_VIDEO].expected = has_video;
    w->streams[SEGMENT_AUDIO].expected = has_audio;
    w->audio_queue = av_fifo_alloc2(64, sizeof(AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
    if (w->audio_queue == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio packet queue");
    return PIPELINE_OK;
}

int segment_writer_add_stream(struct segment_writer *w, enum segment_stream kind,
                              const AVCodecParameters *par, AVRational time_base,
                              int64_t first_dts_us)
{
    struct segment_output_stream *s = &w->streams[kind];
    s->par = avcodec_parameters_alloc();
    if (s->par == NULL)
        return pipeline_fail(w->run, AVERROR(ENOMEM), "allocate output stream parameters");
    int ret = avcodec_parameters_copy(s->par, par);
    if (ret < 0)
        return pipeline_fail(w->run, ret, "copy output stream parameters");
    /* A container's codec tag (e.g. from Matroska on copy) means nothing to mpegts. */
    s->par->codec_tag = 0;
    s->time_base = time_base;
    s->first_dts_us = first_dts_us;
    s->ready = 1;
    return PIPELINE_OK;
}

/* The stream whose packets decide where segments begin and end. */
static enum segment_stream segment_cutting_stream(const struct segment_writer *w)
{
    return w->streams[SEGMENT_VIDEO].expected ? SEGMENT_VIDEO : SEGMENT_AUDIO;
}

/* Fixes shift_us the first time a segment opens. The ffmpeg CLI (with
 * -copyts -avoid_negative_ts disabled) muxes HLS through an mpegts muxer that
 * still shifts a run's timestamps so its first dts is not negative; a run
 * from the start of the input therefore comes out shifted by minus its most
 * negative first dts (the B-frame delay, the AAC priming). We apply that same
 * shift, computed from stream properties alone, to every run. */
static int segment_fix_shift(struct segment_writer *w)
{
    if (w->shift_known)
        return PIPELINE_OK;
    int64_t first = INT64_MAX;
    for (int i = 0; i < SEGMENT_STREAMS; i++) {
        const struct segment_output_stream *s = &w->streams[i];
        if (!s->expected)
            continue;
        if (!s->ready)
            return pipeline_fail(w->run, 0, "open segment: the %s encoder is not open",
                                 i == SEGMENT_VIDEO ? "video" : "audio");
        if (s->first_dts_us < first)
            first = s->first_dts_us;
    }
    w->shift_us = first < 0 ? -first : 0;
    w->shift_known = 1;
    return PIPELINE_OK;
}

/* Opens the muxer of segment `index` on its temp file. Returns a pipeline_result. */
static int segment_open(struct segment_writer *w, int index, int64_t boundary, int64_t start_us)
{
    struct pipeline_run *run = w->run;
    const struct job_spec *spec = run->spec;
    AVFormatContext *mux = NULL;
    int created = 0;
    int ret = segment_fix_shift(w);
    if (ret != PIPELINE_OK)
        return ret;

    if (job_spec_segment_path(spec, index, w->final_path, sizeof(w->final_path)) != 0)
        return pipeline_fail(run, 0, "build the path of segment %d from \"%s\"", index,
                             spec->segment_filename);
    const char *suffix = run->cb != NULL && run->cb->temp_suffix != NULL ? run->cb->temp_suffix
                                                                          : ".tmp";
    snprintf(w->temp_path, sizeof(w->temp_path), "%s%s", w->final_path, suffix);

    int averr = avformat_alloc_output_context2(&mux, NULL, "mpegts", w->temp_path);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the mpegts muxer for %s", w->temp_path);
        goto fail;
    }
    for (int i = 0; i < SEGMENT_STREAMS; i++) {
        struct segment_output_stream *s = &w->streams[i];
        if (!s->expected)
            continue;
        AVStream *st = avformat_new_stream(mux, NULL);
        if (st == NULL) {
            ret = pipeline_fail(run, AVERROR(ENOMEM), "add a stream to segment %s", w->temp_path);
            goto fail;
        }
        averr = avcodec_parameters_copy(st->codecpar, s->par);
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "add a stream to segment %s", w->temp_path);
            goto fail;
        }
        st->time_base = s->time_base;
        s->mux_index = st->index;
    }
    /* -copyts -avoid_negative_ts disabled: timestamps go out as given. */
    mux->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    mux->max_delay =
        spec->max_delay_us >= 0 ? (int)spec->max_delay_us : SEGMENT_DEFAULT_MAX_DELAY_US;

    averr = avio_open(&mux->pb, w->temp_path, AVIO_FLAG_WRITE);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "open segment file %s", w->temp_path);
        goto fail;
    }
    created = 1;
    averr = avformat_write_header(mux, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "write the header of segment %s", w->temp_path);
        goto fail;
    }
    w->mux = mux;
    w->index = index;
    w->boundary = boundary;
    w->start_us = start_us;
    w->end_us = start_us;
    w->opened++;
    return PIPELINE_OK;

fail:
    if (mux != NULL) {
        avio_closep(&mux->pb);
        avformat_free_context(mux);
    }
    if (created)
        unlink(w->temp_path);
    return ret;
}

/* Closes the open segment and hands it to the caller. Returns a pipeline_result:
 * PIPELINE_STOPPED when segment_done asks to stop. */
static int segment_close(struct segment_writer *w, int last, int64_t duration_us)
{
    struct pipeline_run *run = w->run;
    AVFormatContext *mux = w->mux;
    w->mux = NULL;

    int averr = av_write_trailer(mux);
    int64_t size = avio_tell(mux->pb);
    int closeerr = avio_closep(&mux->pb);
    avformat_free_context(mux);
    if (averr < 0 || closeerr < 0) {
        unlink(w->temp_path);
        return pipeline_fail(run, averr < 0 ? averr : closeerr, "finish segment file %s",
                             w->temp_path);
    }
    if (size > 0)
        w->bytes_before += size;
    run->bytes = w->bytes_before;

    struct pipeline_segment segment = {
        .index = w->index,
        .temp_path = w->temp_path,
        .final_path = w->final_path,
        .start_us = w->start_us,
        .duration_us = duration_us,
        .last = last,
    };
    /* From here on the temp file is the caller's: published or discarded. */
    if (run->cb == NULL || run->cb->segment_done == NULL) {
        unlink(w->temp_path);
        return PIPELINE_OK;
    }
    return run->cb->segment_done(run->cb->opaque, &segment) != 0 ? PIPELINE_STOPPED : PIPELINE_OK;
}

/* Writes one packet of stream `kind` to the open segment. Takes its reference. */
static int segment_write(struct segment_writer *w, enum segment_stream kind, AVPacket *pkt)
{
    struct pipeline_run *run = w->run;
    struct segment_output_stream *s = &w->streams[kind];
    AVStream *st = w->mux->streams[s->mux_index];

    if (kind == segment_cutting_stream(w) && pkt->pts != AV_NOPTS_VALUE) {
        int64_t end = pipeline_stream_time_us(run, pkt->pts + pkt->duration, s->time_base);
        if (end > w->end_us)
            w->end_us = end;
        run->out_time_us = pipeline_stream_time_us(run, pkt->pts, s->time_base);
    }

    av_packet_rescale_ts(pkt, s->time_base, st->time_base);
    int64_t shift = av_rescale_q(w->shift_us, AV_TIME_BASE_Q, st->time_base);
    if (pkt->pts != AV_NOPTS_VALUE)
        pkt->pts += shift;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += shift;
    pkt->stream_index = s->mux_index;

    int averr = av_interleaved_write_frame(w->mux, pkt);
    av_packet_unref(pkt);
    if (averr < 0)
        return pipeline_fail(run, averr, "write a packet to segment %s", w->temp_path);
    run->bytes = w->bytes_before + avio_tell(w->mux->pb);
    return PIPELINE_OK;
}

/* ---- the audio queue ------------------------------------------------------ */

static int audio_queue_push(struct segment_writer *w, AVPacket *pkt)
{
    if (av_fifo_can_read(w->audio_queue) >= SEGMENT_AUDIO_QUEUE_MAX) {
        av_packet_unref(pkt);
        return pipeline_fail(w->run, 0, "transcode %s: the audio is %d packets ahead of the video",
                             w->run->spec->input, SEGMENT_AUDIO_QUEUE_MAX);
    }
    AVPacket *held = av_packet_alloc();
    if (held == NULL)
        return pipeline_fail(w->run, AVERROR(ENOMEM), "hold back an audio packet");
    av_packet_move_ref(held, pkt);
    int averr = av_fifo_write(w->audio_queue, &held, 1);
    if (averr < 0) {
        av_packet_free(&held);
        return pipeline_fail(w->run, averr, "hold back an audio packet");
    }
    return PIPELINE_OK;
}

/* The pts of the oldest held packet, in the audio time base; 0 if none. */
static int audio_queue_peek(struct segment_writer *w, int64_t *pts)
{
    AVPacket *held;
    if (av_fifo_peek(w->audio_queue, &held, 1, 0) < 0)
        return 0;
    *pts = held->pts;
    return 1;
}

static AVPacket *audio_queue_pop(struct segment_writer *w)
{
    AVPacket *held = NULL;
    if (av_fifo_read(w->audio_queue, &held, 1) < 0)
        return NULL;
    return held;
}

/* Writes held audio packets with pts before limit (in the cutting stream's
 * time base; all of them when all is set) to the open segment. */
static int audio_queue_drain(struct segment_writer *w, int64_t limit, int all)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational limit_tb = w->streams[segment_cutting_stream(w)].time_base;
    int64_t pts;
    while (audio_queue_peek(w, &pts)) {
        if (!all && av_compare_ts(pts, audio_tb, limit, limit_tb) >= 0)
            break;
        AVPacket *held = audio_queue_pop(w);
        int ret = segment_write(w, SEGMENT_AUDIO, held);
        av_packet_free(&held);
        if (ret != PIPELINE_OK)
            return ret;
    }
    return PIPELINE_OK;
}

/* Drops held audio packets with pts before floor (in the video time base). */
static void audio_queue_drop_before(struct segment_writer *w, int64_t floor)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    int64_t pts;
    while (audio_queue_peek(w, &pts) && av_compare_ts(pts, audio_tb, floor, video_tb) < 0) {
        AVPacket *held = audio_queue_pop(w);
        av_packet_free(&held);
    }
}

/* ---- entry points --------------------------------------------------------- */

int segment_writer_video(struct segment_writer *w, AVPacket *pkt, const struct segment_cut *cut)
{
    struct pipeline_run *run = w->run;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;
    int ret;

    if (cut != NULL) {
        if (w->mux != NULL) {
            /* Audio before the new segment's first frame ends the old one. */
            if ((ret = audio_queue_drain(w, cut->pts, 0)) != PIPELINE_OK)
                goto done;
            if ((ret = segment_close(w, 0, cut->start_us - w->start_us)) != PIPELINE_OK)
                goto done;
        } else if (w->opened == 0 && run->trim) {
            /* A run that starts mid-stream begins its audio with its first
             * frame: earlier audio went into the previous segment of the run
             * that produced it. */
            w->floor_ts = cut->pts;
            w->has_floor = 1;
            audio_queue_drop_before(w, cut->pts);
        }
        if ((ret = segment_open(w, cut->index, cut->boundary, cut->start_us)) != PIPELINE_OK)
            goto done;
        w->end_ts = pipeline_boundary_ts(run, cut->boundary + 1, video_tb);
    }
    if (w->mux == NULL) {
        /* Cannot happen: the first frame of a run always starts a segment. */
        ret = PIPELINE_OK;
        goto done;
    }
    if ((ret = segment_write(w, SEGMENT_VIDEO, pkt)) != PIPELINE_OK)
        goto done;
    ret = audio_queue_drain(w, w->end_ts, 0);
done:
    av_packet_unref(pkt);
    return ret;
}

/* Audio-only runs: segments begin at the first audio packet past each boundary. */
static int segment_writer_audio_only(struct segment_writer *w, AVPacket *pkt)
{
    struct pipeline_run *run = w->run;
    AVRational tb = w->streams[SEGMENT_AUDIO].time_base;
    int ret;

    if (run->trim &&
        av_compare_ts(pkt->pts, tb, run->origin_us + run->start_us, AV_TIME_BASE_Q) < 0) {
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    if (w->mux == NULL || pkt->pts >= w->end_ts) {
        int64_t start_us = pipeline_stream_time_us(run, pkt->pts, tb);
        int64_t boundary = pipeline_boundary_index(run, pkt->pts, tb);
        int index = run->first_index;
        if (w->mux == NULL && boundary < run->first_boundary)
            boundary = run->first_boundary;
        if (w->mux != NULL) {
            index = w->index + 1;
            if ((ret = segment_close(w, 0, start_us - w->start_us)) != PIPELINE_OK)
                goto done;
        }
        if ((ret = segment_open(w, index, boundary, start_us)) != PIPELINE_OK)
            goto done;
        w->end_ts = pipeline_boundary_ts(run, boundary + 1, tb);
    }
    ret = segment_write(w, SEGMENT_AUDIO, pkt);
done:
    av_packet_unref(pkt);
    return ret;
}

int segment_writer_audio(struct segment_writer *w, AVPacket *pkt)
{
    AVRational audio_tb = w->streams[SEGMENT_AUDIO].time_base;
    AVRational video_tb = w->streams[SEGMENT_VIDEO].time_base;

    if (pkt->pts == AV_NOPTS_VALUE)
        pkt->pts = pkt->dts;
    if (pkt->pts == AV_NOPTS_VALUE) {
        /* Nowhere to put it on the timeline. */
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    if (pkt->dts == AV_NOPTS_VALUE)
        pkt->dts = pkt->pts;
    if (!w->streams[SEGMENT_VIDEO].expected)
        return segment_writer_audio_only(w, pkt);

    if (w->has_floor && av_compare_ts(pkt->pts, audio_tb, w->floor_ts, video_tb) < 0) {
        av_packet_unref(pkt);
        return PIPELINE_OK;
    }
    /* Held packets are older; keep the order. */
    if (w->mux == NULL || av_fifo_can_read(w->audio_queue) > 0 ||
        av_compare_ts(pkt->pts, audio_tb, w->end_ts, video_tb) >= 0)
        return audio_queue_push(w, pkt);
    return segment_write(w, SEGMENT_AUDIO, pkt);
}

int segment_writer_finish(struct segment_writer *w)
{
    struct pipeline_run *run = w->run;
    if (w->mux == NULL)
        return pipeline_fail(
            run, 0, "transcode %s: no %s frame at or after %.3f s", run->spec->input,
            w->streams[SEGMENT_VIDEO].expected ? "video" : "audio", (double)run->start_us / 1e6);
    int ret = audio_queue_drain(w, 0, 1);
    if (ret != PIPELINE_OK)
        return ret;
    return segment_close(w, 1, w->end_us - w->start_us);
}

void segment_writer_free(struct segment_writer *w)
{
    if (w->mux != NULL) {
        avio_closep(&w->mux->pb);
        avformat_free_context(w->mux);
        w->mux = NULL;
        unlink(w->temp_path);
    }
    if (w->audio_queue != NULL) {
        AVPacket *held;
        while ((held = audio_queue_pop(w)) != NULL)
            av_packet_free(&held);
        av_fifo_freep2(&w->audio_queue);
    }
    for (int i = 0; i < SEGMENT_STREAMS; i++)
        avcodec_parameters_free(&w->streams[i].par);
}
