/* pipeline_handoff.c -- the bounded queue between a run's two threads.
 *
 * A transcoding run splits in two (see pipeline.c): a reader thread demuxes,
 * decodes and filters the video, and the run's own thread encodes and
 * muxes. This queue carries, in the reader's order, filtered video frames,
 * audio packets (decoded and encoded on the encoding side) and one final
 * item with the reader's result. Frames and packets are refcounted: a push
 * moves the caller's reference in (av_frame_move_ref / av_packet_move_ref),
 * nothing is copied. Only `capacity` items wait at a time, so the reader
 * runs at most that far ahead and memory stays bounded.
 *
 * Abort is the encoding side's way to stop the reader: pushes return
 * AVERROR_EXIT from then on, waking a reader blocked on a full queue. A
 * leaf of the pipeline: this file never calls the run's callbacks, never
 * writes the run's error and calls no other part of the pipeline. */
#include "pipeline_handoff.h"

#include <errno.h>
#include <pthread.h>

#include <libavutil/error.h>
#include <libavutil/fifo.h>
#include <libavutil/mem.h>

struct pipeline_handoff {
    AVFifo *items; /* of struct pipeline_handoff_item */
    pthread_mutex_t lock;
    pthread_cond_t changed; /* an item was added or taken, or abort was set */
    int aborted;
};

int pipeline_handoff_open(struct pipeline_handoff **out, int capacity)
{
    struct pipeline_handoff *h = av_mallocz(sizeof(*h));
    *out = NULL;
    if (h == NULL)
        return AVERROR(ENOMEM);
    h->items = av_fifo_alloc2((size_t)capacity, sizeof(struct pipeline_handoff_item), 0);
    if (h->items == NULL)
        goto fail;
    if (pthread_mutex_init(&h->lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&h->changed, NULL) != 0) {
        pthread_mutex_destroy(&h->lock);
        goto fail;
    }
    *out = h;
    return 0;
fail:
    av_fifo_freep2(&h->items);
    av_free(h);
    return AVERROR(ENOMEM);
}

/* Waits for room and appends item. Returns 0 or AVERROR_EXIT after an abort. */
static int handoff_push(struct pipeline_handoff *h, const struct pipeline_handoff_item *item)
{
    pthread_mutex_lock(&h->lock);
    while (!h->aborted && av_fifo_can_write(h->items) == 0)
        pthread_cond_wait(&h->changed, &h->lock);
    int averr = h->aborted ? AVERROR_EXIT : av_fifo_write(h->items, item, 1);
    if (averr >= 0)
        pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    return averr;
}

int pipeline_handoff_push_frame(struct pipeline_handoff *h, AVFrame *frame)
{
    struct pipeline_handoff_item item = {.kind = PIPELINE_HANDOFF_FRAME};
    if ((item.frame = av_frame_alloc()) == NULL)
        return AVERROR(ENOMEM);
    av_frame_move_ref(item.frame, frame);
    int averr = handoff_push(h, &item);
    if (averr < 0)
        av_frame_free(&item.frame);
    return averr;
}

int pipeline_handoff_push_packet(struct pipeline_handoff *h, AVPacket *pkt)
{
    struct pipeline_handoff_item item = {.kind = PIPELINE_HANDOFF_PACKET};
    if ((item.packet = av_packet_alloc()) == NULL)
        return AVERROR(ENOMEM);
    av_packet_move_ref(item.packet, pkt);
    int averr = handoff_push(h, &item);
    if (averr < 0)
        av_packet_free(&item.packet);
    return averr;
}

int pipeline_handoff_push_end(struct pipeline_handoff *h, int result)
{
    struct pipeline_handoff_item item = {.kind = PIPELINE_HANDOFF_END, .result = result};
    return handoff_push(h, &item);
}

void pipeline_handoff_pop(struct pipeline_handoff *h, struct pipeline_handoff_item *item)
{
    pthread_mutex_lock(&h->lock);
    while (av_fifo_read(h->items, item, 1) < 0)
        pthread_cond_wait(&h->changed, &h->lock);
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

void pipeline_handoff_item_free(struct pipeline_handoff_item *item)
{
    av_frame_free(&item->frame);
    av_packet_free(&item->packet);
}

void pipeline_handoff_abort(struct pipeline_handoff *h)
{
    pthread_mutex_lock(&h->lock);
    h->aborted = 1;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

int pipeline_handoff_aborted(struct pipeline_handoff *h)
{
    pthread_mutex_lock(&h->lock);
    int aborted = h->aborted;
    pthread_mutex_unlock(&h->lock);
    return aborted;
}

void pipeline_handoff_free(struct pipeline_handoff **hp)
{
    struct pipeline_handoff *h = *hp;
    if (h == NULL)
        return;
    struct pipeline_handoff_item item;
    while (av_fifo_read(h->items, &item, 1) >= 0)
        pipeline_handoff_item_free(&item);
    av_fifo_freep2(&h->items);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    av_freep(hp);
}
