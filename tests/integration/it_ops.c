/* it_ops: queue statistics and the dead-letter queue, through heraldctl and
 * the admin routes of herald-api, against real PostgreSQL and Redis. */
#include "support/itapi.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct it_api api;
static char key_admin[128], key_user[128];

/* Dead letters every test starts from: email 1..5 (acme 1, 3, 5; globex 2,
 * 4; 3 and 4 failed at the same instant, so the id breaks the tie), one sms
 * dead letter, one pending email. Newest failure first: 1, 2, 4, 3, 5. */
#define ID(n) "01900000-0000-7000-8000-00000000000" #n
#define ID_SMS "01900000-0000-7000-8000-000000000010"
#define ID_PENDING "01900000-0000-7000-8000-000000000011"
#define ID_UNKNOWN "01900000-0000-7000-8000-0000000000ff"
#define LONG_ERROR                                                                                 \
    "550 5.1.1 <ada@example.com>: Recipient address rejected: User unknown in virtual mailbox "    \
    "table (and this error goes on for a while)"

/* failed: inserts a dead letter of tenant (name) on channel, failed
 * `ago_ms` ms before a fixed instant, with attempts and one attempt row. */
static void failed(const char *id, const char *tenant, const char *channel, const char *ago_ms,
                   const char *error) {
    it_sql_exec("INSERT INTO notifications (id, tenant_id, channel, recipient, subject, body, "
                "status, attempts, budget_base, last_error, created_at, updated_at, failed_at, "
                "due_at, in_stream) "
                "SELECT $1::uuid, t.id, $3::text, 'ada@example.com', 'Hi', 'Hello', 'failed', 10, "
                "0, $5::text, "
                "now() - interval '1 hour', now(), "
                "timestamptz '2026-01-01 12:00:00.123456+00' - $4::int * interval '1 ms', "
                "now() - interval '1 hour', false FROM tenants t WHERE t.name = $2::text",
                id, tenant, channel, ago_ms, error, NULL);
    it_sql_exec("INSERT INTO delivery_attempts (notification_id, attempt, started_at, duration_ms, "
                "outcome, status_code, error) VALUES ($1, 10, now(), 12, 'failed', 550, $2)",
                id, error, NULL);
}

static void seed(void) {
    failed(ID(1), "acme", "email", "0", LONG_ERROR);
    failed(ID(2), "globex", "email", "1000", "550 no such user");
    failed(ID(3), "acme", "email", "2000", "550 no such user");
    failed(ID(4), "globex", "email", "2000", "550 no such user");
    failed(ID(5), "acme", "email", "3000", "550 no such user");
    failed(ID_SMS, "acme", "sms", "0", "21211 invalid number");
    it_sql_exec(
        "INSERT INTO notifications (id, tenant_id, channel, recipient, body, status, "
        "created_at, updated_at, due_at, in_stream, send_at) "
        "SELECT $1::uuid, id, 'email', 'ada@example.com', 'later', 'pending', now(), now(), "
        "now() + interval '1 day', false, now() + interval '1 day' FROM tenants "
        "WHERE name = 'acme'",
        ID_PENDING, NULL);
}

static void setup(void) {
    it_fresh_stack();
    it_make_tenant("acme");
    it_make_tenant("globex");
    it_add_key("acme", true, key_admin, sizeof(key_admin));
    it_add_key("acme", false, key_user, sizeof(key_user));
    seed();
    const char *env[] = {"HERALD_DB_TIMEOUT_MS=1000", "HERALD_REDIS_TIMEOUT_MS=300", NULL};
    it_api_start_with(&api, env);
}

static void teardown(void) {
    it_api_stop(&api);
    it_db_close();
}

/* restart_redis: leaves Redis running for the next test even when this one
 * failed half-way (redis-start is a no-op for a running server). */
static void restart_redis(void) {
    it_stack("redis-start");
    teardown();
}

static struct json_object *json_of(const char *text) {
    struct json_object *o = json_tokener_parse(text);
    cr_assert_not_null(o, "not JSON: %s", text);
    return o;
}

static struct json_object *jget(struct json_object *o, const char *key) {
    struct json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no %s in %s", key,
              json_object_to_json_string(o));
    return v;
}

static const char *jstr(struct json_object *o, const char *key) {
    struct json_object *v = jget(o, key);
    return json_object_is_type(v, json_type_null) ? NULL : json_object_get_string(v);
}

static bool jnull(struct json_object *o, const char *key) {
    return json_object_is_type(jget(o, key), json_type_null);
}

static int64_t jint(struct json_object *o, const char *key) {
    return json_object_get_int64(jget(o, key));
}

/* expect_422: a validation error whose details name field. */
static void expect_422(const char *method, const char *path, const char *body, const char *field) {
    struct it_resp r = it_api_call(&api, method, path, key_admin, body);
    cr_expect_eq(r.status, 422, "%s %s: %ld %s", method, path, r.status, r.body);
    struct json_object *o = json_of(r.body);
    struct json_object *e = jget(o, "error");
    cr_expect_str_eq(jstr(e, "code"), "validation_failed");
    struct json_object *d = jget(e, "details");
    bool named = false;
    for (size_t i = 0; i < json_object_array_length(d); i++)
        named = named || !strcmp(jstr(json_object_array_get_idx(d, i), "field"), field);
    cr_expect(named, "%s %s: details do not name %s: %s", method, path, field, r.body);
    json_object_put(o);
    it_resp_free(&r);
}

static void expect_status(const char *method, const char *path, const char *key, const char *body,
                          long status, const char *code) {
    struct it_resp r = it_api_call(&api, method, path, key, body);
    cr_expect_eq(r.status, status, "%s %s: %ld %s", method, path, r.status, r.body);
    struct json_object *o = json_of(r.body);
    cr_expect_str_eq(jstr(jget(o, "error"), "code"), code);
    json_object_put(o);
    it_resp_free(&r);
}

/* ctl: runs heraldctl with the arguments up to a NULL; stdout, *code the status. */
static char *ctl_va(int *code, va_list ap) {
    const char *argv[16] = {"heraldctl"};
    int n = 1;
    for (const char *a; n < 15 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    argv[n] = NULL;
    return it_run_capture(argv, NULL, code);
}

static char *ctl(int *code, ...) __attribute__((sentinel));
static char *ctl(int *code, ...) {
    va_list ap;
    va_start(ap, code);
    char *out = ctl_va(code, ap);
    va_end(ap);
    return out;
}

/* expect_usage_error: heraldctl with the arguments up to a NULL exits 2;
 * why says what is wrong with them. */
static void expect_usage_error(const char *why, ...) __attribute__((sentinel));
static void expect_usage_error(const char *why, ...) {
    int code;
    va_list ap;
    va_start(ap, why);
    char *out = ctl_va(&code, ap);
    va_end(ap);
    cr_expect_eq(code, 2, "%s: exit %d", why, code);
    mem_free(out);
}

static char *sql1(const char *sql, const char *param) {
    return it_sql_value(sql, param, NULL);
}

static void expect_row(const char *id, const char *status, const char *budget_base) {
    PGresult *r = it_sql("SELECT status, budget_base::text, failed_at IS NULL, attempts::text, "
                         "last_error IS NOT NULL, (SELECT count(*) FROM delivery_attempts a "
                         "WHERE a.notification_id = n.id)::text FROM notifications n WHERE id = $1",
                         id, NULL);
    cr_assert_eq(PQntuples(r), 1);
    cr_expect_str_eq(PQgetvalue(r, 0, 0), status, "%s status", id);
    cr_expect_str_eq(PQgetvalue(r, 0, 1), budget_base, "%s budget_base", id);
    cr_expect_str_eq(PQgetvalue(r, 0, 2), strcmp(status, "failed") ? "t" : "f",
                     "%s failed_at cleared only by a replay", id);
    cr_expect_str_eq(PQgetvalue(r, 0, 3), "10", "%s attempts keep counting", id);
    cr_expect_str_eq(PQgetvalue(r, 0, 4), "t", "%s last_error kept", id);
    cr_expect_str_eq(PQgetvalue(r, 0, 5), "1", "%s attempt history untouched", id);
    PQclear(r);
}

/* in_stream_count: how many entries of the channel's streams carry id. */
static int in_stream_count(const char *channel, const char *id) {
    return it_stream_has(channel, id);
}

static void ids_of(struct json_object *data, char out[][40], size_t *n) {
    *n = json_object_array_length(data);
    for (size_t i = 0; i < *n; i++) {
        const char *id = jstr(json_object_array_get_idx(data, i), "id");
        cr_assert_not_null(id);
        snprintf(out[i], 40, "%s", id);
    }
}

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 120);

/* ---- heraldctl dlq list ---- */

Test(ops, ctl_dlq_list_table_and_json) {
    int code;
    char *out = ctl(&code, "dlq", "list", "--channel", "email", NULL);
    cr_assert_eq(code, 0, "%s", out);
    /* header + 5 rows, newest failure first, same-instant rows by id descending */
    const char *order[] = {ID(1), ID(2), ID(4), ID(3), ID(5)};
    char *line = strtok(out, "\n");
    cr_assert_not_null(line);
    cr_expect(strstr(line, "ID") == line && strstr(line, "TENANT") && strstr(line, "RECIPIENT") &&
                  strstr(line, "ATTEMPTS") && strstr(line, "LAST ERROR") &&
                  strstr(line, "FAILED AT"),
              "header: %s", line);
    for (size_t i = 0; i < 5; i++) {
        line = strtok(NULL, "\n");
        cr_assert_not_null(line, "row %zu missing", i);
        cr_expect(strstr(line, order[i]) == line, "row %zu: %s", i, line);
        if (i == 0) {
            cr_expect(strstr(line, "acme") && strstr(line, "ada@example.com"), "%s", line);
            cr_expect(strstr(line, "...") && !strstr(line, "goes on for a while"),
                      "long error cut in the table: %s", line);
            cr_expect(strstr(line, "2026-01-01T12:00:00.123Z"), "failed at: %s", line);
        }
    }
    cr_expect_null(strtok(NULL, "\n"), "the sms dead letter and the pending row are not listed");
    mem_free(out);

    out = ctl(&code, "dlq", "list", "--channel", "email", "--json", NULL);
    cr_assert_eq(code, 0);
    struct json_object *o = json_of(out), *data = jget(o, "data");
    cr_assert_eq(json_object_array_length(data), 5);
    struct json_object *first = json_object_array_get_idx(data, 0);
    cr_expect_str_eq(jstr(first, "id"), ID(1));
    cr_expect_str_eq(jstr(first, "tenant"), "acme");
    cr_expect_str_eq(jstr(first, "status"), "failed");
    cr_expect_str_eq(jstr(first, "last_error"), LONG_ERROR, "whole error in JSON");
    cr_expect_eq(jint(first, "attempts"), 10);
    cr_expect(jnull(o, "next_cursor"));
    json_object_put(o);
    mem_free(out);

    out = ctl(&code, "dlq", "list", "--channel", "email", "--tenant", "globex", "--json", NULL);
    cr_assert_eq(code, 0);
    o = json_of(out);
    data = jget(o, "data");
    cr_expect_eq(json_object_array_length(data), 2);
    cr_expect_str_eq(jstr(json_object_array_get_idx(data, 0), "id"), ID(2));
    cr_expect_str_eq(jstr(json_object_array_get_idx(data, 1), "id"), ID(4));
    json_object_put(o);
    mem_free(out);

    /* paging from the command line: --limit and the cursor of the JSON page */
    out = ctl(&code, "dlq", "list", "--channel", "email", "--limit", "3", "--json", NULL);
    cr_assert_eq(code, 0);
    o = json_of(out);
    cr_expect_eq(json_object_array_length(jget(o, "data")), 3);
    char cursor[128];
    cr_assert_not_null(jstr(o, "next_cursor"));
    snprintf(cursor, sizeof(cursor), "%s", jstr(o, "next_cursor"));
    json_object_put(o);
    mem_free(out);
    out = ctl(&code, "dlq", "list", "--channel", "email", "--limit", "3", "--cursor", cursor, NULL);
    cr_assert_eq(code, 0);
    cr_expect(strstr(out, ID(3)) && strstr(out, ID(5)) && !strstr(out, ID(4)), "page 2: %s", out);
    mem_free(out);

    /* bad usage and unknown names */
    expect_usage_error("a cursor of another channel", "dlq", "list", "--channel", "sms", "--cursor",
                       cursor, NULL);
    expect_usage_error("an unknown channel", "dlq", "list", "--channel", "fax", NULL);
    expect_usage_error("--channel is required", "dlq", "list", NULL);
    expect_usage_error("--limit 0", "dlq", "list", "--channel", "email", "--limit", "0", NULL);
    out = ctl(&code, "dlq", "list", "--channel", "email", "--tenant", "nobody", NULL);
    cr_expect_eq(code, 1, "unknown tenant");
    cr_expect_str_eq(out, "");
    mem_free(out);
}

/* ---- GET /v1/admin/dlq/{channel} ---- */

Test(ops, route_dlq_pages_and_filters) {
    struct it_resp r = it_api_call(&api, "GET", "/v1/admin/dlq/email?limit=3", key_admin, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    struct json_object *o = json_of(r.body);
    char ids[10][40];
    size_t n;
    ids_of(jget(o, "data"), ids, &n);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(ids[0], ID(1));
    cr_expect_str_eq(ids[1], ID(2));
    cr_expect_str_eq(ids[2], ID(4));
    cr_expect_str_eq(jstr(json_object_array_get_idx(jget(o, "data"), 1), "tenant"), "globex",
                     "admin resources carry the tenant");
    char path[256];
    cr_assert_not_null(jstr(o, "next_cursor"));
    snprintf(path, sizeof(path), "/v1/admin/dlq/email?limit=3&cursor=%s", jstr(o, "next_cursor"));
    char cursor[128];
    snprintf(cursor, sizeof(cursor), "%s", jstr(o, "next_cursor"));
    json_object_put(o);
    it_resp_free(&r);

    r = it_api_call(&api, "GET", path, key_admin, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    o = json_of(r.body);
    ids_of(jget(o, "data"), ids, &n);
    cr_assert_eq(n, 2, "page 2: %s", r.body);
    cr_expect_str_eq(ids[0], ID(3), "the same-instant row is not skipped");
    cr_expect_str_eq(ids[1], ID(5));
    cr_expect(jnull(o, "next_cursor"));
    json_object_put(o);
    it_resp_free(&r);

    /* tenant filter, by name */
    r = it_api_call(&api, "GET", "/v1/admin/dlq/email?tenant=acme&limit=2", key_admin, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    o = json_of(r.body);
    ids_of(jget(o, "data"), ids, &n);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(ids[0], ID(1));
    cr_expect_str_eq(ids[1], ID(3));
    snprintf(path, sizeof(path), "/v1/admin/dlq/email?tenant=acme&limit=2&cursor=%s",
             jstr(o, "next_cursor"));
    json_object_put(o);
    it_resp_free(&r);
    r = it_api_call(&api, "GET", path, key_admin, NULL);
    o = json_of(r.body);
    ids_of(jget(o, "data"), ids, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(ids[0], ID(5));
    json_object_put(o);
    it_resp_free(&r);

    r = it_api_call(&api, "GET", "/v1/admin/dlq/sms", key_admin, NULL);
    o = json_of(r.body);
    ids_of(jget(o, "data"), ids, &n);
    cr_expect_eq(n, 1);
    cr_expect_str_eq(ids[0], ID_SMS);
    json_object_put(o);
    it_resp_free(&r);

    /* errors */
    expect_status("GET", "/v1/admin/dlq/email", key_user, NULL, 403, "forbidden");
    expect_status("GET", "/v1/admin/dlq/fax", key_admin, NULL, 404, "not_found");
    expect_status("GET", "/v1/admin/queues", key_user, NULL, 403, "forbidden");
    expect_422("GET", "/v1/admin/dlq/email?limit=0", NULL, "limit");
    expect_422("GET", "/v1/admin/dlq/email?limit=101", NULL, "limit");
    expect_422("GET", "/v1/admin/dlq/email?limit=ten", NULL, "limit");
    expect_422("GET", "/v1/admin/dlq/email?cursor=garbage", NULL, "cursor");
    expect_422("GET", "/v1/admin/dlq/email?tenant=nobody", NULL, "tenant");
    /* a cursor is bound to the channel and the tenant filter */
    snprintf(path, sizeof(path), "/v1/admin/dlq/sms?cursor=%s", cursor);
    expect_422("GET", path, NULL, "cursor");
    snprintf(path, sizeof(path), "/v1/admin/dlq/email?tenant=acme&cursor=%s", cursor);
    expect_422("GET", path, NULL, "cursor");
}

/* ---- replay ---- */

Test(ops, route_replay_by_id) {
    struct it_resp r = it_api_call(
        &api, "POST", "/v1/admin/dlq/email/replay", key_admin,
        "{\"ids\":[\"" ID(1) "\",\"" ID(2) "\",\"" ID_UNKNOWN "\",\"" ID_SMS "\",\"" ID(1) "\"]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    struct json_object *o = json_of(r.body);
    cr_expect_eq(jint(o, "replayed"), 2);
    struct json_object *nf = jget(o, "not_found");
    cr_assert_eq(json_object_array_length(nf), 2, "%s", r.body);
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(nf, 0)), ID_UNKNOWN);
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(nf, 1)), ID_SMS,
                     "another channel's dead letter is not found here");
    json_object_put(o);
    it_resp_free(&r);

    expect_row(ID(1), "pending", "10");
    expect_row(ID(2), "pending", "10");
    expect_row(ID(3), "failed", "0");
    expect_row(ID_SMS, "failed", "0");
    cr_expect_eq(in_stream_count("email", ID(1)), 1);
    cr_expect_eq(in_stream_count("email", ID(2)), 1);
    cr_expect_eq(in_stream_count("email", ID(3)), 0);

    /* again: nothing left to replay */
    r = it_api_call(&api, "POST", "/v1/admin/dlq/email/replay", key_admin,
                    "{\"ids\":[\"" ID(1) "\"]}");
    cr_assert_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"replayed\":0,\"not_found\":[\"" ID(1) "\"]}");
    it_resp_free(&r);

    /* the body */
    const char *p = "/v1/admin/dlq/email/replay";
    expect_status("POST", p, key_admin, "{\"all\":true,}", 400, "invalid_json");
    expect_status("POST", p, key_admin, "{\"ids\":[],\"ids\":[]}", 400, "invalid_json");
    expect_status("POST", p, key_admin, "[]", 400, "invalid_json");
    expect_status("POST", p, key_user, "{\"all\":true}", 403, "forbidden");
    expect_status("POST", "/v1/admin/dlq/fax/replay", key_admin, "{\"all\":true}", 404,
                  "not_found");
    expect_422("POST", p, "{}", "ids");
    expect_422("POST", p, "{\"ids\":[\"" ID(3) "\"],\"all\":true}", "all");
    expect_422("POST", p, "{\"ids\":[]}", "ids");
    expect_422("POST", p, "{\"ids\":\"" ID(3) "\"}", "ids");
    expect_422("POST", p, "{\"ids\":[\"" ID(3) "\",\"nope\"]}", "ids[1]");
    expect_422("POST", p, "{\"ids\":[\"" ID(3) "\",7]}", "ids[1]");
    expect_422("POST", p, "{\"all\":false}", "all");
    expect_422("POST", p, "{\"all\":true,\"dry_run\":true}", "dry_run");
    /* 1001 ids */
    size_t cap = 1001 * 40 + 16;
    char *big = mem_alloc(cap);
    size_t len = (size_t)snprintf(big, cap, "{\"ids\":[");
    for (int i = 0; i < 1001; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s\"%s\"", i ? "," : "", ID(3));
    snprintf(big + len, cap - len, "]}");
    expect_422("POST", p, big, "ids");
    mem_free(big);
    /* none of these changed anything */
    expect_row(ID(3), "failed", "0");
}

Test(ops, route_replay_all) {
    struct it_resp r =
        it_api_call(&api, "POST", "/v1/admin/dlq/email/replay", key_admin, "{\"all\":true}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(r.body, "{\"replayed\":5,\"not_found\":[]}");
    it_resp_free(&r);
    for (int i = 1; i <= 5; i++) {
        char id[40];
        snprintf(id, sizeof(id), "01900000-0000-7000-8000-00000000000%d", i);
        expect_row(id, "pending", "10");
        cr_expect_eq(in_stream_count("email", id), 1, "%s enqueued", id);
    }
    expect_row(ID_SMS, "failed", "0");
    char *v = sql1("SELECT status FROM notifications WHERE id = $1", ID_PENDING);
    cr_expect_str_eq(v, "pending");
    mem_free(v);
    cr_expect_eq(in_stream_count("email", ID_PENDING), 0, "only dead letters are replayed");
}

Test(ops, ctl_replay_dry_run_ids_and_all) {
    int code;
    expect_usage_error("--id and --all together", "dlq", "replay", "--channel", "email", "--id",
                       ID(1), "--all", NULL);
    expect_usage_error("neither --id nor --all", "dlq", "replay", "--channel", "email", NULL);
    expect_usage_error("an id that is no UUID", "dlq", "replay", "--channel", "email", "--id",
                       "not-a-uuid", NULL);

    /* --dry-run counts and changes nothing */
    char *out = ctl(&code, "dlq", "replay", "--channel", "email", "--all", "--dry-run", NULL);
    cr_assert_eq(code, 0, "%s", out);
    cr_expect_str_eq(out, "would replay 5 dead letters (email)\n");
    mem_free(out);
    out = ctl(&code, "dlq", "replay", "--channel", "email", "--id", ID(1), "--id", ID_UNKNOWN,
              "--dry-run", NULL);
    cr_expect_eq(code, 1, "an id was not found");
    cr_expect_str_eq(out, "would replay 1 dead letter (email)\nnot found: " ID_UNKNOWN "\n");
    mem_free(out);
    expect_row(ID(1), "failed", "0");
    char *v = sql1("SELECT count(*) FROM notifications WHERE status = $1", "failed");
    cr_expect_str_eq(v, "6");
    mem_free(v);
    cr_expect_eq(it_stream_len("email"), 0, "a dry run enqueues nothing");

    /* by id, repeated --id */
    out = ctl(&code, "dlq", "replay", "--channel", "email", "--id", ID(1), "--id", ID(3), NULL);
    cr_assert_eq(code, 0, "%s", out);
    cr_expect_str_eq(out, "replayed 2 dead letters (email)\n");
    mem_free(out);
    expect_row(ID(1), "pending", "10");
    expect_row(ID(3), "pending", "10");
    expect_row(ID(2), "failed", "0");
    cr_expect_eq(in_stream_count("email", ID(1)), 1);
    cr_expect_eq(in_stream_count("email", ID(3)), 1);

    /* --all takes the rest of the channel, and only that channel */
    out = ctl(&code, "dlq", "replay", "--channel", "email", "--all", "--json", NULL);
    cr_assert_eq(code, 0, "%s", out);
    cr_expect_str_eq(out, "{\"replayed\":3,\"not_found\":[]}\n");
    mem_free(out);
    expect_row(ID(2), "pending", "10");
    expect_row(ID(4), "pending", "10");
    expect_row(ID(5), "pending", "10");
    expect_row(ID_SMS, "failed", "0");
    cr_expect_eq(it_stream_len("email"), 5);
}

/* ---- queues ---- */

/* check_queues: the figures of one channel in a {"channels": [...]} object. */
static struct json_object *channel_of(struct json_object *o, const char *ch) {
    struct json_object *chs = jget(o, "channels");
    cr_assert_eq(json_object_array_length(chs), 4);
    for (size_t i = 0; i < 4; i++) {
        struct json_object *c = json_object_array_get_idx(chs, i);
        if (!strcmp(jstr(c, "channel"), ch))
            return c;
    }
    cr_assert_fail("no channel %s", ch);
    return NULL;
}

static void check_figures(struct json_object *o) {
    struct json_object *e = channel_of(o, "email"), *s = channel_of(o, "sms");
    cr_expect_eq(jint(e, "dead_letters"), 5);
    cr_expect_eq(jint(e, "scheduled"), 1, "the send_at row");
    cr_expect_eq(jint(e, "stream_length"), 0);
    cr_expect(jnull(e, "lag"), "no group: Redis cannot tell the lag");
    cr_expect_eq(jint(e, "consumers"), 0);
    cr_expect_eq(jint(s, "dead_letters"), 1);
    cr_expect_eq(jint(s, "stream_length"), 3);
    cr_expect_eq(jint(s, "consumers"), 1);
    cr_expect_eq(jint(s, "in_flight"), 1, "read, not acknowledged");
    cr_expect_eq(jint(s, "lag"), 2, "not read yet");
    cr_expect_eq(jint(s, "scheduled"), 0);
}

Test(ops, queues_figures) {
    for (int i = 0; i < 3; i++)
        freeReplyObject(it_redis_cmd("XADD herald:stream:sms * id %s", ID_UNKNOWN));
    freeReplyObject(it_redis_cmd("XGROUP CREATE herald:stream:sms herald 0"));
    freeReplyObject(
        it_redis_cmd("XREADGROUP GROUP herald it-consumer COUNT 1 STREAMS herald:stream:sms >"));

    struct it_resp r = it_api_call(&api, "GET", "/v1/admin/queues", key_admin, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    struct json_object *o = json_of(r.body);
    check_figures(o);
    json_object_put(o);
    it_resp_free(&r);

    int code;
    char *out = ctl(&code, "queues", "--json", NULL);
    cr_assert_eq(code, 0, "%s", out);
    o = json_of(out);
    check_figures(o);
    json_object_put(o);
    mem_free(out);

    out = ctl(&code, "queues", NULL);
    cr_assert_eq(code, 0);
    char *line = strtok(out, "\n");
    cr_expect(line && strstr(line, "CHANNEL") == line && strstr(line, "STREAM") &&
                  strstr(line, "IN-FLIGHT") && strstr(line, "CONSUMERS") && strstr(line, "LAG") &&
                  strstr(line, "SCHEDULED") && strstr(line, "DEAD"),
              "header: %s", line);
    bool sms = false;
    while ((line = strtok(NULL, "\n")) != NULL) {
        char name[16];
        long stream, inflight, consumers, lag, sched, dead;
        if (sscanf(line, "%15s %ld %ld %ld %ld %ld %ld", name, &stream, &inflight, &consumers, &lag,
                   &sched, &dead) == 7 &&
            !strcmp(name, "sms"))
            sms = stream == 3 && inflight == 1 && consumers == 1 && lag == 2 && sched == 0 &&
                  dead == 1;
    }
    cr_expect(sms, "the sms row of the table");
    mem_free(out);
}

Test(ops, queues_without_redis, .fini = restart_redis) {
    it_stack("redis-stop");
    struct it_resp r = it_api_call(&api, "GET", "/v1/admin/queues", key_admin, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    struct json_object *o = json_of(r.body);
    struct json_object *e = channel_of(o, "email");
    cr_expect(jnull(e, "stream_length") && jnull(e, "in_flight") && jnull(e, "consumers") &&
                  jnull(e, "lag"),
              "%s", r.body);
    cr_expect_eq(jint(e, "dead_letters"), 5);
    cr_expect_eq(jint(e, "scheduled"), 1);
    json_object_put(o);
    it_resp_free(&r);

    int code;
    char *out = ctl(&code, "queues", NULL);
    cr_expect_eq(code, 5, "Redis unreachable");
    char name[16], stream[8], inflight[8], consumers[8], lag[8];
    long sched = -1, dead = -1;
    const char *row = strstr(out, "\nemail");
    cr_assert_not_null(row, "%s", out);
    cr_expect_eq(sscanf(row + 1, "%15s %7s %7s %7s %7s %ld %ld", name, stream, inflight, consumers,
                        lag, &sched, &dead),
                 7);
    cr_expect(!strcmp(stream, "-") && !strcmp(inflight, "-") && !strcmp(consumers, "-") &&
                  !strcmp(lag, "-"),
              "%s", out);
    cr_expect_eq(sched, 1);
    cr_expect_eq(dead, 5);
    mem_free(out);

    /* a replay still happens; the sweeper enqueues once Redis is back */
    out = ctl(&code, "dlq", "replay", "--channel", "email", "--id", ID(1), NULL);
    cr_expect_eq(code, 5);
    cr_expect_str_eq(out, "replayed 1 dead letter (email)\n");
    mem_free(out);
    char *v = sql1("SELECT status || ' ' || in_stream FROM notifications WHERE id = $1", ID(1));
    cr_expect_str_eq(v, "pending false", "left to the sweeper");
    mem_free(v);
}
