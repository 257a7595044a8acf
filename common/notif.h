/* notif: the notification model shared by the API, the workers and heraldctl. */
#ifndef HERALD_COMMON_NOTIF_H
#define HERALD_COMMON_NOTIF_H

#include <stdbool.h>
#include <stdint.h>

enum notif_channel { CH_EMAIL = 0, CH_SMS, CH_PUSH, CH_WEBHOOK, CH_COUNT };

/* notif_channel_name: "email", "sms", "push", "webhook". */
const char *notif_channel_name(enum notif_channel ch);
/* notif_channel_parse: -1 if s is not a channel name. */
int notif_channel_parse(const char *s);

/* Priorities, most urgent first (API.md "Isolation"). */
enum notif_priority { PRIO_HIGH = 0, PRIO_NORMAL, PRIO_LOW, PRIO_COUNT };

/* notif_priority_name: "high", "normal", "low". */
const char *notif_priority_name(enum notif_priority p);
/* notif_priority_parse: -1 if s is not a priority name. */
int notif_priority_parse(const char *s);

/* notif_status_valid: s is one of API.md's statuses. */
bool notif_status_valid(const char *s);

/* A validated notification request. Every pointer is owned; free with notif_input_free(). */
struct notif_input {
    enum notif_channel channel;
    char *recipient;
    char *subject;       /* template source; NULL when absent */
    char *body;          /* template source */
    char *html;          /* email: template source of the HTML part; NULL when absent */
    char *reply_to;      /* email: Reply-To address; NULL when absent */
    char *metadata_json; /* compact JSON object text; NULL when absent */
    enum notif_priority priority;
    int64_t send_at_ms;    /* ms since epoch; 0 when absent or not in the future */
    int64_t expires_at_ms; /* ms since epoch; 0 when absent */
};

void notif_input_free(struct notif_input *in);

/* A notification as the API shows it. Strings are borrowed; NULL is JSON
 * null (or, for tenant, leaves the field out); times are ms since the epoch,
 * 0 for null. */
struct notif_view {
    const char *id, *tenant, *channel, *recipient, *subject, *body, *html, *reply_to;
    const char *metadata_json, *priority, *status;
    int attempts;
    const char *last_error;
    int64_t send_at, expires_at, created_at, updated_at, sent_at, delivered_at, failed_at;
};

/* notif_json: appends the resource object of API.md ("The notification resource"). */
struct buf;
void notif_json(struct buf *b, const struct notif_view *v);

/* NOTIF_COLS: the select list notif_view_from_row() reads, for a notifications
 * table aliased n joined with tenants aliased t. */
#define NOTIF_COLS                                                                                 \
    "n.id, t.name, n.channel, n.recipient, n.subject, n.body, n.metadata, n.status, n.attempts, "  \
    "n.last_error, floor(extract(epoch FROM n.send_at) * 1000)::bigint, "                          \
    "floor(extract(epoch FROM n.created_at) * 1000)::bigint, "                                     \
    "floor(extract(epoch FROM n.updated_at) * 1000)::bigint, "                                     \
    "floor(extract(epoch FROM n.sent_at) * 1000)::bigint, "                                        \
    "floor(extract(epoch FROM n.delivered_at) * 1000)::bigint, "                                   \
    "floor(extract(epoch FROM n.failed_at) * 1000)::bigint, n.html, n.reply_to, n.priority, "      \
    "floor(extract(epoch FROM n.expires_at) * 1000)::bigint"
#define NOTIF_NCOLS 20

/* notif_view_from_row: fills v from columns col..col+NOTIF_NCOLS-1 of row
 * (strings borrowed from res). with_tenant=false leaves tenant out. */
struct pg_result;
void notif_view_from_row(const struct pg_result *res, int row, int col, bool with_tenant,
                         struct notif_view *v);

#endif
