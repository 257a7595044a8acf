/* it_partitions: partitions of notifications and delivery_attempts are made ahead of the
 * clock (by heraldctl migrate and by herald-api before it listens), stay contiguous
 * after a stop, and retention detaches and drops whole partitions once they are old and
 * hold nothing pending, with their attempts, and never while a row in them is pending. */
#include "support/itpdb.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

static pid_t api_pid;

static void teardown(void) {
    if (api_pid > 0) {
        it_kill(api_pid, SIGTERM);
        it_wait_exit(api_pid, 20000);
        api_pid = 0;
    }
    pdb_drop();
}

TestSuite(partitions, .fini = teardown, .timeout = 120);

/* no_partition_of_now: every partition made ahead lies in the past. */
static bool no_partition_of_now(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM herald_partitions WHERE upper_ms > "
                    "(extract(epoch FROM now()) * 1000)::bigint") == 0;
}

/* first_bound_old: the first partition of notifications has an upper bound more than 1 s old. */
static bool first_bound_old(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM herald_partitions WHERE parent = 'notifications' AND "
                    "upper_ms < (extract(epoch FROM now()) * 1000)::bigint - 1000") > 0;
}

/* key: a tenant "acme" and an API key of it, made by heraldctl on the private database. */
static char *key(void) {
    const char *env[] = {pdb.url_env, NULL};
    const char *t[] = {"heraldctl", "tenants", "create", "acme", NULL};
    int code = -1;
    char *out = it_run_capture(t, env, &code);
    cr_assert_eq(code, 0);
    mem_free(out);
    const char *k[] = {"heraldctl", "keys", "create", "--tenant", "acme", NULL};
    out = it_run_capture(k, env, &code);
    cr_assert_eq(code, 0);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

/* contiguous: the partitions of table cover one unbroken range from MINVALUE (or the
 * lowest kept bound) to at least ms_ahead past the database's clock. */
static void assert_contiguous(const char *table, long ms_ahead) {
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FILTER (WHERE lower_ms IS DISTINCT FROM prev), "
             "max(upper_ms) >= (extract(epoch FROM now()) * 1000)::bigint + %ld "
             "FROM (SELECT lower_ms, upper_ms, lag(upper_ms) OVER (ORDER BY lower_ms NULLS FIRST) "
             "AS prev, row_number() OVER (ORDER BY lower_ms NULLS FIRST) AS n "
             "FROM herald_partitions WHERE parent = '%s') p WHERE n > 1",
             ms_ahead, table);
    PGresult *r = pdb_sql(sql, NULL);
    cr_expect_str_eq(PQgetvalue(r, 0, 0), "0", "%s: no gap between partitions", table);
    cr_expect_str_eq(PQgetvalue(r, 0, 1), "t", "%s: partitions reach %ld ms ahead", table,
                     ms_ahead);
    PQclear(r);
}

Test(partitions, migrate_and_api_create_them_ahead) {
    it_require_stack();
    pdb_create("herald_it_partitions_ahead");
    const char *env[] = {"HERALD_PARTITION_MS=1000", NULL};
    char *out = pdb_migrate(NULL, env);
    cr_expect(strstr(out, "applied 006b_partitions_convert.sql"), "%s", out);
    mem_free(out);
    cr_expect_eq(pdb_long("SELECT count(*) FROM pg_class WHERE relname IN ('notifications', "
                          "'delivery_attempts') AND relkind = 'p'"),
                 2, "both tables are partitioned");
    assert_contiguous("notifications", 1000);
    assert_contiguous("delivery_attempts", 1000);
    char *k = key();

    /* nothing runs for longer than the partitions made ahead reach: then no
     * partition holds keys of now, and an insert would fail */
    cr_assert(it_eventually(no_partition_of_now, NULL, 30000), "partitions of now remain");

    char listen[64], lenv[96], auth[160];
    int port = it_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(lenv, sizeof(lenv), "HERALD_LISTEN=%s", listen);
    const char *api_env[] = {lenv, "HERALD_PARTITION_MS=1000", NULL};
    const char *argv[] = {"herald-api", NULL};
    api_pid = pdb_spawn(argv, api_env);
    char url[128];
    snprintf(url, sizeof(url), "http://%s/healthz", listen);
    cr_assert(it_wait_http_ok(url, 20000), "herald-api did not start");

    /* the first request after it listens already has its partition */
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k);
    const char *hdr[] = {auth, "Content-Type: application/json", NULL};
    const char body[] = "{\"channel\":\"webhook\",\"recipient\":\"https://example.com/h\","
                        "\"body\":\"hi\"}";
    snprintf(url, sizeof(url), "http://%s/v1/notifications", listen);
    struct it_resp r = it_http("POST", url, hdr, body, strlen(body));
    cr_expect_eq(r.status, 201, "%s", r.body);
    it_resp_free(&r);
    assert_contiguous("notifications", 1000);
    assert_contiguous("delivery_attempts", 1000);
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications"), 1);
    /* every partition is made like the first: fillfactor and the SMS trigger */
    cr_expect_eq(pdb_long("SELECT count(*) FROM herald_partitions p JOIN pg_class c ON "
                          "c.relname = p.partition WHERE p.parent = 'notifications' AND "
                          "p.lower_ms IS NOT NULL AND NOT ('fillfactor=80' = ANY(c.reloptions))"),
                 0, "new notifications partitions have fillfactor 80");
    cr_expect_eq(pdb_long("SELECT count(*) FROM herald_partitions p WHERE p.parent = "
                          "'notifications' AND NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN "
                          "pg_class c ON c.oid = t.tgrelid WHERE c.relname = p.partition AND "
                          "t.tgname = 'notifications_sms_sid_stored')"),
                 0, "every partition has the SMS receipt trigger");
    mem_free(k);
}

Test(partitions, long_stretches_are_bridged_by_one_partition) {
    it_require_stack();
    pdb_create("herald_it_partitions_bridge");
    const char *env[] = {"HERALD_PARTITION_MS=1000", NULL};
    mem_free(pdb_migrate(NULL, env));
    long before = pdb_long("SELECT count(*) FROM herald_partitions WHERE parent = "
                           "'notifications'");
    /* a client clock an hour ahead of the database's: its ids must find a partition,
     * without 3,600 partitions made for them */
    char *made = pdb_value("SELECT herald_partitions_ensure((extract(epoch FROM now()) * "
                           "1000)::bigint + 3600000, 1000, 2000)",
                           NULL);
    long after = pdb_long("SELECT count(*) FROM herald_partitions WHERE parent = "
                          "'notifications'");
    cr_expect_leq(after - before, 4, "made %s", made);
    mem_free(made);
    assert_contiguous("notifications", 3600000);
    assert_contiguous("delivery_attempts", 3600000);
    pdb_exec("INSERT INTO notifications (id, tenant_id, channel, recipient, body, created_at, "
             "updated_at, due_at, in_stream) VALUES ((left(herald_uuid7_floor((extract(epoch FROM "
             "now()) * 1000)::bigint + 3600500)::text, 14) || '7000-8000-000000000001')::uuid, 1, "
             "'webhook', 'https://x.example/', 'b', now(), now(), now(), false)",
             NULL);
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications"), 1);
}

/* row: a notification of status whose id's time is ms_ago in the past, with one attempt. */
static void row(long ms_ago, const char *status, int n) {
    char ago[32], num[32];
    snprintf(ago, sizeof(ago), "%ld", ms_ago);
    snprintf(num, sizeof(num), "%012d", n);
    pdb_exec("INSERT INTO notifications (id, tenant_id, channel, recipient, body, status, "
             "created_at, updated_at, due_at, in_stream) VALUES ((left(herald_uuid7_floor("
             "(extract(epoch FROM now()) * 1000)::bigint - $1::bigint)::text, 14) || "
             "'7000-8000-' || $3)::uuid, 1, 'webhook', 'https://x.example/', 'b', $2, now(), "
             "now(), now(), false)",
             ago, status, num, NULL);
    pdb_exec("INSERT INTO delivery_attempts SELECT id, 1, now(), 5, 'success', 200, null FROM "
             "notifications WHERE id::text LIKE '%' || $1",
             num, NULL);
}

static bool p0_dropped(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM pg_class WHERE relname IN ('notifications_p0', "
                    "'delivery_attempts_p0')") == 0;
}

/* only the first partition's two rows (one pending) and their attempts are left, and no
 * detached partition waits to be dropped */
static bool only_first_partition_left(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM notifications") == 2 &&
           pdb_long("SELECT count(*) FROM delivery_attempts") == 2 &&
           pdb_long("SELECT count(*) FROM pg_class c WHERE c.relname ~ "
                    "'^(notifications|delivery_attempts)_p' AND c.relkind = 'r' AND NOT "
                    "c.relispartition") == 0;
}

static bool all_gone(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM notifications") == 0 &&
           pdb_long("SELECT count(*) FROM delivery_attempts") == 0;
}

Test(partitions, retention_drops_whole_partitions_kept_while_pending) {
    it_require_stack();
    pdb_create("herald_it_partitions_retention");
    const char *env[] = {"HERALD_PARTITION_MS=1000", NULL};
    mem_free(pdb_migrate(NULL, env));
    /* the old table, now the first partition: one final and one pending row */
    row(60000, "sent", 1);
    row(60000, "pending", 2);
    /* the current partitions: final rows of every kind */
    pdb_past_cutoff();
    row(0, "sent", 3);
    row(0, "failed", 4);
    row(0, "cancelled", 5);
    row(0, "delivered", 6);
    pdb_exec("INSERT INTO idempotency_keys VALUES (1, 'notifications', 'old', '\\x00', '{}', "
             "now() - interval '25 hours'), (1, 'notifications', 'new', '\\x00', '{}', now())",
             NULL);

    char listen[64];
    snprintf(listen, sizeof(listen), "HERALD_LISTEN=127.0.0.1:%d", it_free_port());
    const char *api_env[] = {listen, "HERALD_PARTITION_MS=1000", "HERALD_RETENTION_MS=2000",
                             "HERALD_RETENTION_INTERVAL_MS=100", NULL};
    const char *argv[] = {"herald-api", NULL};
    api_pid = pdb_spawn(argv, api_env);

    /* the final rows' partitions go; the first partition stays while its row is pending */
    cr_assert(it_eventually(only_first_partition_left, NULL, 30000),
              "the final rows' partitions and their attempts' are dropped");
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications_p0"), 2,
                 "a partition with a pending row is kept whole");
    char *keys = pdb_value("SELECT string_agg(key, ',') FROM idempotency_keys", NULL);
    cr_expect_str_eq(keys, "new", "idempotency keys older than 24 h go in batches");
    mem_free(keys);

    /* once it is final too, the first partition goes, and its attempts with it */
    pdb_exec("UPDATE notifications SET status = 'cancelled'", NULL);
    cr_assert(it_eventually(p0_dropped, NULL, 30000), "the first partition dropped");
    cr_expect(it_eventually(all_gone, NULL, 10000));
    assert_contiguous("notifications", 500);
}

Test(partitions, detach_gives_up_rather_than_queue_behind_a_long_statement) {
    it_require_stack();
    pdb_create("herald_it_partitions_lock");
    const char *env[] = {"HERALD_PARTITION_MS=1000", NULL};
    mem_free(pdb_migrate(NULL, env));
    row(60000, "sent", 1);
    cr_assert(it_eventually(first_bound_old, NULL, 30000), "the first partition stays young");
    /* the status events' partitions (schema/009) come first in the registry's order, and
     * none of them is locked here: detach those that may go, so the next call is
     * notifications' */
    long evparts = pdb_long("SELECT count(*) FROM herald_partitions WHERE parent = 'events'"
                            " AND upper_ms < (extract(epoch FROM now()) * 1000)::bigint - 1000");
    for (long i = 0; i < evparts; i++)
        mem_free(pdb_value("SELECT string_agg(d, ',') FROM herald_partitions_detach(1000, 100) d",
                           NULL));
    mem_free(pdb_value("SELECT herald_partitions_drop_detached()", NULL));

    /* another session holds the table (a long report, say) */
    const char *keys[] = {"dbname", NULL};
    const char *vals[] = {pdb.url, NULL};
    PGconn *other = PQconnectdbParams(keys, vals, 1);
    cr_assert(PQstatus(other) == CONNECTION_OK);
    PQclear(PQexec(other, "BEGIN"));
    PQclear(PQexec(other, "SELECT count(*) FROM notifications"));

    PGresult *r = PQexec(pdb.conn, "SELECT herald_partitions_detach(1000, 100)");
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    cr_expect_str_eq(state ? state : "", "55P03", "lock_not_available after 100 ms");
    PQclear(r);
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications"), 1, "nothing detached");

    PQclear(PQexec(other, "COMMIT"));
    PQfinish(other);
    char *gone = pdb_value("SELECT string_agg(d, ',' ORDER BY d) FROM "
                           "herald_partitions_detach(1000, 100) d",
                           NULL);
    cr_expect_str_eq(gone, "delivery_attempts_p0,notifications_p0");
    mem_free(gone);
    cr_expect_eq(pdb_long("SELECT herald_partitions_drop_detached()"), 2);
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications"), 0);
}
