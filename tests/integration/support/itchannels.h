/* itchannels: what the email, SMS and push integration tests share on top
 * of itworker: a provider stand-in in place of the webhook receiver (its
 * control port is wt.port, so wt_control and wt_requests talk to it), and
 * workers of any channel; rows and dead letters of any channel are
 * itworker's (wt_enqueue_row, wt_dlq_has). */
#ifndef HERALD_TESTS_ITCHANNELS_H
#define HERALD_TESTS_ITCHANNELS_H

#include "itworker.h"

/* ct_setup: an empty database and Redis and the tenant "acme"; no stand-in yet. */
void ct_setup(void);
/* ct_start_standin: runs tests/receivers/<script> with the given port
 * arguments (NULL-terminated strings) and waits until http_port answers
 * /_health; http_port becomes wt.port. */
void ct_start_standin(const char *script, int http_port, const char *const args[]);
/* ct_start_worker: herald-worker --channel channel with wt_env and extra ("K=V", NULL-terminated).
 */
pid_t ct_start_worker(const char *channel, const char *const extra[]);
/* ct_expect_config_error: a worker of channel started with only env fails
 * start-up (exit 3 within 10 s) and names variable in its log. */
void ct_expect_config_error(const char *channel, const char *const env[], const char *variable);
/* ct_log_has: true when the worker's log file contains needle. */
bool ct_log_has(pid_t pid, const char *needle);

#endif
