/* it_security: threats from SECURITY.md that no other suite covers: webhook
 * signatures checked by the Standard Webhooks reference verifier (npm
 * standardwebhooks), destinations named by a hostname that resolves to a
 * private address, and SQL metacharacters in every field. */
#include "support/itapi.h"
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
    char key[128];
    it_add_key("acme", false, key, sizeof(key));
    struct it_api api;
    it_api_start_with(&api, NULL);
    const char *body = "{\"channel\":\"email\",\"recipient\":\"o'hara@example.com\","
                       "\"subject\":\"'); DROP TABLE notifications; --\","
                       "\"body\":\"\\\\x00 ' OR 1=1 --\",\"metadata\":{\"k\":\"$1 $$ '\"}}";
    struct it_resp r = it_api_call(&api, "POST", "/v1/notifications", key, body);
    cr_expect_eq(r.status, 201, "%s", r.body);
    it_resp_free(&r);
    it_expect_value("'); DROP TABLE notifications; --", "select subject from notifications", NULL);
    r = it_api_call(&api, "GET", "/v1/notifications?recipient=%27%20OR%201%3D1%20--", key, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"data\":[],\"next_cursor\":null}");
    it_resp_free(&r);
    it_kill(api.pid, SIGTERM);
    it_wait_exit(api.pid, 20000);
}
