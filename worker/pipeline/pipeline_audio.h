/* pipeline_audio.h -- the audio stage: decode, filter, resample and encode
 * the audio stream on a grid anchored to stream time 0, or copy it (see
 * pipeline_audio.c). Driven by pipeline.c; hands its packets to the
 * segment writer. */
#ifndef FFPOOL_WORKER_PIPELINE_AUDIO_H
#define FFPOOL_WORKER_PIPELINE_AUDIO_H

#include <stdint.h>

#include <libavformat/avformat.h>

#include "pipeline_run.h"
#include "pipeline_segment.h"
#include "pipeline_timeline.h"

struct pipeline_audio;

/* Opens the stage for input stream `stream` in *out (set even on failure:
 * close it): the copy path when the job's audio codec is "copy", else the
 * decoder and encoder; declares the output stream to the writer. t must be
 * placed (pipeline.c) and outlive the stage. Returns a pipeline_result. */
int pipeline_audio_open(struct pipeline_audio **out, struct pipeline_run *run,
                        const struct pipeline_timeline *t, struct segment_writer *writer,
                        AVStream *stream);

/* Feeds one input packet; NULL drains every stage at end of input. Returns a
 * pipeline_result. */
int pipeline_audio_packet(struct pipeline_audio *a, const AVPacket *pkt);

/* Frames decoded (packets taken, for a copy); 0 for a NULL stage. */
int64_t pipeline_audio_decoded(const struct pipeline_audio *a);

/* Frees the stage (NULL is fine) and sets *a to NULL. */
void pipeline_audio_close(struct pipeline_audio **a);

#endif
