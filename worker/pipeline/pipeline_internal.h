/* pipeline_internal.h -- how the pieces of the worker's libav pipeline meet.
 *
 * pipeline.c drives one run: it opens the input, seeks to the run's first
 * segment, reads packets and hands each one to its stream's stage. Each stage
 * owns one stream's contexts, as in FFmpeg's doc/examples/transcode.c:
 * pipeline_video.c decodes, filters and encodes with libx264, or copies
 * packets through the -bsf:v chain and picks the source keyframes segments
 * start on; pipeline_audio.c decodes, runs the -af graph, resamples, cuts
 * fixed-size frames on a grid anchored to stream time 0 and encodes (or
 * copies packets). Both hand encoded packets to pipeline_segment.c, the only
 * file that muxes: it cuts the segments (MPEG-TS, or fMP4 fragments after
 * one init segment), writes each to a temp file and calls segment_done; or
 * it writes one progressive file.
 *
 * A run that transcodes video has two threads: the reader thread (demux,
 * video decode and filter) and the caller's thread (video encode, the whole
 * audio stage, the segment writer, every callback), joined by the bounded
 * queue of pipeline_handoff.c. Each stage's fields below belong to one
 * thread; pipeline_fail (locked) and the timeline helpers are safe from both.
 *
 * Nothing here is visible outside worker/pipeline*.c. Every function that can
 * fail returns a pipeline_result (PIPELINE_OK, PIPELINE_STOPPED when a
 * callback asked to stop, PIPELINE_ERROR with one sentence in run->err), so
 * a result can be passed up unchanged. */
#ifndef FFPOOL_WORKER_PIPELINE_INTERNAL_H
#define FFPOOL_WORKER_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/fifo.h>

#include "fmp4_times.h"
#include "job_spec.h"
#include "pipeline.h"

/* ---- one run's shared state ---------------------------------------------- */

/* What every stage of one pipeline_run() call reads: the job, the callbacks,
 * the error buffer and the run's place on the stream timeline. */
struct pipeline_run {
    const struct job_spec *spec;
    const struct pipeline_callbacks *cb;
    char *err;
    size_t errlen;
    int failed;                /* an error is in err; later ones do not overwrite it */
    pthread_mutex_t fail_lock; /* the reader and encoding threads may both fail */

    /* Timeline. "Stream time" is input time minus origin_us. */
    int64_t origin_us;      /* input start time, absolute: stream time 0 */
    int64_t hls_time_us;    /* T: segment k covers stream time [k*T, (k+1)*T) */
    int64_t start_us;       /* stream time where this run's first segment begins */
    int first_index;        /* file number of this run's first segment */
    int64_t first_boundary; /* boundary number k of start_us; the first segment's k is
                               never below it (AAC priming can precede stream time 0) */
    int trim;               /* 1 when start_us > 0: frames and samples before it are dropped */
    int copy_video;         /* video packets are copied: segments start on source keyframes */
    int64_t copy_start_ts;  /* copy: pts (video time base) of this run's first keyframe,
                               INT64_MIN when the run starts at the job's start */
    int64_t copy_job_start_ts; /* copy with -ss: pts (video time base) of the keyframe the
                                  job starts on (the last at or before -ss), else INT64_MIN */
    int64_t job_start_us;   /* stream time where the job's first segment begins */
    int64_t job_boundary;   /* boundary number of job_start_us */

    /* Progress, updated by the stages and reported by pipeline.c. */
    int64_t frames;      /* video frames sent to the encoder */
    int64_t out_time_us; /* stream time of the latest packet muxed */
    int64_t bytes;       /* bytes written to segment files */
    int64_t duration_us; /* the input's duration, 0 if unknown */

    /* Frames out of the decoders (packets taken, for a copied stream), per
     * stream so that each is only written by the thread that runs its
     * stage. A run that ends with none of either read nothing usable. */
    int64_t video_decoded;
    int64_t audio_decoded;

    /* -filter_complex: the bitmap subtitle stream drawn into the graph, -1
     * if none. Its packets go to the video stage (pipeline_complex.c). */
    int subtitle_index;
};

/* Writes "<step>: <libav reason>" (or just the step when averr is 0) into
 * run->err unless an earlier error is already there. Returns PIPELINE_ERROR. */
int pipeline_fail(struct pipeline_run *run, int averr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns PIPELINE_STOPPED if the caller's should_stop says so, else PIPELINE_OK. */
int pipeline_poll_stop(const struct pipeline_run *run);

/* The smallest timestamp in tb that lies at or after stream time stream_us. */
int64_t pipeline_stream_ts(const struct pipeline_run *run, int64_t stream_us, AVRational tb);

/* The smallest timestamp in tb that lies at or after stream time k*T. */
int64_t pipeline_boundary_ts(const struct pipeline_run *run, int64_t k, AVRational tb);

/* The boundary number k such that ts lies in stream time [k*T, (k+1)*T). */
int64_t pipeline_boundary_index(const struct pipeline_run *run, int64_t ts, AVRational tb);

/* Stream time of ts, in microseconds. */
int64_t pipeline_stream_time_us(const struct pipeline_run *run, int64_t ts, AVRational tb);

/* Finds the first filter named in a libavfilter graph description that the
 * linked libavfilter lacks (e.g. tonemapx). Returns 1 with its name in out,
 * 0 if every name is known. */
int pipeline_filter_missing(const char *description, char *out, size_t outlen);

/* Rounds a / b towards minus infinity (b > 0). */
int64_t pipeline_floor_div(int64_t a, int64_t b);

/* ---- -readrate (pipeline_pace.c) -------------------------------------------- */

/* Holds the read loop to spec->readrate x real time (see pipeline_pace.c). */
struct pipeline_pace {
    double rate;    /* 0: off */
    double catchup; /* 0: a read that fell behind catches up at once */
    int64_t *first_us; /* per input stream: its first packet's time, AV_NOPTS_VALUE before */
    unsigned streams;
    int64_t started;     /* wall clock (us) of the run's first packet, 0 before it */
    int64_t progress_us; /* the furthest progress read so far */
    int behind;          /* catching up since behind_since, from behind_progress_us */
    int64_t behind_since;
    int64_t behind_progress_us;
};

/* Sets the pace up for an input of `streams` streams. Returns 0 or an AVERROR. */
int pipeline_pace_init(struct pipeline_pace *p, const struct job_spec *spec, unsigned streams);

/* Waits until pkt (of a stream with time base tb) may be read on, calling
 * stopped(opaque) between sleeps. Returns PIPELINE_OK, or what stopped
 * returned when it was not PIPELINE_OK. */
int pipeline_pace_wait(struct pipeline_pace *p, const AVPacket *pkt, AVRational tb,
                       int (*stopped)(void *opaque), void *opaque);

void pipeline_pace_free(struct pipeline_pace *p);

/* ---- the reader -> encoder queue (pipeline_handoff.c) ------------------- */

enum pipeline_handoff_kind {
    PIPELINE_HANDOFF_FRAME = 0,  /* a filtered video frame, for the encoder */
    PIPELINE_HANDOFF_PACKET = 1, /* an audio packet, for the audio stage */
    PIPELINE_HANDOFF_END = 2,    /* the reader is done: result says how */
};

struct pipeline_handoff_item {
    enum pipeline_handoff_kind kind;
    AVFrame *frame;
    AVPacket *packet;
    int result; /* END: a pipeline_result */
};

/* A bounded FIFO of items, one thread pushing and one popping. */
struct pipeline_handoff {
    AVFifo *items; /* of struct pipeline_handoff_item */
    pthread_mutex_t lock;
    pthread_cond_t changed; /* an item was added or taken, or abort was set */
    int aborted;
    int ready; /* init succeeded: free has something to free */
};

/* Prepares a queue of at most capacity items. Returns 0 or an AVERROR. */
int pipeline_handoff_init(struct pipeline_handoff *h, int capacity);

/* Moves frame's (packet's) reference to the end of the queue, waiting while
 * it is full. Returns 0, AVERROR_EXIT after an abort (the reference is then
 * dropped), or AVERROR(ENOMEM). */
int pipeline_handoff_push_frame(struct pipeline_handoff *h, AVFrame *frame);
int pipeline_handoff_push_packet(struct pipeline_handoff *h, AVPacket *pkt);

/* Appends the reader's last item. Returns 0 or AVERROR_EXIT after an abort. */
int pipeline_handoff_push_end(struct pipeline_handoff *h, int result);

/* Takes the oldest item, waiting while there is none; the caller frees it
 * with pipeline_handoff_item_free. */
void pipeline_handoff_pop(struct pipeline_handoff *h, struct pipeline_handoff_item *item);
void pipeline_handoff_item_free(struct pipeline_handoff_item *item);

/* The encoding side stops the reader: pushes fail from now on. */
void pipeline_handoff_abort(struct pipeline_handoff *h);
int pipeline_handoff_aborted(struct pipeline_handoff *h);

/* Frees the items still queued and the queue (after the reader has ended). */
void pipeline_handoff_free(struct pipeline_handoff *h);

/* ---- segment writer (pipeline_segment.c) --------------------------------- */

enum segment_stream {
    SEGMENT_VIDEO = 0,
    SEGMENT_AUDIO = 1,
    SEGMENT_STREAMS = 2,
};

/* Where a new segment begins: attached by the video stage to the packet of
 * the frame it forced to be an IDR. */
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

struct segment_output_stream {
    int expected; /* the run has this stream */
    int ready;    /* add_stream was called */
    AVCodecParameters *par;
    AVRational time_base; /* of the packets handed in */
    int64_t first_dts_us; /* absolute input time of the first dts a run from the
                             start of the input would mux; see segment_writer_add_stream */
    int mux_index;        /* index in the current muxer */
    /* fmp4: the first pts and the last dts (AV_NOPTS_VALUE if that
     * packet had none) this run muxed into the open fragment, in the
     * muxer's time base (valid once fragment_started). */
    int64_t fragment_pts;
    int64_t fragment_last_dts;
    int fragment_started;
    /* fmp4, resumed run: added to the fragment's tfdt and sidx times so
     * they continue the job's timeline (valid once delta_known). */
    int64_t decode_delta;
    int64_t presentation_delta;
    int delta_known;
};

/* What the writer produces. */
enum segment_container {
    SEGMENT_CONTAINER_MPEGTS = 0, /* one mpegts muxer per segment file */
    SEGMENT_CONTAINER_FMP4 = 1,   /* one mp4 muxer per run; a fragment per segment file */
    SEGMENT_CONTAINER_FILE = 2,   /* progressive: one muxer on spec->output */
};

/* Cuts the encoded packets into HLS segments (or one progressive file). */
struct segment_writer {
    struct pipeline_run *run;
    enum segment_container container;
    AVFormatContext *fmp4; /* fmp4: the run's muxer, its pb a dynamic buffer */
    int init_written;      /* fmp4: the init segment exists (written now or by an earlier run) */
    /* fmp4: the job's fragment base (fmp4_times.h): measured by the job's
     * first run on its first fragment (then also in fmp4_base_text, handed
     * out with that segment), or the one cb->fmp4_base gave a resumed run. */
    struct fmp4_base fmp4_base;
    char fmp4_base_text[FMP4_BASE_TEXT_MAX];
    struct segment_output_stream streams[SEGMENT_STREAMS];
    int64_t shift_us; /* added to every output timestamp; fixed at the first open */
    int shift_known;

    AVFormatContext *mux; /* the open segment, NULL between segments */
    char temp_path[JOB_SPEC_PATH_MAX + 64];
    char final_path[JOB_SPEC_PATH_MAX];
    int opened;           /* number of segments opened in this run */
    int index;            /* file number of the open (or last) segment */
    int64_t boundary;     /* its boundary number */
    int64_t start_us;     /* stream time of its first frame */
    int64_t end_us;       /* stream time where its last packet ends */
    int64_t bytes_before; /* bytes of the segments already closed */

    /* Audio packets at or past end_ts wait here until the video cut that ends
     * the open segment is known; audio before floor_ts is dropped. */
    AVFifo *audio_queue; /* of AVPacket * */
    int64_t end_ts;      /* in the video time base (or audio when audio-only) */
    int64_t floor_ts;    /* in the video time base */
    int has_floor;

    /* A cut waits until the audio reaches its split point (the cut packet's
     * dts: the hls muxer interleaves by dts, so audio before it belongs to
     * the old segment); meanwhile the new segment's video waits here. */
    int pending;
    struct segment_cut pending_cut;
    int64_t split_ts;    /* in the video time base */
    AVFifo *video_queue; /* of AVPacket * */
};

/* Prepares an empty writer. Returns a pipeline_result. */
int segment_writer_init(struct segment_writer *w, struct pipeline_run *run, int has_video,
                        int has_audio);

/* Declares an output stream before its first packet. first_dts_us is the
 * absolute input time of the first dts that a run from the very start of the
 * input would produce for this stream (e.g. start time minus the B-frame
 * delay). Every run derives the same output shift from these, so timestamps
 * never depend on where a run started. Returns a pipeline_result. */
int segment_writer_add_stream(struct segment_writer *w, enum segment_stream kind,
                              const AVCodecParameters *par, AVRational time_base,
                              int64_t first_dts_us);

/* Muxes one video packet; cut is non-NULL on the first packet of a segment.
 * Takes the packet's reference. Returns a pipeline_result. */
int segment_writer_video(struct segment_writer *w, AVPacket *pkt, const struct segment_cut *cut);

/* Announces that the open segment's video is complete and that the next
 * video packet (handed in without a cut) is the first of segment `cut`,
 * whose split must be known (not AV_NOPTS_VALUE). The open segment is
 * closed now, or with audio as soon as the audio passes the split point,
 * without waiting for that packet. Returns a pipeline_result. */
int segment_writer_video_cut(struct segment_writer *w, const struct segment_cut *cut);

/* Muxes (or holds back, or drops) one audio packet. Takes the packet's
 * reference. Returns a pipeline_result. */
int segment_writer_audio(struct segment_writer *w, AVPacket *pkt);

/* End of input: delivers the open segment as the last one. Returns a
 * pipeline_result. */
int segment_writer_finish(struct segment_writer *w);

/* Frees everything; removes the temp file of a segment still open. */
void segment_writer_free(struct segment_writer *w);

/* ---- stream copy cuts (pipeline_video.c) ---------------------------------- */

/* Where copied video is cut, the ffmpeg CLI's hls rule made absolute: the
 * job's first segment starts at the first keyframe at or after the job's
 * start (with -ss, the keyframe the CLI's seek lands on: the last at or
 * before it, run->copy_job_start_ts); segment n after it starts at the
 * first later keyframe at or after boundary (job_boundary + n) * T. A function of the source alone, so a
 * resumed run can replay it to find where its first segment starts. */
struct pipeline_copy_cutter {
    int started;
    int next_index;      /* file number of the next segment */
    int64_t next_cut_ts; /* keyframes at or past it start a segment (video time base) */
    int64_t start_ts;    /* earlier packets are dropped before the first segment */
    AVRational tb;
};

/* Sets up a cutter for a run from the job's start (index start_number). */
void pipeline_copy_cutter_init(struct pipeline_copy_cutter *c, const struct pipeline_run *run,
                               AVRational tb);

/* Whether a packet (pts in c->tb; key 1 for a keyframe) starts a segment;
 * fills cut if so. Returns 1 (cut), 0 (goes into the open segment) or -1
 * (before the first segment: drop it). */
int pipeline_copy_cutter_step(struct pipeline_copy_cutter *c, const struct pipeline_run *run,
                              int64_t pts, int key, struct segment_cut *cut);

/* ---- -filter_complex (pipeline_complex.c) ---------------------------------- */

/* The input stream a graph input label names ("0:3", "0:v", "0:s:0"): the
 * first stream matching the specifier after "0:", or -1. */
int pipeline_complex_stream(AVFormatContext *input, const char *label);

/* Parses the job's -filter_complex graph and resolves its input labels:
 * the one video stream it reads, and the subtitle stream (-1 if none).
 * Refuses a graph without exactly one output, or with an input that is not
 * a stream, an audio stream, or a second video or subtitle stream. Returns
 * a pipeline_result. */
int pipeline_complex_inputs(struct pipeline_run *run, AVFormatContext *input, int *video_index,
                            int *subtitle_index);

/* A bitmap subtitle stream as video (the CLI's sub2video): decoded events
 * drawn on a transparent RGB32 canvas, shown from their start time until
 * their end or the next event. Runs on the thread that decodes video. */
struct subtitle_event;
struct pipeline_subtitle {
    struct pipeline_run *run;
    AVStream *stream;
    AVCodecContext *decoder;
    int width, height;             /* the canvas */
    AVFrame *blank;                /* nothing on screen */
    AVFrame *shown;                /* a reference to what is on screen now */
    int64_t shown_end_us;          /* absolute input time it disappears, INT64_MAX: never */
    struct subtitle_event *events; /* decoded, not yet started, in start order */
    int n_events;
    int64_t pending_pixels;  /* of their bitmaps */
    int64_t skip_before_pos; /* subtitle packets before this byte position were
                                decoded by the run's look-back (pipeline.c) */
};

/* Opens the decoder and sizes the canvas. Returns a pipeline_result. */
int pipeline_subtitle_open(struct pipeline_subtitle *s, struct pipeline_run *run,
                           AVFormatContext *input, AVStream *stream);

/* Decodes one subtitle packet and queues its event. Returns a pipeline_result. */
int pipeline_subtitle_packet(struct pipeline_subtitle *s, const AVPacket *pkt);

/* Drops the pending events that nothing will show at or after absolute
 * input time at_us: replaced or ended by then (the run's look-back). */
void pipeline_subtitle_collapse(struct pipeline_subtitle *s, int64_t at_us);

/* Brings s->shown to what is on screen at absolute input time at_us (times
 * never go back); *changed tells whether the canvas changed. Returns a
 * pipeline_result. */
int pipeline_subtitle_update(struct pipeline_subtitle *s, int64_t at_us, int *changed);

void pipeline_subtitle_close(struct pipeline_subtitle *s);

/* ---- video stage (pipeline_video.c) -------------------------------------- */

struct pipeline_video {
    struct pipeline_run *run;
    struct segment_writer *writer;
    AVStream *stream;
    AVRational frame_rate; /* guessed from the input, for the filter graph and x264 */
    AVCodecContext *decoder;
    const AVCodec *encoder_codec;
    AVFilterGraph *graph;
    AVFilterContext *source;
    AVFilterContext *sink;
    AVFormatContext *input; /* for -filter_complex's stream labels */
    /* -filter_complex with a subtitle stream: its canvas feeds sub_source,
     * one frame beside each video frame. */
    int has_subtitle;
    struct pipeline_subtitle subtitle;
    AVFilterContext *sub_source;
    AVFrame *sub_frame;
    int sub_pushed;      /* a canvas has been pushed */
    int sub_since_push;  /* video frames fed since the last canvas was pushed */
    int64_t sub_last_ts; /* of the latest video frame fed */
    AVCodecContext *encoder;
    AVFrame *frame; /* decoded */
    AVFrame *filtered;
    AVPacket *packet; /* encoded */

    int wait_keyframe;      /* drop input packets until a keyframe (after a seek) */
    int64_t start_ts;       /* in the stream time base: earlier frames are dropped */
    int started;            /* the first segment's frame has been sent */
    int next_index;         /* file number of the next segment */
    int64_t next_cut_ts;    /* in the encoder time base: frames at or past it start a segment */
    int64_t next_keyframe_ts; /* progressive with a keyframe interval: frames at or past it
                                 are forced IDRs (encoder time base); INT64_MAX: none */
    int64_t last_pts;       /* of the latest frame sent to the encoder */
    int64_t frame_duration; /* in the encoder time base */
    AVFifo *cuts;           /* of struct segment_cut, forced but not yet out of the encoder */
    /* The run's first segment has an encoder of its own, drained when the
     * next segment's first frame arrives (see video_encode): segmented
     * MPEG-TS only. Set while that first encoder is the open one. */
    int first_encoder;

    /* Two threads (pipeline.c): with a handoff, the reader thread decodes
     * and filters and pushes each filtered frame into it; the encoding
     * thread calls pipeline_video_encode_frame and pipeline_video_finish.
     * The filter sink's properties are copied here when the graph is built,
     * so the encoding side never touches the graph. */
    struct pipeline_handoff *handoff;
    int sink_width;
    int sink_height;
    int sink_format;
    AVRational sink_sample_aspect_ratio;
    AVRational sink_time_base;
    AVRational sink_frame_rate;

    /* Stream copy (run->copy_video): packets go through the -bsf:v chain. */
    struct AVBSFContext *bsf;
    struct pipeline_copy_cutter cutter;
};

/* Opens the decoder of input stream `stream`; the filter graph and the
 * encoder follow the first decoded frame. Returns a pipeline_result. */
int pipeline_video_open(struct pipeline_video *v, struct pipeline_run *run,
                        struct segment_writer *writer, AVFormatContext *input, AVStream *stream);

/* Feeds one input packet; NULL drains every stage at end of input (with a
 * handoff: the decoder and the filter graph, the encoder is drained by
 * pipeline_video_finish). Returns a pipeline_result. */
int pipeline_video_packet(struct pipeline_video *v, const AVPacket *pkt);

/* Encoding side of a run with a handoff: encodes one filtered frame (taking
 * its reference), and drains the encoder at the end. Return a
 * pipeline_result. */
int pipeline_video_encode_frame(struct pipeline_video *v, AVFrame *frame);
int pipeline_video_finish(struct pipeline_video *v);

/* -filter_complex: opens the subtitle stage for the graph's subtitle input
 * (after pipeline_video_open). Returns a pipeline_result. */
int pipeline_video_open_subtitle(struct pipeline_video *v, AVStream *stream);

/* Feeds one packet of that subtitle stream. Returns a pipeline_result. */
int pipeline_video_subtitle_packet(struct pipeline_video *v, const AVPacket *pkt);

void pipeline_video_close(struct pipeline_video *v);

/* ---- audio stage (pipeline_audio.c) -------------------------------------- */

struct SwrContext;
struct AVAudioFifo;

struct pipeline_audio {
    struct pipeline_run *run;
    struct segment_writer *writer;
    AVStream *stream;
    int copy; /* packets go to the muxer as they are */
    struct AVBSFContext *bsf; /* copy: aac_adtstoasc for an MP4 muxer, else NULL */
    AVCodecContext *decoder;
    struct SwrContext *resampler;
    AVChannelLayout resampler_in_layout; /* what the resampler was set up for */
    int resampler_in_format;
    int resampler_in_rate;
    AVFilterGraph *graph; /* the job's -af, NULL without one */
    AVFilterContext *source;
    AVFilterContext *sink;
    AVFrame *filtered;
    struct AVAudioFifo *fifo; /* resampled samples waiting to fill an encoder frame */
    AVCodecContext *encoder;
    AVFrame *frame;         /* decoded */
    AVFrame *samples;       /* one encoder frame */
    AVPacket *packet;       /* encoded, or copied */
    uint8_t **converted;    /* resampler output buffer */
    int converted_capacity; /* in samples */
    int frame_size;         /* samples per encoder frame: the grid step */

    /* Sample positions are in the encoder's rate, counted from stream time 0. */
    int64_t origin_samples; /* origin_us in 1/sample_rate */
    int64_t feed_start;     /* first position fed to the encoder, INT64_MIN: all */
    int64_t next_position;  /* of the next sample out of the resampler, INT64_MIN: none yet */
    int64_t fifo_position;  /* of the fifo's first sample, INT64_MIN: not started */
};

/* Opens the decoder, resampler and encoder (or the copy path) of input stream
 * `stream` and declares the output stream to the writer. Returns a
 * pipeline_result. */
int pipeline_audio_open(struct pipeline_audio *a, struct pipeline_run *run,
                        struct segment_writer *writer, AVStream *stream);

/* Feeds one input packet; NULL drains every stage at end of input. Returns a
 * pipeline_result. */
int pipeline_audio_packet(struct pipeline_audio *a, const AVPacket *pkt);

void pipeline_audio_close(struct pipeline_audio *a);

#endif
