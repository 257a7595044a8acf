/* req: a request sent to PostgreSQL (db_query) or Redis (rds_command) that
 * its sender can cancel, and a scope that holds all of one module's, so the
 * module can free itself at any time: cancelling is synchronous, a cancelled
 * request's callback never runs, and the connection reads and drops its
 * answer (or never sends it). */
#ifndef HERALD_COMMON_REQ_H
#define HERALD_COMMON_REQ_H

#include <stdbool.h>

struct req_scope;

/* Embedded in the transport's own request; the fields are the transports'
 * and this module's. */
struct req {
    void (*cancel)(struct req *r); /* the transport's: forget the callback */
    struct req_scope *scope;       /* NULL when in none */
    struct req *prev, *next;       /* in scope */
    void (*drop)(void *arg);       /* runs with drop_arg when cancelled */
    void *drop_arg;
};

/* A module's requests not yet answered; zero-initialised is empty. */
struct req_scope {
    struct req *head;
    int count;
};

/* req_scope_add: r belongs to s until its callback starts, or until it is
 * cancelled. r NULL (the callback already ran, during a shutdown) is
 * allowed. Returns r. */
struct req *req_scope_add(struct req_scope *s, struct req *r);
/* req_scope_add_arg: req_scope_add, and if r is cancelled, drop(arg) runs
 * instead of the callback: for a callback argument made for this request
 * alone (drop frees it, or answers who waited for it). If r is NULL, drop
 * never runs (the callback did). */
struct req *req_scope_add_arg(struct req_scope *s, struct req *r, void (*drop)(void *arg),
                              void *arg);
/* req_scope_add_owning: req_scope_add_arg with mem_free: arg (mem_alloc'd
 * for this request) is freed if r is cancelled, else by the callback. */
struct req *req_scope_add_owning(struct req_scope *s, struct req *r, void *arg);
/* req_scope_cancel: cancels every request of s; s is empty afterwards. */
void req_scope_cancel(struct req_scope *s);
/* req_scope_idle: no request of s is waiting for its answer. */
bool req_scope_idle(const struct req_scope *s);

/* req_cancel: r's callback will never run; r is invalid afterwards. A
 * handle is valid from its return until its callback starts. NULL: nothing. */
void req_cancel(struct req *r);

/* For the transports: req_init before handing r out; req_finish when its
 * callback is about to run (r leaves its scope). */
void req_init(struct req *r, void (*cancel)(struct req *r));
void req_finish(struct req *r);

#endif
