/* test_pipeline.c -- what the worker's libav pipeline promises (worker/pipeline/pipeline.h).
 *
 * Real libav on real files: short clips are made once per test run with the
 * ffmpeg CLI (testsrc2 + a sine tone) in a mkdtemp folder, every test writes
 * its segments into a folder of its own, and the segments are checked with
 * ffprobe/ffmpeg, independent of the code under test. Times compared are
 * relative where the absolute value is the muxer's business (the mpegts
 * muxer offsets everything by 2 x max_delay).
 *
 * The clips: 10 s, 640x360 at 25 fps, 48 kHz AAC; GOPs of 90 (Matroska) and
 * 100 (MPEG-TS, MP4) frames, so that no segment boundary falls on a source
 * keyframe and a resumed run must decode from an earlier one. Hostile ones
 * derive from them: empty, random bytes, the first 40% of clip.mkv, and
 * clip.mkv's header followed by garbage. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmp4_times.h"
#include "job_spec.h"
#include "pipeline.h"

#define FRAME_S 0.04                   /* 25 fps */
#define AUDIO_FRAME_S (1024.0 / 48000) /* one AAC frame */
#define CLIP_S 10.0
#define MAX_SEGMENTS 64

/* One audio frame of the test at hand (tests run in their own processes). */
static double audio_frame_s = AUDIO_FRAME_S;

/* ---- fixtures --------------------------------------------------------------- */

static const char *fixture_dir(void)
{
    const char *dir = getenv("FFPOOL_PIPELINE_FIXTURES");
    cr_assert_not_null(dir, "fixtures were not generated");
    return dir;
}

static void fixture_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", fixture_dir(), name);
}

static int run_quiet(const char *command)
{
    int status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Writes dir/name: clip.mkv's Matroska header (EBML, segment info, tracks:
 * everything before the first Cluster), then `keep` bytes of the clip's
 * first cluster, then 256 KiB of random bytes. With keep 16 (the cluster's
 * own header) no frame can be decoded; with 2048 a damaged first keyframe
 * can be, and the run must still fail (before the check, it ended "done"). */
static void write_header_and_garbage(const char *dir, const char *name, long keep)
{
    static const unsigned char cluster_id[4] = {0x1f, 0x43, 0xb6, 0x75};
    char path[512];
    snprintf(path, sizeof(path), "%s/clip.mkv", dir);
    FILE *in = fopen(path, "rb");
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "fixture %s failed\n", name);
        goto end;
    }
    unsigned char data[65536];
    size_t n = fread(data, 1, sizeof(data), in);
    size_t header = 0;
    while (header + 4 <= n && memcmp(data + header, cluster_id, 4) != 0)
        header++;
    if (header + 4 > n) {
        fprintf(stderr, "fixture %s: no Matroska cluster in the first %zu bytes\n", name, n);
        goto end;
    }
    size_t take = header + (size_t)keep < n ? header + (size_t)keep : n;
    fwrite(data, 1, take, out);
    srand(7);
    for (int i = 0; i < 256 * 1024; i++)
        fputc(rand() & 0xff, out);
end:
    if (in != NULL)
        fclose(in);
    if (out != NULL)
        fclose(out);
}

/* Made once, before the tests run; their processes find them via the environment. */
ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    (void)tests;
    static char dir[] = "/tmp/ffpool-pipeline-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return;
    }
    static const struct {
        const char *name;
        const char *args;
    } clips[] = {
        {"clip.mkv", "-c:v libx264 -preset veryfast -g 90 -c:a aac"},
        {"clip.ts", "-c:v libx264 -preset veryfast -g 100 -c:a aac"},
        {"clip.mp4", "-c:v libx264 -preset veryfast -g 100 -c:a aac"},
        /* FLAC audio: copied into MP4 only with -strict -2 (experimental in 5.1). */
        {"flac.mkv", "-c:v libx264 -preset veryfast -g 50 -c:a flac"},
        /* One keyframe in the whole clip: a resume must decode from 0 s. */
        {"longgop.mkv", "-c:v libx264 -preset veryfast -g 250 -keyint_min 250 -sc_threshold 0 "
                        "-c:a aac"},
        /* Variable frame rate: every fourth frame dropped, timestamps kept. */
        {"vfr.mkv", "-vf select='not(eq(mod(n\\,4)\\,3))' -vsync vfr -c:v libx264 "
                    "-preset veryfast -g 50 -c:a aac"},
    };
    char command[1024];
    for (size_t i = 0; i < sizeof(clips) / sizeof(clips[0]); i++) {
        snprintf(command, sizeof(command),
                 "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 "
                 "-f lavfi -i sine=frequency=440:sample_rate=48000 -t %g %s %s/%s",
                 CLIP_S, clips[i].args, dir, clips[i].name);
        if (run_quiet(command) != 0)
            fprintf(stderr, "fixture %s failed\n", clips[i].name);
    }
    /* A phone's portrait clip: landscape pixels with a 90-degree display matrix. */
    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -v error -y -i %s/clip.mp4 -c copy -metadata:s:v:0 rotate=90 "
             "%s/rotated.mp4",
             dir, dir);
    if (run_quiet(command) != 0)
        fprintf(stderr, "fixture rotated.mp4 failed\n");
    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -v error -y -f lavfi -i sine=frequency=440:sample_rate=48000 "
             "-t 5 -c:a aac %s/tone.m4a",
             dir);
    if (run_quiet(command) != 0)
        fprintf(stderr, "fixture tone.m4a failed\n");

    char path[512];
    snprintf(path, sizeof(path), "%s/empty.mkv", dir);
    FILE *f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
    /* The first 40% of clip.mkv: a header that promises 10 s. */
    snprintf(command, sizeof(command),
             "head -c $(( $(stat -c %%s %s/clip.mkv) * 2 / 5 )) "
             "%s/clip.mkv >%s/truncated.mkv",
             dir, dir, dir);
    if (run_quiet(command) != 0)
        fprintf(stderr, "fixture truncated.mkv failed\n");
    snprintf(path, sizeof(path), "%s/noise.mkv", dir);
    f = fopen(path, "w");
    if (f != NULL) {
        srand(1);
        for (int i = 0; i < 65536; i++)
            fputc(rand() & 0xff, f);
        fclose(f);
    }
    write_header_and_garbage(dir, "garbage.mkv", 16);
    write_header_and_garbage(dir, "garbage-after-a-frame.mkv", 2048);
    /* A clip with a keyframe every 2 s and a DVD (bitmap) subtitle track:
     * streams 0 video, 1 audio, 2 subtitles; the track is made by the
     * subtitle_clip tool beside this binary. A run resumed at 6 s decodes
     * from the keyframe at 4 s, after the subtitle on screen began (3.5 s). */
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(command, sizeof(command),
             "%s/tools/subtitle_clip %s/subs.mkv %d 640 360 && "
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 "
             "-f lavfi -i sine=frequency=440:sample_rate=48000 -t %g -c:v libx264 "
             "-preset veryfast -g 50 -c:a aac %s/burnin-src.mkv && "
             "ffmpeg -nostdin -v error -y -i %s/burnin-src.mkv -i %s/subs.mkv -map 0 -map 1 "
             "-c copy %s/burnin.mkv",
             self, dir, (int)CLIP_S, CLIP_S, dir, dir, dir, dir);
    if (run_quiet(command) != 0)
        fprintf(stderr, "fixture burnin.mkv failed\n");
    /* The same with a PGS (Blu-ray) track: no end times, cleared by empty
     * display sets (-copyts: the .sup input would otherwise be moved to
     * start at 0). */
    snprintf(command, sizeof(command),
             "%s/tools/subtitle_clip --pgs %s/subs.sup %d 640 360 && "
             "ffmpeg -nostdin -v error -y -copyts -i %s/burnin-src.mkv -i %s/subs.sup -map 0 "
             "-map 1 -c copy %s/burnin-pgs.mkv",
             self, dir, (int)CLIP_S, dir, dir, dir);
    if (run_quiet(command) != 0)
        fprintf(stderr, "fixture burnin-pgs.mkv failed\n");
    setenv("FFPOOL_PIPELINE_FIXTURES", dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *dir = getenv("FFPOOL_PIPELINE_FIXTURES");
    if (dir != NULL && strncmp(dir, "/tmp/ffpool-pipeline-", 21) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh output folder for one test, inside the fixture folder. */
static void output_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s-XXXXXX", fixture_dir(), name);
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/* ---- specs -------------------------------------------------------------------- */

/* The shape of Jellyfin's HLS transcode lines (jellyfin-argv/002 and 003),
 * with AAC audio instead of copy. */
static void spec_jellyfin_hls(struct job_spec *spec, const char *input, const char *dir,
                              int64_t segment_us)
{
    job_spec_init(spec);
    snprintf(spec->input, sizeof(spec->input), "%s", input);
    spec->analyzeduration_us = 200000000;
    snprintf(spec->video_codec, sizeof(spec->video_codec), "libx264");
    snprintf(spec->preset, sizeof(spec->preset), "veryfast");
    spec->crf = 23;
    spec->maxrate = 4875352;
    spec->bufsize = 9750704;
    snprintf(spec->profile, sizeof(spec->profile), "high");
    snprintf(spec->level, sizeof(spec->level), "31");
    snprintf(spec->x264opts, sizeof(spec->x264opts),
             "subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none");
    snprintf(spec->video_filter, sizeof(spec->video_filter), "%s",
             "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
             "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:"
             "trunc(min(max(iw/a\\,ih)\\,min(1280/a\\,720))/2)*2,format=yuv420p");
    snprintf(spec->audio_codec, sizeof(spec->audio_codec), "aac");
    spec->audio_channels = 2;
    spec->audio_bitrate = 128000;
    spec->output_kind = JOB_OUTPUT_HLS;
    snprintf(spec->output, sizeof(spec->output), "%s/main.m3u8", dir);
    spec->hls_time_us = segment_us;
    spec->segment_type = JOB_SEGMENT_MPEGTS;
    snprintf(spec->segment_filename, sizeof(spec->segment_filename), "%s/seg%%d.ts", dir);
    spec->start_number = 0;
    spec->playlist_type = JOB_PLAYLIST_VOD;
    spec->max_delay_us = 5000000;
    spec->copyts = 1;
}

/* ---- callbacks ------------------------------------------------------------------ */

struct collected {
    int count;
    struct pipeline_segment segments[MAX_SEGMENTS];
    int stop_after; /* segment_done returns 1 on this many-th segment (0: never) */
    int stop_polls; /* should_stop says stop on this many-th poll (0: never) */
    int stop_once;  /* should_stop says stop on this many-th poll only (0: never) */
    int polls;
    int stall_poll; /* should_stop sleeps stall_ms on this many-th poll (0: never) */
    int stall_ms;
    const char *dir;          /* where segments go, to look for temp files */
    int temps_at_stop;        /* temp files in dir when should_stop said stop */
    int temp_ok;              /* every temp file existed, ended in .tmp, and its final did not */
    int64_t resume_offset_us; /* handed to the run (pipeline_callbacks) */
    const char *fmp4_base;    /* handed to the run (pipeline_callbacks) */
    char fmp4_base_out[FMP4_BASE_TEXT_MAX]; /* what the job's first segment handed out */
};

static int collect_segment(void *opaque, const struct pipeline_segment *segment)
{
    struct collected *c = opaque;
    struct stat st;
    size_t n = strlen(segment->temp_path);
    if (n < 4 || strcmp(segment->temp_path + n - 4, ".tmp") != 0 ||
        stat(segment->temp_path, &st) != 0 || st.st_size == 0 ||
        stat(segment->final_path, &st) == 0)
        c->temp_ok = 0;
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
        unlink(segment->temp_path); /* discarded, as a fenced worker would */
        return 1;
    }
    return rename(segment->temp_path, segment->final_path) == 0 ? 0 : 1;
}

/* Files in dir matching a shell pattern such as "*.tmp". */
static int count_files(const char *dir, const char *pattern)
{
    char path[700];
    glob_t found;
    snprintf(path, sizeof(path), "%s/%s", dir, pattern);
    if (glob(path, 0, NULL, &found) != 0)
        return 0;
    int n = (int)found.gl_pathc;
    globfree(&found);
    return n;
}

static int count_temp_files(const char *dir)
{
    return count_files(dir, "*.tmp");
}

static int collect_should_stop(void *opaque)
{
    struct collected *c = opaque;
    c->polls++;
    if (c->polls == c->stall_poll)
        usleep((useconds_t)c->stall_ms * 1000);
    if (c->stop_once > 0)
        return c->polls == c->stop_once;
    if (c->stop_polls <= 0 || c->polls < c->stop_polls)
        return 0;
    if (c->polls == c->stop_polls && c->dir != NULL)
        c->temps_at_stop = count_temp_files(c->dir);
    return 1;
}

static int run_pipeline(const struct job_spec *spec, int first_index, struct collected *c,
                        char *err, size_t errlen)
{
    c->temp_ok = 1;
    struct pipeline_callbacks cb = {
        .opaque = c,
        .segment_done = collect_segment,
        .should_stop = collect_should_stop,
        .progress = NULL,
        .resume_offset_us = c->resume_offset_us,
        .fmp4_base = c->fmp4_base,
    };
    return pipeline_run(spec, first_index, &cb, err, errlen);
}

/* ---- checking segments with ffprobe --------------------------------------------- */

struct probe {
    int video_packets;
    int audio_packets;
    int first_video_is_key; /* in file (decode) order */
    double video_first;     /* smallest video pts, seconds */
    double video_last;      /* largest video pts */
    double audio_first;
    double audio_end; /* last audio pts + its duration */
};

static void probe_segment(const char *path, struct probe *p)
{
    char command[1024];
    char errors[600];
    snprintf(errors, sizeof(errors), "%s.probe-errors", path);
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries packet=codec_type,pts_time,duration_time,flags "
             "-of csv=p=0 '%s' 2>'%s'",
             path, errors);
    FILE *out = popen(command, "r");
    cr_assert_not_null(out, "popen ffprobe");
    memset(p, 0, sizeof(*p));
    p->video_first = p->audio_first = INFINITY;
    p->video_last = p->audio_end = -INFINITY;
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
    struct stat st;
    cr_assert_eq(stat(errors, &st), 0);
    cr_expect_eq(st.st_size, 0, "ffprobe reported errors on %s", path);
    unlink(errors);
}

/* The segment decodes from its first byte with no decoder error. */
static void expect_decodes_cleanly(const char *path)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "test -z \"$(ffmpeg -nostdin -v error -i '%s' -f null - 2>&1)\"", path);
    cr_expect_eq(run_quiet(command), 0, "%s does not decode cleanly", path);
}

static void segment_file(char *out, size_t len, const char *dir, int index)
{
    snprintf(out, len, "%s/seg%d.ts", dir, index);
}

/* Runs spec from first_index into its folder and checks the delivery order. */
static void run_ok(const struct job_spec *spec, int first_index, struct collected *c)
{
    char err[512];
    int result = run_pipeline(spec, first_index, c, err, sizeof(err));
    cr_assert_eq(result, PIPELINE_OK, "pipeline_run: %d (%s)", result, err);
    cr_assert_gt(c->count, 0);
    cr_expect(c->temp_ok, "a segment was not handed over as a complete .tmp file");
    for (int i = 0; i < c->count; i++) {
        cr_expect_eq(c->segments[i].index, first_index + i, "segments out of order");
        cr_expect_eq(c->segments[i].last, i == c->count - 1, "last flag on segment %d",
                     c->segments[i].index);
    }
}

/* Segments from `from` on, of a run from the start (dir_a) and of a resumed
 * run (dir_b), carry the same frames at the same times. */
static void expect_same_timing(const char *dir_a, const char *dir_b, int from, int to)
{
    for (int k = from; k <= to; k++) {
        char a_path[600], b_path[600];
        struct probe a, b;
        segment_file(a_path, sizeof(a_path), dir_a, k);
        segment_file(b_path, sizeof(b_path), dir_b, k);
        probe_segment(a_path, &a);
        probe_segment(b_path, &b);
        expect_decodes_cleanly(b_path);
        cr_expect(b.first_video_is_key, "resumed segment %d does not start with a keyframe", k);
        cr_expect_eq(a.video_packets, b.video_packets, "segment %d: %d frames, resumed %d", k,
                     a.video_packets, b.video_packets);
        cr_expect_leq(fabs(a.video_first - b.video_first), FRAME_S + 1e-6,
                      "segment %d starts at %.6f, resumed at %.6f", k, a.video_first,
                      b.video_first);
        cr_expect_leq(fabs((a.video_last - a.video_first) - (b.video_last - b.video_first)),
                      FRAME_S + 1e-6, "segment %d: duration differs", k);
        cr_expect_leq(fabs(a.audio_first - b.audio_first), audio_frame_s + 1e-6,
                      "segment %d audio starts at %.6f, resumed at %.6f", k, a.audio_first,
                      b.audio_first);
    }
}

typedef void (*spec_tweak)(struct job_spec *spec);

/* Jellyfin's video copy line (jellyfin-argv/018, without the seek): copy
 * with the annexb filter and -start_at_zero, audio copied. */
static void tweak_copy(struct job_spec *spec)
{
    snprintf(spec->video_codec, sizeof(spec->video_codec), "copy");
    snprintf(spec->video_bsf, sizeof(spec->video_bsf), "h264_mp4toannexb");
    spec->video_filter[0] = '\0';
    snprintf(spec->audio_codec, sizeof(spec->audio_codec), "copy");
    spec->start_at_zero = 1;
}

/* Runs fixture from the start into dir_a and from segment first_index into
 * dir_b (each 600 bytes, filled here) and checks that the resumed segments
 * match the original ones. */
static void check_resume_into(const char *fixture, int first_index, spec_tweak tweak, char *dir_a,
                              char *dir_b)
{
    char input[512];
    fixture_path(input, sizeof(input), fixture);
    output_dir(dir_a, 600, "from-start");
    output_dir(dir_b, 600, "resumed");
    struct job_spec spec_a, spec_b;
    spec_jellyfin_hls(&spec_a, input, dir_a, 2000000);
    spec_jellyfin_hls(&spec_b, input, dir_b, 2000000);
    if (tweak != NULL) {
        tweak(&spec_a);
        tweak(&spec_b);
    }
    struct collected a = {0}, b = {0};
    run_ok(&spec_a, 0, &a);
    run_ok(&spec_b, first_index, &b);

    cr_assert_eq(b.count, a.count - first_index, "resumed run made %d segments, expected %d",
                 b.count, a.count - first_index);
    for (int i = 0; i < b.count; i++) {
        const struct pipeline_segment *sa = &a.segments[first_index + i];
        const struct pipeline_segment *sb = &b.segments[i];
        cr_expect_eq(sa->index, sb->index);
        cr_expect_eq(sa->start_us, sb->start_us, "segment %d: start %lld vs %lld", sb->index,
                     (long long)sa->start_us, (long long)sb->start_us);
        cr_expect_eq(sa->duration_us, sb->duration_us, "segment %d: duration %lld vs %lld",
                     sb->index, (long long)sa->duration_us, (long long)sb->duration_us);
    }
    expect_same_timing(dir_a, dir_b, first_index, a.count - 1);

    /* The join: the resumed run's first audio follows the original's last
     * audio of the previous segment with no gap or overlap beyond a frame. */
    char path[600];
    struct probe before, after;
    segment_file(path, sizeof(path), dir_a, first_index - 1);
    probe_segment(path, &before);
    segment_file(path, sizeof(path), dir_b, first_index);
    probe_segment(path, &after);
    cr_expect_leq(fabs(after.audio_first - before.audio_end), audio_frame_s + 1e-6,
                  "audio join: previous segment ends %.6f, resumed starts %.6f", before.audio_end,
                  after.audio_first);
}

static void check_resume_matches_with(const char *fixture, int first_index, spec_tweak tweak)
{
    char dir_a[600], dir_b[600];
    check_resume_into(fixture, first_index, tweak, dir_a, dir_b);
}

static void check_resume_matches(const char *fixture, int first_index)
{
    check_resume_matches_with(fixture, first_index, NULL);
}

/* ---- tests ------------------------------------------------------------------------ */

TestSuite(pipeline, .timeout = 120);

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

/* The first line ffprobe prints for `entries` of stream `stream` of path,
 * fields joined by sep: e.g. "640x360" for v:0 width,height with 'x'. */
static void probe_stream_fields(const char *path, const char *stream, const char *entries, char sep,
                                char *out, size_t len)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "ffprobe -v error -select_streams %s -show_entries stream=%s -of csv=p=0:s=%c '%s'",
             stream, entries, sep, path);
    FILE *f = popen(command, "r");
    cr_assert_not_null(f);
    out[0] = '\0';
    if (fgets(out, (int)len, f) != NULL)
        out[strcspn(out, "\n")] = '\0';
    pclose(f);
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

/* ---- fMP4 ------------------------------------------------------------------------- */

/* fMP4 segments as Jellyfin 10.9 and 10.10 ask for them: no
 * -hls_segment_options, so the mp4 muxer counts each run's fragment times
 * from that run's first packet. */
static void tweak_fmp4(struct job_spec *spec)
{
    spec->segment_type = JOB_SEGMENT_FMP4;
    snprintf(spec->init_filename, sizeof(spec->init_filename), "main-1.mp4");
    char *dot = strrchr(spec->segment_filename, '.');
    snprintf(dot, sizeof(spec->segment_filename) - (size_t)(dot - spec->segment_filename), ".mp4");
}

/* fMP4 as Jellyfin 10.11 asks for it: -hls_segment_options
 * movflags=+frag_discont. */
static void tweak_fmp4_discont(struct job_spec *spec)
{
    tweak_fmp4(spec);
    snprintf(spec->segment_options, sizeof(spec->segment_options), "movflags=+frag_discont");
}

/* The init segment followed by segment k, as a player reads it. */
static void probe_fmp4_segment(const char *dir, int k, struct probe *p)
{
    char command[2048], path[700];
    snprintf(path, sizeof(path), "%s/joined-%d.mp4", dir, k);
    snprintf(command, sizeof(command), "cat '%s/main-1.mp4' '%s/seg%d.mp4' >'%s'", dir, dir, k,
             path);
    cr_assert_eq(run_quiet(command), 0);
    probe_segment(path, p);
    unlink(path);
}

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

static void tweak_copy_fmp4(struct job_spec *spec)
{
    tweak_copy(spec);
    tweak_fmp4(spec);
}

static void tweak_copy_fmp4_discont(struct job_spec *spec)
{
    tweak_copy(spec);
    tweak_fmp4_discont(spec);
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

/* PSNR (dB) of b's frames against a's, frame by frame in order; 100 when
 * they are identical. */
static double video_psnr(const char *a, const char *b)
{
    char command[2048], line[512];
    snprintf(command, sizeof(command),
             "ffmpeg -nostdin -hide_banner -i '%s' -i '%s' -lavfi "
             "'[0:v]setpts=N[a];[1:v]setpts=N[b];[a][b]psnr' -f null - 2>&1",
             a, b);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    double psnr = -1;
    while (fgets(line, sizeof(line), p) != NULL) {
        const char *at = strstr(line, "average:");
        if (at != NULL)
            psnr = strncmp(at + 8, "inf", 3) == 0 ? 100.0 : atof(at + 8);
    }
    pclose(p);
    cr_assert_geq(psnr, 0, "no PSNR for %s against %s", b, a);
    return psnr;
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
