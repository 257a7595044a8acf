/* it_cost: a request's rate-limit cost grows with what it makes the API do
 * (issue 16, point 3): a token per started KiB of body, a batch at least its
 * number of notifications; and a key sending requests built to be expensive
 * at its full rate leaves /healthz answering. Times are reported, never
 * asserted. */
#include "support/itapi.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct it_api api;
static int api_port;
static char key[128];

static void setup(void) {
    it_fresh_stack();
    it_make_key("acme", false, key, sizeof(key));
    api.pid = 0;
}

/* start_api: herald-api with the key's bucket refilled at rate per second,
 * holding at most burst tokens. */
static void start_api(int rate, int burst) {
    char r[64], b[64];
    snprintf(r, sizeof(r), "HERALD_RATE_LIMIT_PER_SEC=%d", rate);
    snprintf(b, sizeof(b), "HERALD_RATE_LIMIT_BURST=%d", burst);
    const char *env[] = {r, b, NULL};
    it_api_start(&api, env);
    api_port = api.port;
}

static void teardown(void) {
    if (api.pid > 0)
        it_api_stop(&api);
}

TestSuite(cost, .init = setup, .fini = teardown, .timeout = 240);

/* expensive: one notification whose metadata is an array of n zeros: every
 * value is parsed, the notification is refused (metadata over 16 KiB). */
static char *expensive(size_t n, size_t *len) {
    struct buf b = {0};
    buf_puts(&b, "{\"notifications\":[{\"channel\":\"webhook\",\"recipient\":"
                 "\"https://hooks.example.com/x\",\"body\":\"x\",\"metadata\":{\"a\":[");
    for (size_t i = 0; i < n; i++)
        buf_puts(&b, i ? ",0" : "0");
    buf_puts(&b, "]}}]}");
    *len = b.len;
    return buf_steal(&b);
}

struct posted {
    long status;
    long remaining;
    long retry_after;
};

static struct posted post(const char *path, const char *body, size_t len) {
    char url[96], auth[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", api_port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct it_resp r = it_http("POST", url, h, body, len);
    struct posted p = {.status = r.status, .remaining = -1, .retry_after = 0};
    char *rem = it_header(&r, "RateLimit-Remaining"), *ra = it_header(&r, "Retry-After");
    if (rem)
        p.remaining = atol(rem);
    if (ra)
        p.retry_after = atol(ra);
    mem_free(rem);
    mem_free(ra);
    it_resp_free(&r);
    return p;
}

static const char small[] =
    "{\"channel\":\"webhook\",\"recipient\":\"https://hooks.example.com/x\",\"body\":\"hi\"}";

Test(cost, test_issue_16_expensive_requests_cost_more) {
    start_api(1000, 2000);
    /* a small create: one token */
    struct posted a = post("/v1/notifications", small, strlen(small));
    cr_assert_eq(a.status, 201, "status %ld", a.status);
    struct posted b = post("/v1/notifications", small, strlen(small));
    cr_assert_eq(b.status, 201);
    cr_expect_leq(a.remaining - b.remaining, 1, "a small create cost %ld",
                  a.remaining - b.remaining);
    /* 240,000 values in about 470 KiB: at least 470 tokens, though it stores nothing */
    size_t len;
    char *doc = expensive(240000, &len);
    long kib = (long)((len + 1023) / 1024);
    struct posted c = post("/v1/notifications/batch", doc, len);
    cr_expect_eq(c.status, 422, "status %ld", c.status);
    cr_expect_geq(b.remaining - c.remaining, kib * 9 / 10, "a %ld KiB batch cost %ld tokens", kib,
                  b.remaining - c.remaining);
    mem_free(doc);
    /* more values than a batch may hold: refused while parsing */
    doc = expensive(300000, &len);
    struct posted d = post("/v1/notifications/batch", doc, len);
    cr_expect(d.status == 413 || d.status == 429, "status %ld", d.status);
    mem_free(doc);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* one key sends expensive batches as fast as its limit lets it; /healthz
 * keeps answering (its latency percentiles are logged for the report). The
 * limit is low enough that the sender meets it whatever the build's speed
 * (sanitizers make every request several times slower). */
Test(cost, healthz_while_one_key_sends_expensive_requests_at_its_full_rate) {
    start_api(200, 1000);
    size_t len;
    char *doc = expensive(240000, &len);
    int64_t until = util_mono_ms() + 6000;
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int sent = 0, limited = 0;
        while (util_mono_ms() < until) {
            struct posted p = post("/v1/notifications/batch", doc, len);
            sent++;
            if (p.status == 429) {
                limited++;
                usleep((useconds_t)(p.retry_after > 0 ? 200 : 50) * 1000);
            }
        }
        fprintf(stderr, "expensive sender: %d requests, %d refused with 429\n", sent, limited);
        _exit(sent > 0 && limited > 0 ? 0 : 1);
    }
    static long ms[100000];
    size_t n = 0, ok = 0;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", api_port);
    while (util_mono_ms() < until && n < HD_ARRAY_LEN(ms)) {
        int64_t t0 = util_mono_ms();
        struct it_resp r = it_http("GET", url, NULL, NULL, 0);
        ms[n++] = (long)(util_mono_ms() - t0);
        ok += r.status == 200;
        it_resp_free(&r);
        usleep(5000);
    }
    int st = 0;
    waitpid(child, &st, 0);
    mem_free(doc);
    qsort(ms, n, sizeof(ms[0]), cmp_long);
    cr_log_info("/healthz under expensive requests: %zu probes, p50 %ld ms, p90 %ld ms, p99 %ld "
                "ms, max %ld ms",
                n, ms[n / 2], ms[n * 9 / 10], ms[n * 99 / 100], ms[n - 1]);
    fprintf(stderr,
            "/healthz under expensive requests: %zu probes, p50 %ld ms, p90 %ld ms, p99 %ld ms, "
            "max %ld ms\n",
            n, ms[n / 2], ms[n * 9 / 10], ms[n * 99 / 100], ms[n - 1]);
    cr_expect_eq(ok, n, "%zu of %zu /healthz probes answered 200", ok, n);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the sender was never limited: the cost is not charged");
}
