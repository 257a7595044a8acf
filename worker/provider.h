/* provider: what the HTTP provider channels (sms, push) share: their
 * per-host key, transport failures, Retry-After, and provider text made safe
 * to store as last_error. Pure helpers; never block. */
#ifndef HERALD_WORKER_PROVIDER_H
#define HERALD_WORKER_PROVIDER_H

#include "worker/dlv.h"

#include <stddef.h>

/* prov_host_key: "scheme://host:port" of url into out (outlen bytes).
 * Returns 0, or -1 when url cannot be parsed. */
int prov_host_key(const char *url, char *out, size_t outlen);

/* prov_transport_failed: when resp carries no HTTP answer (connection
 * refused, timeout, TLS failure...), fills res as a retry naming the cause
 * ("<what>: timed out after N ms") and returns true; otherwise false. */
bool prov_transport_failed(const struct dlv_resp *resp, const char *what, int timeout_ms,
                           struct dlv_result *res);

/* prov_retry_after: sets res->retry_after_ms from resp's Retry-After, if any. */
void prov_retry_after(const struct dlv_resp *resp, struct dlv_result *res);

/* prov_clean: copies at most n bytes of s (NULL: "") into out (outlen
 * bytes, NUL-terminated), printable ASCII kept and every other byte as '?',
 * so provider text is always valid UTF-8 and on one line. */
void prov_clean(char *out, size_t outlen, const char *s, size_t n);

#endif
