/* device_check.c -- runs Jellyfin's device check for a job; see
 * device_check.h. Spawns /proc/self/exe (the worker's binary) rather than
 * forking: the job process has threads, and drivers must not start in a
 * copy of a process whose other threads vanished. */
#include "device_check.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hw_check.h"

extern char **environ;

static long long device_check_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The worker's environment plus spec->environment's "NAME=value" lines
 * (which replace variables of the same name). Returns a malloc'd vector
 * whose strings point into environ and into lines (a copy the caller frees
 * after the vector), or NULL. */
static char **device_check_environment(const struct job_spec *spec, char **lines)
{
    size_t n = 0, extra = 0;
    while (environ[n] != NULL)
        n++;
    *lines = strdup(spec->environment);
    if (*lines == NULL)
        return NULL;
    for (const char *c = *lines; *c != '\0'; c++)
        extra += *c == '\n';
    char **env = calloc(n + extra + 2, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t used = 0;
    char *save = NULL;
    char *added[JOB_SPEC_SHORT_MAX];
    size_t n_added = 0;
    for (char *line = strtok_r(*lines, "\n", &save); line != NULL && n_added < JOB_SPEC_SHORT_MAX;
         line = strtok_r(NULL, "\n", &save))
        added[n_added++] = line;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int replaced = 0;
        for (size_t k = 0; k < n_added && !replaced; k++)
            replaced = strncmp(added[k], environ[i], name_len) == 0 && added[k][name_len] == '=';
        if (!replaced)
            env[used++] = environ[i];
    }
    for (size_t k = 0; k < n_added; k++)
        env[used++] = added[k];
    env[used] = NULL;
    return env;
}

int device_check_run(const struct job_spec *spec, int timeout_ms, size_t output_max, char **output,
                     int *status, char *err, size_t errlen)
{
    const char *argv[JOB_SPEC_HW_DEVICES_MAX + 3];
    int argc = 0;
    int pipe_fds[2] = {-1, -1};
    char **env = NULL;
    char *lines = NULL;
    char *text = NULL;
    int result = -1;
    pid_t child = -1;
    posix_spawn_file_actions_t actions;
    int actions_ready = 0;

    *output = NULL;
    *status = 0;
    argv[argc++] = "ffpool-worker";
    argv[argc++] = HW_DEVICE_CHECK_FLAG;
    for (int i = 0; i < spec->n_hw_devices; i++)
        argv[argc++] = spec->hw_devices[i];
    argv[argc] = NULL;
    text = malloc(output_max);
    env = device_check_environment(spec, &lines);
    if (text == NULL || env == NULL || pipe2(pipe_fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "device check: %s", strerror(errno ? errno : ENOMEM));
        goto end;
    }
    if (posix_spawn_file_actions_init(&actions) != 0)
        goto end;
    actions_ready = 1;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || posix_spawn_file_actions_adddup2(&actions, devnull, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&actions, devnull, 1) != 0 ||
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2) != 0) {
        if (devnull >= 0)
            close(devnull);
        snprintf(err, errlen, "device check: cannot set up its output");
        goto end;
    }
    int spawned = posix_spawn(&child, "/proc/self/exe", &actions, NULL, (char **)argv, env);
    close(devnull);
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    if (spawned != 0) {
        child = -1;
        snprintf(err, errlen, "device check: cannot start it: %s", strerror(spawned));
        goto end;
    }
    size_t used = 0;
    long long deadline = device_check_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - device_check_now_ms();
        if (left <= 0) {
            snprintf(err, errlen, "device check: no answer in %d ms", timeout_ms);
            goto end;
        }
        struct pollfd pfd = {.fd = pipe_fds[0], .events = POLLIN};
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            goto end;
        char chunk[4096];
        ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        /* Beyond output_max the rest is read and dropped, never blocking
         * the check on a full pipe. */
        size_t keep = used + (size_t)n < output_max - 1 ? (size_t)n : output_max - 1 - used;
        memcpy(text + used, chunk, keep);
        used += keep;
    }
    text[used] = '\0';
    int wstatus;
    if (waitpid(child, &wstatus, 0) != child) {
        snprintf(err, errlen, "device check: %s", strerror(errno));
        goto end;
    }
    child = -1;
    if (!WIFEXITED(wstatus)) {
        snprintf(err, errlen, "device check killed by signal %d", WTERMSIG(wstatus));
        goto end;
    }
    *status = WEXITSTATUS(wstatus);
    *output = text;
    text = NULL;
    result = 0;
end:
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    if (actions_ready)
        posix_spawn_file_actions_destroy(&actions);
    if (pipe_fds[0] >= 0)
        close(pipe_fds[0]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    free(env);
    free(lines);
    free(text);
    return result;
}
