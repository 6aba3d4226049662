/* shapes_test_lib.h -- running one Jellyfin line natively and by the ffmpeg
 * CLI, and comparing what each made: for test_pipeline_shapes*.c.
 *
 * A line is written as Jellyfin writes it, split and parsed as the shim
 * parses it (parse_native); the CLI runs the same argv (cli_run). HLS
 * outputs are compared segment by segment (expect_hls_like_the_cli),
 * files by their streams, packets and duration (expect_file_like_the_cli).
 * Include after pipeline_test_lib.h. */
#ifndef FFPOOL_SHAPES_TEST_LIB_H
#define FFPOOL_SHAPES_TEST_LIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "argv.h"

/* ---- lines, the parser and the CLI ------------------------------------------------ */

/* Makes dir/name with the ffmpeg CLI from lavfi sources; writes its path
 * into out. */
static __attribute__((unused)) void make_clip(char *out, size_t len, const char *dir,
                                              const char *name, const char *sources,
                                              const char *args)
{
    char command[2048];
    snprintf(out, len, "%s/%s", dir, name);
    snprintf(command, sizeof(command), "ffmpeg -nostdin -v error -y %s -t %g %s '%s'", sources,
             CLIP_S, args, out);
    cr_assert_eq(run_quiet(command), 0, "making %s failed", name);
}

/* Parses "ffmpeg " + line as the shim does; it must be native, with the
 * reason given. */
static __attribute__((unused)) void parse_native(const char *line, struct job_spec *spec,
                                                 const char *expect)
{
    char full[8192], reason[256];
    int argc;
    char **argv;
    snprintf(full, sizeof(full), "ffmpeg %s", line);
    cr_assert_eq(argv_split(full, &argc, &argv), 0);
    enum argv_decision decision = argv_parse_job(argc, argv, spec, reason, sizeof(reason));
    argv_free(argv);
    cr_assert_eq(decision, ARGV_NATIVE, "not native: %s", reason);
    cr_assert_str_eq(reason, expect);
}

/* Runs the ffmpeg CLI on the argv of line, as the shim would receive it
 * (after -nostdin -v error). Returns its exit status. */
static __attribute__((unused)) int cli_run(const char *line)
{
    char full[8192];
    int argc;
    char **argv;
    snprintf(full, sizeof(full), "ffmpeg %s", line);
    cr_assert_eq(argv_split(full, &argc, &argv), 0);
    char **cli = calloc((size_t)argc + 4, sizeof(char *));
    cr_assert_not_null(cli);
    int n = 0;
    cli[n++] = "ffmpeg";
    cli[n++] = "-nostdin";
    cli[n++] = "-v";
    cli[n++] = "error";
    for (int i = 1; i < argc; i++)
        cli[n++] = argv[i];
    cli[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        execvp("ffmpeg", cli);
        _exit(127);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    free(cli);
    argv_free(argv);
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- comparing HLS outputs ------------------------------------------------------------ */

/* The EXTINF durations of a playlist, in seconds; returns how many. */
static __attribute__((unused)) int playlist_durations(const char *path, double *out, int max)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no playlist %s", path);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL && n < max)
        if (strncmp(line, "#EXTINF:", 8) == 0)
            out[n++] = atof(line + 8);
    fclose(f);
    return n;
}

/* What the pipeline made in dir (segments and what the run said of them,
 * c; fMP4 ones after their init segment main-1.mp4) against what the CLI
 * made in cli_dir: as many segments, each with the
 * CLI's frames and audio packets, starting at the CLI's time (within
 * tolerance_s) and lasting as long as the CLI's playlist says. Returns the
 * pipeline's video frames in all segments. */
static __attribute__((unused)) int expect_hls_like_the_cli(const char *dir, const char *cli_dir,
                                                           const struct collected *c,
                                                           double tolerance_s)
{
    char path[700];
    double durations[MAX_SEGMENTS];
    snprintf(path, sizeof(path), "%s/main.m3u8", cli_dir);
    int cli_count = playlist_durations(path, durations, MAX_SEGMENTS);
    cr_assert_eq(c->count, cli_count, "%d segments, the CLI %d", c->count, cli_count);
    int frames = 0;
    for (int k = 0; k < c->count; k++) {
        struct probe ours, cli;
        snprintf(path, sizeof(path), "%s/main-1.mp4", dir);
        if (access(path, F_OK) == 0) { /* fMP4: each segment after the init */
            probe_fmp4_segment(dir, k, &ours);
            probe_fmp4_segment(cli_dir, k, &cli);
        } else {
            segment_file(path, sizeof(path), dir, k);
            probe_segment(path, &ours);
            expect_decodes_cleanly(path);
            segment_file(path, sizeof(path), cli_dir, k);
            probe_segment(path, &cli);
        }
        frames += ours.video_packets;
        cr_expect(ours.first_video_is_key, "segment %d does not start with a keyframe", k);
        cr_expect_eq(ours.video_packets, cli.video_packets, "segment %d: %d frames, the CLI %d", k,
                     ours.video_packets, cli.video_packets);
        cr_expect_eq(ours.audio_packets, cli.audio_packets,
                     "segment %d: %d audio packets, the CLI %d", k, ours.audio_packets,
                     cli.audio_packets);
        cr_expect_leq(fabs(ours.video_first - cli.video_first), tolerance_s,
                      "segment %d starts at %.6f, the CLI's at %.6f", k, ours.video_first,
                      cli.video_first);
        cr_expect_leq(fabs(ours.video_last - cli.video_last), tolerance_s,
                      "segment %d ends at %.6f, the CLI's at %.6f", k, ours.video_last,
                      cli.video_last);
        cr_expect_leq(fabs(c->segments[k].duration_us / 1e6 - durations[k]), 1e-3,
                      "segment %d lasts %.6f s, %.6f s in the CLI's playlist", k,
                      c->segments[k].duration_us / 1e6, durations[k]);
    }
    return frames;
}

/* "codec_type,codec_name,width,height" of every stream of path, one per
 * line joined by ' ', and its packets and keyframes by kind. */
struct file_facts {
    char streams[256];
    int video_packets, video_keyframes, audio_packets;
    double duration;
};

static __attribute__((unused)) void file_facts_read(const char *path, struct file_facts *f)
{
    char command[1024], line[256];
    memset(f, 0, sizeof(*f));
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries stream=codec_type,codec_name,width,height,"
             "sample_rate,channels -of csv=p=0 '%s' | tr '\\n' ' '",
             path);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    if (fgets(f->streams, sizeof(f->streams), p) == NULL)
        f->streams[0] = '\0';
    pclose(p);
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries packet=codec_type,flags -of csv=p=0 '%s'", path);
    p = popen(command, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        if (strncmp(line, "video,", 6) == 0) {
            f->video_packets++;
            f->video_keyframes += line[6] == 'K';
        } else if (strncmp(line, "audio,", 6) == 0) {
            f->audio_packets++;
        }
    }
    pclose(p);
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries format=duration -of csv=p=0 '%s'", path);
    p = popen(command, "r");
    cr_assert_not_null(p);
    if (fscanf(p, "%lf", &f->duration) != 1)
        f->duration = -1;
    pclose(p);
}

/* The two files have the same streams, as many packets and keyframes of
 * each kind and the same duration (within a frame of the given length). */
static __attribute__((unused)) void expect_file_like_the_cli(const char *ours, const char *cli,
                                                             double frame_s)
{
    struct file_facts a, b;
    file_facts_read(ours, &a);
    file_facts_read(cli, &b);
    expect_decodes_cleanly(ours);
    cr_expect_str_eq(a.streams, b.streams, "streams \"%s\", the CLI's \"%s\"", a.streams,
                     b.streams);
    cr_expect_eq(a.video_packets, b.video_packets, "%d video packets, the CLI %d", a.video_packets,
                 b.video_packets);
    cr_expect_eq(a.video_keyframes, b.video_keyframes, "%d keyframes, the CLI %d",
                 a.video_keyframes, b.video_keyframes);
    cr_expect_eq(a.audio_packets, b.audio_packets, "%d audio packets, the CLI %d", a.audio_packets,
                 b.audio_packets);
    cr_expect_leq(fabs(a.duration - b.duration), frame_s + 1e-6, "lasts %.6f s, the CLI's %.6f s",
                  a.duration, b.duration);
}

#endif
