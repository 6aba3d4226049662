/* pipeline_caps.c -- what this worker's libav can do, as ffpool.Capabilities.
 *
 * Part of the pipeline (the only code that calls libav): enumerates the
 * linked libraries' encoders, decoders, filters, bit-stream filters and
 * hardware device types, with the flag strings ffmpeg itself prints, so that
 * the shim can answer Jellyfin's start-up probes (-version, -encoders, ...)
 * with the truth about the pool instead of the Jellyfin host.
 *
 * The texts the shim prints verbatim are rendered here, from this libav, in
 * the layouts of FFmpeg 5.1's fftools: `-version` (all eight libraries, the
 * version each was built against and the one running) and every filter's
 * and bit-stream filter's `-h filter=NAME` / `-h bsf=NAME`. The option
 * blocks of those help texts are libav's own: av_opt_show2() writes them
 * through av_log, which is pointed at a buffer while they are rendered (as
 * the CLI points it at stdout). The help texts (about 700 kB) travel
 * zlib-compressed in one field, since every Capabilities reply carries every
 * live worker's message. */
#include "pipeline_caps.h"

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavcodec/version.h>
#include <libavdevice/avdevice.h>
#include <libavdevice/version.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/version.h>
#include <libavformat/avformat.h>
#include <libavformat/version.h>
#include <libavutil/avutil.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/version.h>
#include <libpostproc/postprocess.h>
#include <libpostproc/version.h>
#include <libswresample/swresample.h>
#include <libswresample/version.h>
#include <libswscale/swscale.h>
#include <libswscale/version.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

/* ---------------------------------------------------------------------------
 * Texts: -version and the help texts
 * ------------------------------------------------------------------------- */

/* A growable text; failed is set (and the text left as it was) when memory
 * runs out. */
struct caps_text {
    char *data;
    size_t len, cap;
    int failed;
};

static void text_vappend(struct caps_text *text, const char *format, va_list args)
{
    va_list measure;
    va_copy(measure, args);
    int n = vsnprintf(NULL, 0, format, measure);
    va_end(measure);
    if (n < 0 || text->failed) {
        text->failed = 1;
        return;
    }
    if (text->len + (size_t)n + 1 > text->cap) {
        size_t cap = text->cap ? text->cap : 1 << 16;
        while (text->len + (size_t)n + 1 > cap)
            cap *= 2;
        char *grown = realloc(text->data, cap);
        if (grown == NULL) {
            text->failed = 1;
            return;
        }
        text->data = grown;
        text->cap = cap;
    }
    vsnprintf(text->data + text->len, text->cap - text->len, format, args);
    text->len += (size_t)n;
}

static void text_append(struct caps_text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void text_append(struct caps_text *text, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    text_vappend(text, format, args);
    va_end(args);
}

/* Where av_log writes while help texts are rendered. av_log has one
 * process-wide callback and no user pointer, hence a static. */
static struct caps_text *log_target;

/* Every level, as the CLI's help output does (av_opt_show2 logs at INFO). */
static void log_to_text(void *object, int level, const char *format, va_list args)
{
    if (log_target != NULL)
        text_vappend(log_target, format, args);
}

/* The CLI's copyright line ends with the year its own sources were released
 * (CONFIG_THIS_YEAR, compiled into the ffmpeg program): no library reports
 * it, so this is that year for the FFmpeg this worker is built against
 * (Debian 12's 5.1.9). Jellyfin reads only the version number before it. */
#define CLI_COPYRIGHT_YEAR 2026

/* What `ffmpeg -version` prints (fftools' print_program_info and
 * print_all_libs_info): each library's version as built and as running.
 * The CLI's "built with COMPILER" line names the compiler of the ffmpeg
 * program, which no library reports; this line names the worker instead. */
static void version_text(struct caps_text *text)
{
    const struct {
        const char *name; /* without "lib" */
        unsigned built, running;
    } libraries[] = {
        {"avutil", LIBAVUTIL_VERSION_INT, avutil_version()},
        {"avcodec", LIBAVCODEC_VERSION_INT, avcodec_version()},
        {"avformat", LIBAVFORMAT_VERSION_INT, avformat_version()},
        {"avdevice", LIBAVDEVICE_VERSION_INT, avdevice_version()},
        {"avfilter", LIBAVFILTER_VERSION_INT, avfilter_version()},
        {"swscale", LIBSWSCALE_VERSION_INT, swscale_version()},
        {"swresample", LIBSWRESAMPLE_VERSION_INT, swresample_version()},
        {"postproc", LIBPOSTPROC_VERSION_INT, postproc_version()},
    };
    text_append(text,
                "ffmpeg version %s Copyright (c) 2000-%d the FFmpeg developers\n"
                "built by ffpool worker (libav linked directly)\n"
                "configuration: %s\n",
                av_version_info(), CLI_COPYRIGHT_YEAR, avcodec_configuration());
    for (size_t i = 0; i < sizeof(libraries) / sizeof(libraries[0]); i++) {
        unsigned b = libraries[i].built, r = libraries[i].running;
        text_append(text, "lib%-11s %2u.%3u.%3u / %2u.%3u.%3u\n", libraries[i].name,
                    AV_VERSION_MAJOR(b), AV_VERSION_MINOR(b), AV_VERSION_MICRO(b),
                    AV_VERSION_MAJOR(r), AV_VERSION_MINOR(r), AV_VERSION_MICRO(r));
    }
}

/* The option blocks of a class and of its children, as fftools'
 * show_help_children() lists them: libav's own listing (through av_log, so
 * text must be log_target), then a blank line. */
static void class_help(struct caps_text *text, const AVClass *class, int flags)
{
    if (class->option != NULL) {
        av_opt_show2((void *)&class, NULL, flags, 0);
        text_append(text, "\n");
    }
    void *iter = NULL;
    for (const AVClass *child; (child = av_opt_child_class_iterate(class, &iter)) != NULL;)
        class_help(text, child, flags);
}

static const char *media_type_name(enum AVMediaType type)
{
    const char *name = av_get_media_type_string(type);
    return name ? name : "(null)"; /* what the CLI's printf prints */
}

/* One side of a filter's pads, as `-h filter=` lists them. */
static void filter_pads_help(struct caps_text *text, const AVFilter *filter, int outputs)
{
    const AVFilterPad *pads = outputs ? filter->outputs : filter->inputs;
    unsigned count = avfilter_filter_pad_count(filter, outputs);
    int dynamic =
        filter->flags & (outputs ? AVFILTER_FLAG_DYNAMIC_OUTPUTS : AVFILTER_FLAG_DYNAMIC_INPUTS);
    text_append(text, "    %s:\n", outputs ? "Outputs" : "Inputs");
    for (unsigned i = 0; i < count; i++)
        text_append(text, "       #%u: %s (%s)\n", i, avfilter_pad_get_name(pads, (int)i),
                    media_type_name(avfilter_pad_get_type(pads, (int)i)));
    if (dynamic)
        text_append(text, "        dynamic (depending on the options)\n");
    else if (count == 0)
        text_append(text, "        none (%s filter)\n", outputs ? "sink" : "source");
}

/* What `ffmpeg -h filter=NAME` prints on stdout (fftools' show_help_filter). */
static void filter_help(struct caps_text *text, const AVFilter *filter)
{
    text_append(text, "Filter %s\n", filter->name);
    if (filter->description != NULL)
        text_append(text, "  %s\n", filter->description);
    if (filter->flags & AVFILTER_FLAG_SLICE_THREADS)
        text_append(text, "    slice threading supported\n");
    filter_pads_help(text, filter, 0);
    filter_pads_help(text, filter, 1);
    if (filter->priv_class != NULL)
        class_help(text, filter->priv_class,
                   AV_OPT_FLAG_VIDEO_PARAM | AV_OPT_FLAG_FILTERING_PARAM | AV_OPT_FLAG_AUDIO_PARAM);
    if (filter->flags & AVFILTER_FLAG_SUPPORT_TIMELINE)
        text_append(text, "This filter has support for timeline through the 'enable' option.\n");
}

/* What `ffmpeg -h bsf=NAME` prints on stdout (fftools' show_help_bsf). */
static void bsf_help(struct caps_text *text, const AVBitStreamFilter *bsf)
{
    text_append(text, "Bit stream filter %s\n", bsf->name);
    if (bsf->codec_ids != NULL) {
        text_append(text, "    Supported codecs:");
        for (const enum AVCodecID *id = bsf->codec_ids; *id != AV_CODEC_ID_NONE; id++) {
            const AVCodecDescriptor *codec = avcodec_descriptor_get(*id);
            text_append(text, " %s", codec ? codec->name : "(null)");
        }
        text_append(text, "\n");
    }
    if (bsf->priv_class != NULL)
        class_help(text, bsf->priv_class, AV_OPT_FLAG_BSF_PARAM);
}

/* Compresses text into caps->help_zlib / help_size (memory kept in pool;
 * pool->failed set on failure). */
static void help_compress(struct caps_pool *pool, const struct caps_text *text,
                          Ffpool__Capabilities *caps)
{
    if (text->failed || text->len > UINT32_MAX) {
        pool->failed = 1;
        return;
    }
    if (text->len == 0)
        return; /* a libav without filters: no help texts */
    uLongf len = compressBound((uLong)text->len);
    uint8_t *packed = caps_keep(pool, malloc(len));
    if (packed == NULL)
        return;
    if (compress2(packed, &len, (const Bytef *)text->data, (uLong)text->len, Z_BEST_COMPRESSION) !=
        Z_OK) {
        pool->failed = 1;
        return;
    }
    caps->help_zlib.data = packed;
    caps->help_zlib.len = len;
    caps->help_size = (uint32_t)text->len;
}

uint8_t *pipeline_capabilities_pack(size_t *len)
{
    return pipeline_capabilities_pack_devices(len, NULL, 0, NULL);
}

uint8_t *pipeline_capabilities_pack_devices(size_t *len, char (*devices)[32], int n_devices,
                                            const Ffpool__CliInfo *cli)
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
    struct caps_text version = {0}, help = {0};
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
    /* The help texts: av_log writes into help until they are done. */
    log_target = &help;
    av_log_set_callback(log_to_text);
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
        size_t start = help.len;
        filter_help(&help, f);
        info->help_offset = (uint32_t)start;
        info->help_length = (uint32_t)(help.len - start);
        filter_ptrs[caps.n_filters++] = info;
    }
    it = NULL;
    for (const AVBitStreamFilter *b; (b = av_bsf_iterate(&it)) != NULL && caps.n_bsfs < n_bsfs;) {
        Ffpool__BsfInfo *info = &bsfs[caps.n_bsfs];
        ffpool__bsf_info__init(info);
        info->name = caps_strdup(&pool, b->name);
        size_t start = help.len;
        bsf_help(&help, b);
        info->help_offset = (uint32_t)start;
        info->help_length = (uint32_t)(help.len - start);
        bsf_ptrs[caps.n_bsfs++] = info;
    }
    av_log_set_callback(av_log_default_callback);
    log_target = NULL;
    for (enum AVHWDeviceType t = AV_HWDEVICE_TYPE_NONE;
         (t = av_hwdevice_iterate_types(t)) != AV_HWDEVICE_TYPE_NONE && caps.n_hwaccels < n_hw;)
        hwaccels[caps.n_hwaccels++] = caps_strdup(&pool, av_hwdevice_get_type_name(t));
    version_text(&version);
    help_compress(&pool, &help, &caps);
    if (pool.failed || version.failed)
        goto cleanup;

    caps.version_text = version.data;
    caps.av_version = (char *)av_version_info();
    caps.encoders = encoders;
    caps.decoders = decoders;
    caps.filters = filter_ptrs;
    caps.bsfs = bsf_ptrs;
    caps.hwaccels = hwaccels;
    char *device_names[32];
    for (int i = 0; i < n_devices && i < 32; i++)
        device_names[caps.n_devices++] = devices[i];
    caps.devices = device_names;
    /* Packing only reads it. */
    caps.cli = (Ffpool__CliInfo *)cli;

    *len = ffpool__capabilities__get_packed_size(&caps);
    packed = malloc(*len > 0 ? *len : 1);
    if (packed != NULL)
        ffpool__capabilities__pack(&caps, packed);

cleanup:
    for (size_t k = 0; k < pool.count; k++)
        free(pool.items[k]);
    free(pool.items);
    free(version.data);
    free(help.data);
    return packed;
}
