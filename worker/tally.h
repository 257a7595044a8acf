/* tally: what a recorded outcome moves: the on-call page's series
 * (common/stats.c), the worker's Prometheus families and the delivery log. */
#ifndef HERALD_WORKER_TALLY_H
#define HERALD_WORKER_TALLY_H

#include "common/notif.h"
#include "worker/job.h"

struct metrics;
typedef struct stats stats;

struct tally {
    struct metrics *reg; /* borrowed; NULL: no Prometheus families */
    stats *st;           /* borrowed; NULL: no on-call series */
    enum notif_channel ch;
    const char *chname;
    char labels[32]; /* channel="..." */
};

void tally_init(struct tally *t, enum notif_channel ch);

/* tally_outcome: j's outcome was recorded at now_ms (PostgreSQL's clock):
 * sent, retried, failed, deferred, end to end and dwell (from due_ms, by
 * priority), and its log line. */
void tally_outcome(const struct tally *t, const struct job *j, int64_t now_ms);

/* tally_attempt: a transfer took elapsed_ms; tally_auth_failure: Herald's own
 * provider credentials were refused. */
void tally_attempt(const struct tally *t, int64_t elapsed_ms);
void tally_auth_failure(const struct tally *t);

#endif
