/* queue_claim.c -- claiming a job (see queue.h): the claim script's
 * arguments and answer, and the claim token that makes a claim whose reply
 * was lost safe to send again.
 *
 * A claim runs the whole transition in one script (proto/lua/claim.lua):
 * the most urgent job this worker can run becomes RUNNING under it with a
 * new epoch. If the reply is lost (a Redis stall longer than the call's
 * time-out, a dropped connection), the job would stay RUNNING under this
 * owner with nobody working on it until the lease lapses: a phantom lease.
 * So the worker sends a random token with each claim and the same token
 * again when it retries one that got no answer; the script records the
 * owner's last claim (token, id, epoch) and answers a repeated token with
 * the claim it already made. */
#include "queue_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_CLAIM_ROUNDS 8 /* claim scripts that may answer AGAIN in a row */

/* Fills *claim from an OK answer of the claim script. */
static int queue_claim_parse(struct queue *queue, const redisReply *reply,
                             struct queue_claim *claim)
{
    if (reply->elements < 6 || reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[1]->len >= QUEUE_ID_MAX || reply->element[5]->type != REDIS_REPLY_STRING)
        goto malformed;
    int64_t takeover = 0;
    if (queue_reply_int64(reply->element[2], &claim->epoch) != 0 ||
        queue_reply_int(reply->element[3], &claim->checkpoint) != 0 ||
        queue_reply_int64(reply->element[4], &takeover) != 0)
        goto malformed;
    const redisReply *spec = reply->element[5];
    claim->spec = malloc(spec->len + 1);
    if (claim->spec == NULL) {
        queue_set_error(queue, "out of memory for a %zu-byte job spec", spec->len);
        return QUEUE_ERROR;
    }
    memcpy(claim->spec, spec->str, spec->len);
    claim->spec[spec->len] = '\0';
    claim->spec_len = spec->len;
    queue_copy_text(claim->id, sizeof(claim->id), reply->element[1]->str, reply->element[1]->len);
    claim->takeover = takeover != 0;
    return QUEUE_OK;
malformed:
    queue_set_error(queue, "malformed answer from the claim script");
    return QUEUE_ERROR;
}

int queue_claim(struct queue *queue, const char *owner, struct queue_claim *claim)
{
    return queue_claim_with_token(queue, owner, NULL, claim);
}

int queue_claim_with_token(struct queue *queue, const char *owner, const char *token,
                           struct queue_claim *claim)
{
    memset(claim, 0, sizeof(*claim));
    if (owner == NULL || owner[0] == '\0' || strlen(owner) >= QUEUE_OWNER_MAX) {
        queue_set_error(queue, "invalid owner");
        return QUEUE_ERROR;
    }
    if (token == NULL)
        token = "";
    if (strlen(token) >= QUEUE_CLAIM_TOKEN_MAX) {
        queue_set_error(queue, "claim token longer than %d bytes", QUEUE_CLAIM_TOKEN_MAX - 1);
        return QUEUE_ERROR;
    }
    for (int round = 0; round < QUEUE_CLAIM_ROUNDS; round++) {
        struct queue_args args;
        queue_args_init(&args);
        queue_args_text(&args, owner);
        queue_args_int(&args, queue->config.lease_ttl_ms);
        queue_args_int(&args, queue->config.retention_ms);
        queue_args_int(&args, queue->config.unroutable_timeout_ms);
        queue_args_int(&args, queue->config.max_lost_leases);
        queue_args_text(&args, token);
        redisReply *reply = queue_script_run(queue, QUEUE_SCRIPT_CLAIM, &args);
        if (reply == NULL)
            return QUEUE_ERROR;
        int status = queue_script_status(queue, reply, QUEUE_SCRIPT_CLAIM);
        if (status == QUEUE_OK)
            status = queue_claim_parse(queue, reply, claim);
        /* A claim a fail-over may still lose is not acted on: the caller
         * retries with the same token, which answers with this claim. */
        if (status == QUEUE_OK && queue_replicated(queue, "claim") != 0) {
            freeReplyObject(reply);
            queue_claim_clear(claim);
            return QUEUE_ERROR;
        }
        if (status == QUEUE_EMPTY) {
            claim->next_due_ms = -1;
            if (reply->elements >= 2 &&
                queue_reply_int64(reply->element[1], &claim->next_due_ms) != 0)
                claim->next_due_ms = -1;
        }
        freeReplyObject(reply);
        if (status == QUEUE_OK || status == QUEUE_EMPTY)
            queue->failures = 0;
        if (status != QUEUE_AGAIN)
            return status;
    }
    queue_set_error(queue, "claim: still cleaning up dead queue entries; try again");
    return QUEUE_EMPTY;
}

void queue_claim_clear(struct queue_claim *claim)
{
    if (claim == NULL)
        return;
    free(claim->spec);
    memset(claim, 0, sizeof(*claim));
}

void queue_claim_token_new(char token[QUEUE_CLAIM_TOKEN_MAX])
{
    queue_random_hex(token, 16); /* 32 hex digits */
}
