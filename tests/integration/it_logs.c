/* it_logs: the API's and a worker's logs are JSON lines with API.md's keys,
 * and never hold a key, a secret, an Authorization header or a body. */
#include "support/itapi.h"
#include "support/itworker.h"

#include <regex.h>

static struct it_api api;

static void setup(void) {
    it_fresh_stack();
    memset(&wt, 0, sizeof(wt));
    wt_start_receiver();
}

static void teardown(void) {
    if (api.pid > 0) {
        it_kill(api.pid, SIGTERM);
        it_wait_exit(api.pid, 20000);
    }
    wt_teardown();
}

static void check_log(const char *path, const char *svc, const char *const *forbidden) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no log at %s", path);
    char line[16384];
    int n = 0;
    regex_t ts;
    cr_assert_eq(regcomp(&ts, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    while (fgets(line, sizeof(line), f)) {
        if (line[0] != '{')
            continue; /* sanitizer or harness output, not ours */
        n++;
        struct json_object *o = json_tokener_parse(line);
        cr_assert_not_null(o, "not JSON: %s", line);
        struct json_object *v;
        cr_assert(json_object_object_get_ex(o, "ts", &v), "%s", line);
        cr_expect_eq(regexec(&ts, json_object_get_string(v), 0, NULL, 0), 0, "ts: %s", line);
        cr_assert(json_object_object_get_ex(o, "level", &v), "%s", line);
        const char *lvl = json_object_get_string(v);
        cr_expect(!strcmp(lvl, "debug") || !strcmp(lvl, "info") || !strcmp(lvl, "warn") ||
                      !strcmp(lvl, "error"),
                  "%s", line);
        cr_assert(json_object_object_get_ex(o, "svc", &v), "%s", line);
        cr_expect_str_eq(json_object_get_string(v), svc);
        cr_assert(json_object_object_get_ex(o, "event", &v), "%s", line);
        cr_expect_gt(strlen(json_object_get_string(v)), 0);
        cr_assert(json_object_object_get_ex(o, "msg", &v), "%s", line);
        for (int i = 0; forbidden[i]; i++)
            cr_expect(!strstr(line, forbidden[i]), "log holds '%s': %s", forbidden[i], line);
        json_object_put(o);
    }
    fclose(f);
    regfree(&ts);
    cr_expect_gt(n, 0, "no log lines in %s", path);
}

static bool is_sent(void *arg) {
    char *st = it_sql_value("select status from notifications where id = $1", (char *)arg, NULL);
    bool ok = st && strcmp(st, "sent") == 0;
    mem_free(st);
    return ok;
}

TestSuite(logs, .init = setup, .fini = teardown, .timeout = 120);

Test(logs, json_lines_without_secrets) {
    int code;
    const char *ct[] = {"heraldctl", "tenants", "create", "acme", NULL};
    char *secret = it_run_capture(ct, NULL, &code);
    cr_assert_eq(code, 0);
    secret[strcspn(secret, "\n")] = '\0';
    const char *kc[] = {"heraldctl", "keys", "create", "--tenant", "acme", NULL};
    char *key = it_run_capture(kc, NULL, &code);
    cr_assert_eq(code, 0);
    key[strcspn(key, "\n")] = '\0';

    const char *env[] = {"HERALD_LOG_LEVEL=debug", NULL};
    it_api_start_with(&api, env);
    wt_start_worker(NULL);

    char *hook = wt_url("/hooks/logs");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"channel\":\"webhook\",\"recipient\":\"%s\",\"body\":\"BODY-MARKER-41 {{x}}\","
             "\"metadata\":{\"x\":\"META-MARKER-42\"}}",
             hook);
    struct it_resp r = it_api_call(&api, "POST", "/v1/notifications", key, body);
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = json_tokener_parse(r.body), *idv;
    json_object_object_get_ex(o, "id", &idv);
    char *id = mem_strdup(json_object_get_string(idv));
    json_object_put(o);
    it_resp_free(&r);
    /* a wrong key and a bad body: error paths log too */
    r = it_api_call(&api, "POST", "/v1/notifications",
                    "hk_0123456789abcdef_wrongwrongwrongwrongwrongwrongwrongwrongwro", body);
    it_resp_free(&r);
    cr_assert(it_eventually(is_sent, id, 30000), "delivered");

    it_kill(api.pid, SIGTERM);
    cr_expect_eq(it_wait_exit(api.pid, 20000), 0);
    pid_t w = wt.workers[0];
    it_kill(w, SIGTERM);
    cr_expect_eq(it_wait_exit(w, 20000), 0);
    wt.nworkers = 0;

    const char *forbidden[] = {key,      key + 20,         secret,           secret + 6,
                               "Bearer", "BODY-MARKER-41", "META-MARKER-42", "wrongwrongwrong",
                               NULL};
    char *api_log = it_log_path("herald-api", api.pid);
    char *wk_log = it_log_path("herald-worker", w);
    check_log(api_log, "api", forbidden);
    check_log(wk_log, "worker", forbidden);
    api.pid = 0;
    mem_free(api_log);
    mem_free(wk_log);
    mem_free(hook);
    mem_free(id);
    mem_free(key);
    mem_free(secret);
}
