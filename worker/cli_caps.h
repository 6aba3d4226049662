/* cli_caps.h -- what this worker's ffmpeg CLI (worker.ffmpeg) can do, as
 * ffpool.CliInfo: read from the CLI's own -version, -encoders, -decoders,
 * -filters and -hwaccels at start, announced in the worker's Capabilities,
 * and turned into the cli-* routing words (routing.h) that send CLI jobs
 * here. See cli_caps.c. */
#ifndef FFPOOL_WORKER_CLI_CAPS_H
#define FFPOOL_WORKER_CLI_CAPS_H

#include <stddef.h>

#include "ffpool.pb-c.h"

/* Runs ffmpeg (a path, or a name looked up in PATH) with -version,
 * -encoders, -decoders, -filters and -hwaccels, each without a shell, with
 * stdin on /dev/null, and reads the names they list. timeout_ms (> 0)
 * bounds the whole probe; a run still going then is killed. Returns a malloc'd message (free it
 * with cli_caps_free) whose path is ffmpeg and version_text what -version printed, or NULL with a
 * sentence in err: the program cannot be run, exits non-zero or is killed,
 * takes too long, or prints what an ffmpeg CLI does not (no "ffmpeg
 * version" line, a list without its header: a program that prints nothing,
 * such as /bin/true, is refused rather than offered as a CLI with nothing).
 * Names that would make no valid routing word are left out. */
Ffpool__CliInfo *cli_caps_probe(const char *ffmpeg, int timeout_ms, char *err, size_t errlen);

/* Frees a message cli_caps_probe returned; NULL is fine. */
void cli_caps_free(Ffpool__CliInfo *cli);

/* The first line of cli->version_text ("ffmpeg version 5.1.6-0+deb12u1
 * Copyright ..."), without its newline, in out (truncated to outlen-1). */
void cli_caps_version_line(const Ffpool__CliInfo *cli, char *out, size_t outlen);

#endif
