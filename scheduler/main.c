/* main.c -- ffpool-scheduler: serves the job API over nng until SIGTERM.
 *
 * Stateless by design: it holds only connections. Run as many as you like
 * against one Redis (a Kubernetes Deployment behind a Service). */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "program.h"
#include "queue.h"
#include "service.h"
#include "wire.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static const char usage[] =
    "Usage: ffpool-scheduler [--config FILE]\n\n"
    "Serves ffpool's job API (Submit, Attach, Status, Watch, Cancel, Pause, Resume,\n"
    "ListJobs, ListWorkers, Capabilities) over nng (tcp:// or tls+tcp://) on\n"
    "scheduler.listen, storing every job in Redis. Keeps no state of its own.\n";

/* Ready while Redis answered the last periodic check: a scheduler without
 * Redis can only answer errors, so the Service should route around it. */
static atomic_int redis_ok;

static int scheduler_ready(void *opaque)
{
    (void)opaque;
    return atomic_load(&redis_ok);
}

static int is_loopback_url(const char *url)
{
    return strstr(url, "://127.") != NULL || strstr(url, "://localhost") != NULL ||
           strstr(url, "://[::1]") != NULL || strncmp(url, "ipc://", 6) == 0 ||
           strncmp(url, "inproc://", 9) == 0;
}

int main(int argc, char **argv)
{
    struct ffpool_config config;
    program_start(argc, argv, "ffpool-scheduler", usage, &config);

    program_on_stop_signals(on_signal);

    if (config.api_token[0] == '\0' && !is_loopback_url(config.scheduler_listen))
        log_warn("insecure", "listen=%s msg=%s", log_quote(config.scheduler_listen),
                 log_quote("listening beyond loopback without api.token: anyone who can reach "
                           "this port can submit and cancel jobs"));

    if (config.api_token[0] != '\0' && !is_loopback_url(config.scheduler_listen) &&
        strncmp(config.scheduler_listen, "tls+", 4) != 0)
        log_warn("insecure", "listen=%s msg=%s", log_quote(config.scheduler_listen),
                 log_quote("the API token crosses the network in clear text: use a tls+tcp:// "
                           "listen URL with api.tls_cert and api.tls_key"));

    struct wire_server_config wire_config = {
        .listen_url = config.scheduler_listen,
        .contexts = (int)config.scheduler_contexts,
        .recv_max_bytes = (size_t)config.scheduler_recv_max_bytes,
        .timeout_ms = (int)config.scheduler_timeout_ms,
        .token = config.api_token,
        .tls_cert = config.api_tls_cert,
        .tls_key = config.api_tls_key,
    };
    struct service service = {.config = &config};
    if (config.paths_media_roots[0] == '\0' || config.paths_transcode_root[0] == '\0')
        log_info("confinement", "media_roots=%s transcode_root=%s msg=%s",
                 log_quote(config.paths_media_roots), log_quote(config.paths_transcode_root),
                 log_quote("an empty root turns its confinement off: jobs may then read or "
                           "write any path the workers can reach"));
    char err[512];
    struct wire_server *server =
        wire_server_start(&wire_config, service_thread_init, service_thread_free, service_handle,
                          &service, err, sizeof(err));
    if (server == NULL) {
        log_error("start_failed", "error=%s", log_quote(err));
        return 1;
    }
    log_info("listening", "url=%s redis=%s:%lld contexts=%lld", config.scheduler_listen,
             config.redis_host, (long long)config.redis_port, (long long)config.scheduler_contexts);

    struct metrics *registry = config.metrics_listen[0] ? metrics_create() : NULL;
    struct metrics_gauge *depth_gauge =
        metrics_gauge(registry, "ffpool_queue_depth", "New jobs waiting for a worker.");
    struct metrics_counter *redis_errors =
        metrics_counter(registry, "ffpool_redis_errors_total", "Failed Redis health checks.");
    struct metrics_server *metrics_server = NULL;
    if (registry != NULL) {
        metrics_server = metrics_server_start(registry, config.metrics_listen, NULL,
                                              scheduler_ready, NULL, err, sizeof(err));
        if (metrics_server == NULL) {
            log_error("start_failed", "error=%s", log_quote(err));
            wire_server_stop(server);
            metrics_destroy(registry);
            return 1;
        }
    }

    /* Once a second: is Redis there, and how deep is the queue. sleep()
     * rather than pause(): a signal landing between the test and the call
     * would otherwise be missed until the next one. */
    struct queue_config queue_config;
    program_queue_config(&config, &queue_config);
    struct queue *queue = queue_open(&queue_config);
    int was_ok = 1;
    while (!stop_requested) {
        int64_t depth = 0;
        int ok = queue != NULL && queue_depth(queue, &depth) == QUEUE_OK;
        atomic_store(&redis_ok, ok);
        if (ok)
            metrics_gauge_set(depth_gauge, (double)depth);
        else
            metrics_counter_add(redis_errors, 1);
        if (ok != was_ok)
            log_event(ok ? LOG_INFO : LOG_WARN, ok ? "redis_available" : "redis_unavailable",
                      "error=%s", log_quote(ok ? "" : queue_last_error(queue)));
        was_ok = ok;
        sleep(1);
    }
    queue_close(queue);
    metrics_server_stop(metrics_server);
    metrics_destroy(registry);
    log_info("stopping", "");
    service_stop_begin(&service);
    wire_server_stop(server);
    return 0;
}
