/* deliver_sms: the SMS channel; one POST to a Twilio-compatible Messages.json per notification
 * (API.md). The returned sid becomes provider_ref; a receipt that came before it is applied by
 * the database when the sid is stored (schema/002_sms_receipts.sql). */
#include "common/buf.h"
#include "common/config.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/util.h"
#include "worker/dlv.h"
#include "worker/provider.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define SMS_VALIDITY_MAX_S 36000 /* the ValidityPeriod Twilio takes, at most (seconds) */
#define SMS_TOO_MANY_REQUESTS                                                                      \
    20429 /* Twilio's rate-limit error code: retried whatever the status */

struct sms_state {
    char *url;             /* .../2010-04-01/Accounts/{SID}/Messages.json; owned */
    const char *sid;       /* borrowed from the config, as the rest */
    const char *token;     /* never logged or stored */
    const char *from;      /* From */
    char *status_callback; /* HERALD_PUBLIC_URL + "/v1/callbacks/sms"; NULL when unset; owned */
    char host[DLV_HOST_LEN];
    int timeout_ms;
};

static int sms_init(const struct cfg *c, void **state, char *err, size_t errlen) {
    if (!c->sms_account_sid || !*c->sms_account_sid) {
        snprintf(err, errlen, "HERALD_SMS_ACCOUNT_SID: required for the sms channel");
        return -1;
    }
    if (strspn(c->sms_account_sid,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
        strlen(c->sms_account_sid)) {
        snprintf(err, errlen, "HERALD_SMS_ACCOUNT_SID: letters and digits only");
        return -1;
    }
    if (!c->sms_auth_token || !*c->sms_auth_token) {
        snprintf(err, errlen, "HERALD_SMS_AUTH_TOKEN: required for the sms channel");
        return -1;
    }
    if (!c->sms_from || !*c->sms_from) {
        snprintf(err, errlen, "HERALD_SMS_FROM: required for the sms channel");
        return -1;
    }
    struct sms_state *s = mem_calloc(1, sizeof(*s));
    struct buf url = {0};
    prov_base_url(&url, c->sms_base_url);
    buf_printf(&url, "/2010-04-01/Accounts/%s/Messages.json", c->sms_account_sid);
    s->url = buf_steal(&url);
    if (prov_host_key(s->url, s->host, sizeof(s->host)) < 0) {
        snprintf(err, errlen, "HERALD_SMS_BASE_URL: not a valid URL");
        mem_free(s->url);
        mem_free(s);
        return -1;
    }
    s->sid = c->sms_account_sid;
    s->token = c->sms_auth_token;
    s->from = c->sms_from;
    if (c->public_url) {
        struct buf cb = {0};
        buf_printf(&cb, "%s/v1/callbacks/sms", c->public_url);
        s->status_callback = buf_steal(&cb);
    }
    s->timeout_ms = c->delivery_timeout_ms;
    *state = s;
    return 0;
}

static void sms_fini(void *state) {
    struct sms_state *s = state;
    if (!s)
        return;
    mem_free(s->url);
    mem_free(s->status_callback);
    mem_free(s);
}

/* sms_field: appends "&name=value" (form-encoded) to form. */
static void sms_field(CURL *e, struct buf *form, const char *name, const char *v, size_t n) {
    char *esc = curl_easy_escape(e, v, (int)n);
    buf_printf(form, "%s%s=%s", form->len ? "&" : "", name, esc ? esc : "");
    curl_free(esc);
}

static int sms_prepare(void *state, const struct dlv_msg *m, struct dlv_req *req,
                       struct dlv_result *res) {
    struct sms_state *s = state;
    struct buf body = {0}, form = {0};
    int rc = -1;

    snprintf(req->host, sizeof(req->host), "%s", s->host);
    /* an SMS has no subject */
    if (prov_render(m, NULL, &body, NULL, res) < 0)
        goto out;
    CURL *e = req->easy;
    sms_field(e, &form, "To", m->recipient, strlen(m->recipient));
    sms_field(e, &form, "From", s->from, strlen(s->from));
    sms_field(e, &form, "Body", body.data ? body.data : "", body.len);
    if (s->status_callback)
        sms_field(e, &form, "StatusCallback", s->status_callback, strlen(s->status_callback));
    if (m->expires_at_ms) {
        /* the seconds left, clamped to what Twilio takes (1..36000) */
        int64_t left_ms = m->expires_at_ms - util_now_ms();
        long long left_s = left_ms > 0 ? (long long)((left_ms + 999) / 1000) : 1;
        if (left_s < 1)
            left_s = 1;
        if (left_s > SMS_VALIDITY_MAX_S)
            left_s = SMS_VALIDITY_MAX_S;
        char vp[24];
        snprintf(vp, sizeof(vp), "%lld", left_s);
        sms_field(e, &form, "ValidityPeriod", vp, strlen(vp));
    }
    req->body_len = form.len;
    req->body = buf_steal(&form);

    req->headers =
        curl_slist_append(req->headers, "Content-Type: application/x-www-form-urlencoded");
    req->headers = curl_slist_append(req->headers, "Accept: application/json");
    req->headers = curl_slist_append(req->headers, "User-Agent: Herald/1");
    req->headers = curl_slist_append(req->headers, "Expect:");
    prov_post(req, s->url);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, s->sid);
    curl_easy_setopt(e, CURLOPT_PASSWORD, s->token);
    rc = 0;
out:
    buf_free(&body);
    buf_free(&form);
    return rc;
}

/* sms_error: "<code>: <message>" from a Twilio error body, else "HTTP <status>". */
static void sms_error(struct json_object *doc, long status, int64_t code, struct dlv_result *res) {
    struct json_object *msg = NULL;
    char text[192] = ""; /* leaves room for the code in res->error */
    if (doc && json_object_object_get_ex(doc, "message", &msg) &&
        json_object_is_type(msg, json_type_string))
        prov_clean(text, sizeof(text), json_object_get_string(msg),
                   (size_t)json_object_get_string_len(msg));
    if (code > 0)
        snprintf(res->error, sizeof(res->error), "%lld: %s", (long long)code,
                 text[0] ? text : "(no message)");
    else if (text[0])
        snprintf(res->error, sizeof(res->error), "HTTP %ld: %s", status, text);
    else
        snprintf(res->error, sizeof(res->error), "HTTP %ld", status);
}

static void sms_classify(void *state, const struct dlv_msg *m, const struct dlv_req *req,
                         const struct dlv_resp *resp, struct dlv_result *res) {
    struct sms_state *s = state;
    (void)m;
    (void)req;
    if (prov_transport_failed(resp, "SMS provider", s->timeout_ms, res))
        return;
    long status = resp->status;
    res->status_code = (int)status;
    struct json_object *doc = hjson_parse(resp->body, resp->body_len, NULL, 0);
    int64_t code = 0;
    struct json_object *v = NULL;
    if (doc && json_object_object_get_ex(doc, "code", &v) && json_object_is_type(v, json_type_int))
        code = json_object_get_int64(v);

    if (code == SMS_TOO_MANY_REQUESTS || status == 429 || status >= 500) {
        res->outcome = DLV_RETRY;
        sms_error(doc, status, code, res);
        prov_retry_after(resp, res);
    } else if (status >= 200 && status < 300) {
        res->outcome = DLV_SENT;
        prov_ref(doc, "sid", res);
    } else if (status == 401 || status == 403) {
        /* Herald's account: retried without using up the notification's attempts */
        res->outcome = DLV_RETRY;
        res->auth_error = true;
        sms_error(doc, status, code, res);
    } else if (status >= 400 && status < 500) {
        res->outcome = DLV_FAILED;
        sms_error(doc, status, code, res);
    } else {
        res->outcome = DLV_RETRY;
        sms_error(doc, status, code, res);
    }
    if (doc)
        json_object_put(doc);
}

const struct dlv_ops dlv_sms_ops = {
    .name = "sms",
    .init = sms_init,
    .prepare = sms_prepare,
    .classify = sms_classify,
    .fini = sms_fini,
};
