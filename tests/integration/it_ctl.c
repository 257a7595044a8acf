/* it_ctl: heraldctl migrate, tenants and keys against the real database; what it says when
 * PostgreSQL or Redis cannot be reached; dlq replay's two forms of --id; per-command help; and
 * scripts/herald, the wrapper that runs heraldctl against a local stack. */
#include "support/itsup.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *ctl(int *code, const char *a1, const char *a2, const char *a3, const char *a4,
                 const char *a5) {
    const char *argv[] = {"heraldctl", a1, a2, a3, a4, a5, NULL};
    return it_run_capture(argv, NULL, code);
}

static void setup(void) {
    it_require_stack();
    it_reset_db();
}

TestSuite(ctl, .init = setup, .timeout = 120);

Test(ctl, migrate_is_idempotent_and_concurrency_safe) {
    int code;
    char *out = ctl(&code, "migrate", NULL, NULL, NULL, NULL);
    cr_expect_eq(code, 0);
    cr_expect(strstr(out, "up to date"), "%s", out);
    mem_free(out);
    /* two at once: both succeed, each migration recorded once */
    const char *argv[] = {"heraldctl", "migrate", NULL};
    pid_t a = it_spawn(argv, NULL), b = it_spawn(argv, NULL);
    cr_expect_eq(it_wait_exit(a, 30000), 0);
    cr_expect_eq(it_wait_exit(b, 30000), 0);
    it_expect_value("t", "select count(*) = count(distinct (version, step)) from schema_migrations",
                    NULL);
}

Test(ctl, tenants_and_keys) {
    int code;
    char *secret = ctl(&code, "tenants", "create", "acme", NULL, NULL);
    cr_assert_eq(code, 0);
    cr_expect(strncmp(secret, "whsec_", 6) == 0, "%s", secret);
    cr_expect_eq(strlen(secret), 51, "one line: %s", secret);
    char *dup = ctl(&code, "tenants", "create", "acme", NULL, NULL);
    cr_expect_neq(code, 0, "duplicate tenant refused");
    mem_free(dup);
    char *key = ctl(&code, "keys", "create", "--tenant", "acme", NULL);
    cr_assert_eq(code, 0);
    cr_expect(strncmp(key, "hk_", 3) == 0, "%s", key);
    key[strcspn(key, "\n")] = '\0';
    char id[17];
    snprintf(id, sizeof(id), "%.16s", key + 3);
    /* only a hash is stored */
    it_expect_value("0",
                    "select count(*) from api_keys where encode(secret_hash, "
                    "'escape') like '%' || $1 || '%'",
                    key + 20, NULL);
    char *list = ctl(&code, "keys", "list", "--json", NULL, NULL);
    cr_expect_eq(code, 0);
    cr_expect(strstr(list, id), "%s", list);
    cr_expect(!strstr(list, key + 20), "the secret is never listed");
    mem_free(list);
    char *rev = ctl(&code, "keys", "revoke", id, NULL, NULL);
    cr_expect_eq(code, 0);
    mem_free(rev);
    it_expect_value("t", "select revoked_at is not null from api_keys where id = $1", id, NULL);
    char *rot = ctl(&code, "tenants", "rotate-secret", "acme", NULL, NULL);
    cr_expect_eq(code, 0);
    cr_expect(strncmp(rot, "whsec_", 6) == 0 && strcmp(rot, secret) != 0);
    char *prev = it_sql_value("select prev_webhook_secret from tenants where name = 'acme'", NULL);
    secret[strcspn(secret, "\n")] = '\0';
    cr_expect_str_eq(prev, secret);
    mem_free(prev);
    mem_free(rot);
    mem_free(key);
    mem_free(secret);
}

Test(ctl, bad_usage_and_unreachable_database) {
    int code;
    char *out = ctl(&code, "keys", "create", NULL, NULL, NULL);
    cr_expect_eq(code, 2);
    mem_free(out);
    out = ctl(&code, "frobnicate", NULL, NULL, NULL, NULL);
    cr_expect_eq(code, 2);
    mem_free(out);
    const char *argv[] = {"heraldctl", "keys", "list", NULL};
    const char *env[] = {"HERALD_DATABASE_URL=postgresql://herald@127.0.0.1:1/herald", NULL};
    out = it_run_capture(argv, env, &code);
    cr_expect_eq(code, 4);
    mem_free(out);
    out = ctl(&code, "--help", NULL, NULL, NULL, NULL);
    cr_expect_eq(code, 0);
    cr_expect(strstr(out, "migrate"), "%s", out);
    mem_free(out);
}

/* ctl_run: argv with extra env to completion; returns everything it wrote
 * (stdout and stderr, in one log) and its exit code in *code. Caller frees. */
static char *ctl_run(const char *const argv[], const char *const env[], int *code) {
    pid_t pid = it_spawn(argv, env);
    *code = it_wait_exit(pid, 60000);
    if (*code < 0)
        it_kill(pid, SIGKILL);
    char *path = it_log_path(argv[0], pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *out = mem_calloc(1, 65536);
    size_t n = fread(out, 1, 65535, f);
    out[n] = '\0';
    fclose(f);
    mem_free(path);
    return out;
}

Test(ctl, test_issue_15_unreachable_names_the_variable_and_target_without_password) {
    int code;
    const char *keys[] = {"heraldctl", "keys", "list", NULL};
    const char *pg[] = {"HERALD_DATABASE_URL=postgresql://herald:s3cret@127.0.0.1:1/herald"
                        "?password=s3cret&connect_timeout=5",
                        NULL};
    char *out = ctl_run(keys, pg, &code);
    cr_expect_eq(code, 4);
    cr_expect(strstr(out, "heraldctl: cannot reach PostgreSQL at postgresql://herald@127.0.0.1:1/"
                          "herald?connect_timeout=5 (HERALD_DATABASE_URL): connection refused\n"),
              "%s", out);
    cr_expect(!strstr(out, "s3cret"), "the password is shown: %s", out);
    mem_free(out);
    /* the same through the commands that share the services' asynchronous clients */
    const char *queues[] = {"heraldctl", "queues", NULL};
    out = ctl_run(queues, pg, &code);
    cr_expect_eq(code, 4);
    cr_expect(strstr(out, "cannot reach PostgreSQL at postgresql://herald@127.0.0.1:1/herald"),
              "%s", out);
    cr_expect(!strstr(out, "s3cret"), "%s", out);
    cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    mem_free(out);
    /* Redis down: the PostgreSQL figures, then one line on Redis, exit 5 */
    const char *rd[] = {"HERALD_REDIS_URL=redis://:s3cret@127.0.0.1:1/0", NULL};
    out = ctl_run(queues, rd, &code);
    cr_expect_eq(code, 5);
    cr_expect(strstr(out, "CHANNEL"), "%s", out);
    cr_expect(strstr(out, "heraldctl: queues: cannot reach Redis at redis://127.0.0.1:1/0 "
                          "(HERALD_REDIS_URL): connection refused;"),
              "%s", out);
    cr_expect(!strstr(out, "s3cret"), "%s", out);
    mem_free(out);
}

/* dead_letters: n webhook dead letters of a new tenant; ids into ids[]. */
static void dead_letters(char ids[][40], int n) {
    char *t = it_sql_value("INSERT INTO tenants (name, webhook_secret) VALUES ('replay', "
                           "'whsec_AAAA') RETURNING id",
                           NULL);
    for (int i = 0; i < n; i++) {
        char *id = it_sql_value(
            "INSERT INTO notifications (id, tenant_id, channel, recipient, body, status, "
            "attempts, last_error, created_at, updated_at, failed_at, due_at, in_stream) VALUES "
            "(gen_random_uuid(), $1, 'webhook', 'https://example.com/h', 'x', 'failed', 3, "
            "'HTTP 500', now(), now(), now(), now(), false) RETURNING id",
            t, NULL);
        snprintf(ids[i], 40, "%s", id);
        mem_free(id);
    }
    mem_free(t);
}

static int pending(char ids[][40], int n) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        char *st = it_sql_value("SELECT status FROM notifications WHERE id = $1", ids[i], NULL);
        k += st && !strcmp(st, "pending");
        mem_free(st);
    }
    return k;
}

Test(ctl, test_issue_15_dlq_replay_takes_ids_both_ways) {
    it_redis_flush();
    char ids[5][40];
    dead_letters(ids, 5);
    int code;
    /* --id A B C */
    const char *spread[] = {"heraldctl", "dlq",  "replay", "--channel", "webhook",
                            "--id",      ids[0], ids[1],   "--json",    NULL};
    char *out = it_run_capture(spread, NULL, &code);
    cr_expect_eq(code, 0, "%s", out);
    cr_expect(strstr(out, "\"replayed\":2"), "%s", out);
    mem_free(out);
    cr_expect_eq(pending(ids, 2), 2);
    /* --id A --id B, options in between */
    const char *repeated[] = {"heraldctl", "dlq",  "replay", "--id",      ids[2], "--channel",
                              "webhook",   "--id", ids[3],   "--dry-run", NULL};
    out = it_run_capture(repeated, NULL, &code);
    cr_expect_eq(code, 0, "%s", out);
    cr_expect(strstr(out, "would replay 2 dead letters"), "%s", out);
    mem_free(out);
    const char *both[] = {"heraldctl", "dlq",  "replay",    "--id",    ids[2], ids[3],
                          "--id",      ids[4], "--channel", "webhook", NULL};
    out = it_run_capture(both, NULL, &code);
    cr_expect_eq(code, 0, "%s", out);
    cr_expect(strstr(out, "replayed 3 dead letters"), "%s", out);
    mem_free(out);
    cr_expect_eq(pending(ids, 5), 5);
    /* a stray word without --id before it is still bad usage */
    const char *stray[] = {"heraldctl", "dlq", "replay", "--channel", "webhook", ids[0], NULL};
    out = ctl_run(stray, NULL, &code);
    cr_expect_eq(code, 2, "%s", out);
    mem_free(out);
}

Test(ctl, test_issue_15_a_commands_help_is_that_command_only) {
    int code;
    const char *replay[] = {"heraldctl", "dlq", "replay", "--help", NULL};
    char *out = it_run_capture(replay, NULL, &code);
    cr_expect_eq(code, 0);
    cr_expect(!strncmp(out, "usage: heraldctl dlq replay ", 28), "%s", out);
    cr_expect(strstr(out, "--id ID ..."), "%s", out);
    cr_expect(!strstr(out, "HERALD_SMTP_URL"), "the whole environment is listed: %s", out);
    cr_expect(!strstr(out, "dlq list"), "%s", out);
    mem_free(out);
    const char *group[] = {"heraldctl", "keys", "--help", NULL};
    out = it_run_capture(group, NULL, &code);
    cr_expect_eq(code, 0);
    cr_expect(strstr(out, "keys create") && strstr(out, "keys revoke"), "%s", out);
    cr_expect(!strstr(out, "dlq list") && !strstr(out, "HERALD_SMTP_URL"), "%s", out);
    mem_free(out);
    const char *all[] = {"heraldctl", "--help", NULL};
    out = it_run_capture(all, NULL, &code);
    cr_expect_eq(code, 0);
    cr_expect(strstr(out, "dlq list") && strstr(out, "HERALD_SMTP_URL"), "%s", out);
    mem_free(out);
}

/* queues_cell: column col (0 is the channel) of the row of channel in
 * heraldctl queues' table; -1 when absent or not a number. */
static long queues_cell(const char *table, const char *channel, int col) {
    char line[256];
    for (const char *p = table; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
        p += n + (p[n] == '\n');
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        if (!tok || strcmp(tok, channel) != 0)
            continue;
        for (int i = 0; i < col && tok; i++)
            tok = strtok_r(NULL, " ", &save);
        char *end;
        long v = tok ? strtol(tok, &end, 10) : -1;
        return tok && !*end ? v : -1;
    }
    return -1;
}

Test(ctl, test_issue_15_wrapper_runs_queues_against_the_local_stack) {
    it_redis_flush();
    char ids[2][40];
    dead_letters(ids, 2);
    redisReply *r = it_redis_cmd("XADD herald:stream:sms * id %s", ids[0]);
    freeReplyObject(r);
    char stack[1024], build[1024];
    snprintf(stack, sizeof(stack), "HERALD_LOCAL_STACK=%s", getenv("HERALD_TEST_STACK_DIR"));
    snprintf(build, sizeof(build), "HERALD_LOCAL_BUILD=%s", HERALD_BIN_DIR);
    /* nothing in the environment says where PostgreSQL and Redis are: the
     * stack's env file must */
    const char *env[] = {stack, build, "HERALD_DATABASE_URL=", "HERALD_REDIS_URL=", NULL};
    const char *argv[] = {"bash", HERALD_SOURCE_DIR "/scripts/herald", "queues", NULL};
    int code;
    char *out = it_run_capture(argv, env, &code);
    cr_expect_eq(code, 0, "%s", out);
    cr_expect(!strncmp(out, "CHANNEL ", 8), "%s", out);
    /* sms: 1 entry in its stream; webhook: 2 dead letters */
    cr_expect_eq(queues_cell(out, "sms", 1), 1, "%s", out);
    cr_expect_eq(queues_cell(out, "webhook", 6), 2, "%s", out);
    mem_free(out);
    /* an explicit URL wins over the stack's */
    const char *bad[] = {stack, build, "HERALD_DATABASE_URL=postgresql://herald@127.0.0.1:1/herald",
                         NULL};
    out = ctl_run(argv, bad, &code);
    cr_expect_eq(code, 4, "%s", out);
    cr_expect(strstr(out, "127.0.0.1:1/herald (HERALD_DATABASE_URL)"), "%s", out);
    mem_free(out);
    /* no stack and no URLs: a clear refusal */
    const char *none[] = {"HERALD_LOCAL_STACK=/nonexistent", build,
                          "HERALD_DATABASE_URL=", "HERALD_REDIS_URL=", NULL};
    out = ctl_run(argv, none, &code);
    cr_expect_eq(code, 2, "%s", out);
    cr_expect(strstr(out, "run scripts/up.sh"), "%s", out);
    mem_free(out);
}
