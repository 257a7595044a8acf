/* test_req: cancellable requests and scopes, without servers: a scope
 * cancels what it holds and runs the drops, an answered request leaves its
 * scope, and the PostgreSQL pool and the Redis connection never call a
 * cancelled callback (nor any callback inside db_query/rds_command). */
#include "common/config.h"
#include "common/db.h"
#include "common/mem.h"
#include "common/rds.h"
#include "common/req.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <string.h>

/* A transport of the test's own. */
struct fake {
    struct req base;
    int *cancelled;
};

static void fake_cancel(struct req *r) {
    struct fake *f = (struct fake *)r;
    (*f->cancelled)++;
}

static void count_drop(void *arg) {
    (*(int *)arg)++;
}

TestSuite(req);

Test(req, a_scope_cancels_what_it_holds) {
    int cancelled = 0, dropped = 0;
    struct fake a = {.cancelled = &cancelled}, b = {.cancelled = &cancelled};
    struct fake c = {.cancelled = &cancelled};
    req_init(&a.base, fake_cancel);
    req_init(&b.base, fake_cancel);
    req_init(&c.base, fake_cancel);
    struct req_scope s = {0};
    req_scope_add(&s, &a.base);
    req_scope_add_arg(&s, &b.base, count_drop, &dropped);
    req_scope_add_arg(&s, &c.base, count_drop, &dropped);
    cr_expect_eq(s.count, 3);
    /* c is answered: it leaves the scope, and its argument is the callback's */
    req_finish(&c.base);
    cr_expect_eq(s.count, 2);
    req_scope_cancel(&s);
    cr_expect_eq(cancelled, 2);
    cr_expect_eq(dropped, 1);
    cr_expect(req_scope_idle(&s));
    cr_expect_null(s.head);
    cr_expect_null(req_scope_add(&s, NULL), "a request answered at once is no handle");
    req_cancel(NULL);
}

Test(req, a_request_moves_between_scopes) {
    int cancelled = 0;
    struct fake a = {.cancelled = &cancelled};
    req_init(&a.base, fake_cancel);
    struct req_scope s1 = {0}, s2 = {0};
    req_scope_add(&s1, &a.base);
    req_scope_add(&s2, &a.base);
    cr_expect(req_scope_idle(&s1));
    cr_expect_eq(s2.count, 1);
    req_scope_cancel(&s1);
    cr_expect_eq(cancelled, 0);
    req_scope_cancel(&s2);
    cr_expect_eq(cancelled, 1);
}

struct counter {
    int calls;
    bool inside; /* set while db_query/rds_command runs */
    bool ran_inside;
};

static void db_count(void *arg, const struct db_result *r) {
    (void)r;
    struct counter *c = arg;
    c->calls++;
    if (c->inside)
        c->ran_inside = true;
}

static void rds_count(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    struct counter *c = arg;
    c->calls++;
    if (c->inside)
        c->ran_inside = true;
}

static void turns(struct event_base *base, int n) {
    for (int i = 0; i < n; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

/* expect_only_kept_answered: cancels b, then turns the loop until a's
 * callback ran (at most 2000 turns): it ran once, on a later turn than the
 * one that made it, and b's never. kept and gone count a's and b's. */
static void expect_only_kept_answered(struct event_base *base, struct req *a, struct req *b,
                                      const struct counter *kept, const struct counter *gone) {
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    req_cancel(b);
    for (int i = 0; i < 2000 && kept->calls == 0; i++)
        turns(base, 1);
    cr_expect_eq(kept->calls, 1, "the kept request is answered once, on a later turn");
    cr_expect_not(kept->ran_inside);
    cr_expect_eq(gone->calls, 0);
}

Test(req, the_pool_never_calls_a_cancelled_callback) {
    struct event_base *base = event_base_new();
    /* nothing listens on port 1: connecting fails, the pool is unavailable */
    db *d = db_open(base, "host=127.0.0.1 port=1 connect_timeout=1", 1, 200, 0);
    turns(base, 20);
    struct counter kept = {0}, gone = {0};
    kept.inside = gone.inside = true;
    struct req *a = db_query(d, "SELECT 1", 0, NULL, db_count, &kept);
    struct req *b = db_query(d, "SELECT 1", 0, NULL, db_count, &gone);
    kept.inside = gone.inside = false;
    expect_only_kept_answered(base, a, b, &kept, &gone);
    /* after shutdown a query is answered at once and has no handle */
    db_shutdown(d);
    struct counter late = {0};
    cr_expect_null(db_query(d, "SELECT 1", 0, NULL, db_count, &late));
    cr_expect_eq(late.calls, 1);
    db_close(d);
    cr_expect_eq(gone.calls, 0);
    event_base_free(base);
}

Test(req, redis_never_calls_a_cancelled_callback) {
    struct event_base *base = event_base_new();
    struct cfg c = {0};
    c.redis_host = "127.0.0.1";
    c.redis_port = 1;
    c.redis_timeout_ms = 200;
    rds *r = rds_open(base, &c);
    struct counter kept = {0}, gone = {0};
    const char *ping[] = {"PING"};
    kept.inside = gone.inside = true;
    struct req *a = rds_command(r, rds_count, &kept, 1, ping, NULL);
    struct req *b = rds_command(r, rds_count, &gone, 1, ping, NULL);
    kept.inside = gone.inside = false;
    expect_only_kept_answered(base, a, b, &kept, &gone);
    rds_close(r);
    cr_expect_eq(gone.calls, 0);
    event_base_free(base);
}
