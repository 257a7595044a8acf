/* provider: what the channels share: rendering a message's templates, URLs
 * and the per-host key, the POST request, transport failures, Retry-After,
 * the provider's reference and text made safe to store as last_error, and
 * freeing per-attempt state. Pure helpers; never block. */
#ifndef HERALD_WORKER_PROVIDER_H
#define HERALD_WORKER_PROVIDER_H

#include "common/mem.h"
#include "worker/dlv.h"

#include <stddef.h>

struct buf;
struct json_object;

/* prov_render: renders m's body into body and, when subject is not NULL and m
 * has a subject, m's subject into subject, with m's metadata (API.md,
 * "placeholders"). When meta is not NULL it receives the parsed metadata, or
 * NULL when m has none; caller releases it with json_object_put(), even on
 * failure. Returns 0, or -1 with res filled as a permanent failure naming the
 * first placeholder that has no usable value. */
int prov_render(const struct dlv_msg *m, struct buf *subject, struct buf *body,
                struct json_object **meta, struct dlv_result *res) HD_MUSTCHECK;

/* A URL's parts as libcurl's URL parser reads them; each NUL-terminated,
 * owned by the struct (free with prov_url_free). */
struct prov_url {
    char *scheme;
    char *host; /* an IPv6 address in brackets */
    char *port; /* the scheme's default when the URL names none */
};

/* prov_url_parse: splits url into p. Returns 0, or -1 when url cannot be
 * parsed; either way the caller frees p with prov_url_free(). */
int prov_url_parse(const char *url, struct prov_url *p) HD_MUSTCHECK;

/* prov_url_free: frees p's parts (any may be NULL) and clears them. */
void prov_url_free(struct prov_url *p);

/* prov_host_key: "scheme://host:port" of url into out (outlen bytes).
 * Returns 0, or -1 when url cannot be parsed. */
int prov_host_key(const char *url, char *out, size_t outlen);

/* prov_base_url: appends base (a HERALD_*_BASE_URL) to out without its
 * trailing slashes, so that a path can follow. */
void prov_base_url(struct buf *out, const char *base);

/* prov_post: sets req->easy to POST req->body (req->body_len bytes) with
 * req->headers to url (copied), over http or https only. */
void prov_post(struct dlv_req *req, const char *url);

/* prov_transport_failed: when resp carries no HTTP answer (connection
 * refused, timeout, TLS failure...), fills res as a retry naming the cause
 * ("<what>: timed out after N ms") and returns true; otherwise false. */
bool prov_transport_failed(const struct dlv_resp *resp, const char *what, int timeout_ms,
                           struct dlv_result *res);

/* prov_retry_after: sets res->retry_after_ms from resp's Retry-After, if any. */
void prov_retry_after(const struct dlv_resp *resp, struct dlv_result *res);

/* prov_release_priv: a dlv_ops release for a channel whose req->priv is one
 * block from mem_alloc (or NULL): frees it and clears req->priv. A channel
 * whose priv holds more frees that first, then calls this. */
void prov_release_priv(void *state, struct dlv_req *req);

/* prov_ref: sets res->provider_ref from doc's string member key (cleaned as
 * prov_clean does) when doc has one that fits; doc may be NULL. */
void prov_ref(struct json_object *doc, const char *key, struct dlv_result *res);

/* prov_clean: copies at most n bytes of s (NULL: "") into out (outlen
 * bytes, NUL-terminated), printable ASCII kept and every other byte as '?',
 * so provider text is always valid UTF-8 and on one line. */
void prov_clean(char *out, size_t outlen, const char *s, size_t n);

#endif
