/* pathmap.h -- Jellyfin-side paths to worker-side paths and back.
 *
 * Jellyfin and the workers need not mount the media, the transcode folder
 * or the subtitle folders at the same place: `paths.map` lists prefix pairs
 * "jellyfin_prefix=worker_prefix;..." and every path the shim hands to the
 * pool is translated with them (never what runs on Jellyfin's own host:
 * ffprobe and passthrough lines). A prefix matches only at a path component
 * boundary ("/media" matches "/media" and "/media/a.mkv", never
 * "/media2/a.mkv"), and the longest matching prefix wins. A "file:" scheme
 * prefix is kept as it is. Paths no prefix matches are left unchanged.
 * `paths.device_map` does the same for the hardware device nodes a line
 * names (/dev/dri/renderD128 on Jellyfin's host may be renderD129 on a
 * worker).
 *
 * This module only rewrites strings: it never touches the file system. */
#ifndef FFPOOL_SHIM_PATHMAP_H
#define FFPOOL_SHIM_PATHMAP_H

#include <stddef.h>

#include "job_spec.h"

#define PATHMAP_PAIRS_MAX 32
#define PATHMAP_PREFIX_MAX 1024

enum pathmap_direction {
    PATHMAP_TO_WORKER,   /* Jellyfin side -> worker side */
    PATHMAP_TO_JELLYFIN, /* worker side -> Jellyfin side */
};

struct pathmap_pair {
    char jellyfin[PATHMAP_PREFIX_MAX];
    char worker[PATHMAP_PREFIX_MAX];
};

struct pathmap {
    struct pathmap_pair pairs[PATHMAP_PAIRS_MAX];
    int count;
};

/* Reads "a=b;c=d" (spaces around entries ignored, trailing slashes dropped,
 * empty entries skipped) into map. Returns 0, or -1 with a sentence in err
 * (an entry without '=', a relative or empty prefix, too many pairs, a
 * prefix too long). An empty text is an empty map. */
int pathmap_parse(struct pathmap *map, const char *text, char *err, size_t errlen);

/* pathmap_parse() for the configuration key named key ("paths.map",
 * "paths.device_map"), which its error sentences name. */
int pathmap_parse_key(struct pathmap *map, const char *key, const char *text, char *err,
                      size_t errlen);

/* Writes path translated in the given direction to out. Returns 1 when a
 * prefix matched, 0 when path was copied unchanged, -1 when out is too
 * small (out then holds "" ). */
int pathmap_translate(const struct pathmap *map, enum pathmap_direction direction, const char *path,
                      char *out, size_t outlen);

/* Translates in place every path field of a job spec: input, output,
 * segment_filename, init_filename when absolute, and the file name of a
 * subtitles=filename='...' (or subtitles='...') in video_filter. Returns the
 * number of fields changed, or -1 (err set) when a translated path does not
 * fit its field; spec is then partly translated and must not be used. */
int pathmap_apply_spec(const struct pathmap *map, struct job_spec *spec, char *err, size_t errlen);

/* Translates in place the hardware device paths of a job spec with
 * `paths.device_map`: the DEVICE of every -init_hw_device
 * TYPE[=NAME]:DEVICE[,options] (so also -vaapi_device's), the child_device=
 * option among its options (-qsv_device's), and -hwaccel_device. A device
 * named rather than given by path ("va", "0") matches no prefix and stays.
 * Returns the number of strings changed, or -1 (err set) when a translated
 * one does not fit; spec is then partly translated and must not be used. */
int pathmap_apply_devices(const struct pathmap *map, struct job_spec *spec, char *err,
                          size_t errlen);

/* A CLI job's arguments (spec->cli_args): every argument that is an
 * absolute path (or file: one) with map, the paths in the filter graphs of
 * -vf, -af, -filter* and -lavfi as pathmap_apply_spec does, and the
 * devices of -init_hw_device, -vaapi_device, -qsv_device and
 * -hwaccel_device with device_map. Returns the number of arguments changed,
 * or -1 (err set) when one does not fit; spec is then unchanged. */
int pathmap_apply_cli(const struct pathmap *map, const struct pathmap *device_map,
                      struct job_spec *spec, char *err, size_t errlen);

#endif
