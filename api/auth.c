/* auth: parses Bearer keys, caches key lookups (hits and misses) for up to
 * 30 s, coalesces concurrent lookups of one key and batches last_used_at. */
#include "api/auth.h"
#include "api/store.h"
#include "common/apikey.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/db.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_CACHE_MAX 10000
#define AUTH_TOUCH_INTERVAL_MS 10000
#define AUTH_PEERS_MAX 10000 /* addresses whose failures are counted at once */
#define AUTH_PEER_BURST 10   /* failures allowed at once, in seconds of the rate */

struct auth_waiter {
    auth_cb cb;
    void *arg;
    struct apikey_parts parts;
    char peer[48];
    struct auth_waiter *next;
};

/* The failed authentications one address may still make. */
struct auth_peer {
    double tokens;
    int64_t at_ms; /* monotonic: when tokens was computed */
};

struct auth_ent {
    char id[APIKEY_ID_LEN + 1];
    bool loading;
    bool found; /* the key exists and is not revoked */
    uint8_t hash[APIKEY_HASH_LEN];
    struct api_auth info;
    int64_t fetched_ms; /* monotonic */
    struct auth_waiter *waiters;
};

struct auth {
    struct api_app *app;
    hmap *cache; /* key id -> struct auth_ent */
    hmap *used;  /* key ids used since the last touch flush (values unused) */
    hmap *peers; /* client address -> struct auth_peer */
    uint64_t lookups;
    struct event *touch;
    struct req_scope reqs; /* key lookups and touches not yet answered */
};

/* auth_peer_get: refills and returns peer's bucket (NULL: a full one). */
static struct auth_peer *auth_peer_get(struct auth *a, const char *peer, int64_t now) {
    struct auth_peer *p = hmap_get(a->peers, peer);
    if (!p)
        return NULL;
    double rate = a->app->cfg->auth_failures_per_sec;
    p->tokens += (double)(now - p->at_ms) * rate / 1000.0;
    p->at_ms = now;
    if (p->tokens >= rate * AUTH_PEER_BURST) {
        mem_free(hmap_del(a->peers, peer));
        return NULL;
    }
    return p;
}

/* auth_peer_blocked: whether peer has no failure left; *retry_s: when it will. */
static bool auth_peer_blocked(struct auth *a, const char *peer, int *retry_s) {
    struct auth_peer *p = auth_peer_get(a, peer, util_mono_ms());
    if (!p || p->tokens >= 1)
        return false;
    double rate = a->app->cfg->auth_failures_per_sec;
    *retry_s = (int)((1 - p->tokens) / rate) + 1;
    return true;
}

/* auth_peer_failed: one failure from peer. The map is bounded: when it is
 * full, every address starts afresh (a flood from that many addresses is
 * not stopped by per-address counts anyway). */
static void auth_peer_failed(struct auth *a, const char *peer) {
    int64_t now = util_mono_ms();
    struct auth_peer *p = auth_peer_get(a, peer, now);
    if (!p) {
        if (hmap_len(a->peers) >= AUTH_PEERS_MAX) {
            hmap_free_with(a->peers, mem_free);
            a->peers = hmap_new();
        }
        p = mem_calloc(1, sizeof(*p));
        p->tokens = (double)a->app->cfg->auth_failures_per_sec * AUTH_PEER_BURST;
        p->at_ms = now;
        hmap_put(a->peers, peer, p);
    }
    p->tokens = p->tokens >= 1 ? p->tokens - 1 : 0;
}

static void auth_answer(struct auth *a, struct auth_ent *e, struct auth_waiter *w) {
    if (e->found && apikey_verify(w->parts.secret, e->hash, sizeof(e->hash))) {
        hmap_put(a->used, w->parts.id, a);
        w->cb(w->arg, 0, &e->info, 0);
        return;
    }
    auth_peer_failed(a, w->peer);
    w->cb(w->arg, 401, NULL, 0);
}

struct auth_evict_ctx {
    int64_t now;
    int ttl;
    char **victims;
    size_t n, cap;
};

static void auth_collect_expired(const char *key, void *val, void *arg) {
    struct auth_evict_ctx *c = arg;
    struct auth_ent *e = val;
    if (!e->loading && c->now - e->fetched_ms >= c->ttl && c->n < c->cap)
        c->victims[c->n++] = mem_strdup(key);
}

/* auth_evict: bounds the cache; expired entries go first, then (if a flood
 * of distinct fresh ids fills it) every settled entry. */
static void auth_evict(struct auth *a) {
    struct auth_evict_ctx c = {.now = util_mono_ms(), .ttl = a->app->cfg->auth_cache_ms};
    c.cap = hmap_len(a->cache);
    c.victims = mem_calloc(c.cap ? c.cap : 1, sizeof(char *));
    hmap_each(a->cache, auth_collect_expired, &c);
    if (hmap_len(a->cache) - c.n >= AUTH_CACHE_MAX) {
        c.ttl = -1;
        for (size_t i = 0; i < c.n; i++)
            mem_free(c.victims[i]);
        c.n = 0;
        hmap_each(a->cache, auth_collect_expired, &c);
    }
    for (size_t i = 0; i < c.n; i++) {
        mem_free(hmap_del(a->cache, c.victims[i]));
        mem_free(c.victims[i]);
    }
    mem_free(c.victims);
}

struct auth_load {
    struct auth *a;
    struct auth_ent *e;
};

/* auth_load_drop: auth_free came before the lookup's answer: its waiters
 * get what an unreachable database gives them. */
static void auth_load_drop(void *arg) {
    struct auth_load *l = arg;
    struct auth_waiter *w = l->e->waiters;
    l->e->waiters = NULL;
    l->e->loading = false;
    mem_free(l);
    while (w) {
        struct auth_waiter *n = w->next;
        w->cb(w->arg, 503, NULL, 0);
        mem_free(w);
        w = n;
    }
}

static void auth_loaded(void *arg, const struct db_result *res) {
    struct auth_load *l = arg;
    struct auth *a = l->a;
    struct auth_ent *e = l->e;
    mem_free(l);
    struct auth_waiter *w = e->waiters;
    e->waiters = NULL;
    e->loading = false;
    if (res->status != DB_OK) {
        /* unknown: answer 503 and do not cache */
        e->fetched_ms = INT64_MIN / 2;
        while (w) {
            struct auth_waiter *n = w->next;
            w->cb(w->arg, 503, NULL, 0);
            mem_free(w);
            w = n;
        }
        return;
    }
    e->fetched_ms = util_mono_ms();
    e->found = false;
    if (PQntuples(res->res) == 1 && strcmp(db_get(res->res, 0, SK_REVOKED), "f") == 0) {
        size_t hlen = 0;
        unsigned char *h =
            PQunescapeBytea((const unsigned char *)db_get(res->res, 0, SK_HASH), &hlen);
        if (h && hlen == APIKEY_HASH_LEN) {
            memcpy(e->hash, h, APIKEY_HASH_LEN);
            e->found = true;
            e->info.tenant_id = strtoll(db_get(res->res, 0, SK_TENANT_ID), NULL, 10);
            snprintf(e->info.tenant, sizeof(e->info.tenant), "%s", db_get(res->res, 0, SK_TENANT));
            e->info.admin = strcmp(db_get(res->res, 0, SK_ADMIN), "t") == 0;
            snprintf(e->info.key_id, sizeof(e->info.key_id), "%s", e->id);
        }
        PQfreemem(h);
    }
    while (w) {
        struct auth_waiter *n = w->next;
        auth_answer(a, e, w);
        mem_free(w);
        w = n;
    }
}

void auth_check(struct auth *a, const char *header, const char *peer, auth_cb cb, void *arg) {
    struct apikey_parts parts;
    int retry_s = 0;
    bool blocked = auth_peer_blocked(a, peer, &retry_s);
    const char *key = header && strncasecmp(header, "Bearer ", 7) == 0 ? header + 7 : NULL;
    while (key && *key == ' ')
        key++;
    size_t klen = key ? strlen(key) : 0;
    while (klen && key[klen - 1] == ' ')
        klen--;
    if (!key || apikey_parse(key, klen, &parts) != 0) {
        if (blocked) {
            cb(arg, 429, NULL, retry_s);
            return;
        }
        auth_peer_failed(a, peer);
        cb(arg, 401, NULL, 0);
        return;
    }
    int64_t now = util_mono_ms();
    struct auth_ent *e = hmap_get(a->cache, parts.id);
    if (e && !e->loading && now - e->fetched_ms < a->app->cfg->auth_cache_ms) {
        struct auth_waiter w = {.cb = cb, .arg = arg, .parts = parts};
        snprintf(w.peer, sizeof(w.peer), "%s", peer);
        if (e->found && apikey_verify(parts.secret, e->hash, sizeof(e->hash))) {
            hmap_put(a->used, parts.id, a);
            cb(arg, 0, &e->info, 0);
        } else if (blocked) {
            cb(arg, 429, NULL, retry_s);
        } else {
            auth_answer(a, e, &w);
        }
        return;
    }
    if (blocked) {
        /* no lookup for an address that keeps failing */
        cb(arg, 429, NULL, retry_s);
        return;
    }
    if (!e) {
        if (hmap_len(a->cache) >= AUTH_CACHE_MAX)
            auth_evict(a);
        e = mem_calloc(1, sizeof(*e));
        memcpy(e->id, parts.id, sizeof(e->id));
        hmap_put(a->cache, parts.id, e);
    }
    struct auth_waiter *w = mem_calloc(1, sizeof(*w));
    w->cb = cb;
    w->arg = arg;
    w->parts = parts;
    snprintf(w->peer, sizeof(w->peer), "%s", peer);
    w->next = e->waiters;
    e->waiters = w;
    if (e->loading)
        return;
    e->loading = true;
    a->lookups++;
    struct auth_load *l = mem_alloc(sizeof(*l));
    l->a = a;
    l->e = e;
    req_scope_add_arg(&a->reqs, store_key(a->app->db, e->id, auth_loaded, l), auth_load_drop, l);
}

static void auth_collect_used(const char *key, void *val, void *arg) {
    (void)val;
    db_array_add(arg, key, strlen(key));
}

static void auth_touched(void *arg, const struct db_result *res) {
    (void)arg;
    if (res->status != DB_OK)
        HLOG(HLOG_DEBUG, "auth.touch_failed", NULL, "last_used_at not updated: %s", res->message);
}

static void auth_touch_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct auth *a = arg;
    if (hmap_len(a->used) == 0)
        return;
    struct buf b = {0};
    buf_putc(&b, '{');
    hmap_each(a->used, auth_collect_used, &b);
    buf_putc(&b, '}');
    hmap_free(a->used);
    a->used = hmap_new();
    req_scope_add(&a->reqs, store_keys_used(a->app->db, b.data, auth_touched, NULL));
    buf_free(&b);
}

struct auth *auth_new(struct api_app *app) {
    struct auth *a = mem_calloc(1, sizeof(*a));
    a->app = app;
    a->cache = hmap_new();
    a->used = hmap_new();
    a->peers = hmap_new();
    a->touch = event_new(app->base, -1, EV_PERSIST, auth_touch_cb, a);
    struct timeval tv = {AUTH_TOUCH_INTERVAL_MS / 1000, 0};
    event_add(a->touch, &tv);
    return a;
}

void auth_free(struct auth *a) {
    if (!a)
        return;
    event_free(a->touch);
    req_scope_cancel(&a->reqs); /* before the entries their waiters hang on */
    hmap_free_with(a->cache, mem_free);
    hmap_free(a->used);
    hmap_free_with(a->peers, mem_free);
    mem_free(a);
}

uint64_t auth_lookups_total(const struct auth *a) {
    return a->lookups;
}
