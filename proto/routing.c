/* routing.c -- the "kind:name" words of routing: derived from a job spec,
 * from a worker's capabilities, and checked. See routing.h.
 *
 * The filter-graph reader (routing_filter_next) follows libavfilter's syntax
 * only as far as finding filter names; the worker's pipeline uses it too,
 * to refuse a graph naming a filter its libavfilter lacks, so routing and
 * the pipeline always agree on what a graph needs. */
#include "routing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffpool.pb-c.h"

static const char *const routing_kinds[] = {"encoder", "decoder", "filter", "hwaccel", "device"};

int routing_word_valid(const char *word)
{
    const char *colon = strchr(word, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(word) >= ROUTING_WORD_MAX)
        return 0;
    int kind_known = 0;
    for (size_t i = 0; i < sizeof(routing_kinds) / sizeof(routing_kinds[0]); i++)
        if (strlen(routing_kinds[i]) == (size_t)(colon - word) &&
            strncmp(word, routing_kinds[i], (size_t)(colon - word)) == 0)
            kind_known = 1;
    if (!kind_known)
        return 0;
    for (const char *c = colon + 1; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == '-'))
            return 0;
    return 1;
}

int routing_words_check(const char *words, char *err, size_t errlen)
{
    const char *s = words;
    while (*s != '\0') {
        s += strspn(s, " ");
        size_t n = strcspn(s, " ");
        if (n == 0)
            break;
        char word[ROUTING_WORD_MAX];
        snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), s);
        if (n >= sizeof(word) || !routing_word_valid(word)) {
            snprintf(err, errlen,
                     "requirement \"%.*s\" is not kind:name (kind encoder, decoder, filter, "
                     "hwaccel or device)",
                     (int)(n < 64 ? n : 64), s);
            return -1;
        }
        s += n;
    }
    return 0;
}

/* Words being collected: each once, space-separated, in a caller's buffer. */
struct routing_words {
    char *out;
    size_t size, used;
    int count;
    int overflow; /* out is too small */
    int too_many; /* more than ROUTING_WORDS_MAX words */
    int too_long; /* a word longer than ROUTING_WORD_MAX - 1 */
};

static int routing_words_has(const struct routing_words *w, const char *word)
{
    size_t n = strlen(word);
    for (const char *s = w->out; (s = strstr(s, word)) != NULL; s += n)
        if ((s == w->out || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0'))
            return 1;
    return 0;
}

static void routing_words_add(struct routing_words *w, const char *kind, const char *name,
                              size_t name_len)
{
    char word[ROUTING_WORD_MAX];
    int n = snprintf(word, sizeof(word), "%s:%.*s", kind, (int)name_len, name);
    if (n < 0 || (size_t)n >= sizeof(word)) {
        w->too_long = 1;
        return;
    }
    if (routing_words_has(w, word))
        return;
    if (w->count == ROUTING_WORDS_MAX) {
        w->too_many = 1;
        return;
    }
    w->count++;
    if (w->used + (w->used > 0) + (size_t)n + 1 > w->size) {
        w->overflow = 1;
        return;
    }
    if (w->used > 0)
        w->out[w->used++] = ' ';
    memcpy(w->out + w->used, word, (size_t)n + 1);
    w->used += (size_t)n;
}

/* routing_filter_next(), also giving where the filter's "@id=arguments"
 * text starts and how long it is. */
static const char *routing_filter_next_args(const char *graph, char *name, size_t size,
                                            const char **args, size_t *args_len)
{
    const char *s = graph;
    for (;;) {
        /* Separators, white space and input [labels] before a filter. */
        while (*s == ',' || *s == ';' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '[') {
            if (*s == '[') {
                s = strchr(s, ']');
                if (s == NULL)
                    return NULL;
            }
            s++;
        }
        if (*s == '\0')
            return NULL;
        size_t n = strcspn(s, "=@,;[ \t\n");
        snprintf(name, size, "%.*s", (int)(n < size ? n : size - 1), s);
        s += n;
        *args = s;
        /* "@id" and "=arguments" up to an unescaped, unquoted ',' ';' or '['. */
        int quoted = 0;
        while (*s != '\0' && (quoted || (*s != ',' && *s != ';' && *s != '['))) {
            /* As av_get_token: a backslash is literal inside quotes. */
            if (quoted) {
                if (*s == '\'')
                    quoted = 0;
            } else if (*s == '\\' && s[1] != '\0') {
                s++;
            } else if (*s == '\'') {
                quoted = 1;
            }
            s++;
        }
        *args_len = (size_t)(s - *args);
        /* Output labels after the arguments. */
        while (*s == '[') {
            s += strcspn(s, "]");
            if (*s == ']')
                s++;
        }
        if (n > 0)
            return s;
    }
}

const char *routing_filter_next(const char *graph, char *name, size_t size)
{
    const char *args;
    size_t args_len;
    return routing_filter_next_args(graph, name, size, &args, &args_len);
}

static int routing_name_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

const char *routing_codec_device(const char *codec)
{
    static const char *const table[][2] = {
        {"_vaapi", "vaapi"}, {"_qsv", "qsv"},         {"_nvenc", "cuda"},
        {"_cuvid", "cuda"},  {"_v4l2m2m", "v4l2m2m"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (routing_name_has_suffix(codec, table[i][0]))
            return table[i][1];
    return NULL;
}

const char *routing_filter_device(const char *filter)
{
    static const char *const table[][2] = {
        {"_vaapi", "vaapi"}, {"_qsv", "qsv"},       {"_cuda", "cuda"},
        {"_npp", "cuda"},    {"_opencl", "opencl"}, {"_vulkan", "vulkan"},
    };
    if (strcmp(filter, "libplacebo") == 0)
        return "vulkan";
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (routing_name_has_suffix(filter, table[i][0]))
            return table[i][1];
    return NULL;
}

/* The value of "derive_device=" in a hwupload or hwmap argument text
 * ("=derive_device=vaapi:extra_hw_frames=24", "=derive_device=qsv", or
 * named by position: hwmap's first option is mode, hwupload's first is
 * derive_device). Sets *type and *len, or returns 0 when there is none. */
static int routing_derive_device(const char *filter, const char *args, size_t args_len,
                                 const char **type, size_t *len)
{
    static const char key[] = "derive_device=";
    const size_t key_len = sizeof(key) - 1;
    const char *end = args + args_len;
    const char *s = memchr(args, '=', args_len);
    if (s == NULL)
        return 0;
    s++;
    for (int position = 0; s < end; position++) {
        size_t n = 0;
        while (s + n < end && s[n] != ':')
            n++;
        const char *value = NULL;
        if (n > key_len && strncmp(s, key, key_len) == 0)
            value = s + key_len;
        else if (position == 0 && strcmp(filter, "hwupload") == 0 && memchr(s, '=', n) == NULL)
            value = s;
        if (value != NULL) {
            *type = value;
            *len = (size_t)(s + n - value);
            return *len > 0;
        }
        s += n + (s + n < end);
    }
    return 0;
}

/* Adds "filter:NAME" for every filter a graph description names, and
 * "device:TYPE" for the device a hardware filter works on or a hwupload or
 * hwmap derives. */
static void routing_words_add_filters(struct routing_words *w, const char *graph)
{
    char name[ROUTING_WORD_MAX];
    const char *args, *type;
    size_t args_len, type_len;
    for (const char *s = graph;
         (s = routing_filter_next_args(s, name, sizeof(name), &args, &args_len)) != NULL;) {
        routing_words_add(w, "filter", name, strlen(name));
        const char *device = routing_filter_device(name);
        if (device != NULL)
            routing_words_add(w, "device", device, strlen(device));
        if ((strcmp(name, "hwupload") == 0 || strcmp(name, "hwmap") == 0) &&
            routing_derive_device(name, args, args_len, &type, &type_len))
            routing_words_add(w, "device", type, type_len);
    }
}

/* The device type an -init_hw_device argument creates: the text before the
 * first ':', '=' or '@' (fftools/ffmpeg_hw.c hw_device_init_from_string). */
static void routing_words_add_device(struct routing_words *w, const char *arg)
{
    size_t n = strcspn(arg, ":=@");
    if (n > 0)
        routing_words_add(w, "device", arg, n);
}

/* The words the input side of a transcoded video adds: the decoder named
 * before -i and the -hwaccel type. */
static void routing_words_add_decoding(struct routing_words *w, const struct job_spec *spec)
{
    if (spec->video_decoder[0] != '\0') {
        const char *device = routing_codec_device(spec->video_decoder);
        if (device != NULL)
            routing_words_add(w, "device", device, strlen(device));
        routing_words_add(w, "decoder", spec->video_decoder, strlen(spec->video_decoder));
    }
    const char *hwaccel = spec->hwaccel;
    if (hwaccel[0] == '\0' || strcmp(hwaccel, "none") == 0 || strcmp(hwaccel, "auto") == 0)
        return;
    /* The CLI's own renaming (ffmpeg_opt.c): the NVDEC hwaccels use CUDA. */
    if (strcmp(hwaccel, "nvdec") == 0 || strcmp(hwaccel, "cuvid") == 0)
        hwaccel = "cuda";
    routing_words_add(w, "device", hwaccel, strlen(hwaccel));
    routing_words_add(w, "hwaccel", hwaccel, strlen(hwaccel));
}

int routing_job_requires(const struct job_spec *spec, char *out, size_t outlen, char *err,
                         size_t errlen)
{
    struct routing_words w = {.out = out, .size = outlen};
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    if (routing_words_check(spec->requires, err, errlen) != 0)
        return -1;
    for (const char *s = spec->requires; *s != '\0';) {
        s += strspn(s, " ");
        size_t n = strcspn(s, " ");
        if (n == 0)
            break;
        const char *colon = memchr(s, ':', n);
        char kind[16];
        snprintf(kind, sizeof(kind), "%.*s", (int)(colon - s), s);
        routing_words_add(&w, kind, colon + 1, n - (size_t)(colon - s) - 1);
        s += n;
    }
    for (int i = 0; i < spec->n_hw_devices && i < JOB_SPEC_HW_DEVICES_MAX; i++)
        routing_words_add_device(&w, spec->hw_devices[i]);
    if (spec->video_codec[0] != '\0' && !job_spec_video_copies(spec)) {
        routing_words_add_decoding(&w, spec);
        const char *device = routing_codec_device(spec->video_codec);
        if (device != NULL)
            routing_words_add(&w, "device", device, strlen(device));
        routing_words_add(&w, "encoder", spec->video_codec, strlen(spec->video_codec));
        routing_words_add_filters(&w, spec->video_filter);
    }
    if (spec->audio_codec[0] != '\0' && !job_spec_audio_copies(spec)) {
        routing_words_add(&w, "encoder", spec->audio_codec, strlen(spec->audio_codec));
        routing_words_add_filters(&w, spec->audio_filter);
    }
    if (w.too_long) {
        snprintf(err, errlen,
                 "a capability name (encoder, decoder, filter or device) is longer than %d bytes",
                 ROUTING_WORD_MAX - 1);
        return -1;
    }
    if (w.too_many) {
        snprintf(err, errlen,
                 "the job needs more than %d capabilities (encoders, filters, devices...)",
                 ROUTING_WORDS_MAX);
        return -1;
    }
    if (w.overflow) {
        snprintf(err, errlen, "the job needs more capabilities than fit in %zu bytes", outlen);
        return -1;
    }
    /* Names come from the spec's own strings: a filter name with a stray
     * character would never match a worker, so say so now. */
    return routing_words_check(out, err, errlen);
}

/* Appends " kind:name" to a growing string. Returns 0 or -1 (no memory). */
static int offers_append(char **text, size_t *used, size_t *size, const char *kind,
                         const char *name)
{
    size_t need = *used + strlen(kind) + strlen(name) + 3;
    if (need > *size) {
        size_t size_new = *size * 2 > need ? *size * 2 : need;
        char *grown = realloc(*text, size_new);
        if (grown == NULL)
            return -1;
        *text = grown;
        *size = size_new;
    }
    *used += (size_t)sprintf(*text + *used, "%s%s:%s", *used > 0 ? " " : "", kind, name);
    return 0;
}

char *routing_worker_offers(const uint8_t *caps, size_t caps_len)
{
    Ffpool__Capabilities *c = ffpool__capabilities__unpack(NULL, caps_len, caps);
    if (c == NULL)
        return NULL;
    size_t used = 0, size = 16384;
    char *text = malloc(size);
    int failed = text == NULL;
    if (!failed)
        text[0] = '\0';
    for (size_t i = 0; i < c->n_encoders && !failed; i++)
        failed = offers_append(&text, &used, &size, "encoder", c->encoders[i]->name) != 0;
    for (size_t i = 0; i < c->n_decoders && !failed; i++)
        failed = offers_append(&text, &used, &size, "decoder", c->decoders[i]->name) != 0;
    for (size_t i = 0; i < c->n_filters && !failed; i++)
        failed = offers_append(&text, &used, &size, "filter", c->filters[i]->name) != 0;
    for (size_t i = 0; i < c->n_hwaccels && !failed; i++)
        failed = offers_append(&text, &used, &size, "hwaccel", c->hwaccels[i]) != 0;
    for (size_t i = 0; i < c->n_devices && !failed; i++)
        failed = offers_append(&text, &used, &size, "device", c->devices[i]) != 0;
    ffpool__capabilities__free_unpacked(c, NULL);
    if (failed) {
        free(text);
        return NULL;
    }
    return text;
}

/* 1 if the space-separated list words holds word (length len). */
static int routing_list_has(const char *words, const char *word, size_t len)
{
    for (const char *at = words; (at = strstr(at, word)) != NULL; at++)
        if ((at == words || at[-1] == ' ') && (at[len] == ' ' || at[len] == '\0'))
            return 1;
    return 0;
}

int routing_offers_missing(const char *offers, const char *requires, char *missing, size_t size)
{
    for (const char *word = requires + strspn(requires, " "); *word != '\0';
         word += strspn(word, " ")) {
        size_t len = strcspn(word, " ");
        char copy[ROUTING_WORD_MAX];
        snprintf(copy, sizeof(copy), "%.*s", (int)len, word);
        if (len >= ROUTING_WORD_MAX || !routing_list_has(offers, copy, len)) {
            snprintf(missing, size, "%s", copy);
            return 1;
        }
        word += len;
    }
    return 0;
}
