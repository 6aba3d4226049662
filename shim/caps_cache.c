/* caps_cache.c -- the shim's capabilities cache and its "pool down" note
 * (see caps_cache.h).
 *
 * The cache file is a two-line text header, then the reply exactly as the
 * scheduler encoded it (protobuf), so a newer scheduler's fields survive a
 * round trip through an older shim:
 *
 *   ffpool-caps 1\n<scheduler.url>\n<ffpool.Reply bytes>
 *
 * The note is three lines of text: "ffpool-pool-down 1", the wall-clock
 * milliseconds, the URL. Wall-clock time because the note is read by other
 * processes, possibly after a reboot, where a monotonic clock means
 * nothing. */
#include "caps_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define CAPS_CACHE_MAGIC "ffpool-caps 1\n"
#define CAPS_DOWN_MAGIC "ffpool-pool-down 1\n"
/* No real reply comes near this; a bigger file is not ours. */
#define CAPS_CACHE_MAX_BYTES (64u << 20)

/* ---------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------- */

/* Reads the whole file (at most max bytes) into a malloc'd buffer with a
 * NUL after it. Returns 0, or -1 with errno set (EFBIG when too big). */
static int file_read_all(const char *path, size_t max, char **data, size_t *len)
{
    int result = -1;
    char *buffer = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto cleanup;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        errno = EFBIG;
        goto cleanup;
    }
    buffer = malloc((size_t)st.st_size + 1);
    if (buffer == NULL)
        goto cleanup;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buffer + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shorter than it was: a whole file is replaced, never cut */
        got += (size_t)n;
    }
    buffer[got] = '\0';
    *data = buffer;
    *len = got;
    buffer = NULL;
    result = 0;
cleanup:
    free(buffer);
    close(fd);
    return result;
}

/* Replaces path with the given bytes: written to a temporary file in the
 * same folder, flushed, then renamed over path. Returns 0, or -1 with err. */
static int file_replace(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char temp[PATH_MAX];
    if (snprintf(temp, sizeof(temp), "%s.XXXXXX", path) >= (int)sizeof(temp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = mkostemp(temp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", temp, strerror(errno));
        return -1;
    }
    const char *bytes = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done += (size_t)n;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(temp, path) != 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(temp);
    return -1;
}

static long long wall_clock_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "<path>.down", the note's path. Returns 0, or -1 if it does not fit. */
static int down_path(const char *path, char *out, size_t outlen)
{
    return snprintf(out, outlen, "%s.down", path) < (int)outlen ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * Where the cache lives
 * ------------------------------------------------------------------------- */

/* Makes folder and any missing parent (0700). Returns 0 when folder is a
 * writable folder afterwards. */
static int folder_make(const char *folder)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", folder) >= (int)sizeof(path))
        return -1;
    for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        *slash = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && access(path, W_OK | X_OK) == 0 ? 0 : -1;
}

/* The /tmp fallback must not be a folder (or a link) someone else made:
 * another user could then read or replace what Jellyfin is told. */
static int folder_private(const char *folder)
{
    if (mkdir(folder, 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (lstat(folder, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0)
        return -1;
    return 0;
}

/* Writes folder + "/" + name into out. Returns 0, or -1 if it does not fit. */
static int path_join(char *out, size_t outlen, const char *folder, const char *name)
{
    return snprintf(out, outlen, "%s/%s", folder, name) < (int)outlen ? 0 : -1;
}

int caps_cache_default_path(const char *argv0, char *out, size_t outlen, char *err, size_t errlen)
{
    char folder[PATH_MAX];
    const char *slash = argv0 != NULL ? strrchr(argv0, '/') : NULL;
    if (slash != NULL) {
        size_t n = slash == argv0 ? 1 : (size_t)(slash - argv0);
        if (n < sizeof(folder)) {
            memcpy(folder, argv0, n);
            folder[n] = '\0';
            if (access(folder, W_OK | X_OK) == 0 &&
                path_join(out, outlen, folder, CAPS_CACHE_BESIDE_NAME) == 0)
                return 0;
        }
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg != NULL && xdg[0] == '/' &&
        snprintf(folder, sizeof(folder), "%s/ffpool", xdg) < (int)sizeof(folder) &&
        folder_make(folder) == 0 && path_join(out, outlen, folder, CAPS_CACHE_FOLDER_NAME) == 0)
        return 0;
    const char *home = getenv("HOME");
    if (home != NULL && home[0] == '/' &&
        snprintf(folder, sizeof(folder), "%s/.cache/ffpool", home) < (int)sizeof(folder) &&
        folder_make(folder) == 0 && path_join(out, outlen, folder, CAPS_CACHE_FOLDER_NAME) == 0)
        return 0;
    snprintf(folder, sizeof(folder), "/tmp/ffpool-%u", (unsigned)geteuid());
    if (folder_private(folder) == 0 && path_join(out, outlen, folder, CAPS_CACHE_FOLDER_NAME) == 0)
        return 0;
    snprintf(err, errlen,
             "no writable folder for the capabilities cache (beside the shim, "
             "$XDG_CACHE_HOME, ~/.cache, %s); set shim.caps_cache",
             folder);
    return -1;
}

/* ---------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------- */

int caps_cache_writable(const char *path)
{
    char folder[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return access(".", W_OK | X_OK) == 0;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof(folder))
        return 0;
    memcpy(folder, path, n);
    folder[n] = '\0';
    return access(folder, W_OK | X_OK) == 0;
}

int caps_cache_save(const char *path, const char *url, const Ffpool__Reply *reply, char *err,
                    size_t errlen)
{
    int result = -1;
    char *old = NULL;
    size_t old_len = 0;
    size_t header_len = strlen(CAPS_CACHE_MAGIC) + strlen(url) + 1;
    size_t body_len = ffpool__reply__get_packed_size(reply);
    size_t len = header_len + body_len;
    char *data = malloc(len);
    if (data == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(data, CAPS_CACHE_MAGIC, strlen(CAPS_CACHE_MAGIC));
    memcpy(data + strlen(CAPS_CACHE_MAGIC), url, strlen(url));
    data[header_len - 1] = '\n';
    ffpool__reply__pack(reply, (uint8_t *)data + header_len);

    if (file_read_all(path, CAPS_CACHE_MAX_BYTES, &old, &old_len) == 0 && old_len == len &&
        memcmp(old, data, len) == 0) {
        if (utimensat(AT_FDCWD, path, NULL, 0) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto cleanup;
        }
        result = 0;
        goto cleanup;
    }
    result = file_replace(path, data, len, err, errlen);
cleanup:
    free(old);
    free(data);
    return result;
}

Ffpool__Reply *caps_cache_load(const char *path, const char *url, long long *age_ms, char *err,
                               size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    Ffpool__Reply *reply = NULL;
    if (file_read_all(path, CAPS_CACHE_MAX_BYTES, &data, &len) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t magic_len = strlen(CAPS_CACHE_MAGIC), url_len = strlen(url);
    if (len < magic_len + url_len + 1 || memcmp(data, CAPS_CACHE_MAGIC, magic_len) != 0 ||
        memcmp(data + magic_len, url, url_len) != 0 || data[magic_len + url_len] != '\n') {
        snprintf(err, errlen, "%s holds no capabilities for %s", path, url);
        goto cleanup;
    }
    size_t header_len = magic_len + url_len + 1;
    reply = ffpool__reply__unpack(NULL, len - header_len, (const uint8_t *)data + header_len);
    if (reply == NULL) {
        snprintf(err, errlen, "%s does not decode", path);
        goto cleanup;
    }
    if (age_ms != NULL) {
        struct stat st;
        *age_ms = stat(path, &st) == 0 ? wall_clock_ms() - ((long long)st.st_mtim.tv_sec * 1000 +
                                                            st.st_mtim.tv_nsec / 1000000)
                                       : 0;
    }
cleanup:
    free(data);
    return reply;
}

/* ---------------------------------------------------------------------------
 * The "pool down" note
 * ------------------------------------------------------------------------- */

int caps_cache_note_down(const char *path, const char *url, long long now_ms, char *err,
                         size_t errlen)
{
    char note_path[PATH_MAX];
    if (down_path(path, note_path, sizeof(note_path)) != 0) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    size_t len = strlen(CAPS_DOWN_MAGIC) + 24 + strlen(url) + 2;
    char *text = malloc(len);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = snprintf(text, len, "%s%lld\n%s\n", CAPS_DOWN_MAGIC, now_ms, url);
    int result = file_replace(note_path, text, (size_t)n, err, errlen);
    free(text);
    return result;
}

/* Reads the note at path: 1 with *at_ms set when it is about url. */
static int down_note_read(const char *path, const char *url, long long *at_ms)
{
    char note_path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    int found = 0;
    if (down_path(path, note_path, sizeof(note_path)) != 0 ||
        file_read_all(note_path, 64 * 1024, &text, &len) != 0)
        return 0;
    size_t magic_len = strlen(CAPS_DOWN_MAGIC), url_len = strlen(url);
    if (len > magic_len && memcmp(text, CAPS_DOWN_MAGIC, magic_len) == 0) {
        char *end = NULL;
        long long at = strtoll(text + magic_len, &end, 10);
        if (end != NULL && *end == '\n' && strncmp(end + 1, url, url_len) == 0 &&
            end[1 + url_len] == '\n') {
            *at_ms = at;
            found = 1;
        }
    }
    free(text);
    return found;
}

int caps_cache_down_recently(const char *path, const char *url, long long window_ms,
                             long long now_ms, long long *age_ms)
{
    long long at;
    if (!down_note_read(path, url, &at))
        return 0;
    long long age = now_ms - at;
    if (age < 0 || age >= window_ms)
        return 0;
    if (age_ms != NULL)
        *age_ms = age;
    return 1;
}

void caps_cache_clear_down(const char *path, const char *url)
{
    char note_path[PATH_MAX];
    long long at;
    if (down_note_read(path, url, &at) && down_path(path, note_path, sizeof(note_path)) == 0)
        unlink(note_path);
}
