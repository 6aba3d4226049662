/* fuzz_job_spec.c -- libFuzzer target for the job-spec decoder and
 * validator: arbitrary bytes as a packed ffpool.JobSpec through
 * job_spec_unpack() and job_spec_validate(). A spec that passes must
 * survive a pack/unpack round trip unchanged, must give a segment path for
 * its first index (HLS), and goes through the confinement check and the
 * routing words the scheduler derives from it at Submit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "confine.h"
#include "job_spec.h"
#include "routing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct job_spec spec, again;
    char err[1024];
    if (job_spec_unpack(data, size, &spec, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort(); /* a refusal always says why */
        return 0;
    }
    if (job_spec_validate(&spec, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    size_t len = 0;
    uint8_t *packed = job_spec_pack(&spec, &len);
    if (packed == NULL)
        abort();
    if (job_spec_unpack(packed, len, &again, err, sizeof(err)) != 0 ||
        memcmp(&spec, &again, sizeof(spec)) != 0)
        abort(); /* a valid spec round-trips exactly */
    free(packed);
    if (spec.output_kind == JOB_OUTPUT_HLS) {
        char path[JOB_SPEC_PATH_MAX];
        if (job_spec_segment_path(&spec, spec.start_number, path, sizeof(path)) != 0)
            abort(); /* validate promised a usable pattern */
    }
    (void)confine_job_check(&spec, "/usr/share,/tmp", "/tmp", err, sizeof(err));
    char words[JOB_SPEC_REQUIRES_MAX];
    if (routing_job_requires(&spec, words, sizeof(words), err, sizeof(err)) == 0) {
        if (routing_words_check(words, err, sizeof(err)) != 0)
            abort(); /* what the scheduler derives, claims must be able to read */
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
