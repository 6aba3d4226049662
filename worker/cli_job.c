/* cli_job.c -- runs a job on the worker's ffmpeg CLI; see cli_job.h.
 *
 * One loop watches the CLI: every CLI_POLL_MS it polls the caller (stop,
 * pause), reads the CLI's -progress lines (stdout) and the end of its
 * stderr, and for an HLS stream reads the playlist the CLI keeps in the
 * run's private folder, delivering each newly listed segment in index
 * order. */
#include "cli_job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pipeline_probe.h"

#define CLI_POLL_MS 100
#define CLI_STDERR_TAIL 8192 /* what an HLS run keeps of stderr, for its error */
#define CLI_EXTRA_ARGS 16    /* arguments a run adds to the line */

/* ---- the command line ---------------------------------------------------- */

struct cli_line {
    const char *argv[JOB_SPEC_CLI_ARGC_MAX + CLI_EXTRA_ARGS + 2];
    int argc;
    /* Values a run writes in place of the line's own. */
    char seek[32], start_number[16], keyframes[256];
    char playlist[JOB_SPEC_PATH_MAX], segments[JOB_SPEC_PATH_MAX], init[JOB_SPEC_PATH_MAX];
};

static const char *path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static void line_push(struct cli_line *line, const char *arg)
{
    if (line->argc < (int)(sizeof(line->argv) / sizeof(line->argv[0])) - 1)
        line->argv[line->argc++] = arg;
    line->argv[line->argc] = NULL;
}

/* "expr:gte(t,[A+]n_forced*T)" -> "expr:gte(t,n_forced*T)". ffmpeg (4.3
 * on, forced_kf_ref_pts) counts t from the run's first frame, and a run
 * that resumes starts at a k x T boundary: keyframes then fall on the same
 * boundaries as in the run from the start. Returns 0, or -1 when value has
 * another form. */
static int keyframes_rewrite(const char *value, char *out, size_t size)
{
    static const char head[] = "expr:gte(t,";
    if (strncmp(value, head, sizeof(head) - 1) != 0)
        return -1;
    const char *step = strstr(value, "n_forced*");
    if (step == NULL)
        return -1;
    step += strlen("n_forced*");
    size_t n = strspn(step, "0123456789.");
    if (n == 0 || strcmp(step + n, ")") != 0)
        return -1;
    int written = snprintf(out, size, "%sn_forced*%.*s)", head, (int)n, step);
    return written > 0 && (size_t)written < size ? 0 : -1;
}

/* The line an HLS run executes: outputs moved into private, and for a run
 * that starts past the job's first segment, the seek restart. */
static int line_build_hls(struct cli_line *line, const struct job_spec *spec, int first_index,
                          const char *ffmpeg, const char *private, int64_t seek_us, char *err,
                          size_t errlen)
{
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(spec, args);
    int n = spec->n_cli_args;
    int resume = first_index > spec->start_number;
    snprintf(line->seek, sizeof(line->seek), "%" PRId64 ".%06" PRId64, seek_us / 1000000,
             seek_us % 1000000);
    snprintf(line->start_number, sizeof(line->start_number), "%d", first_index);
    snprintf(line->playlist, sizeof(line->playlist), "%s/%s", private, path_basename(spec->output));
    snprintf(line->segments, sizeof(line->segments), "%s/%s", private,
             path_basename(spec->segment_filename));

    int first_input = n;
    for (int i = 0; i < n; i++)
        if (strcmp(args[i], "-i") == 0) {
            first_input = i;
            break;
        }
    line->argc = 0;
    line_push(line, ffmpeg);
    line_push(line, "-nostdin");
    line_push(line, "-nostats");
    line_push(line, "-progress");
    line_push(line, "pipe:1");
    int seek_given = 0, start_given = 0;
    for (int i = 0; i < n; i++) {
        const char *arg = args[i];
        int has_value = i + 1 < n;
        if (i == first_input && resume && !seek_given) {
            line_push(line, "-ss");
            line_push(line, line->seek);
        }
        if (i == n - 1) { /* the playlist: ffmpeg's output is its last argument */
            if (resume && !start_given) {
                line_push(line, "-start_number");
                line_push(line, line->start_number);
            }
            line_push(line, line->playlist);
        } else if (has_value && resume && i < first_input && strcmp(arg, "-ss") == 0) {
            seek_given = 1;
            line_push(line, arg);
            line_push(line, line->seek);
            i++;
        } else if (has_value && strcmp(arg, "-start_number") == 0) {
            start_given = 1;
            line_push(line, arg);
            line_push(line, resume ? line->start_number : args[i + 1]);
            i++;
        } else if (has_value && resume && strncmp(arg, "-force_key_frames", 17) == 0) {
            line_push(line, arg);
            if (keyframes_rewrite(args[i + 1], line->keyframes, sizeof(line->keyframes)) == 0)
                line_push(line, line->keyframes);
            else
                line_push(line, args[i + 1]);
            i++;
        } else if (has_value && strcmp(arg, "-hls_playlist_type") == 0) {
            /* hlsenc writes a VOD playlist only at the end: the run's own
             * playlist is an event one, written after every segment (the
             * worker writes Jellyfin's, of the type it asked for). */
            line_push(line, arg);
            line_push(line, "event");
            i++;
        } else if (has_value && strcmp(arg, "-hls_segment_filename") == 0) {
            line_push(line, arg);
            line_push(line, line->segments);
            i++;
        } else if (has_value && strcmp(arg, "-hls_fmp4_init_filename") == 0 &&
                   args[i + 1][0] == '/') {
            snprintf(line->init, sizeof(line->init), "%s/%s", private, path_basename(args[i + 1]));
            line_push(line, arg);
            line_push(line, line->init);
            i++;
        } else {
            line_push(line, arg);
        }
    }
    if (line->argc >= (int)(sizeof(line->argv) / sizeof(line->argv[0])) - 1) {
        snprintf(err, errlen, "the CLI's command line has too many arguments");
        return -1;
    }
    return 0;
}

static void line_build_once(struct cli_line *line, const struct job_spec *spec, const char *ffmpeg)
{
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(spec, args);
    /* As given: its stderr goes back to Jellyfin as the CLI printed it
     * ("Press [q] to stop" included; stdin is /dev/null). */
    line->argc = 0;
    line_push(line, ffmpeg);
    for (int i = 0; i < spec->n_cli_args; i++)
        line_push(line, args[i]);
}

/* Logs the command line a run executes, for the operator. */
static void line_log(const struct cli_line *line, int first_index)
{
    char text[8192];
    size_t used = 0;
    text[0] = '\0';
    for (int i = 0; i < line->argc && used + 1 < sizeof(text); i++) {
        int n = snprintf(text + used, sizeof(text) - used, "%s%s", i > 0 ? " " : "", line->argv[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    log_info("cli_start", "first_segment=%d argv=%s", first_index, log_quote(text));
}

/* ---- the process --------------------------------------------------------- */

struct cli_process {
    pid_t pid;
    int out_fd, err_fd; /* the CLI's stdout and stderr, -1 once at EOF */
    int held;           /* SIGSTOPped by a pause */
};

/* Starts line in a process group of its own with stdin on /dev/null,
 * stdout and stderr on pipes, and spec's driver environment. */
static int process_start(struct cli_process *p, const struct cli_line *line,
                         const struct job_spec *spec, char *err, size_t errlen)
{
    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(errp, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(127);
        char lines[sizeof(spec->environment)];
        snprintf(lines, sizeof(lines), "%s", spec->environment);
        char *save = NULL;
        for (char *entry = strtok_r(lines, "\n", &save); entry != NULL;
             entry = strtok_r(NULL, "\n", &save)) {
            char *eq = strchr(entry, '=');
            if (eq != NULL && job_spec_environment_allowed(entry, (size_t)(eq - entry))) {
                *eq = '\0';
                setenv(entry, eq + 1, 1);
            }
        }
        signal(SIGPIPE, SIG_DFL);
        execvp(line->argv[0], (char *const *)line->argv);
        dprintf(2, "cannot run %s: %s\n", line->argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* either side may set it first */
    close(out[1]);
    close(errp[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    *p = (struct cli_process){.pid = pid, .out_fd = out[0], .err_fd = errp[0]};
    return 0;
}

/* Holds or releases the CLI as the caller's pause says. */
static void process_pause(struct cli_process *p, const struct cli_callbacks *cb)
{
    int paused = cb->paused != NULL && cb->paused(cb->opaque);
    if (paused != p->held && kill(-p->pid, paused ? SIGSTOP : SIGCONT) == 0)
        p->held = paused;
}

/* Ends the CLI at once (SIGKILL to its group) and reaps it. */
static void process_kill(struct cli_process *p)
{
    kill(-p->pid, SIGKILL);
    kill(-p->pid, SIGCONT);
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

static void process_close(struct cli_process *p)
{
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
}

/* Exit status as a shell gives it: the code, or 128 + the signal. */
static int process_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    return WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;
}

/* ---- what the CLI prints ------------------------------------------------- */

/* A growing buffer that keeps its first half-limit bytes and a rolling
 * window of its last ones; dropped counts what fell between them. */
struct capture {
    char *head, *tail;
    size_t head_len, tail_len, limit;
    size_t dropped;
};

static int capture_init(struct capture *c, size_t limit)
{
    memset(c, 0, sizeof(*c));
    c->limit = limit < 64 ? 64 : limit;
    c->head = malloc(c->limit / 2);
    c->tail = malloc(c->limit / 2);
    return c->head != NULL && c->tail != NULL ? 0 : -1;
}

static void capture_add(struct capture *c, const char *data, size_t n)
{
    size_t half = c->limit / 2;
    size_t take = n < half - c->head_len ? n : half - c->head_len;
    memcpy(c->head + c->head_len, data, take);
    c->head_len += take;
    data += take;
    n -= take;
    if (n == 0)
        return;
    if (n >= half) { /* the new data alone fills the window */
        c->dropped += c->tail_len + n - half;
        memcpy(c->tail, data + n - half, half);
        c->tail_len = half;
        return;
    }
    if (c->tail_len + n > half) {
        size_t drop = c->tail_len + n - half;
        c->dropped += drop;
        memmove(c->tail, c->tail + drop, c->tail_len - drop);
        c->tail_len -= drop;
    }
    memcpy(c->tail + c->tail_len, data, n);
    c->tail_len += n;
}

/* The captured text as one string (the caller frees it). */
static char *capture_text(const struct capture *c)
{
    char note[96] = "";
    if (c->dropped > 0)
        snprintf(note, sizeof(note), "\n[ffpool: %zu bytes of this output left out]\n", c->dropped);
    size_t len = c->head_len + strlen(note) + c->tail_len;
    char *text = malloc(len + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, c->head, c->head_len);
    memcpy(text + c->head_len, note, strlen(note));
    memcpy(text + c->head_len + strlen(note), c->tail, c->tail_len);
    text[len] = '\0';
    return text;
}

static void capture_free(struct capture *c)
{
    free(c->head);
    free(c->tail);
}

/* The last non-empty line of the captured text, for an error sentence. */
static void capture_last_line(const struct capture *c, char *out, size_t size)
{
    char *text = capture_text(c);
    out[0] = '\0';
    if (text == NULL)
        return;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    char *start = text + len;
    while (start > text && start[-1] != '\n' && start[-1] != '\r')
        start--;
    snprintf(out, size, "%s", start);
    free(text);
}

/* -progress's "key=value" lines; a "progress=" line ends a report. */
struct progress_reader {
    char line[256];
    size_t len;
    struct pipeline_progress report;
    int64_t started_ms;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress_line(struct progress_reader *r, const struct cli_callbacks *cb)
{
    char *eq = strchr(r->line, '=');
    if (eq == NULL)
        return;
    *eq = '\0';
    const char *key = r->line, *value = eq + 1;
    if (strcmp(key, "frame") == 0)
        r->report.frames = strtoll(value, NULL, 10);
    else if (strcmp(key, "out_time_us") == 0 && strcmp(value, "N/A") != 0)
        r->report.out_time_us = r->report.start_us + strtoll(value, NULL, 10);
    else if (strcmp(key, "total_size") == 0)
        r->report.bytes = strtoll(value, NULL, 10);
    else if (strcmp(key, "speed") == 0)
        r->report.speed = strtod(value, NULL);
    else if (strcmp(key, "progress") == 0 && cb->progress != NULL)
        cb->progress(cb->opaque, &r->report);
}

/* Reads what fd has; returns 0 at EOF, 1 otherwise. Each byte goes to
 * capture c, or (progress != NULL) to the -progress reader. */
static int read_available(int fd, struct capture *c, struct progress_reader *progress,
                          const struct cli_callbacks *cb)
{
    char buffer[4096];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n == 0)
            return 0;
        if (n < 0)
            return errno == EINTR || errno == EAGAIN ? 1 : 0;
        if (progress == NULL) {
            capture_add(c, buffer, (size_t)n);
            continue;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buffer[i] == '\n') {
                progress->line[progress->len] = '\0';
                progress_line(progress, cb);
                progress->len = 0;
            } else if (progress->len + 1 < sizeof(progress->line)) {
                progress->line[progress->len++] = buffer[i];
            }
        }
    }
}

/* Waits up to CLI_POLL_MS for output and reads it; 1 while either pipe is
 * open. */
static int process_read(struct cli_process *p, struct capture *err_capture,
                        struct capture *out_capture, struct progress_reader *progress,
                        const struct cli_callbacks *cb)
{
    struct pollfd fds[2];
    int n = 0;
    if (p->out_fd >= 0)
        fds[n++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
    if (p->err_fd >= 0)
        fds[n++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
    if (n == 0) {
        usleep(CLI_POLL_MS * 1000);
        return 0;
    }
    if (poll(fds, (nfds_t)n, CLI_POLL_MS) > 0 && cb->active != NULL)
        cb->active(cb->opaque);
    if (p->out_fd >= 0 && !read_available(p->out_fd, out_capture, progress, cb)) {
        close(p->out_fd);
        p->out_fd = -1;
    }
    if (p->err_fd >= 0 && !read_available(p->err_fd, err_capture, NULL, cb)) {
        close(p->err_fd);
        p->err_fd = -1;
    }
    return p->out_fd >= 0 || p->err_fd >= 0;
}

/* ---- HLS: the CLI's playlist ---------------------------------------------- */

/* The index in a segment's file name, by the job's pattern ("name%d.ts",
 * "name%03d.ts"); -1 if the name does not fit it. */
static int segment_index(const char *pattern, const char *name)
{
    const char *base = path_basename(pattern);
    const char *conv = strchr(base, '%');
    if (conv == NULL)
        return -1;
    size_t prefix = (size_t)(conv - base);
    const char *suffix = conv + 1 + strspn(conv + 1, "0123456789");
    if (*suffix != 'd')
        return -1;
    suffix++;
    size_t name_len = strlen(name), suffix_len = strlen(suffix);
    if (strncmp(name, base, prefix) != 0 || name_len < prefix + suffix_len + 1 ||
        strcmp(name + name_len - suffix_len, suffix) != 0)
        return -1;
    int index = 0;
    for (const char *s = name + prefix; s < name + name_len - suffix_len; s++) {
        if (*s < '0' || *s > '9' || index > INT_MAX / 10 - 10)
            return -1;
        index = index * 10 + (*s - '0');
    }
    return index;
}

struct hls_run {
    const struct job_spec *spec;
    const struct cli_callbacks *cb;
    const char *private;
    int next;           /* the next index to deliver */
    int init_published; /* fMP4: the init segment is in place */
    int stopped;        /* segment_done asked to stop */
    int64_t start_us;
};

/* Moves the fMP4 init segment the CLI wrote to where Jellyfin reads it,
 * unless an earlier run of the job put it there (the same bytes: the same
 * encoder and settings). */
static int hls_publish_init(struct hls_run *h, char *err, size_t errlen)
{
    const struct job_spec *spec = h->spec;
    if (h->init_published || spec->segment_type != JOB_SEGMENT_FMP4 ||
        spec->init_filename[0] == '\0')
        return 0;
    char from[JOB_SPEC_PATH_MAX * 2], to[JOB_SPEC_PATH_MAX * 2], dir[JOB_SPEC_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", spec->output);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(from, sizeof(from), "%s/%s", h->private, path_basename(spec->init_filename));
    if (spec->init_filename[0] == '/')
        snprintf(to, sizeof(to), "%s", spec->init_filename);
    else
        snprintf(to, sizeof(to), "%s/%s", slash != NULL ? dir : ".", spec->init_filename);
    struct stat st;
    if (stat(to, &st) == 0) {
        unlink(from);
    } else if (rename(from, to) != 0) {
        snprintf(err, errlen, "publish the init segment %s: %s", to, strerror(errno));
        return -1;
    }
    h->init_published = 1;
    return 0;
}

/* Delivers every segment the CLI's playlist lists from h->next on, in
 * order; at_end: the CLI has exited 0, so the last one listed is the
 * stream's last. Returns 0, or -1 with err. */
static int hls_deliver(struct hls_run *h, int at_end, char *err, size_t errlen)
{
    char path[JOB_SPEC_PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", h->private, path_basename(h->spec->output));
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return 0; /* not written yet */
    /* Complete entries only: "#EXTINF:D," then a name, both ended by '\n'
     * (hlsenc rewrites the file in place, so a read may end mid-entry). */
    struct entry {
        int index;
        int64_t duration_us;
    } entries[1024];
    const int cap = (int)(sizeof(entries) / sizeof(entries[0]));
    int count = 0, ended = 0;
    double duration = -1;
    char text[JOB_SPEC_PATH_MAX + 64];
    while (fgets(text, sizeof(text), file) != NULL) {
        size_t len = strlen(text);
        if (len == 0 || text[len - 1] != '\n')
            break;
        text[--len] = '\0';
        if (len > 0 && text[len - 1] == '\r')
            text[--len] = '\0';
        if (strncmp(text, "#EXTINF:", 8) == 0) {
            duration = strtod(text + 8, NULL);
        } else if (strcmp(text, "#EXT-X-ENDLIST") == 0) {
            ended = 1;
        } else if (text[0] != '#' && text[0] != '\0' && duration >= 0) {
            int index = segment_index(h->spec->segment_filename, path_basename(text));
            if (index >= h->next && count < cap)
                entries[count++] = (struct entry){index, (int64_t)(duration * 1e6 + 0.5)};
            duration = -1;
        }
    }
    fclose(file);
    for (int i = 0; i < count && !h->stopped; i++) {
        if (entries[i].index != h->next)
            continue; /* listed before this run's first (a seek's start) */
        if (hls_publish_init(h, err, errlen) != 0)
            return -1;
        char from[JOB_SPEC_PATH_MAX * 2], to[JOB_SPEC_PATH_MAX];
        char name[JOB_SPEC_PATH_MAX];
        if (job_spec_segment_path(h->spec, entries[i].index, to, sizeof(to)) != 0) {
            snprintf(err, errlen, "segment %d: its path does not fit", entries[i].index);
            return -1;
        }
        snprintf(name, sizeof(name), "%s", path_basename(to));
        snprintf(from, sizeof(from), "%s/%s", h->private, name);
        struct pipeline_segment segment = {
            .index = entries[i].index,
            .temp_path = from,
            .final_path = to,
            .start_us = h->start_us,
            .duration_us = entries[i].duration_us,
            .last = (at_end || ended) && i == count - 1 && count < cap,
        };
        h->start_us += entries[i].duration_us;
        h->next++;
        if (h->cb->segment_done(h->cb->opaque, &segment) != 0)
            h->stopped = 1;
    }
    return 0;
}

/* Removes the run's private folder and what is left in it. */
static void private_remove(const char *private)
{
    DIR *dir = opendir(private);
    if (dir != NULL) {
        struct dirent *entry;
        char path[JOB_SPEC_PATH_MAX * 2];
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", private, entry->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(private);
}

/* Where a run that starts at segment first_index seeks (-ss). Segment k
 * of the run from the start began with the first frame whose time, counted
 * from that run's first frame, reached the durations of the segments
 * before it: the input's first frame at or after the job's own -ss, plus
 * those durations (as the run from the start published them). A seek half
 * a millisecond before that keeps exactly that frame first. Without the
 * durations, or when the input cannot be read here, the seek is the
 * boundary k x T after the job's -ss (as Jellyfin's own seeks). */
static int64_t resume_seek_us(const struct job_spec *spec, int first_index, int64_t published_us)
{
    int64_t seek0 = spec->seek_us > 0 ? spec->seek_us : 0;
    int64_t boundary = seek0 + (int64_t)(first_index - spec->start_number) * spec->hls_time_us;
    if (first_index <= spec->start_number || published_us <= 0)
        return boundary;
    int64_t first_us = 0;
    char why[512];
    if (pipeline_probe_first_pts(spec->input, "", seek0, &first_us, why, sizeof(why)) != 0) {
        log_warn("cli_resume_probe_failed", "input=%s error=%s", log_quote(spec->input),
                 log_quote(why));
        return boundary;
    }
    int64_t seek = first_us + published_us - 500;
    return seek > 0 ? seek : 0;
}

/* Removes the private folders earlier runs of this stream left beside its
 * playlist (a worker that died keeps its own): a stalled former owner still
 * writing into one loses files it can no longer publish anyway. */
static void private_remove_stale(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *entry;
    char path[JOB_SPEC_PATH_MAX * 2];
    while ((entry = readdir(d)) != NULL) {
        if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        private_remove(path);
        log_info("cli_stale_folder_removed", "path=%s", log_quote(path));
    }
    closedir(d);
}

int cli_run_hls(const struct job_spec *spec, int first_index, const char *ffmpeg,
                const struct cli_callbacks *cb, char *err, size_t errlen)
{
    char private[JOB_SPEC_PATH_MAX];
    char dir[JOB_SPEC_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", spec->output);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    char prefix[JOB_SPEC_PATH_MAX];
    snprintf(prefix, sizeof(prefix), ".ffpool-cli-%s.", path_basename(spec->output));
    int written = snprintf(private, sizeof(private), "%s/%s%s", dir, prefix,
                           cb->temp_suffix ? cb->temp_suffix + (cb->temp_suffix[0] == '.') : "tmp");
    if (written < 0 || (size_t)written >= sizeof(private)) {
        snprintf(err, errlen, "the run's folder beside %s: path too long", spec->output);
        return PIPELINE_ERROR;
    }
    private_remove_stale(dir, prefix);
    if (mkdir(private, 0755) != 0) {
        snprintf(err, errlen, "create the run's folder %s: %s", private, strerror(errno));
        return PIPELINE_ERROR;
    }
    struct cli_line *line = malloc(sizeof(*line));
    struct capture errors, unused;
    if (line == NULL || capture_init(&errors, CLI_STDERR_TAIL) != 0 || capture_init(&unused, 64)) {
        free(line);
        snprintf(err, errlen, "out of memory");
        rmdir(private);
        return PIPELINE_ERROR;
    }
    int result = PIPELINE_ERROR;
    struct cli_process process;
    struct hls_run h = {.spec = spec, .cb = cb, .private = private, .next = first_index};
    h.start_us = (spec->seek_us > 0 ? spec->seek_us : 0) +
                 (int64_t)(first_index - spec->start_number) * spec->hls_time_us;
    struct progress_reader progress = {.report.start_us = h.start_us, .started_ms = monotonic_ms()};
    /* An earlier run published the init segment: this one's is dropped. */
    h.init_published = first_index > spec->start_number;
    if (line_build_hls(line, spec, first_index, ffmpeg, private,
                       resume_seek_us(spec, first_index, cb->resume_offset_us), err, errlen) != 0)
        goto done;
    line_log(line, first_index);
    if (process_start(&process, line, spec, err, errlen) != 0)
        goto done;

    int stop = 0;
    while (process_read(&process, &errors, &unused, &progress, cb)) {
        process_pause(&process, cb);
        if (hls_deliver(&h, 0, err, errlen) != 0 || h.stopped || cb->should_stop(cb->opaque)) {
            stop = 1;
            break;
        }
    }
    if (stop) {
        process_kill(&process);
        process_close(&process);
        result = h.stopped || cb->should_stop(cb->opaque) ? PIPELINE_STOPPED : PIPELINE_ERROR;
        goto done;
    }
    int wstatus = 0;
    while (waitpid(process.pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    process_close(&process);
    int status = process_status(wstatus);
    if (status != 0) {
        char last[512];
        capture_last_line(&errors, last, sizeof(last));
        snprintf(err, errlen, "%s exited with status %d: %s", ffmpeg, status,
                 last[0] != '\0' ? last : "(nothing on stderr)");
        goto done;
    }
    for (int before = -1; before != h.next && !h.stopped;) {
        before = h.next;
        if (hls_deliver(&h, 1, err, errlen) != 0)
            goto done;
    }
    result = h.stopped ? PIPELINE_STOPPED : PIPELINE_OK;
done:
    capture_free(&errors);
    capture_free(&unused);
    free(line);
    private_remove(private);
    return result;
}

int cli_run_once(const struct job_spec *spec, const char *ffmpeg, const struct cli_callbacks *cb,
                 size_t output_max, char **output, int *status, char *err, size_t errlen)
{
    struct cli_line *line = malloc(sizeof(*line));
    struct capture errors, out;
    *output = NULL;
    if (line == NULL || capture_init(&errors, output_max > 0 ? output_max - 1 : 0) != 0 ||
        capture_init(&out, 64) != 0) {
        free(line);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    line_build_once(line, spec, ffmpeg);
    line_log(line, -1);
    struct cli_process process;
    int result = -1;
    if (process_start(&process, line, spec, err, errlen) != 0)
        goto done;
    int stop = 0;
    while (process_read(&process, &errors, &out, NULL, cb)) {
        process_pause(&process, cb);
        if (cb->should_stop(cb->opaque)) {
            stop = 1;
            break;
        }
    }
    if (stop) {
        process_kill(&process);
        process_close(&process);
        result = 1;
        goto done;
    }
    int wstatus = 0;
    while (waitpid(process.pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    process_close(&process);
    *status = process_status(wstatus);
    *output = capture_text(&errors);
    if (*output == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    result = 0;
done:
    capture_free(&errors);
    capture_free(&out);
    free(line);
    return result;
}
