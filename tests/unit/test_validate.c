/* test_validate: every rule of API.md's notification validation, on both sides of each limit. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/util.h"
#include "common/validate.h"

#define NOW_MS 1790000000000LL /* 2026-09-21T14:13:20Z; fixed so tests need no clock */
#define DAY_MS (24LL * 3600 * 1000)

static struct val_errors errs;
static struct notif_input in;

static void teardown(void) {
    val_errors_free(&errs);
    notif_input_free(&in);
}

TestSuite(validate, .fini = teardown);

/* Validates the JSON text (which must parse) with prefix; resets the results first. */
static int run_prefixed(const char *prefix, const char *json, size_t len) {
    char err[128];
    val_errors_free(&errs);
    notif_input_free(&in);
    struct json_object *o = hjson_parse(json, len, err, sizeof(err));
    cr_assert_not_null(o, "test JSON does not parse: %s", err);
    int r = val_notification(o, prefix, NOW_MS, &in, &errs);
    json_object_put(o);
    cr_assert(r == 0 ? errs.len == 0 : errs.len > 0, "return %d with %zu errors", r, errs.len);
    return r;
}

static int run(const char *json) {
    return run_prefixed("", json, strlen(json));
}

static int runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int runf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0);
    char *s = mem_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = run_prefixed("", s, (size_t)n);
    mem_free(s);
    return r;
}

/* unit repeated count times; caller frees with mem_free(). */
static char *rep(const char *unit, size_t count) {
    struct buf b = {0};
    buf_append(&b, "", 0);
    for (size_t i = 0; i < count; i++)
        buf_puts(&b, unit);
    return buf_steal(&b);
}

static const char *error_for(const char *field) {
    for (size_t i = 0; i < errs.len; i++)
        if (strcmp(errs.items[i].field, field) == 0)
            return errs.items[i].message;
    return NULL;
}

static void dump(void) {
    for (size_t i = 0; i < errs.len; i++)
        cr_log_info("error %zu: %s: %s", i, errs.items[i].field, errs.items[i].message);
}

/* Exactly one error, on field, whose message contains msg_part (if given). */
static void expect_only(const char *field, const char *msg_part) {
    if (errs.len != 1)
        dump();
    cr_assert_eq(errs.len, 1, "expected one error on %s, got %zu", field, errs.len);
    cr_expect_str_eq(errs.items[0].field, field);
    if (msg_part)
        cr_expect(strstr(errs.items[0].message, msg_part) != NULL, "message '%s' lacks '%s'",
                  errs.items[0].message, msg_part);
}

/* ---- well-formed requests ---- */

Test(validate, valid_email) {
    cr_assert_eq(run("{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":\"Hi\","
                     "\"body\":\"Hello {{name}}\",\"metadata\":{\"name\":\"Ada\",\"n\":1.50,"
                     "\"u\":\"a/b\"}}"),
                 0);
    cr_expect_eq(in.channel, CH_EMAIL);
    cr_expect_str_eq(in.recipient, "ada@example.com");
    cr_expect_str_eq(in.subject, "Hi");
    cr_expect_str_eq(in.body, "Hello {{name}}"); /* the template source is kept */
    cr_expect_str_eq(in.metadata_json, "{\"name\":\"Ada\",\"n\":1.50,\"u\":\"a/b\"}");
    cr_expect_eq(in.send_at_ms, 0);
}

Test(validate, valid_other_channels) {
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"x\"}"), 0);
    cr_expect_eq(in.channel, CH_SMS);
    cr_expect_null(in.subject);
    cr_expect_null(in.metadata_json);
    cr_expect_eq(run("{\"channel\":\"push\",\"recipient\":\"tok:EN_abc-123\",\"subject\":\"T\","
                     "\"body\":\"x\",\"metadata\":{\"k\":1}}"),
                 0);
    cr_expect_eq(in.channel, CH_PUSH);
    cr_expect_eq(run("{\"channel\":\"webhook\",\"recipient\":\"https://example.com/h\",\"body\":"
                     "\"x\",\"subject\":null,\"metadata\":null,\"send_at\":null}"),
                 0);
    cr_expect_eq(in.channel, CH_WEBHOOK);
    cr_expect_null(in.subject);
    cr_expect_null(in.metadata_json);
}

Test(validate, collects_every_error) {
    cr_assert_eq(run("{}"), -1);
    cr_expect_eq(errs.len, 3);
    cr_expect_str_eq(error_for("channel"), "is required");
    cr_expect_str_eq(error_for("recipient"), "is required");
    cr_expect_str_eq(error_for("body"), "is required");
    cr_assert_eq(run("{\"channel\":\"email\",\"recipient\":\"bad\",\"subject\":\"a\\nb\","
                     "\"body\":\"\",\"send_at\":\"soon\",\"x\":1,\"y\":2}"),
                 -1);
    cr_expect_eq(errs.len, 6);
    cr_expect_not_null(error_for("recipient"));
    cr_expect_not_null(error_for("subject"));
    cr_expect_not_null(error_for("body"));
    cr_expect_not_null(error_for("send_at"));
    cr_expect_str_eq(error_for("x"), "unknown field");
    cr_expect_str_eq(error_for("y"), "unknown field");
    cr_expect_eq(in.recipient, NULL, "out must stay empty on failure");
}

Test(validate, prefix_names_batch_fields) {
    const char *doc = "{\"channel\":\"sms\",\"recipient\":\"123\",\"body\":\"x\","
                      "\"metadata\":{\"k\":\"\\u0000\"}}";
    cr_assert_eq(run_prefixed("notifications[3].", doc, strlen(doc)), -1);
    cr_expect_eq(errs.len, 2);
    cr_expect_not_null(error_for("notifications[3].recipient"));
    cr_expect_not_null(error_for("notifications[3].metadata.k"));
}

Test(validate, non_object_is_named_by_prefix) {
    struct json_object *arr = json_object_new_array();
    cr_expect_eq(val_notification(arr, "notifications[0].", NOW_MS, &in, &errs), -1);
    cr_assert_eq(errs.len, 1);
    cr_expect_str_eq(errs.items[0].field, "notifications[0]");
    cr_expect_str_eq(errs.items[0].message, "must be an object");
    json_object_put(arr);
}

/* ---- channel ---- */

Test(validate, channel_rules) {
    cr_expect_eq(run("{\"recipient\":\"+14155550100\",\"body\":\"x\"}"), -1);
    expect_only("channel", "is required");
    cr_expect_eq(run("{\"channel\":null,\"recipient\":\"+14155550100\",\"body\":\"x\"}"), -1);
    expect_only("channel", "is required");
    cr_expect_eq(run("{\"channel\":\"fax\",\"recipient\":\"+14155550100\",\"body\":\"x\"}"), -1);
    expect_only("channel", "must be one of");
    cr_expect_eq(run("{\"channel\":\"SMS\",\"recipient\":\"+14155550100\",\"body\":\"x\"}"), -1);
    expect_only("channel", "must be one of");
    cr_expect_eq(run("{\"channel\":1,\"recipient\":\"+14155550100\",\"body\":\"x\"}"), -1);
    expect_only("channel", "must be a string");
    cr_expect_eq(run("{\"channel\":\"sms\\u0000\",\"recipient\":\"+14155550100\",\"body\":\"x\"}"),
                 -1);
    expect_only("channel", "NUL");
}

/* ---- recipient ---- */

static int email_to(const char *rcpt) {
    return runf("{\"channel\":\"email\",\"recipient\":\"%s\",\"subject\":\"s\",\"body\":\"b\"}",
                rcpt);
}

Test(validate, recipient_required_and_string) {
    cr_expect_eq(run("{\"channel\":\"sms\",\"body\":\"x\"}"), -1);
    expect_only("recipient", "is required");
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":14155550100,\"body\":\"x\"}"), -1);
    expect_only("recipient", "must be a string");
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":[\"+14155550100\"],\"body\":\"x\"}"), -1);
    expect_only("recipient", "must be a string");
}

Test(validate, email_accepts) {
    const char *good[] = {"a@b.co",
                          "first.last+tag@sub.example.co.uk",
                          "o'neil@ex-ample.com",
                          "x!#$%&'*+-/=?^_`{|}~y@example.com",
                          "user@localhost",
                          "UPPER@EXAMPLE.COM",
                          "1@2.3"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_expect_eq(email_to(good[i]), 0, "%s refused", good[i]);
    }
}

Test(validate, email_refuses) {
    const char *bad[] = {
        "no-at",     "a@@b.com",   "a@b@c.com", ".a@b.com",    "a.@b.com",      "a..b@c.com",
        "a b@c.com", "a,b@c.com",  "<a@b.com>", "a;b@c.com",   "a@-b.com",      "a@b-.com",
        "a@b..com",  "a@.b.com",   "a@b.com.",  "a@[1.2.3.4]", "\\u00e9@b.com", "a@b\\u00e9.com",
        "a@b.com ",  " a@b.com",   "a@",        "@b.com",      "a\\u0001@b.c",  "\\\"a\\\"@b.com",
        "a@b_c.com", "a(b)@c.com", "a@b.com>",  "a:b@c.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(email_to(bad[i]), -1, "%s accepted", bad[i]);
        if (errs.len == 1)
            cr_expect_str_eq(errs.items[0].field, "recipient");
        else
            cr_expect_fail("%s: %zu errors", bad[i], errs.len);
    }
}

Test(validate, email_length_limits) {
    char *local64 = rep("l", 64), *local65 = rep("l", 65);
    char *a63 = rep("a", 63), *b63 = rep("b", 63), *c61 = rep("c", 61), *c62 = rep("c", 62);
    char addr[400];
    snprintf(addr, sizeof(addr), "%s@example.com", local64);
    cr_expect_eq(email_to(addr), 0);
    snprintf(addr, sizeof(addr), "%s@example.com", local65);
    cr_expect_eq(email_to(addr), -1);
    expect_only("recipient", "64");
    snprintf(addr, sizeof(addr), "%s@%s.%s.%s", local64, a63, b63, c61);
    cr_assert_eq(strlen(addr), 254);
    cr_expect_eq(email_to(addr), 0);
    snprintf(addr, sizeof(addr), "%s@%s.%s.%s", local64, a63, b63, c62);
    cr_assert_eq(strlen(addr), 255);
    cr_expect_eq(email_to(addr), -1);
    expect_only("recipient", "at most 254");
    /* a DNS label is at most 63 characters */
    snprintf(addr, sizeof(addr), "a@%sa.com", a63);
    cr_expect_eq(email_to(addr), -1);
    expect_only("recipient", NULL);
    mem_free(local64);
    mem_free(local65);
    mem_free(a63);
    mem_free(b63);
    mem_free(c61);
    mem_free(c62);
}

static int sms_to(const char *rcpt) {
    return runf("{\"channel\":\"sms\",\"recipient\":\"%s\",\"body\":\"b\"}", rcpt);
}

Test(validate, sms_e164) {
    cr_expect_eq(sms_to("+12345678"), 0);        /* 8 digits */
    cr_expect_eq(sms_to("+123456789012345"), 0); /* 15 digits */
    cr_expect_eq(sms_to("+1234567"), -1);        /* 7 */
    expect_only("recipient", "E.164");
    cr_expect_eq(sms_to("+1234567890123456"), -1); /* 16 */
    expect_only("recipient", "E.164");
    cr_expect_eq(sms_to("+0123456789"), -1);
    cr_expect_eq(sms_to("14155550100"), -1);
    cr_expect_eq(sms_to("+1415 555 0100"), -1);
    cr_expect_eq(sms_to("+1415-555-0100"), -1);
    cr_expect_eq(sms_to("+1415555010a"), -1);
    cr_expect_eq(sms_to("++14155550100"), -1);
    cr_expect_eq(sms_to(""), -1);
    cr_expect_eq(sms_to("+"), -1);
    cr_expect_eq(sms_to("+\\u0661\\u0662\\u0663\\u0664\\u0665\\u0666\\u0667\\u0668"), -1);
}

static int push_to(const char *rcpt) {
    return runf("{\"channel\":\"push\",\"recipient\":\"%s\",\"body\":\"b\"}", rcpt);
}

Test(validate, push_token) {
    char *t4096 = rep("t", 4096), *t4097 = rep("t", 4097);
    cr_expect_eq(push_to("x"), 0);
    cr_expect_eq(push_to(t4096), 0);
    cr_expect_eq(push_to(t4097), -1);
    expect_only("recipient", "at most 4096");
    cr_expect_eq(push_to(""), -1);
    expect_only("recipient", "empty");
    cr_expect_eq(push_to("ab cd"), -1);
    expect_only("recipient", "without spaces");
    cr_expect_eq(push_to("ab\\tcd"), -1);
    cr_expect_eq(push_to("ab\\u007fcd"), -1);
    cr_expect_eq(push_to("t\\u00e9"), -1);
    cr_expect_eq(push_to("~!@#$%^&*()_+={}[]|:;'<>,.?/"), 0);
    mem_free(t4096);
    mem_free(t4097);
}

static int hook_to(const char *rcpt) {
    return runf("{\"channel\":\"webhook\",\"recipient\":\"%s\",\"body\":\"b\"}", rcpt);
}

Test(validate, webhook_url_accepts) {
    const char *good[] = {"https://example.com/hook", "http://example.com",
                          "HTTPS://EXAMPLE.COM/A",    "http://localhost:8080/x?y=1&z=%20#frag",
                          "http://127.0.0.1/",        "http://[::1]:9000/path",
                          "https://[2001:db8::1]",    "https://my_host.internal:65535/",
                          "https://example.com./x",   "https://example.com?q",
                          "https://example.com#f"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_expect_eq(hook_to(good[i]), 0, "%s refused", good[i]);
}

Test(validate, webhook_url_refuses) {
    const char *bad[] = {"ftp://example.com/",   "example.com/hook",
                         "//example.com/",       "https://",
                         "https:///path",        "https://:443/",
                         "http:/example.com",    "mailto:a@b.com",
                         "http://exa mple.com/", "http://example.com/a b",
                         "http://host:0/",       "http://host:65536/",
                         "http://host:123456/",  "http://host:/",
                         "http://host:ab/",      "http://[zz::1]/",
                         "http://[::1/",         "http://[::1]x/",
                         "http://-host.com/",    "http://ho%73t.com/",
                         "http://h\\u00e9.com/", "http://example.com\\\\@evil.com/",
                         "javascript:alert(1)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(hook_to(bad[i]), -1, "%s accepted", bad[i]);
        if (errs.len == 1)
            cr_expect_str_eq(errs.items[0].field, "recipient");
    }
}

Test(validate, webhook_url_userinfo_and_length) {
    cr_expect_eq(hook_to("https://user:pw@example.com/"), -1);
    expect_only("recipient", "user name or password");
    cr_expect_eq(hook_to("https://user@example.com/"), -1);
    expect_only("recipient", "user name or password");
    /* an @ after the host is only a path character */
    cr_expect_eq(hook_to("https://example.com/a@b"), 0);
    const char *head = "https://example.com/";
    char *path = rep("p", 2048 - strlen(head));
    char url[2100];
    snprintf(url, sizeof(url), "%s%s", head, path);
    cr_assert_eq(strlen(url), 2048);
    cr_expect_eq(hook_to(url), 0);
    snprintf(url, sizeof(url), "%s%sp", head, path);
    cr_expect_eq(hook_to(url), -1);
    expect_only("recipient", "at most 2048");
    mem_free(path);
}

/* ---- subject ---- */

Test(validate, subject_required_for_email_only) {
    cr_expect_eq(run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"body\":\"b\"}"), -1);
    expect_only("subject", "is required");
    cr_expect_eq(
        run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":null,\"body\":\"b\"}"),
        -1);
    expect_only("subject", "is required");
    cr_expect_eq(run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"\","
                     "\"body\":\"b\"}"),
                 0);
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"subject\":\"s\","
                     "\"body\":\"b\"}"),
                 0);
    cr_expect_str_eq(in.subject, "s");
    cr_expect_eq(
        run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":7,\"body\":\"b\"}"), -1);
    expect_only("subject", "must be a string");
}

static int email_subject(const char *subject) {
    return runf("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"%s\","
                "\"body\":\"b\"}",
                subject);
}

Test(validate, subject_200_code_points) {
    char *s200 = rep("\xC3\xA9", 200), *s201 = rep("\xC3\xA9", 201);
    char *e200 = rep("\\u00e9", 200);
    cr_expect_eq(email_subject(s200), 0); /* 400 bytes, 200 characters */
    cr_expect_eq(email_subject(e200), 0);
    cr_expect_eq(email_subject(s201), -1);
    expect_only("subject", "at most 200 characters");
    mem_free(s200);
    mem_free(s201);
    mem_free(e200);
}

Test(validate, subject_no_cr_lf) {
    cr_expect_eq(email_subject("a\\nb"), -1);
    expect_only("subject", "CR or LF");
    cr_expect_eq(email_subject("a\\rb"), -1);
    expect_only("subject", "CR or LF");
    cr_expect_eq(email_subject("a\\tb"), 0);
}

/* ---- body ---- */

static int body_for(const char *channel, const char *rcpt, const char *body) {
    return runf("{\"channel\":\"%s\",\"recipient\":\"%s\",\"body\":\"%s\"}", channel, rcpt, body);
}

/* An sms with metadata given as JSON text. */
static int sms_md(const char *metadata, const char *body) {
    return runf(
        "{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"%s\",\"metadata\":%s}",
        body, metadata);
}

Test(validate, body_required_and_not_empty) {
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\"}"), -1);
    expect_only("body", "is required");
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":null}"), -1);
    expect_only("body", "is required");
    cr_expect_eq(body_for("sms", "+14155550100", ""), -1);
    expect_only("body", "must not be empty");
    cr_expect_eq(body_for("sms", "+14155550100", " "), 0);
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":[\"x\"]}"), -1);
    expect_only("body", "must be a string");
}

Test(validate, body_10000_code_points) {
    char *b10000 = rep("\xE2\x82\xAC", 10000), *b10001 = rep("\xE2\x82\xAC", 10001);
    cr_expect_eq(body_for("webhook", "https://e.com/", b10000), 0);
    cr_expect_eq(body_for("email", "a@b.co\",\"subject\":\"s", b10000), 0);
    cr_expect_eq(body_for("webhook", "https://e.com/", b10001), -1);
    expect_only("body", "at most 10000 characters");
    mem_free(b10000);
    mem_free(b10001);
}

Test(validate, sms_body_1600_code_points) {
    char *b1600 = rep("\xF0\x9F\x98\x80", 1600), *b1601 = rep("\xF0\x9F\x98\x80", 1601);
    cr_expect_eq(body_for("sms", "+14155550100", b1600), 0);
    cr_expect_eq(body_for("sms", "+14155550100", b1601), -1);
    expect_only("body", "at most 1600 characters for sms");
    cr_expect_eq(body_for("webhook", "https://e.com/", b1601), 0);
    mem_free(b1600);
    mem_free(b1601);
}

/* ---- push message size ---- */

Test(validate, push_message_json_shape) {
    char err[128];
    const char *doc = "{\"s\":\"x\\\"y\",\"n\":1.50,\"b\":true,\"z\":null,"
                      "\"o\":{\"a\":[1,\"/\"]}}";
    struct json_object *md = hjson_parse(doc, strlen(doc), err, sizeof(err));
    cr_assert_not_null(md, "%s", err);
    struct buf b = {0};
    val_push_message_json("tok", "T\xC3\xA9", 3, "B\n", 2, md, &b);
    cr_expect_str_eq(b.data, "{\"token\":\"tok\",\"notification\":{\"title\":\"T\xC3\xA9\","
                             "\"body\":\"B\\n\"},\"data\":{\"s\":\"x\\\"y\",\"n\":\"1.50\","
                             "\"b\":\"true\",\"z\":\"null\",\"o\":\"{\\\"a\\\":[1,\\\"/\\\"]}\"}}");
    buf_reset(&b);
    val_push_message_json(NULL, NULL, 0, "B", 1, NULL, &b);
    cr_expect_str_eq(b.data, "{\"notification\":{\"body\":\"B\"}}");
    buf_free(&b);
    json_object_put(md);
}

Test(validate, push_message_4096_bytes) {
    /* {"notification":{"body":"<body>"}} is 28 bytes plus the body */
    char *b4068 = rep("b", 4068), *b4069 = rep("b", 4069);
    struct buf b = {0};
    val_push_message_json(NULL, NULL, 0, b4068, 4068, NULL, &b);
    cr_assert_eq(b.len, 4096);
    buf_free(&b);
    cr_expect_eq(body_for("push", "tok", b4068), 0);
    cr_expect_eq(body_for("push", "tok", b4069), -1);
    expect_only("body", "4096 bytes");
    /* escaping counts: 2034 newlines are 4068 bytes of JSON */
    char *nl2034 = rep("\\n", 2034), *nl2035 = rep("\\n", 2035);
    cr_expect_eq(body_for("push", "tok", nl2034), 0);
    cr_expect_eq(body_for("push", "tok", nl2035), -1);
    expect_only("body", "4096 bytes");
    /* other channels do not have this limit */
    cr_expect_eq(body_for("webhook", "https://e.com/", b4069), 0);
    mem_free(b4068);
    mem_free(b4069);
    mem_free(nl2034);
    mem_free(nl2035);
}

Test(validate, push_message_counts_title_data_and_rendering) {
    /* {"notification":{"title":"T","body":"{{v}}"},"data":{"v":"<v>"}} */
    char *v = rep("v", 1100);
    char *body = rep("{{v}}", 3); /* renders to 3300 bytes, with 1100 more in data */
    cr_expect_eq(runf("{\"channel\":\"push\",\"recipient\":\"t\",\"subject\":\"T\","
                      "\"body\":\"%s\",\"metadata\":{\"v\":\"%s\"}}",
                      body, v),
                 -1);
    expect_only("body", "4096 bytes");
    cr_expect_eq(runf("{\"channel\":\"push\",\"recipient\":\"t\",\"subject\":\"T\","
                      "\"body\":\"{{v}}{{v}}\",\"metadata\":{\"v\":\"%s\"}}",
                      v),
                 0);
    mem_free(v);
    mem_free(body);
}

/* ---- metadata ---- */

Test(validate, metadata_must_be_object) {
    cr_expect_eq(sms_md("\"x\"", "b"), -1);
    expect_only("metadata", "must be an object");
    cr_expect_eq(sms_md("[1]", "b"), -1);
    expect_only("metadata", "must be an object");
    /* a wrong-typed metadata does not also fail the placeholders */
    cr_expect_eq(sms_md("3", "{{x}}"), -1);
    expect_only("metadata", "must be an object");
    cr_expect_eq(sms_md("{}", "b"), 0);
    cr_expect_str_eq(in.metadata_json, "{}");
}

Test(validate, metadata_16_kib) {
    /* {"k":"<v>"} is 8 bytes plus v */
    char *v16376 = rep("v", 16376), *v16377 = rep("v", 16377);
    cr_expect_eq(runf("{\"channel\":\"webhook\",\"recipient\":\"https://e.com/\",\"body\":\"b\","
                      "\"metadata\":{\"k\":\"%s\"}}",
                      v16376),
                 0);
    cr_expect_eq(strlen(in.metadata_json), 16384);
    cr_expect_eq(runf("{\"channel\":\"webhook\",\"recipient\":\"https://e.com/\",\"body\":\"b\","
                      "\"metadata\":{\"k\":\"%s\"}}",
                      v16377),
                 -1);
    expect_only("metadata", "at most 16384 bytes");
    /* measured compact, whatever the request's spacing */
    cr_expect_eq(runf("{\"channel\":\"webhook\",\"recipient\":\"https://e.com/\",\"body\":\"b\","
                      "\"metadata\" : { \"k\" : \"%s\" } }",
                      v16376),
                 0);
    mem_free(v16376);
    mem_free(v16377);
}

Test(validate, metadata_push_reserved_keys) {
    const char *reserved[] = {"from",  "notification", "message_type", "google.x",
                              "gcm.n", "google.",      "gcm."};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        cr_expect_eq(runf("{\"channel\":\"push\",\"recipient\":\"t\",\"body\":\"b\","
                          "\"metadata\":{\"ok\":1,\"%s\":\"v\"}}",
                          reserved[i]),
                     -1, "%s accepted", reserved[i]);
        char field[64];
        snprintf(field, sizeof(field), "metadata.%s", reserved[i]);
        expect_only(field, "reserved");
        cr_expect_eq(runf("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"s\","
                          "\"body\":\"b\",\"metadata\":{\"%s\":\"v\"}}",
                          reserved[i]),
                     0);
    }
    const char *fine[] = {"fromage", "google", "gcm", "Google.x", "notifications", "type"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
        cr_expect_eq(runf("{\"channel\":\"push\",\"recipient\":\"t\",\"body\":\"b\","
                          "\"metadata\":{\"%s\":\"v\"}}",
                          fine[i]),
                     0, "%s refused", fine[i]);
}

Test(validate, metadata_strings_must_be_clean) {
    cr_expect_eq(sms_md("{\"k\":\"a\\u0000\"}", "b"), -1);
    expect_only("metadata.k", "NUL");
    cr_expect_eq(sms_md("{\"k\":{\"n\":[\"\\ud800\"]}}", "b"), -1);
    expect_only("metadata.k", "lone surrogates");
    cr_expect_eq(sms_md("{\"k\":\"\xC0\xAF\"}", "b"), -1);
    expect_only("metadata.k", "invalid UTF-8");
    cr_expect_eq(sms_md("{\"k\":{\"\xFF\":1}}", "b"), -1);
    expect_only("metadata.k", NULL);
    cr_expect_eq(sms_md("{\"\\udc00\":1}", "b"), -1);
    expect_only("metadata", "keys must be valid UTF-8");
    cr_expect_eq(sms_md("{\"a\":\"\\u0000\",\"b\":[\"\xFF\"]}", "b"), -1);
    cr_expect_eq(errs.len, 2);
    cr_expect_not_null(error_for("metadata.a"));
    cr_expect_not_null(error_for("metadata.b"));
    cr_expect_eq(sms_md("{\"\\u00e9\":\"\\ud83d\\ude00\"}", "b"), 0);
}

/* ---- strings everywhere ---- */

Test(validate, invalid_utf8_in_fields) {
    /* overlong '/', kept raw by the parser */
    cr_expect_eq(body_for("sms", "+14155550100", "a\xC0\xAF"), -1);
    expect_only("body", "valid UTF-8");
    cr_expect_eq(body_for("sms", "+14155550100", "\\ud800"), -1);
    expect_only("body", "lone surrogates");
    cr_expect_eq(body_for("sms", "+14155550100", "\\udfff x"), -1);
    expect_only("body", "valid UTF-8");
    cr_expect_eq(body_for("sms", "+14155550100", "a\\u0000b"), -1);
    expect_only("body", "NUL");
    cr_expect_eq(email_subject("\\ud800"), -1);
    expect_only("subject", "valid UTF-8");
    cr_expect_eq(email_subject("\xED\xA0\x80"), -1);
    expect_only("subject", "valid UTF-8");
    cr_expect_eq(email_to("a\xFF@b.co"), -1);
    expect_only("recipient", "valid UTF-8");
    cr_expect_eq(body_for("sms", "+14155550100\",\"send_at\":\"\\u0000", "b"), -1);
    expect_only("send_at", "NUL");
    cr_expect_eq(body_for("sms", "+14155550100", "\\ud83d\\ude00"), 0);
}

/* ---- placeholders ---- */

Test(validate, placeholders_filled_from_metadata) {
    cr_expect_eq(run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"Hi {{name}}\","
                     "\"body\":\"{{n}} {{t}} {{d}} {{ spaced }} {{}}\",\"metadata\":{\"name\":"
                     "\"Ada\",\"n\":3,\"t\":false,\"d\":2.50}}"),
                 0);
    cr_expect_str_eq(in.subject, "Hi {{name}}");
    cr_expect_eq(body_for("sms", "+14155550100", "{{ x }} {x} {{x-y}}"), 0); /* all literal */
}

Test(validate, placeholder_missing_or_unusable) {
    cr_expect_eq(body_for("sms", "+14155550100", "Hi {{name}}"), -1);
    expect_only("body", "{{name}} has no value");
    cr_expect_eq(sms_md("{\"other\":1}", "Hi {{name}}"), -1);
    expect_only("body", "{{name}} has no value");
    const char *kinds[] = {"null", "{}", "[\"a\"]"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(runf("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":"
                          "\"{{v}}\",\"metadata\":{\"v\":%s}}",
                          kinds[i]),
                     -1);
        expect_only("body", "{{v}} must refer to a string, number or boolean");
    }
    cr_expect_eq(run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"{{who}}\","
                     "\"body\":\"{{who}}\",\"metadata\":{}}"),
                 -1);
    cr_expect_eq(errs.len, 2);
    cr_expect_not_null(error_for("subject"));
    cr_expect_not_null(error_for("body"));
}

Test(validate, placeholder_value_with_newline_cannot_enter_subject) {
    cr_expect_eq(run("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"Hi {{v}}\","
                     "\"body\":\"{{v}}\",\"metadata\":{\"v\":\"a\\r\\nBcc: x@y.z\"}}"),
                 -1);
    expect_only("subject", "CR or LF once placeholders are filled");
}

Test(validate, rendered_limits) {
    char *v101 = rep("\xC3\xA9", 101), *v100 = rep("\xC3\xA9", 100);
    /* subject: two copies of 100 characters is 200; of 101 is 202 */
    cr_expect_eq(runf("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"{{v}}{{v}}\","
                      "\"body\":\"b\",\"metadata\":{\"v\":\"%s\"}}",
                      v100),
                 0);
    cr_expect_eq(runf("{\"channel\":\"email\",\"recipient\":\"a@b.co\",\"subject\":\"{{v}}{{v}}\","
                      "\"body\":\"b\",\"metadata\":{\"v\":\"%s\"}}",
                      v101),
                 -1);
    expect_only("subject", "at most 200 characters once placeholders are filled");
    /* sms body: 16 copies of 100 is 1600; of 101 is 1616 */
    char *body16 = rep("{{v}}", 16);
    cr_expect_eq(runf("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"%s\","
                      "\"metadata\":{\"v\":\"%s\"}}",
                      body16, v100),
                 0);
    cr_expect_eq(runf("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"%s\","
                      "\"metadata\":{\"v\":\"%s\"}}",
                      body16, v101),
                 -1);
    expect_only("body", "at most 1600 characters once placeholders are filled");
    /* body: 100 copies of 100 is 10000; of 101 is 10100 */
    char *body100 = rep("{{v}}", 100);
    cr_expect_eq(runf("{\"channel\":\"webhook\",\"recipient\":\"https://e.com/\",\"body\":\"%s\","
                      "\"metadata\":{\"v\":\"%s\"}}",
                      body100, v100),
                 0);
    cr_expect_eq(runf("{\"channel\":\"webhook\",\"recipient\":\"https://e.com/\",\"body\":\"%s\","
                      "\"metadata\":{\"v\":\"%s\"}}",
                      body100, v101),
                 -1);
    expect_only("body", "at most 10000 characters once placeholders are filled");
    /* an empty rendered body */
    cr_expect_eq(sms_md("{\"e\":\"\"}", "{{e}}"), -1);
    expect_only("body", "must not be empty once placeholders are filled");
    mem_free(v100);
    mem_free(v101);
    mem_free(body16);
    mem_free(body100);
}

/* ---- send_at ---- */

static int send_at(const char *value) {
    return runf("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"b\","
                "\"send_at\":%s}",
                value);
}

Test(validate, send_at_rules) {
    char t[64], v[80];
    util_fmt_time_ms(NOW_MS + 3600 * 1000, t);
    snprintf(v, sizeof(v), "\"%s\"", t);
    cr_expect_eq(send_at(v), 0);
    cr_expect_eq(in.send_at_ms, NOW_MS + 3600 * 1000);
    util_fmt_time_ms(NOW_MS + 30 * DAY_MS, t);
    snprintf(v, sizeof(v), "\"%s\"", t);
    cr_expect_eq(send_at(v), 0, "exactly 30 days refused");
    cr_expect_eq(in.send_at_ms, NOW_MS + 30 * DAY_MS);
    util_fmt_time_ms(NOW_MS + 30 * DAY_MS + 1, t);
    snprintf(v, sizeof(v), "\"%s\"", t);
    cr_expect_eq(send_at(v), -1);
    expect_only("send_at", "at most 30 days ahead");
    util_fmt_time_ms(NOW_MS - 1000, t);
    snprintf(v, sizeof(v), "\"%s\"", t);
    cr_expect_eq(send_at(v), 0);
    cr_expect_eq(in.send_at_ms, 0, "a past time means now");
    cr_expect_eq(send_at("\"2001-01-01T00:00:00+02:00\""), 0);
    cr_expect_eq(in.send_at_ms, 0);
    cr_expect_eq(send_at("null"), 0);
    cr_expect_eq(in.send_at_ms, 0);
}

Test(validate, send_at_with_offset) {
    /* NOW_MS is 2026-09-21T14:13:20Z; one hour later written in +02:00 */
    char t[UTIL_TIME_LEN];
    util_fmt_time_ms(NOW_MS, t);
    cr_assert_str_eq(t, "2026-09-21T14:13:20.000Z");
    cr_expect_eq(send_at("\"2026-09-21T17:13:20+02:00\""), 0);
    cr_expect_eq(in.send_at_ms, NOW_MS + 3600 * 1000);
}

Test(validate, send_at_refuses) {
    const char *bad[] = {"\"2026-12-01T00:00:00\"",  "\"2026-12-01\"", "\"tomorrow\"", "\"\"",
                         "\"2026-13-01T00:00:00Z\"", "1790000000000",  "true",         "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(send_at(bad[i]), -1, "%s accepted", bad[i]);
        expect_only("send_at", NULL);
    }
}

/* ---- unknown fields ---- */

Test(validate, unknown_fields_are_named) {
    cr_expect_eq(body_for("sms", "+14155550100\",\"urgency\":\"high", "b"), -1);
    expect_only("urgency", "unknown field");
    cr_expect_eq(body_for("sms", "+14155550100\",\"Body\":\"x", "b"), -1);
    expect_only("Body", "unknown field");
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"b\","
                     "\"\":null,\"a.b\":{}}"),
                 -1);
    cr_expect_eq(errs.len, 2);
    cr_expect_not_null(error_for(""));
    cr_expect_not_null(error_for("a.b"));
}

Test(validate, unknown_field_names_are_sanitised) {
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"b\","
                     "\"x\xFFy\":1,\"\\ud800\":{}}"),
                 -1);
    cr_expect_eq(errs.len, 2);
    cr_expect_not_null(error_for("x\xEF\xBF\xBDy"));
    cr_expect_not_null(error_for("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
    char *longkey = rep("k", 5000);
    cr_expect_eq(runf("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"b\","
                      "\"%s\":1}",
                      longkey),
                 -1);
    cr_assert_eq(errs.len, 1);
    cr_expect_eq(strlen(errs.items[0].field), 128 + 3);
    cr_expect(hjson_utf8_valid(errs.items[0].field, strlen(errs.items[0].field)));
    mem_free(longkey);
}

/* ---- the error list ---- */

Test(validate, error_list_is_capped) {
    struct val_errors e = {0};
    for (int i = 0; i < VAL_ERRORS_MAX + 5; i++)
        val_errors_add(&e, "f", "m");
    cr_expect_eq(e.len, VAL_ERRORS_MAX);
    cr_expect(e.truncated);
    val_errors_free(&e);
    cr_expect_eq(e.len, 0);
    cr_expect_null(e.items);
    cr_expect(!e.truncated);
}

/* ---- priority, expires_at, html, reply_to ---- */

#define EMAIL_HEAD                                                                                 \
    "{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":\"s\",\"body\":\"b\""

Test(validate, priority_default_and_values) {
    cr_assert_eq(run(EMAIL_HEAD "}"), 0);
    cr_expect_eq(in.priority, PRIO_NORMAL);
    cr_assert_eq(run(EMAIL_HEAD ",\"priority\":\"high\"}"), 0);
    cr_expect_eq(in.priority, PRIO_HIGH);
    cr_assert_eq(run(EMAIL_HEAD ",\"priority\":\"low\"}"), 0);
    cr_expect_eq(in.priority, PRIO_LOW);
    cr_expect_eq(run(EMAIL_HEAD ",\"priority\":\"HIGH\"}"), -1);
    expect_only("priority", "high, normal, low");
    cr_expect_eq(run(EMAIL_HEAD ",\"priority\":2}"), -1);
    expect_only("priority", "string");
}

Test(validate, expires_at_rules) {
    cr_assert_eq(run(EMAIL_HEAD ",\"expires_at\":\"2026-09-21T14:18:20Z\"}"), 0);
    cr_expect_eq(in.expires_at_ms, NOW_MS + 300000);
    cr_expect_eq(run(EMAIL_HEAD ",\"expires_at\":\"2026-09-21T14:13:20Z\"}"), -1);
    expect_only("expires_at", "future");
    cr_expect_eq(run(EMAIL_HEAD ",\"expires_at\":\"2026-10-22T14:13:21Z\"}"), -1);
    expect_only("expires_at", "30 days");
    cr_expect_eq(run(EMAIL_HEAD ",\"expires_at\":\"soon\"}"), -1);
    expect_only("expires_at", "RFC 3339");
    cr_expect_eq(run(EMAIL_HEAD ",\"send_at\":\"2026-09-21T15:00:00Z\","
                                "\"expires_at\":\"2026-09-21T15:00:00Z\"}"),
                 -1);
    expect_only("expires_at", "after send_at");
    /* a past send_at means now, and a deadline after it is fine */
    cr_assert_eq(run(EMAIL_HEAD ",\"send_at\":\"2026-09-21T14:00:00Z\","
                                "\"expires_at\":\"2026-09-21T14:20:00Z\"}"),
                 0);
    cr_expect_eq(in.send_at_ms, 0);
}

Test(validate, html_email_only_with_limits) {
    cr_assert_eq(run(EMAIL_HEAD ",\"html\":\"<b>{{n}}</b>\",\"metadata\":{\"n\":\"<1>\"}}"), 0);
    cr_expect_str_eq(in.html, "<b>{{n}}</b>");
    cr_expect_eq(run("{\"channel\":\"sms\",\"recipient\":\"+15551234567\",\"body\":\"b\","
                     "\"html\":\"<b>x</b>\"}"),
                 -1);
    expect_only("html", "only for email");
    cr_expect_eq(run(EMAIL_HEAD ",\"html\":\"\"}"), -1);
    expect_only("html", "empty");
    char *big = rep("x", 50001);
    cr_expect_eq(runf(EMAIL_HEAD ",\"html\":\"%s\"}", big), -1);
    expect_only("html", "50000");
    mem_free(big);
    cr_expect_eq(run(EMAIL_HEAD ",\"html\":\"{{nope}}\"}"), -1);
    expect_only("html", "{{nope}}");
    /* 10,001 '&' escape to 50,005 characters */
    char *amps = rep("&", 10001);
    cr_expect_eq(runf(EMAIL_HEAD ",\"html\":\"{{a}}\",\"metadata\":{\"a\":\"%s\"}}", amps), -1);
    expect_only("html", "once placeholders are filled");
    mem_free(amps);
}

Test(validate, reply_to_email_only) {
    cr_assert_eq(run(EMAIL_HEAD ",\"reply_to\":\"help@example.com\"}"), 0);
    cr_expect_str_eq(in.reply_to, "help@example.com");
    cr_expect_eq(run(EMAIL_HEAD ",\"reply_to\":\"Help <help@example.com>\"}"), -1);
    expect_only("reply_to", "email address");
    cr_expect_eq(run("{\"channel\":\"push\",\"recipient\":\"tok\",\"body\":\"b\","
                     "\"reply_to\":\"help@example.com\"}"),
                 -1);
    expect_only("reply_to", "only for email");
}
