/* test_pipeline_fmp4.c -- the pipeline's fMP4 HLS segments (-hls_segment_type fmp4), as
 * Jellyfin 10.9 and 10.10 ask for them and as 10.11 does (movflags=+frag_discont): a
 * takeover, transcoded or copied, continues the job's timeline after the first owner's
 * init segment, with the uninterrupted run's frames at its times and the same fragment
 * times in the boxes; a seek restart writes an init segment of its own. Copies into fMP4
 * after a seek are tested in test_pipeline_copy.c; the clips and the helpers are in
 * pipeline_test_lib.h. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmp4_times.h"
#include "pipeline_test_lib.h"

/* ---- fMP4 ------------------------------------------------------------------------- */

/* The whole playlist (init + every segment) decodes cleanly; returns its
 * number of video packets. */
static int fmp4_joined_frames(const char *dir, int count)
{
    char command[4096], path[700];
    snprintf(path, sizeof(path), "%s/joined.mp4", dir);
    int n = snprintf(command, sizeof(command), "cat '%s/main-1.mp4'", dir);
    for (int k = 0; k < count; k++)
        n += snprintf(command + n, sizeof(command) - (size_t)n, " '%s/seg%d.mp4'", dir, k);
    snprintf(command + n, sizeof(command) - (size_t)n, " >'%s'", path);
    cr_assert_eq(run_quiet(command), 0);
    expect_decodes_cleanly(path);
    struct probe p;
    probe_segment(path, &p);
    unlink(path);
    return p.video_packets;
}

/* The tfdt, sidx and mfhd fields of fMP4 segment k, as text. */
static void fmp4_segment_boxes(const char *dir, int k, char *out, size_t len)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/seg%d.mp4", dir, k);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static uint8_t data[1 << 22];
    size_t size = fread(data, 1, sizeof(data), f);
    fclose(f);
    struct fmp4_track_times times[FMP4_TRACKS_MAX];
    int n = fmp4_fragment_times(data, size, times, FMP4_TRACKS_MAX);
    cr_assert_gt(n, 0, "%s: no track times", path);
    size_t used = 0;
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "track %u tfdt %lld sidx %lld; ",
                                 times[i].track_id, (long long)times[i].decode_time,
                                 (long long)times[i].presentation_time);
}

/* A job whose worker died after segment first_index - 1: the next owner
 * writes first_index.. into the same folder, given what the job's first
 * segment handed out (as the worker records it with its checkpoint). The
 * init segment is the first owner's, untouched; every resumed segment,
 * read after it as a player reads it, has the uninterrupted run's frames
 * at the uninterrupted run's times (video to the microsecond; audio too,
 * except that a copy of Matroska audio, whose packet durations are rounded
 * to its millisecond time base, may start a millisecond off where the
 * uninterrupted muxer carried a rounded duration into the fragment), and
 * the same fragment times and numbers in its boxes. */
static void check_fmp4_takeover(spec_tweak tweak, int first_index, double audio_slack_s)
{
    char input[512], dir_a[600], dir_b[600], init[700], saved[700], command[2048];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir_a, sizeof(dir_a), "fmp4");
    output_dir(dir_b, sizeof(dir_b), "fmp4-takeover");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
    tweak(&spec_a);
    tweak(&spec_b);
    struct collected a = {0}, b1 = {.stop_after = first_index + 1}, b2 = {0};
    char err[512];
    run_ok(&spec_a, 0, &a);
    cr_assert_eq(run_pipeline(&spec_b, 0, &b1, err, sizeof(err)), PIPELINE_STOPPED, "%s", err);
    cr_assert_neq(b1.fmp4_base_out[0], '\0', "the job's first segment handed out no fmp4 base");
    cr_expect_str_eq(a.fmp4_base_out, b1.fmp4_base_out, "two first runs measured other bases");
    snprintf(init, sizeof(init), "%s/main-1.mp4", dir_b);
    snprintf(saved, sizeof(saved), "%s/init.saved", dir_b);
    snprintf(command, sizeof(command), "cp '%s' '%s'", init, saved);
    cr_assert_eq(run_quiet(command), 0, "no init segment after the first run");
    b2.fmp4_base = b1.fmp4_base_out;
    run_ok(&spec_b, first_index, &b2);

    snprintf(command, sizeof(command), "cmp -s '%s' '%s'", init, saved);
    cr_expect_eq(run_quiet(command), 0, "the resumed run rewrote the init segment");
    cr_assert_eq(first_index + b2.count, a.count, "%d + %d segments, the full run made %d",
                 first_index, b2.count, a.count);
    for (int k = first_index - 1; k < a.count; k++) {
        struct probe pa, pb;
        probe_fmp4_segment(dir_a, k, &pa);
        probe_fmp4_segment(dir_b, k, &pb);
        cr_expect(pb.first_video_is_key, "segment %d does not start with a keyframe", k);
        cr_expect_eq(pa.video_packets, pb.video_packets, "segment %d: %d frames, resumed %d", k,
                     pa.video_packets, pb.video_packets);
        cr_expect_leq(fabs(pa.video_first - pb.video_first), 1e-6,
                      "segment %d video starts at %.6f, resumed at %.6f", k, pa.video_first,
                      pb.video_first);
        cr_expect_leq(fabs(pa.video_last - pb.video_last), 1e-6,
                      "segment %d video ends at %.6f, resumed at %.6f", k, pa.video_last,
                      pb.video_last);
        cr_expect_leq(fabs(pa.audio_first - pb.audio_first), audio_slack_s + 1e-6,
                      "segment %d audio starts at %.6f, resumed at %.6f", k, pa.audio_first,
                      pb.audio_first);
        cr_expect_leq(fabs(pa.audio_end - pb.audio_end), audio_slack_s + 1e-6,
                      "segment %d audio ends at %.6f, resumed at %.6f", k, pa.audio_end,
                      pb.audio_end);
        if (audio_slack_s == 0 && k >= first_index) {
            char boxes_a[512], boxes_b[512];
            fmp4_segment_boxes(dir_a, k, boxes_a, sizeof(boxes_a));
            fmp4_segment_boxes(dir_b, k, boxes_b, sizeof(boxes_b));
            cr_expect_str_eq(boxes_a, boxes_b, "segment %d: fragment times differ", k);
        }
    }
    int frames_a = fmp4_joined_frames(dir_a, a.count);
    int frames_b = fmp4_joined_frames(dir_b, a.count);
    cr_expect_eq(frames_a, frames_b, "%d frames in the full run, %d across the takeover", frames_a,
                 frames_b);
}

Test(pipeline, fmp4_takeover_continues_the_timeline_without_frag_discont)
{
    check_fmp4_takeover(tweak_fmp4, 3, 0);
}

Test(pipeline, fmp4_takeover_continues_the_timeline_with_frag_discont)
{
    check_fmp4_takeover(tweak_fmp4_discont, 3, 0);
}

Test(pipeline, fmp4_copy_takeover_continues_the_timeline_without_frag_discont)
{
    check_fmp4_takeover(tweak_copy_fmp4, 2, 0.001);
}

Test(pipeline, fmp4_copy_takeover_continues_the_timeline_with_frag_discont)
{
    check_fmp4_takeover(tweak_copy_fmp4_discont, 2, 0.001);
}

/* A seek restart: Jellyfin stops a job and starts one at segment 3 in the
 * same folder. Like the ffmpeg CLI, the new job writes its own init
 * segment (the old one's edit list belongs to the old job), and a player
 * reading its segments after it sees the seek's times. */
Test(pipeline, fmp4_seek_restart_writes_its_own_init_segment)
{
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "fmp4-seek");
    struct job_spec first, seek;
    spec_jellyfin_hls(&first, input, dir, 2000000);
    tweak_fmp4(&first);
    seek = first;
    seek.seek_us = 6000000;
    seek.accurate_seek = 0;
    seek.start_number = 3;
    struct collected a = {.stop_after = 2}, b = {0};
    char err[512];
    cr_assert_eq(run_pipeline(&first, 0, &a, err, sizeof(err)), PIPELINE_STOPPED, "%s", err);
    run_ok(&seek, 3, &b);
    for (int k = 3; k < 3 + b.count; k++) {
        struct probe p;
        probe_fmp4_segment(dir, k, &p);
        cr_expect_leq(fabs(p.video_first - 2.0 * k), FRAME_S + 1e-6,
                      "segment %d read after the init segment starts at %.6f, not %d s", k,
                      p.video_first, 2 * k);
    }
}
