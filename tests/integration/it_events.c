/* it_events: status events (schema/009) against real PostgreSQL, Redis, API and
 * worker processes: one event per status change, GET /v1/events (paging under
 * concurrent writers, the long poll), events pushed to a tenant's events_url
 * and checked by the Standard Webhooks verifier, and deadlines (expired
 * before the first try, between retries, after send_at, without a worker). */
#include "support/itworker.h"
#include "support/itapi.h"
#include "support/rawhttp.h"
#include "common/util.h"

#include <libpq-fe.h>
#include <pthread.h>

static struct it_api api;
static char key[160];

static void ev_setup(void) {
    wt_setup();
    it_add_key("acme", false, key, sizeof(key));
    const char *env[] = {"HERALD_EVENTS_RECHECK_MS=50", NULL};
    it_api_start(&api, env);
}

static void ev_teardown(void) {
    it_api_stop(&api);
    wt_teardown();
}

TestSuite(events, .init = ev_setup, .fini = ev_teardown, .timeout = 240);

/* ev_events_of: how many events the notification id has (of type, NULL: any). */
static int ev_events_of(const char *id, const char *type) {
    char *v = it_sql_value("SELECT count(*) FROM events WHERE notification_id = $1"
                           " AND ($2::text IS NULL OR type = $2)",
                           id, type ? type : IT_SQL_NULL, NULL);
    int n = atoi(v);
    mem_free(v);
    return n;
}

/* ev_pending: a pending webhook row of the tenant that is in no stream and not due
 * for an hour (nothing delivers it); returns its id. */
static char *ev_pending(void) {
    char tenant[32];
    snprintf(tenant, sizeof(tenant), "%ld", wt.tenant_id);
    return it_sql_value("INSERT INTO notifications (id, tenant_id, channel, recipient, body,"
                        " created_at, updated_at, due_at, in_stream)"
                        " VALUES (gen_random_uuid(), $1, 'webhook', 'https://example.com/h', 'x',"
                        " now(), now(), now() + interval '1 hour', false) RETURNING id",
                        tenant, NULL);
}

static struct json_object *ev_get(const char *query, long want_status) {
    char path[512];
    snprintf(path, sizeof(path), "/v1/events%s", query);
    struct it_resp r = it_api_call(&api, "GET", path, key, NULL);
    cr_assert_eq(r.status, want_status, "%s: %ld %s", path, r.status, r.body);
    struct json_object *o = it_json(&r);
    it_resp_free(&r);
    return o;
}

Test(events, one_event_per_change_in_the_feed) {
    wt_start_worker(NULL);
    char *sent = wt_enqueue("/hooks/a", "{\"n\":1}");
    cr_assert(wt_wait_status(sent, "sent", 30000));
    char *pend = ev_pending();
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s/cancel", pend);
    struct it_resp c = it_api_call(&api, "POST", path, key, NULL);
    cr_assert_eq(c.status, 200, "%s", c.body);
    it_resp_free(&c);
    cr_expect_eq(ev_events_of(sent, "notification.sent"), 1);
    cr_expect_eq(ev_events_of(sent, NULL), 1);
    cr_expect_eq(ev_events_of(pend, "notification.cancelled"), 1);
    /* a change that is not a status change makes none */
    it_sql_exec("UPDATE notifications SET status = status, updated_at = now() WHERE id = $1", pend,
                NULL);
    cr_expect_eq(ev_events_of(pend, NULL), 1);

    struct json_object *o = ev_get("", 200), *data, *e, *d;
    cr_assert(json_object_object_get_ex(o, "data", &data));
    cr_assert_eq(json_object_array_length(data), 2, "%s", json_object_to_json_string(o));
    e = json_object_array_get_idx(data, 0);
    cr_expect_str_eq(it_jstr(e, "type"), "notification.sent");
    cr_assert(json_object_object_get_ex(e, "data", &d));
    cr_expect_str_eq(it_jstr(d, "id"), sent);
    cr_expect_str_eq(it_jstr(d, "status"), "sent");
    cr_expect_not_null(it_jstr(e, "occurred_at"));
    const char *second = it_jstr(json_object_array_get_idx(data, 1), "id");
    cr_expect_str_eq(it_jstr(o, "next_after"), second);
    /* the type filter, after, limit */
    struct json_object *t = ev_get("?type=notification.cancelled", 200);
    cr_assert(json_object_object_get_ex(t, "data", &data));
    cr_expect_eq(json_object_array_length(data), 1);
    json_object_put(t);
    char q[160];
    snprintf(q, sizeof(q), "?after=%s", second);
    t = ev_get(q, 200);
    cr_assert(json_object_object_get_ex(t, "data", &data));
    cr_expect_eq(json_object_array_length(data), 0);
    cr_expect_str_eq(it_jstr(t, "next_after"), second);
    json_object_put(t);
    t = ev_get("?limit=1", 200);
    cr_assert(json_object_object_get_ex(t, "data", &data));
    cr_expect_eq(json_object_array_length(data), 1);
    json_object_put(t);
    json_object_put(o);
    mem_free(sent);
    mem_free(pend);
}

/* a worker killed while the receiver holds its delivery: the entry is reclaimed and
 * delivered again (at least once), and the change to sent still makes one event */
Test(events, one_event_after_a_worker_sigkill_mid_delivery) {
    wt_control("{\"path\":\"/hooks/slow\",\"delay_ms\":1500}");
    wt_start_worker(NULL);
    char *id = wt_enqueue("/hooks/slow", "{\"n\":1}");
    cr_assert(wt_wait_requests("/hooks/slow", 1, 30000));
    wt_stop_worker(0, SIGKILL, 10000);
    cr_expect_eq(ev_events_of(id, NULL), 0);
    wt_control("{\"path\":\"/hooks/slow\",\"delay_ms\":0}");
    wt_start_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 60000));
    cr_expect_geq(wt_count("/hooks/slow"), 2, "delivered again after the kill");
    cr_expect_eq(ev_events_of(id, "notification.sent"), 1);
    cr_expect_eq(ev_events_of(id, NULL), 1);
    mem_free(id);
}

Test(events, bad_parameters_are_422) {
    struct {
        const char *q, *field;
    } bad[] = {{"?type=notification.pending", "type"},
               {"?after=nope", "after"},
               {"?after=0190a000-0000-7000-8000-000000000000", "after"},
               {"?limit=0", "limit"},
               {"?limit=101", "limit"},
               {"?wait=31", "wait"},
               {"?wait=-1", "wait"},
               {"?colour=red", "colour"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/events%s", bad[i].q);
        struct it_resp r = it_api_call(&api, "GET", path, key, NULL);
        it_expect_error(&r, 422, "validation_failed", bad[i].field);
        it_resp_free(&r);
    }
    /* another tenant's event id is not a cursor here */
    char other[160];
    it_make_key("globex", false, other, sizeof(other));
    char *pend = ev_pending();
    it_sql_exec("UPDATE notifications SET status = 'cancelled' WHERE id = $1", pend, NULL);
    char *eid = it_sql_value("SELECT id FROM events WHERE notification_id = $1", pend, NULL);
    char path[128];
    snprintf(path, sizeof(path), "/v1/events?after=%s", eid);
    struct it_resp r = it_api_call(&api, "GET", path, other, NULL);
    it_expect_error(&r, 422, "validation_failed", "after");
    it_resp_free(&r);
    mem_free(eid);
    mem_free(pend);
}

/* ---- the long poll ------------------------------------------------------ */

struct ev_poll {
    const char *query;
    struct it_resp resp;
    int64_t answered_ms;
};

static void *ev_poll_run(void *arg) {
    struct ev_poll *p = arg;
    char path[256];
    snprintf(path, sizeof(path), "/v1/events%s", p->query);
    p->resp = it_api_call(&api, "GET", path, key, NULL);
    p->answered_ms = util_mono_ms();
    return NULL;
}

static double ev_waiting_gauge(void) {
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", api.port);
    struct it_resp m = it_http("GET", url, NULL, NULL, 0);
    const char *line = strstr(m.body ? m.body : "", "\nherald_events_waiting ");
    double v = line ? atof(line + strlen("\nherald_events_waiting ")) : -1;
    it_resp_free(&m);
    return v;
}

static bool ev_one_waiting(void *arg) {
    (void)arg;
    return ev_waiting_gauge() == 1;
}

Test(events, long_poll_wakes_on_an_event) {
    char *pend = ev_pending();
    struct ev_poll p = {.query = "?wait=8"};
    int64_t started = util_mono_ms();
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, ev_poll_run, &p), 0);
    cr_assert(it_eventually(ev_one_waiting, NULL, 5000), "the poll is not counted as waiting");
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s/cancel", pend);
    struct it_resp c = it_api_call(&api, "POST", path, key, NULL);
    cr_assert_eq(c.status, 200, "%s", c.body);
    int64_t changed = util_mono_ms();
    it_resp_free(&c);
    pthread_join(th, NULL);
    cr_assert_eq(p.resp.status, 200, "%s", p.resp.body);
    struct json_object *o = it_json(&p.resp), *data;
    cr_assert(json_object_object_get_ex(o, "data", &data));
    cr_expect_eq(json_object_array_length(data), 1, "%s", p.resp.body);
    /* woken by the event, not by the end of the wait */
    cr_expect_lt(p.answered_ms - started, 8000, "answered after %lld ms",
                 (long long)(p.answered_ms - started));
    cr_log_info("long poll woke %lld ms after the change was answered",
                (long long)(p.answered_ms - changed));
    cr_expect_eq(ev_waiting_gauge(), 0);
    json_object_put(o);
    it_resp_free(&p.resp);

    /* with nothing after, the wait ends empty with next_after as given */
    char *eid = it_sql_value("SELECT id FROM events WHERE notification_id = $1", pend, NULL);
    char q[128];
    snprintf(q, sizeof(q), "?wait=1&after=%s", eid);
    struct ev_poll p2 = {.query = q};
    started = util_mono_ms();
    ev_poll_run(&p2);
    cr_assert_eq(p2.resp.status, 200);
    cr_expect_geq(p2.answered_ms - started, 900);
    o = it_json(&p2.resp);
    cr_assert(json_object_object_get_ex(o, "data", &data));
    cr_expect_eq(json_object_array_length(data), 0);
    cr_expect_str_eq(it_jstr(o, "next_after"), eid);
    json_object_put(o);
    it_resp_free(&p2.resp);
    mem_free(eid);
    mem_free(pend);
}

static bool ev_none_waiting(void *arg) {
    (void)arg;
    return ev_waiting_gauge() == 0;
}

/* a client that leaves while its poll waits takes nothing with it: the poll is
 * dropped at the next recheck, long before its wait would end */
Test(events, a_poll_whose_client_left_is_dropped) {
    struct rh_conn c;
    rh_open(&c, api.port);
    char req[512];
    snprintf(req, sizeof(req),
             "GET /v1/events?wait=30 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", key);
    cr_assert(rh_sends(&c, req));
    cr_assert(it_eventually(ev_one_waiting, NULL, 5000), "the poll is not counted as waiting");
    rh_close(&c);
    cr_expect(it_eventually(ev_none_waiting, NULL, 10000), "the poll still waits");
}

/* ---- paging while events are written ------------------------------------ */

#define EV_WRITERS 4
#define EV_PER_WRITER 30

struct ev_writer {
    char *ids[EV_PER_WRITER];
    unsigned seed;
};

/* ev_writer_run: each change in its own transaction that sleeps a little before
 * committing, so that ids made earlier often commit later. */
static void *ev_writer_run(void *arg) {
    struct ev_writer *w = arg;
    PGconn *pg = PQconnectdb(getenv("HERALD_TEST_DATABASE_URL"));
    for (int i = 0; i < EV_PER_WRITER && PQstatus(pg) == CONNECTION_OK; i++) {
        PQclear(PQexec(pg, "BEGIN"));
        const char *params[] = {w->ids[i]};
        PQclear(PQexecParams(pg,
                             "UPDATE notifications SET status = 'cancelled', updated_at = now()"
                             " WHERE id = $1",
                             1, NULL, params, NULL, NULL, 0));
        char sleep_sql[64];
        snprintf(sleep_sql, sizeof(sleep_sql), "SELECT pg_sleep(%d / 1000.0)",
                 (int)(rand_r(&w->seed) % 40));
        PQclear(PQexec(pg, sleep_sql));
        PQclear(PQexec(pg, "COMMIT"));
    }
    PQfinish(pg);
    return NULL;
}

Test(events, paging_under_concurrent_writers) {
    struct ev_writer ws[EV_WRITERS];
    for (int k = 0; k < EV_WRITERS; k++) {
        ws[k].seed = (unsigned)(k + 1);
        for (int i = 0; i < EV_PER_WRITER; i++)
            ws[k].ids[i] = ev_pending();
    }
    pthread_t th[EV_WRITERS];
    for (int k = 0; k < EV_WRITERS; k++)
        cr_assert_eq(pthread_create(&th[k], NULL, ev_writer_run, &ws[k]), 0);
    int total = EV_WRITERS * EV_PER_WRITER, seen = 0, pages = 0;
    char **got = mem_calloc((size_t)total + 1, sizeof(char *));
    char after[64] = "";
    bool writers_done = false;
    while (seen < total && pages < 5000) {
        char q[128];
        snprintf(q, sizeof(q), "?limit=7%s%s", after[0] ? "&after=" : "", after);
        struct json_object *o = ev_get(q, 200), *data;
        cr_assert(json_object_object_get_ex(o, "data", &data));
        size_t n = json_object_array_length(data);
        for (size_t i = 0; i < n; i++) {
            const char *id = it_jstr(json_object_array_get_idx(data, i), "id");
            cr_assert_lt(seen, total, "more events than changes");
            if (seen)
                cr_assert_gt(strcmp(id, got[seen - 1]), 0, "not oldest first, or a repeat");
            got[seen++] = mem_strdup(id);
        }
        if (n)
            snprintf(after, sizeof(after), "%s", it_jstr(o, "next_after"));
        json_object_put(o);
        pages++;
        if (!writers_done && seen >= total / 2) {
            /* half read while writing; the rest after */
            for (int k = 0; k < EV_WRITERS; k++)
                pthread_join(th[k], NULL);
            writers_done = true;
        }
        usleep(2000);
    }
    if (!writers_done)
        for (int k = 0; k < EV_WRITERS; k++)
            pthread_join(th[k], NULL);
    cr_expect_eq(seen, total, "read %d of %d events in %d pages", seen, total, pages);
    char *stored = it_sql_value("SELECT count(*) FROM events", NULL);
    cr_expect_eq(atoi(stored), total);
    mem_free(stored);
    cr_log_info("paged %d events in %d pages while they were written", seen, pages);
    for (int i = 0; i < seen; i++)
        mem_free(got[i]);
    mem_free(got);
    for (int k = 0; k < EV_WRITERS; k++)
        for (int i = 0; i < EV_PER_WRITER; i++)
            mem_free(ws[k].ids[i]);
}

/* ---- pushed to the events_url ------------------------------------------ */

Test(events, pushed_to_the_events_url_signed) {
    char body[256];
    char *url = wt_url("/events");
    snprintf(body, sizeof(body), "{\"events_url\":\"%s\",\"event_types\":[\"notification.sent\"]}",
             url);
    mem_free(url);
    struct it_resp r = it_api_call(&api, "PATCH", "/v1/tenant", key, body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    it_resp_free(&r);
    wt_start_worker(NULL);
    char *sent = wt_enqueue("/hooks/p", "{\"n\":1}");
    char *pend = ev_pending();
    it_sql_exec("UPDATE notifications SET status = 'cancelled' WHERE id = $1", pend, NULL);
    cr_assert(wt_wait_requests("/events", 1, 30000), "no event reached the events_url");
    struct json_object *reqs = wt_requests("/events");
    cr_expect_eq(json_object_array_length(reqs), 1, "only the selected type is pushed");
    struct json_object *req0 = json_object_array_get_idx(reqs, 0), *hdrs;
    struct json_object *ev = json_tokener_parse(wt_str(req0, "body"));
    cr_assert_not_null(ev);
    cr_expect_str_eq(wt_str(ev, "type"), "notification.sent");
    cr_assert(json_object_object_get_ex(req0, "headers", &hdrs));
    cr_expect_str_eq(wt_str(hdrs, "webhook-id"), wt_str(ev, "id"));
    /* the same event as the feed serves */
    char *doc = it_sql_value("SELECT doc FROM events WHERE id = $1", wt_str(ev, "id"), NULL);
    cr_expect_str_eq(doc, wt_str(req0, "body"));
    mem_free(doc);
    cr_expect_eq(wt_verify_with_npm("/events", wt.secret), 0);
    /* the delivery is no notification of the tenant's, and makes no event */
    struct it_resp l = it_api_call(&api, "GET", "/v1/notifications?limit=100", key, NULL);
    cr_assert_eq(l.status, 200);
    cr_expect_null(strstr(l.body, wt_str(ev, "id")), "the event delivery is listed");
    it_resp_free(&l);
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s", wt_str(ev, "id"));
    l = it_api_call(&api, "GET", path, key, NULL);
    cr_expect_eq(l.status, 404);
    it_resp_free(&l);
    cr_assert(wt_wait_status(wt_str(ev, "id"), "sent", 30000));
    char *n = it_sql_value("SELECT count(*) FROM events", NULL);
    cr_expect_eq(atoi(n), 2, "events: %s", n);
    mem_free(n);
    json_object_put(ev);
    json_object_put(reqs);
    mem_free(sent);
    mem_free(pend);
}

Test(events, given_up_event_delivery_is_a_webhook_dead_letter) {
    char body[256];
    char *url = wt_url("/gone");
    snprintf(body, sizeof(body), "{\"events_url\":\"%s\"}", url);
    mem_free(url);
    struct it_resp r = it_api_call(&api, "PATCH", "/v1/tenant", key, body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    it_resp_free(&r);
    wt_control("{\"path\":\"/gone\",\"default\":410}");
    wt_start_worker(NULL);
    char *pend = ev_pending();
    it_sql_exec("UPDATE notifications SET status = 'cancelled' WHERE id = $1", pend, NULL);
    char *eid = it_sql_value("SELECT id FROM events WHERE notification_id = $1", pend, NULL);
    cr_assert(wt_wait_status(eid, "failed", 30000));
    cr_expect_eq(ev_events_of(eid, NULL), 0);
    const char *argv[] = {"heraldctl", "dlq", "list", "--channel", "webhook", NULL};
    int code;
    char *out = it_run_capture(argv, NULL, &code);
    cr_expect_eq(code, 0);
    cr_expect_not_null(strstr(out, eid), "dlq list: %s", out);
    mem_free(out);
    mem_free(eid);
    mem_free(pend);
}

/* ---- deadlines ---------------------------------------------------------- */

/* ev_insert_deadline: a webhook row to path with expires_at and send_at this many ms
 * from now (send_in 0: due now and added to the stream). */
static char *ev_insert_deadline(const char *path, int expires_in, int send_in) {
    char *id = wt_insert(path, NULL, "{}", NULL, send_in);
    char ms[24];
    snprintf(ms, sizeof(ms), "%d", expires_in);
    it_sql_exec("UPDATE notifications SET expires_at = now() + $2::int * interval '1 millisecond'"
                " WHERE id = $1",
                id, ms, NULL);
    if (send_in == 0)
        wt_xadd(id);
    return id;
}

Test(events, expired_before_the_first_try) {
    char *id = ev_insert_deadline("/hooks/late", -1000, 0);
    const char *env[] = {"HERALD_SWEEP_INTERVAL_MS=3600000", NULL}; /* the claim expires it */
    wt_start_worker(env);
    cr_assert(wt_wait_status(id, "expired", 30000));
    cr_expect_eq(wt_count("/hooks/late"), 0);
    cr_expect_eq(wt_attempts(id), 0);
    cr_expect_eq(ev_events_of(id, "notification.expired"), 1);
    char *err = wt_field(id, "last_error");
    cr_expect_not_null(strstr(err, "expire"), "%s", err);
    mem_free(err);
    mem_free(id);
}

Test(events, expired_between_retries) {
    wt_control("{\"path\":\"/hooks/flaky\",\"default\":500}");
    const char *env[] = {"HERALD_RETRY_BASE_MS=400", "HERALD_RETRY_MAX_MS=400",
                         "HERALD_MAX_ATTEMPTS=100", NULL};
    wt_start_worker(env);
    char *id = ev_insert_deadline("/hooks/flaky", 1500, 0);
    cr_assert(wt_wait_status(id, "expired", 30000));
    int attempts = wt_attempts(id);
    cr_expect_geq(attempts, 1);
    cr_expect_lt(attempts, 100);
    /* no attempt started after the deadline */
    char *late = it_sql_value("SELECT count(*) FROM notification_attempts a JOIN notifications n"
                              " ON n.id = a.notification_id WHERE n.id = $1"
                              " AND a.started_at > n.expires_at",
                              id, NULL);
    cr_expect_eq(atoi(late), 0);
    mem_free(late);
    cr_expect_eq(ev_events_of(id, "notification.expired"), 1);
    mem_free(id);
}

Test(events, expired_when_send_at_is_after_it_without_a_worker) {
    /* no worker of the channel runs: the API's sweeper expires it */
    char *id = ev_insert_deadline("/hooks/sched", 500, 3000);
    cr_assert(wt_wait_status(id, "expired", 30000));
    cr_expect_eq(wt_count("/hooks/sched"), 0);
    cr_expect_eq(ev_events_of(id, "notification.expired"), 1);
    /* replay refuses it: it is not a dead letter */
    const char *argv[] = {"heraldctl", "dlq", "replay", "--channel", "webhook", "--id", id, NULL};
    int code;
    char *out = it_run_capture(argv, NULL, &code);
    mem_free(out);
    char *st = wt_field(id, "status");
    cr_expect_str_eq(st, "expired");
    mem_free(st);
    mem_free(id);
}

Test(events, expired_by_the_sweeper_while_redis_is_down) {
    wt_redis_stop();
    char *id = ev_insert_deadline("/hooks/dark", 500, 3000);
    cr_assert(wt_wait_status(id, "expired", 30000));
    cr_expect_eq(ev_events_of(id, "notification.expired"), 1);
    wt_redis_start();
    mem_free(id);
}
