/* test_caps_cache.c -- what the shim keeps on disk about the pool between
 * runs (shim/caps_cache.c).
 *
 * The capabilities are this machine's real libav as a worker publishes
 * them (pipeline_capabilities_pack), inside a real Capabilities reply; a
 * reply read back from the cache must give Jellyfin's probes the same
 * answers, byte for byte, as the reply the pool sent. Also: a record about
 * another scheduler URL counts as absent, a file is replaced atomically
 * (no temporary left, never a half-written file) and only touched when
 * unchanged, a damaged file is refused, the "pool down" note holds for its
 * window only, and where the cache lives when nobody says. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "caps_cache.h"
#include "pipeline_caps.h"
#include "probe.h"

#define URL "tcp://10.0.0.5:7070,tcp://10.0.0.6:7070"

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

/* A Capabilities reply as the scheduler sends it: one live worker with
 * this machine's libav. Free with reply_free. */
static Ffpool__Reply *reply_real(void)
{
    size_t len = 0;
    uint8_t *packed = pipeline_capabilities_pack(&len);
    cr_assert_not_null(packed);
    Ffpool__Reply *reply = calloc(1, sizeof(*reply));
    Ffpool__WorkerInfo *worker = calloc(1, sizeof(*worker));
    Ffpool__WorkerInfo **workers = calloc(1, sizeof(*workers));
    cr_assert(reply != NULL && worker != NULL && workers != NULL);
    ffpool__reply__init(reply);
    ffpool__worker_info__init(worker);
    worker->id = "w1";
    worker->slots = 2;
    worker->capabilities = ffpool__capabilities__unpack(NULL, len, packed);
    free(packed);
    cr_assert_not_null(worker->capabilities);
    workers[0] = worker;
    reply->workers = workers;
    reply->n_workers = 1;
    return reply;
}

static void reply_free(Ffpool__Reply *reply)
{
    ffpool__capabilities__free_unpacked(reply->workers[0]->capabilities, NULL);
    free(reply->workers[0]);
    free(reply->workers);
    free(reply);
}

/* What a probe prints (stdout) from reply's workers. Free the result. */
static char *answer_of(const Ffpool__Reply *reply, enum probe_kind kind, const char *name)
{
    struct probe_request request = {.kind = kind, .hide_banner = 1};
    snprintf(request.name, sizeof(request.name), "%s", name);
    struct probe_caps *caps = probe_caps_build(reply->workers, reply->n_workers);
    cr_assert_not_null(caps);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    FILE *err = fopen("/dev/null", "w");
    cr_assert(out != NULL && err != NULL);
    probe_answer(&request, caps, out, err);
    fclose(out);
    fclose(err);
    probe_caps_free(caps);
    return text;
}

/* A fresh private folder for one test. */
static char *folder_new(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ffpool-caps-test-XXXXXX");
    cr_assert_not_null(mkdtemp(path));
    return path;
}

static void folder_remove(const char *folder)
{
    char command[256];
    snprintf(command, sizeof(command), "rm -rf '%s'", folder);
    cr_assert_eq(system(command), 0);
}

static int folder_count(const char *folder)
{
    DIR *dir = opendir(folder);
    cr_assert_not_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void file_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ---------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------- */

Test(caps_cache, a_kept_reply_answers_every_probe_as_the_pool_did)
{
    char *folder = folder_new();
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/caps.cache", folder);
    Ffpool__Reply *sent = reply_real();
    cr_assert_eq(caps_cache_save(path, URL, sent, err, sizeof(err)), 0, "%s", err);

    long long age = -1;
    Ffpool__Reply *kept = caps_cache_load(path, URL, &age, err, sizeof(err));
    cr_assert_not_null(kept, "%s", err);
    cr_assert(age >= 0 && age < 5000, "age %lld ms", age);
    cr_assert_eq(kept->n_workers, 1);
    cr_assert_str_eq(kept->workers[0]->id, "w1");

    const struct {
        enum probe_kind kind;
        const char *name;
    } probes[] = {{PROBE_VERSION, ""},
                  {PROBE_ENCODERS, ""},
                  {PROBE_DECODERS, ""},
                  {PROBE_FILTERS, ""},
                  {PROBE_HWACCELS, ""},
                  {PROBE_HELP_FILTER, "scale"},
                  {PROBE_HELP_FILTER, "overlay"},
                  {PROBE_HELP_BSF, "h264_mp4toannexb"}};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        char *from_pool = answer_of(sent, probes[i].kind, probes[i].name);
        char *from_cache = answer_of(kept, probes[i].kind, probes[i].name);
        cr_assert_gt(strlen(from_pool), 10, "%s: empty answer", probe_kind_name(probes[i].kind));
        cr_assert_str_eq(from_cache, from_pool, "%s %s", probe_kind_name(probes[i].kind),
                         probes[i].name);
        free(from_pool);
        free(from_cache);
    }
    ffpool__reply__free_unpacked(kept, NULL);
    reply_free(sent);
    folder_remove(folder);
}

Test(caps_cache, a_reply_about_another_scheduler_counts_as_absent)
{
    char *folder = folder_new();
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/caps.cache", folder);
    cr_assert_null(caps_cache_load(path, URL, NULL, err, sizeof(err)), "no file yet");
    Ffpool__Reply *sent = reply_real();
    cr_assert_eq(caps_cache_save(path, URL, sent, err, sizeof(err)), 0, "%s", err);
    cr_assert_null(caps_cache_load(path, "tcp://10.0.0.5:7070", NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "no capabilities for"), "%s", err);
    cr_assert_null(caps_cache_load(path, URL ",tcp://10.0.0.7:7070", NULL, err, sizeof(err)));
    reply_free(sent);
    folder_remove(folder);
}

Test(caps_cache, saving_replaces_the_file_whole_and_leaves_nothing_else)
{
    char *folder = folder_new();
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/caps.cache", folder);
    file_write(path, "stale", 5);
    struct stat before, after;
    cr_assert_eq(stat(path, &before), 0);

    Ffpool__Reply *sent = reply_real();
    cr_assert_eq(caps_cache_save(path, URL, sent, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_neq(after.st_ino, before.st_ino, "a new file renamed over the old one");
    cr_assert_eq(after.st_mode & 0777, 0644);
    cr_assert_eq(folder_count(folder), 1, "no temporary file left behind");
    Ffpool__Reply *kept = caps_cache_load(path, URL, NULL, err, sizeof(err));
    cr_assert_not_null(kept, "%s", err);
    ffpool__reply__free_unpacked(kept, NULL);

    /* The same reply again: the file stays, its time says "confirmed now". */
    struct timespec old_times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    cr_assert_eq(utimensat(AT_FDCWD, path, old_times, 0), 0);
    cr_assert_eq(caps_cache_save(path, URL, sent, err, sizeof(err)), 0, "%s", err);
    struct stat touched;
    cr_assert_eq(stat(path, &touched), 0);
    cr_assert_eq(touched.st_ino, after.st_ino, "unchanged content is not rewritten");
    long long age = -1;
    kept = caps_cache_load(path, URL, &age, err, sizeof(err));
    cr_assert_not_null(kept, "%s", err);
    cr_assert(age >= 0 && age < 5000, "age %lld ms after a confirmation", age);
    ffpool__reply__free_unpacked(kept, NULL);

    /* A folder the shim cannot write into: an error, the old file kept. */
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/no/such/folder/caps.cache", folder);
    cr_assert_eq(caps_cache_writable(path), 1);
    cr_assert_eq(caps_cache_writable(missing), 0);
    cr_assert_eq(caps_cache_save(missing, URL, sent, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, missing), "%s", err);
    reply_free(sent);
    folder_remove(folder);
}

Test(caps_cache, a_damaged_file_is_refused)
{
    char *folder = folder_new();
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/caps.cache", folder);
    Ffpool__Reply *sent = reply_real();
    cr_assert_eq(caps_cache_save(path, URL, sent, err, sizeof(err)), 0, "%s", err);
    reply_free(sent);

    /* Cut in the middle of the reply (a disk that filled up, say). */
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size / 2), 0);
    cr_assert_null(caps_cache_load(path, URL, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "does not decode"), "%s", err);

    const char garbage[] = "ffpool-caps 1\n" URL "\n\xff\xff\xff\xff\xff\xff";
    file_write(path, garbage, sizeof(garbage) - 1);
    cr_assert_null(caps_cache_load(path, URL, NULL, err, sizeof(err)));
    file_write(path, "ffpool-caps 2\n" URL "\n", strlen("ffpool-caps 2\n" URL "\n"));
    cr_assert_null(caps_cache_load(path, URL, NULL, err, sizeof(err)), "another format");
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_null(caps_cache_load(path, URL, NULL, err, sizeof(err)), "not a file");
    folder_remove(folder);
}

/* ---------------------------------------------------------------------------
 * The "pool down" note
 * ------------------------------------------------------------------------- */

Test(caps_cache, the_down_note_holds_for_its_window_and_its_url_only)
{
    char *folder = folder_new();
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/caps.cache", folder);
    long long t = now_ms(), age = -1;
    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t, &age), 0, "no note yet");
    cr_assert_eq(caps_cache_note_down(path, URL, t, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(folder_count(folder), 1, "the note, and no temporary");

    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t + 1500, &age), 1);
    cr_assert_eq(age, 1500);
    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t + 60000, NULL), 0, "expired");
    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t - 1000, NULL), 0,
                 "a note from the future (clock set back) does not count");
    cr_assert_eq(caps_cache_down_recently(path, "tcp://10.0.0.5:7070", 60000, t + 1, NULL), 0,
                 "another scheduler URL");

    /* A later note replaces the earlier one. */
    cr_assert_eq(caps_cache_note_down(path, URL, t + 50000, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t + 100000, &age), 1);
    cr_assert_eq(age, 50000);

    caps_cache_clear_down(path, "tcp://10.0.0.5:7070");
    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t + 50001, NULL), 1,
                 "another scheduler answering clears nothing");
    caps_cache_clear_down(path, URL);
    cr_assert_eq(caps_cache_down_recently(path, URL, 60000, t + 50001, NULL), 0, "cleared");
    cr_assert_eq(folder_count(folder), 0);
    folder_remove(folder);
}

/* ---------------------------------------------------------------------------
 * Where the cache lives
 * ------------------------------------------------------------------------- */

Test(caps_cache, the_default_is_beside_the_shim_then_the_cache_folders)
{
    char *folder = folder_new();
    char argv0[300], path[512], expected[512], err[512];

    /* Jellyfin runs the shim by its full path: beside it, when writable. */
    snprintf(argv0, sizeof(argv0), "%s/jellyfin/ffmpeg", folder);
    snprintf(expected, sizeof(expected), "%s/jellyfin", folder);
    cr_assert_eq(mkdir(expected, 0755), 0);
    cr_assert_eq(caps_cache_default_path(argv0, path, sizeof(path), err, sizeof(err)), 0, "%s",
                 err);
    snprintf(expected, sizeof(expected), "%s/jellyfin/ffpool-caps.cache", folder);
    cr_assert_str_eq(path, expected);

    /* A folder that is not there (or not writable): $XDG_CACHE_HOME. */
    snprintf(argv0, sizeof(argv0), "%s/absent/ffmpeg", folder);
    char xdg[300];
    snprintf(xdg, sizeof(xdg), "%s/xdg", folder);
    setenv("XDG_CACHE_HOME", xdg, 1);
    cr_assert_eq(caps_cache_default_path(argv0, path, sizeof(path), err, sizeof(err)), 0, "%s",
                 err);
    snprintf(expected, sizeof(expected), "%s/xdg/ffpool/caps.cache", folder);
    cr_assert_str_eq(path, expected);
    struct stat st;
    cr_assert_eq(stat(xdg, &st), 0, "made as needed");

    /* No XDG_CACHE_HOME (or a relative one): ~/.cache. */
    setenv("XDG_CACHE_HOME", "relative/cache", 1);
    setenv("HOME", folder, 1);
    cr_assert_eq(caps_cache_default_path("ffmpeg", path, sizeof(path), err, sizeof(err)), 0, "%s",
                 err);
    snprintf(expected, sizeof(expected), "%s/.cache/ffpool/caps.cache", folder);
    cr_assert_str_eq(path, expected);

    /* Neither: a private folder of this user under /tmp. */
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    cr_assert_eq(caps_cache_default_path("ffmpeg", path, sizeof(path), err, sizeof(err)), 0, "%s",
                 err);
    snprintf(expected, sizeof(expected), "/tmp/ffpool-%u/caps.cache", (unsigned)geteuid());
    cr_assert_str_eq(path, expected);
    snprintf(expected, sizeof(expected), "/tmp/ffpool-%u", (unsigned)geteuid());
    cr_assert_eq(lstat(expected, &st), 0);
    cr_assert(S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0, "private to this user");
    rmdir(expected); /* unless a real shim keeps its cache there */
    folder_remove(folder);
}
