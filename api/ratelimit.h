/* ratelimit: a per-API-key token bucket held in Redis (one atomic script),
 * shared by every API replica. Fails open when Redis is down or slow. */
#ifndef HERALD_API_RATELIMIT_H
#define HERALD_API_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/app.h"

struct ratelimit;

struct rl_result {
    bool allowed;
    bool failed_open;      /* Redis did not answer in time: allowed without counting */
    int64_t remaining;     /* whole tokens left */
    int64_t reset_s;       /* seconds until the bucket is full again */
    int64_t retry_after_s; /* when refused: seconds until the cost fits */
};

/* ratelimit_new: caller frees with ratelimit_free(). */
struct ratelimit *ratelimit_new(struct api_app *app);
/* ratelimit_free: cancels the Redis calls in flight; their callers are let
 * through uncounted now, as when Redis does not answer in time. */
void ratelimit_free(struct ratelimit *rl);

typedef void (*rl_cb)(void *arg, const struct rl_result *res);

/* ratelimit_take: takes cost tokens from key_id's bucket (cost 0 only checks
 * that at least one token is left). Tokens are leased from Redis in chunks
 * (10 ms of the rate, at most an eighth of the burst, at most 1000) and spent
 * locally; a lease unspent after a second is dropped, so a replica never
 * lets through more than the shared bucket gave it. cb runs exactly once:
 * before ratelimit_take returns when the lease covers the cost, otherwise on
 * the loop within a short deadline (a late Redis answer is ignored). */
void ratelimit_take(struct ratelimit *rl, const char *key_id, int64_t cost, rl_cb cb, void *arg);

/* ratelimit_fail_open_total: requests let through because Redis did not answer. */
uint64_t ratelimit_fail_open_total(const struct ratelimit *rl);

#endif
