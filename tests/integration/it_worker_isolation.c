/* it_worker_isolation: destinations never hold the channel, and circuit
 * breakers: opening after the configured failures, rescheduling without
 * using attempts, probing and closing, and surviving a worker restart. */
#include "support/itworker.h"

TestSuite(worker_isolation, .init = wt_setup, .fini = wt_teardown, .timeout = 240);

/* iso_enqueue: a row for url (a whole URL: its host as written names the
 * destination), added to the stream. */
static char *iso_enqueue(const char *url) {
    return wt_enqueue_row("webhook", url, NULL, "x", NULL);
}

/* iso_dest: the destination key of the receiver as 127.0.0.1. */
static void iso_dest(char *out, size_t n) {
    snprintf(out, n, "http://127.0.0.1:%d", wt.port);
}

/* iso_circuit: the shared circuit of the receiver's destination, or NULL. */
static char *iso_circuit(void) {
    char dest[64];
    iso_dest(dest, sizeof(dest));
    redisReply *r = it_redis_cmd("HGET herald:breakers:{webhook} %s", dest);
    char *v = r && r->type == REDIS_REPLY_STRING ? mem_strdup(r->str) : NULL;
    if (r)
        freeReplyObject(r);
    return v;
}

static bool iso_open(void *arg) {
    (void)arg;
    char *v = iso_circuit();
    bool open = v != NULL;
    mem_free(v);
    return open;
}

/* iso_waiting: the shared circuit counts notifications held back. */
static bool iso_waiting(void *arg) {
    (void)arg;
    char *v = iso_circuit();
    long long x, waiting = 0;
    bool ok =
        v && sscanf(v, "%lld %lld %lld %lld %lld", &x, &x, &x, &x, &waiting) == 5 && waiting >= 1;
    mem_free(v);
    return ok;
}

static bool iso_closed(void *arg) {
    return !iso_open(arg);
}

/* iso_handed_back: the row waits in PostgreSQL, unattempted: pending, out of
 * the stream, unleased, due later, attempts unchanged. */
static bool iso_handed_back(void *arg) {
    return wt_int("SELECT count(*) FROM notifications WHERE id = $1 AND status = 'pending'"
                  " AND NOT in_stream AND lease_owner IS NULL AND due_at > now()"
                  " AND attempts = 0",
                  arg) == 1;
}

static const char *const brk_env[] = {"HERALD_BREAKER_FAILURES=3", "HERALD_BREAKER_OPEN_MS=4000",
                                      "HERALD_BREAKER_MAX_OPEN_MS=8000", "HERALD_MAX_ATTEMPTS=10",
                                      NULL};

/* iso_open_circuit: three failures in a row open it. */
static void iso_open_circuit(char *ids[3]) {
    wt_control("{\"path\": \"/down\", \"default\": 503}");
    char *url = wt_url("/down");
    for (int i = 0; i < 3; i++)
        ids[i] = iso_enqueue(url);
    mem_free(url);
    cr_assert(wt_wait_requests("/down", 3, 30000), "the failing attempts never came");
    cr_assert(it_eventually(iso_open, NULL, 30000), "the circuit never opened");
}

Test(worker_isolation, breaker_opens_reschedules_probes_and_closes) {
    wt_start_worker(brk_env);
    char *ids[4];
    iso_open_circuit(ids);
    char *v = iso_circuit();
    cr_assert_not_null(v);
    cr_expect_eq(atoi(v), 3, "failures in the shared circuit: %s", v);
    mem_free(v);
    /* while open: a new notification is rescheduled, its attempts unused */
    char *url = wt_url("/down");
    ids[3] = iso_enqueue(url);
    mem_free(url);
    cr_assert(it_eventually(iso_handed_back, ids[3], 30000), "not rescheduled while open");
    cr_expect_eq(wt_count("/down"), 3, "delivered while the circuit was open");
    cr_expect(it_eventually(iso_waiting, NULL, 30000), "the circuit does not count what waits");
    /* the destination recovers; the probe succeeds and closes the circuit */
    wt_control("{\"path\": \"/down\", \"default\": 200}");
    for (int i = 0; i < 4; i++)
        cr_assert(wt_wait_status(ids[i], "sent", 60000), "row %d not sent", i);
    cr_assert(it_eventually(iso_closed, NULL, 30000), "the circuit stayed open");
    /* one failed attempt each for the first three, the rest were never tried */
    for (int i = 0; i < 3; i++)
        cr_expect_eq(wt_attempts(ids[i]), 2);
    cr_expect_eq(wt_attempts(ids[3]), 1);
    cr_expect_eq(wt_count("/down"), 7, "3 failures and 4 deliveries");
    for (int i = 0; i < 4; i++)
        mem_free(ids[i]);
}

Test(worker_isolation, breaker_probe_failure_reopens_for_longer) {
    wt_start_worker(brk_env);
    char *ids[3];
    iso_open_circuit(ids);
    char *v = iso_circuit();
    long long open_ms = 0, x;
    cr_assert_eq(sscanf(v, "%lld %lld %lld %lld", &x, &x, &x, &open_ms), 4);
    cr_expect_eq(open_ms, 4000);
    mem_free(v);
    /* the probe fails: open again, twice as long */
    cr_assert(wt_wait_requests("/down", 4, 60000), "no probe");
    bool doubled = false;
    for (int tries = 0; tries < 500 && !doubled; tries++) {
        v = iso_circuit();
        doubled =
            v && sscanf(v, "%lld %lld %lld %lld", &x, &x, &x, &open_ms) == 4 && open_ms == 8000;
        mem_free(v);
        if (!doubled)
            usleep(20 * 1000);
    }
    cr_expect(doubled, "open time did not double after the failed probe");
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(wt_attempts(ids[i]) <= 2, 1);
        mem_free(ids[i]);
    }
}

Test(worker_isolation, breaker_survives_worker_restart) {
    wt_start_worker(brk_env);
    char *ids[4];
    iso_open_circuit(ids);
    cr_assert_eq(wt_stop_worker(0, SIGKILL, 5000), 128 + SIGKILL);
    /* a new worker knows the open circuit from Redis and does not deliver */
    wt_start_worker(brk_env);
    char *url = wt_url("/down");
    ids[3] = iso_enqueue(url);
    mem_free(url);
    cr_assert(it_eventually(iso_handed_back, ids[3], 30000), "delivered through an open circuit");
    cr_expect_eq(wt_count("/down"), 3);
    wt_control("{\"path\": \"/down\", \"default\": 200}");
    for (int i = 0; i < 4; i++) {
        cr_assert(wt_wait_status(ids[i], "sent", 60000), "row %d not sent", i);
        mem_free(ids[i]);
    }
    cr_assert(it_eventually(iso_closed, NULL, 30000), "the circuit stayed open");
}

/* iso_reopened: the failed probe opened the circuit again, for longer. */
static bool iso_reopened(void *arg) {
    (void)arg;
    char *v = iso_circuit();
    long long x, open_ms = 0;
    bool ok = v && sscanf(v, "%lld %lld %lld %lld", &x, &x, &x, &open_ms) == 4 && open_ms == 8000;
    mem_free(v);
    return ok;
}

Test(worker_isolation, one_probe_for_all_of_a_channels_workers) {
    wt_start_worker(brk_env);
    char *ids[3];
    iso_open_circuit(ids);
    /* a second worker knows the open circuit from Redis; both hold work for it */
    wt_start_worker(brk_env);
    char *url = wt_url("/down");
    char *more[6];
    for (int i = 0; i < 6; i++)
        more[i] = iso_enqueue(url);
    mem_free(url);
    cr_assert(it_eventually(iso_handed_back, more[5], 30000), "not held back while open");
    int before = wt_count("/down");
    /* half-open on both at once: one of them probes (it fails: 503) */
    cr_assert(wt_wait_requests("/down", before + 1, 60000), "no probe");
    cr_assert(it_eventually(iso_reopened, NULL, 30000), "the failed probe did not reopen it");
    /* longer than the others need to read it open again, well inside the
     * 8 s it stays open: a second probe would have come by now */
    usleep(3000 * 1000);
    cr_expect_eq(wt_count("/down"), before + 1, "probes in one half-open period");
    for (int i = 0; i < 3; i++)
        mem_free(ids[i]);
    for (int i = 0; i < 6; i++)
        mem_free(more[i]);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void iso_times(const char *path, double *t, int n) {
    struct json_object *reqs = wt_requests(path);
    cr_assert_eq((int)json_object_array_length(reqs), n, "%s: %zu requests, want %d", path,
                 json_object_array_length(reqs), n);
    for (int i = 0; i < n; i++)
        t[i] = wt_time_of(reqs, (size_t)i);
    json_object_put(reqs);
    qsort(t, (size_t)n, sizeof(double), cmp_double);
}

Test(worker_isolation, slow_destination_does_not_delay_another) {
    /* concurrency 8: one destination runs at most 4 and queues 4; the rest of
     * its work is handed back, so the stream keeps moving for the other */
    const char *env[] = {"HERALD_DELIVERY_TIMEOUT_MS=5000", "HERALD_VISIBILITY_TIMEOUT_MS=8000",
                         NULL};
    wt_control("{\"path\": \"/slow\", \"delay_ms\": 1500}");
    enum { NSLOW = 24, NFAST = 6 };
    char *slow[NSLOW], *fast[NFAST];
    char *surl = wt_url("/slow");
    for (int i = 0; i < NSLOW; i++)
        slow[i] = iso_enqueue(surl);
    mem_free(surl);
    char furl[96];
    snprintf(furl, sizeof(furl), "http://localhost:%d/fast", wt.port);
    for (int i = 0; i < NFAST; i++)
        fast[i] = iso_enqueue(furl);
    wt_start_worker(env);
    for (int i = 0; i < NFAST; i++)
        cr_assert(wt_wait_status(fast[i], "sent", 60000), "fast %d not sent", i);
    for (int i = 0; i < NSLOW; i++)
        cr_assert(wt_wait_status(slow[i], "sent", 120000), "slow %d not sent", i);
    /* every fast one arrived before the slow destination's second round began */
    double ts[NSLOW], tf[NFAST];
    iso_times("/slow", ts, NSLOW);
    iso_times("/fast", tf, NFAST);
    for (int i = 0; i < NFAST; i++)
        cr_expect_lt(tf[i], ts[4], "fast %d came after the slow destination's first round", i);
    /* nothing lost or delivered twice; handing back used no attempts */
    for (int i = 0; i < NSLOW; i++) {
        cr_expect_eq(wt_attempts(slow[i]), 1);
        mem_free(slow[i]);
    }
    for (int i = 0; i < NFAST; i++)
        mem_free(fast[i]);
}

static bool iso_some_handed_back(void *arg) {
    (void)arg;
    return wt_int("SELECT count(*) FROM notifications WHERE status = 'pending' AND NOT in_stream"
                  " AND lease_owner IS NULL AND due_at > now() AND attempts = 0"
                  " AND recipient LIKE $1",
                  "%/slow") > 0;
}

Test(worker_isolation, handed_back_work_survives_sigkill) {
    /* a worker killed while it hands a slow destination's surplus back
     * loses nothing: every notification is delivered by the next one */
    const char *env[] = {"HERALD_DELIVERY_TIMEOUT_MS=5000", "HERALD_VISIBILITY_TIMEOUT_MS=8000",
                         NULL};
    wt_control("{\"path\": \"/slow\", \"delay_ms\": 1000}");
    enum { N = 24 };
    char *ids[N];
    char *url = wt_url("/slow");
    for (int i = 0; i < N; i++)
        ids[i] = iso_enqueue(url);
    mem_free(url);
    wt_start_worker(env);
    cr_assert(it_eventually(iso_some_handed_back, NULL, 30000), "nothing was handed back");
    cr_assert_eq(wt_stop_worker(0, SIGKILL, 5000), 128 + SIGKILL);
    wt_start_worker(env);
    for (int i = 0; i < N; i++)
        cr_assert(wt_wait_status(ids[i], "sent", 120000), "row %d lost", i);
    /* each was received; only those cut off by the kill can have come twice */
    struct json_object *reqs = wt_requests("/slow");
    size_t n = json_object_array_length(reqs);
    cr_expect_geq(n, (size_t)N);
    cr_expect_leq(n, (size_t)N + 8, "%zu requests: more than the 8 the kill could cut off", n);
    for (int i = 0; i < N; i++) {
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++) {
            struct json_object *h =
                json_object_object_get(json_object_array_get_idx(reqs, k), "headers");
            const char *wid = wt_str(h, "webhook-id");
            seen = wid && strstr(wid, ids[i]);
        }
        cr_expect(seen, "row %d never reached the receiver", i);
        mem_free(ids[i]);
    }
    json_object_put(reqs);
}
