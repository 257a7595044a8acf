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
