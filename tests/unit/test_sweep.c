/* test_sweep: the orphan step's cutoff, the one decision of the sweeper
 * that needs no server: which rows may have lost their stream entry. */
#include "common/sweep.h"

#include <criterion/criterion.h>

TestSuite(sweep);

#define NOW 1700000000000LL
#define GRACE 500

Test(sweep, no_backlog_means_the_grace_alone) {
    /* the group has read everything: a row enqueued before the grace ago
     * and still in_stream, pending and unleased lost its entry */
    cr_expect_eq(sweep_cutoff_ms(0, NOW - 10, NOW, GRACE), NOW - GRACE);
    cr_expect_eq(sweep_cutoff_ms(0, -1, NOW, GRACE), NOW - GRACE);
}

Test(sweep, a_backlog_limits_to_what_was_handed_out) {
    /* entries wait: a row enqueued after the last entry read may still be
     * waiting in the stream, so only older rows count, less the skew margin */
    int64_t last = NOW - 60000;
    cr_expect_eq(sweep_cutoff_ms(25, last, NOW, GRACE), last - 1000);
    /* never later than the grace, even with Redis's clock ahead of ours */
    cr_expect_eq(sweep_cutoff_ms(25, NOW + 5000, NOW, GRACE), NOW - GRACE);
}

Test(sweep, an_unknown_lag_is_a_backlog) {
    int64_t last = NOW - 60000;
    cr_expect_eq(sweep_cutoff_ms(-1, last, NOW, GRACE), last - 1000);
}

Test(sweep, nothing_handed_out_yet_skips_the_channel) {
    cr_expect_leq(sweep_cutoff_ms(25, -1, NOW, GRACE), 0);
    cr_expect_leq(sweep_cutoff_ms(-1, -1, NOW, GRACE), 0);
    cr_expect_leq(sweep_cutoff_ms(3, 500, NOW, GRACE), 0, "within the skew margin of 0");
}
