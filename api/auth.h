/* auth: API key checks with a short-lived cache in front of PostgreSQL. */
#ifndef HERALD_API_AUTH_H
#define HERALD_API_AUTH_H

#include "api/http_server.h"

struct auth;

/* auth_new: caller frees with auth_free(). Lookups are cached for at most
 * cfg->auth_cache_ms (<= 30 s), unknown key ids included, so a revoked key
 * stops working within that time and a flood of bad keys stays in memory. */
struct auth *auth_new(struct api_app *app);
void auth_free(struct auth *a);

/* status: 0 (a is filled, borrowed for the call), 401, or 503 (database
 * unreachable and nothing cached). */
typedef void (*auth_cb)(void *arg, int status, const struct api_auth *a);

/* auth_check: checks an Authorization header value (NULL if absent). cb runs
 * once, possibly before auth_check returns (cache hit or malformed key). */
void auth_check(struct auth *a, const char *header, auth_cb cb, void *arg);

#endif
