/* retry: the delivery retry schedule and provider Retry-After parsing; pure functions. */
#ifndef HERALD_WORKER_RETRY_H
#define HERALD_WORKER_RETRY_H

#include <stdint.h>

#define RETRY_AFTER_MAX_MS (24LL * 3600 * 1000) /* a provider's Retry-After is capped here */

/* retry_backoff_ms: the wait after attempt n (1-based) failed:
 * min(max_ms, base_ms * 4^(n-1)) * factor, where factor is the random part,
 * uniform in [0.5, 1] (clamped into that range). n < 1 counts as 1. Never
 * overflows; the result is at least 1. */
int64_t retry_backoff_ms(int n, int base_ms, int max_ms, double factor);

/* retry_after_parse: a Retry-After header value, either delta-seconds
 * ("120") or an HTTP date (IMF-fixdate, RFC 850 or asctime form), relative to
 * now_ms (wall clock, ms since the epoch). Returns the wait in ms (0 for a date
 * in the past), or -1 when value is not one of those forms. value is the
 * header value without the name; surrounding blanks are ignored. */
int64_t retry_after_parse(const char *value, int64_t now_ms);

/* retry_delay_ms: the wait before the next attempt after attempt n failed.
 * retry_after_ms >= 0 (a provider's Retry-After) replaces the computed wait
 * and is clamped to [base_ms, RETRY_AFTER_MAX_MS]; retry_after_ms < 0 means
 * none, and retry_backoff_ms(n, base_ms, max_ms, factor) applies. */
int64_t retry_delay_ms(int n, int base_ms, int max_ms, int64_t retry_after_ms, double factor);

#endif
