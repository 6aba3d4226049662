/* test_pipeline_shapes_hevc.c -- Jellyfin's software HEVC lines (libx265,
 * "Allow encoding in HEVC format" with no hardware encoder), run natively
 * and by the ffmpeg CLI on the same argv, as test_pipeline_shapes.c does
 * for the other shapes: 10.11's fMP4 line (-x265-params:0 with Jellyfin's
 * speed settings, -bf 0 as it writes for an ffmpeg older than 7.0.1,
 * -tag:v:0 hvc1) and 10.9's MPEG-TS line (-x265-params:0 no-info=1 only),
 * then a run resumed at segment 2, which must put the same frames in the
 * same segments as the run from the start. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "argv.h"
#include "pipeline_test_lib.h"
#include "shapes_test_lib.h"

/* 320x180 at 25 fps with a tone, 10 s, a keyframe every 90 frames. An MP4,
 * whose video times lie on the 1/25 s grid as the CLI writes them. */
static void make_hevc_source(char *out, size_t len, const char *dir)
{
    make_clip(out, len, dir, "source.mp4",
              "-f lavfi -i testsrc2=size=320x180:rate=25 -f lavfi -i sine=frequency=1000:"
              "sample_rate=48000",
              "-c:v libx264 -preset veryfast -g 90 -c:a aac -ac 2");
}

/* 10.11 (EncodingHelper.GetVideoQualityParam for libx265 at a preset
 * slower than ultrafast), fMP4 segments. */
#define X265_PARAMS_1011                                                                           \
    "no-scenecut=1:no-open-gop=1:no-info=1:subme=3:merange=25:rc-lookahead=10:me=star:ctu=32:"     \
    "max-tu-size=32:min-cu-size=16:rskip=2:rskip-edge-threshold=2:no-sao=1:"                       \
    "no-strong-intra-smoothing=1"
#define LINE_HEVC_FMP4                                                                             \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -map_metadata -1 -map_chapters -1 "      \
    "-threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx265 -preset veryfast -crf 28 "          \
    "-maxrate 3616000 -bufsize 7232000 -profile:v:0 main -x265-params:0 " X265_PARAMS_1011 " "     \
    "-force_key_frames:0 \"expr:gte(t,n_forced*3)\" -bf 0 -tag:v:0 hvc1 "                          \
    "-vf \"setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,format=yuv420p\" "     \
    "-codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled "                         \
    "-max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type fmp4 "    \
    "-hls_fmp4_init_filename \"main-1.mp4\" -start_number 0 "                                      \
    "-hls_segment_filename \"%2$s/seg%%d.mp4\" -hls_playlist_type vod -hls_list_size 0 "          \
    "-hls_segment_options movflags=+frag_discont -y \"%2$s/main.m3u8\""

/* 10.9: no-info=1 only (so x265 would cut at scenes of its own), MPEG-TS. */
#define LINE_HEVC_TS                                                                               \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -map_metadata -1 -map_chapters -1 "      \
    "-threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx265 -preset veryfast -crf 28 "          \
    "-maxrate 3616000 -bufsize 7232000 -profile:v:0 main -x265-params:0 no-info=1 "                \
    "-force_key_frames:0 \"expr:gte(t,n_forced*3)\" -sc_threshold:v:0 0 "                          \
    "-vf \"format=yuv420p\" -codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled "  \
    "-max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 "                           \
    "-hls_segment_type mpegts -start_number 0 -hls_segment_filename \"%2$s/seg%%d.ts\" "           \
    "-hls_playlist_type vod -hls_list_size 0 -y \"%2$s/main.m3u8\""

/* The codec name and tag of the first video stream in path. */
static void video_codec_facts(const char *path, char *out, size_t len)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "ffprobe -v error -select_streams v -show_entries stream=codec_name,codec_tag_string "
             "-of csv=p=0 '%s'",
             path);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    if (fgets(out, (int)len, p) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

/* Runs the line natively and by the CLI; the CLI's segments, frames and
 * times, and the CLI's video codec and tag in first (the init segment or
 * segment 0). */
static void check_hevc_hls(const char *name, const char *format, const char *first,
                           const char *expect_codec)
{
    char dir[600], cli_dir[600], cli_name[64], input[700], line[8192], path[700];
    char ours[128], cli[128];
    snprintf(cli_name, sizeof(cli_name), "%s-cli", name);
    output_dir(dir, sizeof(dir), name);
    output_dir(cli_dir, sizeof(cli_dir), cli_name);
    make_hevc_source(input, sizeof(input), dir);

    struct job_spec spec;
    snprintf(line, sizeof(line), format, input, dir);
    parse_native(line, &spec, "native: HLS libx265+aac");
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    snprintf(line, sizeof(line), format, input, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    int frames = expect_hls_like_the_cli(dir, cli_dir, &c, FRAME_S / 2);
    cr_expect_eq(c.count, 4, "%d segments for 10 s at T=3", c.count);
    cr_expect_eq(frames, 250, "%d frames in all segments", frames);

    snprintf(path, sizeof(path), "%s/%s", dir, first);
    video_codec_facts(path, ours, sizeof(ours));
    snprintf(path, sizeof(path), "%s/%s", cli_dir, first);
    video_codec_facts(path, cli, sizeof(cli));
    cr_expect_str_eq(ours, cli, "video \"%s\", the CLI's \"%s\"", ours, cli);
    cr_expect_str_eq(ours, expect_codec);
}

Test(pipeline, libx265_in_fmp4_makes_the_clis_segments)
{
    check_hevc_hls("hevc-fmp4", LINE_HEVC_FMP4, "main-1.mp4", "hevc,hvc1");
}

Test(pipeline, libx265_in_mpegts_makes_the_clis_segments)
{
    check_hevc_hls("hevc-ts", LINE_HEVC_TS, "seg0.ts", "hevc,HEVC");
}

/* A takeover (or Jellyfin's seek restart) at segment 2: every segment
 * starts with an IDR at the same frame, and holds the same frames at the
 * same times, as in the run from the start. */
Test(pipeline, libx265_resumed_at_segment_2_makes_the_same_segments)
{
    char dir_a[600], dir_b[600], input[700], line[8192];
    output_dir(dir_a, sizeof(dir_a), "hevc-from-start");
    output_dir(dir_b, sizeof(dir_b), "hevc-resumed");
    make_hevc_source(input, sizeof(input), dir_a);

    struct job_spec spec_a, spec_b;
    snprintf(line, sizeof(line), LINE_HEVC_TS, input, dir_a);
    parse_native(line, &spec_a, "native: HLS libx265+aac");
    snprintf(line, sizeof(line), LINE_HEVC_TS, input, dir_b);
    parse_native(line, &spec_b, "native: HLS libx265+aac");
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 0, &a);
    run_ok(&spec_b, 2, &b);
    cr_assert_eq(b.count, a.count - 2, "resumed run made %d segments, expected %d", b.count,
                 a.count - 2);
    for (int i = 0; i < b.count; i++) {
        const struct pipeline_segment *sa = &a.segments[2 + i], *sb = &b.segments[i];
        cr_expect_eq(sa->start_us, sb->start_us, "segment %d: start %lld vs %lld", sb->index,
                     (long long)sa->start_us, (long long)sb->start_us);
        cr_expect_eq(sa->duration_us, sb->duration_us, "segment %d: duration %lld vs %lld",
                     sb->index, (long long)sa->duration_us, (long long)sb->duration_us);
        char path[700];
        struct probe pa, pb;
        segment_file(path, sizeof(path), dir_a, sb->index);
        probe_segment(path, &pa);
        segment_file(path, sizeof(path), dir_b, sb->index);
        probe_segment(path, &pb);
        expect_decodes_cleanly(path);
        cr_expect(pb.first_video_is_key, "resumed segment %d does not start with a keyframe",
                  sb->index);
        cr_expect_eq(pa.video_packets, pb.video_packets, "segment %d: %d frames, resumed %d",
                     sb->index, pa.video_packets, pb.video_packets);
        cr_expect_leq(fabs(pa.video_first - pb.video_first), 1e-6,
                      "segment %d starts at %.6f, resumed at %.6f", sb->index, pa.video_first,
                      pb.video_first);
        cr_expect_leq(fabs(pa.video_last - pb.video_last), 1e-6,
                      "segment %d ends at %.6f, resumed at %.6f", sb->index, pa.video_last,
                      pb.video_last);
    }
}
