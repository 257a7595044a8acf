/* conn_guard: evconnlistener + evhttp_set_bevcb. Each bufferevent evhttp
 * uses is made here and held by one extra reference, so the guard can tell
 * when evhttp lets go of it (its callbacks are cleared) and count it closed;
 * a per-connection timer enforces the read deadline by shutting the socket
 * down, which evhttp then sees as the client leaving. */
#include "api/conn_guard.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define GUARD_TICK_MS 200
#define GUARD_ACCEPT_PAUSE_MS 100

struct guard_conn {
    struct guard *g;
    struct bufferevent *bev;
    struct event *tick;
    int64_t deadline_ms; /* monotonic; 0 while a request is being answered */
    bool cut;            /* the deadline passed and the socket was shut down */
    char key[32];
};

struct guard {
    struct event_base *base;
    struct evconnlistener *lev;
    struct event *resume;
    hmap *conns; /* "%p" of the bufferevent -> guard_conn */
    size_t open;
    int max_conns;
    int read_timeout_ms;
    bool paused;
    bool closed; /* guard_stop_accepting was called */
    int64_t cut_total;
};

static void guard_update_listener(struct guard *g) {
    if (!g->lev || g->closed)
        return;
    if (!g->paused && g->open >= (size_t)g->max_conns) {
        evconnlistener_disable(g->lev);
        g->paused = true;
        HLOG(HLOG_WARN, "http.conn_cap", NULL, "%zu connections open: not accepting more", g->open);
    } else if (g->paused && g->open < (size_t)g->max_conns && !evtimer_pending(g->resume, NULL)) {
        evconnlistener_enable(g->lev);
        g->paused = false;
    }
}

static void guard_conn_free(struct guard_conn *c) {
    struct guard *g = c->g;
    hmap_del(g->conns, c->key);
    event_free(c->tick);
    bufferevent_decref(c->bev); /* evhttp already freed it: this closes it */
    g->open--;
    mem_free(c);
    guard_update_listener(g);
}

static void guard_tick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct guard_conn *c = arg;
    /* evhttp keeps its error callback set for the connection's whole life
     * (the read callback comes and goes while it writes); bufferevent_free
     * clears every callback */
    bufferevent_event_cb eventcb = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
    if (!eventcb) {
        guard_conn_free(c);
        return;
    }
    if (c->deadline_ms && !c->cut && util_mono_ms() >= c->deadline_ms) {
        evutil_socket_t s = bufferevent_getfd(c->bev);
        if (s >= 0)
            shutdown(s, SHUT_RDWR);
        c->cut = true;
        c->g->cut_total++;
        HLOG(HLOG_DEBUG, "http.read_timeout", NULL,
             "closed a connection that sent no complete request within %d ms",
             c->g->read_timeout_ms);
    }
}

static struct bufferevent *guard_bev_cb(struct event_base *base, void *arg) {
    struct guard *g = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    struct guard_conn *c = mem_calloc(1, sizeof(*c));
    c->g = g;
    c->bev = bev;
    bufferevent_incref(bev);
    snprintf(c->key, sizeof(c->key), "%p", (void *)bev);
    c->deadline_ms = util_mono_ms() + g->read_timeout_ms;
    c->tick = event_new(base, -1, EV_PERSIST, guard_tick_cb, c);
    struct timeval tv = {0, GUARD_TICK_MS * 1000};
    event_add(c->tick, &tv);
    hmap_put(g->conns, c->key, c);
    g->open++;
    guard_update_listener(g);
    return bev;
}

static struct guard_conn *guard_find(struct guard *g, struct evhttp_connection *conn) {
    if (!conn)
        return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    char key[32];
    snprintf(key, sizeof(key), "%p", (void *)bev);
    return hmap_get(g->conns, key);
}

void guard_request_started(struct guard *g, struct evhttp_connection *conn) {
    struct guard_conn *c = guard_find(g, conn);
    if (c)
        c->deadline_ms = 0;
}

void guard_request_done(struct guard *g, struct evhttp_connection *conn) {
    struct guard_conn *c = guard_find(g, conn);
    if (c && !c->cut)
        c->deadline_ms = util_mono_ms() + g->read_timeout_ms;
}

void guard_stop_accepting(struct guard *g) {
    g->closed = true;
    evtimer_del(g->resume);
    evconnlistener_disable(g->lev);
}

size_t guard_connections(const struct guard *g) {
    return g->open;
}

static void guard_resume_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct guard *g = arg;
    if (!g->closed && g->open < (size_t)g->max_conns) {
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
                          int max_conns, int read_timeout_ms, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "cannot parse listen address %s", listen);
        return NULL;
    }
    struct guard *g = mem_calloc(1, sizeof(*g));
    g->base = base;
    g->max_conns = max_conns;
    g->read_timeout_ms = read_timeout_ms;
    g->conns = hmap_new();
    g->resume = evtimer_new(base, guard_resume_cb, g);
    g->lev = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        (struct sockaddr *)&ss, sl);
    if (!g->lev) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        event_free(g->resume);
        hmap_free(g->conns);
        mem_free(g);
        return NULL;
    }
    evhttp_set_bevcb(http, guard_bev_cb, g);
    if (!evhttp_bind_listener(http, g->lev)) {
        snprintf(err, errlen, "cannot serve HTTP on %s", listen);
        evconnlistener_free(g->lev);
        event_free(g->resume);
        hmap_free(g->conns);
        mem_free(g);
        return NULL;
    }
    evconnlistener_set_error_cb(g->lev, guard_accept_error_cb);
    return g;
}

static void guard_conn_drop(const char *key, void *val, void *arg) {
    (void)key;
    (void)arg;
    struct guard_conn *c = val;
    event_free(c->tick);
    bufferevent_decref(c->bev);
    mem_free(c);
}

void guard_stop(struct guard *g) {
    if (!g)
        return;
    hmap_each(g->conns, guard_conn_drop, NULL);
    hmap_free(g->conns);
    event_free(g->resume);
    mem_free(g);
}
