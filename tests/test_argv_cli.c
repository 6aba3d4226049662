/* test_argv_cli.c -- lines for a worker's ffmpeg CLI: what argv_cli_spec
 * reads of a line the native parser passes through (Jellyfin's corpus and
 * hand-made shapes), which lines stay on Jellyfin's host, the paths
 * pathmap_apply_cli maps, the job spec's round trip through protobuf, and
 * the routing words the scheduler derives from the line itself. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv_test_lib.h"
#include "job_spec.h"
#include "pathmap.h"
#include "routing.h"

TestSuite(argv_cli, .description = "lines for a worker's ffmpeg CLI");

/* Splits "ffmpeg " + args and reads it as a CLI job. */
static int cli_spec(const char *args, struct job_spec *spec, char *why, size_t whylen)
{
    char line[8192];
    snprintf(line, sizeof(line), "ffmpeg %s", args);
    struct split_result r = split(line);
    int status = argv_cli_spec(r.argc, r.argv, spec, why, whylen);
    argv_free(r.argv);
    return status;
}

static struct job_spec *corpus_cli(const char *prefix, int *status, char *why, size_t whylen)
{
    char path[4096];
    struct corpus_line c;
    corpus_path(prefix, path, sizeof(path));
    corpus_line_read(path, &c);
    struct job_spec *spec = malloc(sizeof(*spec));
    cr_assert_not_null(spec);
    *status = argv_cli_spec(c.argc, c.argv, spec, why, whylen);
    corpus_line_free(&c);
    return spec;
}

Test(argv_cli, jellyfin_non_stream_lines_run_once)
{
    static const char *const lines[] = {"016-", "019-", "034-", "051-"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char why[256];
        int status;
        struct job_spec *spec = corpus_cli(lines[i], &status, why, sizeof(why));
        cr_assert_eq(status, 0, "%s: %s", lines[i], why);
        cr_assert_eq(spec->output_kind, JOB_OUTPUT_CLI, "%s", lines[i]);
        cr_assert(spec->n_cli_args > 4, "%s", lines[i]);
        cr_assert_neq(spec->input[0], '\0', "%s", lines[i]);
        free(spec);
    }
}

Test(argv_cli, an_hls_line_is_a_stream_with_its_segments)
{
    char why[256];
    int status;
    struct job_spec *spec = corpus_cli("007-", &status, why, sizeof(why));
    cr_assert_eq(status, 0, "%s", why);
    cr_assert_eq(spec->output_kind, JOB_OUTPUT_CLI_HLS);
    cr_assert(spec->hls_time_us > 0);
    cr_assert(job_spec_pattern_valid(spec->segment_filename), "%s", spec->segment_filename);
    cr_assert_eq(strstr(spec->output, ".m3u8") != NULL, 1, "%s", spec->output);
    free(spec);

    /* Live TV: a URL input, copied into an HLS stream. */
    spec = corpus_cli("049-", &status, why, sizeof(why));
    cr_assert_eq(status, 0, "%s", why);
    cr_assert_eq(spec->output_kind, JOB_OUTPUT_CLI_HLS);
    cr_assert_eq(spec->hls_time_us, 3000000);
    free(spec);
}

Test(argv_cli, the_hls_fields_and_the_seek_are_read)
{
    struct job_spec spec;
    char why[256];
    cr_assert_eq(cli_spec("-ss 00:00:12.000 -i file:/m/a.mkv -c:v libx264 -r 24 -c:a aac -f hls "
                          "-hls_time 4 -hls_segment_type fmp4 -hls_fmp4_init_filename \"x-1.mp4\" "
                          "-start_number 3 -hls_segment_filename /t/x%d.mp4 "
                          "-hls_playlist_type event -hls_list_size 0 -y /t/x.m3u8",
                          &spec, why, sizeof(why)),
                 0, "%s", why);
    cr_assert_eq(spec.output_kind, JOB_OUTPUT_CLI_HLS);
    cr_assert_eq(spec.seek_us, 12000000);
    cr_assert_eq(spec.hls_time_us, 4000000);
    cr_assert_eq(spec.segment_type, JOB_SEGMENT_FMP4);
    cr_assert_str_eq(spec.init_filename, "x-1.mp4");
    cr_assert_eq(spec.start_number, 3);
    cr_assert_eq(spec.playlist_type, JOB_PLAYLIST_EVENT);
    cr_assert_str_eq(spec.input, "/m/a.mkv");
    cr_assert_str_eq(spec.output, "/t/x.m3u8");
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(&spec, args);
    cr_assert_str_eq(args[0], "-ss");
    cr_assert_str_eq(args[3], "file:/m/a.mkv");
    cr_assert_str_eq(args[spec.n_cli_args - 1], "/t/x.m3u8");
    cr_assert_null(args[spec.n_cli_args]);
}

Test(argv_cli, lines_that_stay_on_jellyfins_host)
{
    static const struct {
        const char *args, *why;
    } local[] = {
        {"-i /m/a.mkv -f mjpeg -", "it writes to stdout"},
        {"-i /m/a.mkv -c copy -f matroska pipe:1", "it writes to stdout"},
        {"-i pipe:0 -c copy /t/a.mkv", "it reads its input from stdin"},
        {"-version", "it has no input"},
        {"-i http://127.0.0.1:8096/LiveTv/LiveStreamFiles/abc/stream.ts -c copy -f mpegts /t/a.ts",
         "its input is on Jellyfin's own loopback address"},
        {"-dump_attachment:t \"\" -y -i /m/a.mkv -t 0 -f null null",
         "-dump_attachment writes into Jellyfin's working directory"},
        {"-i /m/a.mkv", "it has no output"},
        {"-i /m/a.mkv -f hls -hls_time 3 /t/x.m3u8",
         "an HLS output the pool cannot publish: no -hls_segment_filename with one %d"},
        {"-i /m/a.mkv -f hls -hls_list_size 5 -hls_segment_filename /t/x%d.ts /t/x.m3u8",
         "an HLS output the pool cannot publish: -hls_list_size 5 (a sliding playlist)"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        struct job_spec spec;
        char why[256];
        cr_assert_eq(cli_spec(local[i].args, &spec, why, sizeof(why)), -1, "%s", local[i].args);
        cr_assert_str_eq(why, local[i].why, "%s", local[i].args);
    }
    /* A null output writes nothing: a loudness scan goes. */
    struct job_spec spec;
    char why[256];
    cr_assert_eq(
        cli_spec("-i /m/a.mkv -af ebur128=framelog=verbose -f null -", &spec, why, sizeof(why)), 0,
        "%s", why);
    cr_assert_eq(spec.output_kind, JOB_OUTPUT_CLI);
}

Test(argv_cli, paths_and_devices_are_mapped_in_the_arguments)
{
    struct pathmap map, devices;
    char err[256], why[256];
    cr_assert_eq(pathmap_parse(&map, "/media=/mnt/media;/cache=/mnt/cache", err, sizeof(err)), 0);
    cr_assert_eq(
        pathmap_parse(&devices, "/dev/dri/renderD128=/dev/dri/renderD129", err, sizeof(err)), 0);
    struct job_spec spec;
    cr_assert_eq(cli_spec("-init_hw_device vaapi=va:/dev/dri/renderD128 -i \"file:/media/a b.mkv\" "
                          "-vf \"subtitles=filename='/media/a.ass'\" -c:v mjpeg "
                          "-f image2 /cache/trickplay/%08d.jpg",
                          &spec, why, sizeof(why)),
                 0, "%s", why);
    int changed = pathmap_apply_cli(&map, &devices, &spec, err, sizeof(err));
    cr_assert_eq(changed, 4, "%d: %s", changed, err);
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(&spec, args);
    cr_assert_str_eq(args[1], "vaapi=va:/dev/dri/renderD129");
    cr_assert_str_eq(args[3], "file:/mnt/media/a b.mkv");
    cr_assert_str_eq(args[5], "subtitles=filename='/mnt/media/a.ass'");
    cr_assert_str_eq(args[spec.n_cli_args - 1], "/mnt/cache/trickplay/%08d.jpg");
}

Test(argv_cli, a_cli_spec_survives_protobuf_and_validation)
{
    struct job_spec spec, back;
    char why[256], err[256];
    cr_assert_eq(cli_spec("-i /m/a.mkv -c:v libx264 -flags -global_header -c:a aac -f hls "
                          "-hls_time 3 -hls_segment_filename /t/x%d.ts -y /t/x.m3u8",
                          &spec, why, sizeof(why)),
                 0, "%s", why);
    cr_assert_eq(job_spec_validate(&spec, err, sizeof(err)), 0, "%s", err);
    size_t len = 0;
    uint8_t *packed = job_spec_pack(&spec, &len);
    cr_assert_not_null(packed);
    cr_assert_eq(job_spec_unpack(packed, len, &back, err, sizeof(err)), 0, "%s", err);
    free(packed);
    cr_assert_eq(back.output_kind, JOB_OUTPUT_CLI_HLS);
    cr_assert_eq(back.n_cli_args, spec.n_cli_args);
    cr_assert_eq(memcmp(back.cli_args, spec.cli_args, sizeof(spec.cli_args)), 0);
    cr_assert_str_eq(back.segment_filename, "/t/x%d.ts");

    /* A CLI job without its arguments, or a stream without a pattern, is refused. */
    back.n_cli_args = 0;
    cr_assert_eq(job_spec_validate(&back, err, sizeof(err)), -1);
    spec.segment_filename[0] = '\0';
    cr_assert_eq(job_spec_validate(&spec, err, sizeof(err)), -1);
}

/* The scheduler derives the words from the line, whatever the client says. */
Test(argv_cli, the_scheduler_routes_by_the_line_itself)
{
    struct job_spec spec;
    char why[256], err[256], needs[JOB_SPEC_REQUIRES_MAX];
    cr_assert_eq(cli_spec("-i /m/a.mkv -vf tonemapx=t=bt709,scale=640:-2 -c:v libx264 -c:a libopus "
                          "-f matroska /t/a.mkv",
                          &spec, why, sizeof(why)),
                 0, "%s", why);
    spec.requires[0] = '\0'; /* a client that asks for nothing */
    cr_assert_eq(routing_job_requires(&spec, needs, sizeof(needs), err, sizeof(err)), 0, "%s", err);
    static const char *const words[] = {"cli:ffmpeg", "cli-filter:tonemapx", "cli-filter:scale",
                                        "cli-encoder:libx264", "cli-encoder:libopus"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        char padded[JOB_SPEC_REQUIRES_MAX + 2], word[64];
        snprintf(padded, sizeof(padded), " %s ", needs);
        snprintf(word, sizeof(word), " %s ", words[i]);
        cr_assert_not_null(strstr(padded, word), "%s not in %s", words[i], needs);
    }
}
