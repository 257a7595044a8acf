/* sweep: puts committed notifications that no stream holds into their
 * channel's stream: scheduled rows that became due, rows whose XADD failed,
 * and orphans (an entry lost with Redis's data, or acknowledged by a consumer
 * that then died). Run by the API and by every worker; safe to run anywhere
 * at once (rows are picked with FOR UPDATE SKIP LOCKED). */
#ifndef HERALD_COMMON_SWEEP_H
#define HERALD_COMMON_SWEEP_H

#include "common/db.h"
#include "common/rds.h"

#include <stdint.h>

struct event_base;
struct cfg;
typedef struct sweep sweep;

/* What one cycle does, every HERALD_SWEEP_INTERVAL_MS:
 *  1. scheduled: pending rows with in_stream = false, due, not leased, oldest
 *     due first, 500 at a time: set in_stream, XADD each (a failed XADD sets
 *     in_stream back to false).
 *  2. orphans, per channel: pending rows with in_stream, due, not leased,
 *     enqueued before a cutoff: XADD again and set enqueued_at. The cutoff
 *     keeps a legitimately waiting backlog from being duplicated: with the
 *     group's lag at 0 (or no stream at all) it is now - HERALD_SWEEP_GRACE_MS;
 *     otherwise the earlier of that and the time of the group's
 *     last-delivered entry (less a second for clock skew), since entries
 *     added after it are still waiting to be read. A stream with entries and
 *     no group is skipped until a worker creates the group.
 * Never blocks; steps are skipped while PostgreSQL or Redis is down. */

/* sweep_start: starts the periodic cycle on base. d, r and c are borrowed and
 * must outlive the sweep; svc names the process in logs ("api", "worker").
 * Stop it with sweep_stop(). */
sweep *sweep_start(struct event_base *base, db *d, rds *r, const struct cfg *c, const char *svc);

/* sweep_channels_mask: which channels this sweep covers, bit (1u << channel);
 * all by default. A worker sweeps its own channel. */
void sweep_channels_mask(sweep *s, unsigned mask);

/* sweep_cutoff_ms: the orphan step's cutoff for one channel (wall clock,
 * ms): rows enqueued before it whose entry no stream holds are enqueued
 * again. lag is the group's (-1: Redis cannot tell), last_delivered_ms the
 * time part of its last-delivered-id (-1: none). With no backlog, rows
 * older than the grace; with one, only rows enqueued before the last entry
 * handed out (less the clock skew margin) can have lost theirs. -1: skip the
 * channel this cycle. stream_orphan_cutoff's rule, for one stream. */
int64_t sweep_cutoff_ms(long long lag, int64_t last_delivered_ms, int64_t now_ms, int grace_ms);

/* sweep_stop: frees s now; the cycle in progress is cancelled (none of its
 * callbacks runs after). NULL is fine. */
void sweep_stop(sweep *s);

#endif
