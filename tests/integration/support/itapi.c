/* itapi: herald-api under test, and a JSON client with API.md's error checks. */
#include "itapi.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

void it_make_tenant(const char *tenant) {
    int code;
    const char *ct[] = {"heraldctl", "tenants", "create", tenant, NULL};
    char *secret = it_run_capture(ct, NULL, &code);
    cr_assert_eq(code, 0, "tenants create %s failed", tenant);
    mem_free(secret);
}

void it_add_key(const char *tenant, bool admin, char *out, size_t n) {
    int code;
    const char *kc[] = {"heraldctl", "keys", "create", "--tenant", tenant, admin ? "--admin" : NULL,
                        NULL};
    char *key = it_run_capture(kc, NULL, &code);
    cr_assert_eq(code, 0, "keys create --tenant %s failed", tenant);
    key[strcspn(key, "\n")] = '\0';
    snprintf(out, n, "%s", key);
    mem_free(key);
}

void it_make_key(const char *tenant, bool admin, char *out, size_t n) {
    it_make_tenant(tenant);
    it_add_key(tenant, admin, out, n);
}

/* IT_API_ENV: how many settings herald-api gets at most, HERALD_LISTEN included. */
#define IT_API_ENV 24

/* env_join: head's settings, then tail's (NULL-terminated, either may be
 * NULL), into out (IT_API_ENV + 1 entries), NULL-terminated. */
static void env_join(const char *out[], const char *const head[], const char *const tail[]) {
    const char *const *lists[] = {head, tail};
    int n = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; lists[l] && lists[l][i]; i++) {
            cr_assert_lt(n, IT_API_ENV, "too many settings for herald-api");
            out[n++] = lists[l][i];
        }
    out[n] = NULL;
}

void it_api_start_with(struct it_api *a, const char *const env[]) {
    a->port = it_free_port();
    char listen[64];
    snprintf(listen, sizeof(listen), "HERALD_LISTEN=127.0.0.1:%d", a->port);
    const char *head[] = {listen, NULL}, *all[IT_API_ENV + 1];
    env_join(all, head, env);
    const char *argv[] = {"herald-api", NULL};
    a->pid = it_spawn(argv, all);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/healthz", a->port);
    cr_assert(it_wait_http_ok(u, 20000), "herald-api did not start");
}

void it_api_start(struct it_api *a, const char *const extra[]) {
    static const char *const fast[] = {"HERALD_AUTH_CACHE_MS=200", "HERALD_DB_TIMEOUT_MS=1000",
                                       "HERALD_REDIS_TIMEOUT_MS=300",
                                       "HERALD_SWEEP_INTERVAL_MS=100", NULL};
    const char *env[IT_API_ENV + 1];
    env_join(env, fast, extra);
    it_api_start_with(a, env);
}

void it_api_start_plus(struct it_api *a, const char *setting, const char *const extra[]) {
    const char *head[] = {setting, NULL}, *env[IT_API_ENV + 1];
    env_join(env, head, extra);
    it_api_start(a, env);
}

void it_api_stop(struct it_api *a) {
    if (a->pid <= 0)
        return;
    it_kill(a->pid, SIGTERM);
    int st = it_wait_exit(a->pid, 20000);
    cr_expect_eq(st, 0, "herald-api exited with %d", st);
    a->pid = 0;
}

struct it_resp it_api_call(const struct it_api *a, const char *method, const char *path,
                           const char *key, const char *body) {
    char auth[200], u[4096];
    const char *hdrs[3];
    int n = 0;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key ? key : "");
    if (key)
        hdrs[n++] = auth;
    if (body)
        hdrs[n++] = "Content-Type: application/json";
    hdrs[n] = NULL;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", a->port, path);
    return it_http(method, u, hdrs, body, body ? strlen(body) : 0);
}

struct json_object *it_json(const struct it_resp *r) {
    struct json_object *o = json_tokener_parse(r->body);
    cr_assert_not_null(o, "not JSON (status %ld): %s", r->status, r->body);
    return o;
}

const char *it_jstr(struct json_object *o, const char *key) {
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return json_object_get_string(v);
}

void it_expect_error(const struct it_resp *r, long status, const char *code, const char *field) {
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    struct json_object *o = it_json(r), *e, *details;
    cr_assert(json_object_object_get_ex(o, "error", &e), "no error object: %s", r->body);
    cr_expect_str_eq(it_jstr(e, "code"), code, "%s", r->body);
    cr_expect_not_null(it_jstr(o, "request_id"));
    if (field) {
        bool found = false;
        if (json_object_object_get_ex(e, "details", &details))
            for (size_t i = 0; i < json_object_array_length(details); i++) {
                const char *f = it_jstr(json_object_array_get_idx(details, i), "field");
                found = found || (f && strcmp(f, field) == 0);
            }
        cr_expect(found, "no detail names %s: %s", field, r->body);
    }
    json_object_put(o);
}
