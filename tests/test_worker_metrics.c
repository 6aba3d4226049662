/* test_worker_metrics.c -- the event lines a job process sends its worker
 * (worker/worker_metrics.c) and the job process's command line
 * (worker/job_process.c): events sent on a real pipe move the worker's
 * metrics, unknown lines are refused, a full pipe never blocks the job, and
 * the command line carries the worker's options and the claim. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "job_process.h"
#include "metrics.h"
#include "worker_metrics.h"

/* Reads every line from fd (non-blocking, already written) and applies it.
 * Returns how many lines were applied. */
static int apply_all(struct worker_metrics *m, int fd, const char *job_id)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    cr_assert(n > 0);
    buf[n] = '\0';
    int applied = 0;
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (worker_event_apply(m, job_id, line) == 0)
            applied++;
    return applied;
}

Test(worker_metrics, events_from_a_job_process_move_the_worker_metrics)
{
    struct metrics *registry = metrics_create();
    struct worker_metrics m;
    worker_metrics_init(&m, registry);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);

    worker_event_send(fds[1], WORKER_EVENT_SEGMENT, 1);
    worker_event_send(fds[1], WORKER_EVENT_SEGMENT, 1);
    worker_event_send(fds[1], WORKER_EVENT_LEASE_LOST, 1);
    worker_event_send(fds[1], WORKER_EVENT_SPEED, 2.5);
    worker_event_send(fds[1], WORKER_EVENT_PROGRESS, 0);
    cr_assert_eq(apply_all(&m, fds[0], "j7"), 5);

    size_t len = 0;
    char *text = metrics_render(registry, &len);
    cr_assert_not_null(text);
    cr_assert_not_null(strstr(text, "\nffpool_segments_total 2\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nffpool_leases_lost_total 1\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nffpool_job_encode_speed{job=\"j7\"} 2.5\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nffpool_job_process_crashes_total 0\n"), "%s", text);
    free(text);
    close(fds[0]);
    close(fds[1]);
    metrics_destroy(registry);
}

Test(worker_metrics, unknown_or_malformed_lines_are_refused)
{
    struct worker_metrics m;
    worker_metrics_init(&m, NULL);
    cr_assert_eq(worker_event_apply(&m, "j1", "segments 1"), -1);
    cr_assert_eq(worker_event_apply(&m, "j1", "segment"), -1);
    cr_assert_eq(worker_event_apply(&m, "j1", ""), -1);
    cr_assert_eq(worker_event_apply(&m, "j1", "segment 1"), 0);
}

Test(worker_metrics, a_full_pipe_drops_events_and_never_blocks_the_job)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    /* Far more than a pipe holds: a stuck worker must not stall its job. */
    for (int i = 0; i < 20000; i++)
        worker_event_send(fds[1], WORKER_EVENT_PROGRESS, 0);
    /* What is in the pipe is whole lines only: a line that did not fit was
     * dropped, never cut. */
    int queued = 0;
    cr_assert_eq(ioctl(fds[0], FIONREAD, &queued), 0);
    int line_len = (int)strlen("progress 0.000\n");
    cr_assert_gt(queued, 60000, "the pipe was filled (%d bytes)", queued);
    cr_assert_eq(queued % line_len, 0, "%d bytes queued: a partial line", queued);
    worker_event_send(-1, WORKER_EVENT_SEGMENT, 1); /* no pipe at all: ignored */
    close(fds[0]);
    close(fds[1]);
}

Test(job_process, command_line_carries_the_claim)
{
    struct queue_claim claim = {.id = "j42", .epoch = 3, .checkpoint = 6, .takeover = 1};
    struct job_process_argv args = {0};
    job_process_argv_build(&args, "/usr/bin/ffpool-worker", "worker-a", &claim, 123456789LL);
    const char *expected[] = {
        "/usr/bin/ffpool-worker", JOB_PROCESS_FLAG, "j42", "worker-a", "3", "6", "1", "123456789"};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        cr_assert_str_eq(args.argv[i], expected[i]);
    cr_assert_null(args.argv[sizeof(expected) / sizeof(expected[0])]);
}

Test(job_process, refuses_to_run_without_its_arguments)
{
    struct ffpool_config config;
    config_defaults(&config);
    char *argv[] = {"j1", "w"};
    cr_assert_eq(job_process_main(&config, 2, argv), JOB_PROCESS_EXIT_USAGE);
}
