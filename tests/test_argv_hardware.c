/* test_argv_hardware.c -- Jellyfin's hardware lines (VAAPI, QSV, NVENC and
 * CUVID, Vulkan), the corpus's and crafted ones, read with the ffmpeg 5.1
 * CLI's rules: the devices and their names, hardware decoding and encoding
 * with the encoders' own options, hardware filters, what each line needs
 * from a worker (routing), and what stays with the local ffmpeg. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "argv.h"
#include "argv_test_lib.h"
#include "routing.h"

/* ---------------------------------------------------------------------------
 * Hardware lines: devices, hardware decoding and encoding, read with the
 * ffmpeg 5.1 CLI's rules (fftools/ffmpeg_opt.c, ffmpeg_hw.c)
 * ------------------------------------------------------------------------- */

TestSuite(argv_hardware, .description = "Jellyfin's hardware lines become pool jobs");

/* Every hardware line of the corpus: native, or where it goes and why. */
Test(argv_hardware, every_hardware_corpus_line_gets_its_decision)
{
    static const struct {
        const char *prefix;
        enum argv_decision decision;
        const char *reason;
    } lines[] = {
        /* 10.11 QSV on VAAPI, but Live TV: an http:// input. */
        /* Live TV from Jellyfin's own loopback relay: no worker reaches it. */
        {"001-", ARGV_PASSTHROUGH, "passthrough: input is on Jellyfin's own loopback address"},
        {"006-", ARGV_NATIVE, "native: HLS h264_vaapi+aac"},
        /* 10.6's hls muxer option, not the hardware. */
        {"007-", ARGV_PASSTHROUGH, "passthrough: unknown option -individual_header_trailer"},
        {"008-", ARGV_NATIVE, "native: HLS h264_qsv+aac"},
        {"010-", ARGV_NATIVE, "native: HLS h264_vaapi+aac"},
        /* tonemap_cuda is not in libav 5.1: routed by name, no Debian
         * worker offers it (Jellyfin on the pool's -filters never sends it). */
        {"011-", ARGV_NATIVE, "native: HLS h264_nvenc+aac"},
        {"013-", ARGV_NATIVE, "native: HLS h264_nvenc+aac"},
        /* jellyfin-ffmpeg >= 6 only: the local ffmpeg runs it. */
        {"014-", ARGV_PASSTHROUGH,
         "passthrough: -hwaccel_flags unsafe_output unknown to libav 5.1"},
        /* Trickplay images (mjpeg, image2): not a pool job. */
        {"016-", ARGV_PASSTHROUGH, "passthrough: -qscale:v not native (only for audio)"},
        {"017-", ARGV_PASSTHROUGH, "passthrough: -qscale:v not native (only for audio)"},
        {"022-", ARGV_NATIVE, "native: progressive h264_vaapi+aac"},
        {"023-", ARGV_PASSTHROUGH, "passthrough: -sei a53_cc unknown to libav 5.1"},
        /* hwupload_vaapi and tonemap=bt2390 are jellyfin-ffmpeg's: routed by
         * name, unroutable on Debian workers. */
        {"027-", ARGV_NATIVE, "native: HLS h264_vaapi+aac"},
        {"029-", ARGV_NATIVE, "native: HLS hevc_qsv+copy"},
        {"030-", ARGV_PASSTHROUGH, "passthrough: -hwaccel dxva2 runs on no Linux worker"},
        {"031-", ARGV_PASSTHROUGH, "passthrough: hardware decoder h264_mmal not run by the pool"},
        /* Rockchip trickplay: -skip_frame, then rkmpp. */
        {"041-", ARGV_PASSTHROUGH, "passthrough: unknown option -skip_frame"},
        {"047-", ARGV_PASSTHROUGH,
         "passthrough: hardware encoder h264_videotoolbox not run by the pool"},
        /* cuvid's own -resize has no place in the job yet. */
        {"053-", ARGV_PASSTHROUGH, "passthrough: unknown option -resize"},
        {"054-", ARGV_NATIVE, "native: HLS h264_nvenc+aac"},
        {"055-", ARGV_NATIVE, "native: HLS h264_qsv+aac"},
    };
    static struct job_spec s;
    char reason[256];
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        enum argv_decision d = corpus_parse(lines[i].prefix, &s, reason, sizeof(reason));
        cr_expect_eq(d, lines[i].decision, "%s: %s", lines[i].prefix, reason);
        cr_expect_str_eq(reason, lines[i].reason, "%s", lines[i].prefix);
        if (d == ARGV_NATIVE) {
            char err[256];
            cr_expect_eq(job_spec_validate(&s, err, sizeof(err)), 0, "%s: %s", lines[i].prefix,
                         err);
            cr_expect(job_spec_uses_hardware(&s), "%s", lines[i].prefix);
        }
    }
}

/* 10.7's VAAPI line: -vaapi_device is -init_hw_device vaapi:DEV, decoding
 * and scaling on VAAPI surfaces into h264_vaapi. */
Test(argv_hardware, vaapi_line_keeps_device_hwaccel_filter_and_encoder)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("006-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "vaapi:/dev/dri/renderD128");
    cr_assert_str_eq(s.filter_hw_device, "");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_str_eq(s.hwaccel_device, "");
    cr_assert_str_eq(s.video_decoder, "");
    cr_assert_str_eq(s.video_codec, "h264_vaapi");
    cr_assert_str_eq(s.video_filter, "scale_vaapi=format=nv12");
    cr_assert_eq(s.video_bitrate, 39683320);
    cr_assert_eq(s.maxrate, 39683320);
    cr_assert_eq(s.bufsize, 79366640);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_str_eq(s.level, "41");
    cr_assert_eq(s.keyframe_interval_us, 3000000);
    cr_assert_str_eq(s.video_encoder_options, "");
    cr_assert_eq(s.audio_channels, 6);
    cr_assert_eq(s.audio_bitrate, 640000);

    /* 10.8 on i965: a named device given to the filters, the encoder's
     * rate control, -autoscale 0. */
    cr_assert_eq(corpus_parse("010-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:,driver=i965");
    cr_assert_str_eq(s.filter_hw_device, "va");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_encoder_options, "low_power=1\nrc_mode=CBR");
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale_vaapi=format=nv12");
}

/* QSV on VAAPI (Linux): a VAAPI device, a QSV device derived from it for
 * the filters and the encoder, VAAPI decoding, frames mapped to QSV. */
Test(argv_hardware, qsv_on_vaapi_line_keeps_both_devices_in_order)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("008-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:,driver=iHD,kernel_driver=i915");
    cr_assert_str_eq(s.hw_devices[1], "qsv=qs@va");
    cr_assert_str_eq(s.filter_hw_device, "qs");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_str_eq(s.video_codec, "h264_qsv");
    cr_assert_str_eq(s.preset, "7");
    cr_assert_str_eq(s.video_encoder_options, "low_power=1\nlook_ahead=0");
    cr_assert_eq(s.gop, 72);
    cr_assert_eq(s.keyint_min, 72);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_str_eq(s.level, "41");
    cr_assert_str_eq(s.video_filter,
                     "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                     "scale_vaapi=format=nv12,hwmap=derive_device=qsv,format=qsv");

    /* 10.11: the node named, hevc_qsv into fMP4, QSV's rate options. */
    cr_assert_eq(corpus_parse("029-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:/dev/dri/renderD128,driver=iHD");
    cr_assert_str_eq(s.hw_devices[1], "qsv=qs@va");
    cr_assert_str_eq(s.filter_hw_device, "qs");
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_codec, "hevc_qsv");
    cr_assert_str_eq(s.video_tag, "hvc1");
    cr_assert_str_eq(s.preset, "veryfast");
    cr_assert_str_eq(s.video_encoder_options, "mbbrc=1\nrc_init_occupancy=9625568");
    cr_assert_eq(s.video_bitrate, 4812784);
    cr_assert_eq(s.maxrate, 4812785);
    cr_assert_eq(s.bufsize, 19251136);
    cr_assert_str_eq(s.level, "50");
    cr_assert_eq(s.segment_type, JOB_SEGMENT_FMP4);
    cr_assert_str_eq(s.audio_codec, "copy");

    /* 10.7 on Windows: a QSV decoder by name with -hwaccel qsv. */
    cr_assert_eq(corpus_parse("055-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 0);
    cr_assert_str_eq(s.video_decoder, "hevc_qsv");
    cr_assert_str_eq(s.hwaccel, "qsv");
    cr_assert_str_eq(s.hwaccel_output_format, "", "the worker applies the CLI's qsv default");
    cr_assert_str_eq(s.video_filter, "vpp_qsv=format=nv12");
    cr_assert_str_eq(s.video_encoder_options, "look_ahead=0");
}

/* NVENC: 10.10's software decode and filters with a CUDA device for the
 * encoder; 10.7's CUDA decode and scale_cuda. */
Test(argv_hardware, nvenc_lines_keep_the_cuda_device_and_decoding)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("013-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "cuda=cu:0");
    cr_assert_str_eq(s.filter_hw_device, "cu");
    cr_assert_str_eq(s.hwaccel, "");
    cr_assert_str_eq(s.video_codec, "h264_nvenc");
    cr_assert_str_eq(s.preset, "p1");
    cr_assert_eq(s.gop, 72);
    cr_assert_eq(s.keyint_min, 72);
    cr_assert_str_eq(s.profile, "high");
    cr_assert_eq(s.keyframe_interval_us, JOB_SPEC_UNSET, "NVENC lines key on -g, not expressions");

    cr_assert_eq(corpus_parse("054-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 0);
    cr_assert_str_eq(s.hwaccel, "cuda");
    cr_assert_str_eq(s.hwaccel_output_format, "cuda");
    cr_assert_eq(s.extra_hw_frames, 3);
    cr_assert_eq(s.seek_us, 63000000);
    cr_assert_eq(s.accurate_seek, 0);
    cr_assert_eq(s.start_number, 21);
    cr_assert_str_eq(s.preset, "default");
    cr_assert_str_eq(s.video_filter, "scale_cuda=format=nv12");
}

/* A CUVID decoder named before -i. Corpus 053 also gives cuvid's own
 * -resize, which the job cannot carry yet; without it the line is native. */
Test(argv_hardware, cuvid_decoder_before_the_input_is_the_jobs_decoder)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("053-", &s, reason, sizeof(reason)), ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: unknown option -resize");
    cr_assert_str_eq(s.video_decoder, "hevc_cuvid");

    cr_assert_eq(parse_args("-c:v hevc_cuvid -i /m/a.mkv -map 0:0 -map 0:1 -codec:v:0 h264_nvenc "
                            "-pix_fmt yuv420p -preset default -b:v 13013092 -maxrate 13013092 "
                            "-bufsize 26026184 -profile:v high -g:v:0 72 -keyint_min:v:0 72 "
                            "-codec:a:0 aac -ac 2 " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS h264_nvenc+aac");
    cr_assert_str_eq(s.video_decoder, "hevc_cuvid");
    cr_assert_str_eq(s.hwaccel, "");
    cr_assert_str_eq(s.pix_fmt, "yuv420p");
    /* -vcodec and -codec:v:0 name it too; a software decoder is a choice
     * like another (Jellyfin's -c:v av1 before ffmpeg 6). */
    cr_assert_eq(
        parse_args("-hwaccel vaapi -vcodec av1 -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_decoder, "av1");
    cr_assert_eq(parse_args("-codec:v:0 h264_qsv -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_decoder, "h264_qsv");
    /* An audio decoder, or one decoder for every stream, is not a job's. */
    cr_assert_eq(parse_args("-c:a ac3 -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_eq(parse_args("-c h264 -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s, reason,
                            sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

/* 10.8's progressive VAAPI line with ASS subtitles burned in: surfaces
 * mapped to memory, drawn on, mapped back. */
Test(argv_hardware, progressive_vaapi_burn_in_is_native)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(corpus_parse("022-", &s, reason, sizeof(reason)), ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.output_kind, JOB_OUTPUT_PROGRESSIVE);
    cr_assert_str_eq(s.output_format, "matroska");
    cr_assert_eq(s.seek_us, 400072000);
    cr_assert_eq(s.n_hw_devices, 1);
    cr_assert_str_eq(s.hw_devices[0], "vaapi=va:/dev/dri/renderD128");
    cr_assert_str_eq(s.filter_hw_device, "va");
    cr_assert_str_eq(s.hwaccel, "vaapi");
    cr_assert_str_eq(s.hwaccel_output_format, "vaapi");
    cr_assert_eq(s.autorotate, 0);
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_codec, "h264_vaapi");
    cr_assert_str_eq(s.video_encoder_options, "rc_mode=VBR");
    cr_assert_eq(s.keyframe_interval_us, 5000000);
    cr_assert_eq(s.video_bitrate, 8279678);
    cr_assert(starts_with(s.video_filter,
                          "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                          "scale_vaapi=format=nv12:extra_hw_frames=24,hwmap,format=nv12,"
                          "subtitles=f='/media/Bangumi/"),
              "%s", s.video_filter);
    size_t n = strlen(s.video_filter);
    cr_assert(n > 19 && strcmp(s.video_filter + n - 19, ",hwmap,format=vaapi") == 0, "%s",
              s.video_filter);
}

/* What each of these lines needs from a worker (proto/routing.c on the
 * parsed spec, as the scheduler derives it). */
Test(argv_hardware, hardware_lines_need_their_devices)
{
    static const struct {
        const char *prefix, *requires;
    } lines[] = {
        {"006-", "device:vaapi hwaccel:vaapi encoder:h264_vaapi filter:scale_vaapi encoder:aac"},
        {"008-", "device:vaapi device:qsv hwaccel:vaapi encoder:h264_qsv filter:setparams "
                 "filter:scale_vaapi filter:hwmap filter:format encoder:aac filter:volume"},
        {"013-", "device:cuda encoder:h264_nvenc filter:setparams filter:scale filter:format "
                 "encoder:aac filter:volume"},
        {"022-", "device:vaapi hwaccel:vaapi encoder:h264_vaapi filter:setparams "
                 "filter:scale_vaapi filter:hwmap filter:format filter:subtitles encoder:aac"},
        {"027-", "device:vaapi device:opencl hwaccel:vaapi encoder:h264_vaapi filter:setparams "
                 "filter:hwdownload filter:format filter:hwupload filter:tonemap_opencl "
                 "filter:hwupload_vaapi encoder:aac"},
        {"029-", "device:vaapi device:qsv hwaccel:vaapi encoder:hevc_qsv filter:setparams "
                 "filter:scale_vaapi filter:hwmap filter:format"},
        {"054-", "device:cuda hwaccel:cuda encoder:h264_nvenc filter:scale_cuda encoder:aac"},
        {"055-", "device:qsv decoder:hevc_qsv hwaccel:qsv encoder:h264_qsv filter:vpp_qsv "
                 "encoder:aac"},
    };
    static struct job_spec s;
    char reason[256], needs[JOB_SPEC_REQUIRES_MAX], err[256];
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert_eq(corpus_parse(lines[i].prefix, &s, reason, sizeof(reason)), ARGV_NATIVE,
                     "%s: %s", lines[i].prefix, reason);
        cr_assert_eq(routing_job_requires(&s, needs, sizeof(needs), err, sizeof(err)), 0, "%s: %s",
                     lines[i].prefix, err);
        cr_expect_str_eq(needs, lines[i].requires, "%s", lines[i].prefix);
    }
}

/* The CLI's device grammar and names: -init_hw_device is global (anywhere
 * before the output, in order), an unnamed device is TYPE plus the lowest
 * free number, -vaapi_device and -qsv_device expand as the CLI expands
 * them, and -filter_hw_device must name a device defined before it. */
Test(argv_hardware, devices_are_named_and_checked_as_the_cli_does)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-i /m/a.mkv -init_hw_device vulkan -init_hw_device vulkan "
                            "-filter_hw_device vulkan1 " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_eq(s.n_hw_devices, 2);
    cr_assert_str_eq(s.hw_devices[1], "vulkan");
    cr_assert_str_eq(s.filter_hw_device, "vulkan1");

    cr_assert_eq(
        parse_args("-init_hw_device vaapi=vaapi0:/dev/dri/renderD128 -init_hw_device vaapi "
                   "-filter_hw_device vaapi1 -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_NATIVE, "a name taken by hand is skipped: %s", reason);

    cr_assert_eq(parse_args("-vaapi_device /dev/dri/renderD128 -filter_hw_device vaapi0 "
                            "-i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hw_devices[0], "vaapi:/dev/dri/renderD128");

    cr_assert_eq(parse_args("-qsv_device /dev/dri/renderD128 -filter_hw_device __qsv_device "
                            "-i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hw_devices[0], "qsv=__qsv_device:hw_any,child_device=/dev/dri/renderD128");

    cr_assert_eq(parse_args("-init_hw_device opencl=ocl:0.0,device_type=gpu -init_hw_device "
                            "vulkan=vk@ocl -i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);

    /* What every ffmpeg rejects is refused, in the CLI's words. */
    static const struct {
        const char *options, *reason;
    } refused[] = {
        {"-filter_hw_device va -init_hw_device vaapi=va",
         "refuse: -filter_hw_device va names no device defined before it (ffmpeg: Invalid "
         "filter "
         "device va.)"},
        {"-init_hw_device vaapi=va -filter_hw_device va -filter_hw_device va",
         "refuse: -filter_hw_device given twice (ffmpeg: Only one filter device can be used.)"},
        {"-init_hw_device vaapi=va -init_hw_device opencl=va",
         "refuse: Invalid device specification \"opencl=va\": named device already exists"},
        {"-init_hw_device qsv=qs@va",
         "refuse: Invalid device specification \"qsv=qs@va\": invalid source device name"},
        {"-init_hw_device vaapi=va:,driver",
         "refuse: Invalid device specification \"vaapi=va:,driver\": failed to parse options"},
        {"-init_hw_device vulkan -filter_hw_device vulkan1",
         "refuse: -filter_hw_device vulkan1 names no device defined before it (ffmpeg: Invalid "
         "filter device vulkan1.)"},
        {"-qsv_device \"\"", "refuse: Invalid device specification "
                             "\"qsv=__qsv_device:hw_any,child_device=\": failed to parse options"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s -i /m/a.mkv %s%s%s", refused[i].options, LINE_VIDEO,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_REFUSE, "%s: %s",
                     refused[i].options, reason);
        cr_expect_str_eq(reason, refused[i].reason, "%s", refused[i].options);
    }

    /* What only libav 5.1 lacks, or no Linux worker has, goes to the local
     * ffmpeg, which may know better; so does what the job cannot hold. */
    static const struct {
        const char *options, *reason;
    } local[] = {
        {"-init_hw_device rkmpp=rk -filter_hw_device rk",
         "passthrough: hardware device type rkmpp unknown to libav 5.1"},
        {"-init_hw_device videotoolbox=vt",
         "passthrough: hardware device type videotoolbox runs on no Linux worker"},
        {"-init_hw_device d3d11va=dx -filter_hw_device dx",
         "passthrough: hardware device type d3d11va runs on no Linux worker"},
        {"-init_hw_device list", "passthrough: -init_hw_device list prints the device types"},
        {"-init_hw_device vaapi -init_hw_device vaapi -init_hw_device vaapi -init_hw_device "
         "vaapi "
         "-init_hw_device vaapi",
         "passthrough: more than 4 hardware devices not native"},
        {"-init_hw_device \"vaapi=va:,driver='iHD'\"",
         "passthrough: cannot read -init_hw_device value 'vaapi=va:,driver='iHD''"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s -i /m/a.mkv %s%s%s", local[i].options, LINE_VIDEO,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     local[i].options, reason);
        cr_expect_str_eq(reason, local[i].reason, "%s", local[i].options);
    }
    /* After the output a global option is outside the job, as before. */
    cr_assert_eq(parse_args("-i /m/a.mkv " LINE_VIDEO LINE_AUDIO LINE_HLS " -init_hw_device vaapi",
                            &s, reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

/* -hwaccel and its companions are input options: kept as written, checked
 * against libav 5.1's names; after -i the CLI rejects them. */
Test(argv_hardware, hwaccel_options_are_read_before_the_input)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-init_hw_device cuda=cu:0 -hwaccel nvdec -hwaccel_device cu "
                            "-hwaccel_output_format cuda -hwaccel_flags "
                            "+allow_profile_mismatch-ignore_level -extra_hw_frames 8 "
                            "-i /m/a.mkv -noautoscale " LINE_VIDEO LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hwaccel, "nvdec", "the worker renames it, as the CLI does");
    cr_assert_str_eq(s.hwaccel_device, "cu");
    cr_assert_str_eq(s.hwaccel_output_format, "cuda");
    cr_assert_str_eq(s.hwaccel_flags, "+allow_profile_mismatch-ignore_level");
    cr_assert_eq(s.extra_hw_frames, 8);
    cr_assert_eq(s.autoscale, 0);
    cr_assert_str_eq(s.video_codec, "libx264", "hardware decoding into a software encoder");

    cr_assert_eq(
        parse_args("-hwaccel auto -i /m/a.mkv -autoscale 1 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hwaccel, "auto");
    cr_assert_eq(s.autoscale, 1);
    cr_assert_eq(parse_args("-hwaccel_device /dev/dri/renderD128 -hwaccel vaapi -i /m/a.mkv "
                            "-vf \"format=nv12,hwupload\" -c:v h264_vaapi -c:a aac " LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.hwaccel_device, "/dev/dri/renderD128");

    static const struct {
        const char *options, *reason;
    } local[] = {
        {"-hwaccel rkmpp", "passthrough: -hwaccel rkmpp unknown to libav 5.1"},
        {"-hwaccel videotoolbox", "passthrough: -hwaccel videotoolbox runs on no Linux worker"},
        {"-hwaccel vaapi -hwaccel_flags +unsafe_output",
         "passthrough: -hwaccel_flags unsafe_output unknown to libav 5.1"},
        {"-hwaccel vaapi -hwaccel_flags +low_priority",
         "passthrough: -hwaccel_flags low_priority unknown to libav 5.1"},
        {"-hwaccel vaapi -hwaccel_flags 1", "passthrough: cannot read -hwaccel_flags value '1'"},
        {"-hwaccel cuda -extra_hw_frames -2", "passthrough: -extra_hw_frames value out of range"},
        {"-hwaccel vaapi -hwaccel_output_format \"\"",
         "passthrough: cannot read -hwaccel_output_format value ''"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s -i /m/a.mkv %s%s%s", local[i].options, LINE_VIDEO,
                 LINE_AUDIO, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     local[i].options, reason);
        cr_expect_str_eq(reason, local[i].reason, "%s", local[i].options);
    }
    cr_assert_eq(parse_args("-i /m/a.mkv -hwaccel vaapi " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: -hwaccel after -i not native");
    cr_assert_eq(parse_args("-i /m/a.mkv -extra_hw_frames 3 " LINE_VIDEO LINE_AUDIO LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
}

/* The hardware encoders the pool runs, with the options Jellyfin gives
 * them; the ones no Linux worker has stay local. */
Test(argv_hardware, hardware_encoders_take_their_options)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(parse_args("-init_hw_device vaapi=va:/dev/dri/renderD128 -filter_hw_device va "
                            "-i /m/a.mkv -map 0:0 -map 0:1 -codec:v:0 hevc_vaapi -low_power 1 "
                            "-compression_level 7 -rc_mode VBR -async_depth 4 -rc_mode:v QVBR "
                            "-sei +identifier+timing -flags:v -global_header "
                            "-b:v 4M -maxrate 4M -bufsize 8M -profile:v:0 main "
                            "-vf \"format=nv12,hwupload=extra_hw_frames=16\" " LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(reason, "native: HLS hevc_vaapi+aac");
    cr_assert_str_eq(s.video_encoder_options,
                     "low_power=1\ncompression_level=7\nasync_depth=4\n"
                     "rc_mode=QVBR\nsei=+identifier+timing\n"
                     "flags=-global_header",
                     "a later value of a key replaces the earlier one");
    cr_assert_eq(s.video_bitrate, 4000000);
    cr_assert_eq(s.bufsize, 8000000);

    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v h264_nvenc -preset p4 -forced-idr 1 -c:a aac " LINE_HLS, &s,
                   reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_encoder_options, "forced-idr=1");
    cr_assert_eq(
        parse_args("-i /m/a.mkv -c:v h264_qsv -forced_idr true -async_depth 1 -c:a aac " LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_encoder_options, "forced_idr=true\nasync_depth=1");

    static const struct {
        const char *video, *reason;
    } local[] = {
        {"-c:v h264_videotoolbox", "passthrough: hardware encoder h264_videotoolbox not run by "
                                   "the pool"},
        {"-c:v h264_amf", "passthrough: hardware encoder h264_amf not run by the pool"},
        {"-c:v h264_omx", "passthrough: hardware encoder h264_omx not run by the pool"},
        /* Encoders the pipeline has no IDR placement for. */
        {"-c:v h264_v4l2m2m", "passthrough: hardware encoder h264_v4l2m2m not run by the pool"},
        {"-c:v av1_nvenc", "passthrough: hardware encoder av1_nvenc not run by the pool"},
        {"-c:v av1_vaapi", "passthrough: hardware encoder av1_vaapi not run by the pool"},
        {"-c:v h264_vaapi -sei -a53_cc", "passthrough: -sei a53_cc unknown to libav 5.1"},
        {"-c:v h264_vaapi -rc_mode CRF", "passthrough: -rc_mode CRF unknown to libav 5.1"},
        {"-c:v h264_vaapi -flags:s -global_header",
         "passthrough: -flags:s not native (only -flags, -flags:v, -flags:a)"},
        {"-c:v h264_vaapi -flags:v +unaligned", "passthrough: -flags:v unaligned not native"},
        {"-c:v h264_qsv -low_power maybe", "passthrough: cannot read -low_power value 'maybe'"},
        {"-c:v h264_qsv -async_depth 0", "passthrough: -async_depth value out of range"},
        {"-c:v h264_qsv -mbbrc 2", "passthrough: -mbbrc value out of range"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "-i /m/a.mkv %s -c:a aac %s", local[i].video, LINE_HLS);
        cr_expect_eq(parse_args(line, &s, reason, sizeof(reason)), ARGV_PASSTHROUGH, "%s: %s",
                     local[i].video, reason);
        cr_expect_str_eq(reason, local[i].reason, "%s", local[i].video);
    }
    cr_assert_eq(parse_args("-c:v h264_mmal -i /m/a.mkv -c:v libx264 -c:a aac " LINE_HLS, &s,
                            reason, sizeof(reason)),
                 ARGV_PASSTHROUGH);
    cr_assert_str_eq(reason, "passthrough: hardware decoder h264_mmal not run by the pool");
}

/* hwupload, hwmap, hwdownload and hardware filters are filter names like
 * any other, in -vf and -filter_complex. */
Test(argv_hardware, hardware_filters_are_filter_names)
{
    static struct job_spec s;
    char reason[256];
    cr_assert_eq(
        parse_args("-init_hw_device vulkan=vk -filter_hw_device vk -i /m/a.mkv "
                   "-map 0:0 -map 0:1 -codec:v:0 libx264 -vf \"format=yuv420p,hwupload,"
                   "scale_vulkan=w=640:h=360,hwdownload,format=yuv420p\" " LINE_AUDIO LINE_HLS,
                   &s, reason, sizeof(reason)),
        ARGV_NATIVE, "%s", reason);
    cr_assert_str_eq(s.video_filter,
                     "format=yuv420p,hwupload,scale_vulkan=w=640:h=360,hwdownload,format=yuv420p");
    cr_assert_eq(parse_args("-i /m/a.mkv " LINE_VIDEO
                            "-vf \"scale_cuda=format=nv12\" " LINE_AUDIO LINE_HLS,
                            &s, reason, sizeof(reason)),
                 ARGV_NATIVE, "%s", reason);
}
