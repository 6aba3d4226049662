/* argv_value.c -- reading option values and names, for the command-line
 * parser.
 *
 * Values: integers with SI suffixes ("200M", "1Ki"), floating-point rates,
 * frame rates, durations ("00:01:30.5", "6s"), Jellyfin's keyframe
 * expressions and the filters of a -vf chain, read the way ffmpeg reads
 * them. All arithmetic is checked; nothing here can
 * overflow. A value is either read (VALUE_OK), in a form this parser does
 * not read (VALUE_UNREADABLE: the caller hands the line to the local
 * ffmpeg, which then decides), or readable but out of range (VALUE_RANGE).
 *
 * Names: what counts as hardware (codecs, and which of them and which device
 * types a Linux worker can have), flag sets such as -hwaccel_flags checked
 * against libav 5.1's constants, which formats are local files, which
 * muxers and codecs the worker's pipeline writes (and which codecs the ipod
 * muxer takes), which filters keep the frame rate, and which arguments are
 * protocols rather than files.
 *
 * Pure functions of their arguments: no parser state, no allocation, no
 * logging, no file system. */
#include "argv_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------
 * Values: integers with SI suffixes, durations, keyframe expressions, frame
 * rates, filter chains.
 * ------------------------------------------------------------------------- */

enum value_status value_parse_int64(const char *text, int allow_suffix, int64_t *out)
{
    const char *s = text;
    int negative = 0;
    if (*s == '-' || *s == '+')
        negative = *s++ == '-';
    if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
        return VALUE_UNREADABLE;

    uint64_t whole = 0;
    int whole_overflow = 0;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned digit = (unsigned)(*s - '0');
        if (whole > (UINT64_MAX - digit) / 10)
            whole_overflow = 1;
        else
            whole = whole * 10 + digit;
    }

    /* Up to 18 fraction digits are kept exactly; later ones must be 0. */
    uint64_t fraction = 0;
    unsigned fraction_digits = 0;
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++) {
            if (fraction_digits < 18) {
                fraction = fraction * 10 + (uint64_t)(*s - '0');
                fraction_digits++;
            } else if (*s != '0') {
                return VALUE_UNREADABLE;
            }
        }
        while (fraction_digits > 0 && fraction % 10 == 0) {
            fraction /= 10;
            fraction_digits--;
        }
    }

    uint64_t multiplier = 1;
    if (allow_suffix && *s != '\0') {
        static const char prefixes[] = "KMGTPE";
        int power = 0;
        if (*s == 'k') {
            power = 1;
        } else {
            const char *at = strchr(prefixes, *s);
            if (at != NULL)
                power = (int)(at - prefixes) + 1;
        }
        if (power > 0) {
            s++;
            uint64_t base = 1000;
            if (*s == 'i') {
                base = 1024;
                s++;
            }
            for (int k = 0; k < power; k++)
                multiplier *= base; /* at most 1024^6 = 2^60: fits */
        }
        if (*s == 'B') {
            multiplier *= 8; /* at most 2^63: fits */
            s++;
        }
    }
    if (*s != '\0')
        return VALUE_UNREADABLE;
    if (whole_overflow)
        return VALUE_RANGE;

    uint64_t value;
    if (__builtin_mul_overflow(whole, multiplier, &value))
        return VALUE_RANGE;
    if (fraction_digits > 0) {
        uint64_t scaled, power10 = 1;
        for (unsigned k = 0; k < fraction_digits; k++)
            power10 *= 10;
        /* A product this large has ~19 significant digits: not worth
         * reading exactly, and never written by Jellyfin. */
        if (__builtin_mul_overflow(fraction, multiplier, &scaled))
            return VALUE_UNREADABLE;
        if (scaled % power10 != 0)
            return VALUE_UNREADABLE;
        if (__builtin_add_overflow(value, scaled / power10, &value))
            return VALUE_RANGE;
    }
    if (negative) {
        if (value > (uint64_t)INT64_MAX + 1)
            return VALUE_RANGE;
        *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    } else {
        if (value > (uint64_t)INT64_MAX)
            return VALUE_RANGE;
        *out = (int64_t)value;
    }
    return VALUE_OK;
}

enum value_status value_parse_double(const char *text, double *out)
{
    char *end;
    double value = strtod(text, &end);
    if (end == text || isspace((unsigned char)text[0]))
        return VALUE_RANGE;
    if (*end != '\0') {
        static const char prefixes[] = "KMGTPE";
        const char *at = *end == 'k' ? prefixes : strchr(prefixes, *end);
        if (at != NULL) {
            int power = (int)(at - prefixes) + 1;
            double base = end[1] == 'i' ? 1024.0 : 1000.0;
            end += end[1] == 'i' ? 2 : 1;
            for (int k = 0; k < power; k++)
                value *= base;
        }
        if (*end == 'B') {
            value *= 8;
            end++;
        }
        if (*end != '\0')
            return VALUE_UNREADABLE;
    }
    if (!isfinite(value))
        return VALUE_RANGE;
    *out = value;
    return VALUE_OK;
}

/* Reads 1 to max_digits decimal digits into *out. Returns the number of
 * characters read (0 if none) or -1 on overflow. */
static int value_read_digits(const char *s, int max_digits, int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    while (n < max_digits && isdigit((unsigned char)s[n])) {
        if (v > (INT64_MAX - (s[n] - '0')) / 10)
            return -1;
        v = v * 10 + (s[n] - '0');
        n++;
    }
    *out = v;
    return n;
}

enum value_status value_parse_duration_us(const char *text, int64_t *out)
{
    const char *s = text;
    int negative = 0;
    if (*s == '-')
        negative = 1, s++;

    int64_t parts[3];
    int count = 0;
    for (;;) {
        int n = value_read_digits(s, count == 0 ? 64 : 2, &parts[count]);
        if (n < 0)
            return VALUE_RANGE;
        if (n == 0)
            return VALUE_UNREADABLE;
        s += n;
        count++;
        if (*s != ':' || count == 3)
            break;
        s++;
    }
    if (count > 1 && isdigit((unsigned char)*s))
        return VALUE_UNREADABLE; /* "1:234" */

    int64_t seconds;
    if (count == 1) {
        seconds = parts[0];
    } else {
        int64_t hours = count == 3 ? parts[0] : 0;
        int64_t minutes = parts[count - 2], secs = parts[count - 1];
        if (minutes > 59 || secs > 59)
            return VALUE_UNREADABLE;
        if (hours > INT64_MAX / 3600)
            return VALUE_RANGE;
        seconds = hours * 3600 + minutes * 60 + secs;
    }

    int64_t micro = 0;
    if (*s == '.') {
        s++;
        for (int64_t unit = 100000; unit >= 1 && isdigit((unsigned char)*s); unit /= 10, s++)
            micro += unit * (*s - '0');
        while (isdigit((unsigned char)*s))
            s++;
    }

    int64_t divisor = 1;
    if (strcmp(s, "ms") == 0)
        divisor = 1000;
    else if (strcmp(s, "us") == 0)
        divisor = 1000000;
    else if (strcmp(s, "s") != 0 && *s != '\0')
        return VALUE_UNREADABLE;

    int64_t us;
    if (__builtin_mul_overflow(seconds, (int64_t)1000000, &us) ||
        __builtin_add_overflow(us, micro, &us))
        return VALUE_RANGE;
    us /= divisor;
    *out = negative ? -us : us;
    return VALUE_OK;
}

enum value_status value_parse_keyframe_interval(const char *text, int64_t *interval_us)
{
    static const char prefix[] = "expr:gte(t,";
    static const char marker[] = "n_forced*";
    char number[32];

    if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
        return VALUE_UNREADABLE;
    const char *s = text + sizeof(prefix) - 1;

    const char *plus = strchr(s, '+');
    if (plus != NULL && strncmp(s, marker, sizeof(marker) - 1) != 0) {
        size_t n = (size_t)(plus - s);
        int64_t offset_us;
        if (n == 0 || n >= sizeof(number))
            return VALUE_UNREADABLE;
        memcpy(number, s, n);
        number[n] = '\0';
        if (strchr(number, ':') != NULL || value_parse_duration_us(number, &offset_us) != VALUE_OK)
            return VALUE_UNREADABLE;
        s = plus + 1;
    }
    if (strncmp(s, marker, sizeof(marker) - 1) != 0)
        return VALUE_UNREADABLE;
    s += sizeof(marker) - 1;

    const char *close = strchr(s, ')');
    if (close == NULL || close[1] != '\0')
        return VALUE_UNREADABLE;
    size_t n = (size_t)(close - s);
    if (n == 0 || n >= sizeof(number))
        return VALUE_UNREADABLE;
    memcpy(number, s, n);
    number[n] = '\0';
    if (strchr(number, ':') != NULL || number[0] == '-')
        return VALUE_UNREADABLE;
    return value_parse_duration_us(number, interval_us);
}

enum value_status value_parse_frame_rate(const char *text, double *out)
{
    if (strspn(text, "0123456789.") != strlen(text) || strchr(text, '.') != strrchr(text, '.'))
        return VALUE_UNREADABLE;
    double rate;
    if (value_parse_double(text, &rate) != VALUE_OK)
        return VALUE_UNREADABLE;
    if (!(rate > 0))
        return VALUE_RANGE;
    *out = rate;
    return VALUE_OK;
}

enum value_status value_filter_next(const char **cursor, struct filter_item *item)
{
    const char *s = *cursor;
    if (*s == '\0')
        return VALUE_RANGE;
    /* As libavfilter's parser reads a filter (av_get_token): the name ends
     * at '=', the arguments at ',' ';' '[' or ']', each outside quotes and
     * escapes. */
    item->name = s;
    item->name_len = strcspn(s, "=,;[]'\\");
    s += item->name_len;
    item->args = s;
    item->args_len = 0;
    if (*s == '=') {
        item->args = ++s;
        int quoted = 0;
        for (; *s != '\0'; s++) {
            if (*s == '\\' && !quoted && s[1] != '\0')
                s++;
            else if (*s == '\'')
                quoted = !quoted;
            else if (!quoted && strchr(",;[]", *s) != NULL)
                break;
        }
        if (quoted)
            return VALUE_UNREADABLE;
        item->args_len = (size_t)(s - item->args);
    }
    if (item->name_len == 0 || (*s != '\0' && *s != ','))
        return VALUE_UNREADABLE; /* labels, a second chain, quotes in a name */
    if (*s == ',' && *++s == '\0')
        return VALUE_UNREADABLE;
    *cursor = s;
    return VALUE_OK;
}

/* ---------------------------------------------------------------------------
 * Names: what counts as hardware, flag sets, which formats are files.
 * ------------------------------------------------------------------------- */

/* Whether item's name is name. */
static int filter_is(const struct filter_item *item, const char *name)
{
    return strlen(name) == item->name_len && strncmp(item->name, name, item->name_len) == 0;
}

/* Whether item's arguments are exactly args. */
static int filter_args_are(const struct filter_item *item, const char *args)
{
    return strlen(args) == item->args_len && strncmp(item->args, args, item->args_len) == 0;
}

int name_filter_keeps_frame_rate(const struct filter_item *item)
{
    /* One frame out for each frame in, at its time: scaling, formats,
     * colour, tone mapping, cropping and rotating, text subtitles drawn in,
     * uploads and downloads between hardware and software frames. */
    static const char *const kept[] = {"null",
                                       "setparams",
                                       "setsar",
                                       "setdar",
                                       "scale",
                                       "format",
                                       "crop",
                                       "pad",
                                       "hflip",
                                       "vflip",
                                       "transpose",
                                       "zscale",
                                       "tonemap",
                                       "tonemapx",
                                       "colorspace",
                                       "subtitles",
                                       "ass",
                                       "unsharp",
                                       "hwupload",
                                       "hwupload_cuda",
                                       "hwdownload",
                                       "hwmap",
                                       "scale_vaapi",
                                       "scale_qsv",
                                       "scale_cuda",
                                       "scale_npp",
                                       "scale_vulkan",
                                       "tonemap_vaapi",
                                       "tonemap_opencl",
                                       "tonemap_cuda",
                                       "procamp_vaapi",
                                       "transpose_vaapi",
                                       "transpose_cuda",
                                       "transpose_opencl",
                                       "transpose_vulkan",
                                       "transpose_npp",
                                       "unsharp_opencl",
                                       NULL};
    for (const char *const *k = kept; *k != NULL; k++)
        if (filter_is(item, *k))
            return 1;
    /* Deinterlacers make one frame per frame only in their send_frame mode
     * (Jellyfin's "bwdif=0:-1:0"); its double rate ("=1:-1:0") makes two. */
    static const char *const deinterlacers[] = {
        "yadif",        "bwdif",        "yadif_cuda",   "bwdif_cuda",
        "yadif_opencl", "bwdif_opencl", "bwdif_vulkan", NULL};
    for (const char *const *d = deinterlacers; *d != NULL; d++)
        if (filter_is(item, *d))
            return (item->args_len == 1 || (item->args_len > 1 && item->args[1] == ':')) &&
                   item->args[0] == '0';
    if (filter_is(item, "deinterlace_vaapi"))
        return filter_args_are(item, "") || filter_args_are(item, "rate=frame");
    return 0;
}

static int name_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    return n > m && strcmp(name + n - m, suffix) == 0;
}

static int name_in_list(const char *name, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

int name_is_hardware_codec(const char *name)
{
    static const char *const suffixes[] = {"_vaapi",        "_nvenc",      "_cuvid", "_qsv",
                                           "_videotoolbox", "_omx",        "_mmal",  "_v4l2m2m",
                                           "_amf",          "_mf",         "_rkmpp", "_vulkan",
                                           "_d3d12va",      "_mediacodec", NULL};
    for (const char *const *s = suffixes; *s != NULL; s++)
        if (name_has_suffix(name, *s))
            return 1;
    return strncmp(name, "nvenc", 5) == 0;
}

int name_is_pool_hardware_encoder(const char *name)
{
    /* The hardware rows of video_encoder_kinds (worker/pipeline/
     * pipeline_video.c): the encoders whose IDR placement the pipeline
     * knows. Others (av1_*, *_v4l2m2m...) stay on a local ffmpeg. */
    static const char *const encoders[] = {"h264_vaapi", "hevc_vaapi", "h264_qsv", "hevc_qsv",
                                           "h264_nvenc", "hevc_nvenc", NULL};
    return name_in_list(name, encoders);
}

int name_is_pool_hardware_decoder(const char *name)
{
    static const char *const suffixes[] = {"_cuvid", "_qsv", "_v4l2m2m", NULL};
    for (const char *const *s = suffixes; *s != NULL; s++)
        if (name_has_suffix(name, *s))
            return 1;
    return 0;
}

int name_is_hwdevice_type(const char *name)
{
    /* libavutil/hwcontext.c hw_type_names, 5.1. */
    static const char *const types[] = {"cuda",         "drm",        "dxva2",  "d3d11va",
                                        "opencl",       "qsv",        "vaapi",  "vdpau",
                                        "videotoolbox", "mediacodec", "vulkan", NULL};
    return name_in_list(name, types);
}

int name_is_worker_hwdevice_type(const char *name)
{
    static const char *const types[] = {"cuda",  "drm",   "opencl", "qsv",
                                        "vaapi", "vdpau", "vulkan", NULL};
    return name_in_list(name, types);
}

enum value_status value_check_flags(const char *value, const char *const *names, char *unknown,
                                    size_t unknown_len)
{
    const char *s = value;
    char name[64];
    if (*s == '\0')
        return VALUE_UNREADABLE;
    while (*s != '\0') {
        if (*s == '+' || *s == '-')
            s++;
        size_t n = strcspn(s, "+-");
        if (n == 0 || n >= sizeof(name))
            return VALUE_UNREADABLE;
        memcpy(name, s, n);
        name[n] = '\0';
        if (isdigit((unsigned char)name[0]))
            return VALUE_UNREADABLE; /* a number: libav reads it, this does not */
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)name[i]) && name[i] != '_')
                return VALUE_UNREADABLE;
        if (!name_in_list(name, names)) {
            snprintf(unknown, unknown_len, "%s", name);
            return VALUE_RANGE;
        }
        s += n;
    }
    return VALUE_OK;
}

int name_is_file_demuxer(const char *format)
{
    static const char *const demuxers[] = {
        "matroska", "webm", "mov",    "mp4",       "m4a", "3gp",  "3g2",  "mj2", "mpegts", "avi",
        "asf",      "flv",  "mpeg",   "mpegvideo", "mp3", "flac", "ogg",  "wav", "aac",    "ac3",
        "eac3",     "dts",  "truehd", "mxf",       "wtv", "h264", "hevc", NULL};
    char item[64];
    const char *s = format;
    if (*s == '\0')
        return 0;
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        if (n == 0 || n >= sizeof(item))
            return 0;
        memcpy(item, s, n);
        item[n] = '\0';
        if (!name_in_list(item, demuxers))
            return 0;
        s += n;
        if (*s == ',')
            s++;
    }
    return 1;
}

int name_is_progressive_muxer(const char *format)
{
    static const char *const muxers[] = {"mp4",  "mov",  "matroska", "webm", "mp3", "mpegts",
                                         "adts", "flac", "ogg",      "opus", "wav", "ipod",
                                         "ismv", "ac3",  "eac3",     "dts",  NULL};
    return name_in_list(format, muxers);
}

int name_is_native_audio_codec(const char *codec)
{
    static const char *const codecs[] = {"aac",       "libfdk_aac", "libmp3lame", "ac3",
                                         "eac3",      "libopus",    "flac",       "alac",
                                         "libvorbis", "copy",       NULL};
    return name_in_list(codec, codecs);
}

int name_is_native_input_fflag(const char *flag)
{
    static const char *const flags[] = {"igndts", "ignidx", "discardcorrupt", "fastseek", NULL};
    return name_in_list(flag, flags);
}

int name_is_native_progressive_muxer(const char *format)
{
    static const char *const muxers[] = {"mp4", "ipod", "matroska", "mp3", "adts", "mpegts", NULL};
    return name_in_list(format, muxers);
}

int name_ipod_takes_codec(const char *codec)
{
    /* libavformat's ipod tags (H.264, AAC, AC-3, ALAC...) among the codecs
     * the pipeline encodes; a copy is the source's codec, which the muxer
     * takes or refuses for the pipeline as for the CLI. */
    static const char *const codecs[] = {"",         "copy",       "libx264", "h264_vaapi",
                                         "h264_qsv", "h264_nvenc", "aac",     "libfdk_aac",
                                         "ac3",      "eac3",       "alac",    NULL};
    return name_in_list(codec, codecs);
}

const char *name_guess_muxer(const char *path)
{
    static const char *const table[][2] = {
        {"m3u8", "hls"},   {"mp4", "mp4"},      {"m4v", "ipod"},     {"m4b", "ipod"},
        {"mov", "mov"},    {"mkv", "matroska"}, {"mka", "matroska"}, {"webm", "webm"},
        {"mp3", "mp3"},    {"ts", "mpegts"},    {"aac", "adts"},     {"flac", "flac"},
        {"ogg", "ogg"},    {"opus", "opus"},    {"wav", "wav"},      {"m4a", "ipod"},
        {"jpg", "image2"}, {"jpeg", "image2"},  {"png", "image2"},   {"srt", "srt"},
        {"ass", "ass"},    {"ssa", "ass"},      {"vtt", "webvtt"},
    };
    const char *base = path;
    for (const char *s = path; *s != '\0'; s++)
        if (*s == '/' || *s == '\\')
            base = s + 1;
    const char *dot = strrchr(base, '.');
    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcasecmp(dot + 1, table[i][0]) == 0)
            return table[i][1];
    return NULL;
}

int name_is_protocol(const char *url)
{
    if (strcmp(url, "-") == 0 || strstr(url, "://") != NULL)
        return 1;
    size_t n = 0;
    while (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '.' || url[n] == '-' ||
           url[n] == '_')
        n++;
    return n >= 2 && url[n] == ':' && isalpha((unsigned char)url[0]);
}

/* Whether an input URL names Jellyfin's own host by its loopback address
 * (a live stream Jellyfin relays to itself): no worker reaches it there. */
int name_url_is_loopback(const char *input)
{
    const char *host = strstr(input, "://");
    if (host == NULL)
        return 0;
    host += 3;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at != NULL && (slash == NULL || at < slash))
        host = at + 1;
    return strncmp(host, "localhost", 9) == 0 || strncmp(host, "127.", 4) == 0 ||
           strncmp(host, "[::1]", 5) == 0;
}
