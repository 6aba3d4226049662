/* test_pipeline_burnin_external.c -- an external graphical subtitle file (a PGS .sup, DVD
 * subtitles in Matroska, made by tools/subtitle_clip) burned in as Jellyfin 10.9 to 10.11 asks
 * for it: the file is a second input, read by the -filter_complex graph as [1:0]. The line is
 * read by the shim's parser (it must be native), run by the pipeline and by the ffmpeg CLI, and
 * their segments compared frame by frame; a resumed run draws the frames of a run from the
 * start, a subtitle already on screen at its start included; a missing or damaged subtitle file
 * fails the job naming it. The clips and helpers are in pipeline_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "pipeline_test_lib.h"

/* Jellyfin's software burn-in graph for a 640x360 source whose external
 * subtitle file is the second input. */
#define EXTERNAL_GRAPH                                                                             \
    "[1:0]scale,scale=-1:360:fast_bilinear,crop,pad=max(640\\,iw):max(360\\,ih):(ow-iw)/2:"        \
    "(oh-ih)/2:black@0,crop=640:360[sub];[0:0]setparams=color_primaries=bt709:color_trc=bt709:"    \
    "colorspace=bt709,scale=trunc(min(max(iw\\,ih*a)\\,640)/2)*2:trunc(ow/a/2)*2,"                 \
    "format=yuv420p[main];[main][sub]overlay=eof_action=pass:repeatlast=0"

#define X264OPTS "subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none"
#define ARGS_MAX 96

struct line {
    int argc;
    char *argv[ARGS_MAX];
    char input[512], subtitles[600], pattern[700], playlist[700];
};

/* Jellyfin's line (EncodingHelper 10.11: GetInputArgument, GetMapArgs, no
 * -start_at_zero beside an external graphical subtitle) for the burnin-src
 * clip and the subtitle file `subtitle_fixture`, writing into dir; with
 * start_at_zero the times of each input start at 0 (the subtitle file's
 * first subtitle, at 0.5 s, then moves to 0). */
static void line_make(struct line *l, const char *subtitle_fixture, const char *dir,
                      int start_at_zero)
{
    fixture_path(l->input, sizeof(l->input), "burnin-src.mkv");
    fixture_path(l->subtitles, sizeof(l->subtitles), subtitle_fixture);
    memmove(l->input + 5, l->input, strlen(l->input) + 1);
    memcpy(l->input, "file:", 5);
    memmove(l->subtitles + 5, l->subtitles, strlen(l->subtitles) + 1);
    memcpy(l->subtitles, "file:", 5);
    snprintf(l->pattern, sizeof(l->pattern), "%s/seg%%d.ts", dir);
    snprintf(l->playlist, sizeof(l->playlist), "%s/main.m3u8", dir);
    char *args[] = {"ffmpeg",
                    "-analyzeduration",
                    "200M",
                    "-probesize",
                    "1G",
                    "-canvas_size",
                    "640x360",
                    "-i",
                    l->input,
                    "-analyzeduration",
                    "200M",
                    "-probesize",
                    "1G",
                    "-canvas_size",
                    "640x360",
                    "-i",
                    l->subtitles,
                    "-map_metadata",
                    "-1",
                    "-map_chapters",
                    "-1",
                    "-threads",
                    "0",
                    "-map",
                    "0:0",
                    "-map",
                    "0:1",
                    "-map",
                    "1:0",
                    "-sn",
                    "-map",
                    "-0:0",
                    "-codec:v:0",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "23",
                    "-maxrate",
                    "4875352",
                    "-bufsize",
                    "9750704",
                    "-profile:v:0",
                    "high",
                    "-level",
                    "31",
                    "-x264opts:0",
                    X264OPTS,
                    "-force_key_frames:0",
                    "expr:gte(t,n_forced*2)",
                    "-sc_threshold:v:0",
                    "0",
                    "-filter_complex",
                    EXTERNAL_GRAPH,
                    "-copyts",
                    "-avoid_negative_ts",
                    "disabled",
                    start_at_zero ? "-start_at_zero" : NULL,
                    "-codec:a:0",
                    "aac",
                    "-ac",
                    "2",
                    "-ab",
                    "128000",
                    "-max_muxing_queue_size",
                    "2048",
                    "-f",
                    "hls",
                    "-max_delay",
                    "5000000",
                    "-hls_time",
                    "2",
                    "-hls_segment_type",
                    "mpegts",
                    "-start_number",
                    "0",
                    "-hls_segment_filename",
                    l->pattern,
                    "-hls_playlist_type",
                    "vod",
                    "-hls_list_size",
                    "0",
                    "-y",
                    l->playlist};
    l->argc = 0;
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
        if (args[i] != NULL)
            l->argv[l->argc++] = args[i];
    l->argv[l->argc] = NULL;
}

/* The line through the shim's parser: it must be native. */
static void line_spec(const struct line *l, struct job_spec *spec)
{
    char reason[256];
    cr_assert_eq(argv_parse_job(l->argc, l->argv, spec, reason, sizeof(reason)), ARGV_NATIVE,
                 "the line is not native: %s", reason);
    cr_assert_str_neq(spec->subtitle_input, "");
}

/* The line through the ffmpeg CLI, each argument quoted for the shell. */
static void line_run_cli(const struct line *l)
{
    static char command[16384];
    size_t n = snprintf(command, sizeof(command), "ffmpeg -nostdin -v error");
    for (int i = 1; i < l->argc && n < sizeof(command); i++) {
        n += snprintf(command + n, sizeof(command) - n, " '");
        for (const char *c = l->argv[i]; *c != '\0' && n + 5 < sizeof(command); c++)
            n += *c == '\'' ? snprintf(command + n, sizeof(command) - n, "'\\''")
                            : snprintf(command + n, sizeof(command) - n, "%c", *c);
        n += snprintf(command + n, sizeof(command) - n, "'");
    }
    cr_assert_lt(n, sizeof(command));
    cr_assert_eq(run_quiet(command), 0, "the ffmpeg CLI failed: %s", command);
}

/* Runs the line natively and through the CLI and compares each segment;
 * both must differ from the clip without the subtitle. */
static void check_external_against_cli(const char *subtitle_fixture, int start_at_zero)
{
    char dir[600], cli_dir[600], plain_dir[600], input[512];
    output_dir(dir, sizeof(dir), "external");
    output_dir(cli_dir, sizeof(cli_dir), "external-cli");
    output_dir(plain_dir, sizeof(plain_dir), "external-plain");
    static struct line ours, cli;
    line_make(&ours, subtitle_fixture, dir, start_at_zero);
    line_make(&cli, subtitle_fixture, cli_dir, start_at_zero);
    struct job_spec spec, plain;
    line_spec(&ours, &spec);
    fixture_path(input, sizeof(input), "burnin-src.mkv");
    spec_jellyfin_hls(&plain, input, plain_dir, 2000000);
    struct collected c = {0}, p = {0};
    run_ok(&spec, 0, &c);
    run_ok(&plain, 0, &p);
    line_run_cli(&cli);

    cr_assert_eq(c.count, count_files(cli_dir, "*.ts"), "%d segments, the CLI wrote %d", c.count,
                 count_files(cli_dir, "*.ts"));
    for (int k = 0; k < c.count; k++) {
        char a[600], b[600], bare[600];
        struct probe po, pc;
        segment_file(a, sizeof(a), dir, k);
        segment_file(b, sizeof(b), cli_dir, k);
        segment_file(bare, sizeof(bare), plain_dir, k);
        probe_segment(a, &po);
        probe_segment(b, &pc);
        expect_decodes_cleanly(a);
        cr_expect_eq(po.video_packets, pc.video_packets, "segment %d: %d frames, CLI %d", k,
                     po.video_packets, pc.video_packets);
        cr_expect_leq(fabs(po.video_first - pc.video_first), FRAME_S / 2,
                      "segment %d starts at %.6f, CLI %.6f", k, po.video_first, pc.video_first);
        double same = video_psnr(b, a), without = video_psnr(bare, a);
        cr_expect_geq(same, 30.0, "%s segment %d: PSNR against the CLI %.2f dB", subtitle_fixture,
                      k, same);
        cr_expect_leq(without, same - 6.0,
                      "%s segment %d: the subtitle is missing (PSNR %.2f dB against no subtitle, "
                      "%.2f against the CLI)",
                      subtitle_fixture, k, without, same);
    }
}

Test(pipeline, an_external_pgs_file_is_burned_in_as_the_ffmpeg_cli_does)
{
    check_external_against_cli("subs.sup", 0);
}

Test(pipeline, an_external_dvd_subtitle_file_is_burned_in_as_the_ffmpeg_cli_does)
{
    check_external_against_cli("subs.mkv", 0);
}

/* -start_at_zero: the CLI starts each input's times at 0, so the subtitle
 * file's (its first subtitle is at 0.5 s) move by its own start. */
Test(pipeline, an_external_subtitle_file_under_start_at_zero_moves_as_the_cli_moves_it)
{
    check_external_against_cli("subs.sup", 1);
}

/* The spec the line makes, with the subtitle file in place of the line's. */
static void tweak_external(struct job_spec *spec, const char *subtitle_fixture)
{
    static struct line l;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s", spec->output);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    line_make(&l, subtitle_fixture, dir, 0);
    line_spec(&l, spec);
}

static void tweak_external_pgs(struct job_spec *spec)
{
    tweak_external(spec, "subs.sup");
}

static void tweak_external_dvd(struct job_spec *spec)
{
    tweak_external(spec, "subs.mkv");
}

/* Resumed at segment 3 (6 s, decoded from the keyframe at 4 s): the
 * subtitle on screen from 3.5 s to 6.5 s is read back from the subtitle
 * file, which is seeked with the input. */
Test(pipeline, an_external_subtitle_burn_in_resumes_with_the_same_frames)
{
    static const struct {
        const char *name;
        spec_tweak tweak;
    } cases[] = {{"subs.sup", tweak_external_pgs}, {"subs.mkv", tweak_external_dvd}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir_a[600], dir_b[600];
        check_resume_into("burnin-src.mkv", 3, cases[i].tweak, dir_a, dir_b);
        for (int k = 3; k < (int)(CLIP_S / 2); k++) {
            char a[600], b[600];
            segment_file(a, sizeof(a), dir_a, k);
            segment_file(b, sizeof(b), dir_b, k);
            double psnr = video_psnr(a, b);
            cr_expect_geq(psnr, 35.0, "%s: resumed segment %d: PSNR %.2f dB against the original",
                          cases[i].name, k, psnr);
        }
    }
}

/* A subtitle file that is missing, is not a subtitle file, or has no stream
 * [1:3] fails the job with a sentence naming it; nothing is written. */
Test(pipeline, a_missing_or_damaged_subtitle_file_fails_the_job_naming_it)
{
    static const struct {
        const char *fixture;
        const char *graph_stream; /* replaces [1:0], NULL: keep */
        const char *reason;
    } cases[] = {
        {"no-such.sup", NULL, "open subtitle input"},
        {"noise.mkv", NULL, "subtitle input"},
        {"subs.sup", "[1:3]", "names no stream of"},
        {"burnin-src.mkv", "[1:1]", "reads audio stream 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[600];
        output_dir(dir, sizeof(dir), "external-bad");
        static struct line l;
        struct job_spec spec;
        line_make(&l, "subs.sup", dir, 0);
        line_spec(&l, &spec);
        fixture_path(spec.subtitle_input, sizeof(spec.subtitle_input), cases[i].fixture);
        if (cases[i].graph_stream != NULL)
            memcpy(spec.video_filter, cases[i].graph_stream, 5);
        struct collected c = {0};
        char err[512];
        int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
        cr_expect_eq(result, PIPELINE_ERROR, "%s: result %d", cases[i].fixture, result);
        cr_expect(strstr(err, cases[i].reason) != NULL, "%s: error \"%s\" does not say \"%s\"",
                  cases[i].fixture, err, cases[i].reason);
        cr_expect_eq(c.count, 0);
    }
}
