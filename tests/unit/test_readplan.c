/* test_readplan: a consumer's read quotas over priorities and lanes. */
#include "worker/readplan.h"

#include <criterion/criterion.h>

TestSuite(readplan);

/* simulate: every priority with work in every lane of `busy`; count what
 * each priority is handed over cycles of cap slots (round one, then round
 * two's fill to the highest full priority). */
static void simulate(int cycles, int cap, int lanes, const int busy_lanes[PRIO_COUNT],
                     int handed[PRIO_COUNT]) {
    struct readplan p;
    readplan_init(&p);
    for (int c = 0; c < cycles; c++) {
        struct readplan_ask ask[PRIO_COUNT];
        readplan_first(&p, cap, lanes, ask);
        int got[PRIO_COUNT] = {0}, full[PRIO_COUNT] = {0}, total = 0;
        for (int pr = 0; pr < PRIO_COUNT; pr++) {
            got[pr] = ask[pr].count * busy_lanes[pr];
            full[pr] = ask[pr].count > 0 ? busy_lanes[pr] : 0;
            total += got[pr];
        }
        if (total == 0) {
            /* the consumer then blocks on every lane for one entry each */
            for (int pr = 0; pr < PRIO_COUNT; pr++) {
                ask[pr].count = 1;
                got[pr] = busy_lanes[pr];
                handed[pr] += got[pr];
            }
            readplan_settle(&p, cap, ask, got);
            continue;
        }
        readplan_settle(&p, cap, ask, got);
        for (int pr = 0; pr < PRIO_COUNT; pr++)
            handed[pr] += got[pr];
        int count;
        int pr = readplan_fill(cap - total, full, &count);
        if (pr >= 0) {
            handed[pr] += count * full[pr];
            readplan_filled(&p, cap, pr, count * full[pr]);
        }
    }
}

Test(readplan, high_first_with_one_in_ten_for_each_lower) {
    int busy[PRIO_COUNT] = {1, 1, 1}, handed[PRIO_COUNT] = {0};
    simulate(1000, 32, 8, busy, handed);
    int total = handed[0] + handed[1] + handed[2];
    cr_expect_gt(handed[PRIO_HIGH], total * 7 / 10, "high %d of %d", handed[0], total);
    cr_expect_geq(handed[PRIO_NORMAL] * 10, total * 9 / 10, "normal %d of %d", handed[1], total);
    cr_expect_geq(handed[PRIO_LOW] * 10, total * 9 / 10, "low %d of %d", handed[2], total);
    cr_expect_leq(handed[PRIO_LOW] * 10, total * 12 / 10, "low %d of %d", handed[2], total);
}

Test(readplan, the_floor_holds_with_many_lower_lanes_busy) {
    /* eight low tenants: what low takes beyond its share is repaid later */
    int busy[PRIO_COUNT] = {1, 0, 8}, handed[PRIO_COUNT] = {0};
    simulate(1000, 32, 8, busy, handed);
    int total = handed[0] + handed[1] + handed[2];
    cr_expect_geq(handed[PRIO_LOW] * 10, total * 9 / 10, "low %d of %d", handed[2], total);
    cr_expect_leq(handed[PRIO_LOW] * 10, total * 15 / 10, "low %d of %d", handed[2], total);
}

Test(readplan, one_slot_at_a_time_still_gives_one_in_ten) {
    int busy[PRIO_COUNT] = {1, 0, 1}, handed[PRIO_COUNT] = {0};
    simulate(1000, 1, 8, busy, handed);
    cr_expect_geq(handed[PRIO_LOW], 90, "low %d of 1000", handed[PRIO_LOW]);
    cr_expect_leq(handed[PRIO_LOW], 200, "low %d of 1000", handed[PRIO_LOW]);
}

Test(readplan, an_empty_higher_priority_costs_nothing) {
    /* only low has work: it is top after one cycle and fills every slot */
    int busy[PRIO_COUNT] = {0, 0, 1}, handed[PRIO_COUNT] = {0};
    simulate(100, 32, 8, busy, handed);
    cr_expect_geq(handed[PRIO_LOW], 99 * 32, "low %d", handed[PRIO_LOW]);
}

Test(readplan, top_lanes_each_get_a_turn_first) {
    struct readplan p;
    readplan_init(&p);
    struct readplan_ask ask[PRIO_COUNT];
    readplan_first(&p, 32, 8, ask);
    /* high is top: 32 slots less the floors over 8 lanes */
    cr_expect_eq(ask[PRIO_HIGH].count, 4);
    int got[PRIO_COUNT] = {0, 3, 0};
    readplan_settle(&p, 32, ask, got);
    cr_expect_eq(ask[PRIO_NORMAL].count, 0, "nothing owed to normal yet");
    cr_expect_eq(p.top, PRIO_NORMAL, "high had nothing: normal is top");
    readplan_first(&p, 32, 8, ask);
    cr_expect_eq(ask[PRIO_HIGH].count, 1, "a higher priority is still asked for one per lane");
    cr_expect_eq(ask[PRIO_NORMAL].count, 4);
}

Test(readplan, fill_goes_to_the_highest_full_priority) {
    int full[PRIO_COUNT] = {0, 2, 5}, count;
    cr_expect_eq(readplan_fill(10, full, &count), PRIO_NORMAL);
    cr_expect_eq(count, 5);
    int none[PRIO_COUNT] = {0, 0, 0};
    cr_expect_eq(readplan_fill(10, none, &count), -1);
    cr_expect_eq(readplan_fill(0, full, &count), -1);
}
