/* it_oncall: the on-call page's figures end to end: herald-api and a webhook herald-worker add
 * their counts to Redis (common/stats), GET /v1/admin/stats returns the hour's series and the
 * failure reasons, and the page draws them in headless Chromium (tests/openapi/oncall_page.mjs,
 * screenshot in $HERALD_TEST_STACK_DIR/artifacts/oncall.png). */
#include "support/itapi.h"
#include "support/itworker.h"

#define OC_SCRIPT_TIMEOUT_MS (3 * 60 * 1000)
#define OC_SETUP_TIMEOUT_MS (15 * 60 * 1000)

static struct it_api oc;
static char oc_admin[128], oc_key[128];

static void oc_setup(void) {
    wt_setup();
    it_add_key("acme", true, oc_admin, sizeof(oc_admin));
    it_add_key("acme", false, oc_key, sizeof(oc_key));
    const char *env[] = {"HERALD_STATS_INTERVAL_MS=100", "HERALD_AUTH_CACHE_MS=200", NULL};
    it_api_start_with(&oc, env);
    const char *wenv[] = {"HERALD_STATS_INTERVAL_MS=100", NULL};
    wt_start_worker(wenv);
}

static void oc_teardown(void) {
    it_api_stop(&oc);
    wt_teardown();
}

TestSuite(oncall, .init = oc_setup, .fini = oc_teardown, .timeout = 1200);

/* oc_post: POST /v1/notifications as tenant acme; returns the id (mem_free). */
static char *oc_post(const char *body) {
    struct it_resp r = it_api_call(&oc, "POST", "/v1/notifications", oc_key, body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    struct json_object *o = json_tokener_parse(r.body), *id;
    cr_assert(o && json_object_object_get_ex(o, "id", &id));
    char *out = mem_strdup(json_object_get_string(id));
    json_object_put(o);
    it_resp_free(&r);
    return out;
}

/* oc_get_path: GET path with key; the status, *o the parsed body (or NULL). */
static long oc_get_path(const char *key, const char *path, struct json_object **o) {
    struct it_resp r = it_api_call(&oc, "GET", path, key, NULL);
    *o = r.body ? json_tokener_parse(r.body) : NULL;
    long st = r.status;
    it_resp_free(&r);
    return st;
}

static struct json_object *oc_get(struct json_object *o, const char *key) {
    struct json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return v;
}

/* oc_channel: the entry of channel ch in the answer's "channels" (or in another array). */
static struct json_object *oc_channel(struct json_object *arr, const char *ch) {
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
        struct json_object *c = json_object_array_get_idx(arr, i);
        if (!strcmp(json_object_get_string(oc_get(c, "channel")), ch))
            return c;
    }
    return NULL;
}

/* oc_sum: the sum of a series; -1 when it is null. nulls counts its null values. */
static long oc_sum(struct json_object *series, int *nonnull) {
    if (!series || !json_object_is_type(series, json_type_array))
        return -1;
    long sum = 0;
    if (nonnull)
        *nonnull = 0;
    for (size_t i = 0; i < json_object_array_length(series); i++) {
        struct json_object *v = json_object_array_get_idx(series, i);
        if (!v)
            continue;
        sum += json_object_get_int64(v);
        if (nonnull)
            (*nonnull)++;
    }
    return sum;
}

struct oc_want {
    const char *ch, *kind;
    long n;
};

static const struct oc_want oc_wants[] = {
    {"webhook", "accepted", 3}, {"webhook", "sent", 2}, {"webhook", "failed", 1},
    {"webhook", "retried", 1},  {"sms", "accepted", 2}, {"email", "accepted", 0},
    {"push", "sent", 0},
};

/* oc_figures_arrived: every wanted total is reached, and the webhook
 * channel has a lag sample and a dwell p99. */
static bool oc_figures_arrived(void *arg) {
    (void)arg;
    struct json_object *o;
    if (oc_get_path(oc_admin, "/v1/admin/stats", &o) != 200)
        return false;
    bool ok = o != NULL;
    struct json_object *chs = oc_get(o, "channels");
    for (size_t i = 0; ok && i < HD_ARRAY_LEN(oc_wants); i++)
        ok = oc_sum(oc_get(oc_channel(chs, oc_wants[i].ch), oc_wants[i].kind), NULL) ==
             oc_wants[i].n;
    int lags = 0, dwells = 0;
    struct json_object *wh = oc_channel(chs, "webhook");
    if (ok) {
        oc_sum(oc_get(wh, "lag"), &lags);
        oc_sum(oc_get(wh, "dwell_p99_ms"), &dwells);
    }
    json_object_put(o);
    return ok && lags > 0 && dwells >= 1;
}

#define OC_DEST "https://down.example:443"

/* oc_destinations_route: GET /v1/admin/destinations lists an open circuit
 * (as a worker writes it), filters by channel, refuses a bad one. */
static void oc_destinations_route(void) {
    long long now = (long long)time(NULL) * 1000;
    char v[128];
    snprintf(v, sizeof(v), "10 %lld %lld 600000 4", now, now + 600000);
    redisReply *rr = it_redis_cmd("HSET herald:breakers:{webhook} %s %s", OC_DEST, v);
    cr_assert(rr && rr->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rr);
    struct json_object *o;
    cr_assert_eq(oc_get_path(oc_admin, "/v1/admin/destinations", &o), 200);
    struct json_object *data = oc_get(o, "data");
    cr_assert_eq(json_object_array_length(data), 1, "%s", json_object_get_string(o));
    struct json_object *d = json_object_array_get_idx(data, 0);
    cr_expect_str_eq(json_object_get_string(oc_get(d, "channel")), "webhook");
    cr_expect_str_eq(json_object_get_string(oc_get(d, "destination")), OC_DEST);
    cr_expect_str_eq(json_object_get_string(oc_get(d, "state")), "open");
    cr_expect_eq(json_object_get_int(oc_get(d, "failures")), 10);
    cr_expect_eq(json_object_get_int(oc_get(d, "waiting")), 4);
    cr_expect_not_null(json_object_get_string(oc_get(d, "since")));
    json_object_put(o);
    cr_assert_eq(oc_get_path(oc_admin, "/v1/admin/destinations?channel=sms", &o), 200);
    cr_expect_eq(json_object_array_length(oc_get(o, "data")), 0);
    json_object_put(o);
    cr_expect_eq(oc_get_path(oc_admin, "/v1/admin/destinations?channel=fax", &o), 422);
    json_object_put(o);
    cr_expect_eq(oc_get_path(oc_key, "/v1/admin/destinations", &o), 403);
    json_object_put(o);
    /* heraldctl destinations: the same, as a table and as JSON */
    int code;
    const char *argv[] = {"heraldctl", "destinations", "--channel", "webhook", NULL};
    char *out = it_run_capture(argv, NULL, &code);
    cr_expect_eq(code, 0);
    cr_expect(strstr(out, OC_DEST) && strstr(out, "open"), "%s", out);
    mem_free(out);
    const char *jargv[] = {"heraldctl", "destinations", "--json", NULL};
    out = it_run_capture(jargv, NULL, &code);
    cr_expect_eq(code, 0);
    o = json_tokener_parse(out);
    cr_expect(o && json_object_array_length(oc_get(o, "data")) == 1, "%s", out);
    json_object_put(o);
    mem_free(out);
}

Test(oncall, test_issue_15_stats_and_the_page) {
    /* /ok answers 200; /flaky 500 then 200 (a retry); /gone 410 (a dead letter at once) */
    wt_control("{\"path\": \"/flaky\", \"responses\": [500]}");
    wt_control("{\"path\": \"/gone\", \"responses\": [410]}");
    char body[256];
    char *u = wt_url("/ok");
    snprintf(body, sizeof(body), "{\"channel\":\"webhook\",\"recipient\":\"%s\",\"body\":\"x\"}",
             u);
    char *ok = oc_post(body);
    mem_free(u);
    u = wt_url("/flaky");
    snprintf(body, sizeof(body), "{\"channel\":\"webhook\",\"recipient\":\"%s\",\"body\":\"x\"}",
             u);
    char *flaky = oc_post(body);
    mem_free(u);
    u = wt_url("/gone");
    snprintf(body, sizeof(body), "{\"channel\":\"webhook\",\"recipient\":\"%s\",\"body\":\"x\"}",
             u);
    char *gone = oc_post(body);
    mem_free(u);
    for (int i = 0; i < 2; i++)
        mem_free(oc_post("{\"channel\":\"sms\",\"recipient\":\"+14155550100\",\"body\":\"x\"}"));
    cr_assert(wt_wait_status(ok, "sent", 30000));
    cr_assert(wt_wait_status(flaky, "sent", 30000));
    cr_assert(wt_wait_status(gone, "failed", 30000));

    /* the route: counts of every process, a lag sample, a dwell p99 */
    cr_assert(it_eventually(oc_figures_arrived, NULL, 20000),
              "the hour's figures never matched what happened");
    struct json_object *o;
    cr_assert_eq(oc_get_path(oc_admin, "/v1/admin/stats", &o), 200);
    cr_expect_eq(json_object_get_int(oc_get(o, "bucket_seconds")), 10);
    struct json_object *wh = oc_channel(oc_get(o, "channels"), "webhook");
    cr_expect_eq(json_object_array_length(oc_get(wh, "sent")), 360, "an hour of buckets");
    struct json_object *reasons = oc_channel(oc_get(o, "failure_reasons"), "webhook");
    struct json_object *top = json_object_array_get_idx(oc_get(reasons, "reasons"), 0);
    cr_assert_not_null(top, "no failure reason");
    cr_expect(strstr(json_object_get_string(oc_get(top, "error")), "HTTP 410"), "%s",
              json_object_get_string(top));
    cr_expect_eq(json_object_get_int(oc_get(top, "count")), 1);
    cr_expect_eq(json_object_array_length(
                     oc_get(oc_channel(oc_get(o, "failure_reasons"), "sms"), "reasons")),
                 0);
    json_object_put(o);

    /* admin only */
    cr_expect_eq(oc_get_path(oc_key, "/v1/admin/stats", &o), 403);
    json_object_put(o);

    /* the destinations held back: a circuit the workers share in Redis */
    oc_destinations_route();

    /* the page, in Chromium */
    const char *setup[] = {"bash", HERALD_SOURCE_DIR "/tests/openapi/setup.sh", NULL};
    pid_t pid = it_spawn(setup, NULL);
    cr_assert_eq(it_wait_exit(pid, OC_SETUP_TIMEOUT_MS), 0, "tests/openapi/setup.sh failed");
    char e_base[96], e_admin[200], e_id[96], e_art[1024];
    snprintf(e_base, sizeof(e_base), "HERALD_TEST_BASE_URL=http://127.0.0.1:%d", oc.port);
    snprintf(e_admin, sizeof(e_admin), "HERALD_TEST_ADMIN_KEY=%s", oc_admin);
    snprintf(e_id, sizeof(e_id), "HERALD_TEST_SENT_ID=%s", ok);
    snprintf(e_art, sizeof(e_art), "HERALD_TEST_ARTIFACTS=%s/artifacts",
             getenv("HERALD_TEST_STACK_DIR"));
    const char *env[] = {e_base,
                         e_admin,
                         e_id,
                         e_art,
                         "HERALD_TEST_EXPECT=webhook:accepted=3,webhook:sent=2,webhook:failed=1,"
                         "sms:accepted=2",
                         "HERALD_TEST_REASON=HTTP 410",
                         "HERALD_TEST_DESTINATION=" OC_DEST,
                         NULL};
    const char *argv[] = {"node", HERALD_SOURCE_DIR "/tests/openapi/oncall_page.mjs", NULL};
    pid = it_spawn(argv, env);
    int st = it_wait_exit(pid, OC_SCRIPT_TIMEOUT_MS);
    if (st != 0) {
        char *path = it_log_path("node", pid);
        cr_log_error("oncall_page.mjs: exit %d; its output is in %s", st, path);
        mem_free(path);
    }
    cr_expect_eq(st, 0, "the on-call page checks failed");

    /* Redis down: the series are null, the reasons still come */
    wt_redis_stop();
    cr_assert_eq(oc_get_path(oc_admin, "/v1/admin/stats", &o), 200);
    cr_expect(json_object_is_type(oc_get(oc_channel(oc_get(o, "channels"), "webhook"), "sent"),
                                  json_type_null));
    cr_expect(json_object_is_type(oc_get(o, "failure_reasons"), json_type_array));
    json_object_put(o);
    wt_redis_start();
    mem_free(ok);
    mem_free(flaky);
    mem_free(gone);
}
