/* engine: the channel-independent delivery loop of one worker process:
 * stream entries in, leases claimed, one channel transfer per notification,
 * outcomes recorded in batches, entries acknowledged. */
#ifndef HERALD_WORKER_ENGINE_H
#define HERALD_WORKER_ENGINE_H

#include "common/db.h"
#include "common/notif.h"
#include "common/rds.h"
#include "worker/dlv.h"

#include <stdint.h>

struct event_base;
struct cfg;
typedef struct eng eng;

/* Counters for /metrics; totals since start unless noted. */
struct eng_metrics {
    uint64_t sent;          /* attempts that ended sent */
    uint64_t retried;       /* attempts that will be retried */
    uint64_t failed;        /* notifications dead-lettered */
    uint64_t reclaimed;     /* entries taken over from other consumers */
    uint64_t deferred;      /* claimed but given back unattempted (destination busy or open) */
    uint64_t auth_failures; /* attempts refused for Herald's own provider credentials */
    uint64_t lease_lost;    /* outcomes dropped because the lease had passed to another */
    int in_flight;          /* now: entries held, from read to acknowledgement */
    int circuits_open;      /* now: destinations whose circuit is open or half-open */
};

/* eng_new: starts reading ch's stream as consumer with up to concurrency
 * transfers in flight. cfg, d, rd, wr and ops are borrowed and must outlive
 * the engine; ops_state is the channel's init state (still the caller's).
 * rd carries only the blocking reads. Never blocks. */
eng *eng_new(struct event_base *base, const struct cfg *c, db *d, rds *rd, rds *wr,
             enum notif_channel ch, const struct dlv_ops *ops, void *ops_state,
             const char *consumer, int concurrency);

/* eng_drain: stops reading; done(arg) runs once every held entry has been
 * delivered, recorded and acknowledged (and the consumer has left the group). */
void eng_drain(eng *e, void (*done)(void *arg), void *arg);

/* eng_abandon: the grace is over: stops transfers and cancels every
 * statement and command in flight (no callback of the engine runs after).
 * Leases and unacknowledged entries are left to expire and be reclaimed. */
void eng_abandon(eng *e);

/* eng_set_metrics: from now on every recorded outcome also moves m's
 * herald_deliveries_total, herald_delivery_duration_seconds,
 * herald_end_to_end_seconds, herald_dwell_seconds, herald_retries_total,
 * herald_dead_letters_total
 * and herald_provider_auth_failures_total (families the caller defines). m is
 * borrowed and must outlive the engine. */
struct metrics;
void eng_set_metrics(eng *e, struct metrics *m);

/* eng_set_stats: from now on every recorded outcome is also counted in st
 * (sent, retried, failed and the dwell of what was sent: the on-call page's
 * series). st is borrowed and must outlive the engine. */
typedef struct stats stats;
void eng_set_stats(eng *e, stats *st);

/* eng_metrics: borrowed; valid until eng_free. */
const struct eng_metrics *eng_metrics(eng *e);

/* eng_free: after eng_abandon or a finished drain. */
void eng_free(eng *e);

#endif
