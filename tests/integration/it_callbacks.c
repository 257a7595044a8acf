/* it_callbacks: signed SMS delivery receipts on POST /v1/callbacks/sms. */
#include "support/itapi.h"
#include "api/form.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define TOKEN "test-auth-token"

static struct it_api api;
static char tenant_id[32];

static void start_api(const char *public_url) {
    char pub[128];
    snprintf(pub, sizeof(pub), "HERALD_PUBLIC_URL=%s", public_url ? public_url : "");
    const char *env[] = {"HERALD_SMS_AUTH_TOKEN=" TOKEN, public_url ? pub : NULL, NULL};
    it_api_start_with(&api, env);
}

static void setup(void) {
    it_require_stack();
    it_reset_db();
    it_sql_exec("insert into tenants (name, webhook_secret) values ('acme', 'whsec_x')", NULL);
    char *t = it_sql_value("select id from tenants where name = 'acme'", NULL);
    snprintf(tenant_id, sizeof(tenant_id), "%s", t);
    mem_free(t);
    api.pid = 0;
}

static void teardown(void) {
    if (api.pid > 0) {
        it_kill(api.pid, SIGTERM);
        it_wait_exit(api.pid, 20000);
    }
}

static void insert_sent(const char *id, const char *sid) {
    it_sql_exec("insert into notifications (id, tenant_id, channel, recipient, body, status, "
                "created_at, updated_at, due_at, in_stream, provider_ref, sent_at) values "
                "($1, $2, 'sms', '+14155550100', 'hi', 'sent', now(), now(), now(), false, $3, "
                "now())",
                id, tenant_id, sid, NULL);
}

/* post: sends the form body signed for signed_url (NULL: a wrong signature). */
static long post(const char *body, const char *signed_url) {
    struct form f;
    cr_assert_eq(form_parse(body, strlen(body), &f), 0);
    char sig[40] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    if (signed_url)
        form_twilio_signature(TOKEN, signed_url, &f, sig);
    form_free(&f);
    char hdr[80], url[96];
    snprintf(hdr, sizeof(hdr), "X-Twilio-Signature: %s", sig);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/callbacks/sms", api.port);
    const char *h[] = {hdr, "Content-Type: application/x-www-form-urlencoded", NULL};
    struct it_resp r = it_http("POST", url, h, body, strlen(body));
    long st = r.status;
    it_resp_free(&r);
    return st;
}

static char *status_of(const char *id) {
    return it_sql_value("select status from notifications where id = $1", id, NULL);
}

TestSuite(callbacks, .init = setup, .fini = teardown, .timeout = 60);

Test(callbacks, delivered_with_good_signature) {
    start_api(NULL);
    const char *id = "01a20c5d-972a-71d1-86a8-d1c113cef847";
    insert_sent(id, "SM123");
    char self[96];
    snprintf(self, sizeof(self), "http://127.0.0.1:%d/v1/callbacks/sms", api.port);
    cr_expect_eq(post("MessageSid=SM123&MessageStatus=delivered&To=%2B14155550100", self), 204);
    char *st = status_of(id);
    cr_expect_str_eq(st, "delivered");
    mem_free(st);
    it_expect_value("t", "select delivered_at is not null from notifications where id = $1", id,
                    NULL);
    /* delivered is final */
    cr_expect_eq(post("MessageSid=SM123&MessageStatus=undelivered&ErrorCode=30003", self), 204);
    st = status_of(id);
    cr_expect_str_eq(st, "delivered");
    mem_free(st);
}

Test(callbacks, bad_signature_changes_nothing) {
    start_api(NULL);
    const char *id = "01a20c5d-972a-71d1-86a8-d1c113cef848";
    insert_sent(id, "SM124");
    cr_expect_eq(post("MessageSid=SM124&MessageStatus=delivered", NULL), 403);
    /* signed for another URL */
    cr_expect_eq(post("MessageSid=SM124&MessageStatus=delivered", "http://evil.example/x"), 403);
    char *st = status_of(id);
    cr_expect_str_eq(st, "sent");
    mem_free(st);
}

Test(callbacks, failed_receipt_fails_with_provider_error) {
    start_api("https://herald.example.com");
    const char *id = "01a20c5d-972a-71d1-86a8-d1c113cef849";
    insert_sent(id, "SM125");
    cr_expect_eq(post("MessageSid=SM125&MessageStatus=undelivered&ErrorCode=30003&"
                      "ErrorMessage=Unreachable+handset",
                      "https://herald.example.com/v1/callbacks/sms"),
                 204);
    char *st = status_of(id);
    cr_expect_str_eq(st, "failed");
    mem_free(st);
    char *err = it_sql_value("select last_error from notifications where id = $1", id, NULL);
    cr_expect(strstr(err, "30003") && strstr(err, "Unreachable handset"), "%s", err);
    mem_free(err);
    redisReply *x = it_redis_cmd("XLEN herald:dlq:sms");
    cr_expect_geq(x->integer, 1);
    freeReplyObject(x);
}

Test(callbacks, early_receipt_is_kept) {
    start_api(NULL);
    char self[96];
    snprintf(self, sizeof(self), "http://127.0.0.1:%d/v1/callbacks/sms", api.port);
    cr_expect_eq(post("MessageSid=SM999&MessageStatus=delivered", self), 204);
    it_expect_value("delivered", "select status from sms_receipts where provider_ref = 'SM999'",
                    NULL);
}

/* issue 16: a receipt whose error text is long non-ASCII (cut by bytes it
 * split a character) or not UTF-8 at all is stored with the text made valid
 * and answered 204, not refused by PostgreSQL and reported as an outage */
Test(callbacks, test_issue_16_odd_error_text_is_stored) {
    start_api(NULL);
    char self[96];
    snprintf(self, sizeof(self), "http://127.0.0.1:%d/v1/callbacks/sms", api.port);
    const char *a = "01a20c5d-972a-71d1-86a8-d1c113cef850";
    const char *b = "01a20c5d-972a-71d1-86a8-d1c113cef851";
    insert_sent(a, "SM200");
    insert_sent(b, "SM201");
    /* "x" then 250 e-acutes: 501 bytes, so byte 200 falls inside a character */
    char body[4096] = "MessageSid=SM200&MessageStatus=failed&ErrorCode=30008&ErrorMessage=x";
    for (int i = 0; i < 250; i++)
        strcat(body, "%C3%A9");
    cr_expect_eq(post(body, self), 204);
    char *st = status_of(a);
    cr_expect_str_eq(st, "failed");
    mem_free(st);
    /* 200 characters kept: the "x" and 199 whole e-acutes */
    it_expect_value("200",
                    "select char_length(substring(last_error from ': (.*)$')) from "
                    "notifications where id = $1",
                    a, NULL);
    it_expect_value("\xc3\xa9", "select right(last_error, 1) from notifications where id = $1", a,
                    NULL);
    /* raw bytes that are no UTF-8 */
    cr_expect_eq(post("MessageSid=SM201&MessageStatus=undelivered&ErrorMessage=%FF%FEbad", self),
                 204);
    st = status_of(b);
    cr_expect_str_eq(st, "failed");
    mem_free(st);
    char *err = it_sql_value("select last_error from notifications where id = $1", b, NULL);
    cr_expect(err && strstr(err, "\xef\xbf\xbd\xef\xbf\xbd"
                                 "bad"),
              "%s", err ? err : "(null)");
    mem_free(err);
}
