/* ctl.c -- ffpoolctl: an operator's client of the job API.
 *
 * Speaks only the public API (wire.h), exactly as any other client would;
 * it never reads Redis itself. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "program.h"
#include "wire.h"

static const char usage[] =
    "Usage: ffpoolctl [--config FILE] [--json] [--watch] COMMAND [ARGS]\n\n"
    "Commands:\n"
    "  jobs         the newest jobs: state, owner, epoch, last segment, progress\n"
    "  workers      live workers: slots, running jobs, draining, libav, devices\n"
    "  job ID       show one job (state, owner, epoch, last segment, progress)\n"
    "  cancel ID    cancel a job\n"
    "  pause ID     pause a job\n"
    "  resume ID    resume a paused job\n"
    "  attach ID    show an existing job (never creates one)\n"
    "  attach-key KEY  the same, found by the job_key its Submit used\n"
    "  drain WORKER ask a worker to hand its jobs back at once and exit\n"
    "  follow ID    print the job each time its progress moves (Watch long poll),\n"
    "               until it ends; exits 0 if it is done, 1 otherwise\n\n"
    "--watch refreshes the output every second until interrupted.\n"
    "A tls+tcp:// scheduler.url needs api.tls_ca.\n";

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

static const char *job_state_name(Ffpool__JobState state);

static void print_job(const Ffpool__JobStatus *job, int json)
{
    const char *state = job_state_name(job->state);
    if (json) {
        printf("{\"id\":\"%s\",\"state\":\"%s\",\"owner\":\"%s\",\"epoch\":%lld,"
               "\"checkpoint\":%d,\"start_number\":%d,\"attempts\":%d,\"leases_lost\":%d,"
               "\"takeovers\":%d,"
               "\"frames\":%lld,\"out_time_us\":%lld,\"bytes\":%lld,\"speed\":%.3f,"
               "\"paused\":%s,\"error\":",
               job->job_id, state, job->owner, (long long)job->epoch, job->checkpoint,
               job->start_number, job->attempts, job->leases_lost, job->takeovers,
               (long long)job->frames, (long long)job->out_time_us, (long long)job->bytes,
               job->speed, job->paused ? "true" : "false");
        print_json_string(job->error);
        printf(",\"waiting\":");
        print_json_string(job->waiting);
        printf(",\"requires\":");
        print_json_string(job->requires);
        printf(",\"duration_us\":%lld}", (long long)job->duration_us);
        return;
    }
    printf("job         %s\nstate       %s%s\nowner       %s\nepoch       %lld\n"
           "last segment %d (first %d)\nattempts    %d\nleases lost %d\ntakeovers   %d\n"
           "progress    %lld frames, %.2f s, %lld bytes, %.2fx\n",
           job->job_id, state, job->paused ? " (paused)" : "", job->owner[0] ? job->owner : "-",
           (long long)job->epoch, job->checkpoint, job->start_number, job->attempts,
           job->leases_lost, job->takeovers, (long long)job->frames, (double)job->out_time_us / 1e6,
           (long long)job->bytes, job->speed);
    if (job->requires[0] != '\0')
        printf("requires    %s\n", job->requires);
    if (job->waiting[0] != '\0')
        printf("waiting     %s\n", job->waiting);
    if (job->error[0] != '\0')
        printf("error       %s\n", job->error);
}

static const char *job_state_name(Ffpool__JobState state)
{
    return (unsigned)state < 5 ? state_names[state] : "unknown";
}

/* A 20-character bar of out_time over duration, or spaces if unknown. */
static void progress_bar(const Ffpool__JobStatus *job, char out[32])
{
    double fraction = job->state == FFPOOL__JOB_STATE__DONE ? 1.0
                      : job->duration_us > 0 ? (double)job->out_time_us / (double)job->duration_us
                                             : -1.0;
    if (fraction < 0) {
        snprintf(out, 32, "[%20s]   ?%%", "");
        return;
    }
    if (fraction > 1)
        fraction = 1;
    int filled = (int)(fraction * 20 + 0.5);
    char bar[21];
    for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    snprintf(out, 32, "[%s] %3d%%", bar, (int)(fraction * 100 + 0.5));
}

static void print_jobs(const Ffpool__Reply *reply, int json)
{
    if (json) {
        printf("[");
        for (size_t i = 0; i < reply->n_jobs; i++) {
            if (i)
                printf(",");
            print_job(reply->jobs[i], 1);
        }
        printf("]\n");
        return;
    }
    printf("%-10s %-9s %-16s %5s %6s %-27s %6s\n", "JOB", "STATE", "OWNER", "EPOCH", "LAST",
           "PROGRESS", "SPEED");
    for (size_t i = 0; i < reply->n_jobs; i++) {
        const Ffpool__JobStatus *job = reply->jobs[i];
        char bar[32];
        progress_bar(job, bar);
        printf("%-10s %-9s %-16s %5lld %6d %-27s %5.2fx%s%s%s\n", job->job_id,
               job_state_name(job->state), job->owner[0] ? job->owner : "-", (long long)job->epoch,
               job->checkpoint, bar, job->speed, job->paused ? " paused" : "",
               job->waiting[0] ? " waiting: " : "", job->waiting);
    }
}

/* The device types caps lists, comma-separated ("-" when none). */
static void devices_text(const Ffpool__Capabilities *caps, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; caps != NULL && i < caps->n_devices && used + 1 < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? "," : "", caps->devices[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (out[0] == '\0')
        snprintf(out, outlen, "-");
}

static void print_workers(const Ffpool__Reply *reply, int json)
{
    if (!json)
        printf("%-24s %5s %7s %8s %-18s %s\n", "WORKER", "SLOTS", "RUNNING", "DRAINING", "LIBAV",
               "DEVICES");
    else
        printf("[");
    for (size_t i = 0; i < reply->n_workers; i++) {
        const Ffpool__WorkerInfo *w = reply->workers[i];
        const Ffpool__Capabilities *caps = w->capabilities;
        for (size_t j = 0; caps == NULL && j < i && w->same_capabilities_as != NULL; j++)
            if (strcmp(reply->workers[j]->id, w->same_capabilities_as) == 0)
                caps = reply->workers[j]->capabilities;
        const char *libav = caps != NULL ? caps->av_version : "";
        char devices[512];
        devices_text(caps, devices, sizeof(devices));
        if (json) {
            printf("%s{\"id\":\"%s\",\"slots\":%d,\"running\":%d,\"draining\":%s,"
                   "\"updated_ms\":%lld,\"devices\":[",
                   i ? "," : "", w->id, w->slots, w->running, w->draining ? "true" : "false",
                   (long long)w->updated_ms);
            for (size_t d = 0; caps != NULL && d < caps->n_devices; d++) {
                printf("%s", d ? "," : "");
                print_json_string(caps->devices[d]);
            }
            printf("]}");
        } else {
            printf("%-24s %5d %7d %8s %-18s %s\n", w->id, w->slots, w->running,
                   w->draining ? "yes" : "no", libav, devices);
        }
    }
    if (json)
        printf("]\n");
}

/* `follow ID`: long polls until the job ends, carrying on through another
 * scheduler when one goes away (the client fails over; we retry errors for
 * as long as the client heartbeat would keep the job alive). */
static int ctl_follow(struct wire_client *client, const char *id, int json,
                      const struct ffpool_config *config)
{
    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__WatchRequest watch = FFPOOL__WATCH_REQUEST__INIT;
    watch.job_id = (char *)id;
    watch.progress_version = -1;
    watch.timeout_ms = 10000;
    request.body_case = FFPOOL__REQUEST__BODY_WATCH;
    request.watch = &watch;
    long long patience =
        config->lease_heartbeat_ttl_ms > 0 ? config->lease_heartbeat_ttl_ms : 30000;
    long long last_contact = program_monotonic_ms();
    int last_state = -1;
    for (;;) {
        char err[512];
        Ffpool__Reply *reply = NULL;
        if (wire_client_call_long(client, &request, watch.timeout_ms, &reply, err, sizeof(err)) !=
                0 ||
            reply->code == FFPOOL__ERROR_CODE__ERROR_UNAVAILABLE) {
            fprintf(stderr, "ffpoolctl: %s (retrying)\n", reply ? reply->message : err);
            if (reply != NULL)
                ffpool__reply__free_unpacked(reply, NULL);
            if (program_monotonic_ms() - last_contact > patience) {
                fprintf(stderr, "ffpoolctl: no scheduler answered for %lld ms\n", patience);
                return 1;
            }
            usleep(200000);
            continue;
        }
        last_contact = program_monotonic_ms();
        if (reply->code != FFPOOL__ERROR_CODE__OK || reply->job == NULL) {
            fprintf(stderr, "ffpoolctl: %s: %s\n", wire_error_name(reply->code), reply->message);
            ffpool__reply__free_unpacked(reply, NULL);
            return 1;
        }
        const Ffpool__JobStatus *job = reply->job;
        if (job->progress_version != watch.progress_version || (int)job->state != last_state) {
            if (json) {
                print_job(job, 1);
                printf("\n");
            } else {
                printf("%s %s segment %d, %lld frames, %.2f s, %.2fx\n", job->job_id,
                       job_state_name(job->state), job->checkpoint, (long long)job->frames,
                       (double)job->out_time_us / 1e6, job->speed);
            }
            fflush(stdout);
        }
        watch.progress_version = job->progress_version;
        int state = job->state;
        last_state = state;
        ffpool__reply__free_unpacked(reply, NULL);
        if (state == FFPOOL__JOB_STATE__DONE)
            return 0;
        if (state == FFPOOL__JOB_STATE__FAILED || state == FFPOOL__JOB_STATE__CANCELLED)
            return 1;
    }
}

int main(int argc, char **argv)
{
    struct ffpool_config config;
    int i = program_start(argc, argv, "ffpoolctl", usage, &config);
    int json = 0, watch = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--watch") == 0) {
            watch = 1;
        } else {
            fprintf(stderr, "ffpoolctl: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    const char *command = argv[i];
    int listing = strcmp(command, "jobs") == 0 || strcmp(command, "workers") == 0;
    if (argc - i != (listing ? 1 : 2)) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    const char *id = listing ? "" : argv[i + 1];

    Ffpool__Request request = FFPOOL__REQUEST__INIT;
    Ffpool__JobRef ref = FFPOOL__JOB_REF__INIT;
    Ffpool__StatusRequest status = FFPOOL__STATUS_REQUEST__INIT;
    Ffpool__ListJobsRequest list_jobs = FFPOOL__LIST_JOBS_REQUEST__INIT;
    Ffpool__Empty empty = FFPOOL__EMPTY__INIT;
    Ffpool__AttachRequest attach = FFPOOL__ATTACH_REQUEST__INIT;
    Ffpool__DrainWorkerRequest drain = FFPOOL__DRAIN_WORKER_REQUEST__INIT;
    int no_job = 0; /* commands whose reply carries no job */
    attach.job_id = (char *)id;
    drain.worker_id = (char *)id;
    ref.job_id = (char *)id;
    status.job_id = (char *)id;
    if (strcmp(command, "jobs") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_LIST_JOBS;
        request.list_jobs = &list_jobs;
    } else if (strcmp(command, "workers") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_LIST_WORKERS;
        request.list_workers = &empty;
    } else if (strcmp(command, "job") == 0) {
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
    } else if (strcmp(command, "attach") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_ATTACH;
        request.attach = &attach;
    } else if (strcmp(command, "attach-key") == 0) {
        attach.job_id = "";
        attach.job_key = (char *)id;
        request.body_case = FFPOOL__REQUEST__BODY_ATTACH;
        request.attach = &attach;
    } else if (strcmp(command, "drain") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_DRAIN_WORKER;
        request.drain_worker = &drain;
        no_job = 1;
    } else if (strcmp(command, "follow") == 0) {
        request.body_case = FFPOOL__REQUEST__BODY_WATCH; /* built by ctl_follow */
    } else {
        fprintf(stderr, "ffpoolctl: unknown command %s\n%s", command, usage);
        return 2;
    }

    char err[512];
    struct wire_client *client = program_client_open(&config, 0, err, sizeof(err));
    if (client == NULL) {
        fprintf(stderr, "ffpoolctl: %s\n", err);
        return 1;
    }
    if (request.body_case == FFPOOL__REQUEST__BODY_WATCH) {
        int status = ctl_follow(client, id, json, &config);
        wire_client_close(client);
        return status;
    }
    int result;
    do {
        Ffpool__Reply *reply = NULL;
        result = 1;
        if (wire_client_call(client, &request, &reply, err, sizeof(err)) != 0) {
            fprintf(stderr, "ffpoolctl: %s\n", err);
        } else if (reply->code != FFPOOL__ERROR_CODE__OK ||
                   (!listing && !no_job && reply->job == NULL)) {
            fprintf(stderr, "ffpoolctl: %s: %s\n", wire_error_name(reply->code), reply->message);
        } else {
            if (watch && !json)
                printf("\033[H\033[2J"); /* clear the terminal between refreshes */
            if (strcmp(command, "jobs") == 0)
                print_jobs(reply, json);
            else if (strcmp(command, "workers") == 0)
                print_workers(reply, json);
            else if (no_job)
                printf(json ? "{\"ok\":true}"
                            : "drain requested for %s: it hands its jobs back "
                              "and exits within a few seconds\n",
                       id);
            else
                print_job(reply->job, json);
            if (json && !listing)
                printf("\n");
            fflush(stdout);
            result = 0;
        }
        if (reply != NULL)
            ffpool__reply__free_unpacked(reply, NULL);
        if (watch)
            sleep(1);
    } while (watch);
    wire_client_close(client);
    return result;
}
