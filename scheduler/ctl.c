/* ctl.c -- ffpoolctl: an operator's client of the job API.
 *
 * Speaks only the public API (wire.h), exactly as any other client would;
 * it never reads Redis itself. */
#include <stdio.h>
#include <string.h>

#include "program.h"
#include "wire.h"

static const char usage[] =
    "Usage: ffpoolctl [--config FILE] [--json] COMMAND [ARGS]\n\n"
    "Commands:\n"
    "  job ID       show one job (state, owner, epoch, last segment, progress)\n"
    "  cancel ID    cancel a job\n"
    "  pause ID     pause a job\n"
    "  resume ID    resume a paused job\n";

static const char *const state_names[] = {"queued", "running", "done", "failed", "cancelled"};

/* Prints s as a JSON string literal. */
static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_job(const Ffpool__JobStatus *job, int json)
{
    const char *state = (unsigned)job->state < 5 ? state_names[job->state] : "unknown";
    if (json) {
        printf("{\"id\":\"%s\",\"state\":\"%s\",\"owner\":\"%s\",\"epoch\":%lld,"
               "\"checkpoint\":%d,\"start_number\":%d,\"attempts\":%d,\"takeovers\":%d,"
               "\"frames\":%lld,\"out_time_us\":%lld,\"bytes\":%lld,\"speed\":%.3f,"
               "\"paused\":%s,\"error\":",
               job->job_id, state, job->owner, (long long)job->epoch, job->checkpoint,
               job->start_number, job->attempts, job->takeovers, (long long)job->frames,
               (long long)job->out_time_us, (long long)job->bytes, job->speed,
               job->paused ? "true" : "false");
        print_json_string(job->error);
        printf("}\n");
        return;
    }
    printf("job         %s\nstate       %s%s\nowner       %s\nepoch       %lld\n"
           "last segment %d (first %d)\nattempts    %d\ntakeovers   %d\n"
           "progress    %lld frames, %.2f s, %lld bytes, %.2fx\n",
           job->job_id, state, job->paused ? " (paused)" : "", job->owner[0] ? job->owner : "-",
           (long long)job->epoch, job->checkpoint, job->start_number, job->attempts,
           job->takeovers, (long long)job->frames, (double)job->out_time_us / 1e6,
           (long long)job->bytes, job->speed);
    if (job->error[0] != '\0')
        printf("error       %s\n", job->error);
}

int main(int argc, char **argv)
{
    struct ffpool_config config;
    int i = program_start(argc, argv, "ffpoolctl", usage, &config);
    int json = 0;
    if (i < argc && strcmp(argv[i], "--json") == 0) {
        json = 1;
        i++;
    }
    if (argc - i != 2) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    const char *command = argv[i];
    const char *id = argv[i + 1];

    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__JobRef ref = FFPOOL__JOB_REF__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    ref.job_id = (char *)id;
    status.job_id = (char *)id;
    if (strcmp(command, "job") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_STATUS;
        request.status = &status;
    } else if (strcmp(command, "cancel") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_CANCEL;
        request.cancel = &ref;
    } else if (strcmp(command, "pause") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_PAUSE;
        request.pause = &ref;
    } else if (strcmp(command, "resume") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_RESUME;
        request.resume = &ref;
    } else {
        fprintf(stderr, "ffpoolctl: unknown command %s\n%s", command, usage);
        return 2;
    }

    char err[512];
    struct wire_client *client = wire_client_open(config.scheduler_url, config.api_token,
                                                  (int)config.scheduler_timeout_ms, err,
                                                  sizeof(err));
    if (client == NULL) {
        fprintf(stderr, "ffpoolctl: %s\n", err);
        return 1;
    }
    Ffpool__Reply *reply = NULL;
    int result = 1;
    if (wire_client_call(client, &request, &reply, err, sizeof(err)) != 0) {
        fprintf(stderr, "ffpoolctl: %s\n", err);
    } else if (reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
        fprintf(stderr, "ffpoolctl: %s: %s\n", wire_error_name(reply->code), reply->message);
    } else {
        print_job(reply->job, json);
        result = 0;
    }
    if (reply != NULL)
        ffpool__reply__free_unpacked(reply, NULL);
    wire_client_close(client);
    return result;
}
