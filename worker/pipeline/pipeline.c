/* pipeline.c -- one run of the worker's libav pipeline (see pipeline.h).
 *
 * Owns the input: opens it, picks the streams, places the run on the stream
 * timeline (origin, start, first segment), seeks to the run's start, then
 * reads packets and hands each to its stream's stage (pipeline_video.c,
 * pipeline_audio.c), which pass encoded packets to the segment writer
 * (pipeline_segment.c). At end of input it drains the stages in order,
 * refuses an input that yielded no frames or stopped short of its stated
 * duration, and lets the writer deliver the last segment. It also polls
 * should_stop and reports progress.
 *
 * A run that transcodes video runs on two threads: a reader thread demuxes,
 * decodes and filters (pipeline_read), and queues filtered frames and audio
 * packets in a bounded handoff (pipeline_handoff.c); the caller's thread
 * encodes and muxes them in the same order (pipeline_encode_queued), so the
 * output is the one a single thread would produce, decoding and scaling
 * overlap with encoding, and every callback still runs on the caller's
 * thread.
 *
 * This file and its pipeline_*.c siblings are the only code in ffpool that
 * calls libav. They never log: failures come back as one sentence in err,
 * naming the step and libav's reason. */
#include "pipeline.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavfilter/avfilter.h>
#include <libavutil/log.h>
#include <libavutil/mathematics.h>
#include <libavutil/time.h>

#include "pipeline_internal.h"
#include "routing.h"

/* How far before its start a mid-stream run begins decoding, so the audio
 * decoder and encoder have history (Opus needs 80 ms) and the audio reaches
 * back past the first cut's dts (a reorder delay before its pts). */
#define PIPELINE_SEEK_PREROLL_US 500000
/* Packets read after a seek while looking for the first video keyframe. */
#define PIPELINE_KEYFRAME_SCAN_PACKETS 50000
/* First step back when a seek lands past the target (doubles each time). */
#define PIPELINE_SEEK_BACKOFF_US 1000000
/* Items (filtered frames, audio packets) the reader thread may queue ahead
 * of the encoder: enough to ride out jitter, few enough to bound memory
 * (a 1080p yuv420p frame is 3 MB). */
#define PIPELINE_HANDOFF_ITEMS 8
/* Input ending this much before its stated duration is truncated. */
#define PIPELINE_TRUNCATED_US 5000000
/* A mid-stream run that burns in bitmap subtitles looks this far back for
 * the subtitle on screen at its start (PGS and DVD subtitles last seconds). */
#define PIPELINE_SUBTITLE_LOOKBACK_US 10000000
/* Packets the look-back reads at most (a 4K remux has about 10,000 in 10 s). */
#define PIPELINE_SUBTITLE_LOOKBACK_PACKETS 200000
/* A progressive output is one "segment" this long (a century). */
#define PIPELINE_PROGRESSIVE_SPAN_US (100LL * 365 * 24 * 3600 * 1000000)

/* ---- helpers shared by the stages ------------------------------------------ */

int pipeline_fail(struct pipeline_run *run, int averr, const char *fmt, ...)
{
    if (run->errlen == 0)
        return PIPELINE_ERROR;
    pthread_mutex_lock(&run->fail_lock);
    if (!run->failed) {
        run->failed = 1;
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(run->err, run->errlen, fmt, args);
        va_end(args);
        if (averr != 0 && n >= 0 && (size_t)n < run->errlen) {
            char reason[AV_ERROR_MAX_STRING_SIZE];
            av_strerror(averr, reason, sizeof(reason));
            snprintf(run->err + n, run->errlen - (size_t)n, ": %s", reason);
        }
    }
    pthread_mutex_unlock(&run->fail_lock);
    return PIPELINE_ERROR;
}

int pipeline_poll_stop(const struct pipeline_run *run)
{
    const struct pipeline_callbacks *cb = run->cb;
    if (cb != NULL && cb->should_stop != NULL && cb->should_stop(cb->opaque))
        return PIPELINE_STOPPED;
    return PIPELINE_OK;
}

int pipeline_filter_missing(const char *description, char *out, size_t outlen)
{
    char name[128];
    for (const char *s = description; (s = routing_filter_next(s, name, sizeof(name))) != NULL;) {
        if (avfilter_get_by_name(name) == NULL) {
            snprintf(out, outlen, "%s", name);
            return 1;
        }
    }
    return 0;
}

int64_t pipeline_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t pipeline_stream_ts(const struct pipeline_run *run, int64_t stream_us, AVRational tb)
{
    return av_rescale_q_rnd(run->origin_us + stream_us, AV_TIME_BASE_Q, tb,
                            AV_ROUND_UP | AV_ROUND_PASS_MINMAX);
}

int64_t pipeline_boundary_ts(const struct pipeline_run *run, int64_t k, AVRational tb)
{
    return pipeline_stream_ts(run, k * run->hls_time_us, tb);
}

int64_t pipeline_boundary_index(const struct pipeline_run *run, int64_t ts, AVRational tb)
{
    int64_t k = pipeline_floor_div(pipeline_stream_time_us(run, ts, tb), run->hls_time_us);
    /* The rounding to microseconds can be off by one near a boundary; settle
     * it with exact comparisons in tb. */
    while (pipeline_boundary_ts(run, k + 1, tb) <= ts)
        k++;
    while (pipeline_boundary_ts(run, k, tb) > ts)
        k--;
    return k;
}

int64_t pipeline_stream_time_us(const struct pipeline_run *run, int64_t ts, AVRational tb)
{
    return av_rescale_q(ts, tb, AV_TIME_BASE_Q) - run->origin_us;
}

/* ---- input ----------------------------------------------------------------- */

static pthread_once_t pipeline_log_once = PTHREAD_ONCE_INIT;

/* libav prints warnings (and progress chatter) to stderr by default; the
 * worker's log is its own, so only libav's errors get through. */
static void pipeline_quiet_libav(void)
{
    av_log_set_level(AV_LOG_ERROR);
}

/* Refuses what this version cannot do, before touching the input. */
static int pipeline_check_spec(struct pipeline_run *run, int first_index)
{
    const struct job_spec *spec = run->spec;
    char missing[64];
    /* A filter the linked libavfilter lacks fails the job before any work. */
    if (spec->video_filter[0] != '\0' && strcmp(spec->video_codec, "copy") != 0 &&
        pipeline_filter_missing(spec->video_filter, missing, sizeof(missing)))
        return pipeline_fail(run, AVERROR_FILTER_NOT_FOUND,
                             "video filter \"%s\": no filter named %s in this libavfilter",
                             spec->video_filter, missing);
    if (spec->audio_filter[0] != '\0' && strcmp(spec->audio_codec, "copy") != 0 &&
        pipeline_filter_missing(spec->audio_filter, missing, sizeof(missing)))
        return pipeline_fail(run, AVERROR_FILTER_NOT_FOUND,
                             "audio filter \"%s\": no filter named %s in this libavfilter",
                             spec->audio_filter, missing);
    if (spec->output_kind == JOB_OUTPUT_PROGRESSIVE) {
        if (spec->output[0] == '\0')
            return pipeline_fail(run, 0, "progressive output: no output file");
        return PIPELINE_OK;
    }
    if (spec->hls_time_us <= 0)
        return pipeline_fail(run, 0, "segment length (hls_time) must be positive");
    if (first_index < spec->start_number)
        return pipeline_fail(run, 0, "first segment %d is before start number %d", first_index,
                             spec->start_number);
    /* Better now than after decoding a whole segment. */
    char path[JOB_SPEC_PATH_MAX];
    if (job_spec_segment_path(spec, first_index, path, sizeof(path)) != 0)
        return pipeline_fail(run, 0, "build the path of segment %d from \"%s\"", first_index,
                             spec->segment_filename);
    return PIPELINE_OK;
}

/* Opens and probes spec->input. */
/* Whether input already has the streams of like (count and codecs), as a
 * container with stream headers (Matroska, MP4) gives without probing. */
static int pipeline_same_streams(const AVFormatContext *input, const AVFormatContext *like)
{
    if (input->nb_streams != like->nb_streams)
        return 0;
    for (unsigned i = 0; i < input->nb_streams; i++)
        if (input->streams[i]->codecpar->codec_id != like->streams[i]->codecpar->codec_id)
            return 0;
    return 1;
}

/* Opens the job's input and probes its streams. like: an opening of the
 * same input already probed (NULL if none); when the headers alone give
 * its streams, the probe (up to -analyzeduration, which Jellyfin sets to
 * 200 s) is skipped. */
static int pipeline_open_input(struct pipeline_run *run, const AVFormatContext *like,
                               AVFormatContext **out)
{
    const struct job_spec *spec = run->spec;
    const AVInputFormat *format = NULL;
    AVDictionary *options = NULL;
    char url[JOB_SPEC_PATH_MAX + 8];
    int ret = PIPELINE_OK;
    int averr;

    if (spec->input_format[0] != '\0') {
        /* "-f matroska,webm" names a demuxer by its first name. */
        char name[JOB_SPEC_SHORT_MAX];
        snprintf(name, sizeof(name), "%s", spec->input_format);
        name[strcspn(name, ",")] = '\0';
        format = av_find_input_format(name);
        if (format == NULL)
            return pipeline_fail(run, AVERROR_DEMUXER_NOT_FOUND, "find input format %s",
                                 spec->input_format);
    }
    /* A plain path goes through the file protocol, so a ':' in a file name
     * is never taken for a protocol; URLs are left alone. */
    snprintf(url, sizeof(url), "%s%s", strstr(spec->input, "://") ? "" : "file:", spec->input);

    AVFormatContext *input = avformat_alloc_context();
    if (input == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "open input %s", spec->input);
    if (spec->genpts)
        input->flags |= AVFMT_FLAG_GENPTS;
    averr = 0;
    if (spec->analyzeduration_us >= 0)
        averr = av_dict_set_int(&options, "analyzeduration", spec->analyzeduration_us, 0);
    if (averr >= 0 && spec->probesize >= 0)
        averr = av_dict_set_int(&options, "probesize", spec->probesize, 0);
    if (averr < 0) {
        avformat_free_context(input);
        input = NULL;
        ret = pipeline_fail(run, averr, "open input %s", spec->input);
        goto end;
    }
    averr = avformat_open_input(&input, url, format, &options);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "open input %s", spec->input); /* input was freed */
        goto end;
    }
    averr = like != NULL && pipeline_same_streams(input, like)
                ? 0
                : avformat_find_stream_info(input, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "read the streams of %s", spec->input);
        avformat_close_input(&input);
    } else if (input->duration > 0) {
        run->duration_us = input->duration;
    }
end:
    av_dict_free(&options);
    *out = input;
    return ret;
}

/* Resolves a stream choice (-1 none, -2 best of its kind, else an index).
 * Sets *index to -1 when there is none and none is required. */
static int pipeline_select_stream(struct pipeline_run *run, AVFormatContext *input,
                                  enum AVMediaType type, int wanted, int required, int *index)
{
    const char *kind = av_get_media_type_string(type);
    *index = -1;
    if (wanted == -1)
        return PIPELINE_OK;
    if (wanted >= 0) {
        if ((unsigned)wanted >= input->nb_streams ||
            input->streams[wanted]->codecpar->codec_type != type)
            return pipeline_fail(run, 0, "select %s stream %d: %s has no such %s stream", kind,
                                 wanted, run->spec->input, kind);
        *index = wanted;
        return PIPELINE_OK;
    }
    int found = av_find_best_stream(input, type, -1, -1, NULL, 0);
    if (found >= 0)
        *index = found;
    else if (required)
        return pipeline_fail(run, found, "find a %s stream in %s", kind, run->spec->input);
    return PIPELINE_OK;
}

/* Packets read while checking a seek, handed to the stages before any new
 * packet is read. */
struct pipeline_replay {
    AVFifo *packets; /* of AVPacket * */
};

static void pipeline_replay_clear(struct pipeline_replay *replay)
{
    AVPacket *held;
    while (replay->packets != NULL && av_fifo_read(replay->packets, &held, 1) >= 0)
        av_packet_free(&held);
}

static void pipeline_replay_free(struct pipeline_replay *replay)
{
    pipeline_replay_clear(replay);
    av_fifo_freep2(&replay->packets);
}

/* Moves pkt's reference to the end of the replay queue. */
static int pipeline_replay_push(struct pipeline_run *run, struct pipeline_replay *replay,
                                AVPacket *pkt)
{
    AVPacket *held = av_packet_alloc();
    if (held == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "hold a packet read after the seek");
    av_packet_move_ref(held, pkt);
    int averr = av_fifo_write(replay->packets, &held, 1);
    if (averr < 0) {
        av_packet_free(&held);
        return pipeline_fail(run, averr, "hold a packet read after the seek");
    }
    return PIPELINE_OK;
}

/* The next packet: a held one first, else a new one from the input. Returns
 * an AVERROR code like av_read_frame. */
static int pipeline_next_packet(AVFormatContext *input, struct pipeline_replay *replay,
                                AVPacket *pkt)
{
    AVPacket *held;
    if (replay->packets != NULL && av_fifo_read(replay->packets, &held, 1) >= 0) {
        av_packet_move_ref(pkt, held);
        av_packet_free(&held);
        return 0;
    }
    return av_read_frame(input, pkt);
}

/* Reads packets after a seek up to the first video keyframe and returns its
 * pts (AV_NOPTS_VALUE when none turned up). Audio and subtitle packets and
 * the keyframe are held for the main loop; video before the keyframe is
 * useless and dropped. */
static int pipeline_scan_to_keyframe(struct pipeline_run *run, AVFormatContext *input,
                                     int video_index, int audio_index,
                                     struct pipeline_replay *replay, AVPacket *pkt,
                                     int64_t *keyframe_ts)
{
    *keyframe_ts = AV_NOPTS_VALUE;
    for (int n = 0; n < PIPELINE_KEYFRAME_SCAN_PACKETS; n++) {
        int averr = av_read_frame(input, pkt);
        if (averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(run, averr, "read %s", run->spec->input);
        int keyframe = pkt->stream_index == video_index && (pkt->flags & AV_PKT_FLAG_KEY);
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        if (keyframe || pkt->stream_index == audio_index ||
            pkt->stream_index == run->subtitle_index) {
            int ret = pipeline_replay_push(run, replay, pkt);
            if (ret != PIPELINE_OK)
                return ret;
        }
        av_packet_unref(pkt);
        if (keyframe) {
            /* A keyframe without a timestamp cannot be checked: accept it. */
            *keyframe_ts = ts != AV_NOPTS_VALUE ? ts : INT64_MIN;
            return PIPELINE_OK;
        }
    }
    return PIPELINE_OK;
}

/* Positions the input so that decoding reaches the run's start with history:
 * from a video keyframe at or before start - preroll. MP4 and Matroska seeks
 * land on such a keyframe; an MPEG-TS seek can land on any frame, so the
 * first keyframe after it is checked and the seek repeated further back
 * until it is early enough. The packets read while checking are held in
 * replay for the main loop (seeking again to the same time is not
 * guaranteed to land at the same place on MPEG-TS). */
static int pipeline_seek(struct pipeline_run *run, AVFormatContext *input, int video_index,
                         int audio_index, struct pipeline_replay *replay, AVPacket *pkt, int force)
{
    int seek_index = video_index >= 0 ? video_index : audio_index;
    AVRational tb = input->streams[seek_index]->time_base;
    int64_t target_us = run->start_us - PIPELINE_SEEK_PREROLL_US;
    int64_t backoff_us = PIPELINE_SEEK_BACKOFF_US;

    /* Close to the start: read from the beginning, which probing kept
     * (unless packets were read since: force). */
    if (target_us <= 0 && !force)
        return PIPELINE_OK;
    int64_t limit_ts = av_rescale_q_rnd(run->origin_us + target_us, AV_TIME_BASE_Q, tb,
                                        AV_ROUND_DOWN | AV_ROUND_PASS_MINMAX);
    if (replay->packets == NULL)
        replay->packets = av_fifo_alloc2(64, sizeof(AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
    if (replay->packets == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the seek queue");
    for (;;) {
        int averr;
        if (target_us < 0)
            target_us = 0;
        if (target_us == 0 && (input->iformat->flags & AVFMT_TS_DISCONT)) {
            /* Index-less stream formats (MPEG-TS, PS): a timestamp seek to the
             * start can still skip the first keyframe; byte 0 cannot. */
            averr = avformat_seek_file(input, -1, INT64_MIN, 0, 0, AVSEEK_FLAG_BYTE);
        } else {
            int64_t ts = av_rescale_q_rnd(run->origin_us + target_us, AV_TIME_BASE_Q, tb,
                                          AV_ROUND_DOWN | AV_ROUND_PASS_MINMAX);
            averr = avformat_seek_file(input, seek_index, INT64_MIN, ts, ts, 0);
        }
        if (averr < 0)
            return pipeline_fail(run, averr, "seek %s to %.3f s", run->spec->input,
                                 (double)target_us / 1e6);
        if (video_index < 0)
            return PIPELINE_OK;

        int64_t keyframe_ts;
        int ret = pipeline_scan_to_keyframe(run, input, video_index, audio_index, replay, pkt,
                                            &keyframe_ts);
        if (ret != PIPELINE_OK)
            return ret;
        /* At the very start there is nothing earlier to try. */
        if ((keyframe_ts != AV_NOPTS_VALUE && keyframe_ts <= limit_ts) || target_us == 0)
            return PIPELINE_OK;
        pipeline_replay_clear(replay);
        target_us -= backoff_us;
        backoff_us *= 2;
    }
}

/* A mid-stream run with a subtitle input: the subtitle on screen at its
 * start may have begun before the keyframe the run decodes from, so the
 * subtitle packets of the look-back window before the start are decoded
 * from a second opening of the input (packets are only read, video is not
 * decoded). It stops at the first video packet at or past the start, whose
 * byte position is kept: the main read skips the subtitle packets before
 * it, so every subtitle packet reaches the decoder once and in file order (a
 * PGS display set can span several packets), and a resumed run draws what a
 * run from the start draws. Returns a pipeline_result. */
static int pipeline_subtitle_lookback(struct pipeline_run *run, const AVFormatContext *main,
                                      struct pipeline_video *video, int video_index, AVPacket *pkt)
{
    AVFormatContext *input = NULL;
    int ret = pipeline_open_input(run, main, &input);
    if (ret != PIPELINE_OK)
        return ret;
    int64_t start = run->origin_us + run->start_us;
    int64_t from = start - PIPELINE_SUBTITLE_LOOKBACK_US;
    int64_t stop_pos = 0; /* the main read skips subtitle packets before it */
    if (from > run->origin_us) {
        int averr = avformat_seek_file(input, -1, INT64_MIN, from, from, 0);
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "seek %s to %.3f s for subtitles", run->spec->input,
                                (double)(from - run->origin_us) / 1e6);
            goto end;
        }
    }
    for (int n = 0; n < PIPELINE_SUBTITLE_LOOKBACK_PACKETS; n++) {
        if ((ret = pipeline_poll_stop(run)) != PIPELINE_OK)
            goto end;
        int averr = av_read_frame(input, pkt);
        if (averr == AVERROR_EOF) {
            stop_pos = INT64_MAX; /* every subtitle packet was seen */
            break;
        }
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "read %s", run->spec->input);
            goto end;
        }
        if (pkt->pos >= 0)
            stop_pos = pkt->pos + 1; /* the budget may end here */
        AVStream *st = input->streams[pkt->stream_index];
        int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
        int64_t at =
            ts != AV_NOPTS_VALUE ? av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q) : INT64_MIN;
        /* Past the start: the run's first video packet, or any packet well
         * past it (a video stream without timestamps). */
        if (at != INT64_MIN && at != INT64_MAX && pkt->pos >= 0 &&
            ((pkt->stream_index == video_index && at >= start) ||
             at >= start + PIPELINE_SUBTITLE_LOOKBACK_US)) {
            stop_pos = pkt->pos;
            av_packet_unref(pkt);
            break;
        }
        if (pkt->stream_index == run->subtitle_index) {
            ret = pipeline_video_subtitle_packet(video, pkt);
            /* Subtitles that ended or were replaced before the start are
             * not kept waiting. */
            pipeline_subtitle_collapse(&video->subtitle, start - 1);
        }
        av_packet_unref(pkt);
        if (ret != PIPELINE_OK)
            goto end;
    }
    /* The start, the end of the input, or the packet budget (timestamps
     * that never get there): what was read up to stop_pos is not read again. */
    video->subtitle.skip_before_pos = stop_pos;
end:
    avformat_close_input(&input);
    return ret;
}

/* The keyframe a copy run cuts at: its start time in the run's stream time
 * must match target_us to this (durations are whole microseconds, summed). */
#define PIPELINE_COPY_HINT_SLACK_US 1000

/* Video copy, resumed run, with the sum of the published durations: seeks to
 * the job's first segment start plus that sum and takes the video keyframe
 * found there. Returns 1 (run->copy_start_ts and start_us set), 0 (no
 * keyframe there: the caller replays from the start), or a pipeline_result
 * error. */
static int pipeline_copy_seek_hint(struct pipeline_run *run, AVFormatContext *input,
                                   int video_index, struct pipeline_replay *replay, AVPacket *pkt,
                                   int64_t target_us)
{
    AVRational tb = input->streams[video_index]->time_base;
    int64_t run_start = run->start_us;
    run->start_us = target_us;
    int ret = pipeline_seek(run, input, video_index, -1, replay, pkt, 1);
    run->start_us = run_start;
    if (ret != PIPELINE_OK)
        return ret;
    for (;;) {
        if ((ret = pipeline_poll_stop(run)) != PIPELINE_OK)
            return ret;
        int averr = pipeline_next_packet(input, replay, pkt);
        if (averr == AVERROR_EOF)
            return 0;
        if (averr < 0)
            return pipeline_fail(run, averr, "read %s", run->spec->input);
        int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        int key = pkt->stream_index == video_index && (pkt->flags & AV_PKT_FLAG_KEY) &&
                  pts != AV_NOPTS_VALUE;
        av_packet_unref(pkt);
        if (!key)
            continue;
        int64_t start_us = pipeline_stream_time_us(run, pts, tb);
        if (start_us > target_us + PIPELINE_COPY_HINT_SLACK_US)
            return 0;
        if (start_us >= target_us - PIPELINE_COPY_HINT_SLACK_US) {
            run->copy_start_ts = pts;
            run->start_us = start_us;
            return 1;
        }
    }
}

/* Video copy with an input -ss: the job starts on the last video keyframe
 * at or before the -ss time, where the ffmpeg CLI's copy starts (Jellyfin
 * asks for a remux at a keyframe's time plus 0.5 s for exactly that), or on
 * the first keyframe when none precedes it. Sets run->copy_job_start_ts and
 * moves the job's start (job_start_us, job_boundary) there; reads video
 * packets only, and leaves the input to be seeked again. Every run of the
 * job finds the same keyframe. Returns a pipeline_result. */
static int pipeline_copy_seek_keyframe(struct pipeline_run *run, AVFormatContext *input,
                                       int video_index, struct pipeline_replay *replay,
                                       AVPacket *pkt)
{
    AVRational tb = input->streams[video_index]->time_base;
    int64_t seek_ts = pipeline_stream_ts(run, run->job_start_us, tb);
    int64_t found = AV_NOPTS_VALUE;
    enum AVDiscard *saved = av_calloc(input->nb_streams, sizeof(*saved));
    if (saved == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the keyframe scan");
    for (unsigned i = 0; i < input->nb_streams; i++) {
        saved[i] = input->streams[i]->discard;
        if ((int)i != video_index)
            input->streams[i]->discard = AVDISCARD_ALL;
    }
    int64_t run_start = run->start_us;
    run->start_us = run->job_start_us;
    int ret = pipeline_seek(run, input, video_index, -1, replay, pkt, 1);
    run->start_us = run_start;
    while (ret == PIPELINE_OK) {
        if ((ret = pipeline_poll_stop(run)) != PIPELINE_OK)
            break;
        int averr = pipeline_next_packet(input, replay, pkt);
        if (averr == AVERROR_EOF)
            break;
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "read %s", run->spec->input);
            break;
        }
        int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        int key = pkt->stream_index == video_index && (pkt->flags & AV_PKT_FLAG_KEY) &&
                  pts != AV_NOPTS_VALUE;
        av_packet_unref(pkt);
        if (!key)
            continue;
        if (pts > seek_ts && found != AV_NOPTS_VALUE)
            break;
        found = pts;
        if (pts > seek_ts)
            break;
    }
    pipeline_replay_clear(replay);
    for (unsigned i = 0; i < input->nb_streams; i++)
        input->streams[i]->discard = saved[i];
    av_free(saved);
    if (ret != PIPELINE_OK)
        return ret;
    if (found == AV_NOPTS_VALUE)
        return pipeline_fail(run, 0, "copy %s from %.3f s: no video keyframe", run->spec->input,
                             (double)run->job_start_us / 1e6);
    run->copy_job_start_ts = found;
    run->job_start_us = pipeline_stream_time_us(run, found, tb);
    run->job_boundary = pipeline_floor_div(run->job_start_us, run->hls_time_us);
    return PIPELINE_OK;
}

/* Video copy, resumed run: finds where segment run->first_index begins, so
 * the run cuts exactly where a run from the job's start did. Given the sum
 * of the durations published before it (cb->resume_offset_us), a seek to
 * the job's first keyframe plus that sum, checked against the keyframe
 * found there; otherwise, or if the check fails, a replay of the copy
 * cutter over the video keyframes from the job's start (reading only video
 * packets, no decoding, but the whole input up to there). Leaves the input
 * to be seeked again. */
static int pipeline_copy_find_start(struct pipeline_run *run, AVFormatContext *input,
                                    int video_index, struct pipeline_replay *replay, AVPacket *pkt)
{
    AVStream *video = input->streams[video_index];
    enum AVDiscard *saved = av_calloc(input->nb_streams, sizeof(*saved));
    struct pipeline_copy_cutter cutter;
    int ret = PIPELINE_OK;
    if (saved == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the keyframe scan");
    for (unsigned i = 0; i < input->nb_streams; i++) {
        saved[i] = input->streams[i]->discard;
        if ((int)i != video_index)
            input->streams[i]->discard = AVDISCARD_ALL;
    }
    int64_t run_start = run->start_us;
    run->start_us = run->job_start_us;
    ret = pipeline_seek(run, input, video_index, -1, replay, pkt, 0);
    run->start_us = run_start;
    if (ret != PIPELINE_OK)
        goto end;

    pipeline_copy_cutter_init(&cutter, run, video->time_base);
    int64_t offset_us = run->cb != NULL ? run->cb->resume_offset_us : 0;
    for (;;) {
        if ((ret = pipeline_poll_stop(run)) != PIPELINE_OK)
            goto end;
        int averr = pipeline_next_packet(input, replay, pkt);
        if (averr == AVERROR_EOF) {
            ret = pipeline_fail(run, 0, "resume at segment %d: %s ends before it", run->first_index,
                                run->spec->input);
            goto end;
        }
        if (averr < 0) {
            ret = pipeline_fail(run, averr, "read %s", run->spec->input);
            goto end;
        }
        struct segment_cut cut;
        int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        int step =
            pkt->stream_index != video_index
                ? 0
                : pipeline_copy_cutter_step(&cutter, run, pts, pkt->flags & AV_PKT_FLAG_KEY, &cut);
        av_packet_unref(pkt);
        if (step > 0 && cut.index == run->first_index) {
            run->copy_start_ts = cut.pts;
            run->start_us = cut.start_us;
            break;
        }
        /* The job's first segment found: with the durations published
         * since, the one to resume at is a seek away. */
        if (step > 0 && cut.index == run->spec->start_number && offset_us > 0) {
            pipeline_replay_clear(replay);
            ret = pipeline_copy_seek_hint(run, input, video_index, replay, pkt,
                                          cut.start_us + offset_us);
            if (ret == 1) {
                ret = PIPELINE_OK;
                break;
            }
            if (ret != 0)
                goto end;
            /* Not where the durations say: replay every keyframe. */
            pipeline_replay_clear(replay);
            offset_us = 0;
            run->start_us = run->job_start_us;
            ret = pipeline_seek(run, input, video_index, -1, replay, pkt, 1);
            run->start_us = run_start;
            if (ret != PIPELINE_OK)
                goto end;
            pipeline_copy_cutter_init(&cutter, run, video->time_base);
        }
    }
end:
    pipeline_replay_clear(replay);
    for (unsigned i = 0; i < input->nb_streams; i++)
        input->streams[i]->discard = saved[i];
    av_free(saved);
    return ret;
}

/* ---- the run ----------------------------------------------------------------- */

/* After the stages are drained: refuses an input that yielded nothing (a
 * header followed by garbage would otherwise end "done" with nothing, or
 * with a frame concealed from a damaged packet) and one that stops well
 * short of the duration its header states (a copy still running, a broken
 * disk), rather than ending the stream early as if it were complete (a run
 * that muxed nothing gets the writer's "no frame at or after" instead). The
 * checks run after the drains because a frame-threaded decoder and the
 * encoder's lookahead hold the first frames until then. Returns a
 * pipeline_result. */
static int pipeline_check_input_end(struct pipeline_run *run, const AVFormatContext *input)
{
    const char *name = run->spec->input;
    if (run->video_decoded + run->audio_decoded == 0)
        return pipeline_fail(run, 0, "no frames decoded from input %s", name);
    if (input->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE && run->duration_us > 0 &&
        run->out_time_us + PIPELINE_TRUNCATED_US < run->duration_us && run->frames + run->bytes > 0)
        return pipeline_fail(run, 0, "read %s: the input ends at %.3f s of its %.3f s (truncated)",
                             name, (double)run->out_time_us / 1e6, (double)run->duration_us / 1e6);
    return PIPELINE_OK;
}

/* Reports progress once a second of wall time, or now when forced. */
static void pipeline_report_progress(struct pipeline_run *run, int64_t started,
                                     int64_t *last_report, int force)
{
    const struct pipeline_callbacks *cb = run->cb;
    if (cb == NULL || cb->progress == NULL)
        return;
    int64_t now = av_gettime_relative();
    if (!force && now - *last_report < 1000000)
        return;
    *last_report = now;
    int64_t advanced = run->out_time_us - run->start_us;
    struct pipeline_progress progress = {
        .frames = run->frames,
        .out_time_us = run->out_time_us,
        .start_us = run->job_start_us,
        .bytes = run->bytes,
        .speed = now > started && advanced > 0 ? (double)advanced / (double)(now - started) : 0.0,
        .duration_us = run->duration_us,
    };
    cb->progress(cb->opaque, &progress);
}

/* What the read loop works on. With a handoff the loop runs on the reader
 * thread: it decodes and filters the video and queues the filtered frames
 * and the audio packets for the encoding thread, never calling the run's
 * callbacks. Without one it does all the work itself. */
struct pipeline_reader {
    struct pipeline_run *run;
    AVFormatContext *input;
    struct pipeline_replay *replay;
    AVPacket *packet;
    struct pipeline_video *video;
    struct pipeline_audio *audio;
    int video_index;
    int audio_index;
    struct pipeline_handoff *handoff; /* NULL: one thread */
    struct pipeline_pace *pace;       /* -readrate */
    int64_t started;                  /* wall clock, for the progress reports */
    int64_t last_report;
};

/* Whether the read loop must stop: with a handoff it runs on the reader
 * thread, which never calls the run's callbacks and stops when the encoding
 * side aborts the queue. Returns a pipeline_result. */
static int pipeline_reader_stopped(void *opaque)
{
    struct pipeline_reader *r = opaque;
    if (r->handoff != NULL)
        return pipeline_handoff_aborted(r->handoff) ? PIPELINE_STOPPED : PIPELINE_OK;
    return pipeline_poll_stop(r->run);
}

/* Reads the input to its end, feeding each packet to its stream's stage,
 * then drains the video stage (with a handoff, up to the encoder). Returns a
 * pipeline_result. */
static int pipeline_read(struct pipeline_reader *r)
{
    struct pipeline_run *run = r->run;
    int ret;
    for (;;) {
        if ((ret = pipeline_reader_stopped(r)) != PIPELINE_OK)
            return ret;
        int averr = pipeline_next_packet(r->input, r->replay, r->packet);
        if (averr == AVERROR_EOF)
            break;
        if (averr < 0)
            return pipeline_fail(run, averr, "read %s", run->spec->input);
        ret = pipeline_pace_wait(r->pace, r->packet,
                                 r->input->streams[r->packet->stream_index]->time_base,
                                 pipeline_reader_stopped, r);
        if (ret != PIPELINE_OK) {
            av_packet_unref(r->packet);
            return ret;
        }
        if (r->packet->stream_index == r->video_index) {
            ret = pipeline_video_packet(r->video, r->packet);
        } else if (r->packet->stream_index == r->audio_index && r->handoff != NULL) {
            averr = pipeline_handoff_push_packet(r->handoff, r->packet);
            if (averr == AVERROR_EXIT)
                ret = PIPELINE_STOPPED;
            else if (averr < 0)
                ret = pipeline_fail(run, averr, "hand an audio packet to the encoder");
        } else if (r->packet->stream_index == r->audio_index) {
            ret = pipeline_audio_packet(r->audio, r->packet);
        } else if (r->packet->stream_index == run->subtitle_index) {
            ret = pipeline_video_subtitle_packet(r->video, r->packet);
        }
        av_packet_unref(r->packet);
        if (ret != PIPELINE_OK)
            return ret;
        if (r->handoff == NULL)
            pipeline_report_progress(run, r->started, &r->last_report, 0);
    }
    if (r->video_index >= 0)
        return pipeline_video_packet(r->video, NULL);
    return PIPELINE_OK;
}

/* The reader thread: the read loop, then its result as the last item. */
static void *pipeline_reader_main(void *opaque)
{
    struct pipeline_reader *r = opaque;
    int ret = pipeline_read(r);
    /* Fails only after an abort: then nobody waits for the result. */
    pipeline_handoff_push_end(r->handoff, ret);
    return NULL;
}

/* The encoding thread's loop: encodes and muxes what the reader queues, in
 * its order, until the reader's last item; then drains the video encoder.
 * Polls should_stop once per item. Returns a pipeline_result. */
static int pipeline_encode_queued(struct pipeline_reader *r)
{
    struct pipeline_run *run = r->run;
    for (;;) {
        int ret = pipeline_poll_stop(run);
        if (ret != PIPELINE_OK)
            return ret;
        struct pipeline_handoff_item item;
        pipeline_handoff_pop(r->handoff, &item);
        int end = item.kind == PIPELINE_HANDOFF_END;
        if (item.kind == PIPELINE_HANDOFF_FRAME)
            ret = pipeline_video_encode_frame(r->video, item.frame);
        else if (item.kind == PIPELINE_HANDOFF_PACKET)
            ret = pipeline_audio_packet(r->audio, item.packet);
        else
            ret = item.result;
        pipeline_handoff_item_free(&item);
        if (ret != PIPELINE_OK)
            return ret;
        if (end)
            return pipeline_video_finish(r->video);
        pipeline_report_progress(run, r->started, &r->last_report, 0);
    }
}

/* Runs the read loop on a reader thread and encodes on this one, the two
 * joined by a queue of a few frames (decoding and scaling overlap with
 * encoding, where the CLI runs them one after the other). Returns a
 * pipeline_result; the reader thread has ended when it returns. */
static int pipeline_read_and_encode(struct pipeline_reader *r)
{
    struct pipeline_run *run = r->run;
    struct pipeline_handoff handoff;
    pthread_t reader;
    int averr = pipeline_handoff_init(&handoff, PIPELINE_HANDOFF_ITEMS);
    if (averr < 0)
        return pipeline_fail(run, averr, "allocate the frame queue");
    r->handoff = &handoff;
    r->video->handoff = &handoff;
    int ret;
    if (pthread_create(&reader, NULL, pipeline_reader_main, r) != 0) {
        ret = pipeline_fail(run, AVERROR(EAGAIN), "start the reader thread");
    } else {
        ret = pipeline_encode_queued(r);
        if (ret != PIPELINE_OK)
            pipeline_handoff_abort(&handoff);
        pthread_join(reader, NULL);
    }
    r->handoff = NULL;
    r->video->handoff = NULL;
    pipeline_handoff_free(&handoff);
    return ret;
}

int pipeline_run(const struct job_spec *spec, int first_index, const struct pipeline_callbacks *cb,
                 char *err, size_t errlen)
{
    struct pipeline_run run = {
        .spec = spec,
        .cb = cb,
        .err = err,
        .errlen = errlen,
        .fail_lock = PTHREAD_MUTEX_INITIALIZER,
        .first_index = first_index,
        .subtitle_index = -1,
    };
    struct segment_writer writer = {0};
    struct pipeline_video video = {0};
    struct pipeline_audio audio = {0};
    struct pipeline_replay replay = {0};
    struct pipeline_pace pace = {0};
    AVFormatContext *input = NULL;
    AVPacket *packet = NULL;
    int video_index = -1;
    int audio_index = -1;
    int ret;

    if (errlen > 0)
        err[0] = '\0';
    pthread_once(&pipeline_log_once, pipeline_quiet_libav);
    if ((ret = pipeline_check_spec(&run, first_index)) != PIPELINE_OK)
        goto end;
    if ((ret = pipeline_open_input(&run, NULL, &input)) != PIPELINE_OK)
        goto end;

    int want_video = spec->video_codec[0] != '\0';
    int want_audio = spec->audio_codec[0] != '\0';
    if (want_video && spec->filter_complex) {
        if ((ret = pipeline_complex_inputs(&run, input, &video_index, &run.subtitle_index)))
            goto end;
    } else if (want_video && (ret = pipeline_select_stream(&run, input, AVMEDIA_TYPE_VIDEO,
                                                           spec->video_stream, 1, &video_index))) {
        goto end;
    }
    /* A film without sound is still a film: "best audio" may find none. */
    if (want_audio &&
        (ret = pipeline_select_stream(&run, input, AVMEDIA_TYPE_AUDIO, spec->audio_stream,
                                      spec->audio_stream >= 0, &audio_index)))
        goto end;
    if (video_index < 0 && audio_index < 0) {
        ret =
            pipeline_fail(&run, 0, "transcode %s: no video or audio stream selected", spec->input);
        goto end;
    }

    /* Place the run on the timeline (see pipeline.h). */
    run.origin_us = input->start_time != AV_NOPTS_VALUE ? input->start_time : 0;
    run.copy_video = video_index >= 0 && strcmp(spec->video_codec, "copy") == 0;
    run.copy_start_ts = INT64_MIN;
    if (spec->output_kind == JOB_OUTPUT_PROGRESSIVE) {
        /* One file from the start (or the -ss point): a single "segment". */
        run.first_index = first_index = spec->start_number;
        run.hls_time_us = PIPELINE_PROGRESSIVE_SPAN_US;
        run.job_start_us = spec->seek_us != JOB_SPEC_UNSET ? spec->seek_us : 0;
    } else {
        run.hls_time_us = spec->hls_time_us;
        run.job_start_us = spec->seek_us != JOB_SPEC_UNSET ? spec->seek_us
                                                           : spec->start_number * spec->hls_time_us;
    }
    run.job_boundary = pipeline_floor_div(run.job_start_us, run.hls_time_us);
    run.copy_job_start_ts = INT64_MIN;

    packet = av_packet_alloc();
    if (packet == NULL) {
        ret = pipeline_fail(&run, AVERROR(ENOMEM), "allocate a packet");
        goto end;
    }
    int force_seek = 0;
    if (run.copy_video && spec->seek_us != JOB_SPEC_UNSET) {
        if ((ret = pipeline_copy_seek_keyframe(&run, input, video_index, &replay, packet)))
            goto end;
        force_seek = 1;
    }
    if (first_index > spec->start_number)
        run.start_us = first_index * spec->hls_time_us;
    else
        run.start_us = run.job_start_us;
    if (run.copy_video && first_index > spec->start_number) {
        if ((ret = pipeline_copy_find_start(&run, input, video_index, &replay, packet)))
            goto end;
        force_seek = 1;
    }
    run.trim = run.start_us > 0;
    run.first_boundary = pipeline_floor_div(run.start_us, run.hls_time_us);

    if ((ret = segment_writer_init(&writer, &run, video_index >= 0, audio_index >= 0)))
        goto end;
    if (video_index >= 0 &&
        (ret = pipeline_video_open(&video, &run, &writer, input, input->streams[video_index])))
        goto end;
    if (run.subtitle_index >= 0 &&
        (ret = pipeline_video_open_subtitle(&video, input->streams[run.subtitle_index])))
        goto end;
    if (audio_index >= 0 &&
        (ret = pipeline_audio_open(&audio, &run, &writer, input->streams[audio_index])))
        goto end;

    if (run.trim && run.subtitle_index >= 0 &&
        (ret = pipeline_subtitle_lookback(&run, input, &video, video_index, packet)))
        goto end;
    if ((run.trim || force_seek) &&
        (ret = pipeline_seek(&run, input, video_index, audio_index, &replay, packet, force_seek)))
        goto end;

    struct pipeline_reader reader = {
        .run = &run,
        .input = input,
        .replay = &replay,
        .packet = packet,
        .video = &video,
        .audio = &audio,
        .video_index = video_index,
        .audio_index = audio_index,
        .pace = &pace,
        .started = av_gettime_relative(),
    };
    reader.last_report = reader.started;
    int averr = pipeline_pace_init(&pace, spec, input->nb_streams);
    if (averr < 0) {
        ret = pipeline_fail(&run, averr, "set up -readrate");
        goto end;
    }
    /* Transcoded video gets a thread of its own for decoding and filtering;
     * a copy or audio-only run has too little work to split. */
    if (video_index >= 0 && !run.copy_video)
        ret = pipeline_read_and_encode(&reader);
    else
        ret = pipeline_read(&reader);
    if (ret != PIPELINE_OK)
        goto end;

    /* End of input: the video stage is drained; drain the audio, check what
     * came out, then deliver the last segment. */
    if (audio_index >= 0 && (ret = pipeline_audio_packet(&audio, NULL)))
        goto end;
    if ((ret = pipeline_check_input_end(&run, input)) != PIPELINE_OK)
        goto end;
    pipeline_report_progress(&run, reader.started, &reader.last_report, 1);
    ret = segment_writer_finish(&writer);

end:
    pipeline_video_close(&video);
    pipeline_audio_close(&audio);
    segment_writer_free(&writer);
    pipeline_replay_free(&replay);
    pipeline_pace_free(&pace);
    av_packet_free(&packet);
    avformat_close_input(&input);
    return ret;
}
