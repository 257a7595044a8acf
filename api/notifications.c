/* notifications: create (single and batch, with idempotency), get, list with
 * keyset cursors, cancel, and the attempt history. */
#include "api/notifications.h"
#include "api/stages.h"
#include "api/store.h"
#include "api/writer.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/cursor.h"
#include "common/db.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"
#include "common/validate.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* notifications_idem_key: the Idempotency-Key header (borrowed, NULL if
 * absent); one that is not 1 to 255 printable ASCII characters is added to
 * errs. */
static const char *notifications_idem_key(struct api_req *r, struct val_errors *errs) {
    const char *k = api_req_header(r, "Idempotency-Key");
    if (!k)
        return NULL;
    size_t n = strlen(k);
    bool ok = n >= 1 && n <= 255;
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            ok = false;
    if (!ok)
        val_errors_add(errs, "Idempotency-Key", "must be 1 to 255 printable ASCII characters");
    return k;
}

static void notifications_row_view(const struct wr_row *row, struct notif_view *v) {
    memset(v, 0, sizeof(*v));
    v->id = row->id_str;
    v->channel = notif_channel_name(row->in.channel);
    v->recipient = row->in.recipient;
    v->subject = row->in.subject;
    v->body = row->in.body;
    v->html = row->in.html;
    v->reply_to = row->in.reply_to;
    v->metadata_json = row->in.metadata_json;
    v->priority = notif_priority_name(row->in.priority);
    v->status = "pending";
    v->send_at = row->in.send_at_ms;
    v->expires_at = row->in.expires_at_ms;
    v->created_at = row->created_ms;
    v->updated_at = row->created_ms;
}

static void notifications_written(void *arg, enum wr_status st, const char *stored) {
    struct api_req *r = arg;
    switch (st) {
    case WR_CREATED:
        /* the response was rendered before the commit */
        api_reply(r, 201, stored, strlen(stored));
        return;
    case WR_REPLAY:
        api_header(r, "Idempotent-Replayed", "true");
        api_reply(r, 201, stored, strlen(stored));
        return;
    case WR_KEY_REUSED:
        api_reply_error(r, 422, "idempotency_key_reused",
                        "this Idempotency-Key was used with a different body", NULL);
        return;
    case WR_IN_PROGRESS:
        api_reply_error(r, 409, "conflict",
                        "a request with this Idempotency-Key is still being processed", NULL);
        return;
    case WR_BUSY:
        api_header(r, "Retry-After", "1");
        api_reply_error(r, 503, "unavailable", "too many requests waiting for a commit", NULL);
        return;
    case WR_UNAVAILABLE:
        api_reply_error(r, 503, "unavailable", "the database cannot be reached; nothing was stored",
                        NULL);
        return;
    case WR_UNKNOWN:
        api_reply_error(r, 503, "unavailable",
                        "the database connection broke during the commit; retry with the same "
                        "Idempotency-Key",
                        NULL);
        return;
    case WR_ERROR:
        api_reply_error(r, 500, "internal_error", "internal error", NULL);
        return;
    }
}

/* notifications_submit: hands the rows to the writer with the 201 body rendered. */
static void notifications_submit(struct api_req *r, struct wr_row *rows, size_t n, bool batch,
                                 const char *idem) {
    struct buf b = {0};
    if (batch)
        buf_puts(&b, "{\"data\":[");
    for (size_t i = 0; i < n; i++) {
        struct notif_view v;
        notifications_row_view(&rows[i], &v);
        if (i)
            buf_putc(&b, ',');
        notif_json(&b, &v);
    }
    if (batch)
        buf_puts(&b, "]}");
    struct wr_item *it = mem_calloc(1, sizeof(*it));
    it->tenant_id = r->auth.tenant_id;
    it->route = batch ? "notifications/batch" : "notifications";
    it->idem_key = idem ? mem_strdup(idem) : NULL;
    crypto_sha256(r->body, r->body_len, it->body_hash);
    it->response = buf_steal(&b);
    it->rows = rows;
    it->nrows = n;
    it->cb = notifications_written;
    it->arg = r;
    writer_submit(r->app->writer, it);
}

/* notifications_new_row: a new id, and created_at the time the id carries, so that
 * ordering by (created_at, id) is ordering by id (a page reads (tenant_id, id)). */
static void notifications_new_row(struct wr_row *row) {
    row->created_ms = util_uuid7(row->id);
    util_uuid_fmt(row->id, row->id_str);
}

void notifications_create(struct api_req *r) {
    struct json_object *obj = r->json;
    struct val_errors errs = {0};
    const char *idem = notifications_idem_key(r, &errs);
    int64_t now = util_now_ms();
    struct wr_row *row = mem_calloc(1, sizeof(*row));
    int rc = val_notification(obj, "", now, &row->in, &errs);
    if (rc < 0 || errs.len) {
        notif_input_free(&row->in);
        mem_free(row);
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    val_errors_free(&errs);
    notifications_new_row(row);
    notifications_submit(r, row, 1, false, idem);
}

int64_t notifications_batch_cost(const struct api_req *r) {
    int64_t size = stages_cost_size(r);
    int64_t n = r->json ? val_batch_cost(r->json) : 1;
    return n > size ? n : size;
}

void notifications_batch(struct api_req *r) {
    struct json_object *obj = r->json;
    struct val_errors errs = {0};
    const char *idem = notifications_idem_key(r, &errs);
    int64_t now = util_now_ms();
    struct notif_input *ins = NULL;
    size_t n = 0;
    int rc = val_batch(obj, now, &ins, &n, &errs);
    if (rc < 0 || errs.len) {
        for (size_t i = 0; i < n; i++)
            notif_input_free(&ins[i]);
        mem_free(ins);
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    val_errors_free(&errs);
    struct wr_row *rows = mem_calloc(n, sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        rows[i].in = ins[i]; /* moved */
        notifications_new_row(&rows[i]);
    }
    mem_free(ins);
    notifications_submit(r, rows, n, true, idem);
}

/* ---- reads ---- */

/* notifications_found: whether res holds the one row of the notification;
 * if not, r is answered (and freed). */
static bool notifications_found(struct api_req *r, const struct db_result *res) {
    if (res->status != DB_OK) {
        api_reply_db_failed(r, res);
        return false;
    }
    if (PQntuples(res->res) != 1) {
        api_reply_error(r, 404, "not_found", "no such notification", NULL);
        return false;
    }
    return true;
}

static void notifications_one_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (!notifications_found(r, res))
        return;
    struct notif_view v;
    notif_view_from_row(res->res, 0, 0, r->route->auth == API_AUTH_ADMIN, &v);
    struct buf b = {0};
    notif_json(&b, &v);
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

/* notifications_reader: whose notification r reads: its key's tenant's, or
 * any tenant's on an admin route. */
static int64_t notifications_reader(const struct api_req *r) {
    return r->route->auth == API_AUTH_ADMIN ? STORE_ANY_TENANT : r->auth.tenant_id;
}

void notifications_get(struct api_req *r) {
    store_notif_get(r->app->db, notifications_reader(r), r->param, notifications_one_done, r);
}

struct notifications_list_ctx {
    struct api_req *r;
    int limit;
    char scope[512];
};

static void notifications_list_done(void *arg, const struct db_result *res) {
    struct notifications_list_ctx *c = arg;
    struct api_req *r = c->r;
    if (res->status != DB_OK) {
        api_reply_db_failed(r, res);
        mem_free(c);
        return;
    }
    int n = PQntuples(res->res);
    int shown = n > c->limit ? c->limit : n;
    struct buf b = {0};
    buf_puts(&b, "{\"data\":[");
    struct notif_view v = {0};
    for (int i = 0; i < shown; i++) {
        if (i)
            buf_putc(&b, ',');
        notif_view_from_row(res->res, i, 0, false, &v);
        notif_json(&b, &v);
    }
    buf_puts(&b, "],\"next_cursor\":");
    if (n > c->limit) {
        char cur[CURSOR_LEN];
        cursor_encode(v.created_at, v.id, c->scope, cur);
        buf_printf(&b, "\"%s\"}", cur);
    } else {
        buf_puts(&b, "null}");
    }
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
    mem_free(c);
}

void notifications_list(struct api_req *r) {
    struct val_errors errs = {0};
    const char *status = api_query(r, "status");
    const char *channel = api_query(r, "channel");
    const char *recipient = api_query(r, "recipient");
    const char *cursor = api_query(r, "cursor");
    if (status && !notif_status_valid(status))
        val_errors_add(&errs, "status",
                       "must be pending, sent, delivered, failed, cancelled or expired");
    if (channel && notif_channel_parse(channel) < 0)
        val_errors_add(&errs, "channel", "must be email, sms, push or webhook");
    if (recipient && (strlen(recipient) < 1 || strlen(recipient) > 4096 ||
                      !hjson_utf8_valid(recipient, strlen(recipient))))
        val_errors_add(&errs, "recipient", "must be 1 to 4096 bytes of UTF-8");
    int limit = api_query_int(r, "limit", 1, 100, 20, "must be an integer from 1 to 100", &errs);
    struct notifications_list_ctx *c = mem_calloc(1, sizeof(*c));
    c->r = r;
    c->limit = limit;
    snprintf(c->scope, sizeof(c->scope), "%lld|%s|%s|%.400s", (long long)r->auth.tenant_id,
             status ? status : "", channel ? channel : "", recipient ? recipient : "");
    int64_t cur_ms = 0;
    char cur_id[UTIL_UUID_LEN] = "";
    /* a position is a created_at time: years 0000..9999 only */
    if (cursor && (cursor_decode(cursor, c->scope, &cur_ms, cur_id) < 0 ||
                   cur_ms < -62167219200000LL || cur_ms > 253402300799999LL))
        val_errors_add(&errs, "cursor", "is not a cursor for this list and these filters");
    if (errs.len) {
        mem_free(c);
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    struct store_page q = {.tenant_id = r->auth.tenant_id,
                           .status = status,
                           .channel = channel,
                           .recipient = recipient,
                           .before_id = cursor ? cur_id : NULL,
                           .limit = limit + 1};
    store_notif_page(r->app->db, &q, notifications_list_done, c);
}

/* ---- cancel ---- */

static void notifications_cancel_why(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (!notifications_found(r, res))
        return;
    const char *status = db_get(res->res, 0, SS_STATUS);
    char msg[96];
    if (strcmp(status, "pending") == 0)
        snprintf(msg, sizeof(msg), "delivery in progress");
    else
        snprintf(msg, sizeof(msg), "the notification is %s", status);
    api_reply_error(r, 409, "conflict", msg, NULL);
}

static void notifications_cancel_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (res->status != DB_OK) {
        api_reply_db_failed(r, res);
        return;
    }
    if (PQntuples(res->res) == 1) {
        notifications_one_done(r, res);
        return;
    }
    store_notif_status(r->app->db, r->auth.tenant_id, r->param, notifications_cancel_why, r);
}

void notifications_cancel(struct api_req *r) {
    store_notif_cancel(r->app->db, r->auth.tenant_id, r->param, notifications_cancel_done, r);
}

/* ---- attempts ---- */

static void notifications_attempts_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (res->status != DB_OK) {
        api_reply_db_failed(r, res);
        return;
    }
    int n = PQntuples(res->res);
    if (n == 0) {
        api_reply_error(r, 404, "not_found", "no such notification", NULL);
        return;
    }
    struct buf b = {0};
    buf_puts(&b, "{\"data\":[");
    int shown = 0;
    for (int i = 0; i < n; i++) {
        if (db_isnull(res->res, i, SA_ATTEMPT))
            continue;
        if (shown++)
            buf_putc(&b, ',');
        char started[UTIL_TIME_LEN];
        util_fmt_time_ms(strtoll(db_get(res->res, i, SA_STARTED_MS), NULL, 10), started);
        buf_printf(&b, "{\"attempt\":%s,\"started_at\":\"%s\",\"duration_ms\":%s,\"outcome\":",
                   db_get(res->res, i, SA_ATTEMPT), started, db_get(res->res, i, SA_DURATION_MS));
        const char *outcome = db_get(res->res, i, SA_OUTCOME);
        buf_json_str(&b, outcome, strlen(outcome));
        buf_puts(&b, ",\"status_code\":");
        buf_puts(&b, db_isnull(res->res, i, SA_STATUS_CODE) ? "null"
                                                            : db_get(res->res, i, SA_STATUS_CODE));
        buf_puts(&b, ",\"error\":");
        if (db_isnull(res->res, i, SA_ERROR)) {
            buf_puts(&b, "null");
        } else {
            const char *e = db_get(res->res, i, SA_ERROR);
            buf_json_str(&b, e, strlen(e));
        }
        buf_putc(&b, '}');
    }
    buf_puts(&b, "]}");
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

void notifications_attempts(struct api_req *r) {
    store_attempts(r->app->db, notifications_reader(r), r->param, notifications_attempts_done, r);
}
