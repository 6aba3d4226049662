/* test_pipeline_hw.c -- the pipeline on hardware lines (worker/pipeline/pipeline_hw.c and
 * the hardware parts of pipeline_video.c and pipeline_graph.c), on the devices this
 * machine really has: Vulkan on Mesa's lavapipe and OpenCL on pocl, both running on
 * the CPU (scripts/deps.sh installs them). No mocks: every device, frame and filter is
 * libav's own.
 *
 * Jellyfin-shaped HLS lines through scale_vulkan and unsharp_opencl are run by the
 * pipeline and by the ffmpeg CLI on the same argv and compared segment by segment
 * (count, frames, duration, size); a resumed run (a takeover or a seek restart) must cut
 * where the uninterrupted run cut, with the same frames at the same times, MPEG-TS and
 * fMP4. VAAPI, QSV, NVENC and CUDA go through the same code but cannot run here: their
 * tests are the errors a missing device gives. The modules' parts, called directly on
 * real Vulkan frames, are tested in test_pipeline_hw_modules.c; the clips are in
 * pipeline_hw_test_lib.h. */
#include <criterion/criterion.h>

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmp4_times.h"
#include "job_spec.h"
#include "pipeline.h"
#include "pipeline_hw_test_lib.h"

#define FRAME_S 0.04                   /* 25 fps */
#define AUDIO_FRAME_S (1024.0 / 48000) /* one AAC frame */
#define MAX_SEGMENTS 32

/* Jellyfin's filter chain shape (setparams, then its upload, the hardware
 * filter and the download back to what libx264 takes). */
#define SETPARAMS "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
#define VULKAN_FILTER                                                                              \
    SETPARAMS "format=yuv420p,hwupload,scale_vulkan=w=320:h=180,hwdownload,format=yuv420p"
#define OPENCL_FILTER SETPARAMS "format=yuv420p,hwupload,unsharp_opencl,hwdownload,format=yuv420p"

/* ---- specs ------------------------------------------------------------------------ */

/* Jellyfin's HLS transcode line (tests/corpus/002 and 003 shape) with a
 * hardware device for its filters: -init_hw_device DEVICE -filter_hw_device
 * NAME (NULL: none) and the chain filter. */
static void spec_hw_hls(struct job_spec *spec, const char *input, const char *dir,
                        int64_t segment_us, const char *device, const char *name,
                        const char *filter)
{
    job_spec_init(spec);
    snprintf(spec->input, sizeof(spec->input), "%s", input);
    spec->analyzeduration_us = 200000000;
    if (device != NULL)
        snprintf(spec->hw_devices[spec->n_hw_devices++], sizeof(spec->hw_devices[0]), "%s", device);
    if (name != NULL)
        snprintf(spec->filter_hw_device, sizeof(spec->filter_hw_device), "%s", name);
    snprintf(spec->video_codec, sizeof(spec->video_codec), "libx264");
    snprintf(spec->preset, sizeof(spec->preset), "veryfast");
    spec->crf = 23;
    spec->maxrate = 4875352;
    spec->bufsize = 9750704;
    snprintf(spec->profile, sizeof(spec->profile), "high");
    snprintf(spec->level, sizeof(spec->level), "31");
    snprintf(spec->x264opts, sizeof(spec->x264opts),
             "subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none");
    snprintf(spec->video_filter, sizeof(spec->video_filter), "%s", filter);
    snprintf(spec->audio_codec, sizeof(spec->audio_codec), "aac");
    spec->audio_channels = 2;
    spec->audio_bitrate = 128000;
    spec->video_stream = 0;
    spec->audio_stream = 1;
    spec->output_kind = JOB_OUTPUT_HLS;
    snprintf(spec->output, sizeof(spec->output), "%s/main.m3u8", dir);
    spec->hls_time_us = segment_us;
    spec->segment_type = JOB_SEGMENT_MPEGTS;
    snprintf(spec->segment_filename, sizeof(spec->segment_filename), "%s/seg%%d.ts", dir);
    spec->playlist_type = JOB_PLAYLIST_VOD;
    spec->max_delay_us = 5000000;
    spec->copyts = 1;
}

static void spec_vulkan(struct job_spec *spec, const char *input, const char *dir)
{
    spec_hw_hls(spec, input, dir, 2000000, "vulkan=vk", "vk", VULKAN_FILTER);
}

static void spec_opencl(struct job_spec *spec, const char *input, const char *dir)
{
    spec_hw_hls(spec, input, dir, 1000000, "opencl=ocl", "ocl", OPENCL_FILTER);
}

static void make_fmp4(struct job_spec *spec)
{
    spec->segment_type = JOB_SEGMENT_FMP4;
    snprintf(spec->init_filename, sizeof(spec->init_filename), "main-1.mp4");
    char *dot = strrchr(spec->segment_filename, '.');
    snprintf(dot, sizeof(spec->segment_filename) - (size_t)(dot - spec->segment_filename), ".mp4");
}

/* The ffmpeg CLI's argv for spec (as the shim would have read it), into out. */
static void cli_command(const struct job_spec *spec, const char *dir, char *out, size_t len)
{
    int fmp4 = spec->segment_type == JOB_SEGMENT_FMP4;
    int n = snprintf(out, len, "ffmpeg -nostdin -v error");
    for (int i = 0; i < spec->n_hw_devices; i++)
        n += snprintf(out + n, len - (size_t)n, " -init_hw_device '%s'", spec->hw_devices[i]);
    if (spec->filter_hw_device[0] != '\0')
        n += snprintf(out + n, len - (size_t)n, " -filter_hw_device %s", spec->filter_hw_device);
    if (spec->hwaccel[0] != '\0')
        n += snprintf(out + n, len - (size_t)n, " -hwaccel %s", spec->hwaccel);
    if (spec->canvas_width > 0)
        n += snprintf(out + n, len - (size_t)n, " -canvas_size %dx%d", spec->canvas_width,
                      spec->canvas_height);
    n += snprintf(out + n, len - (size_t)n,
                  " -analyzeduration 200M -i 'file:%s' -map_metadata -1 -map_chapters -1 "
                  "-threads 0",
                  spec->input);
    if (!spec->filter_complex)
        n += snprintf(out + n, len - (size_t)n, " -map 0:0");
    n += snprintf(out + n, len - (size_t)n,
                  " -map 0:1 -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4875352 "
                  "-bufsize 9750704 -profile:v:0 high -level 31 -x264opts:0 %s "
                  "-force_key_frames:0 'expr:gte(t,n_forced*%g)' -sc_threshold:v:0 0 %s '%s'"
                  "%s -codec:a:0 aac -ac 2 -ab 128000 -copyts -avoid_negative_ts disabled "
                  "-max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time %g "
                  "-hls_segment_type %s%s -start_number 0 -hls_segment_filename '%s/seg%%d.%s' "
                  "-hls_playlist_type vod -hls_list_size 0 -y '%s/main.m3u8'",
                  spec->x264opts, (double)spec->hls_time_us / 1e6,
                  spec->filter_complex ? "-filter_complex" : "-vf", spec->video_filter,
                  spec->autoscale ? "" : " -noautoscale", (double)spec->hls_time_us / 1e6,
                  fmp4 ? "fmp4" : "mpegts", fmp4 ? " -hls_fmp4_init_filename main-1.mp4" : "", dir,
                  fmp4 ? "mp4" : "ts", dir);
}

/* ---- running ------------------------------------------------------------------------ */

struct collected {
    int count;
    struct pipeline_segment segments[MAX_SEGMENTS];
    int stop_after; /* segment_done returns 1 on this many-th segment (0: never) */
    const char *fmp4_base;
    char fmp4_base_out[FMP4_BASE_TEXT_MAX];
};

static int collect_segment(void *opaque, const struct pipeline_segment *segment)
{
    struct collected *c = opaque;
    if (segment->fmp4_base != NULL)
        snprintf(c->fmp4_base_out, sizeof(c->fmp4_base_out), "%s", segment->fmp4_base);
    if (c->count < MAX_SEGMENTS) {
        c->segments[c->count] = *segment;
        c->segments[c->count].temp_path = NULL;
        c->segments[c->count].final_path = NULL;
        c->segments[c->count].fmp4_base = NULL;
    }
    c->count++;
    if (c->stop_after > 0 && c->count >= c->stop_after) {
        unlink(segment->temp_path); /* a fenced worker's, discarded */
        return 1;
    }
    return rename(segment->temp_path, segment->final_path) == 0 ? 0 : 1;
}

static int run_pipeline(const struct job_spec *spec, int first_index, struct collected *c,
                        char *err, size_t errlen)
{
    struct pipeline_callbacks cb = {
        .opaque = c,
        .segment_done = collect_segment,
        .fmp4_base = c->fmp4_base,
    };
    return pipeline_run(spec, first_index, &cb, err, errlen);
}

static void run_ok(const struct job_spec *spec, int first_index, struct collected *c)
{
    char err[1024];
    int result = run_pipeline(spec, first_index, c, err, sizeof(err));
    cr_assert_eq(result, PIPELINE_OK, "pipeline_run: %d (%s)", result, err);
    cr_assert_gt(c->count, 0);
    for (int i = 0; i < c->count; i++)
        cr_expect_eq(c->segments[i].index, first_index + i, "segments out of order");
}

/* Runs spec expecting an error whose text contains each of the reasons. */
static void expect_error(const struct job_spec *spec, const char *reason, const char *also)
{
    struct collected c = {0};
    char err[1024];
    int result = run_pipeline(spec, 0, &c, err, sizeof(err));
    cr_expect_eq(result, PIPELINE_ERROR, "result %d, expected an error with \"%s\"", result,
                 reason);
    cr_expect(strstr(err, reason) != NULL, "error \"%s\" does not say \"%s\"", err, reason);
    cr_expect(also == NULL || strstr(err, also) != NULL, "error \"%s\" does not say \"%s\"", err,
              also);
    cr_expect_eq(c.count, 0);
}

/* ---- reading segments with ffprobe ---------------------------------------------------- */

struct probe {
    int video_packets;
    int audio_packets;
    int first_video_is_key;
    int width, height;
    double video_first, video_last; /* smallest, largest video pts */
    double audio_first, audio_end;
};

static void probe_file(const char *path, struct probe *p)
{
    char command[1024];
    memset(p, 0, sizeof(*p));
    p->video_first = p->audio_first = INFINITY;
    p->video_last = p->audio_end = -INFINITY;
    snprintf(command, sizeof(command),
             "ffprobe -v error -select_streams v:0 -show_entries stream=width,height "
             "-of csv=p=0 '%s'",
             path);
    FILE *out = popen(command, "r");
    cr_assert_not_null(out);
    if (fscanf(out, "%d,%d", &p->width, &p->height) != 2)
        p->width = p->height = 0;
    pclose(out);
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries packet=codec_type,pts_time,duration_time,flags "
             "-of csv=p=0 '%s'",
             path);
    out = popen(command, "r");
    cr_assert_not_null(out);
    char line[512];
    while (fgets(line, sizeof(line), out) != NULL) {
        char *save = NULL;
        char *type = strtok_r(line, ",\n", &save);
        char *pts = strtok_r(NULL, ",\n", &save);
        char *duration = strtok_r(NULL, ",\n", &save);
        char *flags = strtok_r(NULL, ",\n", &save);
        if (type == NULL || pts == NULL || duration == NULL || flags == NULL)
            continue;
        double t = atof(pts);
        if (strcmp(type, "video") == 0) {
            if (p->video_packets++ == 0)
                p->first_video_is_key = flags[0] == 'K';
            p->video_first = fmin(p->video_first, t);
            p->video_last = fmax(p->video_last, t);
        } else if (strcmp(type, "audio") == 0) {
            p->audio_packets++;
            p->audio_first = fmin(p->audio_first, t);
            p->audio_end = fmax(p->audio_end, t + atof(duration));
        }
    }
    cr_assert_eq(pclose(out), 0, "ffprobe %s failed", path);
}

/* Segment k of an output folder as a player reads it: an fMP4 one after
 * the init segment. */
static void probe_segment(const char *dir, int k, int fmp4, struct probe *p)
{
    char path[700], joined[700], command[2048];
    snprintf(path, sizeof(path), "%s/seg%d.%s", dir, k, fmp4 ? "mp4" : "ts");
    if (!fmp4) {
        probe_file(path, p);
        return;
    }
    snprintf(joined, sizeof(joined), "%s/joined-%d.mp4", dir, k);
    snprintf(command, sizeof(command), "cat '%s/main-1.mp4' '%s' >'%s'", dir, path, joined);
    cr_assert_eq(run_quiet(command), 0);
    probe_file(joined, p);
    unlink(joined);
}

/* The whole output as a player reads it decodes cleanly; returns its video
 * frames. */
static int decode_all(const char *dir, int count, int fmp4)
{
    char command[4096], path[700];
    snprintf(path, sizeof(path), "%s/all.%s", dir, fmp4 ? "mp4" : "ts");
    int n = snprintf(command, sizeof(command), "cat");
    if (fmp4)
        n += snprintf(command + n, sizeof(command) - (size_t)n, " '%s/main-1.mp4'", dir);
    for (int k = 0; k < count; k++)
        n += snprintf(command + n, sizeof(command) - (size_t)n, " '%s/seg%d.%s'", dir, k,
                      fmp4 ? "mp4" : "ts");
    snprintf(command + n, sizeof(command) - (size_t)n, " >'%s'", path);
    cr_assert_eq(run_quiet(command), 0);
    snprintf(command, sizeof(command),
             "test -z \"$(ffmpeg -nostdin -v error -i '%s' -f null - 2>&1)\"", path);
    cr_expect_eq(run_quiet(command), 0, "%s does not decode cleanly", path);
    struct probe p;
    probe_file(path, &p);
    unlink(path);
    return p.video_packets;
}

static int count_segments(const char *dir, const char *ext)
{
    char pattern[700];
    glob_t found;
    snprintf(pattern, sizeof(pattern), "%s/seg*.%s", dir, ext);
    if (glob(pattern, 0, NULL, &found) != 0)
        return 0;
    int n = (int)found.gl_pathc;
    globfree(&found);
    return n;
}

/* The #EXTINF durations of a playlist, in seconds. */
static int playlist_durations(const char *path, double *out, int max)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL && n < max)
        if (strncmp(line, "#EXTINF:", 8) == 0)
            out[n++] = atof(line + 8);
    fclose(f);
    return n;
}

/* Runs spec through the pipeline and its argv through the ffmpeg CLI and
 * compares them as tests/e2e_replay.sh does, more strictly: the same
 * segments, each with the same video frames from the same time, the same
 * duration and size, audio within one AAC frame. */
static void check_against_cli(const struct job_spec *spec, const char *dir, const char *cli_dir,
                              int width, int height)
{
    int fmp4 = spec->segment_type == JOB_SEGMENT_FMP4;
    const char *ext = fmp4 ? "mp4" : "ts";
    char command[8192], playlist[700];
    struct collected c = {0};
    run_ok(spec, 0, &c);
    cli_command(spec, cli_dir, command, sizeof(command));
    cr_assert_eq(run_quiet(command), 0, "the ffmpeg CLI failed: %s", command);

    double durations[MAX_SEGMENTS];
    snprintf(playlist, sizeof(playlist), "%s/main.m3u8", cli_dir);
    int cli_count = playlist_durations(playlist, durations, MAX_SEGMENTS);
    cr_assert_eq(c.count, cli_count, "%d segments, the CLI wrote %d", c.count, cli_count);
    cr_assert_eq(count_segments(dir, ext), cli_count);
    for (int k = 0; k < c.count; k++) {
        struct probe ours, cli;
        probe_segment(dir, k, fmp4, &ours);
        probe_segment(cli_dir, k, fmp4, &cli);
        cr_expect(ours.first_video_is_key, "segment %d does not start with a keyframe", k);
        cr_expect_eq(ours.width, width, "segment %d: width %d", k, ours.width);
        cr_expect_eq(ours.height, height, "segment %d: height %d", k, ours.height);
        cr_expect_eq(cli.width, width, "CLI segment %d: width %d", k, cli.width);
        cr_expect_eq(ours.video_packets, cli.video_packets, "segment %d: %d frames, CLI %d", k,
                     ours.video_packets, cli.video_packets);
        cr_expect_leq(fabs(ours.video_first - cli.video_first), FRAME_S / 2,
                      "segment %d starts at %.6f, CLI %.6f", k, ours.video_first, cli.video_first);
        cr_expect_leq(abs(ours.audio_packets - cli.audio_packets), 1,
                      "segment %d: %d audio packets, CLI %d", k, ours.audio_packets,
                      cli.audio_packets);
        cr_expect_leq(fabs((double)c.segments[k].duration_us / 1e6 - durations[k]), FRAME_S + 1e-6,
                      "segment %d lasts %.6f s, CLI %.6f", k,
                      (double)c.segments[k].duration_us / 1e6, durations[k]);
    }
    cr_expect_eq(decode_all(dir, c.count, fmp4), decode_all(cli_dir, cli_count, fmp4),
                 "the whole output has another number of frames than the CLI's");
}

/* A job whose worker stopped after segment first_index - 1 (killed, or a
 * seek restart): a run from first_index into the same folder must make
 * exactly the uninterrupted run's segments from there on, with the same
 * frames at the same times (video to the microsecond, as a player reads
 * them: an fMP4 segment after the job's init segment, which the resumed run
 * leaves alone, given the base the first segment handed out). */
static void check_takeover(const struct job_spec *spec_a, const struct job_spec *spec_b,
                           const char *dir_a, const char *dir_b, int first_index)
{
    int fmp4 = spec_a->segment_type == JOB_SEGMENT_FMP4;
    struct collected a = {0}, b1 = {.stop_after = first_index + 1}, b2 = {0};
    char err[1024];
    run_ok(spec_a, 0, &a);
    cr_assert_eq(run_pipeline(spec_b, 0, &b1, err, sizeof(err)), PIPELINE_STOPPED, "%s", err);
    b2.fmp4_base = b1.fmp4_base_out[0] != '\0' ? b1.fmp4_base_out : NULL;
    if (fmp4)
        cr_assert_not_null(b2.fmp4_base, "the job's first segment handed out no fmp4 base");
    run_ok(spec_b, first_index, &b2);
    cr_assert_eq(first_index + b2.count, a.count, "%d + %d segments, the full run made %d",
                 first_index, b2.count, a.count);
    for (int i = 0; i < b2.count; i++) {
        const struct pipeline_segment *sa = &a.segments[first_index + i];
        const struct pipeline_segment *sb = &b2.segments[i];
        cr_expect_eq(sa->start_us, sb->start_us, "segment %d: start %lld vs %lld", sb->index,
                     (long long)sa->start_us, (long long)sb->start_us);
        cr_expect_eq(sa->duration_us, sb->duration_us, "segment %d: duration %lld vs %lld",
                     sb->index, (long long)sa->duration_us, (long long)sb->duration_us);
    }
    for (int k = first_index - 1; k < a.count; k++) {
        struct probe pa, pb;
        probe_segment(dir_a, k, fmp4, &pa);
        probe_segment(dir_b, k, fmp4, &pb);
        cr_expect(pb.first_video_is_key, "segment %d does not start with a keyframe", k);
        cr_expect_eq(pa.video_packets, pb.video_packets, "segment %d: %d frames, resumed %d", k,
                     pa.video_packets, pb.video_packets);
        cr_expect_leq(fabs(pa.video_first - pb.video_first), 1e-6,
                      "segment %d video starts at %.6f, resumed at %.6f", k, pa.video_first,
                      pb.video_first);
        cr_expect_leq(fabs(pa.video_last - pb.video_last), 1e-6,
                      "segment %d video ends at %.6f, resumed at %.6f", k, pa.video_last,
                      pb.video_last);
        cr_expect_leq(fabs(pa.audio_first - pb.audio_first), AUDIO_FRAME_S + 1e-6,
                      "segment %d audio starts at %.6f, resumed at %.6f", k, pa.audio_first,
                      pb.audio_first);
        if (fmp4)
            cr_expect_leq(fabs(pa.audio_end - pb.audio_end), 1e-6,
                          "segment %d audio ends at %.6f, resumed at %.6f", k, pa.audio_end,
                          pb.audio_end);
    }
    cr_expect_eq(decode_all(dir_a, a.count, fmp4), decode_all(dir_b, a.count, fmp4),
                 "the takeover lost or repeated frames");
}

static void check_takeover_of(void (*make)(struct job_spec *, const char *, const char *),
                              const char *fixture, int fmp4, int first_index)
{
    char input[512], dir_a[600], dir_b[600];
    fixture_path(input, sizeof(input), fixture);
    output_dir(dir_a, sizeof(dir_a), "uninterrupted");
    output_dir(dir_b, sizeof(dir_b), "takeover");
    struct job_spec a, b;
    make(&a, input, dir_a);
    make(&b, input, dir_b);
    if (fmp4) {
        make_fmp4(&a);
        make_fmp4(&b);
    }
    check_takeover(&a, &b, dir_a, dir_b, first_index);
}

/* ---- Jellyfin-shaped lines against the CLI, and takeovers ------------------------------- */

Test(pipeline_hw, vulkan_scale_mpegts_matches_the_ffmpeg_cli)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "vk-ts");
    output_dir(cli_dir, sizeof(cli_dir), "vk-ts-cli");
    struct job_spec spec;
    spec_vulkan(&spec, input, dir);
    check_against_cli(&spec, dir, cli_dir, 320, 180);
}

Test(pipeline_hw, vulkan_scale_fmp4_matches_the_ffmpeg_cli)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "vk-mp4");
    output_dir(cli_dir, sizeof(cli_dir), "vk-mp4-cli");
    struct job_spec spec;
    spec_vulkan(&spec, input, dir);
    make_fmp4(&spec);
    check_against_cli(&spec, dir, cli_dir, 320, 180);
}

Test(pipeline_hw, vulkan_takeover_at_segment_2_mpegts_matches_the_uninterrupted_run)
{
    check_takeover_of(spec_vulkan, "clip.mkv", 0, 2);
}

Test(pipeline_hw, vulkan_takeover_at_segment_2_fmp4_continues_the_timeline)
{
    check_takeover_of(spec_vulkan, "clip.mkv", 1, 2);
}

Test(pipeline_hw, opencl_unsharp_matches_the_ffmpeg_cli_and_resumes_at_segment_2)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "small.mkv");
    output_dir(dir, sizeof(dir), "cl");
    output_dir(cli_dir, sizeof(cli_dir), "cl-cli");
    struct job_spec spec;
    spec_opencl(&spec, input, dir);
    check_against_cli(&spec, dir, cli_dir, 320, 240);
    check_takeover_of(spec_opencl, "small.mkv", 0, 2);
}

/* -hwaccel vulkan with no -init_hw_device: the decoder gets a new default
 * device (vulkan0), h264 has no Vulkan hwaccel in 5.1 so it decodes in
 * software without a word, and that device, the last one created, is the
 * one hwupload uploads to, as in the CLI. A resumed run does the same. */
static void spec_hwaccel_vulkan(struct job_spec *spec, const char *input, const char *dir)
{
    spec_hw_hls(spec, input, dir, 2000000, NULL, NULL, VULKAN_FILTER);
    snprintf(spec->hwaccel, sizeof(spec->hwaccel), "vulkan");
}

Test(pipeline_hw, hwaccel_vulkan_falls_back_to_software_and_lends_filters_its_device)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "clip.mkv");
    output_dir(dir, sizeof(dir), "hwaccel-vk");
    output_dir(cli_dir, sizeof(cli_dir), "hwaccel-vk-cli");
    struct job_spec spec;
    spec_hwaccel_vulkan(&spec, input, dir);
    check_against_cli(&spec, dir, cli_dir, 320, 180);
    check_takeover_of(spec_hwaccel_vulkan, "clip.mkv", 0, 3);
}

/* -hwaccel auto tries the decoder's device types (cuda, vaapi, vdpau for
 * h264), opens none here and decodes in software, as the CLI. */
Test(pipeline_hw, hwaccel_auto_without_a_device_decodes_in_software)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "small.mkv");
    output_dir(dir, sizeof(dir), "auto");
    output_dir(cli_dir, sizeof(cli_dir), "auto-cli");
    struct job_spec spec;
    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.hwaccel, sizeof(spec.hwaccel), "auto");
    check_against_cli(&spec, dir, cli_dir, 320, 240);
}

/* -filter_complex through a hardware filter, with Jellyfin's graphical
 * subtitle burn-in: the subtitle is drawn on its own software canvas
 * source and overlaid on the frames the Vulkan chain scaled. */
Test(pipeline_hw, filter_complex_burn_in_through_scale_vulkan_matches_the_ffmpeg_cli)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "small-subs.mkv");
    output_dir(dir, sizeof(dir), "fc-vk");
    output_dir(cli_dir, sizeof(cli_dir), "fc-vk-cli");
    struct job_spec spec;
    spec_hw_hls(&spec, input, dir, 1000000, "vulkan=vk", "vk",
                "[0:2]scale=240:180[sub];[0:0]" SETPARAMS
                "format=yuv420p,hwupload,scale_vulkan=w=240:h=180,hwdownload,format=yuv420p"
                "[main];[main][sub]overlay=eof_action=pass:repeatlast=0");
    spec.filter_complex = 1;
    spec.canvas_width = 320;
    spec.canvas_height = 240;
    spec.video_stream = -2;
    check_against_cli(&spec, dir, cli_dir, 240, 180);
}

/* The subtitle canvas uploaded and overlaid on hardware frames
 * (overlay_opencl). The 5.1 CLI crashes on this graph (SIGSEGV in
 * libavfilter under av_buffersrc_add_frame_flags, from its sub2video
 * feeding), so the reference is the same burn-in in software: the pictures
 * must agree. */
Test(pipeline_hw, filter_complex_overlays_the_subtitle_on_opencl_frames)
{
    char input[512], dir[600], ref_dir[600];
    fixture_path(input, sizeof(input), "small-subs.mkv");
    output_dir(dir, sizeof(dir), "fc-cl");
    output_dir(ref_dir, sizeof(ref_dir), "fc-cl-ref");
    struct job_spec spec, ref;
    spec_hw_hls(&spec, input, dir, 1000000, "opencl=ocl", "ocl",
                "[0:2]scale=320:240,format=yuva420p,hwupload[sub];[0:0]format=yuv420p,hwupload"
                "[main];[main][sub]overlay_opencl,hwdownload,format=yuv420p");
    spec.filter_complex = 1;
    spec.canvas_width = 320;
    spec.canvas_height = 240;
    spec.video_stream = -2;
    ref = spec;
    snprintf(ref.output, sizeof(ref.output), "%s/main.m3u8", ref_dir);
    snprintf(ref.segment_filename, sizeof(ref.segment_filename), "%s/seg%%d.ts", ref_dir);
    ref.n_hw_devices = 0;
    ref.filter_hw_device[0] = '\0';
    snprintf(ref.video_filter, sizeof(ref.video_filter),
             "[0:2]scale=320:240[sub];[0:0]format=yuv420p[main];[main][sub]overlay");
    struct collected c = {0}, r = {0};
    run_ok(&spec, 0, &c);
    run_ok(&ref, 0, &r);
    cr_assert_eq(c.count, r.count);
    for (int k = 0; k < c.count; k++) {
        char a[700], b[700];
        snprintf(a, sizeof(a), "%s/seg%d.ts", ref_dir, k);
        snprintf(b, sizeof(b), "%s/seg%d.ts", dir, k);
        double psnr = video_psnr(a, b);
        cr_expect_geq(psnr, 30.0, "segment %d: PSNR %.2f dB against the software burn-in", k, psnr);
    }
}

/* A clip whose size changes half way: the graph is built again for the new
 * frames and, with autoscale (the default), scaled back to the first size,
 * as the CLI's reconfiguration does (with -noautoscale the new size would
 * reach libx264, which refuses it in the CLI too: see the graph test
 * below, which does not feed libx264 a frame it leaks on refusing). */
Test(pipeline_hw, a_size_change_rebuilds_the_graph_and_autoscale_keeps_the_size)
{
    char input[512], dir[600], cli_dir[600];
    fixture_path(input, sizeof(input), "sizes.ts");
    output_dir(dir, sizeof(dir), "sizes");
    output_dir(cli_dir, sizeof(cli_dir), "sizes-cli");
    struct job_spec spec;
    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, "format=yuv420p");
    check_against_cli(&spec, dir, cli_dir, 320, 240);
}

/* ---- errors: what cannot run here fails naming the device -------------------------------- */

Test(pipeline_hw, a_device_that_does_not_exist_fails_the_job_naming_it)
{
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "small.mkv");
    output_dir(dir, sizeof(dir), "errors");
    struct job_spec spec;

    /* No /dev/dri here: the CLI's "Device creation failed: -22.". */
    spec_hw_hls(&spec, input, dir, 1000000, "vaapi=va:/dev/dri/renderD128", "va",
                SETPARAMS "format=nv12,hwupload");
    expect_error(&spec, "create hardware device va (-init_hw_device vaapi=va:/dev/dri/renderD128)",
                 "Device creation failed");
    spec_hw_hls(&spec, input, dir, 1000000, "vulkan=vk:7", "vk", VULKAN_FILTER);
    expect_error(&spec, "create hardware device vk (-init_hw_device vulkan=vk:7)",
                 "Device creation failed: -19.");
    spec_hw_hls(&spec, input, dir, 1000000, "nosuchtype=x", NULL, VULKAN_FILTER);
    expect_error(&spec, "unknown device type", NULL);
    /* The second device fails: the first is released. */
    spec_hw_hls(&spec, input, dir, 1000000, "vulkan=vk", NULL, VULKAN_FILTER);
    snprintf(spec.hw_devices[spec.n_hw_devices++], sizeof(spec.hw_devices[0]), "vulkan=vk2@vk");
    snprintf(spec.hw_devices[spec.n_hw_devices++], sizeof(spec.hw_devices[0]), "opencl=cl@vk");
    expect_error(&spec, "create hardware device cl", "Device creation failed: -38.");
    spec_hw_hls(&spec, input, dir, 1000000, "vulkan=vk", "gpu", VULKAN_FILTER);
    expect_error(&spec, "Invalid filter device gpu", NULL);

    /* -hwaccel vaapi: no VAAPI device can be made for the decoder. */
    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.hwaccel, sizeof(spec.hwaccel), "vaapi");
    expect_error(&spec, "No device available for decoder: device type vaapi needed for codec h264",
                 NULL);
    snprintf(spec.hwaccel, sizeof(spec.hwaccel), "foo");
    expect_error(&spec, "Unrecognized hwaccel: foo", NULL);
    /* -hwaccel_device naming a device of another type. */
    spec_hw_hls(&spec, input, dir, 1000000, "vulkan=vk", NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.hwaccel, sizeof(spec.hwaccel), "cuda");
    snprintf(spec.hwaccel_device, sizeof(spec.hwaccel_device), "vk");
    expect_error(&spec, "device vk of type vulkan is not usable with hwaccel cuda", NULL);
    /* A 6.0 flag the 5.1 decoder refuses. */
    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.hwaccel_flags, sizeof(spec.hwaccel_flags), "+unsafe_output");
    expect_error(&spec, "open video decoder h264", NULL);
    /* hwupload with no device at all: the CLI's filter error. */
    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, VULKAN_FILTER);
    expect_error(&spec, "configure video filter", NULL);
    /* A decoder by name that libav lacks. */
    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.video_decoder, sizeof(spec.video_decoder), "h264_nosuch");
    expect_error(&spec, "find video decoder h264_nosuch", NULL);
}

/* Hardware encoders by name: their options are checked against the
 * encoder before it opens (an unknown one is named), then the encoder needs
 * its device. VAAPI takes only VAAPI frames: a graph that ends in software
 * frames cannot feed it. */
Test(pipeline_hw, hardware_encoders_name_a_wrong_option_and_need_their_device)
{
    char input[512], dir[600];
    fixture_path(input, sizeof(input), "small.mkv");
    output_dir(dir, sizeof(dir), "encoders");
    struct job_spec spec;

    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.video_codec, sizeof(spec.video_codec), "h264_nvenc");
    snprintf(spec.preset, sizeof(spec.preset), "p1");
    spec.crf = JOB_SPEC_UNSET;
    spec.x264opts[0] = '\0';
    snprintf(spec.video_encoder_options, sizeof(spec.video_encoder_options),
             "rc_mode=CBR\nlow_power=1");
    expect_error(&spec, "open video encoder h264_nvenc: option rc_mode is not recognised", NULL);
    spec.video_encoder_options[0] = '\0';
    spec.crf = 23;
    expect_error(&spec, "open video encoder h264_nvenc: option crf is not recognised", NULL);
    spec.crf = JOB_SPEC_UNSET;
    expect_error(&spec, "open video encoder h264_nvenc", NULL); /* no CUDA here */

    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=nv12");
    snprintf(spec.video_codec, sizeof(spec.video_codec), "h264_qsv");
    spec.crf = JOB_SPEC_UNSET;
    spec.x264opts[0] = '\0';
    snprintf(spec.video_encoder_options, sizeof(spec.video_encoder_options),
             "look_ahead=0\nmbbrc=1\nnosuch_option=3");
    expect_error(&spec, "option nosuch_option is not recognised", NULL);

    spec_hw_hls(&spec, input, dir, 1000000, "vulkan=vk", "vk", SETPARAMS "format=nv12");
    snprintf(spec.video_codec, sizeof(spec.video_codec), "h264_vaapi");
    spec.crf = JOB_SPEC_UNSET;
    spec.preset[0] = '\0';
    spec.x264opts[0] = '\0';
    expect_error(&spec, "configure video filter", NULL);

    spec_hw_hls(&spec, input, dir, 1000000, NULL, NULL, SETPARAMS "format=yuv420p");
    snprintf(spec.video_codec, sizeof(spec.video_codec), "h264_amf");
    expect_error(&spec, "video codec h264_amf is not supported", NULL);
}
