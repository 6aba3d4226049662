/* pipeline_subtitle.h -- a bitmap subtitle stream drawn as video for a
 * -filter_complex graph (the CLI's sub2video; see pipeline_subtitle.c).
 * Used by the video stage only, on the thread that decodes video. */
#ifndef FFPOOL_WORKER_PIPELINE_SUBTITLE_H
#define FFPOOL_WORKER_PIPELINE_SUBTITLE_H

#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "pipeline_input.h"
#include "pipeline_run.h"
#include "pipeline_timeline.h"

struct pipeline_subtitle;

/* Opens the decoder of subtitle stream `stream` of input (the job's input
 * or its external subtitle file) and sizes the canvas, in *out (set even on failure: close it).
 * Refuses a text subtitle. Returns a pipeline_result. */
int pipeline_subtitle_open(struct pipeline_subtitle **out, struct pipeline_run *run,
                           AVFormatContext *input, AVStream *stream);

/* The input stream drawn (its file, the input or the external subtitle
 * file, and its index there) and the canvas size. */
void pipeline_subtitle_source(const struct pipeline_subtitle *s, AVFormatContext **file, int *index,
                              int *width, int *height);

/* A resumed run, before its first packet: decodes the subtitle packets of
 * the seconds before t->start_us from a second opening of main, up to the
 * first packet of video stream video_index at or past the start; the run's
 * own read then skips the subtitle packets before that one (pkt: scratch).
 * Returns a pipeline_result. */
int pipeline_subtitle_lookback(struct pipeline_subtitle *s, const struct pipeline_input *main,
                               const struct pipeline_timeline *t, int video_index, AVPacket *pkt);

/* Decodes one subtitle packet and queues its event. Returns a pipeline_result. */
int pipeline_subtitle_packet(struct pipeline_subtitle *s, const AVPacket *pkt);

/* Brings what is on screen to absolute input time at_us (times never go
 * back); *changed tells whether the canvas changed. Returns a
 * pipeline_result. */
int pipeline_subtitle_update(struct pipeline_subtitle *s, int64_t at_us, int *changed);

/* The canvas on screen (RGB32, the canvas size), valid until the next update. */
const AVFrame *pipeline_subtitle_shown(const struct pipeline_subtitle *s);

/* Frees s (NULL is fine) and sets *s to NULL. */
void pipeline_subtitle_close(struct pipeline_subtitle **s);

#endif
