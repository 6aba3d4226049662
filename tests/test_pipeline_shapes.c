/* test_pipeline_shapes.c -- Jellyfin's command-line shapes the shim's parser
 * (shim/argv*.c) takes natively since issue 14, each run by the pipeline and
 * by the ffmpeg CLI on the same argv: a source without audio ("-map 0:V -map
 * -0:a" and no audio options), progressive .m4a and .m4v (the ipod muxer,
 * which ffmpeg picks by the extension), and a client's frame-rate cap (-r N
 * with fps=N first in -vf).
 *
 * Each line is written as Jellyfin writes it (EncodingHelper, 10.11), split
 * and parsed as the shim parses it (argv_split, argv_parse_job), and the job
 * spec the parser made is what the pipeline runs; the CLI runs the same
 * argv, only the output folder differs. The outputs must agree: HLS
 * segments in number, frames, times and durations (the CLI's playlist);
 * progressive files in brand, box layout, streams and packets. Each test
 * makes the clip it needs in a folder of its own; the other helpers are in
 * pipeline_test_lib.h. */
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

/* ---- a source without audio ----------------------------------------------------------- */

/* 640x360 at 25 fps, 10 s, a keyframe every 90 frames, no audio stream. */
static void make_silent_clip(char *out, size_t len, const char *dir)
{
    make_clip(out, len, dir, "silent.mkv", "-f lavfi -i testsrc2=size=640x360:rate=25",
              "-c:v libx264 -preset veryfast -g 90");
}

/* Jellyfin's HLS line for a video without audio (C.2 of the issue's
 * research): GetMapArgs writes "-map 0:0 -map -0:a -map -0:s" and the
 * controller no audio options at all. */
#define LINE_SILENT_HLS                                                                            \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -map_metadata -1 "                       \
    "-map_chapters -1 -threads 0 -map 0:0 -map -0:a -map -0:s -codec:v:0 libx264 "                 \
    "-preset veryfast -crf 23 -maxrate 3616000 -bufsize 7232000 -profile:v:0 high -level 51 "      \
    "-x264opts:0 subme=0:me_range=16:rc_lookahead=10:me=hex:open_gop=0 "                           \
    "-force_key_frames:0 \"expr:gte(t,n_forced*3)\" -sc_threshold:v:0 0 "                          \
    "-vf \"setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"                      \
    "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:trunc(min(max(iw/a\\,ih)\\,"         \
    "min(1280/a\\,720))/2)*2,format=yuv420p\" -copyts -avoid_negative_ts disabled "                \
    "-max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 "                           \
    "-hls_segment_type mpegts -start_number 0 -hls_segment_filename \"%2$s/seg%%d.ts\" "           \
    "-hls_playlist_type vod -hls_list_size 0 -y \"%2$s/main.m3u8\""

Test(pipeline, a_source_without_audio_makes_the_clis_hls_segments)
{
    char dir[600], cli_dir[600], input[700], line[8192];
    output_dir(dir, sizeof(dir), "silent");
    output_dir(cli_dir, sizeof(cli_dir), "silent-cli");
    make_silent_clip(input, sizeof(input), dir);

    struct job_spec spec;
    snprintf(line, sizeof(line), LINE_SILENT_HLS, input, dir);
    parse_native(line, &spec, "native: HLS libx264+no audio");
    cr_expect_eq(spec.audio_stream, -1);
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    snprintf(line, sizeof(line), LINE_SILENT_HLS, input, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    int frames = expect_hls_like_the_cli(dir, cli_dir, &c, FRAME_S / 2);
    cr_expect_eq(c.count, 4, "%d segments for 10 s at T=3", c.count);
    cr_expect_eq(frames, 250, "%d frames in all segments", frames);
}

/* The progressive form (GetProgressiveVideoFullCommandLine): the maps
 * before the video options, no audio options, a fragmented MP4. */
#define LINE_SILENT_MP4                                                                            \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" "                                        \
    "-force_key_frames \"expr:gte(t,n_forced*5)\" -map 0:0 -map -0:a -map -0:s "                   \
    "-codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 3616000 -bufsize 7232000 "               \
    "-profile:v:0 high -level 51 -vf \"format=yuv420p\" -map_metadata -1 -map_chapters -1 "        \
    "-threads 0 -f mp4 -movflags frag_keyframe+empty_moov+delay_moov -y \"%2$s/out.mp4\""

Test(pipeline, a_source_without_audio_makes_the_clis_progressive_mp4)
{
    char dir[600], cli_dir[600], input[700], line[8192], path[700], cli_path[700];
    output_dir(dir, sizeof(dir), "silent-mp4");
    output_dir(cli_dir, sizeof(cli_dir), "silent-mp4-cli");
    make_silent_clip(input, sizeof(input), dir);

    struct job_spec spec;
    snprintf(line, sizeof(line), LINE_SILENT_MP4, input, dir);
    parse_native(line, &spec, "native: progressive libx264+no audio");
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    cr_assert_eq(pipeline_run(&spec, 0, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);

    snprintf(line, sizeof(line), LINE_SILENT_MP4, input, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    snprintf(path, sizeof(path), "%s/out.mp4", dir);
    snprintf(cli_path, sizeof(cli_path), "%s/out.mp4", cli_dir);
    expect_file_like_the_cli(path, cli_path, FRAME_S);
    struct file_facts f;
    file_facts_read(path, &f);
    cr_expect_str_eq(f.streams, "h264,video,640,360 ");
    cr_expect_eq(f.video_keyframes, 2, "a keyframe every 5 s of 10 s: %d", f.video_keyframes);
}

/* ---- the ipod muxer (.m4a, .m4v) --------------------------------------------------------- */

/* The brands of an MP4 file and the types of its top-level boxes, in
 * order ("ftyp moov moof mdat ... mfra"), into out. */
static void mp4_layout(const char *path, char *out, size_t len)
{
    char command[1024], brands[256] = "";
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries format_tags=major_brand,compatible_brands "
             "-of csv=p=0 '%s'",
             path);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    if (fgets(brands, sizeof(brands), p) == NULL)
        brands[0] = '\0';
    brands[strcspn(brands, "\n")] = '\0';
    pclose(p);

    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t n = (size_t)snprintf(out, len, "%s:", brands);
    unsigned char head[16];
    long at = 0;
    while (fseek(f, at, SEEK_SET) == 0 && fread(head, 1, 8, f) == 8 && n + 6 < len) {
        uint64_t size =
            (uint64_t)head[0] << 24 | (uint64_t)head[1] << 16 | (uint64_t)head[2] << 8 | head[3];
        if (size == 1 && fread(head + 8, 1, 8, f) == 8) {
            size = 0;
            for (int i = 8; i < 16; i++)
                size = size << 8 | head[i];
        }
        n += (size_t)snprintf(out + n, len - n, " %.4s", (const char *)head + 4);
        if (size < 8)
            break;
        at += (long)size;
    }
    fclose(f);
}

/* Jellyfin's progressive audio for a client that asks for .m4a
 * (GetProgressiveAudioFullCommandLine, C.5): no -f, the ipod muxer. */
#define LINE_M4A(codec)                                                                            \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -threads 0 -vn -ab 256000 -ac 2 "        \
    "-acodec " codec " -ar 48000 -movflags empty_moov+delay_moov -id3v2_version 3 "                \
    "-write_id3v1 1 -y \"%2$s/out.m4a\""

static void check_m4a(const char *codec, const char *line_format, const char *expect_streams)
{
    char dir[600], cli_dir[600], input[700], line[8192], path[700], cli_path[700];
    output_dir(dir, sizeof(dir), "m4a");
    output_dir(cli_dir, sizeof(cli_dir), "m4a-cli");
    make_clip(input, sizeof(input), dir, "track.flac",
              "-f lavfi -i sine=frequency=440:sample_rate=44100", "-ac 2 -c:a flac");

    struct job_spec spec;
    char expect[128];
    snprintf(expect, sizeof(expect), "native: progressive no video+%s", codec);
    snprintf(line, sizeof(line), line_format, input, dir);
    parse_native(line, &spec, expect);
    cr_expect_str_eq(spec.output_format, "ipod");
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    cr_assert_eq(pipeline_run(&spec, 0, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);

    snprintf(line, sizeof(line), line_format, input, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    snprintf(path, sizeof(path), "%s/out.m4a", dir);
    snprintf(cli_path, sizeof(cli_path), "%s/out.m4a", cli_dir);
    expect_file_like_the_cli(path, cli_path, 1536.0 / 48000);
    char ours[512], cli[512];
    mp4_layout(path, ours, sizeof(ours));
    mp4_layout(cli_path, cli, sizeof(cli));
    cr_expect_str_eq(ours, cli, "layout \"%s\", the CLI's \"%s\"", ours, cli);
    cr_expect(strncmp(ours, "M4A ,", 5) == 0, "not an iPod audio file: %s", ours);
    struct file_facts f;
    file_facts_read(path, &f);
    cr_expect(strncmp(f.streams, expect_streams, strlen(expect_streams)) == 0, "streams \"%s\"",
              f.streams);
}

Test(pipeline, m4a_audio_is_the_clis_ipod_file)
{
    check_m4a("aac", LINE_M4A("aac"), "aac,audio,48000,2");
}

Test(pipeline, m4a_with_ac3_audio_is_the_clis_ipod_file)
{
    check_m4a("ac3", LINE_M4A("ac3"), "ac3,audio,48000,2");
}

/* A progressive video transcode into .m4v: no -f and no -movflags
 * (GetProgressiveVideoFullCommandLine writes them for .mp4 only), so the
 * ipod muxer writes a plain MP4 with its index at the end. The film has no
 * audio (the CLI's vsync would repeat the first frame of a film whose
 * video starts after its audio, in any MP4; test_pipeline_progressive.c). */
#define LINE_M4V                                                                                   \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" "                                        \
    "-force_key_frames \"expr:gte(t,n_forced*5)\" -map 0:0 -map -0:a -map -0:s "                   \
    "-codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 3616000 -bufsize 7232000 "               \
    "-profile:v:0 high -level 51 -vf \"format=yuv420p\" -map_metadata -1 -map_chapters -1 "        \
    "-threads 0 -y \"%2$s/out.m4v\""

Test(pipeline, m4v_video_is_the_clis_ipod_file)
{
    char dir[600], cli_dir[600], input[700], line[8192], path[700], cli_path[700];
    output_dir(dir, sizeof(dir), "m4v");
    output_dir(cli_dir, sizeof(cli_dir), "m4v-cli");
    make_silent_clip(input, sizeof(input), dir);

    struct job_spec spec;
    snprintf(line, sizeof(line), LINE_M4V, input, dir);
    parse_native(line, &spec, "native: progressive libx264+no audio");
    cr_expect_str_eq(spec.output_format, "ipod");
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    cr_assert_eq(pipeline_run(&spec, 0, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);

    snprintf(line, sizeof(line), LINE_M4V, input, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    snprintf(path, sizeof(path), "%s/out.m4v", dir);
    snprintf(cli_path, sizeof(cli_path), "%s/out.m4v", cli_dir);
    expect_file_like_the_cli(path, cli_path, FRAME_S);
    char ours[512], cli[512];
    mp4_layout(path, ours, sizeof(ours));
    mp4_layout(cli_path, cli, sizeof(cli));
    cr_expect_str_eq(ours, cli, "layout \"%s\", the CLI's \"%s\"", ours, cli);
    cr_expect(strncmp(ours, "M4V ,", 5) == 0, "not an iPod video file: %s", ours);
}

/* ---- a client's frame-rate cap (-r N, fps=N) --------------------------------------------- */

/* 640x360 at 50 fps, 10 s, a keyframe every 100 frames, 48 kHz AAC, as
 * name: in MP4 its video starts at 0, in Matroska 21 ms in (x264's B-frame
 * delay, which the Matroska muxer keeps). */
static void make_fast_clip(char *out, size_t len, const char *dir, const char *name)
{
    make_clip(out, len, dir, name,
              "-f lavfi -i testsrc2=size=640x360:rate=50 "
              "-f lavfi -i sine=frequency=440:sample_rate=48000",
              "-c:v libx264 -preset veryfast -g 100 -c:a aac");
}

/* Jellyfin's HLS transcode with a client's cap (C.3): -r N after the
 * bitrate options, fps=N first in -vf. %3$s is N. */
#define LINE_RATE_HLS                                                                              \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -map_metadata -1 -map_chapters -1 "      \
    "-threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 "          \
    "-maxrate 3616000 -bufsize 7232000 -r %3$s -profile:v:0 high -level 51 "                       \
    "-x264opts:0 subme=0:me_range=16:rc_lookahead=10:me=hex:open_gop=0 "                           \
    "-force_key_frames:0 \"expr:gte(t,n_forced*3)\" -sc_threshold:v:0 0 "                          \
    "-vf \"fps=%3$s,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"             \
    "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:trunc(min(max(iw/a\\,ih)\\,"         \
    "min(1280/a\\,720))/2)*2,format=yuv420p\" -codec:a:0 aac -ac 2 -ab 128000 -copyts "            \
    "-avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 "           \
    "-hls_time 3 -hls_segment_type mpegts -start_number 0 -hls_segment_filename "                  \
    "\"%2$s/seg%%d.ts\" -hls_playlist_type vod -hls_list_size 0 -y \"%2$s/main.m3u8\""

/* The capped line for input into dir. */
static void rate_line(char *out, size_t len, const char *input, const char *dir, const char *rate)
{
    snprintf(out, len, LINE_RATE_HLS, input, dir, rate);
}

/* The pts of every video packet of segments 0..count-1 in dir, sorted,
 * into out; returns how many. */
static int video_times(const char *dir, int count, double *out, int max)
{
    int n = 0;
    for (int k = 0; k < count; k++) {
        char command[1024], line[128];
        snprintf(command, sizeof(command),
                 "ffprobe -v error -select_streams v -show_entries packet=pts_time "
                 "-of csv=p=0 '%s/seg%d.ts' | sort -n",
                 dir, k);
        FILE *p = popen(command, "r");
        cr_assert_not_null(p);
        while (fgets(line, sizeof(line), p) != NULL && n < max)
            if (line[0] >= '0' && line[0] <= '9') /* not a side data line */
                out[n++] = atof(line);
        pclose(p);
    }
    return n;
}

/* A 50 fps film with the cap rate: the pipeline and the CLI run the line
 * on the fixture name (made here), and the CLI runs it again without -r:
 * fps=N has left -r nothing to duplicate or drop, so both CLI runs put the
 * same frames at the same times. Fills dir and cli_dir (600 bytes each)
 * and c. */
static void run_rate_cap(const char *name, const char *rate, char *dir, char *cli_dir,
                         struct collected *c)
{
    char bare_dir[600], input[700], line[8192];
    output_dir(dir, 600, "rate");
    output_dir(cli_dir, 600, "rate-cli");
    output_dir(bare_dir, sizeof(bare_dir), "rate-cli-without-r");
    make_fast_clip(input, sizeof(input), dir, name);

    struct job_spec spec;
    rate_line(line, sizeof(line), input, dir, rate);
    parse_native(line, &spec, "native: HLS libx264+aac");
    run_ok(&spec, 0, c);
    rate_line(line, sizeof(line), input, cli_dir, rate);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");

    rate_line(line, sizeof(line), input, bare_dir, rate);
    char *r = strstr(line, " -r ");
    cr_assert_not_null(r);
    char *after = strchr(r + 4, ' ');
    memmove(r, after, strlen(after) + 1);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed without -r");
    static double with[2048], without[2048];
    int n_with = video_times(cli_dir, c->count, with, 2048);
    int n_without = video_times(bare_dir, c->count, without, 2048);
    cr_expect_eq(n_with, n_without, "the CLI makes %d frames with -r, %d without", n_with,
                 n_without);
    for (int i = 0; i < n_with && i < n_without; i++)
        cr_expect_leq(fabs(with[i] - without[i]), 1e-6,
                      "the CLI's frame %d is at %.6f with -r, %.6f without", i, with[i],
                      without[i]);
}

/* Capped at 25: every other frame of the film, 250 in 10 s; segments, their
 * frames, times and durations as the CLI's. */
Test(pipeline, a_frame_rate_cap_makes_the_clis_segments)
{
    char dir[600], cli_dir[600];
    struct collected c = {0};
    run_rate_cap("fast.mp4", "25", dir, cli_dir, &c);
    int frames = expect_hls_like_the_cli(dir, cli_dir, &c, 1e-4);
    cr_expect_eq(c.count, 4, "%d segments for 10 s at T=3", c.count);
    cr_expect_eq(frames, 250, "%d frames at 25 fps in 10 s", frames);
}

/* A float cap as .NET prints it (29.97f as a double): fps and -r read it
 * as the same rational, and fps drops frames unevenly. */
Test(pipeline, a_float_frame_rate_cap_makes_the_clis_segments)
{
    char dir[600], cli_dir[600];
    struct collected c = {0};
    run_rate_cap("fast.mp4", "29.969999313354492", dir, cli_dir, &c);
    int frames = expect_hls_like_the_cli(dir, cli_dir, &c, 1e-4);
    cr_expect_eq(frames, 300, "%d frames at 29.97 fps in 10 s", frames);
}

/* A film whose video starts 21 ms in: fps=25 puts its first frame at
 * 0.04 s, and the pipeline makes every frame of the CLI at the CLI's time.
 * The cuts differ by one frame, by design: the pool cuts segment k at the
 * first frame at or after k*T of stream time, where Jellyfin's playlist puts
 * it; the CLI counts the keyframe expression's t from its first frame (0.04
 * s here), so it cuts one frame later. */
Test(pipeline, a_frame_rate_cap_on_a_film_starting_late_makes_the_clis_frames)
{
    char dir[600], cli_dir[600], path[700];
    struct collected c = {0};
    run_rate_cap("fast.mkv", "25", dir, cli_dir, &c);
    static double ours[2048], cli[2048];
    int n_ours = video_times(dir, c.count, ours, 2048);
    int n_cli = video_times(cli_dir, c.count, cli, 2048);
    cr_expect_eq(n_ours, 250, "%d frames at 25 fps in 10 s", n_ours);
    cr_expect_eq(n_ours, n_cli, "%d frames, the CLI %d", n_ours, n_cli);
    for (int i = 0; i < n_ours && i < n_cli; i++)
        cr_expect_leq(fabs(ours[i] - cli[i]), 1e-4, "frame %d at %.6f, the CLI's at %.6f", i,
                      ours[i], cli[i]);
    for (int k = 0; k < c.count; k++) {
        struct probe a, b;
        segment_file(path, sizeof(path), dir, k);
        probe_segment(path, &a);
        segment_file(path, sizeof(path), cli_dir, k);
        probe_segment(path, &b);
        cr_expect_leq(abs(a.video_packets - b.video_packets), 1,
                      "segment %d: %d frames, the CLI %d", k, a.video_packets, b.video_packets);
        cr_expect_leq(fabs(a.video_first + (k > 0 ? 0.04 : 0) - b.video_first), 1e-4,
                      "segment %d starts at %.6f, the CLI's at %.6f", k, a.video_first,
                      b.video_first);
    }
}

/* A takeover (or Jellyfin's seek restart) of a capped line at segment 2:
 * the fps filter's grid is the stream's, so the resumed run puts the same
 * frames in the same segments as the run from the start. */
Test(pipeline, a_frame_rate_cap_resumed_at_segment_2_makes_the_same_segments)
{
    char dir_a[600], dir_b[600], input[700], line[8192];
    output_dir(dir_a, sizeof(dir_a), "rate-from-start");
    output_dir(dir_b, sizeof(dir_b), "rate-resumed");
    make_fast_clip(input, sizeof(input), dir_a, "fast.mkv");

    struct job_spec spec_a, spec_b;
    rate_line(line, sizeof(line), input, dir_a, "25");
    parse_native(line, &spec_a, "native: HLS libx264+aac");
    rate_line(line, sizeof(line), input, dir_b, "25");
    parse_native(line, &spec_b, "native: HLS libx264+aac");
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
        cr_expect_leq(fabs(pa.audio_first - pb.audio_first), AUDIO_FRAME_S + 1e-6,
                      "segment %d audio starts at %.6f, resumed at %.6f", sb->index, pa.audio_first,
                      pb.audio_first);
    }
}
