/* test_pipeline_hw_modules.c -- the parts of the pipeline's hardware path called directly,
 * on real Vulkan frames (Mesa's lavapipe) and OpenCL (pocl): hardware frames enter the
 * filter graph with their frames context, a graph built again for another size keeps
 * the first one's (unless -noautoscale), decoded surfaces are downloaded as the CLI's
 * hwaccel_retrieve_data does them, the decoder and the filters get their devices as the
 * CLI gives them, the driver environment is set before any device, and devices are
 * named as the CLI names them (hw_device.c). Whole jobs on hardware lines are tested in
 * test_pipeline_hw.c; the clips are in pipeline_hw_test_lib.h. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/hwcontext.h>

#include "hw_device.h"
#include "job_spec.h"
#include "pipeline.h"
#include "pipeline_graph.h"
#include "pipeline_hw.h"
#include "pipeline_hw_test_lib.h"
#include "pipeline_run.h"

/* ---- the module's parts, on real Vulkan frames ------------------------------------------- */

/* A run context over spec, for calling the modules directly. */
static void run_context(struct pipeline_run *run, const struct job_spec *spec, char *err,
                        size_t errlen)
{
    memset(run, 0, sizeof(*run));
    run->spec = spec;
    run->err = err;
    run->errlen = errlen;
    pthread_mutex_init(&run->fail_lock, NULL);
    err[0] = '\0';
}

/* A Vulkan frame of w x h (yuv420p inside) from a frames context of its
 * own on device, filled with a gradient. libavutil 5.1 uploads a frame
 * whose memory Vulkan can import (VK_EXT_external_memory_host, which
 * lavapipe has) asynchronously without a reference to it: the software
 * frame must outlive the copy, so a download (synchronous, ordered after
 * the upload by the frame's semaphore) waits for it before it is freed. */
static AVFrame *vulkan_frame(AVBufferRef *device, int w, int h, AVBufferRef **frames_out)
{
    AVBufferRef *frames = av_hwframe_ctx_alloc(device);
    cr_assert_not_null(frames);
    AVHWFramesContext *fc = (AVHWFramesContext *)frames->data;
    fc->format = AV_PIX_FMT_VULKAN;
    fc->sw_format = AV_PIX_FMT_YUV420P;
    fc->width = w;
    fc->height = h;
    cr_assert_geq(av_hwframe_ctx_init(frames), 0);
    AVFrame *sw = av_frame_alloc();
    sw->format = AV_PIX_FMT_YUV420P;
    sw->width = w;
    sw->height = h;
    cr_assert_geq(av_frame_get_buffer(sw, 0), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            sw->data[0][y * sw->linesize[0] + x] = (uint8_t)(x + y);
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < h / 2; y++)
            memset(sw->data[p] + y * sw->linesize[p], 128, (size_t)w / 2);
    AVFrame *hw = av_frame_alloc();
    cr_assert_geq(av_hwframe_get_buffer(frames, hw, 0), 0);
    cr_assert_geq(av_hwframe_transfer_data(hw, sw, 0), 0);
    AVFrame *back = av_frame_alloc();
    cr_assert_geq(av_hwframe_transfer_data(back, hw, 0), 0);
    av_frame_free(&back);
    hw->pts = 7;
    av_frame_free(&sw);
    *frames_out = frames;
    return hw;
}

/* Hardware frames enter the graph with their frames context (the buffer
 * source's av_buffersrc_parameters_set): a Vulkan filter first in the
 * graph works on them directly; a frame from another frames context is
 * one the graph was not built for. */
Test(pipeline_hw, vulkan_frames_enter_the_graph_with_their_frames_context)
{
    char input[512], err[512];
    fixture_path(input, sizeof(input), "clip.mkv");
    AVFormatContext *format = NULL;
    cr_assert_geq(avformat_open_input(&format, input, NULL, NULL), 0);
    cr_assert_geq(avformat_find_stream_info(format, NULL), 0);
    AVBufferRef *device = NULL;
    cr_assert_geq(hw_device_create(&device, AV_HWDEVICE_TYPE_VULKAN, NULL, NULL, NULL), 0);
    AVBufferRef *frames = NULL, *other_frames = NULL;
    AVFrame *hw = vulkan_frame(device, 320, 240, &frames);
    AVFrame *other = vulkan_frame(device, 320, 240, &other_frames);

    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.video_filter, sizeof(spec.video_filter),
             "scale_vulkan=w=160:h=120,hwdownload,format=yuv420p");
    struct pipeline_run run;
    run_context(&run, &spec, err, sizeof(err));
    static const enum AVPixelFormat formats[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE};
    struct pipeline_graph_source src = {
        .input = format,
        .stream = format->streams[0],
        .frame_rate = {25, 1},
        .pix_fmts = formats,
        .subtitle_index = -1,
        .hw_device = device,
    };
    struct pipeline_graph *graph = NULL;
    cr_assert_eq(pipeline_graph_build(&graph, &run, &src, hw), PIPELINE_OK, "%s", err);
    const struct pipeline_graph_output *out = pipeline_graph_output(graph);
    cr_expect_eq(out->width, 160);
    cr_expect_eq(out->height, 120);
    cr_expect_eq(out->format, AV_PIX_FMT_YUV420P);
    cr_expect(pipeline_graph_accepts(graph, hw));
    cr_expect_not(pipeline_graph_accepts(graph, other), "another frames context was accepted");

    AVFrame *filtered = av_frame_alloc();
    AVFrame *in = av_frame_clone(hw);
    cr_assert_geq(pipeline_graph_send(graph, in), 0);
    av_frame_free(&in);
    cr_assert_geq(pipeline_graph_send(graph, NULL), 0);
    cr_assert_geq(pipeline_graph_receive(graph, filtered), 0);
    cr_expect_eq(filtered->width, 160);
    cr_expect_eq(filtered->format, AV_PIX_FMT_YUV420P);
    cr_expect_eq(filtered->pts, 7);
    cr_expect_null(filtered->hw_frames_ctx);

    av_frame_free(&filtered);
    pipeline_graph_free(&graph);
    av_frame_free(&hw);
    av_frame_free(&other);
    av_buffer_unref(&frames);
    av_buffer_unref(&other_frames);
    av_buffer_unref(&device);
    avformat_close_input(&format);
    pthread_mutex_destroy(&run.fail_lock);
}

/* A graph built again for frames of another size keeps the encoder's format
 * and, unless -noautoscale, the first graph's size (the CLI's scale in
 * configure_output_video_filter). */
Test(pipeline_hw, a_rebuilt_graph_keeps_the_first_size_unless_noautoscale)
{
    char input[512], err[512];
    fixture_path(input, sizeof(input), "clip.mkv");
    AVFormatContext *format = NULL;
    cr_assert_geq(avformat_open_input(&format, input, NULL, NULL), 0);
    cr_assert_geq(avformat_find_stream_info(format, NULL), 0);
    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.video_filter, sizeof(spec.video_filter), "setparams=range=tv");
    struct pipeline_run run;
    run_context(&run, &spec, err, sizeof(err));
    static const enum AVPixelFormat formats[] = {AV_PIX_FMT_NV12, AV_PIX_FMT_YUV420P,
                                                 AV_PIX_FMT_NONE};
    struct pipeline_graph_source src = {
        .input = format,
        .stream = format->streams[0],
        .frame_rate = {25, 1},
        .pix_fmts = formats,
        .subtitle_index = -1,
    };
    AVFrame *frame = av_frame_alloc();
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = 320;
    frame->height = 240;
    struct pipeline_graph *first = NULL, *again = NULL;
    cr_assert_eq(pipeline_graph_build(&first, &run, &src, frame), PIPELINE_OK, "%s", err);
    struct pipeline_graph_output out = *pipeline_graph_output(first);
    cr_expect_eq(out.width, 320);
    cr_expect_eq(out.format, AV_PIX_FMT_YUV420P);

    /* nv12 frames, which the encoder would take as they are: the open
     * encoder's yuv420p is kept. */
    frame->format = AV_PIX_FMT_NV12;
    frame->width = 240;
    frame->height = 180;
    cr_expect_not(pipeline_graph_accepts(first, frame), "a frame of another size was accepted");
    src.first = &out;
    cr_assert_eq(pipeline_graph_build(&again, &run, &src, frame), PIPELINE_OK, "%s", err);
    cr_expect_eq(pipeline_graph_output(again)->width, 320);
    cr_expect_eq(pipeline_graph_output(again)->height, 240);
    cr_expect_eq(pipeline_graph_output(again)->format, AV_PIX_FMT_YUV420P);
    pipeline_graph_free(&again);

    spec.autoscale = 0;
    cr_assert_eq(pipeline_graph_build(&again, &run, &src, frame), PIPELINE_OK, "%s", err);
    cr_expect_eq(pipeline_graph_output(again)->width, 240, "-noautoscale scaled");
    cr_expect_eq(pipeline_graph_output(again)->format, AV_PIX_FMT_YUV420P);
    pipeline_graph_free(&again);
    pipeline_graph_free(&first);
    av_frame_free(&frame);
    avformat_close_input(&format);
    pthread_mutex_destroy(&run.fail_lock);
}

/* The CLI's hwaccel_retrieve_data: a surface is downloaded into its frames
 * context's software format, its properties kept, unless
 * -hwaccel_output_format names the surface format. */
Test(pipeline_hw, decoded_surfaces_are_downloaded_unless_the_output_format_keeps_them)
{
    char err[512];
    AVBufferRef *device = NULL, *frames = NULL;
    cr_assert_geq(hw_device_create(&device, AV_HWDEVICE_TYPE_VULKAN, NULL, NULL, NULL), 0);
    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.hwaccel, sizeof(spec.hwaccel), "vulkan");
    struct pipeline_run run;
    run_context(&run, &spec, err, sizeof(err));
    struct pipeline_hw *hw = NULL;
    cr_assert_eq(pipeline_hw_open(&hw, &run), PIPELINE_OK, "%s", err);

    AVFrame *frame = vulkan_frame(device, 64, 32, &frames);
    cr_assert_eq(pipeline_hw_retrieve(hw, frame), 0);
    cr_expect_eq(frame->format, AV_PIX_FMT_YUV420P);
    cr_expect_null(frame->hw_frames_ctx);
    cr_expect_eq(frame->width, 64);
    cr_expect_eq(frame->pts, 7);
    cr_expect_eq(frame->data[0][5 * frame->linesize[0] + 9], 14, "the picture did not come back");
    av_frame_free(&frame);
    pipeline_hw_free(&hw);

    snprintf(spec.hwaccel_output_format, sizeof(spec.hwaccel_output_format), "vulkan");
    cr_assert_eq(pipeline_hw_open(&hw, &run), PIPELINE_OK, "%s", err);
    av_buffer_unref(&frames);
    frame = vulkan_frame(device, 64, 32, &frames);
    cr_assert_eq(pipeline_hw_retrieve(hw, frame), 0);
    cr_expect_eq(frame->format, AV_PIX_FMT_VULKAN);
    cr_expect_not_null(frame->hw_frames_ctx);
    av_frame_free(&frame);
    av_buffer_unref(&frames);
    pipeline_hw_free(&hw);
    av_buffer_unref(&device);
    pthread_mutex_destroy(&run.fail_lock);
}

/* hw_device_setup_for_decode: -hwaccel TYPE with no device of that type
 * makes a default one (named as the CLI names it), which becomes the last
 * device, the filters' one; -filter_hw_device picks another. */
Test(pipeline_hw, the_decoder_gets_its_device_as_the_cli_gives_it)
{
    char err[512];
    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.hw_devices[spec.n_hw_devices++], sizeof(spec.hw_devices[0]), "opencl=ocl");
    snprintf(spec.hwaccel, sizeof(spec.hwaccel), "vulkan");
    snprintf(spec.hwaccel_flags, sizeof(spec.hwaccel_flags), "+allow_profile_mismatch");
    spec.extra_hw_frames = 3;
    struct pipeline_run run;
    run_context(&run, &spec, err, sizeof(err));
    struct pipeline_hw *hw = NULL;
    cr_assert_eq(pipeline_hw_open(&hw, &run), PIPELINE_OK, "%s", err);
    AVBufferRef *ocl = pipeline_hw_filter_device(hw);
    cr_assert_not_null(ocl);
    cr_expect_eq(((AVHWDeviceContext *)ocl->data)->type, AV_HWDEVICE_TYPE_OPENCL);

    const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
    AVCodecContext *decoder = avcodec_alloc_context3(h264);
    AVDictionary *options = NULL;
    cr_assert_eq(pipeline_hw_setup_decoder(hw, decoder, &options), PIPELINE_OK, "%s", err);
    cr_assert_not_null(decoder->hw_device_ctx, "the decoder got no device");
    cr_expect_eq(((AVHWDeviceContext *)decoder->hw_device_ctx->data)->type,
                 AV_HWDEVICE_TYPE_VULKAN);
    cr_expect_eq(pipeline_hw_filter_device(hw)->data, decoder->hw_device_ctx->data,
                 "the decoder's new device is not the last one");
    cr_expect_str_eq(av_dict_get(options, "hwaccel_flags", NULL, 0)->value,
                     "+allow_profile_mismatch");
    cr_expect_str_eq(av_dict_get(options, "extra_hw_frames", NULL, 0)->value, "3");
    cr_expect_geq(avcodec_open2(decoder, h264, &options), 0);
    av_dict_free(&options);
    avcodec_free_context(&decoder);
    pipeline_hw_free(&hw);

    /* With -filter_hw_device the filters keep theirs. */
    snprintf(spec.filter_hw_device, sizeof(spec.filter_hw_device), "ocl");
    cr_assert_eq(pipeline_hw_open(&hw, &run), PIPELINE_OK, "%s", err);
    decoder = avcodec_alloc_context3(h264);
    cr_assert_eq(pipeline_hw_setup_decoder(hw, decoder, &options), PIPELINE_OK, "%s", err);
    cr_expect_eq(((AVHWDeviceContext *)pipeline_hw_filter_device(hw)->data)->type,
                 AV_HWDEVICE_TYPE_OPENCL);
    av_dict_free(&options);
    avcodec_free_context(&decoder);
    pipeline_hw_free(&hw);
    pthread_mutex_destroy(&run.fail_lock);
}

/* The driver environment is set in the job's process before any device;
 * only driver variables. */
Test(pipeline_hw, the_driver_environment_is_set_before_the_devices)
{
    char err[512];
    struct job_spec spec;
    job_spec_init(&spec);
    snprintf(spec.environment, sizeof(spec.environment),
             "LIBVA_DRIVER_NAME=ffpool-test\nAMD_DEBUG=noefc");
    snprintf(spec.hw_devices[spec.n_hw_devices++], sizeof(spec.hw_devices[0]), "vulkan");
    struct pipeline_run run;
    run_context(&run, &spec, err, sizeof(err));
    struct pipeline_hw *hw = NULL;
    cr_assert_eq(pipeline_hw_open(&hw, &run), PIPELINE_OK, "%s", err);
    cr_expect_str_eq(getenv("LIBVA_DRIVER_NAME"), "ffpool-test");
    cr_expect_str_eq(getenv("AMD_DEBUG"), "noefc");
    pipeline_hw_free(&hw);

    snprintf(spec.environment, sizeof(spec.environment), "LD_PRELOAD=/tmp/x.so");
    run_context(&run, &spec, err, sizeof(err));
    cr_expect_eq(pipeline_hw_open(&hw, &run), PIPELINE_ERROR);
    cr_expect(strstr(err, "not a driver variable") != NULL, "%s", err);
    cr_expect_null(getenv("LD_PRELOAD"));
    pipeline_hw_free(&hw);
    pthread_mutex_destroy(&run.fail_lock);
}

/* The CLI's names for devices a decoder creates and for those an argument
 * creates. */
Test(pipeline_hw, device_names_follow_the_cli)
{
    struct hw_devices devices = {0};
    char why[256], name[64];
    const struct hw_device *dev = NULL;
    hw_devices_name_for(&devices, "vulkan", name, sizeof(name));
    cr_expect_str_eq(name, "vulkan0");
    cr_assert_eq(hw_devices_add(&devices, "vulkan", why, sizeof(why)), 0, "%s", why);
    hw_devices_name_for(&devices, "vulkan:0", name, sizeof(name));
    cr_expect_str_eq(name, "vulkan1");
    hw_devices_name_for(&devices, "opencl=ocl:0.0", name, sizeof(name));
    cr_expect_str_eq(name, "ocl");
    hw_devices_name_for(&devices, "nosuch=x", name, sizeof(name));
    cr_expect_str_eq(name, "");
    cr_assert_eq(
        hw_devices_add_default(&devices, AV_HWDEVICE_TYPE_VULKAN, NULL, &dev, why, sizeof(why)), 0,
        "%s", why);
    cr_expect_str_eq(dev->name, "vulkan1");
    cr_expect_eq(hw_devices_last(&devices), dev);
    cr_expect_null(hw_devices_find_type(&devices, AV_HWDEVICE_TYPE_VULKAN),
                   "two Vulkan devices: none is the one of its type");
    cr_expect_lt(
        hw_devices_add_default(&devices, AV_HWDEVICE_TYPE_VULKAN, "7", &dev, why, sizeof(why)), 0);
    cr_expect_str_eq(why, "Device creation failed: -19.");
    hw_devices_free(&devices);
}
