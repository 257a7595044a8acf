/* stream: key names, entry format and the few commands every writer and reader shares. */
#include "common/stream.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void stream_key(enum notif_channel ch, char *out) {
    snprintf(out, STREAM_KEY_LEN, "%s%s", STREAM_KEY_PREFIX, notif_channel_name(ch));
}

void stream_dlq_key(enum notif_channel ch, char *out) {
    snprintf(out, STREAM_KEY_LEN, "%s%s", STREAM_DLQ_PREFIX, notif_channel_name(ch));
}

struct req *stream_add(rds *r, enum notif_channel ch, const char *id, rds_cb cb, void *arg) {
    char key[STREAM_KEY_LEN];
    stream_key(ch, key);
    const char *argv[] = {"XADD", key, "*", STREAM_FIELD_ID, id};
    return rds_command(r, cb, arg, 5, argv, NULL);
}

struct req *stream_add_dlq(rds *r, enum notif_channel ch, const char *id, const char *tenant,
                           const char *error, int64_t failed_at_ms, int retention_days, rds_cb cb,
                           void *arg) {
    char key[STREAM_KEY_LEN], minid[32], failed_at[UTIL_TIME_LEN];
    stream_dlq_key(ch, key);
    int64_t floor_ms = util_now_ms() - (int64_t)retention_days * 86400000LL;
    snprintf(minid, sizeof(minid), "%lld", (long long)(floor_ms > 0 ? floor_ms : 0));
    util_fmt_time_ms(failed_at_ms, failed_at);
    const char *argv[] = {"XADD",      key,
                          "MINID",     "~",
                          minid,       "*",
                          "id",        id,
                          "tenant",    tenant ? tenant : "",
                          "error",     error ? error : "",
                          "failed_at", failed_at};
    return rds_command(r, cb, arg, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
}

struct req *stream_create_group(rds *r, enum notif_channel ch, rds_cb cb, void *arg) {
    char key[STREAM_KEY_LEN];
    stream_key(ch, key);
    const char *argv[] = {"XGROUP", "CREATE", key, STREAM_GROUP, "0", "MKSTREAM"};
    return rds_command(r, cb, arg, 6, argv, NULL);
}

bool stream_reply_ok(const redisReply *reply) {
    if (!reply)
        return false;
    if (reply->type != REDIS_REPLY_ERROR)
        return true;
    return reply->str && strncmp(reply->str, "BUSYGROUP", 9) == 0;
}

bool stream_reply_nogroup(const redisReply *reply) {
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, "NOGROUP", 7) == 0;
}

int64_t stream_entry_id_ms(const char *s) {
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    int k = 0;
    for (; isdigit((unsigned char)*s); s++, k++) {
        if (k >= 18)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (*s != '-' || !isdigit((unsigned char)s[1]))
        return -1;
    return v;
}

const char *stream_entry_notif_id(const redisReply *entry, const char **entry_id) {
    if (entry_id)
        *entry_id = NULL;
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2)
        return NULL;
    const redisReply *eid = entry->element[0];
    const redisReply *fields = entry->element[1];
    if (!eid || eid->type != REDIS_REPLY_STRING)
        return NULL;
    if (entry_id)
        *entry_id = eid->str;
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, STREAM_FIELD_ID) == 0)
            return v->str;
    }
    return NULL;
}
