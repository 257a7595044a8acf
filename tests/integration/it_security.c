/* it_security: threats from SECURITY.md that no other suite covers: webhook
 * signatures checked by the Standard Webhooks reference verifier (npm
 * standardwebhooks), destinations named by a hostname that resolves to a
 * private address, and SQL metacharacters in every field. */
#include "support/itworker.h"

TestSuite(security, .init = wt_setup, .fini = wt_teardown, .timeout = 180);

Test(security, standard_webhooks_verifier_accepts_signatures) {
    wt_start_worker(NULL);
    for (int i = 0; i < 3; i++)
        mem_free(wt_enqueue("/hooks/std", "{\"n\":1}"));
    cr_assert(wt_wait_requests("/hooks/std", 3, 30000));
    cr_expect_eq(wt_verify_with_npm("/hooks/std", wt.secret), 0);
    /* during a rotation every signature header carries both; either secret verifies */
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(200 - i);
    char fresh[80];
    wt_rotate_secret(key, fresh, sizeof(fresh));
    wt_stop_worker(0, SIGTERM, 20000); /* a fresh worker reads the new secret at once */
    wt_start_worker(NULL);
    mem_free(wt_enqueue("/hooks/rot", "{\"n\":2}"));
    cr_assert(wt_wait_requests("/hooks/rot", 1, 30000));
    cr_expect_eq(wt_verify_with_npm("/hooks/rot", fresh), 0, "new secret");
    cr_expect_eq(wt_verify_with_npm("/hooks/rot", wt.secret), 0, "old secret during the grace");
    cr_expect_neq(wt_verify_with_npm("/hooks/std", fresh), 0, "a wrong secret is refused");
}

Test(security, hostname_resolving_to_loopback_is_refused) {
    const char *env[] = {"HERALD_WEBHOOK_ALLOW_PRIVATE=false", NULL};
    wt_start_worker(env);
    char url[128];
    snprintf(url, sizeof(url), "http://localhost:%d/hooks/rebind", wt.port);
    char *id = wt_enqueue_row("webhook", url, NULL, "x", NULL);
    cr_assert(wt_wait_status(id, "failed", 30000));
    char *err = wt_field(id, "last_error");
    cr_expect(err && (strstr(err, "127.0.0.1") || strstr(err, "::1")), "last_error: %s", err);
    cr_expect_eq(wt_count("/hooks/rebind"), 0, "nothing reached the receiver");
    mem_free(err);
    mem_free(id);
}

Test(security, sql_metacharacters_are_data) {
    int code;
    const char *kc[] = {"heraldctl", "keys", "create", "--tenant", "acme", NULL};
    char *key = it_run_capture(kc, NULL, &code);
    cr_assert_eq(code, 0);
    key[strcspn(key, "\n")] = '\0';
    int port = it_free_port();
    char listen[64];
    snprintf(listen, sizeof(listen), "HERALD_LISTEN=127.0.0.1:%d", port);
    const char *env[] = {listen, NULL};
    const char *argv[] = {"herald-api", NULL};
    pid_t api = it_spawn(argv, env);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    cr_assert(it_wait_http_ok(url, 20000));
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    const char *body = "{\"channel\":\"email\",\"recipient\":\"o'hara@example.com\","
                       "\"subject\":\"'); DROP TABLE notifications; --\","
                       "\"body\":\"\\\\x00 ' OR 1=1 --\",\"metadata\":{\"k\":\"$1 $$ '\"}}";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/notifications", port);
    struct it_resp r = it_http("POST", url, h, body, strlen(body));
    cr_expect_eq(r.status, 201, "%s", r.body);
    it_resp_free(&r);
    it_expect_value("'); DROP TABLE notifications; --", "select subject from notifications", NULL);
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%d/v1/notifications?recipient=%%27%%20OR%%201%%3D1%%20--", port);
    const char *g[] = {auth, NULL};
    r = it_http("GET", url, g, NULL, 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"data\":[],\"next_cursor\":null}");
    it_resp_free(&r);
    it_kill(api, SIGTERM);
    it_wait_exit(api, 20000);
    mem_free(key);
}
