/* argv_test_lib.h -- what the test_argv*.c files share: splitting a line
 * and parsing it as the argv ffmpeg would receive (split, parse_args), the
 * reference line the native path serves (LINE_*, changed one thing at a
 * time by the tests), and reading the corpus (tests/corpus) back into argv.
 * The corpus files hold lines in the form Jellyfin logged them;
 * corpus_line_read() turns each back into the argv ffmpeg would receive,
 * corpus_parse() finds one by its number and parses it.
 *
 * Each test binary includes it once. Every helper is static and marked
 * unused, so that a file calling only some of them builds without a
 * warning. */
#ifndef FFPOOL_ARGV_TEST_LIB_H
#define FFPOOL_ARGV_TEST_LIB_H

#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

struct split_result {
    int argc;
    char **argv;
};

static __attribute__((unused)) struct split_result split(const char *line)
{
    struct split_result r = {0, NULL};
    cr_assert_eq(argv_split(line, &r.argc, &r.argv), 0, "argv_split failed on: %s", line);
    cr_assert_not_null(r.argv);
    cr_assert_null(r.argv[r.argc], "vector must be NULL-terminated");
    return r;
}

/* Splits "ffmpeg " + args and parses it. */
static __attribute__((unused)) enum argv_decision
parse_args(const char *args, struct job_spec *spec, char *reason, size_t reasonlen)
{
    size_t n = strlen(args) + 8;
    char *line = malloc(n);
    cr_assert_not_null(line);
    snprintf(line, n, "ffmpeg %s", args);
    struct split_result r = split(line);
    enum argv_decision d = argv_parse_job(r.argc, r.argv, spec, reason, reasonlen);
    argv_free(r.argv);
    free(line);
    return d;
}

static __attribute__((unused)) int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A line the native path serves; tests change one thing at a time. */
#define LINE_INPUT "-analyzeduration 200M -f matroska,webm -autorotate 0 -i file:\"/m/a b.mkv\" "
#define LINE_STREAMS "-map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s "
#define LINE_VIDEO                                                                                 \
    "-codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4150796 -bufsize 8301592 "               \
    "-profile:v:0 high -level 31 -force_key_frames:0 \"expr:gte(t,0+n_forced*3)\" "                \
    "-sc_threshold:v:0 0 "
#define LINE_AUDIO "-codec:a:0 aac -ac 2 -ab 256000 "
#define LINE_HLS                                                                                   \
    "-copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 "   \
    "-hls_time 3 -hls_segment_type mpegts -start_number 0 -hls_segment_filename "                  \
    "\"/t/abc%d.ts\" -hls_playlist_type vod -hls_list_size 0 -y \"/t/abc.m3u8\""
#define LINE_NATIVE LINE_INPUT LINE_STREAMS LINE_VIDEO LINE_AUDIO LINE_HLS

/* ---------------------------------------------------------------------------
 * Corpus: real command lines as Jellyfin (or a user) logged them
 * ------------------------------------------------------------------------- */

/* The repository's own corpus, relative to the repository root where the
 * tests run: the named lines below are looked up there. */
static __attribute__((unused)) const char *corpus_dir(void)
{
    return "tests/corpus";
}

struct corpus_line {
    char *program;
    char **args; /* from argv_split */
    char **argv; /* program + args */
    int argc;
};

static __attribute__((unused)) void corpus_line_free(struct corpus_line *c)
{
    free(c->program);
    argv_free(c->args);
    free(c->argv);
    memset(c, 0, sizeof(*c));
}

static __attribute__((unused)) char *string_range(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    cr_assert_not_null(out);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* Reads a logged string starting at its opening quote: Jellyfin's log
 * (Serilog) writes a string value as "..." with each " inside as \".
 * Returns the unescaped text and sets *end after the closing quote. */
static __attribute__((unused)) char *logged_string_read(const char *s, const char **end)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    cr_assert_not_null(out);
    size_t k = 0, i = 1;
    while (s[i] != '\0') {
        if (s[i] == '\\' && s[i + 1] == '"') {
            out[k++] = '"';
            i += 2;
        } else if (s[i] == '"') {
            i++;
            break;
        } else {
            out[k++] = s[i++];
        }
    }
    out[k] = '\0';
    *end = s + i;
    return out;
}

/* The argument part after "with args": quoted-and-escaped or plain. */
static __attribute__((unused)) char *logged_arguments(const char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        const char *end;
        return logged_string_read(s, &end);
    }
    return string_range(s, n);
}

/* Splits "PROGRAM ARGS" where PROGRAM may contain spaces (Windows, "C:\Program
 * Files\...\ffmpeg.exe"): it ends with the first word ending in ffmpeg or
 * ffprobe (optionally .exe). A line that starts with '-' is arguments only. */
static __attribute__((unused)) void plain_split_program(const char *s, char **program, char **args)
{
    if (s[0] == '-') {
        *program = string_range("ffmpeg", 6);
        *args = string_range(s, strlen(s));
        return;
    }
    static const char *const names[] = {"ffmpeg", "ffmpeg.exe", "ffprobe", "ffprobe.exe"};
    size_t i = 0, first_end = 0;
    while (s[i] != '\0') {
        while (s[i] != '\0' && s[i] != ' ')
            i++;
        if (first_end == 0)
            first_end = i;
        for (size_t k = 0; k < 4; k++) {
            size_t m = strlen(names[k]);
            if (i >= m && strncasecmp(s + i - m, names[k], m) == 0) {
                *program = string_range(s, i);
                *args = string_range(s + i, strlen(s + i));
                return;
            }
        }
        while (s[i] == ' ')
            i++;
    }
    *program = string_range(s, first_end);
    *args = string_range(s + first_end, strlen(s + first_end));
}

/* Reads one corpus file into the argv ffmpeg would receive. Handles the
 * logged forms: plain, "time " prefix, "PROGRAM" "ARGS" (escaped), one
 * quoted "PROGRAM ARGS", PROGRAM with args "ARGS" or ARGS, and args only. */
static __attribute__((unused)) void corpus_line_read(const char *path, struct corpus_line *c)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    text[0] = '\0';
    char buf[1 << 15];
    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        const char *s = buf;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\0')
            continue;
        n = strlen(s);
        cr_assert_lt(len + n + 2, cap, "corpus line too long in %s", path);
        if (len > 0)
            text[len++] = ' ';
        memcpy(text + len, s, n + 1);
        len += n;
    }
    fclose(f);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        text[--len] = '\0';

    const char *s = text;
    if (starts_with(s, "time "))
        s += 5;
    char *program = NULL, *args = NULL;
    const char *with = strstr(s, " with args ");
    if (s[0] == '"') {
        const char *rest;
        char *first = logged_string_read(s, &rest);
        while (*rest == ' ')
            rest++;
        if (starts_with(rest, "with args "))
            rest += 10;
        if (*rest == '\0') {
            plain_split_program(first, &program, &args);
            free(first);
        } else {
            program = first;
            args = logged_arguments(rest);
        }
    } else if (with != NULL) {
        program = string_range(s, (size_t)(with - s));
        args = logged_arguments(with + 11);
    } else {
        plain_split_program(s, &program, &args);
    }
    free(text);

    int n;
    cr_assert_eq(argv_split(args, &n, &c->args), 0);
    free(args);
    c->program = program;
    c->argc = n + 1;
    c->argv = calloc((size_t)n + 2, sizeof(char *));
    cr_assert_not_null(c->argv);
    c->argv[0] = program;
    for (int i = 0; i < n; i++)
        c->argv[i + 1] = c->args[i];
}

/* Finds the corpus file whose name starts with prefix ("002-"). */
static __attribute__((unused)) void corpus_path(const char *prefix, char *out, size_t outlen)
{
    const char *dir = corpus_dir();
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "corpus folder %s not found", dir);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        if (starts_with(e->d_name, prefix)) {
            snprintf(out, outlen, "%s/%s", dir, e->d_name);
            found = 1;
            break;
        }
    }
    closedir(d);
    cr_assert(found, "no corpus file %s* in %s", prefix, dir);
}

static __attribute__((unused)) enum argv_decision
corpus_parse(const char *prefix, struct job_spec *spec, char *reason, size_t reasonlen)
{
    char path[4096];
    struct corpus_line c;
    corpus_path(prefix, path, sizeof(path));
    corpus_line_read(path, &c);
    enum argv_decision d = argv_parse_job(c.argc, c.argv, spec, reason, reasonlen);
    corpus_line_free(&c);
    return d;
}

#endif
