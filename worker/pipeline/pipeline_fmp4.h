/* pipeline_fmp4.h -- the fMP4 segments' muxer, one per run (see
 * pipeline_fmp4.c). Used by the segment writer's fMP4 back end only. */
#ifndef FFPOOL_WORKER_PIPELINE_FMP4_H
#define FFPOOL_WORKER_PIPELINE_FMP4_H

#include <stdint.h>

#include <libavformat/avformat.h>

#include "pipeline_run.h"
#include "pipeline_timeline.h"

struct pipeline_fmp4;

/* Takes mux (an "mp4" output context with the run's streams, no pb yet)
 * and writes its header into memory, in *out (set even on failure: free
 * it). Returns a pipeline_result. */
int pipeline_fmp4_open(struct pipeline_fmp4 **out, struct pipeline_run *run,
                       const struct pipeline_timeline *t, AVFormatContext *mux);

/* The muxer packets are written to (av_interleaved_write_frame). */
AVFormatContext *pipeline_fmp4_muxer(const struct pipeline_fmp4 *f);

/* A new segment (fragment) begins. */
void pipeline_fmp4_begin(struct pipeline_fmp4 *f);

/* Notes a packet about to be written (timestamps and stream_index the
 * muxer's). */
void pipeline_fmp4_packet(struct pipeline_fmp4 *f, const AVPacket *pkt);

/* Ends the fragment: writes it to path as a segment file (and, first, the
 * init segment if this run owes one), placed on the job's timeline; opened
 * is the number of segments this run has opened. Sets *size to the
 * segment file's size. Returns a pipeline_result. */
int pipeline_fmp4_flush(struct pipeline_fmp4 *f, const char *path, int opened, int64_t *size);

/* The job's fragment base as text, once the job's first run has measured
 * it on its first fragment (to hand out with that segment); else NULL. */
const char *pipeline_fmp4_base(const struct pipeline_fmp4 *f);

/* Frees the muxer (NULL is fine) and sets *f to NULL. */
void pipeline_fmp4_free(struct pipeline_fmp4 **f);

#endif
