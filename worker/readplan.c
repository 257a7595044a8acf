/* readplan: per-cycle read quotas over priorities and lanes (pure). */
#include "worker/readplan.h"

#include <string.h>

void readplan_init(struct readplan *p) {
    memset(p, 0, sizeof(*p));
    p->top = PRIO_HIGH;
}

void readplan_first(struct readplan *p, int cap, int lanes, struct readplan_ask ask[PRIO_COUNT]) {
    if (cap < 1)
        cap = 1;
    if (lanes < 1)
        lanes = 1;
    int floor_total = 0;
    int q[PRIO_COUNT] = {0};
    for (int pr = p->top + 1; pr < PRIO_COUNT; pr++) {
        int64_t owed = p->credit[pr] / (READPLAN_SHARE - 1);
        q[pr] = owed > 0 ? (int)(owed < cap ? owed : cap) : 0;
        floor_total += q[pr];
    }
    int rest = cap - floor_total;
    if (rest < 1)
        rest = 1;
    for (int pr = 0; pr < PRIO_COUNT; pr++) {
        if (pr < p->top)
            ask[pr].count = 1;
        else if (pr == p->top)
            ask[pr].count = (rest + lanes - 1) / lanes;
        else
            ask[pr].count = q[pr] > 0 ? (q[pr] + lanes - 1) / lanes : 0;
    }
}

/* readplan_accrue: n deliveries went to others than pr. */
static void readplan_accrue(struct readplan *p, int pr, int64_t others, int64_t own, int cap) {
    p->credit[pr] += others - own * (READPLAN_SHARE - 1);
    int64_t most = (int64_t)cap * (READPLAN_SHARE - 1);
    if (p->credit[pr] > most)
        p->credit[pr] = most;
}

void readplan_settle(struct readplan *p, int cap, const struct readplan_ask ask[PRIO_COUNT],
                     const int got[PRIO_COUNT]) {
    int total = 0;
    for (int pr = 0; pr < PRIO_COUNT; pr++)
        total += got[pr];
    int old_top = p->top;
    for (int pr = old_top + 1; pr < PRIO_COUNT; pr++) {
        if (ask[pr].count > 0 && got[pr] == 0)
            p->credit[pr] = 0; /* asked and found nothing: no floor owed */
        else
            readplan_accrue(p, pr, total - got[pr], got[pr], cap);
    }
    p->top = PRIO_HIGH;
    for (int pr = 0; pr < PRIO_COUNT; pr++) {
        if (got[pr] > 0) {
            p->top = pr;
            break;
        }
    }
    /* top and the priorities above it owe nothing; the ones below keep their credit */
    for (int pr = 0; pr <= p->top; pr++)
        p->credit[pr] = 0;
}

void readplan_filled(struct readplan *p, int cap, int prio, int n) {
    for (int pr = p->top + 1; pr < PRIO_COUNT; pr++)
        if (pr != prio)
            readplan_accrue(p, pr, n, 0, cap);
}

int readplan_fill(int rest, const int full[PRIO_COUNT], int *count) {
    *count = 0;
    if (rest <= 0)
        return -1;
    for (int pr = 0; pr < PRIO_COUNT; pr++) {
        if (full[pr] > 0) {
            *count = (rest + full[pr] - 1) / full[pr];
            return pr;
        }
    }
    return -1;
}
