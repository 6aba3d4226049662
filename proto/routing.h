/* routing.h -- what a job needs and what a worker offers, in one vocabulary.
 *
 * Routing matches words of the form "kind:name", kind being encoder,
 * decoder, filter or hwaccel and name the libav name ("encoder:libx264",
 * "filter:tonemapx", "hwaccel:vaapi"). A job carries the words it needs
 * (job_spec.requires, the job hash's `requires` field); a worker's
 * announcement stores the words its libav offers (a Redis set, see keys.h);
 * the claim script hands a worker only jobs whose every word it offers.
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
/* Most words a job may need. Each claim and announcement checks a window of
 * jobs word by word against every live worker, so a request's words bound
 * the cost of Redis scripts every worker runs (a Jellyfin line needs ~10). */
#define ROUTING_WORDS_MAX 32

/* 1 if word is "kind:name" with a known kind and a name of letters, digits
 * and _ . - (at most ROUTING_WORD_MAX-1 bytes in all). */
int routing_word_valid(const char *word);

/* Checks every space-separated word of words. Returns 0, or -1 with a
 * sentence in err naming the first bad word. */
int routing_words_check(const char *words, char *err, size_t errlen);

/* The words a job needs: spec->requires (a client's additions) plus what the
 * spec implies: the video and audio encoders (none for "copy") and every
 * filter named in -vf and -af (not applied, so not needed, with "copy").
 * Input decoders are not known before a worker opens the input, so they are
 * only routed when a client names them. Writes space-separated words, each
 * once, into out. Returns 0, or -1 with a sentence in err when a word is
 * malformed or out is too small. */
int routing_job_requires(const struct job_spec *spec, char *out, size_t outlen, char *err,
                         size_t errlen);

/* Reads the next filter name of a filter-graph description (-vf, -af,
 * -filter_complex syntax: chains split by ',' and ';', [labels], "name@id",
 * "=arguments" with '\' escapes and '...' quoting). Writes the name into
 * name (truncated to size-1 bytes) and returns where to continue, or NULL
 * when no filter is left. The worker's pipeline checks the same names
 * against its libavfilter, so both agree on what a graph needs. */
const char *routing_filter_next(const char *graph, char *name, size_t size);

/* The words a packed ffpool.Capabilities offers, space-separated, in a
 * malloc'd string (caller frees). NULL when caps is not a Capabilities
 * message or on allocation failure. */
char *routing_worker_offers(const uint8_t *caps, size_t caps_len);

#endif
