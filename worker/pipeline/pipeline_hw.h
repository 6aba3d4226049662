/* pipeline_hw.h -- a run's hardware, as the ffmpeg 5.1 CLI sets it up
 * (see pipeline_hw.c): the driver environment and the -init_hw_device
 * devices, the video decoder's device, get_format and downloads
 * (-hwaccel...), the device filters get (-filter_hw_device), and the frames
 * context or device a hardware encoder gets. Opened by the driver
 * (pipeline.c), used by the video stage; a leaf otherwise: it calls only
 * the devices (hw_device.c) and the run's error sink. */
#ifndef FFPOOL_WORKER_PIPELINE_HW_H
#define FFPOOL_WORKER_PIPELINE_HW_H

#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>

#include "pipeline_run.h"

struct pipeline_hw;

/* Whether the job asks for anything this module does: a device, a
 * hardware decoder, decoder or encoder, decoder hardware options, or a
 * driver environment. A job that does not runs without one (NULL). */
int pipeline_hw_wanted(const struct job_spec *spec);

/* Starts the run's hardware in *out (set even on failure: free it): sets
 * spec->environment's variables in this process, then creates every
 * -init_hw_device device in order, then finds -filter_hw_device. An error
 * names the device and gives the CLI's reason ("Device creation failed:
 * -22."). Returns a pipeline_result. */
int pipeline_hw_open(struct pipeline_hw **out, struct pipeline_run *run);

/* Sets up a video decoder before avcodec_open2 as the CLI's
 * init_input_stream does: its get_format and hw_device_ctx
 * (hw_device_setup_for_decode, which may create a device), and the
 * decoder options -hwaccel_flags and -extra_hw_frames in *options. Returns a
 * pipeline_result. */
int pipeline_hw_setup_decoder(struct pipeline_hw *hw, AVCodecContext *decoder,
                              AVDictionary **options);

/* A decoded frame: hardware surfaces are downloaded unless
 * -hwaccel_output_format keeps them (into that format, else the frames
 * context's own software format), as the CLI's hwaccel_retrieve_data.
 * Returns 0 or an AVERROR. */
int pipeline_hw_retrieve(const struct pipeline_hw *hw, AVFrame *frame);

/* The device every filter of a graph gets: -filter_hw_device's, else the
 * last one created (decoder's devices included); NULL when there is none.
 * Not a new reference. */
AVBufferRef *pipeline_hw_filter_device(const struct pipeline_hw *hw);

/* Sets up a video encoder before avcodec_open2 as the CLI's
 * hw_device_setup_for_encode: the first frame's hardware frames context
 * when its format is the encoder's and the encoder takes one, else the one
 * device of a type the encoder can use. Returns a pipeline_result. */
int pipeline_hw_setup_encoder(const struct pipeline_hw *hw, AVCodecContext *encoder,
                              const AVFrame *frame);

/* Frees the run's devices (NULL is fine) and sets *hw to NULL. */
void pipeline_hw_free(struct pipeline_hw **hw);

#endif
