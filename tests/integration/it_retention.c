/* it_retention: idempotency keys older than 24 h and early SMS receipts older than the
 * window are purged in batches; notifications are never deleted row by row (their
 * partitions go whole: it_partitions), so an old final row in a partition that is not
 * old enough stays. */
#include "support/itsup.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static pid_t api_pid;

static void teardown(void) {
    if (api_pid > 0) {
        it_kill(api_pid, SIGTERM);
        it_wait_exit(api_pid, 20000);
    }
}

static bool purged(void *arg) {
    (void)arg;
    char *k = it_sql_value("select count(*) from idempotency_keys", NULL);
    char *s = it_sql_value("select count(*) from sms_receipts", NULL);
    bool done = strcmp(k, "1") == 0 && strcmp(s, "1") == 0;
    mem_free(k);
    mem_free(s);
    return done;
}

TestSuite(retention, .fini = teardown, .timeout = 60);

Test(retention, purges_keys_and_receipts_not_rows) {
    it_require_stack();
    it_reset_db();
    it_sql_exec("insert into tenants (name, webhook_secret) values ('acme', 'whsec_x')", NULL);
    /* a final row whose id is 40 days old, in a partition (the first) reaching until
     * after now: kept until its partition is older than the window */
    it_sql_exec("insert into notifications (id, tenant_id, channel, recipient, body, status, "
                "created_at, updated_at, due_at, in_stream) values ((left(herald_uuid7_floor("
                "(extract(epoch from now() - interval '40 days') * 1000)::bigint)::text, 14) || "
                "'7000-8000-000000000001')::uuid, 1, 'webhook', 'https://x.example/', 'b', "
                "'sent', now() - interval '40 days', now() - interval '40 days', now(), false)",
                NULL);
    it_sql_exec("insert into idempotency_keys values (1, 'notifications', 'old', '\\x00', '{}', "
                "now() - interval '25 hours'), (1, 'notifications', 'new', '\\x00', '{}', now())",
                NULL);
    it_sql_exec("insert into sms_receipts (provider_ref, status, received_at) values "
                "('SMold', 'delivered', now() - interval '31 days'), ('SMnew', 'delivered', now())",
                NULL);
    const char *argv[] = {"herald-api", NULL};
    char listen[64];
    snprintf(listen, sizeof(listen), "HERALD_LISTEN=127.0.0.1:%d", it_free_port());
    const char *env[] = {"HERALD_RETENTION_INTERVAL_MS=100", "HERALD_RETENTION_DAYS=30", listen,
                         NULL};
    api_pid = it_spawn(argv, env);
    cr_assert(it_eventually(purged, NULL, 20000), "old keys and receipts purged");
    it_expect_value("new", "select string_agg(key, ',') from idempotency_keys", NULL);
    it_expect_value("SMnew", "select string_agg(provider_ref, ',') from sms_receipts", NULL);
    char *n = it_sql_value("select count(*) from notifications", NULL);
    cr_expect_str_eq(n, "1", "no row is deleted by itself");
    mem_free(n);
}
