/* engine: jobs from stream entry to acknowledgement, with batched claims and outcomes. */
#include "worker/engine.h"
#include "common/batch.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/stats.h"
#include "common/mem.h"
#include "worker/retry.h"
#include "common/stream.h"
#include "common/util.h"
#include "worker/consumer.h"
#include "worker/ledger.h"
#include "worker/xfer.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define ENG_CAPTURE_MAX 16384    /* response header and body bytes kept for classify */
#define ENG_RECORD_BATCH 500     /* outcomes per statement */
#define ENG_RECORD_INFLIGHT 2    /* record statements at once; outcomes wait for the next */
#define ENG_DB_RETRY_MS 1000     /* wait before repeating a failed claim or record */
#define ENG_HOLD_FACTOR 4        /* entries held at most: concurrency x this (host queues) */
#define ENG_LEASE_MARGIN_MS 1000 /* a transfer must be able to end this long before its lease */

enum job_state {
    JS_CLAIMING = 0, /* read; the lease is being claimed */
    JS_SENDING,      /* leased; the transfer waits for its host or runs */
    JS_RECORDING,    /* the outcome waits for, or is in, a record batch */
    JS_WAITING,      /* leased; the channel cannot build the request yet (DLV_WAIT) */
    JS_STATE_COUNT
};
static const char *const job_state_names[JS_STATE_COUNT] = {"claiming", "sending", "recording",
                                                            "waiting"};

struct job {
    eng *e;
    enum job_state state;
    char entry_id[48];
    char id[UTIL_UUID_LEN];
    /* the claimed row; owned */
    char *recipient, *subject, *body, *metadata, *tenant, *secret, *prev_secret;
    char *html, *reply_to, *email_from; /* email only; NULL when absent */
    int64_t expires_ms;                 /* 0: no deadline */
    bool event;                         /* a status event for the tenant's events_url */
    int64_t created_ms;
    int attempts, budget_base;
    int64_t leased_mono; /* when the claim answered; the lease runs from about then */
    /* the attempt */
    struct dlv_req req;
    struct buf rhead, rbody;
    char errbuf[CURL_ERROR_SIZE];
    struct dlv_result res;
    bool res_valid;        /* the channel ran: release its state */
    struct event *wait_ev; /* JS_WAITING: fires when the job must be handed back */
    /* the outcome */
    enum ledger_kind kind;
    bool counted;
    int recorded_row; /* 1 + its row in the record statement's answer; 0: none */
    int64_t delay_ms;
    int64_t started_ms; /* wall clock */
    int duration_ms;
    struct batch_item rlink; /* in the record queue */
    struct job *prev, *next; /* every job */
};

/* A claim statement in flight (or waiting to be retried). */
struct batch {
    eng *e;
    struct job **jobs;
    int n;
    bool in_query;
    struct event *retry;
    struct batch *prev, *next;
};

struct eng {
    struct event_base *base;
    const struct cfg *cfg;
    db *d;
    rds *wr;
    enum notif_channel ch;
    const struct dlv_ops *ops;
    void *ops_state;
    char *consumer;
    int concurrency;
    cons *k;
    xfer *x;
    struct job *jobs; /* every job, newest first */
    int njobs;
    int nstate[JS_STATE_COUNT]; /* jobs in each state */
    hmap *by_id;                /* notification id -> job */
    hmap *by_entry;             /* entry id -> job */
    batch_queue *outq;          /* outcomes waiting for, or in, a record statement */
    struct batch *batches;
    struct req_scope reqs; /* claim and record statements not yet answered */
    struct eng_metrics m;
    struct metrics *reg; /* borrowed; NULL: counters only */
    stats *st;           /* borrowed; NULL: no on-call series */
    char labels[32];     /* channel="..." */
    bool db_failing;
    bool draining, abandoned, drained;
    struct event *drain_check;
    void (*drain_done)(void *);
    void *drain_arg;
    struct dlv_env env;    /* lent to the channel's attach */
    struct event *wake_ev; /* the channel called wake: retry the waiting jobs */
    bool detached;         /* the channel's detach ran */
};

static void eng_claim_send(struct batch *b);
static void eng_record_send(void *arg, struct batch_group *g);
static void job_wait(struct job *j, int64_t start_by);

void eng_set_metrics(eng *e, struct metrics *m) {
    e->reg = m;
    snprintf(e->labels, sizeof(e->labels), "channel=\"%s\"", notif_channel_name(e->ch));
}

void eng_set_stats(eng *e, stats *st) {
    e->st = st;
}

/* eng_stats_outcome: the on-call page's side of a recorded outcome. */
static void eng_stats_outcome(eng *e, const struct job *j, int64_t now_ms) {
    if (j->kind == LK_SUCCESS) {
        stats_count(e->st, e->ch, STATS_SENT, 1);
        if (j->created_ms > 0 && now_ms >= j->created_ms)
            stats_dwell(e->st, e->ch, now_ms - j->created_ms);
    } else if (j->kind == LK_RETRY) {
        stats_count(e->st, e->ch, STATS_RETRIED, 1);
    } else if (j->kind == LK_FAILED) {
        stats_count(e->st, e->ch, STATS_FAILED, 1);
    }
}

/* eng_count_outcome: the Prometheus side of a recorded outcome. */
static void eng_count_outcome(eng *e, const struct job *j, int64_t now_ms) {
    eng_stats_outcome(e, j, now_ms);
    if (!e->reg)
        return;
    static const char *const names[] = {"sent", "retry", "failed", "deferred"};
    const char *outcome = j->kind == LK_SUCCESS  ? names[0]
                          : j->kind == LK_RETRY  ? names[1]
                          : j->kind == LK_FAILED ? names[2]
                                                 : names[3];
    char labels[64];
    snprintf(labels, sizeof(labels), "%s,outcome=\"%s\"", e->labels, outcome);
    metrics_add(e->reg, "herald_deliveries_total", labels, 1);
    if (j->kind == LK_RETRY)
        metrics_add(e->reg, "herald_retries_total", e->labels, 1);
    if (j->kind == LK_FAILED)
        metrics_add(e->reg, "herald_dead_letters_total", e->labels, 1);
    if (j->kind == LK_SUCCESS && j->created_ms > 0 && now_ms >= j->created_ms)
        metrics_observe(e->reg, "herald_end_to_end_seconds", e->labels,
                        (double)(now_ms - j->created_ms) / 1000.0);
}

static void job_set_state(struct job *j, enum job_state s) {
    if ((unsigned)s >= JS_STATE_COUNT)
        return;
    if (j->state != s)
        HLOG(HLOG_DEBUG, "delivery.state", &(struct hlog_ctx){.notif_id = j->id}, "job %s -> %s",
             job_state_names[j->state], job_state_names[s]);
    j->e->nstate[j->state]--;
    j->e->nstate[s]++;
    j->state = s;
}

static struct hlog_ctx job_ctx(const struct job *j) {
    return (struct hlog_ctx){.notif_id = j->id,
                             .tenant = j->tenant,
                             .channel = notif_channel_name(j->e->ch),
                             .attempt = j->attempts + 1};
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

/* ---- job lifetime ------------------------------------------------------ */

static void job_release_attempt(struct job *j) {
    eng *e = j->e;
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
    buf_free(&j->rhead);
    buf_free(&j->rbody);
}

static void job_free(struct job *j) {
    eng *e = j->e;
    job_release_attempt(j);
    if (hmap_get(e->by_id, j->id) == j)
        hmap_del(e->by_id, j->id);
    if (hmap_get(e->by_entry, j->entry_id) == j)
        hmap_del(e->by_entry, j->entry_id);
    if (j->prev)
        j->prev->next = j->next;
    else
        e->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    e->njobs--;
    e->nstate[j->state]--;
    e->m.in_flight = e->njobs;
    mem_free(j->recipient);
    mem_free(j->subject);
    mem_free(j->body);
    mem_free(j->metadata);
    mem_free(j->tenant);
    mem_free(j->secret);
    mem_free(j->prev_secret);
    mem_free(j->html);
    mem_free(j->reply_to);
    mem_free(j->email_from);
    if (j->wait_ev)
        event_free(j->wait_ev);
    mem_free(j);
}

/* job_done: acknowledges the entry and frees the job; room for another. */
static void job_done(struct job *j) {
    eng *e = j->e;
    cons_ack(e->k, j->entry_id);
    job_free(j);
    if (!e->draining)
        cons_kick(e->k);
}

#define JOB_OF(bi) ((struct job *)((char *)(bi)-offsetof(struct job, rlink)))

static struct batch *batch_new(eng *e, int cap) {
    struct batch *b = mem_calloc(1, sizeof(*b));
    b->e = e;
    b->jobs = mem_calloc((size_t)(cap > 0 ? cap : 1), sizeof(struct job *));
    b->next = e->batches;
    if (e->batches)
        e->batches->prev = b;
    e->batches = b;
    return b;
}

static void batch_free(struct batch *b) {
    eng *e = b->e;
    if (b->prev)
        b->prev->next = b->next;
    else
        e->batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (b->retry)
        event_free(b->retry);
    mem_free(b->jobs);
    mem_free(b);
}

static void eng_db_status(eng *e, const struct db_result *r) {
    bool failing = r->status != DB_OK;
    if (failing && !e->db_failing)
        HLOG(HLOG_WARN, "worker.db_error",
             &(struct hlog_ctx){.channel = notif_channel_name(e->ch), .err = r->message},
             "database statement failed; retrying");
    else if (!failing && e->db_failing)
        HLOG(HLOG_INFO, "worker.db_recovered",
             &(struct hlog_ctx){.channel = notif_channel_name(e->ch)}, "database works again");
    e->db_failing = failing;
}

static void batch_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct batch *b = arg;
    eng_claim_send(b);
}

static void batch_retry_later(struct batch *b) {
    if (!b->retry)
        b->retry = evtimer_new(b->e->base, batch_retry_cb, b);
    struct timeval tv = {ENG_DB_RETRY_MS / 1000, (ENG_DB_RETRY_MS % 1000) * 1000};
    evtimer_add(b->retry, &tv);
}

/* ---- outcomes ---------------------------------------------------------- */

static void job_queue_outcome(struct job *j) {
    eng *e = j->e;
    job_set_state(j, JS_RECORDING);
    j->rlink.weight = 1;
    batch_add(e->outq, &j->rlink);
    /* the transfer's slot is free now, though its outcome is still recorded */
    if (!e->draining)
        cons_kick(e->k);
}

/* job_decide: turns the channel's result into what is recorded. */
static void job_decide(struct job *j) {
    eng *e = j->e;
    const struct cfg *c = e->cfg;
    const struct dlv_result *r = &j->res;
    j->counted = !r->auth_error;
    int attempt_no = j->attempts + 1;
    int used = j->attempts + (j->counted ? 1 : 0) - j->budget_base;
    switch (r->outcome) {
    case DLV_SENT:
        j->kind = LK_SUCCESS;
        break;
    case DLV_FAILED:
        j->kind = LK_FAILED;
        break;
    case DLV_RETRY:
    default:
        if (j->counted && used >= c->max_attempts) {
            j->kind = LK_FAILED;
        } else {
            j->kind = LK_RETRY;
            j->delay_ms = retry_delay_ms(attempt_no, c->retry_base_ms, c->retry_max_ms,
                                         r->retry_after_ms, util_rand_range(0.5, 1.0));
        }
        break;
    }
    if (r->auth_error) {
        e->m.auth_failures++;
        if (e->reg)
            metrics_add(e->reg, "herald_provider_auth_failures_total", e->labels, 1);
    }
}

/* job_defer: hands the job back unattempted: its row is due again at once. */
static void job_defer(struct job *j) {
    j->kind = LK_DEFER;
    j->counted = false;
    j->started_ms = util_now_ms();
    job_queue_outcome(j);
}

static void job_xfer_cb(void *arg, CURLcode code, bool started) {
    struct job *j = arg;
    eng *e = j->e;
    int64_t now = util_now_ms();
    if (!started) {
        /* its host stayed busy too long for the lease: give it back unattempted */
        job_defer(j);
        return;
    }
    long status = 0;
    double total = 0;
    curl_easy_getinfo(j->req.easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(j->req.easy, CURLINFO_TOTAL_TIME, &total);
    int64_t elapsed = (int64_t)(total * 1000.0);
    struct dlv_resp resp = {
        .code = code,
        .curl_error = j->errbuf,
        .status = status,
        .headers = j->rhead.data ? j->rhead.data : "",
        .body = j->rbody.data ? j->rbody.data : "",
        .body_len = j->rbody.len,
        .elapsed_ms = elapsed,
        .now_ms = now,
    };
    struct dlv_msg m = {
        .id = j->id,
        .tenant = j->tenant,
        .recipient = j->recipient,
        .subject = j->subject,
        .body = j->body,
        .metadata = j->metadata,
        .created_at_ms = j->created_ms,
        .attempt = j->attempts + 1,
        .secret = j->secret,
        .prev_secret = j->prev_secret,
        .html = j->html,
        .reply_to = j->reply_to,
        .email_from = j->email_from,
        .expires_at_ms = j->expires_ms,
        .event = j->event,
    };
    j->res.retry_after_ms = -1;
    e->ops->classify(e->ops_state, &m, &j->req, &resp, &j->res);
    j->started_ms = now - elapsed;
    j->duration_ms = (int)elapsed;
    if (e->reg)
        metrics_observe(e->reg, "herald_delivery_duration_seconds", e->labels,
                        (double)elapsed / 1000.0);
    job_release_attempt(j);
    job_decide(j);
    job_queue_outcome(j);
}

static size_t job_body_cb(char *p, size_t size, size_t n, void *arg) {
    struct job *j = arg;
    size_t len = size * n;
    if (j->rbody.len < ENG_CAPTURE_MAX)
        buf_append(&j->rbody, p,
                   len < ENG_CAPTURE_MAX - j->rbody.len ? len : ENG_CAPTURE_MAX - j->rbody.len);
    return len;
}

static size_t job_header_cb(char *p, size_t size, size_t n, void *arg) {
    struct job *j = arg;
    size_t len = size * n;
    /* a new status line (after a 1xx) starts a new header block */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        buf_reset(&j->rhead);
    if (j->rhead.len + len <= ENG_CAPTURE_MAX)
        buf_append(&j->rhead, p, len);
    return len;
}

/* job_send: builds the channel's request and hands it to the transfer layer. */
static void job_send(struct job *j) {
    eng *e = j->e;
    job_set_state(j, JS_SENDING);
    if (j->expires_ms && util_now_ms() >= j->expires_ms) {
        /* its deadline passed since the claim: never attempted; the sweeper expires it */
        job_defer(j);
        return;
    }
    memset(&j->res, 0, sizeof(j->res));
    j->res.retry_after_ms = -1;
    CURL *easy = curl_easy_init();
    if (!easy) {
        j->res.outcome = DLV_RETRY;
        snprintf(j->res.error, sizeof(j->res.error), "out of memory starting a transfer");
        j->started_ms = util_now_ms();
        job_decide(j);
        job_queue_outcome(j);
        return;
    }
    j->req.easy = easy;
    j->errbuf[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)e->cfg->delivery_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, job_body_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, job_header_cb);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    struct dlv_msg m = {
        .id = j->id,
        .tenant = j->tenant,
        .recipient = j->recipient,
        .subject = j->subject,
        .body = j->body,
        .metadata = j->metadata,
        .created_at_ms = j->created_ms,
        .attempt = j->attempts + 1,
        .secret = j->secret,
        .prev_secret = j->prev_secret,
        .html = j->html,
        .reply_to = j->reply_to,
        .email_from = j->email_from,
        .expires_at_ms = j->expires_ms,
        .event = j->event,
    };
    /* a transfer must be able to finish well before the lease ends */
    const struct cfg *c = e->cfg;
    int64_t room = (int64_t)eng_lease_ms(e) - c->delivery_timeout_ms - ENG_LEASE_MARGIN_MS;
    if (room < eng_lease_ms(e) / 2)
        room = eng_lease_ms(e) / 2;
    j->res_valid = true;
    int prc = e->ops->prepare(e->ops_state, &m, &j->req, &j->res);
    if (prc == DLV_WAIT) {
        job_release_attempt(j);
        job_wait(j, j->leased_mono + room);
        return;
    }
    if (prc < 0) {
        j->started_ms = util_now_ms();
        j->duration_ms = 0;
        job_release_attempt(j);
        job_decide(j);
        job_queue_outcome(j);
        return;
    }
    xfer_start(e->x, easy, j->req.host, j->leased_mono + room, job_xfer_cb, j);
}

static void job_wait_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct job *j = arg;
    if (j->state == JS_WAITING)
        job_defer(j);
}

/* job_wait: parks a job whose channel answered DLV_WAIT until eng_wake_cb
 * sends it again, or until start_by (util_mono_ms) hands it back. */
static void job_wait(struct job *j, int64_t start_by) {
    job_set_state(j, JS_WAITING);
    int64_t left = start_by - util_mono_ms();
    if (left <= 0) {
        job_defer(j);
        return;
    }
    if (!j->wait_ev)
        j->wait_ev = evtimer_new(j->e->base, job_wait_cb, j);
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
    evtimer_add(j->wait_ev, &tv);
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
    /* job_send never frees a job, so the list stays walkable */
    for (struct job *j = e->jobs; j; j = j->next) {
        if (j->state != JS_WAITING)
            continue;
        evtimer_del(j->wait_ev);
        job_send(j);
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

static void job_log_outcome(const struct job *j, int64_t now_ms, const char *tenant) {
    struct hlog_ctx ctx = job_ctx(j);
    ctx.tenant = tenant;
    switch (j->kind) {
    case LK_SUCCESS:
        HLOG(HLOG_INFO, "delivery.sent", &ctx, "delivered (status %d, %d ms)", j->res.status_code,
             j->duration_ms);
        break;
    case LK_RETRY:
        ctx.err = j->res.error;
        HLOG(HLOG_INFO, "delivery.retry", &ctx, "attempt failed; next in %lld ms%s",
             (long long)j->delay_ms, j->counted ? "" : " (not counted: provider credentials)");
        break;
    case LK_FAILED:
        ctx.err = j->res.error;
        HLOG(HLOG_WARN, "delivery.failed", &ctx, "gave up; dead-lettered");
        break;
    case LK_DEFER:
        HLOG(HLOG_DEBUG, "delivery.deferred", &ctx, "destination busy; handed back");
        break;
    }
    (void)now_ms;
}

static void eng_record_cb(void *arg, const struct db_result *r) {
    struct batch_group *g = arg;
    eng *e = g->data;
    eng_db_status(e, r);
    if (r->status != DB_OK) {
        /* kept until it works: the lease keeps others off meanwhile, and if it
         * passes, the conditional update simply finds nothing */
        batch_group_retry(g);
        return;
    }
    int rows = PQntuples(r->res);
    for (int k = 0; k < rows; k++) {
        struct job *j = hmap_get(e->by_id, db_get(r->res, k, LR_ID));
        if (j && j->state == JS_RECORDING)
            j->recorded_row = k + 1;
    }
    struct batch_list done = g->items;
    g->items = (struct batch_list){0};
    batch_group_done(g);
    for (struct batch_item *bi = batch_list_pop(&done); bi; bi = batch_list_pop(&done)) {
        struct job *j = JOB_OF(bi);
        int row = j->recorded_row - 1;
        if (row < 0) {
            e->m.lease_lost++;
            struct hlog_ctx ctx = job_ctx(j);
            HLOG(HLOG_WARN, "delivery.lease_lost", &ctx,
                 "the lease had passed to another consumer; outcome not recorded");
            job_done(j);
            continue;
        }
        const char *tenant = j->tenant; /* the claim's answer */
        int64_t now_ms = strtoll(db_get(r->res, row, LR_NOW_MS), NULL, 10);
        eng_count_outcome(e, j, now_ms);
        switch (j->kind) {
        case LK_SUCCESS:
            e->m.sent++;
            break;
        case LK_RETRY:
            e->m.retried++;
            break;
        case LK_FAILED:
            e->m.failed++;
            stream_add_dlq(e->wr, e->ch, j->id, tenant, j->res.error, now_ms,
                           e->cfg->retention_days, NULL, NULL);
            break;
        case LK_DEFER:
            e->m.deferred++;
            break;
        }
        job_log_outcome(j, now_ms, tenant);
        job_done(j);
    }
}

/* eng_record_send: one record statement for a group of outcomes (group
 * commit: while ENG_RECORD_INFLIGHT statements run, outcomes gather for the
 * next one instead of each paying a commit of its own). */
static void eng_record_send(void *arg, struct batch_group *g) {
    eng *e = arg;
    g->data = e;
    struct ledger_outcome *o = mem_calloc(g->items.count, sizeof(*o));
    int n = 0;
    for (struct batch_item *bi = g->items.head; bi; bi = bi->next) {
        struct job *j = JOB_OF(bi);
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
    req_scope_add(&e->reqs, ledger_record(e->d, e->consumer, o, n, eng_record_cb, g));
    mem_free(o);
}

/* ---- claims ------------------------------------------------------------ */

static char *eng_dup_or_null(const PGresult *res, int row, int col) {
    return db_isnull(res, row, col) ? NULL : mem_strdup(db_get(res, row, col));
}

static void eng_claim_cb(void *arg, const struct db_result *r) {
    struct batch *b = arg;
    eng *e = b->e;
    b->in_query = false;
    eng_db_status(e, r);
    if (r->status != DB_OK) {
        if (e->draining) {
            /* not ours yet: leave the entries to be reclaimed */
            for (int i = 0; i < b->n; i++)
                job_free(b->jobs[i]);
            batch_free(b);
            return;
        }
        batch_retry_later(b);
        return;
    }
    int rows = PQntuples(r->res);
    int64_t now = util_mono_ms();
    for (int k = 0; k < rows; k++) {
        struct job *j = hmap_get(e->by_id, db_get(r->res, k, LC_ID));
        if (!j || j->state != JS_CLAIMING || j->recipient)
            continue;
        j->recipient = mem_strdup(db_get(r->res, k, LC_RECIPIENT));
        j->subject = eng_dup_or_null(r->res, k, LC_SUBJECT);
        j->body = mem_strdup(db_get(r->res, k, LC_BODY));
        j->metadata = eng_dup_or_null(r->res, k, LC_METADATA);
        j->created_ms = strtoll(db_get(r->res, k, LC_CREATED_MS), NULL, 10);
        j->attempts = atoi(db_get(r->res, k, LC_ATTEMPTS));
        j->budget_base = atoi(db_get(r->res, k, LC_BUDGET_BASE));
        j->tenant = mem_strdup(db_get(r->res, k, LC_TENANT));
        j->secret = mem_strdup(db_get(r->res, k, LC_SECRET));
        j->prev_secret = eng_dup_or_null(r->res, k, LC_PREV_SECRET);
        j->html = eng_dup_or_null(r->res, k, LC_HTML);
        j->reply_to = eng_dup_or_null(r->res, k, LC_REPLY_TO);
        j->email_from = eng_dup_or_null(r->res, k, LC_EMAIL_FROM);
        j->expires_ms = db_isnull(r->res, k, LC_EXPIRES_MS)
                            ? 0
                            : strtoll(db_get(r->res, k, LC_EXPIRES_MS), NULL, 10);
        j->event = !strcmp(db_get(r->res, k, LC_KIND), "event");
        j->leased_mono = now;
    }
    for (int i = 0; i < b->n; i++) {
        struct job *j = b->jobs[i];
        if (!j->recipient) {
            /* final, cancelled, not due, or leased by another: nothing to do here */
            HLOG(HLOG_DEBUG, "delivery.skipped", &(struct hlog_ctx){.notif_id = j->id},
                 "entry needs no delivery now");
            job_done(j);
            continue;
        }
        job_send(j);
    }
    batch_free(b);
    /* jobs that wait for a busy host leave their slot to others */
    if (!e->draining)
        cons_kick(e->k);
}

static void eng_claim_send(struct batch *b) {
    eng *e = b->e;
    const char **ids = mem_calloc((size_t)b->n, sizeof(char *));
    for (int i = 0; i < b->n; i++)
        ids[i] = b->jobs[i]->id;
    b->in_query = true;
    req_scope_add(&e->reqs, ledger_claim(e->d, e->consumer, e->ch, ids, b->n, eng_lease_ms(e),
                                         e->cfg->secret_grace_s, eng_claim_cb, b));
    mem_free(ids);
}

/* ---- consumer hooks ---------------------------------------------------- */

static void eng_batch(void *arg, const struct cons_entry *ent, int n, bool reclaimed) {
    eng *e = arg;
    struct batch *b = batch_new(e, n);
    for (int i = 0; i < n; i++) {
        const char *nid = ent[i].notif_id;
        if (reclaimed) {
            e->m.reclaimed++;
            HLOG(HLOG_INFO, "delivery.reclaimed", &(struct hlog_ctx){.notif_id = nid},
                 "took over entry %s from a consumer that held it too long", ent[i].entry_id);
        }
        if (!nid || !util_uuid_valid(nid)) {
            HLOG(HLOG_WARN, "stream.bad_entry",
                 &(struct hlog_ctx){.channel = notif_channel_name(e->ch)},
                 "entry %s has no valid id field; dropped", ent[i].entry_id);
            cons_ack(e->k, ent[i].entry_id);
            continue;
        }
        if (hmap_get(e->by_id, nid) || hmap_get(e->by_entry, ent[i].entry_id)) {
            /* a repeat of one we are working on: that job settles it */
            if (!hmap_get(e->by_entry, ent[i].entry_id))
                cons_ack(e->k, ent[i].entry_id);
            continue;
        }
        struct job *j = mem_calloc(1, sizeof(*j));
        j->e = e;
        j->state = JS_CLAIMING;
        snprintf(j->entry_id, sizeof(j->entry_id), "%s", ent[i].entry_id);
        snprintf(j->id, sizeof(j->id), "%s", nid);
        /* PostgreSQL prints uuids in lowercase; match its form */
        for (char *p = j->id; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        if (hmap_get(e->by_id, j->id)) {
            cons_ack(e->k, ent[i].entry_id);
            mem_free(j);
            continue;
        }
        j->next = e->jobs;
        if (e->jobs)
            e->jobs->prev = j;
        e->jobs = j;
        e->njobs++;
        e->nstate[JS_CLAIMING]++;
        e->m.in_flight = e->njobs;
        hmap_put(e->by_id, j->id, j);
        hmap_put(e->by_entry, j->entry_id, j);
        b->jobs[b->n++] = j;
    }
    if (b->n == 0) {
        batch_free(b);
        return;
    }
    eng_claim_send(b);
}

static int eng_capacity(void *arg) {
    eng *e = arg;
    if (e->draining || e->abandoned)
        return 0;
    /* a slot is a transfer running or about to (claiming): a job waiting for
     * a busy host does not take a slot from other hosts, nor does one whose
     * outcome is being recorded, so slots never idle through a commit; the
     * number held overall stays bounded */
    int active = e->njobs - xfer_queued(e->x) - e->nstate[JS_RECORDING];
    int room = e->concurrency - active;
    int hold = e->concurrency * ENG_HOLD_FACTOR - e->njobs;
    return room < hold ? room : hold;
}

static bool eng_holds(void *arg, const char *entry_id) {
    eng *e = arg;
    return hmap_get(e->by_entry, entry_id) != NULL;
}

/* ---- life cycle -------------------------------------------------------- */

eng *eng_new(struct event_base *base, const struct cfg *c, db *d, rds *rd, rds *wr,
             enum notif_channel ch, const struct dlv_ops *ops, void *ops_state,
             const char *consumer, int concurrency) {
    eng *e = mem_calloc(1, sizeof(*e));
    e->base = base;
    e->cfg = c;
    e->d = d;
    e->wr = wr;
    e->ch = ch;
    e->ops = ops;
    e->ops_state = ops_state;
    e->consumer = mem_strdup(consumer);
    e->concurrency = concurrency;
    e->by_id = hmap_new();
    e->by_entry = hmap_new();
    struct batch_cfg rc = {.max_inflight = ENG_RECORD_INFLIGHT,
                           .max_weight = ENG_RECORD_BATCH,
                           .retry_ms = ENG_DB_RETRY_MS,
                           .send = eng_record_send,
                           .arg = e};
    e->outq = batch_queue_new(base, &rc);
    e->x = xfer_new(base, c->host_concurrency);
    e->wake_ev = evtimer_new(base, eng_wake_cb, e);
    e->env = (struct dlv_env){.base = base, .x = e->x, .wake = eng_wake, .wake_arg = e};
    if (ops->attach)
        ops->attach(ops_state, &e->env);
    static const struct cons_hooks hooks = {
        .batch = eng_batch, .capacity = eng_capacity, .holds = eng_holds};
    e->k = cons_new(base, rd, wr, ch, consumer, c, &hooks, e);
    return e;
}

static void eng_left_cb(void *arg) {
    eng *e = arg;
    if (e->drain_done)
        e->drain_done(e->drain_arg);
}

static void eng_drain_check(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    eng *e = arg;
    if (e->drained || e->abandoned || e->njobs > 0 || batch_queued(e->outq) > 0 || !cons_idle(e->k))
        return;
    e->drained = true;
    event_del(e->drain_check);
    /* every entry of ours is acknowledged: leave the group's consumer list */
    cons_leave(e->k, eng_left_cb, e);
}

void eng_drain(eng *e, void (*done)(void *arg), void *arg) {
    if (e->draining)
        return;
    e->draining = true;
    e->drain_done = done;
    e->drain_arg = arg;
    cons_stop(e->k);
    HLOG(HLOG_INFO, "worker.draining", &(struct hlog_ctx){.channel = notif_channel_name(e->ch)},
         "stopped reading; finishing %d held entries", e->njobs);
    e->drain_check = event_new(e->base, -1, EV_PERSIST, eng_drain_check, e);
    struct timeval tv = {0, 50000};
    event_add(e->drain_check, &tv);
}

void eng_abandon(eng *e) {
    if (e->abandoned)
        return;
    e->abandoned = true;
    if (e->njobs > 0)
        HLOG(HLOG_WARN, "worker.abandoned",
             &(struct hlog_ctx){.channel = notif_channel_name(e->ch)},
             "leaving %d entries to be reclaimed", e->njobs);
    cons_detach(e->k);
    /* no statement's callback runs from now on; the jobs stay for eng_free */
    req_scope_cancel(&e->reqs);
    batch_queue_free(e->outq, NULL, NULL);
    e->outq = NULL;
    while (e->batches)
        batch_free(e->batches);
    for (struct job *j = e->jobs; j; j = j->next) {
        job_release_attempt(j);
        if (j->wait_ev)
            evtimer_del(j->wait_ev);
    }
    eng_detach(e);
    evtimer_del(e->wake_ev);
    if (e->drain_check)
        event_del(e->drain_check);
}

const struct eng_metrics *eng_metrics(const eng *e) {
    return &e->m;
}

void eng_free(eng *e) {
    if (!e)
        return;
    e->abandoned = true;
    req_scope_cancel(&e->reqs);
    batch_queue_free(e->outq, NULL, NULL); /* before the jobs it links */
    while (e->jobs)
        job_free(e->jobs);
    while (e->batches)
        batch_free(e->batches);
    eng_detach(e);
    event_free(e->wake_ev);
    xfer_free(e->x);
    cons_free(e->k);
    hmap_free(e->by_id);
    hmap_free(e->by_entry);
    if (e->drain_check)
        event_free(e->drain_check);
    mem_free(e->consumer);
    mem_free(e);
}
