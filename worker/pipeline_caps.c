/* pipeline_caps.c -- what this worker's libav can do, as ffpool.Capabilities.
 *
 * Part of the pipeline (the only code that calls libav): enumerates the
 * linked libraries' encoders, decoders, filters, bit-stream filters and
 * hardware device types, with the flag strings ffmpeg itself prints, so that
 * the shim can answer Jellyfin's start-up probes (-version, -encoders, ...)
 * with the truth about the pool instead of the Jellyfin host. */
#include "pipeline_caps.h"

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/hwcontext.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffpool.pb-c.h"

/* A growable array of pointers, freed as a whole at the end. */
struct caps_pool {
    void **items;
    size_t count, cap;
    int failed;
};

static void *caps_keep(struct caps_pool *pool, void *item)
{
    if (item == NULL) {
        pool->failed = 1;
        return NULL;
    }
    if (pool->count == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 256;
        void **grown = realloc(pool->items, cap * sizeof(*grown));
        if (grown == NULL) {
            free(item);
            pool->failed = 1;
            return NULL;
        }
        pool->items = grown;
        pool->cap = cap;
    }
    pool->items[pool->count++] = item;
    return item;
}

static char *caps_strdup(struct caps_pool *pool, const char *text)
{
    return caps_keep(pool, strdup(text ? text : ""));
}

static char codec_type_char(enum AVMediaType type)
{
    switch (type) {
    case AVMEDIA_TYPE_VIDEO:
        return 'V';
    case AVMEDIA_TYPE_AUDIO:
        return 'A';
    case AVMEDIA_TYPE_SUBTITLE:
        return 'S';
    case AVMEDIA_TYPE_DATA:
        return 'D';
    case AVMEDIA_TYPE_ATTACHMENT:
        return 'T';
    default:
        return '?';
    }
}

/* The six flag characters `ffmpeg -encoders` prints. */
static void codec_flags(const AVCodec *codec, char out[7])
{
    out[0] = codec_type_char(codec->type);
    out[1] = (codec->capabilities & AV_CODEC_CAP_FRAME_THREADS) ? 'F' : '.';
    out[2] = (codec->capabilities & AV_CODEC_CAP_SLICE_THREADS) ? 'S' : '.';
    out[3] = (codec->capabilities & AV_CODEC_CAP_EXPERIMENTAL) ? 'X' : '.';
    out[4] = (codec->capabilities & AV_CODEC_CAP_DRAW_HORIZ_BAND) ? 'B' : '.';
    out[5] = (codec->capabilities & AV_CODEC_CAP_DR1) ? 'D' : '.';
    out[6] = '\0';
}

/* Option names of an AVClass (a filter's or bsf's private options). */
static char **class_options(struct caps_pool *pool, const AVClass *class, size_t *count)
{
    *count = 0;
    if (class == NULL)
        return NULL;
    size_t n = 0;
    const AVOption *opt = NULL;
    while ((opt = av_opt_next(&class, opt)) != NULL)
        if (opt->type != AV_OPT_TYPE_CONST)
            n++;
    if (n == 0)
        return NULL;
    char **names = caps_keep(pool, calloc(n, sizeof(*names)));
    if (names == NULL)
        return NULL;
    opt = NULL;
    while ((opt = av_opt_next(&class, opt)) != NULL && *count < n)
        if (opt->type != AV_OPT_TYPE_CONST)
            names[(*count)++] = caps_strdup(pool, opt->name);
    return names;
}

/* "V->V", "A->N", "|->V" as `ffmpeg -filters` prints them. */
static void filter_io(const AVFilter *filter, char *out, size_t outlen)
{
    size_t n = 0;
    for (int direction = 0; direction < 2; direction++) {
        const AVFilterPad *pads = direction == 0 ? filter->inputs : filter->outputs;
        unsigned count = avfilter_filter_pad_count(filter, direction);
        int dynamic = direction == 0 ? (filter->flags & AVFILTER_FLAG_DYNAMIC_INPUTS)
                                     : (filter->flags & AVFILTER_FLAG_DYNAMIC_OUTPUTS);
        for (unsigned i = 0; i < count && n + 2 < outlen; i++)
            out[n++] = codec_type_char(avfilter_pad_get_type(pads, (int)i));
        if (dynamic && n + 2 < outlen)
            out[n++] = 'N';
        if (count == 0 && !dynamic && n + 2 < outlen)
            out[n++] = '|';
        if (direction == 0 && n + 3 < outlen) {
            out[n++] = '-';
            out[n++] = '>';
        }
    }
    out[n] = '\0';
}

static void version_text(char *out, size_t outlen)
{
    unsigned v[6] = {avutil_version(),   avcodec_version(), avformat_version(),
                     avfilter_version(), swscale_version(), swresample_version()};
    static const char *const names[6] = {"libavutil",   "libavcodec", "libavformat",
                                         "libavfilter", "libswscale", "libswresample"};
    int n = snprintf(out, outlen,
                     "ffmpeg version %s Copyright (c) 2000-2026 the FFmpeg developers\n"
                     "built by ffpool worker (libav linked directly)\n"
                     "configuration: %s\n",
                     av_version_info(), avcodec_configuration());
    for (int i = 0; i < 6 && n > 0 && (size_t)n < outlen; i++)
        n += snprintf(out + n, outlen - (size_t)n, "%-15s%2u.%3u.%3u / %2u.%3u.%3u\n", names[i],
                      v[i] >> 16, (v[i] >> 8) & 0xff, v[i] & 0xff, v[i] >> 16, (v[i] >> 8) & 0xff,
                      v[i] & 0xff);
}

uint8_t *pipeline_capabilities_pack(size_t *len)
{
    struct caps_pool pool = {0};
    uint8_t *packed = NULL;
    Ffpool__Capabilities caps = FFPOOL__CAPABILITIES__INIT;
    size_t n_codecs = 0, n_filters = 0, n_bsfs = 0, n_hw = 0;
    void *it;

    /* Count first so that each array is allocated once. */
    it = NULL;
    while (av_codec_iterate(&it) != NULL)
        n_codecs++;
    it = NULL;
    while (av_filter_iterate(&it) != NULL)
        n_filters++;
    it = NULL;
    while (av_bsf_iterate(&it) != NULL)
        n_bsfs++;
    for (enum AVHWDeviceType t = AV_HWDEVICE_TYPE_NONE;
         (t = av_hwdevice_iterate_types(t)) != AV_HWDEVICE_TYPE_NONE;)
        n_hw++;

    Ffpool__CodecInfo *codecs = caps_keep(&pool, calloc(n_codecs + 1, sizeof(*codecs)));
    Ffpool__CodecInfo **encoders = caps_keep(&pool, calloc(n_codecs + 1, sizeof(*encoders)));
    Ffpool__CodecInfo **decoders = caps_keep(&pool, calloc(n_codecs + 1, sizeof(*decoders)));
    Ffpool__FilterInfo *filters = caps_keep(&pool, calloc(n_filters + 1, sizeof(*filters)));
    Ffpool__FilterInfo **filter_ptrs =
        caps_keep(&pool, calloc(n_filters + 1, sizeof(*filter_ptrs)));
    Ffpool__BsfInfo *bsfs = caps_keep(&pool, calloc(n_bsfs + 1, sizeof(*bsfs)));
    Ffpool__BsfInfo **bsf_ptrs = caps_keep(&pool, calloc(n_bsfs + 1, sizeof(*bsf_ptrs)));
    char **hwaccels = caps_keep(&pool, calloc(n_hw + 1, sizeof(*hwaccels)));
    char *version = caps_keep(&pool, calloc(1, 4096));
    if (pool.failed)
        goto cleanup;

    size_t i = 0;
    it = NULL;
    for (const AVCodec *codec; (codec = av_codec_iterate(&it)) != NULL && i < n_codecs; i++) {
        char flags[7];
        codec_flags(codec, flags);
        ffpool__codec_info__init(&codecs[i]);
        codecs[i].name = caps_strdup(&pool, codec->name);
        codecs[i].flags = caps_strdup(&pool, flags);
        codecs[i].description = caps_strdup(&pool, codec->long_name);
        if (av_codec_is_encoder(codec))
            encoders[caps.n_encoders++] = &codecs[i];
        else if (av_codec_is_decoder(codec))
            decoders[caps.n_decoders++] = &codecs[i];
    }
    it = NULL;
    for (const AVFilter *f; (f = av_filter_iterate(&it)) != NULL && caps.n_filters < n_filters;) {
        Ffpool__FilterInfo *info = &filters[caps.n_filters];
        char flags[4] = {(f->flags & AVFILTER_FLAG_SUPPORT_TIMELINE) ? 'T' : '.',
                         (f->flags & AVFILTER_FLAG_SLICE_THREADS) ? 'S' : '.',
                         f->process_command ? 'C' : '.', '\0'};
        char io[64];
        filter_io(f, io, sizeof(io));
        ffpool__filter_info__init(info);
        info->name = caps_strdup(&pool, f->name);
        info->flags = caps_strdup(&pool, flags);
        info->io = caps_strdup(&pool, io);
        info->description = caps_strdup(&pool, f->description);
        info->options = class_options(&pool, f->priv_class, &info->n_options);
        filter_ptrs[caps.n_filters++] = info;
    }
    it = NULL;
    for (const AVBitStreamFilter *b; (b = av_bsf_iterate(&it)) != NULL && caps.n_bsfs < n_bsfs;) {
        Ffpool__BsfInfo *info = &bsfs[caps.n_bsfs];
        ffpool__bsf_info__init(info);
        info->name = caps_strdup(&pool, b->name);
        info->options = class_options(&pool, b->priv_class, &info->n_options);
        bsf_ptrs[caps.n_bsfs++] = info;
    }
    for (enum AVHWDeviceType t = AV_HWDEVICE_TYPE_NONE;
         (t = av_hwdevice_iterate_types(t)) != AV_HWDEVICE_TYPE_NONE && caps.n_hwaccels < n_hw;)
        hwaccels[caps.n_hwaccels++] = caps_strdup(&pool, av_hwdevice_get_type_name(t));
    if (pool.failed)
        goto cleanup;

    version_text(version, 4096);
    caps.version_text = version;
    caps.av_version = (char *)av_version_info();
    caps.encoders = encoders;
    caps.decoders = decoders;
    caps.filters = filter_ptrs;
    caps.bsfs = bsf_ptrs;
    caps.hwaccels = hwaccels;

    *len = ffpool__capabilities__get_packed_size(&caps);
    packed = malloc(*len > 0 ? *len : 1);
    if (packed != NULL)
        ffpool__capabilities__pack(&caps, packed);

cleanup:
    for (size_t k = 0; k < pool.count; k++)
        free(pool.items[k]);
    free(pool.items);
    return packed;
}
