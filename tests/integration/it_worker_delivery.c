/* it_worker_delivery: what herald-worker sends to a webhook and how it reads the answers. */
#include "support/itworker.h"
#include "support/whsig.h"

TestSuite(worker_delivery, .init = wt_setup, .fini = wt_teardown, .timeout = 120);

/* verify: the Standard Webhooks signature of a stored request, with secret,
 * computed by the tests' own signer (support/whsig), not Herald's. */
static bool verify(struct json_object *req, const char *secret, const char *sig_header) {
    struct json_object *h;
    cr_assert(json_object_object_get_ex(req, "headers", &h));
    const char *id = wt_str(h, "webhook-id");
    const char *ts = wt_str(h, "webhook-timestamp");
    const char *body = wt_str(req, "body");
    cr_assert(id && ts && body && sig_header);
    char *expect = whsig_sign(secret, id, ts, body);
    cr_assert(expect, "not a whsec_ secret: %s", secret);
    bool ok = strcmp(sig_header, expect) == 0;
    mem_free(expect);
    return ok;
}

/* scripted: the receiver answers path as script says (the stand-in's control
 * fields, e.g. "\"default\": 500"); one webhook to path and a worker. Returns the id. */
static char *scripted(const char *path, const char *script) {
    char control[256];
    snprintf(control, sizeof(control), "{\"path\": \"%s\", %s}", path, script);
    wt_control(control);
    char *id = wt_enqueue(path, "x");
    wt_start_worker(NULL);
    return id;
}

Test(worker_delivery, body_headers_and_signature) {
    char *id = wt_insert("/hook", "Hi {{name}}", "Hello {{name}}, you are {{age}}",
                         "{\"name\":\"Ada\",\"age\":36}", 0);
    wt_xadd(id);
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");

    struct json_object *reqs = wt_requests("/hook");
    cr_assert_eq(json_object_array_length(reqs), 1);
    struct json_object *req = json_object_array_get_idx(reqs, 0), *h;
    cr_assert_str_eq(wt_str(req, "method"), "POST");
    cr_assert(json_object_object_get_ex(req, "headers", &h));
    cr_assert_str_eq(wt_str(h, "content-type"), "application/json");
    cr_assert_str_eq(wt_str(h, "webhook-id"), id);
    long ts = atol(wt_str(h, "webhook-timestamp"));
    cr_assert_lt(labs(ts - (long)time(NULL)), 60);
    cr_assert(verify(req, wt.secret, wt_str(h, "webhook-signature")), "bad signature: %s",
              wt_str(h, "webhook-signature"));

    struct json_object *body = json_tokener_parse(wt_str(req, "body"));
    cr_assert(body);
    cr_assert_str_eq(wt_str(body, "id"), id);
    cr_assert_str_eq(wt_str(body, "type"), "notification");
    cr_assert_str_eq(wt_str(body, "subject"), "Hi Ada");
    cr_assert_str_eq(wt_str(body, "body"), "Hello Ada, you are 36");
    struct json_object *meta;
    cr_assert(json_object_object_get_ex(body, "metadata", &meta));
    cr_assert_str_eq(wt_str(meta, "name"), "Ada");
    char *created = it_sql_value("SELECT to_char(created_at AT TIME ZONE 'UTC',"
                                 " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM notifications"
                                 " WHERE id = $1",
                                 id, NULL);
    cr_assert_str_eq(wt_str(body, "created_at"), created);

    cr_assert_eq(wt_attempts(id), 1);
    cr_assert_eq(wt_int("SELECT count(*) FROM notification_attempts WHERE notification_id = $1"
                        " AND outcome = 'success' AND status_code = 200",
                        id),
                 1);
    char *lease = wt_field(id, "coalesce(lease_owner, 'none')");
    cr_assert_str_eq(lease, "none");
    mem_free(lease);
    mem_free(created);
    json_object_put(body);
    json_object_put(reqs);
    mem_free(id);
}

Test(worker_delivery, signs_with_both_secrets_during_rotation) {
    /* the old secret becomes prev; the new one signs first */
    uint8_t key[32];
    memset(key, 7, sizeof(key));
    char fresh[80];
    wt_rotate_secret(key, fresh, sizeof(fresh));
    char *id = wt_enqueue("/rot", "x");
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 30000));
    struct json_object *reqs = wt_requests("/rot");
    struct json_object *req = json_object_array_get_idx(reqs, 0), *h;
    cr_assert(json_object_object_get_ex(req, "headers", &h));
    char sigs[256];
    snprintf(sigs, sizeof(sigs), "%s", wt_str(h, "webhook-signature"));
    char *space = strchr(sigs, ' ');
    cr_assert(space, "expected two signatures, got %s", sigs);
    *space = '\0';
    cr_assert(verify(req, fresh, sigs), "first signature is not the new secret's");
    cr_assert(verify(req, wt.secret, space + 1), "second signature is not the old secret's");
    json_object_put(reqs);
    mem_free(id);
}

Test(worker_delivery, retries_500_then_sends_with_same_webhook_id) {
    char *id = scripted("/flaky", "\"responses\": [500, 500, 200]");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    struct json_object *reqs = wt_requests("/flaky");
    cr_assert_eq(json_object_array_length(reqs), 3);
    for (size_t i = 0; i < 3; i++) {
        struct json_object *h;
        cr_assert(json_object_object_get_ex(json_object_array_get_idx(reqs, i), "headers", &h));
        cr_assert_str_eq(wt_str(h, "webhook-id"), id);
    }
    cr_assert_eq(wt_attempts(id), 3);
    wt_expect_outcomes(id, "retry:500,retry:500,success:200");
    char *err = wt_field(id, "coalesce(last_error, 'none')");
    cr_assert_str_eq(err, "none");
    mem_free(err);
    json_object_put(reqs);
    mem_free(id);
}

Test(worker_delivery, honours_retry_after) {
    char *id = scripted("/busy", "\"responses\": [429], \"retry_after\": 2");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    /* recorded start times, and the receiver's clock, at least 2 s apart */
    char *gap = it_sql_value("SELECT (extract(epoch FROM max(started_at) - min(started_at)) *"
                             " 1000)::bigint FROM notification_attempts WHERE notification_id = $1",
                             id, NULL);
    cr_assert_geq(atol(gap), 2000, "attempts only %s ms apart", gap);
    struct json_object *reqs = wt_requests("/busy");
    cr_assert_eq(json_object_array_length(reqs), 2);
    double t0 = wt_time_of(reqs, 0);
    double t1 = wt_time_of(reqs, 1);
    cr_assert_geq(t1 - t0, 1.95);
    json_object_put(reqs);
    mem_free(gap);
    mem_free(id);
}

Test(worker_delivery, always_500_is_dead_lettered_after_max_attempts) {
    char *id = scripted("/down", "\"default\": 500");
    wt_expect_end(id, "failed", 3);
    cr_assert_eq(wt_count("/down"), 3);
    cr_assert_eq(
        wt_int("SELECT count(*) FROM notification_attempts WHERE notification_id = $1", id), 3);
    wt_expect_error(id, "500");
    char *failed_at = wt_field(id, "coalesce(failed_at::text, 'none')");
    cr_assert_str_neq(failed_at, "none");
    /* and in the dead-letter feed */
    redisReply *r = it_redis_cmd("XLEN herald:dlq:webhook");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "dlq entries: %lld",
              r ? r->integer : 0);
    freeReplyObject(r);
    cr_assert(wt_dlq_has("webhook", id));
    mem_free(failed_at);
    mem_free(id);
}

Test(worker_delivery, gone_410_fails_at_once) {
    char *id = scripted("/gone", "\"default\": 410");
    wt_expect_end(id, "failed", 1);
    cr_assert_eq(wt_count("/gone"), 1);
    mem_free(id);
}

Test(worker_delivery, redirect_is_not_followed) {
    char target[128];
    snprintf(target, sizeof(target),
             "{\"path\": \"/moved\", \"responses\": [302], \"redirect\": "
             "\"http://127.0.0.1:%d/elsewhere\"}",
             wt.port);
    wt_control(target);
    char *id = wt_enqueue("/moved", "x");
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    cr_assert_eq(wt_count("/elsewhere"), 0);
    cr_assert_eq(wt_count("/moved"), 2);
    char *first = it_sql_value("SELECT outcome || ':' || status_code FROM notification_attempts"
                               " WHERE notification_id = $1 AND attempt = 1",
                               id, NULL);
    cr_assert_str_eq(first, "retry:302");
    mem_free(first);
    mem_free(id);
}

Test(worker_delivery, send_at_is_respected) {
    char *id = wt_insert("/later", NULL, "x", NULL, 2000);
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    struct json_object *reqs = wt_requests("/later");
    cr_assert_eq(json_object_array_length(reqs), 1);
    double got = wt_time_of(reqs, 0);
    char *send_at = it_sql_value("SELECT extract(epoch FROM send_at) FROM notifications"
                                 " WHERE id = $1",
                                 id, NULL);
    cr_assert_geq(got, atof(send_at), "delivered %.3f s before send_at", atof(send_at) - got);
    json_object_put(reqs);
    mem_free(send_at);
    mem_free(id);
}

/* An entry read early (its row not yet due) is handed back: the row leaves
 * the stream and the sweeper enqueues it when due. A row another live
 * consumer holds is left alone. */
Test(worker_delivery, claim_skips_rows_not_due_and_rows_leased_by_others) {
    char *early = wt_insert("/early", NULL, "x", NULL, 1500);
    it_sql_exec("UPDATE notifications SET in_stream = true WHERE id = $1", early, NULL);
    wt_xadd(early);
    char *held = wt_enqueue("/held", "x");
    it_sql_exec("UPDATE notifications SET lease_owner = 'someone-else', lease_until = now() + "
                "interval '1 hour' WHERE id = $1",
                held, NULL);
    char *now = wt_enqueue("/now", "x");
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(now, "sent", 30000), "the due row was not sent");
    char *status = wt_field(early, "status");
    cr_expect_str_eq(status, "pending", "not delivered before it is due");
    mem_free(status);
    cr_assert(wt_wait_status(early, "sent", 30000), "the early row was not sent once due");
    it_expect_value("t", "SELECT sent_at >= send_at FROM notifications WHERE id = $1", early, NULL);
    char *owner = wt_field(held, "lease_owner");
    char *hst = wt_field(held, "status");
    cr_expect_str_eq(owner, "someone-else", "another consumer's lease is kept");
    cr_expect_str_eq(hst, "pending");
    cr_expect_eq(wt_count("/held"), 0);
    mem_free(owner);
    mem_free(hst);
    mem_free(early);
    mem_free(held);
    mem_free(now);
}

/* nothing_pending: the webhook groups have no entry read and not acknowledged. */
/* a success at the first attempt is kept in the notification's row; a retried one
 * has a delivery_attempts row for each attempt; both read the same through
 * notification_attempts (what GET /v1/notifications/{id}/attempts reads) */
Test(worker_delivery, a_first_success_is_kept_in_its_row_retries_in_attempt_rows) {
    wt_control("{\"path\": \"/again\", \"responses\": [503]}");
    char *first = wt_enqueue("/first", "x");
    char *again = wt_enqueue("/again", "x");
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(first, "sent", 30000), "not sent");
    cr_assert(wt_wait_status(again, "sent", 30000), "not sent");
    const char *rows = "SELECT count(*) FROM delivery_attempts WHERE notification_id = $1";
    cr_expect_eq(wt_int(rows, first), 0, "a first success writes no attempt row");
    cr_expect_eq(wt_int(rows, again), 2);
    wt_expect_outcomes(first, "success:200");
    wt_expect_outcomes(again, "retry:503,success:200");
    cr_expect_eq(wt_int("SELECT count(*) FROM notifications WHERE id = $1 AND first_status_code ="
                        " 200 AND first_duration_ms >= 0 AND first_started_at <= sent_at",
                        first),
                 1);
    cr_expect_eq(wt_int("SELECT count(*) FROM notifications WHERE id = $1"
                        " AND first_started_at IS NULL",
                        again),
                 1);
    mem_free(first);
    mem_free(again);
}

static bool nothing_pending(void *arg) {
    (void)arg;
    return it_stream_pending("webhook") == 0;
}

Test(worker_delivery, cancelled_is_never_delivered) {
    char *cancelled = wt_enqueue("/cancelled", "x");
    it_sql_exec("UPDATE notifications SET status = 'cancelled' WHERE id = $1", cancelled, NULL);
    char *after = wt_enqueue("/after", "x");
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(after, "sent", 30000), "not sent");
    /* the cancelled entry was read too: wait until it is acknowledged */
    cr_assert(it_eventually(nothing_pending, NULL, 30000), "entries left pending");
    cr_assert_eq(wt_count("/cancelled"), 0);
    char *st = wt_field(cancelled, "status");
    cr_assert_str_eq(st, "cancelled");
    cr_assert_eq(wt_attempts(cancelled), 0);
    mem_free(st);
    mem_free(cancelled);
    mem_free(after);
}

Test(worker_delivery, private_address_refused) {
    const char *env[] = {"HERALD_WEBHOOK_ALLOW_PRIVATE=false", NULL};
    char *id = wt_enqueue("/private", "x");
    wt_start_worker(env);
    cr_assert(wt_wait_status(id, "failed", 30000), "not failed");
    cr_assert_eq(wt_count("/private"), 0);
    wt_expect_error(id, "127.0.0.1"); /* names the address */
    cr_assert_eq(wt_attempts(id), 1);
    mem_free(id);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* --concurrency caps transfers in flight: with every answer taking 300 ms,
 * no nine requests (concurrency 8) can arrive within 300 ms of each other;
 * outcomes being recorded do not hold a slot, so that is the only cap. */
Test(worker_delivery, concurrency_caps_transfers_in_flight) {
    wt_control("{\"path\": \"/slow\", \"delay_ms\": 300}");
    enum { N = 24 };
    char *ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = wt_enqueue("/slow", "x");
    wt_start_worker(NULL);
    for (int i = 0; i < N; i++) {
        cr_assert(wt_wait_status(ids[i], "sent", 30000), "%s not sent", ids[i]);
        mem_free(ids[i]);
    }
    struct json_object *reqs = wt_requests("/slow");
    cr_assert_eq(json_object_array_length(reqs), N);
    double t[N];
    for (size_t i = 0; i < N; i++) {
        struct json_object *tm;
        cr_assert(json_object_object_get_ex(json_object_array_get_idx(reqs, i), "time", &tm));
        t[i] = json_object_get_double(tm);
    }
    qsort(t, N, sizeof(t[0]), cmp_double);
    for (int i = 0; i + 8 < N; i++)
        cr_expect_geq(t[i + 8] - t[i], 0.29,
                      "requests %d and %d only %.3f s apart: more than 8 at once", i, i + 8,
                      t[i + 8] - t[i]);
    json_object_put(reqs);
}

Test(worker_delivery, metrics_move) {
    int port = it_free_port();
    char listen[64];
    snprintf(listen, sizeof(listen), "HERALD_METRICS_LISTEN=127.0.0.1:%d", port);
    const char *extra[] = {listen, NULL};
    wt_start_worker(extra);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    cr_assert(it_wait_http_ok(url, 10000), "worker /healthz");
    wt_control("{\"path\": \"/hooks/m\", \"responses\": [500, 200]}");
    char *id = wt_enqueue("/hooks/m", "{\"m\":1}");
    cr_assert(wt_wait_status(id, "sent", 30000));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    struct it_resp r = it_http("GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_expect_eq(
        it_metric_value(r.body, "herald_deliveries_total{channel=\"webhook\",outcome=\"sent\"}"), 1,
        "%s", r.body);
    cr_expect_eq(
        it_metric_value(r.body, "herald_deliveries_total{channel=\"webhook\",outcome=\"retry\"}"),
        1);
    cr_expect_eq(it_metric_value(r.body, "herald_retries_total{channel=\"webhook\"}"), 1);
    cr_expect_eq(it_metric_value(r.body, "herald_end_to_end_seconds_count{channel=\"webhook\"}"),
                 1);
    cr_expect_eq(
        it_metric_value(r.body, "herald_delivery_duration_seconds_count{channel=\"webhook\"}"), 2);
    cr_expect_eq(it_metric_value(r.body, "herald_dependency_up{dep=\"postgres\"}"), 1);
    /* dwell runs from the retry's due time, so it is shorter than end to end */
    cr_expect_eq(it_metric_value(
                     r.body, "herald_dwell_seconds_count{channel=\"webhook\",priority=\"normal\"}"),
                 1);
    cr_expect_leq(it_metric_value(
                      r.body, "herald_dwell_seconds_sum{channel=\"webhook\",priority=\"normal\"}"),
                  it_metric_value(r.body, "herald_end_to_end_seconds_sum{channel=\"webhook\"}"));
    cr_expect_eq(it_metric_value(r.body, "herald_circuits_open{channel=\"webhook\"}"), 0);
    it_resp_free(&r);
    mem_free(id);
}
