/* listen: one PostgreSQL connection that LISTENs on a channel and hands each
 * NOTIFY's payload to a callback, on the event loop (asynchronous libpq; it
 * reconnects by itself with backoff). Whoever relies on it must also recheck
 * on a timer: notifications sent while it was down are lost. */
#ifndef HERALD_COMMON_LISTEN_H
#define HERALD_COMMON_LISTEN_H

#include <stdbool.h>

struct event_base;
typedef struct listen listen_t;

/* listen_notify_cb: payload is borrowed for the call. up_again is called
 * (payload NULL) each time the LISTEN is in place after a (re)connect. */
typedef void (*listen_cb)(void *arg, const char *payload);

/* listen_open: connects to url and LISTENs on channel (an identifier). */
listen_t *listen_open(struct event_base *base, const char *url, const char *channel, int timeout_ms,
                      listen_cb cb, void *arg);
/* listen_up: whether the LISTEN is in place now. */
bool listen_up(const listen_t *l);
void listen_close(listen_t *l);

#endif
