/* db: pooled asynchronous libpq connections with deadlines and reconnection. */
#include "common/db.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/req.h"

#include <event2/event.h>
#include <stdint.h>
#include <string.h>

enum db_conn_state { CONN_DOWN = 0, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };
static const char *const db_state_names[] = {"down", "connecting", "idle", "busy"};

#define DB_MAX_PREPARED 32

struct db_req {
    struct req base; /* first: the handle db_query returns */
    db *pool;
    char *sql;
    int stmt; /* index in db.prepared, or -1: sent unprepared */
    int nparams;
    char **params;
    db_cb cb;
    void *arg;
    struct event *deadline;
    struct db_conn *conn; /* set while sent */
    bool queued;          /* in the pool's queue */
    struct db_req *next;
};

struct db_conn {
    db *pool;
    int idx;
    PGconn *pg;
    enum db_conn_state state;
    struct event *io; /* socket readiness, re-made when the socket changes */
    int io_fd;
    short io_what;
    struct event *retry; /* reconnect timer (also the connect deadline) */
    int backoff_ms;
    int64_t connect_started;
    struct db_req *cur;
    PGresult *last;    /* the last result of the running statement */
    uint32_t prepared; /* bit i: db.prepared[i] exists on this connection */
    bool preparing;    /* cur's statement is being prepared; its run follows */
};

struct db {
    struct event_base *base;
    char *url;
    char *options; /* the url's own options and Herald's session settings */
    int timeout_ms;
    int nconns;
    struct db_conn *conns;
    struct db_req *head, *tail; /* waiting for a connection */
    int queued, running;
    bool was_up;
    bool shut;                             /* db_shutdown ran: every query fails at once */
    const char *prepared[DB_MAX_PREPARED]; /* db_query_prepared's statements, by address */
    int nprepared;
    struct event *kick; /* zero-delay: dispatch what db_query queued */
};

static void db_conn_start(struct db_conn *c);
static void db_conn_io_cb(evutil_socket_t fd, short what, void *arg);
static void db_dispatch(db *d);

static void db_set_state(struct db_conn *c, enum db_conn_state s) {
    if (c->state != s)
        HLOG(HLOG_DEBUG, "db.conn_state", NULL, "connection %d: %s -> %s", c->idx,
             db_state_names[c->state], db_state_names[s]);
    c->state = s;
}

static void db_req_free(struct db_req *r) {
    if (r->deadline)
        event_free(r->deadline);
    for (int i = 0; i < r->nparams; i++)
        mem_free(r->params[i]);
    mem_free(r->params);
    mem_free(r->sql);
    mem_free(r);
}

static void db_req_finish(struct db_req *r, enum db_status st, PGresult *res, const char *msg) {
    struct db_result out = {.status = st, .res = res, .message = msg};
    if (st == DB_ERROR && res)
        out.sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!out.message)
        out.message = st == DB_OK ? "" : "database error";
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

static void db_watch(struct db_conn *c, short what) {
    int fd = PQsocket(c->pg);
    if (c->io && (c->io_fd != fd || c->io_what != what)) {
        event_free(c->io);
        c->io = NULL;
    }
    if (!c->io) {
        c->io = event_new(c->pool->base, fd, what | EV_PERSIST, db_conn_io_cb, c);
        c->io_fd = fd;
        c->io_what = what;
        event_add(c->io, NULL);
    }
}

/* db_errmsg: libpq's last error on c, first line only. */
static void db_errmsg(const struct db_conn *c, char *msg, size_t n) {
    snprintf(msg, n, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
    msg[strcspn(msg, "\n")] = '\0';
}

/* db_conn_close: c's socket, session and partial result go; c is down. */
static void db_conn_close(struct db_conn *c) {
    if (c->last) {
        PQclear(c->last);
        c->last = NULL;
    }
    if (c->io) {
        event_free(c->io);
        c->io = NULL;
    }
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->prepared = 0;
    c->preparing = false;
    db_set_state(c, CONN_DOWN);
}

/* db_check_gone: with no connection up or coming, waiting is pointless. */
static void db_check_gone(db *d) {
    if (!db_up(d) && !db_any_connecting(d))
        db_fail_queue(d, "database unavailable");
}

static void db_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct db_conn *c = arg;
    if (c->state == CONN_CONNECTING) {
        /* connect deadline passed */
        HLOG(HLOG_WARN, "db.connect_timeout", NULL, "connection %d: connect timed out", c->idx);
        db_conn_close(c);
        db_check_gone(c->pool);
    }
    if (c->state == CONN_DOWN)
        db_conn_start(c);
}

static void db_schedule_reconnect(struct db_conn *c) {
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
    if (c->backoff_ms > 5000)
        c->backoff_ms = 5000;
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
}

/* db_conn_drop: closes c; the running statement's outcome is unknown. */
static void db_conn_drop(struct db_conn *c, const char *why) {
    db *d = c->pool;
    bool was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
    struct db_req *r = c->cur;
    c->cur = NULL;
    db_conn_close(c);
    if (was_up)
        HLOG(HLOG_WARN, "db.disconnected", NULL, "connection %d lost: %s", c->idx, why);
    if (r) {
        d->running--;
        db_req_finish(r, DB_LOST, NULL, why);
    }
    db_check_gone(d);
    evtimer_del(c->retry);
    db_schedule_reconnect(c);
}

static void db_conn_start(struct db_conn *c) {
    db *d = c->pool;
    const char *const keys[] = {"dbname", "options", NULL};
    const char *const vals[] = {d->url, d->options, NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        char msg[256];
        db_errmsg(c, msg, sizeof(msg));
        HLOG(HLOG_WARN, "db.connect_failed", NULL, "connection %d: %s", c->idx, msg);
        db_conn_close(c);
        db_schedule_reconnect(c);
        return;
    }
    db_set_state(c, CONN_CONNECTING);
    struct timeval tv = {d->timeout_ms / 1000, (d->timeout_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
    db_watch(c, EV_WRITE);
}

static void db_connect_step(struct db_conn *c) {
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    switch (st) {
    case PGRES_POLLING_READING:
        db_watch(c, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        db_watch(c, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        evtimer_del(c->retry);
        if (PQsetnonblocking(c->pg, 1) != 0) {
            db_conn_drop(c, "cannot set non-blocking");
            return;
        }
        db_set_state(c, CONN_IDLE);
        if (c->backoff_ms || !c->pool->was_up)
            HLOG(HLOG_INFO, "db.connected", NULL, "connection %d established", c->idx);
        c->backoff_ms = 0;
        c->pool->was_up = true;
        db_watch(c, EV_READ);
        db_dispatch(c->pool);
        return;
    default: {
        char msg[256];
        db_errmsg(c, msg, sizeof(msg));
        HLOG(HLOG_WARN, "db.connect_failed", NULL, "connection %d: %s", c->idx, msg);
        evtimer_del(c->retry);
        db_conn_close(c);
        db_check_gone(c->pool);
        db_schedule_reconnect(c);
        return;
    }
    }
}

static bool db_put(struct db_conn *c, struct db_req *r);
static void db_flush_watch(struct db_conn *c);

/* db_prepared_run: the PREPARE of cur's statement answered. On success sends
 * the statement itself and returns true; otherwise false, with the failed
 * result (if any) left in c->last for the caller to report. */
static bool db_prepared_run(struct db_conn *c) {
    c->preparing = false;
    if (!c->last || PQresultStatus(c->last) != PGRES_COMMAND_OK)
        return false;
    PQclear(c->last);
    c->last = NULL;
    c->prepared |= 1u << c->cur->stmt;
    if (!db_put(c, c->cur))
        return false;
    db_flush_watch(c);
    return true;
}

/* db_conn_read: consumes input; finishes the running statement when its
 * last result arrives. Returns -1 if the connection was dropped. */
static int db_conn_read(struct db_conn *c) {
    if (!PQconsumeInput(c->pg)) {
        char msg[256];
        db_errmsg(c, msg, sizeof(msg));
        db_conn_drop(c, msg[0] ? msg : "connection closed");
        return -1;
    }
    if (c->state != CONN_BUSY) {
        /* idle: anything readable is the server going away or a notice */
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            db_conn_drop(c, "server closed the connection");
            return -1;
        }
        return 0;
    }
    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            if (c->preparing && db_prepared_run(c))
                return c->state == CONN_DOWN ? -1 : 0;
            struct db_req *r = c->cur;
            PGresult *last = c->last;
            c->cur = NULL;
            c->last = NULL;
            c->pool->running--;
            db_set_state(c, CONN_IDLE);
            if (!last) {
                db_req_finish(r, DB_LOST, NULL, "no result");
            } else {
                ExecStatusType es = PQresultStatus(last);
                if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
                    db_req_finish(r, DB_OK, last, NULL);
                } else {
                    char msg[512];
                    snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(last));
                    msg[strcspn(msg, "\n")] = '\0';
                    /* a fatal error with a broken connection is not a refusal */
                    if (PQstatus(c->pg) == CONNECTION_BAD)
                        db_req_finish(r, DB_LOST, NULL, msg);
                    else
                        db_req_finish(r, DB_ERROR, last, msg);
                }
                PQclear(last);
            }
            if (PQstatus(c->pg) == CONNECTION_BAD) {
                db_conn_drop(c, "server closed the connection");
                return -1;
            }
            return 0;
        }
        if (c->last)
            PQclear(c->last);
        c->last = res;
    }
    return 0;
}

static void db_conn_io_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    struct db_conn *c = arg;
    if (c->state == CONN_CONNECTING) {
        db_connect_step(c);
        return;
    }
    if (what & EV_WRITE) {
        int f = PQflush(c->pg);
        if (f < 0) {
            db_conn_drop(c, "write failed");
            return;
        }
        if (f == 0)
            db_watch(c, EV_READ);
        else
            return;
    }
    if (what & EV_READ) {
        if (db_conn_read(c) < 0)
            return;
        if (c->state == CONN_IDLE)
            db_dispatch(c->pool);
    }
}

/* db_put: hands r's statement to libpq on c; for a prepared statement not
 * yet prepared on c, its PREPARE (the run follows in db_prepared_run). False
 * when nothing could be sent. */
static bool db_put(struct db_conn *c, struct db_req *r) {
    if (r->stmt < 0)
        return PQsendQueryParams(c->pg, r->sql, r->nparams, NULL, (const char *const *)r->params,
                                 NULL, NULL, 0) != 0;
    char name[16];
    snprintf(name, sizeof(name), "h%d", r->stmt);
    if (c->prepared & (1u << r->stmt))
        return PQsendQueryPrepared(c->pg, name, r->nparams, (const char *const *)r->params, NULL,
                                   NULL, 0) != 0;
    c->preparing = true;
    return PQsendPrepare(c->pg, name, r->sql, r->nparams, NULL) != 0;
}

static void db_flush_watch(struct db_conn *c) {
    int f = PQflush(c->pg);
    if (f < 0)
        db_conn_drop(c, "write failed");
    else
        db_watch(c, f == 1 ? (short)(EV_READ | EV_WRITE) : EV_READ);
}

static void db_send(struct db_conn *c, struct db_req *r) {
    db *d = c->pool;
    if (!db_put(c, r)) {
        c->preparing = false;
        char msg[256];
        db_errmsg(c, msg, sizeof(msg));
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            /* nothing reached the server: put it back for another connection */
            r->next = d->head;
            d->head = r;
            if (!d->tail)
                d->tail = r;
            d->queued++;
            r->queued = true;
            db_conn_drop(c, msg);
            return;
        }
        db_req_finish(r, DB_ERROR, NULL, msg);
        return;
    }
    r->conn = c;
    c->cur = r;
    d->running++;
    db_set_state(c, CONN_BUSY);
    db_flush_watch(c);
}

static void db_dispatch(db *d) {
    for (int i = 0; i < d->nconns && d->head; i++) {
        struct db_conn *c = &d->conns[i];
        if (c->state != CONN_IDLE)
            continue;
        struct db_req *r = d->head;
        d->head = r->next;
        if (!d->head)
            d->tail = NULL;
        d->queued--;
        r->queued = false;
        r->next = NULL;
        db_send(c, r);
    }
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

/* db_kick_cb: the queue is dispatched on the loop, never inside db_query,
 * so no callback (not even of a send that fails at once) runs there. */
static void db_kick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    db *d = arg;
    db_check_gone(d);
    db_dispatch(d);
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
    if (d->tail)
        d->tail->next = r;
    else
        d->head = r;
    d->tail = r;
    d->queued++;
    r->queued = true;
    if (!evtimer_pending(d->kick, NULL)) {
        struct timeval zero = {0, 0};
        evtimer_add(d->kick, &zero);
    }
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
    if (flags & DB_CUSTOM_PLANS)
        buf_puts(&b, "-c plan_cache_mode=force_custom_plan");
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
        c->retry = evtimer_new(base, db_retry_cb, c);
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
