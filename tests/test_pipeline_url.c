/* test_pipeline_url.c -- an HTTP input, as Jellyfin gives live TV (its
 * relay URL, a tuner's M3U stream) or a remote .strm source: the shim's
 * parser takes it natively with its -user_agent and -reconnect options,
 * the pipeline opens it, and a run resumed mid-stream (a takeover) reads
 * it again from its start, because a relay cannot seek.
 *
 * The server is Python's http.server, which sends no Accept-Ranges (so
 * libavformat cannot seek in what it serves, as in a live relay) and
 * records each request's User-Agent. It listens on 127.0.0.1, which the
 * pipeline opens like any address; the parser refuses a loopback URL
 * (Jellyfin's own host, which no worker reaches), so the lines are parsed
 * with a LAN host name and run with the server's URL. */
#include <criterion/criterion.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "argv.h"
#include "pipeline_test_lib.h"
#include "shapes_test_lib.h"

#define SERVER_SCRIPT                                                                              \
    "import http.server, sys\n"                                                                    \
    "root, port_file, agents = sys.argv[1], sys.argv[2], sys.argv[3]\n"                            \
    "class H(http.server.SimpleHTTPRequestHandler):\n"                                             \
    "    def __init__(self, *a, **k): super().__init__(*a, directory=root, **k)\n"                 \
    "    def log_message(self, *a):\n"                                                             \
    "        with open(agents, 'a') as f: f.write(self.headers.get('User-Agent', '') + '\\n')\n"   \
    "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"                                   \
    "open(port_file + '.tmp', 'w').write(str(s.server_address[1]))\n"                              \
    "import os; os.rename(port_file + '.tmp', port_file)\n"                                        \
    "s.serve_forever()\n"

struct server {
    pid_t pid;
    int port;
    char agents[700]; /* one line per request: its User-Agent */
};

/* Serves root over HTTP; returns once it listens. */
static void server_start(struct server *s, const char *root)
{
    char port_file[700];
    snprintf(port_file, sizeof(port_file), "%s/port", root);
    snprintf(s->agents, sizeof(s->agents), "%s/agents", root);
    s->pid = fork();
    cr_assert_geq(s->pid, 0);
    if (s->pid == 0) {
        execlp("python3", "python3", "-c", SERVER_SCRIPT, root, port_file, s->agents, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(port_file, "r");
        if (f != NULL) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok)
                return;
        }
        usleep(50000);
    }
    cr_assert_fail("the HTTP server did not start");
}

static void server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
}

/* Requests the server got with User-Agent agent. */
static int server_requests(const struct server *s, const char *agent)
{
    FILE *f = fopen(s->agents, "r");
    if (f == NULL)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        n += strcmp(line, agent) == 0;
    }
    fclose(f);
    return n;
}

/* A tuner's line (corpus 049, 10.10): its User-Agent and -fflags before
 * the URL, video and audio copied into an event playlist of MPEG-TS
 * segments. %1$s is the URL, %2$s the output folder. */
#define LINE_TUNER_COPY                                                                            \
    "-analyzeduration 3000000 -probesize 1G -user_agent \"ffpool-test/1.0 (tuner)\" "              \
    "-reconnect 1 -reconnect_delay_max 2 -fflags +igndts+genpts -i \"%1$s\" -map_metadata -1 "     \
    "-map_chapters -1 -threads 0 -sn -codec:v:0 copy -start_at_zero -flags -global_header "        \
    "-codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls "      \
    "-max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0 "                     \
    "-hls_segment_filename \"%2$s/seg%%d.ts\" -hls_playlist_type event -hls_list_size 0 "          \
    "-y \"%2$s/main.m3u8\""

/* The same source transcoded (Jellyfin's live TV with software encoding). */
#define LINE_TUNER_TRANSCODE                                                                       \
    "-analyzeduration 3000000 -probesize 1G -user_agent \"ffpool-test/1.0 (tuner)\" "              \
    "-fflags +igndts -i \"%1$s\" -map_metadata -1 -map_chapters -1 -threads 0 -sn "                \
    "-codec:v:0 libx264 -preset veryfast -crf 23 -force_key_frames:0 "                             \
    "\"expr:gte(t,n_forced*3)\" -sc_threshold:v:0 0 -vf \"format=yuv420p\" -codec:a:0 aac -ac 2 "  \
    "-ab 128000 -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls "           \
    "-max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0 "                     \
    "-hls_segment_filename \"%2$s/seg%%d.ts\" -hls_playlist_type event -hls_list_size 0 "          \
    "-y \"%2$s/main.m3u8\""

/* A tuner's MPEG-TS, 10 s, a keyframe every 3 s, in dir/tuner.ts. */
static void make_tuner_clip(const char *dir)
{
    char path[700];
    make_clip(path, sizeof(path), dir, "tuner.ts",
              "-f lavfi -i testsrc2=size=320x180:rate=25 -f lavfi -i sine=sample_rate=48000",
              "-c:v libx264 -preset veryfast -g 75 -c:a aac -ac 2");
}

/* Parses line (a LAN URL) natively, then points the job at url. */
static void parse_url_line(const char *line_format, const char *url, const char *dir,
                           struct job_spec *spec, const char *reason)
{
    char line[8192];
    snprintf(line, sizeof(line), line_format, "http://tuner.lan:8089/stream/tuner.ts", dir);
    parse_native(line, spec, reason);
    cr_expect_str_eq(spec->input, "http://tuner.lan:8089/stream/tuner.ts");
    snprintf(spec->input, sizeof(spec->input), "%s", url);
}

/* Runs line_format from url into a fresh folder from the start, by the CLI
 * on the same argv, and from segment 2 with the durations published before
 * it (as a worker taking over does; plus offset_error_us, as if they were
 * wrong): the CLI's segments, and the resumed run's the same as the first
 * run's, packet for packet in time. Returns the requests each run made of
 * the server (through *first, *resumed). */
static void check_url_line(const char *name, const char *line_format, const char *reason,
                           int64_t offset_error_us, int *first, int *resumed)
{
    char root[600], dir_a[600], dir_b[600], cli_dir[600], url[256], line[8192];
    output_dir(root, sizeof(root), name);
    output_dir(dir_a, sizeof(dir_a), "url-from-start");
    output_dir(dir_b, sizeof(dir_b), "url-resumed");
    output_dir(cli_dir, sizeof(cli_dir), "url-cli");
    make_tuner_clip(root);
    struct server server;
    server_start(&server, root);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tuner.ts", server.port);
    const char *agent = "ffpool-test/1.0 (tuner)";

    struct job_spec spec_a, spec_b;
    parse_url_line(line_format, url, dir_a, &spec_a, reason);
    parse_url_line(line_format, url, dir_b, &spec_b, reason);
    cr_expect(strstr(spec_a.input_options, "user_agent=ffpool-test/1.0 (tuner)") != NULL, "%s",
              spec_a.input_options);

    struct collected a = {0};
    run_ok(&spec_a, 0, &a);
    *first = server_requests(&server, agent);

    snprintf(line, sizeof(line), line_format, url, cli_dir);
    cr_assert_eq(cli_run(line), 0, "the ffmpeg CLI failed");
    expect_hls_like_the_cli(dir_a, cli_dir, &a, FRAME_S / 2);

    int before = server_requests(&server, agent);
    struct collected b = {.resume_offset_us = a.segments[0].duration_us +
                                              a.segments[1].duration_us + offset_error_us};
    run_ok(&spec_b, 2, &b);
    *resumed = server_requests(&server, agent) - before;
    server_stop(&server);

    cr_assert_eq(b.count, a.count - 2, "resumed run made %d segments, expected %d", b.count,
                 a.count - 2);
    for (int i = 0; i < b.count; i++) {
        cr_expect_eq(a.segments[2 + i].start_us, b.segments[i].start_us, "segment %d start", 2 + i);
        cr_expect_eq(a.segments[2 + i].duration_us, b.segments[i].duration_us,
                     "segment %d duration", 2 + i);
    }
    expect_same_timing(dir_a, dir_b, 2, a.count - 1);
    for (int k = 2; k < a.count; k++) {
        struct probe pa, pb;
        char path[700];
        segment_file(path, sizeof(path), dir_a, k);
        probe_segment(path, &pa);
        segment_file(path, sizeof(path), dir_b, k);
        probe_segment(path, &pb);
        cr_expect_eq(pa.audio_packets, pb.audio_packets, "segment %d: %d audio packets, resumed %d",
                     k, pa.audio_packets, pb.audio_packets);
        cr_expect_leq(fabs(pa.audio_first - pb.audio_first), 1e-6, "segment %d audio start", k);
    }
}

Test(pipeline, a_tuners_url_copy_runs_natively_and_resumes_mid_stream)
{
    int first, resumed;
    check_url_line("url-copy", LINE_TUNER_COPY, "native: HLS copy+copy", 0, &first, &resumed);
    cr_expect_eq(first, 1, "the first run opened the URL %d times", first);
    /* The keyframe search reads ahead from the start: no seek back. */
    cr_expect_eq(resumed, 1, "the resumed run opened the URL %d times", resumed);
}

/* Published durations that do not lead to the resume keyframe (a copy of
 * a source whose keyframes moved): the search starts over from the input's
 * start, a seek back on an input that cannot seek. libavformat serves it
 * from what it still holds or by asking the server again; where it cannot,
 * the pipeline opens the URL again (input_rewind). Either way the resumed
 * segments are the first run's. */
Test(pipeline, a_url_copy_whose_durations_mislead_still_resumes_at_its_segment)
{
    int first, resumed;
    check_url_line("url-copy-misled", LINE_TUNER_COPY, "native: HLS copy+copy", 1500000, &first,
                   &resumed);
    cr_expect_geq(resumed, 1);
}

Test(pipeline, a_tuners_url_transcode_runs_natively_and_resumes_mid_stream)
{
    int first, resumed;
    check_url_line("url-transcode", LINE_TUNER_TRANSCODE, "native: HLS libx264+aac", 0, &first,
                   &resumed);
    cr_expect_eq(first, 1, "the first run opened the URL %d times", first);
    cr_expect_eq(resumed, 1, "the resumed run opened the URL %d times", resumed);
}

/* What stays off the pool's native path: Jellyfin's own loopback address
 * (no worker reaches it; the local ffmpeg reads it) and protocols other
 * than HTTP. */
Test(pipeline, loopback_and_non_http_urls_are_not_native)
{
    static const struct {
        const char *url, *reason;
    } cases[] = {
        {"http://localhost:8096/LiveTv/LiveStreamFiles/a/stream.ts",
         "passthrough: input is on Jellyfin's own loopback address"},
        {"http://127.0.0.1:8866/live?channel=1",
         "passthrough: input is on Jellyfin's own loopback address"},
        {"rtsp://tuner.lan/ch1", "passthrough: input is neither a local file nor an HTTP URL"},
        {"udp://239.0.0.1:1234", "passthrough: input is neither a local file nor an HTTP URL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[8192], reason[256];
        struct job_spec spec;
        int argc;
        char **argv;
        snprintf(line, sizeof(line), "ffmpeg " LINE_TUNER_COPY, cases[i].url, "/t");
        cr_assert_eq(argv_split(line, &argc, &argv), 0);
        enum argv_decision d = argv_parse_job(argc, argv, &spec, reason, sizeof(reason));
        argv_free(argv);
        cr_expect_eq(d, ARGV_PASSTHROUGH, "%s: %s", cases[i].url, reason);
        cr_expect_str_eq(reason, cases[i].reason, "%s", cases[i].url);
    }
}
