/* test_log.c -- where log lines go (proto/log.c).
 *
 * The shim runs as Jellyfin's "ffmpeg", whose stderr Jellyfin shows or
 * parses: its log lines must be able to go to a file (and nothing to
 * stderr), nowhere, or to stderr without ever passing for an ffmpeg
 * progress line. Each test captures the real stderr (fd 2) in a file. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Points fd 2 at a fresh temporary file; returns its path. */
static char *stderr_capture(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ffpool-log-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    return path;
}

/* The file's whole text (malloc'd). */
static char *file_text(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

Test(log, lines_go_to_stderr_by_default)
{
    char *err_path = stderr_capture();
    log_init("test", LOG_INFO);
    log_info("started", "job=%s", "j1");
    log_debug("noise", "x=1");
    char *text = file_text(err_path);
    cr_assert_not_null(strstr(text, " level=info prog=test event=started job=j1\n"), "%s", text);
    cr_assert_null(strstr(text, "noise"), "below the level");
    free(text);
    unlink(err_path);
}

Test(log, a_log_file_takes_every_line_and_stderr_gets_none)
{
    char *err_path = stderr_capture();
    char path[64];
    snprintf(path, sizeof(path), "/tmp/ffpool-log-file-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "earlier line\n", 13), 13);
    close(fd);

    log_init("ffprobe", LOG_INFO);
    cr_assert_eq(log_open_file(path), 0);
    log_info("passthrough", "program=%s", log_quote("/usr/bin/ffprobe"));
    log_warn("odd", "reason=%s", log_quote("two words"));
    char *text = file_text(path);
    cr_assert(strncmp(text, "earlier line\n", 13) == 0, "appended, not truncated: %s", text);
    cr_assert_not_null(strstr(text, "event=passthrough program=/usr/bin/ffprobe\n"), "%s", text);
    cr_assert_not_null(strstr(text, "level=warn prog=ffprobe event=odd reason=\"two words\"\n"),
                       "%s", text);
    char *err = file_text(err_path);
    cr_assert_str_eq(err, "", "nothing on stderr");

    /* A program exec'd later must not inherit the file. */
    char command[128];
    snprintf(command, sizeof(command), "ls -l /proc/$$/fd | grep -q '%s'", path);
    cr_assert_neq(system(command), 0, "the log file is close-on-exec");

    cr_assert_eq(log_open_file("/nonexistent-folder/x.log"), -1);
    log_info("still", "here=1");
    free(text);
    text = file_text(path);
    cr_assert_not_null(strstr(text, "event=still"), "a failed open keeps the destination");
    free(text);
    free(err);
    unlink(path);
    unlink(err_path);
}

Test(log, a_dropped_destination_writes_nothing)
{
    char *err_path = stderr_capture();
    log_init("ffmpeg", LOG_DEBUG);
    log_set_fd(-1);
    log_error("failed", "error=%s", log_quote("anything"));
    char *text = file_text(err_path);
    cr_assert_str_eq(text, "");
    log_set_fd(STDERR_FILENO);
    log_info("back", "x=1");
    free(text);
    text = file_text(err_path);
    cr_assert_not_null(strstr(text, "event=back x=1\n"), "%s", text);
    free(text);
    unlink(err_path);
}

/* Jellyfin splits each stderr line on single spaces and reads any word
 * starting with fps=, time=, size= or bitrate= (any case). */
Test(log, progress_words_never_reach_a_progress_parser)
{
    char *err_path = stderr_capture();
    log_init("ffmpeg", LOG_INFO);
    log_set_progress_safe(1);
    log_info("paths_mapped", "input=%s output=%s",
             log_quote("/media/a time=00:10:00.00 fps=99 b.mkv"),
             log_quote("/t/x SIZE=100kB Bitrate=5kbits/s.m3u8"));
    char *text = file_text(err_path);
    cr_assert_not_null(strstr(text, "event=paths_mapped input=\"/media/a time:00:10:00.00 fps:99 "
                                    "b.mkv\" output=\"/t/x SIZE:100kB Bitrate:5kbits/s.m3u8\"\n"),
                       "%s", text);
    char *save = NULL;
    for (char *word = strtok_r(text, " \n", &save); word != NULL;
         word = strtok_r(NULL, " \n", &save)) {
        cr_assert(strncasecmp(word, "fps=", 4) != 0 && strncasecmp(word, "time=", 5) != 0 &&
                      strncasecmp(word, "size=", 5) != 0 && strncasecmp(word, "bitrate=", 8) != 0,
                  "word %s", word);
    }
    free(text);
    unlink(err_path);
}
