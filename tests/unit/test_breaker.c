/* test_breaker: circuit breaker transitions and their shared form. */
#include "common/breaker.h"

#include <criterion/criterion.h>

TestSuite(breaker);

static const struct brk_policy pol = {.failures = 3, .open_ms = 1000, .max_open_ms = 3000};

Test(breaker, opens_after_consecutive_failures_and_resets_on_success) {
    struct brk b = {0};
    cr_expect_not(brk_result(&b, &pol, true, false, 0));
    cr_expect_not(brk_result(&b, &pol, true, false, 0));
    cr_expect_not(brk_result(&b, &pol, false, false, 0), "a success resets the count");
    cr_expect_eq(b.failures, 0);
    for (int i = 0; i < 2; i++)
        cr_expect_not(brk_result(&b, &pol, true, false, 10));
    cr_expect(brk_result(&b, &pol, true, false, 10), "the third consecutive failure opens it");
    cr_expect_eq(brk_state(&b, 10), BRK_OPEN);
    cr_expect_eq(b.open_until_ms, 1010);
}

Test(breaker, open_reschedules_then_one_probe) {
    struct brk b = {0};
    for (int i = 0; i < 3; i++)
        brk_result(&b, &pol, true, false, 0);
    int64_t delay = 0;
    cr_expect_eq(brk_admit(&b, 400, 50, &delay), BRK_WAIT);
    cr_expect_eq(delay, 600, "to the end of the open period");
    cr_expect_eq(brk_admit(&b, 1000, 50, &delay), BRK_PROBE);
    cr_expect_eq(brk_state(&b, 1000), BRK_HALF_OPEN);
    cr_expect_eq(brk_admit(&b, 1001, 50, &delay), BRK_WAIT, "one probe at a time");
    cr_expect_eq(delay, 50);
    cr_expect_eq(b.waiting, 2);
    /* results of transfers started before it opened change nothing */
    cr_expect_not(brk_result(&b, &pol, false, false, 1002));
    cr_expect(brk_result(&b, &pol, false, true, 1003), "the probe's success closes it");
    cr_expect_eq(brk_state(&b, 1003), BRK_CLOSED);
    cr_expect_eq(brk_admit(&b, 1003, 50, &delay), BRK_GO);
}

Test(breaker, open_time_doubles_up_to_the_max) {
    struct brk b = {0};
    for (int i = 0; i < 3; i++)
        brk_result(&b, &pol, true, false, 0);
    int64_t now = 1000, delay;
    const int64_t want[] = {2000, 3000, 3000};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(brk_admit(&b, now, 0, &delay), BRK_PROBE);
        cr_expect(brk_result(&b, &pol, true, true, now));
        cr_expect_eq(b.open_ms, want[k], "period %d", k);
        cr_expect_eq(b.since_ms, 0, "since stays the first opening");
        now = b.open_until_ms;
    }
}

Test(breaker, shared_form_round_trips) {
    struct brk b = {.opened = true,
                    .failures = 12,
                    .since_ms = 1700000000000,
                    .open_until_ms = 1700000030000,
                    .open_ms = 30000,
                    .waiting = 7};
    char v[BRK_VALUE_LEN];
    brk_format(&b, v, sizeof(v));
    struct brk c;
    cr_assert_eq(brk_parse(v, &c), 0, "%s", v);
    cr_expect(c.opened);
    cr_expect_eq(c.failures, 12);
    cr_expect_eq(c.open_until_ms, 1700000030000);
    cr_expect_eq(c.waiting, 7);
    cr_expect_eq(brk_parse("1 2 3", &c), -1);
    cr_expect_eq(brk_parse("1 2 3 4 5 x", &c), -1);
    char key[BRK_KEY_LEN];
    brk_key(CH_WEBHOOK, key);
    cr_expect_str_eq(key, "herald:breakers:{webhook}");
}
