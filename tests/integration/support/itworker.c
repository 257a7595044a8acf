/* itworker: the worker integration tests' shared state and helpers: a
 * webhook receiver stand-in, rows inserted the way the API inserts them,
 * herald-worker processes, their dead letters, and the reference verifier of
 * their signatures. */
#include "itworker.h"
#include "whsig.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wt wt;

/* The settings every test worker runs with; a test's extra ones win. */
const char *const wt_env[] = {"HERALD_RETRY_BASE_MS=50",
                              "HERALD_RETRY_MAX_MS=200",
                              "HERALD_VISIBILITY_TIMEOUT_MS=1500",
                              "HERALD_DELIVERY_TIMEOUT_MS=1000",
                              "HERALD_SWEEP_INTERVAL_MS=100",
                              "HERALD_SWEEP_GRACE_MS=500",
                              "HERALD_WEBHOOK_ALLOW_PRIVATE=true",
                              "HERALD_MAX_ATTEMPTS=3",
                              "HERALD_SHUTDOWN_GRACE_MS=10000",
                              "HERALD_LOG_LEVEL=debug",
                              NULL};

char *wt_url(const char *path) {
    size_t n = strlen(path) + 64;
    char *u = mem_alloc(n);
    snprintf(u, n, "http://127.0.0.1:%d%s", wt.port, path);
    return u;
}

void wt_start_receiver(void) {
    wt.port = it_free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", wt.port);
    char script[1024];
    snprintf(script, sizeof(script), "%s/tests/receivers/webhook_receiver.py", it_source_dir());
    const char *argv[] = {"python3", script, port, NULL};
    wt.receiver = it_spawn(argv, NULL);
    char *h = wt_url("/_health");
    cr_assert(it_wait_http_ok(h, 10000), "webhook receiver did not start");
    mem_free(h);
}

/* wt_control: sets the receiver's answers for a path (see webhook_receiver.py). */
void wt_control(const char *json) {
    char *u = wt_url("/_control");
    struct it_resp r = it_http("POST", u, NULL, json, strlen(json));
    cr_assert_eq(r.status, 204, "receiver control failed: %ld %s", r.status, r.body);
    it_resp_free(&r);
    mem_free(u);
}

/* wt_requests: what the receiver got on path (NULL: every path), a json-c
 * array; caller releases with json_object_put. */
struct json_object *wt_requests(const char *path) {
    char q[512];
    snprintf(q, sizeof(q), "/_requests%s%s", path ? "?path=" : "", path ? path : "");
    char *u = wt_url(q);
    struct it_resp r = it_http("GET", u, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    struct json_object *a = json_tokener_parse(r.body);
    cr_assert(a && json_object_is_type(a, json_type_array));
    it_resp_free(&r);
    mem_free(u);
    return a;
}

double wt_time_of(struct json_object *reqs, size_t i) {
    return json_object_get_double(
        json_object_object_get(json_object_array_get_idx(reqs, i), "time"));
}

int wt_count(const char *path) {
    struct json_object *a = wt_requests(path);
    int n = (int)json_object_array_length(a);
    json_object_put(a);
    return n;
}

const char *wt_str(struct json_object *o, const char *key) {
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return json_object_get_string(v);
}

/* secret_of: "whsec_" and key (32 bytes) in base64, into out (n bytes). */
static void secret_of(const uint8_t key[32], char *out, size_t n) {
    char *b64 = whsig_b64(key, 32);
    snprintf(out, n, "whsec_%s", b64);
    mem_free(b64);
}

/* wt_tenant: a tenant with a known secret (32 bytes 1..32). */
void wt_tenant(void) {
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i + 1);
    secret_of(key, wt.secret, sizeof(wt.secret));
    char *id = it_sql_value("INSERT INTO tenants (name, webhook_secret) VALUES ('acme', $1) "
                            "RETURNING id",
                            wt.secret, NULL);
    wt.tenant_id = atol(id);
    mem_free(id);
}

void wt_rotate_secret(const uint8_t key[32], char *fresh, size_t n) {
    secret_of(key, fresh, n);
    it_sql_exec("UPDATE tenants SET prev_webhook_secret = webhook_secret, webhook_secret = $1,"
                " secret_rotated_at = now()",
                fresh, NULL);
}

/* wt_insert: a row as the API stores it. send_in_ms > 0 makes it scheduled
 * (send_at in the future, not in the stream); returns its id (mem_free). */
char *wt_insert(const char *path, const char *subject, const char *body, const char *metadata,
                int send_in_ms) {
    char *url = wt_url(path);
    char tenant[32], delay[32];
    snprintf(tenant, sizeof(tenant), "%ld", wt.tenant_id);
    snprintf(delay, sizeof(delay), "%d", send_in_ms);
    char *id = it_sql_value(
        "INSERT INTO notifications (id, tenant_id, channel, recipient, subject, body, metadata,"
        " send_at, created_at, updated_at, due_at, in_stream, enqueued_at)"
        " SELECT gen_random_uuid(), $1, 'webhook', $2, $3, $4, $5, s, now(), now(),"
        " coalesce(s, now()), s IS NULL, CASE WHEN s IS NULL THEN now() END"
        " FROM (SELECT CASE WHEN $6::int > 0 THEN now() + $6::int * interval '1 millisecond'"
        " END AS s) x RETURNING id",
        tenant, url, subject ? subject : IT_SQL_NULL, body, metadata ? metadata : IT_SQL_NULL,
        delay, NULL);
    mem_free(url);
    return id;
}

/* wt_xadd: to the stream the API would pick (its priority, its tenant's lane) */
void wt_xadd(const char *id) {
    char key[64];
    it_stream_key(id, key);
    redisReply *r = it_redis_cmd("XADD %s * id %s", key, id);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD failed");
    freeReplyObject(r);
}

void wt_xadd_legacy(const char *id) {
    redisReply *r = it_redis_cmd("XADD herald:stream:webhook * id %s", id);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD failed");
    freeReplyObject(r);
}

/* wt_enqueue: insert + XADD, what a POST /v1/notifications does. */
char *wt_enqueue(const char *path, const char *body) {
    char *id = wt_insert(path, NULL, body, NULL, 0);
    wt_xadd(id);
    return id;
}

/* wt_enqueue_row: a due row of channel to recipient as the API stores it,
 * added to its lane; returns its id (mem_free). */
char *wt_enqueue_row(const char *channel, const char *recipient, const char *subject,
                     const char *body, const char *metadata) {
    char tenant[32];
    snprintf(tenant, sizeof(tenant), "%ld", wt.tenant_id);
    char *id = it_sql_value(
        "INSERT INTO notifications (id, tenant_id, channel, recipient, subject, body, metadata,"
        " created_at, updated_at, due_at, in_stream, enqueued_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, now(), now(), now(), true, now())"
        " RETURNING id",
        tenant, channel, recipient, subject ? subject : IT_SQL_NULL, body,
        metadata ? metadata : IT_SQL_NULL, NULL);
    wt_xadd(id);
    return id;
}

/* wt_start_channel_worker_n: herald-worker --channel channel --concurrency concurrency. */
static pid_t wt_start_channel_worker_n(const char *channel, const char *const extra[],
                                       int concurrency) {
    const char *env[40];
    int n = 0;
    for (int i = 0; wt_env[i]; i++) {
        /* a test's own value replaces the default (the first one would win) */
        size_t klen = strcspn(wt_env[i], "=") + 1;
        bool overridden = false;
        for (int k = 0; extra && extra[k]; k++)
            overridden |= strncmp(extra[k], wt_env[i], klen) == 0;
        if (!overridden)
            env[n++] = wt_env[i];
    }
    for (int i = 0; extra && extra[i] && n < 39; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    char conc[16];
    snprintf(conc, sizeof(conc), "%d", concurrency);
    const char *argv[] = {"herald-worker", "--channel", channel, "--concurrency", conc, NULL};
    pid_t pid = it_spawn(argv, env);
    cr_assert_lt(wt.nworkers, WT_MAX_WORKERS);
    wt.workers[wt.nworkers++] = pid;
    return pid;
}

pid_t wt_start_channel_worker(const char *channel, const char *const extra[]) {
    return wt_start_channel_worker_n(channel, extra, 8);
}

pid_t wt_start_worker(const char *const extra[]) {
    return wt_start_channel_worker_n("webhook", extra, 8);
}

pid_t wt_start_worker_n(const char *const extra[], int concurrency) {
    return wt_start_channel_worker_n("webhook", extra, concurrency);
}

/* wt_stop_worker: sig to worker i, waits for it; returns its exit status. */
int wt_stop_worker(int i, int sig, int timeout_ms) {
    it_kill(wt.workers[i], sig);
    int st = it_wait_exit(wt.workers[i], timeout_ms);
    if (st != -1)
        wt.workers[i] = 0;
    return st;
}

char *wt_field(const char *id, const char *col) {
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT %s::text FROM notifications WHERE id = $1", col);
    return it_sql_value(sql, id, NULL);
}

struct wt_wait {
    const char *id;
    const char *status;
};

static bool wt_has_status(void *arg) {
    struct wt_wait *w = arg;
    char *s = wt_field(w->id, "status");
    bool ok = s && strcmp(s, w->status) == 0;
    mem_free(s);
    return ok;
}

/* wt_wait_status: polls until the row has status; generous timeouts only. */
bool wt_wait_status(const char *id, const char *status, int timeout_ms) {
    struct wt_wait w = {id, status};
    return it_eventually(wt_has_status, &w, timeout_ms);
}

struct wt_count_arg {
    const char *path;
    int n;
};

static bool wt_has_requests(void *arg) {
    struct wt_count_arg *c = arg;
    return wt_count(c->path) >= c->n;
}

bool wt_wait_requests(const char *path, int n, int timeout_ms) {
    struct wt_count_arg c = {path, n};
    return it_eventually(wt_has_requests, &c, timeout_ms);
}

int wt_int(const char *sql, const char *param) {
    char *v = it_sql_value(sql, param, NULL);
    int n = v ? atoi(v) : -1;
    mem_free(v);
    return n;
}

/* wt_outcomes: "outcome:status_code,..." of id's attempts in order (mem_free). */
static char *wt_outcomes(const char *id) {
    char *s =
        it_sql_value("SELECT string_agg(outcome || ':' || coalesce(status_code, 0), ','"
                     " ORDER BY attempt) FROM notification_attempts WHERE notification_id = $1",
                     id, NULL);
    return s ? s : mem_strdup("");
}

void wt_expect_outcomes(const char *id, const char *want) {
    char *got = wt_outcomes(id);
    cr_assert_str_eq(got, want, "attempts of %s", id);
    mem_free(got);
}

void wt_expect_error(const char *id, const char *part) {
    char *err = wt_field(id, "last_error");
    cr_assert(err && strstr(err, part), "last_error of %s: %s (expected %s in it)", id, err, part);
    mem_free(err);
}

void wt_expect_end(const char *id, const char *status, int attempts) {
    cr_assert(wt_wait_status(id, status, 30000), "%s is not %s", id, status);
    cr_assert_eq(wt_attempts(id), attempts, "attempts of %s", id);
}

int wt_attempts(const char *id) {
    return wt_int("SELECT attempts FROM notifications WHERE id = $1", id);
}

int wt_log_count(const char *name, pid_t pid, const char *needle) {
    char *path = it_log_path(name, pid);
    FILE *f = fopen(path, "rb");
    mem_free(path);
    if (!f)
        return 0;
    int n = 0;
    char line[8192];
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* wt_dlq_has: true when herald:dlq:<channel> holds an entry for id. */
bool wt_dlq_has(const char *channel, const char *id) {
    redisReply *r = it_redis_cmd("XRANGE herald:dlq:%s - +", channel);
    bool found = false;
    for (size_t e = 0; r && r->type == REDIS_REPLY_ARRAY && e < r->elements; e++) {
        redisReply *fields = r->element[e]->element[1];
        for (size_t i = 0; i + 1 < fields->elements; i += 2)
            if (!strcmp(fields->element[i]->str, "id") && !strcmp(fields->element[i + 1]->str, id))
                found = true;
    }
    freeReplyObject(r);
    return found;
}

/* wt_verify_with_npm: runs tests/webhooks/verify.mjs over what the receiver got
 * on path, with secret; returns its exit code. */
int wt_verify_with_npm(const char *path, const char *secret) {
    int code;
    char setup[1024];
    snprintf(setup, sizeof(setup), "%s/tests/webhooks/setup.sh", it_source_dir());
    const char *s[] = {"bash", setup, NULL};
    mem_free(it_run_capture(s, NULL, &code));
    cr_assert_eq(code, 0, "npm setup of the verifier failed");
    struct json_object *reqs = wt_requests(path);
    char file[256];
    snprintf(file, sizeof(file), "%s/webhooks-%d.json", getenv("HERALD_TEST_STACK_DIR"),
             (int)getpid());
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs(json_object_to_json_string_ext(reqs, JSON_C_TO_STRING_PLAIN), f);
    fclose(f);
    json_object_put(reqs);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "node %s/tests/webhooks/verify.mjs '%s' < '%s'", it_source_dir(),
             secret, file);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    char *out = it_run_capture(argv, NULL, &code);
    cr_log_info("verifier: %s", out);
    mem_free(out);
    return code;
}

void wt_setup(void) {
    memset(&wt, 0, sizeof(wt));
    it_fresh_stack();
    wt_tenant();
    wt_start_receiver();
}

/* wt_redis_stop, wt_redis_start, wt_pg_stop, wt_pg_start: outages the
 * teardown undoes even when the test fails in the middle. */
void wt_redis_stop(void) {
    wt.redis_stopped = true;
    it_stack("redis-stop");
}

void wt_redis_start(void) {
    it_stack("redis-start");
    wt.redis_stopped = false;
}

void wt_pg_stop(void) {
    wt.pg_stopped = true;
    it_stack("pg-stop");
    it_db_close();
}

void wt_pg_start(void) {
    it_stack("pg-start");
    wt.pg_stopped = false;
}

void wt_redis_pause(void) {
    wt.redis_paused = it_redis_pid();
    kill(wt.redis_paused, SIGSTOP);
}

void wt_redis_resume(void) {
    if (wt.redis_paused > 0)
        kill(wt.redis_paused, SIGCONT);
    wt.redis_paused = 0;
}

void wt_teardown(void) {
    wt_redis_resume();
    if (wt.redis_stopped)
        wt_redis_start();
    if (wt.pg_stopped)
        wt_pg_start();
    for (int i = 0; i < wt.nworkers; i++) {
        if (wt.workers[i] <= 0)
            continue;
        it_kill(wt.workers[i], SIGKILL);
        it_wait_exit(wt.workers[i], 5000);
    }
    wt.nworkers = 0;
    if (wt.receiver > 0) {
        it_kill(wt.receiver, SIGKILL);
        it_wait_exit(wt.receiver, 5000);
    }
}
