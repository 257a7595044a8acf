/* auth: API key checks with a short-lived cache in front of PostgreSQL. */
#ifndef HERALD_API_AUTH_H
#define HERALD_API_AUTH_H

#include "api/api.h"

struct auth;

/* auth_new: caller frees with auth_free(). Lookups are cached for at most
 * cfg->auth_cache_ms (<= 30 s), unknown key ids included, so a revoked key
 * stops working within that time and a flood of bad keys stays in memory.
 * Failed authentications are counted per client address, in a bucket of
 * 10 x cfg->auth_failures_per_sec refilled at that rate: while an address
 * has none left, its requests are refused (429) without a database lookup,
 * unless they carry a key already known to be good. */
struct auth *auth_new(struct api_app *app);
/* auth_free: cancels the lookups in flight; their callers get 503 now. */
void auth_free(struct auth *a);

/* status: 0 (a is filled, borrowed for the call), 401, 429 (too many failed
 * authentications from this address; retry_after_s says when one more is
 * allowed), or 503 (database unreachable and nothing cached). */
typedef void (*auth_cb)(void *arg, int status, const struct api_auth *a, int retry_after_s);

/* auth_check: checks an Authorization header value (NULL if absent) sent
 * from peer (the client's address, or "" when unknown; borrowed for the
 * call). cb runs once, possibly before auth_check returns (cache hit,
 * malformed key, refused address). */
void auth_check(struct auth *a, const char *header, const char *peer, auth_cb cb, void *arg);

/* auth_lookups_total: key lookups that went to PostgreSQL. */
uint64_t auth_lookups_total(const struct auth *a);

#endif
