/* retry: the delivery retry schedule, provider Retry-After parsing and the decision after an
 * attempt; pure functions. */
#ifndef HERALD_COMMON_RETRY_H
#define HERALD_COMMON_RETRY_H

#include <stdbool.h>
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

/* What an attempt's answer leads to. */
enum retry_verdict {
    RETRY_DONE = 0, /* sent: nothing more to do */
    RETRY_AGAIN,    /* pending again after delay_ms */
    RETRY_GIVE_UP,  /* failed: a dead letter */
};

/* The settings retry_decide goes by (HERALD_MAX_ATTEMPTS, HERALD_RETRY_*). */
struct retry_policy {
    int max_attempts;
    int base_ms, max_ms;
};

/* One attempt's answer as retry_decide needs it. */
struct retry_attempt {
    bool sent;              /* the channel said sent */
    bool permanent;         /* the channel said failed for good */
    bool auth_error;        /* Herald's own provider credentials were refused: not counted */
    int attempts;           /* attempts counted before this one */
    int budget_base;        /* attempts counted before the budget was last reset */
    int64_t retry_after_ms; /* the provider's Retry-After; -1 none */
    double factor;          /* the random part of the backoff, in [0.5, 1] */
};

struct retry_decision {
    enum retry_verdict verdict;
    bool counted;     /* the attempt uses up one of max_attempts */
    int64_t delay_ms; /* RETRY_AGAIN: the wait before the next attempt */
};

/* retry_decide: what becomes of a notification after one attempt; pure. A
 * counted retryable failure that uses the last of max_attempts (counted from
 * budget_base) gives up; an uncounted one (auth_error) is always tried again. */
struct retry_decision retry_decide(const struct retry_policy *p, const struct retry_attempt *a);

#endif
