/* readplan: the pure decisions of a consumer's reads: how many entries to ask
 * of each priority's lanes so that high goes before normal before low, a
 * lower priority with work still gets one delivery in ten, and lanes
 * (tenants) take turns. No I/O: the consumer sends what it says. */
#ifndef HERALD_WORKER_READPLAN_H
#define HERALD_WORKER_READPLAN_H

#include "common/notif.h"

#include <stdbool.h>
#include <stdint.h>

#define READPLAN_SHARE 10 /* a lower priority with work: at least one delivery in this many */

/* A cycle reads in up to two rounds. The first asks, for cap free slots:
 *   - priorities above top (the highest that had work last cycle): one entry
 *     of every lane (they had none; if they have some now, they take over);
 *   - top: every lane, the slots left over divided by the lanes (so each
 *     lane, each tenant, gets its turn before any gets a second helping);
 *   - priorities below top: their floor, kept as a credit: each delivery of
 *     another priority adds one, each of its own costs READPLAN_SHARE - 1,
 *     and READPLAN_SHARE - 1 of credit owes it a slot; asked of every lane,
 *     so more than owed (several busy lanes) is a debt that the next cycles
 *     repay: over time the share is exact, whatever the cycle's size.
 * The second round (readplan_fill) gives the slots still free to the lanes
 * that gave all they were asked for, highest priority first. When the first
 * round found nothing, the consumer blocks on every stream for one entry. */
struct readplan {
    int top;                    /* enum notif_priority */
    int64_t credit[PRIO_COUNT]; /* owed to a priority below top (see above) */
};

/* One XREADGROUP of a round: count entries of each lane of priority prio. */
struct readplan_ask {
    int count; /* per lane; 0: not read this round */
};

void readplan_init(struct readplan *p);

/* readplan_first: the first round's count per lane for each priority, for
 * cap (> 0) free slots with lanes lanes. */
void readplan_first(struct readplan *p, int cap, int lanes, struct readplan_ask ask[PRIO_COUNT]);

/* readplan_settle: after the first round: got[p] entries came from priority p. */
void readplan_settle(struct readplan *p, int cap, const struct readplan_ask ask[PRIO_COUNT],
                     const int got[PRIO_COUNT]);

/* readplan_filled: the second round handed n entries of priority prio. */
void readplan_filled(struct readplan *p, int cap, int prio, int n);

/* readplan_fill: the second round: rest free slots; full[p] lanes of
 * priority p returned all they were asked. Returns the priority whose full
 * lanes are read again (*count each), or -1 for none. */
int readplan_fill(int rest, const int full[PRIO_COUNT], int *count);

#endif
