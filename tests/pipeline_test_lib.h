/* pipeline_test_lib.h -- what the test_pipeline*.c files share (the
 * hardware ones have pipeline_hw_test_lib.h): the clips, made once per test
 * run, Jellyfin's HLS transcode spec (spec_jellyfin_hls, changed by the
 * tweak_* functions), running a job and collecting its segments
 * (run_pipeline, run_ok), reading segments back with ffprobe
 * (probe_segment, probe_stream_fields, probe_fmp4_segment), and the check
 * that a resumed run makes the segments of a run from the start
 * (check_resume_matches*, expect_same_timing).
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
 * clip.mkv's header followed by garbage.
 *
 * Each test binary includes it once: it defines the runner's report hooks
 * (which make the clips and remove them) and the suite "pipeline". Every
 * helper is static and marked unused, so that a file calling only some of
 * them builds without a warning. */
#ifndef FFPOOL_PIPELINE_TEST_LIB_H
#define FFPOOL_PIPELINE_TEST_LIB_H

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

#include "psnr_test_lib.h"
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

static __attribute__((unused)) const char *fixture_dir(void)
{
    const char *dir = getenv("FFPOOL_PIPELINE_FIXTURES");
    cr_assert_not_null(dir, "fixtures were not generated");
    return dir;
}

static __attribute__((unused)) void fixture_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", fixture_dir(), name);
}

static __attribute__((unused)) int run_quiet(const char *command)
{
    int status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static __attribute__((unused)) int remove_entry(const char *path, const struct stat *st, int flag,
                                                struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Writes dir/name: clip.mkv's Matroska header (EBML, segment info, tracks:
 * everything before the first Cluster), then `keep` bytes of the clip's
 * first cluster, then 256 KiB of random bytes. With keep 16 (the cluster's
 * own header) no frame can be decoded; with 2048 a damaged first keyframe
 * can be, and the run must still fail (before the check, it ended "done"). */
static __attribute__((unused)) void write_header_and_garbage(const char *dir, const char *name,
                                                             long keep)
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
static __attribute__((unused)) void output_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s-XXXXXX", fixture_dir(), name);
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/* ---- specs -------------------------------------------------------------------- */

/* The shape of Jellyfin's HLS transcode lines (jellyfin-argv/002 and 003),
 * with AAC audio instead of copy. */
static __attribute__((unused)) void spec_jellyfin_hls(struct job_spec *spec, const char *input,
                                                      const char *dir, int64_t segment_us)
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

static __attribute__((unused)) int collect_segment(void *opaque,
                                                   const struct pipeline_segment *segment)
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
static __attribute__((unused)) int count_files(const char *dir, const char *pattern)
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

static __attribute__((unused)) int count_temp_files(const char *dir)
{
    return count_files(dir, "*.tmp");
}

static __attribute__((unused)) int collect_should_stop(void *opaque)
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

static __attribute__((unused)) int run_pipeline(const struct job_spec *spec, int first_index,
                                                struct collected *c, char *err, size_t errlen)
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

static __attribute__((unused)) void probe_segment(const char *path, struct probe *p)
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
static __attribute__((unused)) void expect_decodes_cleanly(const char *path)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "test -z \"$(ffmpeg -nostdin -v error -i '%s' -f null - 2>&1)\"", path);
    cr_expect_eq(run_quiet(command), 0, "%s does not decode cleanly", path);
}

static __attribute__((unused)) void segment_file(char *out, size_t len, const char *dir, int index)
{
    snprintf(out, len, "%s/seg%d.ts", dir, index);
}

/* Runs spec from first_index into its folder and checks the delivery order. */
static __attribute__((unused)) void run_ok(const struct job_spec *spec, int first_index,
                                           struct collected *c)
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
static __attribute__((unused)) void expect_same_timing(const char *dir_a, const char *dir_b,
                                                       int from, int to)
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
static __attribute__((unused)) void tweak_copy(struct job_spec *spec)
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
static __attribute__((unused)) void check_resume_into(const char *fixture, int first_index,
                                                      spec_tweak tweak, char *dir_a, char *dir_b)
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

static __attribute__((unused)) void check_resume_matches_with(const char *fixture, int first_index,
                                                              spec_tweak tweak)
{
    char dir_a[600], dir_b[600];
    check_resume_into(fixture, first_index, tweak, dir_a, dir_b);
}

static __attribute__((unused)) void check_resume_matches(const char *fixture, int first_index)
{
    check_resume_matches_with(fixture, first_index, NULL);
}

/* The first line ffprobe prints for `entries` of stream `stream` of path,
 * fields joined by sep: e.g. "640x360" for v:0 width,height with 'x'. */
static __attribute__((unused)) void probe_stream_fields(const char *path, const char *stream,
                                                        const char *entries, char sep, char *out,
                                                        size_t len)
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

/* ---- fMP4 ------------------------------------------------------------------------- */

/* fMP4 segments as Jellyfin 10.9 and 10.10 ask for them: no
 * -hls_segment_options, so the mp4 muxer counts each run's fragment times
 * from that run's first packet. */
static __attribute__((unused)) void tweak_fmp4(struct job_spec *spec)
{
    spec->segment_type = JOB_SEGMENT_FMP4;
    snprintf(spec->init_filename, sizeof(spec->init_filename), "main-1.mp4");
    char *dot = strrchr(spec->segment_filename, '.');
    snprintf(dot, sizeof(spec->segment_filename) - (size_t)(dot - spec->segment_filename), ".mp4");
}

/* fMP4 as Jellyfin 10.11 asks for it: -hls_segment_options
 * movflags=+frag_discont. */
static __attribute__((unused)) void tweak_fmp4_discont(struct job_spec *spec)
{
    tweak_fmp4(spec);
    snprintf(spec->segment_options, sizeof(spec->segment_options), "movflags=+frag_discont");
}

/* The init segment followed by segment k, as a player reads it. */
static __attribute__((unused)) void probe_fmp4_segment(const char *dir, int k, struct probe *p)
{
    char command[2048], path[700];
    snprintf(path, sizeof(path), "%s/joined-%d.mp4", dir, k);
    snprintf(command, sizeof(command), "cat '%s/main-1.mp4' '%s/seg%d.mp4' >'%s'", dir, dir, k,
             path);
    cr_assert_eq(run_quiet(command), 0);
    probe_segment(path, p);
    unlink(path);
}

static __attribute__((unused)) void tweak_copy_fmp4(struct job_spec *spec)
{
    tweak_copy(spec);
    tweak_fmp4(spec);
}

static __attribute__((unused)) void tweak_copy_fmp4_discont(struct job_spec *spec)
{
    tweak_copy(spec);
    tweak_fmp4_discont(spec);
}

/* ---- the suite ------------------------------------------------------------------- */

TestSuite(pipeline, .timeout = 120);

#endif
