/* test_pipeline_progressive.c -- the pipeline's progressive outputs (one file, no
 * segments: fragmented MP4, Matroska, MP3, ADTS), transcoded or copied: complete and
 * decodable when pipeline_run returns, never handed to segment_done, with a keyframe
 * every forced interval, and a copy after a seek as long as the ffmpeg CLI's; audio
 * copied into MP4 (fMP4 segments or a progressive file): AAC from MPEG-TS gets its
 * config, FLAC needs -strict -2. The clips and the helpers are in pipeline_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_test_lib.h"

/* ---- progressive ------------------------------------------------------------------ */

struct progressive_case {
    const char *format;
    const char *name;
    const char *movflags;
    int copy;
    int audio_only;
    const char *expect_streams; /* codec names, one per line, joined by ' ' */
};

static void check_progressive(const struct progressive_case *pc)
{
    char input[512], dir[600], command[1024], found[256];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "progressive");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    spec.output_kind = JOB_OUTPUT_PROGRESSIVE;
    spec.hls_time_us = 0;
    spec.segment_filename[0] = '\0';
    spec.copyts = 0;
    snprintf(spec.output_format, sizeof(spec.output_format), "%s", pc->format);
    snprintf(spec.output, sizeof(spec.output), "%s/%s", dir, pc->name);
    snprintf(spec.movflags, sizeof(spec.movflags), "%s", pc->movflags);
    if (pc->copy)
        tweak_copy(&spec);
    if (pc->audio_only) {
        spec.video_codec[0] = '\0';
        spec.video_stream = -1;
        snprintf(spec.audio_codec, sizeof(spec.audio_codec), "libmp3lame");
    }
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    int result = pipeline_run(&spec, 0, &cb, err, sizeof(err));
    cr_assert_eq(result, PIPELINE_OK, "%s: %s", pc->name, err);

    expect_decodes_cleanly(spec.output);
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '%s' | tr '\\n' ' '",
             spec.output);
    FILE *f = popen(command, "r");
    cr_assert_not_null(f);
    found[0] = '\0';
    if (fgets(found, sizeof(found), f) == NULL)
        found[0] = '\0';
    pclose(f);
    cr_expect_str_eq(found, pc->expect_streams, "%s: streams \"%s\"", pc->name, found);
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries format=duration -of csv=p=0 '%s'", spec.output);
    f = popen(command, "r");
    cr_assert_not_null(f);
    double duration = 0;
    cr_expect_eq(fscanf(f, "%lf", &duration), 1);
    pclose(f);
    cr_expect_leq(fabs(duration - CLIP_S), 0.1, "%s lasts %.3f s", pc->name, duration);
}

Test(pipeline, progressive_fragmented_mp4_transcode)
{
    struct progressive_case pc = {"mp4", "out.mp4", "frag_keyframe+empty_moov+delay_moov",
                                  0,     0,         "h264 aac "};
    check_progressive(&pc);
}

Test(pipeline, progressive_matroska_remux_and_mp3)
{
    struct progressive_case remux = {"matroska", "out.mkv", "", 1, 0, "h264 aac "};
    check_progressive(&remux);
    struct progressive_case mp3 = {"mp3", "out.mp3", "", 0, 1, "mp3 "};
    check_progressive(&mp3);
}

/* Video keyframe times of path (seconds, from ffprobe), into times[];
 * returns how many. */
static int probe_keyframe_times(const char *path, double *times, int max)
{
    char command[1024], line[128];
    snprintf(command, sizeof(command),
             "ffprobe -v error -select_streams v:0 -skip_frame nokey -show_entries "
             "frame=pts_time -of csv=p=0 '%s'",
             path);
    FILE *f = popen(command, "r");
    cr_assert_not_null(f);
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL && n < max)
        if (line[0] >= '0' && line[0] <= '9')
            times[n++] = atof(line);
    pclose(f);
    return n;
}

/* A progressive spec on fixture into dir/name (Jellyfin's shape: no
 * -copyts). */
static void spec_progressive(struct job_spec *spec, const char *input, const char *dir,
                             const char *format, const char *name)
{
    spec_jellyfin_hls(spec, input, dir, 2000000);
    spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
    spec->hls_time_us = 0;
    spec->segment_filename[0] = '\0';
    spec->copyts = 0;
    snprintf(spec->output_format, sizeof(spec->output_format), "%s", format);
    snprintf(spec->output, sizeof(spec->output), "%s/%s", dir, name);
}

/* Jellyfin asks a progressive transcode for a keyframe every 5 s
 * (-force_key_frames "expr:gte(t,n_forced*5)") so that a client can seek
 * in it: here every 2 s of the 10 s clip, and no other keyframe. */
Test(pipeline, progressive_transcode_has_a_keyframe_every_forced_interval)
{
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "progressive-keyframes");
    struct job_spec spec;
    spec_progressive(&spec, input, dir, "mp4", "out.mp4");
    snprintf(spec.movflags, sizeof(spec.movflags), "frag_keyframe+empty_moov+delay_moov");
    spec.keyframe_interval_us = 2000000;
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    cr_assert_eq(pipeline_run(&spec, 0, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);
    double times[64];
    int n = probe_keyframe_times(spec.output, times, 64);
    cr_assert_eq(n, 5, "%d keyframes in a 10 s file with one every 2 s", n);
    for (int i = 0; i < n; i++)
        cr_expect_leq(fabs(times[i] - times[0] - 2.0 * i), 1e-3,
                      "keyframe %d at %.3f s, the first at %.3f s", i, times[i], times[0]);
}

/* A progressive remux after a seek starts at the keyframe at or before
 * -ss (3.6 s for -ss 5.1 on clip.mkv), as the ffmpeg CLI's copy does: it
 * is as long as the CLI's, not short by a GOP. */
Test(pipeline, progressive_copy_after_seek_starts_at_the_keyframe_before_as_the_cli)
{
    char input[512], dir[600], cli[700], command[2048];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "progressive-seek");
    struct job_spec spec;
    spec_progressive(&spec, input, dir, "matroska", "out.mkv");
    tweak_copy(&spec);
    spec.video_bsf[0] = '\0';
    spec.seek_us = 5100000;
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    cr_assert_eq(pipeline_run(&spec, 0, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);
    snprintf(cli, sizeof(cli), "%s/cli.mkv", dir);
    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -v error -y -ss 00:00:05.100 -fflags +genpts -i 'file:%s' -map 0:0 "
             "-map 0:1 -codec:v:0 copy -map_metadata -1 -map_chapters -1 -codec:a:0 copy '%s'",
             input, cli);
    cr_assert_eq(run_quiet(command), 0);
    struct probe ours, theirs;
    probe_segment(spec.output, &ours);
    probe_segment(cli, &theirs);
    cr_expect_eq(ours.video_packets, theirs.video_packets, "%d video frames, the CLI %d",
                 ours.video_packets, theirs.video_packets);
    cr_expect_leq(
        fabs((ours.video_last - ours.video_first) - (theirs.video_last - theirs.video_first)), 1e-3,
        "video spans %.3f s, the CLI's %.3f s", ours.video_last - ours.video_first,
        theirs.video_last - theirs.video_first);
    cr_expect_eq(ours.video_packets, (int)lround((CLIP_S - 3.6) * 25), "%d frames from 3.6 s on",
                 ours.video_packets);
}

/* A progressive output is never handed to segment_done (see pipeline.h):
 * the file is complete when pipeline_run returns. */
static int count_delivery(void *opaque, const struct pipeline_segment *segment)
{
    (void)segment;
    (*(int *)opaque)++;
    return 0;
}

/* Audio and video copied from an MPEG-TS source (a recording) into fMP4
 * segments and into a progressive mp4: the AAC arrives with ADTS headers and
 * no AudioSpecificConfig, which the MP4 muxer refuses unless the worker
 * converts it (Jellyfin asks the CLI for -bsf:a aac_adtstoasc there). Every
 * packet of the source reaches the output, which decodes cleanly. */
Test(pipeline, aac_copied_from_mpegts_into_mp4_gets_its_config)
{
    char input[512], dir[600], path[700], command[1024];
    fixture_path(input, sizeof(input), "clip.ts");
    for (int progressive = 0; progressive <= 1; progressive++) {
        output_dir(dir, sizeof(dir), progressive ? "ts-to-mp4" : "ts-to-fmp4");
        struct job_spec spec;
        spec_jellyfin_hls(&spec, input, dir, 2000000);
        tweak_copy(&spec);
        spec.video_bsf[0] = '\0';
        snprintf(spec.video_tag, sizeof(spec.video_tag), "avc1");
        if (progressive) {
            spec.output_kind = JOB_OUTPUT_PROGRESSIVE;
            spec.copyts = 0;
            snprintf(spec.output_format, sizeof(spec.output_format), "mp4");
            snprintf(spec.movflags, sizeof(spec.movflags), "frag_keyframe+empty_moov+delay_moov");
            snprintf(spec.output, sizeof(spec.output), "%s/out.mp4", dir);
        } else {
            tweak_fmp4(&spec);
        }
        struct collected c = {0};
        char err[512];
        int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
        cr_assert_eq(result, PIPELINE_OK, "%s: %s", progressive ? "mp4" : "fmp4", err);
        snprintf(path, sizeof(path), "%s", spec.output);
        if (!progressive) {
            /* The playlist the job process would write: init + segments. */
            snprintf(command, sizeof(command),
                     "cd '%s' && cat %s $(ls seg*.mp4 | sort -V) > all.mp4", dir,
                     spec.init_filename);
            cr_assert_eq(run_quiet(command), 0);
            snprintf(path, sizeof(path), "%s/all.mp4", dir);
        }
        expect_decodes_cleanly(path);
        char source_audio[64], output_audio[64];
        probe_stream_fields(input, "a:0", "codec_name,sample_rate", ',', source_audio,
                            sizeof(source_audio));
        probe_stream_fields(path, "a:0", "codec_name,sample_rate", ',', output_audio,
                            sizeof(output_audio));
        cr_expect_str_eq(output_audio, source_audio, "%s", progressive ? "mp4" : "fmp4");
        snprintf(command, sizeof(command),
                 "test $(ffprobe -v error -select_streams a:0 -count_packets -show_entries "
                 "stream=nb_read_packets -of csv=p=0 '%s' | head -n 1) = $(ffprobe -v error "
                 "-select_streams a:0 -count_packets -show_entries stream=nb_read_packets "
                 "-of csv=p=0 '%s' | head -n 1)",
                 input, path);
        cr_expect_eq(run_quiet(command), 0, "%s: audio packets lost", progressive ? "mp4" : "fmp4");
    }
}

/* Jellyfin copies FLAC (or TrueHD, DTS) into fMP4 with -strict -2: the
 * muxer refuses without it, and the job says so. */
Test(pipeline, strict_reaches_the_muxer_for_flac_copied_into_fmp4)
{
    char input[512], dir[600], err[512];
    fixture_path(input, sizeof(input), "flac.mkv");
    for (int strict = 0; strict >= -2; strict -= 2) {
        output_dir(dir, sizeof(dir), strict ? "flac-strict" : "flac");
        struct job_spec spec;
        spec_jellyfin_hls(&spec, input, dir, 2000000);
        tweak_copy(&spec);
        spec.video_bsf[0] = '\0';
        tweak_fmp4(&spec);
        spec.strict = strict;
        struct collected c = {0};
        int result = run_pipeline(&spec, 0, &c, err, sizeof(err));
        if (strict == 0) {
            cr_expect_eq(result, PIPELINE_ERROR, "FLAC into MP4 without -strict -2 was written");
            cr_expect(strstr(err, "fmp4 header") != NULL, "error: %s", err);
            continue;
        }
        cr_assert_eq(result, PIPELINE_OK, "%s", err);
        struct probe p;
        probe_fmp4_segment(dir, 1, &p);
        cr_expect_gt(p.audio_packets, 0, "segment 1 has no audio");
        char codec[64], path[700];
        snprintf(path, sizeof(path), "%s/%s", dir, spec.init_filename);
        probe_stream_fields(path, "a:0", "codec_name", ',', codec, sizeof(codec));
        cr_expect_str_eq(codec, "flac");
    }
}

Test(pipeline, progressive_output_is_complete_without_segment_done)
{
    char input[512], dir[600], err[512];
    fixture_path(input, sizeof(input), "tone.m4a");
    output_dir(dir, sizeof(dir), "progressive-done");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    spec.output_kind = JOB_OUTPUT_PROGRESSIVE;
    spec.video_codec[0] = '\0';
    spec.video_filter[0] = '\0';
    spec.video_stream = -1;
    spec.start_number = 4;
    snprintf(spec.output_format, sizeof(spec.output_format), "adts");
    snprintf(spec.output, sizeof(spec.output), "%s/out.aac", dir);
    int calls = 0;
    struct pipeline_callbacks cb = {.opaque = &calls, .segment_done = count_delivery};
    cr_assert_eq(pipeline_run(&spec, 4, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);
    cr_expect_eq(calls, 0);
    expect_decodes_cleanly(spec.output);
    cr_expect_eq(count_files(dir, "*"), 1, "only the output file in its folder");
}
