/* pipeline_handoff.h -- the bounded queue between a transcoding run's two
 * threads (see pipeline_handoff.c): the reader thread pushes filtered video
 * frames, audio packets and its result; the encoding thread pops them in
 * the same order. A leaf of the pipeline: it knows frames and packets,
 * nothing of the stages, and returns AVERROR codes. */
#ifndef FFPOOL_WORKER_PIPELINE_HANDOFF_H
#define FFPOOL_WORKER_PIPELINE_HANDOFF_H

#include <libavcodec/packet.h>
#include <libavutil/frame.h>

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
struct pipeline_handoff;

/* Creates a queue of at most capacity items in *out. Returns 0 or an AVERROR. */
int pipeline_handoff_open(struct pipeline_handoff **out, int capacity);

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

/* Frees the items still queued and the queue (after the reader has ended);
 * sets *h to NULL. */
void pipeline_handoff_free(struct pipeline_handoff **h);

#endif
