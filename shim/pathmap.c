/* pathmap.c -- prefix translation between Jellyfin-side and worker-side
 * paths (see pathmap.h).
 *
 * The map is a short list of prefix pairs, so a match is a linear scan that
 * keeps the longest prefix that ends at a component boundary. Only what
 * goes to the pool is rewritten: ffprobe and passthrough lines run on
 * Jellyfin's host, on Jellyfin's own paths. */
#include "pathmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Parsing the configuration
 * ------------------------------------------------------------------------- */

/* Copies [start, end) without surrounding blanks and trailing slashes (the
 * root "/" keeps its slash). Returns 0, or -1 if it does not fit. */
static int prefix_copy(char *out, size_t outlen, const char *start, const char *end)
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    while (end - start > 1 && end[-1] == '/')
        end--;
    size_t n = (size_t)(end - start);
    if (n >= outlen)
        return -1;
    memcpy(out, start, n);
    out[n] = '\0';
    return 0;
}

int pathmap_parse(struct pathmap *map, const char *text, char *err, size_t errlen)
{
    return pathmap_parse_key(map, "paths.map", text, err, errlen);
}

int pathmap_parse_key(struct pathmap *map, const char *key, const char *text, char *err,
                      size_t errlen)
{
    memset(map, 0, sizeof(*map));
    if (text == NULL)
        return 0;
    const char *entry = text;
    while (*entry != '\0') {
        const char *end = strchr(entry, ';');
        if (end == NULL)
            end = entry + strlen(entry);
        const char *blank = entry;
        while (blank < end && (*blank == ' ' || *blank == '\t'))
            blank++;
        if (blank < end) {
            const char *equals = memchr(entry, '=', (size_t)(end - entry));
            if (equals == NULL) {
                snprintf(err, errlen, "%s entry '%.*s' has no '='", key, (int)(end - entry), entry);
                return -1;
            }
            if (map->count == PATHMAP_PAIRS_MAX) {
                snprintf(err, errlen, "%s has more than %d pairs", key, PATHMAP_PAIRS_MAX);
                return -1;
            }
            struct pathmap_pair *pair = &map->pairs[map->count];
            if (prefix_copy(pair->jellyfin, sizeof(pair->jellyfin), entry, equals) != 0 ||
                prefix_copy(pair->worker, sizeof(pair->worker), equals + 1, end) != 0) {
                snprintf(err, errlen, "%s entry '%.*s' has a prefix that is too long", key,
                         (int)(end - entry), entry);
                return -1;
            }
            if (pair->jellyfin[0] != '/' || pair->worker[0] != '/') {
                snprintf(err, errlen,
                         "%s entry '%.*s' needs two absolute prefixes (jellyfin=worker)", key,
                         (int)(end - entry), entry);
                return -1;
            }
            map->count++;
        }
        entry = *end == ';' ? end + 1 : end;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Translating one path
 * ------------------------------------------------------------------------- */

/* Length of prefix if it matches path at a component boundary, else 0. */
static size_t prefix_match(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (strncmp(prefix, path, n) != 0)
        return 0;
    if (n == 1 && prefix[0] == '/')
        return 1; /* "/" matches every absolute path */
    if (path[n] == '\0' || path[n] == '/')
        return n;
    return 0;
}

int pathmap_translate(const struct pathmap *map, enum pathmap_direction direction, const char *path,
                      char *out, size_t outlen)
{
    if (outlen == 0)
        return -1;
    const char *scheme = "";
    const char *body = path;
    if (strncmp(path, "file:", 5) == 0) {
        scheme = "file:";
        body = path + 5;
    }
    const struct pathmap_pair *best = NULL;
    size_t best_len = 0;
    for (int i = 0; map != NULL && i < map->count; i++) {
        const char *from =
            direction == PATHMAP_TO_WORKER ? map->pairs[i].jellyfin : map->pairs[i].worker;
        size_t n = prefix_match(from, body);
        if (n > best_len) {
            best = &map->pairs[i];
            best_len = n;
        }
    }
    int written;
    if (best == NULL) {
        written = snprintf(out, outlen, "%s", path);
    } else {
        const char *to = direction == PATHMAP_TO_WORKER ? best->worker : best->jellyfin;
        const char *rest = body + best_len;
        /* "/" as a prefix keeps the rest's leading slash; "/a" -> "/" must
         * not produce "//x". */
        if (strcmp(to, "/") == 0 && rest[0] == '/')
            rest++;
        else if (best_len == 1 && rest[0] != '/' && rest[0] != '\0' && strcmp(to, "/") != 0)
            rest--; /* from "/" to "/w": "/x" -> "/w" + "/x" */
        written = snprintf(out, outlen, "%s%s%s", scheme, to, rest);
    }
    if (written < 0 || (size_t)written >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return best != NULL;
}

/* ---------------------------------------------------------------------------
 * Job specs
 * ------------------------------------------------------------------------- */

/* Translates field (capacity size) in place. Returns 1, 0 or -1. */
static int field_translate(const struct pathmap *map, char *field, size_t size, const char *name,
                           char *err, size_t errlen)
{
    char *out = malloc(size);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int status = pathmap_translate(map, PATHMAP_TO_WORKER, field, out, size);
    if (status < 0)
        snprintf(err, errlen, "the mapped %s path is too long", name);
    else if (status > 0)
        memcpy(field, out, strlen(out) + 1);
    free(out);
    return status;
}

static int filter_key_is_path(const char *filter, size_t pos, size_t *key_len)
{
    static const char *const keys[] = {"subtitles=", "ass=", "filename=", "f=", "fontsdir="};
    if (pos > 0 && strchr(",;:=[", filter[pos - 1]) == NULL)
        return 0;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        size_t n = strlen(keys[k]);
        if (strncmp(filter + pos, keys[k], n) == 0 && filter[pos + n] == '/') {
            *key_len = n;
            return 1;
        }
    }
    return 0;
}

/* Appends text[0..n) to out; returns -1 when it does not fit. */
static int buffer_append(char *out, size_t outlen, size_t *used, const char *text, size_t n)
{
    if (*used + n >= outlen)
        return -1;
    memcpy(out + *used, text, n);
    *used += n;
    out[*used] = '\0';
    return 0;
}

/* Translates the paths inside a filter graph: every single-quoted absolute
 * path, and the unquoted value of subtitles=, ass=, filename=, f= and
 * fontsdir= when it is an absolute path (up to an unescaped ':' ',' ';').
 * Returns the number of paths changed or -1 (does not fit). */
static int filter_translate(const struct pathmap *map, char *filter, size_t size)
{
    char *out = malloc(size);
    char *path = malloc(size);
    char *mapped = malloc(size);
    int changed = -1;
    if (out == NULL || path == NULL || mapped == NULL)
        goto cleanup;
    size_t used = 0, i = 0, len = strlen(filter);
    int count = 0;
    out[0] = '\0';
    while (i < len) {
        size_t start = i, end, key_len = 0;
        int quoted = filter[i] == '\'';
        if (quoted) {
            const char *close = strchr(filter + i + 1, '\'');
            end = close ? (size_t)(close - filter) : len;
            start = i + 1;
        } else if (filter_key_is_path(filter, i, &key_len)) {
            if (buffer_append(out, size, &used, filter + i, key_len) != 0)
                goto cleanup;
            start = i + key_len;
            end = start;
            while (end < len && strchr(":,;", filter[end]) == NULL)
                end += filter[end] == '\\' && end + 1 < len ? 2 : 1;
        } else {
            size_t step = filter[i] == '\\' && i + 1 < len ? 2 : 1;
            if (buffer_append(out, size, &used, filter + i, step) != 0)
                goto cleanup;
            i += step;
            continue;
        }
        memcpy(path, filter + start, end - start);
        path[end - start] = '\0';
        int status =
            path[0] == '/' ? pathmap_translate(map, PATHMAP_TO_WORKER, path, mapped, size) : 0;
        if (status < 0)
            goto cleanup;
        count += status;
        const char *text = status > 0 ? mapped : path;
        if ((quoted && buffer_append(out, size, &used, "'", 1) != 0) ||
            buffer_append(out, size, &used, text, strlen(text)) != 0)
            goto cleanup;
        i = end;
        if (quoted && i < len) {
            if (buffer_append(out, size, &used, "'", 1) != 0)
                goto cleanup;
            i++;
        }
    }
    memcpy(filter, out, used + 1);
    changed = count;
cleanup:
    free(out);
    free(path);
    free(mapped);
    return changed;
}

int pathmap_apply_spec(const struct pathmap *map, struct job_spec *spec, char *err, size_t errlen)
{
    if (map == NULL || map->count == 0)
        return 0;
    struct {
        char *field;
        size_t size;
        const char *name;
    } fields[] = {
        {spec->input, sizeof(spec->input), "input"},
        {spec->subtitle_input, sizeof(spec->subtitle_input), "subtitle input"},
        {spec->output, sizeof(spec->output), "output"},
        {spec->segment_filename, sizeof(spec->segment_filename), "segment"},
        {spec->init_filename, sizeof(spec->init_filename), "init segment"},
    };
    int changed = 0;
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        if (fields[k].field[0] != '/' && strncmp(fields[k].field, "file:/", 6) != 0)
            continue; /* relative (init_filename) or a URL: nothing to map */
        int status =
            field_translate(map, fields[k].field, fields[k].size, fields[k].name, err, errlen);
        if (status < 0)
            return -1;
        changed += status;
    }
    int status = filter_translate(map, spec->video_filter, sizeof(spec->video_filter));
    if (status < 0) {
        snprintf(err, errlen, "the video filter with mapped paths is too long");
        return -1;
    }
    return changed + status;
}

/* ---------------------------------------------------------------------------
 * Hardware devices
 * ------------------------------------------------------------------------- */

/* Appends the translation of text[0..n) (itself when no prefix matches) to
 * out. Returns 1 if it changed, 0 if not, -1 if out is full. */
static int device_append(const struct pathmap *map, char *out, size_t outlen, size_t *used,
                         const char *text, size_t n)
{
    char device[JOB_SPEC_SHORT_MAX], mapped[JOB_SPEC_SHORT_MAX];
    if (n >= sizeof(device))
        return -1;
    memcpy(device, text, n);
    device[n] = '\0';
    int status = device[0] == '/'
                     ? pathmap_translate(map, PATHMAP_TO_WORKER, device, mapped, sizeof(mapped))
                     : 0;
    if (status < 0)
        return -1;
    const char *piece = status > 0 ? mapped : device;
    if (buffer_append(out, outlen, used, piece, strlen(piece)) != 0)
        return -1;
    return status;
}

/* Translates the device paths of one -init_hw_device argument in place
 * (fftools/ffmpeg_hw.c grammar: TYPE[=NAME][:DEVICE][,key=value...] or
 * TYPE[=NAME]@SOURCE). Returns the number of paths changed or -1. */
static int device_argument_translate(const struct pathmap *map, char *arg, size_t size)
{
    static const char child[] = "child_device=";
    char out[JOB_SPEC_SHORT_MAX];
    size_t used = 0;
    int changed = 0;
    out[0] = '\0';
    size_t k = strcspn(arg, ":=@");
    if (arg[k] == '=')
        k += 1 + strcspn(arg + k + 1, ":@,");
    if (arg[k] != ':' && arg[k] != ',')
        return 0; /* no device string, or derived from another device */
    if (buffer_append(out, sizeof(out), &used, arg, k + 1) != 0)
        return -1;
    const char *s = arg + k + 1;
    if (arg[k] == ':') {
        size_t n = strcspn(s, ",");
        int status = device_append(map, out, sizeof(out), &used, s, n);
        if (status < 0)
            return -1;
        changed += status;
        s += n;
    }
    /* Options: "key=value" pairs separated by ','; child_device= is a
     * device path too (QSV's VAAPI or DXVA child). */
    while (*s != '\0') {
        if (*s == ',') {
            if (buffer_append(out, sizeof(out), &used, s, 1) != 0)
                return -1;
            s++;
            continue;
        }
        size_t n = strcspn(s, ",");
        size_t key = strncmp(s, child, sizeof(child) - 1) == 0 ? sizeof(child) - 1 : n;
        if (buffer_append(out, sizeof(out), &used, s, key) != 0)
            return -1;
        if (key < n) {
            int status = device_append(map, out, sizeof(out), &used, s + key, n - key);
            if (status < 0)
                return -1;
            changed += status;
        }
        s += n;
    }
    if (used >= size)
        return -1;
    if (changed > 0)
        memcpy(arg, out, used + 1);
    return changed;
}

int pathmap_apply_devices(const struct pathmap *map, struct job_spec *spec, char *err,
                          size_t errlen)
{
    if (map == NULL || map->count == 0)
        return 0;
    int changed = 0;
    for (int i = 0; i < spec->n_hw_devices && i < JOB_SPEC_HW_DEVICES_MAX; i++) {
        int status =
            device_argument_translate(map, spec->hw_devices[i], sizeof(spec->hw_devices[i]));
        if (status < 0) {
            snprintf(err, errlen, "the mapped device of -init_hw_device %s is too long",
                     spec->hw_devices[i]);
            return -1;
        }
        changed += status;
    }
    if (spec->hwaccel_device[0] == '/') {
        int status = field_translate(map, spec->hwaccel_device, sizeof(spec->hwaccel_device),
                                     "-hwaccel_device", err, errlen);
        if (status < 0)
            return -1;
        changed += status;
    }
    return changed;
}

int pathmap_apply_cli(const struct pathmap *map, const struct pathmap *device_map,
                      struct job_spec *spec, char *err, size_t errlen)
{
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    job_spec_cli_argv(spec, args);
    struct job_spec *mapped = malloc(sizeof(*mapped));
    char *arg = malloc(JOB_SPEC_FILTER_MAX);
    if (mapped == NULL || arg == NULL) {
        free(mapped);
        free(arg);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mapped->n_cli_args = 0;
    int changed = 0, status = 0;
    for (int i = 0; i < spec->n_cli_args && status >= 0; i++) {
        const char *before = i > 0 ? args[i - 1] : "";
        if (strlen(args[i]) >= JOB_SPEC_FILTER_MAX) {
            snprintf(err, errlen, "argument %d is too long to map", i + 1);
            status = -1;
            break;
        }
        snprintf(arg, JOB_SPEC_FILTER_MAX, "%s", args[i]);
        status = 0;
        if (strcmp(before, "-init_hw_device") == 0 || strcmp(before, "-vaapi_device") == 0 ||
            strcmp(before, "-qsv_device") == 0)
            status = device_map->count > 0
                         ? device_argument_translate(device_map, arg, JOB_SPEC_SHORT_MAX)
                         : 0;
        else if (strcmp(before, "-hwaccel_device") == 0 && arg[0] == '/')
            status = field_translate(device_map, arg, JOB_SPEC_SHORT_MAX, "-hwaccel_device", err,
                                     errlen);
        else if (strcmp(before, "-vf") == 0 || strncmp(before, "-filter", 7) == 0 ||
                 strcmp(before, "-lavfi") == 0 || strcmp(before, "-af") == 0)
            status = filter_translate(map, arg, JOB_SPEC_FILTER_MAX);
        else if (arg[0] == '/' || strncmp(arg, "file:/", 6) == 0)
            status = field_translate(map, arg, JOB_SPEC_FILTER_MAX, "argument", err, errlen);
        if (status < 0)
            snprintf(err, errlen, "the mapped form of argument %d (%.64s) is too long", i + 1,
                     args[i]);
        else if (job_spec_cli_append(mapped, arg) != 0) {
            snprintf(err, errlen, "the mapped arguments do not fit a job");
            status = -1;
        } else
            changed += status;
    }
    if (status >= 0) {
        memcpy(spec->cli_args, mapped->cli_args, sizeof(spec->cli_args));
        spec->n_cli_args = mapped->n_cli_args;
    }
    free(mapped);
    free(arg);
    return status < 0 ? -1 : changed;
}
