/* test_turns: the order a destination's waiting transfers start in, and who
 * gives way when its line is full. */
#include "worker/turns.h"
#include "common/notif.h"
#include "worker/readplan.h"

#include <criterion/criterion.h>
#include <string.h>

TestSuite(turns);

enum { MAXT = 512 };

struct line {
    struct turns t;
    struct turn it[MAXT];
    const char *tenant[MAXT];
    int prio[MAXT];
    int n;
};

static void line_init(struct line *l) {
    memset(l, 0, sizeof(*l));
    turns_init(&l->t);
}

static int line_push(struct line *l, int prio, const char *tenant) {
    cr_assert_lt(l->n, MAXT);
    int i = l->n++;
    l->prio[i] = prio;
    l->tenant[i] = tenant;
    turns_push(&l->t, &l->it[i], prio, tenant);
    return i;
}

/* line_next: the index of the turn started next (-1: none). */
static int line_next(struct line *l) {
    struct turn *t = turns_next(&l->t);
    return t ? (int)(t - l->it) : -1;
}

/* line_drain: starts and finishes every waiting turn one at a time. */
static int line_drain(struct line *l, int *order) {
    int n = 0, i;
    while ((i = line_next(l)) >= 0) {
        order[n++] = i;
        turns_done(&l->t, &l->it[i]);
    }
    return n;
}

Test(turns, one_class_is_first_in_first_out) {
    static struct line l;
    line_init(&l);
    for (int i = 0; i < 20; i++)
        line_push(&l, PRIO_NORMAL, "7");
    int order[MAXT];
    cr_assert_eq(line_drain(&l, order), 20);
    for (int i = 0; i < 20; i++)
        cr_expect_eq(order[i], i);
    cr_expect_eq(l.t.waiting, 0);
    cr_expect_eq(l.t.running, 0);
    cr_expect_eq(hmap_len(l.t.classes), 0, "classes are freed when empty");
    turns_fini(&l.t);
}

Test(turns, high_before_normal_before_low_with_one_in_ten_for_the_lower) {
    static struct line l;
    line_init(&l);
    for (int i = 0; i < 100; i++)
        line_push(&l, PRIO_LOW, "1");
    for (int i = 0; i < 100; i++)
        line_push(&l, PRIO_HIGH, "1");
    int order[MAXT];
    int n = line_drain(&l, order);
    cr_assert_eq(n, 200);
    int high = 0, low = 0;
    for (int i = 0; i < 100; i++)
        if (l.prio[order[i]] == PRIO_HIGH)
            high++;
        else
            low++;
    cr_expect_eq(low, 10, "one start in READPLAN_SHARE goes to the lower priority: %d", low);
    cr_expect_eq(high, 90);
    /* the lower priority's turns start oldest first */
    int prev = -1;
    for (int i = 0; i < n; i++)
        if (l.prio[order[i]] == PRIO_LOW) {
            cr_expect_gt(order[i], prev);
            prev = order[i];
        }
    turns_fini(&l.t);
}

Test(turns, each_lower_priority_has_its_own_floor) {
    static struct line l;
    line_init(&l);
    for (int p = PRIO_LOW; p >= PRIO_HIGH; p--)
        for (int i = 0; i < 100; i++)
            line_push(&l, p, "1");
    int order[MAXT];
    cr_assert_eq(line_drain(&l, order), 300);
    int n[PRIO_COUNT] = {0};
    for (int i = 0; i < 100; i++)
        n[l.prio[order[i]]]++;
    /* 8 high, then one normal and one low, in every ten starts */
    cr_expect_geq(n[PRIO_NORMAL], 9, "normal: %d of the first 100", n[PRIO_NORMAL]);
    cr_expect_geq(n[PRIO_LOW], 9, "low: %d of the first 100", n[PRIO_LOW]);
    cr_expect_geq(n[PRIO_HIGH], 80);
    cr_expect_leq(n[PRIO_HIGH], 82);
    turns_fini(&l.t);
}

Test(turns, no_floor_is_owed_while_no_lower_priority_waits) {
    static struct line l;
    line_init(&l);
    for (int i = 0; i < 30; i++)
        line_push(&l, PRIO_HIGH, "1");
    int order[MAXT];
    cr_assert_eq(line_drain(&l, order), 30);
    /* a low arriving now waits for at most READPLAN_SHARE - 1 highs, not fewer by a debt */
    for (int i = 0; i < 30; i++)
        line_push(&l, PRIO_HIGH, "1");
    int low = line_push(&l, PRIO_LOW, "1");
    int pos = -1;
    for (int k = 0; k < 31; k++) {
        int i = line_next(&l);
        if (i == low)
            pos = k;
        turns_done(&l.t, &l.it[i]);
    }
    cr_expect_eq(pos, READPLAN_SHARE - 1, "the low started as start %d", pos);
    turns_fini(&l.t);
}

Test(turns, the_tenant_with_fewest_running_goes_next) {
    static struct line l;
    line_init(&l);
    /* A has 8 running; B arrives behind 20 more of A's */
    for (int i = 0; i < 28; i++)
        line_push(&l, PRIO_NORMAL, "A");
    for (int i = 0; i < 8; i++)
        cr_assert_eq(line_next(&l), i);
    int b = line_push(&l, PRIO_NORMAL, "B");
    cr_expect_eq(line_next(&l), b, "B, with none running, goes before A's waiting");
    /* with one each way, turns alternate by running count */
    int b2 = line_push(&l, PRIO_NORMAL, "B");
    cr_expect_eq(line_next(&l), b2, "B has 1 running, A 8");
    turns_fini(&l.t);
}

Test(turns, priority_goes_before_tenant_turns) {
    static struct line l;
    line_init(&l);
    int a = line_push(&l, PRIO_HIGH, "A");
    line_next(&l); /* A has one running */
    line_push(&l, PRIO_NORMAL, "B");
    int a2 = line_push(&l, PRIO_HIGH, "A");
    cr_expect_eq(line_next(&l), a2, "a high of a busier tenant before a normal");
    (void)a;
    turns_fini(&l.t);
}

/* room: turns_room's answer; the turn that gave way (index) in *gave, or -1 */
static bool room(struct line *l, int prio, const char *tenant, int *gave) {
    struct turn *v = NULL;
    bool ok = turns_room(&l->t, prio, tenant, &v);
    *gave = v ? (int)(v - l->it) : -1;
    return ok;
}

Test(turns, a_full_line_gives_way_to_a_tenant_with_fewer_places) {
    static struct line l;
    line_init(&l);
    for (int i = 0; i < 16; i++)
        line_push(&l, PRIO_NORMAL, "A");
    int gave;
    /* A, with every place, gives its newest up to B */
    cr_assert(room(&l, PRIO_NORMAL, "B", &gave));
    cr_expect_eq(gave, 15, "the newest of A's");
    cr_expect_eq(l.t.waiting, 15);
    line_push(&l, PRIO_NORMAL, "B");
    /* A does not give way to itself, nor B to A */
    cr_expect_not(room(&l, PRIO_NORMAL, "A", &gave));
    cr_expect_eq(gave, -1);
    /* B with one place still has a better claim than A with 15 */
    cr_expect(room(&l, PRIO_NORMAL, "B", &gave));
    cr_expect_eq(gave, 14);
    turns_fini(&l.t);
}

Test(turns, a_higher_priority_takes_a_lower_ones_places_but_each_priority_keeps_one) {
    static struct line l;
    line_init(&l);
    for (int i = 0; i < 10; i++)
        line_push(&l, PRIO_LOW, "A");
    int gave;
    /* the first highs have no places yet: they wait too, the line longer */
    for (int i = 0; i < TURNS_KEEP; i++) {
        cr_assert(room(&l, PRIO_HIGH, "B", &gave));
        cr_expect_eq(gave, -1);
        line_push(&l, PRIO_HIGH, "B");
    }
    int given = 0;
    while (room(&l, PRIO_HIGH, "B", &gave)) {
        cr_assert_geq(gave, 0);
        cr_expect_eq(l.prio[gave], PRIO_LOW);
        given++;
        line_push(&l, PRIO_HIGH, "B");
    }
    cr_expect_eq(given, 10 - TURNS_KEEP, "the lows gave all but their last places: %d", given);
    cr_expect_eq(l.t.places[PRIO_LOW], TURNS_KEEP);
    /* a normal has no place: it waits; a low never takes a high's place */
    cr_expect(room(&l, PRIO_NORMAL, "C", &gave));
    cr_expect_eq(gave, -1);
    cr_expect_not(room(&l, PRIO_LOW, "A", &gave));
    if (room(&l, PRIO_LOW, "C", &gave))
        cr_expect_eq(l.prio[gave], PRIO_LOW, "another tenant's low took a low's place");
    turns_fini(&l.t);
}

Test(turns, leaving_keeps_the_line_whole) {
    static struct line l;
    line_init(&l);
    for (int i = 0; i < 5; i++)
        line_push(&l, PRIO_NORMAL, "A");
    turns_leave(&l.t, &l.it[0]);
    turns_leave(&l.t, &l.it[4]);
    turns_leave(&l.t, &l.it[2]);
    int order[MAXT];
    cr_assert_eq(line_drain(&l, order), 2);
    cr_expect_eq(order[0], 1);
    cr_expect_eq(order[1], 3);
    cr_expect_eq(hmap_len(l.t.classes), 0);
    turns_fini(&l.t);
}
