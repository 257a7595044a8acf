/* test_stream: key names and entry parsing. */
#include "common/stream.h"

#include <criterion/criterion.h>
#include <string.h>

TestSuite(stream);

Test(stream, keys) {
    char k[STREAM_KEY_LEN];
    stream_key(CH_WEBHOOK, k);
    cr_expect_str_eq(k, "herald:stream:webhook");
    stream_dlq_key(CH_EMAIL, k);
    cr_expect_str_eq(k, "herald:dlq:email");
}

Test(stream, entry_id_ms) {
    cr_expect_eq(stream_entry_id_ms("1700000000123-0"), 1700000000123LL);
    cr_expect_eq(stream_entry_id_ms("0-0"), 0);
    cr_expect_eq(stream_entry_id_ms("12"), -1);
    cr_expect_eq(stream_entry_id_ms("-1-0"), -1);
    cr_expect_eq(stream_entry_id_ms("12-"), -1);
    cr_expect_eq(stream_entry_id_ms(NULL), -1);
}

static redisReply *str_reply(const char *s) {
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_STRING;
    r->str = (char *)s;
    r->len = strlen(s);
    return r;
}

Test(stream, entry_notif_id) {
    redisReply *fv[] = {str_reply("other"), str_reply("x"), str_reply("id"), str_reply("abc")};
    redisReply fields = {.type = REDIS_REPLY_ARRAY, .elements = 4, .element = fv};
    redisReply *parts[] = {str_reply("1-0"), &fields};
    redisReply entry = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = parts};
    const char *eid;
    cr_expect_str_eq(stream_entry_notif_id(&entry, &eid), "abc");
    cr_expect_str_eq(eid, "1-0");
    fields.elements = 2;
    cr_expect_null(stream_entry_notif_id(&entry, &eid));
    cr_expect_str_eq(eid, "1-0");
    entry.elements = 1;
    cr_expect_null(stream_entry_notif_id(&entry, &eid));
    cr_expect_null(eid);
    for (int i = 0; i < 4; i++)
        free(fv[i]);
    free(parts[0]);
}

Test(stream, reply_classes) {
    redisReply busy = {.type = REDIS_REPLY_ERROR,
                       .str = "BUSYGROUP Consumer Group name already exists"};
    redisReply nog = {.type = REDIS_REPLY_ERROR, .str = "NOGROUP No such key"};
    redisReply ok = {.type = REDIS_REPLY_STATUS, .str = "OK"};
    cr_expect(stream_reply_ok(&busy));
    cr_expect(stream_reply_ok(&ok));
    cr_expect(!stream_reply_ok(&nog));
    cr_expect(!stream_reply_ok(NULL));
    cr_expect(stream_reply_nogroup(&nog));
    cr_expect(!stream_reply_nogroup(&busy));
}

/* ---- XINFO parsing ---- */

static redisReply *int_reply(long long v) {
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *nil_reply(void) {
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_NIL;
    return r;
}

static redisReply *arr_reply(size_t n, redisReply **el) {
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n, sizeof(*el));
    if (n)
        memcpy(r->element, el, n * sizeof(*el));
    return r;
}

static void free_reply(redisReply *r) {
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            free_reply(r->element[i]);
        free(r->element);
    }
    free(r);
}

/* A group row as Redis 7 answers XINFO GROUPS. */
static redisReply *group_row(const char *name, long long consumers, long long pending,
                             const char *last, redisReply *lag) {
    redisReply *f[] = {str_reply("name"),
                       str_reply(name),
                       str_reply("consumers"),
                       int_reply(consumers),
                       str_reply("pending"),
                       int_reply(pending),
                       str_reply("last-delivered-id"),
                       str_reply(last),
                       str_reply("entries-read"),
                       int_reply(7),
                       str_reply("lag"),
                       lag};
    return arr_reply(12, f);
}

Test(stream, group_parse) {
    redisReply *rows[] = {group_row("other", 9, 9, "5-0", int_reply(9)),
                          group_row("herald", 2, 3, "1700000000123-4", int_reply(5))};
    redisReply *reply = arr_reply(2, rows);
    struct stream_group g;
    const char *err;
    cr_assert(stream_group_parse(reply, &g, &err));
    cr_expect(g.stream && g.group);
    cr_expect_eq(g.consumers, 2);
    cr_expect_eq(g.pending, 3);
    cr_expect_eq(g.lag, 5);
    cr_expect_str_eq(g.last_delivered, "1700000000123-4");
    cr_expect_eq(g.last_delivered_ms, 1700000000123LL);
    free_reply(reply);

    /* a nil lag (entries deleted): Redis cannot tell */
    redisReply *rows2[] = {group_row("herald", 1, 0, "0-0", nil_reply())};
    reply = arr_reply(1, rows2);
    cr_assert(stream_group_parse(reply, &g, NULL));
    cr_expect(g.group);
    cr_expect_eq(g.lag, -1);
    cr_expect_eq(g.last_delivered_ms, 0);
    free_reply(reply);

    /* a stream without our group */
    reply = arr_reply(0, NULL);
    cr_assert(stream_group_parse(reply, &g, NULL));
    cr_expect(g.stream && !g.group);
    cr_expect_eq(g.lag, -1);
    cr_expect_eq(g.consumers, 0);
    free_reply(reply);

    redisReply nokey = {.type = REDIS_REPLY_ERROR, .str = "ERR no such key"};
    cr_assert(stream_group_parse(&nokey, &g, NULL));
    cr_expect(!g.stream && !g.group);

    redisReply other = {.type = REDIS_REPLY_ERROR, .str = "WRONGTYPE Operation"};
    cr_expect(!stream_group_parse(&other, &g, &err));
    cr_expect_str_eq(err, "WRONGTYPE Operation");
    cr_expect(!stream_group_parse(NULL, &g, &err));
    cr_expect_not_null(err);
    redisReply bad = {.type = REDIS_REPLY_INTEGER, .integer = 3};
    cr_expect(!stream_group_parse(&bad, &g, NULL));
}

Test(stream, consumers_parse) {
    redisReply *a[] = {str_reply("name"), str_reply("w-1"), str_reply("pending"),  int_reply(0),
                       str_reply("idle"), int_reply(12345), str_reply("inactive"), int_reply(1)};
    redisReply *b[] = {str_reply("pending"), int_reply(4)}; /* no name: skipped */
    redisReply *rows[] = {arr_reply(8, a), arr_reply(2, b)};
    redisReply *reply = arr_reply(2, rows);
    struct stream_consumer c;
    cr_assert_eq(stream_consumers_count(reply), 2);
    cr_assert(stream_consumer_at(reply, 0, &c));
    cr_expect_str_eq(c.name, "w-1");
    cr_expect_eq(c.pending, 0);
    cr_expect_eq(c.idle_ms, 12345);
    cr_expect(!stream_consumer_at(reply, 1, &c));
    cr_expect(!stream_consumer_at(reply, 2, &c));
    cr_expect_eq(stream_consumers_count(NULL), 0);
    free_reply(reply);
}

Test(stream, xinfo_int) {
    redisReply s = {.type = REDIS_REPLY_STRING, .str = "42"};
    redisReply n = {.type = REDIS_REPLY_NIL};
    cr_expect_eq(stream_xinfo_int(&s), 42);
    cr_expect_eq(stream_xinfo_int(&n), -1);
    cr_expect_eq(stream_xinfo_int(NULL), -1);
}

/* ---- the sweeper's cutoff ---- */

Test(stream, orphan_cutoff) {
    struct stream_figures f[2];
    memset(f, 0, sizeof(f));
    struct stream_info info = {.ok = true, .n = 2, .s = f};
    const int64_t grace = 1000000, skew = 1000;
    /* no streams at all: the grace period */
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), grace);
    /* a group with no lag */
    f[0].g =
        (struct stream_group){.stream = true, .group = true, .lag = 0, .last_delivered_ms = 5000};
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), grace);
    /* a backlog: before the last entry handed out, less the skew */
    f[1].g = (struct stream_group){
        .stream = true, .group = true, .lag = 10, .last_delivered_ms = 500000};
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), 499000);
    /* an unknown lag counts as a backlog */
    f[1].g.lag = -1;
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), 499000);
    /* never read: nothing can be told apart yet */
    f[1].g.last_delivered_ms = 0;
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), -1);
    /* entries without a group: skip */
    f[1].g = (struct stream_group){.stream = true, .group = false, .lag = -1};
    f[1].length = 3;
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), -1);
    /* an empty stream without a group */
    f[1].length = 0;
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), grace);
    info.ok = false;
    cr_expect_eq(stream_orphan_cutoff(&info, grace, skew), -1);
}

/* ---- lanes ---- */

Test(stream, lane_keys_carry_a_hash_tag) {
    stream_set_lanes(8);
    cr_expect_eq(stream_count(), 25);
    cr_expect_eq(stream_legacy(), 24);
    char k[STREAM_KEY_LEN];
    stream_key_at(CH_WEBHOOK, stream_index(PRIO_NORMAL, 3), k);
    cr_expect_str_eq(k, "herald:stream:{webhook.n.3}");
    stream_key_at(CH_EMAIL, stream_index(PRIO_HIGH, 0), k);
    cr_expect_str_eq(k, "herald:stream:{email.h.0}");
    stream_key_at(CH_PUSH, stream_index(PRIO_LOW, 7), k);
    cr_expect_str_eq(k, "herald:stream:{push.l.7}");
    stream_key_at(CH_SMS, stream_legacy(), k);
    cr_expect_str_eq(k, "herald:stream:sms");
    for (int i = 0; i < stream_count(); i++) {
        if (i == stream_legacy()) {
            cr_expect_eq(stream_lane_at(i), -1);
            continue;
        }
        cr_expect_eq(stream_index(stream_priority_at(i), stream_lane_at(i)), i);
    }
}

Test(stream, tenants_spread_over_lanes) {
    stream_set_lanes(8);
    int per[8] = {0};
    for (int64_t t = 1; t <= 800; t++) {
        int l = stream_lane_of(t);
        cr_assert(l >= 0 && l < 8);
        per[l]++;
        cr_expect_eq(stream_lane_of(t), l, "stable");
    }
    for (int l = 0; l < 8; l++)
        cr_expect(per[l] > 60 && per[l] < 140, "lane %d has %d of 800 tenants", l, per[l]);
    stream_set_lanes(1);
    cr_expect_eq(stream_lane_of(12345), 0);
    cr_expect_eq(stream_count(), 4);
    stream_set_lanes(8);
}
