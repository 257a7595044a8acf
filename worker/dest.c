/* dest: per-destination admission (load and circuit) and the shared circuit table. */
#include "worker/dest.h"
#include "common/breaker.h"
#include "common/config.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/req.h"
#include "common/util.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define DEST_AVG_START_MS 1000    /* a destination's expected transfer time before any is known */
#define DEST_FIRST_READ_MS 50     /* how often the shared circuits are asked for until they came */
#define DEST_UNKNOWN_WAIT_MS 500  /* a delivery before they came waits this long */
#define DEST_PROBE_MARGIN_MS 2000 /* a probe key outlives its delivery's timeout by this */

/* Who probes a half-open circuit, among the channel's workers: the one that
 * set the key dest_probe_key names (SET NX, expiring), so a destination
 * gets one probe per half-open period, not one per worker. */
enum dest_probe_lock {
    PL_NONE = 0, /* not asked */
    PL_ASKING,   /* SET NX sent */
    PL_MINE,     /* this worker probes */
    PL_OTHERS,   /* another worker does, until probe_until_mono */
};

struct dest {
    char *name;
    struct brk b;
    enum dest_probe_lock plock;
    int64_t probe_until_mono;
    bool shared;          /* its open circuit has been seen in Redis */
    int64_t told_waiting; /* b.waiting when this worker last wrote the circuit */
    int64_t avg_ms;       /* recent transfer time (moving average) */
    int64_t horizon_mono; /* when the work handed back so far should be done */
};

struct dests {
    struct event_base *base;
    enum notif_channel ch;
    rds *wr;
    xfer *x;
    struct brk_policy pol;
    int64_t probe_wait_ms;
    int64_t probe_lease_ms; /* how long the probe key holds, if its worker dies */
    char key[BRK_KEY_LEN];
    hmap *by_name;
    struct event *refresh;
    int refresh_ms;
    bool loaded;           /* the shared circuits were read once (or are not shared) */
    struct req_scope reqs; /* the refresh in flight */
    bool refreshing, stopped;
};

static struct dest *dest_get(dests *s, const char *name) {
    struct dest *d = hmap_get(s->by_name, name);
    if (!d) {
        d = mem_calloc(1, sizeof(*d));
        d->name = mem_strdup(name);
        d->avg_ms = DEST_AVG_START_MS;
        hmap_put(s->by_name, name, d);
    }
    return d;
}

/* dest_share: writes d's circuit to Redis (opened) or removes it (closed). */
static void dest_share(dests *s, struct dest *d) {
    if (!s->wr || s->stopped)
        return;
    d->told_waiting = d->b.waiting;
    if (d->b.opened) {
        char v[BRK_VALUE_LEN];
        brk_format(&d->b, v, sizeof(v));
        const char *argv[] = {"HSET", s->key, d->name, v};
        rds_command(s->wr, NULL, NULL, 4, argv, NULL);
    } else {
        const char *argv[] = {"HDEL", s->key, d->name};
        rds_command(s->wr, NULL, NULL, 3, argv, NULL);
    }
}

static void dest_log(dests *s, const struct dest *d, const char *event, const char *what) {
    HLOG(HLOG_WARN, event, &(struct hlog_ctx){.channel = notif_channel_name(s->ch)},
         "destination %s: %s (%d consecutive failures; open for %lld ms)", d->name, what,
         d->b.failures, (long long)d->b.open_ms);
}

static void dest_probe_key(const dests *s, const struct dest *d, char *out, size_t len) {
    snprintf(out, len, "%s:probe:%s", s->key, d->name);
}

struct dest_ask {
    dests *s;
    char name[];
};

static void dest_probe_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    struct dest_ask *a = arg;
    struct dest *d = hmap_get(a->s->by_name, a->name);
    if (d && d->plock == PL_ASKING) {
        if (reply && reply->type == REDIS_REPLY_STATUS) {
            d->plock = PL_MINE;
        } else if (reply && reply->type == REDIS_REPLY_NIL) {
            d->plock = PL_OTHERS;
            d->probe_until_mono = util_mono_ms() + a->s->probe_wait_ms;
        } else {
            d->plock = PL_NONE; /* Redis failed: asked again on the next delivery */
        }
    }
    mem_free(a);
}

/* dest_probe_ask: SET NX of the probe key; the answer sets d->plock. */
static void dest_probe_ask(dests *s, struct dest *d) {
    char key[BRK_KEY_LEN + 256], px[24];
    dest_probe_key(s, d, key, sizeof(key));
    snprintf(px, sizeof(px), "%lld", (long long)s->probe_lease_ms);
    size_t n = strlen(d->name) + 1;
    struct dest_ask *a = mem_alloc(sizeof(*a) + n);
    a->s = s;
    memcpy(a->name, d->name, n);
    const char *argv[] = {"SET", key, "1", "NX", "PX", px};
    d->plock = PL_ASKING;
    req_scope_add_owning(&s->reqs, rds_command(s->wr, dest_probe_cb, a, 6, argv, NULL), a);
}

/* dest_probe_done: this worker's probe ended (or never started). The key
 * goes when release; after a failed probe it stays until it expires, by when
 * the others have read the circuit open again (they read it every refresh)
 * and do not probe it in turn. */
static void dest_probe_done(dests *s, struct dest *d, bool release) {
    if (d->plock != PL_MINE)
        return;
    d->plock = PL_NONE;
    if (!release || !s->wr || s->stopped)
        return;
    char key[BRK_KEY_LEN + 256];
    dest_probe_key(s, d, key, sizeof(key));
    const char *argv[] = {"DEL", key};
    rds_command(s->wr, NULL, NULL, 2, argv, NULL);
}

/* dest_may_probe: whether this worker, whose circuit for d is half-open, is
 * the channel's prober; if not yet known, it asks. */
static bool dest_may_probe(dests *s, struct dest *d) {
    if (!s->wr || s->stopped || d->plock == PL_MINE)
        return !s->wr || d->plock == PL_MINE;
    if (d->plock == PL_NONE || (d->plock == PL_OTHERS && util_mono_ms() >= d->probe_until_mono))
        dest_probe_ask(s, d);
    return false;
}

enum dest_admit dest_admit(dests *s, const char *host, int64_t *delay_ms) {
    if (!s->loaded) {
        /* a restarted worker must not deliver through a circuit its
         * replicas hold open: wait for the shared table (Redis being down
         * stops the stream too, so this only spans the start) */
        *delay_ms = DEST_UNKNOWN_WAIT_MS;
        return DEST_HAND_BACK;
    }
    struct dest *d = dest_get(s, host);
    int64_t now = util_now_ms();
    switch (brk_admit(&d->b, now, s->probe_wait_ms, delay_ms)) {
    case BRK_WAIT:
        return DEST_HAND_BACK;
    case BRK_PROBE:
        if (!dest_may_probe(s, d)) {
            /* another worker probes, or the answer is on its way */
            d->b.probing = false;
            d->b.waiting++;
            *delay_ms = s->probe_wait_ms > 0 ? s->probe_wait_ms : 1;
            return DEST_HAND_BACK;
        }
        HLOG(HLOG_INFO, "breaker.probe", &(struct hlog_ctx){.channel = notif_channel_name(s->ch)},
             "destination %s: half-open, one delivery probes it", d->name);
        return DEST_PROBE;
    case BRK_GO:
    default:
        break;
    }
    /* as many may wait for the host as run: enough to keep it busy without
     * holding entries the read window needs for other destinations */
    int limit = xfer_host_limit(s->x);
    if (xfer_host_load(s->x, host) < 2 * limit)
        return DEST_GO;
    /* hand back, spaced as the destination drains: each one reserves its
     * share of the time the destination needs for what is ahead of it */
    int64_t mono = util_mono_ms();
    if (d->horizon_mono < mono + d->avg_ms)
        d->horizon_mono = mono + d->avg_ms;
    d->horizon_mono += d->avg_ms / limit + 1;
    *delay_ms = d->horizon_mono - mono;
    if (*delay_ms > s->pol.max_open_ms)
        *delay_ms = s->pol.max_open_ms;
    return DEST_FULL;
}

void dest_result(dests *s, const char *host, bool probe, bool failed, int64_t elapsed_ms) {
    struct dest *d = dest_get(s, host);
    d->avg_ms = (d->avg_ms * 7 + (elapsed_ms > 0 ? elapsed_ms : 0)) / 8;
    bool was_open = d->b.opened;
    if (probe)
        dest_probe_done(s, d, !failed);
    if (!brk_result(&d->b, &s->pol, failed, probe, util_now_ms()))
        return;
    if (!d->b.opened)
        HLOG(HLOG_INFO, "breaker.closed", &(struct hlog_ctx){.channel = notif_channel_name(s->ch)},
             "destination %s: the probe succeeded; circuit closed", d->name);
    else
        dest_log(s, d, "breaker.open", was_open ? "the probe failed; open again" : "circuit open");
    dest_share(s, d);
}

void dest_cancel_probe(dests *s, const char *host, bool probe) {
    struct dest *d = probe ? hmap_get(s->by_name, host) : NULL;
    if (d) {
        d->b.probing = false;
        dest_probe_done(s, d, true);
    }
}

bool dest_failed(const char *host, const struct dlv_resp *resp) {
    switch (resp->code) {
    case CURLE_OK:
        return strncmp(host, "http", 4) == 0 && resp->status >= 500 && resp->status <= 599;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

struct dest_count {
    int64_t now;
    int n;
};

static void dest_count_open(const char *key, void *val, void *arg) {
    (void)key;
    const struct dest *d = val;
    struct dest_count *c = arg;
    if (d->b.opened)
        c->n++;
}

int dest_open(const dests *s) {
    struct dest_count c = {0, 0};
    hmap_each(s->by_name, dest_count_open, &c);
    return c.n;
}

/* ---- the shared table -------------------------------------------------- */

struct dest_sweep {
    dests *s;
    hmap *remote; /* name -> parsed brk (owned by the sweep) */
    char **gone;  /* local entries to drop */
    int ngone, capgone;
    int64_t mono;
};

static void dest_merge_local(const char *key, void *val, void *arg) {
    struct dest *d = val;
    struct dest_sweep *w = arg;
    struct brk *r = hmap_get(w->remote, key);
    if (r) {
        /* another replica opened it, or kept it open longer */
        if (!d->b.opened || r->open_until_ms > d->b.open_until_ms) {
            bool probing = d->b.probing;
            d->b = *r;
            d->b.probing = probing;
            d->told_waiting = d->b.waiting;
        }
        d->shared = true;
        return;
    }
    if (d->b.opened && d->shared && !d->b.probing) {
        /* seen shared, now gone: another replica's probe closed it */
        d->b = (struct brk){0};
        if (d->plock == PL_OTHERS)
            d->plock = PL_NONE;
        d->shared = false;
    }
    if (!d->b.opened && d->b.failures == 0 && d->horizon_mono < w->mono && d->plock == PL_NONE &&
        xfer_host_load(w->s->x, key) == 0) {
        if (w->ngone == w->capgone) {
            w->capgone = w->capgone ? w->capgone * 2 : 16;
            w->gone = mem_realloc(w->gone, (size_t)w->capgone * sizeof(char *));
        }
        w->gone[w->ngone++] = d->name;
    }
}

/* dest_loaded: the shared circuits came (once): deliveries may go, and the
 * table is read every refresh_ms from now on. */
static void dest_loaded(dests *s) {
    if (s->loaded)
        return;
    s->loaded = true;
    event_del(s->refresh);
    struct timeval tv = {s->refresh_ms / 1000, (s->refresh_ms % 1000) * 1000};
    event_add(s->refresh, &tv);
}

static void dest_refresh_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    dests *s = arg;
    s->refreshing = false;
    if (s->stopped || !reply)
        return; /* kept as it is; the next refresh tries again */
    if (reply->type != REDIS_REPLY_ARRAY) {
        /* Redis answers, but not with a hash (the key was written by
         * something else): deliver on this worker's own circuits */
        if (!s->loaded)
            HLOG(HLOG_WARN, "breaker.unreadable",
                 &(struct hlog_ctx){.channel = notif_channel_name(s->ch),
                                    .err = reply->type == REDIS_REPLY_ERROR ? reply->str : NULL},
                 "%s is not a hash; circuits are not shared", s->key);
        dest_loaded(s);
        return;
    }
    dest_loaded(s);
    struct dest_sweep w = {.s = s, .remote = hmap_new(), .mono = util_mono_ms()};
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        struct brk b;
        if (brk_parse(v->str, &b) < 0)
            continue;
        struct brk *copy = mem_calloc(1, sizeof(*copy));
        *copy = b;
        hmap_put(w.remote, k->str, copy);
        dest_get(s, k->str); /* known from now on; merged below */
    }
    hmap_each(s->by_name, dest_merge_local, &w);
    for (int i = 0; i < w.ngone; i++) {
        struct dest *d = hmap_del(s->by_name, w.gone[i]);
        mem_free(d->name);
        mem_free(d);
    }
    mem_free(w.gone);
    hmap_free_with(w.remote, mem_free);
}

/* dest_tell_waiting: an open circuit that held more back since this worker
 * last wrote it is written again, so the listing's "waiting" moves. */
static void dest_tell_waiting(const char *key, void *val, void *arg) {
    (void)key;
    struct dest *d = val;
    if (d->b.opened && d->b.waiting != d->told_waiting)
        dest_share(arg, d);
}

static void dest_refresh_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    dests *s = arg;
    if (s->stopped || s->refreshing || !s->wr)
        return;
    if (s->loaded)
        hmap_each(s->by_name, dest_tell_waiting, s);
    s->refreshing = true;
    const char *argv[] = {"HGETALL", s->key};
    req_scope_add(&s->reqs, rds_command(s->wr, dest_refresh_cb, s, 2, argv, NULL));
}

dests *dest_new(struct event_base *base, const struct cfg *c, enum notif_channel ch, rds *wr,
                xfer *x, int refresh_ms) {
    dests *s = mem_calloc(1, sizeof(*s));
    s->base = base;
    s->ch = ch;
    s->wr = wr;
    s->x = x;
    s->pol = (struct brk_policy){.failures = c->breaker_failures,
                                 .open_ms = c->breaker_open_ms,
                                 .max_open_ms = c->breaker_max_open_ms};
    /* while the probe runs, others wait about as long as it may take */
    s->probe_wait_ms =
        c->delivery_timeout_ms < c->breaker_open_ms ? c->delivery_timeout_ms : c->breaker_open_ms;
    s->probe_lease_ms = (int64_t)c->delivery_timeout_ms + DEST_PROBE_MARGIN_MS;
    if (s->probe_lease_ms < 2LL * refresh_ms)
        s->probe_lease_ms = 2LL * refresh_ms;
    brk_key(ch, s->key);
    s->by_name = hmap_new();
    s->refresh = event_new(base, -1, EV_PERSIST, dest_refresh_tick, s);
    s->refresh_ms = refresh_ms < 10 ? 10 : refresh_ms;
    s->loaded = wr == NULL;
    struct timeval tv = {0, DEST_FIRST_READ_MS * 1000};
    event_add(s->refresh, &tv);
    dest_refresh_tick(-1, 0, s); /* a restarted worker knows the open circuits at once */
    return s;
}

void dest_stop(dests *s) {
    s->stopped = true;
    req_scope_cancel(&s->reqs); /* its callback never runs now */
    s->refreshing = false;
    event_del(s->refresh);
}

static void dest_free_one(void *val) {
    struct dest *d = val;
    mem_free(d->name);
    mem_free(d);
}

void dest_free(dests *s) {
    if (!s)
        return;
    hmap_free_with(s->by_name, dest_free_one);
    event_free(s->refresh);
    mem_free(s);
}
