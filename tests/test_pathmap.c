/* test_pathmap.c -- paths.map: Jellyfin-side paths to worker-side paths and
 * back.
 *
 * Prefix pairs match only at path component boundaries, the longest prefix
 * wins, a "file:" scheme survives, translating there and back returns the
 * original, and a job spec's input, output, segment, init and subtitle
 * paths are all rewritten (with the subtitle filter taken from a real
 * Jellyfin command line). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "pathmap.h"

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
