/* argv.c -- splitting Jellyfin's argument string and reading an ffmpeg
 * command line into a struct job_spec.
 *
 * The parser walks argv once, left to right, the way ffmpeg does: options
 * before -i belong to the input, options after it to the output, and the
 * first non-option argument after that is the output file. Every option the
 * native path knows is in one table (option_table) with its arity, where it
 * may appear and which stream specifiers it takes, so an option is always
 * consumed with the right number of values even when its value rules the
 * native path out. An option that is not in the table stops the walk: its
 * arity is unknown, so nothing after it can be read reliably, and a local
 * ffmpeg must run the line.
 *
 * While walking, anything that rules the native path out is recorded as a
 * "blocker" with a rank; the reason reported is the most specific blocker
 * (a hardware encoder says more than an unknown option it needs). REFUSE is
 * kept for lines that even ffmpeg could not run (missing values, no input,
 * values ffmpeg rejects such as a negative -readrate) and for the checks the
 * pool depends on (segment length > 0, a segment pattern with one %d). A
 * line with no output at all (Jellyfin's device checks) goes to the local
 * ffmpeg, whose own messages are the answer. A value this parser cannot
 * read, or that does not fit the spec, is a PASSTHROUGH: the real ffmpeg
 * then decides, and Jellyfin sees its real error if there is one.
 *
 * This file never allocates except in argv_split(), never logs, and never
 * touches the file system. */
#include "argv.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARGV_REASON_MAX 256

/* ---------------------------------------------------------------------------
 * Splitting (.NET's ParseArgumentsIntoList on Unix)
 * ------------------------------------------------------------------------- */

/* Reads the argument starting at line[*pos] (not at whitespace) and leaves
 * *pos after it. Writes the argument to out when out is not NULL; returns
 * its length either way, so a first pass can size the allocation. */
static size_t split_next_argument(const char *line, size_t *pos, char *out)
{
    size_t i = *pos, n = 0;
    int in_quotes = 0;

    while (line[i] != '\0') {
        size_t backslashes = 0;
        while (line[i] == '\\') {
            backslashes++;
            i++;
        }
        if (backslashes > 0) {
            /* Backslashes are only special right before a double quote. */
            size_t literal = line[i] == '"' ? backslashes / 2 : backslashes;
            for (size_t k = 0; k < literal; k++) {
                if (out != NULL)
                    out[n] = '\\';
                n++;
            }
            if (line[i] == '"' && backslashes % 2 != 0) {
                if (out != NULL)
                    out[n] = '"';
                n++;
                i++;
            }
            continue;
        }
        char c = line[i];
        if (c == '"') {
            if (in_quotes && line[i + 1] == '"') {
                /* "" inside quotes is a literal quote; still inside. */
                if (out != NULL)
                    out[n] = '"';
                n++;
                i++;
            } else {
                in_quotes = !in_quotes;
            }
            i++;
            continue;
        }
        if ((c == ' ' || c == '\t') && !in_quotes)
            break;
        if (out != NULL)
            out[n] = c;
        n++;
        i++;
    }
    *pos = i;
    return n;
}

int argv_split(const char *line, int *argc, char ***argv)
{
    if (argc == NULL || argv == NULL)
        return -1;
    if (line == NULL)
        line = "";

    /* Pass 1: count the arguments and their bytes. */
    size_t count = 0, bytes = 0, pos = 0;
    for (;;) {
        while (line[pos] == ' ' || line[pos] == '\t')
            pos++;
        if (line[pos] == '\0')
            break;
        bytes += split_next_argument(line, &pos, NULL) + 1;
        count++;
    }
    if (count >= (size_t)INT_MAX)
        return -1;

    /* One block: the pointer vector, then the strings, so argv_free() is a
     * single free(). Each argument consumed at least one input byte, so
     * neither size can overflow for a line that fits in memory. */
    size_t vector_bytes = (count + 1) * sizeof(char *);
    char **vector = malloc(vector_bytes + bytes);
    if (vector == NULL)
        return -1;
    char *strings = (char *)vector + vector_bytes;

    /* Pass 2: fill. */
    size_t index = 0;
    pos = 0;
    for (;;) {
        while (line[pos] == ' ' || line[pos] == '\t')
            pos++;
        if (line[pos] == '\0')
            break;
        size_t length = split_next_argument(line, &pos, strings);
        strings[length] = '\0';
        vector[index++] = strings;
        strings += length + 1;
    }
    vector[index] = NULL;
    *argc = (int)index;
    *argv = vector;
    return 0;
}

void argv_free(char **argv)
{
    free(argv);
}

const char *argv_decision_name(enum argv_decision decision)
{
    switch (decision) {
    case ARGV_NATIVE:
        return "native";
    case ARGV_PASSTHROUGH:
        return "passthrough";
    case ARGV_REFUSE:
        return "refuse";
    }
    return "unknown";
}

/* ---------------------------------------------------------------------------
 * Values: integers with SI suffixes, durations, keyframe expressions.
 * All arithmetic is checked; nothing here can overflow.
 * ------------------------------------------------------------------------- */

enum value_status {
    VALUE_OK = 0,
    VALUE_UNREADABLE = -1, /* not a form this parser reads */
    VALUE_RANGE = -2,      /* readable, but does not fit */
};

/* Parses an integer the way ffmpeg's av_strtod reads option values:
 * [+-]digits[.digits] then, when allow_suffix, an SI prefix k/K/M/G/T/P/E
 * (an 'i' after it makes it a power of 1024) and an optional 'B' (x8, bytes
 * to bits, as ffmpeg does). "200M" = 200000000, "1G" = 10^9, "1Ki" = 1024.
 * The value must be an integer after scaling ("1.5M" is, "1.5" is not). */
static enum value_status value_parse_int64(const char *text, int allow_suffix, int64_t *out)
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

/* Parses a floating-point option value the way ffmpeg's av_strtod reads
 * the common forms: a decimal number, then optionally an SI prefix
 * k/K/M/G/T/P/E (with 'i': powers of 1024) and a 'B' (x8). Returns
 * VALUE_RANGE for text that does not start with a number at all (ffmpeg:
 * "Expected number ... but found"), VALUE_UNREADABLE for a number with a
 * tail this parser does not read, and refuses NaN and infinities. */
static enum value_status value_parse_double(const char *text, double *out)
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

/* Parses an ffmpeg duration (av_parse_time with duration=1) into
 * microseconds: [-][HH:]MM:SS[.frac] or [-]S[.frac][s|ms|us]. Like ffmpeg,
 * fraction digits past the sixth are ignored. */
static enum value_status value_parse_duration_us(const char *text, int64_t *out)
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

/* Parses Jellyfin's keyframe expression "expr:gte(t,n_forced*T)" or
 * "expr:gte(t,S+n_forced*T)" and returns T in microseconds. S (the seek
 * time in newer versions) is read but not kept: Jellyfin means keyframes
 * at absolute multiples of T, which is what the pool does anyway. */
static enum value_status value_parse_keyframe_interval(const char *text, int64_t *interval_us)
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

/* ---------------------------------------------------------------------------
 * Names: what counts as hardware, which formats are files.
 * ------------------------------------------------------------------------- */

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

/* Encoders and decoders that need a device the pool's software workers do
 * not have (VAAPI, NVENC/CUVID, QSV, VideoToolbox, OMX/MMAL, V4L2, AMF,
 * MediaFoundation, Rockchip, Vulkan...). */
static int name_is_hardware_codec(const char *name)
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

/* Filters that run on, or move frames to or from, a hardware device. */
static int name_is_hardware_filter(const char *name)
{
    static const char *const suffixes[] = {"_cuda", "_vaapi", "_qsv",          "_opencl", "_vulkan",
                                           "_npp",  "_rkrga", "_videotoolbox", "_vt",     NULL};
    for (const char *const *s = suffixes; *s != NULL; s++)
        if (name_has_suffix(name, *s))
            return 1;
    return strncmp(name, "hwupload", 8) == 0 || strncmp(name, "hwdownload", 10) == 0 ||
           strncmp(name, "hwmap", 5) == 0 || strncmp(name, "vpp_", 4) == 0;
}

/* Finds the first hardware filter in a filtergraph string and copies its
 * name to out. Follows libavfilter's graph syntax: chains split on ';',
 * filters on ',', [labels] around them, NAME[@id][=args] with '\' escapes
 * and '...' quotes inside args. Returns 1 if one was found. */
static int filtergraph_find_hardware(const char *graph, char *out, size_t outlen)
{
    size_t i = 0;
    while (graph[i] != '\0') {
        while (graph[i] == ' ' || graph[i] == '\n' || graph[i] == '\t' || graph[i] == '[') {
            if (graph[i] == '[') {
                while (graph[i] != '\0' && graph[i] != ']')
                    i++;
                if (graph[i] == ']')
                    i++;
            } else {
                i++;
            }
        }
        size_t start = i;
        while (graph[i] != '\0' && strchr("=,;[@ \t\n", graph[i]) == NULL)
            i++;
        size_t length = i - start;
        if (length > 0 && length < outlen) {
            memcpy(out, graph + start, length);
            out[length] = '\0';
            if (name_is_hardware_filter(out))
                return 1;
        }
        /* Skip "@id", "=args" and trailing labels up to the next filter. */
        int quoted = 0;
        while (graph[i] != '\0') {
            char c = graph[i];
            if (c == '\\' && graph[i + 1] != '\0') {
                i += 2;
                continue;
            }
            if (c == '\'')
                quoted = !quoted;
            else if (!quoted && (c == ',' || c == ';'))
                break;
            i++;
        }
        if (graph[i] != '\0')
            i++;
    }
    return 0;
}

/* Demuxers that read a local file. Anything else (lavfi, concat, devices,
 * network demuxers) is not a plain file and stays with a local ffmpeg. */
static int name_is_file_demuxer(const char *format)
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

/* Muxers that write one growing file, the progressive case. */
static int name_is_progressive_muxer(const char *format)
{
    static const char *const muxers[] = {"mp4",  "mov",  "matroska", "webm", "mp3", "mpegts",
                                         "adts", "flac", "ogg",      "opus", "wav", "ipod",
                                         "ismv", "ac3",  "eac3",     "dts",  NULL};
    return name_in_list(format, muxers);
}

/* The audio codecs the worker's pipeline encodes (libfdk_aac runs as the
 * native aac encoder), or copy. */
static int name_is_native_audio_codec(const char *codec)
{
    static const char *const codecs[] = {"aac", "libfdk_aac", "libmp3lame", "ac3", "copy", NULL};
    return name_in_list(codec, codecs);
}

/* The progressive muxers the worker's pipeline writes (one growing file). */
static int name_is_native_progressive_muxer(const char *format)
{
    static const char *const muxers[] = {"mp4", "matroska", "mp3", "adts", "mpegts", NULL};
    return name_in_list(format, muxers);
}

/* Guesses the muxer ffmpeg would pick from the output file's extension, as
 * av_guess_format does when -f is absent. Returns NULL if there is none
 * (ffmpeg then fails with "Unable to find a suitable output format"). */
static const char *name_guess_muxer(const char *path)
{
    static const char *const table[][2] = {
        {"m3u8", "hls"},     {"mp4", "mp4"},   {"m4v", "mp4"},    {"mov", "mov"},
        {"mkv", "matroska"}, {"webm", "webm"}, {"mp3", "mp3"},    {"ts", "mpegts"},
        {"aac", "adts"},     {"flac", "flac"}, {"ogg", "ogg"},    {"opus", "opus"},
        {"wav", "wav"},      {"m4a", "ipod"},  {"jpg", "image2"}, {"jpeg", "image2"},
        {"png", "image2"},   {"srt", "srt"},   {"ass", "ass"},    {"ssa", "ass"},
        {"vtt", "webvtt"},
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

/* Whether a URL-like argument names a protocol other than a plain file:
 * "http://...", "rtmp:...", "pipe:1", "-" (stdin/stdout). A one-letter
 * scheme is a Windows drive ("C:\..."), not a protocol. */
static int name_is_protocol(const char *url)
{
    if (strcmp(url, "-") == 0 || strstr(url, "://") != NULL)
        return 1;
    size_t n = 0;
    while (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '.' || url[n] == '-' ||
           url[n] == '_')
        n++;
    return n >= 2 && url[n] == ':' && isalpha((unsigned char)url[0]);
}

/* ---------------------------------------------------------------------------
 * Parser state and how it records what it found
 * ------------------------------------------------------------------------- */

/* Blocker ranks, most specific first: the reason reported is the blocker
 * with the lowest rank (the first one among equals). */
enum blocker_rank {
    RANK_HARDWARE_CODEC = 1,
    RANK_HARDWARE_FILTER = 2,
    RANK_HARDWARE_OPTION = 3,
    RANK_UNKNOWN = 4,
    RANK_FEATURE = 5,
    RANK_NONE = 100,
};

enum parse_phase {
    PHASE_INPUT,       /* before -i: input options */
    PHASE_OUTPUT,      /* after -i: output options */
    PHASE_AFTER_OUTPUT /* the output file has been read */
};

struct argv_parse {
    struct job_spec *spec;
    enum parse_phase phase;
    int stopped; /* the walk ended early; the rest of argv is unread */

    int refused;
    char refuse_reason[ARGV_REASON_MAX];
    enum blocker_rank blocker_rank;
    char blocker_reason[ARGV_REASON_MAX];

    int have_input, have_output;
    int maps[2], map_count;
    int filter_complex_given, simple_video_filter_given;
    char map_label[64]; /* -map [label]: a -filter_complex output, "" if none */
    int video_disabled, audio_disabled;
    int video_codec_given, audio_codec_given;
    char output_format[JOB_SPEC_SHORT_MAX]; /* -f after -i, "" if absent */
    int hls_time_given, hls_list_size, hls_list_size_given;
    int playlist_type_given, segment_filename_given;
    int64_t keyframe_interval_us; /* from -force_key_frames, JOB_SPEC_UNSET if none */
    double readrate;              /* -readrate as given, 0 if none */
    int rate_emulation;           /* -re */
    double readrate_catchup;      /* -readrate_catchup as given */
    int readrate_catchup_given;
};

static void parse_block(struct argv_parse *p, enum blocker_rank rank, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void parse_refuse(struct argv_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records why the native path cannot serve the line; keeps the most
 * specific reason. */
static void parse_block(struct argv_parse *p, enum blocker_rank rank, const char *fmt, ...)
{
    if (rank >= p->blocker_rank)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->blocker_reason, sizeof(p->blocker_reason), fmt, ap);
    va_end(ap);
    p->blocker_rank = rank;
}

/* Records why the line cannot be served at all; the first reason wins. */
static void parse_refuse(struct argv_parse *p, const char *fmt, ...)
{
    if (p->refused)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->refuse_reason, sizeof(p->refuse_reason), fmt, ap);
    va_end(ap);
    p->refused = 1;
}

/* Copies value into a spec field. A value that does not fit is never
 * truncated (a cut path writes somewhere nobody asked for): it blocks. */
static int parse_store(struct argv_parse *p, const char *opt, char *field, size_t size,
                       const char *value)
{
    size_t n = strlen(value);
    if (n >= size) {
        parse_block(p, RANK_FEATURE, "value of %.64s too long for the job spec", opt);
        return -1;
    }
    memcpy(field, value, n + 1);
    return 0;
}

/* Reads an integer option value in [min, max]. Returns 0, or -1 after
 * recording why not (the caller then leaves the field alone). */
static int parse_integer(struct argv_parse *p, const char *opt, const char *value, int allow_suffix,
                         int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    enum value_status status = value_parse_int64(value, allow_suffix, &v);
    if (status == VALUE_OK && (v < min || v > max))
        status = VALUE_RANGE;
    if (status == VALUE_UNREADABLE) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return -1;
    }
    if (status == VALUE_RANGE) {
        parse_block(p, RANK_FEATURE, "%.64s value out of range", opt);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(struct argv_parse *p, const char *opt, const char *value, int min, int *out)
{
    int64_t v;
    if (parse_integer(p, opt, value, 0, min, INT_MAX, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Option handlers. Each gets the option as written (for reasons), the
 * stream kind its specifier selected ('v', 'a', 's', or '*' for none) and
 * its value (NULL for options without one).
 * ------------------------------------------------------------------------- */

typedef void (*option_handler)(struct argv_parse *p, const char *opt, char kind, const char *value);

static void on_ignore(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* Accepted and meaningless for a pool job (banner, log level, -y). */
}

static void on_hardware_option(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_block(p, RANK_HARDWARE_OPTION, "hardware option %.64s", opt);
}

static void on_format(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->phase == PHASE_INPUT) {
        if (parse_store(p, opt, p->spec->input_format, sizeof(p->spec->input_format), value) != 0)
            return;
        if (!name_is_file_demuxer(value))
            parse_block(p, RANK_FEATURE, "input format %.32s not native", value);
        return;
    }
    if (value[0] == '\0' || strlen(value) >= sizeof(p->output_format)) {
        parse_block(p, RANK_FEATURE, "cannot read output format");
        return;
    }
    strcpy(p->output_format, value);
}

static void on_analyzeduration(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
        p->spec->analyzeduration_us = v;
}

static void on_probesize(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 32, INT64_MAX, &v) == 0)
        p->spec->probesize = v;
}

/* -fflags is a flag set: "+genpts", "+igndts+genpts", "genpts". Only genpts
 * is native; any other flag changes demuxing in a way the spec cannot say. */
static void on_fflags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    const char *s = value;
    if (*s == '\0') {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value", opt);
        return;
    }
    while (*s != '\0') {
        int set = 1;
        if (*s == '+' || *s == '-')
            set = *s++ == '+';
        size_t n = strcspn(s, "+-");
        if (n == 0) {
            parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
            return;
        }
        if (n == 6 && strncmp(s, "genpts", 6) == 0)
            p->spec->genpts = set;
        else
            parse_block(p, RANK_FEATURE, "-fflags flag %.*s not native", (int)(n < 32 ? n : 32), s);
        s += n;
    }
}

static void on_seek(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t us;
    enum value_status status = value_parse_duration_us(value, &us);
    if (status != VALUE_OK) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    if (p->phase != PHASE_INPUT) {
        parse_block(p, RANK_FEATURE, "output-side -ss not native");
        return;
    }
    if (us < 0) {
        parse_block(p, RANK_FEATURE, "negative -ss not native");
        return;
    }
    p->spec->seek_us = us;
}

static void on_accurate_seek(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->spec->accurate_seek = strcmp(opt, "-accurate_seek") == 0;
}

/* -autorotate and -autoscale take 0/1 in ffmpeg < 6 (HAS_ARG|OPT_BOOL). */
static int parse_boolean(struct argv_parse *p, const char *opt, const char *value, int *out)
{
    if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0) {
        *out = value[0] == '1';
        return 0;
    }
    parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    return -1;
}

static void on_autorotate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (value == NULL)
        p->spec->autorotate = 0; /* -noautorotate */
    else
        parse_boolean(p, opt, value, &p->spec->autorotate);
}

static void on_autoscale(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* The worker never inserts a scaler on its own, which is autoscale 0;
     * the default (1) only matters when the resolution changes mid-stream. */
    int on;
    if (value != NULL)
        parse_boolean(p, opt, value, &on);
}

/* -threads before -i sets decoder threads, after it encoder threads. The
 * spec has one count, the encoder's: decoding threads are the worker's
 * business, so the input value is checked and dropped. */
static void on_threads(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int threads;
    if (strcmp(value, "auto") == 0)
        threads = 0;
    else if (parse_int(p, opt, value, 0, &threads) != 0)
        return;
    if (p->phase != PHASE_INPUT)
        p->spec->threads = threads;
}

/* Reads "0:N" (input 0, stream N). Returns N, or -1 for any other form. */
static int map_stream_index(const char *value)
{
    size_t digits = strncmp(value, "0:", 2) == 0 ? strspn(value + 2, "0123456789") : 0;
    if (digits == 0 || digits > 9 || value[2 + digits] != '\0')
        return -1;
    return atoi(value + 2); /* at most 9 digits: fits */
}

static void on_map(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (value[0] == '-') {
        /* "-map -0:N" takes stream N back out of the maps before it (Jellyfin
         * maps its video and then unmaps it when -filter_complex makes the
         * video). Other negative maps ("-0:s") drop subtitles, which a
         * native job never outputs anyway. */
        int index = map_stream_index(value + 1);
        int kept = 0;
        for (int i = 0; i < p->map_count; i++)
            if (p->maps[i] != index)
                p->maps[kept++] = p->maps[i];
        p->map_count = kept;
        return;
    }
    if (value[0] == '[') {
        /* A -filter_complex output, checked against the graph at the end.
         * It must be the first output stream: the ":0" in -codec:v:0 and
         * the other per-stream options mean it. */
        size_t n = strlen(value);
        if (n < 3 || n >= sizeof(p->map_label) || value[n - 1] != ']' || p->map_label[0] != '\0' ||
            p->map_count > 0)
            parse_block(p, RANK_FEATURE, "-map %.32s not native", value);
        else
            memcpy(p->map_label, value, n + 1);
        return;
    }
    int index = map_stream_index(value);
    if (index < 0) {
        parse_block(p, RANK_FEATURE, "-map %.32s not native", value);
        return;
    }
    if (p->map_count == 2) {
        parse_block(p, RANK_FEATURE, "more than two mapped streams not native");
        return;
    }
    p->maps[p->map_count++] = index;
}

static void on_map_minus_one(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "-1") != 0)
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, value);
}

static void codec_set_video(struct argv_parse *p, const char *opt, const char *name)
{
    p->video_codec_given = 1;
    if (parse_store(p, opt, p->spec->video_codec, sizeof(p->spec->video_codec), name) != 0)
        return;
    if (name_is_hardware_codec(name))
        parse_block(p, RANK_HARDWARE_CODEC, "hardware encoder %.64s", name);
}

static void codec_set_audio(struct argv_parse *p, const char *opt, const char *name)
{
    p->audio_codec_given = 1;
    /* libfdk_aac and ffmpeg's aac write the same format; the pool has one. */
    if (strcmp(name, "libfdk_aac") == 0)
        name = "aac";
    parse_store(p, opt, p->spec->audio_codec, sizeof(p->spec->audio_codec), name);
}

static void on_codec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->phase == PHASE_INPUT) {
        /* Before -i a codec option picks the decoder. */
        if (name_is_hardware_codec(value))
            parse_block(p, RANK_HARDWARE_CODEC, "hardware decoder %.64s", value);
        else
            parse_block(p, RANK_FEATURE, "decoder choice %.64s %.64s not native", opt, value);
        return;
    }
    if (kind == 's' || kind == 'd' || kind == 't') {
        parse_block(p, RANK_FEATURE, "subtitle or data output (%.64s) not native", opt);
        return;
    }
    if (kind == 'v' || kind == '*')
        codec_set_video(p, opt, value);
    if (kind == 'a' || kind == '*')
        codec_set_audio(p, opt, value);
}

static void on_vcodec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_codec(p, opt, 'v', value);
}

static void on_acodec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_codec(p, opt, 'a', value);
}

static void on_scodec(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_codec(p, opt, 's', value);
}

static void on_preset(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->preset, sizeof(p->spec->preset), value);
}

static void on_crf(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->crf);
}

/* -b:v / -b:a / -ab; -b without a specifier is ambiguous in ffmpeg. */
static void on_bitrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (kind == '*') {
        parse_block(p, RANK_FEATURE, "%.64s without a stream type not native", opt);
        return;
    }
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) != 0)
        return;
    if (kind == 'a')
        p->spec->audio_bitrate = v;
    else
        p->spec->video_bitrate = v;
}

static void on_audio_bitrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    on_bitrate(p, opt, 'a', value);
}

static void on_maxrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
        p->spec->maxrate = v;
}

static void on_bufsize(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 1, 0, INT64_MAX, &v) == 0)
        p->spec->bufsize = v;
}

static void on_profile(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->profile, sizeof(p->spec->profile), value);
}

static void on_level(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->level, sizeof(p->spec->level), value);
}

static void on_x264opts(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->x264opts, sizeof(p->spec->x264opts), value);
}

static void on_pix_fmt(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->pix_fmt, sizeof(p->spec->pix_fmt), value);
}

static void on_gop(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->gop);
}

static void on_keyint_min(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->keyint_min);
}

/* The pool always disables scene-cut keyframes (segments are cut at forced
 * keyframes), so only the value that says so is native. */
static void on_sc_threshold(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int threshold;
    if (parse_int(p, opt, value, INT_MIN, &threshold) == 0 && threshold != 0)
        parse_block(p, RANK_FEATURE, "%.64s %d not native", opt, threshold);
}

static void on_force_key_frames(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t interval;
    if (value_parse_keyframe_interval(value, &interval) != VALUE_OK || interval <= 0) {
        parse_block(p, RANK_FEATURE, "-force_key_frames '%.48s' not native", value);
        return;
    }
    p->keyframe_interval_us = interval;
}

static void store_video_filter(struct argv_parse *p, const char *opt, const char *value)
{
    char name[64];
    if (parse_store(p, opt, p->spec->video_filter, sizeof(p->spec->video_filter), value) != 0)
        return;
    if (filtergraph_find_hardware(value, name, sizeof(name)))
        parse_block(p, RANK_HARDWARE_FILTER, "hardware filter %s", name);
}

static void on_video_filter(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->simple_video_filter_given = 1;
    store_video_filter(p, opt, value);
}

/* Whether every stream label of a -filter_complex graph names a stream of
 * the one input ("[0:3]", "[0:v]"; "[1:0]" would be a second input). Link
 * labels ("[main]") are the graph's own. */
static int complex_labels_native(const char *graph)
{
    for (const char *at = strchr(graph, '['); at != NULL; at = strchr(at + 1, '[')) {
        if (isdigit((unsigned char)at[1]) && strncmp(at + 1, "0:", 2) != 0)
            return 0;
    }
    return 1;
}

/* -filter_complex: the one graph that makes the output's video. Its stream
 * inputs are resolved by the worker (a bitmap subtitle stream among them is
 * drawn as video, as the CLI's sub2video does). */
static void on_filter_complex(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (p->filter_complex_given) {
        parse_block(p, RANK_FEATURE, "more than one -filter_complex not native");
        return;
    }
    p->filter_complex_given = 1;
    store_video_filter(p, opt, value);
    if (!complex_labels_native(value))
        parse_block(p, RANK_FEATURE, "-filter_complex reading a second input not native");
}

/* -canvas_size WxH (before -i): the size subtitles are drawn on. */
static void on_canvas_size(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int w, h, end = 0;
    if (sscanf(value, "%dx%d%n", &w, &h, &end) != 2 || value[end] != '\0' || w <= 0 || h <= 0 ||
        w > JOB_SPEC_CANVAS_MAX || h > JOB_SPEC_CANVAS_MAX) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    p->spec->canvas_width = w;
    p->spec->canvas_height = h;
}

/* Reads a rate option (-readrate, -readrate_catchup). A value that is not
 * a number is refused, as ffmpeg refuses it; one this parser cannot read
 * goes to the local ffmpeg. Returns 0 with *out set, or -1. */
static int parse_rate(struct argv_parse *p, const char *opt, const char *value, double *out)
{
    enum value_status status = value_parse_double(value, out);
    if (status == VALUE_RANGE)
        parse_refuse(p, "expected a number for %.64s but found '%.32s'", opt, value);
    else if (status == VALUE_UNREADABLE)
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    return status == VALUE_OK ? 0 : -1;
}

/* -readrate R: read the input no faster than R x real time. Checked with
 * -re and -readrate_catchup once the line is read (finish_readrate). */
static void on_readrate(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_rate(p, opt, value, &p->readrate);
}

/* -re: -readrate 1, unless -readrate says otherwise. */
static void on_rate_emulation(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->rate_emulation = 1;
}

/* -readrate_catchup C (ffmpeg 8.0): how fast a read that fell behind R may
 * catch up. */
static void on_readrate_catchup(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (parse_rate(p, opt, value, &p->readrate_catchup) == 0)
        p->readrate_catchup_given = 1;
}

static void on_audio_filter(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->audio_filter, sizeof(p->spec->audio_filter), value);
}

/* -filter:v / -filter:a */
static void on_filter(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (kind == 'v')
        on_video_filter(p, opt, kind, value);
    else if (kind == 'a')
        on_audio_filter(p, opt, kind, value);
    else
        parse_block(p, RANK_FEATURE, "%.64s without a video or audio specifier not native", opt);
}

static void on_bsf(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* Jellyfin's -bsf:a aac_adtstoasc (AAC copied from MPEG-TS into fMP4):
     * the worker applies it wherever AAC is copied into an MP4 muxer, and
     * the MPEG-TS muxer takes either form. */
    if (kind == 'a' && strcmp(value, "aac_adtstoasc") == 0)
        return;
    if (kind != 'v') {
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native (only -bsf:v and aac_adtstoasc)", opt,
                    value);
        return;
    }
    parse_store(p, opt, p->spec->video_bsf, sizeof(p->spec->video_bsf), value);
}

static void on_tag(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (kind != 'v') {
        parse_block(p, RANK_FEATURE, "%.64s not native (only -tag:v)", opt);
        return;
    }
    parse_store(p, opt, p->spec->video_tag, sizeof(p->spec->video_tag), value);
}

static void on_audio_channels(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 1, &p->spec->audio_channels);
}

static void on_audio_sample_rate(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    parse_int(p, opt, value, 1, &p->spec->audio_sample_rate);
}

static void on_disable(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    /* -sn needs nothing: a native job never writes subtitles. */
    if (strcmp(opt, "-vn") == 0)
        p->video_disabled = 1;
    else if (strcmp(opt, "-an") == 0)
        p->audio_disabled = 1;
}

/* mp3 tags: the worker's mp3 muxer writes what Jellyfin asks for
 * (-id3v2_version 3 -write_id3v1 1), so only those values are native. */
static void on_id3_tags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    const char *native = strcmp(opt, "-id3v2_version") == 0 ? "3" : "1";
    if (strcmp(value, native) != 0)
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, value);
}

static void on_copyts(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->spec->copyts = 1;
}

static void on_start_at_zero(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    p->spec->start_at_zero = 1;
}

/* The worker writes timestamps as they are (with -copyts), which is
 * "disabled"; the other modes shift them. */
static void on_avoid_negative_ts(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    if (strcmp(value, "disabled") != 0)
        parse_block(p, RANK_FEATURE, "-avoid_negative_ts %.32s not native", value);
}

static void on_max_muxing_queue_size(struct argv_parse *p, const char *opt, char kind,
                                     const char *value)
{
    int size;
    parse_int(p, opt, value, 1, &size);
}

static void on_max_delay(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t v;
    if (parse_integer(p, opt, value, 0, -1, INT_MAX, &v) == 0)
        p->spec->max_delay_us = v;
}

/* -strict: the muxers get it (Jellyfin's "-strict -2" lets FLAC, TrueHD
 * or DTS be copied into MP4). */
static void on_strict(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    static const char *const names[] = {"very",       "strict",       "normal",
                                        "unofficial", "experimental", NULL};
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(value, names[i]) == 0) {
            p->spec->strict = 2 - i;
            return;
        }
    }
    int level;
    if (parse_int(p, opt, value, -2, &level) != 0)
        return;
    if (level > 2)
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
    else
        p->spec->strict = level;
}

/* -vsync / -fps_mode: the worker keeps ffmpeg's default (auto); Jellyfin
 * writes it explicitly as "-vsync -1". */
static void on_fps_mode(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "-1") != 0 && strcmp(value, "auto") != 0)
        parse_block(p, RANK_FEATURE, "%.64s %.32s not native", opt, value);
}

static void on_hls_time(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    int64_t us;
    enum value_status status = value_parse_duration_us(value, &us);
    if (status != VALUE_OK) {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    p->spec->hls_time_us = us;
    p->hls_time_given = 1;
}

static void on_hls_segment_type(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (strcmp(value, "mpegts") == 0)
        p->spec->segment_type = JOB_SEGMENT_MPEGTS;
    else if (strcmp(value, "fmp4") == 0)
        p->spec->segment_type = JOB_SEGMENT_FMP4;
    else
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
}

static void on_hls_init_filename(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    parse_store(p, opt, p->spec->init_filename, sizeof(p->spec->init_filename), value);
}

static void on_start_number(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_int(p, opt, value, 0, &p->spec->start_number);
}

static void on_hls_segment_filename(struct argv_parse *p, const char *opt, char kind,
                                    const char *value)
{
    if (parse_store(p, opt, p->spec->segment_filename, sizeof(p->spec->segment_filename), value) ==
        0)
        p->segment_filename_given = 1;
}

static void on_hls_playlist_type(struct argv_parse *p, const char *opt, char kind,
                                 const char *value)
{
    if (strcmp(value, "vod") == 0)
        p->spec->playlist_type = JOB_PLAYLIST_VOD;
    else if (strcmp(value, "event") == 0)
        p->spec->playlist_type = JOB_PLAYLIST_EVENT;
    else {
        parse_block(p, RANK_FEATURE, "cannot read %.64s value '%.32s'", opt, value);
        return;
    }
    p->playlist_type_given = 1;
}

static void on_hls_list_size(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    if (parse_int(p, opt, value, 0, &p->hls_list_size) == 0)
        p->hls_list_size_given = 1;
}

static void on_hls_base_url(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->base_url, sizeof(p->spec->base_url), value);
}

static void on_hls_segment_options(struct argv_parse *p, const char *opt, char kind,
                                   const char *value)
{
    parse_store(p, opt, p->spec->segment_options, sizeof(p->spec->segment_options), value);
}

static void on_movflags(struct argv_parse *p, const char *opt, char kind, const char *value)
{
    parse_store(p, opt, p->spec->movflags, sizeof(p->spec->movflags), value);
}

/* ---------------------------------------------------------------------------
 * The option table
 * ------------------------------------------------------------------------- */

enum option_flags {
    OPT_VALUE = 1 << 0,  /* takes the next argument as its value */
    OPT_INPUT = 1 << 1,  /* may appear before -i */
    OPT_OUTPUT = 1 << 2, /* may appear after -i */
    OPT_PROBE = 1 << 3,  /* prints something and exits: -version, -encoders... */
};
#define OPT_ANYWHERE (OPT_INPUT | OPT_OUTPUT)

/* Which stream specifiers (-opt:SPEC) an option accepts. */
enum option_streams {
    STREAMS_NONE,  /* no specifier */
    STREAMS_VIDEO, /* "", v, v:0 or 0 (Jellyfin's output stream 0 is video) */
    STREAMS_AUDIO, /* "", a, a:0 */
    STREAMS_ANY,   /* "" (all), v, a, s, d, t with optional :0; the handler decides */
};

struct option_def {
    const char *name;
    unsigned flags;
    enum option_streams streams;
    option_handler handle;
};

static const struct option_def option_table[] = {
    /* Global. */
    {"y", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"hide_banner", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"nostats", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"stats", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"nostdin", OPT_ANYWHERE, STREAMS_NONE, on_ignore},
    {"loglevel", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_ignore},
    {"v", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_ignore},
    {"threads", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_threads},
    {"f", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_format},
    {"ss", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_seek},

    /* Hardware: never native for now, but their arity is known. */
    {"hwaccel", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_hardware_option},
    {"hwaccel_output_format", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_hardware_option},
    {"hwaccel_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_hardware_option},
    {"hwaccel_flags", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_hardware_option},
    {"init_hw_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_hardware_option},
    {"filter_hw_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_hardware_option},
    {"vaapi_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_hardware_option},
    {"qsv_device", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_hardware_option},
    {"extra_hw_frames", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_hardware_option},

    /* Input. */
    {"analyzeduration", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_analyzeduration},
    {"probesize", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_probesize},
    {"fflags", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_fflags},
    {"noaccurate_seek", OPT_INPUT, STREAMS_NONE, on_accurate_seek},
    {"accurate_seek", OPT_INPUT, STREAMS_NONE, on_accurate_seek},
    {"autorotate", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_autorotate},
    {"noautorotate", OPT_INPUT, STREAMS_NONE, on_autorotate},
    {"canvas_size", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_canvas_size},
    /* Read-speed caps: Jellyfin's -readrate 10 on HLS stream copies when it
     * deletes old segments (-readrate_catchup 1000 once the version is 8.0
     * or later), so that the remux does not finish at once. */
    {"readrate", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_readrate},
    {"readrate_catchup", OPT_INPUT | OPT_VALUE, STREAMS_NONE, on_readrate_catchup},
    {"re", OPT_INPUT, STREAMS_NONE, on_rate_emulation},

    /* Stream selection and metadata. */
    {"id3v2_version", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_id3_tags},
    {"write_id3v1", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_id3_tags},
    {"map", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_map},
    {"map_metadata", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_map_minus_one},
    {"map_chapters", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_map_minus_one},
    {"vn", OPT_OUTPUT, STREAMS_NONE, on_disable},
    {"an", OPT_OUTPUT, STREAMS_NONE, on_disable},
    {"sn", OPT_OUTPUT, STREAMS_NONE, on_disable},

    /* Codecs (before -i they choose a decoder). */
    {"codec", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_codec},
    {"c", OPT_ANYWHERE | OPT_VALUE, STREAMS_ANY, on_codec},
    {"vcodec", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_vcodec},
    {"acodec", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_acodec},
    {"scodec", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_scodec},

    /* Video. */
    {"preset", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_preset},
    {"crf", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_crf},
    {"b", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_bitrate},
    {"maxrate", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_maxrate},
    {"bufsize", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_bufsize},
    {"profile", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_profile},
    {"level", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_level},
    {"x264opts", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_x264opts},
    {"pix_fmt", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_pix_fmt},
    {"g", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_gop},
    {"keyint_min", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_keyint_min},
    {"sc_threshold", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_sc_threshold},
    {"force_key_frames", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_force_key_frames},
    {"vf", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_video_filter},
    {"filter_complex", OPT_ANYWHERE | OPT_VALUE, STREAMS_NONE, on_filter_complex},
    {"filter", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_filter},
    {"bsf", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_bsf},
    {"tag", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_tag},
    {"vsync", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_fps_mode},
    {"fps_mode", OPT_OUTPUT | OPT_VALUE, STREAMS_VIDEO, on_fps_mode},
    {"autoscale", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_autoscale},
    {"noautoscale", OPT_OUTPUT, STREAMS_NONE, on_autoscale},

    /* Audio. */
    {"ab", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_audio_bitrate},
    {"ac", OPT_OUTPUT | OPT_VALUE, STREAMS_AUDIO, on_audio_channels},
    {"ar", OPT_OUTPUT | OPT_VALUE, STREAMS_AUDIO, on_audio_sample_rate},
    {"af", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_audio_filter},
    {"strict", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_strict},

    /* Muxing. */
    {"copyts", OPT_OUTPUT, STREAMS_NONE, on_copyts},
    {"start_at_zero", OPT_OUTPUT, STREAMS_NONE, on_start_at_zero},
    {"avoid_negative_ts", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_avoid_negative_ts},
    {"max_muxing_queue_size", OPT_OUTPUT | OPT_VALUE, STREAMS_ANY, on_max_muxing_queue_size},
    {"max_delay", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_max_delay},
    {"movflags", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_movflags},

    /* HLS muxer. */
    {"hls_time", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_time},
    {"hls_segment_type", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_segment_type},
    {"hls_fmp4_init_filename", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_init_filename},
    {"start_number", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_start_number},
    {"hls_segment_filename", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_segment_filename},
    {"hls_playlist_type", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_playlist_type},
    {"hls_list_size", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_list_size},
    {"hls_base_url", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_base_url},
    {"hls_segment_options", OPT_OUTPUT | OPT_VALUE, STREAMS_NONE, on_hls_segment_options},

    /* Probes: ffmpeg prints and exits, whatever else the line says. */
    {"version", OPT_PROBE, STREAMS_NONE, NULL},
    {"buildconf", OPT_PROBE, STREAMS_NONE, NULL},
    {"formats", OPT_PROBE, STREAMS_NONE, NULL},
    {"muxers", OPT_PROBE, STREAMS_NONE, NULL},
    {"demuxers", OPT_PROBE, STREAMS_NONE, NULL},
    {"devices", OPT_PROBE, STREAMS_NONE, NULL},
    {"codecs", OPT_PROBE, STREAMS_NONE, NULL},
    {"decoders", OPT_PROBE, STREAMS_NONE, NULL},
    {"encoders", OPT_PROBE, STREAMS_NONE, NULL},
    {"bsfs", OPT_PROBE, STREAMS_NONE, NULL},
    {"protocols", OPT_PROBE, STREAMS_NONE, NULL},
    {"filters", OPT_PROBE, STREAMS_NONE, NULL},
    {"pix_fmts", OPT_PROBE, STREAMS_NONE, NULL},
    {"layouts", OPT_PROBE, STREAMS_NONE, NULL},
    {"sample_fmts", OPT_PROBE, STREAMS_NONE, NULL},
    {"dispositions", OPT_PROBE, STREAMS_NONE, NULL},
    {"colors", OPT_PROBE, STREAMS_NONE, NULL},
    {"hwaccels", OPT_PROBE, STREAMS_NONE, NULL},
    {"sources", OPT_PROBE, STREAMS_NONE, NULL},
    {"sinks", OPT_PROBE, STREAMS_NONE, NULL},
    {"h", OPT_PROBE, STREAMS_NONE, NULL},
    {"help", OPT_PROBE, STREAMS_NONE, NULL},
    {"?", OPT_PROBE, STREAMS_NONE, NULL},
    {"L", OPT_PROBE, STREAMS_NONE, NULL},
};

/* Finds the option named by arg ("-codec:v:0" -> "codec", specifier
 * "v:0"). Returns NULL if unknown; *specifier points into arg. */
static const struct option_def *option_find(const char *arg, const char **specifier)
{
    const char *name = arg + 1;
    size_t n = strcspn(name, ":");
    *specifier = name[n] == ':' ? name + n + 1 : name + n;
    for (size_t i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++)
        if (strlen(option_table[i].name) == n && strncmp(option_table[i].name, name, n) == 0)
            return &option_table[i];
    return NULL;
}

/* Resolves a stream specifier to a stream kind for def. Returns the kind
 * ('v', 'a', 's', 'd', 't' or '*' for all streams), or 0 if the native path
 * does not handle that specifier for that option. Only the first stream of
 * a kind is ever addressed ("v" or "v:0"); a bare "0" is output stream 0,
 * which is video in Jellyfin's lines (they always map video first). */
static char option_stream_kind(const struct option_def *def, const char *specifier)
{
    char kind = '*';
    int bare_index = 0;

    if (specifier[0] != '\0') {
        if (strchr("vVasdt", specifier[0]) != NULL &&
            (specifier[1] == '\0' || strcmp(specifier + 1, ":0") == 0))
            kind = specifier[0] == 'V' ? 'v' : specifier[0];
        else if (strcmp(specifier, "0") == 0)
            kind = 'v', bare_index = 1;
        else
            return 0;
    }
    switch (def->streams) {
    case STREAMS_NONE:
        return specifier[0] == '\0' ? '*' : 0;
    case STREAMS_VIDEO:
        return kind == '*' || kind == 'v' ? 'v' : 0;
    case STREAMS_AUDIO:
        return kind == '*' || kind == 'a' ? 'a' : 0;
    case STREAMS_ANY:
        /* "-c:0" (a bare index) is not Jellyfin's form and is ambiguous. */
        return bare_index ? 0 : kind;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * The walk
 * ------------------------------------------------------------------------- */

/* Returns the index of the last argument consumed. */
static int parse_input(struct argv_parse *p, int argc, char *const argv[], int i)
{
    if (i + 1 >= argc) {
        parse_refuse(p, "-i needs a value");
        return i;
    }
    const char *url = argv[i + 1];
    if (p->phase != PHASE_INPUT) {
        parse_block(p, RANK_FEATURE, "more than one input, or an input after the output");
        p->stopped = 1;
        return i + 1;
    }
    p->have_input = 1;
    p->phase = PHASE_OUTPUT;
    if (strncmp(url, "file:", 5) == 0)
        url += 5;
    else if (name_is_protocol(url)) {
        parse_block(p, RANK_FEATURE, "input is not a local file");
        return i + 1;
    }
    if (url[0] == '\0') {
        parse_refuse(p, "empty input file name");
        return i + 1;
    }
    parse_store(p, "-i", p->spec->input, sizeof(p->spec->input), url);
    return i + 1;
}

static void parse_output(struct argv_parse *p, const char *path)
{
    if (p->phase == PHASE_AFTER_OUTPUT) {
        parse_block(p, RANK_FEATURE, "more than one output");
        p->stopped = 1;
        return;
    }
    p->phase = PHASE_AFTER_OUTPUT;
    p->have_output = 1;
    if (strncmp(path, "file:", 5) == 0)
        path += 5;
    else if (name_is_protocol(path)) {
        parse_block(p, RANK_FEATURE, "output is not a local file");
        return;
    }
    if (path[0] == '\0') {
        parse_refuse(p, "empty output file name");
        return;
    }
    parse_store(p, "output", p->spec->output, sizeof(p->spec->output), path);
}

/* Returns the index of the last argument consumed, or argc to stop. */
static int parse_option(struct argv_parse *p, int argc, char *const argv[], int i)
{
    const char *arg = argv[i];
    const char *specifier;
    const struct option_def *def = option_find(arg, &specifier);

    if (def == NULL) {
        parse_block(p, RANK_UNKNOWN, "unknown option %.64s", arg);
        p->stopped = 1;
        return argc;
    }
    if (def->flags & OPT_PROBE) {
        /* Normally caught by the pre-scan; kept so the walk never calls a
         * NULL handler. */
        parse_block(p, RANK_FEATURE, "probe %.64s", arg);
        p->stopped = 1;
        return argc;
    }
    if (p->phase == PHASE_AFTER_OUTPUT) {
        /* ffmpeg ignores trailing options or starts a second output; both
         * are outside what a pool job describes. */
        parse_block(p, RANK_FEATURE, "option %.64s after the output file", arg);
        p->stopped = 1;
        return argc;
    }
    const char *value = NULL;
    if (def->flags & OPT_VALUE) {
        if (i + 1 >= argc) {
            parse_refuse(p, "%.64s needs a value", arg);
            return argc;
        }
        value = argv[++i];
    }
    unsigned where = p->phase == PHASE_INPUT ? OPT_INPUT : OPT_OUTPUT;
    if (!(def->flags & where)) {
        parse_block(p, RANK_FEATURE, "%.64s %s -i not native", arg,
                    p->phase == PHASE_INPUT ? "before" : "after");
        return i;
    }
    char kind = option_stream_kind(def, specifier);
    if (kind == 0) {
        parse_block(p, RANK_FEATURE, "stream specifier in %.64s not native", arg);
        return i;
    }
    def->handle(p, arg, kind, value);
    return i;
}

/* Picks the output muxer and kind from -f or the file name. */
static void finish_output_kind(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;
    const char *format = p->output_format;
    if (format[0] == '\0') {
        format = name_guess_muxer(spec->output);
        if (format == NULL) {
            spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
            parse_block(p, RANK_FEATURE,
                        "output format not given and not guessable from the "
                        "file name");
            return;
        }
    }
    if (strcmp(format, "hls") == 0) {
        spec->output_kind = JOB_OUTPUT_HLS;
        return;
    }
    spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
    snprintf(spec->output_format, sizeof(spec->output_format), "%s", format);
    if (strcmp(format, "segment") == 0 || strcmp(format, "ssegment") == 0 ||
        strcmp(format, "stream_segment") == 0)
        parse_block(p, RANK_FEATURE, "segment muxer not native");
    else if (name_is_native_progressive_muxer(format))
        return;
    else if (name_is_progressive_muxer(format))
        parse_block(p, RANK_FEATURE, "progressive output format %.32s not native", format);
    else
        parse_block(p, RANK_FEATURE, "output format %.32s not native", format);
}

/* Whether path is absolute: "/...", a Windows drive ("C:\\..." or "C:/...")
 * or a UNC share ("\\\\server\\..."). */
static int path_is_absolute(const char *path)
{
    if (path[0] == '/')
        return 1;
    if (path[0] == '\\' && path[1] == '\\')
        return 1;
    return isalpha((unsigned char)path[0]) && path[1] == ':' && (path[2] == '\\' || path[2] == '/');
}

/* Settles -readrate, -re and -readrate_catchup as ffmpeg (8.0) does: a
 * negative rate, or a catch-up below the rate, is an error; -re alone is
 * rate 1; a catch-up without a rate is ignored. Returns 0, or -1 after
 * refusing the line. */
static int finish_readrate(struct argv_parse *p)
{
    double rate = p->readrate;
    if (rate < 0) {
        parse_refuse(p, "-readrate is %.3f; it must be non-negative", rate);
        return -1;
    }
    if (rate == 0 && p->rate_emulation)
        rate = 1;
    double catchup = 0;
    if (rate > 0 && p->readrate_catchup_given) {
        if (p->readrate_catchup < rate) {
            parse_refuse(p, "-readrate_catchup is %.3f; it must be at least equal to %.3f",
                         p->readrate_catchup, rate);
            return -1;
        }
        catchup = p->readrate_catchup;
    }
    p->spec->readrate = rate;
    p->spec->readrate_catchup = catchup;
    return 0;
}

/* The checks that need the whole line: output shape, HLS parameters,
 * which codecs the native path runs. */
static void finish(struct argv_parse *p)
{
    struct job_spec *spec = p->spec;

    if (!p->have_output) {
        /* Jellyfin's device checks (-v verbose -init_hw_device ...) have no
         * input and no output: what it reads is ffmpeg's own verbose stderr
         * and exit status, which only the local ffmpeg can give. */
        parse_block(p, RANK_FEATURE, "no output file: the local ffmpeg answers");
        return;
    }
    if (!p->have_input) {
        parse_refuse(p, "no input (-i)");
        return;
    }
    if (finish_readrate(p) != 0)
        return;
    spec->keyframe_interval_us = p->keyframe_interval_us;

    /* Streams. Which input stream a map names is unknown without probing;
     * Jellyfin maps video first, then audio, so two maps are (video,
     * audio) and a single map is the audio stream only under -vn. */
    if (p->filter_complex_given) {
        /* The graph makes the video (the worker finds its input streams);
         * the one map left is the audio. */
        spec->filter_complex = 1;
        if (p->simple_video_filter_given)
            parse_block(p, RANK_FEATURE, "-vf with -filter_complex not native");
        /* The graph's output is its last pad: labelled ("...overlay[out]")
         * only if the graph ends with the label. The CLI fails on a label
         * that is not an output, and on an output label left unmapped; the
         * local ffmpeg says so in its own words. */
        const char *graph = spec->video_filter;
        size_t glen = strlen(graph), llen = strlen(p->map_label);
        while (glen > 0 && isspace((unsigned char)graph[glen - 1]))
            glen--;
        int labelled_output = glen > 0 && graph[glen - 1] == ']';
        if (p->map_label[0] != '\0' &&
            (glen < llen || strncmp(graph + glen - llen, p->map_label, llen) != 0))
            parse_block(p, RANK_FEATURE, "-map %.32s is not the -filter_complex output",
                        p->map_label);
        else if (p->map_label[0] == '\0' && labelled_output)
            parse_block(p, RANK_FEATURE, "-filter_complex output label not mapped");
        if (p->map_count > 1 || (p->map_count == 1 && p->audio_disabled))
            parse_block(p, RANK_FEATURE, "a mapped video stream beside -filter_complex not native");
        if (p->map_count == 0 && !p->audio_disabled)
            parse_block(p, RANK_FEATURE, "-filter_complex without an audio -map not native");
        spec->video_stream = -2;
        spec->audio_stream = p->map_count == 1 ? p->maps[0] : -1;
    } else if (p->map_label[0] != '\0') {
        parse_refuse(p, "-map %s without -filter_complex", p->map_label);
    } else if (p->map_count == 2) {
        spec->video_stream = p->maps[0];
        spec->audio_stream = p->maps[1];
    } else if (p->map_count == 1) {
        spec->video_stream = p->video_disabled ? -1 : p->maps[0];
        spec->audio_stream = p->video_disabled ? p->maps[0] : -1;
    } else {
        spec->video_stream = -2;
        spec->audio_stream = -2;
    }
    if (p->video_disabled) {
        spec->video_stream = -1;
        spec->video_codec[0] = '\0';
    }
    if (p->audio_disabled) {
        spec->audio_stream = -1;
        spec->audio_codec[0] = '\0';
    }
    if (p->video_disabled && p->audio_disabled)
        parse_block(p, RANK_FEATURE, "neither video nor audio output");

    /* A worker on another machine does not share Jellyfin's working
     * directory, so only absolute paths mean the same thing there. */
    if (spec->input[0] != '\0' && !path_is_absolute(spec->input))
        parse_block(p, RANK_FEATURE, "relative input path not native");
    if (spec->output[0] != '\0' && !path_is_absolute(spec->output))
        parse_block(p, RANK_FEATURE, "relative output path not native");
    if (p->segment_filename_given && !path_is_absolute(spec->segment_filename))
        parse_block(p, RANK_FEATURE, "relative -hls_segment_filename not native");

    finish_output_kind(p);

    if (spec->output_kind == JOB_OUTPUT_HLS) {
        if (!p->hls_time_given)
            spec->hls_time_us = 2000000; /* the hls muxer's default */
        if (spec->hls_time_us <= 0) {
            parse_refuse(p, "-hls_time must be positive");
            return;
        }
        if (p->segment_filename_given && !job_spec_pattern_valid(spec->segment_filename)) {
            parse_refuse(p, "-hls_segment_filename must contain exactly one %%d");
            return;
        }
    }

    if (p->filter_complex_given && (p->video_disabled || strcmp(spec->video_codec, "libx264") != 0))
        parse_block(p, RANK_FEATURE, "-filter_complex into %.32s not native",
                    p->video_disabled ? "no video" : spec->video_codec);
    if (p->video_disabled)
        ; /* audio only: the pipeline cuts on the audio timestamps */
    else if (!p->video_codec_given)
        parse_block(p, RANK_FEATURE, "no video codec given");
    else if (strcmp(spec->video_codec, "libx264") != 0 && strcmp(spec->video_codec, "copy") != 0)
        parse_block(p, RANK_FEATURE, "video codec %.32s not native", spec->video_codec);

    if (!p->audio_disabled) {
        if (!p->audio_codec_given)
            parse_block(p, RANK_FEATURE, "no audio codec given");
        else if (!name_is_native_audio_codec(spec->audio_codec))
            parse_block(p, RANK_FEATURE, "audio codec %.32s not native", spec->audio_codec);
    }

    if (spec->output_kind == JOB_OUTPUT_HLS) {
        /* Jellyfin always writes these; without them ffmpeg's defaults are
         * a 5-entry sliding playlist with no type, which the spec cannot
         * describe. */
        if (!p->segment_filename_given)
            parse_block(p, RANK_FEATURE, "HLS without -hls_segment_filename not native");
        if (!p->hls_list_size_given || p->hls_list_size != 0)
            parse_block(p, RANK_FEATURE, "HLS without -hls_list_size 0 not native");
        if (!p->playlist_type_given)
            parse_block(p, RANK_FEATURE, "HLS without -hls_playlist_type not native");
        if (p->keyframe_interval_us != JOB_SPEC_UNSET &&
            p->keyframe_interval_us != spec->hls_time_us)
            parse_block(p, RANK_FEATURE, "-force_key_frames interval differs from -hls_time");
    }
}

/* Writes "<prefix><text>" into the caller's buffer. */
static void reason_write(char *reason, size_t reasonlen, const char *prefix, const char *text)
{
    if (reason != NULL && reasonlen > 0)
        snprintf(reason, reasonlen, "%s%s", prefix, text);
}

/* Whether argv[0] names ffprobe (Jellyfin runs the same binary under that
 * name, from the same folder). */
static int program_is_ffprobe(const char *program)
{
    const char *base = program;
    for (const char *s = program; *s != '\0'; s++)
        if (*s == '/' || *s == '\\')
            base = s + 1;
    return strncasecmp(base, "ffprobe", 7) == 0;
}

enum argv_decision argv_parse_job(int argc, char *const argv[], struct job_spec *spec, char *reason,
                                  size_t reasonlen)
{
    if (spec == NULL) {
        reason_write(reason, reasonlen, "refuse: ", "no job spec to fill");
        return ARGV_REFUSE;
    }
    job_spec_init(spec);
    if (argv == NULL || argc < 1 || argv[0] == NULL) {
        reason_write(reason, reasonlen, "refuse: ", "empty command line");
        return ARGV_REFUSE;
    }
    /* A NULL entry ends argv early, so a short vector with a large argc
     * cannot be read past its terminator. */
    for (int i = 1; i < argc; i++) {
        if (argv[i] == NULL) {
            argc = i;
            break;
        }
    }

    if (program_is_ffprobe(argv[0])) {
        reason_write(reason, reasonlen, "passthrough: ", "probe (ffprobe)");
        return ARGV_PASSTHROUGH;
    }

    struct argv_parse p;
    memset(&p, 0, sizeof(p));
    p.spec = spec;
    p.phase = PHASE_INPUT;
    p.blocker_rank = RANK_NONE;
    p.keyframe_interval_us = JOB_SPEC_UNSET;

    /* ffmpeg answers a probe option (-version, -encoders...) and exits
     * before it looks at anything else, so look for one first. */
    for (int i = 1; i < argc; i++) {
        const char *specifier;
        const struct option_def *def;
        if (argv[i][0] != '-' || argv[i][1] == '\0')
            continue;
        if (strcmp(argv[i], "-i") == 0) {
            i++;
            continue;
        }
        def = option_find(argv[i], &specifier);
        if (def == NULL)
            break; /* arity unknown from here on */
        if (def->flags & OPT_PROBE) {
            char text[ARGV_REASON_MAX];
            snprintf(text, sizeof(text), "probe %.64s", argv[i]);
            reason_write(reason, reasonlen, "passthrough: ", text);
            return ARGV_PASSTHROUGH;
        }
        if (def->flags & OPT_VALUE)
            i++;
    }

    for (int i = 1; i < argc && !p.stopped; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] != '\0') {
            if (strcmp(arg, "-i") == 0)
                i = parse_input(&p, argc, argv, i);
            else
                i = parse_option(&p, argc, argv, i);
        } else {
            parse_output(&p, arg);
        }
    }

    if (!p.refused && !p.stopped)
        finish(&p);

    if (p.refused) {
        reason_write(reason, reasonlen, "refuse: ", p.refuse_reason);
        return ARGV_REFUSE;
    }
    if (p.blocker_rank != RANK_NONE) {
        reason_write(reason, reasonlen, "passthrough: ", p.blocker_reason);
        return ARGV_PASSTHROUGH;
    }

    /* Last guard: the spec must satisfy what every consumer relies on. */
    char err[ARGV_REASON_MAX];
    if (job_spec_validate(spec, err, sizeof(err)) != 0) {
        reason_write(reason, reasonlen, "passthrough: job spec invalid: ", err);
        return ARGV_PASSTHROUGH;
    }
    char text[ARGV_REASON_MAX];
    snprintf(text, sizeof(text), "HLS libx264+%.32s",
             spec->audio_codec[0] == '\0' ? "no audio" : spec->audio_codec);
    reason_write(reason, reasonlen, "native: ", text);
    return ARGV_NATIVE;
}

/* ---------------------------------------------------------------------------
 * Job key
 * ------------------------------------------------------------------------- */

#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv1a_bytes(uint64_t hash, const void *data, size_t n)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < n; i++) {
        hash ^= bytes[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

void argv_job_key(int argc, char *const argv[], char out[33])
{
    /* The second half starts from a different state and sees every byte
     * inverted, so the two halves do not collide together. */
    uint64_t first = FNV_OFFSET_BASIS, second = FNV_OFFSET_BASIS ^ 0x6666706f6f6c2121ULL;
    for (int i = 1; argv != NULL && i < argc && argv[i] != NULL; i++) {
        /* Each argument is prefixed with its length so that ("ab", "c")
         * and ("a", "bc") hash differently. */
        uint64_t length = strlen(argv[i]);
        unsigned char prefix[8];
        for (int k = 0; k < 8; k++)
            prefix[k] = (unsigned char)(length >> (8 * k));
        first = fnv1a_bytes(first, prefix, sizeof(prefix));
        first = fnv1a_bytes(first, argv[i], (size_t)length);
        for (int k = 0; k < 8; k++)
            prefix[k] = (unsigned char)~prefix[k];
        second = fnv1a_bytes(second, prefix, sizeof(prefix));
        for (size_t k = 0; k < length; k++) {
            unsigned char inverted = (unsigned char)~(unsigned char)argv[i][k];
            second = fnv1a_bytes(second, &inverted, 1);
        }
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)first, (unsigned long long)second);
}
