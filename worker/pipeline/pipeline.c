/* pipeline.c -- one run of the worker's libav pipeline (see pipeline.h): the
 * driver, which wires the stages together and owns nothing of their work.
 *
 * The run reads like FFmpeg's doc/examples/transcode.c: set up the job's
 * hardware (pipeline_hw.c: driver environment, devices), open the input and
 * pick its streams (pipeline_input.c), place the run on the timeline
 * (pipeline_timeline.c; a stream copy first asks the input where its job
 * and its run start; an external subtitle file burned in is a second input,
 * pipeline_subinput.c), open the segment writer (pipeline_segment.c) and the
 * stages that feed it (pipeline_video.c, pipeline_audio.c), seek, then read
 * packets and hand each to its stream's stage; at end of input drain the
 * stages in order, refuse an input that yielded no frames or stopped short
 * of its stated duration, and let the writer deliver the last segment. It
 * also polls should_stop and reports progress, reading the stages'
 * counters.
 *
 * A run that transcodes video runs on two threads: a reader thread demuxes,
 * decodes and filters (pipeline_read), and queues filtered frames and audio
 * packets in a bounded handoff (pipeline_handoff.c); the caller's thread
 * encodes and muxes them in the same order (pipeline_encode_queued), so the
 * output is the one a single thread would produce, decoding and scaling
 * overlap with encoding, and every callback still runs on the caller's
 * thread. A run whose encoder takes hardware frames stays on one thread,
 * as the CLI: queued frames would hold surfaces of fixed-size pools.
 *
 * The calls go one way: this file calls the stages, the stages call the
 * writer and the leaves (pipeline_run.c, pipeline_timeline.c), and nothing
 * calls back up (scripts/callgraph.sh checks it). The files of
 * worker/pipeline/ (and worker/pipeline_caps.c) are the only code in ffpool
 * that calls libav. They never log: failures come back as one sentence in
 * err, naming the step and libav's reason. */
#include "pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/log.h>
#include <libavutil/mathematics.h>
#include <libavutil/time.h>

#include "pipeline_audio.h"
#include "pipeline_handoff.h"
#include "pipeline_hw.h"
#include "pipeline_input.h"
#include "pipeline_pace.h"
#include "pipeline_run.h"
#include "pipeline_segment.h"
#include "pipeline_subinput.h"
#include "pipeline_timeline.h"
#include "pipeline_video.h"

/* Items (filtered frames, audio packets) the reader thread may queue ahead
 * of the encoder: enough to ride out jitter, few enough to bound memory
 * (a 1080p yuv420p frame is 3 MB). */
#define PIPELINE_HANDOFF_ITEMS 8
/* An external subtitle file's packets are handed to the video stage this
 * far ahead of the video packets: a frame leaves the decoder after packets
 * with later timestamps went in (reordering, frame threads), and must find
 * the subtitles of its time decoded. */
#define PIPELINE_SUBTITLE_LEAD_US 3000000
/* Input ending this much before its stated duration is truncated. */
#define PIPELINE_TRUNCATED_US 5000000

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

/* What the read loop works on: the run's input, stages and clock. With a
 * handoff the loop runs on the reader thread: it decodes and filters the
 * video and queues the filtered frames and the audio packets for the
 * encoding thread, never calling the run's callbacks. Without one it does
 * all the work itself. */
struct pipeline_reader {
    struct pipeline_run *run;
    const struct pipeline_timeline *timeline;
    struct pipeline_input *input;
    struct pipeline_subinput *subinput; /* the external subtitle file, NULL: none */
    struct pipeline_streams streams;
    AVPacket *packet;
    struct pipeline_video *video;
    struct pipeline_audio *audio;
    struct segment_writer *writer;
    struct pipeline_handoff *handoff; /* NULL: one thread */
    struct pipeline_pace *pace;       /* -readrate */
    int64_t started;                  /* wall clock, for the progress reports */
    int64_t last_report;
};

/* After the stages are drained: refuses an input that yielded nothing (a
 * header followed by garbage would otherwise end "done" with nothing, or
 * with a frame concealed from a damaged packet) and one that stops well
 * short of the duration its header states (a copy still running, a broken
 * disk), rather than ending the stream early as if it were complete (a run
 * that muxed nothing gets the writer's "no frame at or after" instead). The
 * checks run after the drains because a frame-threaded decoder and the
 * encoder's lookahead hold the first frames until then. Returns a
 * pipeline_result. */
static int pipeline_check_input_end(const struct pipeline_reader *r)
{
    struct pipeline_run *run = r->run;
    const char *name = run->spec->input;
    const AVFormatContext *input = pipeline_input_format(r->input);
    int64_t duration_us = pipeline_input_duration_us(r->input);
    int64_t out_time_us = segment_writer_out_time_us(r->writer);
    int64_t frames = pipeline_video_frames(r->video);
    int64_t bytes = segment_writer_bytes(r->writer);
    if (pipeline_video_decoded(r->video) + pipeline_audio_decoded(r->audio) == 0)
        return pipeline_fail(run, 0, "no frames decoded from input %s", name);
    if (input->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE && duration_us > 0 &&
        out_time_us + PIPELINE_TRUNCATED_US < duration_us && frames + bytes > 0)
        return pipeline_fail(run, 0, "read %s: the input ends at %.3f s of its %.3f s (truncated)",
                             name, (double)out_time_us / 1e6, (double)duration_us / 1e6);
    return PIPELINE_OK;
}

/* Reports progress once a second of wall time, or now when forced. Runs on
 * the encoding thread, which writes the counters it reads. */
static void pipeline_report_progress(struct pipeline_reader *r, int force)
{
    const struct pipeline_callbacks *cb = r->run->cb;
    if (cb == NULL || cb->progress == NULL)
        return;
    int64_t now = av_gettime_relative();
    if (!force && now - r->last_report < 1000000)
        return;
    r->last_report = now;
    int64_t out_time_us = segment_writer_out_time_us(r->writer);
    int64_t advanced = out_time_us - r->timeline->start_us;
    struct pipeline_progress progress = {
        .frames = pipeline_video_frames(r->video),
        .out_time_us = out_time_us,
        .start_us = r->timeline->job_start_us,
        .bytes = segment_writer_bytes(r->writer),
        .speed =
            now > r->started && advanced > 0 ? (double)advanced / (double)(now - r->started) : 0.0,
        .duration_us = pipeline_input_duration_us(r->input),
    };
    cb->progress(cb->opaque, &progress);
}

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

/* Before video packet pkt: hands the video stage the packets of the
 * external subtitle file due by its time (plus the lead), so subtitles
 * reach it in time order with the video. Returns a pipeline_result. */
static int pipeline_feed_subtitles(struct pipeline_reader *r, const AVPacket *pkt)
{
    if (r->subinput == NULL || r->streams.second_subtitle < 0)
        return PIPELINE_OK;
    AVStream *st = pipeline_input_format(r->input)->streams[pkt->stream_index];
    int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (ts == AV_NOPTS_VALUE)
        return PIPELINE_OK; /* the next packet with a time brings them */
    int64_t until = av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q) + PIPELINE_SUBTITLE_LEAD_US;
    for (;;) {
        AVPacket *sub;
        int ret = pipeline_subinput_next(r->subinput, until, &sub);
        if (ret != PIPELINE_OK || sub == NULL)
            return ret;
        if ((ret = pipeline_video_subtitle_packet(r->video, sub)) != PIPELINE_OK)
            return ret;
    }
}

/* Reads the input to its end, feeding each packet to its stream's stage,
 * then drains the video stage (with a handoff, up to the encoder). Returns a
 * pipeline_result. */
static int pipeline_read(struct pipeline_reader *r)
{
    struct pipeline_run *run = r->run;
    const struct pipeline_streams *s = &r->streams;
    AVFormatContext *format = pipeline_input_format(r->input);
    AVPacket *pkt = r->packet;
    int ret;
    for (;;) {
        if ((ret = pipeline_reader_stopped(r)) != PIPELINE_OK)
            return ret;
        int averr = pipeline_input_read(r->input, pkt);
        if (averr == AVERROR_EOF)
            break;
        if (averr < 0)
            return pipeline_fail(run, averr, "read %s", run->spec->input);
        ret = pipeline_pace_wait(r->pace, pkt, format->streams[pkt->stream_index]->time_base,
                                 pipeline_reader_stopped, r);
        if (ret != PIPELINE_OK) {
            av_packet_unref(pkt);
            return ret;
        }
        if (pkt->stream_index == s->video) {
            ret = pipeline_feed_subtitles(r, pkt);
            if (ret == PIPELINE_OK)
                ret = pipeline_video_packet(r->video, pkt);
        } else if (pkt->stream_index == s->audio && r->handoff != NULL) {
            averr = pipeline_handoff_push_packet(r->handoff, pkt);
            if (averr == AVERROR_EXIT)
                ret = PIPELINE_STOPPED;
            else if (averr < 0)
                ret = pipeline_fail(run, averr, "hand an audio packet to the encoder");
        } else if (pkt->stream_index == s->audio) {
            ret = pipeline_audio_packet(r->audio, pkt);
        } else if (pkt->stream_index == s->subtitle) {
            ret = pipeline_video_subtitle_packet(r->video, pkt);
        }
        av_packet_unref(pkt);
        if (ret != PIPELINE_OK)
            return ret;
        if (r->handoff == NULL)
            pipeline_report_progress(r, 0);
    }
    if (s->video >= 0)
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
    for (;;) {
        int ret = pipeline_poll_stop(r->run);
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
        pipeline_report_progress(r, 0);
    }
}

/* Runs the read loop on a reader thread and encodes on this one, the two
 * joined by a queue of a few frames (decoding and scaling overlap with
 * encoding, where the CLI runs them one after the other). Returns a
 * pipeline_result; the reader thread has ended when it returns. */
static int pipeline_read_and_encode(struct pipeline_reader *r)
{
    pthread_t reader;
    int averr = pipeline_handoff_open(&r->handoff, PIPELINE_HANDOFF_ITEMS);
    if (averr < 0)
        return pipeline_fail(r->run, averr, "allocate the frame queue");
    pipeline_video_set_handoff(r->video, r->handoff);
    int ret;
    if (pthread_create(&reader, NULL, pipeline_reader_main, r) != 0) {
        ret = pipeline_fail(r->run, AVERROR(EAGAIN), "start the reader thread");
    } else {
        ret = pipeline_encode_queued(r);
        if (ret != PIPELINE_OK)
            pipeline_handoff_abort(r->handoff);
        pthread_join(reader, NULL);
    }
    pipeline_video_set_handoff(r->video, NULL);
    pipeline_handoff_free(&r->handoff);
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
    };
    struct pipeline_timeline timeline;
    struct pipeline_reader r = {.run = &run, .timeline = &timeline};
    struct pipeline_hw *hw = NULL;
    AVFormatContext *format;
    int ret;

    if (errlen > 0)
        err[0] = '\0';
    pthread_once(&pipeline_log_once, pipeline_quiet_libav);
    if ((ret = pipeline_check_spec(&run, first_index)) != PIPELINE_OK)
        goto end;

    /* The job's hardware first, as the CLI creates its devices before it
     * opens an input: the driver environment, then every device. */
    if (pipeline_hw_wanted(spec) && (ret = pipeline_hw_open(&hw, &run)) != PIPELINE_OK)
        goto end;

    /* Open the input and pick its streams. */
    if ((ret = pipeline_input_open(&r.input, &run, NULL)) != PIPELINE_OK)
        goto end;
    /* An external subtitle file burned in: the graph names its streams. */
    if (spec->subtitle_input[0] != '\0' &&
        (ret = pipeline_subinput_open(&r.subinput, &run)) != PIPELINE_OK)
        goto end;
    AVFormatContext *second = r.subinput != NULL ? pipeline_subinput_format(r.subinput) : NULL;
    if ((ret = pipeline_input_select(r.input, second, &r.streams)) != PIPELINE_OK)
        goto end;
    format = pipeline_input_format(r.input);

    /* Place the run on the timeline (pipeline.h): the job's start, which a
     * stream copy after -ss moves to a keyframe, then the run's, which a
     * resumed stream copy finds by the keyframes; both read the input, so
     * it is seeked again below. */
    int copy_video = r.streams.video >= 0 && strcmp(spec->video_codec, "copy") == 0;
    int force_seek = 0;
    timeline_place_job(&timeline, spec, first_index, pipeline_input_origin_us(r.input));
    if (copy_video && spec->seek_us != JOB_SPEC_UNSET) {
        if ((ret = pipeline_input_copy_job_start(r.input, &timeline)) != PIPELINE_OK)
            goto end;
        force_seek = 1;
    }
    timeline_place_run(&timeline);
    if (copy_video && timeline_resumed(&timeline)) {
        int64_t offset_us = cb != NULL ? cb->resume_offset_us : 0;
        if ((ret = pipeline_input_copy_resume_start(r.input, &timeline, offset_us)))
            goto end;
        force_seek = 1;
    }
    timeline_fix_start(&timeline);

    /* Open the writer, then the stages that feed it. */
    r.packet = av_packet_alloc();
    if (r.packet == NULL) {
        ret = pipeline_fail(&run, AVERROR(ENOMEM), "allocate a packet");
        goto end;
    }
    if ((ret = segment_writer_open(&r.writer, &run, &timeline, r.streams.video >= 0,
                                   r.streams.audio >= 0)) != PIPELINE_OK)
        goto end;
    if (r.streams.video >= 0 &&
        (ret = pipeline_video_open(&r.video, &run, &timeline, r.writer, hw, format,
                                   format->streams[r.streams.video])) != PIPELINE_OK)
        goto end;
    if (r.streams.subtitle >= 0 &&
        (ret = pipeline_video_open_subtitle(r.video, format, format->streams[r.streams.subtitle])))
        goto end;
    if (r.streams.second_subtitle >= 0 &&
        (ret = pipeline_video_open_subtitle(r.video, second,
                                            second->streams[r.streams.second_subtitle])))
        goto end;
    if (r.streams.audio >= 0 &&
        (ret = pipeline_audio_open(&r.audio, &run, &timeline, r.writer,
                                   format->streams[r.streams.audio])) != PIPELINE_OK)
        goto end;

    /* Go to the run's start: the subtitles already on screen there first
     * (of the input, or of the external subtitle file, which is seeked too). */
    if (timeline.trim && r.streams.subtitle >= 0 &&
        (ret = pipeline_video_subtitle_lookback(r.video, r.input, r.packet)) != PIPELINE_OK)
        goto end;
    if (r.streams.second_subtitle >= 0 &&
        (ret = pipeline_subinput_start(r.subinput, r.streams.second_subtitle, &timeline,
                                       pipeline_input_origin_us(r.input))) != PIPELINE_OK)
        goto end;
    if ((timeline.trim || force_seek) &&
        (ret = pipeline_input_seek(r.input, &timeline, timeline.start_us, force_seek)))
        goto end;

    /* Read, decode, encode and mux to the end of the input. Transcoded
     * video gets a thread of its own for decoding and filtering; a copy or
     * audio-only run has too little work to split. So does a run whose
     * encoder takes hardware frames (VAAPI, QSV, NVENC): the frames it
     * would queue hold surfaces of pools whose size libav fixes for the
     * CLI's one-thread flow (a VAAPI filter's 10, a decoder's 20), so it
     * keeps that flow and holds no surface the CLI would not. */
    r.started = r.last_report = av_gettime_relative();
    int averr = pipeline_pace_open(&r.pace, spec, format->nb_streams);
    if (averr < 0) {
        ret = pipeline_fail(&run, averr, "set up -readrate");
        goto end;
    }
    if (r.streams.video >= 0 && !copy_video && !pipeline_video_takes_hw_frames(r.video))
        ret = pipeline_read_and_encode(&r);
    else
        ret = pipeline_read(&r);
    if (ret != PIPELINE_OK)
        goto end;

    /* End of input: the video stage is drained; drain the audio, check what
     * came out, then deliver the last segment. */
    if (r.streams.audio >= 0 && (ret = pipeline_audio_packet(r.audio, NULL)) != PIPELINE_OK)
        goto end;
    if ((ret = pipeline_check_input_end(&r)) != PIPELINE_OK)
        goto end;
    pipeline_report_progress(&r, 1);
    ret = segment_writer_finish(r.writer);

end:
    pipeline_video_close(&r.video);
    pipeline_audio_close(&r.audio);
    segment_writer_free(&r.writer);
    pipeline_pace_free(&r.pace);
    av_packet_free(&r.packet);
    pipeline_input_close(&r.input);
    pipeline_subinput_close(&r.subinput);
    pipeline_hw_free(&hw);
    return ret;
}
