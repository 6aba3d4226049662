/* tool_subtitle_clip.c -- writes a Matroska file holding one DVD (bitmap)
 * subtitle track, for the -filter_complex burn-in tests: the ffmpeg CLI
 * cannot make bitmap subtitles from text, libavcodec's dvdsub encoder can.
 *
 *   subtitle-clip OUT.mkv SECONDS WIDTH HEIGHT
 *
 * In every 10 s, a large box (half the width, a quarter of the height, low
 * in the picture) of red and white squares (16 across) with a black frame is
 * shown five times: 0.5-1.5 s, 2.5-3 s, 3.5-6.5 s, 7-8 s and 8.5-9.5 s, so
 * every 2 s interval shows it and one subtitle is on screen across the 4 s
 * and 6 s boundaries. The tests merge the track with a testsrc2 clip
 * (ffmpeg -c copy) and look for the box in the output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

static int fail(const char *step, int averr)
{
    fprintf(stderr, "subtitle-clip: %s: %s\n", step, averr ? av_err2str(averr) : "failed");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: subtitle-clip OUT.mkv SECONDS WIDTH HEIGHT\n");
        return 2;
    }
    const char *out = argv[1];
    int seconds = atoi(argv[2]), width = atoi(argv[3]), height = atoi(argv[4]);
    if (seconds <= 0 || width < 64 || height < 64)
        return fail("arguments", 0);

    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_DVD_SUBTITLE);
    AVCodecContext *enc = codec ? avcodec_alloc_context3(codec) : NULL;
    if (enc == NULL)
        return fail("find the dvdsub encoder", 0);
    enc->width = width;
    enc->height = height;
    enc->time_base = (AVRational){1, 1000};
    int averr = avcodec_open2(enc, codec, NULL);
    if (averr < 0)
        return fail("open the dvdsub encoder", averr);

    AVFormatContext *mux = NULL;
    averr = avformat_alloc_output_context2(&mux, NULL, "matroska", out);
    if (averr < 0)
        return fail("create the muxer", averr);
    AVStream *st = avformat_new_stream(mux, NULL);
    if (st == NULL || (averr = avcodec_parameters_from_context(st->codecpar, enc)) < 0)
        return fail("add the subtitle stream", averr);
    st->time_base = enc->time_base;
    if ((averr = avio_open(&mux->pb, out, AVIO_FLAG_WRITE)) < 0 ||
        (averr = avformat_write_header(mux, NULL)) < 0)
        return fail("write the header", averr);

    /* The box: index 0 transparent, 1 black frame, 2 red, 3 white. */
    int bw = (width / 2) & ~7, bh = (height / 4) & ~7;
    uint8_t *pixels = malloc((size_t)bw * bh);
    uint32_t palette[4] = {0x00000000, 0xff000000, 0xffff0000, 0xffffffff};
    if (pixels == NULL)
        return fail("allocate the box", AVERROR(ENOMEM));
    /* Squares few enough for a DVD subtitle packet (64 KiB) at 1080p. */
    int square = bw / 16;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++)
            pixels[y * bw + x] = (x < 4 || y < 4 || x >= bw - 4 || y >= bh - 4)
                                     ? 1
                                     : (((x / square) + (y / square)) % 2 ? 2 : 3);

    static const int events[][2] = {{500, 1500}, {2500, 3000}, {3500, 6500}, {7000, 8000},
                                    {8500, 9500}};
    /* The encoder wants room for its worst case (a nibble per pixel), as
     * the CLI gives it; what it writes is far smaller. */
    static uint8_t buffer[1 << 20];
    for (int n = 0;; n++) {
        int start_ms = 10000 * (n / 5) + events[n % 5][0];
        int length_ms = events[n % 5][1] - events[n % 5][0];
        if (start_ms >= seconds * 1000)
            break;
        AVSubtitleRect rect = {
            .x = (width - bw) / 2,
            .y = height - bh - height / 10,
            .w = bw,
            .h = bh,
            .nb_colors = 4,
            .type = SUBTITLE_BITMAP,
        };
        rect.data[0] = pixels;
        rect.linesize[0] = bw;
        rect.data[1] = (uint8_t *)palette;
        rect.linesize[1] = 4 * 4;
        AVSubtitleRect *rects[1] = {&rect};
        AVSubtitle sub = {
            .start_display_time = 0,
            .end_display_time = (uint32_t)length_ms,
            .num_rects = 1,
            .rects = rects,
            .pts = (int64_t)start_ms * 1000,
        };
        int size = avcodec_encode_subtitle(enc, buffer, sizeof(buffer), &sub);
        if (size <= 0)
            return fail("encode a subtitle", size);
        AVPacket *pkt = av_packet_alloc();
        if (pkt == NULL || av_new_packet(pkt, size) < 0)
            return fail("allocate a packet", AVERROR(ENOMEM));
        memcpy(pkt->data, buffer, (size_t)size);
        pkt->pts = pkt->dts = av_rescale_q(start_ms, (AVRational){1, 1000}, st->time_base);
        pkt->duration = av_rescale_q(length_ms, (AVRational){1, 1000}, st->time_base);
        pkt->flags |= AV_PKT_FLAG_KEY;
        pkt->stream_index = st->index;
        averr = av_interleaved_write_frame(mux, pkt);
        av_packet_free(&pkt);
        if (averr < 0)
            return fail("write a subtitle", averr);
    }
    if ((averr = av_write_trailer(mux)) < 0)
        return fail("write the trailer", averr);
    avio_closep(&mux->pb);
    avformat_free_context(mux);
    avcodec_free_context(&enc);
    free(pixels);
    return 0;
}
