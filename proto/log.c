/* log.c -- key=value event lines on stderr, a file, or nowhere. See log.h.
 *
 * The destination is one file descriptor and every line is one write(2),
 * so lines from several threads (or several processes appending to one
 * file) never interleave. */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "ffpool";
static enum log_level log_min = LOG_INFO;
static int log_fd = STDERR_FILENO;
static int log_file_fd = -1; /* the file log_open_file opened, if any */
static int log_progress_safe;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *prog, enum log_level min_level)
{
    log_prog = prog;
    log_min = min_level;
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (log_file_fd >= 0)
        close(log_file_fd);
    log_file_fd = fd;
    log_fd = fd;
    return 0;
}

void log_set_progress_safe(int on)
{
    log_progress_safe = on;
}

/* Replaces the '=' of every word that starts like one of ffmpeg's progress
 * fields (Jellyfin's parser splits on single spaces and reads any word
 * starting with fps=, time=, size= or bitrate=, in any case). */
static void log_defuse_progress_words(char *line, size_t n)
{
    static const char *const words[] = {"fps=", "time=", "size=", "bitrate="};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && line[i - 1] != ' ')
            continue;
        for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
            size_t len = strlen(words[k]);
            if (i + len <= n && strncasecmp(line + i, words[k], len) == 0)
                line[i + len - 1] = ':';
        }
    }
}

int log_level_parse(const char *text)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(text, log_level_names[i]) == 0)
            return i;
    return -1;
}

const char *log_quote(const char *value)
{
    static _Thread_local char slots[4][1024];
    static _Thread_local int next;
    char *out = slots[next];
    next = (next + 1) % 4;

    if (value == NULL)
        value = "";
    if (value[0] != '\0' && strpbrk(value, " \t\"=\n\r\\") == NULL) {
        snprintf(out, sizeof(slots[0]), "%s", value);
        return out;
    }
    size_t n = 0;
    out[n++] = '"';
    for (const char *p = value; *p && n < sizeof(slots[0]) - 4; p++) {
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = *p;
        } else if (*p == '\n' || *p == '\r') {
            out[n++] = ' ';
        } else {
            out[n++] = *p;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    if (level < log_min || log_fd < 0)
        return;
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s prog=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), log_level_names[level], log_prog, event);
    if (fmt != NULL && fmt[0] != '\0' && n > 0 && (size_t)n < sizeof(line) - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    if (log_progress_safe)
        log_defuse_progress_words(line, (size_t)n);
    line[n++] = '\n';
    ssize_t ignored = write(log_fd, line, (size_t)n);
    (void)ignored;
}
