/* provider: helpers shared by the channels. */
#include "worker/provider.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/retry.h"
#include "common/template.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int prov_render(const struct dlv_msg *m, struct buf *subject, struct buf *body,
                struct json_object **meta, struct dlv_result *res) {
    struct json_object *md = NULL;
    char bad[TMPL_NAME_LEN] = "";
    int rc = 0;

    if (m->metadata)
        md = hjson_parse(m->metadata, strlen(m->metadata), NULL, 0);
    if ((subject && m->subject &&
         tmpl_render(m->subject, strlen(m->subject), md, subject, bad, sizeof(bad)) < 0) ||
        tmpl_render(m->body, strlen(m->body), md, body, bad, sizeof(bad)) < 0) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error),
                 "template: metadata has no usable value for {{%s}}", bad);
        rc = -1;
    }
    if (meta)
        *meta = md;
    else if (md)
        json_object_put(md);
    return rc;
}

int prov_url_parse(const char *url, struct prov_url *p) {
    *p = (struct prov_url){0};
    CURLU *u = curl_url();
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &p->host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &p->port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

void prov_url_free(struct prov_url *p) {
    curl_free(p->scheme);
    curl_free(p->host);
    curl_free(p->port);
    *p = (struct prov_url){0};
}

int prov_host_key(const char *url, char *out, size_t outlen) {
    struct prov_url p;
    int rc = prov_url_parse(url, &p);
    if (rc == 0)
        snprintf(out, outlen, "%s://%s:%s", p.scheme, p.host, p.port);
    prov_url_free(&p);
    return rc;
}

void prov_base_url(struct buf *out, const char *base) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    buf_append(out, base, n);
}

void prov_post(struct dlv_req *req, const char *url) {
    CURL *e = req->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
}

bool prov_transport_failed(const struct dlv_resp *resp, const char *what, int timeout_ms,
                           struct dlv_result *res) {
    if (resp->code == CURLE_OK)
        return false;
    res->outcome = DLV_RETRY;
    res->status_code = (int)resp->status;
    if (resp->code == CURLE_OPERATION_TIMEDOUT)
        snprintf(res->error, sizeof(res->error), "%s: timed out after %d ms", what, timeout_ms);
    else
        snprintf(res->error, sizeof(res->error), "%s: %s", what,
                 resp->curl_error[0] ? resp->curl_error : curl_easy_strerror(resp->code));
    return true;
}

void prov_retry_after(const struct dlv_resp *resp, struct dlv_result *res) {
    char ra[128];
    if (dlv_http_header(resp->headers, "Retry-After", ra, sizeof(ra)))
        res->retry_after_ms = retry_after_parse(ra, resp->now_ms);
}

void prov_release_priv(void *state, struct dlv_req *req) {
    (void)state;
    mem_free(req->priv);
    req->priv = NULL;
}

void prov_ref(struct json_object *doc, const char *key, struct dlv_result *res) {
    struct json_object *v;
    if (doc && json_object_object_get_ex(doc, key, &v) &&
        json_object_is_type(v, json_type_string) &&
        (size_t)json_object_get_string_len(v) < sizeof(res->provider_ref))
        prov_clean(res->provider_ref, sizeof(res->provider_ref), json_object_get_string(v),
                   (size_t)json_object_get_string_len(v));
}

void prov_clean(char *out, size_t outlen, const char *s, size_t n) {
    if (outlen == 0)
        return;
    size_t k = 0;
    for (size_t i = 0; s && i < n && k + 1 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = c >= 0x20 && c < 0x7F ? (char)c : '?';
    }
    out[k] = '\0';
}
