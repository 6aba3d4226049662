/* test_probe.c -- Jellyfin's start-up probes answered from the pool.
 *
 * The capabilities come from this machine's real libav, exactly as a worker
 * publishes them (pipeline_capabilities_pack), and every answer is compared
 * with what the local ffmpeg CLI prints for the same probe (same libav, so
 * the same header lines, the same column layout and the same entries; the
 * texts of -version, -h filter= and -h bsf= byte for byte), and read with
 * Jellyfin's own regular expressions and option checks. Also: the union
 * over workers (the oldest version winning, a worker with help texts
 * winning over one without), the size the capabilities may have, the
 * hwaccel-flag check's exit codes against the CLI's, the pause-key check on
 * a real pipe, and which argv count as probes at all. */
#include <criterion/criterion.h>

#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "argv.h"
#include "pipeline_caps.h"
#include "probe.h"

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

/* Runs a shell command; returns its stdout (malloc'd) and exit status. */
static char *cli_run(const char *command, int *status)
{
    FILE *pipe = popen(command, "r");
    cr_assert_not_null(pipe, "popen %s", command);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, pipe)) > 0) {
        len += n;
        if (cap - len < 4096) {
            cap *= 2;
            text = realloc(text, cap);
            cr_assert_not_null(text);
        }
    }
    text[len] = '\0';
    int rc = pclose(pipe);
    if (status != NULL)
        *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return text;
}

/* This machine's libav as a worker would publish it. */
static Ffpool__Capabilities *worker_caps_real(void)
{
    size_t len = 0;
    uint8_t *packed = pipeline_capabilities_pack(&len);
    cr_assert_not_null(packed);
    Ffpool__Capabilities *caps = ffpool__capabilities__unpack(NULL, len, packed);
    free(packed);
    cr_assert_not_null(caps);
    return caps;
}

struct answer {
    char *out, *err;
    int status;
};

static struct answer answer_for(enum probe_kind kind, const char *name, int hide_banner,
                                const struct probe_caps *caps)
{
    struct probe_request request = {.kind = kind, .hide_banner = hide_banner};
    snprintf(request.name, sizeof(request.name), "%s", name ? name : "");
    struct answer a = {0};
    size_t out_len, err_len;
    FILE *out = open_memstream(&a.out, &out_len);
    FILE *err = open_memstream(&a.err, &err_len);
    a.status = probe_answer(&request, caps, out, err);
    fclose(out);
    fclose(err);
    return a;
}

static void answer_free(struct answer *a)
{
    free(a->out);
    free(a->err);
}

static int line_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits text into lines (in place), drops " (codec X)" suffixes when asked
 * (the CLI names the codec id, which workers do not publish), sorts. */
static char **lines_sorted(char *text, int strip_codec_suffix, size_t *count)
{
    size_t cap = 64, n = 0;
    char **lines = malloc(cap * sizeof(*lines));
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strip_codec_suffix) {
            char *suffix = strstr(line, " (codec ");
            if (suffix != NULL && line[strlen(line) - 1] == ')')
                *suffix = '\0';
        }
        if (n == cap)
            lines = realloc(lines, (cap *= 2) * sizeof(*lines));
        lines[n++] = line;
    }
    qsort(lines, n, sizeof(*lines), line_compare);
    *count = n;
    return lines;
}

/* Our text and the CLI's hold the same lines (order aside). */
static void expect_same_lines(char *ours, char *cli, int strip_codec_suffix, const char *what)
{
    size_t n_ours, n_cli;
    char **a = lines_sorted(ours, 0, &n_ours);
    char **b = lines_sorted(cli, strip_codec_suffix, &n_cli);
    cr_expect_eq(n_ours, n_cli, "%s: %zu lines, the CLI has %zu", what, n_ours, n_cli);
    size_t shown = 0;
    for (size_t i = 0; i < n_ours && i < n_cli && shown < 5; i++)
        if (strcmp(a[i], b[i]) != 0) {
            cr_expect_fail("%s: line '%s' vs the CLI's '%s'", what, a[i], b[i]);
            shown++;
        }
    free(a);
    free(b);
}

/* Applies an extended regex to every line after the first skip lines;
 * returns how many matched and stores capture group 1 of each in names
 * (joined by '\n', with a leading '\n'). */
static size_t regex_lines(const char *text, const char *pattern, size_t skip, char **names)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0, "regcomp %s", pattern);
    size_t cap = strlen(text) + 2, used = 0, matched = 0, line_no = 0;
    *names = calloc(1, cap);
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        regmatch_t m[2];
        if (line_no++ >= skip && regexec(&re, copy, 2, m, 0) == 0) {
            matched++;
            int n = snprintf(*names + used, cap - used, "\n%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                             copy + m[1].rm_so);
            used += (size_t)n;
        }
        free(copy);
        line = end ? end + 1 : line + len;
    }
    regfree(&re);
    return matched;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text != '\0'; text++)
        n += *text == '\n';
    return n;
}

/* A fixture: one pool of a single real worker. */
static Ffpool__Capabilities *real_caps;
static Ffpool__WorkerInfo real_worker;
static struct probe_caps *pool;

static void pool_setup(void)
{
    real_caps = worker_caps_real();
    ffpool__worker_info__init(&real_worker);
    real_worker.id = "w1";
    real_worker.capabilities = real_caps;
    Ffpool__WorkerInfo *workers[] = {&real_worker};
    pool = probe_caps_build(workers, 1);
    cr_assert_not_null(pool);
}

static void pool_teardown(void)
{
    probe_caps_free(pool);
    ffpool__capabilities__free_unpacked(real_caps, NULL);
}

/* ---------------------------------------------------------------------------
 * Formats against the CLI, read with Jellyfin's expressions
 * ------------------------------------------------------------------------- */

TestSuite(probe, .init = pool_setup, .fini = pool_teardown);

/* The line of text that starts at line number n (0-based), or "" past the end. */
static char *line_at(const char *text, size_t n)
{
    for (; n > 0 && text != NULL; n--) {
        text = strchr(text, '\n');
        if (text != NULL)
            text++;
    }
    if (text == NULL)
        return strdup("");
    return strndup(text, strcspn(text, "\n"));
}

/* ours and the CLI's are the same text but for line 1 (0-based), "built
 * with COMPILER": the compiler of the ffmpeg program, which no library
 * reports. */
static void expect_same_but_compiler_line(const char *ours, const char *cli, const char *what)
{
    cr_expect_eq(count_lines(ours), count_lines(cli), "%s: %zu lines, the CLI has %zu", what,
                 count_lines(ours), count_lines(cli));
    for (size_t n = 0; n < count_lines(cli); n++) {
        char *a = line_at(ours, n), *b = line_at(cli, n);
        if (n == 1)
            cr_expect(strstr(b, "built with ") != NULL, "%s: the CLI's line 2 is '%s'", what, b);
        else
            cr_expect_str_eq(a, b, "%s line %zu: '%s', the CLI's '%s'", what, n + 1, a, b);
        free(a);
        free(b);
    }
}

Test(probe, version_is_the_clis_with_all_eight_libraries)
{
    struct answer a = answer_for(PROBE_VERSION, NULL, 0, pool);
    char *cli = cli_run("ffmpeg -version 2>/dev/null", NULL);
    expect_same_but_compiler_line(a.out, cli, "-version");
    char *ours_version, *cli_version;
    const char *re = "^ffmpeg version n?(([0-9]+\\.?)+)";
    cr_assert_eq(regex_lines(a.out, re, 0, &ours_version), 1, "version: %s", a.out);
    cr_assert_eq(regex_lines(cli, re, 0, &cli_version), 1);
    cr_expect_str_eq(ours_version, cli_version);
    /* Jellyfin's fallback parser, (lib\w+)\s+(\d+)\.\s*(\d+), needs all
     * eight, each once (it adds them to a dictionary). */
    char *libs;
    size_t n =
        regex_lines(a.out, "(lib[A-Za-z0-9_]+)[[:space:]]+[0-9]+\\.[[:space:]]*[0-9]+", 0, &libs);
    cr_expect_str_eq(libs, "\nlibavutil\nlibavcodec\nlibavformat\nlibavdevice\nlibavfilter"
                           "\nlibswscale\nlibswresample\nlibpostproc");
    cr_expect_eq(n, 8);
    cr_expect_eq(a.status, 0);
    free(libs);
    free(ours_version);
    free(cli_version);
    free(cli);
    answer_free(&a);
}

/* The banner ffmpeg prints on stderr before a help text, as the CLI's. */
Test(probe, banner_is_the_clis)
{
    struct answer a = answer_for(PROBE_HELP_FILTER, "scale", 0, pool);
    char *cli = cli_run("ffmpeg -h filter=scale 2>&1 >/dev/null", NULL);
    expect_same_but_compiler_line(a.err, cli, "banner");
    free(cli);
    answer_free(&a);
}

static void expect_codec_listing(enum probe_kind kind, const char *option)
{
    struct answer a = answer_for(kind, NULL, 1, pool);
    char command[128];
    snprintf(command, sizeof(command), "ffmpeg -hide_banner %s 2>/dev/null", option);
    char *cli = cli_run(command, NULL);
    /* The ten header lines are the CLI's, byte for byte. */
    const char *rule = strstr(cli, " ------\n");
    cr_assert_not_null(rule, "the CLI's %s has no header", option);
    size_t header_len = (size_t)(rule - cli) + 8;
    cr_expect(strncmp(a.out, cli, header_len) == 0, "%s header differs:\n%.400s", option, a.out);
    char *names;
    size_t header = 10;
    const char *re = "^ [^ ]{6} ([A-Za-z0-9_|-]+) +.+$";
    size_t matched = regex_lines(a.out, re, header, &names);
    char *cli_names;
    size_t cli_matched = regex_lines(cli, re, header, &cli_names);
    /* Jellyfin reads the same names from us as from the CLI (a name with a
     * dot, like acelp.kelvin, escapes its expression in both). */
    cr_expect_eq(matched, cli_matched, "%s: %zu names parse, %zu from the CLI", option, matched,
                 cli_matched);
    cr_expect_gt(matched, count_lines(a.out) - header - 5, "%s: nearly every line parses", option);
    free(cli_names);
    cr_expect(strstr(names, "\nlibx264\n") != NULL || kind == PROBE_DECODERS,
              "libx264 among the encoders");
    cr_expect(strstr(names, "\naac\n") != NULL, "aac listed");
    cr_expect(strstr(names, "\nh264\n") != NULL || kind == PROBE_ENCODERS, "h264 decoder listed");
    expect_same_lines(a.out, cli, 1, option);
    cr_expect_eq(a.status, 0);
    free(names);
    free(cli);
    answer_free(&a);
}

Test(probe, encoders_read_like_the_cli)
{
    expect_codec_listing(PROBE_ENCODERS, "-encoders");
}

Test(probe, decoders_read_like_the_cli)
{
    expect_codec_listing(PROBE_DECODERS, "-decoders");
}

Test(probe, filters_read_like_the_cli)
{
    struct answer a = answer_for(PROBE_FILTERS, NULL, 1, pool);
    char *cli = cli_run("ffmpeg -hide_banner -filters 2>/dev/null", NULL);
    const char *first_entry = strstr(cli, "\n ... ");
    cr_assert_not_null(first_entry);
    size_t header = (size_t)(first_entry - cli) + 1;
    cr_expect(strncmp(a.out, cli, header) == 0, "header differs:\n%.400s", a.out);
    char *names;
    size_t matched = regex_lines(a.out, "^ [^ ]{3} ([A-Za-z0-9_|-]+) +.+$", 8, &names);
    cr_expect_eq(matched, count_lines(a.out) - 8);
    cr_expect(strstr(names, "\nscale\n") != NULL && strstr(names, "\nsubtitles\n") != NULL,
              "scale and subtitles listed");
    cr_expect(strstr(a.out, " ..C scale             V->V       ") != NULL, "scale line layout");
    expect_same_lines(a.out, cli, 0, "-filters");
    free(names);
    free(cli);
    answer_free(&a);
}

Test(probe, hwaccels_equal_the_cli)
{
    struct answer a = answer_for(PROBE_HWACCELS, NULL, 1, pool);
    char *cli = cli_run("ffmpeg -hide_banner -hwaccels 2>/dev/null", NULL);
    cr_expect_str_eq(a.out, cli);
    cr_expect(strncmp(a.out, "Hardware acceleration methods:\n", 31) == 0);
    free(cli);
    answer_free(&a);
}

/* Jellyfin's filters (10.11's checks and hardware paths), filters with
 * constants, and every shape of header: named and dynamic pads, sources and
 * sinks, slice threading, timeline, child option classes (framesync,
 * swscale, swresample), no options at all, unknown here. */
static const char *const help_filters[] = {
    "overlay",
    "scale",
    "tonemap_opencl",
    "overlay_vaapi",
    "overlay_opencl",
    "overlay_vulkan",
    "transpose_opencl",
    "scale_cuda",
    "overlay_cuda",
    "scale_vulkan",
    "tonemap_cuda",
    "tonemapx",
    "tonemap",
    "tonemap_vaapi",
    "zscale",
    "transpose",
    "yadif",
    "bwdif",
    "format",
    "hwupload",
    "hwmap",
    "subtitles",
    "setpts",
    "aresample",
    "amix",
    "concat",
    "split",
    "nullsrc",
    "anullsink",
    "buffersink",
    "showinfo",
    "volume",
    "loudnorm",
    "scale2ref",
    "sidechaincompress",
    "lut",
    "fps",
    "pad",
    "drawtext",
    "colorspace",
};

Test(probe, help_filter_is_the_clis_byte_for_byte)
{
    for (size_t i = 0; i < sizeof(help_filters) / sizeof(help_filters[0]); i++) {
        struct answer a = answer_for(PROBE_HELP_FILTER, help_filters[i], 1, pool);
        char command[256];
        snprintf(command, sizeof(command), "ffmpeg -hide_banner -h filter=%s 2>/dev/null",
                 help_filters[i]);
        char *cli = cli_run(command, NULL);
        cr_expect_str_eq(a.out, cli, "-h filter=%s differs from the CLI's", help_filters[i]);
        cr_expect_str_eq(a.err, "");
        cr_expect_eq(a.status, 0, "ffmpeg exits 0, an unknown filter too");
        free(cli);
        answer_free(&a);
    }
}

Test(probe, help_bsf_is_the_clis_byte_for_byte_for_every_bsf)
{
    cr_assert_gt(real_caps->n_bsfs, 10);
    for (size_t i = 0; i <= real_caps->n_bsfs; i++) {
        const char *name = i < real_caps->n_bsfs ? real_caps->bsfs[i]->name : "no_such_bsf";
        struct answer a = answer_for(PROBE_HELP_BSF, name, 1, pool);
        char command[256];
        snprintf(command, sizeof(command), "ffmpeg -hide_banner -h bsf=%s 2>/dev/null", name);
        char *cli = cli_run(command, NULL);
        cr_expect_str_eq(a.out, cli, "-h bsf=%s differs from the CLI's", name);
        free(cli);
        answer_free(&a);
    }
}

/* Jellyfin 10.11's CheckFilterWithOption and CheckBitStreamFilterWithOption
 * (EncoderValidator.cs): the output names the filter and contains the text.
 * Each answers as it does against the CLI. */
Test(probe, jellyfins_option_checks_answer_as_against_the_cli)
{
    static const char *const checks[][3] = {
        {"filter", "scale_cuda", "format"},
        {"filter", "tonemap_cuda", "GPU accelerated HDR to SDR tonemapping"},
        {"filter", "tonemap_opencl", "bt2390"},
        {"filter", "overlay_opencl", "Action to take when encountering EOF from secondary input"},
        {"filter", "overlay_vaapi", "Action to take when encountering EOF from secondary input"},
        {"filter", "overlay_vulkan", "Action to take when encountering EOF from secondary input"},
        {"filter", "transpose_opencl", "rotate by half-turn"},
        {"filter", "overlay_opencl", "alpha_format"},
        {"filter", "overlay_cuda", "alpha_format"},
        {"bsf", "hevc_metadata", "remove_dovi"},
        {"bsf", "hevc_metadata", "remove_hdr10plus"},
        {"bsf", "av1_metadata", "remove_dovi"},
        {"bsf", "av1_metadata", "remove_hdr10plus"},
        {"bsf", "dovi_rpu", "strip"},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int filter = strcmp(checks[i][0], "filter") == 0;
        struct answer a =
            answer_for(filter ? PROBE_HELP_FILTER : PROBE_HELP_BSF, checks[i][1], 0, pool);
        char command[256], header[128];
        snprintf(command, sizeof(command), "ffmpeg -h %s=%s 2>/dev/null", checks[i][0],
                 checks[i][1]);
        snprintf(header, sizeof(header), "%s %s", filter ? "Filter" : "Bit stream filter",
                 checks[i][1]);
        char *cli = cli_run(command, NULL);
        int ours = strstr(a.out, header) != NULL && strstr(a.out, checks[i][2]) != NULL;
        int theirs = strstr(cli, header) != NULL && strstr(cli, checks[i][2]) != NULL;
        cr_expect_eq(ours, theirs, "%s %s '%s': %d, against the CLI %d", checks[i][0], checks[i][1],
                     checks[i][2], ours, theirs);
        free(cli);
        answer_free(&a);
    }
    /* Help text, not only option names: Debian's overlay_cuda has the
     * framesync options (the others Jellyfin checks arrive in later libav). */
    struct answer a = answer_for(PROBE_HELP_FILTER, "overlay_cuda", 1, pool);
    cr_expect(strstr(a.out, "Action to take when encountering EOF from secondary input") != NULL,
              "%s", a.out);
    answer_free(&a);
}

/* Every live worker's capabilities travel in each Capabilities reply, which
 * a client accepts up to 4 MiB (proto/wire.c): one worker's must leave room
 * for 16 (measured: 157 kB with Debian 12's libav, 88 kB of it help text). */
Test(probe, capabilities_leave_room_for_16_workers_in_a_reply)
{
    size_t len = 0;
    uint8_t *packed = pipeline_capabilities_pack(&len);
    cr_assert_not_null(packed);
    cr_expect_lt(len, 256u << 10, "packed Capabilities: %zu bytes", len);
    cr_expect_gt(real_caps->help_size, 4 * real_caps->help_zlib.len,
                 "help text %u bytes, %zu compressed", real_caps->help_size,
                 real_caps->help_zlib.len);
    free(packed);
}

Test(probe, banner_goes_to_stderr_unless_hidden)
{
    struct answer a = answer_for(PROBE_ENCODERS, NULL, 0, pool);
    cr_expect(strncmp(a.err, "ffmpeg version ", 15) == 0, "banner: %.80s", a.err);
    cr_expect(strncmp(a.out, "Encoders:\n", 10) == 0);
    answer_free(&a);
    a = answer_for(PROBE_ENCODERS, NULL, 1, pool);
    cr_expect_str_eq(a.err, "");
    answer_free(&a);
}

/* The check's exit code is the CLI's on the same libav: Jellyfin's argv,
 * with each flag. */
Test(probe, hwaccel_flag_check_exits_like_the_cli)
{
    static const char *const flags[] = {"+low_priority", "+unsafe_output",
                                        "+allow_profile_mismatch", "+ignore_level"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char command[256];
        snprintf(command, sizeof(command),
                 "ffmpeg -loglevel quiet -hwaccel_flags %s -hide_banner -f lavfi -i "
                 "nullsrc=s=1x1:d=1 -f null - </dev/null",
                 flags[i]);
        int cli_status;
        free(cli_run(command, &cli_status));
        struct answer a = answer_for(PROBE_HWACCEL_FLAGS, flags[i], 1, pool);
        cr_expect_eq(a.status, cli_status, "%s: %d, the CLI says %d", flags[i], a.status,
                     cli_status);
        cr_expect_str_eq(a.out, "");
        answer_free(&a);
    }
}

/* ---------------------------------------------------------------------------
 * The union over workers
 * ------------------------------------------------------------------------- */

Test(probe, union_holds_what_any_worker_has_and_the_oldest_version)
{
    /* A second, older worker with one encoder and one hwaccel of its own. */
    Ffpool__CodecInfo extra = FFPOOL__CODEC_INFO__INIT, dup = FFPOOL__CODEC_INFO__INIT;
    extra.name = "ffpool_test_enc";
    extra.flags = "V....D";
    extra.description = "an encoder only the old worker has";
    dup.name = "libx264";
    dup.flags = "A.....";
    dup.description = "a duplicate that must not appear";
    Ffpool__CodecInfo *encoders[] = {&dup, &extra};
    char *hwaccels[] = {"ffpool_test_hw"};
    Ffpool__Capabilities old = FFPOOL__CAPABILITIES__INIT;
    old.av_version = "4.4.2-0+deb11u1";
    old.version_text = "ffmpeg version 4.4.2-0+deb11u1 Copyright (c) 2000-2021\n"
                       "libavcodec     58.134.100 / 58.134.100\n";
    old.encoders = encoders;
    old.n_encoders = 2;
    old.hwaccels = hwaccels;
    old.n_hwaccels = 1;
    Ffpool__WorkerInfo old_worker = FFPOOL__WORKER_INFO__INIT, bare = FFPOOL__WORKER_INFO__INIT;
    old_worker.capabilities = &old;
    Ffpool__WorkerInfo *workers[] = {&real_worker, &bare, &old_worker};
    struct probe_caps *both = probe_caps_build(workers, 3);
    cr_assert_not_null(both);

    struct answer a = answer_for(PROBE_ENCODERS, NULL, 1, both);
    cr_expect(strstr(a.out, " V....D ffpool_test_enc      an encoder only the old worker has\n"),
              "extra encoder missing");
    cr_expect(strstr(a.out, "a duplicate") == NULL, "a name is listed once");
    struct answer alone = answer_for(PROBE_ENCODERS, NULL, 1, pool);
    cr_expect_eq(count_lines(a.out), count_lines(alone.out) + 1);
    answer_free(&alone);
    answer_free(&a);

    a = answer_for(PROBE_VERSION, NULL, 1, both);
    cr_expect(strncmp(a.out, "ffmpeg version 4.4.2", 20) == 0, "oldest wins: %.40s", a.out);
    answer_free(&a);
    a = answer_for(PROBE_HWACCELS, NULL, 1, both);
    cr_expect(strstr(a.out, "\nffpool_test_hw\n") != NULL);
    answer_free(&a);
    probe_caps_free(both);

    Ffpool__WorkerInfo *none[] = {&bare};
    cr_expect_null(probe_caps_build(none, 1), "no capabilities, no answer");
    cr_expect_null(probe_caps_build(NULL, 0));
}

/* A worker from before help texts: its listing's names and pads. */
static void old_worker_filter(Ffpool__FilterInfo *f, Ffpool__Capabilities *old,
                              Ffpool__FilterInfo **filters, char **options)
{
    f->name = "scale";
    f->flags = "..C";
    f->io = "V->V";
    f->description = "an old worker's scale";
    f->options = options;
    f->n_options = 2;
    filters[0] = f;
    old->av_version = "5.1.9-0+deb12u1";
    old->version_text = "ffmpeg version 5.1.9-0+deb12u1\n";
    old->filters = filters;
    old->n_filters = 1;
}

Test(probe, a_worker_with_help_texts_answers_help_over_one_without)
{
    Ffpool__FilterInfo f = FFPOOL__FILTER_INFO__INIT;
    Ffpool__Capabilities old = FFPOOL__CAPABILITIES__INIT;
    Ffpool__FilterInfo *filters[1];
    char *options[] = {"w", "h"};
    old_worker_filter(&f, &old, filters, options);
    Ffpool__WorkerInfo old_worker = FFPOOL__WORKER_INFO__INIT;
    old_worker.capabilities = &old;

    /* Alone, the old worker's listing is what there is. */
    Ffpool__WorkerInfo *alone[] = {&old_worker};
    struct probe_caps *caps = probe_caps_build(alone, 1);
    cr_assert_not_null(caps);
    struct answer a = answer_for(PROBE_HELP_FILTER, "scale", 1, caps);
    cr_expect_str_eq(a.out, "Filter scale\n  an old worker's scale\n    Inputs:\n"
                            "       #0: default (video)\n    Outputs:\n"
                            "       #0: default (video)\nscale AVOptions:\n   w\n   h\n");
    answer_free(&a);
    probe_caps_free(caps);

    /* Listed first beside a current worker, it gives way for help. */
    Ffpool__WorkerInfo *both[] = {&old_worker, &real_worker};
    caps = probe_caps_build(both, 2);
    cr_assert_not_null(caps);
    a = answer_for(PROBE_HELP_FILTER, "scale", 1, caps);
    char *cli = cli_run("ffmpeg -hide_banner -h filter=scale 2>/dev/null", NULL);
    cr_expect_str_eq(a.out, cli);
    free(cli);
    answer_free(&a);
    probe_caps_free(caps);
}

Test(probe, help_texts_that_do_not_inflate_as_announced_are_not_printed)
{
    /* The real worker's message with its help texts damaged three ways. */
    uint8_t *damaged = malloc(real_caps->help_zlib.len);
    cr_assert_not_null(damaged);
    memcpy(damaged, real_caps->help_zlib.data, real_caps->help_zlib.len);
    damaged[real_caps->help_zlib.len / 2] ^= 0x55;
    ProtobufCBinaryData intact = real_caps->help_zlib;
    uint32_t size = real_caps->help_size;
    for (int how = 0; how < 3; how++) {
        if (how == 0)
            real_caps->help_zlib.data = damaged; /* corrupt stream */
        else if (how == 1)
            real_caps->help_size = size + 1; /* wrong length */
        else
            real_caps->help_size = size / 2; /* slices past the end */
        Ffpool__WorkerInfo *workers[] = {&real_worker};
        struct probe_caps *caps = probe_caps_build(workers, 1);
        cr_assert_not_null(caps);
        struct answer a = answer_for(PROBE_HELP_FILTER, "zscale", 1, caps);
        cr_expect(strncmp(a.out, "Filter zscale\n", 14) == 0, "%d: %.80s", how, a.out);
        cr_expect(strstr(a.out, "AVOptions") == NULL, "%d: no text from a damaged message", how);
        answer_free(&a);
        probe_caps_free(caps);
        real_caps->help_zlib = intact;
        real_caps->help_size = size;
    }
    free(damaged);
}

/* ---------------------------------------------------------------------------
 * Which argv are probes
 * ------------------------------------------------------------------------- */

static enum probe_kind classify(const char *line, struct probe_request *request)
{
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", line);
    char *argv[64];
    int argc = 0;
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t != NULL && argc < 63;
         t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    return probe_classify(argc, argv, request);
}

Test(probe_classify, recognises_jellyfins_probes_only)
{
    struct probe_request r;
    cr_expect_eq(classify("ffmpeg -version", &r), PROBE_VERSION);
    cr_expect_eq(classify("ffmpeg --version", &r), PROBE_VERSION);
    cr_expect_eq(classify("ffmpeg -hide_banner -encoders", &r), PROBE_ENCODERS);
    cr_expect_eq(r.hide_banner, 1);
    cr_expect_eq(classify("ffmpeg -decoders", &r), PROBE_DECODERS);
    cr_expect_eq(r.hide_banner, 0);
    cr_expect_eq(classify("ffmpeg -filters", &r), PROBE_FILTERS);
    cr_expect_eq(classify("ffmpeg -hwaccels", &r), PROBE_HWACCELS);
    cr_expect_eq(classify("ffmpeg -h filter=scale_cuda", &r), PROBE_HELP_FILTER);
    cr_expect_str_eq(r.name, "scale_cuda");
    cr_expect_eq(classify("ffmpeg -h bsf=dovi_rpu", &r), PROBE_HELP_BSF);
    cr_expect_str_eq(r.name, "dovi_rpu");
    cr_expect_eq(classify("ffmpeg -hide_banner -f lavfi -i nullsrc=s=1x1:d=10000 -f null -", &r),
                 PROBE_PAUSE_KEYS);
    cr_expect_eq(classify("ffmpeg -loglevel quiet -hwaccel_flags +low_priority -hide_banner -f "
                          "lavfi -i nullsrc=s=1x1:d=100 -f null -",
                          &r),
                 PROBE_HWACCEL_FLAGS);
    cr_expect_str_eq(r.name, "+low_priority");

    /* Not ours: other help, device checks, real jobs, a real output. */
    cr_expect_eq(classify("ffmpeg -h", &r), PROBE_NONE);
    cr_expect_eq(classify("ffmpeg -h encoder=libx264", &r), PROBE_NONE);
    cr_expect_eq(classify("ffmpeg -formats", &r), PROBE_NONE);
    cr_expect_eq(classify("ffmpeg -v verbose -hide_banner -init_hw_device vaapi=va:/dev/dri/"
                          "renderD128 -f lavfi -i nullsrc=s=1x1:d=1 -f null -",
                          &r),
                 PROBE_NONE);
    cr_expect_eq(classify("ffmpeg -f lavfi -i nullsrc=s=1x1:d=1 -f null /tmp/out", &r), PROBE_NONE);
    cr_expect_eq(classify("ffmpeg -f lavfi -i testsrc2 -f null -", &r), PROBE_NONE);
    cr_expect_eq(classify("ffmpeg -i file:/media/a.mkv -c:v libx264 -f hls /t/a.m3u8", &r),
                 PROBE_NONE);
    cr_expect_eq(classify("ffmpeg", &r), PROBE_NONE);
}

/* ---------------------------------------------------------------------------
 * The pause-key check on a real pipe
 * ------------------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(probe_pause, answers_the_question_mark_and_exits_when_stdin_closes)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(write(fds[1], "?", 1), 1);
    close(fds[1]);
    char *text = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&text, &len);
    long long started = now_ms();
    int status = probe_pause_keys(fds[0], err, 5000);
    long long took = now_ms() - started;
    fclose(err);
    close(fds[0]);
    cr_expect_eq(status, 0);
    cr_expect_lt(took, 1000, "took %lld ms", took);
    cr_expect(strstr(text, "p      pause transcoding") != NULL, "%s", text);
    cr_expect(strstr(text, "u      unpause transcoding") != NULL, "%s", text);
    free(text);
}

Test(probe_pause, never_hangs_on_a_stdin_that_stays_open)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    FILE *err = fopen("/dev/null", "w");
    long long started = now_ms();
    cr_expect_eq(probe_pause_keys(fds[0], err, 200), 0);
    long long took = now_ms() - started;
    cr_expect(took >= 150 && took < 1500, "took %lld ms", took);
    fclose(err);
    close(fds[0]);
    close(fds[1]);
}

/* ---------------------------------------------------------------------------
 * No real command line is mistaken for a probe
 * ------------------------------------------------------------------------- */

/* The repository's corpus (tests run from the repository root), and any
 * other folder of real lines FFPOOL_ARGV_CORPUS names. */
Test(probe_classify, no_corpus_line_is_a_probe)
{
    const char *extra = getenv("FFPOOL_ARGV_CORPUS");
    char command[1200];
    if (extra != NULL && extra[0] != '\0')
        snprintf(command, sizeof(command), "ls tests/corpus/*.txt %s/*.txt 2>/dev/null", extra);
    else
        snprintf(command, sizeof(command), "ls tests/corpus/*.txt 2>/dev/null");
    char *list = cli_run(command, NULL);
    int files = 0;
    for (char *save = NULL, *path = strtok_r(list, "\n", &save); path != NULL;
         path = strtok_r(NULL, "\n", &save)) {
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        size_t cap = 1 << 16, len = 0;
        char *text = calloc(1, cap), line[1 << 15];
        while (fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] == '#' || line[0] == '\0' || len + strlen(line) + 2 >= cap)
                continue;
            len += (size_t)snprintf(text + len, cap - len, "%s ", line);
        }
        fclose(f);
        int argc;
        char **argv;
        cr_assert_eq(argv_split(text, &argc, &argv), 0);
        struct probe_request r;
        cr_expect_eq(probe_classify(argc, argv, &r), PROBE_NONE, "%s is not a probe", path);
        argv_free(argv);
        free(text);
        files++;
    }
    free(list);
    cr_expect_gt(files, 10, "corpus found in tests/corpus");
}

/* A worker whose CLI is jellyfin-ffmpeg: what only its CLI has is listed
 * too, as that CLI prints it; what libav has already is listed once. */
Test(probe, a_clis_own_filters_and_encoders_join_the_listings)
{
    static const char filters_text[] =
        "Filters:\n"
        "  T.. = Timeline support\n"
        " ..C scale             V->V       Scale the input video "
        "size and/or convert the image format.\n"
        " ... tonemapx          V->V       SIMD optimized HDR to SDR "
        "tonemapping\n";
    static const char encoders_text[] = "Encoders:\n ------\n"
                                        " V....D h264_rkmpp           Rockchip MPP H.264 encoder\n";
    char *filters[] = {"scale", "tonemapx"};
    char *encoders[] = {"h264_rkmpp"};
    char *hwaccels[] = {"rkmpp"};
    Ffpool__CliInfo cli = FFPOOL__CLI_INFO__INIT;
    cli.filters = filters;
    cli.n_filters = 2;
    cli.filters_text = (char *)filters_text;
    cli.encoders = encoders;
    cli.n_encoders = 1;
    cli.encoders_text = (char *)encoders_text;
    cli.hwaccels = hwaccels;
    cli.n_hwaccels = 1;
    Ffpool__Capabilities with_cli = *real_caps;
    with_cli.cli = &cli;
    Ffpool__WorkerInfo worker = real_worker;
    worker.capabilities = &with_cli;
    Ffpool__WorkerInfo *workers[] = {&worker};
    struct probe_caps *caps = probe_caps_build(workers, 1);
    cr_assert_not_null(caps);

    struct answer a = answer_for(PROBE_FILTERS, NULL, 1, caps);
    cr_assert_not_null(strstr(a.out, " ... tonemapx          V->V       SIMD optimized HDR to SDR "
                                     "tonemapping\n"),
                       "%s", a.out);
    size_t scales = 0;
    for (const char *line = a.out; line != NULL;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *flags = line + strspn(line, " "); /* "..C scale  V->V ..." */
        scales += strlen(flags) > 4 && strncmp(flags + 4, "scale ", 6) == 0;
    }
    cr_assert_eq(scales, 1, "scale is listed %zu times", scales);
    answer_free(&a);
    a = answer_for(PROBE_ENCODERS, NULL, 1, caps);
    cr_assert_not_null(strstr(a.out, " V....D h264_rkmpp           Rockchip MPP H.264 encoder\n"));
    answer_free(&a);
    a = answer_for(PROBE_HWACCELS, NULL, 1, caps);
    cr_assert_not_null(strstr(a.out, "\nrkmpp\n"), "%s", a.out);
    answer_free(&a);
    a = answer_for(PROBE_HELP_FILTER, "tonemapx", 1, caps);
    cr_assert(strncmp(a.out, "Filter tonemapx\n", 16) == 0, "%s", a.out);
    answer_free(&a);
    /* The version stays the pipeline's libav: a line shaped for it runs
     * natively or on any CLI at least as new. */
    a = answer_for(PROBE_VERSION, NULL, 1, caps);
    cr_assert_str_eq(a.out, real_caps->version_text);
    answer_free(&a);
    probe_caps_free(caps);
}
