/* deliver_push: the push channel; one FCM HTTP v1 messages:send per notification (API.md), with
 * an access token from worker/fcm_token. */
#include "common/buf.h"
#include "common/config.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/validate.h"
#include "worker/dlv.h"
#include "common/util.h"
#include "worker/fcm_token.h"
#include "worker/provider.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define PUSH_AUTH_MAX 8192 /* an Authorization header line; Google's tokens are ~1 KB */

struct push_state {
    char *url; /* .../v1/projects/{project}/messages:send; owned */
    char host[DLV_HOST_LEN];
    fcm_tok *tok;
    int timeout_ms;
};

/* Per attempt: which token generation the request carried. */
struct push_priv {
    uint64_t gen;
};

static int push_init(const struct cfg *c, void **state, char *err, size_t errlen) {
    const char *project = c->fcm_project_id;
    if (!project || !*project) {
        snprintf(err, errlen, "HERALD_FCM_PROJECT_ID: required for the push channel");
        return -1;
    }
    if (strspn(project, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
        strlen(project)) {
        snprintf(err, errlen, "HERALD_FCM_PROJECT_ID: letters, digits, '-', '_' and '.' only");
        return -1;
    }
    bool file = c->fcm_credentials_file && *c->fcm_credentials_file;
    bool fixed = c->fcm_access_token && *c->fcm_access_token;
    if (file && fixed) {
        snprintf(err, errlen,
                 "HERALD_FCM_ACCESS_TOKEN: set it or HERALD_FCM_CREDENTIALS_FILE, not both");
        return -1;
    }
    if (!file && !fixed) {
        snprintf(err, errlen,
                 "HERALD_FCM_CREDENTIALS_FILE: required for the push channel (or "
                 "HERALD_FCM_ACCESS_TOKEN)");
        return -1;
    }
    if (fixed && strpbrk(c->fcm_access_token, "\r\n")) {
        snprintf(err, errlen, "HERALD_FCM_ACCESS_TOKEN: must be one line");
        return -1;
    }
    struct push_state *s = mem_calloc(1, sizeof(*s));
    struct buf url = {0};
    prov_base_url(&url, c->fcm_base_url);
    buf_printf(&url, "/v1/projects/%s/messages:send", project);
    s->url = buf_steal(&url);
    s->timeout_ms = c->delivery_timeout_ms;
    if (prov_host_key(s->url, s->host, sizeof(s->host)) < 0) {
        snprintf(err, errlen, "HERALD_FCM_BASE_URL: not a valid URL");
        goto fail;
    }
    if (fixed) {
        s->tok = fcm_tok_fixed(c->fcm_access_token);
    } else {
        char why[HD_ERR_LEN];
        s->tok =
            fcm_tok_from_file(c->fcm_credentials_file, c->delivery_timeout_ms, why, sizeof(why));
        if (!s->tok) {
            snprintf(err, errlen, "HERALD_FCM_CREDENTIALS_FILE: %s", why);
            goto fail;
        }
    }
    *state = s;
    return 0;
fail:
    mem_free(s->url);
    mem_free(s);
    return -1;
}

static void push_fini(void *state) {
    struct push_state *s = state;
    if (!s)
        return;
    fcm_tok_free(s->tok);
    mem_free(s->url);
    mem_free(s);
}

static void push_attach(void *state, const struct dlv_env *env) {
    struct push_state *s = state;
    fcm_tok_attach(s->tok, env);
}

static void push_detach(void *state) {
    struct push_state *s = state;
    fcm_tok_detach(s->tok);
}

static int push_prepare(void *state, const struct dlv_msg *m, struct dlv_req *req,
                        struct dlv_result *res) {
    struct push_state *s = state;
    struct json_object *meta = NULL;
    struct buf title = {0}, body = {0}, payload = {0}, auth = {0};
    char why[160];
    int rc = -1;

    snprintf(req->host, sizeof(req->host), "%s", s->host);
    const char *token = NULL;
    uint64_t gen = 0;
    switch (fcm_tok_get(s->tok, &token, &gen, why, sizeof(why))) {
    case FCM_TOK_WAIT:
        return DLV_WAIT;
    case FCM_TOK_FAILED:
        /* Herald's own credentials: retried without using up an attempt */
        res->outcome = DLV_RETRY;
        res->auth_error = true;
        snprintf(res->error, sizeof(res->error), "FCM access token: %s", why);
        return -1;
    case FCM_TOK_READY:
        break;
    }
    if (strlen(token) + 32 > PUSH_AUTH_MAX) {
        res->outcome = DLV_RETRY;
        res->auth_error = true;
        snprintf(res->error, sizeof(res->error), "FCM access token is too long");
        return -1;
    }
    if (prov_render(m, &title, &body, &meta, res) < 0)
        goto out;
    buf_puts(&payload, "{\"message\":");
    val_push_message_json(m->recipient, m->subject ? (title.data ? title.data : "") : NULL,
                          title.len, body.data ? body.data : "", body.len, meta, &payload);
    if (m->expires_at_ms && payload.len && payload.data[payload.len - 1] == '}') {
        /* the time left (API.md "Deadlines"): FCM's Android TTL, APNs' expiration */
        int64_t left_ms = m->expires_at_ms - util_now_ms();
        long long left_s = left_ms > 0 ? (long long)((left_ms + 999) / 1000) : 0;
        payload.len--;
        buf_printf(&payload,
                   ",\"android\":{\"ttl\":\"%llds\"},\"apns\":{\"headers\":"
                   "{\"apns-expiration\":\"%lld\"}}}",
                   left_s, (long long)(m->expires_at_ms / 1000));
    }
    buf_putc(&payload, '}');
    req->body_len = payload.len;
    req->body = buf_steal(&payload);

    struct push_priv *p = mem_calloc(1, sizeof(*p));
    p->gen = gen;
    req->priv = p;
    buf_printf(&auth, "Authorization: Bearer %s", token);
    req->headers = curl_slist_append(req->headers, "Content-Type: application/json; charset=UTF-8");
    req->headers = curl_slist_append(req->headers, auth.data);
    req->headers = curl_slist_append(req->headers, "User-Agent: Herald/1");
    req->headers = curl_slist_append(req->headers, "Expect:");
    prov_post(req, s->url);
    rc = 0;
out:
    if (meta)
        json_object_put(meta);
    if (auth.data)
        memset(auth.data, 0, auth.len); /* the token does not linger in freed memory */
    buf_free(&auth);
    buf_free(&title);
    buf_free(&body);
    buf_free(&payload);
    return rc;
}

/* push_error_code: error.details[].errorCode of an FCM error body, or NULL (borrowed from doc). */
static const char *push_error_code(struct json_object *error) {
    struct json_object *details, *d, *code;
    if (!error || !json_object_object_get_ex(error, "details", &details) ||
        !json_object_is_type(details, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(details); i++) {
        d = json_object_array_get_idx(details, i);
        if (d && json_object_object_get_ex(d, "errorCode", &code) &&
            json_object_is_type(code, json_type_string))
            return json_object_get_string(code);
    }
    return NULL;
}

static void push_classify(void *state, const struct dlv_msg *m, const struct dlv_req *req,
                          const struct dlv_resp *resp, struct dlv_result *res) {
    struct push_state *s = state;
    (void)m;
    if (prov_transport_failed(resp, "FCM", s->timeout_ms, res))
        return;
    long status = resp->status;
    res->status_code = (int)status;
    struct json_object *doc = hjson_parse(resp->body, resp->body_len, NULL, 0), *v, *error = NULL;
    if (doc)
        json_object_object_get_ex(doc, "error", &error);
    if (status >= 200 && status < 300) {
        res->outcome = DLV_SENT;
        prov_ref(doc, "name", res);
        goto out;
    }

    /* "HTTP 404 UNREGISTERED: Requested entity was not found." */
    const char *code = push_error_code(error), *gstatus = NULL, *msg = NULL;
    if (error && json_object_object_get_ex(error, "status", &v) &&
        json_object_is_type(v, json_type_string))
        gstatus = json_object_get_string(v);
    if (error && json_object_object_get_ex(error, "message", &v) &&
        json_object_is_type(v, json_type_string))
        msg = json_object_get_string(v);
    char c[48] = "", text[160] = "";
    prov_clean(c, sizeof(c), code ? code : gstatus,
               code      ? strlen(code)
               : gstatus ? strlen(gstatus)
                         : 0);
    prov_clean(text, sizeof(text), msg, msg ? strlen(msg) : 0);
    snprintf(res->error, sizeof(res->error), "HTTP %ld%s%s%s%s", status, c[0] ? " " : "", c,
             text[0] ? ": " : "", text);

    bool unregistered = code && strcmp(code, "UNREGISTERED") == 0;
    bool mismatch = (code && strcmp(code, "SENDER_ID_MISMATCH") == 0) ||
                    (resp->body && strstr(resp->body, "SENDER_ID_MISMATCH"));
    if (status == 429 || status >= 500) {
        res->outcome = DLV_RETRY;
        prov_retry_after(resp, res);
    } else if (status == 401) {
        /* the token: fetch a new one once, and try again soon without using an attempt */
        const struct push_priv *p = req->priv;
        res->outcome = DLV_RETRY;
        res->auth_error = true;
        if (p && fcm_tok_rejected(s->tok, p->gen))
            res->retry_after_ms = 0;
    } else if (status == 403) {
        res->outcome = mismatch ? DLV_FAILED : DLV_RETRY;
        res->auth_error = !mismatch;
    } else if (status == 404 && !unregistered) {
        /* no such project or route: Herald's configuration, not the device */
        res->outcome = DLV_RETRY;
        res->auth_error = true;
    } else if (status >= 400 && status < 500) {
        /* UNREGISTERED, INVALID_ARGUMENT and the other errors of this message */
        res->outcome = DLV_FAILED;
    } else {
        res->outcome = DLV_RETRY;
    }
out:
    if (doc)
        json_object_put(doc);
}

const struct dlv_ops dlv_push_ops = {
    .name = "push",
    .init = push_init,
    .prepare = push_prepare,
    .classify = push_classify,
    /* priv is the token generation; the Authorization line is in
     * req->headers, freed by the engine */
    .release = prov_release_priv,
    .fini = push_fini,
    .attach = push_attach,
    .detach = push_detach,
};
