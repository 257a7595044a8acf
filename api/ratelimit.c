/* ratelimit: token bucket in a Redis hash, refilled continuously at
 * HERALD_RATE_LIMIT_PER_SEC up to HERALD_RATE_LIMIT_BURST. */
#include "api/ratelimit.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rds.h"
#include "common/util.h"

#include <event2/event.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define RL_DEADLINE_MS 50 /* past this, a request is let through uncounted */
#define RL_LOG_EVERY_MS 10000
#define RL_LEASE_MS 1000     /* leased tokens not spent by then are dropped */
#define RL_CHUNK_MAX 1000    /* tokens leased at most per round trip */
#define RL_IDLE_MS 60000     /* a key's local state is forgotten after this long unused */
#define RL_GC_EVERY_MS 10000 /* how often forgotten keys are looked for */

/* KEYS[1] bucket; ARGV rate/s, burst, want, need. Takes want tokens, or as
 * many whole tokens as there are if at least need; else nothing. Returns
 * {allowed, tokens taken, whole tokens left, ms to full, ms until need fits}.
 * Redis's clock is used so replicas agree. */
static const char rl_script[] =
    "local rate = tonumber(ARGV[1]) local burst = tonumber(ARGV[2]) "
    "local want = tonumber(ARGV[3]) local need = tonumber(ARGV[4]) "
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local v = redis.call('HMGET', KEYS[1], 't', 'ts') "
    "local tokens = tonumber(v[1]) local ts = tonumber(v[2]) "
    "if tokens == nil or ts == nil then tokens = burst ts = now end "
    "if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end "
    "local ok = 0 local got = 0 local wait = 0 "
    "if tokens >= want then got = want "
    "elseif tokens >= need then got = math.floor(tokens) end "
    "if got > 0 or need == 0 then tokens = tokens - got ok = 1 "
    "else wait = math.ceil((need - tokens) * 1000 / rate) end "
    "redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now)) "
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000) "
    "return {ok, got, math.floor(tokens), math.ceil((burst - tokens) * 1000 / rate), wait}";

/* The tokens this replica leased for one key and has not spent yet: most
 * requests are answered from here without a round trip to Redis. */
struct rl_slot {
    int64_t tokens;      /* leased, unspent */
    int64_t expires_ms;  /* monotonic: the lease is dropped after this */
    int64_t remote_left; /* whole tokens left in Redis at the last answer */
    int64_t full_at_ms;  /* monotonic: when Redis's bucket would be full */
    int64_t used_ms;     /* monotonic: last use, for forgetting idle keys */
};

struct ratelimit {
    struct api_app *app;
    uint64_t fail_open;
    int64_t last_log_ms;
    char sha[41]; /* SHA-1 of rl_script, for EVALSHA */
    char rate[24], burst[24];
    int64_t chunk; /* tokens leased per round trip */
    hmap *slots;   /* key id -> struct rl_slot */
    int64_t gc_ms;
    struct req_scope reqs; /* EVALs not yet answered */
};

struct rl_call;
static void rl_send(struct rl_call *c, bool full);

struct rl_call {
    struct ratelimit *rl;
    rl_cb cb;
    void *arg;
    struct event *deadline;
    bool answered; /* cb has run */
    bool retried;  /* EVALSHA said NOSCRIPT; sent again with EVAL */
    int64_t cost;
    char key_id[64];
    char key[96], want[24], need[24];
};

static struct rl_slot *rl_slot_of(struct ratelimit *rl, const char *key_id, int64_t now) {
    struct rl_slot *sl = hmap_get(rl->slots, key_id);
    if (!sl) {
        sl = mem_calloc(1, sizeof(*sl));
        sl->remote_left = rl->app->cfg->rate_limit_burst;
        hmap_put(rl->slots, key_id, sl);
    }
    sl->used_ms = now;
    return sl;
}

/* rl_fill: the RateLimit-* figures: Redis's last count plus the unspent lease */
static void rl_fill(const struct rl_slot *sl, struct rl_result *res, int64_t now) {
    res->remaining = sl->remote_left + sl->tokens;
    res->reset_s = sl->full_at_ms > now ? (sl->full_at_ms - now + 999) / 1000 : 0;
}

static void rl_fail_open(struct rl_call *c) {
    struct ratelimit *rl = c->rl;
    rl->fail_open++;
    int64_t now = util_mono_ms();
    if (now - rl->last_log_ms >= RL_LOG_EVERY_MS) {
        rl->last_log_ms = now;
        HLOG(HLOG_WARN, "ratelimit.fail_open", NULL,
             "Redis did not answer within %d ms: requests are let through uncounted "
             "(%llu so far)",
             RL_DEADLINE_MS, (unsigned long long)rl->fail_open);
    }
    const struct cfg *cfg = rl->app->cfg;
    struct rl_result res = {
        .allowed = true, .failed_open = true, .remaining = cfg->rate_limit_burst, .reset_s = 0};
    c->answered = true;
    c->cb(c->arg, &res);
}

static void rl_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct rl_call *c = arg;
    rl_fail_open(c); /* the reply, when it comes, finds answered set */
}

static void rl_reply(void *arg, redisReply *reply, const char *err) {
    (void)err;
    struct rl_call *c = arg;
    if (!c->answered && !c->retried && reply && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* first use on this Redis (or after a restart): EVAL caches the script */
        c->retried = true;
        rl_send(c, true);
        return;
    }
    if (!c->answered) {
        if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5) {
            int64_t now = util_mono_ms();
            struct rl_slot *sl = rl_slot_of(c->rl, c->key_id, now);
            struct rl_result res = {
                .allowed = reply->element[0]->integer == 1,
                .retry_after_s = (reply->element[4]->integer + 999) / 1000,
            };
            sl->remote_left = reply->element[2]->integer;
            sl->full_at_ms = now + reply->element[3]->integer;
            if (res.allowed) {
                /* others may have spent what was held meanwhile: never below zero */
                sl->tokens += reply->element[1]->integer - c->cost;
                if (sl->tokens < 0)
                    sl->tokens = 0;
                sl->expires_ms = now + RL_LEASE_MS;
            } else if (res.retry_after_s < 1) {
                res.retry_after_s = 1;
            }
            rl_fill(sl, &res, now);
            c->answered = true;
            c->cb(c->arg, &res);
        } else {
            rl_fail_open(c);
        }
    }
    event_free(c->deadline);
    mem_free(c);
}

/* rl_call_drop: the ratelimit is freed with c's EVAL in flight: c's
 * request goes through uncounted, as when Redis is slow. */
static void rl_call_drop(void *arg) {
    struct rl_call *c = arg;
    if (!c->answered)
        rl_fail_open(c);
    event_free(c->deadline);
    mem_free(c);
}

static void rl_send(struct rl_call *c, bool full) {
    struct ratelimit *rl = c->rl;
    const char *argv[] = {full ? "EVAL" : "EVALSHA",
                          full ? rl_script : rl->sha,
                          "1",
                          c->key,
                          rl->rate,
                          rl->burst,
                          c->want,
                          c->need};
    req_scope_add_arg(&rl->reqs, rds_command(rl->app->rds, rl_reply, c, 8, argv, NULL),
                      rl_call_drop, c);
}

struct rl_gc {
    int64_t now;
    const char *stale[64];
    int n;
};

static void rl_gc_find(const char *key, void *val, void *arg) {
    struct rl_gc *g = arg;
    const struct rl_slot *sl = val;
    if (g->n < 64 && g->now - sl->used_ms > RL_IDLE_MS)
        g->stale[g->n++] = key;
}

/* rl_gc: forgets keys unused for RL_IDLE_MS (at most 64 per pass). */
static void rl_gc(struct ratelimit *rl, int64_t now) {
    rl->gc_ms = now;
    struct rl_gc g = {.now = now};
    hmap_each(rl->slots, rl_gc_find, &g);
    char keys[64][64];
    for (int i = 0; i < g.n; i++)
        snprintf(keys[i], sizeof(keys[i]), "%s", g.stale[i]);
    for (int i = 0; i < g.n; i++)
        mem_free(hmap_del(rl->slots, keys[i]));
}

void ratelimit_take(struct ratelimit *rl, const char *key_id, int64_t cost, rl_cb cb, void *arg) {
    int64_t now = util_mono_ms();
    if (now - rl->gc_ms >= RL_GC_EVERY_MS)
        rl_gc(rl, now);
    struct rl_slot *sl = rl_slot_of(rl, key_id, now);
    if (now >= sl->expires_ms)
        sl->tokens = 0;
    if (sl->tokens >= (cost > 0 ? cost : 1)) {
        /* answered from the lease: no round trip */
        sl->tokens -= cost;
        struct rl_result res = {.allowed = true};
        rl_fill(sl, &res, now);
        cb(arg, &res);
        return;
    }
    struct rl_call *c = mem_calloc(1, sizeof(*c));
    c->rl = rl;
    c->cb = cb;
    c->arg = arg;
    c->cost = cost;
    c->deadline = evtimer_new(rl->app->base, rl_deadline_cb, c);
    struct timeval tv = {0, RL_DEADLINE_MS * 1000};
    evtimer_add(c->deadline, &tv);
    snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
    snprintf(c->key, sizeof(c->key), "herald:rl:%s", key_id);
    /* lease a chunk, or at least what this request costs beyond what is held */
    int64_t need = cost > sl->tokens ? cost - sl->tokens : 1;
    snprintf(c->want, sizeof(c->want), "%lld", (long long)(need > rl->chunk ? need : rl->chunk));
    snprintf(c->need, sizeof(c->need), "%lld", (long long)need);
    rl_send(c, false);
}

uint64_t ratelimit_fail_open_total(const struct ratelimit *rl) {
    return rl->fail_open;
}

struct ratelimit *ratelimit_new(struct api_app *app) {
    struct ratelimit *rl = mem_calloc(1, sizeof(*rl));
    rl->app = app;
    rl->last_log_ms = -RL_LOG_EVERY_MS;
    uint8_t digest[20];
    SHA1((const unsigned char *)rl_script, strlen(rl_script), digest);
    crypto_hex(digest, sizeof(digest), rl->sha);
    snprintf(rl->rate, sizeof(rl->rate), "%d", app->cfg->rate_limit_per_sec);
    snprintf(rl->burst, sizeof(rl->burst), "%d", app->cfg->rate_limit_burst);
    /* a chunk is 10 ms of the rate, and at most an eighth of the burst, so
     * what replicas hold unspent stays a small part of the limit */
    int64_t chunk = app->cfg->rate_limit_per_sec / 100;
    if (chunk > app->cfg->rate_limit_burst / 8)
        chunk = app->cfg->rate_limit_burst / 8;
    rl->chunk = chunk < 1 ? 1 : chunk > RL_CHUNK_MAX ? RL_CHUNK_MAX : chunk;
    rl->slots = hmap_new();
    rl->gc_ms = util_mono_ms();
    return rl;
}

void ratelimit_free(struct ratelimit *rl) {
    if (!rl)
        return;
    req_scope_cancel(&rl->reqs);
    hmap_free_with(rl->slots, mem_free);
    mem_free(rl);
}
