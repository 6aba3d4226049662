/* probe.h -- answers to Jellyfin's start-up probes, from the pool.
 *
 * Jellyfin runs "ffmpeg -version", "-encoders", "-decoders", "-filters",
 * "-hwaccels", "-h filter=X", "-h bsf=X", a pause-key check and a
 * hwaccel-flag check before it serves anything, and shapes every later
 * command line by the answers. The honest answer is what the worker pool
 * can do, so these are answered from the capabilities the live workers
 * publish (the scheduler's Capabilities reply), in ffmpeg's own text
 * formats, which Jellyfin's parsers read.
 *
 * probe_classify() recognises a probe in an argv; probe_caps_build() takes
 * the union of the workers' capabilities (a codec, filter or hwaccel any
 * live worker has); probe_answer() prints the answer. The pause-key check
 * is about the shim itself (it implements p/u) and needs no pool. This
 * module prints to the streams it is given and never talks to the network. */
#ifndef FFPOOL_SHIM_PROBE_H
#define FFPOOL_SHIM_PROBE_H

#include <stddef.h>
#include <stdio.h>

#include "ffpool.pb-c.h"

enum probe_kind {
    PROBE_NONE,          /* not a probe this module answers */
    PROBE_VERSION,       /* -version */
    PROBE_ENCODERS,      /* -encoders */
    PROBE_DECODERS,      /* -decoders */
    PROBE_FILTERS,       /* -filters */
    PROBE_HWACCELS,      /* -hwaccels */
    PROBE_HELP_FILTER,   /* -h filter=NAME */
    PROBE_HELP_BSF,      /* -h bsf=NAME */
    PROBE_PAUSE_KEYS,    /* -f lavfi -i nullsrc... -f null -: stdin keys */
    PROBE_HWACCEL_FLAGS, /* -hwaccel_flags +X ... -f null -: exit code only */
};

struct probe_request {
    enum probe_kind kind;
    char name[256]; /* filter/bsf name, or the hwaccel flag without '+' */
    int hide_banner;
};

/* The key help ffmpeg prints on '?', with the pause keys the shim serves. */
extern const char probe_key_help[];

/* Fills request from an ffmpeg argv (argv[0] is the program). Returns the
 * kind (also in request->kind). Never fails: anything else is PROBE_NONE. */
enum probe_kind probe_classify(int argc, char *const argv[], struct probe_request *request);

/* "-version", "-encoders", ..., "pause-key check", "hwaccel-flag check";
 * "none" for PROBE_NONE. */
const char *probe_kind_name(enum probe_kind kind);

/* Whether a probe of this kind needs the pool's capabilities. */
int probe_needs_pool(enum probe_kind kind);

/* The union of several workers' capabilities. It points into the workers'
 * messages, which must outlive it. */
struct probe_caps;

/* Builds the union over workers[0..n) (entries without capabilities are
 * skipped). Order is the first worker's, then what others add. The version
 * reported is the oldest libav among the workers, since Jellyfin shapes
 * its command lines by it and every worker must run them. Returns NULL on
 * allocation failure or when no worker has capabilities. */
struct probe_caps *probe_caps_build(Ffpool__WorkerInfo *const *workers, size_t n);
void probe_caps_free(struct probe_caps *caps);

/* Prints the answer to a pool probe (VERSION ... HELP_BSF, HWACCEL_FLAGS)
 * on out (ffmpeg's stdout) and err (banner, diagnostics) and returns the
 * exit status ffmpeg would. */
int probe_answer(const struct probe_request *request, const struct probe_caps *caps, FILE *out,
                 FILE *err);

/* The pause-key check: reads keys from fd until end of file or 'q' (or
 * timeout_ms passes), printing probe_key_help on err for each '?'. Returns
 * the exit status (0). */
int probe_pause_keys(int fd, FILE *err, int timeout_ms);

#endif
