/* conn_guard: Herald's own listener in front of evhttp, adding what libevent
 * 2.1's evhttp lacks: a cap on open connections and a deadline for reading
 * each whole request (headers and body), so slow or hostile clients cannot
 * hold the server. */
#ifndef HERALD_API_CONN_GUARD_H
#define HERALD_API_CONN_GUARD_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_connection;
struct guard;

/* guard_start: binds listen ("host:port") for http. At most max_conns
 * connections are open at once (the listener pauses at the cap and when the
 * process runs out of descriptors); a connection that has not delivered a
 * complete request within read_timeout_ms of being accepted or of its
 * previous answer is closed. Returns NULL with err filled on failure. Caller
 * frees with guard_stop() after evhttp_free(). */
struct guard *guard_start(struct event_base *base, struct evhttp *http, const char *listen,
                          int max_conns, int read_timeout_ms, char *err, size_t errlen);
void guard_stop(struct guard *g);

/* guard_request_started / guard_request_done: a request was read and handed
 * to a handler (no deadline while it is being answered) / was answered (the
 * next request's deadline starts). conn may be NULL. */
void guard_request_started(struct guard *g, struct evhttp_connection *conn);
void guard_request_done(struct guard *g, struct evhttp_connection *conn);

/* guard_stop_accepting: closes the door for good (shutdown); open
 * connections are served until they close. */
void guard_stop_accepting(struct guard *g);

/* guard_connections: connections open now. */
size_t guard_connections(const struct guard *g);

#endif
