/* deliver_webhook: the webhook channel; a signed JSON POST per Standard Webhooks v1 (API.md). */
#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/mem.h"
#include "common/util.h"
#include "worker/dlv.h"
#include "worker/netpolicy.h"
#include "worker/provider.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define WH_SECRET_PREFIX "whsec_"
#define WH_KEY_MAX 256 /* decoded secret bytes accepted */

struct wh_state {
    struct netp_rules rules; /* borrows the configuration's allow list */
    int timeout_ms;
};

/* Per attempt: what the socket filter saw. */
struct wh_priv {
    const struct netp_rules *rules;
    char *host;                /* the URL's host as curl parsed it; owned (curl_free) */
    enum netp_verdict blocked; /* the first refusal; NETP_OK while none */
    char addr[NETP_ADDR_LEN];  /* its address */
};

static int wh_init(const struct cfg *c, void **state, char *err, size_t errlen) {
    (void)err;
    (void)errlen;
    struct wh_state *s = mem_calloc(1, sizeof(*s));
    s->rules.allow_private = c->webhook_allow_private;
    s->rules.allow = c->webhook_allow_list;
    s->timeout_ms = c->delivery_timeout_ms;
    *state = s;
    return 0;
}

static void wh_fini(void *state) {
    mem_free(state);
}

/* wh_opensocket: the one place a connection's address is known for sure;
 * refusing here leaves no second lookup that could swap the address. */
static curl_socket_t wh_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
    struct wh_priv *p = clientp;
    enum netp_verdict v = purpose == CURLSOCKTYPE_IPCXN
                              ? netp_check(p->rules, p->host, &a->addr, (socklen_t)a->addrlen)
                              : NETP_OK;
    if (v != NETP_OK) {
        /* link-local is the graver refusal: it is the one reported */
        if (p->blocked == NETP_OK || v == NETP_LINK_LOCAL) {
            netp_addr_format(&a->addr, (socklen_t)a->addrlen, p->addr);
            p->blocked = v;
        }
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* wh_url_host: the host of url as curl will resolve it (IPv6 literals in
 * brackets), or NULL; caller frees with curl_free(). */
static char *wh_url_host(const char *url) {
    char *host = NULL;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
        (void)curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_cleanup(u);
    return host;
}

/* wh_sign: appends " v1,<base64 HMAC-SHA256(key, id.ts.body)>" for one secret. */
static int wh_sign(struct buf *sigs, const char *secret, const char *signed_text, size_t n) {
    if (!secret || strncmp(secret, WH_SECRET_PREFIX, strlen(WH_SECRET_PREFIX)) != 0)
        return -1;
    const char *b64 = secret + strlen(WH_SECRET_PREFIX);
    uint8_t key[WH_KEY_MAX], mac[32];
    long klen = crypto_b64_decode(b64, strlen(b64), key, sizeof(key));
    if (klen <= 0)
        return -1;
    crypto_hmac_sha256(key, (size_t)klen, signed_text, n, mac);
    char out[48];
    crypto_b64(mac, sizeof(mac), out, false);
    buf_printf(sigs, "%sv1,%s", sigs->len ? " " : "", out);
    return 0;
}

/* wh_payload: a notification's webhook body (API.md "What each channel sends"). */
static void wh_payload(struct buf *payload, const struct dlv_msg *m, const struct buf *subject,
                       const struct buf *body) {
    char created[UTIL_TIME_LEN];
    util_fmt_time_ms(m->created_at_ms, created);
    buf_puts(payload, "{\"id\":");
    buf_json_str(payload, m->id, strlen(m->id));
    buf_puts(payload, ",\"type\":\"notification\",\"subject\":");
    if (m->subject)
        buf_json_str(payload, subject->data ? subject->data : "", subject->len);
    else
        buf_puts(payload, "null");
    buf_puts(payload, ",\"body\":");
    buf_json_str(payload, body->data ? body->data : "", body->len);
    buf_puts(payload, ",\"metadata\":");
    buf_puts(payload, m->metadata ? m->metadata : "null"); /* as the API's resource shows it */
    buf_puts(payload, ",\"created_at\":");
    buf_json_str(payload, created, strlen(created));
    buf_putc(payload, '}');
}

static int wh_prepare(void *state, const struct dlv_msg *m, struct dlv_req *req,
                      struct dlv_result *res) {
    struct wh_state *s = state;
    int rc = -1;
    struct buf subject = {0}, body = {0}, payload = {0}, signed_text = {0}, sigs = {0};

    if (prov_host_key(m->recipient, req->host, sizeof(req->host)) < 0) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error), "the recipient is not a valid URL");
        goto out;
    }
    if (m->event) {
        /* a status event for the tenant's events_url: the event's JSON as the
         * feed serves it (schema/009), without placeholders */
        buf_puts(&payload, m->body);
    } else {
        if (prov_render(m, &subject, &body, NULL, res) < 0)
            goto out;
        wh_payload(&payload, m, &subject, &body);
    }

    long long ts = (long long)(util_now_ms() / 1000);
    buf_printf(&signed_text, "%s.%lld.", m->id, ts);
    buf_append(&signed_text, payload.data, payload.len);
    if (wh_sign(&sigs, m->secret, signed_text.data, signed_text.len) < 0) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error), "the tenant's webhook secret is malformed");
        goto out;
    }
    /* during a rotation the new signature comes first; a bad old one is skipped */
    if (m->prev_secret)
        (void)wh_sign(&sigs, m->prev_secret, signed_text.data, signed_text.len);

    struct wh_priv *p = mem_calloc(1, sizeof(*p));
    p->rules = &s->rules;
    p->host = wh_url_host(m->recipient);
    req->priv = p;

    char line[512];
    req->headers = curl_slist_append(req->headers, "Content-Type: application/json");
    snprintf(line, sizeof(line), "webhook-id: %s", m->id);
    req->headers = curl_slist_append(req->headers, line);
    snprintf(line, sizeof(line), "webhook-timestamp: %lld", ts);
    req->headers = curl_slist_append(req->headers, line);
    struct buf sig_line = {0};
    buf_printf(&sig_line, "webhook-signature: %s", sigs.data);
    req->headers = curl_slist_append(req->headers, sig_line.data);
    buf_free(&sig_line);
    req->headers = curl_slist_append(req->headers, "User-Agent: Herald-Webhooks/1");
    req->headers = curl_slist_append(req->headers, "Expect:");

    req->body_len = payload.len;
    req->body = buf_steal(&payload);

    CURL *e = req->easy;
    prov_post(req, m->recipient);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, wh_opensocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p);
    rc = 0;
out:
    buf_free(&subject);
    buf_free(&body);
    buf_free(&payload);
    buf_free(&signed_text);
    buf_free(&sigs);
    return rc;
}

static void wh_classify(void *state, const struct dlv_msg *m, const struct dlv_req *req,
                        const struct dlv_resp *resp, struct dlv_result *res) {
    struct wh_state *s = state;
    (void)m;
    const struct wh_priv *p = req->priv;
    res->status_code = (int)resp->status;
    if (resp->code != CURLE_OK) {
        if (p && p->blocked == NETP_LINK_LOCAL && resp->status == 0) {
            res->outcome = DLV_FAILED;
            snprintf(res->error, sizeof(res->error),
                     "destination address %s is link-local (169.254/16, fe80::/10), where "
                     "cloud metadata services live: always refused",
                     p->addr);
            return;
        }
        if (p && p->blocked == NETP_PRIVATE && resp->status == 0) {
            res->outcome = DLV_FAILED;
            snprintf(res->error, sizeof(res->error),
                     "destination address %s is private or reserved and not allowed "
                     "(HERALD_WEBHOOK_ALLOW does not list it; HERALD_WEBHOOK_ALLOW_PRIVATE is "
                     "false)",
                     p->addr);
            return;
        }
        res->outcome = DLV_RETRY;
        if (resp->code == CURLE_OPERATION_TIMEDOUT)
            snprintf(res->error, sizeof(res->error), "timed out after %d ms", s->timeout_ms);
        else
            snprintf(res->error, sizeof(res->error), "%s",
                     resp->curl_error[0] ? resp->curl_error : curl_easy_strerror(resp->code));
        return;
    }
    if (resp->status >= 200 && resp->status < 300) {
        res->outcome = DLV_SENT;
        return;
    }
    if (resp->status == 410) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error), "HTTP 410: the endpoint is gone");
        return;
    }
    res->outcome = DLV_RETRY;
    if (resp->status >= 300 && resp->status < 400)
        snprintf(res->error, sizeof(res->error), "HTTP %ld (redirects are not followed)",
                 resp->status);
    else
        snprintf(res->error, sizeof(res->error), "HTTP %ld", resp->status);
    prov_retry_after(resp, res);
}

static void wh_release(void *state, struct dlv_req *req) {
    struct wh_priv *p = req->priv;
    if (p)
        curl_free(p->host);
    prov_release_priv(state, req);
}

const struct dlv_ops dlv_webhook_ops = {
    .name = "webhook",
    .init = wh_init,
    .prepare = wh_prepare,
    .classify = wh_classify,
    .release = wh_release,
    .fini = wh_fini,
};
