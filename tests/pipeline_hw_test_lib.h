/* pipeline_hw_test_lib.h -- what the test_pipeline_hw*.c files share: the
 * clips, made once per test run with the ffmpeg CLI in a mkdtemp folder
 * (fixture_path), a fresh output folder for a test inside it (output_dir),
 * and run_quiet for the CLI lines.
 *
 * The clips: 8 s of 640x360 at 25 fps with a keyframe every 2 s (Vulkan
 * lines), 4 s of 320x240 (OpenCL, about 30 frames a second on pocl here),
 * the latter with a DVD subtitle track for burn-in, and a clip whose size
 * changes half way (the graph is built again, as the CLI's reconfiguration).
 *
 * Each test binary includes it once: it defines the runner's report hooks
 * (which make the clips and remove them) and the suite "pipeline_hw". Every
 * helper is static and marked unused, so that a file calling only some of
 * them builds without a warning. */
#ifndef FFPOOL_PIPELINE_HW_TEST_LIB_H
#define FFPOOL_PIPELINE_HW_TEST_LIB_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psnr_test_lib.h"

/* ---- fixtures --------------------------------------------------------------------- */

static __attribute__((unused)) const char *fixture_dir(void)
{
    const char *dir = getenv("FFPOOL_PIPELINE_HW_FIXTURES");
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

ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    (void)tests;
    static char dir[] = "/tmp/ffpool-pipeline-hw-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return;
    }
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    static const char *const commands[] = {
        /* 8 s, keyframes every 2 s, for the Vulkan lines. */
        "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi "
        "-i sine=frequency=440:sample_rate=48000 -t 8 -c:v libx264 -preset veryfast -g 50 "
        "-c:a aac %1$s/clip.mkv",
        /* 4 s at 320x240, for OpenCL (slow on pocl), with a DVD subtitle as stream 2. */
        "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi "
        "-i sine=frequency=440:sample_rate=48000 -t 4 -c:v libx264 -preset veryfast -g 25 "
        "-c:a aac %1$s/small.mkv",
        "%2$s/tools/subtitle_clip %1$s/subs.mkv 4 320 240 && ffmpeg -nostdin -v error -y "
        "-i %1$s/small.mkv -i %1$s/subs.mkv -map 0 -map 1 -c copy %1$s/small-subs.mkv",
        /* 2 s at 320x240 then 2 s at 240x180 in one MPEG-TS video stream
         * (the second part's times continue the first's), and one tone. */
        "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -c:v libx264 "
        "-preset veryfast -g 25 -f mpegts %1$s/a.ts && ffmpeg -nostdin -v error -y -f lavfi "
        "-i testsrc2=size=240x180:rate=25 -t 2 -c:v libx264 -preset veryfast -g 25 "
        "-output_ts_offset 2.08 -f mpegts %1$s/b.ts && cat %1$s/a.ts %1$s/b.ts >%1$s/v.ts && "
        "ffmpeg -nostdin -v error -y -i %1$s/v.ts -f lavfi -i sine=sample_rate=48000:duration=4 "
        "-map 0:v -map 1:a -c:v copy -c:a aac -f mpegts %1$s/sizes.ts",
    };
    char command[2048];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        snprintf(command, sizeof(command), commands[i], dir, self);
        if (run_quiet(command) != 0)
            fprintf(stderr, "fixture command failed: %s\n", command);
    }
    setenv("FFPOOL_PIPELINE_HW_FIXTURES", dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *dir = getenv("FFPOOL_PIPELINE_HW_FIXTURES");
    if (dir != NULL && strncmp(dir, "/tmp/ffpool-pipeline-hw-", 24) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static __attribute__((unused)) void output_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s-XXXXXX", fixture_dir(), name);
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/* ---- the suite ------------------------------------------------------------------- */

TestSuite(pipeline_hw, .timeout = 180);

#endif
