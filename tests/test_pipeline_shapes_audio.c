/* test_pipeline_shapes_audio.c -- Jellyfin's audio and live-TV shapes that
 * the shim's parser takes natively since issue 14, each run by the pipeline
 * and by the ffmpeg CLI on the same argv (shapes_test_lib.h):
 *   - the audio encoders a client's profile can ask for besides aac, mp3
 *     and ac3: eac3 (6-channel sources), libopus, flac, alac, libvorbis;
 *   - "VBR audio encoding" (EncodingHelper.GetAudioVbrModeParam):
 *     -qscale:a N for libmp3lame and libvorbis, -abr:a 1 -b:a R for lame;
 *   - a tuner's live-TV line: input -fflags +igndts+genpts, the bare
 *     -flags -global_header, an event playlist of MPEG-TS segments.
 * Each test makes the clip it needs in a folder of its own. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "pipeline_test_lib.h"
#include "shapes_test_lib.h"

/* 320x180 at 25 fps with a 1 kHz tone at 48 kHz in `channels` channels
 * (AAC), 10 s, a keyframe every 90 frames, in dir/name. An MP4, whose video
 * times lie on the 1/25 s grid as the CLI writes them: from a Matroska
 * source (1 ms) the CLI moves each frame onto that grid and the pipeline
 * keeps its time, and an audio packet within that shift of a cut (19 ms
 * here) lands in the other segment. */
static void make_tone_clip(char *out, size_t len, const char *dir, const char *name, int channels)
{
    char args[256];
    snprintf(args, sizeof(args), "-c:v libx264 -preset veryfast -g 90 -c:a aac -ac %d", channels);
    make_clip(out, len, dir, name,
              "-f lavfi -i testsrc2=size=320x180:rate=25 -f lavfi -i sine=frequency=1000:"
              "sample_rate=48000",
              args);
}

/* Jellyfin's HLS line (10.11, software video) with the audio options
 * given (%3$s) and its segment options (%4$s), segments seg%d.<%5$s>. */
#define LINE_AUDIO_HLS                                                                             \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -map_metadata -1 -map_chapters -1 "      \
    "-threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 "          \
    "-maxrate 3616000 -bufsize 7232000 -profile:v:0 high -level 51 "                               \
    "-force_key_frames:0 \"expr:gte(t,n_forced*3)\" -sc_threshold:v:0 0 "                          \
    "-vf \"format=yuv420p\" %3$s -copyts -avoid_negative_ts disabled "                             \
    "-max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 %4$s -start_number 0 "      \
    "-hls_segment_filename \"%2$s/seg%%d.%5$s\" -hls_playlist_type vod -hls_list_size 0 "          \
    "-y \"%2$s/main.m3u8\""

#define TS_SEGMENTS "-hls_segment_type mpegts", "ts"
#define FMP4_SEGMENTS                                                                              \
    "-hls_segment_type fmp4 -hls_fmp4_init_filename \"main-1.mp4\" "                               \
    "-hls_segment_options movflags=+frag_discont",                                                 \
        "mp4"

/* The codec, sample format, rate and channels of the audio in path. */
static void audio_stream_facts(const char *path, char *out, size_t len)
{
    char command[1024];
    snprintf(command, sizeof(command),
             "ffprobe -v error -select_streams a -show_entries "
             "stream=codec_name,sample_fmt,sample_rate,channels -of csv=p=0 '%s'",
             path);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    if (fgets(out, (int)len, p) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

/* Runs the HLS line with `audio` natively and by the CLI from a clip with
 * `channels` channels, and compares them: the CLI's segments, frames and
 * audio packets, and the CLI's audio stream in segment 0 (expect, if not
 * NULL, is what that must be). */
static void check_audio_hls(const char *name, int channels, const char *audio,
                            const char *segment_options, const char *extension, const char *reason,
                            const char *expect)
{
    char dir[600], cli_dir[600], input[700], line[8192], path[700], ours[128], cli[128];
    char cli_name[64];
    snprintf(cli_name, sizeof(cli_name), "%s-cli", name);
    output_dir(dir, sizeof(dir), name);
    output_dir(cli_dir, sizeof(cli_dir), cli_name);
    make_tone_clip(input, sizeof(input), dir, "tone.mp4", channels);

    struct job_spec spec;
    snprintf(line, sizeof(line), LINE_AUDIO_HLS, input, dir, audio, segment_options, extension);
    parse_native(line, &spec, reason);
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    snprintf(line, sizeof(line), LINE_AUDIO_HLS, input, cli_dir, audio, segment_options, extension);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    int frames = expect_hls_like_the_cli(dir, cli_dir, &c, FRAME_S / 2);
    cr_expect_eq(c.count, 4, "%d segments for 10 s at T=3", c.count);
    cr_expect_eq(frames, 250, "%d frames in all segments", frames);

    if (strcmp(extension, "mp4") == 0) {
        snprintf(path, sizeof(path), "%s/main-1.mp4", dir);
        audio_stream_facts(path, ours, sizeof(ours));
        snprintf(path, sizeof(path), "%s/main-1.mp4", cli_dir);
        audio_stream_facts(path, cli, sizeof(cli));
    } else {
        snprintf(path, sizeof(path), "%s/seg0.ts", dir);
        audio_stream_facts(path, ours, sizeof(ours));
        snprintf(path, sizeof(path), "%s/seg0.ts", cli_dir);
        audio_stream_facts(path, cli, sizeof(cli));
    }
    cr_expect_str_eq(ours, cli, "audio \"%s\", the CLI's \"%s\"", ours, cli);
    if (expect != NULL)
        cr_expect_str_eq(ours, expect);
}

Test(pipeline, eac3_audio_for_a_6_channel_source_makes_the_clis_segments)
{
    check_audio_hls("eac3", 6, "-codec:a:0 eac3 -ac 6 -ab 640000", TS_SEGMENTS,
                    "native: HLS libx264+eac3", "eac3,fltp,48000,6");
}

Test(pipeline, opus_audio_in_fmp4_makes_the_clis_segments)
{
    check_audio_hls("opus", 2, "-codec:a:0 libopus -ac 2 -ab 128000", FMP4_SEGMENTS,
                    "native: HLS libx264+libopus", "opus,fltp,48000,2");
}

Test(pipeline, flac_audio_in_fmp4_makes_the_clis_segments)
{
    /* ffmpeg 5.1 writes FLAC into MP4 only with -strict -2 (Jellyfin's). */
    check_audio_hls("flac", 2, "-codec:a:0 flac -strict -2 -ac 2", FMP4_SEGMENTS,
                    "native: HLS libx264+flac", NULL);
}

/* ---- progressive audio ----------------------------------------------------------------- */

/* Jellyfin's progressive audio line (GetProgressiveAudioFullCommandLine)
 * with the audio options given (%3$s), into out.<%4$s>. */
#define LINE_AUDIO_FILE                                                                            \
    "-analyzeduration 200M -probesize 1G -i file:\"%1$s\" -threads 0 %3$s -vn -map_metadata -1 "   \
    "-map_chapters -1 -y \"%2$s/out.%4$s\""

/* The audio bit rate ffprobe reports for path's format, in bit/s. */
static double format_bit_rate(const char *path)
{
    char command[1024];
    double rate = -1;
    snprintf(command, sizeof(command),
             "ffprobe -v error -show_entries format=bit_rate -of csv=p=0 '%s'", path);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    if (fscanf(p, "%lf", &rate) != 1)
        rate = -1;
    pclose(p);
    return rate;
}

/* Runs the progressive line with `audio` natively and by the CLI and
 * compares the files: streams, packets, duration, and bit rate within 1 %
 * (a VBR mode the encoder did not get would miss it by far more). Returns
 * our file's bit rate. */
static double check_audio_file(const char *name, const char *audio, const char *extension,
                               const char *reason, const char *expect_streams)
{
    char dir[600], cli_dir[600], input[700], line[8192], path[700], cli_path[700];
    char cli_name[64];
    snprintf(cli_name, sizeof(cli_name), "%s-cli", name);
    output_dir(dir, sizeof(dir), name);
    output_dir(cli_dir, sizeof(cli_dir), cli_name);
    make_tone_clip(input, sizeof(input), dir, "tone.mp4", 2);

    struct job_spec spec;
    snprintf(line, sizeof(line), LINE_AUDIO_FILE, input, dir, audio, extension);
    parse_native(line, &spec, reason);
    char err[512];
    struct pipeline_callbacks cb = {.segment_done = NULL};
    cr_assert_eq(pipeline_run(&spec, 0, &cb, err, sizeof(err)), PIPELINE_OK, "%s", err);

    snprintf(line, sizeof(line), LINE_AUDIO_FILE, input, cli_dir, audio, extension);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    snprintf(path, sizeof(path), "%s/out.%s", dir, extension);
    snprintf(cli_path, sizeof(cli_path), "%s/out.%s", cli_dir, extension);
    expect_file_like_the_cli(path, cli_path, 0.1);
    struct file_facts f;
    file_facts_read(path, &f);
    cr_expect_str_eq(f.streams, expect_streams);
    double ours = format_bit_rate(path), cli = format_bit_rate(cli_path);
    cr_expect_leq(fabs(ours - cli), 0.01 * cli, "%.0f bit/s, the CLI's %.0f bit/s", ours, cli);
    return ours;
}

Test(pipeline, mp3_vbr_quality_makes_the_clis_file)
{
    /* lame's VBR at quality 2 spends about 33 kbit/s on a pure tone; the
     * encoder without the option would write its 128 kbit/s CBR. */
    double vbr = check_audio_file("mp3-q2", "-qscale:a 2 -ac 2 -acodec libmp3lame", "mp3",
                                  "native: progressive no video+libmp3lame", "mp3,audio,48000,2 ");
    cr_expect_lt(vbr, 64000, "VBR at quality 2 gave %.0f bit/s", vbr);
}

Test(pipeline, mp3_abr_makes_the_clis_file)
{
    check_audio_file("mp3-abr", "-abr:a 1 -b:a 320000 -ac 2 -acodec libmp3lame", "mp3",
                     "native: progressive no video+libmp3lame", "mp3,audio,48000,2 ");
}

Test(pipeline, vorbis_vbr_quality_in_matroska_makes_the_clis_file)
{
    check_audio_file("vorbis-q4", "-qscale:a 4 -ac 2 -acodec libvorbis", "mka",
                     "native: progressive no video+libvorbis", "vorbis,audio,48000,2 ");
}

Test(pipeline, alac_in_m4a_makes_the_clis_file)
{
    check_audio_file("alac", "-ac 2 -acodec alac", "m4a", "native: progressive no video+alac",
                     "alac,audio,48000,2 ");
}

/* ---- live TV ---------------------------------------------------------------------------- */

/* A tuner's line for a copy to an event playlist of MPEG-TS segments
 * (corpus 049, 10.10): -fflags +igndts+genpts before the input, the bare
 * -flags -global_header, -start_at_zero. */
#define LINE_LIVE_COPY                                                                             \
    "-analyzeduration 3000000 -probesize 1G -fflags +igndts+genpts -i \"%1$s\" -map_metadata -1 "  \
    "-map_chapters -1 -threads 0 -sn -codec:v:0 copy -start_at_zero -flags -global_header "        \
    "-codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls "      \
    "-max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0 "                     \
    "-hls_base_url \"hls/main/\" -hls_segment_filename \"%2$s/seg%%d.ts\" "                        \
    "-hls_playlist_type event -hls_list_size 0 -y \"%2$s/main.m3u8\""

Test(pipeline, a_tuners_igndts_and_global_header_copy_makes_the_clis_segments)
{
    char dir[600], cli_dir[600], input[700], line[8192];
    output_dir(dir, sizeof(dir), "live-copy");
    output_dir(cli_dir, sizeof(cli_dir), "live-copy-cli");
    /* A tuner's MPEG-TS: a keyframe every 3 s (75 frames). */
    make_clip(input, sizeof(input), dir, "tuner.ts",
              "-f lavfi -i testsrc2=size=320x180:rate=25 -f lavfi -i sine=sample_rate=48000",
              "-c:v libx264 -preset veryfast -g 75 -c:a aac -ac 2");

    struct job_spec spec;
    snprintf(line, sizeof(line), LINE_LIVE_COPY, input, dir);
    parse_native(line, &spec, "native: HLS copy+copy");
    cr_expect_str_eq(spec.input_fflags, "+igndts");
    cr_expect(spec.genpts);
    cr_expect_str_eq(spec.audio_encoder_options, "flags=-global_header");
    struct collected c = {0};
    run_ok(&spec, 0, &c);

    snprintf(line, sizeof(line), LINE_LIVE_COPY, input, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    int frames = expect_hls_like_the_cli(dir, cli_dir, &c, 1e-3);
    cr_expect_eq(frames, 250, "%d frames in all segments", frames);
}

/* The input flags Jellyfin writes go to the job as written (the worker
 * gives them to libavformat's "fflags"); one it never writes stays with a
 * CLI, with its name in the reason. */
Test(pipeline, jellyfins_input_fflags_go_to_the_job_as_written)
{
    struct job_spec spec;
    char reason[256];
    int argc;
    char **argv;
    cr_assert_eq(
        argv_split("ffmpeg -fflags +discardcorrupt+ignidx-igndts -i file:/m/a.mkv "
                   "-codec:v:0 libx264 -codec:a:0 aac -f hls -hls_time 3 "
                   "-hls_list_size 0 -hls_playlist_type vod -hls_segment_filename /t/a%d.ts "
                   "/t/a.m3u8",
                   &argc, &argv),
        0);
    cr_assert_eq(argv_parse_job(argc, argv, &spec, reason, sizeof(reason)), ARGV_NATIVE, "%s",
                 reason);
    argv_free(argv);
    cr_expect_str_eq(spec.input_fflags, "+discardcorrupt+ignidx-igndts");

    cr_assert_eq(argv_split("ffmpeg -fflags +nobuffer -i file:/m/a.mkv -codec:v:0 libx264 "
                            "-codec:a:0 aac -f hls -hls_time 3 -hls_list_size 0 "
                            "-hls_segment_filename /t/a%d.ts /t/a.m3u8",
                            &argc, &argv),
                 0);
    cr_expect_eq(argv_parse_job(argc, argv, &spec, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    argv_free(argv);
    cr_expect(strstr(reason, "-fflags flag nobuffer not native") != NULL, "%s", reason);
}
