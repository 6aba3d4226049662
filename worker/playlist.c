/* playlist.c -- writes HLS playlists; see playlist.h. */
#include "playlist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Prints the playlist; returns 0, or -1 with err (an invalid pattern). */
static int playlist_print(FILE *file, const struct job_spec *spec, const int64_t *durations_us,
                          int count, int ended, char *err, size_t errlen)
{
    int64_t longest = spec->hls_time_us;
    for (int i = 0; i < count; i++)
        if (durations_us[i] > longest)
            longest = durations_us[i];

    int fmp4 = spec->segment_type == JOB_SEGMENT_FMP4;
    fprintf(file, "#EXTM3U\n#EXT-X-VERSION:%d\n", fmp4 ? 7 : 3);
    fprintf(file, "#EXT-X-TARGETDURATION:%d\n", (int)ceil((double)longest / 1e6));
    fprintf(file, "#EXT-X-MEDIA-SEQUENCE:%d\n", spec->start_number);
    fprintf(file, "#EXT-X-PLAYLIST-TYPE:%s\n",
            spec->playlist_type == JOB_PLAYLIST_EVENT ? "EVENT" : "VOD");
    if (fmp4 && spec->init_filename[0] != '\0')
        fprintf(file, "#EXT-X-MAP:URI=\"%s%s\"\n", spec->base_url,
                path_basename(spec->init_filename));
    for (int i = 0; i < count; i++) {
        char segment[JOB_SPEC_PATH_MAX];
        if (job_spec_segment_path(spec, spec->start_number + i, segment, sizeof(segment)) != 0) {
            snprintf(err, errlen, "segment pattern %s is invalid", spec->segment_filename);
            return -1;
        }
        fprintf(file, "#EXTINF:%.6f,\n%s%s\n", (double)durations_us[i] / 1e6, spec->base_url,
                path_basename(segment));
    }
    if (ended)
        fprintf(file, "#EXT-X-ENDLIST\n");
    return 0;
}

int playlist_write_temp(const struct job_spec *spec, const int64_t *durations_us, int count,
                        int ended, const char *temp, char *err, size_t errlen)
{
    FILE *file = fopen(temp, "w");
    if (file == NULL) {
        snprintf(err, errlen, "write playlist %s: %s", temp, strerror(errno));
        return -1;
    }
    if (playlist_print(file, spec, durations_us, count, ended, err, errlen) != 0) {
        fclose(file);
        unlink(temp);
        return -1;
    }
    int failed = ferror(file);
    if (fclose(file) != 0 || failed) {
        snprintf(err, errlen, "write playlist %s: %s", temp, strerror(errno));
        unlink(temp);
        return -1;
    }
    return 0;
}

char *playlist_text(const struct job_spec *spec, const int64_t *durations_us, int count, int ended,
                    size_t *len, char *err, size_t errlen)
{
    char *text = NULL;
    FILE *file = open_memstream(&text, len);
    if (file == NULL) {
        snprintf(err, errlen, "playlist: %s", strerror(errno));
        return NULL;
    }
    int printed = playlist_print(file, spec, durations_us, count, ended, err, errlen);
    if (fclose(file) != 0 || printed != 0) {
        if (printed == 0)
            snprintf(err, errlen, "playlist: out of memory");
        free(text);
        return NULL;
    }
    return text;
}

int playlist_write(const struct job_spec *spec, const int64_t *durations_us, int count, int ended,
                   char *err, size_t errlen)
{
    char temp[JOB_SPEC_PATH_MAX + 16];
    snprintf(temp, sizeof(temp), "%s.tmp", spec->output);
    if (playlist_write_temp(spec, durations_us, count, ended, temp, err, errlen) != 0)
        return -1;
    if (rename(temp, spec->output) != 0) {
        snprintf(err, errlen, "write playlist %s: %s", spec->output, strerror(errno));
        unlink(temp);
        return -1;
    }
    return 0;
}
