/* test_pipeline_copy.c -- the pipeline's video stream copy (Jellyfin's copy line,
 * jellyfin-argv/018: -codec:v copy with the annexb filter): segments cut where the ffmpeg
 * CLI's hls muxer cuts the same argv, at the first keyframe at or after each boundary; a
 * resumed copy replays the cut rule or, given the durations published before it, seeks
 * straight to its segment, and stops at once when told to while it searches; a copy
 * after Jellyfin's seek begins at the keyframe at or before -ss, as the CLI's does;
 * -readrate and -readrate_catchup hold the read to their speeds. The clips and the
 * helpers are in pipeline_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline_test_lib.h"

/* ---- video copy ------------------------------------------------------------------- */

/* Segments of a copy run start where the ffmpeg CLI's hls muxer cuts the
 * same argv: at the first keyframe at or after each boundary. The Matroska
 * clip has keyframes every 3.6 s and T is 2, so boundaries 2 and 4 share a
 * keyframe and the numbering must follow the CLI's, not k*T. */
Test(pipeline, copy_segments_cut_where_the_ffmpeg_cli_cuts)
{
    char input[512], dir[600], cli_dir[600], command[4096], path[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "copy");
    output_dir(cli_dir, sizeof(cli_dir), "copy-cli");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    tweak_copy(&spec);
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -v error -fflags +genpts -i 'file:%s' -map 0:0 -map 0:1 "
             "-codec:v:0 copy -bsf:v h264_mp4toannexb -start_at_zero -codec:a:0 copy -copyts "
             "-avoid_negative_ts disabled -f hls -max_delay 5000000 -hls_time 2 "
             "-hls_segment_type mpegts -start_number 0 -hls_segment_filename '%s/seg%%d.ts' "
             "-hls_playlist_type vod -hls_list_size 0 -y '%s/main.m3u8'",
             input, cli_dir, cli_dir);
    cr_assert_eq(run_quiet(command), 0, "the ffmpeg CLI failed");
    int cli_count = count_files(cli_dir, "seg*.ts");
    cr_expect_eq(c.count, cli_count, "%d segments, the CLI made %d", c.count, cli_count);
    cr_expect_eq(c.count, 3, "%d segments for keyframes at 0, 3.6 and 7.2 s", c.count);
    for (int k = 0; k < c.count && k < cli_count; k++) {
        struct probe ours, cli;
        segment_file(path, sizeof(path), dir, k);
        probe_segment(path, &ours);
        expect_decodes_cleanly(path);
        segment_file(path, sizeof(path), cli_dir, k);
        probe_segment(path, &cli);
        cr_expect(ours.first_video_is_key, "segment %d does not start with a keyframe", k);
        cr_expect_eq(ours.video_packets, cli.video_packets, "segment %d: %d frames, CLI %d", k,
                     ours.video_packets, cli.video_packets);
        cr_expect_leq(fabs(ours.video_first - cli.video_first), FRAME_S + 1e-6,
                      "segment %d starts at %.6f, CLI at %.6f", k, ours.video_first,
                      cli.video_first);
        cr_expect_leq(fabs(ours.audio_first - cli.audio_first), AUDIO_FRAME_S + 1e-6,
                      "segment %d audio starts at %.6f, CLI at %.6f", k, ours.audio_first,
                      cli.audio_first);
    }
}

/* Segment 2 starts at 7.2 s, not 2*T: the resumed run must replay the cut
 * rule over the keyframes to find it. */
Test(pipeline, copy_resume_at_segment_2_matches_run_from_start_mkv)
{
    check_resume_matches_with("clip.mkv", 2, tweak_copy);
}

Test(pipeline, copy_resume_at_segment_1_matches_run_from_start_mpegts)
{
    check_resume_matches_with("clip.ts", 1, tweak_copy);
}

Test(pipeline, copy_resume_at_segment_2_matches_run_from_start_mp4)
{
    check_resume_matches_with("clip.mp4", 2, tweak_copy);
}

/* A copy resume given the durations published before it (what a worker
 * taking over has in Redis) seeks straight to its segment; given a wrong
 * sum it finds no keyframe there and replays from the start. Either way
 * its segments are the uninterrupted run's. */
static void check_copy_resume_with_offset(const char *fixture, int first_index, int64_t error_us)
{
    char input[512], dir_a[600], dir_b[600];
    fixture_path(input, sizeof(input), fixture);
    output_dir(dir_a, sizeof(dir_a), "copy-from-start");
    output_dir(dir_b, sizeof(dir_b), "copy-offset");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
    tweak_copy(&spec_a);
    tweak_copy(&spec_b);
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 0, &a);
    for (int i = 0; i < first_index; i++)
        b.resume_offset_us += a.segments[i].duration_us;
    b.resume_offset_us += error_us;
    run_ok(&spec_b, first_index, &b);
    cr_assert_eq(b.count, a.count - first_index);
    for (int i = 0; i < b.count; i++) {
        cr_expect_eq(a.segments[first_index + i].start_us, b.segments[i].start_us,
                     "segment %d: start %lld vs %lld", b.segments[i].index,
                     (long long)a.segments[first_index + i].start_us,
                     (long long)b.segments[i].start_us);
        cr_expect_eq(a.segments[first_index + i].duration_us, b.segments[i].duration_us);
    }
    expect_same_timing(dir_a, dir_b, first_index, a.count - 1);
}

Test(pipeline, copy_resume_seeks_to_the_published_durations_mkv)
{
    check_copy_resume_with_offset("clip.mkv", 2, 0);
}

Test(pipeline, copy_resume_seeks_to_the_published_durations_mpegts)
{
    check_copy_resume_with_offset("clip.ts", 2, 0);
}

Test(pipeline, copy_resume_with_wrong_durations_falls_back_to_the_replay)
{
    check_copy_resume_with_offset("clip.mkv", 2, 500000);
}

/* should_stop answering "stop" once stops the run (pipeline.h), wherever
 * the poll falls: here, in the first polls of a resumed copy given its
 * durations, which find the job's first keyframe, seek to the durations'
 * sum and check the keyframe found there. The check used to read a stop
 * (PIPELINE_STOPPED == 1) as "keyframe found" and copy on. */
Test(pipeline, copy_resume_stops_at_once_when_stopped_during_the_keyframe_search)
{
    char input[512], dir_a[600], dir_b[600], err[512];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir_a, sizeof(dir_a), "copy-from-start");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    tweak_copy(&spec_a);
    struct collected a = {0};
    run_ok(&spec_a, 0, &a);
    cr_assert_geq(a.count, 3);
    for (int poll = 1; poll <= 6; poll++) {
        output_dir(dir_b, sizeof(dir_b), "copy-stopped");
        spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
        tweak_copy(&spec_b);
        struct collected b = {.stop_once = poll};
        b.resume_offset_us = a.segments[0].duration_us + a.segments[1].duration_us;
        int result = run_pipeline(&spec_b, 2, &b, err, sizeof(err));
        cr_expect_eq(result, PIPELINE_STOPPED, "stop on poll %d: result %d (%s)", poll, result,
                     err);
        cr_expect_eq(b.count, 0, "stop on poll %d: %d segments delivered", poll, b.count);
        cr_expect_eq(b.polls, poll, "stop on poll %d: polled %d times", poll, b.polls);
        cr_expect_eq(count_temp_files(dir_b), 0, "temp files left behind");
    }
}

/* ---- seeks and -readrate -------------------------------------------------------------- */

/* A stream copy after Jellyfin's seek: -ss is a keyframe's time plus 0.5 s
 * (clip.mkv has keyframes at 0, 3.6 and 7.2 s; with T = 2 its segments
 * start at 0, 3.6 and 7.2), and the copy must begin at the keyframe at or
 * before it, as the ffmpeg CLI's does: the job's segments are the
 * uninterrupted job's segments 1.. , and a takeover of the seek job cuts
 * where it cut. */
static void check_copy_seek(spec_tweak tweak)
{
    char input[512], dir_a[600], dir_b[600], dir_c[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir_a, sizeof(dir_a), "copy-whole");
    output_dir(dir_b, sizeof(dir_b), "copy-seek");
    output_dir(dir_c, sizeof(dir_c), "copy-seek-takeover");
    struct job_spec spec_a, spec_b, spec_c;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    tweak(&spec_a);
    spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
    tweak(&spec_b);
    spec_b.seek_us = 4100000;
    spec_b.accurate_seek = spec_b.segment_type != JOB_SEGMENT_FMP4;
    spec_b.start_number = 1;
    spec_c = spec_b;
    snprintf(spec_c.output, sizeof(spec_c.output), "%s/main.m3u8", dir_c);
    snprintf(spec_c.segment_filename, sizeof(spec_c.segment_filename), "%s/seg%%d.%s", dir_c,
             spec_b.segment_type == JOB_SEGMENT_FMP4 ? "mp4" : "ts");
    struct collected a = {0}, b = {0}, c1 = {.stop_after = 1}, c2 = {0};
    char err[512];
    run_ok(&spec_a, 0, &a);
    run_ok(&spec_b, 1, &b);
    cr_assert_eq(b.count, a.count - 1, "the seek job made %d segments, the whole job %d", b.count,
                 a.count);
    for (int i = 0; i < b.count; i++) {
        cr_expect_eq(a.segments[1 + i].start_us, b.segments[i].start_us,
                     "segment %d: starts at %lld us, after the seek at %lld", b.segments[i].index,
                     (long long)a.segments[1 + i].start_us, (long long)b.segments[i].start_us);
        cr_expect_eq(a.segments[1 + i].duration_us, b.segments[i].duration_us,
                     "segment %d: %lld us long, after the seek %lld", b.segments[i].index,
                     (long long)a.segments[1 + i].duration_us,
                     (long long)b.segments[i].duration_us);
    }
    /* The seek job taken over after its first segment. */
    cr_assert_eq(run_pipeline(&spec_c, 1, &c1, err, sizeof(err)), PIPELINE_STOPPED, "%s", err);
    c2.resume_offset_us = c1.segments[0].duration_us;
    c2.fmp4_base = c1.fmp4_base_out[0] != '\0' ? c1.fmp4_base_out : NULL;
    run_ok(&spec_c, 2, &c2);
    cr_assert_eq(c2.count, b.count - 1);
    for (int i = 0; i < c2.count; i++)
        cr_expect_eq(b.segments[1 + i].start_us, c2.segments[i].start_us,
                     "taken over, segment %d starts at %lld us, not %lld", c2.segments[i].index,
                     (long long)c2.segments[i].start_us, (long long)b.segments[1 + i].start_us);
    for (int k = 1; k <= b.count; k++) {
        struct probe pa, pb;
        if (spec_b.segment_type == JOB_SEGMENT_FMP4) {
            /* Each segment decodes after the job's own init segment. */
            char path[700], command[2048];
            snprintf(path, sizeof(path), "%s/joined-%d.mp4", dir_b, k);
            snprintf(command, sizeof(command), "cat '%s/main-1.mp4' '%s/seg%d.mp4' >'%s'", dir_b,
                     dir_b, k, path);
            cr_assert_eq(run_quiet(command), 0);
            expect_decodes_cleanly(path);
            unlink(path);
            probe_fmp4_segment(dir_a, k, &pa);
            probe_fmp4_segment(dir_b, k, &pb);
        } else {
            char path_a[600], path_b[600];
            segment_file(path_a, sizeof(path_a), dir_a, k);
            segment_file(path_b, sizeof(path_b), dir_b, k);
            expect_decodes_cleanly(path_b);
            probe_segment(path_a, &pa);
            probe_segment(path_b, &pb);
        }
        cr_expect(pb.first_video_is_key, "segment %d after the seek starts with no keyframe", k);
        cr_expect_eq(pa.video_packets, pb.video_packets, "segment %d: %d frames, after the seek %d",
                     k, pa.video_packets, pb.video_packets);
    }
}

Test(pipeline, copy_seek_starts_at_the_keyframe_at_or_before_ss_mpegts)
{
    check_copy_seek(tweak_copy);
}

Test(pipeline, copy_seek_noaccurate_starts_at_the_keyframe_at_or_before_ss_fmp4)
{
    check_copy_seek(tweak_copy_fmp4_discont);
}

/* Wall time, seconds, of a run of spec from its start. */
static double timed_run(const struct job_spec *spec, struct collected *c)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    run_ok(spec, spec->start_number, c);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* -readrate 10 (Jellyfin's, on stream copies when it deletes old segments):
 * the 10 s clip is read in no less than a second, not at once. Only lower
 * bounds are checked: a slow machine can make a run longer, never shorter. */
Test(pipeline, readrate_holds_a_copy_to_ten_times_real_time)
{
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "readrate");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    tweak_copy(&spec);
    spec.readrate = 10;
    struct collected c = {0};
    double seconds = timed_run(&spec, &c);
    cr_expect_geq(seconds, (CLIP_S - 0.2) / 10, "a %.0f s clip copied in %.3f s at -readrate 10",
                  CLIP_S, seconds);
    cr_expect_eq(c.count, 3, "%d segments", c.count);
}

/* -readrate_catchup (8.0): a read held up (here 0.6 s at its start, as a
 * paused job is) catches up no faster than the catch-up speed: at 12x the
 * 10 s clip ends at 0.6 + 10/12 = 1.43 s, where a read allowed to burst
 * (before 8.0) is done at 1.0 s. */
Test(pipeline, readrate_catchup_bounds_the_speed_after_a_stall)
{
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "readrate-catchup");
    struct job_spec spec;
    spec_jellyfin_hls(&spec, input, dir, 2000000);
    tweak_copy(&spec);
    spec.readrate = 10;
    spec.readrate_catchup = 12;
    struct collected c = {.stall_poll = 3, .stall_ms = 600};
    double seconds = timed_run(&spec, &c);
    cr_expect_geq(seconds, 0.6 + (CLIP_S - 0.3) / 12,
                  "after a 0.6 s stall the clip was read in %.3f s at catch-up 12x", seconds);
}
