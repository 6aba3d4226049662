/* argv_cli.c -- a line the native parser does not take, as a job for a
 * worker's ffmpeg CLI (JOB_OUTPUT_CLI_HLS or JOB_OUTPUT_CLI).
 *
 * The line travels as it is (cli_args; the shim maps its paths); this file
 * only reads what the pool must know around it: the input and output for
 * logs and confinement, whether its output goes to stdout (such a line
 * stays on Jellyfin's host: the pool relays stderr and the exit status,
 * not a byte stream), and for an HLS output (-f hls, or a .m3u8) what it
 * writes, so that a worker can publish its segments one by one and a
 * takeover can restart it at the next one. The options' arity is not
 * known here: a value is taken as the argument after its option, and only
 * the few options read below matter. */
#include <stdio.h>
#include <string.h>

#include "argv.h"
#include "argv_internal.h"

static const char *strip_file(const char *path)
{
    return strncmp(path, "file:", 5) == 0 ? path + 5 : path;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The HLS fields of spec from the line's output options (after the last
 * -i). Returns 0 when the stream can be published segment by segment,
 * -1 (why set) when it can only run once. */
static int cli_hls_fields(int argc, char *const argv[], int outputs, struct job_spec *spec,
                          char *why, size_t whylen)
{
    spec->hls_time_us = 2000000; /* hlsenc's default */
    snprintf(spec->init_filename, sizeof(spec->init_filename), "init.mp4");
    for (int i = outputs; i + 1 < argc - 1; i++) {
        const char *opt = argv[i], *value = argv[i + 1];
        int64_t us = 0, n = 0;
        if (strcmp(opt, "-hls_time") == 0) {
            if (value_parse_duration_us(value, &us) != VALUE_OK || us <= 0) {
                snprintf(why, whylen, "-hls_time %.32s is not a duration", value);
                return -1;
            }
            spec->hls_time_us = us;
        } else if (strcmp(opt, "-start_number") == 0) {
            if (value_parse_int64(value, 0, &n) != VALUE_OK || n < 0 || n > 1000000000) {
                snprintf(why, whylen, "-start_number %.32s is not a segment number", value);
                return -1;
            }
            spec->start_number = (int)n;
        } else if (strcmp(opt, "-hls_segment_filename") == 0) {
            snprintf(spec->segment_filename, sizeof(spec->segment_filename), "%s",
                     strip_file(value));
        } else if (strcmp(opt, "-hls_segment_type") == 0) {
            spec->segment_type = strcmp(value, "fmp4") == 0 ? JOB_SEGMENT_FMP4 : JOB_SEGMENT_MPEGTS;
        } else if (strcmp(opt, "-hls_fmp4_init_filename") == 0) {
            snprintf(spec->init_filename, sizeof(spec->init_filename), "%s", value);
        } else if (strcmp(opt, "-hls_playlist_type") == 0) {
            spec->playlist_type =
                strcmp(value, "event") == 0 ? JOB_PLAYLIST_EVENT : JOB_PLAYLIST_VOD;
        } else if (strcmp(opt, "-hls_base_url") == 0) {
            snprintf(spec->base_url, sizeof(spec->base_url), "%s", value);
        } else if (strcmp(opt, "-hls_flags") == 0 &&
                   (strstr(value, "single_file") || strstr(value, "delete_segments"))) {
            snprintf(why, whylen, "-hls_flags %.32s", value);
            return -1;
        } else if (strcmp(opt, "-hls_list_size") == 0 && strcmp(value, "0") != 0) {
            snprintf(why, whylen, "-hls_list_size %.32s (a sliding playlist)", value);
            return -1;
        } else {
            continue;
        }
        i++;
    }
    if (!job_spec_pattern_valid(spec->segment_filename)) {
        snprintf(why, whylen, "no -hls_segment_filename with one %%d");
        return -1;
    }
    if (spec->segment_filename[0] != '/' || spec->output[0] != '/') {
        snprintf(why, whylen, "relative HLS paths");
        return -1;
    }
    return 0;
}

int argv_cli_spec(int argc, char *const argv[], struct job_spec *spec, char *why, size_t whylen)
{
    job_spec_init(spec);
    snprintf(why, whylen, "%s", "");
    if (argc < 2) {
        snprintf(why, whylen, "no arguments");
        return -1;
    }
    int last_input = -1, format_null = 0, format_hls = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i] == NULL)
            return -1;
        if (job_spec_cli_append(spec, argv[i]) != 0) {
            snprintf(why, whylen, "the line is too long for a job");
            return -1;
        }
        if (strncmp(argv[i], "-dump_attachment", 16) == 0) {
            /* Writes into the working directory Jellyfin gave the process. */
            snprintf(why, whylen, "-dump_attachment writes into Jellyfin's working directory");
            return -1;
        }
        if (i + 1 < argc && strcmp(argv[i], "-i") == 0) {
            if (name_url_is_loopback(argv[i + 1])) {
                snprintf(why, whylen, "its input is on Jellyfin's own loopback address");
                return -1;
            }
            if (last_input < 0) {
                snprintf(spec->input, sizeof(spec->input), "%s", strip_file(argv[i + 1]));
                if (strcmp(argv[i + 1], "-") == 0 || strncmp(argv[i + 1], "pipe:", 5) == 0) {
                    snprintf(why, whylen, "it reads its input from stdin");
                    return -1;
                }
            }
            last_input = i + 1;
        }
        if (i + 1 < argc && strcmp(argv[i], "-ss") == 0 && last_input < 0) {
            int64_t us = 0;
            if (value_parse_duration_us(argv[i + 1], &us) == VALUE_OK)
                spec->seek_us = us;
        }
        if (i + 1 < argc && strcmp(argv[i], "-f") == 0 && last_input >= 0) {
            format_null = strcmp(argv[i + 1], "null") == 0;
            format_hls = strcmp(argv[i + 1], "hls") == 0;
        }
    }
    if (last_input < 0) {
        snprintf(why, whylen, "it has no input");
        return -1;
    }
    const char *output = argv[argc - 1];
    if (argc - 1 <= last_input || (output[0] == '-' && output[1] != '\0')) {
        snprintf(why, whylen, "it has no output");
        return -1;
    }
    if (!format_null && (strcmp(output, "-") == 0 || strncmp(output, "pipe:", 5) == 0)) {
        snprintf(why, whylen, "it writes to stdout");
        return -1;
    }
    snprintf(spec->output, sizeof(spec->output), "%s", strip_file(output));
    spec->output_kind = JOB_OUTPUT_CLI;
    if (format_hls || ends_with(output, ".m3u8")) {
        /* A stream the pool cannot publish segment by segment stays here:
         * run once on a worker it would write into Jellyfin's folder, and a
         * second run after a takeover would rewrite what was served. */
        char hls_why[128];
        if (cli_hls_fields(argc, argv, last_input + 1, spec, hls_why, sizeof(hls_why)) != 0) {
            snprintf(why, whylen, "an HLS output the pool cannot publish: %s", hls_why);
            return -1;
        }
        spec->output_kind = JOB_OUTPUT_CLI_HLS;
    }
    return 0;
}
