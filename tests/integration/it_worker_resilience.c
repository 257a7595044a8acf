/* it_worker_resilience: leases, crashes, lost Redis data, replicas and shutdown. */
#include "support/itworker.h"

TestSuite(worker_resilience, .init = wt_setup, .fini = wt_teardown, .timeout = 180);

/* For receivers that answer slowly on purpose. */
static const char *const slow_env[] = {"HERALD_DELIVERY_TIMEOUT_MS=5000",
                                       "HERALD_VISIBILITY_TIMEOUT_MS=8000", NULL};

/* The API's cancel statement (API.md: 409 while a delivery is in progress). */
static int cancel_rows(const char *id) {
    PGresult *r = it_sql("UPDATE notifications SET status = 'cancelled', updated_at = now()"
                         " WHERE id = $1 AND status = 'pending'"
                         " AND (lease_until IS NULL OR lease_until < now())",
                         id, NULL);
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n;
}

Test(worker_resilience, lease_blocks_cancel_during_delivery) {
    wt_control("{\"path\": \"/slow\", \"delay_ms\": 1500}");
    char *id = wt_enqueue("/slow", "x");
    wt_start_worker(slow_env);
    cr_assert(wt_wait_requests("/slow", 1, 30000), "never delivered");
    cr_assert_eq(cancel_rows(id), 0, "cancel succeeded while the delivery ran");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    cr_assert_eq(cancel_rows(id), 0);
    mem_free(id);
}

Test(worker_resilience, killed_worker_is_reclaimed_by_another) {
    wt_control("{\"path\": \"/hang\", \"delay_ms\": 5000}");
    char *id = wt_enqueue("/hang", "x");
    wt_start_worker(NULL);
    cr_assert(wt_wait_requests("/hang", 1, 30000), "never delivered");
    cr_assert_eq(wt_stop_worker(0, SIGKILL, 5000), 128 + SIGKILL);
    wt_control("{\"path\": \"/hang\", \"delay_ms\": 0}");
    /* a long sweeper grace: only the visibility timeout (XAUTOCLAIM) can bring it back */
    const char *env[] = {"HERALD_SWEEP_GRACE_MS=600000", NULL};
    pid_t b = wt_start_worker(env);
    cr_assert(wt_wait_status(id, "sent", 60000), "not delivered after the crash");
    cr_assert_geq(wt_count("/hang"), 2);
    /* the dead consumer's attempt was never recorded; the second one was */
    cr_assert_eq(wt_attempts(id), 1);
    /* and it came back through the consumer group, not the sweeper */
    char *log = it_log_path("herald-worker", b);
    FILE *f = fopen(log, "r");
    cr_assert(f);
    char line[4096];
    bool reclaimed = false;
    while (fgets(line, sizeof(line), f))
        reclaimed |= strstr(line, "\"delivery.reclaimed\"") != NULL;
    fclose(f);
    mem_free(log);
    cr_assert(reclaimed, "no delivery.reclaimed in the second worker's log");
    mem_free(id);
}

struct pending_arg {
    int want;
};

static bool all_sent(void *arg) {
    struct pending_arg *p = arg;
    char *n = it_sql_value("SELECT count(*) FROM notifications WHERE status = 'sent'", NULL);
    bool ok = atoi(n) >= p->want;
    mem_free(n);
    return ok;
}

Test(worker_resilience, redis_flushall_loses_nothing) {
    /* rows whose entries are gone before any worker ran */
    char *before[5];
    for (int i = 0; i < 5; i++)
        before[i] = wt_enqueue("/flush", "x");
    it_redis_flush();
    wt_start_worker(NULL);
    for (int i = 0; i < 5; i++)
        cr_assert(wt_wait_status(before[i], "sent", 30000), "row %d never delivered", i);
    /* and while a worker runs: the group vanishes and must be re-created */
    it_redis_flush();
    char *lost = wt_insert("/flush", NULL, "x", NULL, 0); /* in_stream, entry lost */
    char *fresh = wt_enqueue("/flush", "x");
    cr_assert(wt_wait_status(lost, "sent", 30000), "row in no stream never delivered");
    cr_assert(wt_wait_status(fresh, "sent", 30000), "row added after the flush never delivered");
    redisReply *r = it_redis_cmd("XINFO GROUPS herald:stream:{webhook.n.0}");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1, "group not re-created");
    freeReplyObject(r);
    for (int i = 0; i < 5; i++)
        mem_free(before[i]);
    mem_free(lost);
    mem_free(fresh);
}

static bool stream_drained(void *arg) {
    (void)arg;
    return it_stream_len("webhook") == 0 && it_stream_lag("webhook") == 0;
}

Test(worker_resilience, two_replicas_deliver_each_once) {
    enum { N = 200 };
    wt_start_worker(NULL);
    wt_start_worker(NULL);
    char *ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = wt_enqueue("/many", "x");
    struct pending_arg p = {N};
    cr_assert(it_eventually(all_sent, &p, 90000), "not all delivered");
    struct json_object *reqs = wt_requests("/many");
    cr_assert_eq(json_object_array_length(reqs), N, "%zu requests for %d notifications",
                 json_object_array_length(reqs), N);
    /* every id exactly once */
    for (int i = 0; i < N; i++) {
        int seen = 0;
        for (size_t k = 0; k < json_object_array_length(reqs); k++) {
            struct json_object *h;
            json_object_object_get_ex(json_object_array_get_idx(reqs, k), "headers", &h);
            if (strcmp(wt_str(h, "webhook-id"), ids[i]) == 0)
                seen++;
        }
        cr_assert_eq(seen, 1, "%s delivered %d times", ids[i], seen);
    }
    /* acknowledged entries leave the stream, and Redis can still tell the lag */
    cr_assert(it_eventually(stream_drained, NULL, 10000), "stream not trimmed");
    json_object_put(reqs);
    for (int i = 0; i < N; i++)
        mem_free(ids[i]);
}

Test(worker_resilience, sigterm_drains_in_flight_and_exits_0) {
    wt_control("{\"path\": \"/drain\", \"delay_ms\": 1500}");
    char *id = wt_enqueue("/drain", "x");
    wt_start_worker(slow_env);
    cr_assert(wt_wait_requests("/drain", 1, 30000), "never delivered");
    int st = wt_stop_worker(0, SIGTERM, 20000);
    cr_assert_eq(st, 0, "worker exit status %d", st);
    char *status = wt_field(id, "status");
    cr_assert_str_eq(status, "sent", "in-flight delivery not finished before exit");
    /* acknowledged: nothing left pending in the group */
    cr_assert_eq(it_stream_pending("webhook"), 0, "entries left pending");
    mem_free(status);
    mem_free(id);
}

/* A SIGTERM while PostgreSQL is down and Redis answers nothing: the grace
 * runs out with an outcome statement failing and commands owed; the worker
 * cancels them and exits cleanly (ASan would fail it on a callback run on
 * freed memory). */
Test(worker_resilience, sigterm_with_postgres_down_and_redis_hung_exits_0) {
    const char *env[] = {"HERALD_DELIVERY_TIMEOUT_MS=5000", "HERALD_VISIBILITY_TIMEOUT_MS=8000",
                         "HERALD_SHUTDOWN_GRACE_MS=1000", "HERALD_REDIS_TIMEOUT_MS=10000", NULL};
    wt_control("{\"path\": \"/hung\", \"delay_ms\": 1000}");
    char *id = wt_enqueue("/hung", "x");
    pid_t pid = wt_start_worker(env);
    cr_assert(wt_wait_requests("/hung", 1, 30000), "never delivered");
    wt_pg_stop();
    wt_redis_pause();
    it_kill(pid, SIGTERM);
    int st = it_wait_exit(pid, 30000);
    wt_redis_resume();
    if (st != -1)
        wt.workers[0] = 0;
    cr_expect_eq(st, 0, "worker exit status %d", st);
    cr_expect_eq(wt_log_count("herald-worker", pid, "worker.abandoned"), 1,
                 "the grace ran out with the delivery's outcome unrecorded");
    mem_free(id);
}

/* log_grew: the worker's log has more than n lines with needle. */
struct log_wait {
    pid_t pid;
    const char *needle;
    int n;
};

static bool log_grew(void *arg) {
    struct log_wait *w = arg;
    return wt_log_count("herald-worker", w->pid, w->needle) > w->n;
}

Test(worker_resilience, starts_without_redis_and_delivers_once_it_is_back) {
    wt_redis_stop();
    char *id = wt_insert("/late", NULL, "x", NULL, 0);
    pid_t pid = wt_start_worker(NULL);
    struct log_wait w = {pid, "redis.connect_failed", 0};
    cr_assert(it_eventually(log_grew, &w, 30000), "the worker never tried Redis");
    cr_assert_eq(wt_count("/late"), 0);
    wt_redis_start();
    cr_assert(wt_wait_status(id, "sent", 60000), "not delivered after Redis came back");
    mem_free(id);
}

Test(worker_resilience, postgres_down_at_start_and_during_delivery) {
    char *first = wt_enqueue("/pg", "x");
    wt_pg_stop();
    pid_t pid = wt_start_worker(slow_env);
    cr_assert_eq(it_wait_exit(pid, 1500), -1, "worker exited while PostgreSQL was down");
    wt_pg_start();
    cr_assert(wt_wait_status(first, "sent", 60000), "not delivered after PostgreSQL came back");
    /* an outage while the receiver takes its time: the outcome is recorded later */
    wt_control("{\"path\": \"/pg\", \"delay_ms\": 1500}");
    char *second = wt_enqueue("/pg", "y");
    cr_assert(wt_wait_requests("/pg", 2, 30000), "second never delivered");
    struct log_wait w = {pid, "worker.db_error",
                         wt_log_count("herald-worker", pid, "worker.db_error")};
    wt_pg_stop();
    /* the receiver answers while PostgreSQL is down: recording the outcome fails */
    cr_assert(it_eventually(log_grew, &w, 30000), "no failed statement during the outage");
    wt_pg_start();
    cr_assert(wt_wait_status(second, "sent", 60000), "outcome not recorded after the outage");
    cr_assert_eq(wt_count("/pg"), 2, "delivered again instead of recorded");
    mem_free(first);
    mem_free(second);
}

Test(worker_resilience, host_limit_queues_then_hands_back) {
    /* one transfer per host at a time; a job that cannot start within its
     * lease goes back to PostgreSQL unattempted and comes round again */
    const char *env[] = {"HERALD_HOST_CONCURRENCY=1", "HERALD_DELIVERY_TIMEOUT_MS=2000",
                         "HERALD_VISIBILITY_TIMEOUT_MS=3000", NULL};
    wt_control("{\"path\": \"/one\", \"delay_ms\": 1000}");
    char *ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = wt_enqueue("/one", "x");
    wt_start_worker(env);
    for (int i = 0; i < 3; i++)
        cr_assert(wt_wait_status(ids[i], "sent", 60000), "row %d not sent", i);
    struct json_object *reqs = wt_requests("/one");
    size_t n = json_object_array_length(reqs);
    cr_assert_eq(n, 3, "%zu requests", n);
    for (size_t i = 1; i < n; i++) {
        double t0 = wt_time_of(reqs, i - 1);
        double t1 = wt_time_of(reqs, i);
        cr_assert_geq(t1 - t0, 0.95, "two transfers to one host overlapped");
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(wt_attempts(ids[i]), 1);
        mem_free(ids[i]);
    }
    json_object_put(reqs);
}
