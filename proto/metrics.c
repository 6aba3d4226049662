/* metrics.c -- the Prometheus registry; see metrics.h.
 *
 * Owns the metric families and the text exposition format (escaping,
 * number formatting, family layout); metrics_http.c serves what
 * metrics_render() writes. It must never make an updating thread wait on a
 * scrape for longer than one histogram's copy or one vec's few lines, and
 * never print: errors go back to the caller as sentences.
 *
 * Locks, outermost first: the registry lock (family list, taken by
 * registration and rendering), then one histogram's or one vec's lock.
 * Updates take at most the second, so they never wait for a registration. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prometheus client_golang's DefBuckets, in seconds. */
static const double metrics_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10};

/* ======================================================================
 * Atomic doubles
 * ==================================================================== */

/* C11 has no atomic add for floating types, so a double is kept as its bit
 * pattern in an atomic 64-bit integer and added with compare-and-swap. */
struct atomic_double {
    _Atomic uint64_t bits;
};

static uint64_t double_to_bits(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

static double bits_to_double(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static double atomic_double_load(struct atomic_double *a)
{
    return bits_to_double(atomic_load(&a->bits));
}

static void atomic_double_store(struct atomic_double *a, double value)
{
    atomic_store(&a->bits, double_to_bits(value));
}

static void atomic_double_add(struct atomic_double *a, double value)
{
    uint64_t old = atomic_load(&a->bits);
    /* On failure, old is reloaded with the current value: retry from it. */
    while (!atomic_compare_exchange_weak(&a->bits, &old,
                                         double_to_bits(bits_to_double(old) + value))) {
    }
}

/* ======================================================================
 * Registry
 * ==================================================================== */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM, METRICS_GAUGE_VEC };

struct metrics_counter {
    struct atomic_double value;
};

struct metrics_gauge {
    struct atomic_double value;
};

/* One lock rather than atomics, so that a scrape sees buckets, _sum and
 * _count from the same set of observations (_count must equal the +Inf
 * bucket). Observations are per segment or per job: the lock is cold. */
struct metrics_histogram {
    pthread_mutex_t lock;
    int n_bounds;
    double *bounds;   /* n_bounds upper bounds, strictly increasing */
    uint64_t *counts; /* n_bounds + 1, per bucket (not cumulative); last is +Inf */
    double sum;
    uint64_t count;
};

struct metrics_gauge_child {
    struct metrics_gauge_child *next;
    char *label_value;
    double value;
};

struct metrics_gauge_vec {
    pthread_mutex_t lock;
    char *label_name;
    struct metrics_gauge_child *first; /* in order of first set */
};

struct metrics_family {
    struct metrics_family *next;
    enum metrics_type type;
    char *name;
    char *help;
    union {
        struct metrics_counter counter;
        struct metrics_gauge gauge;
        struct metrics_histogram histogram;
        struct metrics_gauge_vec gauge_vec;
    } u;
};

struct metrics {
    pthread_mutex_t lock;
    struct metrics_family *first;
    struct metrics_family *last;
};

static char *string_copy(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);
    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

static int name_char_valid(char c, int first, int colon_allowed)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return 1;
    if (colon_allowed && c == ':')
        return 1;
    return !first && c >= '0' && c <= '9';
}

/* Returns 1 if name is a valid metric name (colon_allowed) or label name. */
static int name_valid(const char *name, int colon_allowed)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > METRICS_NAME_MAX)
        return 0;
    for (size_t i = 0; name[i] != '\0'; i++)
        if (!name_char_valid(name[i], i == 0, colon_allowed))
            return 0;
    return 1;
}

static int name_has_suffix(const char *name, const char *suffix)
{
    size_t name_len = strlen(name);
    size_t suffix_len = strlen(suffix);
    return name_len >= suffix_len && strcmp(name + name_len - suffix_len, suffix) == 0;
}

/* Fills names with the sample names a family of this type and name puts in
 * the exposition; returns how many (1, or 4 for a histogram). */
static int family_sample_names(enum metrics_type type, const char *name,
                               char names[4][METRICS_NAME_MAX + 16])
{
    snprintf(names[0], sizeof(names[0]), "%s", name);
    if (type != METRICS_HISTOGRAM)
        return 1;
    snprintf(names[1], sizeof(names[1]), "%s_bucket", name);
    snprintf(names[2], sizeof(names[2]), "%s_sum", name);
    snprintf(names[3], sizeof(names[3]), "%s_count", name);
    return 4;
}

/* Returns 1 if a family of this type and name would put a sample name in
 * the exposition that an existing family already uses: a scraper would
 * merge or reject the two. Called with the registry lock held. */
static int registry_name_taken(struct metrics *metrics, enum metrics_type type, const char *name)
{
    char wanted[4][METRICS_NAME_MAX + 16];
    char existing[4][METRICS_NAME_MAX + 16];
    int n_wanted = family_sample_names(type, name, wanted);
    for (struct metrics_family *f = metrics->first; f != NULL; f = f->next) {
        int n_existing = family_sample_names(f->type, f->name, existing);
        for (int i = 0; i < n_wanted; i++)
            for (int j = 0; j < n_existing; j++)
                if (strcmp(wanted[i], existing[j]) == 0)
                    return 1;
    }
    return 0;
}

/* Frees what family_alloc() made, nothing of the type's own. */
static void family_free_base(struct metrics_family *family)
{
    free(family->name);
    free(family->help);
    free(family);
}

/* Frees a family whose type-specific lock is initialised. */
static void family_free(struct metrics_family *family)
{
    if (family == NULL)
        return;
    if (family->type == METRICS_HISTOGRAM) {
        pthread_mutex_destroy(&family->u.histogram.lock);
        free(family->u.histogram.bounds);
        free(family->u.histogram.counts);
    } else if (family->type == METRICS_GAUGE_VEC) {
        struct metrics_gauge_child *child = family->u.gauge_vec.first;
        while (child != NULL) {
            struct metrics_gauge_child *next = child->next;
            free(child->label_value);
            free(child);
            child = next;
        }
        pthread_mutex_destroy(&family->u.gauge_vec.lock);
        free(family->u.gauge_vec.label_name);
    }
    family_free_base(family);
}

/* Allocates a family with its name and help; the caller fills u. */
static struct metrics_family *family_alloc(enum metrics_type type, const char *name,
                                           const char *help)
{
    struct metrics_family *family = calloc(1, sizeof(*family));
    if (family == NULL)
        return NULL;
    family->type = type;
    family->name = string_copy(name);
    family->help = string_copy(help != NULL ? help : "");
    if (family->name == NULL || family->help == NULL) {
        family_free_base(family);
        return NULL;
    }
    return family;
}

/* Appends family unless its names collide. Returns 0, or -1 (the caller
 * still owns family). */
static int registry_add(struct metrics *metrics, struct metrics_family *family)
{
    int result = -1;
    pthread_mutex_lock(&metrics->lock);
    if (!registry_name_taken(metrics, family->type, family->name)) {
        if (metrics->last != NULL)
            metrics->last->next = family;
        else
            metrics->first = family;
        metrics->last = family;
        result = 0;
    }
    pthread_mutex_unlock(&metrics->lock);
    return result;
}

struct metrics *metrics_create(void)
{
    struct metrics *metrics = calloc(1, sizeof(*metrics));
    if (metrics == NULL)
        return NULL;
    if (pthread_mutex_init(&metrics->lock, NULL) != 0) {
        free(metrics);
        return NULL;
    }
    return metrics;
}

void metrics_destroy(struct metrics *metrics)
{
    if (metrics == NULL)
        return;
    struct metrics_family *family = metrics->first;
    while (family != NULL) {
        struct metrics_family *next = family->next;
        family_free(family);
        family = next;
    }
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

/* Registers a counter or gauge family (their payload is one atomic). */
static struct metrics_family *registry_add_scalar(struct metrics *metrics, enum metrics_type type,
                                                  const char *name, const char *help)
{
    if (metrics == NULL || !name_valid(name, 1))
        return NULL;
    if (type == METRICS_COUNTER && !name_has_suffix(name, "_total"))
        return NULL;
    struct metrics_family *family = family_alloc(type, name, help);
    if (family == NULL)
        return NULL;
    /* calloc's zero bits are 0.0; the store makes the atomic's start explicit. */
    atomic_double_store(type == METRICS_COUNTER ? &family->u.counter.value : &family->u.gauge.value,
                        0.0);
    if (registry_add(metrics, family) != 0) {
        family_free(family);
        return NULL;
    }
    return family;
}

struct metrics_counter *metrics_counter(struct metrics *metrics, const char *name, const char *help)
{
    struct metrics_family *family = registry_add_scalar(metrics, METRICS_COUNTER, name, help);
    return family != NULL ? &family->u.counter : NULL;
}

struct metrics_gauge *metrics_gauge(struct metrics *metrics, const char *name, const char *help)
{
    struct metrics_family *family = registry_add_scalar(metrics, METRICS_GAUGE, name, help);
    return family != NULL ? &family->u.gauge : NULL;
}

struct metrics_histogram *metrics_histogram(struct metrics *metrics, const char *name,
                                            const char *help, const double *buckets, int n_buckets)
{
    if (metrics == NULL || !name_valid(name, 1))
        return NULL;
    if (buckets == NULL) {
        buckets = metrics_default_buckets;
        n_buckets = (int)(sizeof(metrics_default_buckets) / sizeof(metrics_default_buckets[0]));
    }
    if (n_buckets < 0)
        return NULL;
    for (int i = 0; i < n_buckets; i++) {
        if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
            return NULL;
    }

    struct metrics_family *family = family_alloc(METRICS_HISTOGRAM, name, help);
    if (family == NULL)
        return NULL;
    struct metrics_histogram *histogram = &family->u.histogram;
    if (pthread_mutex_init(&histogram->lock, NULL) != 0) {
        family_free_base(family);
        return NULL;
    }
    histogram->n_bounds = n_buckets;
    histogram->bounds = malloc(sizeof(double) * (size_t)(n_buckets > 0 ? n_buckets : 1));
    histogram->counts = calloc((size_t)n_buckets + 1, sizeof(uint64_t));
    if (histogram->bounds == NULL || histogram->counts == NULL) {
        family_free(family);
        return NULL;
    }
    if (n_buckets > 0)
        memcpy(histogram->bounds, buckets, sizeof(double) * (size_t)n_buckets);
    /* Published last: a scrape may render it as soon as it is listed. */
    if (registry_add(metrics, family) != 0) {
        family_free(family);
        return NULL;
    }
    return histogram;
}

struct metrics_gauge_vec *metrics_gauge_vec(struct metrics *metrics, const char *name,
                                            const char *help, const char *label_name)
{
    if (metrics == NULL || !name_valid(name, 1) || !name_valid(label_name, 0) ||
        strncmp(label_name, "__", 2) == 0)
        return NULL;
    struct metrics_family *family = family_alloc(METRICS_GAUGE_VEC, name, help);
    if (family == NULL)
        return NULL;
    struct metrics_gauge_vec *vec = &family->u.gauge_vec;
    if (pthread_mutex_init(&vec->lock, NULL) != 0) {
        family_free_base(family);
        return NULL;
    }
    vec->label_name = string_copy(label_name);
    if (vec->label_name == NULL || registry_add(metrics, family) != 0) {
        family_free(family);
        return NULL;
    }
    return vec;
}

/* ======================================================================
 * Updates
 * ==================================================================== */

void metrics_counter_add(struct metrics_counter *counter, double value)
{
    /* !(value >= 0) also rejects NaN. */
    if (counter == NULL || !(value >= 0))
        return;
    atomic_double_add(&counter->value, value);
}

void metrics_gauge_set(struct metrics_gauge *gauge, double value)
{
    if (gauge != NULL)
        atomic_double_store(&gauge->value, value);
}

void metrics_gauge_add(struct metrics_gauge *gauge, double value)
{
    if (gauge != NULL)
        atomic_double_add(&gauge->value, value);
}

void metrics_histogram_observe(struct metrics_histogram *histogram, double value)
{
    if (histogram == NULL || isnan(value))
        return;
    /* First bound >= value, found outside the lock: bounds never change. */
    int low = 0;
    int high = histogram->n_bounds;
    while (low < high) {
        int mid = low + (high - low) / 2;
        if (histogram->bounds[mid] >= value)
            high = mid;
        else
            low = mid + 1;
    }
    pthread_mutex_lock(&histogram->lock);
    histogram->counts[low]++;
    histogram->sum += value;
    histogram->count++;
    pthread_mutex_unlock(&histogram->lock);
}

int metrics_gauge_vec_set(struct metrics_gauge_vec *vec, const char *label_value, double value)
{
    if (vec == NULL)
        return 0;
    if (label_value == NULL)
        return -1;
    int result = -1;
    pthread_mutex_lock(&vec->lock);
    struct metrics_gauge_child **link = &vec->first;
    while (*link != NULL && strcmp((*link)->label_value, label_value) != 0)
        link = &(*link)->next;
    if (*link != NULL) {
        (*link)->value = value;
        result = 0;
        goto done;
    }
    struct metrics_gauge_child *child = calloc(1, sizeof(*child));
    if (child == NULL)
        goto done;
    if ((child->label_value = string_copy(label_value)) == NULL) {
        free(child);
        goto done;
    }
    child->value = value;
    *link = child; /* link is the tail: first-set order is kept */
    result = 0;

done:
    pthread_mutex_unlock(&vec->lock);
    return result;
}

void metrics_gauge_vec_remove(struct metrics_gauge_vec *vec, const char *label_value)
{
    if (vec == NULL || label_value == NULL)
        return;
    struct metrics_gauge_child *removed = NULL;
    pthread_mutex_lock(&vec->lock);
    for (struct metrics_gauge_child **link = &vec->first; *link != NULL; link = &(*link)->next) {
        if (strcmp((*link)->label_value, label_value) == 0) {
            removed = *link;
            *link = removed->next;
            break;
        }
    }
    pthread_mutex_unlock(&vec->lock);
    if (removed != NULL) {
        free(removed->label_value);
        free(removed);
    }
}

/* ======================================================================
 * Text exposition format 0.0.4
 * ==================================================================== */

/* A growing string; after one failed allocation every append is a no-op
 * and the caller checks failed once at the end. */
struct text {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

static void text_append(struct text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap > 0 ? t->cap : 1024;
        while (t->len + n + 1 > cap)
            cap *= 2;
        char *data = realloc(t->data, cap);
        if (data == NULL) {
            t->failed = 1;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_append_string(struct text *t, const char *s)
{
    text_append(t, s, strlen(s));
}

/* Escapes backslash and newline (HELP text), and the double quote too for a
 * label value, as the format requires. */
static void text_append_escaped(struct text *t, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            text_append(t, "\\\\", 2);
        else if (*s == '\n')
            text_append(t, "\\n", 2);
        else if (quote && *s == '"')
            text_append(t, "\\\"", 2);
        else
            text_append(t, s, 1);
    }
}

/* Writes value as the format's float: "+Inf", "-Inf", "NaN", else the
 * shortest of %.15g / %.17g that reads back as the same double (so 0.1
 * renders as "0.1", not "0.10000000000000001"). Assumes the "C" numeric
 * locale; no ffpool program calls setlocale(). */
static void text_append_value(struct text *t, double value)
{
    char number[32];
    if (isnan(value)) {
        snprintf(number, sizeof(number), "NaN");
    } else if (isinf(value)) {
        snprintf(number, sizeof(number), "%s", value > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(number, sizeof(number), "%.15g", value);
        if (strtod(number, NULL) != value)
            snprintf(number, sizeof(number), "%.17g", value);
    }
    text_append_string(t, number);
}

static void text_append_uint(struct text *t, uint64_t value)
{
    char number[32];
    snprintf(number, sizeof(number), "%llu", (unsigned long long)value);
    text_append_string(t, number);
}

static const char *type_name(enum metrics_type type)
{
    switch (type) {
    case METRICS_COUNTER:
        return "counter";
    case METRICS_HISTOGRAM:
        return "histogram";
    default:
        return "gauge";
    }
}

/* "name value\n" or "name{label="escaped"} value\n". */
static void render_sample(struct text *t, const char *name, const char *suffix,
                          const char *label_name, const char *label_value, double value)
{
    text_append_string(t, name);
    text_append_string(t, suffix);
    if (label_name != NULL && label_value != NULL) {
        text_append_string(t, "{");
        text_append_string(t, label_name);
        text_append_string(t, "=\"");
        text_append_escaped(t, label_value, 1);
        text_append_string(t, "\"}");
    }
    text_append_string(t, " ");
    text_append_value(t, value);
    text_append_string(t, "\n");
}

static void render_histogram(struct text *t, const char *name, struct metrics_histogram *h)
{
    /* Copy under the lock, format outside it: observers wait only for a
     * memcpy, never for the formatting or a reallocation. */
    uint64_t counts_stack[32];
    uint64_t *counts = counts_stack;
    size_t n_counts = (size_t)h->n_bounds + 1;
    if (n_counts > sizeof(counts_stack) / sizeof(counts_stack[0])) {
        counts = malloc(n_counts * sizeof(*counts));
        if (counts == NULL) {
            t->failed = 1;
            return;
        }
    }
    pthread_mutex_lock(&h->lock);
    memcpy(counts, h->counts, n_counts * sizeof(*counts));
    double sum = h->sum;
    uint64_t count = h->count;
    pthread_mutex_unlock(&h->lock);

    uint64_t cumulative = 0;
    for (size_t i = 0; i < n_counts; i++) {
        cumulative += counts[i];
        text_append_string(t, name);
        text_append_string(t, "_bucket{le=\"");
        if (i < (size_t)h->n_bounds)
            text_append_value(t, h->bounds[i]);
        else
            text_append_string(t, "+Inf");
        text_append_string(t, "\"} ");
        text_append_uint(t, cumulative);
        text_append_string(t, "\n");
    }
    render_sample(t, name, "_sum", NULL, NULL, sum);
    text_append_string(t, name);
    text_append_string(t, "_count ");
    text_append_uint(t, count);
    text_append_string(t, "\n");
    if (counts != counts_stack)
        free(counts);
}

static void render_family(struct text *t, struct metrics_family *f)
{
    if (f->help[0] != '\0') {
        text_append_string(t, "# HELP ");
        text_append_string(t, f->name);
        text_append_string(t, " ");
        text_append_escaped(t, f->help, 0);
        text_append_string(t, "\n");
    }
    text_append_string(t, "# TYPE ");
    text_append_string(t, f->name);
    text_append_string(t, " ");
    text_append_string(t, type_name(f->type));
    text_append_string(t, "\n");

    switch (f->type) {
    case METRICS_COUNTER:
        render_sample(t, f->name, "", NULL, NULL, atomic_double_load(&f->u.counter.value));
        break;
    case METRICS_GAUGE:
        render_sample(t, f->name, "", NULL, NULL, atomic_double_load(&f->u.gauge.value));
        break;
    case METRICS_HISTOGRAM:
        render_histogram(t, f->name, &f->u.histogram);
        break;
    case METRICS_GAUGE_VEC: {
        struct metrics_gauge_vec *vec = &f->u.gauge_vec;
        pthread_mutex_lock(&vec->lock);
        for (struct metrics_gauge_child *c = vec->first; c != NULL; c = c->next)
            render_sample(t, f->name, "", vec->label_name, c->label_value, c->value);
        pthread_mutex_unlock(&vec->lock);
        break;
    }
    }
}

char *metrics_render(struct metrics *metrics, size_t *len)
{
    struct text t = {0};
    if (len != NULL)
        *len = 0;
    if (metrics == NULL)
        return NULL;
    /* An empty registry renders as "", not NULL: NULL means out of memory. */
    text_append(&t, "", 0);
    pthread_mutex_lock(&metrics->lock);
    for (struct metrics_family *f = metrics->first; f != NULL; f = f->next)
        render_family(&t, f);
    pthread_mutex_unlock(&metrics->lock);
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    if (len != NULL)
        *len = t.len;
    return t.data;
}
