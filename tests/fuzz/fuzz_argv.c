/* fuzz_argv.c -- libFuzzer target for the shim's command-line parser: the
 * bytes are one Jellyfin argument string, split with argv_split() (.NET
 * rules) and parsed with argv_parse_job(). Every decision must come with a
 * reason, and a native job must be one the scheduler accepts (it passes
 * job_spec_validate), so the shim never submits a job it knows is bad. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "job_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct job_spec spec;
    char *line = malloc(size + 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0'; /* a NUL inside ends the line, as in a C string */
    int argc = 0;
    char **argv = NULL;
    if (argv_split(line, &argc, &argv) != 0)
        abort();
    char reason[512];
    reason[0] = '\0';
    enum argv_decision decision = argv_parse_job(argc, argv, &spec, reason, sizeof(reason));
    if (reason[0] == '\0')
        abort();
    if (decision == ARGV_NATIVE) {
        char err[512];
        if (job_spec_validate(&spec, err, sizeof(err)) != 0)
            abort(); /* the parser called it native, the scheduler would refuse it */
        char key[33];
        argv_job_key(argc, argv, key);
        if (strlen(key) != 32)
            abort();
    }
    argv_free(argv);
    free(line);
    return 0;
}
