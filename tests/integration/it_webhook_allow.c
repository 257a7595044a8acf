/* it_webhook_allow: HERALD_WEBHOOK_ALLOW with a real worker and real connections on loopback
 * addresses (127.0.0.x are all local on Linux): what it lists is delivered, every other private
 * address is refused before any byte is sent, and link-local addresses are refused whatever the
 * settings say (169.254.x and fe80:: cannot be reached here; the refusal comes first, so the test
 * asserts it and its last_error). Also: a bad value stops start-up with one line naming it. */
#include "support/itworker.h"

TestSuite(webhook_allow, .init = wt_setup, .fini = wt_teardown, .timeout = 240);

#define AW_MAX_RECEIVERS 4

static pid_t aw_receivers[AW_MAX_RECEIVERS];
static int aw_nreceivers;

/* aw_receiver: one more webhook receiver stand-in on host (a loopback
 * address) and a free port, which it returns. */
static int aw_receiver(const char *host) {
    int port = it_free_port();
    char where[64], script[1024], health[128];
    snprintf(where, sizeof(where), "%s:%d", host, port);
    snprintf(script, sizeof(script), "%s/tests/receivers/webhook_receiver.py", HERALD_SOURCE_DIR);
    const char *argv[] = {"python3", script, where, NULL};
    cr_assert_lt(aw_nreceivers, AW_MAX_RECEIVERS);
    aw_receivers[aw_nreceivers++] = it_spawn(argv, NULL);
    snprintf(health, sizeof(health), "http://%s/_health", where);
    cr_assert(it_wait_http_ok(health, 10000), "receiver on %s did not start", where);
    return port;
}

static void aw_stop_receivers(void) {
    for (int i = 0; i < aw_nreceivers; i++) {
        it_kill(aw_receivers[i], SIGKILL);
        it_wait_exit(aw_receivers[i], 5000);
    }
    aw_nreceivers = 0;
}

/* aw_count: requests a receiver at host:port got on path. */
static int aw_count(const char *host, int port, const char *path) {
    char url[256];
    snprintf(url, sizeof(url), "http://%s:%d/_requests?path=%s", host, port, path);
    struct it_resp r = it_http("GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200, "%s", url);
    struct json_object *a = json_tokener_parse(r.body);
    cr_assert(a && json_object_is_type(a, json_type_array));
    int n = (int)json_object_array_length(a);
    json_object_put(a);
    it_resp_free(&r);
    return n;
}

/* aw_enqueue: a webhook notification to url, stored and enqueued as the API
 * does it. Returns its id (mem_free). */
static char *aw_enqueue(const char *url) {
    return wt_enqueue_row("webhook", url, NULL, "{}", NULL);
}

/* aw_expect_refused: id ends failed after one attempt, its last_error
 * holding each of the NULL-terminated words. */
static void aw_expect_refused(const char *id, const char *url, const char *const words[]) {
    cr_assert(wt_wait_status(id, "failed", 30000), "%s was not refused", url);
    char *err = wt_field(id, "last_error");
    for (int i = 0; words[i]; i++)
        cr_expect(err && strstr(err, words[i]), "%s: last_error \"%s\" lacks \"%s\"", url, err,
                  words[i]);
    cr_expect_eq(wt_attempts(id), 1, "%s", url);
    mem_free(err);
}

Test(webhook_allow, test_issue_15_the_list_lets_through_only_what_it_names) {
    int exact = wt.port;                  /* 127.0.0.1:exact is listed */
    int other = aw_receiver("127.0.0.1"); /* same address, other port: not listed */
    int second = aw_receiver("127.0.0.2");
    int cidr = aw_receiver("127.0.0.3");  /* 127.0.0.3/32 is listed */
    int named = aw_receiver("127.0.0.1"); /* listed as localhost:named only */
    char allow[256];
    snprintf(allow, sizeof(allow), "HERALD_WEBHOOK_ALLOW=127.0.0.1:%d, 127.0.0.3/32,localhost:%d",
             exact, named);
    const char *env[] = {"HERALD_WEBHOOK_ALLOW_PRIVATE=false", allow, NULL};
    wt_start_worker(env);

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/exact", exact);
    char *ok_exact = aw_enqueue(url);
    snprintf(url, sizeof(url), "http://127.0.0.3:%d/cidr", cidr);
    char *ok_cidr = aw_enqueue(url);
    snprintf(url, sizeof(url), "http://localhost:%d/named", named);
    char *ok_named = aw_enqueue(url);

    struct {
        char url[128];
        const char *host;
        int port;
        const char *addr;
        char *id;
    } refused[] = {
        {"", "127.0.0.1", other, "127.0.0.1", NULL}, /* listed address, other port */
        {"", "127.0.0.2", second, "127.0.0.2", NULL},
        {"", "127.0.0.1", named, "127.0.0.1", NULL}, /* listed by name, not by address */
        {"", "10.0.0.1", 80, "10.0.0.1", NULL},
        {"", "192.168.1.1", 8080, "192.168.1.1", NULL},
        {"", "172.16.0.1", 443, "172.16.0.1", NULL},
        {"", "100.64.0.1", 80, "100.64.0.1", NULL},
        {"", "[::1]", exact, "::1", NULL},
    };
    for (size_t i = 0; i < HD_ARRAY_LEN(refused); i++) {
        snprintf(refused[i].url, sizeof(refused[i].url), "http://%s:%d/refused", refused[i].host,
                 refused[i].port);
        refused[i].id = aw_enqueue(refused[i].url);
    }

    cr_expect(wt_wait_status(ok_exact, "sent", 30000), "the listed host:port was not delivered");
    cr_expect(wt_wait_status(ok_cidr, "sent", 30000), "the listed CIDR was not delivered");
    cr_expect(wt_wait_status(ok_named, "sent", 30000), "the listed name was not delivered");
    cr_expect_eq(aw_count("127.0.0.1", exact, "/exact"), 1);
    cr_expect_eq(aw_count("127.0.0.3", cidr, "/cidr"), 1);
    cr_expect_eq(aw_count("127.0.0.1", named, "/named"), 1);
    for (size_t i = 0; i < HD_ARRAY_LEN(refused); i++) {
        const char *words[] = {refused[i].addr, "HERALD_WEBHOOK_ALLOW", NULL};
        aw_expect_refused(refused[i].id, refused[i].url, words);
        mem_free(refused[i].id);
    }
    /* nothing reached the receivers that are not listed */
    cr_expect_eq(aw_count("127.0.0.1", other, "/refused"), 0);
    cr_expect_eq(aw_count("127.0.0.2", second, "/refused"), 0);
    cr_expect_eq(aw_count("127.0.0.1", named, "/refused"), 0);
    cr_expect_eq(aw_count("127.0.0.1", exact, "/refused"), 0);
    mem_free(ok_exact);
    mem_free(ok_cidr);
    mem_free(ok_named);
    aw_stop_receivers();
}

Test(webhook_allow, test_issue_15_link_local_is_refused_even_when_private_is_allowed) {
    int second = aw_receiver("127.0.0.2");
    /* every private address allowed, and every address listed as well */
    const char *env[] = {"HERALD_WEBHOOK_ALLOW_PRIVATE=true",
                         "HERALD_WEBHOOK_ALLOW=0.0.0.0/0,::/0,metadata.internal:80", NULL};
    wt_start_worker(env);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.2:%d/private", second);
    char *private_ok = aw_enqueue(url);
    const char *meta[] = {"http://169.254.169.254/latest/meta-data/", "http://169.254.0.1:8080/",
                          "http://[fe80::1]:80/", "http://[::ffff:169.254.169.254]/"};
    const char *addr[] = {"169.254.169.254", "169.254.0.1", "fe80::1", "169.254.169.254"};
    char *ids[HD_ARRAY_LEN(meta)];
    for (size_t i = 0; i < HD_ARRAY_LEN(meta); i++)
        ids[i] = aw_enqueue(meta[i]);
    cr_expect(wt_wait_status(private_ok, "sent", 30000), "a private address was not delivered");
    cr_expect_eq(aw_count("127.0.0.2", second, "/private"), 1);
    for (size_t i = 0; i < HD_ARRAY_LEN(meta); i++) {
        /* the mapped form may be printed either way */
        const char *words[] = {strchr(addr[i], ':') ? addr[i] : "169.254.", "link-local",
                               "always refused", NULL};
        aw_expect_refused(ids[i], meta[i], words);
        mem_free(ids[i]);
    }
    mem_free(private_ok);
    aw_stop_receivers();
}

/* aw_start_fails: prog with HERALD_WEBHOOK_ALLOW=value exits 3 at once, its
 * stderr one line naming the variable and says. */
static void aw_start_fails(const char *prog, const char *value, const char *says) {
    char setting[256];
    snprintf(setting, sizeof(setting), "HERALD_WEBHOOK_ALLOW=%s", value);
    const char *env[] = {setting, NULL};
    const char *worker[] = {prog, "--channel", "webhook", NULL};
    const char *api[] = {prog, NULL};
    pid_t pid = it_spawn(strcmp(prog, "herald-worker") == 0 ? worker : api, env);
    int st = it_wait_exit(pid, 20000);
    cr_expect_eq(st, 3, "%s with HERALD_WEBHOOK_ALLOW=%s exited %d", prog, value, st);
    char *path = it_log_path(prog, pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[512] = "", extra[16] = "";
    cr_expect_not_null(fgets(line, sizeof(line), f));
    cr_expect_null(fgets(extra, sizeof(extra), f), "more than one line: %s%s", line, extra);
    fclose(f);
    mem_free(path);
    cr_expect(strstr(line, "HERALD_WEBHOOK_ALLOW:"), "%s", line);
    cr_expect(strstr(line, says), "\"%s\" lacks \"%s\"", line, says);
}

Test(webhook_allow, test_issue_15_a_bad_value_stops_start_up) {
    aw_start_fails("herald-worker", "169.254.169.254:80", "link-local");
    aw_start_fails("herald-worker", "127.0.0.1", "expected host:port");
    aw_start_fails("herald-worker", "10.0.0.1/8", "host bits");
    aw_start_fails("herald-api", "127.0.0.1:99999", "port");
    aw_stop_receivers();
}
