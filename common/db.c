/* db: the pool's requests: the queue, deadlines, cancellation and answers, and
 * the pool itself (open, shutdown); common/db_conn.c runs each connection. */
#include "common/db.h"
#include "common/list.h"
#include "common/db_int.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/req.h"

#include <event2/event.h>
#include <stdint.h>
#include <string.h>

static void db_req_free(struct db_req *r) {
    if (r->deadline)
        event_free(r->deadline);
    for (int i = 0; i < r->nparams; i++)
        mem_free(r->params[i]);
    mem_free(r->params);
    mem_free(r->sql);
    mem_free(r->later_msg);
    mem_free(r);
}

static void db_kick(db *d) {
    if (d->kick && !evtimer_pending(d->kick, NULL)) {
        struct timeval zero = {0, 0};
        evtimer_add(d->kick, &zero);
    }
}

void db_req_finish(struct db_req *r, enum db_status st, PGresult *res, const char *msg) {
    struct db_result out = {.status = st, .res = res, .message = msg};
    if (st == DB_ERROR && res)
        out.sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!out.message)
        out.message = st == DB_OK ? "" : "database error";
    if (r->pool->submitting) {
        /* a send that failed inside db_query: callbacks never run there */
        r->answered = true;
        r->later = st;
        r->later_msg = mem_strdup(out.message);
        r->conn = NULL;
        r->next = r->pool->done;
        r->pool->done = r;
        db_kick(r->pool);
        return;
    }
    req_finish(&r->base);
    if (r->cb) /* NULL: cancelled */
        r->cb(r->arg, &out);
    db_req_free(r);
}

/* db_unqueue: takes r out of the pool's queue. */
static void db_unqueue(db *d, struct db_req *r) {
    struct db_req **pp = &d->head;
    struct db_req *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = r->next;
        if (d->tail == r)
            d->tail = prev;
        d->queued--;
    }
    r->queued = false;
    r->next = NULL;
}

/* db_req_cancel: a running statement's answer is still read, then dropped;
 * anything else is forgotten now. */
static void db_req_cancel(struct req *q) {
    struct db_req *r = (struct db_req *)q;
    r->cb = NULL;
    if (r->conn)
        return;
    if (r->queued)
        db_unqueue(r->pool, r);
    for (struct db_req **pp = &r->pool->done; r->answered && *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    db_req_free(r);
}

bool db_up(const db *d) {
    for (int i = 0; i < d->nconns; i++)
        if (d->conns[i].state == CONN_IDLE || d->conns[i].state == CONN_BUSY)
            return true;
    return false;
}

int db_pending(const db *d) {
    return d->queued + d->running;
}

static bool db_any_connecting(const db *d) {
    for (int i = 0; i < d->nconns; i++)
        if (d->conns[i].state == CONN_CONNECTING)
            return true;
    return false;
}

/* db_fail_queue: when no connection is up or coming, waiting is pointless. */
static void db_fail_queue(db *d, const char *why) {
    while (d->head) {
        struct db_req *r = d->head;
        d->head = r->next;
        d->queued--;
        r->queued = false;
        db_req_finish(r, DB_UNAVAILABLE, NULL, why);
    }
    d->tail = NULL;
}

/* db_check_gone: with no connection up or coming, waiting is pointless. */
void db_check_gone(db *d) {
    if (!db_up(d) && !db_any_connecting(d))
        db_fail_queue(d, "database unavailable");
}

static void db_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct db_req *r = arg;
    db *d = r->pool;
    if (r->conn) {
        /* running past its deadline: drop the connection (PQcancel would block) */
        db_conn_drop(r->conn, "statement timed out");
        return;
    }
    db_unqueue(d, r);
    db_req_finish(r, DB_UNAVAILABLE, NULL, "timed out waiting for a database connection");
}

/* db_answer_done: the answers kept from inside db_query. */
static void db_answer_done(db *d) {
    while (d->done) {
        struct db_req *r = d->done;
        d->done = r->next;
        r->answered = false;
        db_req_finish(r, r->later, NULL, r->later_msg);
    }
}

/* db_kick_cb: the answers kept from inside db_query, and a pool with no
 * connection up or coming fails its queue (on the loop, not in db_query). */
static void db_kick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    db *d = arg;
    db_answer_done(d);
    db_check_gone(d);
    db_conn_dispatch(d);
}

static struct req *db_submit(db *d, int stmt, const char *sql, int nparams,
                             const char *const *params, db_cb cb, void *arg) {
    struct db_req *r = mem_calloc(1, sizeof(*r));
    req_init(&r->base, db_req_cancel);
    r->pool = d;
    r->stmt = stmt;
    r->sql = mem_strdup(sql);
    r->nparams = nparams;
    r->params = mem_calloc((size_t)(nparams ? nparams : 1), sizeof(char *));
    for (int i = 0; i < nparams; i++)
        r->params[i] = params[i] ? mem_strdup(params[i]) : NULL;
    r->cb = cb;
    r->arg = arg;
    if (d->shut) {
        db_req_finish(r, DB_UNAVAILABLE, NULL, "shutting down");
        return NULL;
    }
    r->deadline = evtimer_new(d->base, db_deadline_cb, r);
    struct timeval tv = {d->timeout_ms / 1000, (d->timeout_ms % 1000) * 1000};
    evtimer_add(r->deadline, &tv);
    QUEUE_APPEND(d->head, d->tail, r);
    d->queued++;
    r->queued = true;
    if (!db_up(d)) {
        db_kick(d);
        return &r->base;
    }
    d->submitting = true;
    db_conn_dispatch(d);
    d->submitting = false;
    return &r->base;
}

struct req *db_query(db *d, const char *sql, int nparams, const char *const *params, db_cb cb,
                     void *arg) {
    return db_submit(d, -1, sql, nparams, params, cb, arg);
}

struct req *db_query_prepared(db *d, const char *sql, int nparams, const char *const *params,
                              db_cb cb, void *arg) {
    int stmt = -1;
    for (int i = 0; i < d->nprepared && stmt < 0; i++)
        if (d->prepared[i] == sql)
            stmt = i;
    if (stmt < 0 && d->nprepared < DB_MAX_PREPARED) {
        stmt = d->nprepared++;
        d->prepared[stmt] = sql;
    }
    return db_submit(d, stmt, sql, nparams, params, cb, arg);
}

/* db_session_options: the url's own "options", plus Herald's session settings. */
static char *db_session_options(const char *url, unsigned flags) {
    struct buf b = {0};
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
            buf_printf(&b, "%s ", o->val);
    PQconninfoFree(opts);
    if (flags & DB_KEYED_PLANS)
        buf_puts(&b, "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off"
                     " -c enable_hashjoin=off -c enable_mergejoin=off");
    return b.data; /* NULL: no options */
}

db *db_open(struct event_base *base, const char *url, int nconns, int timeout_ms, unsigned flags) {
    db *d = mem_calloc(1, sizeof(*d));
    d->base = base;
    d->url = mem_strdup(url);
    d->options = db_session_options(url, flags);
    d->timeout_ms = timeout_ms;
    d->nconns = nconns;
    d->conns = mem_calloc((size_t)nconns, sizeof(struct db_conn));
    d->kick = evtimer_new(base, db_kick_cb, d);
    for (int i = 0; i < nconns; i++) {
        struct db_conn *c = &d->conns[i];
        c->pool = d;
        c->idx = i;
        c->retry = evtimer_new(base, db_conn_retry_cb, c);
        db_conn_start(c);
    }
    return d;
}

void db_shutdown(db *d) {
    if (!d || d->shut)
        return;
    d->shut = true;
    for (int i = 0; i < d->nconns; i++) {
        struct db_conn *c = &d->conns[i];
        struct db_req *r = c->cur;
        c->cur = NULL;
        db_conn_close(c);
        event_free(c->retry);
        if (r)
            db_req_finish(r, DB_LOST, NULL, "shutting down");
    }
    d->nconns = 0;
    db_answer_done(d);
    event_free(d->kick);
    d->kick = NULL;
    db_fail_queue(d, "shutting down");
}

void db_close(db *d) {
    if (!d)
        return;
    db_shutdown(d);
    mem_free(d->conns);
    mem_free(d->url);
    mem_free(d->options);
    mem_free(d);
}

void db_array_add(struct buf *b, const char *s, size_t n) {
    if (b->len > 0 && b->data[b->len - 1] != '{')
        buf_putc(b, ',');
    if (!s) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            buf_append(b, s + start, i - start);
            buf_putc(b, '\\');
            start = i;
        }
    }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

const char *db_get(const PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

bool db_isnull(const PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) != 0;
}
