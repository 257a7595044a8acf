/* test_retry: the backoff schedule and Retry-After parsing. */
#include "common/retry.h"

#include <criterion/criterion.h>

TestSuite(retry);

Test(retry, backoff_schedule_with_defaults) {
    /* API.md: about 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h, 10 h, 10 h */
    const int64_t want[] = {5000,    20000,    80000,    320000,  1280000,
                            5120000, 20480000, 36000000, 36000000};
    for (int n = 1; n <= 9; n++)
        cr_expect_eq(retry_backoff_ms(n, 5000, 36000000, 1.0), want[n - 1], "attempt %d", n);
}

Test(retry, backoff_jitter_halves_at_most) {
    cr_expect_eq(retry_backoff_ms(1, 5000, 36000000, 0.5), 2500);
    cr_expect_eq(retry_backoff_ms(2, 5000, 36000000, 0.75), 15000);
    /* factors outside [0.5, 1] are clamped */
    cr_expect_eq(retry_backoff_ms(1, 5000, 36000000, 0.0), 2500);
    cr_expect_eq(retry_backoff_ms(1, 5000, 36000000, 7.0), 5000);
}

Test(retry, backoff_never_overflows) {
    cr_expect_eq(retry_backoff_ms(1000, 5000, 2147483647, 1.0), 2147483647);
    cr_expect_eq(retry_backoff_ms(64, 86400000, 2147483647, 1.0), 2147483647);
    cr_expect_eq(retry_backoff_ms(0, 50, 1000, 1.0), 50);
    cr_expect_eq(retry_backoff_ms(-3, 50, 1000, 1.0), 50);
    cr_expect_geq(retry_backoff_ms(1, 1, 1, 0.5), 1);
}

Test(retry, after_seconds) {
    cr_expect_eq(retry_after_parse("120", 0), 120000);
    cr_expect_eq(retry_after_parse("  0 ", 0), 0);
    cr_expect_eq(retry_after_parse("1\r\n", 0), 1000);
    /* huge values saturate just above the cap instead of overflowing */
    cr_expect_gt(retry_after_parse("99999999999999999999999", 0), RETRY_AFTER_MAX_MS);
}

Test(retry, after_http_dates) {
    /* 1994-11-06T08:49:37Z = 784111777 */
    int64_t now = 784111777000LL - 30000;
    cr_expect_eq(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now), 30000);
    cr_expect_eq(retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", now), 30000);
    cr_expect_eq(retry_after_parse("Sun Nov  6 08:49:37 1994", now), 30000);
    /* a date in the past means now */
    cr_expect_eq(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now + 60000), 0);
}

Test(retry, after_rejects_junk) {
    cr_expect_eq(retry_after_parse("", 0), -1);
    cr_expect_eq(retry_after_parse(NULL, 0), -1);
    cr_expect_eq(retry_after_parse("-5", 0), -1);
    cr_expect_eq(retry_after_parse("1.5", 0), -1);
    cr_expect_eq(retry_after_parse("soon", 0), -1);
    cr_expect_eq(retry_after_parse("Sun, 06 Nov 1994 08:49:37", 0), -1);
    cr_expect_eq(retry_after_parse("Sun, 06 Foo 1994 08:49:37 GMT", 0), -1);
    cr_expect_eq(retry_after_parse("Sun, 06 Nov 1994 25:49:37 GMT", 0), -1);
}

Test(retry, delay_prefers_retry_after_clamped) {
    cr_expect_eq(retry_delay_ms(1, 5000, 36000000, 10000, 1.0), 10000);
    cr_expect_eq(retry_delay_ms(1, 5000, 36000000, 1000, 1.0), 5000);
    cr_expect_eq(retry_delay_ms(1, 5000, 36000000, 0, 1.0), 5000);
    cr_expect_eq(retry_delay_ms(1, 5000, 36000000, RETRY_AFTER_MAX_MS * 3, 1.0),
                 RETRY_AFTER_MAX_MS);
    cr_expect_eq(retry_delay_ms(3, 5000, 36000000, -1, 1.0), 80000);
}

static const struct retry_policy decide_policy = {
    .max_attempts = 3, .base_ms = 100, .max_ms = 10000};

Test(retry, decide_sent_and_permanent) {
    struct retry_decision d =
        retry_decide(&decide_policy, &(struct retry_attempt){.sent = true, .factor = 1.0});
    cr_expect_eq(d.verdict, RETRY_DONE);
    cr_expect(d.counted);
    d = retry_decide(&decide_policy,
                     &(struct retry_attempt){.permanent = true, .attempts = 0, .factor = 1.0});
    cr_expect_eq(d.verdict, RETRY_GIVE_UP);
}

Test(retry, decide_gives_up_on_the_last_counted_attempt) {
    struct retry_attempt a = {.attempts = 1, .retry_after_ms = -1, .factor = 1.0};
    struct retry_decision d = retry_decide(&decide_policy, &a);
    cr_expect_eq(d.verdict, RETRY_AGAIN);
    cr_expect_eq(d.delay_ms, 400, "attempt 2 failed: base x 4");
    a.attempts = 2;
    d = retry_decide(&decide_policy, &a);
    cr_expect_eq(d.verdict, RETRY_GIVE_UP, "the third counted attempt was the last");
    /* a reset budget counts from budget_base */
    a.budget_base = 2;
    d = retry_decide(&decide_policy, &a);
    cr_expect_eq(d.verdict, RETRY_AGAIN);
}

Test(retry, decide_auth_errors_are_not_counted) {
    struct retry_attempt a = {
        .attempts = 2, .auth_error = true, .retry_after_ms = -1, .factor = 1.0};
    struct retry_decision d = retry_decide(&decide_policy, &a);
    cr_expect_eq(d.verdict, RETRY_AGAIN);
    cr_expect_not(d.counted);
}

Test(retry, decide_retry_after_replaces_backoff) {
    struct retry_attempt a = {.attempts = 0, .retry_after_ms = 7000, .factor = 0.5};
    cr_expect_eq(retry_decide(&decide_policy, &a).delay_ms, 7000);
    a.retry_after_ms = 5;
    cr_expect_eq(retry_decide(&decide_policy, &a).delay_ms, 100, "clamped to the base");
}
