/* callbacks: Twilio-style SMS status callbacks, authenticated by
 * X-Twilio-Signature over the public URL and the sorted form fields. */
#include "api/callbacks.h"
#include "api/http_head.h"
#include "api/store.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/db.h"
#include "common/json.h"
#include "api/form.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/notif.h"
#include "common/stream.h"
#include "common/util.h"

#include <string.h>

#define CALLBACKS_MESSAGE_MAX 200 /* characters of the provider's error text kept */

static void callbacks_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (res->status == DB_ERROR) {
        /* the text was made valid before: a refusal is a bug, not an outage */
        HLOG(HLOG_ERROR, "callback.store_failed", &(struct hlog_ctx){.req_id = r->req_id}, "%s",
             res->message);
        api_reply_error(r, 500, "internal_error", "internal error", NULL);
        return;
    }
    if (res->status != DB_OK) {
        HLOG(HLOG_WARN, "callback.store_failed", &(struct hlog_ctx){.req_id = r->req_id}, "%s",
             res->message);
        api_reply_error(r, 503, "unavailable", "the database cannot be reached", NULL);
        return;
    }
    for (int i = 0; i < PQntuples(res->res); i++) {
        const char *id = db_get(res->res, i, SR_ID);
        HLOG(HLOG_INFO, "callback.applied",
             &(struct hlog_ctx){.req_id = r->req_id, .notif_id = id, .channel = "sms"},
             "delivery receipt applied");
        if (!db_isnull(res->res, i, SR_LAST_ERROR))
            stream_add_dlq(r->app->rds, CH_SMS, id, db_get(res->res, i, SR_TENANT),
                           db_get(res->res, i, SR_LAST_ERROR), util_now_ms(),
                           r->app->cfg->retention_days, NULL, NULL);
    }
    api_reply(r, 204, NULL, 0);
}

/* callbacks_token: whether s is 1..max letters, digits, '-' or '_' (what a
 * provider's message id or error code is made of). */
static bool callbacks_token(const char *s, size_t max) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

void callbacks_h_sms(struct api_req *r) {
    const struct cfg *cfg = r->app->cfg;
    struct form f;
    if (form_parse(r->body, r->body_len, &f) < 0) {
        api_reply_error(r, 403, "forbidden", "malformed callback", NULL);
        return;
    }
    /* the URL the provider signed: the public base, or what this request names */
    struct buf url = {0};
    const char *uri = r->head->target;
    const char *query = strchr(uri, '?');
    if (cfg->public_url) {
        buf_printf(&url, "%s/v1/callbacks/sms%s", cfg->public_url, query ? query : "");
    } else {
        const char *host = api_req_header(r, "Host");
        buf_printf(&url, "http://%s%s", host ? host : "", uri);
    }
    const char *sig = api_req_header(r, "X-Twilio-Signature");
    bool ok = cfg->sms_auth_token && form_twilio_check(cfg->sms_auth_token, url.data, &f, sig);
    buf_free(&url);
    if (!ok) {
        form_free(&f);
        HLOG(HLOG_WARN, "callback.bad_signature", &(struct hlog_ctx){.req_id = r->req_id},
             "SMS callback refused: signature does not match");
        api_reply_error(r, 403, "forbidden", "bad X-Twilio-Signature", NULL);
        return;
    }
    const char *sid = form_get(&f, "MessageSid");
    if (!sid)
        sid = form_get(&f, "SmsSid");
    const char *st = form_get(&f, "MessageStatus");
    if (!st)
        st = form_get(&f, "SmsStatus");
    const char *status = NULL;
    if (st && strcmp(st, "delivered") == 0)
        status = "delivered";
    else if (st && (strcmp(st, "failed") == 0 || strcmp(st, "undelivered") == 0))
        status = "failed";
    if (!callbacks_token(sid, 64) || !status) {
        /* queued, sending, sent and the like change nothing; nor does a
         * message id no provider makes */
        form_free(&f);
        api_reply(r, 204, NULL, 0);
        return;
    }
    const char *code = form_get(&f, "ErrorCode");
    const char *msg = form_get(&f, "ErrorMessage");
    struct buf error = {0};
    buf_printf(&error, "provider reported %s", st); /* one of three known words */
    if (callbacks_token(code, 32))
        buf_printf(&error, " (error %s)", code);
    if (msg && *msg) {
        /* cut on a character, never inside one; bytes that are no UTF-8 are
         * replaced, so PostgreSQL always takes it */
        buf_puts(&error, ": ");
        hjson_utf8_clean(&error, msg, strlen(msg), CALLBACKS_MESSAGE_MAX);
    }
    store_receipt(r->app->db, sid, status, error.data, callbacks_done, r);
    buf_free(&error);
    form_free(&f);
}
