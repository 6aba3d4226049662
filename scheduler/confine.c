/* confine.c -- resolving job paths and checking them against the configured
 * roots; see confine.h. Uses realpath(3) for what exists and a lexical walk,
 * refusing `..`, for what does not exist yet. */
#include "confine.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Appends "/" component to out (which holds a resolved path). */
static int path_append(char *out, size_t outlen, const char *component, size_t len)
{
    size_t used = strlen(out);
    int need_slash = used == 0 || out[used - 1] != '/';
    if (used + (size_t)need_slash + len + 1 > outlen)
        return -1;
    if (need_slash)
        out[used++] = '/';
    memcpy(out + used, component, len);
    out[used + len] = '\0';
    return 0;
}

int confine_path_resolve(const char *path, int must_exist, char *out, size_t outlen, char *err,
                         size_t errlen)
{
    char resolved[PATH_MAX];
    char prefix[PATH_MAX];
    struct stat st;

    if (path[0] != '/') {
        snprintf(err, errlen, "path \"%s\" is not absolute", path);
        return -1;
    }
    if (strlen(path) >= sizeof(prefix)) {
        snprintf(err, errlen, "path is longer than %d bytes", PATH_MAX - 1);
        return -1;
    }
    if (realpath(path, resolved) != NULL) {
        if (strlen(resolved) >= outlen) {
            snprintf(err, errlen, "resolved path of \"%s\" is too long", path);
            return -1;
        }
        snprintf(out, outlen, "%s", resolved);
        return 0;
    }
    if (errno != ENOENT || must_exist) {
        snprintf(err, errlen, "\"%s\" cannot be resolved: %s", path, strerror(errno));
        return -1;
    }

    /* Strip components until what is left exists; a name that exists but
     * does not resolve is a symlink to nowhere, which could be pointed
     * anywhere later: refused. */
    snprintf(prefix, sizeof(prefix), "%s", path);
    size_t cut = strlen(prefix);
    for (;;) {
        /* prefix names something that does not resolve. */
        while (cut > 1 && prefix[cut - 1] == '/')
            cut--;
        prefix[cut] = '\0';
        if (lstat(prefix, &st) == 0) {
            snprintf(err, errlen, "\"%s\" is %s", prefix,
                     S_ISLNK(st.st_mode) ? "a symlink whose target does not exist"
                                         : "not a folder that can be resolved");
            return -1;
        }
        while (cut > 1 && prefix[cut - 1] != '/')
            cut--;
        prefix[cut] = '\0';
        if (realpath(prefix, resolved) != NULL)
            break;
        if (errno != ENOENT || cut <= 1) {
            snprintf(err, errlen, "\"%s\" cannot be resolved: %s", prefix, strerror(errno));
            return -1;
        }
    }

    /* The part that does not exist yet cannot hold symlinks; `..` in it
     * would be resolved by the kernel against whatever exists then. */
    const char *rest = path + cut;
    while (*rest != '\0') {
        while (*rest == '/')
            rest++;
        size_t len = strcspn(rest, "/");
        if (len == 0)
            break;
        if (len == 2 && rest[0] == '.' && rest[1] == '.') {
            snprintf(err, errlen, "\"%s\" has '..' in a part that does not exist yet", path);
            return -1;
        }
        if (!(len == 1 && rest[0] == '.') &&
            path_append(resolved, sizeof(resolved), rest, len) != 0) {
            snprintf(err, errlen, "resolved path of \"%s\" is too long", path);
            return -1;
        }
        rest += len;
    }
    if (strlen(resolved) >= outlen) {
        snprintf(err, errlen, "resolved path of \"%s\" is too long", path);
        return -1;
    }
    snprintf(out, outlen, "%s", resolved);
    return 0;
}

int confine_path_under(const char *resolved, const char *roots, char *err, size_t errlen)
{
    const char *p = roots;
    int resolvable = 0;
    while (*p != '\0') {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0)
            break;
        char root[PATH_MAX];
        char root_resolved[PATH_MAX];
        if (len >= sizeof(root)) {
            snprintf(err, errlen, "a configured root is longer than %d bytes", PATH_MAX - 1);
            return -1;
        }
        memcpy(root, p, len);
        root[len] = '\0';
        p += len;
        if (realpath(root, root_resolved) == NULL) {
            /* An unmounted root holds nothing; the others still count. */
            snprintf(err, errlen, "configured root \"%s\" cannot be resolved on the scheduler: %s",
                     root, strerror(errno));
            continue;
        }
        resolvable++;
        size_t root_len = strlen(root_resolved);
        if (strcmp(root_resolved, "/") == 0)
            return 1;
        if (strncmp(resolved, root_resolved, root_len) == 0 &&
            (resolved[root_len] == '\0' || resolved[root_len] == '/'))
            return 1;
    }
    return resolvable > 0 ? 0 : -1;
}

static int roots_empty(const char *roots)
{
    return roots == NULL || roots[strspn(roots, " ,")] == '\0';
}

/* Resolves path and checks it under roots; what names the field. */
static int confine_one(const char *what, const char *path, int must_exist, const char *roots,
                       const char *roots_key, char *err, size_t errlen)
{
    char resolved[PATH_MAX];
    char why[PATH_MAX + 128];
    if (confine_path_resolve(path, must_exist, resolved, sizeof(resolved), why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", what, why);
        return -1;
    }
    int under = confine_path_under(resolved, roots, why, sizeof(why));
    if (under < 0) {
        snprintf(err, errlen, "%s: %s", what, why);
        return -1;
    }
    if (!under) {
        snprintf(err, errlen, "%s \"%s\" resolves to \"%s\", outside %s (%s)", what, path, resolved,
                 roots_key, roots);
        return -1;
    }
    return 0;
}

/* A CLI job: the CLI may read or write any path its line names, so every
 * argument that is an absolute path (or a file: one) must lie under the
 * media roots or the transcode root, and with media roots set a URL is
 * refused. A delivered line's output files are not (the worker writes them
 * into its spool, the shim where Jellyfin asked). Paths inside filter
 * graphs are not read here. */
static int confine_cli(const struct job_spec *spec, const char *media_roots,
                       const char *transcode_root, char *err, size_t errlen)
{
    if (roots_empty(media_roots) && roots_empty(transcode_root))
        return 0;
    char roots[2 * 4096 + 2];
    snprintf(roots, sizeof(roots), "%s,%s", roots_empty(media_roots) ? "" : media_roots,
             roots_empty(transcode_root) ? "" : transcode_root);
    const char *args[JOB_SPEC_CLI_ARGC_MAX + 1];
    char spooled[JOB_SPEC_CLI_ARGC_MAX] = {0};
    int pattern;
    job_spec_cli_argv(spec, args);
    if (spec->deliver && spec->output_kind == JOB_OUTPUT_CLI &&
        job_spec_cli_outputs(spec, spooled, &pattern) < 0)
        memset(spooled, 0, sizeof(spooled)); /* refused by job_spec_validate */
    for (int i = 0; i < spec->n_cli_args; i++) {
        if (spooled[i])
            continue;
        const char *arg = strncmp(args[i], "file:", 5) == 0 ? args[i] + 5 : args[i];
        if (!roots_empty(media_roots) && strstr(arg, "://") != NULL) {
            snprintf(err, errlen,
                     "argument \"%.256s\" is a URL; with paths.media_roots set a CLI job may "
                     "only name files under the roots",
                     arg);
            return -1;
        }
        if (arg[0] == '/' && confine_one("argument", arg, 0, roots,
                                         "paths.media_roots and paths.transcode_root", err, errlen))
            return -1;
    }
    return 0;
}

int confine_job_check(const struct job_spec *spec, const char *media_roots,
                      const char *transcode_root, char *err, size_t errlen)
{
    /* A device check reads and writes no file. */
    if (spec->output_kind == JOB_OUTPUT_DEVICE_CHECK)
        return 0;
    if (job_spec_is_cli(spec))
        return confine_cli(spec, media_roots, transcode_root, err, errlen);
    if (!roots_empty(media_roots)) {
        if (strstr(spec->input, "://") != NULL || strncmp(spec->input, "pipe:", 5) == 0) {
            snprintf(err, errlen,
                     "input \"%s\" is not a file; with paths.media_roots set only files under "
                     "the media roots may be read",
                     spec->input);
            return -1;
        }
        if (confine_one("input", spec->input, 1, media_roots, "paths.media_roots", err, errlen))
            return -1;
        /* The external subtitle file of a burn-in is read like the input. */
        if (spec->subtitle_input[0] != '\0' &&
            (strstr(spec->subtitle_input, "://") != NULL ||
             confine_one("subtitle input", spec->subtitle_input, 1, media_roots,
                         "paths.media_roots", err, errlen)))
            return -1;
    }
    if (roots_empty(transcode_root))
        return 0;
    if (confine_one("output", spec->output, 0, transcode_root, "paths.transcode_root", err, errlen))
        return -1;
    if (spec->output_kind != JOB_OUTPUT_HLS)
        return 0;

    char dir[JOB_SPEC_PATH_MAX];
    if (spec->segment_filename[0] != '\0') {
        const char *slash = strrchr(spec->segment_filename, '/');
        size_t len = slash != NULL ? (size_t)(slash - spec->segment_filename) : 0;
        if (slash == NULL) {
            snprintf(err, errlen, "segment_filename \"%s\" is not an absolute path",
                     spec->segment_filename);
            return -1;
        }
        memcpy(dir, spec->segment_filename, len);
        dir[len] = '\0';
        if (len == 0)
            snprintf(dir, sizeof(dir), "/");
        if (strchr(dir, '%') != NULL) {
            snprintf(err, errlen, "segment_filename \"%s\" has a %% conversion in its folder",
                     spec->segment_filename);
            return -1;
        }
        if (confine_one("segment folder", dir, 0, transcode_root, "paths.transcode_root", err,
                        errlen))
            return -1;
    }
    if (spec->init_filename[0] != '\0') {
        char init[JOB_SPEC_PATH_MAX * 2];
        if (spec->init_filename[0] == '/') {
            snprintf(init, sizeof(init), "%s", spec->init_filename);
        } else {
            /* Relative to the playlist's folder, as the worker writes it. */
            const char *slash = strrchr(spec->output, '/');
            int len = slash != NULL ? (int)(slash - spec->output) : 0;
            snprintf(init, sizeof(init), "%.*s/%s", len, spec->output, spec->init_filename);
        }
        if (confine_one("init file", init, 0, transcode_root, "paths.transcode_root", err, errlen))
            return -1;
    }
    return 0;
}
