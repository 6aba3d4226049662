/* metrics_http.c -- the HTTP listener of a process: /metrics (what
 * metrics_render() writes), /healthz and /readyz (the caller's own probes);
 * see metrics.h.
 *
 * The only HTTP server in ffpool; wire.c stays the only file that speaks
 * nng's messaging protocols. It never decides anything from Redis (health is
 * the caller's callback) and never prints: errors go back to the caller as
 * sentences. */
#include "metrics.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * HTTP server
 * ==================================================================== */

/* What the three handlers share with metrics_server_stop(). nng may still
 * call a handler after stop has begun (a request already dispatched), so
 * this lives until the last handler reference is dropped (each handler's
 * destructor releases one reference, the server holds another), and user
 * data (metrics, callbacks, opaque) is touched only between
 * server_state_enter() and server_state_leave(), which stop waits out. */
struct server_state {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int references;
    int stopping;
    int in_flight;
    struct metrics *metrics;
    metrics_probe_fn alive;
    metrics_probe_fn ready;
    void *opaque;
};

enum server_endpoint { ENDPOINT_METRICS, ENDPOINT_HEALTHZ, ENDPOINT_READYZ, ENDPOINT_COUNT };

static const char *const endpoint_paths[ENDPOINT_COUNT] = {"/metrics", "/healthz", "/readyz"};

struct metrics_server {
    struct server_state *state;
    nng_http_server *http;
    int started;
    int port;
    nng_http_handler *handlers[ENDPOINT_COUNT];
    int handler_registered[ENDPOINT_COUNT]; /* the server holds our reference */
};

static void server_state_release(void *arg)
{
    struct server_state *state = arg;
    pthread_mutex_lock(&state->lock);
    int last = --state->references == 0;
    pthread_mutex_unlock(&state->lock);
    if (!last)
        return;
    pthread_cond_destroy(&state->idle);
    pthread_mutex_destroy(&state->lock);
    free(state);
}

/* Returns 1 if the caller may use the user's data until server_state_leave(),
 * 0 once the server is stopping. */
static int server_state_enter(struct server_state *state)
{
    pthread_mutex_lock(&state->lock);
    int entered = !state->stopping;
    if (entered)
        state->in_flight++;
    pthread_mutex_unlock(&state->lock);
    return entered;
}

static void server_state_leave(struct server_state *state)
{
    pthread_mutex_lock(&state->lock);
    if (--state->in_flight == 0)
        pthread_cond_broadcast(&state->idle);
    pthread_mutex_unlock(&state->lock);
}

/* Answers one request. Completing the aio with an error would make nng drop
 * the connection, so every path, even out of memory, tries a response. */
static void server_respond(nng_aio *aio, enum server_endpoint endpoint)
{
    nng_http_handler *handler = nng_aio_get_input(aio, 1);
    struct server_state *state = nng_http_handler_get_data(handler);
    uint16_t status = NNG_HTTP_STATUS_SERVICE_UNAVAILABLE;
    const char *content_type = "text/plain; charset=utf-8";
    const char *body = "stopping\n";
    size_t body_len = strlen(body);
    char *rendered = NULL;
    nng_http_res *res = NULL;
    int rv;

    if (server_state_enter(state)) {
        if (endpoint == ENDPOINT_METRICS) {
            rendered = metrics_render(state->metrics, &body_len);
            if (rendered != NULL) {
                status = NNG_HTTP_STATUS_OK;
                content_type = "text/plain; version=0.0.4; charset=utf-8";
                body = rendered;
            } else {
                status = NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR;
                body = "out of memory\n";
                body_len = strlen(body);
            }
        } else {
            metrics_probe_fn probe = endpoint == ENDPOINT_HEALTHZ ? state->alive : state->ready;
            int yes = probe == NULL || probe(state->opaque) != 0;
            status = yes ? NNG_HTTP_STATUS_OK : NNG_HTTP_STATUS_SERVICE_UNAVAILABLE;
            body = yes ? "ok" : endpoint == ENDPOINT_HEALTHZ ? "not alive" : "not ready";
            body_len = strlen(body);
        }
        server_state_leave(state);
    }

    /* nng cannot copy zero bytes (an empty registry renders as ""), and a
     * response with no data at all goes out without Content-Length, which
     * leaves a keep-alive scraper waiting: an empty static body sets it. */
    if ((rv = nng_http_res_alloc(&res)) != 0 || (rv = nng_http_res_set_status(res, status)) != 0 ||
        (rv = nng_http_res_set_header(res, "Content-Type", content_type)) != 0 ||
        (rv = nng_http_res_set_header(res, "Cache-Control", "no-store")) != 0 ||
        (rv = body_len > 0 ? nng_http_res_copy_data(res, body, body_len)
                           : nng_http_res_set_data(res, "", 0)) != 0) {
        if (res != NULL)
            nng_http_res_free(res);
        res = NULL;
    }
    free(rendered);
    if (res == NULL) {
        nng_aio_finish(aio, rv);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void server_handle_metrics(nng_aio *aio)
{
    server_respond(aio, ENDPOINT_METRICS);
}

static void server_handle_healthz(nng_aio *aio)
{
    server_respond(aio, ENDPOINT_HEALTHZ);
}

static void server_handle_readyz(nng_aio *aio)
{
    server_respond(aio, ENDPOINT_READYZ);
}

static void (*const endpoint_callbacks[ENDPOINT_COUNT])(nng_aio *) = {
    server_handle_metrics, server_handle_healthz, server_handle_readyz};

/* Checks url's shape; returns 0, or -1 with err. nng resolves the host and
 * checks the port when the server is held. */
static int server_url_check(const nng_url *url, const char *text, char *err, size_t errlen)
{
    if (strcmp(url->u_scheme, "http") != 0) {
        snprintf(err, errlen,
                 "metrics URL \"%s\" has scheme \"%s\"; only http://host:port is served", text,
                 url->u_scheme);
        return -1;
    }
    if (url->u_hostname[0] == '\0') {
        snprintf(err, errlen, "metrics URL \"%s\" has no host (use 0.0.0.0 for every address)",
                 text);
        return -1;
    }
    if ((url->u_path[0] != '\0' && strcmp(url->u_path, "/") != 0) || url->u_query != NULL ||
        url->u_fragment != NULL || url->u_userinfo != NULL) {
        snprintf(err, errlen,
                 "metrics URL \"%s\" must be just http://host:port; the paths are fixed "
                 "(/metrics, /healthz, /readyz)",
                 text);
        return -1;
    }
    return 0;
}

static int server_port_read(nng_http_server *http)
{
    nng_sockaddr address;
    if (nng_http_server_get_addr(http, &address) != 0)
        return 0;
    if (address.s_family == NNG_AF_INET)
        return ntohs(address.s_in.sa_port);
    if (address.s_family == NNG_AF_INET6)
        return ntohs(address.s_in6.sa_port);
    return 0;
}

struct metrics_server *metrics_server_start(struct metrics *metrics, const char *url,
                                            metrics_probe_fn alive, metrics_probe_fn ready,
                                            void *opaque, char *err, size_t errlen)
{
    int rv;
    nng_url *parsed = NULL;
    struct metrics_server *server = NULL;
    struct server_state *state = NULL;

    if (metrics == NULL) {
        snprintf(err, errlen, "no metrics registry to serve");
        return NULL;
    }
    if (url == NULL || url[0] == '\0') {
        snprintf(err, errlen, "no metrics URL given (metrics.listen, e.g. http://0.0.0.0:9090)");
        return NULL;
    }
    if ((rv = nng_url_parse(&parsed, url)) != 0) {
        snprintf(err, errlen, "metrics URL \"%s\" does not parse (%s); expected http://host:port",
                 url, nng_strerror(rv));
        return NULL;
    }
    if (server_url_check(parsed, url, err, errlen) != 0)
        goto fail;

    if ((server = calloc(1, sizeof(*server))) == NULL ||
        (state = calloc(1, sizeof(*state))) == NULL) {
        free(state);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* server->state is set only once state can be released normally. */
    if (pthread_mutex_init(&state->lock, NULL) != 0) {
        free(state);
        snprintf(err, errlen, "cannot create a mutex");
        goto fail;
    }
    if (pthread_cond_init(&state->idle, NULL) != 0) {
        pthread_mutex_destroy(&state->lock);
        free(state);
        snprintf(err, errlen, "cannot create a condition variable");
        goto fail;
    }
    server->state = state;
    state->references = 1; /* the server's own; each handler adds one */
    state->metrics = metrics;
    state->alive = alive;
    state->ready = ready;
    state->opaque = opaque;

    /* nng shares one server per host:port within a process: if this
     * process already serves these paths there, adding ours fails with
     * NNG_EADDRINUSE below, as a second process would at listen time. */
    if ((rv = nng_http_server_hold(&server->http, parsed)) != 0) {
        server->http = NULL;
        snprintf(err, errlen, "cannot serve metrics on \"%s\": %s (unknown host or bad port?)", url,
                 nng_strerror(rv));
        goto fail;
    }
    for (int i = 0; i < ENDPOINT_COUNT; i++) {
        nng_http_handler *handler = NULL;
        if ((rv = nng_http_handler_alloc(&handler, endpoint_paths[i], endpoint_callbacks[i])) !=
            0) {
            snprintf(err, errlen, "cannot create the %s handler: %s", endpoint_paths[i],
                     nng_strerror(rv));
            goto fail;
        }
        server->handlers[i] = handler;
        if ((rv = nng_http_handler_set_data(handler, state, server_state_release)) != 0) {
            snprintf(err, errlen, "cannot set up the %s handler: %s", endpoint_paths[i],
                     nng_strerror(rv));
            goto fail;
        }
        pthread_mutex_lock(&state->lock);
        state->references++;
        pthread_mutex_unlock(&state->lock);
        /* A GET carries no body: refuse one (400) rather than buffer 1 MiB. */
        nng_http_handler_collect_body(handler, true, 0);
        if ((rv = nng_http_server_add_handler(server->http, handler)) != 0) {
            snprintf(err, errlen, "cannot serve %s on \"%s\": %s", endpoint_paths[i], url,
                     rv == NNG_EADDRINUSE ? "this process already serves it there"
                                          : nng_strerror(rv));
            goto fail;
        }
        server->handler_registered[i] = 1;
    }
    if ((rv = nng_http_server_start(server->http)) != 0) {
        snprintf(err, errlen, "cannot listen on \"%s\": %s", url, nng_strerror(rv));
        goto fail;
    }
    server->started = 1;
    server->port = server_port_read(server->http);
    nng_url_free(parsed);
    return server;

fail:
    metrics_server_stop(server);
    nng_url_free(parsed);
    return NULL;
}

int metrics_server_port(const struct metrics_server *server)
{
    return server != NULL ? server->port : 0;
}

void metrics_server_stop(struct metrics_server *server)
{
    if (server == NULL)
        return;
    /* Only our own start is undone: nng counts starts of a shared server. */
    if (server->started)
        nng_http_server_stop(server->http);
    for (int i = 0; i < ENDPOINT_COUNT; i++) {
        /* A removed handler's reference comes back to us; one still
         * registered is freed by nng when the server goes. */
        if (server->handler_registered[i] &&
            nng_http_server_del_handler(server->http, server->handlers[i]) != 0)
            server->handlers[i] = NULL;
    }

    struct server_state *state = server->state;
    if (state != NULL) {
        /* Requests dispatched before the stop may still be running: bar new
         * ones from user data and wait for those inside it. */
        pthread_mutex_lock(&state->lock);
        state->stopping = 1;
        while (state->in_flight > 0)
            pthread_cond_wait(&state->idle, &state->lock);
        pthread_mutex_unlock(&state->lock);
    }

    if (server->http != NULL)
        nng_http_server_release(server->http);
    /* Each handler's destructor releases its state reference, now or when
     * nng finishes a request still holding the handler. */
    for (int i = 0; i < ENDPOINT_COUNT; i++)
        if (server->handlers[i] != NULL)
            nng_http_handler_free(server->handlers[i]);
    if (state != NULL)
        server_state_release(state);
    free(server);
}
