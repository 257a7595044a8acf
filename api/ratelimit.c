/* ratelimit: token bucket in a Redis hash, refilled continuously at
 * HERALD_RATE_LIMIT_PER_SEC up to HERALD_RATE_LIMIT_BURST. */
#include "api/ratelimit.h"
#include "common/config.h"
#include "common/crypto.h"
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

/* KEYS[1] bucket; ARGV rate/s, burst, cost. Returns {allowed, tokens, ms to
 * full, ms until cost fits}. Redis's clock is used so replicas agree. */
static const char rl_script[] =
    "local rate = tonumber(ARGV[1]) local burst = tonumber(ARGV[2]) "
    "local cost = tonumber(ARGV[3]) "
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local v = redis.call('HMGET', KEYS[1], 't', 'ts') "
    "local tokens = tonumber(v[1]) local ts = tonumber(v[2]) "
    "if tokens == nil or ts == nil then tokens = burst ts = now end "
    "if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end "
    "local need = cost if need < 1 then need = 1 end "
    "local ok = 0 local wait = 0 "
    "if tokens >= need then tokens = tokens - cost ok = 1 "
    "else wait = math.ceil((need - tokens) * 1000 / rate) end "
    "redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now)) "
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000) "
    "return {ok, math.floor(tokens), math.ceil((burst - tokens) * 1000 / rate), wait}";

struct ratelimit {
    struct api_app *app;
    uint64_t fail_open;
    int64_t last_log_ms;
    char sha[41]; /* SHA-1 of rl_script, for EVALSHA */
    char rate[24], burst[24];
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
    char key[96], cost[24];
};

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
        if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4) {
            struct rl_result res = {
                .allowed = reply->element[0]->integer == 1,
                .remaining = reply->element[1]->integer,
                .reset_s = (reply->element[2]->integer + 999) / 1000,
                .retry_after_s = (reply->element[3]->integer + 999) / 1000,
            };
            if (res.retry_after_s < 1 && !res.allowed)
                res.retry_after_s = 1;
            c->answered = true;
            c->cb(c->arg, &res);
        } else {
            rl_fail_open(c);
        }
    }
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
                          c->cost};
    rds_command(rl->app->rds, rl_reply, c, 7, argv, NULL);
}

void ratelimit_take(struct ratelimit *rl, const char *key_id, int64_t cost, rl_cb cb, void *arg) {
    struct rl_call *c = mem_calloc(1, sizeof(*c));
    c->rl = rl;
    c->cb = cb;
    c->arg = arg;
    c->deadline = evtimer_new(rl->app->base, rl_deadline_cb, c);
    struct timeval tv = {0, RL_DEADLINE_MS * 1000};
    evtimer_add(c->deadline, &tv);
    snprintf(c->key, sizeof(c->key), "herald:rl:%s", key_id);
    snprintf(c->cost, sizeof(c->cost), "%lld", (long long)cost);
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
    return rl;
}

void ratelimit_free(struct ratelimit *rl) {
    mem_free(rl);
}
