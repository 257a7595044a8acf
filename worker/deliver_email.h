/* deliver_email: the email channel (dlv_email_ops in worker/dlv.h), and the
 * one decision of it worth testing alone. */
#ifndef HERALD_WORKER_DELIVER_EMAIL_H
#define HERALD_WORKER_DELIVER_EMAIL_H

#include <curl/curl.h>
#include <stdbool.h>

/* em_host_loopback: whether host (a name, an IP literal, or an IPv6 literal
 * in brackets) is this machine: it resolves, and every address it resolves
 * to is a loopback address (127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into
 * IPv6). Decided on the addresses, never on how the name is spelled. With
 * pin (may be NULL) and a true answer, *pin gets "host:port:addr,..." for
 * CURLOPT_RESOLVE, so connections go to the very addresses checked (caller
 * frees with curl_slist_free_all()). Blocks on the resolver: start-up only. */
bool em_host_loopback(const char *host, const char *port, struct curl_slist **pin);

#endif
