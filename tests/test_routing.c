/* test_routing.c -- the words routing matches: what a job spec implies it
 * needs, what a worker's capabilities offer, and which words are refused.
 * The claim script that matches them is tested in test_queue.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_spec.h"
#include "pipeline_caps.h"
#include "routing.h"

static void transcode_spec(struct job_spec *s)
{
    job_spec_init(s);
    strcpy(s->input, "/media/in.mkv");
    strcpy(s->output, "/t/out.m3u8");
    strcpy(s->segment_filename, "/t/out%d.ts");
    s->hls_time_us = 3000000;
    strcpy(s->video_codec, "libx264");
    strcpy(s->audio_codec, "aac");
}

static const char *requires_of(const struct job_spec *spec)
{
    static char out[JOB_SPEC_REQUIRES_MAX];
    char err[256] = "";
    cr_assert_eq(routing_job_requires(spec, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    return out;
}

Test(routing, transcode_needs_its_encoders_and_every_filter_once)
{
    struct job_spec s;
    transcode_spec(&s);
    /* Jellyfin's shapes: escaped commas, quoted arguments, @ids, labels. */
    strcpy(s.video_filter, "setparams=color_primaries=bt709,"
                           "scale=trunc(min(max(iw\\,ih*a)\\,min(1280\\,720*a))/2)*2:-2,"
                           "tonemapx=tonemap=bt2390:desat=0@tm,format=yuv420p,scale=w=1:h=1");
    strcpy(s.audio_filter, "[in]volume=2[a];[a]aresample='async=1,first_pts=0'");
    cr_assert_str_eq(requires_of(&s), "encoder:libx264 filter:setparams filter:scale "
                                      "filter:tonemapx filter:format encoder:aac "
                                      "filter:volume filter:aresample");
}

Test(routing, copy_needs_no_encoder_and_ignores_the_filters_it_does_not_apply)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_codec, "copy");
    strcpy(s.video_filter, "tonemapx");
    strcpy(s.audio_codec, "");
    cr_assert_str_eq(requires_of(&s), "");
}

Test(routing, client_words_come_first_and_the_spec_adds_what_it_implies)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.requires, "hwaccel:vaapi  encoder:libx264 decoder:hevc");
    cr_assert_str_eq(requires_of(&s), "hwaccel:vaapi encoder:libx264 decoder:hevc encoder:aac");
}

Test(routing, malformed_words_are_refused_with_the_word)
{
    static const char *const bad[] = {
        "libx264", "codec:libx264", "encoder:", "filter:a b=c", "encoder:x;DEL", ":x"};
    struct job_spec s;
    char out[256], err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        transcode_spec(&s);
        strcpy(s.requires, bad[i]);
        cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1, "%s",
                     bad[i]);
        cr_assert(strstr(err, "requirement") != NULL, "%s", err);
        cr_assert_eq(job_spec_validate(&s, err, sizeof(err)), -1, "validate took %s", bad[i]);
    }
    cr_assert(routing_word_valid("encoder:h264_vaapi"));
    cr_assert(routing_word_valid("filter:scale_vaapi"));
    cr_assert(routing_word_valid("decoder:mpeg2video"));
    cr_assert(!routing_word_valid("announced"), "the offers set's marker is never a word");
}

Test(routing, a_filter_name_with_a_stray_character_is_refused_not_unroutable)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "sc%ale=1:1");
    char out[256], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
}

Test(routing, too_many_words_do_not_overflow)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "scale,format,setparams,tonemapx,volume");
    char out[40], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strlen(out) < sizeof(out));
}

Test(routing, a_client_cannot_make_a_job_need_more_than_the_word_limit)
{
    struct job_spec s;
    transcode_spec(&s);
    char words[sizeof(s.requires)] = "";
    for (int i = 0; i < ROUTING_WORDS_MAX; i++) {
        char word[32];
        snprintf(word, sizeof(word), "%sfilter:f%d", i ? " " : "", i);
        strcat(words, word);
    }
    snprintf(s.requires, sizeof(s.requires), "%s", words);
    char out[4096], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strstr(err, "more than 32 capabilities") != NULL, "err: %s", err);

    char name[200];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    transcode_spec(&s);
    snprintf(s.video_filter, sizeof(s.video_filter), "%s", name);
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), -1);
    cr_assert(strstr(err, "longer than 127 bytes") != NULL, "err: %s", err);
}

/* Inside quotes a backslash is literal (av_get_token): the quote after it
 * closes the argument, and the next filter is seen. */
Test(routing, a_backslash_inside_quotes_does_not_hide_the_next_filter)
{
    struct job_spec s;
    transcode_spec(&s);
    strcpy(s.video_filter, "drawtext=text='C:\\',tonemapx");
    char out[512], err[256];
    cr_assert_eq(routing_job_requires(&s, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "filter:tonemapx") != NULL, "out: %s", out);
}

Test(routing, this_libav_offers_libx264_and_scale_but_not_tonemapx)
{
    size_t len = 0;
    uint8_t *caps = pipeline_capabilities_pack(&len);
    cr_assert_not_null(caps);
    char *offers = routing_worker_offers(caps, len);
    free(caps);
    cr_assert_not_null(offers);
    char padded[strlen(offers) + 3];
    snprintf(padded, sizeof(padded), " %s ", offers);
    free(offers);
    cr_assert(strstr(padded, " encoder:libx264 ") != NULL);
    cr_assert(strstr(padded, " decoder:h264 ") != NULL);
    cr_assert(strstr(padded, " filter:scale ") != NULL);
    cr_assert(strstr(padded, " filter:tonemapx ") == NULL);
    cr_assert_null(routing_worker_offers((const uint8_t *)"\xff\xff\xff", 3));
}
