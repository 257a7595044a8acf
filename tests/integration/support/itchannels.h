/* itchannels: what the email, SMS and push integration tests share on top
 * of itworker: a provider stand-in in place of the webhook receiver (its
 * control port is wt.port, so wt_control and wt_requests talk to it), rows
 * of any channel, and workers of any channel. */
#ifndef HERALD_TESTS_ITCHANNELS_H
#define HERALD_TESTS_ITCHANNELS_H

#include "itworker.h"

/* ct_setup: an empty database and Redis and the tenant "acme"; no stand-in yet. */
void ct_setup(void);
/* ct_start_standin: runs tests/receivers/<script> with the given port
 * arguments (NULL-terminated strings) and waits until http_port answers
 * /_health; http_port becomes wt.port. */
void ct_start_standin(const char *script, int http_port, const char *const args[]);
/* ct_insert: a due row of channel as the API stores it, added to the
 * channel's stream; returns its id (mem_free). subject and metadata may be NULL. */
char *ct_insert(const char *channel, const char *recipient, const char *subject, const char *body,
                const char *metadata);
/* ct_start_worker: herald-worker --channel channel with wt_env and extra ("K=V", NULL-terminated).
 */
pid_t ct_start_worker(const char *channel, const char *const extra[]);
/* ct_outcomes: "outcome:status_code,..." of id's attempts in order (mem_free). */
char *ct_outcomes(const char *id);
/* ct_log_has: true when the worker's log file contains needle. */
bool ct_log_has(pid_t pid, const char *needle);
/* ct_dlq_has: true when herald:dlq:<channel> holds an entry for id. */
bool ct_dlq_has(const char *channel, const char *id);

#endif
