/* pipeline_probe.c -- see pipeline_probe.h. */
#include "pipeline_probe.h"

#include <stdio.h>

#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/mathematics.h>

/* Packets read after the seek point: enough for any B-frame reordering. */
#define PROBE_PACKETS_MAX 256

int pipeline_probe_first_pts(const char *input, const char *format, int64_t from_us,
                             int64_t *pts_us, char *err, size_t errlen)
{
    AVFormatContext *ctx = NULL;
    AVPacket *packet = av_packet_alloc();
    const AVInputFormat *demuxer = NULL;
    int result = -1, averr;
    if (packet == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (format != NULL && format[0] != '\0' && (demuxer = av_find_input_format(format)) == NULL) {
        snprintf(err, errlen, "unknown input format %s", format);
        goto done;
    }
    if ((averr = avformat_open_input(&ctx, input, demuxer, NULL)) < 0 ||
        (averr = avformat_find_stream_info(ctx, NULL)) < 0) {
        snprintf(err, errlen, "open %s: %s", input, av_err2str(averr));
        goto done;
    }
    int stream = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (stream < 0)
        stream = av_find_best_stream(ctx, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (stream < 0) {
        snprintf(err, errlen, "%s has no video or audio stream", input);
        goto done;
    }
    AVRational tb = ctx->streams[stream]->time_base;
    int64_t origin = ctx->start_time != AV_NOPTS_VALUE ? ctx->start_time : 0;
    if (from_us > 0 && (averr = avformat_seek_file(ctx, -1, INT64_MIN, origin + from_us,
                                                   origin + from_us, 0)) < 0) {
        snprintf(err, errlen, "seek %s to %lld us: %s", input, (long long)from_us,
                 av_err2str(averr));
        goto done;
    }
    int64_t best = INT64_MAX;
    for (int n = 0; n < PROBE_PACKETS_MAX && av_read_frame(ctx, packet) >= 0; n++) {
        if (packet->stream_index == stream && packet->pts != AV_NOPTS_VALUE) {
            int64_t pts = av_rescale_q(packet->pts, tb, AV_TIME_BASE_Q) - origin;
            if (pts >= from_us && pts < best)
                best = pts;
        }
        av_packet_unref(packet);
    }
    if (best == INT64_MAX) {
        snprintf(err, errlen, "no frame of %s at or after %lld us", input, (long long)from_us);
        goto done;
    }
    *pts_us = best;
    result = 0;
done:
    av_packet_free(&packet);
    avformat_close_input(&ctx);
    return result;
}
