/* cli_caps.c -- what this worker's ffmpeg CLI can do, read from the CLI.
 *
 * A CLI job runs on the worker's ffmpeg CLI (worker.ffmpeg), which need not
 * be the libav the worker links (a user may point it at jellyfin-ffmpeg),
 * so the CLI itself is asked: `-version`, `-encoders`, `-decoders`,
 * `-filters` and `-hwaccels`, each run once at start without a shell, stdin
 * on /dev/null, stdout read, stderr kept only for an error's last line. The
 * lists are read in the layouts every FFmpeg since 4.x prints:
 *
 *   -encoders/-decoders  a legend, then " ------", then " V....D name  text"
 *   -filters             "Filters:", a legend of "X = meaning" lines, then
 *                        " TSC name  A->A  text"
 *   -hwaccels            "Hardware acceleration methods:", then one per line
 *
 * A list without its header means the program is not an ffmpeg CLI we can
 * read, and the probe fails rather than offer a CLI that has nothing.
 *
 * This file never calls libav (it is not part of the pipeline, and gets no
 * libav compiler flags): everything it knows comes from the CLI's output. */
#include "cli_caps.h"

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

#include "routing.h"

/* The most a list may print: Debian's -filters is about 40 kB. */
#define CLI_OUTPUT_MAX (16 << 20)
/* How much of stderr is kept for an error's last line. */
#define CLI_STDERR_KEEP 1024

extern char **environ;

/* ---------------------------------------------------------------------------
 * Running the CLI
 * ------------------------------------------------------------------------- */

static long long cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What one run printed. */
struct cli_output {
    char *out; /* stdout, NUL-terminated */
    size_t len, cap;
    char err[CLI_STDERR_KEEP + 1]; /* the end of stderr */
    size_t err_len;
};

/* Appends to stdout's buffer. Returns 0, or -1 when it would exceed
 * CLI_OUTPUT_MAX or memory runs out. */
static int cli_output_append(struct cli_output *o, const char *data, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        if (o->len + n + 1 > CLI_OUTPUT_MAX)
            return -1;
        size_t cap = o->cap > 0 ? o->cap * 2 : 65536;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *grown = realloc(o->out, cap);
        if (grown == NULL)
            return -1;
        o->out = grown;
        o->cap = cap;
    }
    memcpy(o->out + o->len, data, n);
    o->len += n;
    o->out[o->len] = '\0';
    return 0;
}

/* Keeps the last CLI_STDERR_KEEP bytes of stderr. */
static void cli_output_append_err(struct cli_output *o, const char *data, size_t n)
{
    if (n >= CLI_STDERR_KEEP) {
        data += n - CLI_STDERR_KEEP;
        n = CLI_STDERR_KEEP;
    }
    if (o->err_len + n > CLI_STDERR_KEEP) {
        size_t drop = o->err_len + n - CLI_STDERR_KEEP;
        memmove(o->err, o->err + drop, o->err_len - drop);
        o->err_len -= drop;
    }
    memcpy(o->err + o->err_len, data, n);
    o->err_len += n;
    o->err[o->err_len] = '\0';
}

/* The last non-empty line of what the run printed on stderr, in out. */
static void cli_output_last_line(const struct cli_output *o, char *out, size_t outlen)
{
    size_t end = o->err_len;
    while (end > 0 && (o->err[end - 1] == '\n' || o->err[end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && o->err[start - 1] != '\n' && o->err[start - 1] != '\r')
        start--;
    snprintf(out, outlen, "%.*s", (int)(end - start), o->err + start);
}

/* Starts ffmpeg with one option, stdin on /dev/null, stdout and stderr on
 * the pipes' write ends. Returns 0 with *pid, or an errno. */
static int cli_spawn(const char *ffmpeg, const char *option, int out_fd, int err_fd, pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int status = posix_spawn_file_actions_init(&actions);
    if (status != 0)
        return status;
    status = posix_spawnattr_init(&attr);
    if (status != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return status;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if ((status = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY,
                                                   0)) == 0 &&
        (status = posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO)) == 0 &&
        (status = posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO)) == 0 &&
        (status = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
        (status = posix_spawnattr_setsigdefault(&attr, &all)) == 0 &&
        (status = posix_spawnattr_setflags(&attr,
                                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0) {
        char *const argv[] = {(char *)ffmpeg, "-hide_banner", (char *)option, NULL};
        status = posix_spawnp(pid, ffmpeg, &actions, &attr, argv, environ);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return status;
}

/* Reads both pipes until they close or deadline_ms passes. Returns 0, 1 on
 * the deadline, or -1 when stdout is too long or memory runs out. */
static int cli_read(int out_fd, int err_fd, long long deadline_ms, struct cli_output *o)
{
    struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        long long left = deadline_ms - cli_now_ms();
        if (left <= 0)
            return 1;
        int ready = poll(fds, 2, (int)(left < 1000 ? left : 1000));
        if (ready < 0 && errno != EINTR)
            return -1;
        for (int k = 0; k < 2 && ready > 0; k++) {
            if (fds[k].fd < 0 || fds[k].revents == 0)
                continue;
            char buf[16384];
            ssize_t n = read(fds[k].fd, buf, sizeof(buf));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                fds[k].fd = -1;
                continue;
            }
            if (k == 1)
                cli_output_append_err(o, buf, (size_t)n);
            else if (cli_output_append(o, buf, (size_t)n) != 0)
                return -1;
        }
    }
    return 0;
}

/* Waits for pid until deadline_ms. Returns 0 with its wait status, or 1
 * when it is still running at the deadline. */
static int cli_wait(pid_t pid, long long deadline_ms, int *status)
{
    for (;;) {
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR))
            return 0;
        if (cli_now_ms() >= deadline_ms)
            return 1;
        usleep(10 * 1000);
    }
}

/* Runs `ffmpeg -hide_banner OPTION` and captures its stdout in o. Returns
 * 0 when it exited 0, or -1 with a sentence in err. */
static int cli_run(const char *ffmpeg, const char *option, long long deadline_ms, int timeout_ms,
                   struct cli_output *o, char *err, size_t errlen)
{
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "%s %s: cannot create a pipe: %s", ffmpeg, option, strerror(errno));
        for (int k = 0; k < 2; k++)
            if (out_pipe[k] >= 0)
                close(out_pipe[k]);
        return -1;
    }
    pid_t pid;
    int spawned = cli_spawn(ffmpeg, option, out_pipe[1], err_pipe[1], &pid);
    close(out_pipe[1]);
    close(err_pipe[1]);
    int result = -1;
    if (spawned != 0) {
        snprintf(err, errlen, "cannot run %s: %s", ffmpeg, strerror(spawned));
        goto cleanup;
    }
    int read_status = cli_read(out_pipe[0], err_pipe[0], deadline_ms, o);
    int status = 0;
    if (read_status != 0 || cli_wait(pid, deadline_ms, &status) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (read_status < 0)
            snprintf(err, errlen, "%s %s printed more than %d bytes", ffmpeg, option,
                     CLI_OUTPUT_MAX);
        else
            snprintf(err, errlen, "%s %s did not finish within the probe's %d ms", ffmpeg, option,
                     timeout_ms);
        goto cleanup;
    }
    char last[256];
    cli_output_last_line(o, last, sizeof(last));
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "%s %s was killed by signal %d%s%s", ffmpeg, option, WTERMSIG(status),
                 last[0] ? ": " : "", last);
        goto cleanup;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "%s %s exited with status %d%s%s", ffmpeg, option,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, last[0] ? ": " : "", last);
        goto cleanup;
    }
    if (o->out == NULL && cli_output_append(o, "", 0) != 0) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    result = 0;
cleanup:
    close(out_pipe[0]);
    close(err_pipe[0]);
    return result;
}

/* ---------------------------------------------------------------------------
 * Reading the lists
 * ------------------------------------------------------------------------- */

/* A growing list of malloc'd names. */
struct cli_names {
    char **names;
    size_t count, cap;
    int failed; /* out of memory */
};

/* Adds name (len bytes) when "kind:name" is a valid routing word. */
static void cli_names_add(struct cli_names *list, const char *kind, const char *name, size_t len)
{
    char word[ROUTING_WORD_MAX];
    int n = snprintf(word, sizeof(word), "%s:%.*s", kind, (int)len, name);
    if (n < 0 || (size_t)n >= sizeof(word) || !routing_word_valid(word) || list->failed)
        return;
    if (list->count == list->cap) {
        size_t cap = list->cap > 0 ? list->cap * 2 : 256;
        char **grown = realloc(list->names, cap * sizeof(*grown));
        if (grown == NULL) {
            list->failed = 1;
            return;
        }
        list->names = grown;
        list->cap = cap;
    }
    char *copy = strndup(name, len);
    if (copy == NULL) {
        list->failed = 1;
        return;
    }
    list->names[list->count++] = copy;
}

static void cli_names_free(struct cli_names *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    memset(list, 0, sizeof(*list));
}

/* The index-th (0-based) blank-separated token of line [s, end): sets
 * *token and *len, or returns 0 when the line has fewer tokens. */
static int cli_token(const char *s, const char *end, int index, const char **token, size_t *len)
{
    for (int k = 0;; k++) {
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (s == end)
            return 0;
        const char *start = s;
        while (s < end && *s != ' ' && *s != '\t')
            s++;
        if (k == index) {
            *token = start;
            *len = (size_t)(s - start);
            return 1;
        }
    }
}

/* Steps to the next line of text from *s: sets [*line, *end) without its
 * newline. Returns 0 at the end of text. */
static int cli_line_next(const char **s, const char **line, const char **end)
{
    if (**s == '\0')
        return 0;
    *line = *s;
    *end = *s + strcspn(*s, "\r\n");
    *s = *end + strspn(*end, "\r\n");
    return 1;
}

/* 1 if [line, end) is text once the blanks around it are dropped. */
static int cli_line_is(const char *line, const char *end, const char *text)
{
    const char *t;
    size_t len;
    if (!cli_token(line, end, 0, &t, &len) || len != strlen(text) || strncmp(t, text, len) != 0)
        return 0;
    return !cli_token(line, end, 1, &t, &len);
}

/* -encoders, -decoders: the 2nd column of the lines after " ------".
 * Returns 0, or -1 when there is no separator. */
static int cli_parse_codecs(const char *text, const char *kind, struct cli_names *list)
{
    const char *s = text, *line, *end, *name;
    size_t len;
    int listing = 0;
    while (cli_line_next(&s, &line, &end)) {
        if (!listing)
            listing = cli_line_is(line, end, "------");
        else if (cli_token(line, end, 1, &name, &len))
            cli_names_add(list, kind, name, len);
    }
    return listing ? 0 : -1;
}

/* -filters: after "Filters:" and its legend ("T.. = Timeline support", a
 * 2nd column "="), the 2nd column of each line. Returns 0, or -1 when there
 * is no legend. */
static int cli_parse_filters(const char *text, struct cli_names *list)
{
    const char *s = text, *line, *end, *name;
    size_t len;
    int legend = 0;
    while (cli_line_next(&s, &line, &end)) {
        if (!cli_token(line, end, 1, &name, &len))
            continue;
        if (len == 1 && name[0] == '=')
            legend = 1;
        else if (legend)
            cli_names_add(list, "cli-filter", name, len);
    }
    return legend ? 0 : -1;
}

/* -hwaccels: one name a line after "Hardware acceleration methods:".
 * Returns 0, or -1 when that header is missing. */
static int cli_parse_hwaccels(const char *text, struct cli_names *list)
{
    static const char header[] = "Hardware acceleration methods:";
    const char *s = text, *line, *end, *name;
    size_t len;
    int listing = 0;
    while (cli_line_next(&s, &line, &end)) {
        if (!listing)
            listing = (size_t)(end - line) >= sizeof(header) - 1 &&
                      strncmp(line, header, sizeof(header) - 1) == 0;
        else if (cli_token(line, end, 0, &name, &len))
            cli_names_add(list, "cli-hwaccel", name, len);
    }
    return listing ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * The probe
 * ------------------------------------------------------------------------- */

/* Moves list into *names / *count. */
static void cli_names_give(struct cli_names *list, char ***names, size_t *count)
{
    *names = list->names;
    *count = list->count;
    memset(list, 0, sizeof(*list));
}

Ffpool__CliInfo *cli_caps_probe(const char *ffmpeg, int timeout_ms, char *err, size_t errlen)
{
    static const char *const options[] = {"-version", "-encoders", "-decoders", "-filters",
                                          "-hwaccels"};
    enum { VERSION, ENCODERS, DECODERS, FILTERS, HWACCELS, N_LISTS };
    struct cli_output outputs[N_LISTS];
    struct cli_names lists[N_LISTS];
    memset(outputs, 0, sizeof(outputs));
    memset(lists, 0, sizeof(lists));
    Ffpool__CliInfo *cli = NULL;
    if (ffmpeg == NULL || ffmpeg[0] == '\0') {
        snprintf(err, errlen, "no ffmpeg CLI is configured");
        return NULL;
    }

    long long deadline_ms = cli_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (int k = 0; k < N_LISTS; k++) {
        if (cli_run(ffmpeg, options[k], deadline_ms, timeout_ms, &outputs[k], err, errlen) != 0)
            goto cleanup;
        /* Every build, jellyfin-ffmpeg's too, names itself so. */
        if (k == VERSION &&
            strncmp(outputs[k].out, "ffmpeg version", strlen("ffmpeg version")) != 0) {
            snprintf(err, errlen,
                     "%s -version did not print \"ffmpeg version\": it is not an ffmpeg CLI",
                     ffmpeg);
            goto cleanup;
        }
    }
    const char *unread = NULL;
    if (cli_parse_codecs(outputs[ENCODERS].out, "cli-encoder", &lists[ENCODERS]) != 0)
        unread = "-encoders";
    else if (cli_parse_codecs(outputs[DECODERS].out, "cli-decoder", &lists[DECODERS]) != 0)
        unread = "-decoders";
    else if (cli_parse_filters(outputs[FILTERS].out, &lists[FILTERS]) != 0)
        unread = "-filters";
    else if (cli_parse_hwaccels(outputs[HWACCELS].out, &lists[HWACCELS]) != 0)
        unread = "-hwaccels";
    if (unread != NULL) {
        snprintf(err, errlen, "%s %s did not print the list an ffmpeg CLI prints", ffmpeg, unread);
        goto cleanup;
    }
    for (int k = 0; k < N_LISTS; k++)
        if (lists[k].failed)
            goto no_memory;

    cli = malloc(sizeof(*cli));
    if (cli == NULL)
        goto no_memory;
    ffpool__cli_info__init(cli);
    cli->path = strdup(ffmpeg);
    cli->version_text = outputs[VERSION].out;
    outputs[VERSION].out = NULL;
    cli->encoders_text = outputs[ENCODERS].out;
    outputs[ENCODERS].out = NULL;
    cli->decoders_text = outputs[DECODERS].out;
    outputs[DECODERS].out = NULL;
    cli->filters_text = outputs[FILTERS].out;
    outputs[FILTERS].out = NULL;
    cli_names_give(&lists[ENCODERS], &cli->encoders, &cli->n_encoders);
    cli_names_give(&lists[DECODERS], &cli->decoders, &cli->n_decoders);
    cli_names_give(&lists[FILTERS], &cli->filters, &cli->n_filters);
    cli_names_give(&lists[HWACCELS], &cli->hwaccels, &cli->n_hwaccels);
    if (cli->path == NULL) {
        cli_caps_free(cli);
        cli = NULL;
        goto no_memory;
    }
    goto cleanup;

no_memory:
    snprintf(err, errlen, "out of memory reading what %s lists", ffmpeg);
cleanup:
    for (int k = 0; k < N_LISTS; k++) {
        free(outputs[k].out);
        cli_names_free(&lists[k]);
    }
    return cli;
}

static void cli_strings_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

void cli_caps_free(Ffpool__CliInfo *cli)
{
    if (cli == NULL)
        return;
    free(cli->path);
    free(cli->version_text);
    free(cli->encoders_text);
    free(cli->decoders_text);
    free(cli->filters_text);
    cli_strings_free(cli->encoders, cli->n_encoders);
    cli_strings_free(cli->decoders, cli->n_decoders);
    cli_strings_free(cli->filters, cli->n_filters);
    cli_strings_free(cli->hwaccels, cli->n_hwaccels);
    free(cli);
}

void cli_caps_version_line(const Ffpool__CliInfo *cli, char *out, size_t outlen)
{
    const char *text = cli != NULL && cli->version_text != NULL ? cli->version_text : "";
    snprintf(out, outlen, "%.*s", (int)strcspn(text, "\r\n"), text);
}
