/* breaker: circuit breaker transitions and their shared text form. */
#include "common/breaker.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void brk_key(enum notif_channel ch, char *out) {
    snprintf(out, BRK_KEY_LEN, BRK_KEY_PREFIX "{%s}", notif_channel_name(ch));
}

enum brk_state brk_state(const struct brk *b, int64_t now_ms) {
    if (!b->opened)
        return BRK_CLOSED;
    return now_ms < b->open_until_ms ? BRK_OPEN : BRK_HALF_OPEN;
}

const char *brk_state_name(enum brk_state s) {
    return s == BRK_OPEN ? "open" : s == BRK_HALF_OPEN ? "half-open" : "closed";
}

enum brk_admit brk_admit(struct brk *b, int64_t now_ms, int64_t probe_wait_ms, int64_t *delay_ms) {
    switch (brk_state(b, now_ms)) {
    case BRK_CLOSED:
        return BRK_GO;
    case BRK_OPEN:
        *delay_ms = b->open_until_ms - now_ms;
        b->waiting++;
        return BRK_WAIT;
    case BRK_HALF_OPEN:
    default:
        if (!b->probing) {
            b->probing = true;
            return BRK_PROBE;
        }
        *delay_ms = probe_wait_ms > 0 ? probe_wait_ms : 1;
        b->waiting++;
        return BRK_WAIT;
    }
}

static void brk_open(struct brk *b, int64_t open_ms, int64_t now_ms) {
    if (!b->opened) {
        b->since_ms = now_ms;
        b->waiting = 0;
    }
    b->opened = true;
    b->open_ms = open_ms;
    b->open_until_ms = now_ms + open_ms;
    b->probing = false;
}

bool brk_result(struct brk *b, const struct brk_policy *p, bool failed, bool probe,
                int64_t now_ms) {
    if (probe) {
        b->probing = false;
        if (!failed) {
            *b = (struct brk){0};
            return true;
        }
        int64_t next = b->open_ms > 0 ? b->open_ms * 2 : p->open_ms;
        if (next > p->max_open_ms)
            next = p->max_open_ms;
        b->failures++;
        brk_open(b, next, now_ms);
        return true;
    }
    if (b->opened)
        return false; /* transfers started before it opened; only the probe decides */
    if (!failed) {
        b->failures = 0;
        return false;
    }
    if (++b->failures < p->failures)
        return false;
    brk_open(b, p->open_ms < p->max_open_ms ? p->open_ms : p->max_open_ms, now_ms);
    return true;
}

void brk_format(const struct brk *b, char *out, size_t n) {
    snprintf(out, n, "%d %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, b->failures, b->since_ms,
             b->open_until_ms, b->open_ms, b->waiting);
}

int brk_parse(const char *val, struct brk *b) {
    struct brk x = {.opened = true};
    int used = 0;
    if (!val ||
        sscanf(val, "%d %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 "%n", &x.failures,
               &x.since_ms, &x.open_until_ms, &x.open_ms, &x.waiting, &used) != 5 ||
        val[used] != '\0' || x.failures < 0 || x.open_ms < 0)
        return -1;
    *b = x;
    return 0;
}
