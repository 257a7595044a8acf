/* it_req: cancelled requests against a real PostgreSQL and Redis: a module
 * that cancels its scope and frees itself while its statements and commands
 * are queued or running never has a callback run after (ASan would see the
 * freed argument used), and the connections stay usable. */
#include "support/itsup.h"
#include "common/config.h"
#include "common/db.h"
#include "common/mem.h"
#include "common/rds.h"
#include "common/req.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

/* A stand-in module: freed while its requests are in flight. */
struct owner {
    struct req_scope reqs;
    int *calls; /* outside the owner: counts callbacks that ran anyway */
};

static void owner_db_cb(void *arg, const struct db_result *r) {
    (void)r;
    struct owner *o = arg;
    (*o->calls)++;
}

static void owner_rds_cb(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    struct owner *o = arg;
    (*o->calls)++;
}

/* A request of the test's own, to learn when the connection moved past the
 * cancelled ones. */
struct probe {
    bool done;
    bool ok;
};

static void probe_db_cb(void *arg, const struct db_result *r) {
    struct probe *p = arg;
    p->ok = r->status == DB_OK && PQntuples(r->res) == 1 && !strcmp(db_get(r->res, 0, 0), "2");
    p->done = true;
}

static void probe_rds_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    struct probe *p = arg;
    p->ok = reply && reply->type == REDIS_REPLY_STATUS && !strcmp(reply->str, "PONG");
    p->done = true;
}

/* owner_new: a stand-in module whose callbacks count in *calls. */
static struct owner *owner_new(int *calls) {
    struct owner *o = mem_calloc(1, sizeof(*o));
    o->calls = calls;
    return o;
}

/* wait_until: runs the loop until cond(arg), bounded by about 30 s of turns. */
static void wait_until(struct event_base *base, bool (*cond)(void *), void *arg) {
    for (int i = 0; i < 3000 && !cond(arg); i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static bool flag_set(void *arg) {
    return *(const bool *)arg;
}

static bool pool_up(void *arg) {
    return db_up(arg);
}

static bool redis_up(void *arg) {
    return rds_up(arg);
}

/* wait_for: runs the loop until *flag, bounded by about 30 s of turns. */
static void wait_for(struct event_base *base, bool *flag) {
    wait_until(base, flag_set, flag);
}

/* pool_open: a pool of one connection to the test database, connected. */
static db *pool_open(struct event_base *base) {
    db *d = db_open(base, getenv("HERALD_TEST_DATABASE_URL"), 1, 10000, 0);
    wait_until(base, pool_up, d);
    cr_assert(db_up(d), "the pool connected");
    return d;
}

TestSuite(req, .timeout = 120);

Test(req, a_freed_module_never_hears_from_postgresql) {
    it_require_stack();
    struct event_base *base = event_base_new();
    db *d = pool_open(base);
    int calls = 0;
    struct owner *o = owner_new(&calls);
    /* one connection: the first runs, the second and third wait behind it */
    req_scope_add(&o->reqs, db_query(d, "SELECT pg_sleep(0.3)", 0, NULL, owner_db_cb, o));
    req_scope_add(&o->reqs, db_query(d, "SELECT 1", 0, NULL, owner_db_cb, o));
    const char *p[] = {"7"};
    req_scope_add(&o->reqs, db_query_prepared(d, "SELECT $1::int", 1, p, owner_db_cb, o));
    cr_expect_eq(o->reqs.count, 3);
    req_scope_cancel(&o->reqs);
    cr_expect(req_scope_idle(&o->reqs));
    mem_free(o);
    /* the connection reads the running statement's answer and drops it; the
     * probe, queued after it, answers only then */
    struct probe pr = {0};
    db_query(d, "SELECT 2", 0, NULL, probe_db_cb, &pr);
    wait_for(base, &pr.done);
    cr_assert(pr.done, "the probe was answered");
    cr_expect(pr.ok, "the connection still works after dropping the answer");
    cr_expect_eq(calls, 0, "no cancelled callback ran");
    cr_expect_eq(db_pending(d), 0);
    db_close(d);
    cr_expect_eq(calls, 0);
    event_base_free(base);
}

Test(req, a_cancelled_statement_is_not_answered_by_the_close) {
    it_require_stack();
    struct event_base *base = event_base_new();
    db *d = pool_open(base);
    int calls = 0;
    struct owner *o = owner_new(&calls);
    struct req *running = db_query(d, "SELECT pg_sleep(0.2)", 0, NULL, owner_db_cb, o);
    struct req *queued = db_query(d, "SELECT 1", 0, NULL, owner_db_cb, o);
    cr_assert_not_null(running);
    cr_assert_not_null(queued);
    req_cancel(queued);
    req_cancel(running);
    mem_free(o);
    /* the close hands back what is pending: not to the cancelled */
    db_close(d);
    cr_expect_eq(calls, 0);
    event_base_free(base);
}

static void redis_cfg(struct cfg *c) {
    setenv("HERALD_DATABASE_URL", getenv("HERALD_TEST_DATABASE_URL"), 1);
    setenv("HERALD_REDIS_URL", getenv("HERALD_TEST_REDIS_URL"), 1);
    char err[256];
    cr_assert_eq(cfg_load(c, err, sizeof(err)), 0, "%s", err);
}

Test(req, a_freed_module_never_hears_from_redis) {
    it_require_stack();
    struct cfg c;
    redis_cfg(&c);
    struct event_base *base = event_base_new();
    rds *r = rds_open(base, &c);
    wait_until(base, redis_up, r);
    cr_assert(rds_up(r), "connected to Redis");
    int calls = 0;
    struct owner *o = owner_new(&calls);
    /* BLPOP blocks the connection for 0.3 s: the commands after it wait */
    const char *blpop[] = {"BLPOP", "herald:test:it_req:nothing", "0.3"};
    const char *ping[] = {"PING"};
    req_scope_add(&o->reqs, rds_command(r, owner_rds_cb, o, 3, blpop, NULL));
    req_scope_add(&o->reqs, rds_command(r, owner_rds_cb, o, 1, ping, NULL));
    cr_expect_eq(o->reqs.count, 2);
    req_scope_cancel(&o->reqs);
    mem_free(o);
    struct probe pr = {0};
    rds_command(r, probe_rds_cb, &pr, 1, ping, NULL);
    wait_for(base, &pr.done);
    cr_assert(pr.done, "the probe was answered");
    cr_expect(pr.ok);
    cr_expect_eq(calls, 0, "no cancelled callback ran");
    /* and one cancelled while in flight when the connection closes */
    o = owner_new(&calls);
    req_scope_add(&o->reqs, rds_command(r, owner_rds_cb, o, 3, blpop, NULL));
    req_scope_cancel(&o->reqs);
    mem_free(o);
    rds_close(r);
    cr_expect_eq(calls, 0);
    event_base_free(base);
    cfg_free(&c);
}
