/* db_int: the pool's private parts, shared by common/db.c (requests: the
 * queue, deadlines, cancellation, answers) and common/db_conn.c (each
 * connection's life: connecting, sending, reading, dropping). Nothing
 * outside those two files includes it. */
#ifndef HERALD_COMMON_DB_INT_H
#define HERALD_COMMON_DB_INT_H

#include "common/db.h"
#include "common/req.h"

#include <event2/event.h>
#include <stdint.h>

enum db_conn_state { CONN_DOWN = 0, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

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
    bool answered;        /* in the pool's done list: its answer waits for the loop */
    enum db_status later; /* that answer */
    char *later_msg;
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
    struct event *kick;  /* zero-delay: answers what done holds, dispatches */
    struct db_req *done; /* answered inside db_query, called back on the next turn */
    bool submitting;     /* inside db_query */
};

/* db_conn.c */
void db_conn_start(struct db_conn *c);
void db_conn_retry_cb(evutil_socket_t fd, short what, void *arg);
/* db_conn_close: c's socket, session and partial result go; c is down. */
void db_conn_close(struct db_conn *c);
/* db_conn_drop: closes c; its running statement's outcome is unknown (DB_LOST). */
void db_conn_drop(struct db_conn *c, const char *why);
/* db_conn_dispatch: hands queued requests to idle connections. */
void db_conn_dispatch(db *d);

/* db.c */
/* db_req_finish: answers r (or keeps the answer for the next turn inside
 * db_query) and frees it. */
void db_req_finish(struct db_req *r, enum db_status st, PGresult *res, const char *msg);
/* db_check_gone: with no connection up or coming, the queue fails. */
void db_check_gone(db *d);

#endif
