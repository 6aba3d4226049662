/* wire.c -- protobuf over nng REQ/REP; see wire.h. The only file that uses
 * nng's messaging protocols. Server threads block on their own context with an aio each, so a
 * handler may take its time (a Redis round trip) without holding up the
 * others. */
#include "wire.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
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

/* Decodes, checks and dispatches one request; returns the packed reply. */
static nng_msg *server_handle(struct wire_server *server, void *thread_state, nng_msg *in)
{
    Ffpool__Reply reply = FFPOOL__REPLY__INIT;
    reply.version = WIRE_API_VERSION;
    reply.message = "";

    Ffpool__Request *request =
        ffpool__request__unpack(NULL, nng_msg_len(in), (const uint8_t *)nng_msg_body(in));
    if (request == NULL) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST,
                        "request is not a valid ffpool.Request message");
    } else if (request->version > WIRE_API_VERSION) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_VERSION,
                        "request uses a newer API version than this scheduler serves");
    } else if (server->token[0] != '\0' && !token_equal(server->token, request->token)) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_UNAUTHORIZED,
                        "missing or wrong API token (api.token)");
    } else if (request->body_case == FFPOOL__REQUEST__BODY__NOT_SET) {
        reply_set_error(&reply, FFPOOL__ERROR_CODE__ERROR_BAD_REQUEST, "request has no body");
    } else {
        server->handler(thread_state, request, &reply);
    }

    /* The handler's strings and job live until we have packed them. */
    nng_msg *out = NULL;
    size_t len = ffpool__reply__get_packed_size(&reply);
    if (nng_msg_alloc(&out, len) == 0)
        ffpool__reply__pack(&reply, (uint8_t *)nng_msg_body(out));
    if (request != NULL)
        ffpool__request__free_unpacked(request, NULL);
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
    if ((rv = nng_listen(server->socket, config->listen_url, NULL, 0)) != 0) {
        snprintf(err, errlen, "listen on %s: %s", config->listen_url, nng_strerror(rv));
        goto fail;
    }
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
};

struct wire_client *wire_client_open(const char *urls, const char *token, int timeout_ms,
                                     char *err, size_t errlen)
{
    int rv;
    int dialed = 0;
    struct wire_client *client = calloc(1, sizeof(*client));
    if (client == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(client->token, sizeof(client->token), "%s", token ? token : "");
    client->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
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
    snprintf(list, sizeof(list), "%s", urls ? urls : "");
    char *save = NULL;
    for (char *url = strtok_r(list, ", ", &save); url != NULL; url = strtok_r(NULL, ", ", &save)) {
        /* Non-blocking: a scheduler that is down now is dialled again in
         * the background until it answers. */
        rv = nng_dial(client->socket, url, NULL, NNG_FLAG_NONBLOCK);
        if (rv == 0)
            dialed++;
        else
            snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
    }
    if (dialed == 0) {
        if (urls == NULL || urls[0] == '\0')
            snprintf(err, errlen, "no scheduler URL configured (scheduler.url)");
        nng_close(client->socket);
        free(client);
        return NULL;
    }
    return client;
}

void wire_client_close(struct wire_client *client)
{
    if (client == NULL)
        return;
    nng_close(client->socket);
    free(client);
}

int wire_client_call(struct wire_client *client, Ffpool__Request *request, Ffpool__Reply **reply,
                     char *err, size_t errlen)
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
        snprintf(err, errlen, "send to scheduler: %s", nng_strerror(rv));
        goto cleanup;
    }
    msg = NULL;

    nng_aio_set_timeout(aio, client->timeout_ms);
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        snprintf(err, errlen, "no reply from scheduler: %s", nng_strerror(rv));
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
