/* pipeline_input.c -- the run's input: opening and probing it, picking the
 * streams the job reads, seeking to where the run starts, and, for a stream
 * copy, finding the keyframe the job (after -ss) and the run (resumed)
 * start on.
 *
 * Owns the AVFormatContext and the replay queue: packets read while
 * checking a seek are held there and handed out by pipeline_input_read
 * before any new packet, because seeking again to the same time is not
 * guaranteed to land at the same place (MPEG-TS). The searches of a stream
 * copy read video packets only (no decoding) and leave the input to be
 * seeked again before the run reads it.
 *
 * It reads the timeline and places the copy's start on it, and calls
 * nothing of the stages: the driver (pipeline.c) and the subtitle look-back
 * (a second opening of the same input) call it, never the other way. */
#include "pipeline_input.h"

#include <stdio.h>
#include <string.h>

#include <libavutil/fifo.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>

#include "pipeline_complex.h"

/* How far before its start a mid-stream run begins decoding, so the audio
 * decoder and encoder have history (Opus needs 80 ms) and the audio reaches
 * back past the first cut's dts (a reorder delay before its pts). */
#define INPUT_SEEK_PREROLL_US 500000
/* Packets read after a seek while looking for the first video keyframe. */
#define INPUT_KEYFRAME_SCAN_PACKETS 50000
/* First step back when a seek lands past the target (doubles each time). */
#define INPUT_SEEK_BACKOFF_US 1000000
/* The keyframe a copy run cuts at: its start time in the run's stream time
 * must match the sum of the published durations to this (durations are
 * whole microseconds, summed). */
#define INPUT_COPY_HINT_SLACK_US 1000
/* Times an input that cannot seek may be opened again in one run. */
#define INPUT_REWINDS_MAX 16

struct pipeline_input {
    struct pipeline_run *run;
    AVFormatContext *format; /* NULL if opening failed */
    AVFifo *replay;          /* of AVPacket *: read while checking a seek, not yet handed out */
    AVPacket *scratch;       /* for the scans */
    struct pipeline_streams streams;
    int64_t duration_us;
    /* Contexts a rewind replaced, open until the run ends: the stages keep
     * pointers to their streams (time bases, parameters). */
    AVFormatContext *retired[INPUT_REWINDS_MAX];
    int n_retired;
};

/* ---- opening ------------------------------------------------------------------- */

/* Whether input already has the streams of like (count and codecs), as a
 * container with stream headers (Matroska, MP4) gives without probing. */
static int input_same_streams(const AVFormatContext *input, const AVFormatContext *like)
{
    if (input->nb_streams != like->nb_streams)
        return 0;
    for (unsigned i = 0; i < input->nb_streams; i++)
        if (input->streams[i]->codecpar->codec_id != like->streams[i]->codecpar->codec_id)
            return 0;
    return 1;
}

/* Opens the job's input into in->format and probes its streams (unless
 * like already did). Returns a pipeline_result. */
static int input_open_format(struct pipeline_input *in, const AVFormatContext *like)
{
    struct pipeline_run *run = in->run;
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
    /* -fflags +igndts, +discardcorrupt...: libavformat reads them as the
     * CLI gives them. */
    if (spec->input_fflags[0] != '\0')
        averr = av_opt_set(input, "fflags", spec->input_fflags, 0);
    /* A URL's protocol options (-user_agent, -referer, -reconnect*). */
    for (const char *line = spec->input_options; averr >= 0 && *line != '\0';) {
        size_t n = strcspn(line, "\n");
        char key[64];
        const char *eq = memchr(line, '=', n);
        if (eq == NULL || (size_t)(eq - line) >= sizeof(key)) {
            averr = AVERROR(EINVAL);
            break;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - line), line);
        char value[sizeof(spec->input_options)];
        snprintf(value, sizeof(value), "%.*s", (int)(line + n - eq - 1), eq + 1);
        averr = av_dict_set(&options, key, value, 0);
        line += n + (line[n] == '\n');
    }
    if (averr >= 0 && spec->analyzeduration_us >= 0)
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
    /* An option neither the demuxer nor the protocol took (-user_agent on
     * a file) ends the run, as it ends the CLI's ("Option ... not found"). */
    const AVDictionaryEntry *unused = av_dict_get(options, "", NULL, AV_DICT_IGNORE_SUFFIX);
    if (unused != NULL) {
        ret = pipeline_fail(run, AVERROR_OPTION_NOT_FOUND, "open input %s: option %s not found",
                            spec->input, unused->key);
        avformat_close_input(&input);
        goto end;
    }
    averr = like != NULL && input_same_streams(input, like)
                ? 0
                : avformat_find_stream_info(input, NULL);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "read the streams of %s", spec->input);
        avformat_close_input(&input);
    } else if (input->duration > 0) {
        in->duration_us = input->duration;
    }
end:
    av_dict_free(&options);
    in->format = input;
    return ret;
}

int pipeline_input_open(struct pipeline_input **out, struct pipeline_run *run,
                        const struct pipeline_input *like)
{
    struct pipeline_input *in = *out = av_mallocz(sizeof(*in));
    if (in == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "open input %s", run->spec->input);
    in->run = run;
    in->streams = (struct pipeline_streams){-1, -1, -1, -1};
    in->scratch = av_packet_alloc();
    if (in->scratch == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "open input %s", run->spec->input);
    return input_open_format(in, like != NULL ? like->format : NULL);
}

AVFormatContext *pipeline_input_format(const struct pipeline_input *in)
{
    return in->format;
}

int64_t pipeline_input_origin_us(const struct pipeline_input *in)
{
    return in->format->start_time != AV_NOPTS_VALUE ? in->format->start_time : 0;
}

int64_t pipeline_input_duration_us(const struct pipeline_input *in)
{
    return in->duration_us;
}

/* ---- streams ----------------------------------------------------------------------- */

/* Resolves a stream choice (-1 none, -2 best of its kind, else an index).
 * Sets *index to -1 when there is none and none is required. */
static int input_select_stream(struct pipeline_input *in, enum AVMediaType type, int wanted,
                               int required, int *index)
{
    struct pipeline_run *run = in->run;
    AVFormatContext *input = in->format;
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

int pipeline_input_select(struct pipeline_input *in, AVFormatContext *second,
                          struct pipeline_streams *out)
{
    struct pipeline_run *run = in->run;
    const struct job_spec *spec = run->spec;
    struct pipeline_streams *s = &in->streams;
    int ret = PIPELINE_OK;

    int want_video = spec->video_codec[0] != '\0';
    int want_audio = spec->audio_codec[0] != '\0';
    if (want_video && spec->filter_complex)
        ret = pipeline_complex_inputs(run, in->format, second, &s->video, &s->subtitle,
                                      &s->second_subtitle);
    else if (want_video)
        ret = input_select_stream(in, AVMEDIA_TYPE_VIDEO, spec->video_stream, 1, &s->video);
    /* A film without sound is still a film: "best audio" may find none. */
    if (ret == PIPELINE_OK && want_audio)
        ret = input_select_stream(in, AVMEDIA_TYPE_AUDIO, spec->audio_stream,
                                  spec->audio_stream >= 0, &s->audio);
    if (ret == PIPELINE_OK && s->video < 0 && s->audio < 0)
        ret = pipeline_fail(run, 0, "transcode %s: no video or audio stream selected", spec->input);
    *out = *s;
    return ret;
}

/* ---- the replay queue ---------------------------------------------------------------- */

static void input_replay_clear(struct pipeline_input *in)
{
    AVPacket *held;
    while (in->replay != NULL && av_fifo_read(in->replay, &held, 1) >= 0)
        av_packet_free(&held);
}

/* Moves pkt's reference to the end of the replay queue. */
static int input_replay_push(struct pipeline_input *in, AVPacket *pkt)
{
    AVPacket *held = av_packet_alloc();
    if (held == NULL)
        return pipeline_fail(in->run, AVERROR(ENOMEM), "hold a packet read after the seek");
    av_packet_move_ref(held, pkt);
    int averr = av_fifo_write(in->replay, &held, 1);
    if (averr < 0) {
        av_packet_free(&held);
        return pipeline_fail(in->run, averr, "hold a packet read after the seek");
    }
    return PIPELINE_OK;
}

int pipeline_input_read(struct pipeline_input *in, AVPacket *pkt)
{
    AVPacket *held;
    if (in->replay != NULL && av_fifo_read(in->replay, &held, 1) >= 0) {
        av_packet_move_ref(pkt, held);
        av_packet_free(&held);
        return 0;
    }
    return av_read_frame(in->format, pkt);
}

/* ---- seeking ------------------------------------------------------------------------- */

/* Reads packets after a seek up to the first keyframe of video stream
 * video_index and returns its pts (AV_NOPTS_VALUE when none turned up).
 * Packets of stream audio_index and of the subtitle stream, and the
 * keyframe, are held for the main loop; video before the keyframe is
 * useless and dropped. */
static int input_scan_to_keyframe(struct pipeline_input *in, int video_index, int audio_index,
                                  int64_t *keyframe_ts)
{
    struct pipeline_run *run = in->run;
    AVPacket *pkt = in->scratch;
    *keyframe_ts = AV_NOPTS_VALUE;
    for (int n = 0; n < INPUT_KEYFRAME_SCAN_PACKETS; n++) {
        int averr = av_read_frame(in->format, pkt);
        if (averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(run, averr, "read %s", run->spec->input);
        int keyframe = pkt->stream_index == video_index && (pkt->flags & AV_PKT_FLAG_KEY);
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        if (keyframe || pkt->stream_index == audio_index ||
            pkt->stream_index == in->streams.subtitle) {
            int ret = input_replay_push(in, pkt);
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

/* Whether the input can seek: an HTTP source without byte ranges (a live
 * TV relay) cannot. */
static int input_seekable(const AVFormatContext *input)
{
    return input->pb == NULL || (input->pb->seekable & AVIO_SEEKABLE_NORMAL);
}

/* Opens an input that cannot seek again, which reads it from its start (a
 * relay serves its stream from the beginning of what it has), for a run
 * that must go back further than libavformat still buffers (a forward
 * seek reads ahead, which works on any input): a copy's keyframe search
 * that has to start over. The new context must have the old one's
 * streams; the old one stays open (retired) for the stages. Returns a
 * pipeline_result. */
static int input_rewind(struct pipeline_input *in)
{
    struct pipeline_run *run = in->run;
    AVFormatContext *old = in->format;
    if (in->n_retired == INPUT_REWINDS_MAX)
        return pipeline_fail(run, AVERROR(ENOSYS), "read %s from its start again: done %d times",
                             run->spec->input, INPUT_REWINDS_MAX);
    input_replay_clear(in);
    in->retired[in->n_retired++] = old;
    /* Probed again: without find_stream_info an MPEG-TS demuxer hands out
     * whole PES packets (several AAC frames each), not parsed frames. */
    int ret = input_open_format(in, NULL);
    if (ret != PIPELINE_OK)
        return ret;
    AVFormatContext *input = in->format;
    int same = input_same_streams(input, old);
    for (unsigned i = 0; same && i < input->nb_streams; i++) {
        same = av_cmp_q(input->streams[i]->time_base, old->streams[i]->time_base) == 0;
        input->streams[i]->discard = old->streams[i]->discard;
    }
    if (!same)
        return pipeline_fail(run, AVERROR_INVALIDDATA,
                             "read %s from its start again: its streams changed", run->spec->input);
    return PIPELINE_OK;
}

/* Positions the input so that decoding reaches stream time start_us with
 * history: from a keyframe of video stream video_index (if >= 0) at or
 * before start - preroll, seeking by that stream, else by audio_index. MP4
 * and Matroska seeks land on such a keyframe; an MPEG-TS seek can land on
 * any frame, so the first keyframe after it is checked and the seek
 * repeated further back until it is early enough. The packets read while
 * checking are held in the replay queue. Close to the input's start it
 * reads from the beginning, which probing kept, without seeking (unless
 * packets were read since: force). Returns a pipeline_result. */
static int input_seek(struct pipeline_input *in, const struct pipeline_timeline *t,
                      int64_t start_us, int video_index, int audio_index, int force)
{
    struct pipeline_run *run = in->run;
    AVFormatContext *input = in->format;
    int seek_index = video_index >= 0 ? video_index : audio_index;
    AVRational tb = input->streams[seek_index]->time_base;
    int64_t target_us = start_us - INPUT_SEEK_PREROLL_US;
    int64_t backoff_us = INPUT_SEEK_BACKOFF_US;

    if (target_us <= 0 && !force)
        return PIPELINE_OK;
    int64_t limit_ts = av_rescale_q_rnd(t->origin_us + target_us, AV_TIME_BASE_Q, tb,
                                        AV_ROUND_DOWN | AV_ROUND_PASS_MINMAX);
    if (in->replay == NULL)
        in->replay = av_fifo_alloc2(64, sizeof(AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
    if (in->replay == NULL)
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
            int64_t ts = av_rescale_q_rnd(t->origin_us + target_us, AV_TIME_BASE_Q, tb,
                                          AV_ROUND_DOWN | AV_ROUND_PASS_MINMAX);
            averr = avformat_seek_file(input, seek_index, INT64_MIN, ts, ts, 0);
        }
        if (averr < 0 && !input_seekable(input)) {
            /* A seek back past what it still buffers: the input's start is
             * the only place it can go back to. */
            int ret = input_rewind(in);
            if (ret != PIPELINE_OK)
                return ret;
            input = in->format;
            target_us = 0;
            averr = 0;
        }
        if (averr < 0)
            return pipeline_fail(run, averr, "seek %s to %.3f s", run->spec->input,
                                 (double)target_us / 1e6);
        if (video_index < 0)
            return PIPELINE_OK;

        int64_t keyframe_ts;
        int ret = input_scan_to_keyframe(in, video_index, audio_index, &keyframe_ts);
        if (ret != PIPELINE_OK)
            return ret;
        /* At the very start there is nothing earlier to try. */
        if ((keyframe_ts != AV_NOPTS_VALUE && keyframe_ts <= limit_ts) || target_us == 0)
            return PIPELINE_OK;
        input_replay_clear(in);
        target_us -= backoff_us;
        backoff_us *= 2;
    }
}

int pipeline_input_seek(struct pipeline_input *in, const struct pipeline_timeline *t,
                        int64_t start_us, int force)
{
    return input_seek(in, t, start_us, in->streams.video, in->streams.audio, force);
}

/* ---- where a stream copy starts ------------------------------------------------------- */

/* Discards every stream but video (saving their settings in *saved) while a
 * copy search reads video packets only. Returns a pipeline_result. */
static int input_video_only(struct pipeline_input *in, enum AVDiscard **saved)
{
    AVFormatContext *input = in->format;
    *saved = av_calloc(input->nb_streams, sizeof(**saved));
    if (*saved == NULL)
        return pipeline_fail(in->run, AVERROR(ENOMEM), "allocate the keyframe scan");
    for (unsigned i = 0; i < input->nb_streams; i++) {
        (*saved)[i] = input->streams[i]->discard;
        if ((int)i != in->streams.video)
            input->streams[i]->discard = AVDISCARD_ALL;
    }
    return PIPELINE_OK;
}

/* Ends a copy search: drops what it held back and restores the streams. */
static void input_end_search(struct pipeline_input *in, enum AVDiscard **saved)
{
    input_replay_clear(in);
    if (*saved != NULL)
        for (unsigned i = 0; i < in->format->nb_streams; i++)
            in->format->streams[i]->discard = (*saved)[i];
    av_freep(saved);
}

/* The next packet of a copy search (only video is read): its pts (else
 * dts) in *pts, whether it is a video keyframe with a time in *key, and
 * *eof at the end of the input. Polls should_stop first. Returns a
 * pipeline_result. */
static int input_next_video(struct pipeline_input *in, int64_t *pts, int *key, int *eof)
{
    struct pipeline_run *run = in->run;
    AVPacket *pkt = in->scratch;
    *eof = 0;
    int ret = pipeline_poll_stop(run);
    if (ret != PIPELINE_OK)
        return ret;
    int averr = pipeline_input_read(in, pkt);
    if (averr == AVERROR_EOF) {
        *eof = 1;
        return PIPELINE_OK;
    }
    if (averr < 0)
        return pipeline_fail(run, averr, "read %s", run->spec->input);
    *pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    *key = pkt->stream_index == in->streams.video && (pkt->flags & AV_PKT_FLAG_KEY) &&
           *pts != AV_NOPTS_VALUE;
    av_packet_unref(pkt);
    return PIPELINE_OK;
}

int pipeline_input_copy_job_start(struct pipeline_input *in, struct pipeline_timeline *t)
{
    struct pipeline_run *run = in->run;
    int video_index = in->streams.video;
    AVRational tb = in->format->streams[video_index]->time_base;
    int64_t seek_ts = timeline_stream_ts(t, t->job_start_us, tb);
    int64_t found = AV_NOPTS_VALUE;
    enum AVDiscard *saved = NULL;
    int ret = input_video_only(in, &saved);
    if (ret == PIPELINE_OK)
        ret = input_seek(in, t, t->job_start_us, video_index, -1, 1);
    while (ret == PIPELINE_OK) {
        int64_t pts;
        int key, eof;
        ret = input_next_video(in, &pts, &key, &eof);
        if (ret != PIPELINE_OK || eof)
            break;
        if (!key)
            continue;
        if (pts > seek_ts && found != AV_NOPTS_VALUE)
            break;
        found = pts;
        if (pts > seek_ts)
            break;
    }
    input_end_search(in, &saved);
    if (ret != PIPELINE_OK)
        return ret;
    if (found == AV_NOPTS_VALUE)
        return pipeline_fail(run, 0, "copy %s from %.3f s: no video keyframe", run->spec->input,
                             (double)t->job_start_us / 1e6);
    timeline_start_job_at_keyframe(t, found, tb);
    return PIPELINE_OK;
}

/* Video copy, resumed run, with the sum of the published durations: seeks
 * to target_us (the job's first segment start plus that sum) and checks
 * the video keyframe found there. *found is 1 (t's resume point set) or 0
 * (no keyframe there: the caller replays from the start). Returns a
 * pipeline_result. */
static int input_copy_seek_hint(struct pipeline_input *in, struct pipeline_timeline *t,
                                int64_t target_us, int *found)
{
    AVRational tb = in->format->streams[in->streams.video]->time_base;
    *found = 0;
    int ret = input_seek(in, t, target_us, in->streams.video, -1, 1);
    if (ret != PIPELINE_OK)
        return ret;
    for (;;) {
        int64_t pts;
        int key, eof;
        ret = input_next_video(in, &pts, &key, &eof);
        if (ret != PIPELINE_OK || eof)
            return ret;
        if (!key)
            continue;
        int64_t start_us = timeline_stream_time_us(t, pts, tb);
        if (start_us > target_us + INPUT_COPY_HINT_SLACK_US)
            return PIPELINE_OK;
        if (start_us >= target_us - INPUT_COPY_HINT_SLACK_US) {
            timeline_resume_at_keyframe(t, pts, start_us);
            *found = 1;
            return PIPELINE_OK;
        }
    }
}

int pipeline_input_copy_resume_start(struct pipeline_input *in, struct pipeline_timeline *t,
                                     int64_t resume_offset_us)
{
    struct pipeline_run *run = in->run;
    AVRational tb = in->format->streams[in->streams.video]->time_base;
    struct timeline_cutter cutter;
    enum AVDiscard *saved = NULL;
    int ret = input_video_only(in, &saved);
    if (ret == PIPELINE_OK)
        ret = input_seek(in, t, t->job_start_us, in->streams.video, -1, 0);
    if (ret != PIPELINE_OK)
        goto end;

    timeline_cutter_init(&cutter, t, tb);
    int64_t offset_us = resume_offset_us;
    for (;;) {
        int64_t pts;
        int key, eof;
        ret = input_next_video(in, &pts, &key, &eof);
        if (ret != PIPELINE_OK)
            goto end;
        if (eof) {
            ret = pipeline_fail(run, 0, "resume at segment %d: %s ends before it", t->first_index,
                                run->spec->input);
            goto end;
        }
        struct segment_cut cut;
        /* Packets of other streams are discarded: each is video, key or not. */
        int step = timeline_cutter_step(&cutter, t, pts, key, &cut);
        if (step > 0 && cut.index == t->first_index) {
            timeline_resume_at_keyframe(t, cut.pts, cut.start_us);
            break;
        }
        /* The job's first segment found: with the durations published
         * since, the one to resume at is a seek away. */
        if (step > 0 && cut.index == t->start_number && offset_us > 0) {
            int found;
            input_replay_clear(in);
            ret = input_copy_seek_hint(in, t, cut.start_us + offset_us, &found);
            if (ret != PIPELINE_OK || found)
                goto end;
            /* Not where the durations say: replay every keyframe. */
            input_replay_clear(in);
            offset_us = 0;
            if ((ret = input_seek(in, t, t->job_start_us, in->streams.video, -1, 1)))
                goto end;
            timeline_cutter_init(&cutter, t, tb);
        }
    }
end:
    input_end_search(in, &saved);
    return ret;
}

void pipeline_input_close(struct pipeline_input **inp)
{
    struct pipeline_input *in = *inp;
    if (in == NULL)
        return;
    input_replay_clear(in);
    av_fifo_freep2(&in->replay);
    av_packet_free(&in->scratch);
    avformat_close_input(&in->format);
    for (int i = 0; i < in->n_retired; i++)
        avformat_close_input(&in->retired[i]);
    av_freep(inp);
}
