/* test_routing.c -- the words routing matches: what a job spec implies it
 * needs (codecs, filters, and the hardware devices a line asks for), what a
 * worker's capabilities offer (the device types it opened too), and which
 * words are refused, and routing_offers_missing (the shim's check before
 * it submits: every word needed is offered). CLI jobs (a line run by a
 * worker's own ffmpeg CLI) need cli-* words read from their command line,
 * which a worker offers from what its CLI lists. The claim script that matches
 * them in Redis is tested in test_queue_routing.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv_test_lib.h"
#include "ffpool.pb-c.h"
#include "job_spec.h"
#include "pipeline_caps.h"
#include "routing.h"

static void transcode_spec(struct job_spec *s)
{
    job_spec_init(s);
    strcpy(s->input, "/media/in.mkv");
    strcpy(s->output, "/t/out.m3u8");
    strcpy(s->segment_filename, "/t/out%d.ts");
    s->hls_time_us = 3000000;
    strcpy(s->video_codec, "libx264");
    strcpy(s->audio_codec, "aac");
}

static const char *requires_of(const struct job_spec *spec)
{
    static char out[JOB_SPEC_REQUIRES_MAX];
    char err[256] = "";
    cr_assert_eq(routing_job_requires(spec, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    return out;
}

Test(routing, transcode_needs_its_encoders_and_every_filter_once)
{
    struct job_spec s;
    transcode_spec(&s);
    /* Jellyfin's shapes: escaped commas, quoted arguments, @ids, labels. */
    strcpy(s.video_filter, "setparams=color_primaries=bt709,"
                           "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:-2,"
                           "tonemapx=tonemap=bt2390:desat=0@tm,format=yuv420p,scale=w=1:h=1");
    strcpy(s.audio_filter, "[in]volume=2[a];[a]aresample='async=1,first_pts=0'");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 filter:setparams filter:scale "
                                      "filter:tonemapx filter:format encoder:aac "
                                      "filter:volume filter:aresample");
}

Test(routing, copy_needs_no_encoder_and_ignores_the_filters_it_does_not_apply)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_codec, "copy");
    strcpy(s.video_filter, "tonemapx");
    strcpy(s.audio_codec, "");
    cr_assert_str_eq(requires_of(&s), "");
}

Test(routing, client_words_come_first_and_the_spec_adds_what_it_implies)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.requires, "hwaccel:vaapi  encoder:libx264 decoder:hevc");
    cr_assert_str_eq(requires_of(&s), "hwaccel:vaapi encoder:libx264 decoder:hevc encoder:aac");
}

Test(routing, malformed_words_are_refused_with_the_word)
{
    static const char *const bad[] = {
        "libx264", "codec:libx264", "encoder:", "filter:a b=c", "encoder:x;DEL", ":x"};
    struct job_spec s;
    char out[256], err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        transcode_spec(&s);
        strcpy(s.requires, bad[i]);
        cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1, "%s",
                     bad[i]);
        cr_assert(strstr(err, "requirement") != NULL, "%s", err);
        cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "validate took %s", bad[i]);
    }
    cr_assert(routing_word_valid("encoder:h264_vaapi"));
    cr_assert(routing_word_valid("filter:scale_vaapi"));
    cr_assert(routing_word_valid("decoder:mpeg2video"));
    cr_assert(!routing_word_valid("announced"), "the offers set's marker is never a word");
}

Test(routing, a_filter_name_with_a_stray_character_is_refused_not_unroutable)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "sc%ale=1:1");
    char out[256], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
}

Test(routing, too_many_words_do_not_overflow)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "scale,format,setparams,tonemapx,volume");
    char out[40], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strlen(out) < sizeof(out));
}

Test(routing, a_client_cannot_make_a_job_need_more_than_the_word_limit)
{
    struct job_spec s;
    transcode_spec(&s);
    char words[sizeof(s.requires)] = "";
    for (int i = 0; i < ROUTING_WORDS_MAX; i++) {
        char word[32];
        snprintf(word, sizeof(word), "%sfilter:f%d", i ? " " : "", i);
        strcat(words, word);
    }
    snprintf(s.requires, sizeof(s.requires), "%s", words);
    char out[4096], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strstr(err, "more than 32 capabilities") != NULL, "err: %s", err);

    char name[200];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    transcode_spec(&s);
    snprintf(s.video_filter, sizeof(s.video_filter), "%s", name);
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strstr(err, "longer than 127 bytes") != NULL, "err: %s", err);
}

/* Inside quotes a backslash is literal (av_get_token): the quote after it
 * closes the argument, and the next filter is seen. */
Test(routing, a_backslash_inside_quotes_does_not_hide_the_next_filter)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "drawtext=text='C:\\',tonemapx");
    char out[512], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "filter:tonemapx") != NULL, "out: %s", out);
}

Test(routing, this_libav_offers_libx264_and_scale_but_not_tonemapx)
{
    size_t len = 0;
    uint8_t *caps = pipeline_capabilities_pack(&len);
    cr_assert_not_null(caps);
    char *offers = routing_worker_offers(caps, len);
    free(caps);
    cr_assert_not_null(offers);
    char padded[strlen(offers) + 3];
    snprintf(padded, sizeof(padded), " %s ", offers);
    free(offers);
    cr_assert(strstr(padded, " encoder:libx264 ") != NULL);
    cr_assert(strstr(padded, " decoder:h264 ") != NULL);
    cr_assert(strstr(padded, " filter:scale ") != NULL);
    cr_assert(strstr(padded, " filter:tonemapx ") == NULL);
    cr_assert_null(routing_worker_offers((const uint8_t *)"\xff\xff\xff", 3));
}

/* ---------------------------------------------------------------------------
 * Hardware: a job needs the devices its line asks for (device:TYPE, a type
 * the worker really opened), beside the encoder, decoder, filter and
 * hwaccel words.
 * ------------------------------------------------------------------------- */

Test(routing, device_words_are_valid_words)
{
    cr_assert(routing_word_valid("device:vaapi"));
    cr_assert(routing_word_valid("device:v4l2m2m"));
    cr_assert(!routing_word_valid("device:"));
    cr_assert(!routing_word_valid("devices:vaapi"));
    cr_assert(!routing_word_valid("device:/dev/dri/renderD128"));
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.requires, "device:cuda");
    cr_assert_str_eq(requires_of(&s), "device:cuda encoder:libx264 encoder:aac");
}

/* Jellyfin 10.8's VAAPI line (corpus 010's fields). */
static void vaapi_spec(struct job_spec *s)
{
    transcode_spec(s);
    strcpy(s->hw_devices[0], "vaapi=va:,driver=i965");
    s->n_hw_devices = 1;
    strcpy(s->filter_hw_device, "va");
    strcpy(s->hwaccel, "vaapi");
    strcpy(s->hwaccel_output_format, "vaapi");
    strcpy(s->video_codec, "h264_vaapi");
    strcpy(s->video_filter, "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                            "scale_vaapi=format=nv12");
}

Test(routing, vaapi_line_needs_a_vaapi_device)
{
    struct job_spec s;
    vaapi_spec(&s);
    cr_assert_str_eq(requires_of(&s), "device:vaapi hwaccel:vaapi encoder:h264_vaapi "
                                      "filter:setparams filter:scale_vaapi encoder:aac");
    /* -vaapi_device's form, and a device the line only derives from. */
    strcpy(s.hw_devices[0], "vaapi:/dev/dri/renderD128");
    strcpy(s.hwaccel, "");
    strcpy(s.video_filter, "format=nv12,hwupload");
    cr_assert_str_eq(requires_of(&s),
                     "device:vaapi encoder:h264_vaapi filter:format filter:hwupload encoder:aac");
}

Test(routing, qsv_on_vaapi_needs_both_devices)
{
    struct job_spec s;
    vaapi_spec(&s);
    strcpy(s.hw_devices[0], "vaapi=va:/dev/dri/renderD128,driver=iHD");
    strcpy(s.hw_devices[1], "qsv=qs@va");
    s.n_hw_devices = 2;
    strcpy(s.filter_hw_device, "qs");
    strcpy(s.video_codec, "hevc_qsv");
    strcpy(s.video_filter, "scale_vaapi=format=nv12:extra_hw_frames=24,hwmap=derive_device=qsv,"
                           "format=qsv");
    cr_assert_str_eq(requires_of(&s), "device:vaapi device:qsv hwaccel:vaapi encoder:hevc_qsv "
                                      "filter:scale_vaapi filter:hwmap filter:format encoder:aac");
    /* -qsv_device's expansion is a QSV device too. */
    strcpy(s.hw_devices[0], "qsv=__qsv_device:hw_any,child_device=/dev/dri/renderD128");
    s.n_hw_devices = 1;
    strcpy(s.hwaccel, "qsv");
    strcpy(s.video_decoder, "h264_qsv");
    strcpy(s.video_filter, "vpp_qsv=format=nv12");
    cr_assert_str_eq(requires_of(&s), "device:qsv decoder:h264_qsv hwaccel:qsv encoder:hevc_qsv "
                                      "filter:vpp_qsv encoder:aac");
}

Test(routing, nvenc_and_cuvid_need_cuda)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_codec, "h264_nvenc");
    strcpy(s.video_filter, "setparams=color_primaries=bt709,scale=1280:-2,format=yuv420p");
    cr_assert_str_eq(requires_of(&s), "device:cuda encoder:h264_nvenc filter:setparams "
                                      "filter:scale filter:format encoder:aac");
    /* A CUVID decoder by name, and the CLI's NVDEC names for -hwaccel. */
    strcpy(s.video_decoder, "hevc_cuvid");
    strcpy(s.hwaccel, "nvdec");
    strcpy(s.video_filter, "scale_cuda=format=nv12");
    cr_assert_str_eq(requires_of(&s), "device:cuda decoder:hevc_cuvid hwaccel:cuda "
                                      "encoder:h264_nvenc filter:scale_cuda encoder:aac");
    strcpy(s.video_decoder, "");
    strcpy(s.hwaccel, "cuvid");
    cr_assert_str_eq(requires_of(&s), "device:cuda hwaccel:cuda encoder:h264_nvenc "
                                      "filter:scale_cuda encoder:aac");
}

Test(routing, auto_and_none_hwaccels_and_v4l2m2m)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.hwaccel, "auto");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 encoder:aac", "auto falls back to software");
    strcpy(s.hwaccel, "none");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 encoder:aac");
    strcpy(s.video_codec, "h264_v4l2m2m");
    cr_assert_str_eq(requires_of(&s), "device:v4l2m2m encoder:h264_v4l2m2m encoder:aac");
}

/* Filters that work on a device need it, and so does a hwupload or hwmap
 * that derives one (the Vulkan and OpenCL lines, Jellyfin's
 * hwupload=derive_device=vaapi without -init_hw_device). */
Test(routing, hardware_filters_need_their_device)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "format=yuv420p,hwupload,scale_vulkan=w=640:h=360,hwdownload,"
                           "format=yuv420p");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 filter:format filter:hwupload "
                                      "filter:scale_vulkan device:vulkan filter:hwdownload "
                                      "encoder:aac");
    strcpy(s.video_filter, "hwdownload,format=p010le,hwupload=derive_device=opencl,"
                           "tonemap_opencl=format=nv12,hwdownload,format=nv12,"
                           "hwupload=extra_hw_frames=4:derive_device=vaapi,hwmap=mode=read");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 filter:hwdownload filter:format "
                                      "filter:hwupload device:opencl filter:tonemap_opencl "
                                      "device:vaapi filter:hwmap encoder:aac");
    strcpy(s.video_filter, "hwupload=cuda,libplacebo,overlay_npp");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 filter:hwupload device:cuda "
                                      "filter:libplacebo device:vulkan filter:overlay_npp "
                                      "encoder:aac");
}

/* A device is created whatever the job does with it (the CLI creates them
 * all before it opens the input); decoding and filters are not needed for
 * a stream that is copied. A device check is only its devices. */
Test(routing, devices_are_needed_even_when_the_video_is_copied)
{
    struct job_spec s;
    vaapi_spec(&s);
    strcpy(s.video_codec, "copy");
    strcpy(s.audio_codec, "copy");
    cr_assert_str_eq(requires_of(&s), "device:vaapi");

    job_spec_init(&s);
    s.output_kind = JOB_OUTPUT_DEVICE_CHECK;
    strcpy(s.hw_devices[0], "drm=dr:/dev/dri/renderD128");
    strcpy(s.hw_devices[1], "vulkan=vk@dr");
    s.n_hw_devices = 2;
    cr_assert_str_eq(requires_of(&s), "device:drm device:vulkan");
}

/* The codec and filter names that imply a device. */
Test(routing, codec_and_filter_devices_by_name)
{
    cr_assert_str_eq(routing_codec_device("h264_vaapi"), "vaapi");
    cr_assert_str_eq(routing_codec_device("av1_qsv"), "qsv");
    cr_assert_str_eq(routing_codec_device("hevc_nvenc"), "cuda");
    cr_assert_str_eq(routing_codec_device("h264_cuvid"), "cuda");
    cr_assert_str_eq(routing_codec_device("hevc_v4l2m2m"), "v4l2m2m");
    cr_assert_null(routing_codec_device("libx264"));
    cr_assert_null(routing_codec_device("h264_videotoolbox"));
    cr_assert_null(routing_codec_device("_vaapi"));
    cr_assert_str_eq(routing_filter_device("tonemap_vaapi"), "vaapi");
    cr_assert_str_eq(routing_filter_device("hwupload_cuda"), "cuda");
    cr_assert_str_eq(routing_filter_device("scale_npp"), "cuda");
    cr_assert_null(routing_filter_device("hwupload"));
    cr_assert_null(routing_filter_device("scale"));
}

/* A packed Capabilities listing encoders and the device types a worker
 * opened, as a worker announces it. */
static char *offers_of(const char *const *encoders, const char *const *devices)
{
    Ffpool__Capabilities caps = FFPOOL__CAPABILITIES__INIT;
    Ffpool__CodecInfo codecs[16], *encoder_ptrs[16];
    char *device_names[16];
    for (size_t i = 0; encoders[i] != NULL; i++) {
        ffpool__codec_info__init(&codecs[i]);
        codecs[i].name = (char *)encoders[i];
        encoder_ptrs[caps.n_encoders++] = &codecs[i];
    }
    for (size_t i = 0; devices[i] != NULL; i++)
        device_names[caps.n_devices++] = (char *)devices[i];
    caps.encoders = encoder_ptrs;
    caps.devices = device_names;
    uint8_t packed[4096];
    size_t len = ffpool__capabilities__get_packed_size(&caps);
    cr_assert(len <= sizeof(packed));
    ffpool__capabilities__pack(&caps, packed);
    char *offers = routing_worker_offers(packed, len);
    cr_assert_not_null(offers);
    return offers;
}

/* routing_offers_missing, as a yes/no: every word the job needs is in the
 * worker's offers. */
static int worker_can_run(const char *needs, const char *offers)
{
    char missing[ROUTING_WORD_MAX];
    return routing_offers_missing(offers, needs, missing, sizeof(missing)) == 0;
}

/* Every Debian worker's libav lists h264_vaapi, so the encoder word alone
 * would send a VAAPI line to a worker without a GPU: the device word is
 * what tells them apart. */
Test(routing, a_vaapi_line_goes_only_to_a_worker_that_opened_vaapi)
{
    static const char *const encoders[] = {"libx264", "aac", "h264_vaapi", "h264_nvenc", NULL};
    static const char *const gpu_devices[] = {"vaapi", "drm", "opencl", NULL};
    static const char *const cpu_devices[] = {"vulkan", NULL};
    struct job_spec s;
    vaapi_spec(&s);
    strcpy(s.video_filter, "");
    strcpy(s.hwaccel, "");
    char *gpu = offers_of(encoders, gpu_devices);
    char *cpu = offers_of(encoders, cpu_devices);
    cr_assert(strstr(gpu, "device:vaapi") != NULL, "%s", gpu);
    cr_assert(worker_can_run(requires_of(&s), gpu), "%s vs %s", requires_of(&s), gpu);
    cr_assert(!worker_can_run(requires_of(&s), cpu), "%s vs %s", requires_of(&s), cpu);
    /* An NVENC line goes to neither. */
    transcode_spec(&s);
    strcpy(s.video_codec, "h264_nvenc");
    cr_assert(!worker_can_run(requires_of(&s), gpu));
    cr_assert(!worker_can_run(requires_of(&s), cpu));
    free(gpu);
    free(cpu);
}

Test(routing, offers_missing_names_the_first_word_no_worker_offers)
{
    const char *offers = "encoder:libx264 filter:scale filter:scale_vulkan device:vulkan";
    char missing[ROUTING_WORD_MAX] = "";
    cr_assert_eq(routing_offers_missing(offers, "", missing, sizeof(missing)), 0);
    cr_assert_eq(routing_offers_missing(offers, " encoder:libx264  device:vulkan ", missing,
                                        sizeof(missing)),
                 0);
    /* A word that is a prefix or a suffix of an offered one is not offered. */
    cr_assert_eq(routing_offers_missing(offers, "filter:scale_vulkan filter:scale_v device:vulkan",
                                        missing, sizeof(missing)),
                 1);
    cr_assert_str_eq(missing, "filter:scale_v");
    cr_assert_eq(
        routing_offers_missing(offers, "device:vaapi encoder:h264_vaapi", missing, sizeof(missing)),
        1);
    cr_assert_str_eq(missing, "device:vaapi");
    cr_assert_eq(routing_offers_missing("", "filter:scale", missing, sizeof(missing)), 1);
    cr_assert_eq(routing_offers_missing(offers, "coder:libx264", missing, sizeof(missing)), 1);
}

/* ---------------------------------------------------------------------------
 * CLI jobs: the words an ffmpeg command line needs (routing_cli_requires),
 * and a worker's CLI offers (Capabilities.cli).
 * ------------------------------------------------------------------------- */

Test(routing, cli_words_are_valid_words)
{
    cr_assert(routing_word_valid("cli:ffmpeg"));
    cr_assert(routing_word_valid("cli-encoder:libx264"));
    cr_assert(routing_word_valid("cli-decoder:h264_cuvid"));
    cr_assert(routing_word_valid("cli-filter:tonemapx"));
    cr_assert(routing_word_valid("cli-hwaccel:vaapi"));
    cr_assert(!routing_word_valid("cli:ffprobe"), "kind cli has one word");
    cr_assert(!routing_word_valid("cli:"));
    cr_assert(!routing_word_valid("cli-encoder:"));
    cr_assert(!routing_word_valid("cli-bsf:h264_mp4toannexb"));
    cr_assert(!routing_word_valid("cli-filter:scale=1:1"));
    cr_assert(!routing_word_valid("cli-device:vaapi"), "devices are the machine's: device:T");
    char err[256];
    cr_assert_eq(routing_words_check("cli:ffmpeg cli-filter:scale device:vaapi", err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(routing_words_check("cli:ffmpeg cli:x", err, sizeof(err)), -1);
    cr_assert(strstr(err, "\"cli:x\"") != NULL, "%s", err);
}

/* The words of a command line given as one string (split as a shell
 * would, without the program name). */
static const char *cli_requires_of(const char *line)
{
    static char out[1024];
    struct split_result r = split(line);
    char err[256] = "";
    int status = routing_cli_requires(r.argc, r.argv, out, sizeof(out), err, sizeof(err));
    argv_free(r.argv);
    cr_assert_eq(status, 0, "%s: %s", line, err);
    return out;
}

/* The words of a corpus line, read as the shim reads it. */
static const char *cli_requires_of_corpus(const char *prefix)
{
    static char out[1024];
    char path[4096], err[256] = "";
    struct corpus_line c;
    corpus_path(prefix, path, sizeof(path));
    corpus_line_read(path, &c);
    int status = routing_cli_requires(c.argc - 1, c.argv + 1, out, sizeof(out), err, sizeof(err));
    corpus_line_free(&c);
    cr_assert_eq(status, 0, "%s: %s", prefix, err);
    return out;
}

/* Jellyfin 12's VAAPI trickplay line: hardware decode, a VAAPI scale in the
 * graph, MJPEG images. */
Test(routing, cli_trickplay_line_needs_its_hwaccel_filters_and_encoder)
{
    cr_assert_str_eq(cli_requires_of_corpus("016-"),
                     "cli:ffmpeg device:vaapi cli-hwaccel:vaapi cli-filter:setpts cli-filter:fps "
                     "cli-filter:setparams cli-filter:scale_vaapi cli-filter:hwmap "
                     "cli-filter:format cli-encoder:mjpeg");
}

/* Subtitle extraction copies: it needs a CLI and nothing else. */
Test(routing, cli_subtitle_extraction_needs_only_the_cli)
{
    cr_assert_str_eq(cli_requires_of_corpus("019-"), "cli:ffmpeg");
}

/* Jellyfin 10.7's VAAPI line: -vaapi_device, and flags (-start_at_zero)
 * before options whose values start with '-' ("-vsync -1"): a flag taken
 * for an option with a value would hide the audio encoder behind it. */
Test(routing, cli_vaapi_line_reads_flags_and_dash_values_as_the_cli_does)
{
    cr_assert_str_eq(cli_requires_of_corpus("006-"),
                     "cli:ffmpeg device:vaapi cli-hwaccel:vaapi cli-encoder:h264_vaapi "
                     "cli-filter:scale_vaapi cli-encoder:aac");
}

Test(routing, cli_codec_before_an_input_is_its_decoder)
{
    cr_assert_str_eq(cli_requires_of("-c:v h264_cuvid -i in.mkv -c:v h264_nvenc -c:a:0 aac o.mp4"),
                     "cli:ffmpeg device:cuda cli-decoder:h264_cuvid cli-encoder:h264_nvenc "
                     "cli-encoder:aac");
    /* Between two inputs: the second input's. Every spelling and specifier. */
    cr_assert_str_eq(cli_requires_of("-i a.mkv -vcodec:0 hevc_qsv -i b.mkv -codec:v:0 libx265 "
                                     "-acodec libopus -scodec mov_text -dcodec bin_data o.mkv"),
                     "cli:ffmpeg device:qsv cli-decoder:hevc_qsv cli-encoder:libx265 "
                     "cli-encoder:libopus cli-encoder:mov_text cli-encoder:bin_data");
}

Test(routing, cli_copy_needs_no_codec)
{
    cr_assert_str_eq(cli_requires_of("-i in.mkv -c copy out.mkv"), "cli:ffmpeg");
    cr_assert_str_eq(cli_requires_of("-i in.mkv -map 0 -c:v copy -c:a libopus -c:s copy o.mkv"),
                     "cli:ffmpeg cli-encoder:libopus");
}

Test(routing, cli_filter_complex_with_labels_needs_every_filter)
{
    cr_assert_str_eq(cli_requires_of("-i a.mkv -i b.sup -filter_complex "
                                     "\"[0:v]scale=1280:-2[base];[1:s]scale=1280:720[sub];"
                                     "[base][sub]overlay=eof_action=pass:repeatlast=0[v]\" "
                                     "-map [v] -map 0:a -af volume=2 -filter:a:0 aresample=48000 "
                                     "-lavfi nullsink -c:v libx264 out.mkv"),
                     "cli:ffmpeg cli-filter:scale cli-filter:overlay cli-filter:volume "
                     "cli-filter:aresample cli-filter:nullsink cli-encoder:libx264");
    /* A graph in a file is not read here. */
    cr_assert_str_eq(cli_requires_of("-i a.mkv -filter_complex_script /t/graph.txt "
                                     "-filter_script:v /t/v.txt out.mkv"),
                     "cli:ffmpeg");
}

Test(routing, cli_hwaccel_needs_its_device_and_nvdec_is_cuda)
{
    cr_assert_str_eq(cli_requires_of("-hwaccel cuda -hwaccel_output_format cuda -i in.mkv "
                                     "-vf scale_cuda=1280:720 -c:v h264_nvenc out.mp4"),
                     "cli:ffmpeg device:cuda cli-hwaccel:cuda cli-filter:scale_cuda "
                     "cli-encoder:h264_nvenc");
    cr_assert_str_eq(cli_requires_of("-hwaccel nvdec -i in.mkv out.mkv"),
                     "cli:ffmpeg device:cuda cli-hwaccel:cuda");
    cr_assert_str_eq(cli_requires_of("-hwaccel:v cuvid -i in.mkv out.mkv"),
                     "cli:ffmpeg device:cuda cli-hwaccel:cuda");
    cr_assert_str_eq(cli_requires_of("-hwaccel auto -i in.mkv out.mkv"), "cli:ffmpeg");
    cr_assert_str_eq(cli_requires_of("-hwaccel none -i in.mkv out.mkv"), "cli:ffmpeg");
}

Test(routing, cli_hardware_devices_of_every_spelling)
{
    cr_assert_str_eq(cli_requires_of("-init_hw_device vaapi=va:/dev/dri/renderD128,driver=iHD "
                                     "-init_hw_device opencl=ocl@va -init_hw_device list "
                                     "-filter_hw_device ocl -i in.mkv "
                                     "-vf hwupload=derive_device=vulkan,tonemap_opencl out.mkv"),
                     "cli:ffmpeg device:vaapi device:opencl cli-filter:hwupload device:vulkan "
                     "cli-filter:tonemap_opencl");
    cr_assert_str_eq(cli_requires_of("-qsv_device /dev/dri/renderD128 -i in.mkv -c:v h264_qsv o"),
                     "cli:ffmpeg device:qsv cli-encoder:h264_qsv");
}

/* Flags take no value, options do whatever their value looks like. */
Test(routing, cli_values_are_never_read_as_options)
{
    cr_assert_str_eq(cli_requires_of("-nostdin -y -hide_banner -noautorotate -c:v h264_qsv "
                                     "-autorotate 0 -i in.mkv -an -sn -copyts -map -0:s "
                                     "-metadata title=-c -vf scale=1:1 -c:v libx264 -- -out.mkv"),
                     "cli:ffmpeg device:qsv cli-decoder:h264_qsv cli-filter:scale "
                     "cli-encoder:libx264");
    /* "-c:v" as the value of -metadata is not a codec option. */
    cr_assert_str_eq(cli_requires_of("-i in.mkv -metadata -c:v -c:a aac out.mkv"),
                     "cli:ffmpeg cli-encoder:aac");
    /* An option without its value at the end is no word. */
    cr_assert_str_eq(cli_requires_of("-i in.mkv -c:v"), "cli:ffmpeg");
    cr_assert_str_eq(cli_requires_of(""), "cli:ffmpeg");
}

Test(routing, cli_malformed_names_and_small_buffers_are_refused)
{
    char out[512], err[256];
    char *bad[] = {"-i", "in.mkv", "-c:v", "lib x264", "out.mkv"};
    cr_assert_eq(routing_cli_requires(5, bad, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strstr(err, "cli-encoder:lib x264") != NULL || strstr(err, "requirement") != NULL,
              "%s", err);
    char *line[] = {"-i", "in.mkv", "-c:v", "libx264", "-c:a", "aac", "out.mkv"};
    cr_assert_eq(routing_cli_requires(7, line, out, 20, err, sizeof(err)), -1);
    cr_assert(strstr(err, "fit in 20 bytes") != NULL, "%s", err);
    cr_assert(strlen(out) < 20);
    cr_assert_eq(routing_cli_requires(7, line, out, 0, err, sizeof(err)), -1);
}

/* A packed Capabilities with a cli section listing these names (and no
 * libav lists), as routing_worker_offers reads it. */
static char *offers_with_cli(int with_cli)
{
    static char *encoders[] = {"libx264", "aac"};
    static char *decoders[] = {"h264"};
    static char *filters[] = {"scale", "tonemapx", "bad name", ""};
    static char *hwaccels[] = {"vaapi"};
    Ffpool__Capabilities caps = FFPOOL__CAPABILITIES__INIT;
    Ffpool__CliInfo cli = FFPOOL__CLI_INFO__INIT;
    Ffpool__CodecInfo libav_encoder = FFPOOL__CODEC_INFO__INIT, *libav_encoders[1];
    libav_encoder.name = "libx264";
    libav_encoders[0] = &libav_encoder;
    caps.encoders = libav_encoders;
    caps.n_encoders = 1;
    cli.path = "/usr/lib/jellyfin-ffmpeg/ffmpeg";
    cli.encoders = encoders;
    cli.n_encoders = 2;
    cli.decoders = decoders;
    cli.n_decoders = 1;
    cli.filters = filters;
    cli.n_filters = 4;
    cli.hwaccels = hwaccels;
    cli.n_hwaccels = 1;
    if (with_cli)
        caps.cli = &cli;
    uint8_t packed[4096];
    size_t len = ffpool__capabilities__get_packed_size(&caps);
    cr_assert(len <= sizeof(packed));
    ffpool__capabilities__pack(&caps, packed);
    char *offers = routing_worker_offers(packed, len);
    cr_assert_not_null(offers);
    return offers;
}

Test(routing, a_worker_with_a_cli_offers_its_names_as_cli_words)
{
    char *offers = offers_with_cli(1);
    cr_assert_str_eq(offers, "encoder:libx264 cli:ffmpeg cli-encoder:libx264 cli-encoder:aac "
                             "cli-decoder:h264 cli-filter:scale cli-filter:tonemapx "
                             "cli-hwaccel:vaapi");
    cr_assert(worker_can_run("cli:ffmpeg cli-filter:tonemapx cli-encoder:libx264", offers));
    cr_assert(!worker_can_run("cli:ffmpeg cli-filter:unsharp", offers));
    cr_assert(!worker_can_run("cli:ffmpeg device:vaapi cli-hwaccel:vaapi", offers),
              "a hwaccel the CLI lists is not a device the worker opened");
    free(offers);

    char *plain = offers_with_cli(0);
    cr_assert_str_eq(plain, "encoder:libx264");
    cr_assert(!worker_can_run("cli:ffmpeg", plain));
    free(plain);
}

/* A CLI line goes to a worker whose CLI has what it names; the libav
 * encoder of the same name is not enough. */
Test(routing, a_cli_line_goes_to_a_worker_by_its_cli_words)
{
    char *cli = offers_with_cli(1);
    char *plain = offers_with_cli(0);
    const char *needs = cli_requires_of("-i in.mkv -vf tonemapx=tonemap=bt2390 -c:v libx264 o.mp4");
    cr_assert_str_eq(needs, "cli:ffmpeg cli-filter:tonemapx cli-encoder:libx264");
    cr_assert(worker_can_run(needs, cli));
    cr_assert(!worker_can_run(needs, plain));
    free(cli);
    free(plain);
}
