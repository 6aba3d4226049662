/* job_spec.h -- what a transcode job is, independent of how it travels.
 *
 * The shim turns a Jellyfin command line into a struct job_spec; the
 * scheduler stores it in Redis as the protobuf message ffpool.JobSpec
 * (proto/ffpool.proto); a worker reads it back and hands it to its libav
 * pipeline. This header is the one C view of a job shared by all three.
 *
 * Strings are fixed-size, NUL-terminated arrays so that a spec can be copied
 * by value and never owns heap memory: a spec that does not fit is refused
 * by job_spec_unpack(), it is never truncated silently.
 *
 * Times are integer microseconds; a value of JOB_SPEC_UNSET (or an empty
 * string) means "the option was not given, use the libav default". */
#ifndef FFPOOL_JOB_SPEC_H
#define FFPOOL_JOB_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define JOB_SPEC_UNSET (-1)
#define JOB_SPEC_PATH_MAX 4096
#define JOB_SPEC_FILTER_MAX 8192
#define JOB_SPEC_SHORT_MAX 256
#define JOB_SPEC_REQUIRES_MAX 2048
#define JOB_SPEC_CANVAS_MAX 8192    /* -canvas_size: at most 8K a side */
#define JOB_SPEC_HW_DEVICES_MAX 4   /* -init_hw_device options in one line */
#define JOB_SPEC_CLI_ARGS_MAX 32768 /* a CLI job's arguments, each NUL-terminated */
#define JOB_SPEC_CLI_ARGC_MAX 512

enum job_output_kind {
    JOB_OUTPUT_HLS = 0,         /* -f hls: numbered segments plus a playlist */
    JOB_OUTPUT_PROGRESSIVE = 1, /* one growing file (-f mp4/matroska/mp3...) */
    /* No input and no output: Jellyfin's device check (-v verbose
     * -init_hw_device ...). A worker with the device creates hw_devices as
     * the CLI would and the job's result is what the CLI prints on stderr
     * and its exit status. */
    JOB_OUTPUT_DEVICE_CHECK = 2,
    /* A line the pipeline does not take, run by the worker's ffmpeg CLI
     * with cli_args. CLI_HLS: an HLS stream (output, segment_filename,
     * hls_time_us, start_number, segment_type, init_filename say what it
     * writes), published segment by segment and taken over at the next
     * one. CLI: anything else, run once (again from the start on a
     * takeover); its stderr and exit status are the job's result. */
    JOB_OUTPUT_CLI_HLS = 3,
    JOB_OUTPUT_CLI = 4,
};

enum job_segment_type {
    JOB_SEGMENT_MPEGTS = 0,
    JOB_SEGMENT_FMP4 = 1,
};

enum job_playlist_type {
    JOB_PLAYLIST_VOD = 0,
    JOB_PLAYLIST_EVENT = 1,
};

struct job_spec {
    /* Input. */
    char input[JOB_SPEC_PATH_MAX];         /* worker-side path, no "file:" prefix */
    char input_format[JOB_SPEC_SHORT_MAX]; /* -f before -i, "" = probe */
    int64_t analyzeduration_us;            /* -analyzeduration, JOB_SPEC_UNSET = default */
    int64_t probesize;                     /* -probesize bytes, JOB_SPEC_UNSET = default */
    int genpts;                            /* -fflags +genpts */
    int64_t seek_us;                       /* input -ss, JOB_SPEC_UNSET = none */
    int accurate_seek;                     /* 0 with -noaccurate_seek */
    int autorotate;                        /* 0 with -noautorotate / -autorotate 0 */
    int threads;                           /* -threads, 0 = auto */
    /* -readrate R (-re: 1): the input is read no faster than R times real
     * time (Jellyfin's -readrate 10 on stream copies when it deletes old
     * segments); 0 = as fast as possible. */
    double readrate;
    /* -readrate_catchup C: the speed allowed while a read that fell behind
     * R catches up; 0 = unbounded (ffmpeg before 8.0). */
    double readrate_catchup;
    /* -fflags flags other than genpts, as libavformat's "fflags" option
     * reads them: "+igndts", "+discardcorrupt+ignidx"; "" = none. */
    char input_fflags[JOB_SPEC_SHORT_MAX];
    /* A URL input's protocol options, "key=value" lines joined by '\n'
     * (only the keys job_spec_input_option_allowed() accepts): -user_agent,
     * -referer, -reconnect* as Jellyfin gives them for a tuner or a .strm. */
    char input_options[JOB_SPEC_SHORT_MAX * 4];
    /* The second input (-i after the first): an external subtitle file
     * (.sup, .mks, .idx) whose bitmap stream the -filter_complex graph
     * burns in, named there [1:N]; "" = none. Worker-side path, no "file:".
     * Its own -analyzeduration and -probesize (JOB_SPEC_UNSET = default);
     * its -ss is the first input's, its -canvas_size is canvas_width x
     * canvas_height. */
    char subtitle_input[JOB_SPEC_PATH_MAX];
    int64_t subtitle_analyzeduration_us;
    int64_t subtitle_probesize;

    /* Stream selection: input stream indexes, -1 = none, -2 = first of kind. */
    int video_stream;
    int audio_stream;
    int canvas_width; /* -canvas_size, 0 = derived (see filter_complex) */
    int canvas_height;

    /* Video. */
    char video_codec[JOB_SPEC_SHORT_MAX]; /* "libx264", "copy", "" = no video */
    char preset[JOB_SPEC_SHORT_MAX];
    int crf;               /* JOB_SPEC_UNSET = none */
    int64_t video_bitrate; /* -b:v, bits/s */
    int64_t maxrate;
    int64_t bufsize;
    char profile[JOB_SPEC_SHORT_MAX];
    char level[JOB_SPEC_SHORT_MAX];
    char x264opts[JOB_SPEC_FILTER_MAX]; /* "k=v:k=v", as -x264opts takes it */
    char pix_fmt[JOB_SPEC_SHORT_MAX];
    int gop; /* -g, JOB_SPEC_UNSET = none */
    int keyint_min;
    /* -force_key_frames "expr:gte(t,n_forced*K)": an IDR at every K of
     * stream time (HLS: K = hls_time_us; progressive: Jellyfin's 5 s for
     * seeking); JOB_SPEC_UNSET = the encoder's own GOP. */
    int64_t keyframe_interval_us;
    char video_filter[JOB_SPEC_FILTER_MAX]; /* -vf or -filter_complex, as written */
    int filter_complex;                     /* video_filter is a -filter_complex graph:
                                               inputs labelled [0:N] (and [1:N], the
                                               subtitle_input), one output */
    char video_bsf[JOB_SPEC_SHORT_MAX];     /* -bsf:v for copy */
    char video_tag[16];                     /* -tag:v, e.g. "hvc1" */

    /* Audio. */
    char audio_codec[JOB_SPEC_SHORT_MAX]; /* "aac", "libmp3lame", "libopus"..., "copy", "" = none */
    int64_t audio_bitrate;                /* -ab / -b:a */
    int audio_channels;                   /* -ac, JOB_SPEC_UNSET = keep */
    int audio_sample_rate;                /* -ar, JOB_SPEC_UNSET = keep */
    char audio_filter[JOB_SPEC_FILTER_MAX]; /* -af, as written */
    /* Further audio encoder AVOptions, "key=value" lines joined by '\n',
     * as the CLI sets them: -qscale:a Q gives flags=+qscale and
     * global_quality=Q*FF_QP2LAMBDA, -abr:a gives abr, a bare -flags gives
     * flags (a later "flags" line applies on top of an earlier one). */
    char audio_encoder_options[JOB_SPEC_SHORT_MAX];

    /* Output. */
    enum job_output_kind output_kind;
    char output_format[JOB_SPEC_SHORT_MAX]; /* progressive: "mp4", "matroska", "mp3"... */
    char output[JOB_SPEC_PATH_MAX];         /* playlist (HLS) or file (progressive) */
    char movflags[JOB_SPEC_SHORT_MAX];

    /* HLS. */
    int64_t hls_time_us; /* segment length T */
    enum job_segment_type segment_type;
    char segment_filename[JOB_SPEC_PATH_MAX]; /* printf pattern with one %d */
    char init_filename[JOB_SPEC_PATH_MAX];    /* fMP4 init segment, relative to the playlist */
    char segment_options[JOB_SPEC_SHORT_MAX]; /* -hls_segment_options */
    char base_url[JOB_SPEC_PATH_MAX];         /* -hls_base_url */
    int start_number;
    enum job_playlist_type playlist_type;
    int64_t max_delay_us;
    int copyts;
    int start_at_zero;
    int strict; /* -strict, FF_COMPLIANCE_* (0 = normal) */
    /* HLS only: the worker writes into a folder of its own and the shim
     * fetches each segment into Jellyfin's folder (worker/delivery.h);
     * 0: the worker writes into Jellyfin's folder itself. */
    int deliver;

    /* Hardware, as ffmpeg's options say it (the CLI's fftools/ffmpeg_hw.c
     * semantics, see worker/pipeline). Device strings are worker-side: the
     * shim maps device paths (paths.device_map). */
    char hw_devices[JOB_SPEC_HW_DEVICES_MAX][JOB_SPEC_SHORT_MAX]; /* -init_hw_device
                                                                     arguments, in order */
    int n_hw_devices;
    char filter_hw_device[JOB_SPEC_SHORT_MAX];      /* -filter_hw_device NAME, "" = none */
    char hwaccel[JOB_SPEC_SHORT_MAX];               /* -hwaccel TYPE|auto, "" = none */
    char hwaccel_device[JOB_SPEC_SHORT_MAX];        /* -hwaccel_device, "" = none */
    char hwaccel_output_format[JOB_SPEC_SHORT_MAX]; /* -hwaccel_output_format, "" = not given */
    char hwaccel_flags[JOB_SPEC_SHORT_MAX];         /* -hwaccel_flags (a decoder option) */
    int extra_hw_frames;                            /* -extra_hw_frames, JOB_SPEC_UNSET */
    char video_decoder[JOB_SPEC_SHORT_MAX];         /* -c:v before -i (h264_cuvid, hevc_qsv...),
                                                       "" = libav's default for the stream */
    int autoscale;                                  /* 0 with -noautoscale */
    /* Further video encoder AVOptions as given (a hardware encoder's rc_mode,
     * low_power, async_depth, compression_level, mbbrc, look_ahead,
     * rc_init_occupancy...): "key=value" lines joined by '\n'. */
    char video_encoder_options[JOB_SPEC_FILTER_MAX];
    /* Environment the hardware drivers read that Jellyfin set in its own
     * process (LIBVA_DRIVER_NAME, AMD_DEBUG...): "NAME=value" lines joined by
     * '\n'; only names job_spec_environment_allowed() accepts. */
    char environment[JOB_SPEC_SHORT_MAX * 4];

    /* CLI jobs: ffmpeg's arguments after the program name, worker-side
     * paths, one after another, each NUL-terminated (job_spec_cli_arg). */
    char cli_args[JOB_SPEC_CLI_ARGS_MAX];
    int n_cli_args;

    /* Routing: capabilities the job needs, space-separated "kind:name"
     * words (proto/routing.h). As submitted, a client's additions; the
     * scheduler adds what the spec implies before it stores the job. */
    char requires[JOB_SPEC_REQUIRES_MAX];
};

/* Whether key (len bytes) is an input protocol option a job may set. */
int job_spec_input_option_allowed(const char *key, size_t len);

/* Whether the input is a network URL the pipeline opens (http, https). */
int job_spec_input_is_url(const struct job_spec *spec);

/* Whether the job copies its video (audio) stream as it is ("copy") rather
 * than encoding it. A job without that stream copies nothing. */
int job_spec_video_copies(const struct job_spec *spec);
int job_spec_audio_copies(const struct job_spec *spec);

/* Whether the job uses a hardware device, a hardware decoder or a hardware
 * video encoder (any hw field set, or a *_vaapi/_qsv/_nvenc/... encoder). */
int job_spec_uses_hardware(const struct job_spec *spec);

/* Whether NAME (the part of "NAME=value" before '=') may travel in
 * spec->environment: the variables hardware drivers read (LIBVA_*,
 * AMD_DEBUG, ...), nothing a worker's own behaviour depends on. */
int job_spec_environment_allowed(const char *name, size_t len);

/* Whether the job runs on the worker's ffmpeg CLI (JOB_OUTPUT_CLI_HLS or
 * JOB_OUTPUT_CLI). */
int job_spec_is_cli(const struct job_spec *spec);

/* Appends one CLI argument. Returns 0, or -1 when it does not fit. */
int job_spec_cli_append(struct job_spec *spec, const char *arg);

/* Fills argv[0..n_cli_args-1] with pointers into spec->cli_args and
 * argv[n_cli_args] with NULL; argv has room for JOB_SPEC_CLI_ARGC_MAX + 1. */
void job_spec_cli_argv(const struct job_spec *spec, const char **argv);

/* A run-once CLI line's output files: the arguments after its last input
 * that are absolute paths, all of them files directly in the folder of
 * spec->output (its last output). Marks them in is_output
 * (JOB_SPEC_CLI_ARGC_MAX entries; may be NULL), sets *pattern when one is
 * an image2 pattern (%), and returns how many; -1 if such an argument is
 * elsewhere (an output in another folder, or a path that is no output),
 * and the line is then not delivered. The worker writes them into its
 * spool and the shim, with shim.delivery shim, fetches them: one plain
 * file served as it grows, or several once the line has run. */
int job_spec_cli_outputs(const struct job_spec *spec, char *is_output, int *pattern);

/* 1 if name is one of those files: an output's own name, or one that an
 * output's image2 pattern makes (img%03d.jpg: img001.jpg). The shim writes
 * no other name a worker sends. */
int job_spec_cli_output_named(const struct job_spec *spec, const char *name);

/* Fills spec with every field at its "not given" value. */
void job_spec_init(struct job_spec *spec);

/* Writes the path of segment `index` into out. Returns 0, or -1 if the
 * pattern is not a single %d (or %0Nd) conversion or the path does not fit. */
int job_spec_segment_path(const struct job_spec *spec, int index, char *out, size_t outlen);
/* Where the fMP4 init segment goes: -hls_fmp4_init_filename, relative to
 * the playlist's folder unless absolute ("init.mp4" when not given, as the
 * hls muxer). */
void job_spec_init_path(const struct job_spec *spec, char *out, size_t outlen);

/* 1 if pattern holds exactly one %d (or %Nd, up to 3 digits) and otherwise
 * only "%%": the form job_spec_segment_path() expands. */
int job_spec_pattern_valid(const char *pattern);

/* Checks the invariants every consumer relies on (paths set, T > 0, pattern
 * valid, known codecs). Returns 0, or -1 with a sentence in err. */
int job_spec_validate(const struct job_spec *spec, char *err, size_t errlen);

/* Serialises to the ffpool.JobSpec protobuf message. Returns a malloc'd
 * buffer (caller frees) and its length in *len, or NULL on allocation
 * failure. */
uint8_t *job_spec_pack(const struct job_spec *spec, size_t *len);

/* Parses an ffpool.JobSpec message. Returns 0, or -1 with a sentence in err
 * when the bytes are not a message or a field does not fit. */
int job_spec_unpack(const uint8_t *data, size_t len, struct job_spec *spec, char *err,
                    size_t errlen);

#endif
