/* test_job_spec.c -- the job spec's protobuf round trip, segment paths and
 * validation: what the scheduler refuses before a worker ever sees it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_spec.h"

static void hls_spec(struct job_spec *s)
{
    job_spec_init(s);
    strcpy(s->input, "/media/a b.mkv");
    strcpy(s->video_codec, "libx264");
    strcpy(s->audio_codec, "copy");
    strcpy(s->video_filter, "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:-2");
    strcpy(s->output, "/t/abc.m3u8");
    strcpy(s->segment_filename, "/t/abc%d.ts");
    s->hls_time_us = 3000000;
    s->start_number = 82;
    s->seek_us = 494598000;
    s->crf = 23;
}

Test(job_spec, pack_unpack_round_trip_keeps_every_field)
{
    struct job_spec a, b;
    hls_spec(&a);
    a.playlist_type = JOB_PLAYLIST_EVENT;
    a.segment_type = JOB_SEGMENT_FMP4;
    a.audio_channels = 2;
    a.filter_complex = 1;
    a.strict = -2;
    a.canvas_width = 1920;
    a.canvas_height = 1080;
    strcpy(a.requires, "hwaccel:vaapi encoder:h264_vaapi");
    size_t len;
    uint8_t *bytes = job_spec_pack(&a, &len);
    cr_assert_not_null(bytes);
    char err[256];
    cr_assert_eq(job_spec_unpack(bytes, len, &b, err, sizeof(err)), 0, "%s", err);
    free(bytes);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "round trip changed the spec");
}

Test(job_spec, validate_checks_filter_complex_and_canvas)
{
    struct job_spec s;
    char err[256];
    hls_spec(&s);
    s.filter_complex = 1;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
    strcpy(s.video_codec, "copy");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "a graph into a copied stream");
    strcpy(s.video_codec, "libx264");
    s.video_filter[0] = '\0';
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "filter_complex without a graph");
    hls_spec(&s);
    s.canvas_width = 1920;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "a canvas width without a height");
    s.canvas_height = -5;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
    s.canvas_height = 1080;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
}

Test(job_spec, segment_path_formats_the_index)
{
    struct job_spec s;
    hls_spec(&s);
    char out[JOB_SPEC_PATH_MAX];
    cr_assert_eq(job_spec_segment_path(&s, 7, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "/t/abc7.ts");
    strcpy(s.segment_filename, "/t/100%%/seg%05d.ts");
    cr_assert_eq(job_spec_segment_path(&s, 42, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "/t/100%/seg00042.ts");
}

Test(job_spec, bad_patterns_are_refused)
{
    struct job_spec s;
    hls_spec(&s);
    char out[64], err[256];
    const char *bad[] = {"/t/x.ts", "/t/%d%d.ts", "/t/%s.ts", "/t/%n.ts", "/t/%99999d.ts"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(s.segment_filename, bad[i]);
        cr_assert_eq(job_spec_segment_path(&s, 1, out, sizeof(out)), -1, "%s", bad[i]);
        cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "%s", bad[i]);
    }
    strcpy(s.segment_filename, "/t/a-very-long-name-%d.ts");
    cr_assert_eq(job_spec_segment_path(&s, 1, out, 8), -1, "output too small");
}

Test(job_spec, validation_names_the_problem)
{
    struct job_spec s;
    char err[256];
    hls_spec(&s);
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
    strcpy(s.video_codec, "libtheora");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
    cr_assert(strstr(err, "libtheora") != NULL, "%s", err);
    hls_spec(&s);
    strcpy(s.environment, "LIBVA_DRIVER_NAME=iHD\nLD_PRELOAD=/tmp/x.so");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "LD_PRELOAD must not travel");
    cr_assert(strstr(err, "LD_PRELOAD") != NULL, "%s", err);
    /* Driver choices travel; host paths and device numbers do not. */
    strcpy(s.environment,
           "LIBVA_DRIVER_NAME=i965\nLIBVA_DRIVER_NAME_JELLYFIN=i965\nAMD_DEBUG=noefc");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
    strcpy(s.environment, "LIBVA_DRIVERS_PATH=/opt/lib/dri");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
    strcpy(s.environment, "CUDA_VISIBLE_DEVICES=1");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
    /* Graphical subtitles burned in on a hardware encoder's line. */
    hls_spec(&s);
    strcpy(s.video_codec, "h264_vaapi");
    strcpy(s.video_filter, "[0:2]scale[sub];[0:0][sub]overlay,hwupload=derive_device=vaapi");
    s.filter_complex = 1;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
    hls_spec(&s);
    s.hls_time_us = 0;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
    hls_spec(&s);
    s.input[0] = '\0';
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
}

Test(job_spec, garbage_and_oversized_fields_are_refused)
{
    struct job_spec s;
    char err[256];
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(job_spec_unpack(garbage, sizeof(garbage), &s, err, sizeof(err)), -1);
    /* field 1 (input), length 5000: longer than JOB_SPEC_PATH_MAX */
    size_t n = 5000;
    uint8_t *big = malloc(n + 3);
    big[0] = 0x0a;
    big[1] = (uint8_t)(0x80 | (n & 0x7f));
    big[2] = (uint8_t)(n >> 7);
    memset(big + 3, 'a', n);
    cr_assert_eq(job_spec_unpack(big, n + 3, &s, err, sizeof(err)), -1);
    cr_assert(strstr(err, "input") != NULL, "%s", err);
    free(big);
}

/* requires travels as one word per element; an empty element or one with a
 * space would not survive the round trip through the space-separated text. */
Test(job_spec, requires_with_an_empty_or_spaced_word_is_refused)
{
    struct job_spec s;
    char err[256];
    /* field 80 (requires), wire type 2: tag 0x282 = varint 0x82 0x05 */
    const uint8_t empty[] = {0x82, 0x05, 9,   'e', 'n',  'c',  'o', 'd',
                             'e',  'r',  ':', 'x', 0x82, 0x05, 0};
    cr_assert_eq(job_spec_unpack(empty, sizeof(empty), &s, err, sizeof(err)), -1);
    cr_assert(strstr(err, "requires") != NULL, "%s", err);
    const uint8_t spaced[] = {0x82, 0x05, 3, 'a', ' ', 'b'};
    cr_assert_eq(job_spec_unpack(spaced, sizeof(spaced), &s, err, sizeof(err)), -1);
    cr_assert(strstr(err, "requires") != NULL, "%s", err);
    const uint8_t good[] = {0x82, 0x05, 9, 'e', 'n', 'c', 'o', 'd', 'e', 'r', ':', 'x'};
    cr_assert_eq(job_spec_unpack(good, sizeof(good), &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(s.requires, "encoder:x");
}

/* A hardware line's fields (devices, hwaccel, decoder, encoder options,
 * driver environment) survive the trip to Redis and back, and a device
 * check (no input, no output) is a valid job. */
Test(job_spec, hardware_fields_round_trip)
{
    struct job_spec s, back;
    char err[256];
    hls_spec(&s);
    strcpy(s.video_codec, "h264_vaapi");
    s.n_hw_devices = 2;
    strcpy(s.hw_devices[0], "vaapi=va:/dev/dri/renderD128,driver=iHD");
    strcpy(s.hw_devices[1], "qsv=qs@va");
    strcpy(s.filter_hw_device, "va");
    strcpy(s.hwaccel, "vaapi");
    strcpy(s.hwaccel_output_format, "vaapi");
    strcpy(s.hwaccel_flags, "+allow_profile_mismatch");
    s.extra_hw_frames = 24;
    strcpy(s.video_decoder, "hevc_qsv");
    s.autoscale = 0;
    strcpy(s.video_encoder_options, "rc_mode=VBR\nlow_power=1");
    strcpy(s.environment, "LIBVA_DRIVER_NAME=iHD");
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s", err);
    cr_assert(job_spec_uses_hardware(&s));
    size_t len;
    uint8_t *packed = job_spec_pack(&s, &len);
    cr_assert_not_null(packed);
    cr_assert_eq(job_spec_unpack(packed, len, &back, err, sizeof(err)), 0, "%s", err);
    free(packed);
    cr_assert_eq(back.n_hw_devices, 2);
    cr_assert_str_eq(back.hw_devices[0], s.hw_devices[0]);
    cr_assert_str_eq(back.hw_devices[1], s.hw_devices[1]);
    cr_assert_str_eq(back.filter_hw_device, "va");
    cr_assert_str_eq(back.hwaccel, "vaapi");
    cr_assert_str_eq(back.hwaccel_output_format, "vaapi");
    cr_assert_str_eq(back.hwaccel_flags, "+allow_profile_mismatch");
    cr_assert_eq(back.extra_hw_frames, 24);
    cr_assert_str_eq(back.video_decoder, "hevc_qsv");
    cr_assert_eq(back.autoscale, 0);
    cr_assert_str_eq(back.video_encoder_options, s.video_encoder_options);
    cr_assert_str_eq(back.environment, s.environment);

    struct job_spec check;
    job_spec_init(&check);
    check.output_kind = JOB_OUTPUT_DEVICE_CHECK;
    cr_assert_eq(job_spec_validate(&check, err, sizeof(err)), -1, "a check needs a device");
    check.n_hw_devices = 1;
    strcpy(check.hw_devices[0], "vulkan=vk");
    cr_assert_eq(job_spec_validate(&check, err, sizeof(err)), 0, "%s", err);
    packed = job_spec_pack(&check, &len);
    cr_assert_eq(job_spec_unpack(packed, len, &back, err, sizeof(err)), 0, "%s", err);
    free(packed);
    cr_assert_eq(back.output_kind, JOB_OUTPUT_DEVICE_CHECK);
    cr_assert_eq(back.autoscale, 1);
    cr_assert_eq(back.extra_hw_frames, JOB_SPEC_UNSET);
}

/* A run-once line as the shim submits it: its arguments, its last one the
 * output. */
static void cli_spec(struct job_spec *s, const char *const *args)
{
    job_spec_init(s);
    s->output_kind = JOB_OUTPUT_CLI;
    for (int i = 0; args[i] != NULL; i++) {
        cr_assert_eq(job_spec_cli_append(s, args[i]), 0);
        if (i > 0 && strcmp(args[i - 1], "-i") == 0)
            snprintf(s->input, sizeof(s->input), "%s", args[i] + 5);
        snprintf(s->output, sizeof(s->output), "%s", args[i]);
    }
}

Test(job_spec, a_run_once_lines_outputs_are_its_files_in_one_folder)
{
    struct job_spec s;
    char marks[JOB_SPEC_CLI_ARGC_MAX];
    int pattern;
    /* Trickplay (10.9+): one image2 pattern. */
    const char *trickplay[] = {
        "-i",     "file:/media/a.mkv",     "-an", "-sn", "-vf", "fps=1/10", "-c:v", "mjpeg", "-f",
        "image2", "/data/tp/320/%08d.jpg", NULL};
    cli_spec(&s, trickplay);
    cr_assert_eq(job_spec_cli_outputs(&s, marks, &pattern), 1);
    cr_assert(pattern && marks[10] && !marks[1]);
    cr_assert(job_spec_cli_output_named(&s, "00000001.jpg"));
    cr_assert(job_spec_cli_output_named(&s, "123456789.jpg"), "%%08d prints more digits too");
    cr_assert(!job_spec_cli_output_named(&s, "00000001.png"));
    cr_assert(!job_spec_cli_output_named(&s, ".jpg"));
    cr_assert(!job_spec_cli_output_named(&s, "../00000001.jpg"));
    cr_assert(!job_spec_cli_output_named(&s, "index.m3u8"));
    /* Extraction of two tracks into one folder (10.11). */
    const char *two[] = {"-i",   "file:/media/a.mkv", "-map", "0:2", "-c:s",
                         "copy", "/c/s/2.ass",        "-map", "0:3", "-c:s",
                         "copy", "/c/s/3.srt",        NULL};
    cli_spec(&s, two);
    cr_assert_eq(job_spec_cli_outputs(&s, NULL, &pattern), 2);
    cr_assert(!pattern);
    cr_assert(job_spec_cli_output_named(&s, "2.ass") && job_spec_cli_output_named(&s, "3.srt"));
    cr_assert(!job_spec_cli_output_named(&s, "4.srt"), "a name the line does not write");
    /* Two tracks into two folders (10.10's subtitle cache): not delivered,
     * and a delivered spec naming them is refused. */
    const char *apart[] = {"-i",   "file:/media/a.mkv", "-map", "0:2", "-c:s",
                           "copy", "/c/a/2.ass",        "-map", "0:3", "-c:s",
                           "copy", "/c/b/3.srt",        NULL};
    cli_spec(&s, apart);
    cr_assert_eq(job_spec_cli_outputs(&s, NULL, &pattern), -1);
    cr_assert(!job_spec_cli_output_named(&s, "3.srt"));
    char err[256] = "";
    s.deliver = 1;
    cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1);
    cr_assert(strstr(err, "outside its output's folder") != NULL, "%s", err);
    /* A file written to stdout or nowhere: no files. */
    const char *scan[] = {"-i", "file:/media/a.mkv", "-af", "ebur128", "-f", "null", "-", NULL};
    cli_spec(&s, scan);
    cr_assert_eq(job_spec_cli_outputs(&s, NULL, &pattern), 0);
}
