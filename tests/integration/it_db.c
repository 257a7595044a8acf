/* it_db: the asynchronous pool against a real PostgreSQL: prepared statements
 * are prepared once per connection, run by name, and prepared again on the
 * new connection after the old one was killed. */
#include "support/itsup.h"
#include "common/db.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct call {
    struct event_base *base;
    enum db_status status;
    char value[64];
    bool done;
};

static void call_done(void *arg, const struct db_result *r) {
    struct call *c = arg;
    c->status = r->status;
    c->value[0] = '\0';
    if (r->status == DB_OK && PQntuples(r->res) > 0)
        snprintf(c->value, sizeof(c->value), "%s", db_get(r->res, 0, 0));
    else if (r->status != DB_OK)
        snprintf(c->value, sizeof(c->value), "%s", r->message);
    c->done = true;
    event_base_loopbreak(c->base);
}

/* run: one statement on the loop until it answers (bounded by the pool's own deadline) */
static struct call run(struct event_base *base, db *d, bool prepared, const char *sql, int n,
                       const char *const *params) {
    struct call c = {.base = base};
    if (prepared)
        db_query_prepared(d, sql, n, params, call_done, &c);
    else
        db_query(d, sql, n, params, call_done, &c);
    while (!c.done)
        event_base_loop(base, EVLOOP_ONCE);
    return c;
}

/* run_ok: as run, retrying (up to ~10 s) while the pool reconnects */
static struct call run_ok(struct event_base *base, db *d, bool prepared, const char *sql, int n,
                          const char *const *params) {
    struct call c = {0};
    for (int i = 0; i < 100; i++) {
        c = run(base, d, prepared, sql, n, params);
        if (c.status == DB_OK)
            return c;
        struct timeval tv = {0, 100000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return c;
}

static const char sq_sql[] = "SELECT ($1::int * $1::int)::text";
static const char count_sql[] = "SELECT count(*) FROM pg_prepared_statements WHERE statement = "
                                "'SELECT ($1::int * $1::int)::text'";

TestSuite(db, .timeout = 60);

Test(db, prepared_once_per_connection_and_again_after_a_reconnect) {
    it_require_stack();
    struct event_base *base = event_base_new();
    db *d = db_open(base, getenv("HERALD_TEST_DATABASE_URL"), 1, 5000, 0);

    const char *p7[] = {"7"};
    struct call c = run_ok(base, d, true, sq_sql, 1, p7);
    cr_assert_eq(c.status, DB_OK, "first run: %s", c.value);
    cr_expect_str_eq(c.value, "49");
    const char *p9[] = {"9"};
    c = run(base, d, true, sq_sql, 1, p9);
    cr_assert_eq(c.status, DB_OK, "second run: %s", c.value);
    cr_expect_str_eq(c.value, "81");
    c = run(base, d, false, count_sql, 0, NULL);
    cr_assert_eq(c.status, DB_OK);
    cr_expect_str_eq(c.value, "1", "prepared once on the one connection");
    c = run(base, d, false, "SELECT current_setting('plan_cache_mode')", 0, NULL);
    cr_expect_str_eq(c.value, "auto", "without DB_CUSTOM_PLANS, PostgreSQL's own choice");

    /* kill the session: the next connection has no prepared statements */
    c = run(base, d, false, "SELECT pg_backend_pid()::text", 0, NULL);
    cr_assert_eq(c.status, DB_OK);
    char pid[64];
    snprintf(pid, sizeof(pid), "%s", c.value);
    it_sql_exec("SELECT pg_terminate_backend($1::int)", pid, NULL);
    const char *p3[] = {"3"};
    c = run_ok(base, d, true, sq_sql, 1, p3);
    cr_assert_eq(c.status, DB_OK, "after the reconnect: %s", c.value);
    cr_expect_str_eq(c.value, "9");
    c = run(base, d, false, "SELECT pg_backend_pid()::text", 0, NULL);
    cr_expect_str_neq(c.value, pid, "a new session");
    c = run(base, d, false, count_sql, 0, NULL);
    cr_expect_str_eq(c.value, "1", "prepared again on the new session");

    /* a statement the server refuses at PREPARE is a plain refusal */
    c = run(base, d, true, "SELECT * FROM no_such_table", 0, NULL);
    cr_expect_eq(c.status, DB_ERROR, "%s", c.value);
    c = run(base, d, true, sq_sql, 1, p7);
    cr_expect_eq(c.status, DB_OK, "the connection still works: %s", c.value);
    cr_expect_str_eq(c.value, "49");

    db_close(d);
    event_base_free(base);
}

Test(db, sessions_plan_every_execution_and_keep_the_urls_options) {
    it_require_stack();
    struct event_base *base = event_base_new();
    char url[1024];
    const char *u = getenv("HERALD_TEST_DATABASE_URL");
    snprintf(url, sizeof(url), "%s%soptions=-c%%20work_mem%%3D5MB", u, strchr(u, '?') ? "&" : "?");
    db *d = db_open(base, url, 1, 5000, DB_CUSTOM_PLANS);
    struct call c = run_ok(base, d, false, "SELECT current_setting('plan_cache_mode')", 0, NULL);
    cr_assert_eq(c.status, DB_OK, "%s", c.value);
    cr_expect_str_eq(c.value, "force_custom_plan");
    c = run(base, d, false, "SELECT current_setting('work_mem')", 0, NULL);
    cr_expect_str_eq(c.value, "5MB", "the url's own options are kept");
    db_close(d);
    event_base_free(base);
}
