/* events_h: the event feed: its parameters, its page, and the long polls
 * waiting for an event, woken by NOTIFY and read again on a timer. */
#include "api/edge.h"
#include "api/events_h.h"
#include "common/list.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/db.h"
#include "common/hmap.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/req.h"
#include "common/metrics.h"
#include "common/tenant.h"
#include "common/util.h"
#include "common/validate.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_WAIT_MAX_S 30

/* herald_events_page (schema/009) serves only ids below the horizon under
 * which nothing can still commit; an unknown after gives one row of NULLs. */
static const char events_page_sql[] =
    "SELECT id, doc FROM herald_events_page($1::bigint, $2::uuid, $3::text, $4::int)";

struct ev_wait;

/* the requests of one tenant that wait */
struct ev_tenant {
    struct ev_wait *head;
};

struct events_feed {
    struct api_app *app;
    listen_t *listen;
    hmap *tenants;       /* tenant id -> struct ev_tenant */
    struct ev_wait *all; /* every waiting request, for the recheck */
    size_t waiting;
    struct event *recheck;
    int64_t peeked_ms;     /* when the waiting polls' sockets were last looked at */
    struct req_scope reqs; /* the reads out (common/req.h) */
    bool draining;
};

struct ev_wait {
    struct events_feed *f;
    struct api_req *r;
    struct ev_wait *prev, *next;   /* in the tenant's list */
    struct ev_wait *aprev, *anext; /* in f->all */
    bool listed;                   /* waiting: in both lists, with a deadline */
    bool querying;                 /* a read is out */
    bool again;                    /* woken while a read was out: read once more */
    bool woken;                    /* an event of its tenant came: read every recheck until found */
    bool expired;                  /* wait is over: answer with what the next read finds */
    struct event *deadline;
    char tid[24];
    char after[UTIL_UUID_LEN];
    const char *type;
    int limit;
    int wait_s;
};

static void ev_query(struct ev_wait *w);

static void ev_gauge(struct events_feed *f) {
    metrics_set(f->app->metrics, "herald_events_waiting", "", (double)f->waiting);
}

static void ev_unlist(struct ev_wait *w) {
    if (!w->listed)
        return;
    struct events_feed *f = w->f;
    struct ev_tenant *t = hmap_get(f->tenants, w->tid);
    LIST_UNLINK(t->head, w);
    if (!t->head)
        mem_free(hmap_del(f->tenants, w->tid));
    LIST_UNLINK_AS(f->all, w, aprev, anext);
    w->listed = false;
    f->waiting--;
    ev_gauge(f);
}

static void ev_free(struct ev_wait *w) {
    ev_unlist(w);
    if (w->deadline)
        event_free(w->deadline);
    mem_free(w);
}

/* ev_reply_empty: the wait ended without an event. */
static void ev_reply_empty(struct ev_wait *w) {
    struct buf b = {0};
    buf_puts(&b, "{\"data\":[],\"next_after\":");
    if (w->after[0])
        buf_printf(&b, "\"%s\"}", w->after);
    else
        buf_puts(&b, "null}");
    api_reply(w->r, 200, b.data, b.len);
    buf_free(&b);
    ev_free(w);
}

static void ev_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct ev_wait *w = arg;
    w->expired = true;
    if (!w->querying)
        ev_reply_empty(w);
}

static void ev_list(struct ev_wait *w) {
    struct events_feed *f = w->f;
    struct ev_tenant *t = hmap_get(f->tenants, w->tid);
    if (!t) {
        t = mem_calloc(1, sizeof(*t));
        hmap_put(f->tenants, w->tid, t);
    }
    LIST_PUSH(t->head, w);
    LIST_PUSH_AS(f->all, w, aprev, anext);
    w->listed = true;
    f->waiting++;
    ev_gauge(f);
    int64_t ms = (int64_t)w->wait_s * 1000 - (util_mono_ms() - w->r->started_mono_ms);
    if (ms < 0)
        ms = 0;
    w->deadline = evtimer_new(f->app->base, ev_deadline_cb, w);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(w->deadline, &tv);
}

/* ev_apply: what a read found, for w (which it may answer and free). */
static void ev_apply(struct ev_wait *w, const struct db_result *res) {
    w->querying = false;
    if (res->status != DB_OK) {
        if (w->listed && !w->expired) {
            /* a waiting poll keeps waiting: the recheck reads again */
            if (res->status == DB_ERROR)
                HLOG(HLOG_ERROR, "db.query_failed", &(struct hlog_ctx){.req_id = w->r->req_id},
                     "%s", res->message);
            w->woken = true;
            return;
        }
        api_reply_db_failed(w->r, res);
        ev_free(w);
        return;
    }
    const PGresult *pg = res->res;
    int n = PQntuples(pg);
    if (n == 1 && db_isnull(pg, 0, 0)) {
        struct val_errors errs = {0};
        val_errors_add(&errs, "after", "is not the id of one of this tenant's kept events");
        api_reply_invalid(w->r, &errs);
        val_errors_free(&errs);
        ev_free(w);
        return;
    }
    if (n > 0) {
        struct buf b = {0};
        buf_puts(&b, "{\"data\":[");
        for (int i = 0; i < n; i++) {
            if (i)
                buf_putc(&b, ',');
            buf_puts(&b, db_get(pg, i, 1));
        }
        buf_printf(&b, "],\"next_after\":\"%s\"}", db_get(pg, n - 1, 0));
        api_reply(w->r, 200, b.data, b.len);
        buf_free(&b);
        ev_free(w);
        return;
    }
    if (w->wait_s == 0 || w->expired || w->f->draining || !w->r->req) {
        ev_reply_empty(w);
        return;
    }
    if (!w->listed)
        ev_list(w);
    if (w->again) {
        w->again = false;
        ev_query(w);
    }
}

/* One read for polls that ask the same (tenant, after, type, limit): woken
 * together, they share it, so a wake-up costs a read per distinct question,
 * not per waiting client. */
struct ev_batch {
    struct ev_batch *next;
    size_t n, cap;
    void **w; /* struct ev_wait * each (void *: clang-tidy's sizeof check) */
};

static void ev_batch_done(void *arg, const struct db_result *res) {
    struct ev_batch *b = arg;
    for (size_t i = 0; i < b->n; i++)
        ev_apply(b->w[i], res);
    mem_free(b->w);
    mem_free(b);
}

/* ev_batch_drop: the read was cancelled (events_feed_stop): its polls are
 * answered 503 at once. */
static void ev_batch_drop(void *arg) {
    struct ev_batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        struct ev_wait *w = b->w[i];
        w->querying = false;
        api_reply_error(w->r, 503, "unavailable", "the API is stopping", NULL);
        ev_free(w);
    }
    mem_free(b->w);
    mem_free(b);
}

static void ev_batch_send(struct ev_batch *b) {
    struct ev_wait *w = b->w[0];
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", w->limit);
    const char *params[] = {w->tid, w->after[0] ? w->after : NULL, w->type, lim};
    for (size_t i = 0; i < b->n; i++)
        ((struct ev_wait *)b->w[i])->querying = true;
    struct events_feed *f = w->f;
    req_scope_add_arg(&f->reqs, db_query(f->app->db, events_page_sql, 4, params, ev_batch_done, b),
                      ev_batch_drop, b);
}

static void ev_batch_add(struct ev_batch *b, struct ev_wait *w) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        b->w = mem_realloc(b->w, b->cap * sizeof(*b->w));
    }
    b->w[b->n++] = w;
}

static void ev_query(struct ev_wait *w) {
    struct ev_batch *b = mem_calloc(1, sizeof(*b));
    ev_batch_add(b, w);
    ev_batch_send(b);
}

/* ev_wake_many: reads again for each w in ws[0..n) (already-reading ones read
 * once more when their read returns), one read per distinct question. */
static void ev_wake_many(void **ws, size_t n) {
    hmap *by_q = hmap_new();
    struct ev_batch *head = NULL;
    for (size_t i = 0; i < n; i++) {
        struct ev_wait *w = ws[i];
        if (w->querying) {
            w->again = true;
            continue;
        }
        char key[160];
        snprintf(key, sizeof(key), "%s|%s|%s|%d", w->tid, w->after, w->type ? w->type : "",
                 w->limit);
        struct ev_batch *b = hmap_get(by_q, key);
        if (!b) {
            b = mem_calloc(1, sizeof(*b));
            b->next = head;
            head = b;
            hmap_put(by_q, key, b);
        }
        ev_batch_add(b, w);
    }
    hmap_free(by_q);
    while (head) {
        struct ev_batch *next = head->next;
        ev_batch_send(head);
        head = next;
    }
}

static void ev_notify_cb(void *arg, const char *payload) {
    struct events_feed *f = arg;
    struct ev_wait *first;
    if (!payload) {
        first = f->all; /* LISTEN (re)established: events may have come meanwhile */
    } else {
        struct ev_tenant *t = hmap_get(f->tenants, payload);
        if (!t)
            return;
        first = t->head;
    }
    size_t n = 0;
    for (struct ev_wait *w = first; w; w = payload ? w->next : w->anext)
        n++;
    void **ws = mem_calloc(n, sizeof(*ws));
    n = 0;
    for (struct ev_wait *w = first; w; w = payload ? w->next : w->anext) {
        w->woken = w->woken || payload != NULL;
        ws[n++] = w;
    }
    ev_wake_many(ws, n);
    mem_free(ws);
}

/* ev_client_left: whether the client of a waiting poll closed its side (the
 * edge reads nothing while a request is being answered, so its end would be
 * seen only when the answer is written: peek at the socket instead). */
static bool ev_client_left(const struct ev_wait *w) {
    if (!w->r->req || !w->r->edge)
        return true;
    evutil_socket_t fd = bufferevent_getfd(edge_bev(w->r->edge));
    if (fd < 0)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* ev_recheck_cb: woken polls whose event was still above the horizon read
 * again; without LISTEN every poll does. Requests whose client left go. */
static void ev_recheck_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct events_feed *f = arg;
    bool blind = !listen_up(f->listen);
    /* a peek per waiting poll costs a system call: about once a second */
    int64_t now = util_mono_ms();
    bool peek = now - f->peeked_ms >= 1000;
    if (peek)
        f->peeked_ms = now;
    void **ws = mem_calloc(f->waiting + 1, sizeof(*ws));
    size_t n = 0;
    struct ev_wait *w = f->all;
    while (w) {
        struct ev_wait *next = w->anext;
        if (!w->querying && (!w->r->req || (peek && ev_client_left(w))))
            ev_reply_empty(w); /* the connection is gone, or goes with this answer */
        else if ((w->woken || blind) && !w->querying)
            ws[n++] = w;
        w = next;
    }
    ev_wake_many(ws, n);
    mem_free(ws);
}

struct events_feed *events_feed_start(struct api_app *app) {
    struct events_feed *f = mem_calloc(1, sizeof(*f));
    f->app = app;
    f->tenants = hmap_new();
    metrics_define(app->metrics, "herald_events_waiting", METRICS_GAUGE,
                   "long polls of GET /v1/events waiting for an event", NULL, 0);
    ev_gauge(f);
    f->listen = listen_open(app->base, app->cfg->database_url, "herald_events",
                            app->cfg->db_timeout_ms, ev_notify_cb, f);
    f->recheck = event_new(app->base, -1, EV_PERSIST, ev_recheck_cb, f);
    int ms = app->cfg->events_recheck_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(f->recheck, &tv);
    return f;
}

void events_feed_drain(struct events_feed *f) {
    if (!f)
        return;
    f->draining = true;
    struct ev_wait *w = f->all;
    while (w) {
        struct ev_wait *next = w->anext;
        w->expired = true;
        if (!w->querying)
            ev_reply_empty(w);
        w = next;
    }
}

void events_feed_stop(struct events_feed *f) {
    if (!f)
        return;
    req_scope_cancel(&f->reqs); /* their polls are answered */
    while (f->all)
        ev_reply_empty(f->all);
    listen_close(f->listen);
    event_free(f->recheck);
    hmap_free(f->tenants);
    mem_free(f);
}

void events_h_list(struct api_req *r) {
    struct val_errors errs = {0};
    const char *type = api_query(r, "type");
    const char *after = api_query(r, "after");
    const char *type_known = NULL;
    if (type) {
        int ev = tenant_event_parse(type);
        type_known = ev < 0 ? NULL : tenant_event_name((enum tenant_event)ev);
        if (!type_known)
            val_errors_add(&errs, "type",
                           "must be notification.sent, notification.delivered, "
                           "notification.failed, notification.cancelled or notification.expired");
    }
    if (after && !util_uuid_valid(after))
        val_errors_add(&errs, "after", "is not the id of one of this tenant's kept events");
    int limit = api_query_int(r, "limit", 1, 100, 20, "must be an integer from 1 to 100", &errs);
    int wait = api_query_int(r, "wait", 0, EVENTS_WAIT_MAX_S, 0,
                             "must be an integer from 0 to 30 (seconds)", &errs);
    if (errs.len) {
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    struct ev_wait *w = mem_calloc(1, sizeof(*w));
    w->f = r->app->events;
    w->r = r;
    snprintf(w->tid, sizeof(w->tid), "%lld", (long long)r->auth.tenant_id);
    if (after) {
        snprintf(w->after, sizeof(w->after), "%s", after);
        for (char *p = w->after; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
    }
    w->type = type_known;
    w->limit = limit;
    w->wait_s = w->f && !w->f->draining ? wait : 0;
    if (!w->f) {
        api_reply_error(r, 503, "unavailable", "the event feed is not running", NULL);
        mem_free(w);
        return;
    }
    ev_query(w);
}
