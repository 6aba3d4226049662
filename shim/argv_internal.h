/* argv_internal.h -- what the files of the command-line parser share.
 *
 * Private to the parser: only shim/argv*.c may include this header; every
 * other file uses argv.h. The parser is five files, each calling only the
 * ones below it:
 *
 *   argv.c          the walk, finish and the job key (argv_parse_job)
 *     argv_options.c  the option table and its handlers
 *       argv_state.c    the parser state: blockers, refusals, stored values
 *       argv_value.c    reading values and names (no parser state)
 *   argv_split.c    .NET argument splitting (calls none of them)
 *
 * None of them logs or touches the file system, and only argv_split()
 * allocates. */
#ifndef FFPOOL_ARGV_INTERNAL_H
#define FFPOOL_ARGV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "job_spec.h"

#define ARGV_REASON_MAX 256

/* ---------------------------------------------------------------------------
 * Values and names (argv_value.c)
 * ------------------------------------------------------------------------- */

enum value_status {
    VALUE_OK = 0,
    VALUE_UNREADABLE = -1, /* not a form this parser reads */
    VALUE_RANGE = -2,      /* readable, but does not fit */
};

/* Parses an integer the way ffmpeg's av_strtod reads option values:
 * [+-]digits[.digits] then, when allow_suffix, an SI prefix k/K/M/G/T/P/E
 * (an 'i' after it makes it a power of 1024) and an optional 'B' (x8, bytes
 * to bits, as ffmpeg does). "200M" = 200000000, "1G" = 10^9, "1Ki" = 1024.
 * The value must be an integer after scaling ("1.5M" is, "1.5" is not). */
enum value_status value_parse_int64(const char *text, int allow_suffix, int64_t *out);

/* Parses a floating-point option value the way ffmpeg's av_strtod reads
 * the common forms: a decimal number, then optionally an SI prefix
 * k/K/M/G/T/P/E (with 'i': powers of 1024) and a 'B' (x8). Returns
 * VALUE_RANGE for text that does not start with a number at all (ffmpeg:
 * "Expected number ... but found"), VALUE_UNREADABLE for a number with a
 * tail this parser does not read, and refuses NaN and infinities. */
enum value_status value_parse_double(const char *text, double *out);

/* Parses an ffmpeg duration (av_parse_time with duration=1) into
 * microseconds: [-][HH:]MM:SS[.frac] or [-]S[.frac][s|ms|us]. Like ffmpeg,
 * fraction digits past the sixth are ignored. */
enum value_status value_parse_duration_us(const char *text, int64_t *out);

/* Parses Jellyfin's keyframe expression "expr:gte(t,n_forced*T)" or
 * "expr:gte(t,S+n_forced*T)" and returns T in microseconds. S (the seek
 * time in newer versions) is read but not kept: Jellyfin means keyframes
 * at absolute multiples of T, which is what the pool does anyway. */
enum value_status value_parse_keyframe_interval(const char *text, int64_t *interval_us);

/* Reads a frame rate as Jellyfin writes -r and fps= (a double printed by
 * .NET: "60", "29.969999313354492"). Returns VALUE_UNREADABLE for other
 * forms ffmpeg also reads ("30000/1001", "ntsc"), VALUE_RANGE for 0. */
enum value_status value_parse_frame_rate(const char *text, double *out);

/* One filter of a -vf chain, pointing into the chain as written. */
struct filter_item {
    const char *name;
    size_t name_len;
    const char *args; /* after '=', escapes and quotes kept; "" if none */
    size_t args_len;
};

/* Reads the filter at *cursor of a one-chain graph ("a=x,b,c=y") into item
 * and moves *cursor past it and its ','. Returns VALUE_OK, VALUE_RANGE at
 * the end of the chain, or VALUE_UNREADABLE for what is not one plain
 * chain: link labels, a second chain (';'), an unterminated quote. */
enum value_status value_filter_next(const char **cursor, struct filter_item *item);

/* Whether a filter hands on exactly one frame for each frame it takes, at
 * that frame's time: the filters of Jellyfin's chains that do (scale,
 * format, setparams, tone mapping, uploads...), and deinterlacers in their
 * frame-rate mode only. Unknown filters do not count. */
int name_filter_keeps_frame_rate(const struct filter_item *item);

/* Encoders and decoders that need a hardware device (VAAPI, NVENC/CUVID,
 * QSV, VideoToolbox, OMX/MMAL, V4L2, AMF, MediaFoundation, Rockchip,
 * Vulkan...). */
int name_is_hardware_codec(const char *name);

/* The hardware encoders the pool runs, on workers that opened their device
 * (routing_codec_device): h264 and hevc on VAAPI, QSV and NVENC. */
int name_is_pool_hardware_encoder(const char *name);

/* The hardware decoders the pool runs: *_cuvid, *_qsv, *_v4l2m2m. */
int name_is_pool_hardware_decoder(const char *name);

/* The hardware device types libav 5.1 knows (av_hwdevice_find_type_by_name:
 * cuda, drm, dxva2, d3d11va, opencl, qsv, vaapi, vdpau, videotoolbox,
 * mediacodec, vulkan). */
int name_is_hwdevice_type(const char *name);

/* The device types a Linux worker can open: the above without the Windows,
 * macOS and Android ones. */
int name_is_worker_hwdevice_type(const char *name);

/* Checks an AVOption flag set ("+a-b", "a+b", "-a") against the constant
 * names libav knows for it. Returns VALUE_OK, VALUE_RANGE with the first
 * unknown name in unknown, or VALUE_UNREADABLE for an empty set, a number
 * or characters no flag name has. */
enum value_status value_check_flags(const char *value, const char *const *names, char *unknown,
                                    size_t unknown_len);

/* Demuxers that read a local file. Anything else (lavfi, concat, devices,
 * network demuxers) is not a plain file and stays with a local ffmpeg. */
int name_is_file_demuxer(const char *format);

/* Muxers that write one growing file, the progressive case. */
int name_is_progressive_muxer(const char *format);

/* The audio codecs the worker's pipeline encodes (libfdk_aac runs as the
 * native aac encoder), or copy. */
int name_is_native_audio_codec(const char *codec);
/* Whether an input URL names Jellyfin's own host by its loopback address
 * (a live stream Jellyfin relays to itself): no worker reaches it there. */
int name_url_is_loopback(const char *input);
/* -fflags flags, besides genpts, that the pipeline gives libavformat as
 * written: igndts, ignidx, discardcorrupt, fastseek. */
int name_is_native_input_fflag(const char *flag);

/* The progressive muxers the worker's pipeline writes (one growing file). */
int name_is_native_progressive_muxer(const char *format);

/* Whether the ipod muxer (ffmpeg's pick for .m4a, .m4b and .m4v) takes a
 * stream of this codec as the pipeline writes it ("" = no such stream):
 * H.264 and AAC or AC-3, or a copy. */
int name_ipod_takes_codec(const char *codec);

/* Guesses the muxer ffmpeg would pick from the output file's extension, as
 * av_guess_format does when -f is absent (.m4a, .m4b and .m4v: ipod).
 * Returns NULL if there is none (ffmpeg then fails with "Unable to find a
 * suitable output format"). */
const char *name_guess_muxer(const char *path);

/* Whether a URL-like argument names a protocol other than a plain file:
 * "http://...", "rtmp:...", "pipe:1", "-" (stdin/stdout). A one-letter
 * scheme is a Windows drive ("C:\..."), not a protocol. */
int name_is_protocol(const char *url);

/* ---------------------------------------------------------------------------
 * Parser state (argv_state.c)
 * ------------------------------------------------------------------------- */

/* Blocker ranks, most specific first: the reason reported is the blocker
 * with the lowest rank (the first one among equals). */
enum blocker_rank {
    RANK_HARDWARE_CODEC = 1,  /* a hardware codec no worker runs (VideoToolbox, OMX...) */
    RANK_HARDWARE_OPTION = 2, /* a device type, hwaccel or option value the pool's libav
                                 (5.1) lacks or no Linux worker has */
    RANK_UNKNOWN = 3,
    RANK_FEATURE = 4,
    RANK_NONE = 100,
};

enum parse_phase {
    PHASE_INPUT,       /* before -i: input options */
    PHASE_OUTPUT,      /* after -i: output options */
    PHASE_AFTER_OUTPUT /* the output file has been read */
};

struct argv_parse {
    struct job_spec *spec;
    enum parse_phase phase;
    int stopped; /* the walk ended early; the rest of argv is unread */

    int refused;
    char refuse_reason[ARGV_REASON_MAX];
    enum blocker_rank blocker_rank;
    char blocker_reason[ARGV_REASON_MAX];

    int have_input, have_output;
    int maps[2], map_count;
    int maps_given; /* a positive -map was given, even if unmapped since */
    int filter_complex_given, simple_video_filter_given;
    char map_label[64]; /* -map [label]: a -filter_complex output, "" if none */
    int video_disabled, audio_disabled;
    /* "-map -0:a" took the audio out of the maps before it (Jellyfin's line
     * for a source without audio); a positive -map after it maps again. */
    int audio_unmapped;
    int video_codec_given, audio_codec_given;
    char output_format[JOB_SPEC_SHORT_MAX]; /* -f after -i, "" if absent */
    int hls_time_given, hls_list_size, hls_list_size_given;
    int playlist_type_given, segment_filename_given;
    int64_t keyframe_interval_us; /* from -force_key_frames, JOB_SPEC_UNSET if none */
    char frame_rate[32];          /* -r after -i as written, "" if none */
    double readrate;              /* -readrate as given, 0 if none */
    int rate_emulation;           /* -re */
    double readrate_catchup;      /* -readrate_catchup as given */
    int readrate_catchup_given;

    /* Hardware devices defined so far (-init_hw_device, -vaapi_device,
     * -qsv_device), by the names the CLI gives them: what -filter_hw_device
     * and TYPE@SOURCE may name. Once a device could not be recorded the
     * line is passed through and names are no longer checked. */
    char hw_device_names[JOB_SPEC_HW_DEVICES_MAX][JOB_SPEC_SHORT_MAX];
    int hw_device_count;
    int hw_devices_untracked;
    int filter_hw_device_given;

    /* The second input (Jellyfin's external subtitle file, -i after the
     * first): its own options, read before it, and what names it. */
    int second_input;      /* a second -i was read */
    int second_seek_given; /* -ss before it */
    int64_t second_seek_us;
    int second_canvas_width, second_canvas_height; /* -canvas_size before it, 0 if none */
    char second_map[32];    /* "-map 1:N" as written (Jellyfin's, made void by -sn), "" if none */
    int subtitles_disabled; /* -sn */

    /* The line is Jellyfin's device check and nothing else: -v verbose,
     * -hide_banner and -init_hw_device options (device_check_shape). */
    int device_check;
};

/* Starts a walk that fills spec (already initialised by job_spec_init):
 * input phase, nothing found yet. */
void parse_init(struct argv_parse *p, struct job_spec *spec);

/* Records why the native path cannot serve the line; keeps the most
 * specific reason. */
void parse_block(struct argv_parse *p, enum blocker_rank rank, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why the line cannot be served at all; the first reason wins. */
void parse_refuse(struct argv_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies value into a spec field. A value that does not fit is never
 * truncated (a cut path writes somewhere nobody asked for): it blocks.
 * Returns 0, or -1 after blocking. */
int parse_store(struct argv_parse *p, const char *opt, char *field, size_t size, const char *value);

/* Reads an integer option value in [min, max] (allow_suffix: k, M, G as
 * av_strtod reads them). Returns 0, or -1 after recording why not (the
 * caller then leaves the field alone). */
/* Sets "key=value" in a spec's option lines (options, size bytes): a later
 * value of a key replaces an earlier one, or with append a relative one
 * ("+flag", "-flag") applies on top of it. Blocks the line if it does not
 * fit or the value cannot be a line. */
void parse_option_line_set(struct argv_parse *p, const char *opt, char *options, size_t size,
                           const char *key, const char *value, int append);
int parse_integer(struct argv_parse *p, const char *opt, const char *value, int allow_suffix,
                  int64_t min, int64_t max, int64_t *out);

/* ---------------------------------------------------------------------------
 * The option table (argv_options.c)
 * ------------------------------------------------------------------------- */

/* An option handler gets the option as written (for reasons), the stream
 * kind its specifier selected ('v', 'a', 's', or '*' for none) and its
 * value (NULL for options without one). */
typedef void (*option_handler)(struct argv_parse *p, const char *opt, char kind, const char *value);

enum option_flags {
    OPT_VALUE = 1 << 0,  /* takes the next argument as its value */
    OPT_INPUT = 1 << 1,  /* may appear before -i */
    OPT_OUTPUT = 1 << 2, /* may appear after -i */
    OPT_PROBE = 1 << 3,  /* prints something and exits: -version, -encoders... */
};
#define OPT_ANYWHERE (OPT_INPUT | OPT_OUTPUT)

/* Which stream specifiers (-opt:SPEC) an option accepts. */
enum option_streams {
    STREAMS_NONE,  /* no specifier */
    STREAMS_VIDEO, /* "", v, v:0 or 0 (Jellyfin's output stream 0 is video) */
    STREAMS_AUDIO, /* "", a, a:0 */
    STREAMS_ANY,   /* "" (all), v, a, s, d, t with optional :0; the handler decides */
};

struct option_def {
    const char *name;
    unsigned flags;
    enum option_streams streams;
    option_handler handle; /* NULL for OPT_PROBE options */
};

/* Finds the option named by arg ("-codec:v:0" -> "codec", specifier
 * "v:0"). Returns NULL if unknown; *specifier points into arg. */
const struct option_def *option_find(const char *arg, const char **specifier);

/* Resolves a stream specifier to a stream kind for def. Returns the kind
 * ('v', 'a', 's', 'd', 't' or '*' for all streams), or 0 if the native path
 * does not handle that specifier for that option. Only the first stream of
 * a kind is ever addressed ("v" or "v:0"); a bare "0" is output stream 0,
 * which is video in Jellyfin's lines (they always map video first). */
char option_stream_kind(const struct option_def *def, const char *specifier);

/* ---------------------------------------------------------------------------
 * The hardware options' handlers (argv_hardware.c), for the option table
 * ------------------------------------------------------------------------- */

/* -init_hw_device, and -vaapi_device/-qsv_device as the CLI expands them. */
void on_init_hw_device(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_device_shorthand(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_filter_hw_device(struct argv_parse *p, const char *opt, char kind, const char *value);
/* -hwaccel, -hwaccel_device and -hwaccel_output_format, -hwaccel_flags,
 * -extra_hw_frames. */
void on_hwaccel(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_hwaccel_string(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_hwaccel_flags(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_extra_hw_frames(struct argv_parse *p, const char *opt, char kind, const char *value);
/* The encoders' own options: booleans (-low_power), integers
 * (-async_depth, -bf), strings (-x265-params), -rc_mode, -sei, -flags:v. */
void on_encoder_boolean(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_encoder_integer(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_encoder_string(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_rc_mode(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_sei(struct argv_parse *p, const char *opt, char kind, const char *value);
void on_codec_flags(struct argv_parse *p, const char *opt, char kind, const char *value);
/* Sets "key=value" in the audio encoder's further options (a relative
 * "flags" value applies on top of an earlier one). */
void audio_encoder_option_set(struct argv_parse *p, const char *opt, const char *key,
                              const char *value);

#endif
