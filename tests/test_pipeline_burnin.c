/* test_pipeline_burnin.c -- the pipeline's -filter_complex: graphical subtitles (DVD and
 * PGS tracks, made by tools/subtitle_clip) burned in through Jellyfin's software graph,
 * compared with the ffmpeg CLI's segments for the same argv and with a run without the
 * subtitle, on the track's canvas and a smaller one; a resumed run draws the same frames;
 * a graph the pipeline cannot run is refused naming what is wrong. The clips and the
 * helpers are in pipeline_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_test_lib.h"

/* ---- -filter_complex: graphical subtitles burned in --------------------------- */

/* Jellyfin's software burn-in graph (EncodingHelper, 10.8 to 10.10) for a
 * 640x360 source whose subtitle is stream 2. */
#define BURN_IN_GRAPH                                                                              \
    "[0:2]scale,scale=-1:360:fast_bilinear,crop,pad=max(640\\,iw):max(360\\,ih):(ow-iw)/2:"        \
    "(oh-ih)/2:black@0,crop=640:360[sub];[0:0]setparams=color_primaries=bt709:color_trc=bt709:"    \
    "colorspace=bt709,scale=trunc(min(max(iw\\,ih*a)\\,640)/2)*2:trunc(ow/a/2)*2,"                 \
    "format=yuv420p[main];[main][sub]overlay=eof_action=pass:repeatlast=0"

static void tweak_burn_in(struct job_spec *spec)
{
    spec->filter_complex = 1;
    snprintf(spec->video_filter, sizeof(spec->video_filter), "%s", BURN_IN_GRAPH);
    spec->canvas_width = 640;
    spec->canvas_height = 360;
    spec->video_stream = -2;
    spec->audio_stream = 1;
}

/* Burns fixture's subtitle stream in through Jellyfin's graph and compares
 * each segment with the ffmpeg CLI's for the same argv, and with a run
 * without the subtitle. */
static void check_burn_in_against_cli(const char *fixture, int canvas_width, int canvas_height)
{
    char input[512], dir[600], cli_dir[600], plain_dir[600], command[4096];
    fixture_path(input, sizeof(input), fixture);
    output_dir(dir, sizeof(dir), "burnin");
    output_dir(cli_dir, sizeof(cli_dir), "burnin-cli");
    output_dir(plain_dir, sizeof(plain_dir), "burnin-plain");
    struct job_spec spec, plain;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    tweak_burn_in(&spec);
    spec.canvas_width = canvas_width;
    spec.canvas_height = canvas_height;
    spec_jellyfin_hls(&plain, input, plain_dir, 2000000);
    struct collected c = {0}, p = {0};
    run_ok(&spec, 0, &c);
    run_ok(&plain, 0, &p);

    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -v error -analyzeduration 200M -probesize 1G -canvas_size %dx%d "
             "-i 'file:%s' -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 "
             "-map -0:0 -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4875352 "
             "-bufsize 9750704 -profile:v:0 high -level 31 -x264opts:0 %s "
             "-force_key_frames:0 'expr:gte(t,n_forced*2)' -sc_threshold:v:0 0 "
             "-filter_complex '%s' -start_at_zero -codec:a:0 aac -ac 2 -ab 128000 -copyts "
             "-avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 "
             "-hls_time 2 -hls_segment_type mpegts -start_number 0 "
             "-hls_segment_filename '%s/seg%%d.ts' -hls_playlist_type vod -hls_list_size 0 "
             "-y '%s/main.m3u8'",
             canvas_width, canvas_height, input, spec.x264opts, BURN_IN_GRAPH, cli_dir, cli_dir);
    cr_assert_eq(run_quiet(command), 0, "the ffmpeg CLI failed");

    cr_assert_eq(c.count, count_files(cli_dir, "*.ts"), "%d segments, the CLI wrote %d", c.count,
                 count_files(cli_dir, "*.ts"));
    for (int k = 0; k < c.count; k++) {
        char ours[600], cli[600], bare[600];
        struct probe po, pc;
        segment_file(ours, sizeof(ours), dir, k);
        segment_file(cli, sizeof(cli), cli_dir, k);
        segment_file(bare, sizeof(bare), plain_dir, k);
        probe_segment(ours, &po);
        probe_segment(cli, &pc);
        expect_decodes_cleanly(ours);
        cr_expect_eq(po.video_packets, pc.video_packets, "segment %d: %d frames, CLI %d", k,
                     po.video_packets, pc.video_packets);
        cr_expect_leq(fabs(po.video_first - pc.video_first), FRAME_S / 2,
                      "segment %d starts at %.6f, CLI %.6f", k, po.video_first, pc.video_first);
        /* Every 2 s interval shows the box for 1 s: the CLI's picture and
         * ours agree, and both differ from the picture without it. */
        double same = video_psnr(cli, ours), without = video_psnr(bare, ours);
        cr_expect_geq(same, 30.0, "segment %d: PSNR against the CLI %.2f dB", k, same);
        cr_expect_leq(without, same - 6.0,
                      "segment %d: the subtitle is missing (PSNR %.2f dB against no subtitle, "
                      "%.2f against the CLI)",
                      k, without, same);
    }
}

Test(pipeline, filter_complex_burns_in_dvd_subtitles_as_the_ffmpeg_cli_does)
{
    check_burn_in_against_cli("burnin.mkv", 640, 360);
}

Test(pipeline, filter_complex_burns_in_pgs_subtitles_as_the_ffmpeg_cli_does)
{
    check_burn_in_against_cli("burnin-pgs.mkv", 640, 360);
}

/* A -canvas_size smaller than the PGS track's own size: the CLI draws each
 * subtitle on a canvas of the decoder's size and the graph scales it; the
 * pipeline keeps its canvas and scales the subtitle into it. */
Test(pipeline, filter_complex_pgs_on_a_smaller_canvas_is_drawn_scaled_as_the_cli_does)
{
    check_burn_in_against_cli("burnin-pgs.mkv", 320, 180);
}

Test(pipeline, filter_complex_burn_in_resumes_with_the_same_frames)
{
    static const char *const fixtures[] = {"burnin.mkv", "burnin-pgs.mkv"};
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        char dir_a[600], dir_b[600];
        check_resume_into(fixtures[i], 3, tweak_burn_in, dir_a, dir_b);
        for (int k = 3; k < (int)(CLIP_S / 2); k++) {
            char a[600], b[600];
            segment_file(a, sizeof(a), dir_a, k);
            segment_file(b, sizeof(b), dir_b, k);
            double psnr = video_psnr(a, b);
            cr_expect_geq(psnr, 35.0, "%s: resumed segment %d: PSNR %.2f dB against the original",
                          fixtures[i], k, psnr);
        }
    }
}

Test(pipeline, filter_complex_errors_name_what_is_wrong)
{
    static const struct {
        const char *graph;
        const char *reason;
    } cases[] = {
        {"[0:1]anull", "[0:1] reads audio stream 1"},
        {"[0:2]scale=320:-2", "reads no video stream"},
        {"[0:0]scale=320:-2[a];[0:7]scale[b];[a][b]overlay", "names no stream"},
        {"[0:0][0:0]overlay", "may read one video stream and at most one subtitle stream"},
        {"[0:0]split[a][b]", "exactly one output"},
        {"[0:0]tonemapx=tonemap=bt2390", "no filter named tonemapx"},
    };
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "burnin.mkv");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        output_dir(dir, sizeof(dir), "burnin-bad");
        struct job_spec spec;
        spec_jellyfin_hls(&spec, input, dir, 2000000);
        tweak_burn_in(&spec);
        snprintf(spec.video_filter, sizeof(spec.video_filter), "%s", cases[i].graph);
        struct collected c = {0};
        char err[512];
        int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
        cr_expect_eq(result, PIPELINE_ERROR, "%s: result %d", cases[i].graph, result);
        cr_expect(strstr(err, cases[i].reason) != NULL, "%s: error \"%s\" does not say \"%s\"",
                  cases[i].graph, err, cases[i].reason);
        cr_expect_eq(c.count, 0);
    }
}
