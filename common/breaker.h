/* breaker: a destination's circuit breaker, its transitions (pure functions)
 * and its form in Redis, shared by the worker that keeps it, the API's
 * GET /v1/admin/destinations and heraldctl destinations.
 *
 * Redis: one hash per channel, herald:breakers:{<channel>} (a hash tag, so
 * it may live beside the channel's other keys in a cluster), field the
 * destination, value "<failures> <since_ms> <open_until_ms> <open_ms>
 * <waiting>"; a closed circuit has no field. */
#ifndef HERALD_COMMON_BREAKER_H
#define HERALD_COMMON_BREAKER_H

#include "common/notif.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BRK_KEY_PREFIX "herald:breakers:"
#define BRK_KEY_LEN 48
#define BRK_VALUE_LEN 128

/* brk_key: ch's hash into out[BRK_KEY_LEN]. */
void brk_key(enum notif_channel ch, char *out);

enum brk_state { BRK_CLOSED = 0, BRK_OPEN, BRK_HALF_OPEN };

struct brk {
    bool opened;           /* open or half-open; else closed */
    int failures;          /* consecutive failures */
    int64_t since_ms;      /* wall clock: when it opened */
    int64_t open_until_ms; /* wall clock: the end of this open period */
    int64_t open_ms;       /* this open period's length */
    int64_t waiting;       /* notifications rescheduled while open */
    bool probing;          /* half-open: the probe is in flight (local only) */
};

struct brk_policy {
    int failures;        /* HERALD_BREAKER_FAILURES */
    int64_t open_ms;     /* HERALD_BREAKER_OPEN_MS */
    int64_t max_open_ms; /* HERALD_BREAKER_MAX_OPEN_MS */
};

/* brk_state: b's state at now_ms: open until its open period ends, then half-open. */
enum brk_state brk_state(const struct brk *b, int64_t now_ms);
const char *brk_state_name(enum brk_state s);

enum brk_admit { BRK_GO = 0, BRK_PROBE, BRK_WAIT };

/* brk_admit: whether a delivery may go at now_ms: BRK_GO (closed), BRK_PROBE
 * (half-open and no probe in flight: this one is, b->probing is set), or
 * BRK_WAIT with *delay_ms until the open period ends (while a probe is in
 * flight: probe_wait_ms). Counts the waiting ones. */
enum brk_admit brk_admit(struct brk *b, int64_t now_ms, int64_t probe_wait_ms, int64_t *delay_ms);

/* brk_result: a delivery ended at now_ms (probe: admitted as BRK_PROBE).
 * Returns true when b opened, closed or reopened (its shared form changed). */
bool brk_result(struct brk *b, const struct brk_policy *p, bool failed, bool probe, int64_t now_ms);

/* brk_format, brk_parse: the shared value; brk_parse returns -1 when val is
 * not one. A parsed circuit is opened. */
void brk_format(const struct brk *b, char *out, size_t n);
int brk_parse(const char *val, struct brk *b);

#endif
