/* it_openapi: the API description and the pages, checked by the Node scripts
 * in tests/openapi/: Redocly's linter on api/openapi.json, real herald-api
 * answers validated against the document, and the /admin page driven in
 * headless Chromium (find a dead letter, see its attempts, replay it).
 * tests/openapi/setup.sh installs the pinned npm packages and Chromium first
 * (a no-op once done). */
#include "support/itapi.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPENAPI_DIR HERALD_SOURCE_DIR "/tests/openapi"
#define SETUP_TIMEOUT_MS (15 * 60 * 1000) /* a first npm ci plus apt-get install chromium */
#define SCRIPT_TIMEOUT_MS (3 * 60 * 1000)
#define LOG_TAIL 6000

/* A last_error that would run script if a page inserted it as HTML. */
#define HOSTILE_ERROR "HTTP 500 from <img src=x data-probe=\"xss\"> & \"the receiver\""

static struct it_api api;
static char key_tenant[128], key_admin[128];

/* log_tail: the last LOG_TAIL bytes of a process's log. Caller frees. */
static char *log_tail(const char *name, pid_t pid) {
    char *path = it_log_path(name, pid);
    char *out = mem_calloc(1, LOG_TAIL + 1);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fseek(f, -(long)LOG_TAIL, SEEK_END) != 0)
            rewind(f);
        size_t n = fread(out, 1, LOG_TAIL, f);
        out[n] = '\0';
        fclose(f);
    }
    mem_free(path);
    return out;
}

/* run: runs argv to completion (at most timeout_ms) and fails the test with
 * the end of its output unless it exits 0. */
static void run(const char *what, const char *const argv[], const char *const env[],
                int timeout_ms) {
    pid_t pid = it_spawn(argv, env);
    int st = it_wait_exit(pid, timeout_ms);
    if (st < 0) {
        it_kill(pid, SIGKILL);
        it_wait_exit(pid, 5000);
    }
    if (st != 0) {
        char *tail = log_tail(argv[0], pid);
        cr_log_error("%s: exit %d; end of its output:\n%s", what, st, tail);
        mem_free(tail);
        cr_assert_fail("%s failed (exit %d%s)", what, st, st < 0 ? ", timed out" : "");
    }
}

/* tools: npm packages and Chromium, installed once (setup.sh is idempotent). */
static void tools(void) {
    const char *argv[] = {"bash", OPENAPI_DIR "/setup.sh", NULL};
    run("tests/openapi/setup.sh", argv, NULL, SETUP_TIMEOUT_MS);
}

/* ---- the document alone: no servers needed ---- */

Test(openapi_doc, redocly_lint, .timeout = 1200) {
    tools();
    const char *argv[] = {"node",
                          OPENAPI_DIR "/node_modules/@redocly/cli/bin/cli.js",
                          "lint",
                          "--config",
                          OPENAPI_DIR "/redocly.yaml",
                          HERALD_SOURCE_DIR "/api/openapi.json",
                          NULL};
    const char *env[] = {"REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", NULL};
    run("redocly lint api/openapi.json", argv, env, SCRIPT_TIMEOUT_MS);
}

/* ---- against a running herald-api ---- */

static void base_url(char *out, size_t n) {
    snprintf(out, n, "http://127.0.0.1:%d", api.port);
}

static void setup(void) {
    it_require_stack();
    tools();
    it_reset_db();
    it_redis_flush();
    it_make_key("acme", false, key_tenant, sizeof(key_tenant));
    it_make_key("oncall", true, key_admin, sizeof(key_admin));
    const char *env[] = {"HERALD_AUTH_CACHE_MS=200", NULL};
    it_api_start_with(&api, env);
}

static void teardown(void) {
    it_api_stop(&api);
}

TestSuite(openapi, .init = setup, .fini = teardown, .timeout = 1200);

/* dead_letter: a webhook notification of tenant acme, made through the API
 * and then marked failed now (as a worker would after its last attempt), with
 * two attempts. Returns its id (caller frees with mem_free()). */
static char *dead_letter(void) {
    static const char body[] = "{\"channel\":\"webhook\",\"recipient\":"
                               "\"https://hooks.example.com/on-call\",\"body\":\"{}\"}";
    struct it_resp r = it_api_call(&api, "POST", "/v1/notifications", key_tenant, body);
    cr_assert_eq(r.status, 201, "create: %ld %s", r.status, r.body);
    struct json_object *o = json_tokener_parse(r.body);
    struct json_object *id_v;
    cr_assert(o && json_object_object_get_ex(o, "id", &id_v), "no id in %s", r.body);
    char *id = mem_strdup(json_object_get_string(id_v));
    json_object_put(o);
    it_resp_free(&r);
    it_sql_exec("UPDATE notifications SET status = 'failed', attempts = 2, failed_at = now(), "
                "updated_at = now(), in_stream = false, lease_owner = NULL, lease_until = NULL, "
                "last_error = $2 WHERE id = $1",
                id, HOSTILE_ERROR, NULL);
    it_sql_exec("INSERT INTO delivery_attempts (notification_id, attempt, started_at, "
                "duration_ms, outcome, status_code, error) VALUES "
                "($1, 1, now() - interval '1 minute', 131, 'retry', 503, 'HTTP 503'), "
                "($1, 2, now(), 87, 'failed', 500, $2)",
                id, HOSTILE_ERROR, NULL);
    return id;
}

/* older_dead_letters: n more webhook dead letters of tenant acme (one batch),
 * failed an hour ago, so they sort after dead_letter()'s on the list. */
static void older_dead_letters(int n) {
    char *body = mem_alloc((size_t)n * 128 + 32);
    size_t len = (size_t)sprintf(body, "{\"notifications\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(body + len,
                               "%s{\"channel\":\"webhook\",\"recipient\":"
                               "\"https://hooks.example.com/old/%d\",\"body\":\"{}\"}",
                               i ? "," : "", i);
    memcpy(body + len, "]}", 3);
    struct it_resp r = it_api_call(&api, "POST", "/v1/notifications/batch", key_tenant, body);
    cr_assert_eq(r.status, 201, "batch: %ld %s", r.status, r.body);
    it_resp_free(&r);
    mem_free(body);
    it_sql_exec("UPDATE notifications SET status = 'failed', attempts = 1, "
                "failed_at = now() - interval '1 hour', updated_at = now(), in_stream = false, "
                "last_error = 'HTTP 502' WHERE recipient LIKE $1",
                "https://hooks.example.com/old/%", NULL);
}

Test(openapi, responses_match_the_document) {
    char *id = dead_letter();
    char base[128], e_base[160], e_key[200], e_admin[200], e_id[96];
    snprintf(e_id, sizeof(e_id), "HERALD_TEST_DLQ_ID=%s", id);
    mem_free(id);
    base_url(base, sizeof(base));
    snprintf(e_base, sizeof(e_base), "HERALD_TEST_BASE_URL=%s", base);
    snprintf(e_key, sizeof(e_key), "HERALD_TEST_KEY=%s", key_tenant);
    snprintf(e_admin, sizeof(e_admin), "HERALD_TEST_ADMIN_KEY=%s", key_admin);
    const char *env[] = {e_base, e_key, e_admin, e_id, "HERALD_TEST_DLQ_CHANNEL=webhook", NULL};
    const char *argv[] = {"node", OPENAPI_DIR "/responses.mjs", NULL};
    run("tests/openapi/responses.mjs", argv, env, SCRIPT_TIMEOUT_MS);
}

#define OLDER_DEAD_LETTERS 21 /* one more than the page's first page size */

Test(openapi, admin_page_replays_a_dead_letter) {
    older_dead_letters(OLDER_DEAD_LETTERS);
    char *id = dead_letter();
    char base[128], e_base[160], e_key[200], e_admin[200], e_id[96];
    base_url(base, sizeof(base));
    snprintf(e_base, sizeof(e_base), "HERALD_TEST_BASE_URL=%s", base);
    snprintf(e_key, sizeof(e_key), "HERALD_TEST_KEY=%s", key_tenant);
    snprintf(e_admin, sizeof(e_admin), "HERALD_TEST_ADMIN_KEY=%s", key_admin);
    snprintf(e_id, sizeof(e_id), "HERALD_TEST_DLQ_ID=%s", id);
    char e_more[64];
    snprintf(e_more, sizeof(e_more), "HERALD_TEST_DLQ_MORE=%d", OLDER_DEAD_LETTERS);
    const char *env[] = {e_base,
                         e_key,
                         e_admin,
                         e_id,
                         "HERALD_TEST_DLQ_CHANNEL=webhook",
                         "HERALD_TEST_DLQ_ERROR=" HOSTILE_ERROR,
                         e_more,
                         NULL};
    const char *argv[] = {"node", OPENAPI_DIR "/admin_page.mjs", NULL};
    run("tests/openapi/admin_page.mjs", argv, env, SCRIPT_TIMEOUT_MS);
    /* the replay really happened: pending again, history kept */
    it_expect_value("pending", "SELECT status FROM notifications WHERE id = $1", id, NULL);
    it_expect_value("2", "SELECT count(*) FROM delivery_attempts WHERE notification_id = $1", id,
                    NULL);
    /* "replay all" took the others */
    it_expect_value("0", "SELECT count(*) FROM notifications WHERE status = 'failed'", NULL);
    mem_free(id);
}
