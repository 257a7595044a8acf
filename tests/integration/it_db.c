/* it_db: the asynchronous pool against a real PostgreSQL: prepared statements
 * are prepared once per connection, run by name, and prepared again on the
 * new connection after the old one was killed. */
#include "support/itpdb.h"
#include "support/itsup.h"
#include "common/db.h"
#include "common/mem.h"
#include "worker/ledger.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    cr_expect_str_eq(c.value, "auto", "without DB_KEYED_PLANS, PostgreSQL's own choice");

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

Test(db, keyed_sessions_plan_once_and_keep_the_urls_options) {
    it_require_stack();
    struct event_base *base = event_base_new();
    char url[1024];
    const char *u = getenv("HERALD_TEST_DATABASE_URL");
    snprintf(url, sizeof(url), "%s%soptions=-c%%20work_mem%%3D5MB", u, strchr(u, '?') ? "&" : "?");
    db *d = db_open(base, url, 1, 5000, DB_KEYED_PLANS);
    struct call c = run_ok(base, d, false, "SELECT current_setting('plan_cache_mode')", 0, NULL);
    cr_assert_eq(c.status, DB_OK, "%s", c.value);
    cr_expect_str_eq(c.value, "force_generic_plan");
    c = run(base, d, false,
            "SELECT current_setting('enable_seqscan') || current_setting('enable_hashjoin') ||"
            " current_setting('enable_mergejoin')",
            0, NULL);
    cr_expect_str_eq(c.value, "offoffoff");
    c = run(base, d, false, "SELECT current_setting('work_mem')", 0, NULL);
    cr_expect_str_eq(c.value, "5MB", "the url's own options are kept");
    db_close(d);
    event_base_free(base);
}

/* plan_text: the rows of an EXPLAIN, one line each. */
struct plan_text {
    struct event_base *base;
    char text[8192];
    bool done, ok;
};

static void plan_done(void *arg, const struct db_result *r) {
    struct plan_text *p = arg;
    size_t len = 0;
    p->ok = r->status == DB_OK;
    p->text[0] = '\0';
    for (int i = 0; p->ok && i < PQntuples(r->res); i++) {
        int n = snprintf(p->text + len, sizeof(p->text) - len, "%s\n", db_get(r->res, i, 0));
        if (n < 0 || (size_t)n >= sizeof(p->text) - len)
            break;
        len += (size_t)n;
    }
    if (!p->ok)
        snprintf(p->text, sizeof(p->text), "%s", r->message);
    p->done = true;
    event_base_loopbreak(p->base);
}

static void claim_done(void *arg, const struct db_result *r) {
    struct call *c = arg;
    c->status = r->status;
    snprintf(c->value, sizeof(c->value), "%d", r->status == DB_OK ? PQntuples(r->res) : -1);
    c->done = true;
    event_base_loopbreak(c->base);
}

/* claim: the worker's claim statement (worker/ledger.c) of one id, on the loop. */
static struct call claim(struct event_base *base, db *d, const char *id) {
    struct call c = {.base = base};
    const char *ids[] = {id};
    ledger_claim(d, "it-consumer", CH_WEBHOOK, ids, 1, 60000, 0, claim_done, &c);
    while (!c.done)
        event_base_loop(base, EVLOOP_ONCE);
    return c;
}

/* A fresh install: the worker's session plans its claim while notifications is empty,
 * then the table fills (no ANALYZE in between, so the statistics still say empty). The
 * plan, made once, must still reach rows by key: a plan made on the empty table without
 * DB_KEYED_PLANS's steering is a scan of every partition, kept for the life of the plan. */
Test(db, a_claim_planned_on_an_empty_table_still_finds_rows_by_key, .timeout = 120) {
    it_require_stack();
    pdb_create("herald_it_plans");
    free(pdb_migrate(NULL, NULL));
    pdb_exec("INSERT INTO tenants (name, webhook_secret) VALUES ('acme', 'whsec_x')", NULL);
    struct event_base *base = event_base_new();
    db *d = db_open(base, pdb.url, 1, 10000, DB_KEYED_PLANS);
    struct call c = claim(base, d, "00000000-0000-7000-8000-000000000000");
    for (int i = 0; i < 100 && c.status != DB_OK; i++) {
        usleep(100000); /* the pool connects in the background */
        c = claim(base, d, "00000000-0000-7000-8000-000000000000");
    }
    cr_assert_eq(c.status, DB_OK, "claim on the empty table: %s", c.value);
    cr_expect_str_eq(c.value, "0");

    pdb_exec(
        "INSERT INTO notifications (id, tenant_id, channel, recipient, body, created_at,"
        " updated_at, due_at, in_stream)"
        " SELECT (left(herald_uuid7_floor((extract(epoch FROM now()) * 1000)::bigint)::text, 14)"
        " || '7' || right(gen_random_uuid()::text, 21))::uuid,"
        " t.id, 'webhook', 'https://example.com/h', 'x', now(), now(), now(), true"
        " FROM tenants t, generate_series(1, 20000)",
        NULL);
    char *id = pdb_value("SELECT id FROM notifications ORDER BY id LIMIT 1 OFFSET 10000", NULL);
    c = claim(base, d, id);
    cr_assert_eq(c.status, DB_OK, "claim on the full table: %s", c.value);
    cr_expect_str_eq(c.value, "1", "the row is claimed");

    /* the plan the session holds for the claim, as it would run now */
    struct call name = run(base, d, false,
                           "SELECT name FROM pg_prepared_statements WHERE statement LIKE "
                           "'%unnest($3::uuid[])%' AND statement LIKE '%lease_until%'",
                           0, NULL);
    cr_assert_eq(name.status, DB_OK, "%s", name.value);
    cr_assert_neq(name.value[0], '\0', "the claim is a prepared statement of the session");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "EXPLAIN (COSTS OFF) EXECUTE %s('it-consumer', '60000', '{%s}', 'webhook', '0')",
             name.value, id);
    struct plan_text p = {.base = base};
    db_query(d, sql, 0, NULL, plan_done, &p);
    while (!p.done)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert(p.ok, "%s", p.text);
    cr_expect(strstr(p.text, "Index Scan using notifications_") != NULL, "key lookups:\n%s",
              p.text);
    cr_expect(strstr(p.text, "Seq Scan on notifications") == NULL, "no scan of a partition:\n%s",
              p.text);
    cr_expect(strstr(p.text, "Hash Join") == NULL, "no hash join:\n%s", p.text);
    free(id);
    db_close(d);
    event_base_free(base);
    pdb_drop();
}
