/* retention: lets go of what HERALD_RETENTION_DAYS no longer keeps: whole partitions of
 * notifications and their attempts (detached, then dropped), and, in small batches,
 * idempotency keys older than 24 h and early SMS receipts older than the window. */
#ifndef HERALD_API_RETENTION_H
#define HERALD_API_RETENTION_H

#include <stdint.h>

#include "common/db.h"

struct event_base;
struct cfg;
typedef struct retention retention;

/* retention_start: runs every HERALD_RETENTION_INTERVAL_MS, and again at once while
 * there was more to do (a partition went, or a batch came back full). Safe in every
 * replica at once. A partition goes when its upper bound is older than the window and
 * none of its notifications is pending (schema/006, herald_partitions_detach): so a
 * notification is kept at least the window after it was created, and while it is
 * pending. d and c are borrowed. retention_stop() frees it, cancelling a statement in
 * flight. */
retention *retention_start(struct event_base *base, db *d, const struct cfg *c);
void retention_stop(retention *r);
/* retention_partitions_dropped: partitions (of every table) this process dropped. */
uint64_t retention_partitions_dropped(const retention *r);

#endif
