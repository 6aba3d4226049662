/* pipeline_subinput.h -- the run's second input: an external subtitle file
 * whose bitmap stream a -filter_complex graph burns in (see
 * pipeline_subinput.c). Called by the driver (pipeline.c) only. */
#ifndef FFPOOL_WORKER_PIPELINE_SUBINPUT_H
#define FFPOOL_WORKER_PIPELINE_SUBINPUT_H

#include <stdint.h>

#include <libavformat/avformat.h>

#include "pipeline_run.h"
#include "pipeline_timeline.h"

struct pipeline_subinput;

/* Opens spec->subtitle_input with its own -analyzeduration and -probesize
 * and probes its streams, in *out (set even on failure: close it). Returns
 * a pipeline_result: a missing or unreadable file fails the run naming it. */
int pipeline_subinput_open(struct pipeline_subinput **out, struct pipeline_run *run);

/* The demuxer, whose streams the graph's [1:N] labels name. */
AVFormatContext *pipeline_subinput_format(const struct pipeline_subinput *s);

/* Before the run's first packet: reads only stream `stream` from now on,
 * puts its times on the first input's clock (whose start is
 * main_origin_us) as the CLI does, and for a run that starts mid-stream
 * (t->trim: -ss, a resumed run) seeks to a little before the start, so
 * the subtitle already on screen there is read again. Returns a
 * pipeline_result. */
int pipeline_subinput_start(struct pipeline_subinput *s, int stream,
                            const struct pipeline_timeline *t, int64_t main_origin_us);

/* The next subtitle packet if it starts (on the first input's clock, in
 * microseconds) at or before until_us: *pkt points to it, owned by s and
 * valid until the next call; else *pkt is NULL (later, or the file has
 * ended). Returns a pipeline_result. */
int pipeline_subinput_next(struct pipeline_subinput *s, int64_t until_us, AVPacket **pkt);

/* Closes the input (NULL is fine) and sets *s to NULL. */
void pipeline_subinput_close(struct pipeline_subinput **s);

#endif
