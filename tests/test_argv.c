/* test_argv.c -- how the shim reads the command lines Jellyfin gives ffmpeg.
 *
 * Four parts: splitting the argument string the way .NET does; replaying
 * every real command line in the corpus (tests/corpus, plus the folder
 * FFPOOL_ARGV_CORPUS names, if any) with the fields the pool depends on checked
 * for the lines that matter; the decision rules on crafted lines; and
 * malformed or hostile argv (which must never crash: this runs under ASan
 * and UBSan). The corpus files hold lines in the form Jellyfin logged them;
 * corpus_line_read() turns each back into the argv ffmpeg would receive. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "argv.h"
#include "routing.h"

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

struct split_result {
    int argc;
    char **argv;
};

static struct split_result split(const char *line)
{
    struct split_result r = {0, NULL};
    cr_assert_eq(argv_split(line, &r.argc, &r.argv), 0, "argv_split failed on: %s", line);
    cr_assert_not_null(r.argv);
    cr_assert_null(r.argv[r.argc], "vector must be NULL-terminated");
    return r;
}

/* Splits "ffmpeg " + args and parses it. */
static enum argv_decision parse_args(const char *args, struct job_spec *spec, char *reason,
                                     size_t reasonlen)
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

static int starts_with(const char *s, const char *prefix)
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
 * Splitting
 * ------------------------------------------------------------------------- */

TestSuite(argv_split, .description = "splitting one argument string like .NET on Unix");

Test(argv_split, spaces_and_tabs_separate_arguments)
{
    struct split_result r = split("-i\ta.mkv  -y out.m3u8");
    cr_assert_eq(r.argc, 4);
    cr_assert_str_eq(r.argv[0], "-i");
    cr_assert_str_eq(r.argv[1], "a.mkv");
    cr_assert_str_eq(r.argv[2], "-y");
    cr_assert_str_eq(r.argv[3], "out.m3u8");
    argv_free(r.argv);
}

Test(argv_split, double_quotes_group_and_are_removed)
{
    struct split_result r = split("-i file:\"/m/a b.mkv\" x\"y z\"w");
    cr_assert_eq(r.argc, 3);
    cr_assert_str_eq(r.argv[1], "file:/m/a b.mkv");
    cr_assert_str_eq(r.argv[2], "xy zw");
    argv_free(r.argv);
}

Test(argv_split, backslash_quote_is_a_literal_quote)
{
    struct split_result r = split("a\\\"b \"c \\\" d\"");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\"b");
    cr_assert_str_eq(r.argv[1], "c \" d");
    argv_free(r.argv);
}

Test(argv_split, backslashes_not_before_a_quote_are_literal)
{
    struct split_result r = split("C:\\dir\\f.mkv \"scale=iw\\,ih\" \\\\server\\share");
    cr_assert_eq(r.argc, 3);
    cr_assert_str_eq(r.argv[0], "C:\\dir\\f.mkv");
    cr_assert_str_eq(r.argv[1], "scale=iw\\,ih");
    cr_assert_str_eq(r.argv[2], "\\\\server\\share");
    argv_free(r.argv);
}

Test(argv_split, even_backslashes_before_a_quote_halve_and_the_quote_groups)
{
    /* a\\"b c" -> a\b c ; 4 backslashes + quote -> 2 backslashes + grouping */
    struct split_result r = split("a\\\\\"b c\" d\\\\\\\\\"e f\"");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\\b c");
    cr_assert_str_eq(r.argv[1], "d\\\\e f");
    argv_free(r.argv);
}

Test(argv_split, odd_backslashes_before_a_quote_halve_and_the_quote_is_literal)
{
    /* a\\\"b -> a\"b (three backslashes: one literal backslash, literal quote) */
    struct split_result r = split("a\\\\\\\"b c");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\\\"b");
    cr_assert_str_eq(r.argv[1], "c");
    argv_free(r.argv);
}

Test(argv_split, doubled_quote_inside_quotes_is_a_literal_quote)
{
    struct split_result r = split("\"a\"\"b c\" d");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\"b c");
    cr_assert_str_eq(r.argv[1], "d");
    argv_free(r.argv);
}

Test(argv_split, empty_quoted_argument_is_an_argument)
{
    struct split_result r = split("a \"\" b \"\"");
    cr_assert_eq(r.argc, 4);
    cr_assert_str_eq(r.argv[0], "a");
    cr_assert_str_eq(r.argv[1], "");
    cr_assert_str_eq(r.argv[2], "b");
    cr_assert_str_eq(r.argv[3], "");
    argv_free(r.argv);
}

Test(argv_split, leading_and_trailing_whitespace_add_nothing)
{
    struct split_result r = split(" \t a  b \t ");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a");
    cr_assert_str_eq(r.argv[1], "b");
    argv_free(r.argv);
}

Test(argv_split, empty_and_blank_strings_give_no_arguments)
{
    const char *lines[] = {"", "   ", "\t\t"};
    for (size_t i = 0; i < 3; i++) {
        struct split_result r = split(lines[i]);
        cr_assert_eq(r.argc, 0);
        argv_free(r.argv);
    }
    int argc = -1;
    char **argv = NULL;
    cr_assert_eq(argv_split(NULL, &argc, &argv), 0);
    cr_assert_eq(argc, 0);
    cr_assert_null(argv[0]);
    argv_free(argv);
    cr_assert_eq(argv_split("a", NULL, &argv), -1);
    cr_assert_eq(argv_split("a", &argc, NULL), -1);
    argv_free(NULL);
}

Test(argv_split, unterminated_quote_runs_to_the_end)
{
    struct split_result r = split("-vf \"scale=1:2 , x");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[1], "scale=1:2 , x");
    argv_free(r.argv);
}

Test(argv_split, newline_is_not_a_separator)
{
    /* .NET splits on space and tab only. */
    struct split_result r = split("a\nb c");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\nb");
    argv_free(r.argv);
}

Test(argv_split, trailing_backslashes_are_literal)
{
    struct split_result r = split("a\\\\ b\\");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\\\\");
    cr_assert_str_eq(r.argv[1], "b\\");
    argv_free(r.argv);
}

/* ---------------------------------------------------------------------------
 * Corpus: real command lines as Jellyfin (or a user) logged them
 * ------------------------------------------------------------------------- */

/* The repository's own corpus, relative to the repository root where the
 * tests run: the named lines below are looked up there. */
static const char *corpus_dir(void)
{
    return "tests/corpus";
}

struct corpus_line {
    char *program;
    char **args; /* from argv_split */
    char **argv; /* program + args */
    int argc;
};

static void corpus_line_free(struct corpus_line *c)
{
    free(c->program);
    argv_free(c->args);
    free(c->argv);
    memset(c, 0, sizeof(*c));
}

static char *string_range(const char *s, size_t n)
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
static char *logged_string_read(const char *s, const char **end)
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
static char *logged_arguments(const char *s)
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
static void plain_split_program(const char *s, char **program, char **args)
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
static void corpus_line_read(const char *path, struct corpus_line *c)
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
static void corpus_path(const char *prefix, char *out, size_t outlen)
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

static enum argv_decision corpus_parse(const char *prefix, struct job_spec *spec, char *reason,
                                       size_t reasonlen)
{
    char path[4096];
    struct corpus_line c;
    corpus_path(prefix, path, sizeof(path));
    corpus_line_read(path, &c);
    enum argv_decision d = argv_parse_job(c.argc, c.argv, spec, reason, reasonlen);
    corpus_line_free(&c);
    return d;
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TestSuite(argv_corpus, .description = "replaying real Jellyfin command lines");

/* Every .txt line of dir gets a decision and a reason that names it. */
static void corpus_check_folder(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "corpus folder %s not found", dir);
    char *names[512];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 512) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".txt") == 0)
            names[count++] = strdup(e->d_name);
    }
    closedir(d);
    cr_assert_gt(count, 0, "corpus folder %s has no .txt files", dir);
    qsort(names, count, sizeof(names[0]), name_compare);

    int totals[3] = {0, 0, 0};
    static struct job_spec spec;
    for (size_t i = 0; i < count; i++) {
        char path[4096], reason[256];
        struct corpus_line c;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        corpus_line_read(path, &c);
        cr_assert_gt(c.argc, 1, "%s: nothing after the program", names[i]);
        enum argv_decision dec = argv_parse_job(c.argc, c.argv, &spec, reason, sizeof(reason));
        cr_assert(dec == ARGV_NATIVE || dec == ARGV_PASSTHROUGH || dec == ARGV_REFUSE);
        cr_assert_gt(strlen(reason), strlen(argv_decision_name(dec)) + 2, "%s: empty reason",
                     names[i]);
        cr_assert(starts_with(reason, argv_decision_name(dec)), "%s: reason '%s' vs %s", names[i],
                  reason, argv_decision_name(dec));
        totals[dec]++;
        cr_log_info("corpus %-12.12s %-11s %s", names[i], argv_decision_name(dec), reason);
        corpus_line_free(&c);
        free(names[i]);
    }
    cr_log_info("corpus %s: %zu files, native %d, passthrough %d, refuse %d", dir, count,
                totals[ARGV_NATIVE], totals[ARGV_PASSTHROUGH], totals[ARGV_REFUSE]);
    cr_assert_eq(totals[ARGV_NATIVE] + totals[ARGV_PASSTHROUGH] + totals[ARGV_REFUSE], (int)count);
}

/* The repository's corpus, and any other folder of real lines a tester
 * points FFPOOL_ARGV_CORPUS at. */
Test(argv_corpus, every_file_gets_a_decision_and_a_reason)
{
    corpus_check_folder(corpus_dir());
    const char *extra = getenv("FFPOOL_ARGV_CORPUS");
    if (extra != NULL && extra[0] != '\0')
        corpus_check_folder(extra);
}

Test(argv_corpus, x264_hls_with_audio_copy_is_native_with_every_field)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("002-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+copy");
    cr_assert_str_eq(s.input, "/media/file.mkv");
    cr_assert_str_eq(s.input_format, "matroska,webm");
    cr_assert_eq(s.analyzeduration_us, 200000000);
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.accurate_seek, 1);
    cr_assert_eq(s.seek_us, JOB_SPEC_UNSET);
    cr_assert_eq(s.threads, 0);
    cr_assert_eq(s.video_stream, 0);
    cr_assert_eq(s.audio_stream, 1);
    cr_assert_str_eq(s.video_codec, "libx264");
    cr_assert_str_eq(s.preset, "veryfast");
    cr_assert_eq(s.crf, 23);
    cr_assert_eq(s.maxrate, 4150796);
    cr_assert_eq(s.bufsize, 8301592);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_str_eq(s.level, "31");
    cr_assert_str_eq(
        s.x264opts,
        "subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none");
    /* The filter arrives with its \, escapes intact (no quote follows them). */
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:"
                     "trunc(min(max(iw/a\\,ih)\\,min(1280/a\\,720))/2)*2,format=yuv420p");
    cr_assert_str_eq(s.audio_codec, "copy");
    cr_assert_eq(s.output_kind, JOB_OUTPUT_HLS);
    cr_assert_eq(s.segment_type, JOB_SEGMENT_MPEGTS);
    cr_assert_eq(s.hls_time_us, 3000000);
    cr_assert_eq(s.start_number, 0);
    cr_assert_str_eq(s.segment_filename,
                     "/config/transcodes/22cb4d876fa8d06b959b2da72a04c28c%d.ts");
    cr_assert_str_eq(s.output, "/config/transcodes/22cb4d876fa8d06b959b2da72a04c28c.m3u8");
    cr_assert_eq(s.playlist_type, JOB_PLAYLIST_VOD);
    cr_assert_eq(s.max_delay_us, 5000000);
    cr_assert_eq(s.copyts, 1);

    char segment[4096];
    cr_assert_eq(job_spec_segment_path(&s, 7, segment, sizeof(segment)), 0);
    cr_assert_str_eq(segment, "/config/transcodes/22cb4d876fa8d06b959b2da72a04c28c7.ts");
}

Test(argv_corpus, x264_hls_1080_keeps_the_path_with_spaces_and_the_filter)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("003-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.input,
                     "/media/HD0/torrent-downloads/TV/The Office (2005)/Season 01/Episode 01.mkv");
    cr_assert_eq(s.hls_time_us, 3000000);
    cr_assert_eq(s.start_number, 0);
    cr_assert_not_null(strstr(s.segment_filename, "%d"));
    cr_assert_str_eq(s.video_codec, "libx264");
    cr_assert_str_eq(s.audio_codec, "copy");
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale=trunc(min(max(iw\\,ih*a)\\,min(1918\\,1080*a))/2)*2:"
                     "trunc(min(max(iw/a\\,ih)\\,min(1918/a\\,1080))/2)*2,format=yuv420p");
    cr_assert_str_eq(s.profile, "", "003 has no -profile");
}

Test(argv_corpus, video_copy_after_seek_records_seek_and_start_number)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("018-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, 494598000); /* 00:08:14.598 */
    cr_assert_eq(s.start_number, 82);
    cr_assert_eq(s.genpts, 1);
    cr_assert_eq(s.hls_time_us, 6000000);
    cr_assert_str_eq(s.video_codec, "copy");
    cr_assert_str_eq(s.video_bsf, "h264_mp4toannexb");
    cr_assert_eq(s.start_at_zero, 1);
}

Test(argv_corpus, remux_with_segment_deletion_keeps_its_read_rate)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("004-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_codec, "copy");
    cr_assert_eq(s.readrate, 10);
    cr_assert_eq(s.readrate_catchup, 0);
}

Test(argv_corpus, hevc_copy_with_noaccurate_seek_and_strict)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("042-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, 408000000);
    cr_assert_eq(s.accurate_seek, 0);
    cr_assert_eq(s.start_number, 68);
    cr_assert_str_eq(s.video_tag, "hvc1");
    cr_assert_str_eq(s.video_bsf, "hevc_mp4toannexb");
}

Test(argv_corpus, hevc_copy_to_fmp4_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("044-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.segment_type, JOB_SEGMENT_FMP4);
    cr_assert_str_eq(s.init_filename, "6efcfd6be6945029dc7b3e690a6788ee-1.mp4");
    cr_assert_eq(s.probesize, 1000000000);
    cr_assert_eq(s.hls_time_us, 6000000);
}

Test(argv_corpus, escaped_log_form_keeps_paths_with_spaces_and_commas)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("008-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.input, "/disk/Tv/Billions/Season 5/Billions - S05E03 - Beg, Bribe, Bully "
                              "WEBRip-1080p.mp4");
}

Test(argv_corpus, windows_paths_keep_their_backslashes)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("011-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert(starts_with(s.input, "G:\\Documentaries\\TV Shows\\Earth at Night in Color\\"));
    cr_assert_str_eq(s.segment_filename,
                     "C:\\Server\\Jellyfin_db\\transcodes\\03a3b4a94b0be6787d77c31b979f73f2%d.ts");
}

Test(argv_corpus, subtitle_extraction_is_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("019-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "subtitle"), "%s", reason);
    cr_assert_eq(s.video_stream, -1, "-vn");
    cr_assert_eq(s.audio_stream, -1, "-an");
}

Test(argv_corpus, ffprobe_is_a_probe_passthrough)
{
    static struct job_spec s;
    char reason[256];
    const char *probes[] = {"035-", "036-", "037-"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(corpus_parse(probes[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
        cr_assert_str_eq(reason, "passthrough: probe (ffprobe)");
    }
}

Test(argv_corpus, segment_muxer_is_passthrough)
{
    static struct job_spec s;
    char reason[256];
    /* 005 and 030 stop at -flags / -individual_header_trailer; 056 at -copypriorss. */
    const char *lines[] = {"005-", "030-", "056-"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(corpus_parse(lines[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
}

Test(argv_corpus, unquoted_argv_dump_reads_the_keyframe_expression)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("023-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -sei a53_cc unknown to libav 5.1");
    cr_assert_str_eq(s.input, "[REDACTED_MEDIA_PATH]/[REDACTED_FILENAME].mkv");
}

Test(argv_corpus, dlna_output_with_a_query_string_is_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("048-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert(starts_with(s.output, "/config/transcodes/a4e7b9904a2636a17cd21a69cea138fe.mkv?"));
}

/* ---------------------------------------------------------------------------
 * Decision rules on crafted lines
 * ------------------------------------------------------------------------- */

TestSuite(argv_rules, .description = "what the native path takes and what it leaves");

Test(argv_rules, the_reference_line_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_NATIVE, &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+aac");
    cr_assert_str_eq(s.input, "/m/a b.mkv");
    cr_assert_eq(s.audio_channels, 2);
    cr_assert_eq(s.audio_bitrate, 256000);
}

Test(argv_rules, libfdk_aac_becomes_aac)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_INPUT LINE_STREAMS LINE_VIDEO "-codec:a:0 libfdk_aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.audio_codec, "aac");
}

Test(argv_rules, no_audio_is_native_without_an_audio_stream)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args(LINE_INPUT "-map 0:0 " LINE_VIDEO "-an " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+no audio");
    cr_assert_eq(s.video_stream, 0);
    cr_assert_eq(s.audio_stream, -1);
    cr_assert_str_eq(s.audio_codec, "");
}

Test(argv_rules, without_maps_streams_are_first_of_kind)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_INPUT LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.video_stream, -2);
    cr_assert_eq(s.audio_stream, -2);
}

Test(argv_rules, relative_paths_are_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: relative input path not native");
    cr_assert_eq(parse_args("-i C:\\m\\a.mkv -c:v libx264 -c:a aac -f hls -hls_time 3 "
                            "-hls_segment_filename t%d.ts -hls_playlist_type vod "
                            "-hls_list_size 0 C:/t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: relative -hls_segment_filename not native");
    cr_assert_str_eq(s.input, "C:\\m\\a.mkv");
}

Test(argv_rules, a_single_map_under_vn_is_the_audio_stream)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args("-i /m/a.mkv -map 0:3 -vn -c:a aac " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.video_stream, -1);
    cr_assert_eq(s.audio_stream, 3);
    cr_assert_eq(
        parse_args("-i /m/a.mkv -map 0:2 -vn -an -c:s copy /t/a.srt", &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
}

/* Jellyfin's software burn-in of a graphical (PGS/DVD) subtitle: the
 * subtitle stream and the video feed one -filter_complex graph, the video
 * map is taken back with -map -0:0 and the graph's unlabelled output is the
 * video. */
#define LINE_BURN_IN_GRAPH                                                                         \
    "[0:3]scale,scale=-1:1080:fast_bilinear,crop,pad=max(1920\\,iw):max(1080\\,ih):(ow-iw)/2:"     \
    "(oh-ih)/2:black@0,crop=1920:1080[sub];[0:0]setparams=color_primaries=bt709:color_trc=bt709:"  \
    "colorspace=bt709,scale=trunc(min(max(iw\\,ih*a)\\,1920)/2)*2:trunc(ow/a/2)*2,"                \
    "format=yuv420p[main];[main][sub]overlay=eof_action=pass:repeatlast=0"
#define LINE_BURN_IN(maps, graph)                                                                  \
    "-analyzeduration 200M -probesize 1G -canvas_size 1920x1080 -i file:\"/m/a b.mkv\" "           \
    "-map_metadata -1 -map_chapters -1 -threads 0 " maps " " LINE_VIDEO "-filter_complex \"" graph \
    "\" -start_at_zero -codec:a:0 libfdk_aac -ac 2 -ab 256000 "                                    \
    "-af \"volume=2\" " LINE_HLS

Test(argv_rules, graphical_subtitle_burn_in_with_filter_complex_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:0 -map 0:1 -map -0:0", LINE_BURN_IN_GRAPH), &s,
                            reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.filter_complex, 1);
    cr_assert_str_eq(s.video_filter, LINE_BURN_IN_GRAPH);
    cr_assert_eq(s.video_stream, -2, "the worker finds the video in the graph");
    cr_assert_eq(s.audio_stream, 1, "-map -0:0 leaves the audio map");
    cr_assert_eq(s.canvas_width, 1920);
    cr_assert_eq(s.canvas_height, 1080);
    cr_assert_str_eq(s.audio_codec, "aac");

    /* A labelled output mapped by name. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map [out] -map 0:1", LINE_BURN_IN_GRAPH "[out]"), &s,
                            reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.audio_stream, 1);
}

Test(argv_rules, filter_complex_shapes_outside_the_native_path)
{
    static struct job_spec s;
    char reason[256];
    /* The video map left in place: ffmpeg would write two video streams. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:0 -map 0:1", LINE_BURN_IN_GRAPH), &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason,
                     "passthrough: a mapped video stream beside -filter_complex not native");
    /* A second input file. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1", "[1:0]scale=640:-2[sub];[0:0][sub]overlay"),
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -filter_complex reading a second input not native");
    /* Hardware filters are filter names: the graph goes to a worker that
     * has them and their device (routing), as written. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1", "[0:3]scale[sub];[0:0]hwupload_cuda[main];"
                                                     "[main][sub]overlay_cuda"),
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    /* A -map [label] that is not the graph's output: the CLI fails, so the
     * local ffmpeg gets the line and says why. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map [main] -map 0:1", LINE_BURN_IN_GRAPH "[out]"), &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map [main] is not the -filter_complex output");
    /* A labelled output nobody maps. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1", LINE_BURN_IN_GRAPH "[out]"), &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -filter_complex output label not mapped");
    /* The graph's output mapped after the audio: it would be stream 1. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1 -map [out]", LINE_BURN_IN_GRAPH "[out]"), &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map [out] not native");
    cr_assert_eq(parse_args("-canvas_size big " LINE_NATIVE, &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: cannot read -canvas_size value 'big'");
}

Test(argv_rules, values_with_si_suffixes_and_durations)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-probesize 1Gi -analyzeduration 1.5M -ss 1:30.25 -noaccurate_seek "
                            "-noautorotate -fflags +genpts -i /m/a.mkv -map 0:0 -map 0:1 "
                            "-c:v libx264 -b:v 2.5M -c:a aac -b:a 128k -ar 48000 " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.probesize, 1073741824);
    cr_assert_eq(s.analyzeduration_us, 1500000);
    cr_assert_eq(s.seek_us, 90250000);
    cr_assert_eq(s.accurate_seek, 0);
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.genpts, 1);
    cr_assert_eq(s.video_bitrate, 2500000);
    cr_assert_eq(s.audio_bitrate, 128000);
    cr_assert_eq(s.audio_sample_rate, 48000);
    cr_assert_str_eq(s.input, "/m/a.mkv");

    cr_assert_eq(parse_args("-ss 500ms -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, 500000);
}

Test(argv_rules, seek_keyframe_expression_with_offset_is_accepted)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-ss 00:00:30.000 -i /m/a.mkv -c:v libx264 "
                            "-force_key_frames:0 \"expr:gte(t,30+n_forced*3)\" -c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
}

Test(argv_rules, keyframe_interval_must_match_hls_time)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -force_key_frames \"expr:gte(t,n_forced*2)\" "
                            "-c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "-hls_time"), "%s", reason);
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -force_key_frames 0,3,6 -c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

Test(argv_rules, fmp4_copy_and_progressive_are_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f hls -hls_time 3 "
                            "-hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 "
                            "-hls_segment_filename /t/a%d.mp4 -hls_playlist_type vod "
                            "-hls_list_size 0 /t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.init_filename, "init.mp4");

    cr_assert_eq(parse_args("-i /m/a.mkv -c copy " LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_codec, "copy");
    cr_assert_str_eq(s.audio_codec, "copy");

    /* A recording (.ts) copied into fMP4: Jellyfin adds -bsf:a aac_adtstoasc,
     * which the worker applies wherever AAC is copied into MP4. */
    cr_assert_eq(parse_args("-i /m/rec.ts -map 0:0 -map 0:1 -codec:v:0 copy -tag:v:0 avc1 "
                            "-codec:a:0 copy -bsf:a aac_adtstoasc -f hls -hls_time 3 "
                            "-hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 "
                            "-hls_segment_filename /t/a%d.mp4 -hls_playlist_type vod "
                            "-hls_list_size 0 /t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(parse_args("-i /m/a.mkv -c copy -strict -2 " LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.strict, -2, "-strict reaches the muxers");
    cr_assert_eq(parse_args("-i /m/a.mkv -c copy -strict experimental " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.strict, -2);
    cr_assert_eq(parse_args("-i /m/a.mkv -c copy -strict 3 " LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c copy -bsf:a noise " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason,
                     "passthrough: -bsf:a noise not native (only -bsf:v and aac_adtstoasc)");

    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -movflags "
                            "frag_keyframe+empty_moov+delay_moov -f mp4 /t/a.mp4",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_str_eq(s.output_format, "mp4");
    cr_assert_str_eq(s.movflags, "frag_keyframe+empty_moov+delay_moov");

    cr_assert_eq(
        parse_args("-i /m/a.flac -vn -c:a libmp3lame /t/a.mp3", &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.output_format, "mp3", "guessed from the extension");

    /* Jellyfin's mp3 tags are what the worker writes; others are not. */
    cr_assert_eq(parse_args("-i /m/a.flac -vn -c:a libmp3lame -id3v2_version 3 -write_id3v1 1 "
                            "/t/a.mp3",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(parse_args("-i /m/a.flac -vn -c:a libmp3lame -id3v2_version 4 /t/a.mp3", &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);

    /* What the pipeline cannot write stays with a local ffmpeg. */
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f webm /t/a.webm", &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: progressive output format webm not native");
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v libx264 -c:a opus " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
}

Test(argv_rules, unknown_options_and_urls_are_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -foo 1 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: unknown option -foo");

    cr_assert_eq(parse_args("-i http://host/live.ts " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: input is not a local file");
}

Test(argv_rules, probes_and_the_pause_key_check_are_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-version", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: probe -version");
    cr_assert_eq(parse_args("-hide_banner -encoders", &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_eq(parse_args("-h filter=scale_cuda", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_eq(parse_args("-hide_banner -f lavfi -i nullsrc=s=1x1:d=10000 -f null -", &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "lavfi"), "%s", reason);
}

/* Jellyfin's VAAPI and Vulkan checks (EncoderValidator.cs) read ffmpeg's
 * verbose stderr from lines with no input and no output: such a line is a
 * device check job, answered by a worker with the device. */
Test(argv_rules, device_checks_are_device_check_jobs)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-v verbose -hide_banner -init_hw_device drm=dr:/dev/dri/renderD128 "
                            "-init_hw_device vulkan=vk@dr",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: device check of 2 devices");
    cr_assert_eq(s.output_kind, JOB_OUTPUT_DEVICE_CHECK);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[0], "drm=dr:/dev/dri/renderD128");
    cr_assert_str_eq(s.hw_devices[1], "vulkan=vk@dr");
    cr_assert_str_eq(s.input, "");
    cr_assert_str_eq(s.output, "");

    const char *checks[] = {
        "-v verbose -hide_banner -init_hw_device vaapi=va:/dev/dri/renderD128",
        "-hide_banner -loglevel verbose -init_hw_device vulkan=vk",
        "-init_hw_device opencl=ocl -init_hw_device vulkan=vk -v verbose -hide_banner",
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        cr_assert_eq(parse_args(checks[i], &s, reason, sizeof(reason)), ARGV_NATIVE, "%s: %s",
                     checks[i], reason);
        cr_assert_eq(s.output_kind, JOB_OUTPUT_DEVICE_CHECK, "%s", checks[i]);
    }
}

/* What a worker prints for a device check is the CLI's stderr for exactly
 * that shape; any other line without an output is the local ffmpeg's. */
Test(argv_rules, other_lines_without_output_go_to_the_local_ffmpeg)
{
    static struct job_spec s;
    char reason[256];
    const char *lines[] = {
        "-v verbose -init_hw_device vulkan=vk",            /* banner printed */
        "-v debug -hide_banner -init_hw_device vulkan=vk", /* another log level */
        "-hide_banner -init_hw_device vulkan=vk",          /* the default level */
        "-v verbose -hide_banner -v verbose -init_hw_device vulkan=vk",
        "-v verbose -hide_banner",                              /* no device */
        "-v verbose -hide_banner -init_hw_device vulkan=vk -y", /* anything else */
        "-v verbose -hide_banner -init_hw_device list",
        "-v verbose -hide_banner -init_hw_device d3d11va=dx", /* no Linux worker has it */
        "-hide_banner -i /m/a.mkv",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert_eq(parse_args(lines[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     lines[i], reason);
    cr_assert_eq(parse_args(lines[0], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(
        reason, "passthrough: no output file and not a device check: the local ffmpeg answers");
    cr_assert_eq(parse_args("-v verbose -hide_banner -init_hw_device vulkan=vk "
                            "-init_hw_device vulkan=vk",
                            &s, reason, sizeof(reason)),
                 ARGV_REFUSE, "%s", reason);
    cr_assert_eq(parse_args("-v verbose -init_hw_device vulkan=vk -i", &s, reason, sizeof(reason)),
                 ARGV_REFUSE, "a missing value is still refused");
}

/* A Jellyfin HLS remux (corpus 004's shape), with the read-rate options
 * placed before -i. */
static enum argv_decision parse_copy_with(const char *input_options, struct job_spec *spec,
                                          char *reason, size_t reasonlen)
{
    char line[2048];
    snprintf(line, sizeof(line),
             "-analyzeduration 200M -probesize 1G %s -fflags +genpts -f matroska "
             "-i file:/m/a.mkv -map 0:0 -map 0:1 -codec:v:0 copy -start_at_zero "
             "-codec:a:0 copy %s",
             input_options, LINE_HLS);
    return parse_args(line, spec, reason, reasonlen);
}

Test(argv_rules, readrate_and_readrate_catchup_reach_the_spec)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_copy_with("", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.readrate, 0, "no limit unless asked");
    cr_assert_eq(s.readrate_catchup, 0);

    /* Segment deletion on a stream copy (EncodingHelper.cs:7258-7268). */
    cr_assert_eq(parse_copy_with("-readrate 10", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    cr_assert_eq(s.readrate, 10);
    cr_assert_eq(s.readrate_catchup, 0, "ffmpeg before 8.0: no catch-up bound");

    /* Reported version >= 8.0 adds the catch-up, 100 x the rate. */
    cr_assert_eq(parse_copy_with("-readrate 10 -readrate_catchup 1000", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.readrate, 10);
    cr_assert_eq(s.readrate_catchup, 1000);
    cr_assert_eq(parse_copy_with("-readrate_catchup 1000 -readrate 10", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "order does not matter: %s", reason);
    cr_assert_eq(s.readrate_catchup, 1000);

    /* -re is rate 1 (Live TV's native frame rate), and -readrate wins. */
    cr_assert_eq(parse_copy_with("-re -readrate_catchup 100", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.readrate, 1);
    cr_assert_eq(s.readrate_catchup, 100);
    cr_assert_eq(parse_copy_with("-re -readrate 2.5", &s, reason, sizeof(reason)), ARGV_NATIVE,
                 "%s", reason);
    cr_assert_eq(s.readrate, 2.5);

    /* ffmpeg 8.0 ignores a catch-up without a rate; so does the spec. */
    cr_assert_eq(parse_copy_with("-readrate_catchup 1000", &s, reason, sizeof(reason)), ARGV_NATIVE,
                 "%s", reason);
    cr_assert_eq(s.readrate, 0);
    cr_assert_eq(s.readrate_catchup, 0);
    cr_assert_eq(parse_copy_with("-readrate 0", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    cr_assert_eq(s.readrate, 0);
}

Test(argv_rules, invalid_read_rates_are_refused_like_ffmpeg)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_copy_with("-readrate -1", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -readrate is -1.000; it must be non-negative");
    cr_assert_eq(parse_copy_with("-readrate ten", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: expected a number for -readrate but found 'ten'");
    cr_assert_eq(parse_copy_with("-readrate 10 -readrate_catchup 5", &s, reason, sizeof(reason)),
                 ARGV_REFUSE);
    cr_assert_str_eq(reason,
                     "refuse: -readrate_catchup is 5.000; it must be at least equal to 10.000");
    cr_assert_eq(
        parse_copy_with("-readrate 10 -readrate_catchup -1000", &s, reason, sizeof(reason)),
        ARGV_REFUSE);
    cr_assert_eq(parse_copy_with("-re -readrate_catchup 0.5", &s, reason, sizeof(reason)),
                 ARGV_REFUSE, "-re is rate 1: %s", reason);
    cr_assert_eq(parse_copy_with("-readrate_catchup fast", &s, reason, sizeof(reason)),
                 ARGV_REFUSE);
    cr_assert_eq(parse_copy_with("-readrate nan", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(parse_copy_with("-readrate \"\"", &s, reason, sizeof(reason)), ARGV_REFUSE);
    /* A number with a tail this parser does not read: the real ffmpeg
     * decides. SI prefixes are read as ffmpeg reads them. */
    cr_assert_eq(parse_copy_with("-readrate 10x", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_eq(parse_copy_with("-readrate 1k", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    cr_assert_eq(s.readrate, 1000);
    /* -re and -readrate are input options: after -i ffmpeg rejects them. */
    cr_assert_eq(
        parse_args("-i /m/a.mkv -readrate 10 -c copy " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
}

/* Progressive transcodes (EncodingHelper.cs:7638-7643) ask for a keyframe
 * every 5 s for seeking; HLS lines carry the segment length there. */
Test(argv_rules, force_key_frames_sets_the_keyframe_interval)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i file:/m/a.mkv -map 0:0 -map 0:1 -codec:v:0 libx264 -preset "
                            "veryfast -crf 23 -force_key_frames \"expr:gte(t,n_forced*5)\" "
                            "-codec:a:0 aac -ac 2 -ab 192000 -f mp4 -movflags "
                            "frag_keyframe+empty_moov+delay_moov -y /t/a.mp4",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_eq(s.keyframe_interval_us, 5000000);

    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f matroska /t/a.mkv", &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.keyframe_interval_us, JOB_SPEC_UNSET, "the encoder's own GOP");

    cr_assert_eq(parse_args(LINE_NATIVE, &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.keyframe_interval_us, 3000000);
    cr_assert_eq(s.keyframe_interval_us, s.hls_time_us);
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.keyframe_interval_us, JOB_SPEC_UNSET);
}

Test(argv_rules, hls_checks_refuse_what_the_pool_cannot_number)
{
    static struct job_spec s;
    char reason[256];
    const char *tail = "-i /m/a.mkv -c:v libx264 -c:a aac -f hls -hls_playlist_type vod "
                       "-hls_list_size 0 ";
    char line[1024];

    snprintf(line, sizeof(line), "%s-hls_time 0 -hls_segment_filename /t/a%%d.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -hls_time must be positive");

    snprintf(line, sizeof(line), "%s-hls_time -3 -hls_segment_filename /t/a%%d.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a%%d%%d.ts /t/a.m3u8",
             tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_not_null(strstr(reason, "%d"), "%s", reason);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a%%s.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a%%05d-%%%%.ts /t/a.m3u8",
             tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
}

/* ---------------------------------------------------------------------------
 * Hardware lines: devices, hardware decoding and encoding, read with the
 * ffmpeg 5.1 CLI's rules (fftools/ffmpeg_opt.c, ffmpeg_hw.c)
 * ------------------------------------------------------------------------- */

TestSuite(argv_hardware, .description = "Jellyfin's hardware lines become pool jobs");

/* Every hardware line of the corpus: native, or where it goes and why. */
Test(argv_hardware, every_hardware_corpus_line_gets_its_decision)
{
    static const struct {
        const char *prefix;
        enum argv_decision decision;
        const char *reason;
    } lines[] = {
        /* 10.11 QSV on VAAPI, but Live TV: an http:// input. */
        {"001-", ARGV_PASSTHROUGH, "passthrough: input is not a local file"},
        {"006-", ARGV_NATIVE, "native: HLS h264_vaapi+aac"},
        /* 10.6's hls muxer option, not the hardware. */
        {"007-", ARGV_PASSTHROUGH, "passthrough: unknown option -individual_header_trailer"},
        {"008-", ARGV_NATIVE, "native: HLS h264_qsv+aac"},
        {"010-", ARGV_NATIVE, "native: HLS h264_vaapi+aac"},
        /* tonemap_cuda is not in libav 5.1: routed by name, no Debian
         * worker offers it (Jellyfin on the pool's -filters never sends it). */
        {"011-", ARGV_NATIVE, "native: HLS h264_nvenc+aac"},
        {"013-", ARGV_NATIVE, "native: HLS h264_nvenc+aac"},
        /* jellyfin-ffmpeg >= 6 only: the local ffmpeg runs it. */
        {"014-", ARGV_PASSTHROUGH,
         "passthrough: -hwaccel_flags unsafe_output unknown to libav 5.1"},
        /* Trickplay images (mjpeg, image2): not a pool job. */
        {"016-", ARGV_PASSTHROUGH, "passthrough: unknown option -qscale:v"},
        {"017-", ARGV_PASSTHROUGH, "passthrough: unknown option -qscale:v"},
        {"022-", ARGV_NATIVE, "native: progressive h264_vaapi+aac"},
        {"023-", ARGV_PASSTHROUGH, "passthrough: -sei a53_cc unknown to libav 5.1"},
        /* hwupload_vaapi and tonemap=bt2390 are jellyfin-ffmpeg's: routed by
         * name, unroutable on Debian workers. */
        {"027-", ARGV_NATIVE, "native: HLS h264_vaapi+aac"},
        {"029-", ARGV_NATIVE, "native: HLS hevc_qsv+copy"},
        {"030-", ARGV_PASSTHROUGH, "passthrough: -hwaccel dxva2 runs on no Linux worker"},
        {"031-", ARGV_PASSTHROUGH, "passthrough: hardware decoder h264_mmal not run by the pool"},
        /* Rockchip trickplay: -skip_frame, then rkmpp. */
        {"041-", ARGV_PASSTHROUGH, "passthrough: unknown option -skip_frame"},
        {"047-", ARGV_PASSTHROUGH,
         "passthrough: hardware encoder h264_videotoolbox not run by the pool"},
        /* cuvid's own -resize has no place in the job yet. */
        {"053-", ARGV_PASSTHROUGH, "passthrough: unknown option -resize"},
        {"054-", ARGV_NATIVE, "native: HLS h264_nvenc+aac"},
        {"055-", ARGV_NATIVE, "native: HLS h264_qsv+aac"},
    };
    static struct job_spec s;
    char reason[256];
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        enum argv_decision d = corpus_parse(lines[i].prefix, &s, reason, sizeof(reason));
        cr_expect_eq(d, lines[i].decision, "%s: %s", lines[i].prefix, reason);
        cr_expect_str_eq(reason, lines[i].reason, "%s", lines[i].prefix);
        if (d == ARGV_NATIVE) {
            char err[256];
            cr_expect_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s: %s", lines[i].prefix,
                         err);
            cr_expect(job_spec_uses_hardware(&s), "%s", lines[i].prefix);
        }
    }
}

/* 10.7's VAAPI line: -vaapi_device is -init_hw_device vaapi:DEV, decoding
 * and scaling on VAAPI surfaces into h264_vaapi. */
Test(argv_hardware, vaapi_line_keeps_device_hwaccel_filter_and_encoder)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("006-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "vaapi:/dev/dri/renderD128");
    cr_assert_str_eq(s.filter_hw_device, "");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_str_eq(s.hwaccel_device, "");
    cr_assert_str_eq(s.video_decoder, "");
    cr_assert_str_eq(s.video_codec, "h264_vaapi");
    cr_assert_str_eq(s.video_filter, "scale_vaapi=format=nv12");
    cr_assert_eq(s.video_bitrate, 39683320);
    cr_assert_eq(s.maxrate, 39683320);
    cr_assert_eq(s.bufsize, 79366640);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_str_eq(s.level, "41");
    cr_assert_eq(s.keyframe_interval_us, 3000000);
    cr_assert_str_eq(s.video_encoder_options, "");
    cr_assert_eq(s.audio_channels, 6);
    cr_assert_eq(s.audio_bitrate, 640000);

    /* 10.8 on i965: a named device given to the filters, the encoder's
     * rate control, -autoscale 0. */
    cr_assert_eq(corpus_parse("010-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:,driver=i965");
    cr_assert_str_eq(s.filter_hw_device, "va");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_encoder_options, "low_power=1\nrc_mode=CBR");
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale_vaapi=format=nv12");
}

/* QSV on VAAPI (Linux): a VAAPI device, a QSV device derived from it for
 * the filters and the encoder, VAAPI decoding, frames mapped to QSV. */
Test(argv_hardware, qsv_on_vaapi_line_keeps_both_devices_in_order)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("008-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:,driver=iHD,kernel_driver=i915");
    cr_assert_str_eq(s.hw_devices[1], "qsv=qs@va");
    cr_assert_str_eq(s.filter_hw_device, "qs");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_str_eq(s.video_codec, "h264_qsv");
    cr_assert_str_eq(s.preset, "7");
    cr_assert_str_eq(s.video_encoder_options, "low_power=1\nlook_ahead=0");
    cr_assert_eq(s.gop, 72);
    cr_assert_eq(s.keyint_min, 72);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_str_eq(s.level, "41");
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale_vaapi=format=nv12,hwmap=derive_device=qsv,format=qsv");

    /* 10.11: the node named, hevc_qsv into fMP4, QSV's rate options. */
    cr_assert_eq(corpus_parse("029-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:/dev/dri/renderD128,driver=iHD");
    cr_assert_str_eq(s.hw_devices[1], "qsv=qs@va");
    cr_assert_str_eq(s.filter_hw_device, "qs");
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_codec, "hevc_qsv");
    cr_assert_str_eq(s.video_tag, "hvc1");
    cr_assert_str_eq(s.preset, "veryfast");
    cr_assert_str_eq(s.video_encoder_options, "mbbrc=1\nrc_init_occupancy=9625568");
    cr_assert_eq(s.video_bitrate, 4812784);
    cr_assert_eq(s.maxrate, 4812785);
    cr_assert_eq(s.bufsize, 19251136);
    cr_assert_str_eq(s.level, "50");
    cr_assert_eq(s.segment_type, JOB_SEGMENT_FMP4);
    cr_assert_str_eq(s.audio_codec, "copy");

    /* 10.7 on Windows: a QSV decoder by name with -hwaccel qsv. */
    cr_assert_eq(corpus_parse("055-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 0);
    cr_assert_str_eq(s.video_decoder, "hevc_qsv");
    cr_assert_str_eq(s.hwaccel, "qsv");
    cr_assert_str_eq(s.hwaccel_output_format, "", "the worker applies the CLI's qsv default");
    cr_assert_str_eq(s.video_filter, "vpp_qsv=format=nv12");
    cr_assert_str_eq(s.video_encoder_options, "look_ahead=0");
}

/* NVENC: 10.10's software decode and filters with a CUDA device for the
 * encoder; 10.7's CUDA decode and scale_cuda. */
Test(argv_hardware, nvenc_lines_keep_the_cuda_device_and_decoding)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("013-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "cuda=cu:0");
    cr_assert_str_eq(s.filter_hw_device, "cu");
    cr_assert_str_eq(s.hwaccel, "");
    cr_assert_str_eq(s.video_codec, "h264_nvenc");
    cr_assert_str_eq(s.preset, "p1");
    cr_assert_eq(s.gop, 72);
    cr_assert_eq(s.keyint_min, 72);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_eq(s.keyframe_interval_us, JOB_SPEC_UNSET, "NVENC lines key on -g, not expressions");

    cr_assert_eq(corpus_parse("054-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 0);
    cr_assert_str_eq(s.hwaccel, "cuda");
    cr_assert_str_eq(s.hwaccel_output_format, "cuda");
    cr_assert_eq(s.extra_hw_frames, 3);
    cr_assert_eq(s.seek_us, 63000000);
    cr_assert_eq(s.accurate_seek, 0);
    cr_assert_eq(s.start_number, 21);
    cr_assert_str_eq(s.preset, "default");
    cr_assert_str_eq(s.video_filter, "scale_cuda=format=nv12");
}

/* A CUVID decoder named before -i. Corpus 053 also gives cuvid's own
 * -resize, which the job cannot carry yet; without it the line is native. */
Test(argv_hardware, cuvid_decoder_before_the_input_is_the_jobs_decoder)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("053-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: unknown option -resize");
    cr_assert_str_eq(s.video_decoder, "hevc_cuvid");

    cr_assert_eq(parse_args("-c:v hevc_cuvid -i /m/a.mkv -map 0:0 -map 0:1 -codec:v:0 h264_nvenc "
                            "-pix_fmt yuv420p -preset default -b:v 13013092 -maxrate 13013092 "
                            "-bufsize 26026184 -profile:v high -g:v:0 72 -keyint_min:v:0 72 "
                            "-codec:a:0 aac -ac 2 " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS h264_nvenc+aac");
    cr_assert_str_eq(s.video_decoder, "hevc_cuvid");
    cr_assert_str_eq(s.hwaccel, "");
    cr_assert_str_eq(s.pix_fmt, "yuv420p");
    /* -vcodec and -codec:v:0 name it too; a software decoder is a choice
     * like another (Jellyfin's -c:v av1 before ffmpeg 6). */
    cr_assert_eq(
        parse_args("-hwaccel vaapi -vcodec av1 -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_decoder, "av1");
    cr_assert_eq(parse_args("-codec:v:0 h264_qsv -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_decoder, "h264_qsv");
    /* An audio decoder, or one decoder for every stream, is not a job's. */
    cr_assert_eq(parse_args("-c:a ac3 -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_eq(parse_args("-c h264 -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

/* 10.8's progressive VAAPI line with ASS subtitles burned in: surfaces
 * mapped to memory, drawn on, mapped back. */
Test(argv_hardware, progressive_vaapi_burn_in_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("022-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_str_eq(s.output_format, "matroska");
    cr_assert_eq(s.seek_us, 400072000);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:/dev/dri/renderD128");
    cr_assert_str_eq(s.filter_hw_device, "va");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_codec, "h264_vaapi");
    cr_assert_str_eq(s.video_encoder_options, "rc_mode=VBR");
    cr_assert_eq(s.keyframe_interval_us, 5000000);
    cr_assert_eq(s.video_bitrate, 8279678);
    cr_assert(starts_with(s.video_filter,
                          "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                          "scale_vaapi=format=nv12:extra_hw_frames=24,hwmap,format=nv12,"
                          "subtitles=f='/media/Bangumi/"),
              "%s", s.video_filter);
    size_t n = strlen(s.video_filter);
    cr_assert(n > 19 && strcmp(s.video_filter + n - 19, ",hwmap,format=vaapi") == 0, "%s",
              s.video_filter);
}

/* What each of these lines needs from a worker (proto/routing.c on the
 * parsed spec, as the scheduler derives it). */
Test(argv_hardware, hardware_lines_need_their_devices)
{
    static const struct {
        const char *prefix, *requires;
    } lines[] = {
        {"006-", "device:vaapi hwaccel:vaapi encoder:h264_vaapi filter:scale_vaapi encoder:aac"},
        {"008-", "device:vaapi device:qsv hwaccel:vaapi encoder:h264_qsv filter:setparams "
                 "filter:scale_vaapi filter:hwmap filter:format encoder:aac filter:volume"},
        {"013-", "device:cuda encoder:h264_nvenc filter:setparams filter:scale filter:format "
                 "encoder:aac filter:volume"},
        {"022-", "device:vaapi hwaccel:vaapi encoder:h264_vaapi filter:setparams "
                 "filter:scale_vaapi filter:hwmap filter:format filter:subtitles encoder:aac"},
        {"027-", "device:vaapi device:opencl hwaccel:vaapi encoder:h264_vaapi filter:setparams "
                 "filter:hwdownload filter:format filter:hwupload filter:tonemap_opencl "
                 "filter:hwupload_vaapi encoder:aac"},
        {"029-", "device:vaapi device:qsv hwaccel:vaapi encoder:hevc_qsv filter:setparams "
                 "filter:scale_vaapi filter:hwmap filter:format"},
        {"054-", "device:cuda hwaccel:cuda encoder:h264_nvenc filter:scale_cuda encoder:aac"},
        {"055-", "device:qsv decoder:hevc_qsv hwaccel:qsv encoder:h264_qsv filter:vpp_qsv "
                 "encoder:aac"},
    };
    static struct job_spec s;
    char reason[256], needs[JOB_SPEC_REQUIRES_MAX], err[256];
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert_eq(corpus_parse(lines[i].prefix, &s, reason, sizeof(reason)), ARGV_NATIVE,
                     "%s: %s", lines[i].prefix, reason);
        cr_assert_eq(routing_job_requires(&s, needs, sizeof(needs), err, sizeof(err)), 0, "%s: %s",
                     lines[i].prefix, err);
        cr_expect_str_eq(needs, lines[i].requires, "%s", lines[i].prefix);
    }
}

/* The CLI's device grammar and names: -init_hw_device is global (anywhere
 * before the output, in order), an unnamed device is TYPE plus the lowest
 * free number, -vaapi_device and -qsv_device expand as the CLI expands
 * them, and -filter_hw_device must name a device defined before it. */
Test(argv_hardware, devices_are_named_and_checked_as_the_cli_does)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -init_hw_device vulkan -init_hw_device vulkan "
                            "-filter_hw_device vulkan1 " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[1], "vulkan");
    cr_assert_str_eq(s.filter_hw_device, "vulkan1");

    cr_assert_eq(
        parse_args("-init_hw_device vaapi=vaapi0:/dev/dri/renderD128 -init_hw_device vaapi "
                   "-filter_hw_device vaapi1 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_NATIVE, "a name taken by hand is skipped: %s", reason);

    cr_assert_eq(parse_args("-vaapi_device /dev/dri/renderD128 -filter_hw_device vaapi0 "
                            "-i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hw_devices[0], "vaapi:/dev/dri/renderD128");

    cr_assert_eq(parse_args("-qsv_device /dev/dri/renderD128 -filter_hw_device __qsv_device "
                            "-i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hw_devices[0], "qsv=__qsv_device:hw_any,child_device=/dev/dri/renderD128");

    cr_assert_eq(parse_args("-init_hw_device opencl=ocl:0.0,device_type=gpu -init_hw_device "
                            "vulkan=vk@ocl -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);

    /* What every ffmpeg rejects is refused, in the CLI's words. */
    static const struct {
        const char *options, *reason;
    } refused[] = {
        {"-filter_hw_device va -init_hw_device vaapi=va",
         "refuse: -filter_hw_device va names no device defined before it (ffmpeg: Invalid "
         "filter "
         "device va.)"},
        {"-init_hw_device vaapi=va -filter_hw_device va -filter_hw_device va",
         "refuse: -filter_hw_device given twice (ffmpeg: Only one filter device can be used.)"},
        {"-init_hw_device vaapi=va -init_hw_device opencl=va",
         "refuse: Invalid device specification \"opencl=va\": named device already exists"},
        {"-init_hw_device qsv=qs@va",
         "refuse: Invalid device specification \"qsv=qs@va\": invalid source device name"},
        {"-init_hw_device vaapi=va:,driver",
         "refuse: Invalid device specification \"vaapi=va:,driver\": failed to parse options"},
        {"-init_hw_device vulkan -filter_hw_device vulkan1",
         "refuse: -filter_hw_device vulkan1 names no device defined before it (ffmpeg: Invalid "
         "filter device vulkan1.)"},
        {"-qsv_device \"\"", "refuse: Invalid device specification "
                             "\"qsv=__qsv_device:hw_any,child_device=\": failed to parse options"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s -i /m/a.mkv %s%s%s", refused[i].options, LINE_VIDEO,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE, "%s: %s",
                     refused[i].options, reason);
        cr_expect_str_eq(reason, refused[i].reason, "%s", refused[i].options);
    }

    /* What only libav 5.1 lacks, or no Linux worker has, goes to the local
     * ffmpeg, which may know better; so does what the job cannot hold. */
    static const struct {
        const char *options, *reason;
    } local[] = {
        {"-init_hw_device rkmpp=rk -filter_hw_device rk",
         "passthrough: hardware device type rkmpp unknown to libav 5.1"},
        {"-init_hw_device videotoolbox=vt",
         "passthrough: hardware device type videotoolbox runs on no Linux worker"},
        {"-init_hw_device d3d11va=dx -filter_hw_device dx",
         "passthrough: hardware device type d3d11va runs on no Linux worker"},
        {"-init_hw_device list", "passthrough: -init_hw_device list prints the device types"},
        {"-init_hw_device vaapi -init_hw_device vaapi -init_hw_device vaapi -init_hw_device "
         "vaapi "
         "-init_hw_device vaapi",
         "passthrough: more than 4 hardware devices not native"},
        {"-init_hw_device \"vaapi=va:,driver='iHD'\"",
         "passthrough: cannot read -init_hw_device value 'vaapi=va:,driver='iHD''"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s -i /m/a.mkv %s%s%s", local[i].options, LINE_VIDEO,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     local[i].options, reason);
        cr_expect_str_eq(reason, local[i].reason, "%s", local[i].options);
    }
    /* After the output a global option is outside the job, as before. */
    cr_assert_eq(parse_args("-i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS " -init_hw_device vaapi",
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

/* -hwaccel and its companions are input options: kept as written, checked
 * against libav 5.1's names; after -i the CLI rejects them. */
Test(argv_hardware, hwaccel_options_are_read_before_the_input)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-init_hw_device cuda=cu:0 -hwaccel nvdec -hwaccel_device cu "
                            "-hwaccel_output_format cuda -hwaccel_flags "
                            "+allow_profile_mismatch-ignore_level -extra_hw_frames 8 "
                            "-i /m/a.mkv -noautoscale " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hwaccel, "nvdec", "the worker renames it, as the CLI does");
    cr_assert_str_eq(s.hwaccel_device, "cu");
    cr_assert_str_eq(s.hwaccel_output_format, "cuda");
    cr_assert_str_eq(s.hwaccel_flags, "+allow_profile_mismatch-ignore_level");
    cr_assert_eq(s.extra_hw_frames, 8);
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_codec, "libx264", "hardware decoding into a software encoder");

    cr_assert_eq(
        parse_args("-hwaccel auto -i /m/a.mkv -autoscale 1 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hwaccel, "auto");
    cr_assert_eq(s.autoscale, 1);
    cr_assert_eq(parse_args("-hwaccel_device /dev/dri/renderD128 -hwaccel vaapi -i /m/a.mkv "
                            "-vf \"format=nv12,hwupload\" -c:v h264_vaapi -c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hwaccel_device, "/dev/dri/renderD128");

    static const struct {
        const char *options, *reason;
    } local[] = {
        {"-hwaccel rkmpp", "passthrough: -hwaccel rkmpp unknown to libav 5.1"},
        {"-hwaccel videotoolbox", "passthrough: -hwaccel videotoolbox runs on no Linux worker"},
        {"-hwaccel vaapi -hwaccel_flags +unsafe_output",
         "passthrough: -hwaccel_flags unsafe_output unknown to libav 5.1"},
        {"-hwaccel vaapi -hwaccel_flags +low_priority",
         "passthrough: -hwaccel_flags low_priority unknown to libav 5.1"},
        {"-hwaccel vaapi -hwaccel_flags 1", "passthrough: cannot read -hwaccel_flags value '1'"},
        {"-hwaccel cuda -extra_hw_frames -2", "passthrough: -extra_hw_frames value out of range"},
        {"-hwaccel vaapi -hwaccel_output_format \"\"",
         "passthrough: cannot read -hwaccel_output_format value ''"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s -i /m/a.mkv %s%s%s", local[i].options, LINE_VIDEO,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     local[i].options, reason);
        cr_expect_str_eq(reason, local[i].reason, "%s", local[i].options);
    }
    cr_assert_eq(parse_args("-i /m/a.mkv -hwaccel vaapi " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -hwaccel after -i not native");
    cr_assert_eq(parse_args("-i /m/a.mkv -extra_hw_frames 3 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

/* The hardware encoders the pool runs, with the options Jellyfin gives
 * them; the ones no Linux worker has stay local. */
Test(argv_hardware, hardware_encoders_take_their_options)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-init_hw_device vaapi=va:/dev/dri/renderD128 -filter_hw_device va "
                            "-i /m/a.mkv -map 0:0 -map 0:1 -codec:v:0 hevc_vaapi -low_power 1 "
                            "-compression_level 7 -rc_mode VBR -async_depth 4 -rc_mode:v QVBR "
                            "-sei +identifier+timing -flags:v -global_header "
                            "-b:v 4M -maxrate 4M -bufsize 8M -profile:v:0 main "
                            "-vf \"format=nv12,hwupload=extra_hw_frames=16\" " LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS hevc_vaapi+aac");
    cr_assert_str_eq(s.video_encoder_options,
                     "low_power=1\ncompression_level=7\nasync_depth=4\n"
                     "rc_mode=QVBR\nsei=+identifier+timing\n"
                     "flags=-global_header",
                     "a later value of a key replaces the earlier one");
    cr_assert_eq(s.video_bitrate, 4000000);
    cr_assert_eq(s.bufsize, 8000000);

    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v h264_nvenc -preset p4 -forced-idr 1 -c:a aac " LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_encoder_options, "forced-idr=1");
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v h264_qsv -forced_idr true -async_depth 1 -c:a aac " LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_encoder_options, "forced_idr=true\nasync_depth=1");
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v h264_v4l2m2m -g 75 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);

    static const struct {
        const char *video, *reason;
    } local[] = {
        {"-c:v h264_videotoolbox", "passthrough: hardware encoder h264_videotoolbox not run by "
                                   "the pool"},
        {"-c:v h264_amf", "passthrough: hardware encoder h264_amf not run by the pool"},
        {"-c:v h264_omx", "passthrough: hardware encoder h264_omx not run by the pool"},
        {"-c:v h264_vaapi -sei -a53_cc", "passthrough: -sei a53_cc unknown to libav 5.1"},
        {"-c:v h264_vaapi -rc_mode CRF", "passthrough: -rc_mode CRF unknown to libav 5.1"},
        {"-c:v h264_vaapi -flags -global_header", "passthrough: -flags not native (only -flags:v)"},
        {"-c:v h264_vaapi -flags:v +unaligned", "passthrough: -flags:v unaligned not native"},
        {"-c:v h264_qsv -low_power maybe", "passthrough: cannot read -low_power value 'maybe'"},
        {"-c:v h264_qsv -async_depth 0", "passthrough: -async_depth value out of range"},
        {"-c:v h264_qsv -mbbrc 2", "passthrough: -mbbrc value out of range"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "-i /m/a.mkv %s -c:a aac %s", local[i].video, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     local[i].video, reason);
        cr_expect_str_eq(reason, local[i].reason, "%s", local[i].video);
    }
    cr_assert_eq(parse_args("-c:v h264_mmal -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: hardware decoder h264_mmal not run by the pool");
}

/* hwupload, hwmap, hwdownload and hardware filters are filter names like
 * any other, in -vf and -filter_complex. */
Test(argv_hardware, hardware_filters_are_filter_names)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args("-init_hw_device vulkan=vk -filter_hw_device vk -i /m/a.mkv "
                   "-map 0:0 -map 0:1 -codec:v:0 libx264 -vf \"format=yuv420p,hwupload,"
                   "scale_vulkan=w=640:h=360,hwdownload,format=yuv420p\" " LINE_AUDIO LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_filter,
                     "format=yuv420p,hwupload,scale_vulkan=w=640:h=360,hwdownload,format=yuv420p");
    cr_assert_eq(parse_args("-i /m/a.mkv " LINE_VIDEO
                            "-vf \"scale_cuda=format=nv12\" " LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
}

/* ---------------------------------------------------------------------------
 * Malformed and hostile input
 * ------------------------------------------------------------------------- */

TestSuite(argv_adversarial, .description = "malformed argv never crashes");

Test(argv_adversarial, empty_argv_is_refused)
{
    static struct job_spec s;
    char reason[256];
    char *empty[] = {NULL};
    cr_assert_eq(argv_parse_job(0, empty, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_gt(strlen(reason), 0);
    cr_assert_eq(argv_parse_job(0, NULL, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(argv_parse_job(3, empty, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(argv_parse_job(1, (char *[]){"ffmpeg", NULL}, NULL, reason, sizeof(reason)),
                 ARGV_REFUSE);
    /* The program alone has no output: ffmpeg prints its usage, so the
     * local ffmpeg must. */
    char *program[] = {"ffmpeg", NULL};
    cr_assert_eq(argv_parse_job(1, program, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(
        reason, "passthrough: no output file and not a device check: the local ffmpeg answers");
    /* No reason buffer: still decides, writes nothing. */
    cr_assert_eq(argv_parse_job(1, program, &s, NULL, 0), ARGV_PASSTHROUGH);
    reason[0] = 'x';
    cr_assert_eq(argv_parse_job(1, program, &s, reason, 0), ARGV_PASSTHROUGH);
    cr_assert_eq(reason[0], 'x');
}

Test(argv_adversarial, missing_values_are_refused)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -i needs a value");
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -c:v needs a value");
    cr_assert_eq(parse_args("-i /m/a.mkv -hls_time", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264", &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH, "no output: ffmpeg's own error, from the local ffmpeg");
    cr_assert_eq(parse_args("-c:v libx264 out.m3u8", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: no input (-i)");
    cr_assert_eq(parse_args("-i /m/a.mkv \"\"", &s, reason, sizeof(reason)), ARGV_REFUSE);
}

Test(argv_adversarial, a_null_entry_ends_argv)
{
    static struct job_spec s;
    char reason[256];
    char *argv[] = {"ffmpeg", "-i", NULL, "x"};
    cr_assert_eq(argv_parse_job(4, argv, &s, reason, sizeof(reason)), ARGV_REFUSE);
}

Test(argv_adversarial, huge_numbers_are_passthrough_not_overflow)
{
    static struct job_spec s;
    char reason[256];
    const char *lines[] = {
        "-threads 99999999999999999999999999 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-analyzeduration 9999999999999E -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-probesize 18446744073709551615 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-ss 99999999999999999999999:00:00 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-ss 9223372036855 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-i /m/a.mkv -crf 2147483648 " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-i /m/a.mkv -b:v 1EiB " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-i /m/a.mkv -map 0:99999999999 " LINE_VIDEO LINE_AUDIO LINE_HLS,
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert_eq(parse_args(lines[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH,
                     "line %zu: %s", i, reason);
    }
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f hls -hls_time 3 "
                            "-start_number 4294967296 -hls_segment_filename /t/a%d.ts "
                            "-hls_playlist_type vod -hls_list_size 0 /t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -start_number value out of range");
    /* Exactly INT64_MAX microseconds still fits. */
    cr_assert_eq(parse_args("-ss 9223372036854.775807 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, INT64_MAX);
    /* The biggest value that fits is read exactly. */
    cr_assert_eq(
        parse_args("-probesize 9223372036854775807 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.probesize, INT64_MAX);
}

Test(argv_adversarial, very_long_arguments_are_never_truncated)
{
    static struct job_spec s;
    char reason[256];
    size_t n = 10000;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, 'a', n);
    big[0] = '/';
    big[n] = '\0';

    char *argv[] = {"ffmpeg",    "-i",
                    big,         "-c:v",
                    "libx264",   "-c:a",
                    "aac",       "-f",
                    "hls",       "-hls_segment_filename",
                    "/t/a%d.ts", "-hls_playlist_type",
                    "vod",       "-hls_list_size",
                    "0",         "/t/a.m3u8",
                    NULL};
    cr_assert_eq(argv_parse_job(16, argv, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "too long"), "%s", reason);
    cr_assert_str_eq(s.input, "", "never a truncated path");

    argv[2] = "/m/a.mkv";
    argv[10] = big; /* a segment pattern without %d, too long for the spec */
    cr_assert_eq(argv_parse_job(16, argv, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);

    big[0] = '-'; /* a 10k-character unknown option */
    argv[3] = big;
    cr_assert_eq(argv_parse_job(16, argv, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_lt(strlen(reason), 128);

    char small[8];
    cr_assert_eq(argv_parse_job(16, argv, &s, small, sizeof(small)), ARGV_PASSTHROUGH);
    cr_assert_eq(strlen(small), 7);
    free(big);
}

/* Random argv from a pool of real and broken tokens: every one must get a
 * decision and a reason with the matching prefix. Deterministic (fixed
 * seed), so a failure reproduces. */
Test(argv_adversarial, random_token_soup_never_crashes)
{
    static const char *const tokens[] = {
        "-i",
        "file:/m/a.mkv",
        "http://x/y",
        "-f",
        "hls",
        "mp4",
        "segment",
        "-c:v",
        "-codec:a:0",
        "libx264",
        "copy",
        "aac",
        "h264_vaapi",
        "-vf",
        "scale_vaapi=w=1",
        "a\\,b'c",
        "-map",
        "0:1",
        "-0:s",
        "0:v:0",
        "-hls_time",
        "3",
        "0",
        "-1",
        "1e999",
        "-ss",
        "00:00:01.5",
        "99:99",
        "-hls_segment_filename",
        "%d",
        "%d%d",
        "%",
        "-start_number",
        "-hls_list_size",
        "-hls_playlist_type",
        "vod",
        "event",
        "-force_key_frames:0",
        "expr:gte(t,n_forced*3)",
        "expr:gte(t,+n_forced*)",
        "expr:gte(t,",
        "-y",
        "out.m3u8",
        "-",
        "",
        "-fflags",
        "+",
        "+genpts-",
        "-analyzeduration",
        "200M",
        "1Gi",
        "9E",
        ".",
        "-b:v",
        "-b",
        "-tag:a",
        "-profile:v:1",
        "-x264opts:0",
        "-version",
        "-threads",
        "auto",
        "-noaccurate_seek",
        "-autorotate",
        "-max_delay",
        "-strict",
        "-2",
        "-vsync",
        "-an",
        "-vn",
        "-sn",
        "-:",
        "-c:",
        "-c::",
        "-hwaccel",
        "-filter:v",
        "[in]scale,hwupload[out]",
        "[",
        "]",
        "=",
        "-init_hw_device",
        "vaapi=va:/dev/dri/renderD128,driver=iHD",
        "qsv=qs@va",
        "vulkan",
        "opencl=ocl:,x",
        "-filter_hw_device",
        "va",
        "vulkan0",
        "-vaapi_device",
        "-qsv_device",
        "-hwaccel_flags",
        "+unsafe_output",
        "-extra_hw_frames",
        "-hwaccel_output_format",
        "-noautoscale",
        "-sei",
        "-a53_cc",
        "-rc_mode",
        "VBR",
        "-low_power",
        "-flags:v",
        "-global_header",
        "h264_qsv",
        "hevc_cuvid",
        "h264_nvenc",
    };
    const size_t ntokens = sizeof(tokens) / sizeof(tokens[0]);
    static struct job_spec s;
    char reason[256];
    char *argv[40];
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 20000; round++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int argc = 1 + (int)((state >> 33) % 39);
        argv[0] = "ffmpeg";
        for (int i = 1; i < argc; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            argv[i] = (char *)tokens[(state >> 33) % ntokens];
        }
        argv[argc] = NULL;
        enum argv_decision d = argv_parse_job(argc, argv, &s, reason, sizeof(reason));
        cr_assert(d == ARGV_NATIVE || d == ARGV_PASSTHROUGH || d == ARGV_REFUSE);
        cr_assert(starts_with(reason, argv_decision_name(d)), "round %d: %s", round, reason);
        cr_assert_gt(strlen(reason), strlen(argv_decision_name(d)) + 2);
        if (d == ARGV_NATIVE) {
            char err[256];
            cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Job key
 * ------------------------------------------------------------------------- */

TestSuite(argv_job_key, .description = "a stable name for the same command line");

static int key_is_hex(const char *key)
{
    if (strlen(key) != 32)
        return 0;
    for (size_t i = 0; i < 32; i++)
        if (!isdigit((unsigned char)key[i]) && !(key[i] >= 'a' && key[i] <= 'f'))
            return 0;
    return 1;
}

Test(argv_job_key, same_arguments_give_the_same_key_whatever_the_program_path)
{
    char *a[] = {"/usr/lib/jellyfin-ffmpeg/ffmpeg", "-i", "file:/m/a.mkv", "/t/a.m3u8", NULL};
    char *b[] = {"/opt/ffpool/ffmpeg", "-i", "file:/m/a.mkv", "/t/a.m3u8", NULL};
    char ka[33], kb[33], again[33];
    argv_job_key(4, a, ka);
    argv_job_key(4, a, again);
    argv_job_key(4, b, kb);
    cr_assert(key_is_hex(ka), "%s", ka);
    cr_assert_str_eq(ka, again);
    cr_assert_str_eq(ka, kb);
}

Test(argv_job_key, different_arguments_give_different_keys)
{
    char *a[] = {"ffmpeg", "-ss", "00:00:03.000", "-i", "/m/a.mkv", "-start_number", "1", NULL};
    char *b[] = {"ffmpeg", "-ss", "00:00:06.000", "-i", "/m/a.mkv", "-start_number", "2", NULL};
    char *c[] = {"ffmpeg", "ab", "c", NULL};
    char *d[] = {"ffmpeg", "a", "bc", NULL};
    char *e[] = {"ffmpeg", "abc", NULL};
    char ka[33], kb[33], kc[33], kd[33], ke[33], empty[33], none[33];
    argv_job_key(7, a, ka);
    argv_job_key(7, b, kb);
    argv_job_key(3, c, kc);
    argv_job_key(3, d, kd);
    argv_job_key(2, e, ke);
    argv_job_key(1, e, empty);
    argv_job_key(0, NULL, none);
    cr_assert_str_neq(ka, kb);
    cr_assert_str_neq(kc, kd, "argument boundaries count");
    cr_assert_str_neq(kc, ke);
    cr_assert_str_neq(kd, ke);
    cr_assert_str_neq(ke, empty);
    cr_assert_str_eq(empty, none);
    cr_assert(key_is_hex(none));
}
