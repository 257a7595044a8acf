/* it_fields: the notification fields priority, expires_at, html and reply_to,
 * the status filter "expired", and a tenant's settings (GET/PATCH /v1/tenant,
 * heraldctl tenants show|set) against real PostgreSQL and Redis. */
#include "support/itapi.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct it_api api;
static char key_a[128], key_b[128];

static void setup(void) {
    it_fresh_stack();
    it_make_key("acme", false, key_a, sizeof(key_a));
    it_make_key("globex", false, key_b, sizeof(key_b));
    it_api_start(&api, NULL);
}

static void teardown(void) {
    it_api_stop(&api);
}

TestSuite(fields, .init = setup, .fini = teardown, .timeout = 120);

/* rfc3339: now + delta_s, UTC, into out[40]. */
static void rfc3339(long delta_s, char *out) {
    time_t t = time(NULL) + delta_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static struct it_resp post(const char *key, const char *body) {
    return it_api_call(&api, "POST", "/v1/notifications", key, body);
}

Test(fields, defaults_are_on_every_resource) {
    struct it_resp r = post(key_a, "{\"channel\":\"sms\",\"recipient\":\"+15551234567\","
                                   "\"body\":\"code 1234\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = it_json(&r), *v;
    cr_expect_str_eq(it_jstr(o, "priority"), "normal");
    const char *nullable[] = {"html", "reply_to", "expires_at"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect(json_object_object_get_ex(o, nullable[i], &v), "%s missing", nullable[i]);
        cr_expect(json_object_is_type(v, json_type_null), "%s not null", nullable[i]);
    }
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s", it_jstr(o, "id"));
    struct it_resp g = it_api_call(&api, "GET", path, key_a, NULL);
    cr_expect_eq(g.status, 200);
    cr_expect_str_eq(g.body, r.body, "GET differs from the 201 body");
    it_resp_free(&g);
    json_object_put(o);
    it_resp_free(&r);
}

Test(fields, priority_stored_and_checked) {
    struct it_resp r =
        post(key_a, "{\"channel\":\"webhook\",\"recipient\":\"https://example.com/h\","
                    "\"body\":\"x\",\"priority\":\"high\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = it_json(&r);
    cr_expect_str_eq(it_jstr(o, "priority"), "high");
    it_expect_value("high", "SELECT priority FROM notifications WHERE id = $1", it_jstr(o, "id"),
                    NULL);
    json_object_put(o);
    it_resp_free(&r);

    r = post(key_a, "{\"channel\":\"webhook\",\"recipient\":\"https://example.com/h\","
                    "\"body\":\"x\",\"priority\":\"urgent\"}");
    it_expect_error(&r, 422, "validation_failed", "priority");
    it_resp_free(&r);
    r = post(key_a, "{\"channel\":\"webhook\",\"recipient\":\"https://example.com/h\","
                    "\"body\":\"x\",\"priority\":1}");
    it_expect_error(&r, 422, "validation_failed", "priority");
    it_resp_free(&r);
}

/* post_sms_at: an SMS of key_a's tenant with expires_at, and send_at unless NULL. */
static struct it_resp post_sms_at(const char *send_at, const char *expires_at) {
    char body[512], send[80] = "";
    if (send_at)
        snprintf(send, sizeof(send), "\"send_at\":\"%s\",", send_at);
    snprintf(body, sizeof(body),
             "{\"channel\":\"sms\",\"recipient\":\"+15551234567\",\"body\":\"x\","
             "%s\"expires_at\":\"%s\"}",
             send, expires_at);
    return post(key_a, body);
}

Test(fields, expires_at_rules) {
    char soon[40], past[40], far[40], later[40];
    rfc3339(300, soon);
    rfc3339(-60, past);
    rfc3339(31L * 24 * 3600, far);
    rfc3339(600, later);
    struct it_resp r = post_sms_at(NULL, soon);
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = it_json(&r);
    cr_expect_not_null(it_jstr(o, "expires_at"));
    cr_expect_eq(strncmp(it_jstr(o, "expires_at"), soon, 19), 0, "%s vs %s",
                 it_jstr(o, "expires_at"), soon);
    json_object_put(o);
    it_resp_free(&r);

    const char *bad[] = {past, far, "tomorrow"};
    for (size_t i = 0; i < 3; i++) {
        r = post_sms_at(NULL, bad[i]);
        it_expect_error(&r, 422, "validation_failed", "expires_at");
        it_resp_free(&r);
    }
    /* not after send_at */
    r = post_sms_at(later, soon);
    it_expect_error(&r, 422, "validation_failed", "expires_at");
    it_resp_free(&r);
    r = post_sms_at(soon, later);
    cr_expect_eq(r.status, 201, "%s", r.body);
    it_resp_free(&r);
}

Test(fields, html_and_reply_to_for_email_only) {
    struct it_resp r = post(key_a, "{\"channel\":\"email\",\"recipient\":\"ada@example.com\","
                                   "\"subject\":\"Hi\",\"body\":\"Hello {{name}}\","
                                   "\"html\":\"<p>Hello {{name}}</p>\","
                                   "\"reply_to\":\"support@example.com\","
                                   "\"metadata\":{\"name\":\"<Ada & co>\"}}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    struct json_object *o = it_json(&r);
    cr_expect_str_eq(it_jstr(o, "html"), "<p>Hello {{name}}</p>", "the template source is kept");
    cr_expect_str_eq(it_jstr(o, "reply_to"), "support@example.com");
    json_object_put(o);
    it_resp_free(&r);

    r = post(key_a, "{\"channel\":\"sms\",\"recipient\":\"+15551234567\",\"body\":\"x\","
                    "\"html\":\"<b>x</b>\",\"reply_to\":\"a@example.com\"}");
    it_expect_error(&r, 422, "validation_failed", "html");
    it_expect_error(&r, 422, "validation_failed", "reply_to");
    it_resp_free(&r);

    r = post(key_a, "{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":\"s\","
                    "\"body\":\"b\",\"html\":\"\",\"reply_to\":\"not an address\"}");
    it_expect_error(&r, 422, "validation_failed", "html");
    it_expect_error(&r, 422, "validation_failed", "reply_to");
    it_resp_free(&r);

    r = post(key_a, "{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":\"s\","
                    "\"body\":\"b\",\"html\":\"<p>{{missing}}</p>\"}");
    it_expect_error(&r, 422, "validation_failed", "html");
    it_resp_free(&r);
}

Test(fields, html_limit_counts_the_escaped_values) {
    /* 12,501 '<' escape to 50,004 characters: over the 50,000 limit, though
     * the value itself and the template are short */
    size_t n = 12501;
    char *big = mem_alloc(n + 256);
    int k = sprintf(big, "{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":"
                         "\"s\",\"body\":\"b\",\"html\":\"{{x}}\",\"metadata\":{\"x\":\"");
    memset(big + k, '<', n);
    strcpy(big + k + n, "\"}}");
    struct it_resp r = post(key_a, big);
    it_expect_error(&r, 422, "validation_failed", "html");
    it_resp_free(&r);
    /* 12,500 fit exactly */
    memset(big + k, '<', n - 1);
    strcpy(big + k + n - 1, "\"}}");
    r = post(key_a, big);
    cr_expect_eq(r.status, 201, "%s", r.body);
    it_resp_free(&r);
    mem_free(big);
}

Test(fields, status_filter_takes_expired) {
    struct it_resp r = it_api_call(&api, "GET", "/v1/notifications?status=expired", key_a, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    it_resp_free(&r);
    r = it_api_call(&api, "GET", "/v1/notifications?status=gone", key_a, NULL);
    it_expect_error(&r, 422, "validation_failed", "status");
    it_resp_free(&r);
}

static void expect_settings(const char *body, const char *name, const char *url, const char *types,
                            const char *from) {
    struct json_object *o = json_tokener_parse(body), *t;
    cr_assert_not_null(o, "%s", body);
    cr_expect_str_eq(it_jstr(o, "name"), name);
    if (url)
        cr_expect_str_eq(it_jstr(o, "events_url"), url, "%s", body);
    else
        cr_expect_null(it_jstr(o, "events_url"), "%s", body);
    if (from)
        cr_expect_str_eq(it_jstr(o, "email_from"), from, "%s", body);
    else
        cr_expect_null(it_jstr(o, "email_from"), "%s", body);
    cr_assert(json_object_object_get_ex(o, "event_types", &t));
    cr_expect_str_eq(json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN), types, "%s", body);
    json_object_put(o);
}

#define ALL_TYPES                                                                                  \
    "[\"notification.sent\",\"notification.delivered\",\"notification.failed\","                   \
    "\"notification.cancelled\",\"notification.expired\"]"

Test(fields, tenant_settings_read_and_change) {
    struct it_resp r = it_api_call(&api, "GET", "/v1/tenant", key_a, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_settings(r.body, "acme", NULL, ALL_TYPES, NULL);
    it_resp_free(&r);

    r = it_api_call(&api, "PATCH", "/v1/tenant", key_a,
                    "{\"events_url\":\"https://hooks.example.com/herald\","
                    "\"event_types\":[\"notification.failed\",\"notification.sent\"],"
                    "\"email_from\":\"Acme Café <no-reply@acme.example>\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_settings(r.body, "acme", "https://hooks.example.com/herald",
                    "[\"notification.sent\",\"notification.failed\"]",
                    "Acme Café <no-reply@acme.example>");
    it_resp_free(&r);

    /* the other tenant is untouched; an empty change changes nothing */
    r = it_api_call(&api, "GET", "/v1/tenant", key_b, NULL);
    expect_settings(r.body, "globex", NULL, ALL_TYPES, NULL);
    it_resp_free(&r);
    r = it_api_call(&api, "PATCH", "/v1/tenant", key_a, "{}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_settings(r.body, "acme", "https://hooks.example.com/herald",
                    "[\"notification.sent\",\"notification.failed\"]",
                    "Acme Café <no-reply@acme.example>");
    it_resp_free(&r);

    /* null clears a field; event_types null is every type again */
    r = it_api_call(&api, "PATCH", "/v1/tenant", key_a,
                    "{\"events_url\":null,\"event_types\":null}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_settings(r.body, "acme", NULL, ALL_TYPES, "Acme Café <no-reply@acme.example>");
    it_resp_free(&r);
}

Test(fields, tenant_settings_validated) {
    struct it_resp r = it_api_call(&api, "PATCH", "/v1/tenant", key_a,
                                   "{\"events_url\":\"ftp://x.example/\",\"event_types\":[],"
                                   "\"email_from\":\"Bad\\r\\nBcc: x <a@example.com>\","
                                   "\"colour\":\"blue\"}");
    it_expect_error(&r, 422, "validation_failed", "events_url");
    it_expect_error(&r, 422, "validation_failed", "event_types");
    it_expect_error(&r, 422, "validation_failed", "email_from");
    it_expect_error(&r, 422, "validation_failed", "colour");
    it_resp_free(&r);
    r = it_api_call(&api, "PATCH", "/v1/tenant", key_a,
                    "{\"event_types\":[\"notification.sent\",\"notification.opened\"],"
                    "\"email_from\":\"not-an-address\"}");
    it_expect_error(&r, 422, "validation_failed", "event_types[1]");
    it_expect_error(&r, 422, "validation_failed", "email_from");
    it_resp_free(&r);
    r = it_api_call(&api, "PATCH", "/v1/tenant", key_a, "[1]");
    it_expect_error(&r, 400, "invalid_json", NULL);
    it_resp_free(&r);
    r = it_api_call(&api, "PATCH", "/v1/tenant", NULL, "{}");
    it_expect_error(&r, 401, "unauthorized", NULL);
    it_resp_free(&r);
    /* nothing changed */
    it_expect_value("-", "SELECT coalesce(events_url, '-') FROM tenants WHERE name = 'acme'", NULL);
}

Test(fields, heraldctl_tenants_show_and_set) {
    int code;
    const char *set[] = {"heraldctl",     "tenants",
                         "set",           "acme",
                         "--events-url",  "https://hooks.example.com/e",
                         "--event-types", "notification.failed,notification.expired",
                         "--email-from",  "Acme <team@acme.example>",
                         "--json",        NULL};
    char *out = it_run_capture(set, NULL, &code);
    cr_assert_eq(code, 0, "%s", out);
    expect_settings(out, "acme", "https://hooks.example.com/e",
                    "[\"notification.failed\",\"notification.expired\"]",
                    "Acme <team@acme.example>");
    mem_free(out);
    /* the API sees what heraldctl set */
    struct it_resp r = it_api_call(&api, "GET", "/v1/tenant", key_a, NULL);
    expect_settings(r.body, "acme", "https://hooks.example.com/e",
                    "[\"notification.failed\",\"notification.expired\"]",
                    "Acme <team@acme.example>");
    it_resp_free(&r);

    const char *clear[] = {"heraldctl",       "tenants",       "set", "acme", "--no-events-url",
                           "--no-email-from", "--event-types", "all", NULL};
    out = it_run_capture(clear, NULL, &code);
    cr_expect_eq(code, 0);
    mem_free(out);
    const char *show[] = {"heraldctl", "tenants", "show", "acme", NULL};
    out = it_run_capture(show, NULL, &code);
    cr_expect_eq(code, 0);
    cr_expect(strstr(out, "events_url   -") != NULL, "%s", out);
    cr_expect(strstr(out, "notification.sent,notification.delivered") != NULL, "%s", out);
    mem_free(out);

    const char *bad[][6] = {{"heraldctl", "tenants", "set", "acme", "--events-url", "mailto:x"},
                            {"heraldctl", "tenants", "set", "acme", "--event-types", "opened"},
                            {"heraldctl", "tenants", "set", "acme", NULL, NULL},
                            {"heraldctl", "tenants", "show", "nobody", NULL, NULL}};
    int want[] = {2, 2, 2, 1};
    for (size_t i = 0; i < 4; i++) {
        const char *argv[7] = {0};
        memcpy(argv, bad[i], sizeof(bad[i]));
        out = it_run_capture(argv, NULL, &code);
        cr_expect_eq(code, want[i], "case %zu exited %d", i, code);
        mem_free(out);
    }
}
