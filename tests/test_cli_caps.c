/* test_cli_caps.c -- what a worker reads from its ffmpeg CLI at start
 * (cli_caps_probe): the names Debian's real `ffmpeg` lists, in the right
 * lists; the layouts of other builds (a jellyfin-ffmpeg-like CLI played by
 * a script); and the programs that are refused with a sentence: missing,
 * failing, hanging, or printing what no ffmpeg CLI prints (/bin/true prints
 * nothing: it is refused, not offered as a CLI with empty lists). The
 * announced Capabilities then offer the cli-* words (routing.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_caps.h"
#include "pipeline_caps.h"
#include "routing.h"

#define PROBE_MS 20000

static int list_has(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

Test(cli_caps, debian_ffmpeg_lists_its_codecs_filters_and_hwaccels)
{
    char err[512] = "";
    Ffpool__CliInfo *cli = cli_caps_probe("ffmpeg", PROBE_MS, err, sizeof(err));
    cr_assert_not_null(cli, "%s", err);
    cr_assert_str_eq(cli->path, "ffmpeg");
    cr_assert(strncmp(cli->version_text, "ffmpeg version ", 15) == 0, "%s", cli->version_text);
    cr_assert(strstr(cli->version_text, "libavcodec") != NULL, "the whole -version text");
    char line[256];
    cli_caps_version_line(cli, line, sizeof(line));
    cr_assert(strncmp(line, "ffmpeg version ", 15) == 0 && strchr(line, '\n') == NULL, "%s", line);

    cr_assert(list_has(cli->encoders, cli->n_encoders, "libx264"));
    cr_assert(list_has(cli->encoders, cli->n_encoders, "aac"));
    cr_assert(list_has(cli->encoders, cli->n_encoders, "h264_vaapi"));
    cr_assert(!list_has(cli->encoders, cli->n_encoders, "h264"), "h264 only decodes");
    cr_assert(list_has(cli->decoders, cli->n_decoders, "h264"));
    cr_assert(list_has(cli->decoders, cli->n_decoders, "aac"));
    cr_assert(!list_has(cli->decoders, cli->n_decoders, "libx264"));
    cr_assert(list_has(cli->filters, cli->n_filters, "scale"));
    cr_assert(list_has(cli->filters, cli->n_filters, "unsharp"));
    cr_assert(list_has(cli->filters, cli->n_filters, "scale_vaapi"));
    cr_assert(!list_has(cli->filters, cli->n_filters, "tonemapx"), "jellyfin-ffmpeg's only");
    cr_assert(list_has(cli->hwaccels, cli->n_hwaccels, "vaapi"));
    cr_assert(!list_has(cli->hwaccels, cli->n_hwaccels, "vaapi:"));
    /* Nothing of the legends or headers is taken for a name. */
    cr_assert(!list_has(cli->encoders, cli->n_encoders, "="));
    cr_assert(!list_has(cli->filters, cli->n_filters, "="));
    cr_assert(!list_has(cli->filters, cli->n_filters, "Timeline"));
    cr_assert(!list_has(cli->hwaccels, cli->n_hwaccels, "Hardware"));
    cr_assert_gt(cli->n_encoders, 100);
    cr_assert_gt(cli->n_decoders, 300);
    cr_assert_gt(cli->n_filters, 300);
    cli_caps_free(cli);
}

/* What the worker announces: its libav, and its CLI as cli-* words. */
Test(cli_caps, announced_capabilities_offer_the_cli_words)
{
    char err[512] = "";
    Ffpool__CliInfo *cli = cli_caps_probe("ffmpeg", PROBE_MS, err, sizeof(err));
    cr_assert_not_null(cli, "%s", err);
    size_t len = 0;
    uint8_t *caps = pipeline_capabilities_pack_devices(&len, NULL, 0, cli);
    cli_caps_free(cli);
    cr_assert_not_null(caps);
    char *offers = routing_worker_offers(caps, len);
    free(caps);
    cr_assert_not_null(offers);
    char missing[ROUTING_WORD_MAX] = "";
    cr_assert_eq(routing_offers_missing(offers,
                                        "encoder:libx264 cli:ffmpeg cli-encoder:libx264 "
                                        "cli-decoder:h264 cli-filter:unsharp cli-hwaccel:vaapi",
                                        missing, sizeof(missing)),
                 0, "missing %s", missing);
    cr_assert_eq(routing_offers_missing(offers, "cli-filter:tonemapx", missing, sizeof(missing)),
                 1);
    free(offers);

    /* Without a CLI: no cli word at all. */
    caps = pipeline_capabilities_pack_devices(&len, NULL, 0, NULL);
    cr_assert_not_null(caps);
    offers = routing_worker_offers(caps, len);
    free(caps);
    cr_assert_not_null(offers);
    char padded[strlen(offers) + 3];
    snprintf(padded, sizeof(padded), " %s ", offers);
    free(offers);
    cr_assert_null(strstr(padded, " cli:"), "no cli word offered");
    cr_assert_null(strstr(padded, " cli-"), "no cli word offered");
}

/* ---------------------------------------------------------------------------
 * Programs played by shell scripts
 * ------------------------------------------------------------------------- */

static char script_dir[64];

static void script_dir_make(void)
{
    snprintf(script_dir, sizeof(script_dir), "/tmp/ffpool-cli-caps-XXXXXX");
    cr_assert_not_null(mkdtemp(script_dir));
}

static void script_dir_remove(void)
{
    char command[128];
    snprintf(command, sizeof(command), "rm -rf '%s'", script_dir);
    cr_assert_eq(system(command), 0);
}

/* Writes an executable shell script named name in script_dir; returns its
 * path (static). $2 is the option after -hide_banner. */
static const char *script_write(const char *name, const char *body)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", script_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    cr_assert_eq(chmod(path, 0755), 0);
    return path;
}

/* The layouts jellyfin-ffmpeg 6 prints, with its own filter, a name that
 * makes no routing word, and CRLF line ends. */
static const char jellyfin_like[] =
    "case \"$2\" in\n"
    "-version) printf 'ffmpeg version 6.0.1-Jellyfin Copyright (c) 2000-2023\\n"
    "built with gcc 12\\n' ;;\n"
    "-encoders) printf 'Encoders:\\n V..... = Video\\n A..... = Audio\\n ------\\n"
    " V....D libx264              libx264 H.264 (codec h264)\\r\\n"
    " A....D aac                  AAC (Advanced Audio Coding)\\n"
    " V....D h264_qsv             H.264 (Intel Quick Sync Video)\\n"
    " V..... bad+name             not a routing word\\n\\n' ;;\n"
    "-decoders) printf 'Decoders:\\n V..... = Video\\n ------\\n"
    " V....D hevc                 HEVC\\n' ;;\n"
    "-filters) printf 'Filters:\\n  T.. = Timeline support\\n  .S. = Slice threading\\n"
    "  A = Audio input/output\\n  | = Source or sink filter\\n"
    " ... tonemapx          V->V       HDR to SDR tonemapping.\\n"
    " T.C scale             V->V       Scale the input video size.\\n' ;;\n"
    "-hwaccels) printf 'Hardware acceleration methods:\\nvaapi\\nqsv\\n\\n' ;;\n"
    "*) exit 1 ;;\n"
    "esac\n";

Test(cli_caps, another_builds_lists_are_read_in_its_layout)
{
    script_dir_make();
    const char *path = script_write("ffmpeg", jellyfin_like);
    char err[512] = "";
    Ffpool__CliInfo *cli = cli_caps_probe(path, PROBE_MS, err, sizeof(err));
    cr_assert_not_null(cli, "%s", err);
    cr_assert_str_eq(cli->path, path);
    char line[256];
    cli_caps_version_line(cli, line, sizeof(line));
    cr_assert_str_eq(line, "ffmpeg version 6.0.1-Jellyfin Copyright (c) 2000-2023");
    cr_assert_eq(cli->n_encoders, 3, "bad+name is left out");
    cr_assert_str_eq(cli->encoders[0], "libx264");
    cr_assert_str_eq(cli->encoders[1], "aac");
    cr_assert_str_eq(cli->encoders[2], "h264_qsv");
    cr_assert_eq(cli->n_decoders, 1);
    cr_assert_str_eq(cli->decoders[0], "hevc");
    cr_assert_eq(cli->n_filters, 2);
    cr_assert_str_eq(cli->filters[0], "tonemapx");
    cr_assert_str_eq(cli->filters[1], "scale");
    cr_assert_eq(cli->n_hwaccels, 2);
    cr_assert_str_eq(cli->hwaccels[0], "vaapi");
    cr_assert_str_eq(cli->hwaccels[1], "qsv");
    cli_caps_free(cli);
    script_dir_remove();
}

Test(cli_caps, a_missing_program_is_refused_with_its_name)
{
    char err[512] = "";
    cr_assert_null(cli_caps_probe("/nonexistent/ffmpeg", PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/ffmpeg") != NULL && strstr(err, "No such file") != NULL,
              "%s", err);
    cr_assert_null(cli_caps_probe("ffpool-no-such-ffmpeg", PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "cannot run ffpool-no-such-ffmpeg") != NULL, "%s", err);
    cr_assert_null(cli_caps_probe("", PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "no ffmpeg CLI") != NULL, "%s", err);
}

/* A program that prints nothing and exits 0 is not an ffmpeg CLI. */
Test(cli_caps, a_program_that_prints_nothing_is_refused_not_offered_empty)
{
    char err[512] = "";
    cr_assert_null(cli_caps_probe("/bin/true", PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "not an ffmpeg CLI") != NULL, "%s", err);
}

Test(cli_caps, a_failing_program_is_refused_with_its_status_and_last_line)
{
    char err[512] = "";
    cr_assert_null(cli_caps_probe("/bin/false", PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "exited with status 1") != NULL, "%s", err);

    script_dir_make();
    const char *path = script_write(
        "ffmpeg", "echo 'ffmpeg version 9'\n"
                  "[ \"$2\" = -filters ] && { echo 'first' >&2; echo 'no filters here' >&2; "
                  "exit 3; }\n"
                  "case \"$2\" in -encoders|-decoders) echo ' ------' ;; esac\n");
    cr_assert_null(cli_caps_probe(path, PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "-filters exited with status 3: no filters here") != NULL, "%s", err);
    script_dir_remove();
}

Test(cli_caps, a_list_without_its_header_is_refused)
{
    script_dir_make();
    const char *path = script_write("ffmpeg", "echo 'ffmpeg version 9'\n"
                                              "echo ' V..... libx264  no separator above'\n");
    char err[512] = "";
    cr_assert_null(cli_caps_probe(path, PROBE_MS, err, sizeof(err)));
    cr_assert(strstr(err, "-encoders did not print the list") != NULL, "%s", err);
    script_dir_remove();
}

Test(cli_caps, a_hanging_program_is_killed_at_the_time_out)
{
    script_dir_make();
    const char *path = script_write("ffmpeg", "exec sleep 30\n");
    char err[512] = "";
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    cr_assert_null(cli_caps_probe(path, 300, err, sizeof(err)));
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    cr_assert_lt(seconds, 5.0, "took %.1f s", seconds);
    cr_assert(strstr(err, "-version did not finish within the probe's 300 ms") != NULL, "%s", err);
    script_dir_remove();
}

Test(cli_caps, freeing_nothing_is_fine)
{
    cli_caps_free(NULL);
    char line[16] = "x";
    cli_caps_version_line(NULL, line, sizeof(line));
    cr_assert_str_eq(line, "");
}
