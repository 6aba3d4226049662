/* probe.c -- Jellyfin's start-up probes answered in ffmpeg's text formats
 * (see probe.h).
 *
 * The layouts copy FFmpeg's fftools (opt_common.c / cmdutils.c of 5.1):
 * the same header lines and the same printf widths, so that a diff against
 * the local ffmpeg CLI shows only real differences in what is available.
 * The texts only libav can write (`-version`, and `-h filter=NAME` /
 * `-h bsf=NAME` with every option's type, help, default, range and
 * constants) come rendered by the worker (worker/pipeline_caps.c) and are
 * printed as they came; the help texts travel zlib-compressed and are
 * inflated only to answer a help probe. The union keeps the first worker's
 * order (ffmpeg's own listing order) and appends what other workers add;
 * lists are a few hundred entries, so a linear de-duplication is cheap next
 * to one round trip to the scheduler. */
#include "probe.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* A worker's help texts inflate to about 700 kB; a message announcing more
 * than this is not believed. */
#define PROBE_HELP_MAX_BYTES (64u << 20)

const char probe_key_help[] = "key    function\n"
                              "?      show this help\n"
                              "c      Send command to first matching filter supporting it\n"
                              "p      pause transcoding\n"
                              "u      unpause transcoding\n"
                              "q      quit\n";

/* ---------------------------------------------------------------------------
 * Recognising a probe
 * ------------------------------------------------------------------------- */

/* "--version" is "-version" to ffmpeg's option parser. */
static const char *option_name(const char *arg)
{
    if (arg[0] == '-' && arg[1] == '-' && arg[2] != '\0')
        return arg + 1;
    return arg;
}

static enum probe_kind listing_kind(const char *opt)
{
    if (strcmp(opt, "-version") == 0)
        return PROBE_VERSION;
    if (strcmp(opt, "-encoders") == 0)
        return PROBE_ENCODERS;
    if (strcmp(opt, "-decoders") == 0)
        return PROBE_DECODERS;
    if (strcmp(opt, "-filters") == 0)
        return PROBE_FILTERS;
    if (strcmp(opt, "-hwaccels") == 0)
        return PROBE_HWACCELS;
    return PROBE_NONE;
}

enum probe_kind probe_classify(int argc, char *const argv[], struct probe_request *request)
{
    memset(request, 0, sizeof(*request));
    const char *format = NULL, *input = NULL, *flags = NULL;
    int null_output = 0, other_options = 0;
    for (int i = 1; i < argc && argv[i] != NULL; i++) {
        const char *opt = option_name(argv[i]);
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        enum probe_kind kind = listing_kind(opt);
        if (kind != PROBE_NONE) {
            request->kind = kind;
            return kind;
        }
        if (strcmp(opt, "-hide_banner") == 0) {
            request->hide_banner = 1;
        } else if (strcmp(opt, "-h") == 0 || strcmp(opt, "-help") == 0 || strcmp(opt, "-?") == 0) {
            /* ffmpeg answers help and exits, whatever follows. */
            if (value != NULL && strncmp(value, "filter=", 7) == 0)
                request->kind = PROBE_HELP_FILTER;
            else if (value != NULL && strncmp(value, "bsf=", 4) == 0)
                request->kind = PROBE_HELP_BSF;
            if (request->kind != PROBE_NONE)
                snprintf(request->name, sizeof(request->name), "%s", strchr(value, '=') + 1);
            return request->kind;
        } else if (value != NULL && strcmp(opt, "-f") == 0) {
            if (input == NULL)
                format = value;
            else if (strcmp(value, "null") == 0 && i + 2 < argc && argv[i + 2] != NULL &&
                     strcmp(argv[i + 2], "-") == 0 && i + 3 == argc)
                null_output = 1;
            i++;
        } else if (value != NULL && strcmp(opt, "-i") == 0) {
            if (input != NULL)
                other_options = 1; /* a second input: not one of Jellyfin's checks */
            input = value;
            i++;
        } else if (value != NULL && strcmp(opt, "-hwaccel_flags") == 0) {
            flags = value;
            i++;
        } else if (value != NULL && (strcmp(opt, "-loglevel") == 0 || strcmp(opt, "-v") == 0)) {
            i++;
        } else if (strcmp(argv[i], "-") != 0 && strcmp(opt, "-y") != 0) {
            other_options = 1;
        }
    }
    /* Only Jellyfin's exact checks: a lavfi nullsrc into the null muxer
     * with nothing else (device checks and the like go to a local ffmpeg). */
    if (other_options || !null_output || format == NULL || strcmp(format, "lavfi") != 0 ||
        input == NULL || strncmp(input, "nullsrc", 7) != 0)
        return PROBE_NONE;
    if (flags != NULL) {
        request->kind = PROBE_HWACCEL_FLAGS;
        snprintf(request->name, sizeof(request->name), "%s", flags);
    } else {
        request->kind = PROBE_PAUSE_KEYS;
    }
    return request->kind;
}

const char *probe_kind_name(enum probe_kind kind)
{
    switch (kind) {
    case PROBE_VERSION:
        return "-version";
    case PROBE_ENCODERS:
        return "-encoders";
    case PROBE_DECODERS:
        return "-decoders";
    case PROBE_FILTERS:
        return "-filters";
    case PROBE_HWACCELS:
        return "-hwaccels";
    case PROBE_HELP_FILTER:
        return "-h filter=";
    case PROBE_HELP_BSF:
        return "-h bsf=";
    case PROBE_PAUSE_KEYS:
        return "pause-key check";
    case PROBE_HWACCEL_FLAGS:
        return "hwaccel-flag check";
    default:
        return "none";
    }
}

int probe_needs_pool(enum probe_kind kind)
{
    return kind != PROBE_NONE && kind != PROBE_PAUSE_KEYS;
}

/* ---------------------------------------------------------------------------
 * The pool's union
 * ------------------------------------------------------------------------- */

/* One entry of a union: the item (a CodecInfo, FilterInfo, BsfInfo or
 * hwaccel name), the worker message it came from (whose help texts it
 * points into) and whether it has a help text there. */
struct probe_entry {
    const void *item; /* NULL: a CLI's entry, printed as its line */
    const char *line; /* a CLI's entry: its line in the CLI's listing */
    size_t line_len;
    const char *name;
    const Ffpool__Capabilities *source;
    int helped;
};

struct probe_list {
    struct probe_entry *entries;
    size_t count, cap;
};

struct probe_caps {
    const Ffpool__Capabilities *oldest; /* version text source */
    struct probe_list encoders, decoders, filters, bsfs, hwaccels;
};

/* Adds item (from source's message, with a help text there if helped)
 * under name unless the name is there; an entry without a help text gives
 * way to one with (a worker older than help texts beside a newer one).
 * Returns 0 or -1 (memory). */
static int list_add(struct probe_list *list, const char *name, const void *item,
                    const Ffpool__Capabilities *source, int helped)
{
    if (name == NULL)
        return 0;
    struct probe_entry entry = {
        .item = item, .name = name, .source = source, .helped = helped != 0};
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->entries[i].name, name) == 0) {
            if (entry.helped && !list->entries[i].helped)
                list->entries[i] = entry;
            return 0;
        }
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 128;
        struct probe_entry *entries = realloc(list->entries, cap * sizeof(*entries));
        if (entries == NULL)
            return -1;
        list->entries = entries;
        list->cap = cap;
    }
    list->entries[list->count++] = entry;
    return 0;
}

static void list_free(struct probe_list *list)
{
    free(list->entries);
}

/* Compares the leading dotted numbers of two version strings ("5.1.9-0"
 * vs "6.0"); a string without digits sorts last. */
static int version_compare(const char *a, const char *b)
{
    a = a ? a : "";
    b = b ? b : "";
    while (*a == 'n')
        a++;
    while (*b == 'n')
        b++;
    int a_digits = *a >= '0' && *a <= '9', b_digits = *b >= '0' && *b <= '9';
    if (!a_digits || !b_digits)
        return b_digits - a_digits;
    for (;;) {
        char *a_end, *b_end;
        long x = strtol(a, &a_end, 10), y = strtol(b, &b_end, 10);
        if (x != y)
            return x < y ? -1 : 1;
        int a_more = *a_end == '.' && a_end[1] >= '0' && a_end[1] <= '9';
        int b_more = *b_end == '.' && b_end[1] >= '0' && b_end[1] <= '9';
        if (!a_more || !b_more)
            return a_more - b_more;
        a = a_end + 1;
        b = b_end + 1;
    }
}

static const struct probe_entry *list_find(const struct probe_list *list, const char *name);

/* The line of text whose second blank-separated token is name (a CLI's
 * -encoders, -decoders or -filters listing): *len set, or NULL. */
static const char *listing_line(const char *text, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t line_len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *s = line + strspn(line, " ");
        s += strcspn(s, " \n");
        s += strspn(s, " ");
        if ((size_t)(line + line_len - s) >= n && strncmp(s, name, n) == 0 &&
            (s[n] == ' ' || s[n] == '\n' || s[n] == '\0')) {
            *len = line_len;
            return line;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

/* Adds what a worker's CLI lists and no libav of the pool has, as the
 * CLI's own lines. Returns 0 or -1 (memory). */
static int list_add_cli(struct probe_list *list, char **names, size_t n, const char *text)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *line = text != NULL ? listing_line(text, names[i], &len) : NULL;
        if (line == NULL || list_find(list, names[i]) != NULL)
            continue;
        if (list_add(list, names[i], NULL, NULL, 0) != 0)
            return -1;
        list->entries[list->count - 1].line = line;
        list->entries[list->count - 1].line_len = len;
    }
    return 0;
}

struct probe_caps *probe_caps_build(Ffpool__WorkerInfo *const *workers, size_t n)
{
    struct probe_caps *caps = calloc(1, sizeof(*caps));
    if (caps == NULL)
        return NULL;
    int failed = 0;
    for (size_t w = 0; w < n && !failed; w++) {
        const Ffpool__Capabilities *c = workers[w] ? workers[w]->capabilities : NULL;
        if (c == NULL)
            continue;
        if (caps->oldest == NULL || version_compare(c->av_version, caps->oldest->av_version) < 0)
            caps->oldest = c;
        int has_help = c->help_zlib.len > 0 && c->help_size > 0;
        for (size_t i = 0; i < c->n_encoders && !failed; i++)
            failed = list_add(&caps->encoders, c->encoders[i]->name, c->encoders[i], c, 0);
        for (size_t i = 0; i < c->n_decoders && !failed; i++)
            failed = list_add(&caps->decoders, c->decoders[i]->name, c->decoders[i], c, 0);
        for (size_t i = 0; i < c->n_filters && !failed; i++)
            failed = list_add(&caps->filters, c->filters[i]->name, c->filters[i], c,
                              has_help && c->filters[i]->help_length > 0);
        for (size_t i = 0; i < c->n_bsfs && !failed; i++)
            failed = list_add(&caps->bsfs, c->bsfs[i]->name, c->bsfs[i], c,
                              has_help && c->bsfs[i]->help_length > 0);
        for (size_t i = 0; i < c->n_hwaccels && !failed; i++)
            failed = list_add(&caps->hwaccels, c->hwaccels[i], c->hwaccels[i], c, 0);
    }
    /* Then what only the workers' CLIs have (jellyfin-ffmpeg's tonemapx...):
     * a line using it runs there. */
    for (size_t w = 0; w < n && !failed; w++) {
        const Ffpool__Capabilities *c = workers[w] ? workers[w]->capabilities : NULL;
        const Ffpool__CliInfo *cli = c != NULL ? c->cli : NULL;
        if (cli == NULL)
            continue;
        failed =
            list_add_cli(&caps->encoders, cli->encoders, cli->n_encoders, cli->encoders_text) ||
            list_add_cli(&caps->decoders, cli->decoders, cli->n_decoders, cli->decoders_text) ||
            list_add_cli(&caps->filters, cli->filters, cli->n_filters, cli->filters_text);
        for (size_t i = 0; i < cli->n_hwaccels && !failed; i++)
            failed = list_find(&caps->hwaccels, cli->hwaccels[i]) == NULL &&
                     list_add(&caps->hwaccels, cli->hwaccels[i], cli->hwaccels[i], NULL, 0);
    }
    if (failed || caps->oldest == NULL) {
        probe_caps_free(caps);
        return NULL;
    }
    return caps;
}

void probe_caps_free(struct probe_caps *caps)
{
    if (caps == NULL)
        return;
    list_free(&caps->encoders);
    list_free(&caps->decoders);
    list_free(&caps->filters);
    list_free(&caps->bsfs);
    list_free(&caps->hwaccels);
    free(caps);
}

static const struct probe_entry *list_find(const struct probe_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->entries[i].name, name) == 0)
            return &list->entries[i];
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------- */

static const char *text_or_empty(const char *text)
{
    return text ? text : "";
}

static void print_codecs(const struct probe_list *list, int encoders, FILE *out)
{
    fprintf(out,
            "%s:\n"
            " V..... = Video\n"
            " A..... = Audio\n"
            " S..... = Subtitle\n"
            " .F.... = Frame-level multithreading\n"
            " ..S... = Slice-level multithreading\n"
            " ...X.. = Codec is experimental\n"
            " ....B. = Supports draw_horiz_band\n"
            " .....D = Supports direct rendering method 1\n"
            " ------\n",
            encoders ? "Encoders" : "Decoders");
    for (size_t i = 0; i < list->count; i++) {
        const Ffpool__CodecInfo *codec = list->entries[i].item;
        if (codec == NULL) {
            fprintf(out, "%.*s\n", (int)list->entries[i].line_len, list->entries[i].line);
            continue;
        }
        fprintf(out, " %s %-20s %s\n", text_or_empty(codec->flags), text_or_empty(codec->name),
                text_or_empty(codec->description));
    }
}

static void print_filters(const struct probe_list *list, FILE *out)
{
    fprintf(out, "Filters:\n"
                 "  T.. = Timeline support\n"
                 "  .S. = Slice threading\n"
                 "  ..C = Command support\n"
                 "  A = Audio input/output\n"
                 "  V = Video input/output\n"
                 "  N = Dynamic number and/or type of input/output\n"
                 "  | = Source or sink filter\n");
    for (size_t i = 0; i < list->count; i++) {
        const Ffpool__FilterInfo *f = list->entries[i].item;
        if (f == NULL) {
            fprintf(out, "%.*s\n", (int)list->entries[i].line_len, list->entries[i].line);
            continue;
        }
        fprintf(out, " %s %-17s %-10s %s\n", text_or_empty(f->flags), text_or_empty(f->name),
                text_or_empty(f->io), text_or_empty(f->description));
    }
}

/* Writes bytes [offset, offset + length) of source's inflated help texts
 * to out. Returns 0, or -1 when they are not there as announced (nothing
 * written). */
static int print_help_text(const Ffpool__Capabilities *source, uint32_t offset, uint32_t length,
                           FILE *out)
{
    if (source->help_size == 0 || source->help_size > PROBE_HELP_MAX_BYTES ||
        (uint64_t)offset + length > source->help_size || length == 0)
        return -1;
    uLongf size = source->help_size;
    Bytef *text = malloc(size);
    if (text == NULL)
        return -1;
    int status = uncompress(text, &size, source->help_zlib.data, (uLong)source->help_zlib.len);
    if (status == Z_OK && size == source->help_size)
        fwrite(text + offset, 1, length, out);
    free(text);
    return status == Z_OK && size == source->help_size ? 0 : -1;
}

/* One side of a filter's "V->A" as the pad lines of `-h filter=`, for a
 * worker that published no help text (names and types only). */
static void print_pads(const char *io, size_t n, int inputs, FILE *out)
{
    fprintf(out, "    %s:\n", inputs ? "Inputs" : "Outputs");
    int pad = 0;
    for (size_t i = 0; i < n; i++) {
        switch (io[i]) {
        case 'V':
            fprintf(out, "       #%d: default (video)\n", pad++);
            break;
        case 'A':
            fprintf(out, "       #%d: default (audio)\n", pad++);
            break;
        case 'N':
            fprintf(out, "        dynamic (depending on the options)\n");
            break;
        case '|':
            fprintf(out, "        none (%s filter)\n", inputs ? "source" : "sink");
            break;
        default:
            break;
        }
    }
}

/* `-h filter=NAME`: the worker's own text, or (a worker older than help
 * texts) what its listing says: description, pads, option names. */
static int print_help_filter(const struct probe_caps *caps, const char *name, FILE *out)
{
    const struct probe_entry *entry = list_find(&caps->filters, name);
    if (entry == NULL) {
        fprintf(out, "Unknown filter '%s'.\n", name); /* on stdout, as ffmpeg's help */
        return 0;
    }
    const Ffpool__FilterInfo *f = entry->item;
    if (f == NULL) {
        /* Only a worker's CLI has it: its name, and its listing line. */
        fprintf(out, "Filter %s\n  %.*s\n", name, (int)entry->line_len, entry->line);
        return 0;
    }
    if (entry->helped && print_help_text(entry->source, f->help_offset, f->help_length, out) == 0)
        return 0;
    fprintf(out, "Filter %s\n", f->name);
    if (f->description != NULL && f->description[0] != '\0')
        fprintf(out, "  %s\n", f->description);
    const char *io = text_or_empty(f->io);
    const char *arrow = strstr(io, "->");
    size_t n_in = arrow ? (size_t)(arrow - io) : strlen(io);
    print_pads(io, n_in, 1, out);
    if (arrow != NULL)
        print_pads(arrow + 2, strlen(arrow + 2), 0, out);
    if (f->n_options > 0) {
        fprintf(out, "%s AVOptions:\n", f->name);
        for (size_t i = 0; i < f->n_options; i++)
            fprintf(out, "   %s\n", f->options[i]);
    }
    return 0;
}

/* `-h bsf=NAME`, as print_help_filter. */
static int print_help_bsf(const struct probe_caps *caps, const char *name, FILE *out)
{
    const struct probe_entry *entry = list_find(&caps->bsfs, name);
    if (entry == NULL) {
        fprintf(out, "Unknown bit stream filter '%s'.\n", name);
        return 0;
    }
    const Ffpool__BsfInfo *b = entry->item;
    if (entry->helped && print_help_text(entry->source, b->help_offset, b->help_length, out) == 0)
        return 0;
    fprintf(out, "Bit stream filter %s\n", b->name);
    if (b->n_options > 0) {
        fprintf(out, "%s_bsf AVOptions:\n", b->name);
        for (size_t i = 0; i < b->n_options; i++)
            fprintf(out, "  -%s\n", b->options[i]);
    }
    return 0;
}

/* ffmpeg's banner (fftools' show_banner): the `-version` text with every
 * line after the first indented by two spaces. */
static void print_banner(const char *version, FILE *err)
{
    for (const char *line = version; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        fprintf(err, "%s%.*s", line == version ? "" : "  ", (int)len, line);
        line += len;
    }
}

/* libavcodec's major version from a `-version` text, 0 if absent. */
static int libavcodec_major(const char *version_text)
{
    const char *line = version_text ? strstr(version_text, "\nlibavcodec") : NULL;
    if (line == NULL)
        return 0;
    line += strlen("\nlibavcodec");
    return (int)strtol(line, NULL, 10);
}

/* Whether every flag in "+a+b" (or "a") is one libavcodec's hwaccel_flags
 * knows. low_priority is a jellyfin-ffmpeg addition no upstream libav has;
 * unsafe_output arrived with libavcodec 60 (FFmpeg 6.0). */
static int hwaccel_flags_known(const char *flags, int lavc_major)
{
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", flags);
    int any = 0;
    char *save = NULL;
    for (char *flag = strtok_r(copy, "+-", &save); flag != NULL;
         flag = strtok_r(NULL, "+-", &save)) {
        any = 1;
        if (strcmp(flag, "ignore_level") != 0 && strcmp(flag, "allow_high_depth") != 0 &&
            strcmp(flag, "allow_profile_mismatch") != 0 &&
            !(strcmp(flag, "unsafe_output") == 0 && lavc_major >= 60))
            return 0;
    }
    return any;
}

int probe_answer(const struct probe_request *request, const struct probe_caps *caps, FILE *out,
                 FILE *err)
{
    const char *version = text_or_empty(caps->oldest->version_text);
    if (request->kind == PROBE_VERSION) {
        fputs(version, out);
        return 0;
    }
    if (request->kind == PROBE_HWACCEL_FLAGS)
        return hwaccel_flags_known(request->name, libavcodec_major(version)) ? 0 : 1;
    if (!request->hide_banner)
        print_banner(version, err);
    switch (request->kind) {
    case PROBE_ENCODERS:
        print_codecs(&caps->encoders, 1, out);
        return 0;
    case PROBE_DECODERS:
        print_codecs(&caps->decoders, 0, out);
        return 0;
    case PROBE_FILTERS:
        print_filters(&caps->filters, out);
        return 0;
    case PROBE_HWACCELS:
        fprintf(out, "Hardware acceleration methods:\n");
        for (size_t i = 0; i < caps->hwaccels.count; i++)
            fprintf(out, "%s\n", caps->hwaccels.entries[i].name);
        fprintf(out, "\n");
        return 0;
    case PROBE_HELP_FILTER:
        return print_help_filter(caps, request->name, out);
    case PROBE_HELP_BSF:
        return print_help_bsf(caps, request->name, out);
    default:
        fprintf(err, "ffpool: not a probe the pool answers\n");
        return 1;
    }
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int probe_pause_keys(int fd, FILE *err, int timeout_ms)
{
    fprintf(err, "Press [q] to stop, [?] for help\n");
    fflush(err);
    long long deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - monotonic_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return 0;
        char keys[64];
        ssize_t n = read(fd, keys, sizeof(keys));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        for (ssize_t i = 0; i < n; i++) {
            if (keys[i] == 'q')
                return 0;
            if (keys[i] == '?') {
                fputs(probe_key_help, err);
                fflush(err);
            }
        }
    }
}
