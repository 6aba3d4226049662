/* test_argv.c -- how the shim reads the command lines Jellyfin gives ffmpeg.
 *
 * Four parts here: splitting the argument string the way .NET does;
 * replaying every real command line in the corpus (tests/corpus, plus the
 * folder FFPOOL_ARGV_CORPUS names, if any) with the fields the pool depends
 * on checked for the lines that matter; malformed or hostile argv (which
 * must never crash: this runs under ASan and UBSan); and the job key. The
 * decision rules on crafted lines are in test_argv_rules.c, the hardware
 * lines in test_argv_hardware.c, and what the three share (the corpus
 * reader among it) in argv_test_lib.h. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "argv_test_lib.h"

/* ---------------------------------------------------------------------------
 * Splitting
 * ------------------------------------------------------------------------- */

TestSuite(argv_split, .description = "splitting one argument string like .NET on Unix");

Test(argv_split, spaces_and_tabs_separate_arguments)
{
    struct split_result r = split("-i\ta.mkv  -y out.m3u8");
    cr_assert_eq(r.argc, 4);
    cr_assert_str_eq(r.argv[0], "-i");
    cr_assert_str_eq(r.argv[1], "a.mkv");
    cr_assert_str_eq(r.argv[2], "-y");
    cr_assert_str_eq(r.argv[3], "out.m3u8");
    argv_free(r.argv);
}

Test(argv_split, double_quotes_group_and_are_removed)
{
    struct split_result r = split("-i file:\"/m/a b.mkv\" x\"y z\"w");
    cr_assert_eq(r.argc, 3);
    cr_assert_str_eq(r.argv[1], "file:/m/a b.mkv");
    cr_assert_str_eq(r.argv[2], "xy zw");
    argv_free(r.argv);
}

Test(argv_split, backslash_quote_is_a_literal_quote)
{
    struct split_result r = split("a\\\"b \"c \\\" d\"");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\"b");
    cr_assert_str_eq(r.argv[1], "c \" d");
    argv_free(r.argv);
}

Test(argv_split, backslashes_not_before_a_quote_are_literal)
{
    struct split_result r = split("C:\\dir\\f.mkv \"scale=iw\\,ih\" \\\\server\\share");
    cr_assert_eq(r.argc, 3);
    cr_assert_str_eq(r.argv[0], "C:\\dir\\f.mkv");
    cr_assert_str_eq(r.argv[1], "scale=iw\\,ih");
    cr_assert_str_eq(r.argv[2], "\\\\server\\share");
    argv_free(r.argv);
}

Test(argv_split, even_backslashes_before_a_quote_halve_and_the_quote_groups)
{
    /* a\\"b c" -> a\b c ; 4 backslashes + quote -> 2 backslashes + grouping */
    struct split_result r = split("a\\\\\"b c\" d\\\\\\\\\"e f\"");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\\b c");
    cr_assert_str_eq(r.argv[1], "d\\\\e f");
    argv_free(r.argv);
}

Test(argv_split, odd_backslashes_before_a_quote_halve_and_the_quote_is_literal)
{
    /* a\\\"b -> a\"b (three backslashes: one literal backslash, literal quote) */
    struct split_result r = split("a\\\\\\\"b c");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\\\"b");
    cr_assert_str_eq(r.argv[1], "c");
    argv_free(r.argv);
}

Test(argv_split, doubled_quote_inside_quotes_is_a_literal_quote)
{
    struct split_result r = split("\"a\"\"b c\" d");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\"b c");
    cr_assert_str_eq(r.argv[1], "d");
    argv_free(r.argv);
}

Test(argv_split, empty_quoted_argument_is_an_argument)
{
    struct split_result r = split("a \"\" b \"\"");
    cr_assert_eq(r.argc, 4);
    cr_assert_str_eq(r.argv[0], "a");
    cr_assert_str_eq(r.argv[1], "");
    cr_assert_str_eq(r.argv[2], "b");
    cr_assert_str_eq(r.argv[3], "");
    argv_free(r.argv);
}

Test(argv_split, leading_and_trailing_whitespace_add_nothing)
{
    struct split_result r = split(" \t a  b \t ");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a");
    cr_assert_str_eq(r.argv[1], "b");
    argv_free(r.argv);
}

Test(argv_split, empty_and_blank_strings_give_no_arguments)
{
    const char *lines[] = {"", "   ", "\t\t"};
    for (size_t i = 0; i < 3; i++) {
        struct split_result r = split(lines[i]);
        cr_assert_eq(r.argc, 0);
        argv_free(r.argv);
    }
    int argc = -1;
    char **argv = NULL;
    cr_assert_eq(argv_split(NULL, &argc, &argv), 0);
    cr_assert_eq(argc, 0);
    cr_assert_null(argv[0]);
    argv_free(argv);
    cr_assert_eq(argv_split("a", NULL, &argv), -1);
    cr_assert_eq(argv_split("a", &argc, NULL), -1);
    argv_free(NULL);
}

Test(argv_split, unterminated_quote_runs_to_the_end)
{
    struct split_result r = split("-vf \"scale=1:2 , x");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[1], "scale=1:2 , x");
    argv_free(r.argv);
}

Test(argv_split, newline_is_not_a_separator)
{
    /* .NET splits on space and tab only. */
    struct split_result r = split("a\nb c");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\nb");
    argv_free(r.argv);
}

Test(argv_split, trailing_backslashes_are_literal)
{
    struct split_result r = split("a\\\\ b\\");
    cr_assert_eq(r.argc, 2);
    cr_assert_str_eq(r.argv[0], "a\\\\");
    cr_assert_str_eq(r.argv[1], "b\\");
    argv_free(r.argv);
}

/* ---------------------------------------------------------------------------
 * Corpus: real command lines as Jellyfin (or a user) logged them
 * ------------------------------------------------------------------------- */

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TestSuite(argv_corpus, .description = "replaying real Jellyfin command lines");

/* Every .txt line of dir gets a decision and a reason that names it. */
static void corpus_check_folder(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "corpus folder %s not found", dir);
    char *names[512];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 512) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".txt") == 0)
            names[count++] = strdup(e->d_name);
    }
    closedir(d);
    cr_assert_gt(count, 0, "corpus folder %s has no .txt files", dir);
    qsort(names, count, sizeof(names[0]), name_compare);

    int totals[3] = {0, 0, 0};
    static struct job_spec spec;
    for (size_t i = 0; i < count; i++) {
        char path[4096], reason[256];
        struct corpus_line c;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        corpus_line_read(path, &c);
        cr_assert_gt(c.argc, 1, "%s: nothing after the program", names[i]);
        enum argv_decision dec = argv_parse_job(c.argc, c.argv, &spec, reason, sizeof(reason));
        cr_assert(dec == ARGV_NATIVE || dec == ARGV_PASSTHROUGH || dec == ARGV_REFUSE);
        cr_assert_gt(strlen(reason), strlen(argv_decision_name(dec)) + 2, "%s: empty reason",
                     names[i]);
        cr_assert(starts_with(reason, argv_decision_name(dec)), "%s: reason '%s' vs %s", names[i],
                  reason, argv_decision_name(dec));
        totals[dec]++;
        cr_log_info("corpus %-12.12s %-11s %s", names[i], argv_decision_name(dec), reason);
        corpus_line_free(&c);
        free(names[i]);
    }
    cr_log_info("corpus %s: %zu files, native %d, passthrough %d, refuse %d", dir, count,
                totals[ARGV_NATIVE], totals[ARGV_PASSTHROUGH], totals[ARGV_REFUSE]);
    cr_assert_eq(totals[ARGV_NATIVE] + totals[ARGV_PASSTHROUGH] + totals[ARGV_REFUSE], (int)count);
}

/* The repository's corpus, and any other folder of real lines a tester
 * points FFPOOL_ARGV_CORPUS at. */
Test(argv_corpus, every_file_gets_a_decision_and_a_reason)
{
    corpus_check_folder(corpus_dir());
    const char *extra = getenv("FFPOOL_ARGV_CORPUS");
    if (extra != NULL && extra[0] != '\0')
        corpus_check_folder(extra);
}

Test(argv_corpus, x264_hls_with_audio_copy_is_native_with_every_field)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("002-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+copy");
    cr_assert_str_eq(s.input, "/media/file.mkv");
    cr_assert_str_eq(s.input_format, "matroska,webm");
    cr_assert_eq(s.analyzeduration_us, 200000000);
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.accurate_seek, 1);
    cr_assert_eq(s.seek_us, JOB_SPEC_UNSET);
    cr_assert_eq(s.threads, 0);
    cr_assert_eq(s.video_stream, 0);
    cr_assert_eq(s.audio_stream, 1);
    cr_assert_str_eq(s.video_codec, "libx264");
    cr_assert_str_eq(s.preset, "veryfast");
    cr_assert_eq(s.crf, 23);
    cr_assert_eq(s.maxrate, 4150796);
    cr_assert_eq(s.bufsize, 8301592);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_str_eq(s.level, "31");
    cr_assert_str_eq(
        s.x264opts,
        "subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none");
    /* The filter arrives with its \, escapes intact (no quote follows them). */
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:"
                     "trunc(min(max(iw/a\\,ih)\\,min(1280/a\\,720))/2)*2,format=yuv420p");
    cr_assert_str_eq(s.audio_codec, "copy");
    cr_assert_eq(s.output_kind, JOB_OUTPUT_HLS);
    cr_assert_eq(s.segment_type, JOB_SEGMENT_MPEGTS);
    cr_assert_eq(s.hls_time_us, 3000000);
    cr_assert_eq(s.start_number, 0);
    cr_assert_str_eq(s.segment_filename,
                     "/config/transcodes/22cb4d876fa8d06b959b2da72a04c28c%d.ts");
    cr_assert_str_eq(s.output, "/config/transcodes/22cb4d876fa8d06b959b2da72a04c28c.m3u8");
    cr_assert_eq(s.playlist_type, JOB_PLAYLIST_VOD);
    cr_assert_eq(s.max_delay_us, 5000000);
    cr_assert_eq(s.copyts, 1);

    char segment[4096];
    cr_assert_eq(job_spec_segment_path(&s, 7, segment, sizeof(segment)), 0);
    cr_assert_str_eq(segment, "/config/transcodes/22cb4d876fa8d06b959b2da72a04c28c7.ts");
}

Test(argv_corpus, x264_hls_1080_keeps_the_path_with_spaces_and_the_filter)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("003-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.input,
                     "/media/HD0/torrent-downloads/TV/The Office (2005)/Season 01/Episode 01.mkv");
    cr_assert_eq(s.hls_time_us, 3000000);
    cr_assert_eq(s.start_number, 0);
    cr_assert_not_null(strstr(s.segment_filename, "%d"));
    cr_assert_str_eq(s.video_codec, "libx264");
    cr_assert_str_eq(s.audio_codec, "copy");
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale=trunc(min(max(iw\\,ih*a)\\,min(1918\\,1080*a))/2)*2:"
                     "trunc(min(max(iw/a\\,ih)\\,min(1918/a\\,1080))/2)*2,format=yuv420p");
    cr_assert_str_eq(s.profile, "", "003 has no -profile");
}

Test(argv_corpus, video_copy_after_seek_records_seek_and_start_number)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("018-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, 494598000); /* 00:08:14.598 */
    cr_assert_eq(s.start_number, 82);
    cr_assert_eq(s.genpts, 1);
    cr_assert_eq(s.hls_time_us, 6000000);
    cr_assert_str_eq(s.video_codec, "copy");
    cr_assert_str_eq(s.video_bsf, "h264_mp4toannexb");
    cr_assert_eq(s.start_at_zero, 1);
}

Test(argv_corpus, remux_with_segment_deletion_keeps_its_read_rate)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("004-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_codec, "copy");
    cr_assert_eq(s.readrate, 10);
    cr_assert_eq(s.readrate_catchup, 0);
}

Test(argv_corpus, hevc_copy_with_noaccurate_seek_and_strict)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("042-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, 408000000);
    cr_assert_eq(s.accurate_seek, 0);
    cr_assert_eq(s.start_number, 68);
    cr_assert_str_eq(s.video_tag, "hvc1");
    cr_assert_str_eq(s.video_bsf, "hevc_mp4toannexb");
}

Test(argv_corpus, hevc_copy_to_fmp4_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("044-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.segment_type, JOB_SEGMENT_FMP4);
    cr_assert_str_eq(s.init_filename, "6efcfd6be6945029dc7b3e690a6788ee-1.mp4");
    cr_assert_eq(s.probesize, 1000000000);
    cr_assert_eq(s.hls_time_us, 6000000);
}

Test(argv_corpus, escaped_log_form_keeps_paths_with_spaces_and_commas)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("008-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.input, "/disk/Tv/Billions/Season 5/Billions - S05E03 - Beg, Bribe, Bully "
                              "WEBRip-1080p.mp4");
}

Test(argv_corpus, windows_paths_keep_their_backslashes)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("011-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert(starts_with(s.input, "G:\\Documentaries\\TV Shows\\Earth at Night in Color\\"));
    cr_assert_str_eq(s.segment_filename,
                     "C:\\Server\\Jellyfin_db\\transcodes\\03a3b4a94b0be6787d77c31b979f73f2%d.ts");
}

/* Shapes of Jellyfin 10.11 lines the native path took on in issue 14: a
 * video without audio, a client's frame-rate cap, progressive .m4a. */
Test(argv_corpus, video_only_frame_rate_cap_and_m4a_shapes_are_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("107-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+no audio");
    cr_assert_eq(s.video_stream, 0);
    cr_assert_eq(s.audio_stream, -1);

    cr_assert_eq(corpus_parse("108-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+aac");
    cr_assert(starts_with(s.video_filter, "fps=23.976000785827637,setparams="), "%s",
              s.video_filter);

    cr_assert_eq(corpus_parse("133-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: progressive no video+aac");
    cr_assert_str_eq(s.output_format, "ipod");
    cr_assert_str_eq(s.movflags, "empty_moov+delay_moov");
}

Test(argv_corpus, subtitle_extraction_is_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("019-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "subtitle"), "%s", reason);
    cr_assert_eq(s.video_stream, -1, "-vn");
    cr_assert_eq(s.audio_stream, -1, "-an");
}

Test(argv_corpus, ffprobe_is_a_probe_passthrough)
{
    static struct job_spec s;
    char reason[256];
    const char *probes[] = {"035-", "036-", "037-"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(corpus_parse(probes[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
        cr_assert_str_eq(reason, "passthrough: probe (ffprobe)");
    }
}

Test(argv_corpus, segment_muxer_is_passthrough)
{
    static struct job_spec s;
    char reason[256];
    /* 005 and 030 stop at -flags / -individual_header_trailer; 056 at -copypriorss. */
    const char *lines[] = {"005-", "030-", "056-"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(corpus_parse(lines[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
}

Test(argv_corpus, unquoted_argv_dump_reads_the_keyframe_expression)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("023-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -sei a53_cc unknown to libav 5.1");
    cr_assert_str_eq(s.input, "[REDACTED_MEDIA_PATH]/[REDACTED_FILENAME].mkv");
}

Test(argv_corpus, dlna_output_with_a_query_string_is_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("048-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert(starts_with(s.output, "/config/transcodes/a4e7b9904a2636a17cd21a69cea138fe.mkv?"));
}

/* ---------------------------------------------------------------------------
 * Malformed and hostile input
 * ------------------------------------------------------------------------- */

TestSuite(argv_adversarial, .description = "malformed argv never crashes");

Test(argv_adversarial, empty_argv_is_refused)
{
    static struct job_spec s;
    char reason[256];
    char *empty[] = {NULL};
    cr_assert_eq(argv_parse_job(0, empty, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_gt(strlen(reason), 0);
    cr_assert_eq(argv_parse_job(0, NULL, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(argv_parse_job(3, empty, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(argv_parse_job(1, (char *[]){"ffmpeg", NULL}, NULL, reason, sizeof(reason)),
                 ARGV_REFUSE);
    /* The program alone has no output: ffmpeg prints its usage, so the
     * local ffmpeg must. */
    char *program[] = {"ffmpeg", NULL};
    cr_assert_eq(argv_parse_job(1, program, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(
        reason, "passthrough: no output file and not a device check: the local ffmpeg answers");
    /* No reason buffer: still decides, writes nothing. */
    cr_assert_eq(argv_parse_job(1, program, &s, NULL, 0), ARGV_PASSTHROUGH);
    reason[0] = 'x';
    cr_assert_eq(argv_parse_job(1, program, &s, reason, 0), ARGV_PASSTHROUGH);
    cr_assert_eq(reason[0], 'x');
}

Test(argv_adversarial, missing_values_are_refused)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -i needs a value");
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -c:v needs a value");
    cr_assert_eq(parse_args("-i /m/a.mkv -hls_time", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264", &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH, "no output: ffmpeg's own error, from the local ffmpeg");
    cr_assert_eq(parse_args("-c:v libx264 out.m3u8", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: no input (-i)");
    cr_assert_eq(parse_args("-i /m/a.mkv \"\"", &s, reason, sizeof(reason)), ARGV_REFUSE);
}

Test(argv_adversarial, a_null_entry_ends_argv)
{
    static struct job_spec s;
    char reason[256];
    char *argv[] = {"ffmpeg", "-i", NULL, "x"};
    cr_assert_eq(argv_parse_job(4, argv, &s, reason, sizeof(reason)), ARGV_REFUSE);
}

Test(argv_adversarial, huge_numbers_are_passthrough_not_overflow)
{
    static struct job_spec s;
    char reason[256];
    const char *lines[] = {
        "-threads 99999999999999999999999999 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-analyzeduration 9999999999999E -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-probesize 18446744073709551615 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-ss 99999999999999999999999:00:00 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-ss 9223372036855 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-i /m/a.mkv -crf 2147483648 " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-i /m/a.mkv -b:v 1EiB " LINE_VIDEO LINE_AUDIO LINE_HLS,
        "-i /m/a.mkv -map 0:99999999999 " LINE_VIDEO LINE_AUDIO LINE_HLS,
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert_eq(parse_args(lines[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH,
                     "line %zu: %s", i, reason);
    }
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f hls -hls_time 3 "
                            "-start_number 4294967296 -hls_segment_filename /t/a%d.ts "
                            "-hls_playlist_type vod -hls_list_size 0 /t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -start_number value out of range");
    /* Exactly INT64_MAX microseconds still fits. */
    cr_assert_eq(parse_args("-ss 9223372036854.775807 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, INT64_MAX);
    /* The biggest value that fits is read exactly. */
    cr_assert_eq(
        parse_args("-probesize 9223372036854775807 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.probesize, INT64_MAX);
}

Test(argv_adversarial, very_long_arguments_are_never_truncated)
{
    static struct job_spec s;
    char reason[256];
    size_t n = 10000;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, 'a', n);
    big[0] = '/';
    big[n] = '\0';

    char *argv[] = {"ffmpeg",    "-i",
                    big,         "-c:v",
                    "libx264",   "-c:a",
                    "aac",       "-f",
                    "hls",       "-hls_segment_filename",
                    "/t/a%d.ts", "-hls_playlist_type",
                    "vod",       "-hls_list_size",
                    "0",         "/t/a.m3u8",
                    NULL};
    cr_assert_eq(argv_parse_job(16, argv, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "too long"), "%s", reason);
    cr_assert_str_eq(s.input, "", "never a truncated path");

    argv[2] = "/m/a.mkv";
    argv[10] = big; /* a segment pattern without %d, too long for the spec */
    cr_assert_eq(argv_parse_job(16, argv, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);

    big[0] = '-'; /* a 10k-character unknown option */
    argv[3] = big;
    cr_assert_eq(argv_parse_job(16, argv, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_lt(strlen(reason), 128);

    char small[8];
    cr_assert_eq(argv_parse_job(16, argv, &s, small, sizeof(small)), ARGV_PASSTHROUGH);
    cr_assert_eq(strlen(small), 7);
    free(big);
}

/* Random argv from a pool of real and broken tokens: every one must get a
 * decision and a reason with the matching prefix. Deterministic (fixed
 * seed), so a failure reproduces. */
Test(argv_adversarial, random_token_soup_never_crashes)
{
    static const char *const tokens[] = {
        "-i",
        "file:/m/a.mkv",
        "http://x/y",
        "-f",
        "hls",
        "mp4",
        "segment",
        "-c:v",
        "-codec:a:0",
        "libx264",
        "copy",
        "aac",
        "h264_vaapi",
        "-vf",
        "scale_vaapi=w=1",
        "a\\,b'c",
        "-map",
        "0:1",
        "-0:s",
        "0:v:0",
        "-hls_time",
        "3",
        "0",
        "-1",
        "1e999",
        "-ss",
        "00:00:01.5",
        "99:99",
        "-hls_segment_filename",
        "%d",
        "%d%d",
        "%",
        "-start_number",
        "-hls_list_size",
        "-hls_playlist_type",
        "vod",
        "event",
        "-force_key_frames:0",
        "expr:gte(t,n_forced*3)",
        "expr:gte(t,+n_forced*)",
        "expr:gte(t,",
        "-y",
        "out.m3u8",
        "-",
        "",
        "-fflags",
        "+",
        "+genpts-",
        "-analyzeduration",
        "200M",
        "1Gi",
        "9E",
        ".",
        "-b:v",
        "-b",
        "-tag:a",
        "-profile:v:1",
        "-x264opts:0",
        "-version",
        "-threads",
        "auto",
        "-noaccurate_seek",
        "-autorotate",
        "-max_delay",
        "-strict",
        "-2",
        "-vsync",
        "-an",
        "-vn",
        "-sn",
        "-:",
        "-c:",
        "-c::",
        "-hwaccel",
        "-filter:v",
        "[in]scale,hwupload[out]",
        "[",
        "]",
        "=",
        "-init_hw_device",
        "vaapi=va:/dev/dri/renderD128,driver=iHD",
        "qsv=qs@va",
        "vulkan",
        "opencl=ocl:,x",
        "-filter_hw_device",
        "va",
        "vulkan0",
        "-vaapi_device",
        "-qsv_device",
        "-hwaccel_flags",
        "+unsafe_output",
        "-extra_hw_frames",
        "-hwaccel_output_format",
        "-noautoscale",
        "-sei",
        "-a53_cc",
        "-rc_mode",
        "VBR",
        "-low_power",
        "-flags:v",
        "-global_header",
        "h264_qsv",
        "hevc_cuvid",
        "h264_nvenc",
    };
    const size_t ntokens = sizeof(tokens) / sizeof(tokens[0]);
    static struct job_spec s;
    char reason[256];
    char *argv[40];
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 20000; round++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int argc = 1 + (int)((state >> 33) % 39);
        argv[0] = "ffmpeg";
        for (int i = 1; i < argc; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            argv[i] = (char *)tokens[(state >> 33) % ntokens];
        }
        argv[argc] = NULL;
        enum argv_decision d = argv_parse_job(argc, argv, &s, reason, sizeof(reason));
        cr_assert(d == ARGV_NATIVE || d == ARGV_PASSTHROUGH || d == ARGV_REFUSE);
        cr_assert(starts_with(reason, argv_decision_name(d)), "round %d: %s", round, reason);
        cr_assert_gt(strlen(reason), strlen(argv_decision_name(d)) + 2);
        if (d == ARGV_NATIVE) {
            char err[256];
            cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Job key
 * ------------------------------------------------------------------------- */

TestSuite(argv_job_key, .description = "a stable name for the same command line");

static int key_is_hex(const char *key)
{
    if (strlen(key) != 32)
        return 0;
    for (size_t i = 0; i < 32; i++)
        if (!isdigit((unsigned char)key[i]) && !(key[i] >= 'a' && key[i] <= 'f'))
            return 0;
    return 1;
}

Test(argv_job_key, same_arguments_give_the_same_key_whatever_the_program_path)
{
    char *a[] = {"/usr/lib/jellyfin-ffmpeg/ffmpeg", "-i", "file:/m/a.mkv", "/t/a.m3u8", NULL};
    char *b[] = {"/opt/ffpool/ffmpeg", "-i", "file:/m/a.mkv", "/t/a.m3u8", NULL};
    char ka[33], kb[33], again[33];
    argv_job_key(4, a, ka);
    argv_job_key(4, a, again);
    argv_job_key(4, b, kb);
    cr_assert(key_is_hex(ka), "%s", ka);
    cr_assert_str_eq(ka, again);
    cr_assert_str_eq(ka, kb);
}

Test(argv_job_key, different_arguments_give_different_keys)
{
    char *a[] = {"ffmpeg", "-ss", "00:00:03.000", "-i", "/m/a.mkv", "-start_number", "1", NULL};
    char *b[] = {"ffmpeg", "-ss", "00:00:06.000", "-i", "/m/a.mkv", "-start_number", "2", NULL};
    char *c[] = {"ffmpeg", "ab", "c", NULL};
    char *d[] = {"ffmpeg", "a", "bc", NULL};
    char *e[] = {"ffmpeg", "abc", NULL};
    char ka[33], kb[33], kc[33], kd[33], ke[33], empty[33], none[33];
    argv_job_key(7, a, ka);
    argv_job_key(7, b, kb);
    argv_job_key(3, c, kc);
    argv_job_key(3, d, kd);
    argv_job_key(2, e, ke);
    argv_job_key(1, e, empty);
    argv_job_key(0, NULL, none);
    cr_assert_str_neq(ka, kb);
    cr_assert_str_neq(kc, kd, "argument boundaries count");
    cr_assert_str_neq(kc, ke);
    cr_assert_str_neq(kd, ke);
    cr_assert_str_neq(ke, empty);
    cr_assert_str_eq(empty, none);
    cr_assert(key_is_hex(none));
}
