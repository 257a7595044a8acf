/* engine: the coordinator of a worker's delivery: stream entries become jobs
 * (worker/job.c), leases are claimed in batches, each destination admits or
 * hands back (worker/dest.c), transfers run (worker/xfer.c), the retry
 * decision is made (common/retry.c), outcomes are group-committed
 * (worker/record.c) and entries acknowledged. */
#include "worker/engine.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/retry.h"
#include "common/stats.h"
#include "common/stream.h"
#include "common/util.h"
#include "worker/claim.h"
#include "worker/consumer.h"
#include "worker/dest.h"
#include "worker/job.h"
#include "worker/record.h"
#include "worker/tally.h"
#include "worker/xfer.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define ENG_DB_RETRY_MS 1000     /* wait before repeating a failed claim or record */
#define ENG_HOLD_FACTOR 4        /* entries held at most: concurrency x this */
#define ENG_LEASE_MARGIN_MS 1000 /* a transfer must be able to end this long before its lease */
#define ENG_DEST_REFRESH_MS 1000 /* how often the shared circuits are read */

struct eng {
    struct event_base *base;
    const struct cfg *cfg;
    db *d;
    rds *wr;
    enum notif_channel ch;
    const char *chname;
    const struct dlv_ops *ops;
    void *ops_state;
    char *consumer;
    int concurrency;
    cons *k;
    xfer *x;
    dests *dests;
    rec *rec;
    struct jobs jobs;
    claims *claims;
    struct eng_metrics m;
    struct tally t;
    bool db_failing;
    bool draining, abandoned, drained;
    void (*drain_done)(void *);
    void *drain_arg;
    struct dlv_env env;    /* lent to the channel's attach */
    struct event *wake_ev; /* the channel called wake: retry the waiting jobs */
    bool detached;         /* the channel's detach ran */
};

static void job_send(eng *e, struct job *j);

void eng_set_metrics(eng *e, struct metrics *m) {
    e->t.reg = m;
}

void eng_set_stats(eng *e, stats *st) {
    e->t.st = st;
}

/* eng_lease_ms: how long a claim leases a row. A little less than the
 * visibility timeout: the entry's idle time (which XAUTOCLAIM goes by) started
 * when it was read, before the claim, so a lease as long as the visibility
 * timeout would still hold when another consumer reclaims the entry, and
 * that consumer would find nothing to claim and drop the entry. */
static int eng_lease_ms(const eng *e) {
    int v = e->cfg->visibility_timeout_ms;
    int margin = v / 10;
    if (margin < 50)
        margin = 50;
    if (margin > 2000)
        margin = 2000;
    return v - margin;
}

static void eng_db_status(void *arg, const struct db_result *r) {
    eng *e = arg;
    bool failing = r->status != DB_OK;
    if (failing && !e->db_failing)
        HLOG(HLOG_WARN, "worker.db_error",
             &(struct hlog_ctx){.channel = e->chname, .err = r->message},
             "database statement failed; retrying");
    else if (!failing && e->db_failing)
        HLOG(HLOG_INFO, "worker.db_recovered", &(struct hlog_ctx){.channel = e->chname},
             "database works again");
    e->db_failing = failing;
}

/* ---- drain ------------------------------------------------------------- */

static void eng_left_cb(void *arg) {
    eng *e = arg;
    if (e->drain_done)
        e->drain_done(e->drain_arg);
}

static void eng_drain_check(eng *e);

static void eng_idle_cb(void *arg) {
    eng_drain_check(arg);
}

/* eng_drain_check: once nothing is held or owed, leave the group; runs
 * whenever a job ends while draining, and when the consumer becomes idle. */
static void eng_drain_check(eng *e) {
    if (!e->draining || e->drained || e->abandoned || e->jobs.total > 0 || !rec_idle(e->rec))
        return;
    if (!cons_idle(e->k)) {
        cons_when_idle(e->k, eng_idle_cb, e);
        return;
    }
    e->drained = true;
    /* every entry of ours is acknowledged: leave the group's consumer list */
    cons_leave(e->k, eng_left_cb, e);
}

/* ---- job lifetime ------------------------------------------------------ */

static void job_release_attempt(eng *e, struct job *j) {
    if (j->req.easy) {
        xfer_cancel(e->x, j->req.easy); /* no-op unless still queued or running */
        curl_easy_cleanup(j->req.easy);
        j->req.easy = NULL;
    }
    if (j->res_valid && e->ops->release)
        e->ops->release(e->ops_state, &j->req);
    j->res_valid = false;
    curl_slist_free_all(j->req.headers);
    j->req.headers = NULL;
    mem_free(j->req.body);
    j->req.body = NULL;
    xfer_capture_free(&j->cap);
}

static void eng_job_free(eng *e, struct job *j) {
    job_release_attempt(e, j);
    job_free(j);
    e->m.in_flight = e->jobs.total;
}

/* job_done: acknowledges the entry and frees the job; room for another. */
static void job_done(eng *e, struct job *j) {
    cons_ack(e->k, j->entry_id);
    eng_job_free(e, j);
    if (e->draining)
        eng_drain_check(e);
    else
        cons_kick(e->k);
}

/* job_outcome: the outcome is decided; it waits for a record statement. */
static void job_outcome(eng *e, struct job *j) {
    job_set_state(j, JS_RECORDING);
    rec_add(e->rec, j);
    /* the transfer's slot is free now, though its outcome is still recorded */
    if (!e->draining)
        cons_kick(e->k);
}

/* job_decide: turns the channel's result into what is recorded. */
static void job_decide(eng *e, struct job *j) {
    const struct cfg *c = e->cfg;
    const struct dlv_result *r = &j->res;
    struct retry_policy pol = {c->max_attempts, c->retry_base_ms, c->retry_max_ms};
    struct retry_attempt a = {.sent = r->outcome == DLV_SENT,
                              .permanent = r->outcome == DLV_FAILED,
                              .auth_error = r->auth_error,
                              .attempts = j->attempts,
                              .budget_base = j->budget_base,
                              .retry_after_ms = r->retry_after_ms,
                              .factor = util_rand_range(0.5, 1.0)};
    struct retry_decision d = retry_decide(&pol, &a);
    static const enum ledger_kind kinds[] = {LK_SUCCESS, LK_RETRY, LK_FAILED};
    j->kind = kinds[d.verdict];
    j->counted = d.counted;
    j->delay_ms = d.delay_ms;
    if (r->auth_error) {
        e->m.auth_failures++;
        tally_auth_failure(&e->t);
    }
    job_outcome(e, j);
}

/* job_defer: hands the job back unattempted: its row is due again after
 * delay_ms, its attempts unchanged. */
static void job_defer(eng *e, struct job *j, int64_t delay_ms) {
    job_release_attempt(e, j);
    j->kind = LK_DEFER;
    j->counted = false;
    j->delay_ms = delay_ms;
    j->started_ms = util_now_ms();
    job_outcome(e, j);
}

static void job_xfer_cb(void *arg, CURLcode code, bool started) {
    struct job *j = arg;
    eng *e = j->owner;
    bool probe = j->probe;
    if (!started) {
        /* its host stayed busy too long for the lease: give it back unattempted */
        dest_cancel_probe(e->dests, j->req.host, probe);
        job_defer(e, j, 0);
        return;
    }
    int64_t now = util_now_ms();
    struct dlv_resp resp;
    xfer_answer(j->req.easy, &j->cap, code, now, &resp);
    j->res.retry_after_ms = -1;
    e->ops->classify(e->ops_state, &j->msg, &j->req, &resp, &j->res);
    dest_result(e->dests, j->req.host, probe, dest_failed(j->req.host, &resp), resp.elapsed_ms);
    j->started_ms = now - resp.elapsed_ms;
    j->duration_ms = (int)resp.elapsed_ms;
    tally_attempt(&e->t, resp.elapsed_ms);
    job_release_attempt(e, j);
    job_decide(e, j);
}

static void job_wait_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct job *j = arg;
    if (j->state == JS_WAITING)
        job_defer(j->owner, j, 0);
}

/* job_send: builds the channel's request and hands it to the transfer layer,
 * unless its destination hands it back. */
static void job_send(eng *e, struct job *j) {
    job_set_state(j, JS_SENDING);
    if (j->expires_ms && util_now_ms() >= j->expires_ms) {
        /* its deadline passed since the claim: never attempted; the sweeper expires it */
        job_defer(e, j, 0);
        return;
    }
    memset(&j->res, 0, sizeof(j->res));
    j->res.retry_after_ms = -1;
    j->probe = false;
    CURL *easy = xfer_easy(&j->cap, (long)e->cfg->delivery_timeout_ms);
    if (!easy) {
        j->res.outcome = DLV_RETRY;
        snprintf(j->res.error, sizeof(j->res.error), "out of memory starting a transfer");
        j->started_ms = util_now_ms();
        job_decide(e, j);
        return;
    }
    j->req.easy = easy;
    /* a transfer must be able to finish well before the lease ends */
    int64_t room = (int64_t)eng_lease_ms(e) - e->cfg->delivery_timeout_ms - ENG_LEASE_MARGIN_MS;
    if (room < eng_lease_ms(e) / 2)
        room = eng_lease_ms(e) / 2;
    j->res_valid = true;
    int prc = e->ops->prepare(e->ops_state, &j->msg, &j->req, &j->res);
    if (prc == DLV_WAIT) {
        job_release_attempt(e, j);
        job_set_state(j, JS_WAITING);
        int64_t left = j->leased_mono + room - util_mono_ms();
        if (left <= 0) {
            job_defer(e, j, 0);
            return;
        }
        if (!j->wait_ev)
            j->wait_ev = evtimer_new(e->base, job_wait_cb, j);
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
        evtimer_add(j->wait_ev, &tv);
        return;
    }
    if (prc < 0) {
        j->started_ms = util_now_ms();
        j->duration_ms = 0;
        job_release_attempt(e, j);
        job_decide(e, j);
        return;
    }
    int64_t delay = 0;
    int prio = notif_priority_parse(j->priority);
    struct xfer_turn turn = {prio < 0 ? PRIO_NORMAL : prio, j->tenant};
    enum dest_admit a = dest_admit(e->dests, j->req.host, &delay);
    void *gave_way = NULL;
    if (a == DEST_FULL && xfer_make_room(e->x, j->req.host, &turn, &gave_way)) {
        /* the newest of a busier tenant or a lower priority goes back instead */
        struct job *v = gave_way;
        if (v) {
            dest_cancel_probe(e->dests, v->req.host, v->probe);
            job_defer(e, v, delay);
        }
        a = DEST_GO;
    }
    if (a == DEST_HAND_BACK || a == DEST_FULL) {
        job_defer(e, j, delay);
        return;
    }
    j->probe = a == DEST_PROBE; /* the probe's result decides its circuit */
    xfer_start(e->x, easy, j->req.host, &turn, j->leased_mono + room, job_xfer_cb, j);
}

/* eng_wake: the channel's env->wake; the waiting jobs go again on the next turn. */
static void eng_wake(void *arg) {
    eng *e = arg;
    if (e->abandoned)
        return;
    struct timeval zero = {0, 0};
    evtimer_add(e->wake_ev, &zero);
}

static void eng_wake_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    eng *e = arg;
    /* take the list: job_send moves each job to another state's list (or
     * back to this one, where the new list collects it) */
    struct job *w = e->jobs.head[JS_WAITING];
    while (w) {
        struct job *next = w->next;
        evtimer_del(w->wait_ev);
        job_send(e, w);
        w = next;
    }
}

/* eng_detach: the channel stops its background work (once). */
static void eng_detach(eng *e) {
    if (e->detached)
        return;
    e->detached = true;
    if (e->ops->detach)
        e->ops->detach(e->ops_state);
}

/* eng_recorded: record's callback for each outcome written (or refused). */
static void eng_recorded(void *arg, struct job *j, bool recorded, int64_t now_ms) {
    eng *e = arg;
    if (!recorded) {
        e->m.lease_lost++;
        struct hlog_ctx ctx = job_ctx(j, e->chname);
        HLOG(HLOG_WARN, "delivery.lease_lost", &ctx,
             "the lease had passed to another consumer; outcome not recorded");
        job_done(e, j);
        return;
    }
    tally_outcome(&e->t, j, now_ms);
    switch (j->kind) {
    case LK_SUCCESS:
        e->m.sent++;
        break;
    case LK_RETRY:
        e->m.retried++;
        break;
    case LK_FAILED:
        e->m.failed++;
        stream_add_dlq(e->wr, e->ch, j->id, j->tenant, j->res.error, now_ms, e->cfg->retention_days,
                       NULL, NULL);
        break;
    case LK_DEFER:
        e->m.deferred++;
        break;
    }
    job_done(e, j);
}

/* ---- claims ------------------------------------------------------------ */

static void eng_claimed(void *arg, struct job *const *jobs, int n) {
    eng *e = arg;
    for (int i = 0; i < n; i++) {
        struct job *j = jobs[i];
        if (!job_claimed(j)) {
            /* final, cancelled, not due, or leased by another: nothing to do here */
            HLOG(HLOG_DEBUG, "delivery.skipped", &(struct hlog_ctx){.notif_id = j->id},
                 "entry needs no delivery now");
            job_done(e, j);
            continue;
        }
        job_send(e, j);
    }
    /* jobs that wait for a busy host leave their slot to others */
    if (!e->draining)
        cons_kick(e->k);
}

static void eng_claim_dropped(void *arg, struct job *const *jobs, int n) {
    eng *e = arg;
    for (int i = 0; i < n; i++)
        eng_job_free(e, jobs[i]);
    eng_drain_check(e);
}

static bool eng_claim_keep(void *arg) {
    eng *e = arg;
    return !e->draining;
}

/* ---- consumer hooks ---------------------------------------------------- */

static void eng_batch(void *arg, const struct cons_entry *ent, int n, bool reclaimed) {
    eng *e = arg;
    struct job **jobs = mem_calloc((size_t)(n > 0 ? n : 1), sizeof(struct job *));
    int m = 0;
    for (int i = 0; i < n; i++) {
        const char *nid = ent[i].notif_id;
        if (reclaimed) {
            e->m.reclaimed++;
            HLOG(HLOG_INFO, "delivery.reclaimed", &(struct hlog_ctx){.notif_id = nid},
                 "took over entry %s from a consumer that held it too long", ent[i].entry_id);
        }
        if (!nid || !util_uuid_valid(nid)) {
            HLOG(HLOG_WARN, "stream.bad_entry", &(struct hlog_ctx){.channel = e->chname},
                 "entry %s has no valid id field; dropped", ent[i].entry_id);
            cons_ack(e->k, ent[i].entry_id);
            continue;
        }
        struct job *j = job_new(&e->jobs, e, ent[i].entry_id, nid);
        if (!j) {
            /* a repeat of one we are working on: that job settles it */
            if (!job_holds_entry(&e->jobs, ent[i].entry_id))
                cons_ack(e->k, ent[i].entry_id);
            continue;
        }
        jobs[m++] = j;
    }
    e->m.in_flight = e->jobs.total;
    claim_jobs(e->claims, jobs, m);
    mem_free(jobs);
}

static int eng_capacity(void *arg) {
    eng *e = arg;
    if (e->draining)
        return 0;
    /* a slot is a transfer running or about to (claiming): a job waiting in
     * its host's short queue does not take a slot from other hosts, nor does
     * one whose outcome is being recorded, so slots never idle through a
     * commit; the number held overall stays bounded */
    int active = e->jobs.total - xfer_queued(e->x) - e->jobs.n[JS_RECORDING];
    int room = e->concurrency - active;
    int hold = e->concurrency * ENG_HOLD_FACTOR - e->jobs.total;
    return room < hold ? room : hold;
}

static bool eng_holds(void *arg, const char *entry_id) {
    eng *e = arg;
    return job_holds_entry(&e->jobs, entry_id);
}

/* ---- life cycle -------------------------------------------------------- */

eng *eng_new(struct event_base *base, const struct cfg *c, db *d, rds *rd, rds *wr,
             enum notif_channel ch, const struct dlv_ops *ops, void *ops_state,
             const char *consumer, int concurrency) {
    eng *e = mem_calloc(1, sizeof(*e));
    *e = (eng){.base = base,
               .cfg = c,
               .d = d,
               .wr = wr,
               .ch = ch,
               .chname = notif_channel_name(ch),
               .ops = ops,
               .ops_state = ops_state,
               .consumer = mem_strdup(consumer),
               .concurrency = concurrency};
    tally_init(&e->t, ch);
    jobs_init(&e->jobs);
    /* one destination holds at most half the transfers, so the others
     * always find slots (API.md, Isolation) */
    int host_limit = c->host_concurrency;
    if (concurrency >= 2 && host_limit > concurrency / 2)
        host_limit = concurrency / 2;
    e->x = xfer_new(base, host_limit);
    e->dests = dest_new(base, c, ch, wr, e->x, ENG_DEST_REFRESH_MS);
    static const struct claim_hooks claim_hooks = {.claimed = eng_claimed,
                                                   .dropped = eng_claim_dropped,
                                                   .keep = eng_claim_keep,
                                                   .db_status = eng_db_status};
    e->claims = claim_new(base, d, e->consumer, ch, eng_lease_ms(e), c->secret_grace_s,
                          ENG_DB_RETRY_MS, &claim_hooks, e);
    e->rec = rec_new(base, d, e->consumer, ENG_DB_RETRY_MS, eng_recorded, eng_db_status, e);
    e->wake_ev = evtimer_new(base, eng_wake_cb, e);
    e->env = (struct dlv_env){.base = base, .x = e->x, .wake = eng_wake, .wake_arg = e};
    if (ops->attach)
        ops->attach(ops_state, &e->env);
    static const struct cons_hooks hooks = {
        .batch = eng_batch, .capacity = eng_capacity, .holds = eng_holds};
    e->k = cons_new(base, rd, wr, ch, consumer, c, &hooks, e);
    return e;
}

void eng_drain(eng *e, void (*done)(void *arg), void *arg) {
    if (e->draining)
        return;
    e->draining = true;
    e->drain_done = done;
    e->drain_arg = arg;
    cons_stop(e->k);
    HLOG(HLOG_INFO, "worker.draining", &(struct hlog_ctx){.channel = e->chname},
         "stopped reading; finishing %d held entries", e->jobs.total);
    eng_drain_check(e);
}

/* eng_quiet: cancels what the engine's parts have in flight, so that no
 * claim, record, refresh or channel callback runs after it. */
static void eng_quiet(eng *e) {
    claim_abandon(e->claims);
    rec_abandon(e->rec);
    dest_stop(e->dests);
    eng_detach(e);
}

void eng_abandon(eng *e) {
    if (e->abandoned)
        return;
    e->abandoned = true;
    if (e->jobs.total > 0)
        HLOG(HLOG_WARN, "worker.abandoned", &(struct hlog_ctx){.channel = e->chname},
             "leaving %d entries to be reclaimed", e->jobs.total);
    cons_detach(e->k);
    for (int s = 0; s < JS_STATE_COUNT; s++)
        for (struct job *j = e->jobs.head[s]; j; j = j->next) {
            job_release_attempt(e, j);
            if (j->wait_ev)
                evtimer_del(j->wait_ev);
        }
    eng_quiet(e);
    evtimer_del(e->wake_ev);
}

const struct eng_metrics *eng_metrics(eng *e) {
    e->m.circuits_open = dest_open(e->dests);
    return &e->m;
}

void eng_free(eng *e) {
    if (!e)
        return;
    e->abandoned = true;
    for (int s = 0; s < JS_STATE_COUNT; s++)
        while (e->jobs.head[s])
            eng_job_free(e, e->jobs.head[s]);
    eng_quiet(e);
    claim_free(e->claims);
    rec_free(e->rec);
    dest_free(e->dests);
    event_free(e->wake_ev);
    xfer_free(e->x);
    cons_free(e->k);
    jobs_fini(&e->jobs);
    mem_free(e->consumer);
    mem_free(e);
}
