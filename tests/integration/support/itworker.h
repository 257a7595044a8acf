/* itworker: what the worker integration tests share: a webhook receiver
 * stand-in, rows inserted the way the API inserts them, herald-worker
 * processes, their dead letters and the reference verifier of their
 * signatures. Every helper fails the test on errors. The state is one
 * struct (wt), defined in itworker.c; Criterion runs each test in a process
 * of its own, so it starts zeroed for every test (wt_setup clears it too). */
#ifndef HERALD_TESTS_ITWORKER_H
#define HERALD_TESTS_ITWORKER_H

#include "itsup.h"
#include "common/buf.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define WT_MAX_WORKERS 4

struct wt {
    pid_t receiver;
    int port;
    pid_t workers[WT_MAX_WORKERS];
    int nworkers;
    long tenant_id;
    bool redis_stopped, pg_stopped; /* restarted by wt_teardown if a test failed midway */
    pid_t redis_paused;             /* SIGSTOPped Redis, resumed by wt_teardown */
    char secret[80];                /* whsec_... */
};

extern struct wt wt;

/* The settings every test worker runs with (NULL-terminated); a test's extra ones win. */
extern const char *const wt_env[];

/* wt_url: http://127.0.0.1:<receiver port><path>; caller frees with mem_free. */
char *wt_url(const char *path);
void wt_start_receiver(void);
/* wt_control: sets the receiver's answers for a path (see webhook_receiver.py). */
void wt_control(const char *json);
/* wt_requests: what the receiver got on path (NULL: every path), a json-c
 * array; caller releases with json_object_put. */
struct json_object *wt_requests(const char *path);
/* wt_time_of: when the receiver got request i of reqs (wt_requests'
 * answer), in Unix seconds. */
double wt_time_of(struct json_object *reqs, size_t i);
int wt_count(const char *path);
/* wt_str: o's string member key, borrowed from o; NULL when absent. */
const char *wt_str(struct json_object *o, const char *key);
/* wt_tenant: a tenant with a known secret (32 bytes 1..32) in wt.secret. */
void wt_tenant(void);
/* wt_rotate_secret: the tenant's secret becomes its previous one (still
 * signing during the grace) and "whsec_" + base64 of key (32 bytes) its
 * new one, also written to fresh (n bytes). wt.secret stays the old one. */
void wt_rotate_secret(const uint8_t key[32], char *fresh, size_t n);
/* wt_insert: a row as the API stores it. send_in_ms > 0 makes it scheduled
 * (send_at in the future, not in the stream); returns its id (mem_free). */
char *wt_insert(const char *path, const char *subject, const char *body, const char *metadata,
                int send_in_ms);
/* wt_xadd: XADD id to its lane (its priority, its tenant's), as the API does;
 * wt_xadd_legacy: to the version 1 stream herald:stream:webhook. */
void wt_xadd(const char *id);
void wt_xadd_legacy(const char *id);
/* wt_enqueue: insert + XADD, what a POST /v1/notifications does. */
char *wt_enqueue(const char *path, const char *body);
/* wt_enqueue_row: the same for any channel and recipient (for a webhook, a
 * whole URL); subject and metadata may be NULL. Returns its id (mem_free). */
char *wt_enqueue_row(const char *channel, const char *recipient, const char *subject,
                     const char *body, const char *metadata);
/* wt_start_channel_worker: herald-worker --channel channel with wt_env and
 * extra ("K=V", NULL-terminated; an extra setting replaces wt_env's). */
pid_t wt_start_channel_worker(const char *channel, const char *const extra[]);
/* wt_start_worker: a webhook worker. */
pid_t wt_start_worker(const char *const extra[]);
/* wt_start_worker_n: with --concurrency concurrency (wt_start_worker: 8). */
pid_t wt_start_worker_n(const char *const extra[], int concurrency);
/* wt_stop_worker: sig to worker i, waits for it; returns its exit status. */
int wt_stop_worker(int i, int sig, int timeout_ms);
/* wt_field: column col of the row id as text (mem_free), or NULL. */
char *wt_field(const char *id, const char *col);
/* wt_wait_status: polls until the row has status; generous timeouts only. */
bool wt_wait_status(const char *id, const char *status, int timeout_ms);
/* wt_wait_requests: polls until the receiver got at least n requests on path. */
bool wt_wait_requests(const char *path, int n, int timeout_ms);
/* wt_int: the first value of sql with one parameter, as an int; -1 for none. */
int wt_int(const char *sql, const char *param);
/* wt_expect_outcomes: asserts that id's attempts had the outcomes want,
 * "outcome:status_code,..." in order (a status code of 0 for none). */
void wt_expect_outcomes(const char *id, const char *want);
/* wt_expect_error: asserts that id's last_error contains part. */
void wt_expect_error(const char *id, const char *part);
/* wt_attempts: the attempts column of the row id; -1 for no row. */
int wt_attempts(const char *id);
/* wt_expect_end: asserts that id reaches status within 30 s, having used
 * attempts attempts. */
void wt_expect_end(const char *id, const char *status, int attempts);
/* wt_log_count: how many lines of the process's log (it_log_path(name,
 * pid)) contain needle. */
int wt_log_count(const char *name, pid_t pid, const char *needle);
/* wt_dlq_has: true when herald:dlq:<channel> holds an entry for id. */
bool wt_dlq_has(const char *channel, const char *id);
/* wt_verify_with_npm: runs the Standard Webhooks reference verifier
 * (tests/webhooks/verify.mjs, installed by tests/webhooks/setup.sh) over what
 * the receiver got on path, with secret; returns its exit code. */
int wt_verify_with_npm(const char *path, const char *secret);
void wt_setup(void);
/* wt_redis_stop, wt_redis_start, wt_pg_stop, wt_pg_start: outages the
 * teardown undoes even when the test fails in the middle. */
void wt_redis_stop(void);
void wt_redis_start(void);
void wt_pg_stop(void);
void wt_pg_start(void);
/* wt_redis_pause, wt_redis_resume: SIGSTOP / SIGCONT the test Redis: it
 * keeps its connections and answers nothing meanwhile. */
void wt_redis_pause(void);
void wt_redis_resume(void);
void wt_teardown(void);

#endif
