/* metrics.h -- Prometheus metrics and the health endpoints of one process.
 *
 * A registry (struct metrics) holds metric families in registration order:
 * counters, gauges, histograms and gauges with one label (a "vec", e.g. the
 * encode speed of each running job). Any thread may update any metric at any
 * time; counters and gauges are C11 atomics, a histogram or a vec takes its
 * own short lock. metrics_render() writes the whole registry in the
 * Prometheus text exposition format 0.0.4.
 *
 * A metrics server serves the registry over HTTP (nng's HTTP server):
 *   GET /metrics  200, the text format ("text/plain; version=0.0.4")
 *   GET /healthz  200 "ok" while alive(opaque) returns non-zero, else 503
 *   GET /readyz   200 "ok" while ready(opaque) returns non-zero, else 503
 * Any other path is 404; another method on these paths is 405 (HEAD is
 * answered like GET without a body, as HTTP requires). For a worker,
 * alive() must reflect its own progress loop ticking, never Redis
 * reachability: a Redis blip must not make Kubernetes restart every pod.
 *
 * Every update function accepts a NULL metric and does nothing, and every
 * constructor returns NULL for a NULL registry, so a program with metrics
 * turned off (metrics.listen = "") passes NULL and never branches. */
#ifndef FFPOOL_METRICS_H
#define FFPOOL_METRICS_H

#include <stddef.h>

/* Longest metric or label name accepted, in bytes. */
#define METRICS_NAME_MAX 200

struct metrics;
struct metrics_counter;
struct metrics_gauge;
struct metrics_histogram;
struct metrics_gauge_vec;
struct metrics_server;

/* ---- registry ---------------------------------------------------------- */

/* Returns an empty registry, or NULL when out of memory. */
struct metrics *metrics_create(void);
/* Frees the registry and every metric in it; every handle it gave out dies
 * with it. Stop the servers that use it first. NULL is a no-op. */
void metrics_destroy(struct metrics *metrics);

/* Registers a counter. name matches [a-zA-Z_:][a-zA-Z0-9_:]*, at most
 * METRICS_NAME_MAX bytes, ends in "_total" and is not yet used by a sample
 * of this registry (a histogram "x" uses x_bucket, x_sum and x_count too).
 * help is one sentence (may be NULL or ""). Returns NULL when a rule is
 * broken or memory runs out. */
struct metrics_counter *metrics_counter(struct metrics *metrics, const char *name,
                                        const char *help);
/* Registers a gauge; same rules as metrics_counter() except the suffix. */
struct metrics_gauge *metrics_gauge(struct metrics *metrics, const char *name, const char *help);
/* Registers a histogram of n_buckets upper bounds (seconds, by convention),
 * strictly increasing and finite; the +Inf bucket is implicit. buckets NULL
 * means Prometheus's defaults (0.005 s to 10 s, n_buckets is ignored).
 * Renders name_bucket{le="..."} (cumulative), name_sum and name_count. */
struct metrics_histogram *metrics_histogram(struct metrics *metrics, const char *name,
                                            const char *help, const double *buckets, int n_buckets);
/* Registers a gauge family with one label. label_name matches
 * [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__" (reserved). */
struct metrics_gauge_vec *metrics_gauge_vec(struct metrics *metrics, const char *name,
                                            const char *help, const char *label_name);

/* ---- updates (thread-safe, never block for long) ----------------------- */

/* Adds value to the counter. Counters only go up: a negative or NaN value
 * is ignored. */
void metrics_counter_add(struct metrics_counter *counter, double value);
void metrics_gauge_set(struct metrics_gauge *gauge, double value);
void metrics_gauge_add(struct metrics_gauge *gauge, double value);
/* Counts value in the first bucket whose bound is >= value. NaN is ignored
 * (it would turn _sum into NaN for the rest of the process's life). */
void metrics_histogram_observe(struct metrics_histogram *histogram, double value);
/* Sets the gauge of label_value, creating it. Any label value is allowed;
 * backslash, double quote and newline are escaped on output. Returns 0, or
 * -1 when label_value is NULL or memory runs out. */
int metrics_gauge_vec_set(struct metrics_gauge_vec *vec, const char *label_value, double value);
/* Removes the gauge of label_value (e.g. when its job ends), so a finished
 * job stops being reported. Removing an absent value is a no-op. */
void metrics_gauge_vec_remove(struct metrics_gauge_vec *vec, const char *label_value);

/* Returns the registry in the text exposition format 0.0.4 as a string the
 * caller frees, its length (without the NUL) in *len when len is not NULL;
 * or NULL when out of memory. Families appear in registration order. */
char *metrics_render(struct metrics *metrics, size_t *len);

/* ---- HTTP server ------------------------------------------------------- */

/* Answers non-zero for "yes" (alive, ready). Called on nng's threads,
 * possibly several at once: it must be thread-safe and quick, and must not
 * call metrics_server_stop(). */
typedef int (*metrics_probe_fn)(void *opaque);

/* Serves metrics, /healthz and /readyz on url ("http://127.0.0.1:9090"; port
 * 0 picks a free port, see metrics_server_port()). A NULL alive or ready
 * callback means "always yes". Returns NULL with a sentence in err on a bad
 * URL (not http://host:port, a path, an unknown host) or an address in use. */
struct metrics_server *metrics_server_start(struct metrics *metrics, const char *url,
                                            metrics_probe_fn alive, metrics_probe_fn ready,
                                            void *opaque, char *err, size_t errlen);
/* Returns the TCP port the server listens on. */
int metrics_server_port(const struct metrics_server *server);
/* Stops listening, closes connections and waits for requests in progress;
 * once it returns, metrics, alive, ready and opaque are no longer used and
 * may be freed. NULL is a no-op. */
void metrics_server_stop(struct metrics_server *server);

#endif
