/* it_ctl: heraldctl migrate, tenants and keys against the real database. */
#include "support/itsup.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <stdio.h>
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
    char *n = it_sql_value(
        "select count(*) = count(distinct (version, step)) from schema_migrations", NULL);
    cr_expect_str_eq(n, "t");
    mem_free(n);
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
    char *stored = it_sql_value("select count(*) from api_keys where encode(secret_hash, "
                                "'escape') like '%' || $1 || '%'",
                                key + 20, NULL);
    cr_expect_str_eq(stored, "0");
    mem_free(stored);
    char *list = ctl(&code, "keys", "list", "--json", NULL, NULL);
    cr_expect_eq(code, 0);
    cr_expect(strstr(list, id), "%s", list);
    cr_expect(!strstr(list, key + 20), "the secret is never listed");
    mem_free(list);
    char *rev = ctl(&code, "keys", "revoke", id, NULL, NULL);
    cr_expect_eq(code, 0);
    mem_free(rev);
    char *r = it_sql_value("select revoked_at is not null from api_keys where id = $1", id, NULL);
    cr_expect_str_eq(r, "t");
    mem_free(r);
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
