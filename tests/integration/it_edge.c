/* it_edge: the HTTP edge of herald-api on the wire (issue 16): one framing
 * per request, nothing read before the key is checked, exact parsing of
 * heads, paths and query strings. Raw sockets, so the bytes are exactly
 * the ones a hostile client or a confused proxy would send. */
#include "support/itapi.h"
#include "support/rawhttp.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 10000

static struct it_api api;
static int api_port;
static char key[128], admin_key[128];

static void start_api(const char *const extra[]) {
    it_api_start_plus(&api, "HERALD_HTTP_READ_TIMEOUT_MS=3000", extra);
    api_port = api.port;
}

static void setup(void) {
    it_fresh_stack();
    it_make_key("acme", false, key, sizeof(key));
    it_make_key("ops", true, admin_key, sizeof(admin_key));
    api.pid = 0;
}

static void teardown(void) {
    if (api.pid > 0)
        it_api_stop(&api);
}

TestSuite(edge, .init = setup, .fini = teardown, .timeout = 180);

static const char email[] =
    "{\"channel\":\"email\",\"recipient\":\"ada@example.com\",\"subject\":\"Hi\",\"body\":\"x\"}";

/* post_head: the head of an authenticated (auth: key, or NULL) JSON POST. */
static void post_head(char *out, size_t n, const char *path, const char *auth, size_t len,
                      const char *extra) {
    snprintf(out, n,
             "POST %s HTTP/1.1\r\nHost: herald\r\n%s%s%sContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n%s\r\n",
             path, auth ? "Authorization: Bearer " : "", auth ? auth : "", auth ? "\r\n" : "", len,
             extra ? extra : "");
}

/* one_answer: sends raw on a new connection; the first answer. */
static struct rh_resp one_answer(const char *raw, size_t n, struct rh_conn *c) {
    rh_open(c, api_port);
    cr_assert(rh_send(c, raw, n));
    return rh_read(c, false, WAIT_MS);
}

static char *create_one(void) {
    char url[96], auth[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/notifications", api_port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct it_resp r = it_http("POST", url, h, email, strlen(email));
    cr_assert_eq(r.status, 201, "%s", r.body);
    char *id = mem_strndup(strstr(r.body, "\"id\":\"") + 6, 36);
    it_resp_free(&r);
    return id;
}

/* ---- smuggling (issue 16, point 1) ---- */

/* Content-Length: 0 then 34: the body used to run as a second request */
Test(edge, test_issue_16_conflicting_lengths_are_refused_and_closed) {
    start_api(NULL);
    char raw[1024];
    const char *second = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    snprintf(raw, sizeof(raw),
             "POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 0\r\nContent-Length: %zu\r\n\r\n%s",
             key, strlen(second), second);
    struct rh_conn c;
    struct rh_resp r = one_answer(raw, strlen(raw), &c);
    cr_expect_eq(r.status, 400, "status %d", r.status);
    cr_expect(rh_closed(&c, WAIT_MS), "the connection stays open or a second answer came");
    rh_resp_free(&r);
    rh_close(&c);
    /* the same with both values in one field */
    snprintf(
        raw, sizeof(raw),
        "POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nContent-Length: 0, 5\r\n\r\nabcde");
    r = one_answer(raw, strlen(raw), &c);
    cr_expect_eq(r.status, 400);
    cr_expect(rh_closed(&c, WAIT_MS));
    rh_resp_free(&r);
    rh_close(&c);
}

Test(edge, test_issue_16_unknown_transfer_coding_is_501) {
    start_api(NULL);
    const char *raw = "POST /v1/notifications HTTP/1.1\r\nHost: herald\r\n"
                      "Transfer-Encoding: xchunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n";
    struct rh_conn c;
    struct rh_resp r = one_answer(raw, strlen(raw), &c);
    cr_expect_eq(r.status, 501, "status %d", r.status);
    cr_expect(rh_closed(&c, WAIT_MS));
    rh_resp_free(&r);
    rh_close(&c);
    /* chunked together with a length: 400, and nothing after it is read */
    raw = "POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nTransfer-Encoding: chunked\r\n"
          "Content-Length: 3\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    r = one_answer(raw, strlen(raw), &c);
    cr_expect_eq(r.status, 400);
    cr_expect(rh_closed(&c, WAIT_MS));
    rh_resp_free(&r);
    rh_close(&c);
}

/* a chunked body is read by the edge and handed on whole */
Test(edge, chunked_body_is_accepted_and_bounded) {
    start_api(NULL);
    char raw[2048], head[512];
    snprintf(head, sizeof(head),
             "POST /v1/notifications HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
             key);
    snprintf(raw, sizeof(raw), "%s10;ext=1\r\n%.16s\r\n%zx\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n",
             head, email, strlen(email) - 16, email + 16);
    struct rh_conn c;
    struct rh_resp r = one_answer(raw, strlen(raw), &c);
    cr_expect_eq(r.status, 201, "%d %s", r.status, r.body ? r.body : "");
    rh_resp_free(&r);
    /* the connection carries on */
    cr_assert(rh_sends(&c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 200);
    rh_resp_free(&r);
    rh_close(&c);
    /* a chunk beyond the route's 64 KiB: the API's own 413, then close */
    rh_open(&c, api_port);
    cr_assert(rh_sends(&c, head));
    cr_assert(rh_sends(&c, "11000\r\n"));
    r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 413);
    cr_expect(r.body && strstr(r.body, "payload_too_large"), "%s", r.body ? r.body : "");
    rh_resp_free(&r);
    rh_close(&c);
}

/* ---- nothing expensive before authentication (point 2) ---- */

Test(edge, test_issue_16_unauthenticated_body_is_refused_before_it_is_sent) {
    start_api(NULL);
    char head[512];
    post_head(head, sizeof(head), "/v1/notifications/batch", NULL, 2 * 1024 * 1024, NULL);
    struct rh_conn c;
    rh_open(&c, api_port);
    cr_assert(rh_sends(&c, head));
    /* no byte of the body is sent: the answer must come anyway */
    struct rh_resp r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 401, "status %d", r.status);
    char *conn = rh_header(&r, "Connection");
    cr_expect(conn && strcasecmp(conn, "close") == 0, "Connection: %s", conn ? conn : "(none)");
    cr_expect(rh_closed(&c, WAIT_MS));
    mem_free(conn);
    rh_resp_free(&r);
    rh_close(&c);
    /* with Expect: 100-continue, no 100 comes for it either */
    post_head(head, sizeof(head), "/v1/notifications",
              "hk_0123456789abcdef_0123456789abcdefghijklmnopqrstuvwxyzABCDEFA", 100,
              "Expect: 100-continue\r\n");
    rh_open(&c, api_port);
    cr_assert(rh_sends(&c, head));
    r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 401, "status %d", r.status);
    rh_resp_free(&r);
    rh_close(&c);
}

Test(edge, expect_continue_then_body) {
    start_api(NULL);
    char head[512];
    post_head(head, sizeof(head), "/v1/notifications", key, strlen(email),
              "Expect: 100-continue\r\n");
    struct rh_conn c;
    rh_open(&c, api_port);
    cr_assert(rh_sends(&c, head));
    struct rh_resp r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 100);
    rh_resp_free(&r);
    cr_assert(rh_sends(&c, email));
    r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 201, "%d", r.status);
    rh_resp_free(&r);
    rh_close(&c);
}

/* a short body of a refused request is skipped: the connection stays usable */
Test(edge, refused_short_body_keeps_the_connection) {
    start_api(NULL);
    char head[512];
    post_head(head, sizeof(head), "/v1/notifications",
              "hk_0123456789abcdef_0123456789abcdefghijklmnopqrstuvwxyzABCDEFA", strlen(email),
              NULL);
    struct rh_conn c;
    rh_open(&c, api_port);
    cr_assert(rh_sends(&c, head) && rh_sends(&c, email));
    cr_assert(rh_sends(&c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    struct rh_resp r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 401);
    rh_resp_free(&r);
    r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 200);
    rh_resp_free(&r);
    rh_close(&c);
}

static long status_kib(const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)api.pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    cr_assert_geq(v, 0, "no %s in %s", field, path);
    return v;
}

#define FLOOD_CONNS 150
#define FLOOD_BODY (1024 * 1024)

/* 150 connections each sending a head and 1 MiB of an unauthenticated 2 MiB
 * body: the API's resident memory must not grow by the bodies (it did, by
 * about 220 MiB) */
Test(edge, test_issue_16_memory_bounded_under_unauthenticated_bodies) {
    /* AddressSanitizer keeps freed memory aside (its quarantine): keep that
     * small so resident memory shows what the API holds, not what it freed */
    const char *env[] = {"ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=4",
                         "HERALD_HTTP_READ_TIMEOUT_MS=10000", NULL};
    start_api(env);
    long before = status_kib("VmRSS");
    static struct rh_conn c[FLOOD_CONNS];
    static size_t sent[FLOOD_CONNS];
    char head[512];
    post_head(head, sizeof(head), "/v1/notifications/batch", NULL, 2 * 1024 * 1024, NULL);
    char *chunk = mem_calloc(1, 65536);
    memset(chunk, '[', 65536);
    for (int i = 0; i < FLOOD_CONNS; i++) {
        rh_open(&c[i], api_port);
        cr_assert(rh_sends(&c[i], head));
    }
    /* push body bytes without blocking for up to 4 s, as fast as the API takes them */
    for (int round = 0; round < 400; round++) {
        bool more = false;
        for (int i = 0; i < FLOOD_CONNS; i++) {
            if (sent[i] >= FLOOD_BODY || c[i].fd < 0)
                continue;
            ssize_t w = send(c[i].fd, chunk, 65536, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                sent[i] += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                sent[i] = FLOOD_BODY; /* closed by the API: fine */
            more = more || sent[i] < FLOOD_BODY;
        }
        if (!more)
            break;
        poll(NULL, 0, 10);
    }
    long during = status_kib("VmRSS"), peak = status_kib("VmHWM");
    size_t total = 0;
    for (int i = 0; i < FLOOD_CONNS; i++)
        total += sent[i];
    cr_log_info("resident memory: %ld KiB before, %ld KiB with %d connections that sent %zu KiB "
                "of bodies, peak %ld KiB",
                before, during, FLOOD_CONNS, total / 1024, peak);
    /* generous: the connections themselves, sockets' buffers and allocator
     * slack, far below the 150 MiB the bodies would take */
    cr_expect_lt(during - before, 48 * 1024, "grew by %ld KiB", during - before);
    /* every one of them got its answer */
    int answered = 0;
    for (int i = 0; i < FLOOD_CONNS; i++) {
        struct rh_resp r = rh_read(&c[i], false, WAIT_MS);
        if (r.status == 401 || r.status == 429)
            answered++;
        rh_resp_free(&r);
        rh_close(&c[i]);
    }
    cr_expect_eq(answered, FLOOD_CONNS);
    mem_free(chunk);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", api_port);
    cr_expect(it_wait_http_ok(url, 5000));
}

static long metric(const char *name) {
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", api_port);
    struct it_resp r = it_http("GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    char pat[128];
    snprintf(pat, sizeof(pat), "\n%s ", name);
    const char *p = strstr(r.body, pat);
    long v = p ? strtol(p + strlen(pat), NULL, 10) : -1;
    it_resp_free(&r);
    return v;
}

/* budget_taken: at least *arg bytes of the body budget are reserved. */
static bool budget_taken(void *arg) {
    return metric("herald_http_body_buffer_bytes") >= *(long *)arg;
}

/* the bodies being received share one budget: beyond it, 503 before the body */
Test(edge, body_budget_refuses_before_the_body) {
    const char *env[] = {"HERALD_HTTP_BODY_BUFFER_MAX=65536", NULL};
    start_api(env);
    char head[512];
    post_head(head, sizeof(head), "/v1/notifications", key, 60000, NULL);
    struct rh_conn a, b;
    rh_open(&a, api_port);
    cr_assert(rh_sends(&a, head) && rh_sends(&a, "{"));
    long held = 60000; /* a holds 60000 bytes of the budget while it sends */
    cr_assert(it_eventually(budget_taken, &held, 10000), "a's body was never reserved");
    rh_open(&b, api_port);
    cr_assert(rh_sends(&b, head));
    struct rh_resp r = rh_read(&b, false, WAIT_MS);
    cr_expect_eq(r.status, 503, "status %d", r.status);
    char *ra = rh_header(&r, "Retry-After");
    cr_expect_not_null(ra);
    mem_free(ra);
    rh_resp_free(&r);
    rh_close(&b);
    /* a finishes (its body is no notification: 400), which frees the budget */
    char *rest = mem_alloc(60000);
    memset(rest, ' ', 59999);
    rest[59998] = '}';
    cr_assert(rh_send(&a, rest, 59999));
    r = rh_read(&a, false, WAIT_MS);
    cr_expect(r.status == 422 || r.status == 400, "status %d", r.status);
    rh_resp_free(&r);
    rh_close(&a);
    rh_open(&b, api_port);
    cr_assert(rh_sends(&b, head) && rh_send(&b, rest, 59999) && rh_sends(&b, " "));
    r = rh_read(&b, false, WAIT_MS);
    cr_expect(r.status == 422 || r.status == 400, "status %d", r.status);
    rh_resp_free(&r);
    rh_close(&b);
    mem_free(rest);
}

/* random key ids from one address: after its burst of failures, 429 without
 * a database lookup; a key known to be good still works */
Test(edge, test_issue_16_failed_authentications_are_limited_per_address) {
    const char *env[] = {"HERALD_AUTH_FAILURES_PER_SEC=1", "HERALD_AUTH_CACHE_MS=30000", NULL};
    start_api(env);
    struct rh_conn c;
    rh_open(&c, api_port);
    char req[512];
    snprintf(req, sizeof(req),
             "GET /v1/notifications HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n", key);
    cr_assert(rh_sends(&c, req));
    struct rh_resp r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 200);
    rh_resp_free(&r);
    long lookups_before = metric("herald_auth_lookups_total");
    int unauthorized = 0, limited = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(req, sizeof(req),
                 "GET /v1/notifications HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "
                 "hk_%016x_0123456789abcdefghijklmnopqrstuvwxyzABCDEFA\r\n\r\n",
                 (unsigned)(0x5eed0000 + i));
        cr_assert(rh_sends(&c, req));
        r = rh_read(&c, false, WAIT_MS);
        if (r.status == 401)
            unauthorized++;
        if (r.status == 429) {
            limited++;
            char *ra = rh_header(&r, "Retry-After");
            cr_expect(ra && atoi(ra) >= 1);
            mem_free(ra);
        }
        rh_resp_free(&r);
    }
    long lookups = metric("herald_auth_lookups_total") - lookups_before;
    cr_log_info("300 unknown keys: %d answered 401, %d answered 429, %ld database lookups",
                unauthorized, limited, lookups);
    cr_expect_eq(unauthorized + limited, 300);
    cr_expect_geq(limited, 250, "only %d refused as limited", limited);
    cr_expect_leq(lookups, 50, "%ld lookups for 300 unknown keys", lookups);
    /* the good key, cached, still passes from the same address */
    snprintf(req, sizeof(req),
             "GET /v1/notifications HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n", key);
    cr_assert(rh_sends(&c, req));
    r = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(r.status, 200, "%s%s", r.head ? r.head : "", r.body ? r.body : "");
    rh_resp_free(&r);
    rh_close(&c);
}

/* ---- exact parsing (point 4) ---- */

Test(edge, test_issue_16_head_answers_carry_no_body) {
    start_api(NULL);
    char *id = create_one();
    char raw[1024];
    snprintf(raw, sizeof(raw),
             "HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
             "HEAD /v1/notifications/%s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n"
             "GET /v1/notifications/%s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n",
             id, key, id, key);
    struct rh_conn c;
    rh_open(&c, api_port);
    cr_assert(rh_sends(&c, raw));
    struct rh_resp h1 = rh_read(&c, true, WAIT_MS);
    cr_expect_eq(h1.status, 200);
    char *cl = rh_header(&h1, "Content-Length");
    cr_expect(cl && strcmp(cl, "15") == 0, "Content-Length %s", cl ? cl : "(none)");
    mem_free(cl);
    struct rh_resp h2 = rh_read(&c, true, WAIT_MS);
    cr_expect_eq(h2.status, 200);
    char *cl2 = rh_header(&h2, "Content-Length");
    /* the next bytes are the GET's answer, not a body */
    struct rh_resp g = rh_read(&c, false, WAIT_MS);
    cr_expect_eq(g.status, 200, "the HEAD answer carried a body: %d", g.status);
    cr_expect(cl2 && (size_t)atol(cl2) == g.body_len, "HEAD says %s, GET has %zu bytes",
              cl2 ? cl2 : "(none)", g.body_len);
    cr_expect_eq(rh_pending(&c), 0);
    mem_free(cl2);
    rh_resp_free(&h1);
    rh_resp_free(&h2);
    rh_resp_free(&g);
    rh_close(&c);
    mem_free(id);
}

Test(edge, test_issue_16_control_characters_in_header_values_are_400) {
    start_api(NULL);
    char raw[1024];
    struct rh_conn c;
    /* a key followed by a NUL and junk used to authenticate */
    int n = snprintf(raw, sizeof(raw),
                     "GET /v1/notifications HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s", key);
    memcpy(raw + n, "\0junk\r\n\r\n", 9);
    struct rh_resp r = one_answer(raw, (size_t)n + 9, &c);
    cr_expect_eq(r.status, 400, "status %d", r.status);
    rh_resp_free(&r);
    rh_close(&c);
    /* Idempotency-Key K\0AAA and K\0BBB were the same key */
    const char *keys[] = {"K\0AAA", "K\0BBB"};
    for (int i = 0; i < 2; i++) {
        char head[512];
        post_head(head, sizeof(head), "/v1/notifications", key, strlen(email), NULL);
        size_t hl = strlen(head) - 2; /* before the final CRLF */
        memcpy(raw, head, hl);
        memcpy(raw + hl, "Idempotency-Key: ", 17);
        memcpy(raw + hl + 17, keys[i], 5);
        memcpy(raw + hl + 22, "\r\n\r\n", 4);
        memcpy(raw + hl + 26, email, strlen(email));
        r = one_answer(raw, hl + 26 + strlen(email), &c);
        cr_expect_eq(r.status, 400, "status %d", r.status);
        rh_resp_free(&r);
        rh_close(&c);
    }
    it_expect_value("0", "select count(*) from notifications", NULL);
    /* other control characters too, and obs-fold */
    const char *bad[] = {"GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n",
                         "GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: a\x7fz\r\n\r\n",
                         "GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n",
                         "GET /healthz HTTP/1.1\r\nHost: h\r\nX-A : a\r\n\r\n",
                         "GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
                         "GET /healthz HTTP/1.1\nHost: h\n\n",
                         "GET /healthz HTTP/1.1\r\n\r\n",
                         "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        r = one_answer(bad[i], strlen(bad[i]), &c);
        cr_expect_eq(r.status, 400, "case %d: status %d", i, r.status);
        rh_resp_free(&r);
        rh_close(&c);
    }
}

Test(edge, test_issue_16_encoded_slash_or_nul_in_the_path_is_404) {
    start_api(NULL);
    char *id = create_one();
    char raw[1024];
    /* each: before the id, after it */
    const char *paths[][2] = {{"/v1%2Fnotifications%2F", ""},
                              {"/v1/notifications/", "%00zzz"},
                              {"/v1/notifications%2F", ""},
                              {"/v1/notifications/", "%2Fattempts"}};
    for (size_t i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s%s%s", paths[i][0], id, paths[i][1]);
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n",
                 path, key);
        struct rh_conn c;
        struct rh_resp r = one_answer(raw, strlen(raw), &c);
        cr_expect_eq(r.status, 404, "%s: %d", path, r.status);
        rh_resp_free(&r);
        rh_close(&c);
    }
    /* the plain path still answers */
    snprintf(raw, sizeof(raw),
             "GET /v1/notifications/%s HTTP/1.1\r\nHost: h\r\n"
             "Authorization: Bearer %s\r\n\r\n",
             id, key);
    struct rh_conn c;
    struct rh_resp r = one_answer(raw, strlen(raw), &c);
    cr_expect_eq(r.status, 200);
    rh_resp_free(&r);
    rh_close(&c);
    mem_free(id);
}

/* get: a GET with a key; the answer. */
static struct it_resp get(const char *path, const char *k) {
    char url[512], auth[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", api_port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k);
    const char *h[] = {auth, NULL};
    return it_http("GET", url, h, NULL, 0);
}

static void expect_422_naming(const char *path, const char *k, const char *field) {
    struct it_resp r = get(path, k);
    cr_expect_eq(r.status, 422, "%s: %ld %s", path, r.status, r.body);
    char want[96];
    snprintf(want, sizeof(want), "\"field\":\"%s\"", field);
    cr_expect(strstr(r.body, want), "%s: %s does not name %s", path, r.body, field);
    it_resp_free(&r);
}

Test(edge, test_issue_16_query_parameters_are_exact) {
    start_api(NULL);
    /* one malformed pair used to drop every filter */
    expect_422_naming("/v1/notifications?status=failed&x", key, "x");
    /* a repeat used to take the first */
    expect_422_naming("/v1/notifications?limit=1&limit=abc", key, "limit");
    expect_422_naming("/v1/notifications?colour=red", key, "colour");
    expect_422_naming("/v1/notifications?status=%zz", key, "status");
    expect_422_naming("/v1/notifications?recipient=a%00b", key, "recipient");
    /* the admin dead-letter list returned every tenant's for ?tenant=beta&x */
    expect_422_naming("/v1/admin/dlq/email?tenant=beta&x", admin_key, "x");
    expect_422_naming("/v1/admin/queues?verbose=1", admin_key, "verbose");
    char *id = create_one();
    char path[128];
    snprintf(path, sizeof(path), "/v1/notifications/%s?expand=attempts", id);
    expect_422_naming(path, key, "expand");
    /* well-formed ones pass, '+' and escapes decoded */
    struct it_resp r =
        get("/v1/notifications?status=pending&limit=5&recipient=ada%40example.com", key);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(strstr(r.body, id), "%s", r.body);
    it_resp_free(&r);
    mem_free(id);
    /* outside /v1 a query string is not Herald's business */
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz?probe=1", api_port);
    r = it_http("GET", url, NULL, NULL, 0);
    cr_expect_eq(r.status, 200);
    it_resp_free(&r);
}
