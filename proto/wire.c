/* wire.c -- protobuf over nng REQ/REP; see wire.h. The only file that uses
 * nng's messaging protocols. Server threads block on their own context with an aio each, so a
 * handler may take its time (a Redis round trip) without holding up the
 * others. */
#include "wire.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* REQ resends a request that got no reply after this long, to whichever
 * scheduler is connected then: the fail-over between schedulers. */
#define WIRE_RESEND_MS 1000
#define WIRE_RECONNECT_MIN_MS 50
#define WIRE_RECONNECT_MAX_MS 1000
/* Certificates and keys are a few kilobytes; refuse anything absurd. */
#define WIRE_PEM_MAX (256 * 1024)
/* nng does not report a failed TLS handshake to the caller, only that no
 * server answered: say what to check (%s: the peer, "scheduler"). */
#define WIRE_TLS_HINT                                                                              \
    " (tls+tcp://: check that api.tls_ca is the CA that signed the %s's certificate and that "     \
    "the certificate names the URL's host)"

const char *wire_error_name(Ffpool__ErrorCode code)
{
    switch (code) {
    case FFPOOL__ERROR_CODE__OK:
        return "ok";
    case FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST:
        return "bad request";
    case FFPOOL__ERROR_CODE__ERROR_VERSION:
        return "unsupported API version";
    case FFPOOL__ERROR_CODE__ERROR_UNAUTHORIZED:
        return "unauthorized";
    case FFPOOL__ERROR_CODE__ERROR_NOT_FOUND:
        return "not found";
    case FFPOOL__ERROR_CODE__ERROR_INVALID_JOB:
        return "invalid job";
    case FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE:
        return "unavailable";
    default:
        return "internal error";
    }
}

/* ======================================================================
 * Server
 * ==================================================================== */

struct wire_server_thread {
    struct wire_server *server;
    pthread_t thread;
    nng_ctx ctx;
    nng_aio *aio;
    int started;
};

struct wire_server {
    nng_socket socket;
    int socket_open;
    char token[1024];
    int timeout_ms;
    wire_thread_init_fn thread_init;
    wire_thread_free_fn thread_free;
    wire_handler_fn handler;
    void *opaque;
    int n_threads;
    struct wire_server_thread *threads;
    nng_listener listener;
};

/* Compares in time that depends only on the length of the expected token,
 * so that a client cannot find the token byte by byte by timing replies. */
static int token_equal(const char *expected, const char *given)
{
    size_t expected_len = strlen(expected);
    size_t given_len = given ? strlen(given) : 0;
    unsigned char diff = (unsigned char)(expected_len != given_len);
    for (size_t i = 0; i < expected_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)expected[i] ^ g;
    }
    return diff == 0;
}

static void reply_set_error(Ffpool__Reply *reply, Ffpool__ErrorCode code, const char *message)
{
    reply->code = code;
    reply->message = (char *)message;
}

int wire_message_handle(const char *token, const uint8_t *in, size_t in_len,
                        wire_handler_fn handler, void *thread_state, uint8_t **out, size_t *out_len)
{
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    reply.version = WIRE_API_VERSION;
    reply.message = "";
    *out = NULL;
    *out_len = 0;

    Ffpool__Request *request = ffpool__request__unpack(NULL, in_len, in);
    if (request == NULL) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST,
                        "request is not a valid ffpool.Request message");
    } else if (request->version > WIRE_API_VERSION) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_VERSION,
                        "request uses a newer API version than this scheduler serves; "
                        "use a client of the same ffpool release");
    } else if (token != NULL && token[0] != '\0' && !token_equal(token, request->token)) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_UNAUTHORIZED,
                        "missing or wrong API token: set api.token (FFPOOL_API_TOKEN) or "
                        "api.token_file to the scheduler's token");
    } else if (request->body_case == FFPOOL__REQUEST__BODY__NOT_SET) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST,
                        "request has no body (or a request type this scheduler does not know)");
    } else {
        handler(thread_state, request, &reply);
    }
    if (reply.message == NULL)
        reply.message = "";

    /* The handler's strings and job live until we have packed them. */
    int result = -1;
    size_t len = ffpool__reply__get_packed_size(&reply);
    *out = malloc(len > 0 ? len : 1);
    if (*out != NULL) {
        *out_len = ffpool__reply__pack(&reply, *out);
        result = 0;
    }
    if (request != NULL)
        ffpool__request__free_unpacked(request, NULL);
    return result;
}

/* Serves one request message; returns the reply message or NULL. */
static nng_msg *server_handle(struct wire_server *server, void *thread_state, nng_msg *in)
{
    uint8_t *packed = NULL;
    size_t len = 0;
    nng_msg *out = NULL;
    if (wire_message_handle(server->token, (const uint8_t *)nng_msg_body(in), nng_msg_len(in),
                            server->handler, thread_state, &packed, &len) != 0)
        return NULL;
    if (nng_msg_alloc(&out, len) == 0)
        memcpy(nng_msg_body(out), packed, len);
    free(packed);
    return out;
}

static void *server_thread_main(void *arg)
{
    struct wire_server_thread *self = arg;
    struct wire_server *server = self->server;
    void *state = server->thread_init ? server->thread_init(server->opaque) : NULL;

    for (;;) {
        nng_ctx_recv(self->ctx, self->aio);
        nng_aio_wait(self->aio);
        int rv = nng_aio_result(self->aio);
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            break;
        if (rv != 0)
            continue;
        nng_msg *in = nng_aio_get_msg(self->aio);
        nng_msg *out = server_handle(server, state, in);
        nng_msg_free(in);
        if (out == NULL)
            continue;
        nng_aio_set_msg(self->aio, out);
        nng_aio_set_timeout(self->aio, server->timeout_ms);
        nng_ctx_send(self->ctx, self->aio);
        nng_aio_wait(self->aio);
        rv = nng_aio_result(self->aio);
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(self->aio));
        if (rv == NNG_ECLOSED)
            break;
    }
    if (server->thread_free)
        server->thread_free(state);
    return NULL;
}

/* ======================================================================
 * TLS
 * ==================================================================== */

static int url_is_tls(const char *url)
{
    return strncmp(url, "tls+", 4) == 0;
}

/* Reads a whole (small) PEM file, NUL-terminated. Returns NULL with err. */
static char *pem_file_read(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *text = malloc(WIRE_PEM_MAX + 1);
    size_t n = text != NULL ? fread(text, 1, WIRE_PEM_MAX + 1, f) : 0;
    fclose(f);
    if (text == NULL || n == 0 || n > WIRE_PEM_MAX) {
        snprintf(err, errlen, "%s %s is empty or larger than %d bytes", what, path, WIRE_PEM_MAX);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* The server's TLS configuration: its certificate and key. */
static nng_tls_config *tls_server_config(const char *cert_path, const char *key_path, char *err,
                                         size_t errlen)
{
    nng_tls_config *tls = NULL;
    char *cert = NULL, *key = NULL;
    int rv;
    if (cert_path == NULL || cert_path[0] == '\0' || key_path == NULL || key_path[0] == '\0') {
        snprintf(err, errlen, "a tls+tcp:// listen URL needs api.tls_cert and api.tls_key");
        return NULL;
    }
    if ((cert = pem_file_read(cert_path, "certificate (api.tls_cert)", err, errlen)) == NULL ||
        (key = pem_file_read(key_path, "private key (api.tls_key)", err, errlen)) == NULL)
        goto fail;
    if ((rv = nng_tls_config_alloc(&tls, NNG_TLS_MODE_SERVER)) != 0) {
        snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
        goto fail;
    }
    if ((rv = nng_tls_config_own_cert(tls, cert, key, NULL)) != 0) {
        snprintf(err, errlen, "TLS certificate %s with key %s: %s", cert_path, key_path,
                 nng_strerror(rv));
        goto fail;
    }
    free(cert);
    free(key);
    return tls;
fail:
    if (tls != NULL)
        nng_tls_config_free(tls);
    free(cert);
    free(key);
    return NULL;
}

/* Writes the host of a URL ("tls+tcp://host:port", "[::1]") into out. */
static void url_host(const char *url, char *out, size_t outlen)
{
    const char *start = strstr(url, "://");
    start = start != NULL ? start + 3 : url;
    const char *end;
    if (*start == '[') {
        start++;
        end = strchr(start, ']');
    } else {
        end = strrchr(start, ':');
    }
    size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
    snprintf(out, outlen, "%.*s", (int)len, start);
}

/* A client's TLS configuration for one URL: the CA that must have signed
 * the server's certificate, and the name that certificate must carry (nng
 * 1.5 does not check the name unless told). */
static nng_tls_config *tls_client_config(const char *ca_path, const char *url, char *err,
                                         size_t errlen)
{
    nng_tls_config *tls = NULL;
    int rv;
    if (ca_path == NULL || ca_path[0] == '\0') {
        snprintf(err, errlen,
                 "a tls+tcp:// scheduler URL needs api.tls_ca (FFPOOL_API_TLS_CA): the CA "
                 "certificate that signed the scheduler's certificate");
        return NULL;
    }
    if ((rv = nng_tls_config_alloc(&tls, NNG_TLS_MODE_CLIENT)) != 0) {
        snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
        return NULL;
    }
    if ((rv = nng_tls_config_auth_mode(tls, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
        (rv = nng_tls_config_ca_file(tls, ca_path)) != 0) {
        snprintf(err, errlen, "TLS CA file %s (api.tls_ca): %s", ca_path, nng_strerror(rv));
        nng_tls_config_free(tls);
        return NULL;
    }
    char host[256];
    url_host(url, host, sizeof(host));
    if ((rv = nng_tls_config_server_name(tls, host)) != 0) {
        snprintf(err, errlen, "TLS server name %s: %s", host, nng_strerror(rv));
        nng_tls_config_free(tls);
        return NULL;
    }
    return tls;
}

/* ======================================================================
 * Server start and stop
 * ==================================================================== */

struct wire_server *wire_server_start(const struct wire_server_config *config,
                                      wire_thread_init_fn thread_init,
                                      wire_thread_free_fn thread_free, wire_handler_fn handler,
                                      void *opaque, char *err, size_t errlen)
{
    int rv;
    struct wire_server *server = calloc(1, sizeof(*server));
    if (server == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(server->token, sizeof(server->token), "%s", config->token ? config->token : "");
    server->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 5000;
    server->thread_init = thread_init;
    server->thread_free = thread_free;
    server->handler = handler;
    server->opaque = opaque;
    server->n_threads = config->contexts > 0 ? config->contexts : 1;

    if ((rv = nng_rep0_open(&server->socket)) != 0) {
        snprintf(err, errlen, "open rep socket: %s", nng_strerror(rv));
        goto fail;
    }
    server->socket_open = 1;
    /* Before listening: an unlimited receive size lets one client exhaust
     * memory with a single message. */
    if ((rv = nng_socket_set_size(server->socket, NNG_OPT_RECVMAXSZ, config->recv_max_bytes)) !=
        0) {
        snprintf(err, errlen, "set receive limit: %s", nng_strerror(rv));
        goto fail;
    }
    nng_listener listener;
    if ((rv = nng_listener_create(&listener, server->socket, config->listen_url)) != 0) {
        snprintf(err, errlen, "listen on %s: %s", config->listen_url, nng_strerror(rv));
        goto fail;
    }
    if (url_is_tls(config->listen_url)) {
        nng_tls_config *tls = tls_server_config(config->tls_cert, config->tls_key, err, errlen);
        if (tls == NULL)
            goto fail;
        /* The listener holds its own reference. */
        rv = nng_listener_set_ptr(listener, NNG_OPT_TLS_CONFIG, tls);
        nng_tls_config_free(tls);
        if (rv != 0) {
            snprintf(err, errlen, "TLS on %s: %s", config->listen_url, nng_strerror(rv));
            goto fail;
        }
    }
    if ((rv = nng_listener_start(listener, 0)) != 0) {
        snprintf(err, errlen, "listen on %s: %s", config->listen_url, nng_strerror(rv));
        goto fail;
    }
    server->listener = listener;
    server->threads = calloc((size_t)server->n_threads, sizeof(*server->threads));
    if (server->threads == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < server->n_threads; i++) {
        struct wire_server_thread *t = &server->threads[i];
        t->server = server;
        if ((rv = nng_ctx_open(&t->ctx, server->socket)) != 0 ||
            (rv = nng_aio_alloc(&t->aio, NULL, NULL)) != 0) {
            snprintf(err, errlen, "open context: %s", nng_strerror(rv));
            goto fail;
        }
        if (pthread_create(&t->thread, NULL, server_thread_main, t) != 0) {
            snprintf(err, errlen, "cannot start a server thread");
            goto fail;
        }
        t->started = 1;
    }
    return server;

fail:
    wire_server_stop(server);
    return NULL;
}

int wire_server_port(const struct wire_server *server)
{
    int port = 0;
    if (nng_listener_get_int(server->listener, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        return -1;
    return port;
}

void wire_server_stop(struct wire_server *server)
{
    if (server == NULL)
        return;
    /* Closing the socket completes every pending aio with NNG_ECLOSED. */
    if (server->socket_open)
        nng_close(server->socket);
    for (int i = 0; server->threads != NULL && i < server->n_threads; i++) {
        struct wire_server_thread *t = &server->threads[i];
        if (t->started)
            pthread_join(t->thread, NULL);
        if (t->aio != NULL)
            nng_aio_free(t->aio);
    }
    free(server->threads);
    free(server);
}

/* ======================================================================
 * Client
 * ==================================================================== */

struct wire_client {
    nng_socket socket;
    char token[1024];
    int timeout_ms;
    int tls;        /* some URL is tls+tcp://: failures may be certificate problems */
    char urls[512]; /* for error messages */
    char peer[32];  /* what answers: "scheduler", "worker" */
};

/* A failed call's sentence: format names the peer, then the URLs, then
 * nng's error; a TLS client adds what to check. */
static void wire_client_error(const struct wire_client *client, char *err, size_t errlen,
                              const char *format, int rv)
{
    char hint[256] = "";
    if (client->tls)
        snprintf(hint, sizeof(hint), WIRE_TLS_HINT, client->peer);
    int n = snprintf(err, errlen, format, client->peer, client->urls, nng_strerror(rv));
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, "%s", hint);
}

struct wire_client *wire_client_open_options(const struct wire_client_options *options, char *err,
                                             size_t errlen)
{
    int rv;
    int dialed = 0;
    const char *urls = options->urls != NULL ? options->urls : "";
    struct wire_client *client = calloc(1, sizeof(*client));
    if (client == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(client->token, sizeof(client->token), "%s", options->token ? options->token : "");
    client->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : 5000;
    snprintf(client->urls, sizeof(client->urls), "%s", urls);
    snprintf(client->peer, sizeof(client->peer), "%s",
             options->peer != NULL ? options->peer : "scheduler");
    if ((rv = nng_req0_open(&client->socket)) != 0) {
        snprintf(err, errlen, "open req socket: %s", nng_strerror(rv));
        free(client);
        return NULL;
    }
    nng_socket_set_ms(client->socket, NNG_OPT_REQ_RESENDTIME, WIRE_RESEND_MS);
    nng_socket_set_ms(client->socket, NNG_OPT_RECONNMINT, WIRE_RECONNECT_MIN_MS);
    nng_socket_set_ms(client->socket, NNG_OPT_RECONNMAXT, WIRE_RECONNECT_MAX_MS);
    nng_socket_set_size(client->socket, NNG_OPT_RECVMAXSZ, 4u << 20);

    char list[4096];
    snprintf(list, sizeof(list), "%s", urls);
    char *save = NULL;
    for (char *url = strtok_r(list, ", ", &save); url != NULL; url = strtok_r(NULL, ", ", &save)) {
        nng_dialer dialer;
        if ((rv = nng_dialer_create(&dialer, client->socket, url)) != 0) {
            snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
            continue;
        }
        if (url_is_tls(url)) {
            nng_tls_config *tls = tls_client_config(options->tls_ca, url, err, errlen);
            if (tls == NULL)
                goto fail; /* a TLS URL we cannot verify is a configuration error */
            rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, tls);
            nng_tls_config_free(tls); /* the dialer holds its own reference */
            if (rv != 0) {
                snprintf(err, errlen, "TLS for %s: %s", url, nng_strerror(rv));
                nng_dialer_close(dialer);
                continue;
            }
        }
        /* Non-blocking: a scheduler that is down now is dialled again in
         * the background until it answers. */
        if ((rv = nng_dialer_start(dialer, NNG_FLAG_NONBLOCK)) == 0) {
            dialed++;
            if (url_is_tls(url))
                client->tls = 1;
        } else {
            snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
        }
    }
    if (dialed == 0) {
        if (urls[0] == '\0')
            snprintf(err, errlen, "no scheduler URL configured (scheduler.url)");
        goto fail;
    }
    return client;

fail:
    nng_close(client->socket);
    free(client);
    return NULL;
}

struct wire_client *wire_client_open(const char *urls, const char *token, int timeout_ms, char *err,
                                     size_t errlen)
{
    struct wire_client_options options = {
        .urls = urls, .token = token, .timeout_ms = timeout_ms, .tls_ca = NULL};
    return wire_client_open_options(&options, err, errlen);
}

void wire_client_close(struct wire_client *client)
{
    if (client == NULL)
        return;
    nng_close(client->socket);
    free(client);
}

/* One exchange on its own context: recv_timeout_ms for the reply, resends
 * after resend_ms (nng's fail-over to another scheduler). */
static int client_exchange(struct wire_client *client, Ffpool__Request *request,
                           int recv_timeout_ms, int resend_ms, Ffpool__Reply **reply, char *err,
                           size_t errlen)
{
    int result = -1;
    int rv;
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int ctx_open = 0;

    *reply = NULL;
    request->version = WIRE_API_VERSION;
    request->token = client->token;

    if ((rv = nng_ctx_open(&ctx, client->socket)) != 0) {
        snprintf(err, errlen, "open context: %s", nng_strerror(rv));
        goto cleanup;
    }
    ctx_open = 1;
    nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, resend_ms);
    if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
        snprintf(err, errlen, "allocate aio: %s", nng_strerror(rv));
        goto cleanup;
    }
    size_t len = ffpool__request__get_packed_size(request);
    if ((rv = nng_msg_alloc(&msg, len)) != 0) {
        snprintf(err, errlen, "allocate message: %s", nng_strerror(rv));
        goto cleanup;
    }
    ffpool__request__pack(request, (uint8_t *)nng_msg_body(msg));

    nng_aio_set_msg(aio, msg);
    nng_aio_set_timeout(aio, client->timeout_ms);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        /* On failure the message still belongs to us. */
        wire_client_error(client, err, errlen, "no %s reachable at %s: %s", rv);
        goto cleanup;
    }
    msg = NULL;

    nng_aio_set_timeout(aio, recv_timeout_ms);
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        wire_client_error(client, err, errlen, "no reply from a %s at %s: %s", rv);
        goto cleanup;
    }
    msg = nng_aio_get_msg(aio);
    *reply = ffpool__reply__unpack(NULL, nng_msg_len(msg), (const uint8_t *)nng_msg_body(msg));
    if (*reply == NULL) {
        snprintf(err, errlen, "scheduler sent an undecodable reply");
        goto cleanup;
    }
    result = 0;

cleanup:
    if (msg != NULL)
        nng_msg_free(msg);
    if (aio != NULL)
        nng_aio_free(aio);
    if (ctx_open)
        nng_ctx_close(ctx);
    request->token = NULL;
    return result;
}

int wire_client_call(struct wire_client *client, Ffpool__Request *request, Ffpool__Reply **reply,
                     char *err, size_t errlen)
{
    return client_exchange(client, request, client->timeout_ms, WIRE_RESEND_MS, reply, err, errlen);
}

int wire_client_call_long(struct wire_client *client, Ffpool__Request *request, int wait_ms,
                          Ffpool__Reply **reply, char *err, size_t errlen)
{
    if (wait_ms < 0)
        wait_ms = 0;
    int total = client->timeout_ms + wait_ms;
    return client_exchange(client, request, total, wait_ms + WIRE_RESEND_MS, reply, err, errlen);
}
