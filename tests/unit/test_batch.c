/* test_batch: group commit's decisions (what goes into the next group, the
 * order of requeued items, slots, retries, items handed back) and the
 * named-column array builder. */
#include "common/batch.h"
#include "common/db_cols.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stddef.h>
#include <string.h>

struct thing {
    int id;
    struct batch_item link;
};

#define THING(bi) ((struct thing *)((char *)(bi)-offsetof(struct thing, link)))

static void ids_of(const struct batch_list *l, int *out, int max, int *n) {
    *n = 0;
    for (struct batch_item *bi = l->head; bi && *n < max; bi = bi->next)
        out[(*n)++] = THING(bi)->id;
}

static void fill(struct thing *t, int n, const size_t *weights, struct batch_list *l) {
    for (int i = 0; i < n; i++) {
        t[i].id = i + 1;
        t[i].link.weight = weights ? weights[i] : 1;
        batch_list_push(l, &t[i].link);
    }
}

TestSuite(batch);

Test(batch, take_stops_at_the_weight_bound) {
    struct thing t[5];
    struct batch_list q = {0}, g = {0};
    fill(t, 5, (size_t[]){3, 4, 2, 5, 1}, &q);
    batch_list_take(&q, 9, &g);
    int ids[8], n;
    ids_of(&g, ids, 8, &n);
    cr_assert_eq(n, 3);
    cr_expect(ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
    cr_expect_eq(g.weight, 9);
    /* the rest stays in order, never skipped over for a lighter item */
    ids_of(&q, ids, 8, &n);
    cr_assert_eq(n, 2);
    cr_expect(ids[0] == 4 && ids[1] == 5);
    cr_expect_eq(q.weight, 6);
}

Test(batch, take_always_moves_one_heavy_item) {
    struct thing t[2];
    struct batch_list q = {0}, g = {0};
    fill(t, 2, (size_t[]){2500, 1}, &q);
    batch_list_take(&q, 2000, &g);
    cr_expect_eq(g.count, 1);
    cr_expect_eq(THING(g.head)->id, 1);
    cr_expect_eq(q.count, 1);
}

Test(batch, take_of_an_empty_queue) {
    struct batch_list q = {0}, g = {0};
    batch_list_take(&q, 10, &g);
    cr_expect_eq(g.count, 0);
    cr_expect_null(g.head);
}

Test(batch, prepend_keeps_the_failed_group_first_in_its_order) {
    struct thing t[6];
    struct batch_list q = {0}, g = {0};
    fill(t, 6, NULL, &q);
    batch_list_take(&q, 3, &g); /* 1 2 3 out; 4 5 6 wait */
    batch_list_prepend(&q, &g);
    int ids[8], n;
    ids_of(&q, ids, 8, &n);
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(ids[i], i + 1);
    cr_expect_eq(g.count, 0);
    cr_expect_eq(q.weight, 6);
    /* the tail is still right: a push lands after 6 */
    struct thing x = {.id = 7, .link.weight = 1};
    batch_list_push(&q, &x.link);
    cr_expect_eq(THING(q.tail)->id, 7);
}

Test(batch, prepend_to_an_empty_queue) {
    struct thing t[2];
    struct batch_list q = {0}, g = {0};
    fill(t, 2, NULL, &g);
    batch_list_prepend(&q, &g);
    cr_expect_eq(q.count, 2);
    cr_expect_eq(THING(q.tail)->id, 2);
}

/* ---- the queue on a loop ------------------------------------------------ */

struct rec {
    struct event_base *base;
    batch_queue *q;
    struct batch_group *groups[16];
    int sizes[16];
    int first[16];
    int ngroups;
    int dropped[16];
    bool sent[16];
    int ndropped;
};

static void rec_send(void *arg, struct batch_group *g) {
    struct rec *r = arg;
    if (r->ngroups < 16) {
        r->groups[r->ngroups] = g;
        r->sizes[r->ngroups] = (int)g->items.count;
        r->first[r->ngroups] = THING(g->items.head)->id;
    }
    r->ngroups++;
}

static void rec_drop(void *arg, struct batch_item *it, bool sent) {
    struct rec *r = arg;
    r->sent[r->ndropped] = sent;
    r->dropped[r->ndropped++] = THING(it)->id;
}

static void rec_turn(struct rec *r) {
    event_base_loop(r->base, EVLOOP_NONBLOCK);
}

static void rec_new_mode(struct rec *r, int inflight, size_t max, int retry_ms, bool at_once) {
    memset(r, 0, sizeof(*r));
    r->base = event_base_new();
    struct batch_cfg c = {.max_inflight = inflight,
                          .max_weight = max,
                          .retry_ms = retry_ms,
                          .at_once = at_once,
                          .send = rec_send,
                          .arg = r};
    r->q = batch_queue_new(r->base, &c);
}

static void rec_new(struct rec *r, int inflight, size_t max, int retry_ms) {
    rec_new_mode(r, inflight, max, retry_ms, false);
}

static void rec_free(struct rec *r) {
    batch_queue_free(r->q, rec_drop, r);
    event_base_free(r->base);
}

Test(batch, items_wait_while_the_slots_are_busy) {
    struct rec r;
    rec_new(&r, 1, 100, 10);
    struct thing t[5] = {{.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}, {.id = 5}};
    t[0].link.weight = 1;
    batch_add(r.q, &t[0].link);
    cr_expect_eq(r.ngroups, 0, "never sent inside batch_add");
    rec_turn(&r);
    cr_assert_eq(r.ngroups, 1);
    for (int i = 1; i < 5; i++) {
        t[i].link.weight = 1;
        batch_add(r.q, &t[i].link);
    }
    rec_turn(&r);
    cr_expect_eq(r.ngroups, 1, "the only slot is busy");
    cr_expect_eq(batch_queued(r.q), 4);
    cr_expect_eq(batch_weight(r.q), 5);
    batch_group_done(r.groups[0]);
    rec_turn(&r);
    cr_assert_eq(r.ngroups, 2);
    cr_expect_eq(r.sizes[1], 4, "everything that waited goes in one group");
    cr_expect_eq(r.first[1], 2);
    /* the owner takes the items out before it settles the group */
    r.groups[1]->items = (struct batch_list){0};
    batch_group_done(r.groups[1]);
    cr_expect_eq(batch_weight(r.q), 0, "a settled group weighs nothing, whatever it holds");
    rec_free(&r);
    cr_expect_eq(r.ndropped, 0);
}

Test(batch, at_once_sends_inside_the_call_when_a_slot_is_free) {
    struct rec r;
    rec_new_mode(&r, 1, 100, 10, true);
    struct thing t[3] = {{.id = 1}, {.id = 2}, {.id = 3}};
    for (int i = 0; i < 3; i++)
        t[i].link.weight = 1;
    batch_add(r.q, &t[0].link);
    cr_assert_eq(r.ngroups, 1, "a lone item is not held a loop turn");
    batch_add(r.q, &t[1].link);
    batch_add(r.q, &t[2].link);
    cr_expect_eq(r.ngroups, 1, "the slot is busy: they wait");
    batch_group_done(r.groups[0]);
    cr_assert_eq(r.ngroups, 2, "settling sends the next group in the same call");
    cr_expect_eq(r.sizes[1], 2);
    batch_group_done(r.groups[1]);
    rec_free(&r);
    cr_expect_eq(r.ndropped, 0);
}

Test(batch, requeued_items_go_first) {
    struct rec r;
    rec_new(&r, 1, 2, 10);
    struct thing t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thing){.id = i + 1, .link.weight = 1};
        batch_add(r.q, &t[i].link);
    }
    rec_turn(&r);
    cr_assert_eq(r.ngroups, 1);
    cr_expect_eq(r.sizes[0], 2);
    batch_group_requeue(r.groups[0]);
    rec_turn(&r);
    cr_assert_eq(r.ngroups, 2);
    cr_expect_eq(r.first[1], 1, "the requeued group is sent again before 3 and 4");
    cr_expect_eq(r.sizes[1], 2);
    rec_free(&r);
    /* handed back: the group in flight first, then the queue, in order */
    cr_assert_eq(r.ndropped, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(r.dropped[i], i + 1);
        cr_expect_eq(r.sent[i], i < 2, "item %d %s", i + 1, i < 2 ? "was sent" : "waited");
    }
}

Test(batch, a_retried_group_frees_its_slot_and_comes_back) {
    struct rec r;
    rec_new(&r, 1, 1, 20);
    struct thing t[2] = {{.id = 1, .link.weight = 1}, {.id = 2, .link.weight = 1}};
    batch_add(r.q, &t[0].link);
    batch_add(r.q, &t[1].link);
    rec_turn(&r);
    cr_assert_eq(r.ngroups, 1);
    batch_group_retry(r.groups[0]);
    cr_expect_eq(batch_inflight(r.q), 0);
    rec_turn(&r);
    cr_assert_eq(r.ngroups, 2, "the next group takes the free slot");
    cr_expect_eq(r.first[1], 2);
    /* the retry comes after retry_ms: wait for it with a bound */
    for (int i = 0; i < 500 && r.ngroups < 3; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(r.base, &tv);
        event_base_dispatch(r.base);
    }
    cr_assert_eq(r.ngroups, 3);
    cr_expect_eq(r.first[2], 1);
    cr_expect_eq(r.groups[2], r.groups[0], "the same group is sent again");
    cr_expect_eq(batch_inflight(r.q), 2);
    batch_group_done(r.groups[1]);
    batch_group_done(r.groups[2]);
    rec_free(&r);
    cr_expect_eq(r.ndropped, 0);
}

/* ---- named columns ------------------------------------------------------ */

enum tcol { TC_NAME = 0, TC_SCALAR, TC_N, TC_FLAG, TC_COUNT };

Test(batch, columns_build_one_array_each) {
    struct db_cols c;
    db_cols_init(&c, TC_COUNT);
    db_cols_scalar(&c, TC_SCALAR, "worker-1");
    db_cols_put(&c, TC_NAME, "a\"b\\c");
    db_cols_int(&c, TC_N, -42);
    db_cols_bool(&c, TC_FLAG, true);
    db_cols_put(&c, TC_NAME, NULL);
    db_cols_int(&c, TC_N, 9000000000LL);
    db_cols_bool(&c, TC_FLAG, false);
    const char *const *p = db_cols_params(&c);
    cr_expect_str_eq(p[TC_NAME], "{\"a\\\"b\\\\c\",NULL}");
    cr_expect_str_eq(p[TC_SCALAR], "worker-1");
    cr_expect_str_eq(p[TC_N], "{\"-42\",\"9000000000\"}");
    cr_expect_str_eq(p[TC_FLAG], "{\"t\",\"f\"}");
    db_cols_free(&c);
}

Test(batch, columns_without_rows_are_empty_arrays) {
    struct db_cols c;
    db_cols_init(&c, 2);
    const char *const *p = db_cols_params(&c);
    cr_expect_str_eq(p[0], "{}");
    cr_expect_str_eq(p[1], "{}");
    db_cols_free(&c);
}
