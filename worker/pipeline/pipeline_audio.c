/* pipeline_audio.c -- the audio stream: decode, filter, resample, encode (or copy).
 *
 * Owns the audio decoder, the job's -af graph (volume, loudnorm, ... handed
 * to libavfilter as written), the swresample context, a sample fifo and the
 * encoder ("aac" for aac and libfdk_aac, else the named encoder: libmp3lame,
 * ac3, eac3, libopus, flac, alac, libvorbis), given the job's further
 * encoder options (-qscale:a, -abr:a) as the CLI gives them; with
 * audio_codec "copy" it passes packets through untouched
 * (AAC into an MP4 muxer through aac_adtstoasc). Encoded or copied
 * packets go to the segment writer, which drops or places them.
 *
 * The frame grid: output sample n (counted at the encoder's rate from stream
 * time 0) always lands in encoder frame floor(n / frame_size), so a run that
 * starts at segment k cuts its frames exactly where a run from the start
 * did. Positions come from the decoded frames' timestamps; within a run the
 * samples are taken as contiguous unless the timestamps jump by more than
 * AUDIO_RESYNC_SECONDS (then silence is inserted or samples dropped, like
 * aresample's hard compensation). A run that starts mid-stream feeds the
 * encoder from one frame before its start, so the first packet the writer
 * keeps is a real one and not the encoder's priming.
 *
 * Whether the stream is copied or encoded is chosen once, in
 * pipeline_audio_open, as a table of functions (struct audio_mode). The
 * stage runs on one thread (the encoding thread of a two-thread run) and
 * owns its counter of decoded frames. It calls the segment writer, the
 * timeline and the run's error sink, nothing else of the pipeline. */
#include "pipeline_audio.h"

#include <limits.h>
#include <string.h>

#include <libavcodec/bsf.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>

/* Timestamp jumps up to this are treated as jitter, larger ones as gaps. */
#define AUDIO_RESYNC_SECONDS 0.1
/* Channel planes we can address at once (the AAC encoder takes at most 8). */
#define AUDIO_MAX_CHANNELS 64
/* A mid-stream run encodes audio from this long before its start (more
 * than any reorder delay between a cut's dts and its pts). */
#define AUDIO_FEED_MARGIN_US 300000

struct audio_mode;

struct pipeline_audio {
    struct pipeline_run *run;
    const struct pipeline_timeline *timeline;
    struct segment_writer *writer;
    const struct audio_mode *mode; /* copy or encode, chosen at open */
    AVStream *stream;
    AVPacket *packet; /* encoded, or copied */
    int64_t decoded;  /* frames decoded (packets taken, copy) */

    /* Copy. */
    AVBSFContext *bsf; /* aac_adtstoasc for an MP4 muxer, else NULL */

    /* Encode. */
    AVCodecContext *decoder;
    struct SwrContext *resampler;
    AVChannelLayout resampler_in_layout; /* what the resampler was set up for */
    int resampler_in_format;
    int resampler_in_rate;
    AVFilterGraph *graph; /* the job's -af, NULL without one */
    AVFilterContext *source;
    AVFilterContext *sink;
    AVFrame *filtered;
    AVAudioFifo *fifo; /* resampled samples waiting to fill an encoder frame */
    AVCodecContext *encoder;
    AVFrame *frame;         /* decoded */
    AVFrame *samples;       /* one encoder frame */
    uint8_t **converted;    /* resampler output buffer */
    int converted_capacity; /* in samples */
    int frame_size;         /* samples per encoder frame: the grid step */

    /* Sample positions are in the encoder's rate, counted from stream time 0. */
    int64_t origin_samples; /* origin_us in 1/sample_rate */
    int64_t feed_start;     /* first position fed to the encoder, INT64_MIN: all */
    int64_t next_position;  /* of the next sample out of the resampler, INT64_MIN: none yet */
    int64_t fifo_position;  /* of the fifo's first sample, INT64_MIN: not started */
};

/* One way of turning the stream's packets into muxed packets. */
struct audio_mode {
    /* Sets the mode up and declares the output stream to the writer. */
    int (*open)(struct pipeline_audio *a);
    /* Takes one input packet (NULL: end of input, drain). */
    int (*packet)(struct pipeline_audio *a, const AVPacket *pkt);
};

static const struct audio_mode audio_copy_mode;
static const struct audio_mode audio_encode_mode;

/* Picks the encoder's rate nearest the wanted one. */
static int audio_choose_rate(const AVCodec *codec, int wanted)
{
    if (codec->supported_samplerates == NULL)
        return wanted;
    int best = codec->supported_samplerates[0];
    for (const int *rate = codec->supported_samplerates; *rate != 0; rate++) {
        if (*rate == wanted)
            return wanted;
        if (abs(*rate - wanted) < abs(best - wanted))
            best = *rate;
    }
    return best;
}

/* Picks the encoder's layout with `wanted` channels, else the largest it has
 * below that, else its first. Returns an AVERROR code. */
static int audio_choose_layout(const AVCodec *codec, int wanted, AVChannelLayout *out)
{
    if (codec->ch_layouts == NULL) {
        av_channel_layout_default(out, wanted);
        return 0;
    }
    const AVChannelLayout *best = &codec->ch_layouts[0];
    for (const AVChannelLayout *l = codec->ch_layouts; l->nb_channels != 0; l++) {
        if (l->nb_channels == wanted)
            return av_channel_layout_copy(out, l);
        if (l->nb_channels < wanted &&
            (best->nb_channels > wanted || l->nb_channels > best->nb_channels))
            best = l;
    }
    return av_channel_layout_copy(out, best);
}

/* Picks the encoder's sample format for decoded samples in `have`, as the
 * CLI's format negotiation does (libavfilter's swap_sample_fmts): `have`
 * or its packed/planar twin if the encoder takes it, else the narrowest
 * format at least as wide, else the widest narrower one. */
static enum AVSampleFormat audio_choose_format(const AVCodec *codec, enum AVSampleFormat have)
{
    const enum AVSampleFormat *f = codec->sample_fmts;
    if (f == NULL)
        return AV_SAMPLE_FMT_FLTP;
    int width = av_get_bytes_per_sample(have);
    enum AVSampleFormat best = f[0];
    int best_score = INT_MAX;
    for (; *f != AV_SAMPLE_FMT_NONE; f++) {
        if (av_get_packed_sample_fmt(*f) == av_get_packed_sample_fmt(have))
            return *f;
        int w = av_get_bytes_per_sample(*f);
        int score = w >= width ? w - width : 100 + width - w; /* wider first, then least loss */
        if (score < best_score) {
            best_score = score;
            best = *f;
        }
    }
    return best;
}

/* The job's further encoder options ("key=value" lines, as -qscale:a and
 * -abr:a give them) into *options; an option the encoder does not have is
 * refused by name, as the CLI refuses it. Returns a pipeline_result. */
static int audio_encoder_options(struct pipeline_run *run, AVCodecContext *enc,
                                 AVDictionary **options)
{
    const char *lines = run->spec->audio_encoder_options;
    while (*lines != '\0') {
        size_t n = strcspn(lines, "\n");
        char line[sizeof(run->spec->audio_encoder_options)];
        snprintf(line, sizeof(line), "%.*s", (int)n, lines);
        lines += n + (lines[n] == '\n');
        char *eq = strchr(line, '=');
        if (eq == NULL || eq == line)
            return pipeline_fail(run, AVERROR(EINVAL),
                                 "audio encoder option \"%s\" is not key=value", line);
        *eq = '\0';
        if (av_opt_find(enc, line, NULL, 0, AV_OPT_SEARCH_CHILDREN) == NULL)
            return pipeline_fail(run, AVERROR_OPTION_NOT_FOUND, "audio encoder %s has no option %s",
                                 enc->codec->name, line);
        int averr = av_dict_set(options, line, eq + 1, 0);
        if (averr < 0)
            return pipeline_fail(run, averr, "set audio encoder option %s", line);
    }
    return PIPELINE_OK;
}

/* Opens the encoder and declares its stream to the writer. */
static int audio_open_encoder(struct pipeline_audio *a)
{
    struct pipeline_run *run = a->run;
    const struct job_spec *spec = run->spec;
    AVCodecParameters *par = NULL;
    int ret = PIPELINE_OK;

    const char *name = spec->audio_codec;
    if (strcmp(name, "libfdk_aac") == 0)
        name = "aac"; /* not in Debian's libav; the native encoder stands in */
    const AVCodec *codec = avcodec_find_encoder_by_name(name);
    if (codec == NULL)
        return pipeline_fail(run, AVERROR_ENCODER_NOT_FOUND, "find audio encoder %s", name);
    AVCodecContext *enc = a->encoder = avcodec_alloc_context3(codec);
    if (enc == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio encoder");

    int rate = spec->audio_sample_rate > 0 ? spec->audio_sample_rate : a->decoder->sample_rate;
    if (rate <= 0)
        return pipeline_fail(run, 0, "open audio encoder %s: the input has no sample rate", name);
    enc->sample_rate = audio_choose_rate(codec, rate);
    int channels =
        spec->audio_channels > 0 ? spec->audio_channels : a->decoder->ch_layout.nb_channels;
    if (channels <= 0)
        channels = 2;
    int averr = audio_choose_layout(codec, channels, &enc->ch_layout);
    if (averr < 0)
        return pipeline_fail(run, averr, "choose the audio channel layout");
    if (enc->ch_layout.nb_channels > AUDIO_MAX_CHANNELS)
        return pipeline_fail(run, 0, "open audio encoder %s: %d channels is too many", name,
                             enc->ch_layout.nb_channels);
    enc->sample_fmt = audio_choose_format(codec, a->decoder->sample_fmt);
    enc->time_base = (AVRational){1, enc->sample_rate};
    if (spec->audio_bitrate > 0)
        enc->bit_rate = spec->audio_bitrate;
    AVDictionary *options = NULL;
    ret = audio_encoder_options(run, enc, &options);
    averr = ret == PIPELINE_OK ? avcodec_open2(enc, codec, &options) : 0;
    av_dict_free(&options);
    if (ret != PIPELINE_OK)
        return ret;
    if (averr < 0)
        return pipeline_fail(run, averr, "open audio encoder %s", name);

    a->frame_size = enc->frame_size;
    if (a->frame_size <= 0 || (codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
        a->frame_size = 1024;
    a->fifo = av_audio_fifo_alloc(enc->sample_fmt, enc->ch_layout.nb_channels, 2 * a->frame_size);
    a->samples = av_frame_alloc();
    if (a->fifo == NULL || a->samples == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio fifo");

    /* Positions on the grid, at the encoder's rate. */
    const struct pipeline_timeline *t = a->timeline;
    a->origin_samples = av_rescale(t->origin_us, enc->sample_rate, AV_TIME_BASE);
    a->next_position = INT64_MIN;
    a->fifo_position = INT64_MIN;
    a->feed_start = INT64_MIN;
    if (t->trim) {
        /* From before the first cut's dts (which the writer splits the
         * audio at), plus a frame of encoder history. */
        int64_t start =
            av_rescale(t->start_us - AUDIO_FEED_MARGIN_US, enc->sample_rate, AV_TIME_BASE);
        a->feed_start = (timeline_floor_div(start, a->frame_size) - 1) * a->frame_size;
    }

    /* A run from the start of the input would mux its first packet at the
     * stream's first grid frame minus the encoder's priming. */
    int64_t first = 0;
    if (a->stream->start_time != AV_NOPTS_VALUE)
        first = av_rescale_q(a->stream->start_time, a->stream->time_base, enc->time_base) -
                a->origin_samples;
    first = timeline_floor_div(first, a->frame_size) * a->frame_size;
    int64_t first_us = av_rescale_q(a->origin_samples + first - enc->initial_padding,
                                    enc->time_base, AV_TIME_BASE_Q);

    par = avcodec_parameters_alloc();
    if (par == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate audio stream parameters");
        goto end;
    }
    averr = avcodec_parameters_from_context(par, enc);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "read audio encoder parameters");
        goto end;
    }
    ret = segment_writer_add_stream(a->writer, SEGMENT_AUDIO, par, enc->time_base, first_us);
end:
    avcodec_parameters_free(&par);
    return ret;
}

/* ---- stream copy ----------------------------------------------------------- */

/* The 2-byte AudioSpecificConfig an ADTS stream implies, as aac_adtstoasc
 * writes it: the object type and sampling rate of the AAC core (SBR and PS,
 * which ADTS cannot signal, stay implicit). Returns 0 or an AVERROR. */
static int audio_adts_config(const AVCodecParameters *par, uint8_t asc[2])
{
    static const int rates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                22050, 16000, 12000, 11025, 8000,  7350};
    int object_type = 2; /* LC, also the core of HE-AAC */
    int rate = par->sample_rate;
    int channels = par->ch_layout.nb_channels;
    if (par->profile == FF_PROFILE_AAC_MAIN || par->profile == FF_PROFILE_AAC_SSR ||
        par->profile == FF_PROFILE_AAC_LTP)
        object_type = par->profile + 1;
    if (par->profile == FF_PROFILE_AAC_HE || par->profile == FF_PROFILE_AAC_HE_V2)
        rate /= 2;
    if (par->profile == FF_PROFILE_AAC_HE_V2)
        channels = 1;
    int index = 0;
    while (index < (int)(sizeof(rates) / sizeof(rates[0])) && rates[index] != rate)
        index++;
    if (index == (int)(sizeof(rates) / sizeof(rates[0])) || channels < 1 || channels > 8 ||
        channels == 7)
        return AVERROR_INVALIDDATA;
    int config = channels == 8 ? 7 : channels;
    asc[0] = (uint8_t)(object_type << 3 | index >> 1);
    asc[1] = (uint8_t)((index & 1) << 7 | config << 3);
    return 0;
}

/* Copied audio: declared to the writer as it is, except AAC into an MP4
 * muxer, which goes through aac_adtstoasc (what Jellyfin's -bsf:a
 * aac_adtstoasc asks of the CLI for MPEG-TS sources, done whatever the
 * source): ADTS headers are stripped, and a stream without an
 * AudioSpecificConfig (MPEG-TS) gets the one its ADTS headers imply before
 * the init segment is written. Returns a pipeline_result. */
static int audio_copy_open(struct pipeline_audio *a)
{
    struct pipeline_run *run = a->run;
    AVStream *stream = a->stream;
    const AVCodecParameters *par = stream->codecpar;
    AVRational time_base = stream->time_base;
    int64_t first_us = a->timeline->origin_us;
    if (stream->start_time != AV_NOPTS_VALUE)
        first_us = av_rescale_q(stream->start_time, stream->time_base, AV_TIME_BASE_Q);

    if (par->codec_id == AV_CODEC_ID_AAC && segment_writer_is_mp4(a->writer)) {
        int averr = av_bsf_alloc(av_bsf_get_by_name("aac_adtstoasc"), &a->bsf);
        if (averr >= 0)
            averr = avcodec_parameters_copy(a->bsf->par_in, par);
        if (averr >= 0 && a->bsf->par_in->extradata_size == 0) {
            uint8_t asc[2];
            averr = audio_adts_config(par, asc);
            if (averr < 0)
                return pipeline_fail(run, averr,
                                     "copy AAC audio into MP4: no AudioSpecificConfig for %d Hz, "
                                     "%d channels",
                                     par->sample_rate, par->ch_layout.nb_channels);
            a->bsf->par_in->extradata = av_mallocz(2 + AV_INPUT_BUFFER_PADDING_SIZE);
            if (a->bsf->par_in->extradata == NULL)
                averr = AVERROR(ENOMEM);
            else {
                memcpy(a->bsf->par_in->extradata, asc, 2);
                a->bsf->par_in->extradata_size = 2;
            }
        }
        if (averr >= 0) {
            a->bsf->time_base_in = stream->time_base;
            averr = av_bsf_init(a->bsf);
        }
        if (averr < 0)
            return pipeline_fail(run, averr, "set up audio bitstream filter aac_adtstoasc");
        par = a->bsf->par_out;
        time_base = a->bsf->time_base_out;
    }
    return segment_writer_add_stream(a->writer, SEGMENT_AUDIO, par, time_base, first_us);
}

/* Hands a copied packet (through aac_adtstoasc when there is one) to the
 * writer. Returns a pipeline_result. */
static int audio_copy_packet(struct pipeline_audio *a, const AVPacket *pkt)
{
    struct pipeline_run *run = a->run;
    if (a->bsf == NULL) {
        if (pkt == NULL)
            return PIPELINE_OK;
        int averr = av_packet_ref(a->packet, pkt);
        if (averr < 0)
            return pipeline_fail(run, averr, "copy an audio packet");
        a->decoded++;
        return segment_writer_audio(a->writer, a->packet);
    }
    int averr = 0;
    if (pkt != NULL && (averr = av_packet_ref(a->packet, pkt)) >= 0)
        averr = av_bsf_send_packet(a->bsf, a->packet);
    else if (pkt == NULL)
        averr = av_bsf_send_packet(a->bsf, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "filter an audio packet (aac_adtstoasc)");
    for (;;) {
        averr = av_bsf_receive_packet(a->bsf, a->packet);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(run, averr, "filter an audio packet (aac_adtstoasc)");
        a->decoded++;
        int ret = segment_writer_audio(a->writer, a->packet);
        if (ret != PIPELINE_OK)
            return ret;
    }
}

static const struct audio_mode audio_copy_mode = {
    .open = audio_copy_open,
    .packet = audio_copy_packet,
};

/* Opens the decoder and the encoder; the -af graph and the resampler
 * follow the first decoded frame. */
static int audio_decode_open(struct pipeline_audio *a)
{
    struct pipeline_run *run = a->run;
    AVStream *stream = a->stream;
    const AVCodec *codec = avcodec_find_decoder(stream->codecpar->codec_id);
    if (codec == NULL)
        return pipeline_fail(run, AVERROR_DECODER_NOT_FOUND,
                             "find a decoder for audio stream %d (%s)", stream->index,
                             avcodec_get_name(stream->codecpar->codec_id));
    a->decoder = avcodec_alloc_context3(codec);
    a->frame = av_frame_alloc();
    if (a->decoder == NULL || a->frame == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio stage");
    int averr = avcodec_parameters_to_context(a->decoder, stream->codecpar);
    if (averr < 0)
        return pipeline_fail(run, averr, "set up the audio decoder");
    a->decoder->pkt_timebase = stream->time_base;
    averr = avcodec_open2(a->decoder, codec, NULL);
    if (averr < 0)
        return pipeline_fail(run, averr, "open audio decoder %s", codec->name);
    return audio_open_encoder(a);
}

/* ---- the -af graph --------------------------------------------------------- */

/* Builds abuffer -> (the job's -af) -> abuffersink for frames like `frame`,
 * in the input stream's time base. */
static int audio_build_graph(struct pipeline_audio *a, const AVFrame *frame)
{
    struct pipeline_run *run = a->run;
    const char *description = run->spec->audio_filter;
    AVFilterInOut *outputs = avfilter_inout_alloc();
    AVFilterInOut *inputs = avfilter_inout_alloc();
    char args[512], layout[128];
    int ret = PIPELINE_OK;
    int averr;

    a->graph = avfilter_graph_alloc();
    a->filtered = av_frame_alloc();
    if (a->graph == NULL || outputs == NULL || inputs == NULL || a->filtered == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio filter graph");
        goto end;
    }
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
        AVChannelLayout def = {0};
        av_channel_layout_default(&def, frame->ch_layout.nb_channels);
        av_channel_layout_describe(&def, layout, sizeof(layout));
        av_channel_layout_uninit(&def);
    } else {
        av_channel_layout_describe(&frame->ch_layout, layout, sizeof(layout));
    }
    AVRational tb = a->stream->time_base;
    snprintf(args, sizeof(args), "time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s",
             tb.num, tb.den, frame->sample_rate,
             av_get_sample_fmt_name((enum AVSampleFormat)frame->format), layout);
    averr = avfilter_graph_create_filter(&a->source, avfilter_get_by_name("abuffer"), "in", args,
                                         NULL, a->graph);
    if (averr >= 0)
        averr = avfilter_graph_create_filter(&a->sink, avfilter_get_by_name("abuffersink"), "out",
                                             NULL, NULL, a->graph);
    if (averr < 0) {
        ret = pipeline_fail(run, averr, "create the audio filter graph");
        goto end;
    }
    outputs->name = av_strdup("in");
    outputs->filter_ctx = a->source;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = a->sink;
    if (outputs->name == NULL || inputs->name == NULL) {
        ret = pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio filter graph");
        goto end;
    }
    averr = avfilter_graph_parse_ptr(a->graph, description, &inputs, &outputs, NULL);
    if (averr < 0) {
        ret = pipeline_fail_parse(run, averr, "audio filter", description);
        goto end;
    }
    averr = avfilter_graph_config(a->graph, NULL);
    if (averr < 0)
        ret = pipeline_fail(run, averr, "configure audio filter \"%s\"", description);
end:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    return ret;
}

/* ---- samples in ------------------------------------------------------------ */

/* (Re)creates the resampler when the decoded frames' format changes. */
static int audio_setup_resampler(struct pipeline_audio *a, const AVFrame *frame)
{
    AVChannelLayout in = {0};
    int averr;
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || frame->ch_layout.nb_channels == 0)
        av_channel_layout_default(&in, frame->ch_layout.nb_channels);
    else if ((averr = av_channel_layout_copy(&in, &frame->ch_layout)) < 0)
        return pipeline_fail(a->run, averr, "read the audio channel layout");

    if (a->resampler != NULL && a->resampler_in_format == frame->format &&
        a->resampler_in_rate == frame->sample_rate &&
        av_channel_layout_compare(&a->resampler_in_layout, &in) == 0) {
        av_channel_layout_uninit(&in);
        return PIPELINE_OK;
    }
    swr_free(&a->resampler);
    av_channel_layout_uninit(&a->resampler_in_layout);
    a->resampler_in_layout = in; /* takes ownership */
    a->resampler_in_format = frame->format;
    a->resampler_in_rate = frame->sample_rate;

    AVCodecContext *enc = a->encoder;
    averr =
        swr_alloc_set_opts2(&a->resampler, &enc->ch_layout, enc->sample_fmt, enc->sample_rate,
                            &a->resampler_in_layout, frame->format, frame->sample_rate, 0, NULL);
    if (averr >= 0)
        averr = swr_init(a->resampler);
    if (averr < 0)
        return pipeline_fail(a->run, averr, "set up the audio resampler");
    return PIPELINE_OK;
}

/* Writes `count` samples from data (silence when data is NULL), starting
 * `offset` samples in, to the fifo. */
static int audio_write_fifo(struct pipeline_audio *a, uint8_t **data, int offset, int count)
{
    AVCodecContext *enc = a->encoder;
    int channels = enc->ch_layout.nb_channels;
    int ret = PIPELINE_OK;
    if (count <= 0)
        return PIPELINE_OK;

    if (data == NULL) {
        uint8_t **silence = NULL;
        int chunk = count < 4096 ? count : 4096;
        int averr =
            av_samples_alloc_array_and_samples(&silence, NULL, channels, chunk, enc->sample_fmt, 0);
        if (averr < 0)
            return pipeline_fail(a->run, averr, "allocate audio silence");
        av_samples_set_silence(silence, 0, chunk, channels, enc->sample_fmt);
        for (int left = count; left > 0 && ret == PIPELINE_OK; left -= chunk) {
            int n = left < chunk ? left : chunk;
            if (av_audio_fifo_write(a->fifo, (void **)silence, n) < n)
                ret = pipeline_fail(a->run, AVERROR(ENOMEM), "queue audio samples");
        }
        av_freep(&silence[0]);
        av_freep(&silence);
        return ret;
    }

    int planar = av_sample_fmt_is_planar(enc->sample_fmt);
    int planes = planar ? channels : 1;
    size_t step = (size_t)av_get_bytes_per_sample(enc->sample_fmt) * (planar ? 1 : channels);
    uint8_t *pointers[AUDIO_MAX_CHANNELS];
    for (int i = 0; i < planes; i++)
        pointers[i] = data[i] + (size_t)offset * step;
    if (av_audio_fifo_write(a->fifo, (void **)pointers, count) < count)
        return pipeline_fail(a->run, AVERROR(ENOMEM), "queue audio samples");
    return PIPELINE_OK;
}

/* Appends `count` samples (silence when data is NULL) that belong at grid
 * position next_position. The first samples a run keeps start on a grid
 * point: none before feed_start, and silence back to the frame boundary
 * before the first sample otherwise. */
static int audio_append(struct pipeline_audio *a, uint8_t **data, int offset, int count)
{
    int64_t position = a->next_position;
    a->next_position += count;
    if (a->fifo_position != INT64_MIN)
        return audio_write_fifo(a, data, offset, count);

    int64_t start = timeline_floor_div(position, a->frame_size) * a->frame_size;
    if (start < a->feed_start)
        start = a->feed_start;
    if (position + count <= start)
        return PIPELINE_OK;
    if (position < start) {
        offset += (int)(start - position);
        count -= (int)(start - position);
        position = start;
    }
    a->fifo_position = start;
    int ret = audio_write_fifo(a, NULL, 0, (int)(position - start));
    if (ret != PIPELINE_OK)
        return ret;
    return audio_write_fifo(a, data, offset, count);
}

/* Resamples one decoded frame (NULL: what the resampler still holds) into
 * the fifo, placing it on the grid by its timestamp. */
static int audio_resample(struct pipeline_audio *a, const AVFrame *frame)
{
    AVCodecContext *enc = a->encoder;
    int ret;
    if (frame != NULL && (ret = audio_setup_resampler(a, frame)) != PIPELINE_OK)
        return ret;
    if (a->resampler == NULL)
        return PIPELINE_OK;

    int in_count = frame != NULL ? frame->nb_samples : 0;
    int capacity = swr_get_out_samples(a->resampler, in_count);
    if (capacity <= 0)
        return PIPELINE_OK;
    if (capacity > a->converted_capacity) {
        if (a->converted != NULL)
            av_freep(&a->converted[0]);
        av_freep(&a->converted);
        a->converted_capacity = 0;
        int averr = av_samples_alloc_array_and_samples(
            &a->converted, NULL, enc->ch_layout.nb_channels, capacity, enc->sample_fmt, 0);
        if (averr < 0)
            return pipeline_fail(a->run, averr, "allocate the resampled audio buffer");
        a->converted_capacity = capacity;
    }

    int drop = 0;
    if (frame != NULL) {
        int64_t ts = frame->best_effort_timestamp;
        int64_t expected = 0;
        if (ts != AV_NOPTS_VALUE)
            expected = av_rescale_q(ts, a->stream->time_base, enc->time_base) - a->origin_samples;
        if (a->next_position == INT64_MIN) {
            a->next_position = expected;
        } else if (ts != AV_NOPTS_VALUE) {
            int64_t drift =
                expected - (a->next_position + swr_get_delay(a->resampler, enc->sample_rate));
            int64_t limit = (int64_t)(AUDIO_RESYNC_SECONDS * enc->sample_rate);
            if (drift > limit && drift < INT32_MAX) {
                if ((ret = audio_append(a, NULL, 0, (int)drift)) != PIPELINE_OK)
                    return ret;
            } else if (drift < -limit) {
                drop = drift < -INT32_MAX ? INT32_MAX : (int)-drift;
            }
        }
    }

    int count =
        swr_convert(a->resampler, a->converted, capacity,
                    frame != NULL ? (const uint8_t **)frame->extended_data : NULL, in_count);
    if (count < 0)
        return pipeline_fail(a->run, count, "resample audio");
    if (drop >= count)
        return PIPELINE_OK;
    return audio_append(a, a->converted, drop, count - drop);
}

/* ---- samples out ----------------------------------------------------------- */

static int audio_receive_packets(struct pipeline_audio *a)
{
    for (;;) {
        int averr = avcodec_receive_packet(a->encoder, a->packet);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(a->run, averr, "encode audio");
        int ret = segment_writer_audio(a->writer, a->packet);
        if (ret != PIPELINE_OK)
            return ret;
    }
}

/* Encodes every whole frame in the fifo; at end of input also the shorter
 * last one, then drains the encoder. */
static int audio_encode(struct pipeline_audio *a, int last)
{
    AVCodecContext *enc = a->encoder;
    int ret;
    for (;;) {
        int available = av_audio_fifo_size(a->fifo);
        if (available <= 0 || (available < a->frame_size && !last))
            break;
        int count = available < a->frame_size ? available : a->frame_size;

        AVFrame *samples = a->samples;
        av_frame_unref(samples);
        samples->nb_samples = count;
        samples->format = enc->sample_fmt;
        samples->sample_rate = enc->sample_rate;
        int averr = av_channel_layout_copy(&samples->ch_layout, &enc->ch_layout);
        if (averr >= 0)
            averr = av_frame_get_buffer(samples, 0);
        if (averr < 0)
            return pipeline_fail(a->run, averr, "allocate an audio frame");
        if (av_audio_fifo_read(a->fifo, (void **)samples->extended_data, count) < count)
            return pipeline_fail(a->run, AVERROR_BUG, "read the audio fifo");
        samples->pts = a->origin_samples + a->fifo_position;
        a->fifo_position += count;

        averr = avcodec_send_frame(enc, samples);
        av_frame_unref(samples);
        if (averr < 0)
            return pipeline_fail(a->run, averr, "encode audio");
        if ((ret = audio_receive_packets(a)) != PIPELINE_OK)
            return ret;
    }
    if (!last)
        return PIPELINE_OK;
    int averr = avcodec_send_frame(enc, NULL);
    if (averr < 0 && averr != AVERROR_EOF)
        return pipeline_fail(a->run, averr, "encode audio");
    return audio_receive_packets(a);
}

/* Runs one decoded frame (NULL: end of input) through the -af graph, if
 * any, then resamples and encodes what comes out. */
static int audio_filter(struct pipeline_audio *a, AVFrame *frame)
{
    struct pipeline_run *run = a->run;
    int ret;
    if (run->spec->audio_filter[0] == '\0') {
        if ((ret = audio_resample(a, frame)) != PIPELINE_OK)
            return ret;
        return audio_encode(a, 0);
    }
    if (frame != NULL) {
        frame->pts = frame->best_effort_timestamp;
        if (a->graph == NULL && (ret = audio_build_graph(a, frame)) != PIPELINE_OK)
            return ret;
    }
    int averr = av_buffersrc_add_frame_flags(a->source, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (averr < 0)
        return pipeline_fail(run, averr, "feed the audio filter graph");
    AVRational sink_tb = av_buffersink_get_time_base(a->sink);
    for (;;) {
        averr = av_buffersink_get_frame(a->sink, a->filtered);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            return PIPELINE_OK;
        if (averr < 0)
            return pipeline_fail(run, averr, "filter audio");
        /* The resampler places frames by their timestamp in the stream's
         * time base. */
        if (a->filtered->pts != AV_NOPTS_VALUE)
            a->filtered->pts = av_rescale_q(a->filtered->pts, sink_tb, a->stream->time_base);
        a->filtered->best_effort_timestamp = a->filtered->pts;
        ret = audio_resample(a, a->filtered);
        av_frame_unref(a->filtered);
        if (ret == PIPELINE_OK)
            ret = audio_encode(a, 0);
        if (ret != PIPELINE_OK)
            return ret;
    }
}

/* One packet of encoded audio (NULL: end of input): decode, filter,
 * resample and encode. */
static int audio_decode_packet(struct pipeline_audio *a, const AVPacket *pkt)
{
    struct pipeline_run *run = a->run;
    int ret;

    int averr = avcodec_send_packet(a->decoder, pkt);
    if (averr == AVERROR_INVALIDDATA)
        return PIPELINE_OK; /* a damaged packet: skip it, as the CLI does */
    if (averr < 0 && averr != AVERROR_EOF)
        return pipeline_fail(run, averr, "decode audio");
    for (;;) {
        averr = avcodec_receive_frame(a->decoder, a->frame);
        if (averr == AVERROR(EAGAIN) || averr == AVERROR_EOF)
            break;
        if (averr == AVERROR_INVALIDDATA)
            continue;
        if (averr < 0)
            return pipeline_fail(run, averr, "decode audio");
        a->decoded++;
        ret = pipeline_poll_stop(run);
        if (ret == PIPELINE_OK)
            ret = audio_filter(a, a->frame);
        av_frame_unref(a->frame);
        if (ret != PIPELINE_OK)
            return ret;
    }
    if (pkt != NULL)
        return PIPELINE_OK;
    if (a->graph != NULL && (ret = audio_filter(a, NULL)) != PIPELINE_OK)
        return ret;
    if ((ret = audio_resample(a, NULL)) != PIPELINE_OK)
        return ret;
    return audio_encode(a, 1);
}

static const struct audio_mode audio_encode_mode = {
    .open = audio_decode_open,
    .packet = audio_decode_packet,
};

/* ---- the stage's entry points ------------------------------------------------ */

int pipeline_audio_open(struct pipeline_audio **out, struct pipeline_run *run,
                        const struct pipeline_timeline *t, struct segment_writer *writer,
                        AVStream *stream)
{
    struct pipeline_audio *a = *out = av_mallocz(sizeof(*a));
    if (a == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio stage");
    a->run = run;
    a->timeline = t;
    a->writer = writer;
    a->stream = stream;
    a->mode = strcmp(run->spec->audio_codec, "copy") == 0 ? &audio_copy_mode : &audio_encode_mode;
    a->packet = av_packet_alloc();
    if (a->packet == NULL)
        return pipeline_fail(run, AVERROR(ENOMEM), "allocate the audio stage");
    return a->mode->open(a);
}

int pipeline_audio_packet(struct pipeline_audio *a, const AVPacket *pkt)
{
    return a->mode->packet(a, pkt);
}

int64_t pipeline_audio_decoded(const struct pipeline_audio *a)
{
    return a != NULL ? a->decoded : 0;
}

void pipeline_audio_close(struct pipeline_audio **ap)
{
    struct pipeline_audio *a = *ap;
    if (a == NULL)
        return;
    av_bsf_free(&a->bsf);
    avcodec_free_context(&a->decoder);
    avcodec_free_context(&a->encoder);
    avfilter_graph_free(&a->graph);
    av_frame_free(&a->filtered);
    swr_free(&a->resampler);
    av_channel_layout_uninit(&a->resampler_in_layout);
    if (a->fifo != NULL)
        av_audio_fifo_free(a->fifo);
    if (a->converted != NULL)
        av_freep(&a->converted[0]);
    av_freep(&a->converted);
    av_frame_free(&a->frame);
    av_frame_free(&a->samples);
    av_packet_free(&a->packet);
    av_freep(ap);
}
