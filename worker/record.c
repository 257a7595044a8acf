/* record: outcome groups (common/batch.c) written by ledger_record, retried until they work. */
#include "worker/record.h"
#include "common/batch.h"
#include "common/mem.h"
#include "common/req.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define REC_BATCH 500  /* outcomes per statement */
#define REC_INFLIGHT 2 /* statements at once; outcomes wait for the next */

#define REC_JOB(bi) ((struct job *)((char *)(bi)-offsetof(struct job, rlink)))

struct rec {
    db *d;
    const char *consumer;
    rec_done_fn done;
    void (*db_status)(void *arg, const struct db_result *r);
    void *arg;
    batch_queue *q;
    struct req_scope reqs; /* record statements not yet answered */
};

void rec_add(rec *r, struct job *j) {
    j->rlink.weight = 1;
    batch_add(r->q, &j->rlink);
}

static void rec_cb(void *arg, const struct db_result *res) {
    struct batch_group *g = arg;
    rec *r = g->data;
    if (r->db_status)
        r->db_status(r->arg, res);
    if (res->status != DB_OK) {
        /* kept until it works: the lease keeps others off meanwhile, and if it
         * passed, the conditional update simply finds nothing */
        batch_group_retry(g);
        return;
    }
    hmap *found = hmap_new(); /* id -> now_ms text */
    int rows = PQntuples(res->res);
    for (int k = 0; k < rows; k++)
        hmap_put(found, db_get(res->res, k, LR_ID), (void *)db_get(res->res, k, LR_NOW_MS));
    /* done may free jobs: take the list first */
    struct batch_list items = g->items;
    g->items = (struct batch_list){0};
    batch_group_done(g);
    for (struct batch_item *bi = batch_list_pop(&items); bi; bi = batch_list_pop(&items)) {
        struct job *j = REC_JOB(bi);
        const char *at = hmap_get(found, j->id);
        r->done(r->arg, j, at != NULL, at ? strtoll(at, NULL, 10) : 0);
    }
    hmap_free(found);
}

/* rec_send: one record statement for a group of outcomes (group commit:
 * while REC_INFLIGHT statements run, outcomes gather for the next one
 * instead of each paying a commit of its own). */
static void rec_send(void *arg, struct batch_group *g) {
    rec *r = arg;
    g->data = r;
    struct ledger_outcome *o = mem_calloc(g->items.count ? g->items.count : 1, sizeof(*o));
    int n = 0;
    for (struct batch_item *bi = g->items.head; bi; bi = bi->next) {
        struct job *j = REC_JOB(bi);
        o[n++] = (struct ledger_outcome){
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
    req_scope_add(&r->reqs, ledger_record(r->d, r->consumer, o, n, rec_cb, g));
    mem_free(o);
}

bool rec_idle(const rec *r) {
    return r->q == NULL || batch_weight(r->q) == 0;
}

rec *rec_new(struct event_base *base, db *d, const char *consumer, int retry_ms, rec_done_fn done,
             void (*db_status)(void *arg, const struct db_result *r), void *arg) {
    rec *r = mem_calloc(1, sizeof(*r));
    *r = (rec){.d = d, .consumer = consumer, .done = done, .db_status = db_status, .arg = arg};
    struct batch_cfg bc = {.max_inflight = REC_INFLIGHT,
                           .max_weight = REC_BATCH,
                           .retry_ms = retry_ms,
                           .send = rec_send,
                           .arg = r};
    r->q = batch_queue_new(base, &bc);
    return r;
}

void rec_abandon(rec *r) {
    /* no statement's callback runs from now on; the jobs stay their owner's */
    req_scope_cancel(&r->reqs);
    if (r->q)
        batch_queue_free(r->q, NULL, NULL);
    r->q = NULL;
}

void rec_free(rec *r) {
    if (!r)
        return;
    rec_abandon(r);
    mem_free(r);
}
