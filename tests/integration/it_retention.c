/* it_retention: the purge removes what HERALD_RETENTION_DAYS no longer keeps,
 * and nothing else. */
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

static void row(const char *id, const char *status, const char *age) {
    it_sql_exec("insert into notifications (id, tenant_id, channel, recipient, body, status, "
                "created_at, updated_at, due_at, in_stream) values ($1, 1, 'webhook', "
                "'https://x.example/', 'b', $2, now() - $3::interval, now() - $3::interval, "
                "now() - $3::interval, false)",
                id, status, age, NULL);
    it_sql_exec("insert into delivery_attempts values ($1, 1, now() - $2::interval, 5, "
                "'success', 200, null)",
                id, age, NULL);
}

static bool purged(void *arg) {
    (void)arg;
    char *n = it_sql_value("select count(*) from notifications", NULL);
    bool done = strcmp(n, "3") == 0;
    mem_free(n);
    return done;
}

TestSuite(retention, .fini = teardown, .timeout = 60);

Test(retention, purges_old_final_rows_only) {
    it_require_stack();
    it_reset_db();
    it_sql_exec("insert into tenants (name, webhook_secret) values ('acme', 'whsec_x')", NULL);
    row("01a20c5d-0000-7000-8000-000000000001", "sent", "40 days");
    row("01a20c5d-0000-7000-8000-000000000002", "failed", "31 days");
    row("01a20c5d-0000-7000-8000-000000000003", "sent", "2 days");
    row("01a20c5d-0000-7000-8000-000000000004", "pending", "40 days");
    row("01a20c5d-0000-7000-8000-000000000005", "cancelled", "29 days");
    it_sql_exec("insert into idempotency_keys values (1, 'notifications', 'old', '\\x00', '{}', "
                "now() - interval '25 hours'), (1, 'notifications', 'new', '\\x00', '{}', now())",
                NULL);
    const char *env[] = {"HERALD_RETENTION_INTERVAL_MS=100", "HERALD_RETENTION_DAYS=30", NULL};
    const char *argv[] = {"herald-api", NULL};
    char listen[64];
    snprintf(listen, sizeof(listen), "HERALD_LISTEN=127.0.0.1:%d", it_free_port());
    const char *env2[] = {env[0], env[1], listen, NULL};
    api_pid = it_spawn(argv, env2);
    cr_assert(it_eventually(purged, NULL, 20000), "old final rows purged");
    char *left = it_sql_value("select string_agg(right(id::text, 1), ',' order by id) from "
                              "notifications",
                              NULL);
    cr_expect_str_eq(left, "3,4,5");
    mem_free(left);
    char *att = it_sql_value("select count(*) from delivery_attempts", NULL);
    cr_expect_str_eq(att, "3", "their attempts went with them");
    mem_free(att);
    char *keys = it_sql_value("select string_agg(key, ',') from idempotency_keys", NULL);
    cr_expect_str_eq(keys, "new");
    mem_free(keys);
}
