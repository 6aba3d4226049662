/* supervisor.c -- starts, watches and reaps the worker's job processes; see
 * supervisor.h for what happens when one ends badly and why that is safe.
 *
 * The memory ceiling is enforced by polling each child's anonymous resident
 * memory (RssAnon in /proc/PID/status) on every pass, not with setrlimit(RLIMIT_AS):
 * RLIMIT_AS counts address space, not memory, and a healthy transcode
 * reserves far more of that than it uses (an 8 MB stack per libx264 and
 * libav thread, 64 MB malloc arenas per thread), so a limit low enough to
 * matter would fail healthy jobs with ENOMEM somewhere inside libav. The
 * price of polling is overshoot: a child can pass the ceiling by what it
 * allocates between two passes (a pass comes at least every
 * worker.scan_interval_ms, 500 ms by default, while Redis answers). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delivery.h"
#include "job_process.h"
#include "log.h"
#include "program.h"

/* The running binary itself: opened once at start and executed through
 * that descriptor (fexecve), so a job process always runs its worker's
 * version even if the file was replaced or removed since (a package
 * upgrade). (Also what valgrind --trace-children follows: an execve of the
 * path /proc/self/exe under valgrind would name valgrind's own tool.) The
 * descriptor sits at SUPERVISOR_EXE_FD_MIN or above, clear of the numbers a
 * child's standard streams and report pipe take. */
#define SUPERVISOR_SELF_EXE "/proc/self/exe"
#define SUPERVISOR_EXE_FD_MIN 10

/* A pipe holds 64 KB unless asked for more. */
#define SUPERVISOR_PIPE_DEFAULT_SIZE 65536
/* No claims for this long after a job process could not be started. */
#define SUPERVISOR_BACKOFF_MS 5000
/* How long a dead child's fail or release is retried while Redis does not
 * answer (the worker's loop waits meanwhile): about a lease, after which
 * the next claim counts the lapsed lease anyway. */
#define SUPERVISOR_FINISH_RETRY_MS 3000

enum child_kill {
    CHILD_NOT_KILLED = 0,
    CHILD_KILLED_WATCHDOG,
    CHILD_KILLED_MEMORY,
    CHILD_KILLED_DRAIN, /* did not hand its job back within the drain grace */
    /* This worker claimed the child's job again: Redis lost the child's
     * claim (a failover) and may even have handed out the same epoch. */
    CHILD_KILLED_SUPERSEDED,
};

/* One job process. pid 0 marks a free slot. */
struct child {
    pid_t pid;
    int report_fd; /* read end of its report pipe; -1 after end of file */
    char id[QUEUE_ID_MAX];
    int64_t epoch;
    long long started_ms;
    long long last_progress_ms;
    int draining; /* sent SIGTERM: hand the job back */
    enum child_kill killed;
    char kill_reason[QUEUE_ERROR_MAX];
    char line[128]; /* a partly read event line */
    size_t line_len;
};

struct supervisor {
    const struct ffpool_config *config;
    int exe_fd;                 /* SUPERVISOR_SELF_EXE, close-on-exec */
    char **envp;                /* the worker's configuration as FFPOOL_* variables */
    long long backoff_until_ms; /* no claims before this (a start failed) */
    struct worker_metrics *metrics;
    char owner[QUEUE_OWNER_MAX];
    char *program;
    int n_slots;
    struct child *children;
    struct pollfd *pollfds;
    struct child **polled; /* polled[i] is the child of pollfds[i] */
};

struct supervisor *supervisor_create(const struct ffpool_config *config,
                                     struct worker_metrics *metrics, const char *owner, int n_slots,
                                     char *program)
{
    struct supervisor *sup = calloc(1, sizeof(*sup));
    if (sup == NULL)
        return NULL;
    sup->exe_fd = -1;
    sup->children = calloc((size_t)n_slots, sizeof(*sup->children));
    sup->pollfds = calloc((size_t)n_slots, sizeof(*sup->pollfds));
    sup->polled = calloc((size_t)n_slots, sizeof(*sup->polled));
    /* A job process sees the configuration this worker resolved, never a
     * file that may have changed since (a ConfigMap edited in place): what
     * it was claimed under (lease.ttl_ms above all) is what it runs under,
     * and a broken edit cannot fail every job it touches. */
    sup->envp = config_environment(config, environ);
    /* Reaping is this file's job; SIG_IGN inherited from a parent would
     * make the kernel reap children behind its back. */
    signal(SIGCHLD, SIG_DFL);
    int opened = open(SUPERVISOR_SELF_EXE, O_RDONLY | O_CLOEXEC);
    sup->exe_fd = opened < 0 ? -1 : fcntl(opened, F_DUPFD_CLOEXEC, SUPERVISOR_EXE_FD_MIN);
    if (opened >= 0)
        close(opened);
    if (sup->children == NULL || sup->pollfds == NULL || sup->polled == NULL || sup->exe_fd < 0 ||
        sup->envp == NULL) {
        supervisor_destroy(sup);
        return NULL;
    }
    for (int i = 0; i < n_slots; i++)
        sup->children[i].report_fd = -1;
    sup->config = config;
    sup->metrics = metrics;
    snprintf(sup->owner, sizeof(sup->owner), "%s", owner);
    sup->program = program;
    sup->n_slots = n_slots;
    return sup;
}

void supervisor_destroy(struct supervisor *sup)
{
    if (sup == NULL)
        return;
    for (int i = 0; sup->children != NULL && i < sup->n_slots; i++)
        if (sup->children[i].report_fd >= 0)
            close(sup->children[i].report_fd);
    if (sup->exe_fd >= 0)
        close(sup->exe_fd);
    config_environment_free(sup->envp);
    free(sup->children);
    free(sup->pollfds);
    free(sup->polled);
    free(sup);
}

/* ---- starting a job process --------------------------------------------- */

void supervisor_back_off(struct supervisor *sup)
{
    sup->backoff_until_ms = program_monotonic_ms() + SUPERVISOR_BACKOFF_MS;
}

int supervisor_backing_off(const struct supervisor *sup)
{
    return program_monotonic_ms() < sup->backoff_until_ms;
}

/* In the child between fork and exec. Another thread of the worker (nng's,
 * the metrics server's) may have held any lock at the fork, so only
 * async-signal-safe calls are made here. Never returns. */
static void supervisor_exec_child(int exe_fd, int spec_fd, int report_fd, pid_t worker, char **argv,
                                  char **envp)
{
    /* Dies with the worker, and never outlives it: a worker that died
     * before this line is not its parent any more. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != worker)
        _exit(JOB_PROCESS_EXIT_EXEC);
    if (dup2(spec_fd, STDIN_FILENO) < 0 || dup2(report_fd, JOB_PROCESS_REPORT_FD) < 0)
        _exit(JOB_PROCESS_EXIT_EXEC);
    /* dup2 onto the same number keeps close-on-exec: clear it. */
    fcntl(STDIN_FILENO, F_SETFD, 0);
    fcntl(JOB_PROCESS_REPORT_FD, F_SETFD, 0);
    /* Nothing else of the worker's (Redis and nng sockets, the metrics
     * listener, other jobs' pipes) goes to the job process; exe_fd is
     * close-on-exec. */
    if (close_range(JOB_PROCESS_REPORT_FD + 1, (unsigned)exe_fd - 1, 0) != 0 ||
        close_range((unsigned)exe_fd + 1, ~0U, 0) != 0)
        for (int fd = JOB_PROCESS_REPORT_FD + 1; fd < 1024; fd++)
            if (fd != exe_fd)
                close(fd);
    fexecve(exe_fd, argv, envp);
    _exit(JOB_PROCESS_EXIT_EXEC);
}

/* Writes the whole spec into the (empty, non-blocking) pipe before the
 * child exists, so the worker never waits on a child to read it. */
static int supervisor_write_spec(int fd, const uint8_t *spec, size_t len, char *err, size_t errlen)
{
    if (len > SUPERVISOR_PIPE_DEFAULT_SIZE && fcntl(fd, F_SETPIPE_SZ, (int)len) < 0) {
        snprintf(err, errlen, "job spec of %zu bytes does not fit in a pipe: %s", len,
                 strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, spec + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot pass the job spec: %s", strerror(errno));
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static void supervisor_supersede(struct supervisor *sup, const char *id);

int supervisor_start(struct supervisor *sup, const struct queue_claim *claim,
                     long long claim_started_ms, char *err, size_t errlen)
{
    supervisor_supersede(sup, claim->id);
    struct child *child = NULL;
    for (int i = 0; i < sup->n_slots && child == NULL; i++)
        if (sup->children[i].pid == 0)
            child = &sup->children[i];
    if (child == NULL) {
        snprintf(err, errlen, "no free slot");
        return -1;
    }
    struct job_process_argv args = {0};
    job_process_argv_build(&args, sup->program, sup->owner, claim, claim_started_ms);

    int result = -1;
    int spec_pipe[2] = {-1, -1}, report_pipe[2] = {-1, -1};
    if (pipe2(spec_pipe, O_CLOEXEC) != 0 || pipe2(report_pipe, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    /* Both ends non-blocking but the child's stdin: the child drops an
     * event rather than wait on a busy worker, the worker reads what is
     * there. */
    fcntl(spec_pipe[1], F_SETFL, O_NONBLOCK);
    fcntl(report_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(report_pipe[1], F_SETFL, O_NONBLOCK);
    if (supervisor_write_spec(spec_pipe[1], claim->spec, claim->spec_len, err, errlen) != 0)
        goto cleanup;
    close(spec_pipe[1]);
    spec_pipe[1] = -1;

    pid_t worker = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto cleanup;
    }
    if (pid == 0)
        supervisor_exec_child(sup->exe_fd, spec_pipe[0], report_pipe[1], worker, args.argv,
                              sup->envp);

    long long now = program_monotonic_ms();
    memset(child, 0, sizeof(*child));
    child->pid = pid;
    child->report_fd = report_pipe[0];
    report_pipe[0] = -1;
    snprintf(child->id, sizeof(child->id), "%s", claim->id);
    child->epoch = claim->epoch;
    child->started_ms = now;
    child->last_progress_ms = now;
    metrics_gauge_add(sup->metrics->jobs_in_progress, 1);
    if (claim->takeover)
        metrics_counter_add(sup->metrics->takeovers, 1);
    log_info("job_process_started", "job=%s epoch=%lld pid=%d", child->id, (long long)child->epoch,
             (int)pid);
    result = 0;

cleanup:
    for (int i = 0; i < 2; i++) {
        if (spec_pipe[i] >= 0)
            close(spec_pipe[i]);
        if (report_pipe[i] >= 0)
            close(report_pipe[i]);
    }
    return result;
}

/* ---- watching ----------------------------------------------------------- */

/* Reads what the child has written and applies each complete line; any
 * data counts as progress. Closes the pipe at end of file. */
static void supervisor_read(struct supervisor *sup, struct child *child)
{
    char buf[4096];
    while (child->report_fd >= 0) {
        ssize_t n = read(child->report_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: nothing more for now */
        if (n == 0) {
            close(child->report_fd);
            child->report_fd = -1;
            return;
        }
        child->last_progress_ms = program_monotonic_ms();
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (child->line_len + 1 < sizeof(child->line))
                    child->line[child->line_len++] = buf[i];
                continue;
            }
            child->line[child->line_len] = '\0';
            worker_event_apply(sup->metrics, child->id, child->line);
            child->line_len = 0;
        }
    }
}

/* Anonymous resident memory of pid in kB (RssAnon: the heap, frames and
 * buffers a job allocates, not shared libraries or mapped files, which the
 * kernel can drop), or -1 if unknown (it has exited). */
static long long supervisor_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof(line), file) != NULL)
        if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
            break;
    fclose(file);
    return kb;
}

static void supervisor_kill(struct child *child, enum child_kill why)
{
    child->killed = why;
    kill(child->pid, SIGKILL);
}

/* The watchdog and the memory ceiling. */
static void supervisor_enforce(struct supervisor *sup, struct child *child, long long now)
{
    if (child->killed != CHILD_NOT_KILLED)
        return;
    long long watchdog_ms = sup->config->worker_job_watchdog_ms;
    if (watchdog_ms > 0 && now - child->last_progress_ms > watchdog_ms) {
        snprintf(child->kill_reason, sizeof(child->kill_reason),
                 "job process killed: no progress for %g s", (double)watchdog_ms / 1000.0);
        supervisor_kill(child, CHILD_KILLED_WATCHDOG);
        return;
    }
    long long limit_mb = sup->config->worker_job_memory_limit_mb;
    long long rss_kb = limit_mb > 0 ? supervisor_rss_kb(child->pid) : -1;
    if (rss_kb > limit_mb * 1024) {
        snprintf(child->kill_reason, sizeof(child->kill_reason),
                 "job process killed: memory above %lld MB (resident %lld MB)", limit_mb,
                 rss_kb / 1024);
        supervisor_kill(child, CHILD_KILLED_MEMORY);
    }
}

/* Why a reaped child ended badly, into reason; "" if it ended its job's run
 * itself (exit status 0). Counts it in the metrics. */
static void supervisor_end_reason(struct supervisor *sup, const struct child *child, int status,
                                  char *reason, size_t reasonlen)
{
    reason[0] = '\0';
    if (child->killed == CHILD_KILLED_WATCHDOG) {
        metrics_counter_add(sup->metrics->job_watchdog_kills, 1);
        snprintf(reason, reasonlen, "%s", child->kill_reason);
    } else if (child->killed == CHILD_KILLED_MEMORY) {
        metrics_counter_add(sup->metrics->job_memory_kills, 1);
        snprintf(reason, reasonlen, "%s", child->kill_reason);
    } else if (child->killed == CHILD_KILLED_DRAIN) {
        snprintf(reason, reasonlen, "job process did not hand its job back in time; killed");
    } else if (child->killed == CHILD_KILLED_SUPERSEDED) {
        snprintf(reason, reasonlen, "job claimed again by this worker; the earlier claim was lost");
    } else if (WIFSIGNALED(status)) {
        metrics_counter_add(sup->metrics->job_crashes, 1);
        const char *name = sigabbrev_np(WTERMSIG(status));
        if (name != NULL)
            snprintf(reason, reasonlen, "job process killed by SIG%s", name);
        else
            snprintf(reason, reasonlen, "job process killed by signal %d", WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        metrics_counter_add(sup->metrics->job_crashes, 1);
        snprintf(reason, reasonlen, "job process exited with status %d", WEXITSTATUS(status));
    }
}

/* A child has been reaped: it can write nothing more, so its job's fate may
 * be recorded on its behalf (fenced by its owner and epoch). Frees the slot. */
static void supervisor_finish(struct supervisor *sup, struct queue *queue, struct child *child,
                              int status)
{
    supervisor_read(sup, child); /* its last events */
    if (child->report_fd >= 0)
        close(child->report_fd);
    long long now = program_monotonic_ms();
    metrics_histogram_observe(sup->metrics->job_duration,
                              (double)(now - child->started_ms) / 1000.0);
    metrics_gauge_add(sup->metrics->jobs_in_progress, -1);
    metrics_gauge_vec_remove(sup->metrics->encode_speed, child->id);

    char reason[QUEUE_ERROR_MAX];
    supervisor_end_reason(sup, child, status, reason, sizeof(reason));
    long long retry_until = now + SUPERVISOR_FINISH_RETRY_MS;
    int setup_failed = child->killed == CHILD_NOT_KILLED && WIFEXITED(status) &&
                       (WEXITSTATUS(status) == JOB_PROCESS_EXIT_USAGE ||
                        WEXITSTATUS(status) == JOB_PROCESS_EXIT_SETUP ||
                        WEXITSTATUS(status) == JOB_PROCESS_EXIT_EXEC);
    if (child->killed == CHILD_KILLED_SUPERSEDED) {
        /* Nothing goes to Redis on its behalf: the owner and epoch it held
         * may be the new claim's own (a lost claim's epoch handed out again),
         * and a fail or release would end the run that replaces it. */
        log_warn("job_process_superseded", "job=%s epoch=%lld pid=%d error=%s", child->id,
                 (long long)child->epoch, (int)child->pid, log_quote(reason));
    } else if (setup_failed) {
        /* The job never ran: this worker could not start it (exec, memory,
         * Redis, threads). That is the worker's fault, not the job's: hand
         * it back without an attempt, and claim nothing for a while so that
         * a healthy worker gets it. */
        int result = queue_release_unstarted_until(queue, child->id, sup->owner, child->epoch,
                                                   reason, retry_until, NULL);
        supervisor_back_off(sup);
        log_error("job_process_setup_failed",
                  "job=%s epoch=%lld pid=%d error=%s released=%d backoff_ms=%d", child->id,
                  (long long)child->epoch, (int)child->pid, log_quote(reason), result == QUEUE_OK,
                  SUPERVISOR_BACKOFF_MS);
    } else if (reason[0] == '\0') {
        log_debug("job_process_exited", "job=%s epoch=%lld pid=%d", child->id,
                  (long long)child->epoch, (int)child->pid);
    } else if (child->draining) {
        /* A drain must not cost the job an attempt. */
        int result =
            queue_release_until(queue, child->id, sup->owner, child->epoch, retry_until, NULL);
        log_warn("job_released", "job=%s epoch=%lld pid=%d by=worker status=%d error=%s", child->id,
                 (long long)child->epoch, (int)child->pid, result, log_quote(reason));
    } else {
        metrics_counter_add(sup->metrics->jobs_failed, 1);
        int result =
            queue_fail_until(queue, child->id, sup->owner, child->epoch, reason, retry_until, NULL);
        const char *recorded = result == QUEUE_OK      ? "yes"
                               : result == QUEUE_ERROR ? "no (Redis unreachable: the lease will "
                                                         "expire and the next claim counts it)"
                                                       : "no (the job had moved on)";
        log_error("job_process_failed", "job=%s epoch=%lld pid=%d error=%s attempt_recorded=%s",
                  child->id, (long long)child->epoch, (int)child->pid, log_quote(reason),
                  log_quote(recorded));
    }
    /* A delivered job's segments a crashed or killed job process left in
     * its spool folder: nobody will ask for them now. */
    char spool[JOB_SPEC_PATH_MAX + 64];
    delivery_spool_path(sup->config->worker_spool_dir, child->id, sup->owner, child->epoch, spool,
                        sizeof(spool));
    delivery_spool_remove(spool);
    memset(child, 0, sizeof(*child));
    child->report_fd = -1;
}

/* A claim of a job one of this worker's job processes still runs means
 * Redis lost that process's claim (a failover with lost writes: the epoch
 * counter moved back, and the same owner and epoch may be handed out
 * again, which no fence in Redis could then tell apart). The earlier
 * process is killed and reaped before the new one starts, so that two
 * processes never hold the same credentials. */
static void supervisor_supersede(struct supervisor *sup, const char *id)
{
    for (int i = 0; i < sup->n_slots; i++) {
        struct child *child = &sup->children[i];
        if (child->pid == 0 || strcmp(child->id, id) != 0)
            continue;
        supervisor_kill(child, CHILD_KILLED_SUPERSEDED);
        int status = 0;
        while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
            ;
        supervisor_finish(sup, NULL, child, status);
    }
}

int supervisor_poll(struct supervisor *sup, struct queue *queue, int timeout_ms)
{
    int n_fds = 0;
    for (int i = 0; i < sup->n_slots; i++) {
        struct child *child = &sup->children[i];
        if (child->pid == 0 || child->report_fd < 0)
            continue;
        sup->pollfds[n_fds] = (struct pollfd){.fd = child->report_fd, .events = POLLIN};
        sup->polled[n_fds++] = child;
    }
    if (n_fds > 0) {
        if (poll(sup->pollfds, (nfds_t)n_fds, timeout_ms) > 0)
            for (int i = 0; i < n_fds; i++)
                if (sup->pollfds[i].revents != 0)
                    supervisor_read(sup, sup->polled[i]);
    } else if (timeout_ms > 0) {
        usleep(20 * 1000); /* only exiting children: they are reaped in a moment */
    }

    int running = 0;
    long long now = program_monotonic_ms();
    for (int i = 0; i < sup->n_slots; i++) {
        struct child *child = &sup->children[i];
        if (child->pid == 0)
            continue;
        int status = 0;
        pid_t reaped = waitpid(child->pid, &status, WNOHANG);
        if (reaped == child->pid || (reaped < 0 && errno == ECHILD)) {
            supervisor_finish(sup, queue, child, status);
            continue;
        }
        supervisor_enforce(sup, child, now);
        running++;
    }
    return running;
}

void supervisor_drain(struct supervisor *sup, struct queue *queue, long long grace_ms)
{
    for (int i = 0; i < sup->n_slots; i++) {
        struct child *child = &sup->children[i];
        if (child->pid == 0)
            continue;
        child->draining = 1;
        kill(child->pid, SIGTERM);
    }
    long long deadline = program_monotonic_ms() + grace_ms;
    while (supervisor_poll(sup, queue, 100) > 0 && program_monotonic_ms() < deadline)
        ;
    for (int i = 0; i < sup->n_slots; i++) {
        struct child *child = &sup->children[i];
        if (child->pid == 0)
            continue;
        log_warn("job_process_stuck", "job=%s pid=%d msg=%s", child->id, (int)child->pid,
                 log_quote("did not hand its job back within the drain grace; killing it"));
        supervisor_kill(child, CHILD_KILLED_DRAIN);
        int status = 0;
        while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
            ;
        supervisor_finish(sup, queue, child, status);
    }
}
