/* tool_subtitle_clip.c -- writes a bitmap subtitle track for the
 * -filter_complex burn-in tests: the ffmpeg CLI cannot make bitmap subtitles
 * from text.
 *
 *   subtitle-clip OUT.mkv SECONDS WIDTH HEIGHT          DVD subtitles, Matroska
 *   subtitle-clip --pgs OUT.sup SECONDS WIDTH HEIGHT    PGS (Blu-ray), raw .sup
 *
 * DVD subtitles come from libavcodec's dvdsub encoder. FFmpeg 5.1 has no
 * PGS encoder, so the PGS display sets are written here, segment by segment
 * (presentation, window, palette, object with its run-length bitmap, end):
 * a PGS subtitle has no end time, a second display set without objects
 * clears it, which is the case the DVD track cannot test.
 *
 * In every 10 s, a large box (half the width, a quarter of the height, low
 * in the picture) of red and white squares (16 across) with a black frame is
 * shown five times: 0.5-1.5 s, 2.5-3 s, 3.5-6.5 s, 7-8 s and 8.5-9.5 s, so
 * every 2 s interval shows it and one subtitle is on screen across the 4 s
 * and 6 s boundaries. The tests merge the track with a testsrc2 clip
 * (ffmpeg -c copy) and look for the box in the output. */
#include <errno.h>
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

/* The box, as palette indexes: 0 transparent, 1 black frame, 2 red, 3 white. */
struct box {
    int x, y, w, h;
    uint8_t *pixels;
};

static int box_make(struct box *b, int width, int height)
{
    b->w = (width / 2) & ~7;
    b->h = (height / 4) & ~7;
    b->x = (width - b->w) / 2;
    b->y = height - b->h - height / 10;
    b->pixels = malloc((size_t)b->w * b->h);
    if (b->pixels == NULL)
        return -1;
    /* Squares few enough for a DVD subtitle packet (64 KiB) at 1080p. */
    int square = b->w / 16;
    for (int y = 0; y < b->h; y++)
        for (int x = 0; x < b->w; x++)
            b->pixels[y * b->w + x] = (x < 4 || y < 4 || x >= b->w - 4 || y >= b->h - 4)
                                          ? 1
                                          : (((x / square) + (y / square)) % 2 ? 2 : 3);
    return 0;
}

/* ---- DVD: libavcodec's encoder, muxed into Matroska ---------------------- */

struct dvd_writer {
    AVCodecContext *enc;
    AVFormatContext *mux;
    AVStream *st;
};

static int dvd_open(struct dvd_writer *d, const char *out, int width, int height)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_DVD_SUBTITLE);
    d->enc = codec ? avcodec_alloc_context3(codec) : NULL;
    if (d->enc == NULL)
        return fail("find the dvdsub encoder", 0);
    d->enc->width = width;
    d->enc->height = height;
    d->enc->time_base = (AVRational){1, 1000};
    int averr = avcodec_open2(d->enc, codec, NULL);
    if (averr < 0)
        return fail("open the dvdsub encoder", averr);
    if ((averr = avformat_alloc_output_context2(&d->mux, NULL, "matroska", out)) < 0)
        return fail("create the muxer", averr);
    d->st = avformat_new_stream(d->mux, NULL);
    if (d->st == NULL || (averr = avcodec_parameters_from_context(d->st->codecpar, d->enc)) < 0)
        return fail("add the subtitle stream", averr);
    d->st->time_base = d->enc->time_base;
    if ((averr = avio_open(&d->mux->pb, out, AVIO_FLAG_WRITE)) < 0 ||
        (averr = avformat_write_header(d->mux, NULL)) < 0)
        return fail("write the header", averr);
    return 0;
}

static int dvd_event(struct dvd_writer *d, const struct box *b, int start_ms, int length_ms)
{
    static const uint32_t palette[4] = {0x00000000, 0xff000000, 0xffff0000, 0xffffffff};
    /* The encoder wants room for its worst case (a nibble per pixel), as the
     * CLI gives it; what it writes is far smaller. */
    static uint8_t buffer[1 << 20];
    AVSubtitleRect rect = {
        .x = b->x,
        .y = b->y,
        .w = b->w,
        .h = b->h,
        .nb_colors = 4,
        .type = SUBTITLE_BITMAP,
    };
    rect.data[0] = b->pixels;
    rect.linesize[0] = b->w;
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
    int size = avcodec_encode_subtitle(d->enc, buffer, sizeof(buffer), &sub);
    if (size <= 0)
        return fail("encode a subtitle", size);
    AVPacket *pkt = av_packet_alloc();
    if (pkt == NULL || av_new_packet(pkt, size) < 0)
        return fail("allocate a packet", AVERROR(ENOMEM));
    memcpy(pkt->data, buffer, (size_t)size);
    pkt->pts = pkt->dts = av_rescale_q(start_ms, (AVRational){1, 1000}, d->st->time_base);
    pkt->duration = av_rescale_q(length_ms, (AVRational){1, 1000}, d->st->time_base);
    pkt->flags |= AV_PKT_FLAG_KEY;
    pkt->stream_index = d->st->index;
    int averr = av_interleaved_write_frame(d->mux, pkt);
    av_packet_free(&pkt);
    return averr < 0 ? fail("write a subtitle", averr) : 0;
}

static int dvd_close(struct dvd_writer *d)
{
    int averr = av_write_trailer(d->mux);
    avio_closep(&d->mux->pb);
    avformat_free_context(d->mux);
    avcodec_free_context(&d->enc);
    return averr < 0 ? fail("write the trailer", averr) : 0;
}

/* ---- PGS: display sets written as a .sup stream ------------------------- */

struct pgs_writer {
    FILE *f;
    int width, height;
    int composition;
    uint8_t *rle; /* one object's run-length data */
    size_t rle_len;
};

static void put_be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* One segment: "PG", pts and dts (90 kHz), type, size, payload. */
static void pgs_segment(struct pgs_writer *p, int64_t pts90, int type, const uint8_t *data,
                        size_t len)
{
    uint8_t head[13] = {'P', 'G'};
    for (int i = 0; i < 4; i++)
        head[2 + i] = (uint8_t)(pts90 >> (24 - 8 * i));
    head[10] = (uint8_t)type;
    put_be16(head + 11, (unsigned)len);
    fwrite(head, 1, sizeof(head), p->f);
    if (len > 0)
        fwrite(data, 1, len, p->f);
}

/* Appends one run of `count` pixels of colour c (PGS run-length coding). */
static void pgs_run(uint8_t **q, int c, int count)
{
    uint8_t *o = *q;
    if (c != 0 && count < 3) {
        for (int i = 0; i < count; i++)
            *o++ = (uint8_t)c;
    } else {
        *o++ = 0;
        int flags = (c != 0 ? 0x80 : 0) | (count >= 64 ? 0x40 : 0);
        if (count >= 64) {
            *o++ = (uint8_t)(flags | (count >> 8));
            *o++ = (uint8_t)count;
        } else {
            *o++ = (uint8_t)(flags | count);
        }
        if (c != 0)
            *o++ = (uint8_t)c;
    }
    *q = o;
}

static int pgs_open(struct pgs_writer *p, const char *out, int width, int height,
                    const struct box *b)
{
    p->f = fopen(out, "wb");
    p->width = width;
    p->height = height;
    /* At most 4 bytes per pixel run and 2 per line end. */
    p->rle = malloc((size_t)b->w * b->h * 4 + (size_t)b->h * 2);
    if (p->f == NULL || p->rle == NULL)
        return fail("open the .sup file", AVERROR(errno));
    uint8_t *q = p->rle;
    for (int y = 0; y < b->h; y++) {
        const uint8_t *row = b->pixels + (size_t)y * b->w;
        for (int x = 0; x < b->w;) {
            int n = 1;
            while (x + n < b->w && row[x + n] == row[x] && n < 16383)
                n++;
            pgs_run(&q, row[x], n);
            x += n;
        }
        *q++ = 0;
        *q++ = 0;
    }
    p->rle_len = (size_t)(q - p->rle);
    return 0;
}

/* A presentation: with the box (show), or with no object (clear). */
static void pgs_display_set(struct pgs_writer *p, const struct box *b, int64_t pts90, int show)
{
    uint8_t pcs[19], wds[10];
    put_be16(pcs, (unsigned)p->width);
    put_be16(pcs + 2, (unsigned)p->height);
    pcs[4] = 0x10; /* frame rate code */
    put_be16(pcs + 5, (unsigned)p->composition++);
    pcs[7] = show ? 0x80 : 0x00; /* epoch start, or normal */
    pcs[8] = 0;                  /* no palette-only update */
    pcs[9] = 0;                  /* palette 0 */
    pcs[10] = show ? 1 : 0;      /* composition objects */
    put_be16(pcs + 11, 0);       /* object 0 */
    pcs[13] = 0;                 /* window 0 */
    pcs[14] = 0;                 /* not cropped */
    put_be16(pcs + 15, (unsigned)b->x);
    put_be16(pcs + 17, (unsigned)b->y);
    pgs_segment(p, pts90, 0x16, pcs, show ? 19 : 11);
    wds[0] = 1;
    wds[1] = 0;
    put_be16(wds + 2, (unsigned)b->x);
    put_be16(wds + 4, (unsigned)b->y);
    put_be16(wds + 6, (unsigned)b->w);
    put_be16(wds + 8, (unsigned)b->h);
    pgs_segment(p, pts90, 0x17, wds, sizeof(wds));
    if (show) {
        /* Palette (id, Y, Cr, Cb, alpha): black, red, white; 0 stays clear. */
        static const uint8_t pds[] = {0,   0,  1,   16, 128, 128, 255, 2,  81,
                                      240, 90, 255, 3,  235, 128, 128, 255};
        pgs_segment(p, pts90, 0x14, pds, sizeof(pds));
        size_t len = 11 + p->rle_len;
        uint8_t *ods = malloc(len);
        if (ods != NULL) {
            put_be16(ods, 0); /* object 0 */
            ods[2] = 0;       /* version */
            ods[3] = 0xc0;    /* first and last fragment */
            size_t data_len = p->rle_len + 4;
            ods[4] = (uint8_t)(data_len >> 16);
            ods[5] = (uint8_t)(data_len >> 8);
            ods[6] = (uint8_t)data_len;
            put_be16(ods + 7, (unsigned)b->w);
            put_be16(ods + 9, (unsigned)b->h);
            memcpy(ods + 11, p->rle, p->rle_len);
            pgs_segment(p, pts90, 0x15, ods, len);
            free(ods);
        }
    }
    pgs_segment(p, pts90, 0x80, NULL, 0);
}

static int pgs_event(struct pgs_writer *p, const struct box *b, int start_ms, int length_ms)
{
    if (11 + p->rle_len > 0xffff)
        return fail("the box is too large for one PGS object segment", 0);
    pgs_display_set(p, b, (int64_t)start_ms * 90, 1);
    pgs_display_set(p, b, (int64_t)(start_ms + length_ms) * 90, 0);
    return ferror(p->f) ? fail("write the .sup file", AVERROR(EIO)) : 0;
}

static int pgs_close(struct pgs_writer *p)
{
    free(p->rle);
    return fclose(p->f) != 0 ? fail("close the .sup file", AVERROR(errno)) : 0;
}

int main(int argc, char **argv)
{
    int pgs = argc > 1 && strcmp(argv[1], "--pgs") == 0;
    if (argc != 5 + pgs) {
        fprintf(stderr, "usage: subtitle-clip [--pgs] OUT SECONDS WIDTH HEIGHT\n");
        return 2;
    }
    const char *out = argv[1 + pgs];
    int seconds = atoi(argv[2 + pgs]), width = atoi(argv[3 + pgs]), height = atoi(argv[4 + pgs]);
    if (seconds <= 0 || width < 64 || height < 64)
        return fail("arguments", 0);
    struct box box;
    if (box_make(&box, width, height) != 0)
        return fail("allocate the box", AVERROR(ENOMEM));

    static const int events[][2] = {
        {500, 1500}, {2500, 3000}, {3500, 6500}, {7000, 8000}, {8500, 9500}};
    struct dvd_writer dvd = {0};
    struct pgs_writer sup = {0};
    if (pgs ? pgs_open(&sup, out, width, height, &box) : dvd_open(&dvd, out, width, height))
        return 1;
    for (int n = 0;; n++) {
        int start_ms = 10000 * (n / 5) + events[n % 5][0];
        int length_ms = events[n % 5][1] - events[n % 5][0];
        if (start_ms >= seconds * 1000)
            break;
        if (pgs ? pgs_event(&sup, &box, start_ms, length_ms)
                : dvd_event(&dvd, &box, start_ms, length_ms))
            return 1;
    }
    int ret = pgs ? pgs_close(&sup) : dvd_close(&dvd);
    free(box.pixels);
    return ret;
}
