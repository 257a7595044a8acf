/* conn_guard: Herald's own listener in front of evhttp, adding what libevent
 * 2.1's evhttp lacks: a cap on open connections, an edge (api/edge.c) on
 * every connection, and a bound on the request bodies buffered across all of
 * them, so slow, hostile or unauthenticated clients cannot hold the server. */
#ifndef HERALD_API_CONN_GUARD_H
#define HERALD_API_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_connection;
struct edge;
struct edge_hooks;
struct guard;

struct guard_limits {
    int max_conns;       /* open connections before accepting pauses */
    int read_timeout_ms; /* to send a whole request (see edge_open) */
    size_t body_budget;  /* bytes of request bodies reserved at once, all connections */
};

/* guard_start: binds listen ("host:port") for http and gives every accepted
 * connection an edge with hooks (borrowed for the guard's lifetime). At most
 * max_conns connections are open at once (the listener pauses at the cap and
 * when the process runs out of descriptors). Returns NULL with err filled on
 * failure. Caller frees with guard_stop() after evhttp_free(). */
struct guard *guard_start(struct event_base *base, struct evhttp *http, const char *listen,
                          const struct guard_limits *lim, const struct edge_hooks *hooks,
                          void *hooks_arg, char *err, size_t errlen);
void guard_stop(struct guard *g);

/* guard_edge: the edge of evhttp's connection; NULL if unknown. */
struct edge *guard_edge(struct guard *g, struct evhttp_connection *conn);

/* guard_reserve: takes n bytes from the body budget; false (nothing taken)
 * when they do not fit. guard_release gives them back. */
bool guard_reserve(struct guard *g, size_t n);
void guard_release(struct guard *g, size_t n);

/* guard_edge_closed: e's connection is closed and e about to be freed. */
void guard_edge_closed(struct guard *g, struct edge *e);
/* guard_refused: counts a request the edge answered itself (malformed). */
void guard_refused(struct guard *g);

/* guard_stop_accepting: closes the door for good (shutdown); open
 * connections are served until they close. */
void guard_stop_accepting(struct guard *g);

/* guard_connections: connections open now; guard_body_bytes: bytes of the
 * body budget in use; guard_refused_total: requests refused by the edge. */
size_t guard_connections(const struct guard *g);
size_t guard_body_bytes(const struct guard *g);
uint64_t guard_refused_total(const struct guard *g);

#endif
