/* argv.h -- from the command line Jellyfin gives "ffmpeg" to a pool job.
 *
 * Jellyfin builds one argument string and .NET splits it; argv_split() does
 * the same split (for tests and for tools that only have the logged string).
 * argv_parse_job() reads the resulting ffmpeg argv and decides how ffpool
 * serves it: as a native pool job (struct job_spec filled), by running a
 * local ffmpeg (passthrough), or not at all (refuse). argv_job_key() names
 * "the same command line" so that a repeated start can attach to a running
 * job instead of submitting a second one.
 *
 * This module only reads strings: it never opens files, execs, logs or
 * talks to Redis. Every input, however malformed, gets a decision and a
 * one-sentence reason. */
#ifndef FFPOOL_ARGV_H
#define FFPOOL_ARGV_H

#include <stddef.h>

#include "job_spec.h"

enum argv_decision {
    ARGV_NATIVE,      /* spec is filled; the pool serves the job */
    ARGV_PASSTHROUGH, /* valid, but a local ffmpeg must run it as is */
    ARGV_REFUSE,      /* cannot be served at all (malformed, no output...) */
};

/* Splits one argument string the way .NET (System.Diagnostics.Process on
 * Unix, ParseArgumentsIntoList) splits Jellyfin's: spaces and tabs separate;
 * double quotes group and are removed; "" inside quotes is a literal quote;
 * 2n backslashes before a quote give n backslashes and a grouping quote,
 * 2n+1 give n backslashes and a literal quote; other backslashes are
 * literal. Returns 0 with *argc set and *argv a NULL-terminated vector in
 * one allocation (free it with argv_free), or -1 on allocation failure or
 * NULL arguments. A NULL line splits like "". */
int argv_split(const char *line, int *argc, char ***argv);

/* Frees a vector returned by argv_split(). NULL is allowed. */
void argv_free(char **argv);

/* Reads an ffmpeg command line (argv[0] is the program; a program named
 * ffprobe* is a probe) and decides how ffpool serves it. spec is always
 * initialised and filled with everything that was understood, whatever the
 * decision. reason receives one short sentence starting with "native: ",
 * "passthrough: " or "refuse: " (always set when reasonlen > 0). A NULL
 * entry in argv ends it early. Never crashes on any argv. */
enum argv_decision argv_parse_job(int argc, char *const argv[], struct job_spec *spec, char *reason,
                                  size_t reasonlen);

/* Reads a line the native parser passes through as a job for a worker's
 * ffmpeg CLI (argv_cli.c): spec gets the arguments after the program
 * (cli_args), the input and output, and for an HLS stream its segment
 * fields (JOB_OUTPUT_CLI_HLS; anything else is JOB_OUTPUT_CLI). Returns 0,
 * or -1 with why set when the line must stay on Jellyfin's host (it reads
 * stdin, writes stdout, has no input or output, or an HLS output the pool
 * cannot publish segment by segment). */
int argv_cli_spec(int argc, char *const argv[], struct job_spec *spec, char *why, size_t whylen);

/* Writes a stable key for "the same job": 32 lowercase hex digits hashing
 * argv[1..argc-1] (the program path does not count) plus a NUL. Not
 * cryptographic: two 64-bit FNV-1a hashes with different starting states. */
void argv_job_key(int argc, char *const argv[], char out[33]);

/* Returns "native", "passthrough" or "refuse". */
const char *argv_decision_name(enum argv_decision decision);

#endif
