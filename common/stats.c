/* stats: per-channel counts flushed into ten-second Redis buckets, and the last hour read back. */
#include "common/stats.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/stream.h"
#include "common/util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_TTL_S (STATS_WINDOW_S + 2 * STATS_BUCKET_S)
#define STATS_KEY_LEN 48
#define STATS_FIELD_LEN 32

static const char *const stats_kind_names[STATS_KINDS] = {"accepted", "sent", "failed", "retried"};

/* Upper bounds of the dwell buckets, ms; the last bucket has none. */
static const int64_t stats_dwell_bounds[STATS_DWELL_BUCKETS - 1] = {
    50,    100,   250,    500,    1000,    2500,     5000,    10000,
    30000, 60000, 300000, 900000, 3600000, 21600000, 86400000};

/* A lag sample in flight: which stream, and the bucket it belongs to. */
struct stats_lag {
    struct stats *s;
    enum notif_channel ch;
    char key[STATS_KEY_LEN];
};

struct stats {
    struct event_base *base;
    rds *r;
    unsigned lag_mask;
    struct event *tick;
    int64_t count[CH_COUNT][STATS_KINDS];         /* since the last flush */
    int64_t dwell[CH_COUNT][STATS_DWELL_BUCKETS]; /* since the last flush */
    struct req_scope lags;                        /* XINFO replies owed to us */
    struct stats_lag lag[CH_COUNT];               /* the samples in flight (one tick's at most) */
};

static void stats_key(int64_t now_ms, char *out) {
    int64_t start = now_ms / 1000 / STATS_BUCKET_S * STATS_BUCKET_S;
    snprintf(out, STATS_KEY_LEN, STATS_KEY_PREFIX "%lld", (long long)start);
}

static void stats_free(stats *s) {
    if (s->tick)
        event_free(s->tick);
    mem_free(s);
}

/* stats_hincrby: one HINCRBY key "<ch>:<field>" n, reply ignored. */
static void stats_hincrby(stats *s, const char *key, enum notif_channel ch, const char *field,
                          int64_t n) {
    char f[STATS_FIELD_LEN], v[24];
    snprintf(f, sizeof(f), "%s:%s", notif_channel_name(ch), field);
    snprintf(v, sizeof(v), "%lld", (long long)n);
    const char *argv[] = {"HINCRBY", key, f, v};
    rds_command(s->r, NULL, NULL, 4, argv, NULL);
}

/* stats_lag_done: the channel's lag (all its streams), kept in the bucket
 * the sample was asked for. */
static void stats_lag_done(void *arg, const struct stream_info *info) {
    struct stats_lag *l = arg;
    stats *s = l->s;
    if (info->ok && info->lag >= 0) {
        char f[STATS_FIELD_LEN], val[24];
        snprintf(f, sizeof(f), "%s:lag", notif_channel_name(l->ch));
        snprintf(val, sizeof(val), "%lld", (long long)info->lag);
        const char *argv[] = {"HSET", l->key, f, val};
        rds_command(s->r, NULL, NULL, 4, argv, NULL);
    }
}

/* stats_flush: every count since the last flush into the current bucket;
 * what Redis refuses is lost (these are figures for people, not records). */
static void stats_flush(stats *s, bool sample_lag) {
    char key[STATS_KEY_LEN];
    bool any = false;
    stats_key(util_now_ms(), key);
    for (int ch = 0; ch < CH_COUNT; ch++) {
        for (int k = 0; k < STATS_KINDS; k++) {
            if (s->count[ch][k]) {
                stats_hincrby(s, key, (enum notif_channel)ch, stats_kind_names[k], s->count[ch][k]);
                s->count[ch][k] = 0;
                any = true;
            }
        }
        for (int b = 0; b < STATS_DWELL_BUCKETS; b++) {
            if (s->dwell[ch][b]) {
                char f[8];
                snprintf(f, sizeof(f), "d%d", b);
                stats_hincrby(s, key, (enum notif_channel)ch, f, s->dwell[ch][b]);
                s->dwell[ch][b] = 0;
                any = true;
            }
        }
    }
    for (int ch = 0; sample_lag && rds_up(s->r) && ch < CH_COUNT; ch++) {
        if (!(s->lag_mask & (1u << ch)))
            continue;
        struct stats_lag *l = &s->lag[ch];
        l->s = s;
        l->ch = (enum notif_channel)ch;
        memcpy(l->key, key, sizeof(key));
        stream_info(s->r, (enum notif_channel)ch, &s->lags, stats_lag_done, l);
        any = true;
    }
    if (any) {
        char ttl[16];
        snprintf(ttl, sizeof(ttl), "%d", STATS_TTL_S);
        const char *argv[] = {"EXPIRE", key, ttl};
        rds_command(s->r, NULL, NULL, 3, argv, NULL);
    }
}

static void stats_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    stats *s = arg;
    /* a sample still unanswered from the last tick: Redis is slow; skip one */
    stats_flush(s, req_scope_idle(&s->lags));
}

stats *stats_start(struct event_base *base, rds *r, unsigned lag_mask, int interval_ms) {
    stats *s = mem_calloc(1, sizeof(*s));
    s->base = base;
    s->r = r;
    s->lag_mask = lag_mask;
    s->tick = event_new(base, -1, EV_PERSIST, stats_tick, s);
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    event_add(s->tick, &tv);
    return s;
}

void stats_stop(stats *s) {
    if (!s)
        return;
    /* No last flush: the loop has stopped, so nothing sent now would be
     * written, and its commands would only wait for a teardown. */
    req_scope_cancel(&s->lags);
    stats_free(s);
}

void stats_count(stats *s, enum notif_channel ch, enum stats_kind kind, int64_t n) {
    if (s && (unsigned)ch < CH_COUNT && (unsigned)kind < STATS_KINDS)
        s->count[ch][kind] += n;
}

void stats_dwell(stats *s, enum notif_channel ch, int64_t ms) {
    if (!s || (unsigned)ch >= CH_COUNT)
        return;
    int b = 0;
    while (b < STATS_DWELL_BUCKETS - 1 && ms > stats_dwell_bounds[b])
        b++;
    s->dwell[ch][b]++;
}

int64_t stats_dwell_p99(const int64_t *counts) {
    int64_t total = 0, seen = 0;
    for (int b = 0; b < STATS_DWELL_BUCKETS; b++)
        total += counts[b];
    if (total <= 0)
        return -1;
    /* the rank of the 99th percentile, rounded up: 1 of 1, 99 of 100, 100 of 101 */
    int64_t rank = (total * 99 + 99) / 100;
    for (int b = 0; b < STATS_DWELL_BUCKETS; b++) {
        if (counts[b] <= 0 || seen + counts[b] < rank) {
            seen += counts[b];
            continue;
        }
        int64_t lo = b ? stats_dwell_bounds[b - 1] : 0;
        if (b == STATS_DWELL_BUCKETS - 1)
            return lo; /* the open bucket: at least its lower bound */
        int64_t hi = stats_dwell_bounds[b];
        return lo + (hi - lo) * (rank - seen) / counts[b];
    }
    return -1;
}

/* ---- reading ---- */

struct stats_read {
    stats_read_cb cb;
    void *arg;
    int outstanding;
    int answered; /* replies that were arrays: Redis was there */
    struct stats_series series;
    int64_t dwell[CH_COUNT][STATS_NBUCKETS][STATS_DWELL_BUCKETS];
};

struct stats_read_one {
    struct stats_read *rd;
    int bucket;
};

/* stats_field: "<channel>:<name>" -> channel and the name's start. */
static int stats_field(const char *f, const char **name) {
    const char *colon = strchr(f, ':');
    if (!colon || colon - f > 16)
        return -1;
    char ch[17];
    memcpy(ch, f, (size_t)(colon - f));
    ch[colon - f] = '\0';
    *name = colon + 1;
    return notif_channel_parse(ch);
}

static void stats_read_bucket(struct stats_read *rd, int bucket, const redisReply *reply) {
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        const char *name;
        int ch = stats_field(f->str, &name);
        if (ch < 0)
            continue;
        int64_t n = strtoll(v->str, NULL, 10);
        if (!strcmp(name, "lag")) {
            rd->series.ch[ch].lag[bucket] = n;
            continue;
        }
        if (name[0] == 'd' && name[1] >= '0' && name[1] <= '9') {
            long b = strtol(name + 1, NULL, 10);
            if (b >= 0 && b < STATS_DWELL_BUCKETS)
                rd->dwell[ch][bucket][b] += n;
            continue;
        }
        for (int k = 0; k < STATS_KINDS; k++)
            if (!strcmp(name, stats_kind_names[k]))
                rd->series.ch[ch].count[k][bucket] += n;
    }
}

static void stats_read_done(void *arg, redisReply *reply, const char *err) {
    struct stats_read_one *one = arg;
    struct stats_read *rd = one->rd;
    (void)err;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        rd->answered++;
        stats_read_bucket(rd, one->bucket, reply);
    }
    mem_free(one);
    if (--rd->outstanding > 0)
        return;
    rd->series.redis_ok = rd->answered == STATS_NBUCKETS;
    for (int ch = 0; ch < CH_COUNT; ch++)
        for (int b = 0; b < STATS_NBUCKETS; b++)
            rd->series.ch[ch].dwell_p99[b] = stats_dwell_p99(rd->dwell[ch][b]);
    rd->cb(rd->arg, &rd->series);
    mem_free(rd);
}

void stats_read(rds *r, int64_t now_ms, stats_read_cb cb, void *arg) {
    struct stats_read *rd = mem_calloc(1, sizeof(*rd));
    int64_t last = now_ms / 1000 / STATS_BUCKET_S * STATS_BUCKET_S;
    int64_t first = last - (int64_t)(STATS_NBUCKETS - 1) * STATS_BUCKET_S;
    rd->cb = cb;
    rd->arg = arg;
    rd->series.from_ms = first * 1000;
    for (int ch = 0; ch < CH_COUNT; ch++)
        for (int b = 0; b < STATS_NBUCKETS; b++)
            rd->series.ch[ch].lag[b] = -1;
    rd->outstanding = STATS_NBUCKETS;
    for (int b = 0; b < STATS_NBUCKETS; b++) {
        struct stats_read_one *one = mem_calloc(1, sizeof(*one));
        char key[STATS_KEY_LEN];
        one->rd = rd;
        one->bucket = b;
        snprintf(key, sizeof(key), STATS_KEY_PREFIX "%lld",
                 (long long)first + (long long)b * STATS_BUCKET_S);
        const char *argv[] = {"HGETALL", key};
        rds_command(r, stats_read_done, one, 2, argv, NULL);
    }
}

/* stats_json_array: n values, each v or null when below 0 and nulls is set. */
static void stats_json_array(struct buf *b, const int64_t *v, int n, bool nulls) {
    buf_putc(b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        if (nulls && v[i] < 0)
            buf_puts(b, "null");
        else
            buf_printf(b, "%lld", (long long)v[i]);
    }
    buf_putc(b, ']');
}

void stats_series_json(struct buf *b, const struct stats_series *s) {
    char from[UTIL_TIME_LEN];
    util_fmt_time_ms(s->from_ms, from);
    buf_printf(b, "\"bucket_seconds\":%d,\"from\":\"%s\",\"channels\":[", STATS_BUCKET_S, from);
    for (int ch = 0; ch < CH_COUNT; ch++) {
        buf_printf(b, "%s{\"channel\":\"%s\"", ch ? "," : "",
                   notif_channel_name((enum notif_channel)ch));
        for (int k = 0; k < STATS_KINDS; k++) {
            buf_printf(b, ",\"%s\":", stats_kind_names[k]);
            if (s->redis_ok)
                stats_json_array(b, s->ch[ch].count[k], STATS_NBUCKETS, false);
            else
                buf_puts(b, "null");
        }
        buf_puts(b, ",\"lag\":");
        if (s->redis_ok)
            stats_json_array(b, s->ch[ch].lag, STATS_NBUCKETS, true);
        else
            buf_puts(b, "null");
        buf_puts(b, ",\"dwell_p99_ms\":");
        if (s->redis_ok)
            stats_json_array(b, s->ch[ch].dwell_p99, STATS_NBUCKETS, true);
        else
            buf_puts(b, "null");
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}
