/* auth: parses Bearer keys, caches key lookups (hits and misses) for up to
 * 30 s, coalesces concurrent lookups of one key and batches last_used_at. */
#include "api/auth.h"
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

struct auth_waiter {
    auth_cb cb;
    void *arg;
    struct apikey_parts parts;
    struct auth_waiter *next;
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
    struct event *touch;
};

static void auth_answer(struct auth_ent *e, struct auth_waiter *w) {
    if (e->found && apikey_verify(w->parts.secret, e->hash, sizeof(e->hash)))
        w->cb(w->arg, 0, &e->info);
    else
        w->cb(w->arg, 401, NULL);
}

static void auth_drop_ent(const char *key, void *val, void *arg) {
    (void)key;
    (void)arg;
    mem_free(val);
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

static void auth_loaded(void *arg, const struct db_result *res) {
    struct auth_ent *e = arg;
    struct auth_waiter *w = e->waiters;
    e->waiters = NULL;
    e->loading = false;
    if (res->status != DB_OK) {
        /* unknown: answer 503 and do not cache */
        e->fetched_ms = INT64_MIN / 2;
        while (w) {
            struct auth_waiter *n = w->next;
            w->cb(w->arg, 503, NULL);
            mem_free(w);
            w = n;
        }
        return;
    }
    e->fetched_ms = util_mono_ms();
    e->found = false;
    if (PQntuples(res->res) == 1 && strcmp(db_get(res->res, 0, 4), "f") == 0) {
        size_t hlen = 0;
        unsigned char *h = PQunescapeBytea((const unsigned char *)db_get(res->res, 0, 3), &hlen);
        if (h && hlen == APIKEY_HASH_LEN) {
            memcpy(e->hash, h, APIKEY_HASH_LEN);
            e->found = true;
            e->info.tenant_id = strtoll(db_get(res->res, 0, 0), NULL, 10);
            snprintf(e->info.tenant, sizeof(e->info.tenant), "%s", db_get(res->res, 0, 1));
            e->info.admin = strcmp(db_get(res->res, 0, 2), "t") == 0;
            snprintf(e->info.key_id, sizeof(e->info.key_id), "%s", e->id);
        }
        PQfreemem(h);
    }
    while (w) {
        struct auth_waiter *n = w->next;
        auth_answer(e, w);
        mem_free(w);
        w = n;
    }
}

void auth_check(struct auth *a, const char *header, auth_cb cb, void *arg) {
    struct apikey_parts parts;
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        cb(arg, 401, NULL);
        return;
    }
    const char *key = header + 7;
    while (*key == ' ')
        key++;
    size_t klen = strlen(key);
    while (klen && key[klen - 1] == ' ')
        klen--;
    if (apikey_parse(key, klen, &parts) != 0) {
        cb(arg, 401, NULL);
        return;
    }
    int64_t now = util_mono_ms();
    struct auth_ent *e = hmap_get(a->cache, parts.id);
    if (e && !e->loading && now - e->fetched_ms < a->app->cfg->auth_cache_ms) {
        struct auth_waiter w = {.cb = cb, .arg = arg, .parts = parts};
        if (e->found)
            hmap_put(a->used, parts.id, a);
        auth_answer(e, &w);
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
    w->next = e->waiters;
    e->waiters = w;
    hmap_put(a->used, parts.id, a);
    if (e->loading)
        return;
    e->loading = true;
    const char *params[] = {e->id};
    db_query(a->app->db,
             "SELECT k.tenant_id, t.name, k.admin, k.secret_hash, k.revoked_at IS NOT NULL "
             "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1",
             1, params, auth_loaded, e);
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
    const char *params[] = {b.data};
    db_query(a->app->db, "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])", 1,
             params, auth_touched, NULL);
    buf_free(&b);
}

struct auth *auth_new(struct api_app *app) {
    struct auth *a = mem_calloc(1, sizeof(*a));
    a->app = app;
    a->cache = hmap_new();
    a->used = hmap_new();
    a->touch = event_new(app->base, -1, EV_PERSIST, auth_touch_cb, a);
    struct timeval tv = {AUTH_TOUCH_INTERVAL_MS / 1000, 0};
    event_add(a->touch, &tv);
    return a;
}

void auth_free(struct auth *a) {
    if (!a)
        return;
    event_free(a->touch);
    hmap_each(a->cache, auth_drop_ent, NULL);
    hmap_free(a->cache);
    hmap_free(a->used);
    mem_free(a);
}
