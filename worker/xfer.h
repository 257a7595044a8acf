/* xfer: libcurl's multi interface on the process's event_base, with a limit
 * on transfers in flight per destination host. */
#ifndef HERALD_WORKER_XFER_H
#define HERALD_WORKER_XFER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
typedef struct xfer xfer;

/* A transfer callback runs exactly once per xfer_start (unless cancelled), on
 * the loop, never inside xfer_start. started is false when the transfer
 * waited in its host's queue past its start deadline and never ran (code is
 * then CURLE_OK and means nothing); otherwise code is curl's result. */
typedef void (*xfer_cb)(void *arg, CURLcode code, bool started);

/* xfer_new: host_limit transfers at most in flight per host key. Caller frees
 * with xfer_free(), which cancels whatever is left without callbacks. */
xfer *xfer_new(struct event_base *base, int host_limit);
void xfer_free(xfer *x);

/* xfer_start: runs easy (configured, borrowed until its callback or
 * xfer_cancel) as soon as fewer than host_limit transfers to host run; host
 * is any string naming the destination (copied). A transfer still queued at
 * start_by_ms (util_mono_ms clock) is given up with started = false; 0 means
 * no deadline. Never blocks: curl resolves names on its own threads. */
void xfer_start(xfer *x, CURL *easy, const char *host, int64_t start_by_ms, xfer_cb cb, void *arg);

/* xfer_cancel: stops easy, queued or running, without calling its callback. */
void xfer_cancel(xfer *x, CURL *easy);

/* xfer_running, xfer_queued: transfers in flight / waiting for their host. */
int xfer_running(const xfer *x);
int xfer_queued(const xfer *x);

#endif
