/* retention: purges what HERALD_RETENTION_DAYS no longer keeps, in small
 * batches that never hold locks for long: final notifications and their
 * attempts, early SMS receipts, and idempotency keys older than 24 h. */
#ifndef HERALD_API_RETENTION_H
#define HERALD_API_RETENTION_H

#include <stdint.h>

#include "common/db.h"

struct event_base;
struct cfg;
typedef struct retention retention;

/* retention_start: runs every HERALD_RETENTION_INTERVAL_MS, and again at once
 * while a batch came back full. Safe in every replica at once (rows are
 * picked with FOR UPDATE SKIP LOCKED). d and c are borrowed. Stop it with
 * retention_stop() before db_close(). */
retention *retention_start(struct event_base *base, db *d, const struct cfg *c);
void retention_stop(retention *r);
/* retention_purged_total: notifications purged by this process. */
uint64_t retention_purged_total(const retention *r);

#endif
