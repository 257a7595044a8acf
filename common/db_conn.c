/* db_conn: one pooled libpq connection's life on the loop: connecting with
 * a deadline, sending (preparing a statement first where needed), reading
 * the answer, and dropping and re-making the connection with backoff. */
#include "common/db_int.h"
#include "common/log.h"
#include "common/mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

static void db_conn_io_cb(evutil_socket_t fd, short what, void *arg);

static const char *const db_state_names[] = {"down", "connecting", "idle", "busy"};

static void db_conn_set_state(struct db_conn *c, enum db_conn_state s) {
    if (c->state != s)
        HLOG(HLOG_DEBUG, "db.conn_state", NULL, "connection %d: %s -> %s", c->idx,
             db_state_names[c->state], db_state_names[s]);
    c->state = s;
}

static void db_conn_watch(struct db_conn *c, short what) {
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

/* db_conn_errmsg: libpq's last error on c, first line only. */
static void db_conn_errmsg(const struct db_conn *c, char *msg, size_t n) {
    snprintf(msg, n, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
    msg[strcspn(msg, "\n")] = '\0';
}

/* db_conn_close: c's socket, session and partial result go; c is down. */
void db_conn_close(struct db_conn *c) {
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
    db_conn_set_state(c, CONN_DOWN);
}

void db_conn_retry_cb(evutil_socket_t fd, short what, void *arg) {
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

static void db_conn_schedule(struct db_conn *c) {
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
    if (c->backoff_ms > 5000)
        c->backoff_ms = 5000;
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
}

/* db_conn_drop: closes c; the running statement's outcome is unknown. */
void db_conn_drop(struct db_conn *c, const char *why) {
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
    db_conn_schedule(c);
}

void db_conn_start(struct db_conn *c) {
    db *d = c->pool;
    const char *const keys[] = {"dbname", "options", NULL};
    const char *const vals[] = {d->url, d->options, NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        char msg[256];
        db_conn_errmsg(c, msg, sizeof(msg));
        HLOG(HLOG_WARN, "db.connect_failed", NULL, "connection %d: %s", c->idx, msg);
        db_conn_close(c);
        db_conn_schedule(c);
        return;
    }
    db_conn_set_state(c, CONN_CONNECTING);
    struct timeval tv = {d->timeout_ms / 1000, (d->timeout_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
    db_conn_watch(c, EV_WRITE);
}

static void db_conn_connect_step(struct db_conn *c) {
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    switch (st) {
    case PGRES_POLLING_READING:
        db_conn_watch(c, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        db_conn_watch(c, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        evtimer_del(c->retry);
        if (PQsetnonblocking(c->pg, 1) != 0) {
            db_conn_drop(c, "cannot set non-blocking");
            return;
        }
        db_conn_set_state(c, CONN_IDLE);
        if (c->backoff_ms || !c->pool->was_up)
            HLOG(HLOG_INFO, "db.connected", NULL, "connection %d established", c->idx);
        c->backoff_ms = 0;
        c->pool->was_up = true;
        db_conn_watch(c, EV_READ);
        db_conn_dispatch(c->pool);
        return;
    default: {
        char msg[256];
        db_conn_errmsg(c, msg, sizeof(msg));
        HLOG(HLOG_WARN, "db.connect_failed", NULL, "connection %d: %s", c->idx, msg);
        evtimer_del(c->retry);
        db_conn_close(c);
        db_check_gone(c->pool);
        db_conn_schedule(c);
        return;
    }
    }
}

static bool db_conn_put(struct db_conn *c, struct db_req *r);
static void db_conn_flush_watch(struct db_conn *c);
static void db_conn_io_cb(evutil_socket_t fd, short what, void *arg);

/* db_conn_prepared_run: the PREPARE of cur's statement answered. On success sends
 * the statement itself and returns true; otherwise false, with the failed
 * result (if any) left in c->last for the caller to report. */
static bool db_conn_prepared_run(struct db_conn *c) {
    c->preparing = false;
    if (!c->last || PQresultStatus(c->last) != PGRES_COMMAND_OK)
        return false;
    PQclear(c->last);
    c->last = NULL;
    c->prepared |= 1u << c->cur->stmt;
    if (!db_conn_put(c, c->cur))
        return false;
    db_conn_flush_watch(c);
    return true;
}

/* db_conn_read: consumes input; finishes the running statement when its
 * last result arrives. Returns -1 if the connection was dropped. */
static int db_conn_read(struct db_conn *c) {
    if (!PQconsumeInput(c->pg)) {
        char msg[256];
        db_conn_errmsg(c, msg, sizeof(msg));
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
            if (c->preparing && db_conn_prepared_run(c))
                return c->state == CONN_DOWN ? -1 : 0;
            struct db_req *r = c->cur;
            PGresult *last = c->last;
            c->cur = NULL;
            c->last = NULL;
            c->pool->running--;
            db_conn_set_state(c, CONN_IDLE);
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
        db_conn_connect_step(c);
        return;
    }
    if (what & EV_WRITE) {
        int f = PQflush(c->pg);
        if (f < 0) {
            db_conn_drop(c, "write failed");
            return;
        }
        if (f == 0)
            db_conn_watch(c, EV_READ);
        else
            return;
    }
    if (what & EV_READ) {
        if (db_conn_read(c) < 0)
            return;
        if (c->state == CONN_IDLE)
            db_conn_dispatch(c->pool);
    }
}

/* db_conn_put: hands r's statement to libpq on c; for a prepared statement not
 * yet prepared on c, its PREPARE (the run follows in db_conn_prepared_run). False
 * when nothing could be sent. */
static bool db_conn_put(struct db_conn *c, struct db_req *r) {
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

static void db_conn_flush_watch(struct db_conn *c) {
    int f = PQflush(c->pg);
    if (f < 0)
        db_conn_drop(c, "write failed");
    else
        db_conn_watch(c, f == 1 ? (short)(EV_READ | EV_WRITE) : EV_READ);
}

static void db_conn_send(struct db_conn *c, struct db_req *r) {
    db *d = c->pool;
    if (!db_conn_put(c, r)) {
        c->preparing = false;
        char msg[256];
        db_conn_errmsg(c, msg, sizeof(msg));
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
    db_conn_set_state(c, CONN_BUSY);
    db_conn_flush_watch(c);
}

void db_conn_dispatch(db *d) {
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
        db_conn_send(c, r);
    }
}
