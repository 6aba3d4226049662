/* pipeline_pace.h -- -readrate: holds a run's read loop to R x real time
 * (see pipeline_pace.c). A leaf of the pipeline: it knows packets and
 * clocks, nothing of the stages. */
#ifndef FFPOOL_WORKER_PIPELINE_PACE_H
#define FFPOOL_WORKER_PIPELINE_PACE_H

#include <libavcodec/packet.h>
#include <libavutil/rational.h>

#include "job_spec.h"

struct pipeline_pace;

/* Sets the pace of spec (-readrate, -readrate_catchup; none: it never
 * waits) up in *out, for an input of `streams` streams. Returns 0 or an
 * AVERROR. */
int pipeline_pace_open(struct pipeline_pace **out, const struct job_spec *spec, unsigned streams);

/* Waits until pkt (of a stream with time base tb) may be read on, calling
 * stopped(opaque) between sleeps. Returns PIPELINE_OK, or what stopped
 * returned when it was not PIPELINE_OK. */
int pipeline_pace_wait(struct pipeline_pace *p, const AVPacket *pkt, AVRational tb,
                       int (*stopped)(void *opaque), void *opaque);

/* Frees p and sets *p to NULL. */
void pipeline_pace_free(struct pipeline_pace **p);

#endif
