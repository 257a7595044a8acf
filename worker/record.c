/* record: outcome batches written by ledger_record, retried until they work. */
#include "worker/record.h"
#include "common/mem.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define REC_BATCH 500  /* outcomes per statement */
#define REC_INFLIGHT 2 /* statements at once; outcomes wait for the next */

struct rec_batch {
    rec *r;
    struct job **jobs;
    int n;
    struct event *retry;
    struct rec_batch *prev, *next;
};

struct rec {
    struct event_base *base;
    db *d;
    const char *consumer;
    int retry_ms;
    rec_done_fn done;
    void (*db_status)(void *arg, const struct db_result *r);
    void *arg;
    struct job **q; /* waiting for a statement */
    int nq, capq;
    int inflight; /* statements sent and not answered */
    struct event *flush;
    struct rec_batch *batches;
    bool abandoned;
};

static void rec_send(struct rec_batch *b);

static void rec_batch_free(struct rec_batch *b) {
    rec *r = b->r;
    if (b->prev)
        b->prev->next = b->next;
    else
        r->batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (b->retry)
        event_free(b->retry);
    mem_free(b->jobs);
    mem_free(b);
}

static void rec_flush_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rec *r = arg;
    /* group commit: while REC_INFLIGHT statements run, outcomes gather for
     * the next one instead of each paying a commit of its own */
    while (r->nq > 0 && r->inflight < REC_INFLIGHT) {
        int n = r->nq < REC_BATCH ? r->nq : REC_BATCH;
        struct rec_batch *b = mem_calloc(1, sizeof(*b));
        b->r = r;
        b->jobs = mem_calloc((size_t)n, sizeof(struct job *));
        memcpy(b->jobs, r->q, (size_t)n * sizeof(struct job *));
        b->n = n;
        memmove(r->q, r->q + n, (size_t)(r->nq - n) * sizeof(struct job *));
        r->nq -= n;
        b->next = r->batches;
        if (r->batches)
            r->batches->prev = b;
        r->batches = b;
        rec_send(b);
    }
}

static void rec_flush_soon(rec *r) {
    if (r->nq > 0 && !r->abandoned && !evtimer_pending(r->flush, NULL)) {
        struct timeval zero = {0, 0};
        evtimer_add(r->flush, &zero);
    }
}

void rec_add(rec *r, struct job *j) {
    if (r->nq == r->capq) {
        r->capq = r->capq ? r->capq * 2 : 64;
        r->q = mem_realloc(r->q, (size_t)r->capq * sizeof(struct job *));
    }
    r->q[r->nq++] = j;
    rec_flush_soon(r);
}

static void rec_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rec_send(arg);
}

static void rec_cb(void *arg, const struct db_result *res) {
    struct rec_batch *b = arg;
    rec *r = b->r;
    r->inflight--;
    if (r->abandoned) {
        rec_batch_free(b); /* the jobs are the engine's to free */
        return;
    }
    rec_flush_soon(r);
    if (r->db_status)
        r->db_status(r->arg, res);
    if (res->status != DB_OK) {
        /* kept until it works: the lease keeps others off meanwhile, and if it
         * passed, the conditional update simply finds nothing */
        if (!b->retry)
            b->retry = evtimer_new(r->base, rec_retry_cb, b);
        struct timeval tv = {r->retry_ms / 1000, (r->retry_ms % 1000) * 1000};
        evtimer_add(b->retry, &tv);
        return;
    }
    int rows = PQntuples(res->res);
    int64_t *at = mem_calloc((size_t)b->n, sizeof(int64_t));
    bool *found = mem_calloc((size_t)b->n, sizeof(bool));
    hmap *pos = hmap_new();
    for (int i = 0; i < b->n; i++)
        hmap_put(pos, b->jobs[i]->id, &found[i]);
    for (int k = 0; k < rows; k++) {
        bool *f = hmap_get(pos, db_get(res->res, k, LR_ID));
        if (f) {
            *f = true;
            at[f - found] = strtoll(db_get(res->res, k, LR_NOW_MS), NULL, 10);
        }
    }
    hmap_free(pos);
    /* done may free jobs: the batch's copy of the list stays valid */
    for (int i = 0; i < b->n; i++)
        r->done(r->arg, b->jobs[i], found[i], at[i]);
    mem_free(at);
    mem_free(found);
    rec_batch_free(b);
}

static void rec_send(struct rec_batch *b) {
    rec *r = b->r;
    struct ledger_outcome *o = mem_calloc((size_t)b->n, sizeof(*o));
    for (int i = 0; i < b->n; i++) {
        struct job *j = b->jobs[i];
        o[i] = (struct ledger_outcome){
            .id = j->id,
            .kind = j->kind,
            .attempt_no = j->attempts + 1,
            .counted = j->counted && j->kind != LK_DEFER,
            .delay_ms = j->delay_ms,
            .started_ms = j->started_ms,
            .duration_ms = j->duration_ms,
            .status_code = j->res.status_code,
            .error = j->kind == LK_SUCCESS || !j->res.error[0] ? NULL : j->res.error,
            .provider_ref = j->res.provider_ref[0] ? j->res.provider_ref : NULL,
        };
    }
    r->inflight++;
    ledger_record(r->d, r->consumer, o, b->n, rec_cb, b);
    mem_free(o);
}

bool rec_idle(const rec *r) {
    return r->nq == 0 && r->batches == NULL;
}

rec *rec_new(struct event_base *base, db *d, const char *consumer, int retry_ms, rec_done_fn done,
             void (*db_status)(void *arg, const struct db_result *r), void *arg) {
    rec *r = mem_calloc(1, sizeof(*r));
    r->base = base;
    r->d = d;
    r->consumer = consumer;
    r->retry_ms = retry_ms;
    r->done = done;
    r->db_status = db_status;
    r->arg = arg;
    r->flush = evtimer_new(base, rec_flush_cb, r);
    return r;
}

void rec_abandon(rec *r) {
    r->abandoned = true;
    evtimer_del(r->flush);
    for (struct rec_batch *b = r->batches; b; b = b->next)
        if (b->retry)
            evtimer_del(b->retry);
}

void rec_free(rec *r) {
    if (!r)
        return;
    while (r->batches)
        rec_batch_free(r->batches);
    mem_free(r->q);
    event_free(r->flush);
    mem_free(r);
}
