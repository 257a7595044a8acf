/* claim: claim statements in flight, their retries and their answers. */
#include "worker/claim.h"
#include "common/list.h"
#include "common/mem.h"
#include "common/req.h"
#include "common/util.h"
#include "worker/ledger.h"

#include <event2/event.h>
#include <string.h>

/* A claim statement in flight (or waiting to be repeated). */
struct claim {
    claims *c;
    struct job **jobs;
    int n;
    struct event *retry;
    struct claim *prev, *next;
};

struct claims {
    struct event_base *base;
    db *d;
    const char *consumer;
    enum notif_channel ch;
    int lease_ms, secret_grace_s, retry_ms;
    const struct claim_hooks *hooks;
    void *arg;
    struct claim *list;
    struct req_scope reqs; /* claim statements not yet answered */
    bool abandoned;
};

static void claim_send(struct claim *b);

static void claim_drop(struct claim *b) {
    claims *c = b->c;
    LIST_UNLINK(c->list, b);
    if (b->retry)
        event_free(b->retry);
    mem_free(b->jobs);
    mem_free(b);
}

static void claim_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    claim_send(arg);
}

static void claim_cb(void *arg, const struct db_result *r) {
    struct claim *b = arg;
    claims *c = b->c;
    if (c->abandoned) {
        claim_drop(b);
        return;
    }
    c->hooks->db_status(c->arg, r);
    if (r->status != DB_OK) {
        if (!c->hooks->keep(c->arg)) {
            /* not ours yet: leave the entries to be reclaimed */
            c->hooks->dropped(c->arg, b->jobs, b->n);
            claim_drop(b);
            return;
        }
        if (!b->retry)
            b->retry = evtimer_new(c->base, claim_retry_cb, b);
        struct timeval tv = {c->retry_ms / 1000, (c->retry_ms % 1000) * 1000};
        evtimer_add(b->retry, &tv);
        return;
    }
    int rows = PQntuples(r->res);
    int64_t now = util_mono_ms();
    for (int k = 0; k < rows; k++) {
        struct job *j = job_find(b->jobs[0]->set, db_get(r->res, k, LC_ID));
        if (j && j->state == JS_CLAIMING && !job_claimed(j))
            job_take_row(j, r->res, k, now);
    }
    /* the hook may free jobs: the list is ours */
    struct claim copy = *b;
    b->jobs = NULL;
    claim_drop(b);
    c->hooks->claimed(c->arg, copy.jobs, copy.n);
    mem_free(copy.jobs);
}

static void claim_send(struct claim *b) {
    claims *c = b->c;
    const char **ids = mem_calloc((size_t)b->n, sizeof(char *));
    for (int i = 0; i < b->n; i++)
        ids[i] = b->jobs[i]->id;
    req_scope_add(&c->reqs, ledger_claim(c->d, c->consumer, c->ch, ids, b->n, c->lease_ms,
                                         c->secret_grace_s, claim_cb, b));
    mem_free(ids);
}

void claim_jobs(claims *c, struct job *const *jobs, int n) {
    if (n <= 0 || c->abandoned)
        return;
    struct claim *b = mem_calloc(1, sizeof(*b));
    b->c = c;
    b->jobs = mem_calloc((size_t)n, sizeof(struct job *));
    memcpy(b->jobs, jobs, (size_t)n * sizeof(struct job *));
    b->n = n;
    b->next = c->list;
    if (c->list)
        c->list->prev = b;
    c->list = b;
    claim_send(b);
}

claims *claim_new(struct event_base *base, db *d, const char *consumer, enum notif_channel ch,
                  int lease_ms, int secret_grace_s, int retry_ms, const struct claim_hooks *hooks,
                  void *arg) {
    claims *c = mem_calloc(1, sizeof(*c));
    c->base = base;
    c->d = d;
    c->consumer = consumer;
    c->ch = ch;
    c->lease_ms = lease_ms;
    c->secret_grace_s = secret_grace_s;
    c->retry_ms = retry_ms;
    c->hooks = hooks;
    c->arg = arg;
    return c;
}

void claim_abandon(claims *c) {
    c->abandoned = true;
    req_scope_cancel(&c->reqs); /* no claim callback runs from now on */
    for (struct claim *b = c->list; b; b = b->next)
        if (b->retry)
            evtimer_del(b->retry);
}

void claim_free(claims *c) {
    if (!c)
        return;
    req_scope_cancel(&c->reqs);
    while (c->list)
        claim_drop(c->list);
    mem_free(c);
}
