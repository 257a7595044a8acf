/* xfer: libcurl's multi interface on the process's event_base, with a limit
 * on transfers in flight per destination host; the options every delivery
 * shares and the capture of its answer. */
#ifndef HERALD_WORKER_XFER_H
#define HERALD_WORKER_XFER_H

#include "common/buf.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct dlv_resp;
typedef struct xfer xfer;

#define XFER_CAPTURE_MAX 16384 /* response header and body bytes kept for classify */

/* A delivery's answer as it arrives: the last header block, the first
 * XFER_CAPTURE_MAX bytes of the body, curl's error text. Zeroed is empty. */
struct xfer_capture {
    struct buf head, body;
    char error[CURL_ERROR_SIZE];
};

/* xfer_easy: a new easy handle with the options every delivery shares (no
 * signals, timeout_ms for the whole transfer, no redirects, TCP keep-alive)
 * writing its answer into cap (borrowed until the handle is cleaned up).
 * NULL when curl is out of memory. */
CURL *xfer_easy(struct xfer_capture *cap, long timeout_ms);

/* xfer_answer: the finished transfer easy as a channel's classify sees it
 * (borrows cap's text; valid while cap is). */
void xfer_answer(CURL *easy, const struct xfer_capture *cap, CURLcode code, int64_t now_ms,
                 struct dlv_resp *out);

/* xfer_capture_free: empties cap. */
void xfer_capture_free(struct xfer_capture *cap);

/* A transfer callback runs exactly once per xfer_start (unless cancelled), on
 * the loop, never inside xfer_start. started is false when the transfer
 * waited in its host's queue past its start deadline and never ran (code is
 * then CURLE_OK and means nothing); otherwise code is curl's result. */
typedef void (*xfer_cb)(void *arg, CURLcode code, bool started);

/* xfer_new: host_limit transfers at most in flight per host key. Caller frees
 * with xfer_free(), which cancels whatever is left without callbacks. */
xfer *xfer_new(struct event_base *base, int host_limit);
void xfer_free(xfer *x);

/* Whose a transfer is, for the order its host's waiting transfers start in
 * (worker/turns.h): priority (0 first) and tenant (NULL: none). */
struct xfer_turn {
    int prio;
    const char *tenant;
};

/* xfer_start: runs easy (configured, borrowed until its callback or
 * xfer_cancel) when its turn comes among the transfers waiting for host
 * (fewer than host_limit run there at once); host is any string naming the
 * destination (copied), turn may be NULL. A transfer still queued at
 * start_by_ms (util_mono_ms clock) is given up with started = false; 0 means
 * no deadline. Never blocks: curl resolves names on its own threads. */
void xfer_start(xfer *x, CURL *easy, const char *host, const struct xfer_turn *turn,
                int64_t start_by_ms, xfer_cb cb, void *arg);

/* xfer_make_room: whether a transfer of turn may wait for host although its
 * queue is full (worker/turns.h, turns_room); *victim is then the arg of the
 * waiting transfer that gave way to it, taken out of the queue without its
 * callback (its easy is the caller's again), or NULL. */
bool xfer_make_room(xfer *x, const char *host, const struct xfer_turn *turn, void **victim);

/* xfer_cancel: stops easy, queued or running, without calling its callback. */
void xfer_cancel(xfer *x, CURL *easy);

/* xfer_running, xfer_queued: transfers in flight / waiting for their host. */
int xfer_running(const xfer *x);
int xfer_queued(const xfer *x);

/* xfer_host_load: transfers to host running and waiting for it. */
int xfer_host_load(const xfer *x, const char *host);

/* xfer_host_limit: the most transfers run at once per host. */
int xfer_host_limit(const xfer *x);

#endif
