/* routing.h -- what a job needs and what a worker offers, in one vocabulary.
 *
 * Routing matches words of the form "kind:name", kind being encoder,
 * decoder, filter or hwaccel and name the libav name ("encoder:libx264",
 * "filter:tonemapx", "hwaccel:vaapi"), or device and name a hardware device
 * type the worker really opened ("device:vaapi", "device:cuda", and
 * "device:v4l2m2m" for a /dev/video* node: libav's device types name what
 * libav was built with, not the hardware a machine has, so a job that needs
 * a GPU needs a device word). A job carries the words it needs
 * (job_spec.requires, the job hash's `requires` field); a worker's
 * announcement stores the words its libav offers (a Redis set, see keys.h);
 * the claim script hands a worker only jobs whose every word it offers.
 *
 * A line the libav pipeline does not take runs on a worker's own ffmpeg CLI
 * (worker.ffmpeg), whose builds differ from the worker's libav (a user may
 * point it at jellyfin-ffmpeg), so its words are kinds of their own:
 * "cli:ffmpeg" (the worker runs CLI jobs at all), and cli-encoder,
 * cli-decoder, cli-filter and cli-hwaccel with the names that CLI lists
 * (ffpool.CliInfo). Devices are the machine's: a CLI job needs device:TYPE
 * words as a native one does.
 *
 * This file only builds and checks the words; it never talks to Redis
 * (queue.c does) or to libav (the worker's pipeline_caps.c lists what its
 * libav has, as ffpool.Capabilities, and routing_worker_offers() turns that
 * message into words). */
#ifndef FFPOOL_ROUTING_H
#define FFPOOL_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "job_spec.h"

#define ROUTING_WORD_MAX 128
/* The word of a worker that runs CLI jobs, and of every CLI job. */
#define ROUTING_CLI_WORD "cli:ffmpeg"
/* Most words a job may need. Each claim and announcement checks a window of
 * jobs word by word against every live worker, so a request's words bound
 * the cost of Redis scripts every worker runs (a Jellyfin line needs ~10). */
#define ROUTING_WORDS_MAX 32

/* 1 if word is "kind:name" with a known kind (encoder, decoder, filter,
 * hwaccel, device, cli-encoder, cli-decoder, cli-filter, cli-hwaccel; and
 * cli, whose only word is "cli:ffmpeg") and a name of letters, digits and
 * _ . - (at most ROUTING_WORD_MAX-1 bytes in all). */
int routing_word_valid(const char *word);

/* Checks every space-separated word of words. Returns 0, or -1 with a
 * sentence in err naming the first bad word. */
int routing_words_check(const char *words, char *err, size_t errlen);

/* The words a job needs: spec->requires (a client's additions) plus what the
 * spec implies:
 *  - device:TYPE for every -init_hw_device (derived ones too: the CLI creates
 *    them all before it opens the input, whatever the job does with them);
 *  - when the video is transcoded: the decoder named before -i (decoder:NAME,
 *    and device:cuda for *_cuvid, device:qsv for *_qsv), the -hwaccel type
 *    (hwaccel:T and device:T; nvdec and cuvid are cuda; none and auto need
 *    nothing), the video encoder (encoder:NAME, and the device of a hardware
 *    encoder: routing_codec_device), every filter of -vf/-filter_complex
 *    and the device a hardware filter works on (routing_filter_device, and
 *    derive_device=T of hwupload/hwmap);
 *  - when the audio is transcoded: its encoder and every filter of -af.
 * Nothing is needed for a stream that is copied. The decoder libav picks
 * for an input is not known before a worker opens it, so it is only routed
 * when the line (or a client) names it. Writes space-separated words, each
 * once, into out. Returns 0, or -1 with a sentence in err when a word is
 * malformed or out is too small. */
int routing_job_requires(const struct job_spec *spec, char *out, size_t outlen, char *err,
                         size_t errlen);

/* The words a CLI job needs, for the ffmpeg arguments argv[0..argc-1]
 * (the command line without the program name), read as the 5.1 CLI splits
 * them: an argument starting with '-' is an option, which takes the next
 * argument as its value unless it is one of the CLI's flags (-y, -copyts,
 * -an, -noautorotate...; "-autorotate 0" takes one), so that a value is
 * never read as an option. Always "cli:ffmpeg", then as the line names them:
 *  - a codec option (-c, -codec, -vcodec, -acodec, -scodec, -dcodec, with
 *    any stream specifier) before an -i names that input's decoder
 *    (cli-decoder:NAME), after the last -i an encoder (cli-encoder:NAME);
 *    "copy" needs nothing; a hardware codec needs its device as well
 *    (routing_codec_device);
 *  - every filter of -vf, -af, -filter[:spec], -filter_complex and -lavfi
 *    (cli-filter:NAME, and the devices routing_job_requires derives from a
 *    graph); a graph read from a file (-filter_script,
 *    -filter_complex_script) is not known here and adds nothing;
 *  - -hwaccel T: cli-hwaccel:T and device:T (nvdec and cuvid are cuda; auto
 *    and none need nothing);
 *  - device:TYPE for every -init_hw_device, device:vaapi for -vaapi_device,
 *    device:qsv for -qsv_device.
 * Writes space-separated words, each once, into out. Returns 0, or -1 with a
 * sentence in err when a word is malformed, there are more than
 * ROUTING_WORDS_MAX, or out is too small. */
int routing_cli_requires(int argc, char *const argv[], char *out, size_t outlen, char *err,
                         size_t errlen);

/* The device type a hardware codec runs on, by its name: *_vaapi -> "vaapi",
 * *_qsv -> "qsv", *_nvenc and *_cuvid -> "cuda", *_v4l2m2m -> "v4l2m2m".
 * NULL for any other codec (software, or hardware no Linux worker has:
 * *_videotoolbox, *_amf, *_mf, *_omx, *_mmal, *_rkmpp, *_mediacodec...). */
const char *routing_codec_device(const char *codec);

/* The device type a filter works on, by its name: *_vaapi -> "vaapi",
 * *_qsv -> "qsv", *_cuda and *_npp -> "cuda", *_opencl -> "opencl",
 * *_vulkan and libplacebo -> "vulkan"; NULL for any other filter (hwupload,
 * hwmap and hwdownload take the device they are given). */
const char *routing_filter_device(const char *filter);

/* Reads the next filter name of a filter-graph description (-vf, -af,
 * -filter_complex syntax: chains split by ',' and ';', [labels], "name@id",
 * "=arguments" with '\' escapes and '...' quoting). Writes the name into
 * name (truncated to size-1 bytes) and returns where to continue, or NULL
 * when no filter is left. The worker's pipeline checks the same names
 * against its libavfilter, so both agree on what a graph needs. */
const char *routing_filter_next(const char *graph, char *name, size_t size);

/* The words a packed ffpool.Capabilities offers, space-separated, in a
 * malloc'd string (caller frees): its libav's, its devices, and with a cli
 * section "cli:ffmpeg" and the cli-* word of every name the CLI listed (a
 * name that makes no valid word is left out). NULL when caps is not a
 * Capabilities message or on allocation failure. */
char *routing_worker_offers(const uint8_t *caps, size_t caps_len);

/* Whether offers (space-separated words, as routing_worker_offers() writes
 * them) lacks a word of requires (space-separated). Returns 1 and copies
 * the first missing word into missing (truncated to size-1 bytes), or 0
 * when offers holds every word: the claim script's test, for a client that
 * wants the answer before it submits. */
int routing_offers_missing(const char *offers, const char *requires, char *missing, size_t size);

#endif
