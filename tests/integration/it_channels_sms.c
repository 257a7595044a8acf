/* it_channels_sms: what herald-worker --channel sms posts to a Twilio-compatible API and how it
 * reads the answers, against tests/receivers/sms_provider.py; early receipts (schema 002). */
#include "support/itchannels.h"

static char base_url[80];

static void setup(void) {
    ct_setup();
    int port = it_free_port();
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(base_url, sizeof(base_url), "HERALD_SMS_BASE_URL=http://127.0.0.1:%d", port);
    const char *args[] = {p, NULL};
    ct_start_standin("sms_provider.py", port, args);
}

TestSuite(channels_sms, .init = setup, .fini = wt_teardown, .timeout = 120);

static pid_t start_sms_worker(const char *token) {
    char tok[96];
    snprintf(tok, sizeof(tok), "HERALD_SMS_AUTH_TOKEN=%s", token);
    const char *env[] = {base_url,
                         "HERALD_SMS_ACCOUNT_SID=ACtest",
                         tok,
                         "HERALD_SMS_FROM=+15550000000",
                         "HERALD_PUBLIC_URL=https://herald.example.com",
                         NULL};
    return ct_start_worker("sms", env);
}

static struct json_object *form_of(struct json_object *req) {
    struct json_object *f = NULL;
    cr_assert(json_object_object_get_ex(req, "form", &f));
    return f;
}

/* one_sms: one text to number and a worker with the right token. Returns the id. */
static char *one_sms(const char *number) {
    char *id = wt_enqueue_row("sms", number, NULL, "x", NULL);
    start_sms_worker("test-token");
    return id;
}

Test(channels_sms, form_fields_basic_auth_and_sid_kept) {
    char *id = wt_enqueue_row("sms", "+15551234567", NULL, "Your code is {{code}} – thanks",
                              "{\"code\":1234}");
    start_sms_worker("test-token");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");

    struct json_object *reqs = wt_requests(NULL);
    cr_assert_eq(json_object_array_length(reqs), 1);
    struct json_object *req = json_object_array_get_idx(reqs, 0), *h;
    cr_assert_str_eq(wt_str(req, "path"), "/2010-04-01/Accounts/ACtest/Messages.json");
    cr_assert(json_object_get_boolean(json_object_object_get(req, "auth_ok")), "basic auth");
    cr_assert(json_object_object_get_ex(req, "headers", &h));
    cr_assert_str_eq(wt_str(h, "content-type"), "application/x-www-form-urlencoded");
    struct json_object *f = form_of(req);
    cr_assert_eq(json_object_object_length(f), 4);
    cr_assert_str_eq(wt_str(f, "To"), "+15551234567");
    cr_assert_str_eq(wt_str(f, "From"), "+15550000000");
    cr_assert_str_eq(wt_str(f, "Body"), "Your code is 1234 – thanks");
    cr_assert_str_eq(wt_str(f, "StatusCallback"), "https://herald.example.com/v1/callbacks/sms");

    char *ref = wt_field(id, "provider_ref");
    cr_assert(ref && strncmp(ref, "SM", 2) == 0);
    cr_assert_str_eq(ref, wt_str(req, "sid"));
    wt_expect_outcomes(id, "success:201");
    mem_free(ref);
    json_object_put(reqs);
    mem_free(id);
}

Test(channels_sms, server_errors_and_rate_limits_are_retried_with_retry_after) {
    /* 20429 is a retry whatever the HTTP status says */
    wt_control("{\"to\": \"+15550000001\", \"responses\": [500,"
               " {\"status\": 400, \"code\": 20429, \"message\": \"Too Many Requests\","
               " \"retry_after\": 2}]}");
    char *id = one_sms("+15550000001");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    wt_expect_outcomes(id, "retry:500,retry:400,success:201");
    char *err = it_sql_value("SELECT error FROM notification_attempts WHERE notification_id = $1"
                             " AND attempt = 2",
                             id, NULL);
    cr_assert_str_eq(err, "20429: Too Many Requests");
    /* Retry-After: 2 s between the second and the third request */
    struct json_object *reqs = wt_requests(NULL);
    cr_assert_eq(json_object_array_length(reqs), 3);
    double t1 = wt_time_of(reqs, 1);
    double t2 = wt_time_of(reqs, 2);
    cr_assert_geq(t2 - t1, 1.95, "only %.3f s apart", t2 - t1);
    cr_assert_eq(wt_attempts(id), 3);
    json_object_put(reqs);
    mem_free(err);
    mem_free(id);
}

Test(channels_sms, invalid_number_fails_at_once_with_the_provider_code) {
    char *id = one_sms("+15005550001");
    cr_assert(wt_wait_status(id, "failed", 30000), "not failed");
    char *err = wt_field(id, "last_error");
    cr_assert_str_eq(err, "21211: The 'To' number +15005550001 is not a valid phone number.");
    cr_assert_eq(wt_attempts(id), 1);
    wt_expect_outcomes(id, "failed:400");
    cr_assert(wt_dlq_has("sms", id));
    mem_free(err);
    mem_free(id);
}

static bool two_requests(void *arg) {
    (void)arg;
    return wt_count(NULL) >= 2;
}

Test(channels_sms, bad_credentials_do_not_use_attempts) {
    char *id = wt_enqueue_row("sms", "+15551234567", NULL, "x", NULL);
    pid_t pid = start_sms_worker("wrong-token-value");
    cr_assert(it_eventually(two_requests, NULL, 30000), "fewer than 2 requests");
    cr_assert_eq(wt_attempts(id), 0);
    char *status = wt_field(id, "status");
    cr_assert_str_eq(status, "pending");
    char *err = wt_field(id, "last_error");
    cr_assert_str_eq(err, "20003: Authenticate");
    /* the provider accepts that token now: sent with one attempt used */
    wt_control("{\"credentials\": {\"token\": \"wrong-token-value\"}}");
    wt_expect_end(id, "sent", 1);
    cr_assert_not(ct_log_has(pid, "wrong-token-value"), "the auth token reached the log");
    mem_free(err);
    mem_free(status);
    mem_free(id);
}

Test(channels_sms, early_receipts_are_applied_when_the_sid_is_stored) {
    it_sql_exec("INSERT INTO sms_receipts (provider_ref, status) VALUES ('SMearlydelivered',"
                " 'delivered')",
                NULL);
    it_sql_exec("INSERT INTO sms_receipts (provider_ref, status, error) VALUES ('SMearlyfailed',"
                " 'failed', '30006: Landline or unreachable carrier')",
                NULL);
    wt_control("{\"to\": \"+15550000002\", \"responses\": [{\"status\": 201,"
               " \"sid\": \"SMearlydelivered\"}]}");
    wt_control("{\"to\": \"+15550000003\", \"responses\": [{\"status\": 201,"
               " \"sid\": \"SMearlyfailed\"}]}");
    char *ok = wt_enqueue_row("sms", "+15550000002", NULL, "x", NULL);
    char *bad = wt_enqueue_row("sms", "+15550000003", NULL, "y", NULL);
    start_sms_worker("test-token");
    cr_assert(wt_wait_status(ok, "delivered", 30000), "not delivered");
    cr_assert(wt_wait_status(bad, "failed", 30000), "not failed");
    char *v = wt_field(ok, "(delivered_at IS NOT NULL AND sent_at IS NOT NULL"
                           " AND provider_ref = 'SMearlydelivered')");
    cr_assert_str_eq(v, "true");
    mem_free(v);
    v = wt_field(bad, "(failed_at IS NOT NULL AND last_error ="
                      " '30006: Landline or unreachable carrier')");
    cr_assert_str_eq(v, "true");
    mem_free(v);
    cr_assert_eq(wt_int("SELECT count(*) FROM sms_receipts", NULL), 0);
    mem_free(ok);
    mem_free(bad);
}

Test(channels_sms, receipt_kept_after_the_sid_was_stored_is_applied) {
    /* the race's other order: the receipt commits after a sid it could not see */
    char *id = one_sms("+15551234567");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    char *ref = wt_field(id, "provider_ref");
    it_sql_exec("INSERT INTO sms_receipts (provider_ref, status) VALUES ($1, 'delivered')", ref,
                NULL);
    char *status = wt_field(id, "status");
    cr_assert_str_eq(status, "delivered");
    cr_assert_eq(wt_int("SELECT count(*) FROM sms_receipts", NULL), 0);
    /* one for no notification stays */
    it_sql_exec("INSERT INTO sms_receipts (provider_ref, status) VALUES ('SMnobody', 'failed')",
                NULL);
    cr_assert_eq(wt_int("SELECT count(*) FROM sms_receipts", NULL), 1);
    mem_free(status);
    mem_free(ref);
    mem_free(id);
}

Test(channels_sms, missing_account_sid_stops_start_up) {
    const char *env[] = {base_url, "HERALD_SMS_AUTH_TOKEN=x", "HERALD_SMS_FROM=+15550000000", NULL};
    ct_expect_config_error("sms", env, "HERALD_SMS_ACCOUNT_SID");
}

Test(channels_sms, deadline_passed_as_validity_period) {
    char *soon = wt_enqueue_row("sms", "+15551230001", NULL, "code 1", NULL);
    char *far = wt_enqueue_row("sms", "+15551230002", NULL, "code 2", NULL);
    it_sql_exec("UPDATE notifications SET expires_at = now() + interval '120 seconds'"
                " WHERE id = $1",
                soon, NULL);
    it_sql_exec("UPDATE notifications SET expires_at = now() + interval '20 days' WHERE id = $1",
                far, NULL);
    start_sms_worker("test-token");
    cr_assert(wt_wait_status(soon, "sent", 30000), "not sent");
    cr_assert(wt_wait_status(far, "sent", 30000), "not sent");
    struct json_object *reqs = wt_requests(NULL);
    cr_assert_eq(json_object_array_length(reqs), 2);
    for (size_t i = 0; i < 2; i++) {
        struct json_object *f = form_of(json_object_array_get_idx(reqs, i));
        const char *vp = wt_str(f, "ValidityPeriod");
        cr_assert_not_null(vp, "no ValidityPeriod");
        long v = atol(vp);
        if (!strcmp(wt_str(f, "To"), "+15551230001"))
            cr_expect(v > 100 && v <= 120, "ValidityPeriod %s", vp);
        else
            cr_expect_eq(v, 36000, "clamped: %s", vp);
    }
    json_object_put(reqs);
    mem_free(soon);
    mem_free(far);
}
