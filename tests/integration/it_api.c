/* it_api: the notification routes of herald-api against real PostgreSQL and Redis. */
#include "support/itapi.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct it_api api;
static char key_a[128], key_b[128];

static char *url(const char *path) {
    char *u = mem_alloc(strlen(path) + 64);
    sprintf(u, "http://127.0.0.1:%d%s", api.port, path);
    return u;
}

/* start_api: herald-api with it_api_start's timers, a short sweep grace, and extra. */
static void start_api(const char *const extra[]) {
    it_api_start_plus(&api, "HERALD_SWEEP_GRACE_MS=300", extra);
}

static void setup(void) {
    it_fresh_stack();
    it_make_key("acme", false, key_a, sizeof(key_a));
    it_make_key("globex", false, key_b, sizeof(key_b));
    start_api(NULL);
}

static void teardown(void) {
    it_api_stop(&api);
}

/* call: method on path with key (NULL: no auth) and optional body / extra header. */
static struct it_resp call(const char *method, const char *path, const char *key, const char *body,
                           const char *extra) {
    char auth[200], ct[] = "Content-Type: application/json";
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key ? key : "");
    const char *hdrs[4];
    int n = 0;
    if (key)
        hdrs[n++] = auth;
    if (body)
        hdrs[n++] = ct;
    if (extra)
        hdrs[n++] = extra;
    hdrs[n] = NULL;
    char *u = url(path);
    struct it_resp r = it_http(method, u, hdrs, body, body ? strlen(body) : 0);
    mem_free(u);
    return r;
}

static const char *err_code(struct json_object *o) {
    struct json_object *e;
    cr_assert(json_object_object_get_ex(o, "error", &e));
    return it_jstr(e, "code");
}

/* Conditions for it_eventually. */
static bool key_a_refused(void *arg) {
    (void)arg;
    struct it_resp r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    bool refused = r.status == 401;
    it_resp_free(&r);
    return refused;
}

static bool email_stream_has(void *arg) {
    return it_stream_has("email", arg) > 0;
}

/* child_connected: the child's request reached the API: it holds a
 * connection besides the one asking, or the child has its answer already. */
struct child_wait {
    pid_t pid;
    bool exited;
    int status;
};

static bool child_connected(void *arg) {
    struct child_wait *c = arg;
    if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
        c->exited = true;
    if (c->exited)
        return true;
    char *u = url("/metrics");
    struct it_resp r = it_http("GET", u, NULL, NULL, 0);
    mem_free(u);
    const char *p = r.status == 200 ? strstr(r.body, "\nherald_http_connections ") : NULL;
    long n = p ? strtol(p + strlen("\nherald_http_connections "), NULL, 10) : 0;
    it_resp_free(&r);
    return n >= 2;
}

static bool api_refuses(void *arg) {
    struct it_resp r = it_http("GET", arg, NULL, NULL, 0);
    bool refused = r.status == 0;
    it_resp_free(&r);
    return refused;
}

static void expect_error(struct it_resp *r, long status, const char *code) {
    cr_expect_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    struct json_object *o = it_json(r);
    cr_expect_str_eq(err_code(o), code);
    cr_expect_not_null(it_jstr(o, "request_id"));
    json_object_put(o);
}

static char *create(const char *key, const char *body) {
    struct it_resp r = call("POST", "/v1/notifications", key, body, NULL);
    cr_assert_eq(r.status, 201, "create: %ld %s", r.status, r.body);
    struct json_object *o = it_json(&r);
    char *id = mem_strdup(it_jstr(o, "id"));
    json_object_put(o);
    it_resp_free(&r);
    return id;
}

#define EMAIL                                                                                      \
    "{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":\"Hi\","                 \
    "\"body\":\"Hello {{name}}\",\"metadata\":{\"name\":\"Ada\"}}"

static bool create_works(void *arg) {
    (void)arg;
    struct it_resp r = call("POST", "/v1/notifications", key_a, EMAIL, NULL);
    bool ok = r.status == 201;
    it_resp_free(&r);
    return ok;
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 120);

Test(api, create_get_and_stored) {
    struct it_resp r = call("POST", "/v1/notifications", key_a, EMAIL, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    char *rid = it_header(&r, "X-Request-Id");
    cr_assert_not_null(rid);
    mem_free(rid);
    struct json_object *o = it_json(&r);
    cr_expect_str_eq(it_jstr(o, "status"), "pending");
    cr_expect_str_eq(it_jstr(o, "body"), "Hello {{name}}");
    const char *id = it_jstr(o, "id");
    cr_expect_eq(id[14], '7', "UUID version 7: %s", id);
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s", id);
    struct it_resp g = call("GET", path, key_a, NULL, NULL);
    cr_expect_eq(g.status, 200);
    cr_expect_str_eq(g.body, r.body, "GET returns the created resource");
    /* committed before the 201 */
    it_expect_value("pending", "select status from notifications where id = $1", id, NULL);
    /* and enqueued */
    cr_expect_eq(it_stream_len("email"), 1);
    json_object_put(o);
    it_resp_free(&g);
    it_resp_free(&r);
}

Test(api, request_id_echoed_or_made) {
    struct it_resp r = call("GET", "/v1/notifications", key_a, NULL, "X-Request-Id: abc.DEF_1-2");
    char *rid = it_header(&r, "X-Request-Id");
    cr_expect_str_eq(rid, "abc.DEF_1-2");
    mem_free(rid);
    it_resp_free(&r);
    r = call("GET", "/v1/notifications", key_a, NULL, "X-Request-Id: bad id!");
    rid = it_header(&r, "X-Request-Id");
    cr_expect_str_neq(rid, "bad id!");
    cr_expect_gt(strlen(rid), 0);
    mem_free(rid);
    it_resp_free(&r);
}

Test(api, validation_lists_every_field) {
    struct it_resp r =
        call("POST", "/v1/notifications", key_a,
             "{\"channel\":\"sms\",\"recipient\":\"12345\",\"body\":\"\",\"x\":1}", NULL);
    expect_error(&r, 422, "validation_failed");
    struct json_object *o = it_json(&r), *e, *d;
    json_object_object_get_ex(o, "error", &e);
    cr_assert(json_object_object_get_ex(e, "details", &d));
    bool rec = false, body = false, x = false;
    for (size_t i = 0; i < json_object_array_length(d); i++) {
        const char *f = it_jstr(json_object_array_get_idx(d, i), "field");
        rec = rec || !strcmp(f, "recipient");
        body = body || !strcmp(f, "body");
        x = x || !strcmp(f, "x");
    }
    cr_expect(rec && body && x, "details: %s", r.body);
    json_object_put(o);
    it_resp_free(&r);
    it_expect_value("0", "select count(*) from notifications", NULL);
}

Test(api, missing_placeholder_is_422) {
    struct it_resp r = call("POST", "/v1/notifications", key_a,
                            "{\"channel\":\"webhook\",\"recipient\":\"https://h.example/x\","
                            "\"body\":\"Hi {{who}}\"}",
                            NULL);
    expect_error(&r, 422, "validation_failed");
    cr_expect(strstr(r.body, "\"body\""), "%s", r.body);
    it_resp_free(&r);
}

Test(api, idempotent_replay_and_reuse) {
    const char *k = "Idempotency-Key: order-42";
    struct it_resp a = call("POST", "/v1/notifications", key_a, EMAIL, k);
    cr_assert_eq(a.status, 201);
    struct it_resp b = call("POST", "/v1/notifications", key_a, EMAIL, k);
    cr_expect_eq(b.status, 201);
    cr_expect_str_eq(b.body, a.body, "same bytes");
    char *rep = it_header(&b, "Idempotent-Replayed");
    cr_expect_str_eq(rep, "true");
    mem_free(rep);
    char *ra = it_header(&a, "X-Request-Id"), *rb = it_header(&b, "X-Request-Id");
    cr_expect_str_neq(ra, rb, "fresh request id");
    mem_free(ra);
    mem_free(rb);
    struct it_resp c = call("POST", "/v1/notifications", key_a,
                            "{\"channel\":\"email\",\"recipient\":\"bob@example.com\","
                            "\"subject\":\"x\",\"body\":\"y\"}",
                            k);
    expect_error(&c, 422, "idempotency_key_reused");
    /* another tenant's key space is separate */
    struct it_resp d = call("POST", "/v1/notifications", key_b, EMAIL, k);
    cr_expect_eq(d.status, 201);
    cr_expect(!it_header(&d, "Idempotent-Replayed"));
    it_expect_value("2", "select count(*) from notifications", NULL);
    /* a value HTTP allows but the rule does not (not ASCII) is the handler's 422 */
    struct it_resp e =
        call("POST", "/v1/notifications", key_a, EMAIL, "Idempotency-Key: k\xc3\xa9");
    cr_expect_eq(e.status, 422);
    cr_expect(strstr(e.body, "Idempotency-Key"));
    /* a control character is not HTTP at all: the edge refuses it (issue 16) */
    struct it_resp f = call("POST", "/v1/notifications", key_a, EMAIL, "Idempotency-Key: \x01");
    cr_expect_eq(f.status, 400);
    it_resp_free(&f);
    it_resp_free(&a);
    it_resp_free(&b);
    it_resp_free(&c);
    it_resp_free(&d);
    it_resp_free(&e);
}

Test(api, batch_all_or_nothing) {
    const char *bad = "{\"notifications\":[" EMAIL ",{\"channel\":\"email\",\"recipient\":\"nope\","
                      "\"subject\":\"s\",\"body\":\"b\"}," EMAIL "]}";
    struct it_resp r = call("POST", "/v1/notifications/batch", key_a, bad, NULL);
    expect_error(&r, 422, "validation_failed");
    cr_expect(strstr(r.body, "notifications[1].recipient"), "%s", r.body);
    char *n = it_sql_value("select count(*) from notifications", NULL);
    cr_expect_str_eq(n, "0", "nothing stored");
    mem_free(n);
    it_resp_free(&r);
    const char *good = "{\"notifications\":[" EMAIL "," EMAIL "," EMAIL "]}";
    r = call("POST", "/v1/notifications/batch", key_a, good, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = it_json(&r), *data;
    cr_assert(json_object_object_get_ex(o, "data", &data));
    cr_expect_eq(json_object_array_length(data), 3);
    n = it_sql_value("select count(*) from notifications", NULL);
    cr_expect_str_eq(n, "3");
    mem_free(n);
    json_object_put(o);
    it_resp_free(&r);
}

struct page_ctx {
    char **seen;
    int nseen;
};

Test(api, pagination_three_pages_with_concurrent_inserts) {
    char *ids[25];
    for (int i = 0; i < 25; i++)
        ids[i] = create(key_a, EMAIL);
    char *seen[64];
    int nseen = 0;
    char path[256] = "/v1/notifications?limit=10";
    int pages = 0;
    for (;;) {
        struct it_resp r = call("GET", path, key_a, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        pages++;
        struct json_object *o = it_json(&r), *data;
        json_object_object_get_ex(o, "data", &data);
        for (size_t i = 0; i < json_object_array_length(data); i++) {
            cr_assert_lt(nseen, 64);
            seen[nseen++] = mem_strdup(it_jstr(json_object_array_get_idx(data, i), "id"));
        }
        /* inserts between page reads land before the first page */
        mem_free(create(key_a, EMAIL));
        const char *next = it_jstr(o, "next_cursor");
        if (!next) {
            json_object_put(o);
            it_resp_free(&r);
            break;
        }
        snprintf(path, sizeof(path), "/v1/notifications?limit=10&cursor=%s", next);
        json_object_put(o);
        it_resp_free(&r);
    }
    cr_expect_eq(pages, 3);
    cr_expect_eq(nseen, 25, "no duplicates, no gaps: saw %d", nseen);
    /* newest first: ids[24] .. ids[0] */
    for (int i = 0; i < nseen && i < 25; i++)
        cr_expect_str_eq(seen[i], ids[24 - i]);
    for (int i = 0; i < nseen; i++)
        mem_free(seen[i]);
    for (int i = 0; i < 25; i++)
        mem_free(ids[i]);
}

Test(api, list_filters_and_bad_parameters) {
    mem_free(create(key_a, EMAIL));
    mem_free(create(key_a, "{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"x\"}"));
    struct it_resp r = call("GET", "/v1/notifications?channel=sms", key_a, NULL, NULL);
    cr_expect_eq(r.status, 200);
    struct json_object *o = it_json(&r), *data;
    json_object_object_get_ex(o, "data", &data);
    cr_expect_eq(json_object_array_length(data), 1);
    json_object_put(o);
    it_resp_free(&r);
    const char *bad[] = {"/v1/notifications?limit=0", "/v1/notifications?limit=101",
                         "/v1/notifications?status=nope", "/v1/notifications?cursor=zzz",
                         "/v1/notifications?channel=fax"};
    const char *field[] = {"limit", "limit", "status", "cursor", "channel"};
    for (size_t i = 0; i < 5; i++) {
        r = call("GET", bad[i], key_a, NULL, NULL);
        expect_error(&r, 422, "validation_failed");
        char want[64];
        snprintf(want, sizeof(want), "\"field\":\"%s\"", field[i]);
        cr_expect(strstr(r.body, want), "%s: %s", bad[i], r.body);
        it_resp_free(&r);
    }
    /* a cursor made for other filters is refused */
    for (int i = 0; i < 3; i++)
        mem_free(create(key_a, EMAIL));
    r = call("GET", "/v1/notifications?limit=1", key_a, NULL, NULL);
    o = it_json(&r);
    char path[256];
    snprintf(path, sizeof(path), "/v1/notifications?limit=1&channel=email&cursor=%s",
             it_jstr(o, "next_cursor"));
    struct it_resp r2 = call("GET", path, key_a, NULL, NULL);
    expect_error(&r2, 422, "validation_failed");
    json_object_put(o);
    it_resp_free(&r);
    it_resp_free(&r2);
}

Test(api, tenant_isolation) {
    char *id = create(key_a, EMAIL);
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s", id);
    struct it_resp r = call("GET", path, key_b, NULL, NULL);
    expect_error(&r, 404, "not_found");
    it_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/notifications/%s/cancel", id);
    r = call("POST", path, key_b, NULL, NULL);
    expect_error(&r, 404, "not_found");
    it_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/notifications/%s/attempts", id);
    r = call("GET", path, key_b, NULL, NULL);
    expect_error(&r, 404, "not_found");
    it_resp_free(&r);
    r = call("GET", "/v1/notifications", key_b, NULL, NULL);
    cr_expect(strstr(r.body, id) == NULL);
    it_resp_free(&r);
    mem_free(id);
}

Test(api, cancel_and_attempts) {
    char *id = create(key_a, EMAIL);
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s/cancel", id);
    struct it_resp r = call("POST", path, key_a, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(strstr(r.body, "\"status\":\"cancelled\""));
    it_resp_free(&r);
    r = call("POST", path, key_a, NULL, NULL);
    expect_error(&r, 409, "conflict");
    it_resp_free(&r);
    /* a notification being delivered (leased) cannot be cancelled */
    char *id2 = create(key_a, EMAIL);
    it_sql_exec("update notifications set lease_owner = 'w', lease_until = now() + "
                "interval '1 minute' where id = $1",
                id2, NULL);
    snprintf(path, sizeof(path), "/v1/notifications/%s/cancel", id2);
    r = call("POST", path, key_a, NULL, NULL);
    expect_error(&r, 409, "conflict");
    cr_expect(strstr(r.body, "delivery in progress"), "%s", r.body);
    it_resp_free(&r);
    it_sql_exec("insert into delivery_attempts values ($1, 1, now(), 12, 'retry', 500, 'boom')",
                id2, NULL);
    snprintf(path, sizeof(path), "/v1/notifications/%s/attempts", id2);
    r = call("GET", path, key_a, NULL, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "\"attempt\":1"), "%s", r.body);
    cr_expect(strstr(r.body, "\"duration_ms\":12"));
    cr_expect(strstr(r.body, "\"status_code\":500"));
    cr_expect(strstr(r.body, "\"outcome\":\"retry\""));
    it_resp_free(&r);
    mem_free(id);
    mem_free(id2);
}

/* a success at the first attempt is kept in the notification's row (schema/010), not in
 * delivery_attempts; the list shows it as before, in place of an uncounted attempt 1 */
Test(api, attempts_list_a_first_success_kept_in_the_row) {
    char *id = create(key_a, EMAIL);
    it_sql_exec("insert into delivery_attempts values ($1, 1, now(), 3, 'retry', 535, 'auth')", id,
                NULL);
    it_sql_exec("update notifications set status = 'sent', sent_at = now(), attempts = 1,"
                " first_started_at = now(), first_duration_ms = 7, first_status_code = 250"
                " where id = $1",
                id, NULL);
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s/attempts", id);
    struct it_resp r = call("GET", path, key_a, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    const char *one = strstr(r.body, "\"attempt\":1");
    cr_expect(one && !strstr(one + 1, "\"attempt\":"), "one attempt: %s", r.body);
    cr_expect(strstr(r.body, "\"duration_ms\":7"), "%s", r.body);
    cr_expect(strstr(r.body, "\"status_code\":250"), "%s", r.body);
    cr_expect(strstr(r.body, "\"outcome\":\"success\""), "%s", r.body);
    cr_expect(strstr(r.body, "\"error\":null"), "%s", r.body);
    it_resp_free(&r);
    mem_free(id);
}

Test(api, revoked_key_refused) {
    struct it_resp r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    cr_expect_eq(r.status, 200);
    it_resp_free(&r);
    char id[40];
    snprintf(id, sizeof(id), "%.16s", key_a + 3);
    int code;
    const char *argv[] = {"heraldctl", "keys", "revoke", id, NULL};
    mem_free(it_run_capture(argv, NULL, &code));
    cr_assert_eq(code, 0);
    /* the test API caches lookups for 200 ms: refused once that has passed */
    cr_assert(it_eventually(key_a_refused, NULL, 10000), "the revoked key still works");
    r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    expect_error(&r, 401, "unauthorized");
    it_resp_free(&r);
}

Test(api, error_precedence) {
    struct it_resp r;
    r = call("GET", "/v1/nope", NULL, NULL, NULL);
    expect_error(&r, 404, "not_found");
    it_resp_free(&r);
    r = call("GET", "/v1/notifications/not-a-uuid", key_a, NULL, NULL);
    expect_error(&r, 404, "not_found");
    it_resp_free(&r);
    /* 405 before 401 */
    r = call("DELETE", "/v1/notifications", NULL, NULL, NULL);
    expect_error(&r, 405, "method_not_allowed");
    char *allow = it_header(&r, "Allow");
    cr_expect(allow && strstr(allow, "GET") && strstr(allow, "POST"), "Allow: %s", allow);
    mem_free(allow);
    it_resp_free(&r);
    /* 401 before 413/415/400 */
    r = call("POST", "/v1/notifications", "hk_bad", "{", NULL);
    expect_error(&r, 401, "unauthorized");
    it_resp_free(&r);
    r = call("POST", "/v1/notifications", NULL, "{", NULL);
    expect_error(&r, 401, "unauthorized");
    it_resp_free(&r);
    /* 403: non-admin on an admin route */
    r = call("GET", "/v1/admin/notifications/01a20c5d-972a-71d1-86a8-d1c113cef847", key_a, NULL,
             NULL);
    expect_error(&r, 403, "forbidden");
    it_resp_free(&r);
    /* 413 before 415 and 400 */
    size_t big = 65 * 1024;
    char *body = mem_alloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    char *u = url("/v1/notifications");
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key_a);
    const char *h1[] = {auth, "Content-Type: text/plain", NULL};
    r = it_http("POST", u, h1, body, big);
    expect_error(&r, 413, "payload_too_large");
    it_resp_free(&r);
    /* 415 before 400 */
    r = it_http("POST", u, h1, "{", 1);
    expect_error(&r, 415, "unsupported_media_type");
    it_resp_free(&r);
    const char *h2[] = {auth, "Content-Type: application/json; charset=utf-8", NULL};
    const char *bad_json[] = {
        "{", "[]", "{\"a\":1,}", "{'a':1}", "{\"a\":NaN}", "{\"a\":1/*c*/}", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < 7; i++) {
        r = it_http("POST", u, h2, bad_json[i], strlen(bad_json[i]));
        expect_error(&r, 400, "invalid_json");
        it_resp_free(&r);
    }
    mem_free(u);
    mem_free(body);
}

Test(api, redis_down_still_accepts_then_enqueues) {
    it_stack("redis-stop");
    struct it_resp r = call("POST", "/v1/notifications", key_a, EMAIL, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = it_json(&r);
    char *id = mem_strdup(it_jstr(o, "id"));
    json_object_put(o);
    it_resp_free(&r);
    r = call("GET", "/readyz", NULL, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(strstr(r.body, "\"redis\":\"down\""), "%s", r.body);
    it_resp_free(&r);
    it_stack("redis-start");
    /* the sweeper enqueues the committed row once Redis is back */
    cr_expect(it_eventually(email_stream_has, id, 30000), "id %s enqueued after Redis came back",
              id);
    mem_free(id);
}

Test(api, postgres_down_503_then_recovers) {
    it_stack("pg-stop");
    struct it_resp r = call("POST", "/v1/notifications", key_a, EMAIL, NULL);
    /* the key is cached from no request yet: auth itself needs the database */
    cr_expect_eq(r.status, 503, "%s", r.body);
    it_resp_free(&r);
    r = call("GET", "/readyz", NULL, NULL, NULL);
    cr_expect_eq(r.status, 503);
    cr_expect(strstr(r.body, "\"postgres\":\"down\""), "%s", r.body);
    it_resp_free(&r);
    it_stack("pg-start");
    it_db_close();
    cr_expect(it_eventually(create_works, NULL, 20000), "recovered without a restart");
}

Test(api, healthz_and_readyz) {
    struct it_resp r = call("GET", "/healthz", NULL, NULL, NULL);
    cr_expect_eq(r.status, 200);
    it_resp_free(&r);
    r = call("GET", "/readyz", NULL, NULL, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"status\":\"ok\",\"postgres\":\"ok\",\"redis\":\"ok\"}");
    it_resp_free(&r);
}

Test(api, rate_limit_headers_429_and_batch_cost) {
    teardown();
    const char *env[] = {"HERALD_RATE_LIMIT_PER_SEC=1", "HERALD_RATE_LIMIT_BURST=3", NULL};
    start_api(env);
    struct it_resp r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    cr_expect_eq(r.status, 200);
    char *lim = it_header(&r, "RateLimit-Limit"), *rem = it_header(&r, "RateLimit-Remaining");
    char *reset = it_header(&r, "RateLimit-Reset");
    cr_expect_str_eq(lim, "3");
    cr_expect_str_eq(rem, "2");
    cr_expect_not_null(reset);
    mem_free(lim);
    mem_free(rem);
    mem_free(reset);
    it_resp_free(&r);
    /* a batch of 5 costs 5: more than is left */
    const char *batch = "{\"notifications\":[" EMAIL "," EMAIL "," EMAIL "," EMAIL "," EMAIL "]}";
    r = call("POST", "/v1/notifications/batch", key_a, batch, NULL);
    expect_error(&r, 429, "rate_limited");
    char *ra = it_header(&r, "Retry-After");
    cr_expect(ra && atoi(ra) >= 1, "Retry-After: %s", ra);
    mem_free(ra);
    it_resp_free(&r);
    r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    it_resp_free(&r);
    r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    it_resp_free(&r);
    r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    expect_error(&r, 429, "rate_limited");
    it_resp_free(&r);
    /* another key has its own bucket; 401s carry the headers too */
    r = call("GET", "/v1/notifications", key_b, NULL, NULL);
    cr_expect_eq(r.status, 200);
    it_resp_free(&r);
    r = call("GET", "/v1/notifications", NULL, NULL, NULL);
    cr_expect_eq(r.status, 401);
    lim = it_header(&r, "RateLimit-Limit");
    cr_expect_not_null(lim);
    mem_free(lim);
    it_resp_free(&r);
    /* Redis down: limits fail open */
    it_stack("redis-stop");
    r = call("GET", "/v1/notifications", key_a, NULL, NULL);
    cr_expect_eq(r.status, 200, "fails open: %s", r.body);
    it_resp_free(&r);
    it_stack("redis-start");
}

/* evals: how many times Redis ran the rate-limit script since the last reset */
static long evals(void) {
    redisReply *r = it_redis_cmd("INFO commandstats");
    long n = 0;
    static const char *const cmds[] = {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="};
    for (size_t i = 0; i < 2; i++) {
        const char *p = r && r->str ? strstr(r->str, cmds[i]) : NULL;
        if (p)
            n += atol(p + strlen(cmds[i]));
    }
    freeReplyObject(r);
    return n;
}

Test(api, rate_limit_leases_tokens_in_chunks) {
    teardown();
    /* chunk = min(rate / 100, burst / 8, 1000) = 50 tokens per round trip */
    const char *env[] = {"HERALD_RATE_LIMIT_PER_SEC=5000", "HERALD_RATE_LIMIT_BURST=400", NULL};
    start_api(env);
    freeReplyObject(it_redis_cmd("CONFIG RESETSTAT"));
    long last = 1000000;
    for (int i = 0; i < 40; i++) {
        struct it_resp r = call("GET", "/v1/notifications", key_a, NULL, NULL);
        cr_assert_eq(r.status, 200, "request %d: %d", i, r.status);
        char *rem = it_header(&r, "RateLimit-Remaining");
        cr_assert_not_null(rem);
        cr_expect(atol(rem) <= 400, "Remaining %s never above the burst", rem);
        if (atol(rem) > last)
            cr_expect(atol(rem) <= last + 50, "Remaining moves by refill only: %ld -> %s", last,
                      rem);
        last = atol(rem);
        mem_free(rem);
        it_resp_free(&r);
    }
    long n = evals();
    cr_expect(n >= 1 && n <= 2, "40 requests took %ld round trips to Redis (chunks of 50)", n);
}

Test(api, metrics_move) {
    struct it_resp m0 = call("GET", "/metrics", NULL, NULL, NULL);
    cr_assert_eq(m0.status, 200);
    char *ct = it_header(&m0, "Content-Type");
    cr_expect(ct && strstr(ct, "text/plain"), "%s", ct);
    mem_free(ct);
    mem_free(create(key_a, EMAIL));
    mem_free(create(key_a, EMAIL));
    struct it_resp m1 = call("GET", "/metrics", NULL, NULL, NULL);
    double accepted =
        it_metric_value(m1.body, "herald_notifications_accepted_total{channel=\"email\"}");
    cr_expect_eq(accepted, 2, "accepted: %f\n%s", accepted, m1.body);
    double reqs = it_metric_value(
        m1.body, "herald_http_requests_total{route=\"notifications.create\",status=\"201\"}");
    cr_expect_eq(reqs, 2);
    cr_expect(strstr(m1.body, "herald_http_request_duration_seconds_bucket{route=\"notifications."
                              "create\",le=\"+Inf\"} 2"),
              "%s", m1.body);
    cr_expect_eq(it_metric_value(m1.body, "herald_dependency_up{dep=\"postgres\"}"), 1);
    cr_expect_eq(it_metric_value(m1.body, "herald_dependency_up{dep=\"redis\"}"), 1);
    it_resp_free(&m0);
    it_resp_free(&m1);
}

Test(api, cors_only_for_configured_origins) {
    teardown();
    const char *env[] = {"HERALD_CORS_ORIGINS=https://app.example, https://ops.example", NULL};
    start_api(env);
    struct it_resp r;
    char *u = url("/v1/notifications");
    const char *pre[] = {"Origin: https://ops.example", "Access-Control-Request-Method: POST",
                         NULL};
    r = it_http("OPTIONS", u, pre, NULL, 0);
    cr_expect_eq(r.status, 204);
    char *acao = it_header(&r, "Access-Control-Allow-Origin");
    cr_expect_str_eq(acao, "https://ops.example");
    mem_free(acao);
    char *methods = it_header(&r, "Access-Control-Allow-Methods");
    cr_expect(methods && strstr(methods, "POST"));
    mem_free(methods);
    it_resp_free(&r);
    const char *evil[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST",
                          NULL};
    r = it_http("OPTIONS", u, evil, NULL, 0);
    cr_expect_neq(r.status, 204);
    cr_expect_null(it_header(&r, "Access-Control-Allow-Origin"));
    it_resp_free(&r);
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key_a);
    const char *get[] = {auth, "Origin: https://app.example", NULL};
    r = it_http("GET", u, get, NULL, 0);
    cr_expect_eq(r.status, 200);
    acao = it_header(&r, "Access-Control-Allow-Origin");
    cr_expect_str_eq(acao, "https://app.example");
    mem_free(acao);
    it_resp_free(&r);
    mem_free(u);
}

Test(api, sigterm_stops_accepting_and_answers_in_flight) {
    /* a request waiting on a stopped database is still answered after SIGTERM */
    it_stack("pg-stop");
    char *u = url("/readyz");
    pid_t child = fork();
    if (child == 0) {
        struct it_resp r = it_http("GET", u, NULL, NULL, 0);
        _exit(r.status == 503 ? 0 : 1);
    }
    struct child_wait cw = {.pid = child};
    cr_assert(it_eventually(child_connected, &cw, 10000), "the child never connected");
    it_kill(api.pid, SIGTERM);
    cr_expect(it_eventually(api_refuses, u, 10000), "the listener stays open after SIGTERM");
    struct it_resp r = it_http("GET", u, NULL, NULL, 0);
    cr_expect_eq(r.status, 0, "new connections are refused after SIGTERM, got %ld", r.status);
    it_resp_free(&r);
    int st = cw.status;
    if (!cw.exited)
        cr_expect_eq(waitpid(child, &st, 0), child);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the in-flight request got its answer");
    cr_expect_eq(it_wait_exit(api.pid, 20000), 0);
    api.pid = 0;
    it_stack("pg-start");
    it_db_close();
    mem_free(u);
}

/* Found by bench/run: a SIGTERM while XADD replies were still owed crashed
 * the API in its teardown (the writer was freed before Redis's callbacks). */
Test(api, test_issue_5_sigterm_with_redis_replies_pending) {
    teardown();
    const char *env[] = {"HERALD_REDIS_TIMEOUT_MS=10000", NULL};
    start_api(env);
    pid_t rp = it_redis_pid();
    kill(rp, SIGSTOP); /* Redis hangs: the XADDs below stay unanswered */
    for (int i = 0; i < 5; i++)
        mem_free(create(key_a, EMAIL));
    it_kill(api.pid, SIGTERM);
    int st = it_wait_exit(api.pid, 20000);
    api.pid = 0;
    kill(rp, SIGCONT);
    cr_expect_eq(st, 0, "herald-api exited with %d", st);
}
