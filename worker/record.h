/* record: the group commit of attempt outcomes: jobs whose outcome is
 * decided queue here and are written by ledger_record, at most
 * REC_INFLIGHT statements at once, so outcomes gather into groups
 * (common/batch.c). */
#ifndef HERALD_WORKER_RECORD_H
#define HERALD_WORKER_RECORD_H

#include "common/db.h"
#include "worker/job.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;
typedef struct rec rec;

/* done: j's outcome was written (recorded true, now_ms PostgreSQL's clock),
 * or its row was no longer leased to us (recorded false). Called once per
 * rec_add, on the loop, never inside rec_add. */
typedef void (*rec_done_fn)(void *arg, struct job *j, bool recorded, int64_t now_ms);

/* rec_new: d and consumer are borrowed and must outlive rec. A failed
 * statement is repeated every retry_ms until it works; db_status(arg, r)
 * sees every statement's result (for logging). */
rec *rec_new(struct event_base *base, db *d, const char *consumer, int retry_ms, rec_done_fn done,
             void (*db_status)(void *arg, const struct db_result *r), void *arg);

/* rec_add: queues j's outcome (j->kind and the outcome fields). */
void rec_add(rec *r, struct job *j);

/* rec_idle: nothing queued and no statement in flight. */
bool rec_idle(const rec *r);

/* rec_abandon: cancels the statements in flight and forgets the queue: no
 * callback runs after it; the jobs stay their owner's. */
void rec_abandon(rec *r);

/* rec_free: rec_abandon, then frees r. */
void rec_free(rec *r);

#endif
