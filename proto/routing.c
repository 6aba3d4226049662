/* routing.c -- the "kind:name" words of routing: derived from a job spec
 * or a CLI job's command line, from a worker's capabilities, and checked.
 * See routing.h.
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

static const char *const routing_kinds[] = {
    "encoder",     "decoder",     "filter",     "hwaccel",     "device",
    "cli-encoder", "cli-decoder", "cli-filter", "cli-hwaccel",
};

int routing_word_valid(const char *word)
{
    /* Kind cli has one word: the worker runs CLI jobs at all. */
    if (strcmp(word, ROUTING_CLI_WORD) == 0)
        return 1;
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
                     "hwaccel, device, cli-encoder, cli-decoder, cli-filter or cli-hwaccel; "
                     "or cli:ffmpeg)",
                     (int)(n < 64 ? n : 64), s);
            return -1;
        }
        s += n;
    }
    return 0;
}

/* 1 if the space-separated list words holds word (length len). */
static int routing_list_has(const char *words, const char *word, size_t len)
{
    for (const char *at = words; (at = strstr(at, word)) != NULL; at++)
        if ((at == words || at[-1] == ' ') && (at[len] == ' ' || at[len] == '\0'))
            return 1;
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

/* Adds "KIND:NAME" (kind filter, or cli-filter) for every filter a graph
 * description names, and "device:TYPE" for the device a hardware filter
 * works on or a hwupload or hwmap derives. */
static void routing_words_add_filters(struct routing_words *w, const char *kind, const char *graph)
{
    char name[ROUTING_WORD_MAX];
    const char *args, *type;
    size_t args_len, type_len;
    for (const char *s = graph;
         (s = routing_filter_next_args(s, name, sizeof(name), &args, &args_len)) != NULL;) {
        routing_words_add(w, kind, name, strlen(name));
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

/* Adds "device:TYPE" for a hardware codec, then "KIND:CODEC" (kind encoder,
 * decoder, or the same with cli-). */
static void routing_words_add_codec(struct routing_words *w, const char *kind, const char *codec)
{
    const char *device = routing_codec_device(codec);
    if (device != NULL)
        routing_words_add(w, "device", device, strlen(device));
    routing_words_add(w, kind, codec, strlen(codec));
}

/* Adds what -hwaccel T needs: "device:T", then "KIND:T" (kind hwaccel or
 * cli-hwaccel). Nothing for no type, none or auto (which falls back to
 * software). */
static void routing_words_add_hwaccel(struct routing_words *w, const char *kind,
                                      const char *hwaccel)
{
    if (hwaccel[0] == '\0' || strcmp(hwaccel, "none") == 0 || strcmp(hwaccel, "auto") == 0)
        return;
    /* The CLI's own renaming (ffmpeg_opt.c): the NVDEC hwaccels use CUDA. */
    if (strcmp(hwaccel, "nvdec") == 0 || strcmp(hwaccel, "cuvid") == 0)
        hwaccel = "cuda";
    routing_words_add(w, "device", hwaccel, strlen(hwaccel));
    routing_words_add(w, kind, hwaccel, strlen(hwaccel));
}

/* The words the input side of a transcoded video adds: the decoder named
 * before -i and the -hwaccel type. */
static void routing_words_add_decoding(struct routing_words *w, const struct job_spec *spec)
{
    if (spec->video_decoder[0] != '\0')
        routing_words_add_codec(w, "decoder", spec->video_decoder);
    routing_words_add_hwaccel(w, "hwaccel", spec->hwaccel);
}

/* Says in err what went wrong while w was collected, if anything, or which
 * word is malformed. Returns 0 when the words are all there and valid. */
static int routing_words_finish(const struct routing_words *w, char *err, size_t errlen)
{
    if (w->too_long) {
        snprintf(err, errlen,
                 "a capability name (encoder, decoder, filter or device) is longer than %d bytes",
                 ROUTING_WORD_MAX - 1);
        return -1;
    }
    if (w->too_many) {
        snprintf(err, errlen,
                 "the job needs more than %d capabilities (encoders, filters, devices...)",
                 ROUTING_WORDS_MAX);
        return -1;
    }
    if (w->overflow) {
        snprintf(err, errlen, "the job needs more capabilities than fit in %zu bytes", w->size);
        return -1;
    }
    /* Names come from the job's own strings: a filter name with a stray
     * character would never match a worker, so say so now. */
    return routing_words_check(w->out, err, errlen);
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
    if (job_spec_is_cli(spec)) {
        /* What the worker's CLI needs is read from the line it will run. */
        const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
        char cli[JOB_SPEC_REQUIRES_MAX];
        job_spec_cli_argv(spec, args);
        if (routing_cli_requires(spec->n_cli_args, (char *const *)args, cli, sizeof(cli), err,
                                 errlen) != 0)
            return -1;
        for (const char *s = cli; *s != '\0';) {
            s += strspn(s, " ");
            size_t n = strcspn(s, " ");
            const char *colon = memchr(s, ':', n);
            if (n == 0 || colon == NULL)
                break;
            char kind[16];
            snprintf(kind, sizeof(kind), "%.*s", (int)(colon - s), s);
            routing_words_add(&w, kind, colon + 1, n - (size_t)(colon - s) - 1);
            s += n;
        }
        return routing_words_finish(&w, err, errlen);
    }
    for (int i = 0; i < spec->n_hw_devices && i < JOB_SPEC_HW_DEVICES_MAX; i++)
        routing_words_add_device(&w, spec->hw_devices[i]);
    if (spec->video_codec[0] != '\0' && !job_spec_video_copies(spec)) {
        routing_words_add_decoding(&w, spec);
        routing_words_add_codec(&w, "encoder", spec->video_codec);
        routing_words_add_filters(&w, "filter", spec->video_filter);
    }
    if (spec->audio_codec[0] != '\0' && !job_spec_audio_copies(spec)) {
        routing_words_add(&w, "encoder", spec->audio_codec, strlen(spec->audio_codec));
        routing_words_add_filters(&w, "filter", spec->audio_filter);
    }
    return routing_words_finish(&w, err, errlen);
}

/* ---------------------------------------------------------------------------
 * CLI jobs: the words an ffmpeg command line needs
 * ------------------------------------------------------------------------- */

/* The 5.1 CLI's options that take no value (fftools/ffmpeg_opt.c and
 * cmdutils.h at n5.1: OPT_BOOL without HAS_ARG, and -report and -vstats),
 * space-separated. Any other option takes one, as the CLI's AVOptions
 * (-preset, -crf...) all do. */
static const char cli_flags[] =
    "accurate_seek an auto_conversion_filters benchmark benchmark_all bitexact "
    "copy_unknown copyinkf copyts debug_ts dn dump find_stream_info fix_sub_duration "
    "force_fps hex hide_banner ignore_unknown n psnr qphist re recast_media report "
    "shortest sn start_at_zero stats stdin vn vstats xerror y";

/* Booleans that take a value all the same ("-autorotate 0", as Jellyfin
 * 10.8 writes it): OPT_BOOL with HAS_ARG. As every boolean, their -noNAME
 * form takes none. */
static const char cli_valued_booleans[] = "autorotate autoscale";

/* Whether option (its name after the '-', with or without a stream
 * specifier) takes the next argument as its value: what the CLI's
 * split_commandline() decides from its option table. */
static int cli_option_takes_value(const char *option)
{
    size_t len = strcspn(option, ":");
    char name[64];
    if (len == 0 || len >= sizeof(name))
        return 1;
    snprintf(name, sizeof(name), "%.*s", (int)len, option);
    if (routing_list_has(cli_flags, name, len))
        return 0;
    /* -nostdin, -noautorotate: any boolean negated. */
    return !(len > 2 && strncmp(name, "no", 2) == 0 &&
             (routing_list_has(cli_flags, name + 2, len - 2) ||
              routing_list_has(cli_valued_booleans, name + 2, len - 2)));
}

/* Steps to the next option of argv from *i: sets *name (the option after
 * its '-', stream specifier included) and *value (NULL for a flag, or a
 * value missing at the end) and moves *i past both. File names (an
 * argument not starting with '-', or "-" alone) are stepped over, and so is
 * the argument after "--", which the CLI takes as a file name. Returns 0
 * when no option is left. */
static int cli_option_next(int argc, char *const argv[], int *i, const char **name,
                           const char **value)
{
    while (*i < argc) {
        const char *arg = argv[(*i)++];
        if (strcmp(arg, "--") == 0) {
            (*i)++;
            continue;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            continue;
        *name = arg + 1;
        *value = NULL;
        if (cli_option_takes_value(*name) && *i < argc)
            *value = argv[(*i)++];
        return 1;
    }
    return 0;
}

/* 1 if option (after its '-') is base, bare or with a stream specifier
 * ("c", "c:v", "c:a:0"). */
static int cli_option_is(const char *option, const char *base)
{
    size_t len = strlen(base);
    return strncmp(option, base, len) == 0 && (option[len] == '\0' || option[len] == ':');
}

int routing_cli_requires(int argc, char *const argv[], char *out, size_t outlen, char *err,
                         size_t errlen)
{
    struct routing_words w = {.out = out, .size = outlen};
    if (outlen == 0) {
        snprintf(err, errlen, "no room for the job's capabilities");
        return -1;
    }
    out[0] = '\0';
    routing_words_add(&w, "cli", "ffmpeg", strlen("ffmpeg"));
    const char *name, *value;
    /* Options before an -i apply to that input, the others to an output:
     * where the last input ends tells decoders from encoders. */
    int last_input_end = 0;
    for (int i = 0; cli_option_next(argc, argv, &i, &name, &value);)
        if (strcmp(name, "i") == 0)
            last_input_end = i;
    for (int i = 0; cli_option_next(argc, argv, &i, &name, &value);) {
        if (value == NULL)
            continue;
        if (cli_option_is(name, "c") || cli_option_is(name, "codec") ||
            cli_option_is(name, "vcodec") || cli_option_is(name, "acodec") ||
            cli_option_is(name, "scodec") || cli_option_is(name, "dcodec")) {
            if (strcmp(value, "copy") != 0)
                routing_words_add_codec(&w, i <= last_input_end ? "cli-decoder" : "cli-encoder",
                                        value);
        } else if (cli_option_is(name, "vf") || cli_option_is(name, "af") ||
                   cli_option_is(name, "filter") || cli_option_is(name, "filter_complex") ||
                   cli_option_is(name, "lavfi")) {
            routing_words_add_filters(&w, "cli-filter", value);
        } else if (cli_option_is(name, "hwaccel")) {
            routing_words_add_hwaccel(&w, "cli-hwaccel", value);
        } else if (strcmp(name, "init_hw_device") == 0) {
            if (strcmp(value, "list") != 0) /* lists the types and exits */
                routing_words_add_device(&w, value);
        } else if (strcmp(name, "vaapi_device") == 0) {
            routing_words_add(&w, "device", "vaapi", strlen("vaapi"));
        } else if (strcmp(name, "qsv_device") == 0) {
            routing_words_add(&w, "device", "qsv", strlen("qsv"));
        }
    }
    return routing_words_finish(&w, err, errlen);
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

/* offers_append() for a name a worker's CLI printed: one that makes no
 * valid word (a stray character, too long) is left out, since the offers
 * are a space-separated list. Returns 0 or -1 (no memory). */
static int offers_append_cli(char **text, size_t *used, size_t *size, const char *kind,
                             const char *name)
{
    char word[ROUTING_WORD_MAX];
    int n = snprintf(word, sizeof(word), "%s:%s", kind, name);
    if (n < 0 || (size_t)n >= sizeof(word) || !routing_word_valid(word))
        return 0;
    return offers_append(text, used, size, kind, name);
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
    if (c->cli != NULL && !failed) {
        const Ffpool__CliInfo *cli = c->cli;
        failed = offers_append(&text, &used, &size, "cli", "ffmpeg") != 0;
        for (size_t i = 0; i < cli->n_encoders && !failed; i++)
            failed = offers_append_cli(&text, &used, &size, "cli-encoder", cli->encoders[i]);
        for (size_t i = 0; i < cli->n_decoders && !failed; i++)
            failed = offers_append_cli(&text, &used, &size, "cli-decoder", cli->decoders[i]);
        for (size_t i = 0; i < cli->n_filters && !failed; i++)
            failed = offers_append_cli(&text, &used, &size, "cli-filter", cli->filters[i]);
        for (size_t i = 0; i < cli->n_hwaccels && !failed; i++)
            failed = offers_append_cli(&text, &used, &size, "cli-hwaccel", cli->hwaccels[i]);
    }
    ffpool__capabilities__free_unpacked(c, NULL);
    if (failed) {
        free(text);
        return NULL;
    }
    return text;
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
