/* claim: leases for the jobs read together, claimed by one ledger_claim
 * statement, repeated until it works (or dropped while draining). */
#ifndef HERALD_WORKER_CLAIM_H
#define HERALD_WORKER_CLAIM_H

#include "common/db.h"
#include "common/notif.h"
#include "worker/job.h"

#include <stdbool.h>

struct event_base;
typedef struct claims claims;

struct claim_hooks {
    /* claimed: the statement answered; each job that got its row is
     * job_claimed(), the others need no delivery now. */
    void (*claimed)(void *arg, struct job *const *jobs, int n);
    /* dropped: the statement failed while keep() said no: the jobs are
     * not ours; the owner frees them without acknowledging. */
    void (*dropped)(void *arg, struct job *const *jobs, int n);
    /* keep: whether to repeat a failed statement (false while draining). */
    bool (*keep)(void *arg);
    /* db_status: every statement's result (for logging). */
    void (*db_status)(void *arg, const struct db_result *r);
};

/* claim_new: d, consumer and hooks are borrowed and must outlive the module. */
claims *claim_new(struct event_base *base, db *d, const char *consumer, enum notif_channel ch,
                  int lease_ms, int secret_grace_s, int retry_ms, const struct claim_hooks *hooks,
                  void *arg);

/* claim_jobs: claims the n jobs (the list is copied); hooks answer later. */
void claim_jobs(claims *c, struct job *const *jobs, int n);

/* claim_abandon: cancels the statements in flight: no hook runs after it. */
void claim_abandon(claims *c);
/* claim_free: cancels what is left and frees c (the jobs are the owner's). */
void claim_free(claims *c);

#endif
