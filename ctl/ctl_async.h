/* ctl_async: runs one common/ops operation from heraldctl on a private event
 * loop with the same asynchronous db.h/rds.h clients the services use. */
#ifndef HERALD_CTL_CTL_ASYNC_H
#define HERALD_CTL_CTL_ASYNC_H

#include <stdbool.h>

#include "ctl/ctl.h"
#include "common/db.h"
#include "common/rds.h"

struct event_base;

struct ctl_async {
    struct event_base *base;    /* owned */
    db *db;                     /* owned; one connection */
    rds *rds;                   /* owned; NULL unless asked for */
    bool redis_up;              /* Redis answered the connect within HERALD_REDIS_TIMEOUT_MS */
    char redis_err[HD_ERR_LEN]; /* !redis_up: why, in a few words ("connection refused") */
    bool done;
};

/* ctl_async_open: loads the configuration into c (freed by ctl_db_close(),
 * as main() does for every command), checks that PostgreSQL answers (with
 * ctl_db_open, so an outage is reported naming the target and the reason),
 * creates the loop and starts connecting to PostgreSQL and, with redis, to
 * Redis, waiting up to HERALD_REDIS_TIMEOUT_MS (at least 1 s) for Redis; if
 * it is not up by then, a synchronous probe fills redis_err. Blocks for those
 * waits. Returns 0, or HD_EXIT_CONFIG / HD_EXIT_DB after printing why.
 * Release with ctl_async_close() either way. */
int ctl_async_open(struct ctl *c, struct ctl_async *a, bool redis) HD_MUSTCHECK;

/* ctl_async_run: runs the loop until ctl_async_done(). Blocks; every db and
 * rds call has its own deadline, so this ends. Returns 0, or CTL_EXIT_FAIL
 * after saying so if the loop ran dry before the callback (a bug). */
int ctl_async_run(struct ctl_async *a) HD_MUSTCHECK;

/* ctl_async_done: called from the operation's callback: stops the loop. */
void ctl_async_done(struct ctl_async *a);

/* ctl_async_close: closes the clients and the loop; safe after a failed open. */
void ctl_async_close(struct ctl_async *a);

/* ctl_async_redis_fail: prints that Redis could not be reached for what
 * (ctl_reach_redis_fail, with then): the reason is the connect's when a has
 * one, else err (the operation's; borrowed). Returns HD_EXIT_REDIS. */
int ctl_async_redis_fail(const struct ctl *c, const struct ctl_async *a, const char *what,
                         const char *err, const char *then);

/* ctl_write_out: writes b's n bytes to stdout and flushes; CTL_EXIT_OK, or
 * CTL_EXIT_FAIL after saying it could not. what names the command. */
int ctl_write_out(const char *what, const char *s, size_t n);

#endif
