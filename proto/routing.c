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

static const char *const routing_kinds[] = {"encoder", "decoder", "filter", "hwaccel"};

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
                     "requirement \"%.*s\" is not kind:name (kind encoder, decoder, filter or "
                     "hwaccel)",
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

const char *routing_filter_next(const char *graph, char *name, size_t size)
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

/* Adds "filter:NAME" for every filter a graph description names. */
static void routing_words_add_filters(struct routing_words *w, const char *graph)
{
    char name[ROUTING_WORD_MAX];
    for (const char *s = graph; (s = routing_filter_next(s, name, sizeof(name))) != NULL;)
        routing_words_add(w, "filter", name, strlen(name));
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
    if (spec->video_codec[0] != '\0' && !job_spec_video_copies(spec)) {
        routing_words_add(&w, "encoder", spec->video_codec, strlen(spec->video_codec));
        routing_words_add_filters(&w, spec->video_filter);
    }
    if (spec->audio_codec[0] != '\0' && !job_spec_audio_copies(spec)) {
        routing_words_add(&w, "encoder", spec->audio_codec, strlen(spec->audio_codec));
        routing_words_add_filters(&w, spec->audio_filter);
    }
    if (w.too_long) {
        snprintf(err, errlen, "a capability name (encoder or filter) is longer than %d bytes",
                 ROUTING_WORD_MAX - 1);
        return -1;
    }
    if (w.too_many) {
        snprintf(err, errlen, "the job needs more than %d capabilities (encoders and filters)",
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
    ffpool__capabilities__free_unpacked(c, NULL);
    if (failed) {
        free(text);
        return NULL;
    }
    return text;
}
