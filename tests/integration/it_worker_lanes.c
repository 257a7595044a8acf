/* it_worker_lanes: fair turns between tenants, priority order and its floor,
 * and lanes across reclaim, the sweeper, Redis losing its data, replay and
 * the version 1 stream. Arrival order at the receiver is what is asserted. */
#include "support/itworker.h"
#include "common/stream.h"

TestSuite(worker_lanes, .init = wt_setup, .fini = wt_teardown, .timeout = 300);

/* lt_tenant: a tenant whose lane differs from every lane in avoid (n of them). */
static long lt_tenant(const char *name, const int *avoid, int n) {
    for (int attempt = 0; attempt < 64; attempt++) {
        char nm[64];
        snprintf(nm, sizeof(nm), "%s-%d", name, attempt);
        char *id = it_sql_value("INSERT INTO tenants (name, webhook_secret) VALUES ($1, $2) "
                                "RETURNING id",
                                nm, wt.secret, NULL);
        long t = atol(id);
        mem_free(id);
        bool clash = false;
        for (int i = 0; i < n; i++)
            clash |= stream_lane_of(t) == avoid[i];
        if (!clash)
            return t;
    }
    cr_assert_fail("no tenant in another lane");
    return 0;
}

/* lt_rows: n pending rows of tenant to path with priority, in no stream
 * (in_stream false: the sweeper's to enqueue) unless xadd, when they are
 * added to their lane as the API does, pipelined. Returns the ids as a
 * PGresult (column 0), oldest first. */
static PGresult *lt_rows(long tenant, const char *path, const char *prio, int n, bool xadd) {
    char t[32], count[16];
    snprintf(t, sizeof(t), "%ld", tenant);
    snprintf(count, sizeof(count), "%d", n);
    char *url = wt_url(path);
    PGresult *r = it_sql(
        "INSERT INTO notifications (id, tenant_id, channel, recipient, body, priority, created_at,"
        " updated_at, due_at, in_stream, enqueued_at)"
        " SELECT gen_random_uuid(), $1, 'webhook', $2, 'x', $3, now(), now(),"
        " now() + g * interval '1 microsecond', $5::boolean, CASE WHEN $5::boolean THEN now() END"
        " FROM generate_series(1, $4::int) g ORDER BY g RETURNING id",
        t, url, prio, count, xadd ? "true" : "false", NULL);
    mem_free(url);
    cr_assert_eq(PQntuples(r), n);
    if (!xadd)
        return r;
    char key[STREAM_KEY_LEN];
    int p = notif_priority_parse(prio);
    stream_key_at(CH_WEBHOOK, stream_index((enum notif_priority)p, stream_lane_of(tenant)), key);
    redisContext *c = it_redis_connect();
    cr_assert(c);
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "XADD %s * id %s", key, PQgetvalue(r, i, 0));
    for (int i = 0; i < n; i++) {
        void *rep = NULL;
        cr_assert_eq(redisGetReply(c, &rep), REDIS_OK);
        freeReplyObject(rep);
    }
    redisFree(c);
    return r;
}

static bool lt_all_sent(void *arg) {
    int want = *(int *)arg;
    char *n = it_sql_value("SELECT count(*) FROM notifications WHERE status = 'sent'", NULL);
    bool done = atoi(n) >= want;
    mem_free(n);
    return done;
}

/* lt_order: the paths of every request the receiver got, in arrival order. */
static int lt_order(char paths[][16], int max) {
    struct json_object *a = wt_requests(NULL);
    int n = (int)json_object_array_length(a);
    for (int i = 0; i < n && i < max; i++) {
        const char *p = wt_str(json_object_array_get_idx(a, i), "path");
        snprintf(paths[i], 16, "%s", p ? p : "");
    }
    json_object_put(a);
    return n < max ? n : max;
}

/* lt_each_once: every row sent, and the receiver saw each id exactly once. */
static void lt_each_once(int total) {
    struct json_object *a = wt_requests(NULL);
    cr_expect_eq((int)json_object_array_length(a), total, "requests");
    char *dup = it_sql_value("SELECT count(*) FROM notifications WHERE status <> 'sent'", NULL);
    cr_expect_str_eq(dup, "0", "rows not sent");
    mem_free(dup);
    json_object_put(a);
}

Test(worker_lanes, a_quiet_tenant_waits_for_turns_not_for_a_backlog) {
    enum { NA = 2000, NB = 5 };
    long a = wt.tenant_id;
    int la = stream_lane_of(a);
    long b = lt_tenant("quiet", &la, 1);
    /* A's backlog is queued first, B's few after it: FIFO would deliver B last */
    PQclear(lt_rows(a, "/a", "normal", NA, true));
    PQclear(lt_rows(b, "/b", "normal", NB, true));
    /* at the worker's default concurrency: both tenants deliver to the one
     * receiver, whose queue is full of A's; B's take the places of A's
     * newest and start before A's waiting (worker/turns.h) */
    wt_start_worker_n(NULL, 64);
    int total = NA + NB;
    cr_assert(it_eventually(lt_all_sent, &total, 240000), "not all delivered");
    static char paths[NA + NB][16];
    int n = lt_order(paths, NA + NB);
    int last_b = -1, seen_b = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(paths[i], "/b")) {
            last_b = i;
            seen_b++;
        }
    fprintf(stderr, "fair turns: B's %d arrived by delivery %d of %d\n", seen_b, last_b + 1, n);
    cr_expect_eq(seen_b, NB);
    /* a few turns of A (32 run at once to one host, 32 wait), not its backlog */
    cr_expect_lt(last_b, 100, "B's last arrived after %d deliveries of %d", last_b, n);
    lt_each_once(total);
}

/* lt_priorities: 150 each of low, normal and high queued (in the worst
 * order for a FIFO: low first), delivered by a worker at concurrency; counts
 * each priority among the first 100 deliveries and checks their mean
 * positions come in priority order. */
static void lt_priorities(int concurrency, int first[3]) {
    enum { N = 150 };
    long a = wt.tenant_id;
    PQclear(lt_rows(a, "/low", "low", N, true));
    PQclear(lt_rows(a, "/normal", "normal", N, true));
    PQclear(lt_rows(a, "/high", "high", N, true));
    wt_start_worker_n(NULL, concurrency);
    int total = 3 * N;
    cr_assert(it_eventually(lt_all_sent, &total, 120000), "not all delivered");
    static char paths[3 * N][16];
    int n = lt_order(paths, 3 * N);
    cr_assert_eq(n, 3 * N);
    int sum[3] = {0}, cnt[3] = {0};
    const char *names[3] = {"/high", "/normal", "/low"};
    for (int p = 0; p < 3; p++)
        first[p] = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < 3; p++)
            if (!strcmp(paths[i], names[p])) {
                sum[p] += i;
                cnt[p]++;
                if (i < 100)
                    first[p]++;
            }
    fprintf(stderr,
            "priority at concurrency %d: first 100 deliveries high %d normal %d low %d; "
            "mean position %d %d %d\n",
            concurrency, first[0], first[1], first[2], sum[0] / cnt[0], sum[1] / cnt[1],
            sum[2] / cnt[2]);
    cr_expect_lt(sum[0] / cnt[0], sum[1] / cnt[1], "high before normal");
    cr_expect_lt(sum[1] / cnt[1], sum[2] / cnt[2], "normal before low");
    lt_each_once(total);
}

Test(worker_lanes, high_before_normal_before_low_with_one_in_ten_for_each) {
    /* one at a time, so arrival order is the order the reads took them in */
    int first[3];
    lt_priorities(1, first);
    cr_expect_geq(first[0], 70, "high: %d of the first 100", first[0]);
    cr_expect_geq(first[1], 7, "normal: %d of the first 100 (one in ten)", first[1]);
    cr_expect_geq(first[2], 7, "low: %d of the first 100 (one in ten)", first[2]);
}

Test(worker_lanes, priority_holds_at_the_default_concurrency) {
    /* 32 run at once to the one receiver and 32 wait in its queue, which
     * takes turns by priority (worker/turns.c; its exact order and floor are
     * test_turns'). The first read is 64 highs, so the floors show later
     * than at concurrency 1 (3 normal and 3 low in the first 100 seen), but
     * they show: strict priority would give neither any of the first 100 */
    int first[3];
    lt_priorities(64, first);
    cr_expect_geq(first[0], 70, "high: %d of the first 100", first[0]);
    cr_expect_geq(first[1], 1, "normal: %d of the first 100 (its floor)", first[1]);
    cr_expect_geq(first[2], 1, "low: %d of the first 100 (its floor)", first[2]);
}

/* Rows of several tenants and priorities, the way a busy channel holds them. */
static int lt_mix(const char *path, bool xadd, int per) {
    long t[3];
    int lanes[3];
    char nb[64], nc[64];
    snprintf(nb, sizeof(nb), "mix-b%s", path + 1);
    snprintf(nc, sizeof(nc), "mix-c%s", path + 1);
    t[0] = wt.tenant_id;
    lanes[0] = stream_lane_of(t[0]);
    t[1] = lt_tenant(nb, lanes, 1);
    lanes[1] = stream_lane_of(t[1]);
    t[2] = lt_tenant(nc, lanes, 2);
    const char *prios[3] = {"high", "normal", "low"};
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < 3; p++)
            PQclear(lt_rows(t[i], path, prios[p], per, xadd));
    return 9 * per;
}

Test(worker_lanes, sweeper_enqueues_into_lanes_and_flushall_loses_nothing) {
    /* rows in no stream: the sweeper puts each into its lane */
    int total = lt_mix("/swept", false, 10);
    wt_start_worker(NULL);
    cr_assert(it_eventually(lt_all_sent, &total, 60000), "swept rows not delivered");
    cr_expect_eq(wt_count("/swept"), total);
    cr_assert_eq(wt_stop_worker(0, SIGTERM, 20000), 0);
    /* entries in the lanes, then Redis loses everything: the orphan step re-adds them */
    it_sql_exec("DELETE FROM notifications", NULL);
    int more = lt_mix("/lost", true, 10);
    cr_expect_eq(it_stream_len("webhook"), more);
    it_redis_flush();
    wt_start_worker(NULL);
    cr_assert(it_eventually(lt_all_sent, &more, 60000), "rows lost with Redis's data");
    cr_expect_eq(wt_count("/lost"), more);
}

Test(worker_lanes, a_killed_worker_lanes_are_reclaimed) {
    wt_control("{\"path\": \"/hang\", \"delay_ms\": 4000}");
    int total = lt_mix("/hang", true, 2);
    /* every attempt to /hang times out: no row may run out of attempts, nor
     * the circuit open, before the kill (this is about reclaim, not retries) */
    const char *first[] = {"HERALD_MAX_ATTEMPTS=50", "HERALD_BREAKER_FAILURES=1000", NULL};
    wt_start_worker(first);
    cr_assert(wt_wait_requests("/hang", 8, 30000), "never delivered");
    cr_assert_eq(wt_stop_worker(0, SIGKILL, 5000), 128 + SIGKILL);
    wt_control("{\"path\": \"/hang\", \"delay_ms\": 0}");
    /* a long sweeper grace: only XAUTOCLAIM (per lane) can bring them back */
    const char *env[] = {"HERALD_SWEEP_GRACE_MS=600000", "HERALD_MAX_ATTEMPTS=50", NULL};
    wt_start_worker(env);
    cr_assert(it_eventually(lt_all_sent, &total, 60000), "entries of a killed worker lost");
    char *n = it_sql_value("SELECT count(*) FROM notifications WHERE status = 'sent'", NULL);
    cr_expect_eq(atoi(n), total);
    mem_free(n);
}

Test(worker_lanes, replayed_dead_letters_go_back_to_their_lanes) {
    int total = lt_mix("/replay", false, 5);
    it_sql_exec("UPDATE notifications SET status = 'failed', failed_at = now(), attempts = 3,"
                " last_error = 'HTTP 500'",
                NULL);
    int code;
    const char *argv[] = {"heraldctl", "dlq", "replay", "--channel", "webhook", "--all", NULL};
    char *out = it_run_capture(argv, NULL, &code);
    cr_assert_eq(code, 0, "%s", out);
    mem_free(out);
    /* enqueued by the replay itself (not left to the sweeper) */
    cr_expect_eq(it_stream_len("webhook"), total);
    wt_start_worker(NULL);
    cr_assert(it_eventually(lt_all_sent, &total, 60000), "replayed rows not delivered");
    cr_expect_eq(wt_count("/replay"), total);
}

Test(worker_lanes, the_version_1_stream_is_read_until_empty) {
    /* entries left in herald:stream:webhook by an older API, before and
     * after the worker started */
    PGresult *r = lt_rows(wt.tenant_id, "/old", "normal", 20, false);
    it_sql_exec("UPDATE notifications SET in_stream = true, enqueued_at = now()", NULL);
    for (int i = 0; i < 10; i++)
        wt_xadd_legacy(PQgetvalue(r, i, 0));
    const char *env[] = {"HERALD_SWEEP_GRACE_MS=600000", NULL};
    wt_start_worker(env);
    cr_assert(wt_wait_requests("/old", 10, 30000), "the old stream was not read");
    for (int i = 10; i < 20; i++)
        wt_xadd_legacy(PQgetvalue(r, i, 0));
    int total = 20;
    cr_assert(it_eventually(lt_all_sent, &total, 30000), "entries added later not read");
    cr_expect_eq(wt_count("/old"), 20);
    PQclear(r);
}

Test(worker_lanes, queues_name_who_is_backlogged) {
    long a = wt.tenant_id;
    int la = stream_lane_of(a);
    long b = lt_tenant("quiet", &la, 1);
    PQclear(lt_rows(a, "/a", "low", 300, true));
    PQclear(lt_rows(b, "/b", "high", 5, true));
    int code;
    const char *argv[] = {"heraldctl", "queues", "--json", NULL};
    char *out = it_run_capture(argv, NULL, &code);
    cr_assert_eq(code, 0, "%s", out);
    struct json_object *o = json_tokener_parse(out), *chs, *w = NULL, *v;
    cr_assert(o && json_object_object_get_ex(o, "channels", &chs), "%s", out);
    for (size_t i = 0; i < json_object_array_length(chs); i++)
        if (!strcmp(wt_str(json_object_array_get_idx(chs, i), "channel"), "webhook"))
            w = json_object_array_get_idx(chs, i);
    cr_assert(w);
    cr_expect(json_object_object_get_ex(w, "stream_length", &v) && json_object_get_int(v) == 305);
    struct json_object *lanes, *tenants;
    cr_assert(json_object_object_get_ex(w, "busiest_lanes", &lanes), "%s", out);
    cr_assert_eq(json_object_array_length(lanes), 2, "%s", out);
    struct json_object *top = json_object_array_get_idx(lanes, 0);
    cr_expect_str_eq(wt_str(top, "priority"), "low");
    cr_expect(json_object_object_get_ex(top, "lane", &v) && json_object_get_int(v) == la);
    cr_assert(json_object_object_get_ex(w, "backlog_tenants", &tenants), "%s", out);
    cr_assert_eq(json_object_array_length(tenants), 2, "%s", out);
    cr_expect_str_eq(wt_str(json_object_array_get_idx(tenants, 0), "tenant"), "acme");
    cr_expect(json_object_object_get_ex(json_object_array_get_idx(tenants, 0), "due", &v) &&
              json_object_get_int(v) == 300);
    json_object_put(o);
    mem_free(out);
    /* the table says it too */
    const char *plain[] = {"heraldctl", "queues", NULL};
    out = it_run_capture(plain, NULL, &code);
    cr_assert_eq(code, 0, "%s", out);
    cr_expect(strstr(out, "who is backlogged") && strstr(out, "acme 300 due"), "%s", out);
    mem_free(out);
}

/* lt_consumers: the webhook channel's consumer count as heraldctl queues --json gives it. */
static int lt_consumers(void) {
    int code;
    const char *argv[] = {"heraldctl", "queues", "--json", NULL};
    char *out = it_run_capture(argv, NULL, &code);
    int n = -1;
    struct json_object *o = json_tokener_parse(out), *chs, *v;
    if (code == 0 && o && json_object_object_get_ex(o, "channels", &chs))
        for (size_t i = 0; i < json_object_array_length(chs); i++) {
            struct json_object *c = json_object_array_get_idx(chs, i);
            if (!strcmp(wt_str(c, "channel"), "webhook") &&
                json_object_object_get_ex(c, "consumers", &v))
                n = json_object_get_int(v);
        }
    json_object_put(o);
    mem_free(out);
    return n;
}

static bool lt_one_consumer(void *arg) {
    (void)arg;
    return lt_consumers() == 1;
}

/* lt_remove_consumers: XGROUP DELCONSUMER of every consumer on every lane. */
static void lt_remove_consumers(void) {
    redisReply *keys = it_redis_cmd("KEYS herald:stream:{webhook.*");
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements > 0);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *cs = it_redis_cmd("XINFO CONSUMERS %s herald", keys->element[i]->str);
        for (size_t c = 0; cs && cs->type == REDIS_REPLY_ARRAY && c < cs->elements; c++) {
            redisReply *row = cs->element[c];
            for (size_t f = 0; f + 1 < row->elements; f += 2)
                if (!strcmp(row->element[f]->str, "name"))
                    freeReplyObject(it_redis_cmd("XGROUP DELCONSUMER %s herald %s",
                                                 keys->element[i]->str, row->element[f + 1]->str));
        }
        freeReplyObject(cs);
    }
    freeReplyObject(keys);
}

/* A worker counts as a consumer as soon as it starts, before any entry (Redis
 * 7.0 adds a consumer only when a read returns one), and again after
 * something removed it. */
Test(worker_lanes, a_started_worker_is_a_consumer_before_any_entry) {
    cr_expect_neq(lt_consumers(), 1, "a consumer before any worker");
    wt_start_worker(NULL);
    cr_assert(it_eventually(lt_one_consumer, NULL, 20000), "consumers: %d", lt_consumers());
    lt_remove_consumers();
    cr_assert(it_eventually(lt_one_consumer, NULL, 20000), "not back: %d", lt_consumers());
}
