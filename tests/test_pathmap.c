/* test_pathmap.c -- paths.map: Jellyfin-side paths to worker-side paths and
 * back.
 *
 * Prefix pairs match only at path component boundaries, the longest prefix
 * wins, a "file:" scheme survives, translating there and back returns the
 * original, and a job spec's input, output, segment, init and subtitle
 * paths are all rewritten (with the subtitle filter taken from a real
 * Jellyfin command line). paths.device_map does the same for the hardware
 * device nodes of a line, and a hardware job carries the driver
 * environment Jellyfin set in its own process, nothing else of it. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "pathmap.h"
#include "session.h"

static struct pathmap map_of(const char *text)
{
    struct pathmap map;
    char err[256] = "";
    cr_assert_eq(pathmap_parse(&map, text, err, sizeof(err)), 0, "parse '%s': %s", text, err);
    return map;
}

static void expect(const struct pathmap *map, enum pathmap_direction d, const char *in,
                   const char *want, int want_status)
{
    char out[4096];
    int status = pathmap_translate(map, d, in, out, sizeof(out));
    cr_expect_eq(status, want_status, "%s: status %d, want %d", in, status, want_status);
    cr_expect_str_eq(out, want, "%s -> %s, want %s", in, out, want);
}

Test(pathmap, parses_pairs_and_ignores_blanks_and_trailing_slashes)
{
    struct pathmap map = map_of(" /media/ = /mnt/media ; ;/config/transcodes=/transcodes/;");
    cr_assert_eq(map.count, 2);
    cr_expect_str_eq(map.pairs[0].jellyfin, "/media");
    cr_expect_str_eq(map.pairs[0].worker, "/mnt/media");
    cr_expect_str_eq(map.pairs[1].jellyfin, "/config/transcodes");
    cr_expect_str_eq(map.pairs[1].worker, "/transcodes");
    struct pathmap empty = map_of("");
    cr_expect_eq(empty.count, 0);
}

Test(pathmap, refuses_malformed_entries_with_a_reason)
{
    static const char *const bad[] = {"/media", "media=/mnt", "/media=", "=/mnt", "/a=b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pathmap map;
        char err[256] = "";
        cr_expect_eq(pathmap_parse(&map, bad[i], err, sizeof(err)), -1, "accepted '%s'", bad[i]);
        cr_expect(strstr(err, "paths.map") != NULL, "no reason for '%s': %s", bad[i], err);
    }
}

Test(pathmap, matches_only_at_component_boundaries)
{
    struct pathmap map = map_of("/media=/mnt/m");
    expect(&map, PATHMAP_TO_WORKER, "/media/a.mkv", "/mnt/m/a.mkv", 1);
    expect(&map, PATHMAP_TO_WORKER, "/media", "/mnt/m", 1);
    expect(&map, PATHMAP_TO_WORKER, "/media2/a.mkv", "/media2/a.mkv", 0);
    expect(&map, PATHMAP_TO_WORKER, "/mediafile", "/mediafile", 0);
    expect(&map, PATHMAP_TO_WORKER, "/other/media/a.mkv", "/other/media/a.mkv", 0);
    expect(&map, PATHMAP_TO_WORKER, "relative/media/a", "relative/media/a", 0);
}

Test(pathmap, longest_prefix_wins_whatever_the_order)
{
    struct pathmap map = map_of("/data=/w/data;/data/movies/4k=/fast/4k;/data/movies=/w/movies");
    expect(&map, PATHMAP_TO_WORKER, "/data/movies/4k/a.mkv", "/fast/4k/a.mkv", 1);
    expect(&map, PATHMAP_TO_WORKER, "/data/movies/b.mkv", "/w/movies/b.mkv", 1);
    expect(&map, PATHMAP_TO_WORKER, "/data/movies4k/c.mkv", "/w/data/movies4k/c.mkv", 1);
    expect(&map, PATHMAP_TO_WORKER, "/data/tv/d.mkv", "/w/data/tv/d.mkv", 1);
}

Test(pathmap, keeps_the_file_scheme)
{
    struct pathmap map = map_of("/media=/mnt/m");
    expect(&map, PATHMAP_TO_WORKER, "file:/media/a b.mkv", "file:/mnt/m/a b.mkv", 1);
    expect(&map, PATHMAP_TO_WORKER, "http://host/media/a.mkv", "http://host/media/a.mkv", 0);
}

Test(pathmap, round_trip_returns_the_original)
{
    struct pathmap map =
        map_of("/media=/mnt/media;/media/anime=/nfs/anime;/config/transcodes=/shared/tc;/=/root");
    static const char *const paths[] = {"/media/film.mkv",
                                        "/media/anime/s01/e01.mkv",
                                        "/config/transcodes/abc%d.ts",
                                        "/config/transcodes",
                                        "/srv/other.mkv",
                                        "file:/media/anime/x.mkv",
                                        "/"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char worker[4096], back[4096];
        cr_assert_eq(pathmap_translate(&map, PATHMAP_TO_WORKER, paths[i], worker, sizeof(worker)),
                     1, "%s not mapped", paths[i]);
        cr_assert_geq(pathmap_translate(&map, PATHMAP_TO_JELLYFIN, worker, back, sizeof(back)), 0);
        cr_expect_str_eq(back, paths[i], "%s -> %s -> %s", paths[i], worker, back);
    }
    expect(&map, PATHMAP_TO_WORKER, "/srv/other.mkv", "/root/srv/other.mkv", 1);
    expect(&map, PATHMAP_TO_JELLYFIN, "/root/srv/other.mkv", "/srv/other.mkv", 1);
}

Test(pathmap, root_prefixes_do_not_double_slashes)
{
    struct pathmap to_root = map_of("/jellyfin=/");
    expect(&to_root, PATHMAP_TO_WORKER, "/jellyfin/a/b", "/a/b", 1);
    expect(&to_root, PATHMAP_TO_WORKER, "/jellyfin", "/", 1);
    struct pathmap from_root = map_of("/=/w");
    expect(&from_root, PATHMAP_TO_WORKER, "/a/b", "/w/a/b", 1);
}

Test(pathmap, reports_overflow_instead_of_truncating)
{
    struct pathmap map = map_of("/m=/a/much/longer/prefix");
    char out[16];
    cr_expect_eq(pathmap_translate(&map, PATHMAP_TO_WORKER, "/m/file.mkv", out, sizeof(out)), -1);
    cr_expect_str_eq(out, "");
}

/* A real Jellyfin subtitle burn-in line (corpus 022's filter), paths moved
 * under /media and /cache. */
Test(pathmap, maps_every_path_of_a_job_spec)
{
    struct pathmap map = map_of("/media=/mnt/media;/config/transcodes=/tc;/cache=/mnt/cache");
    char line[4096];
    snprintf(line, sizeof(line),
             "ffmpeg -f matroska -i file:\"/media/Show/e01.mkv\" -map 0:0 -map 0:1 -codec:v:0 "
             "libx264 -preset veryfast -crf 23 -force_key_frames:0 \"expr:gte(t,n_forced*3)\" "
             "-vf \"subtitles=f='/media/Show/e01.zh.ass':charenc=utf-8:fontsdir='/cache/"
             "attachments/c33a',scale=1280:-2\" -codec:a:0 aac -f hls -hls_time 3 "
             "-hls_segment_type fmp4 -hls_fmp4_init_filename \"abc-1.mp4\" -start_number 0 "
             "-hls_segment_filename \"/config/transcodes/abc%%d.mp4\" -hls_playlist_type vod "
             "-hls_list_size 0 -y \"/config/transcodes/abc.m3u8\"");
    int argc;
    char **argv;
    cr_assert_eq(argv_split(line, &argc, &argv), 0);
    struct job_spec *spec = malloc(sizeof(*spec));
    char reason[512], err[256] = "";
    argv_parse_job(argc, argv, spec, reason, sizeof(reason));
    argv_free(argv);
    cr_assert_str_eq(spec->input, "/media/Show/e01.mkv", "parser gave input %s (%s)", spec->input,
                     reason);
    int changed = pathmap_apply_spec(&map, spec, err, sizeof(err));
    cr_expect_eq(changed, 5, "changed %d: %s", changed, err);
    cr_expect_str_eq(spec->input, "/mnt/media/Show/e01.mkv");
    cr_expect_str_eq(spec->output, "/tc/abc.m3u8");
    cr_expect_str_eq(spec->segment_filename, "/tc/abc%d.mp4");
    cr_expect_str_eq(spec->init_filename, "abc-1.mp4", "a relative init name stays relative");
    cr_expect(strstr(spec->video_filter, "subtitles=f='/mnt/media/Show/e01.zh.ass'") != NULL,
              "filter: %s", spec->video_filter);
    cr_expect(strstr(spec->video_filter, "fontsdir='/mnt/cache/attachments/c33a'") != NULL,
              "filter: %s", spec->video_filter);
    cr_expect(strstr(spec->video_filter, ",scale=1280:-2") != NULL, "filter: %s",
              spec->video_filter);
    free(spec);
}

Test(pathmap, maps_unquoted_subtitle_paths_and_absolute_init_names)
{
    struct pathmap map = map_of("/media=/mnt/media;/config/transcodes=/tc");
    struct job_spec *spec = malloc(sizeof(*spec));
    char err[256];
    job_spec_init(spec);
    snprintf(spec->video_filter, sizeof(spec->video_filter),
             "scale=1280:720,subtitles=/media/a\\:b.srt:si=0,format=yuv420p");
    snprintf(spec->init_filename, sizeof(spec->init_filename), "/config/transcodes/x-1.mp4");
    cr_expect_eq(pathmap_apply_spec(&map, spec, err, sizeof(err)), 2);
    cr_expect_str_eq(spec->video_filter,
                     "scale=1280:720,subtitles=/mnt/media/a\\:b.srt:si=0,format=yuv420p");
    cr_expect_str_eq(spec->init_filename, "/tc/x-1.mp4");
    free(spec);
}

/* ---------------------------------------------------------------------------
 * paths.device_map: the hardware device nodes a line names
 * ------------------------------------------------------------------------- */

/* The device string of every -init_hw_device form, QSV's child_device=,
 * and -hwaccel_device; names, indexes and derived devices stay. */
Test(device_map, maps_the_device_of_every_device_form)
{
    struct pathmap map;
    char err[256] = "";
    cr_assert_eq(
        pathmap_parse_key(&map, "paths.device_map",
                          "/dev/dri/renderD128=/dev/dri/renderD129;/dev/video0=/dev/video2", err,
                          sizeof(err)),
        0, "%s", err);
    struct job_spec *spec = malloc(sizeof(*spec));
    cr_assert_not_null(spec);
    job_spec_init(spec);
    static const char *const in[][2] = {
        {"vaapi=va:/dev/dri/renderD128,driver=iHD", "vaapi=va:/dev/dri/renderD129,driver=iHD"},
        {"vaapi:/dev/dri/renderD128", "vaapi:/dev/dri/renderD129"},
        {"qsv=__qsv_device:hw_any,child_device=/dev/dri/renderD128",
         "qsv=__qsv_device:hw_any,child_device=/dev/dri/renderD129"},
        {"drm=dr:/dev/dri/renderD1280", "drm=dr:/dev/dri/renderD1280"},
    };
    for (int i = 0; i < 4; i++)
        strcpy(spec->hw_devices[i], in[i][0]);
    spec->n_hw_devices = 4;
    strcpy(spec->hwaccel_device, "/dev/dri/renderD128");
    cr_assert_eq(pathmap_apply_devices(&map, spec, err, sizeof(err)), 4, "%s", err);
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(spec->hw_devices[i], in[i][1]);
    cr_expect_str_eq(spec->hwaccel_device, "/dev/dri/renderD129");

    static const char *const kept[] = {"qsv=qs@va", "cuda=cu:0",
                                       "vaapi=va:,driver=iHD,kernel_driver=i915", "opencl=ocl:0.0",
                                       "vulkan"};
    for (int i = 0; i < 4; i++)
        strcpy(spec->hw_devices[i], kept[i]);
    strcpy(spec->hwaccel_device, "va");
    cr_assert_eq(pathmap_apply_devices(&map, spec, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(spec->hw_devices[i], kept[i]);
    cr_expect_str_eq(spec->hwaccel_device, "va");
    spec->n_hw_devices = 1;
    strcpy(spec->hw_devices[0], kept[4]);
    cr_assert_eq(pathmap_apply_devices(&map, spec, err, sizeof(err)), 0, "%s", err);
    free(spec);
}

/* A Jellyfin line as the shim reads it (corpus 006's devices, a V4L2
 * encoder's node has nothing to map), then the device map. */
Test(device_map, maps_a_parsed_jellyfin_line)
{
    struct pathmap map;
    char err[256] = "", reason[256];
    cr_assert_eq(
        pathmap_parse_key(&map, "paths.device_map", "/dev/dri=/dev/dri-gpu1", err, sizeof(err)), 0,
        "%s", err);
    const char *line = "ffmpeg -init_hw_device vaapi=va:/dev/dri/renderD128,driver=iHD "
                       "-init_hw_device qsv=qs@va -filter_hw_device qs -hwaccel vaapi "
                       "-hwaccel_output_format vaapi -i /m/a.mkv -map 0:0 -map 0:1 -codec:v:0 "
                       "h264_qsv -preset veryfast -g:v:0 72 -keyint_min:v:0 72 "
                       "-vf \"scale_vaapi=format=nv12,hwmap=derive_device=qsv,format=qsv\" "
                       "-codec:a:0 aac -f hls -hls_time 3 -hls_segment_filename /t/a%d.ts "
                       "-hls_playlist_type vod -hls_list_size 0 /t/a.m3u8";
    int argc;
    char **argv;
    cr_assert_eq(argv_split(line, &argc, &argv), 0);
    struct job_spec *spec = malloc(sizeof(*spec));
    cr_assert_not_null(spec);
    cr_assert_eq(argv_parse_job(argc, argv, spec, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    argv_free(argv);
    cr_assert_eq(pathmap_apply_devices(&map, spec, err, sizeof(err)), 1, "%s", err);
    cr_expect_str_eq(spec->hw_devices[0], "vaapi=va:/dev/dri-gpu1/renderD128,driver=iHD");
    cr_expect_str_eq(spec->hw_devices[1], "qsv=qs@va");
    cr_expect_str_eq(spec->filter_hw_device, "qs");
    free(spec);
}

Test(device_map, reports_its_own_key_and_overflow)
{
    struct pathmap map;
    char err[256] = "";
    cr_assert_eq(pathmap_parse_key(&map, "paths.device_map", "renderD128=/dev/x", err, sizeof(err)),
                 -1);
    cr_expect(strstr(err, "paths.device_map") != NULL, "%s", err);
    cr_assert_eq(pathmap_parse(&map, "media", err, sizeof(err)), -1);
    cr_expect(strstr(err, "paths.map") != NULL, "%s", err);

    char longer[300];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[0] = '/';
    longer[sizeof(longer) - 1] = '\0';
    char text[400];
    snprintf(text, sizeof(text), "/dev/dri=%s", longer);
    cr_assert_eq(pathmap_parse_key(&map, "paths.device_map", text, err, sizeof(err)), 0, "%s", err);
    struct job_spec *spec = malloc(sizeof(*spec));
    cr_assert_not_null(spec);
    job_spec_init(spec);
    strcpy(spec->hw_devices[0], "vaapi=va:/dev/dri/renderD128");
    spec->n_hw_devices = 1;
    cr_expect_eq(pathmap_apply_devices(&map, spec, err, sizeof(err)), -1);
    cr_expect(strstr(err, "too long") != NULL, "%s", err);
    job_spec_init(spec);
    strcpy(spec->hwaccel_device, "/dev/dri/renderD128");
    cr_expect_eq(pathmap_apply_devices(&map, spec, err, sizeof(err)), -1);
    free(spec);
}

/* ---------------------------------------------------------------------------
 * The driver environment Jellyfin sets in its own process (shim/session.c)
 * ------------------------------------------------------------------------- */

/* Only the variables drivers read travel (job_spec_environment_allowed),
 * once each, in the environment's order; the shim's own settings, secrets
 * and everything else stay on Jellyfin's host. */
Test(shim_environment, forwards_only_the_driver_variables)
{
    char *envp[] = {"PATH=/usr/bin",
                    "LIBVA_DRIVER_NAME=i965",
                    "FFPOOL_API_TOKEN=secret",
                    "LIBVA_DRIVER_NAME_JELLYFIN=i965",
                    "HOME=/var/lib/jellyfin",
                    "AMD_DEBUG=noefc",
                    "LIBVA_DRIVER_NAME=iHD",
                    "LIBVA_=x",
                    "JELLYFIN_FFMPEG=/opt/ffpool/ffmpeg",
                    "MESA_LOADER_DRIVER_OVERRIDE=radeonsi",
                    "noequals",
                    NULL};
    struct job_spec *spec = malloc(sizeof(*spec));
    cr_assert_not_null(spec);
    job_spec_init(spec);
    strcpy(spec->environment, "STALE=1");
    char err[256] = "";
    cr_assert_eq(shim_environment_forward(spec, envp, err, sizeof(err)), 4, "%s", err);
    cr_assert_str_eq(spec->environment, "LIBVA_DRIVER_NAME=i965\nLIBVA_DRIVER_NAME_JELLYFIN=i965\n"
                                        "AMD_DEBUG=noefc\nMESA_LOADER_DRIVER_OVERRIDE=radeonsi");
    /* What the scheduler checks again. */
    strcpy(spec->input, "/m/a.mkv");
    strcpy(spec->output, "/t/a.mkv");
    spec->output_kind = JOB_OUTPUT_PROGRESSIVE;
    strcpy(spec->video_codec, "h264_vaapi");
    cr_assert_eq(job_spec_validate(spec, err, sizeof(err)), 0, "%s", err);

    char *none[] = {"PATH=/usr/bin", NULL};
    cr_assert_eq(shim_environment_forward(spec, none, err, sizeof(err)), 0);
    cr_assert_str_eq(spec->environment, "");
    cr_assert_eq(shim_environment_forward(spec, NULL, err, sizeof(err)), 0);
    free(spec);
}

/* A value the job cannot carry as it is never travels cut or changed. */
Test(shim_environment, refuses_what_it_cannot_carry_whole)
{
    struct job_spec *spec = malloc(sizeof(*spec));
    cr_assert_not_null(spec);
    job_spec_init(spec);
    char err[256] = "";
    char *newline[] = {"LIBVA_DRIVER_NAME=i965\nAMD_DEBUG=x", NULL};
    cr_assert_eq(shim_environment_forward(spec, newline, err, sizeof(err)), -1);
    cr_expect(strstr(err, "LIBVA_DRIVER_NAME") != NULL, "%s", err);
    cr_expect_str_eq(spec->environment, "");

    static char big[2048];
    snprintf(big, sizeof(big), "LIBVA_DRIVER_NAME=");
    memset(big + strlen(big), 'd', sizeof(big) - strlen(big) - 1);
    char *toolong[] = {"AMD_DEBUG=noefc", big, NULL};
    cr_assert_eq(shim_environment_forward(spec, toolong, err, sizeof(err)), -1);
    cr_expect(strstr(err, "LIBVA_DRIVER_NAME") != NULL, "%s", err);
    cr_expect_str_eq(spec->environment, "");
    free(spec);
}
