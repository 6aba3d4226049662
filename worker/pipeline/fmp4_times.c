/* fmp4_times.c -- reads and rewrites the start times of fMP4 media
 * segments; see fmp4_times.h.
 *
 * A media segment is a run of ISO BMFF boxes: styp, one sidx per track
 * (the mp4 muxer's dash flag), moof (mfhd, then a traf per track holding
 * tfhd and tfdt) and mdat. Every box is bounds-checked against the buffer
 * before it is read; only the boxes named above are entered. */
#include "fmp4_times.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t read_u64(const uint8_t *p)
{
    return (uint64_t)read_u32(p) << 32 | read_u32(p + 4);
}

static void write_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* One box inside [data, data + size): its type, and its payload (after the
 * 8-byte header, or 16 with a 64-bit size). */
struct box {
    char type[5];
    uint8_t *payload;
    size_t payload_size;
    size_t total;
};

/* Reads the box at data[at]. Returns 1, 0 at the end, -1 if malformed. */
static int box_at(uint8_t *data, size_t size, size_t at, struct box *b)
{
    if (at == size)
        return 0;
    if (size - at < 8)
        return -1;
    uint64_t total = read_u32(data + at);
    size_t header = 8;
    if (total == 1) {
        if (size - at < 16)
            return -1;
        total = read_u64(data + at + 8);
        header = 16;
    } else if (total == 0) {
        total = size - at; /* to the end of the buffer */
    }
    if (total < header || total > size - at)
        return -1;
    memcpy(b->type, data + at + 4, 4);
    b->type[4] = '\0';
    b->payload = data + at + header;
    b->payload_size = (size_t)total - header;
    b->total = (size_t)total;
    return 1;
}

/* What a walk over a segment does with its tfdt and sidx boxes. */
struct walk {
    /* reading */
    struct fmp4_track_times *times;
    int max, found;
    /* shifting */
    uint32_t track_id;
    int64_t decode_delta, presentation_delta;
    int shift;
};

static struct fmp4_track_times *walk_track(struct walk *w, uint32_t track_id)
{
    for (int i = 0; i < w->found; i++)
        if (w->times[i].track_id == track_id)
            return &w->times[i];
    if (w->found == w->max)
        return NULL;
    struct fmp4_track_times *t = &w->times[w->found++];
    memset(t, 0, sizeof(*t));
    t->track_id = track_id;
    return t;
}

/* Adds delta to the 64-bit time at p, modulo 2^64. */
static void shift_time(uint8_t *p, int64_t delta)
{
    write_u64(p, read_u64(p) + (uint64_t)delta);
}

/* sidx: version(1) flags(3) reference_ID(4) timescale(4) then the earliest
 * presentation time, 64-bit in version 1. */
static int walk_sidx(struct walk *w, const struct box *b)
{
    if (b->payload_size < 20)
        return -1;
    uint32_t track_id = read_u32(b->payload + 4);
    if (w->shift) {
        if (track_id != w->track_id)
            return 0;
        if (b->payload[0] != 1)
            return -1;
        shift_time(b->payload + 12, w->presentation_delta);
        return 0;
    }
    struct fmp4_track_times *t = walk_track(w, track_id);
    if (t == NULL)
        return 0;
    t->presentation_time = b->payload[0] == 1 ? (int64_t)read_u64(b->payload + 12)
                                              : (int64_t)read_u32(b->payload + 12);
    t->has_presentation_time = 1;
    return 0;
}

/* tfhd: version/flags(4) track_ID(4), then by its flags base_data_offset
 * (8), sample_description_index (4) and default_sample_duration (4).
 * Returns the default duration, or -1 if it gives none. */
static int64_t tfhd_default_duration(const struct box *b)
{
    uint32_t flags = read_u32(b->payload) & 0xffffff;
    size_t at = 8 + (flags & 0x1 ? 8 : 0) + (flags & 0x2 ? 4 : 0);
    if (!(flags & 0x8) || b->payload_size < at + 4)
        return -1;
    return read_u32(b->payload + at);
}

/* trun: version/flags(4) sample_count(4), data_offset(4) and
 * first_sample_flags(4) by its flags, then per sample duration, size,
 * flags and composition offset, each present by its flag. Adds the
 * durations to *sum and the sample count to *samples; *last gets the last
 * sample's duration. Returns 0, or -1 if malformed or a duration is not
 * known (no per-sample duration and no default). */
static int trun_durations(const struct box *b, int64_t default_duration, int64_t *sum,
                          int64_t *last, uint32_t *samples, int64_t *first_composition_offset)
{
    if (b->payload_size < 8)
        return -1;
    uint32_t flags = read_u32(b->payload) & 0xffffff;
    uint32_t count = read_u32(b->payload + 4);
    size_t at = 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
    size_t per_sample = (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) +
                        (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
    if (at > b->payload_size || (per_sample > 0 && (b->payload_size - at) / per_sample < count))
        return -1;
    if (!(flags & 0x100) && default_duration < 0 && count > 0)
        return -1;
    if (*samples == 0 && count > 0 && (flags & 0x800)) {
        size_t cto =
            at + (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0);
        uint32_t raw = read_u32(b->payload + cto);
        *first_composition_offset = b->payload[0] == 1 ? (int64_t)(int32_t)raw : (int64_t)raw;
    }
    for (uint32_t i = 0; i < count; i++, at += per_sample) {
        *last = flags & 0x100 ? (int64_t)read_u32(b->payload + at) : default_duration;
        *sum += *last;
    }
    *samples += count;
    return 0;
}

/* traf: tfhd names the track; tfdt holds its decode time (version 1:
 * 64-bit); its trun boxes the durations that lead to its last sample. */
static int walk_traf(struct walk *w, const struct box *traf)
{
    struct box b;
    uint32_t track_id = 0;
    int have_track = 0, have_tfdt = 0, durations_known = 1;
    int64_t default_duration = -1, tfdt = 0, sum = 0, last = 0, first_cto = 0;
    uint32_t samples = 0;
    for (size_t at = 0;;) {
        int r = box_at(traf->payload, traf->payload_size, at, &b);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        at += b.total;
        if (strcmp(b.type, "tfhd") == 0 && b.payload_size >= 8) {
            track_id = read_u32(b.payload + 4);
            default_duration = tfhd_default_duration(&b);
            have_track = 1;
        } else if (strcmp(b.type, "tfdt") == 0 && have_track) {
            if (b.payload_size < 8)
                return -1;
            if (w->shift) {
                if (track_id != w->track_id)
                    continue;
                if (b.payload_size < 12 || b.payload[0] != 1)
                    return -1;
                shift_time(b.payload + 4, w->decode_delta);
                continue;
            }
            tfdt = b.payload[0] == 1 && b.payload_size >= 12 ? (int64_t)read_u64(b.payload + 4)
                                                             : (int64_t)read_u32(b.payload + 4);
            have_tfdt = 1;
        } else if (strcmp(b.type, "trun") == 0 && have_track && !w->shift) {
            if (trun_durations(&b, default_duration, &sum, &last, &samples, &first_cto) != 0)
                durations_known = 0;
        }
    }
    if (w->shift || !have_track)
        return 0;
    struct fmp4_track_times *t = walk_track(w, track_id);
    if (t == NULL)
        return 0;
    t->has_decode_time = have_tfdt;
    t->decode_time = tfdt;
    t->samples = samples;
    t->first_composition_offset = first_cto;
    t->has_last_decode_time = have_tfdt && durations_known && samples > 0;
    t->last_decode_time = (int64_t)((uint64_t)tfdt + (uint64_t)(sum - last));
    return 0;
}

static int walk_segment(struct walk *w, uint8_t *data, size_t size)
{
    struct box b, inner;
    for (size_t at = 0;;) {
        int r = box_at(data, size, at, &b);
        if (r <= 0)
            return r;
        at += b.total;
        if (strcmp(b.type, "sidx") == 0) {
            if (walk_sidx(w, &b) != 0)
                return -1;
        } else if (strcmp(b.type, "moof") == 0) {
            for (size_t in = 0;;) {
                r = box_at(b.payload, b.payload_size, in, &inner);
                if (r < 0)
                    return -1;
                if (r == 0)
                    break;
                in += inner.total;
                if (strcmp(inner.type, "traf") == 0 && walk_traf(w, &inner) != 0)
                    return -1;
            }
        }
    }
}

int fmp4_fragment_times(const uint8_t *data, size_t size, struct fmp4_track_times *out, int max)
{
    struct walk w = {.times = out, .max = max};
    /* Reading never writes: the cast only lets one walker serve both. */
    if (walk_segment(&w, (uint8_t *)data, size) != 0)
        return -1;
    return w.found;
}

int fmp4_fragment_shift(uint8_t *data, size_t size, uint32_t track_id, int64_t decode_delta,
                        int64_t presentation_delta)
{
    struct walk w = {.track_id = track_id,
                     .decode_delta = decode_delta,
                     .presentation_delta = presentation_delta,
                     .shift = 1};
    return walk_segment(&w, data, size);
}

int fmp4_base_format(const struct fmp4_base *base, char *out, size_t outlen)
{
    size_t used = 0;
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (int i = 0; i < base->count; i++) {
        int n = snprintf(out + used, outlen - used, "%s%" PRIu32 ":%" PRId64 ":%" PRId64,
                         i > 0 ? " " : "", base->tracks[i].track_id, base->tracks[i].decode_offset,
                         base->tracks[i].presentation_offset);
        if (n < 0 || (size_t)n >= outlen - used)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

int fmp4_base_parse(const char *text, struct fmp4_base *base)
{
    memset(base, 0, sizeof(*base));
    const char *p = text;
    while (*p != '\0') {
        unsigned long track;
        long long decode, presentation;
        int consumed = 0;
        if (base->count == FMP4_TRACKS_MAX ||
            sscanf(p, "%lu:%lld:%lld%n", &track, &decode, &presentation, &consumed) != 3 ||
            track == 0 || track > UINT32_MAX) {
            memset(base, 0, sizeof(*base));
            return -1;
        }
        base->tracks[base->count].track_id = (uint32_t)track;
        base->tracks[base->count].decode_offset = decode;
        base->tracks[base->count].presentation_offset = presentation;
        base->count++;
        p += consumed;
        if (*p == ' ')
            p++;
        else if (*p != '\0') {
            memset(base, 0, sizeof(*base));
            return -1;
        }
    }
    return 0;
}

int fmp4_base_find(const struct fmp4_base *base, uint32_t track_id, int64_t *decode_offset,
                   int64_t *presentation_offset)
{
    for (int i = 0; i < base->count; i++) {
        if (base->tracks[i].track_id != track_id)
            continue;
        *decode_offset = base->tracks[i].decode_offset;
        *presentation_offset = base->tracks[i].presentation_offset;
        return 1;
    }
    return 0;
}
