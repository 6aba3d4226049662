/* pipeline_hw.c -- a run's hardware, step for step as the ffmpeg 5.1 CLI
 * does it (fftools/ffmpeg_opt.c, ffmpeg_hw.c and the hardware parts of
 * ffmpeg.c), so that a Jellyfin hardware line gets the devices, decoder,
 * filters and encoder setup the CLI would give it:
 *
 *  - before anything else, the driver environment Jellyfin set in its own
 *    process (LIBVA_DRIVER_NAME...), then every -init_hw_device in order
 *    (hw_device.c has the CLI's grammar and names), then -filter_hw_device;
 *  - the video decoder: -hwaccel TYPE|auto (nvdec and cuvid are cuda),
 *    its device by the CLI's hw_device_setup_for_decode (by
 *    -hwaccel_device's name, else the one device of the type, else a new
 *    default device; auto tries each of the decoder's device types), the
 *    CLI's get_format (a hardware format only for -hwaccel and only of that
 *    device type; libavcodec falls back to software by itself when the
 *    hwaccel cannot start), -hwaccel_flags and -extra_hw_frames as decoder
 *    options, and hwaccel_retrieve_data: surfaces are downloaded unless
 *    -hwaccel_output_format names their own format (qsv and cuvid default
 *    to keeping them, as in 5.1);
 *  - filters: one device for every filter a graph parses (the CLI's
 *    hw_device_setup_for_filter in 5.1: -filter_hw_device, else the last
 *    device created, decoders' included);
 *  - encoders: hw_device_setup_for_encode (the sink's frames context when
 *    its format is the encoder's, else the one device of a type it takes).
 *
 * The pipeline never logs (pipeline.h): the CLI's messages become the
 * run's error sentence; what only the CLI prints as information (auto
 * hwaccel chosen, the several-devices warning) is not printed. The decoder
 * and its threads read this module's state through get_format; it is
 * written only before the decoder opens. */
#include "pipeline_hw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>

#include "hw_device.h"

/* -hwaccel, as the CLI keeps it (ist->hwaccel_id). */
enum hw_accel {
    HW_ACCEL_NONE = 0,
    HW_ACCEL_AUTO,
    HW_ACCEL_GENERIC,
};

struct pipeline_hw {
    struct pipeline_run *run;
    struct hw_devices devices;
    const struct hw_device *filter_device; /* -filter_hw_device; NULL: the last device */
    enum hw_accel accel;
    enum AVHWDeviceType accel_type;   /* GENERIC: -hwaccel's; AUTO: the one found */
    enum AVPixelFormat output_format; /* -hwaccel_output_format, NONE: download */
};

int pipeline_hw_wanted(const struct job_spec *spec)
{
    return job_spec_uses_hardware(spec) || spec->hwaccel_output_format[0] != '\0' ||
           spec->hwaccel_flags[0] != '\0' || spec->extra_hw_frames != JOB_SPEC_UNSET ||
           spec->environment[0] != '\0';
}

/* ---- the run's start: environment and devices ------------------------------------- */

/* Sets spec->environment's "NAME=value" lines in this process (the job's
 * own process: nothing else runs in it) before any driver loads. */
static int hw_apply_environment(struct pipeline_hw *hw)
{
    const struct job_spec *spec = hw->run->spec;
    char lines[sizeof(spec->environment)];
    snprintf(lines, sizeof(lines), "%s", spec->environment);
    char *save = NULL;
    for (char *line = strtok_r(lines, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL || !job_spec_environment_allowed(line, (size_t)(eq - line)))
            return pipeline_fail(hw->run, AVERROR(EINVAL),
                                 "set driver environment \"%s\": not a driver variable", line);
        *eq = '\0';
        if (setenv(line, eq + 1, 1) != 0)
            return pipeline_fail(hw->run, AVERROR(errno), "set driver environment %s", line);
    }
    return PIPELINE_OK;
}

/* Reads -hwaccel and -hwaccel_output_format as ffmpeg_opt.c does. */
static int hw_read_hwaccel(struct pipeline_hw *hw)
{
    const struct job_spec *spec = hw->run->spec;
    const char *accel = spec->hwaccel;
    hw->output_format = AV_PIX_FMT_NONE;
    /* An unknown name is only logged by the CLI, which goes on with none. */
    if (spec->hwaccel_output_format[0] != '\0')
        hw->output_format = av_get_pix_fmt(spec->hwaccel_output_format);
    else if (strcmp(accel, "cuvid") == 0)
        hw->output_format = AV_PIX_FMT_CUDA;
    else if (strcmp(accel, "qsv") == 0)
        hw->output_format = AV_PIX_FMT_QSV;
    if (strcmp(accel, "nvdec") == 0 || strcmp(accel, "cuvid") == 0)
        accel = "cuda";
    hw->accel = HW_ACCEL_NONE;
    if (accel[0] == '\0' || strcmp(accel, "none") == 0)
        return PIPELINE_OK;
    if (strcmp(accel, "auto") == 0) {
        hw->accel = HW_ACCEL_AUTO;
        return PIPELINE_OK;
    }
    hw->accel_type = av_hwdevice_find_type_by_name(accel);
    if (hw->accel_type == AV_HWDEVICE_TYPE_NONE)
        return pipeline_fail(hw->run, AVERROR(EINVAL), "-hwaccel %s: Unrecognized hwaccel: %s.",
                             spec->hwaccel, spec->hwaccel);
    hw->accel = HW_ACCEL_GENERIC;
    return PIPELINE_OK;
}

int pipeline_hw_open(struct pipeline_hw **out, struct pipeline_run *run)
{
    const struct job_spec *spec = run->spec;
    struct pipeline_hw *hw = *out = av_mallocz(sizeof(*hw));
    if (hw == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the run's hardware");
    hw->run = run;
    int ret = hw_apply_environment(hw);
    if (ret != PIPELINE_OK)
        return ret;
    for (int i = 0; i < spec->n_hw_devices && i < JOB_SPEC_HW_DEVICES_MAX; i++) {
        const char *arg = spec->hw_devices[i];
        char name[HW_DEVICE_NAME_MAX], why[512];
        hw_devices_name_for(&hw->devices, arg, name, sizeof(name));
        int averr = hw_devices_add(&hw->devices, arg, why, sizeof(why));
        if (averr < 0)
            return pipeline_fail(run, 0, "create hardware device %s%s(-init_hw_device %s): %s (%s)",
                                 name, name[0] != '\0' ? " " : "", arg, why, av_err2str(averr));
    }
    if (spec->filter_hw_device[0] != '\0') {
        hw->filter_device = hw_devices_find(&hw->devices, spec->filter_hw_device);
        if (hw->filter_device == NULL)
            return pipeline_fail(run, AVERROR(EINVAL),
                                 "-filter_hw_device %s: Invalid filter device %s.",
                                 spec->filter_hw_device, spec->filter_hw_device);
    }
    return hw_read_hwaccel(hw);
}

/* ---- decoding ----------------------------------------------------------------------- */

/* ffmpeg.c get_format: the decoder's first software format, unless a
 * hardware format before it belongs to a device config of the -hwaccel
 * type (then libavcodec starts that hwaccel, or drops the format and asks
 * again when it cannot: the silent software fallback). */
static enum AVPixelFormat hw_get_format(AVCodecContext *decoder, const enum AVPixelFormat *formats)
{
    const struct pipeline_hw *hw = decoder->opaque;
    const enum AVPixelFormat *p;
    for (p = formats; *p != AV_PIX_FMT_NONE; p++) {
        const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(*p);
        if (!(desc->flags & AV_PIX_FMT_FLAG_HWACCEL))
            break;
        const AVCodecHWConfig *config = NULL;
        if (hw->accel != HW_ACCEL_NONE) {
            for (int i = 0;; i++) {
                config = avcodec_get_hw_config(decoder->codec, i);
                if (config == NULL)
                    break;
                if ((config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
                    config->pix_fmt == *p)
                    break;
            }
        }
        if (config != NULL && config->device_type == hw->accel_type)
            break;
    }
    return *p;
}

/* The first device config of codec whose type has exactly one device
 * (hw_device_match_by_codec), or NULL. */
static const struct hw_device *hw_match_by_codec(const struct pipeline_hw *hw, const AVCodec *codec)
{
    for (int i = 0;; i++) {
        const AVCodecHWConfig *config = avcodec_get_hw_config(codec, i);
        if (config == NULL)
            return NULL;
        if (!(config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
            continue;
        const struct hw_device *dev = hw_devices_find_type(&hw->devices, config->device_type);
        if (dev != NULL)
            return dev;
    }
}

/* -hwaccel auto: a device of one of codec's types, existing ones first,
 * else a new one (on -hwaccel_device's device string, if any); none found
 * turns hardware decoding off. */
static const struct hw_device *hw_auto_device(struct pipeline_hw *hw, const AVCodec *codec)
{
    const char *device = hw->run->spec->hwaccel_device;
    const struct hw_device *dev = NULL;
    const AVCodecHWConfig *config;
    for (int i = 0; dev == NULL && (config = avcodec_get_hw_config(codec, i)) != NULL; i++) {
        dev = hw_devices_find_type(&hw->devices, config->device_type);
        if (dev != NULL)
            hw->accel_type = config->device_type;
    }
    for (int i = 0; dev == NULL && (config = avcodec_get_hw_config(codec, i)) != NULL; i++) {
        char why[256];
        if (hw_devices_add_default(&hw->devices, config->device_type,
                                   device[0] != '\0' ? device : NULL, &dev, why, sizeof(why)) >= 0)
            hw->accel_type = config->device_type;
    }
    if (dev == NULL)
        hw->accel = HW_ACCEL_NONE; /* "Auto hwaccel disabled: no device found." */
    return dev;
}

int pipeline_hw_setup_decoder(struct pipeline_hw *hw, AVCodecContext *decoder,
                              AVDictionary **options)
{
    struct pipeline_run *run = hw->run;
    const struct job_spec *spec = run->spec;
    const AVCodec *codec = decoder->codec;
    const struct hw_device *dev = NULL;
    char why[256] = "";
    int averr = 0;

    decoder->opaque = hw;
    decoder->get_format = hw_get_format;
    /* Decoder options in the CLI (codec_opts before -i). */
    if (spec->hwaccel_flags[0] != '\0')
        averr = av_dict_set(options, "hwaccel_flags", spec->hwaccel_flags, 0);
    if (averr >= 0 && spec->extra_hw_frames != JOB_SPEC_UNSET)
        averr = av_dict_set_int(options, "extra_hw_frames", spec->extra_hw_frames, 0);
    if (averr < 0)
        return pipeline_fail(run, averr, "set video decoder options");

    /* hw_device_setup_for_decode */
    if (spec->hwaccel_device[0] != '\0') {
        dev = hw_devices_find(&hw->devices, spec->hwaccel_device);
        if (dev == NULL && hw->accel == HW_ACCEL_GENERIC) {
            averr = hw_devices_add_default(&hw->devices, hw->accel_type, spec->hwaccel_device, &dev,
                                           why, sizeof(why));
        } else if (dev == NULL && hw->accel == HW_ACCEL_NONE) {
            return PIPELINE_OK; /* the CLI leaves it to API-specific set-ups */
        } else if (dev != NULL && hw->accel == HW_ACCEL_AUTO) {
            hw->accel_type = dev->type;
        } else if (dev != NULL && hw->accel == HW_ACCEL_GENERIC && dev->type != hw->accel_type) {
            return pipeline_fail(run, AVERROR(EINVAL),
                                 "set up video decoder %s: Invalid hwaccel device specified for "
                                 "decoder: device %s of type %s is not usable with hwaccel %s.",
                                 codec->name, dev->name, av_hwdevice_get_type_name(dev->type),
                                 av_hwdevice_get_type_name(hw->accel_type));
        }
    } else if (hw->accel == HW_ACCEL_GENERIC) {
        dev = hw_devices_find_type(&hw->devices, hw->accel_type);
        if (dev == NULL && hw->accel_type == AV_HWDEVICE_TYPE_QSV)
            dev = hw_devices_find(&hw->devices, "__qsv_device");
        if (dev == NULL)
            averr =
                hw_devices_add_default(&hw->devices, hw->accel_type, NULL, &dev, why, sizeof(why));
    } else if (hw->accel == HW_ACCEL_NONE) {
        dev = hw_match_by_codec(hw, codec);
        if (dev == NULL)
            return PIPELINE_OK; /* no device needed */
    }
    if (dev == NULL && hw->accel == HW_ACCEL_AUTO) {
        if (avcodec_get_hw_config(codec, 0) == NULL)
            return PIPELINE_OK; /* a decoder without hardware */
        dev = hw_auto_device(hw, codec);
        if (dev == NULL)
            return PIPELINE_OK;
    }
    if (dev == NULL)
        return pipeline_fail(run, averr < 0 ? averr : AVERROR(EINVAL),
                             "set up video decoder %s: No device available for decoder: device "
                             "type %s needed for codec %s.%s%s",
                             codec->name, av_hwdevice_get_type_name(hw->accel_type), codec->name,
                             why[0] != '\0' ? " " : "", why);
    decoder->hw_device_ctx = av_buffer_ref(dev->ref);
    if (decoder->hw_device_ctx == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "set up video decoder %s", codec->name);
    return PIPELINE_OK;
}

int pipeline_hw_retrieve(const struct pipeline_hw *hw, AVFrame *frame)
{
    if (hw->accel == HW_ACCEL_NONE || frame->hw_frames_ctx == NULL)
        return 0;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(frame->format);
    if (desc == NULL || !(desc->flags & AV_PIX_FMT_FLAG_HWACCEL) ||
        frame->format == hw->output_format)
        return 0; /* software frames, or surfaces kept as such */
    AVFrame *output = av_frame_alloc();
    if (output == NULL)
        return AVERROR(ENOMEM);
    /* NONE: the first format the frames context transfers to, its sw_format. */
    output->format = hw->output_format;
    int averr = av_hwframe_transfer_data(output, frame, 0);
    if (averr >= 0)
        averr = av_frame_copy_props(output, frame);
    if (averr >= 0) {
        av_frame_unref(frame);
        av_frame_move_ref(frame, output);
    }
    av_frame_free(&output);
    return averr;
}

/* ---- filters and encoders ------------------------------------------------------------- */

AVBufferRef *pipeline_hw_filter_device(const struct pipeline_hw *hw)
{
    const struct hw_device *dev =
        hw->filter_device != NULL ? hw->filter_device : hw_devices_last(&hw->devices);
    return dev != NULL ? dev->ref : NULL;
}

int pipeline_hw_setup_encoder(const struct pipeline_hw *hw, AVCodecContext *encoder,
                              const AVFrame *frame)
{
    AVBufferRef *frames = frame->hw_frames_ctx;
    if (frames != NULL && ((AVHWFramesContext *)frames->data)->format != encoder->pix_fmt)
        frames = NULL;
    const struct hw_device *dev = NULL;
    for (int i = 0;; i++) {
        const AVCodecHWConfig *config = avcodec_get_hw_config(encoder->codec, i);
        if (config == NULL)
            break;
        if (frames != NULL && (config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_FRAMES_CTX) &&
            (config->pix_fmt == AV_PIX_FMT_NONE || config->pix_fmt == encoder->pix_fmt)) {
            encoder->hw_frames_ctx = av_buffer_ref(frames);
            if (encoder->hw_frames_ctx == NULL)
                return pipeline_fail(hw->run, AVERROR(ENOMEM), "set up video encoder %s",
                                     encoder->codec->name);
            return PIPELINE_OK;
        }
        if (dev == NULL && (config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
            dev = hw_devices_find_type(&hw->devices, config->device_type);
    }
    if (dev == NULL)
        return PIPELINE_OK; /* none needed, or the encoder makes its own */
    encoder->hw_device_ctx = av_buffer_ref(dev->ref);
    if (encoder->hw_device_ctx == NULL)
        return pipeline_fail(hw->run, AVERROR(ENOMEM), "set up video encoder %s",
                             encoder->codec->name);
    return PIPELINE_OK;
}

void pipeline_hw_free(struct pipeline_hw **hwp)
{
    if (*hwp == NULL)
        return;
    hw_devices_free(&(*hwp)->devices);
    av_freep(hwp);
}
