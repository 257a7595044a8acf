/* edge: one client connection of the API, in front of evhttp. Every byte a
 * client sends passes through here first: the connection's socket
 * bufferevent sits under a bufferevent filter, and evhttp reads only from
 * the filter. The edge parses each request head strictly (api/http_head.c),
 * lets its owner decide on the head alone (route, key, rate limit, size),
 * reads the body only when told to, and then hands evhttp a rewritten head
 * (request line, Content-Length and Connection, nothing else) with the
 * body. So evhttp and any proxy in front can never disagree on where a
 * request ends, and an unauthenticated client cannot make the API buffer a
 * body. Heads the framing refuses are answered here, in plain text, and the
 * connection is closed. */
#ifndef HERALD_API_EDGE_H
#define HERALD_API_EDGE_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct guard;
struct hhead;
struct edge;

/* What the owner (api/http_server.c) is told. Each hook runs on the loop,
 * never inside a call into the edge. */
struct edge_hooks {
    /* head: a well-formed request head arrived; h is the owner's (release
     * with hhead_free()). The owner answers with edge_accept() or
     * edge_answer_head(), now or later, exactly once. */
    void (*head)(void *arg, struct edge *e, struct hhead *h);
    /* drop: req (as given to edge_accept/edge_answer_head) will never be
     * handed to evhttp (the client left, or its body was malformed or over
     * its limit): the owner frees it. */
    void (*drop)(void *arg, void *req);
};

/* edge_open: a new connection's edge, its socket bufferevent not yet given
 * a descriptor (evhttp sets it through the filter). read_timeout_ms: a
 * client must send each whole request within this long of the connection's
 * start or of the previous answer. Never fails (aborts on out-of-memory). */
struct edge *edge_open(struct event_base *base, struct guard *g, const struct edge_hooks *hooks,
                       void *hooks_arg, int read_timeout_ms);
/* edge_bev: the filter evhttp reads from; borrowed. */
struct bufferevent *edge_bev(struct edge *e);
/* edge_key: the guard's name for e (the filter's address); borrowed. */
const char *edge_key(const struct edge *e);
/* edge_peer: the client's address for per-address limits ("1.2.3.4", or the
 * /64 of an IPv6 address); "" until known. Borrowed. */
const char *edge_peer(struct edge *e);

enum edge_accept_result {
    EDGE_ACCEPTED = 0, /* the body is being read; req comes back from edge_handed() */
    EDGE_FULL,         /* no room in the body budget: nothing changed; answer the head */
    EDGE_GONE,         /* the connection is gone: the owner frees req now */
};

/* edge_accept: the head passed every check: read the body (at most body_max
 * bytes; more is answered through req with edge_handed()'s *too_large),
 * then hand the request to evhttp. body_max is reserved in the guard's
 * body budget until the answer. */
enum edge_accept_result edge_accept(struct edge *e, void *req, size_t body_max);
/* edge_answer_head: req will be answered without its body: evhttp gets the
 * head alone. A body already on its way is skipped when short, otherwise
 * the connection is closed after the answer. Returns false when the
 * connection is gone (the owner frees req now). */
bool edge_answer_head(struct edge *e, void *req);

/* edge_handed: for evhttp's request on this connection: the owner's req
 * (NULL if there is none: a bug) and whether the body was cut at body_max. */
void *edge_handed(struct edge *e, bool *too_large);
/* edge_answered: the request handed over was answered (its reply is in the
 * output buffer); the next request may start. */
void edge_answered(struct edge *e);

/* edge_cut: closes the connection now (shutdown). */
void edge_cut(struct edge *e);
/* edge_detach: the guard is going away; e must not call it again. */
void edge_detach(struct edge *e);

#endif
