/* conn_guard: an evconnlistener handed to evhttp (evhttp_bind_listener) and
 * evhttp_set_bevcb: every bufferevent evhttp uses is an edge's filter,
 * made here, so the guard can count the connections (an edge tells it when
 * its connection is gone), look an edge up from evhttp's connection, and
 * share one body budget among them. */
#include "api/conn_guard.h"
#include "api/edge.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define GUARD_ACCEPT_PAUSE_MS 100

struct guard {
    struct event_base *base;
    struct evconnlistener *lev;
    struct event *resume;
    const struct edge_hooks *hooks;
    void *hooks_arg;
    hmap *edges; /* edge_key -> struct edge */
    struct guard_limits lim;
    size_t body_bytes; /* of lim.body_budget, reserved */
    uint64_t refused;
    bool paused;
    bool closed; /* guard_stop_accepting was called */
};

static void guard_update_listener(struct guard *g) {
    size_t open = hmap_len(g->edges);
    if (!g->lev || g->closed)
        return;
    if (!g->paused && open >= (size_t)g->lim.max_conns) {
        evconnlistener_disable(g->lev);
        g->paused = true;
        HLOG(HLOG_WARN, "http.conn_cap", NULL, "%zu connections open: not accepting more", open);
    } else if (g->paused && open < (size_t)g->lim.max_conns && !evtimer_pending(g->resume, NULL)) {
        evconnlistener_enable(g->lev);
        g->paused = false;
    }
}

static struct bufferevent *guard_bev_cb(struct event_base *base, void *arg) {
    struct guard *g = arg;
    struct edge *e = edge_open(base, g, g->hooks, g->hooks_arg, g->lim.read_timeout_ms);
    hmap_put(g->edges, edge_key(e), e);
    guard_update_listener(g);
    return edge_bev(e);
}

void guard_edge_closed(struct guard *g, struct edge *e) {
    hmap_del(g->edges, edge_key(e));
    guard_update_listener(g);
}

struct edge *guard_edge(struct guard *g, struct evhttp_connection *conn) {
    if (!conn)
        return NULL;
    char key[32];
    snprintf(key, sizeof(key), "%p", (void *)evhttp_connection_get_bufferevent(conn));
    return hmap_get(g->edges, key);
}

bool guard_reserve(struct guard *g, size_t n) {
    if (n > g->lim.body_budget - g->body_bytes)
        return false;
    g->body_bytes += n;
    return true;
}

void guard_release(struct guard *g, size_t n) {
    g->body_bytes -= n < g->body_bytes ? n : g->body_bytes;
}

void guard_refused(struct guard *g) {
    g->refused++;
}

void guard_stop_accepting(struct guard *g) {
    g->closed = true;
    evtimer_del(g->resume);
    evconnlistener_disable(g->lev);
}

size_t guard_connections(const struct guard *g) {
    return hmap_len(g->edges);
}

size_t guard_body_bytes(const struct guard *g) {
    return g->body_bytes;
}

uint64_t guard_refused_total(const struct guard *g) {
    return g->refused;
}

static void guard_resume_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct guard *g = arg;
    if (!g->closed && hmap_len(g->edges) < (size_t)g->lim.max_conns) {
        evconnlistener_enable(g->lev);
        g->paused = false;
    }
}

static void guard_accept_error_cb(struct evconnlistener *lev, void *arg) {
    struct guard *g = arg;
    int e = EVUTIL_SOCKET_ERROR();
    /* out of descriptors (EMFILE/ENFILE) or memory: pause accepting briefly
     * instead of spinning on a listener that stays readable */
    HLOG(HLOG_WARN, "http.accept_failed", NULL, "accept failed: %s; pausing %d ms",
         evutil_socket_error_to_string(e), GUARD_ACCEPT_PAUSE_MS);
    evconnlistener_disable(lev);
    g->paused = true;
    struct timeval tv = {0, GUARD_ACCEPT_PAUSE_MS * 1000};
    evtimer_add(g->resume, &tv);
}

struct guard *guard_start(struct event_base *base, struct evhttp *http, const char *listen,
                          const struct guard_limits *lim, const struct edge_hooks *hooks,
                          void *hooks_arg, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "cannot parse listen address %s", listen);
        return NULL;
    }
    struct guard *g = mem_calloc(1, sizeof(*g));
    g->base = base;
    g->lim = *lim;
    g->hooks = hooks;
    g->hooks_arg = hooks_arg;
    g->edges = hmap_new();
    g->resume = evtimer_new(base, guard_resume_cb, g);
    g->lev = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        (struct sockaddr *)&ss, sl);
    if (!g->lev) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        goto fail;
    }
    evhttp_set_bevcb(http, guard_bev_cb, g);
    if (!evhttp_bind_listener(http, g->lev)) {
        snprintf(err, errlen, "cannot serve HTTP on %s", listen);
        evconnlistener_free(g->lev);
        goto fail;
    }
    evconnlistener_set_error_cb(g->lev, guard_accept_error_cb);
    return g;
fail:
    event_free(g->resume);
    hmap_free(g->edges);
    mem_free(g);
    return NULL;
}

static void guard_collect(const char *key, void *val, void *arg) {
    (void)key;
    struct edge ***out = arg;
    *(*out)++ = val;
}

void guard_stop(struct guard *g) {
    if (!g)
        return;
    /* edge_detach may free an edge, which changes the map: detach from a copy */
    size_t n = hmap_len(g->edges);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    struct edge **all = mem_calloc(n ? n : 1, sizeof(*all));
    struct edge **p = all;
    hmap_each(g->edges, guard_collect, &p);
    hmap_free(g->edges);
    g->edges = NULL;
    for (size_t i = 0; i < n; i++)
        edge_detach(all[i]);
    mem_free(all);
    event_free(g->resume);
    mem_free(g);
}
