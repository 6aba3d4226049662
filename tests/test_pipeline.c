/* test_pipeline.c -- what the worker's libav pipeline promises (worker/pipeline/pipeline.h)
 * on Jellyfin's HLS transcode lines: segments of exactly T seconds, timed as the ffmpeg
 * CLI times them; a run resumed at a segment (a takeover) or after a seek makes the
 * segments of the run from the start, on every kind of source; audio copy, autorotate,
 * video-only and audio-only jobs, audio encoders; and the failures: hostile inputs,
 * shapes it refuses, a run told to stop. Video copy is tested in test_pipeline_copy.c,
 * fMP4 segments in test_pipeline_fmp4.c, progressive outputs in
 * test_pipeline_progressive.c, subtitle burn-in in test_pipeline_burnin.c; the clips and
 * the helpers are in pipeline_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_test_lib.h"

/* ---- HLS transcodes and resumes ------------------------------------------------------ */

Test(pipeline, hls_segments_are_exactly_T_seconds)
{
    char input[512], dir[600], path[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "exact");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    cr_assert_eq(c.count, 5, "%d segments for 10 s at T=2", c.count);
    struct probe first;
    segment_file(path, sizeof(path), dir, 0);
    probe_segment(path, &first);
    int total_frames = 0;
    for (int k = 0; k < c.count; k++) {
        struct probe p;
        segment_file(path, sizeof(path), dir, k);
        probe_segment(path, &p);
        expect_decodes_cleanly(path);
        total_frames += p.video_packets;
        cr_expect(p.first_video_is_key, "segment %d does not start with a keyframe", k);
        cr_expect_leq(fabs(p.video_first - first.video_first - 2.0 * k), FRAME_S + 1e-6,
                      "segment %d starts %.6f s after segment 0", k,
                      p.video_first - first.video_first);
        double span = p.video_last + FRAME_S - p.video_first;
        if (k < c.count - 1)
            cr_expect_leq(fabs(span - 2.0), FRAME_S + 1e-6, "segment %d lasts %.6f s", k, span);
        cr_expect_gt(p.audio_packets, 0, "segment %d has no audio", k);

        /* What the callback said matches the file. */
        const struct pipeline_segment *s = &c.segments[k];
        cr_expect_leq(llabs(s->start_us - 2000000LL * k), 40000, "segment %d start_us %lld", k,
                      (long long)s->start_us);
        if (k < c.count - 1)
            cr_expect_leq(llabs(s->duration_us - 2000000), 40000, "segment %d duration_us %lld", k,
                          (long long)s->duration_us);
    }
    cr_expect_eq(total_frames, 250, "%d frames in all segments", total_frames);
    cr_expect_eq(count_temp_files(dir), 0);
}

Test(pipeline, first_segment_timestamps_match_the_ffmpeg_cli)
{
    char input[512], dir[600], cli_dir[600], command[4096], path[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "ours");
    output_dir(cli_dir, sizeof(cli_dir), "cli");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -v error -analyzeduration 200M -f matroska,webm -autorotate 0 "
             "-i 'file:%s' -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 "
             "-codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4875352 -bufsize 9750704 "
             "-profile:v:0 high -level 31 "
             "-x264opts:0 %s -force_key_frames:0 'expr:gte(t,0+n_forced*2)' "
             "-sc_threshold:v:0 0 -vf '%s' -codec:a:0 aac -ac 2 -ab 128000 -copyts "
             "-avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 "
             "-hls_time 2 -hls_segment_type mpegts -start_number 0 "
             "-hls_segment_filename '%s/seg%%d.ts' -hls_playlist_type vod -hls_list_size 0 "
             "-y '%s/main.m3u8'",
             input, spec.x264opts, spec.video_filter, cli_dir, cli_dir);
    cr_assert_eq(run_quiet(command), 0, "the ffmpeg CLI failed");

    struct probe ours, cli;
    segment_file(path, sizeof(path), dir, 0);
    probe_segment(path, &ours);
    segment_file(path, sizeof(path), cli_dir, 0);
    probe_segment(path, &cli);
    cr_expect_leq(fabs(ours.video_first - cli.video_first), FRAME_S / 2,
                  "first video pts %.6f, CLI %.6f", ours.video_first, cli.video_first);
    cr_expect_leq(fabs(ours.audio_first - cli.audio_first), AUDIO_FRAME_S + 1e-6,
                  "first audio pts %.6f, CLI %.6f", ours.audio_first, cli.audio_first);
}

Test(pipeline, resume_at_segment_3_matches_original_timing)
{
    check_resume_matches("clip.mkv", 3);
}

/* md5 of the first `packets` video packets of path, as muxed (not decoded). */
static void video_bitstream_md5(const char *path, int packets, char *out, size_t len)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "ffmpeg -v error -i '%s' -map 0:v -c copy -frames:v %d -f md5 - 2>/dev/null", path,
             packets);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    out[0] = '\0';
    if (fgets(out, (int)len, p) == NULL)
        out[0] = '\0';
    pclose(p);
    cr_assert_neq(out[0], '\0', "no md5 for %s", path);
}

/* The first segment of a run has an encoder of its own, drained at the
 * first frame of the next segment so that segment 0 is delivered without
 * waiting for x264's delay (worker/pipeline/pipeline_video.c): segment 1 of a run
 * from the start then begins exactly as in a run resumed there, on a fresh
 * encoder. Only its first half is compared: the end of a run's first
 * segment is encoded without the next one in x264's lookahead (the
 * resumed run drains there too), so its last frames may differ. */
Test(pipeline, first_segment_encoder_is_drained_at_the_next_cut_as_a_resume_would)
{
    char input[512], dir_a[600], dir_b[600], path_a[700], path_b[700];
    char md5_a[128], md5_b[128];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir_a, sizeof(dir_a), "from-start");
    output_dir(dir_b, sizeof(dir_b), "resumed-at-1");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 0, &a);
    run_ok(&spec_b, 1, &b);
    cr_assert_eq(b.count, a.count - 1);
    segment_file(path_a, sizeof(path_a), dir_a, 1);
    segment_file(path_b, sizeof(path_b), dir_b, 1);
    video_bitstream_md5(path_a, 25, md5_a, sizeof(md5_a));
    video_bitstream_md5(path_b, 25, md5_b, sizeof(md5_b));
    cr_expect_str_eq(md5_a, md5_b, "segment 1 begins unlike in a run resumed at it");
    expect_same_timing(dir_a, dir_b, 1, a.count - 1);
}

Test(pipeline, resume_on_mpegts_input_starts_from_a_keyframe_before_the_segment)
{
    /* MPEG-TS seeks land on non-keyframes; segment 3 (6 s) lies 2 s into a 4 s GOP. */
    check_resume_matches("clip.ts", 3);
}

Test(pipeline, resume_on_mp4_input_matches_original_timing)
{
    check_resume_matches("clip.mp4", 2);
}

Test(pipeline, resume_on_a_long_gop_source_decodes_from_its_only_keyframe)
{
    /* The source's only keyframe is at 0 s; segment 3 starts 6 s in. */
    check_resume_matches("longgop.mkv", 3);
}

Test(pipeline, resume_on_a_variable_frame_rate_source_matches_original_timing)
{
    check_resume_matches("vfr.mkv", 2);
}

Test(pipeline, start_number_with_seek_begins_at_the_seek_time)
{
    char input[512], dir_a[600], dir_b[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir_a, sizeof(dir_a), "from-start");
    output_dir(dir_b, sizeof(dir_b), "seek");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
    /* Jellyfin's restart after a seek: -ss 4 -start_number 2. */
    spec_b.start_number = 2;
    spec_b.seek_us = 4000000;
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 0, &a);
    run_ok(&spec_b, 2, &b);

    cr_assert_eq(b.count, 3, "%d segments from 4 s at T=2", b.count);
    cr_expect_leq(llabs(b.segments[0].start_us - 4000000), 40000);
    expect_same_timing(dir_a, dir_b, 2, 4);
}

Test(pipeline, resume_of_a_job_with_start_number_continues_its_numbering)
{
    char input[512], dir_a[600], dir_b[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir_a, sizeof(dir_a), "seek");
    output_dir(dir_b, sizeof(dir_b), "takeover");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_a.start_number = 2;
    spec_a.seek_us = 4000000;
    spec_b = spec_a;
    snprintf(spec_b.segment_filename, sizeof(spec_b.segment_filename), "%s/seg%%d.ts", dir_b);
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 2, &a);
    run_ok(&spec_b, 4, &b);
    cr_assert_eq(b.count, 1);
    cr_expect_eq(b.segments[0].index, 4);
    expect_same_timing(dir_a, dir_b, 4, 4);
}

Test(pipeline, audio_copy_keeps_every_packet_once)
{
    char input[512], dir[600], path[600], command[1024];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "acopy");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    snprintf(spec.audio_codec, sizeof(spec.audio_codec), "copy");
    struct collected c = {0};
    run_ok(&spec, 0, &c);
    cr_assert_eq(c.count, 5);

    int audio = 0;
    for (int k = 0; k < c.count; k++) {
        struct probe p;
        segment_file(path, sizeof(path), dir, k);
        probe_segment(path, &p);
        audio += p.audio_packets;
    }
    snprintf(command, sizeof(command),
             "ffprobe -v error -select_streams a -count_packets -show_entries "
             "stream=nb_read_packets -of csv=p=0 '%s'",
             input);
    FILE *out = popen(command, "r");
    cr_assert_not_null(out);
    int expected = -1;
    cr_expect_eq(fscanf(out, "%d", &expected), 1);
    pclose(out);
    cr_expect_eq(audio, expected, "%d audio packets muxed, the input has %d", audio, expected);
}

/* "WxH" of the first video stream of path. */
static void probe_video_size(const char *path, char *out, size_t len)
{
    probe_stream_fields(path, "v:0", "width,height", 'x', out, len);
}

Test(pipeline, autorotate_turns_a_portrait_clip_upright_unless_disabled)
{
    static const struct {
        int autorotate;
        const char *expect; /* through Jellyfin's scale expression */
    } cases[] = {{1, "360x640"}, {0, "640x360"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char input[512], dir[600], path[600], size[64];
        fixture_path(input, sizeof(input), "rotated.mp4");
        output_dir(dir, sizeof(dir), "rotated");
        struct job_spec spec;
        spec_jellyfin_hls(&spec, input, dir, 2000000);
        spec.autorotate = cases[i].autorotate;
        struct collected c = {0};
        run_ok(&spec, 0, &c);
        segment_file(path, sizeof(path), dir, 0);
        probe_video_size(path, size, sizeof(size));
        cr_expect_str_eq(size, cases[i].expect, "-autorotate %d: segment 0 is %s, expected %s",
                         cases[i].autorotate, size, cases[i].expect);
    }
}

Test(pipeline, video_only_job_makes_segments_without_audio)
{
    char input[512], dir[600], path[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "vonly");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    spec.audio_codec[0] = '\0';
    struct collected c = {0};
    run_ok(&spec, 0, &c);
    cr_assert_eq(c.count, 5);
    struct probe p;
    segment_file(path, sizeof(path), dir, 4);
    probe_segment(path, &p);
    cr_expect_eq(p.audio_packets, 0);
    cr_expect_gt(p.video_packets, 0);
}

Test(pipeline, audio_only_job_cuts_on_audio_timestamps)
{
    char input[512], dir_a[600], dir_b[600], path[600];
    fixture_path(input, sizeof(input), "tone.m4a");
    output_dir(dir_a, sizeof(dir_a), "aonly");
    output_dir(dir_b, sizeof(dir_b), "aonly-resumed");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_a.video_codec[0] = '\0';
    spec_a.video_filter[0] = '\0';
    spec_b = spec_a;
    snprintf(spec_b.segment_filename, sizeof(spec_b.segment_filename), "%s/seg%%d.ts", dir_b);
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 0, &a);
    run_ok(&spec_b, 1, &b);
    cr_assert_eq(a.count, 3, "%d segments for 5 s at T=2", a.count);
    cr_assert_eq(b.count, 2);
    for (int k = 1; k < 3; k++) {
        struct probe pa, pb;
        segment_file(path, sizeof(path), dir_a, k);
        probe_segment(path, &pa);
        segment_file(path, sizeof(path), dir_b, k);
        probe_segment(path, &pb);
        cr_expect_leq(fabs(pa.audio_first - pb.audio_first), AUDIO_FRAME_S + 1e-6,
                      "segment %d audio starts %.6f, resumed %.6f", k, pa.audio_first,
                      pb.audio_first);
        cr_expect_eq(pa.audio_packets, pb.audio_packets);
    }
}

/* ---- failures ----------------------------------------------------------------------- */

static void expect_error(const char *input, const char *reason)
{
    char dir[600], err[512];
    output_dir(dir, sizeof(dir), "bad");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    struct collected c = {0};
    int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
    cr_expect_eq(result, PIPELINE_ERROR, "result %d for %s", result, input);
    cr_expect_neq(err[0], '\0', "no error text for %s", input);
    if (reason != NULL)
        cr_expect_not_null(strstr(err, reason), "error \"%s\" does not mention \"%s\"", err,
                           reason);
    cr_expect_eq(c.count, 0);
    cr_expect_eq(count_temp_files(dir), 0);
}

Test(pipeline, missing_input_is_an_error_naming_the_file)
{
    expect_error("/nonexistent/film.mkv", "open input /nonexistent/film.mkv: No such file");
}

Test(pipeline, zero_length_input_is_an_error)
{
    char input[512];
    fixture_path(input, sizeof(input), "empty.mkv");
    expect_error(input, "empty.mkv");
}

Test(pipeline, random_bytes_input_is_an_error)
{
    char input[512];
    fixture_path(input, sizeof(input), "noise.mkv");
    expect_error(input, NULL);
}

Test(pipeline, header_followed_by_garbage_fails_with_no_frames_decoded)
{
    char input[512];
    fixture_path(input, sizeof(input), "garbage.mkv");
    expect_error(input, "no frames decoded from input");
}

Test(pipeline, garbage_after_a_damaged_first_frame_fails_not_done)
{
    char input[512];
    fixture_path(input, sizeof(input), "garbage-after-a-frame.mkv");
    expect_error(input, "garbage-after-a-frame.mkv");
}

Test(pipeline, truncated_input_is_an_error_saying_so)
{
    char input[512];
    fixture_path(input, sizeof(input), "truncated.mkv");
    char dir[600], err[512];
    output_dir(dir, sizeof(dir), "truncated");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    struct collected c = {0};
    int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
    cr_expect_eq(result, PIPELINE_ERROR, "result %d", result);
    cr_expect_not_null(strstr(err, "truncated"), "%s", err);
    cr_expect_eq(count_temp_files(dir), 0);
}

Test(pipeline, input_without_the_requested_video_stream_is_an_error)
{
    char input[512];
    fixture_path(input, sizeof(input), "tone.m4a");
    expect_error(input, "video stream");
}

Test(pipeline, unsupported_shapes_are_refused_with_a_reason)
{
    char input[512], dir[600], err[512];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "shapes");
    struct job_spec spec;
    struct collected c = {0};

    /* Jellyfin's HDR line names a filter Debian's libavfilter lacks. */
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    snprintf(spec.video_filter, sizeof(spec.video_filter),
             "setparams=color_primaries=bt2020,tonemapx=tonemap=bt2390:desat=0:peak=100,"
             "format=yuv420p");
    cr_expect_eq(run_pipeline(&spec, 0, &c, err, sizeof(err)), PIPELINE_ERROR);
    cr_expect_not_null(strstr(err, "no filter named tonemapx"), "%s", err);

    spec_jellyfin_hls(&spec, input, dir, 2000000);
    snprintf(spec.audio_filter, sizeof(spec.audio_filter), "volume=2,nosuchfilter=1");
    cr_expect_eq(run_pipeline(&spec, 0, &c, err, sizeof(err)), PIPELINE_ERROR);
    cr_expect_not_null(strstr(err, "audio filter"), "%s", err);
    cr_expect_not_null(strstr(err, "nosuchfilter"), "%s", err);

    spec_jellyfin_hls(&spec, input, dir, 2000000);
    tweak_copy(&spec);
    snprintf(spec.video_bsf, sizeof(spec.video_bsf), "nosuch_bsf");
    cr_expect_eq(run_pipeline(&spec, 0, &c, err, sizeof(err)), PIPELINE_ERROR);
    cr_expect_not_null(strstr(err, "nosuch_bsf"), "%s", err);

    spec_jellyfin_hls(&spec, input, dir, 2000000);
    snprintf(spec.audio_codec, sizeof(spec.audio_codec), "libnosuchaudio");
    cr_expect_eq(run_pipeline(&spec, 0, &c, err, sizeof(err)), PIPELINE_ERROR);
    cr_expect_not_null(strstr(err, "libnosuchaudio"), "%s", err);
    cr_expect_eq(c.count, 0);
    cr_expect_eq(count_temp_files(dir), 0);
}

Test(pipeline, segment_done_returning_nonzero_stops_at_once)
{
    char input[512], dir[600], err[512];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "fenced");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    struct collected c = {.stop_after = 2};
    int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
    cr_expect_eq(result, PIPELINE_STOPPED, "result %d (%s)", result, err);
    cr_expect_eq(c.count, 2, "%d segments delivered after the stop", c.count);
    cr_expect_eq(count_temp_files(dir), 0, "temp files left behind");
    cr_expect_eq(count_files(dir, "*.ts"), 1, "only segment 0 was published");
}

Test(pipeline, should_stop_mid_segment_leaves_no_temp_file)
{
    char input[512], dir[600], err[512];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "stopped");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    /* Well past the first segment's start, well before the end. */
    struct collected c = {.stop_polls = 300, .dir = dir};
    int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
    cr_expect_eq(result, PIPELINE_STOPPED, "result %d (%s)", result, err);
    cr_expect_lt(c.count, 5);
    cr_expect_eq(c.temps_at_stop, 1, "no segment was being written when the run stopped");
    cr_expect_eq(count_temp_files(dir), 0, "temp files left behind");
}

/* ---- audio ------------------------------------------------------------------------ */

/* "codec_name,sample_rate,channels" of the first audio stream of path. */
static void probe_audio_stream(const char *path, char *out, size_t len)
{
    probe_stream_fields(path, "a:0", "codec_name,sample_rate,channels", ',', out, len);
}

Test(pipeline, audio_encoders_rates_channels_and_filters)
{
    static const struct {
        const char *codec;
        int rate, channels;
        const char *filter;
        const char *expect;
    } cases[] = {
        {"libmp3lame", 44100, 2, "volume=0.5", "mp3,44100,2"},
        {"ac3", 48000, 6, "", "ac3,48000,6"},
        {"aac", 48000, 1, "loudnorm=I=-16:TP=-1.5:LRA=11", "aac,48000,1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char input[512], dir[600], path[600], found[128];
        fixture_path(input, sizeof(input), "clip.mkv");
        output_dir(dir, sizeof(dir), "audio");
        struct job_spec spec;
        spec_jellyfin_hls(&spec, input, dir, 2000000);
        snprintf(spec.audio_codec, sizeof(spec.audio_codec), "%s", cases[i].codec);
        spec.audio_sample_rate = cases[i].rate;
        spec.audio_channels = cases[i].channels;
        spec.audio_bitrate = 192000;
        snprintf(spec.audio_filter, sizeof(spec.audio_filter), "%s", cases[i].filter);
        struct collected c = {0};
        run_ok(&spec, 0, &c);
        cr_expect_eq(c.count, 5, "%s: %d segments", cases[i].codec, c.count);
        segment_file(path, sizeof(path), dir, 4);
        probe_audio_stream(path, found, sizeof(found));
        cr_expect_str_eq(found, cases[i].expect, "%s: %s", cases[i].codec, found);
        expect_decodes_cleanly(path);
        struct probe p;
        probe_segment(path, &p);
        cr_expect_gt(p.audio_packets, 0, "%s: no audio in the last segment", cases[i].codec);
    }
}

static void tweak_44k_surround(struct job_spec *spec)
{
    spec->audio_sample_rate = 44100;
    spec->audio_channels = 6;
    spec->audio_bitrate = 384000;
}

Test(pipeline, resume_with_44k_surround_audio_matches_run_from_start)
{
    audio_frame_s = 1024.0 / 44100;
    check_resume_matches_with("clip.mkv", 3, tweak_44k_surround);
}

/* Audio-only HLS (-vn) from a film: segments cut on the audio. */
Test(pipeline, audio_only_hls_from_a_film)
{
    char input[512], dir[600], path[600], found[128];
    fixture_path(input, sizeof(input), "clip.mp4");
    output_dir(dir, sizeof(dir), "vn");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    spec.video_codec[0] = '\0';
    spec.video_filter[0] = '\0';
    spec.video_stream = -1;
    snprintf(spec.audio_codec, sizeof(spec.audio_codec), "libmp3lame");
    struct collected c = {0};
    run_ok(&spec, 0, &c);
    cr_expect_eq(c.count, 5, "%d segments", c.count);
    segment_file(path, sizeof(path), dir, 2);
    probe_audio_stream(path, found, sizeof(found));
    cr_expect_str_eq(found, "mp3,48000,2");
    struct probe p;
    probe_segment(path, &p);
    cr_expect_eq(p.video_packets, 0);
}
