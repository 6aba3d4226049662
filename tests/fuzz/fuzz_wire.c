/* fuzz_wire.c -- libFuzzer target for the server side of one API exchange:
 * arbitrary bytes go through wire_message_handle() (decode, version, token,
 * dispatch) into a handler that runs the scheduler's own Submit checks
 * (service_submit_check: spec unpack, validation, confinement) and answers
 * everything else. Every input must produce a Reply that decodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "job_spec.h"
#include "service.h"
#include "wire.h"

static struct ffpool_config config;

static void fuzz_handler(void *state, const Ffpool__Request *request, Ffpool__Reply *reply)
{
    static char message[1200];
    static struct job_spec spec;
    (void)state;
    if (request->body_case != FFPOOL__REQUEST__BODY_SUBMIT) {
        reply->message = "not served by the fuzz handler";
        return;
    }
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    reply->code = service_submit_check(&config, request->submit, &spec, &packed, &packed_len,
                                       message, sizeof(message));
    reply->message = reply->code == FFPOOL__ERROR_CODE__OK ? "" : message;
    free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        config_defaults(&config);
        /* Confinement on, against folders every machine has. */
        snprintf(config.paths_media_roots, sizeof(config.paths_media_roots), "/usr/share,/tmp");
        snprintf(config.paths_transcode_root, sizeof(config.paths_transcode_root), "/tmp");
        ready = 1;
    }
    /* The first byte picks whether a token is required, so that both the
     * refusal and the dispatch paths are reached. */
    const char *token = size > 0 && (data[0] & 1) ? "fuzz-token" : "";
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (wire_message_handle(token, data, size, fuzz_handler, NULL, &out, &out_len) != 0)
        abort();
    Ffpool__Reply *reply = ffpool__reply__unpack(NULL, out_len, out);
    if (reply == NULL || reply->version != WIRE_API_VERSION)
        abort(); /* every input must get a decodable Reply */
    if (reply->code != FFPOOL__ERROR_CODE__OK && reply->message[0] == '\0')
        abort(); /* every error says why */
    ffpool__reply__free_unpacked(reply, NULL);
    free(out);
    return 0;
}
