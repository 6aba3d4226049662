/* offers.c -- what the pool's live workers can do; see offers.h. */
#include "offers.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"
#include "routing.h"
#include "wire.h"

int offers_reply_has_caps(const Ffpool__Reply *reply)
{
    for (size_t i = 0; i < reply->n_workers; i++)
        if (reply->workers[i] != NULL && reply->workers[i]->capabilities != NULL)
            return 1;
    return 0;
}

Ffpool__Reply *offers_fetch(const struct ffpool_config *config, long long wait_ms, char *err,
                            size_t errlen)
{
    int try_ms = (int)config->scheduler_timeout_ms;
    if (try_ms <= 0 || try_ms > OFFERS_TRY_TIMEOUT_MS)
        try_ms = OFFERS_TRY_TIMEOUT_MS;
    long long deadline = program_monotonic_ms() + (wait_ms > 0 ? wait_ms : 0);
    Ffpool__Reply *reply = NULL;
    for (;;) {
        /* A client per try, so that the last one ends with the wait. */
        long long left = deadline - program_monotonic_ms();
        int timeout = wait_ms <= 0 || left >= try_ms ? try_ms : left > 100 ? (int)left : 100;
        struct wire_client *client = program_client_open(config, timeout, err, errlen);
        if (client == NULL)
            return NULL;
        Ffpool__Request message = FFPOOL__REQUEST__INIT;
        Ffpool__Empty empty = FFPOOL__EMPTY__INIT;
        message.body_case = FFPOOL__REQUEST__BODY_CAPABILITIES;
        message.capabilities = &empty;
        int worth_waiting = 1;
        if (wire_client_call(client, &message, &reply, err, errlen) == 0) {
            if (reply->code == FFPOOL__ERROR_CODE__OK && offers_reply_has_caps(reply)) {
                wire_client_close(client);
                return reply;
            }
            if (reply->code == FFPOOL__ERROR_CODE__OK)
                snprintf(err, errlen, "no worker published its capabilities");
            else
                snprintf(err, errlen, "%s: %s", wire_error_name(reply->code),
                         reply->message ? reply->message : "");
            /* A refusal (token, version) will not change by waiting. */
            worth_waiting = reply->code == FFPOOL__ERROR_CODE__OK ||
                            reply->code == FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE;
            ffpool__reply__free_unpacked(reply, NULL);
            reply = NULL;
        }
        wire_client_close(client);
        left = deadline - program_monotonic_ms();
        if (!worth_waiting || left <= 0)
            return NULL;
        poll(NULL, 0, left < OFFERS_RETRY_MS ? (int)left : OFFERS_RETRY_MS);
    }
}

/* The capabilities of worker w of reply: its own, or those of the worker
 * it names in same_capabilities_as. NULL when neither is there. */
static const Ffpool__Capabilities *offers_worker_caps(const Ffpool__Reply *reply, size_t w)
{
    const Ffpool__WorkerInfo *worker = reply->workers[w];
    if (worker->capabilities != NULL)
        return worker->capabilities;
    for (size_t i = 0; i < reply->n_workers && worker->same_capabilities_as[0] != '\0'; i++)
        if (reply->workers[i] != NULL && reply->workers[i]->capabilities != NULL &&
            strcmp(reply->workers[i]->id, worker->same_capabilities_as) == 0)
            return reply->workers[i]->capabilities;
    return NULL;
}

/* The words caps offers (routing_worker_offers), or NULL. */
static char *offers_words(const Ffpool__Capabilities *caps)
{
    size_t len = ffpool__capabilities__get_packed_size(caps);
    uint8_t *packed = malloc(len > 0 ? len : 1);
    if (packed == NULL)
        return NULL;
    ffpool__capabilities__pack(caps, packed);
    char *words = routing_worker_offers(packed, len);
    free(packed);
    return words;
}

/* Writes why no worker in offers[0..n) can run requires: a word none of
 * them offers, else that no one offers all. */
static void offers_explain(char *const *offers, size_t n, const char *requires, char *why,
                           size_t whylen)
{
    char missing[ROUTING_WORD_MAX];
    if (n == 0) {
        snprintf(why, whylen, "no live worker that is not draining");
        return;
    }
    for (const char *word = requires + strspn(requires, " "); *word != '\0';
         word += strspn(word, " ")) {
        size_t len = strcspn(word, " ");
        char one[ROUTING_WORD_MAX];
        snprintf(one, sizeof(one), "%.*s", (int)len, word);
        size_t lacking = 0;
        while (lacking < n &&
               routing_offers_missing(offers[lacking], one, missing, sizeof(missing)))
            lacking++;
        if (lacking == n) {
            snprintf(why, whylen, "no live worker offers %s", one);
            return;
        }
        word += len;
    }
    snprintf(why, whylen, "no live worker offers all of %s", requires);
}

int offers_can_run(const Ffpool__Reply *reply, const char *requires, char *why, size_t whylen)
{
    char missing[ROUTING_WORD_MAX];
    char **offers = calloc(reply->n_workers + 1, sizeof(*offers));
    size_t n = 0;
    int result = 0;
    if (offers == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (size_t w = 0; w < reply->n_workers && result == 0; w++) {
        if (reply->workers[w] == NULL || reply->workers[w]->draining)
            continue;
        const Ffpool__Capabilities *caps = offers_worker_caps(reply, w);
        if (caps == NULL)
            continue;
        if ((offers[n] = offers_words(caps)) == NULL) {
            snprintf(why, whylen, "cannot read worker %s's capabilities", reply->workers[w]->id);
            result = -1;
        } else if (!routing_offers_missing(offers[n++], requires, missing, sizeof(missing))) {
            result = 1;
        }
    }
    if (result == 0)
        offers_explain(offers, n, requires, why, whylen);
    for (size_t i = 0; i < n; i++)
        free(offers[i]);
    free(offers);
    return result;
}
