/* notif: channel names and the request model's lifetime. */
#include "common/notif.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/util.h"

#include <libpq-fe.h>
#include <stdlib.h>

#include <string.h>

static const char *const notif_channels[CH_COUNT] = {"email", "sms", "push", "webhook"};

const char *notif_channel_name(enum notif_channel ch) {
    return util_name_at(notif_channels, CH_COUNT, (int)ch, "unknown");
}

int notif_channel_parse(const char *s) {
    return util_name_index(notif_channels, CH_COUNT, s);
}

static const char *const notif_priorities[PRIO_COUNT] = {"high", "normal", "low"};

const char *notif_priority_name(enum notif_priority p) {
    return util_name_at(notif_priorities, PRIO_COUNT, (int)p, "normal");
}

int notif_priority_parse(const char *s) {
    return util_name_index(notif_priorities, PRIO_COUNT, s);
}

bool notif_status_valid(const char *s) {
    static const char *const statuses[] = {"pending", "sent",      "delivered",
                                           "failed",  "cancelled", "expired"};
    return util_name_index(statuses, HD_ARRAY_LEN(statuses), s) >= 0;
}

void notif_input_free(struct notif_input *in) {
    mem_free(in->recipient);
    mem_free(in->subject);
    mem_free(in->body);
    mem_free(in->html);
    mem_free(in->reply_to);
    mem_free(in->metadata_json);
    memset(in, 0, sizeof(*in));
}

static void notif_time(struct buf *b, const char *key, int64_t ms) {
    buf_printf(b, ",\"%s\":", key);
    if (!ms) {
        buf_puts(b, "null");
        return;
    }
    char t[UTIL_TIME_LEN];
    util_fmt_time_ms(ms, t);
    buf_printf(b, "\"%s\"", t);
}

void notif_json(struct buf *b, const struct notif_view *v) {
    buf_puts(b, "{\"id\":");
    buf_json_str(b, v->id, strlen(v->id));
    if (v->tenant)
        buf_json_member(b, "tenant", v->tenant);
    buf_json_member(b, "channel", v->channel);
    buf_json_member(b, "recipient", v->recipient);
    buf_json_member(b, "subject", v->subject);
    buf_json_member(b, "body", v->body);
    buf_json_member(b, "html", v->html);
    buf_json_member(b, "reply_to", v->reply_to);
    buf_puts(b, ",\"metadata\":");
    buf_puts(b, v->metadata_json ? v->metadata_json : "null");
    buf_json_member(b, "priority", v->priority ? v->priority : "normal");
    buf_json_member(b, "status", v->status);
    buf_printf(b, ",\"attempts\":%d", v->attempts);
    buf_json_member(b, "last_error", v->last_error);
    notif_time(b, "send_at", v->send_at);
    notif_time(b, "expires_at", v->expires_at);
    notif_time(b, "created_at", v->created_at);
    notif_time(b, "updated_at", v->updated_at);
    notif_time(b, "sent_at", v->sent_at);
    notif_time(b, "delivered_at", v->delivered_at);
    notif_time(b, "failed_at", v->failed_at);
    buf_putc(b, '}');
}

static const char *notif_cell(const PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t notif_ms(const PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

void notif_view_from_row(const struct pg_result *res, int row, int col, bool with_tenant,
                         struct notif_view *v) {
    v->id = notif_cell(res, row, col);
    v->tenant = with_tenant ? notif_cell(res, row, col + 1) : NULL;
    v->channel = notif_cell(res, row, col + 2);
    v->recipient = notif_cell(res, row, col + 3);
    v->subject = notif_cell(res, row, col + 4);
    v->body = notif_cell(res, row, col + 5);
    v->metadata_json = notif_cell(res, row, col + 6);
    v->status = notif_cell(res, row, col + 7);
    v->attempts = atoi(PQgetvalue(res, row, col + 8));
    v->last_error = notif_cell(res, row, col + 9);
    v->send_at = notif_ms(res, row, col + 10);
    v->created_at = notif_ms(res, row, col + 11);
    v->updated_at = notif_ms(res, row, col + 12);
    v->sent_at = notif_ms(res, row, col + 13);
    v->delivered_at = notif_ms(res, row, col + 14);
    v->failed_at = notif_ms(res, row, col + 15);
    v->html = notif_cell(res, row, col + 16);
    v->reply_to = notif_cell(res, row, col + 17);
    v->priority = notif_cell(res, row, col + 18);
    v->expires_at = notif_ms(res, row, col + 19);
}
