/* test_argv_rules.c -- the decision rules of the shim's command-line parser,
 * on crafted lines: what the native path takes and the fields it records,
 * what it leaves to the local ffmpeg (passthrough) and what it refuses.
 * Most lines change one thing of the reference line (LINE_* in
 * argv_test_lib.h); the real lines are replayed in test_argv.c. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "argv_test_lib.h"

/* ---------------------------------------------------------------------------
 * Decision rules on crafted lines
 * ------------------------------------------------------------------------- */

TestSuite(argv_rules, .description = "what the native path takes and what it leaves");

Test(argv_rules, the_reference_line_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_NATIVE, &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+aac");
    cr_assert_str_eq(s.input, "/m/a b.mkv");
    cr_assert_eq(s.audio_channels, 2);
    cr_assert_eq(s.audio_bitrate, 256000);
}

Test(argv_rules, libfdk_aac_becomes_aac)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_INPUT LINE_STREAMS LINE_VIDEO "-codec:a:0 libfdk_aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.audio_codec, "aac");
}

Test(argv_rules, no_audio_is_native_without_an_audio_stream)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args(LINE_INPUT "-map 0:0 " LINE_VIDEO "-an " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+no audio");
    cr_assert_eq(s.video_stream, 0);
    cr_assert_eq(s.audio_stream, -1);
    cr_assert_str_eq(s.audio_codec, "");
}

Test(argv_rules, without_maps_streams_are_first_of_kind)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_INPUT LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.video_stream, -2);
    cr_assert_eq(s.audio_stream, -2);
}

Test(argv_rules, relative_paths_are_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: relative input path not native");
    cr_assert_eq(parse_args("-i C:\\m\\a.mkv -c:v libx264 -c:a aac -f hls -hls_time 3 "
                            "-hls_segment_filename t%d.ts -hls_playlist_type vod "
                            "-hls_list_size 0 C:/t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: relative -hls_segment_filename not native");
    cr_assert_str_eq(s.input, "C:\\m\\a.mkv");
}

Test(argv_rules, a_single_map_under_vn_is_the_audio_stream)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args("-i /m/a.mkv -map 0:3 -vn -c:a aac " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.video_stream, -1);
    cr_assert_eq(s.audio_stream, 3);
    cr_assert_eq(
        parse_args("-i /m/a.mkv -map 0:2 -vn -an -c:s copy /t/a.srt", &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
}

/* Jellyfin's software burn-in of a graphical (PGS/DVD) subtitle: the
 * subtitle stream and the video feed one -filter_complex graph, the video
 * map is taken back with -map -0:0 and the graph's unlabelled output is the
 * video. */
#define LINE_BURN_IN_GRAPH                                                                         \
    "[0:3]scale,scale=-1:1080:fast_bilinear,crop,pad=max(1920\\,iw):max(1080\\,ih):(ow-iw)/2:"     \
    "(oh-ih)/2:black@0,crop=1920:1080[sub];[0:0]setparams=color_primaries=bt709:color_trc=bt709:"  \
    "colorspace=bt709,scale=trunc(min(max(iw\\,ih*a)\\,1920)/2)*2:trunc(ow/a/2)*2,"                \
    "format=yuv420p[main];[main][sub]overlay=eof_action=pass:repeatlast=0"
#define LINE_BURN_IN(maps, graph)                                                                  \
    "-analyzeduration 200M -probesize 1G -canvas_size 1920x1080 -i file:\"/m/a b.mkv\" "           \
    "-map_metadata -1 -map_chapters -1 -threads 0 " maps " " LINE_VIDEO "-filter_complex \"" graph \
    "\" -start_at_zero -codec:a:0 libfdk_aac -ac 2 -ab 256000 "                                    \
    "-af \"volume=2\" " LINE_HLS

Test(argv_rules, graphical_subtitle_burn_in_with_filter_complex_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:0 -map 0:1 -map -0:0", LINE_BURN_IN_GRAPH), &s,
                            reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.filter_complex, 1);
    cr_assert_str_eq(s.video_filter, LINE_BURN_IN_GRAPH);
    cr_assert_eq(s.video_stream, -2, "the worker finds the video in the graph");
    cr_assert_eq(s.audio_stream, 1, "-map -0:0 leaves the audio map");
    cr_assert_eq(s.canvas_width, 1920);
    cr_assert_eq(s.canvas_height, 1080);
    cr_assert_str_eq(s.audio_codec, "aac");

    /* A labelled output mapped by name. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map [out] -map 0:1", LINE_BURN_IN_GRAPH "[out]"), &s,
                            reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.audio_stream, 1);
}

/* Jellyfin's line for an external graphical subtitle burned in (10.9 to
 * 10.11, EncodingHelper.GetInputArgument and GetMapArgs): the subtitle
 * file is a second input with its own probe options, -ss and -canvas_size,
 * the graph reads it as [1:0], the void "-map 1:0 -sn" is there, and
 * -start_at_zero is left out. */
#define LINE_EXTERNAL_SUB(seek, sub_options, maps, graph)                                          \
    "-analyzeduration 200M -probesize 1G " seek                                                    \
    "-canvas_size 1920x1080 -i file:\"/m/a b.mkv\" " sub_options                                   \
    "-i file:\"/m/a b.en.sup\" -map_metadata -1 -map_chapters -1 -threads 0 " maps " " LINE_VIDEO  \
    "-filter_complex \"" graph "\" -copyts -avoid_negative_ts disabled "                           \
    "-codec:a:0 libfdk_aac -ac 2 -ab 256000 -af \"volume=2\" " LINE_HLS
#define LINE_EXTERNAL_GRAPH                                                                        \
    "[1:0]scale,scale=-1:1080:fast_bilinear,crop,pad=max(1920\\,iw):max(1080\\,ih):(ow-iw)/2:"     \
    "(oh-ih)/2:black@0,crop=1920:1080[sub];[0:0]format=yuv420p[main];"                             \
    "[main][sub]overlay=eof_action=pass:repeatlast=0"

Test(argv_rules, an_external_graphical_subtitle_burned_in_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_EXTERNAL_SUB("-ss 00:01:00.000 ",
                                              "-analyzeduration 100M -probesize 50M "
                                              "-ss 00:01:00.000 -canvas_size 1280x720 ",
                                              "-map 0:0 -map 0:1 -map 1:0 -sn -map -0:0",
                                              LINE_EXTERNAL_GRAPH),
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.input, "/m/a b.mkv");
    cr_assert_str_eq(s.subtitle_input, "/m/a b.en.sup");
    cr_assert_eq(s.subtitle_analyzeduration_us, 100000000);
    cr_assert_eq(s.subtitle_probesize, 50000000);
    cr_assert_eq(s.seek_us, 60000000);
    cr_assert_eq(s.canvas_width, 1280, "the canvas the subtitle input's stream is drawn on");
    cr_assert_eq(s.canvas_height, 720);
    cr_assert_eq(s.filter_complex, 1);
    cr_assert_eq(s.audio_stream, 1);
    cr_assert_eq(s.copyts, 1);
    cr_assert_eq(s.start_at_zero, 0);
    struct job_spec copy;
    char err[256];
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
    size_t len;
    uint8_t *packed = job_spec_pack(&s, &len);
    cr_assert_not_null(packed);
    cr_assert_eq(job_spec_unpack(packed, len, &copy, err, sizeof(err)), 0, "%s", err);
    free(packed);
    cr_assert_str_eq(copy.subtitle_input, "/m/a b.en.sup");
    cr_assert_eq(copy.subtitle_analyzeduration_us, 100000000);
    cr_assert_eq(copy.subtitle_probesize, 50000000);

    /* No seek, no options, no void map: still the burn-in. */
    cr_assert_eq(parse_args(LINE_EXTERNAL_SUB("", "", "-map 0:1", LINE_EXTERNAL_GRAPH), &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.subtitle_analyzeduration_us, JOB_SPEC_UNSET);
    cr_assert_eq(s.canvas_width, 0, "-canvas_size before the first input is not the subtitle's");
}

Test(argv_rules, a_second_input_used_otherwise_goes_to_the_worker_cli)
{
    static struct job_spec s;
    char reason[256];
    /* External audio: Jellyfin's -ss -i AUDIO, mapped as the output's audio. */
    cr_assert_eq(parse_args("-ss 00:00:10.000 -i file:\"/m/a.mkv\" -ss 00:00:10.000 "
                            "-i \"/m/a.fr.mka\" -map 0:0 -map 1:0 -map -0:s " LINE_VIDEO
                            "-codec:a:0 aac -ac 2 -ab 256000 " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map 1:0: a second input's stream in the output "
                             "(external audio or subtitles) not native");
    /* External audio beside an external subtitle burned in: three inputs. */
    static const char three[] =
        "-i file:/m/a.mkv -i file:/m/a.sup -i /m/a.mka -map 2:0 -map 1:0 -sn " LINE_VIDEO
        "-filter_complex \"[1:0]scale[sub];[0:0][sub]overlay\" -codec:a:0 aac " LINE_HLS;
    cr_assert_eq(parse_args(three, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: more than two inputs not native");
    /* A subtitle file muxed into the output (-map 1:0 without -sn). */
    cr_assert_eq(parse_args(LINE_EXTERNAL_SUB("", "", "-map 0:1 -map 1:0", LINE_EXTERNAL_GRAPH), &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map 1:0: a second input's stream in the output "
                             "(external audio or subtitles) not native");
    /* A second input the graph does not read. */
    cr_assert_eq(parse_args(LINE_EXTERNAL_SUB("", "", "-map 0:1", LINE_BURN_IN_GRAPH), &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: a second input not read by -filter_complex not native");
    /* Seeked unlike the first input. */
    cr_assert_eq(parse_args(LINE_EXTERNAL_SUB("-ss 60 ", "", "-map 0:1", LINE_EXTERNAL_GRAPH), &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason,
                     "passthrough: a second input seeked unlike the first (-ss) not native");
    /* An option Jellyfin never writes there: an output option, then a second -i. */
    cr_assert_eq(parse_args(LINE_EXTERNAL_SUB("", "-itsoffset 2 ", "-map 0:1", LINE_EXTERNAL_GRAPH),
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

Test(argv_rules, filter_complex_shapes_outside_the_native_path)
{
    static struct job_spec s;
    char reason[256];
    /* The video map left in place: ffmpeg would write two video streams. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:0 -map 0:1", LINE_BURN_IN_GRAPH), &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason,
                     "passthrough: a mapped video stream beside -filter_complex not native");
    /* A graph reading a second input the line does not give. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1", "[1:0]scale=640:-2[sub];[0:0][sub]overlay"),
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -filter_complex reading a second input not native");
    /* Hardware filters are filter names: the graph goes to a worker that
     * has them and their device (routing), as written. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1", "[0:3]scale[sub];[0:0]hwupload_cuda[main];"
                                                     "[main][sub]overlay_cuda"),
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    /* A -map [label] that is not the graph's output: the CLI fails, so the
     * local ffmpeg gets the line and says why. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map [main] -map 0:1", LINE_BURN_IN_GRAPH "[out]"), &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map [main] is not the -filter_complex output");
    /* A labelled output nobody maps. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1", LINE_BURN_IN_GRAPH "[out]"), &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -filter_complex output label not mapped");
    /* The graph's output mapped after the audio: it would be stream 1. */
    cr_assert_eq(parse_args(LINE_BURN_IN("-map 0:1 -map [out]", LINE_BURN_IN_GRAPH "[out]"), &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map [out] not native");
    cr_assert_eq(parse_args("-canvas_size big " LINE_NATIVE, &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: cannot read -canvas_size value 'big'");
}

/* Jellyfin's line for a source without audio (GetMapArgs: "-map 0:V -map
 * -0:a -map -0:s", then no audio options at all): video only, as with -an,
 * in HLS, progressive, remux and burn-in shapes. */
#define LINE_NO_AUDIO_MAPS                                                                         \
    "-map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map -0:a -map -0:s "

Test(argv_rules, a_source_without_audio_unmaps_it_and_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args(LINE_INPUT LINE_NO_AUDIO_MAPS LINE_VIDEO LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+no audio");
    cr_assert_eq(s.video_stream, 0);
    cr_assert_eq(s.audio_stream, -1);
    cr_assert_str_eq(s.audio_codec, "");

    cr_assert_eq(parse_args(LINE_INPUT LINE_NO_AUDIO_MAPS
                            "-codec:v:0 copy -start_at_zero " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS copy+no audio");

    cr_assert_eq(parse_args("-i file:\"/m/a.mkv\" -map 0:0 -map -0:a -map -0:s -codec:v:0 libx264 "
                            "-force_key_frames \"expr:gte(t,n_forced*5)\" -preset veryfast "
                            "-crf 23 -map_metadata -1 -map_chapters -1 -threads 0 -f mp4 "
                            "-movflags frag_keyframe+empty_moov+delay_moov -y \"/t/a.mp4\"",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: progressive libx264+no audio");
    cr_assert_eq(s.audio_stream, -1);

    /* Burn-in on a source without audio: the video map is taken back for
     * the graph, and no map is left. */
    cr_assert_eq(parse_args("-canvas_size 1920x1080 -i file:\"/m/a b.mkv\" " LINE_NO_AUDIO_MAPS
                            "-map -0:0 " LINE_VIDEO "-filter_complex \"" LINE_BURN_IN_GRAPH
                            "\" -start_at_zero " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.filter_complex, 1);
    cr_assert_eq(s.audio_stream, -1);
}

/* -map -0:a takes out the audio of the maps before it, not of those after
 * it; with no -map before it ffmpeg 5.1 fails ("Stream map '0:a' matches
 * no streams"), which the local ffmpeg says in its own words. */
Test(argv_rules, unmapping_audio_acts_on_the_maps_before_it)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_INPUT
                            "-map 0:0 -map 0:1 -map -0:a " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+no audio");
    cr_assert_eq(s.video_stream, 0);

    cr_assert_eq(parse_args(LINE_INPUT
                            "-map 0:0 -map -0:a -map 0:1 " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+aac");
    cr_assert_eq(s.audio_stream, 1);
    cr_assert_eq(parse_args(LINE_INPUT "-map 0:0 -map -0:a -map 0:1 " LINE_VIDEO LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: no audio codec given");

    cr_assert_eq(
        parse_args(LINE_INPUT "-map -0:a " LINE_VIDEO LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -map -0:a without a -map before it");
    cr_assert_eq(parse_args("-i /m/a.mkv -vn -map 0:1 -map -0:a -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: neither video nor audio output");
}

Test(argv_rules, values_with_si_suffixes_and_durations)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-probesize 1Gi -analyzeduration 1.5M -ss 1:30.25 -noaccurate_seek "
                            "-noautorotate -fflags +genpts -i /m/a.mkv -map 0:0 -map 0:1 "
                            "-c:v libx264 -b:v 2.5M -c:a aac -b:a 128k -ar 48000 " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.probesize, 1073741824);
    cr_assert_eq(s.analyzeduration_us, 1500000);
    cr_assert_eq(s.seek_us, 90250000);
    cr_assert_eq(s.accurate_seek, 0);
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.genpts, 1);
    cr_assert_eq(s.video_bitrate, 2500000);
    cr_assert_eq(s.audio_bitrate, 128000);
    cr_assert_eq(s.audio_sample_rate, 48000);
    cr_assert_str_eq(s.input, "/m/a.mkv");

    cr_assert_eq(parse_args("-ss 500ms -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.seek_us, 500000);
}

Test(argv_rules, seek_keyframe_expression_with_offset_is_accepted)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-ss 00:00:30.000 -i /m/a.mkv -c:v libx264 "
                            "-force_key_frames:0 \"expr:gte(t,30+n_forced*3)\" -c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
}

Test(argv_rules, keyframe_interval_must_match_hls_time)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -force_key_frames \"expr:gte(t,n_forced*2)\" "
                            "-c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "-hls_time"), "%s", reason);
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -force_key_frames 0,3,6 -c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

Test(argv_rules, fmp4_copy_and_progressive_are_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f hls -hls_time 3 "
                            "-hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 "
                            "-hls_segment_filename /t/a%d.mp4 -hls_playlist_type vod "
                            "-hls_list_size 0 /t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.init_filename, "init.mp4");

    cr_assert_eq(parse_args("-i /m/a.mkv -c copy " LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_codec, "copy");
    cr_assert_str_eq(s.audio_codec, "copy");

    /* A recording (.ts) copied into fMP4: Jellyfin adds -bsf:a aac_adtstoasc,
     * which the worker applies wherever AAC is copied into MP4. */
    cr_assert_eq(parse_args("-i /m/rec.ts -map 0:0 -map 0:1 -codec:v:0 copy -tag:v:0 avc1 "
                            "-codec:a:0 copy -bsf:a aac_adtstoasc -f hls -hls_time 3 "
                            "-hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 "
                            "-hls_segment_filename /t/a%d.mp4 -hls_playlist_type vod "
                            "-hls_list_size 0 /t/a.m3u8",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(parse_args("-i /m/a.mkv -c copy -strict -2 " LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.strict, -2, "-strict reaches the muxers");
    cr_assert_eq(parse_args("-i /m/a.mkv -c copy -strict experimental " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.strict, -2);
    cr_assert_eq(parse_args("-i /m/a.mkv -c copy -strict 3 " LINE_HLS, &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c copy -bsf:a noise " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason,
                     "passthrough: -bsf:a noise not native (only -bsf:v and aac_adtstoasc)");

    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -movflags "
                            "frag_keyframe+empty_moov+delay_moov -f mp4 /t/a.mp4",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_str_eq(s.output_format, "mp4");
    cr_assert_str_eq(s.movflags, "frag_keyframe+empty_moov+delay_moov");

    cr_assert_eq(
        parse_args("-i /m/a.flac -vn -c:a libmp3lame /t/a.mp3", &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.output_format, "mp3", "guessed from the extension");

    /* Jellyfin's mp3 tags are what the worker writes; others are not. */
    cr_assert_eq(parse_args("-i /m/a.flac -vn -c:a libmp3lame -id3v2_version 3 -write_id3v1 1 "
                            "/t/a.mp3",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(parse_args("-i /m/a.flac -vn -c:a libmp3lame -id3v2_version 4 /t/a.mp3", &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);

    /* What the pipeline cannot write stays with a local ffmpeg. */
    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f webm /t/a.webm", &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: progressive output format webm not native");
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v libx264 -c:a opus " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
}

/* Jellyfin's progressive audio for a client that asks for .m4a
 * (GetProgressiveAudioFullCommandLine): no -f, so ffmpeg picks the ipod
 * muxer by the extension, as it does for .m4b and .m4v; the pipeline writes
 * it with the codecs the ipod muxer takes. */
Test(argv_rules, m4a_m4b_and_m4v_are_the_ipod_muxer_as_in_ffmpeg)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-analyzeduration 200M -probesize 1G -i file:\"/m/a song.flac\" "
                            "-threads 0 -vn -ab 256000 -ac 2 -acodec aac -ar 48000 "
                            "-movflags empty_moov+delay_moov -id3v2_version 3 -write_id3v1 1 "
                            "-y \"/t/0f3c.m4a\"",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: progressive no video+aac");
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_str_eq(s.output_format, "ipod");
    cr_assert_str_eq(s.movflags, "empty_moov+delay_moov");
    cr_assert_eq(s.audio_sample_rate, 48000);

    cr_assert_eq(parse_args("-i /m/a.flac -vn -acodec ac3 -y /t/a.m4b", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.output_format, "ipod");
    cr_assert_eq(parse_args("-i /m/a.mkv -map 0:0 -map 0:1 -codec:v:0 libx264 -codec:a:0 copy "
                            "-map_metadata -1 -map_chapters -1 -threads 0 -y /t/a.m4v",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.output_format, "ipod", ".m4v is ipod in ffmpeg too, not mp4");
    cr_assert_eq(
        parse_args("-i /m/a.flac -vn -acodec aac -f ipod /t/a.mp4", &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.output_format, "ipod");

    /* The ipod muxer has no tag for MP3: the CLI fails, in its own words. */
    cr_assert_eq(
        parse_args("-i /m/a.flac -vn -acodec libmp3lame -y /t/a.m4a", &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: audio codec libmp3lame into ipod not native");
}

/* A client's frame-rate cap (GetFramerateParam): -r N among the video
 * options and fps=N first in -vf. With every filter after fps=N handing on
 * one frame per frame, the graph makes the frames -r asks for and the line
 * is native; any other -r stays with the CLI, which duplicates and drops. */
#define LINE_RATE_VIDEO(rate, chain)                                                               \
    "-codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 4150796 -bufsize 8301592 -r " rate       \
    " -profile:v:0 high -level 51 -force_key_frames:0 \"expr:gte(t,n_forced*3)\" "                 \
    "-sc_threshold:v:0 0 -vf \"fps=" rate "," chain "\" "
#define LINE_RATE_CHAIN                                                                            \
    "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\\,"   \
    "ih*a)\\,min(1280\\,720*a))/2)*2:trunc(min(max(iw/a\\,ih)\\,min(1280/a\\,720))/2)*2,"          \
    "format=yuv420p"

Test(argv_rules, a_frame_rate_cap_with_fps_first_in_the_chain_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args(LINE_INPUT LINE_STREAMS LINE_RATE_VIDEO("60", LINE_RATE_CHAIN)
                                LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS libx264+aac");
    cr_assert(starts_with(s.video_filter, "fps=60,setparams="), "%s", s.video_filter);
    /* A float cap as .NET prints it, and a deinterlacer in its frame mode. */
    cr_assert_eq(parse_args(LINE_INPUT LINE_STREAMS LINE_RATE_VIDEO(
                                "29.969999313354492",
                                "setparams=color_primaries=bt709,bwdif=0:-1:0," LINE_RATE_CHAIN)
                                LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    /* A hardware chain after fps. */
    cr_assert_eq(parse_args(LINE_INPUT LINE_STREAMS LINE_RATE_VIDEO(
                                "30", "hwupload=extra_hw_frames=64,scale_vulkan=w=1280:h=720,"
                                      "hwdownload,format=yuv420p") LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
}

Test(argv_rules, other_frame_rate_caps_stay_with_the_cli)
{
    static const struct {
        const char *video, *reason;
    } cases[] = {
        {"-codec:v:0 libx264 -r 30 -vf \"" LINE_RATE_CHAIN "\" ",
         "-r 30 without fps=30 first in -vf not native"},
        {"-codec:v:0 libx264 -r 30 ", "-r 30 without fps=30 first in -vf not native"},
        {"-codec:v:0 libx264 -r 30 -vf \"fps=25," LINE_RATE_CHAIN "\" ",
         "-r 30 without fps=30 first in -vf not native"},
        {"-codec:v:0 libx264 -r 30 -vf \"fps=30:round=up," LINE_RATE_CHAIN "\" ",
         "-r 30 without fps=30 first in -vf not native"},
        /* Double-rate deinterlacing after fps makes 60 frames a second. */
        {LINE_RATE_VIDEO("30", "bwdif=1:-1:0," LINE_RATE_CHAIN),
         "-r 30 with bwdif=1:-1:0 after fps in -vf not native"},
        {LINE_RATE_VIDEO("30", "deinterlace_vaapi=rate=field"),
         "-r 30 with deinterlace_vaapi=rate=field after fps in -vf not native"},
        {LINE_RATE_VIDEO("30", "setpts=PTS-STARTPTS"),
         "-r 30 with setpts=PTS-STARTPTS after fps in -vf not native"},
        {"-codec:v:0 copy -r 30 ", "-r without a native video encoder not native"},
        {"-codec:v:0 libx264 -r 30000/1001 -vf \"fps=30000/1001\" ",
         "cannot read -r value '30000/1001'"},
        {"-codec:v:0 libx264 -r:v 0 -vf \"fps=0\" ", "cannot read -r:v value '0'"},
    };
    static struct job_spec s;
    char line[4096], reason[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(line, sizeof(line), "%s%s%s%s", LINE_INPUT LINE_STREAMS, cases[i].video,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     cases[i].video, reason);
        cr_expect(strcmp(reason + strlen("passthrough: "), cases[i].reason) == 0,
                  "%s: reason \"%s\"", cases[i].video, reason);
    }
    cr_assert_eq(
        parse_args("-canvas_size 1920x1080 -i /m/a.mkv -map 0:0 -map 0:1 -map -0:0 "
                   "-codec:v:0 libx264 -r 30 -filter_complex \"[0:3]scale[sub];[0:0]fps=30,"
                   "scale[main];[main][sub]overlay\" -codec:a:0 aac " LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -r with -filter_complex not native");
    cr_assert_eq(parse_args("-r 30 " LINE_NATIVE, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -r before -i not native");
}

Test(argv_rules, unknown_options_and_urls_are_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -foo 1 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: unknown option -foo");

    /* An HTTP URL is native (live TV, .strm: test_pipeline_url.c), but not
     * Jellyfin's own loopback address, nor another protocol. */
    cr_assert_eq(parse_args("-i http://host/live.ts " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.input, "http://host/live.ts");
    cr_assert_eq(parse_args("-i http://127.0.0.1:8096/live.ts " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: input is on Jellyfin's own loopback address");
    cr_assert_eq(parse_args("-i rtp://host:5004 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: input is neither a local file nor an HTTP URL");
}

Test(argv_rules, probes_and_the_pause_key_check_are_passthrough)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-version", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: probe -version");
    cr_assert_eq(parse_args("-hide_banner -encoders", &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_eq(parse_args("-h filter=scale_cuda", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_eq(parse_args("-hide_banner -f lavfi -i nullsrc=s=1x1:d=10000 -f null -", &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_not_null(strstr(reason, "lavfi"), "%s", reason);
}

/* Jellyfin's VAAPI and Vulkan checks (EncoderValidator.cs) read ffmpeg's
 * verbose stderr from lines with no input and no output: such a line is a
 * device check job, answered by a worker with the device. */
Test(argv_rules, device_checks_are_device_check_jobs)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-v verbose -hide_banner -init_hw_device drm=dr:/dev/dri/renderD128 "
                            "-init_hw_device vulkan=vk@dr",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: device check of 2 devices");
    cr_assert_eq(s.output_kind, JOB_OUTPUT_DEVICE_CHECK);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[0], "drm=dr:/dev/dri/renderD128");
    cr_assert_str_eq(s.hw_devices[1], "vulkan=vk@dr");
    cr_assert_str_eq(s.input, "");
    cr_assert_str_eq(s.output, "");

    const char *checks[] = {
        "-v verbose -hide_banner -init_hw_device vaapi=va:/dev/dri/renderD128",
        "-hide_banner -loglevel verbose -init_hw_device vulkan=vk",
        "-init_hw_device opencl=ocl -init_hw_device vulkan=vk -v verbose -hide_banner",
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        cr_assert_eq(parse_args(checks[i], &s, reason, sizeof(reason)), ARGV_NATIVE, "%s: %s",
                     checks[i], reason);
        cr_assert_eq(s.output_kind, JOB_OUTPUT_DEVICE_CHECK, "%s", checks[i]);
    }
}

/* What a worker prints for a device check is the CLI's stderr for exactly
 * that shape; any other line without an output is the local ffmpeg's. */
Test(argv_rules, other_lines_without_output_go_to_the_local_ffmpeg)
{
    static struct job_spec s;
    char reason[256];
    const char *lines[] = {
        "-v verbose -init_hw_device vulkan=vk",            /* banner printed */
        "-v debug -hide_banner -init_hw_device vulkan=vk", /* another log level */
        "-hide_banner -init_hw_device vulkan=vk",          /* the default level */
        "-v verbose -hide_banner -v verbose -init_hw_device vulkan=vk",
        "-v verbose -hide_banner",                              /* no device */
        "-v verbose -hide_banner -init_hw_device vulkan=vk -y", /* anything else */
        "-v verbose -hide_banner -init_hw_device list",
        "-v verbose -hide_banner -init_hw_device d3d11va=dx", /* no Linux worker has it */
        "-hide_banner -i /m/a.mkv",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert_eq(parse_args(lines[i], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     lines[i], reason);
    cr_assert_eq(parse_args(lines[0], &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(
        reason, "passthrough: no output file and not a device check: the local ffmpeg answers");
    cr_assert_eq(parse_args("-v verbose -hide_banner -init_hw_device vulkan=vk "
                            "-init_hw_device vulkan=vk",
                            &s, reason, sizeof(reason)),
                 ARGV_REFUSE, "%s", reason);
    cr_assert_eq(parse_args("-v verbose -init_hw_device vulkan=vk -i", &s, reason, sizeof(reason)),
                 ARGV_REFUSE, "a missing value is still refused");
}

/* A Jellyfin HLS remux (corpus 004's shape), with the read-rate options
 * placed before -i. */
static enum argv_decision parse_copy_with(const char *input_options, struct job_spec *spec,
                                          char *reason, size_t reasonlen)
{
    char line[2048];
    snprintf(line, sizeof(line),
             "-analyzeduration 200M -probesize 1G %s -fflags +genpts -f matroska "
             "-i file:/m/a.mkv -map 0:0 -map 0:1 -codec:v:0 copy -start_at_zero "
             "-codec:a:0 copy %s",
             input_options, LINE_HLS);
    return parse_args(line, spec, reason, reasonlen);
}

Test(argv_rules, readrate_and_readrate_catchup_reach_the_spec)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_copy_with("", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.readrate, 0, "no limit unless asked");
    cr_assert_eq(s.readrate_catchup, 0);

    /* Segment deletion on a stream copy (EncodingHelper.cs:7258-7268). */
    cr_assert_eq(parse_copy_with("-readrate 10", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    cr_assert_eq(s.readrate, 10);
    cr_assert_eq(s.readrate_catchup, 0, "ffmpeg before 8.0: no catch-up bound");

    /* Reported version >= 8.0 adds the catch-up, 100 x the rate. */
    cr_assert_eq(parse_copy_with("-readrate 10 -readrate_catchup 1000", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.readrate, 10);
    cr_assert_eq(s.readrate_catchup, 1000);
    cr_assert_eq(parse_copy_with("-readrate_catchup 1000 -readrate 10", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "order does not matter: %s", reason);
    cr_assert_eq(s.readrate_catchup, 1000);

    /* -re is rate 1 (Live TV's native frame rate), and -readrate wins. */
    cr_assert_eq(parse_copy_with("-re -readrate_catchup 100", &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.readrate, 1);
    cr_assert_eq(s.readrate_catchup, 100);
    cr_assert_eq(parse_copy_with("-re -readrate 2.5", &s, reason, sizeof(reason)), ARGV_NATIVE,
                 "%s", reason);
    cr_assert_eq(s.readrate, 2.5);

    /* ffmpeg 8.0 ignores a catch-up without a rate; so does the spec. */
    cr_assert_eq(parse_copy_with("-readrate_catchup 1000", &s, reason, sizeof(reason)), ARGV_NATIVE,
                 "%s", reason);
    cr_assert_eq(s.readrate, 0);
    cr_assert_eq(s.readrate_catchup, 0);
    cr_assert_eq(parse_copy_with("-readrate 0", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    cr_assert_eq(s.readrate, 0);
}

Test(argv_rules, invalid_read_rates_are_refused_like_ffmpeg)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_copy_with("-readrate -1", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -readrate is -1.000; it must be non-negative");
    cr_assert_eq(parse_copy_with("-readrate ten", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: expected a number for -readrate but found 'ten'");
    cr_assert_eq(parse_copy_with("-readrate 10 -readrate_catchup 5", &s, reason, sizeof(reason)),
                 ARGV_REFUSE);
    cr_assert_str_eq(reason,
                     "refuse: -readrate_catchup is 5.000; it must be at least equal to 10.000");
    cr_assert_eq(
        parse_copy_with("-readrate 10 -readrate_catchup -1000", &s, reason, sizeof(reason)),
        ARGV_REFUSE);
    cr_assert_eq(parse_copy_with("-re -readrate_catchup 0.5", &s, reason, sizeof(reason)),
                 ARGV_REFUSE, "-re is rate 1: %s", reason);
    cr_assert_eq(parse_copy_with("-readrate_catchup fast", &s, reason, sizeof(reason)),
                 ARGV_REFUSE);
    cr_assert_eq(parse_copy_with("-readrate nan", &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_eq(parse_copy_with("-readrate \"\"", &s, reason, sizeof(reason)), ARGV_REFUSE);
    /* A number with a tail this parser does not read: the real ffmpeg
     * decides. SI prefixes are read as ffmpeg reads them. */
    cr_assert_eq(parse_copy_with("-readrate 10x", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_eq(parse_copy_with("-readrate 1k", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    cr_assert_eq(s.readrate, 1000);
    /* -re and -readrate are input options: after -i ffmpeg rejects them. */
    cr_assert_eq(
        parse_args("-i /m/a.mkv -readrate 10 -c copy " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_PASSTHROUGH);
}

/* Progressive transcodes (EncodingHelper.cs:7638-7643) ask for a keyframe
 * every 5 s for seeking; HLS lines carry the segment length there. */
Test(argv_rules, force_key_frames_sets_the_keyframe_interval)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i file:/m/a.mkv -map 0:0 -map 0:1 -codec:v:0 libx264 -preset "
                            "veryfast -crf 23 -force_key_frames \"expr:gte(t,n_forced*5)\" "
                            "-codec:a:0 aac -ac 2 -ab 192000 -f mp4 -movflags "
                            "frag_keyframe+empty_moov+delay_moov -y /t/a.mp4",
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_eq(s.keyframe_interval_us, 5000000);

    cr_assert_eq(parse_args("-i /m/a.mkv -c:v libx264 -c:a aac -f matroska /t/a.mkv", &s, reason,
                            sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.keyframe_interval_us, JOB_SPEC_UNSET, "the encoder's own GOP");

    cr_assert_eq(parse_args(LINE_NATIVE, &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.keyframe_interval_us, 3000000);
    cr_assert_eq(s.keyframe_interval_us, s.hls_time_us);
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.keyframe_interval_us, JOB_SPEC_UNSET);
}

Test(argv_rules, hls_checks_refuse_what_the_pool_cannot_number)
{
    static struct job_spec s;
    char reason[256];
    const char *tail = "-i /m/a.mkv -c:v libx264 -c:a aac -f hls -hls_playlist_type vod "
                       "-hls_list_size 0 ";
    char line[1024];

    snprintf(line, sizeof(line), "%s-hls_time 0 -hls_segment_filename /t/a%%d.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_str_eq(reason, "refuse: -hls_time must be positive");

    snprintf(line, sizeof(line), "%s-hls_time -3 -hls_segment_filename /t/a%%d.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a%%d%%d.ts /t/a.m3u8",
             tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);
    cr_assert_not_null(strstr(reason, "%d"), "%s", reason);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a%%s.ts /t/a.m3u8", tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE);

    snprintf(line, sizeof(line), "%s-hls_time 3 -hls_segment_filename /t/a%%05d-%%%%.ts /t/a.m3u8",
             tail);
    cr_assert_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
}
