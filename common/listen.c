/* listen: a LISTEN connection on the event loop that passes NOTIFY payloads on. */
#include "common/listen.h"
#include "common/log.h"
#include "common/mem.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

enum listen_state { LS_DOWN, LS_CONNECTING, LS_LISTENING, LS_UP };

struct listen {
    struct event_base *base;
    char *url;
    char sql[96];
    int timeout_ms;
    listen_cb cb;
    void *arg;
    PGconn *pg;
    struct event *io;
    short io_what;
    struct event *timer; /* connect deadline, or the reconnect backoff */
    int backoff_ms;
    enum listen_state state;
};

static void listen_start(listen_t *l);
static void listen_io_cb(evutil_socket_t fd, short what, void *arg);

static void listen_watch(listen_t *l, short what) {
    if (l->io && l->io_what == what)
        return;
    if (l->io)
        event_free(l->io);
    l->io = event_new(l->base, PQsocket(l->pg), what | EV_PERSIST, listen_io_cb, l);
    l->io_what = what;
    event_add(l->io, NULL);
}

static void listen_arm(listen_t *l, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(l->timer, &tv);
}

static void listen_drop(listen_t *l, const char *why) {
    if (l->state == LS_UP)
        HLOG(HLOG_WARN, "db.listen_lost", NULL, "event notifications lost: %s", why);
    if (l->io) {
        event_free(l->io);
        l->io = NULL;
    }
    if (l->pg) {
        PQfinish(l->pg);
        l->pg = NULL;
    }
    l->state = LS_DOWN;
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : 100;
    if (l->backoff_ms > 5000)
        l->backoff_ms = 5000;
    evtimer_del(l->timer);
    listen_arm(l, l->backoff_ms);
}

static void listen_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    listen_t *l = arg;
    if (l->state == LS_CONNECTING || l->state == LS_LISTENING)
        listen_drop(l, "timed out");
    else if (l->state == LS_DOWN)
        listen_start(l);
}

static void listen_start(listen_t *l) {
    const char *const keys[] = {"dbname", NULL};
    const char *const vals[] = {l->url, NULL};
    l->pg = PQconnectStartParams(keys, vals, 1);
    if (!l->pg || PQstatus(l->pg) == CONNECTION_BAD) {
        listen_drop(l, "cannot connect");
        return;
    }
    l->state = LS_CONNECTING;
    listen_arm(l, l->timeout_ms);
    listen_watch(l, EV_WRITE);
}

/* listen_read: consumes input; hands notifications on; -1 when dropped. */
static int listen_read(listen_t *l) {
    if (!PQconsumeInput(l->pg)) {
        listen_drop(l, PQerrorMessage(l->pg));
        return -1;
    }
    while (!PQisBusy(l->pg)) {
        PGresult *res = PQgetResult(l->pg);
        if (!res)
            break;
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            listen_drop(l, "LISTEN failed");
            return -1;
        }
        if (l->state == LS_LISTENING) {
            evtimer_del(l->timer);
            l->state = LS_UP;
            l->backoff_ms = 0;
            l->cb(l->arg, NULL);
        }
    }
    PGnotify *n;
    while ((n = PQnotifies(l->pg)) != NULL) {
        l->cb(l->arg, n->extra);
        PQfreemem(n);
    }
    return 0;
}

static void listen_io_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    listen_t *l = arg;
    if (l->state == LS_CONNECTING) {
        switch (PQconnectPoll(l->pg)) {
        case PGRES_POLLING_READING:
            listen_watch(l, EV_READ);
            return;
        case PGRES_POLLING_WRITING:
            listen_watch(l, EV_WRITE);
            return;
        case PGRES_POLLING_OK:
            if (PQsetnonblocking(l->pg, 1) != 0 || !PQsendQuery(l->pg, l->sql)) {
                listen_drop(l, "cannot send LISTEN");
                return;
            }
            l->state = LS_LISTENING;
            listen_watch(l, EV_READ | EV_WRITE);
            return;
        default:
            listen_drop(l, "cannot connect");
            return;
        }
    }
    if (what & EV_WRITE) {
        int f = PQflush(l->pg);
        if (f < 0) {
            listen_drop(l, "write failed");
            return;
        }
        if (f == 0)
            listen_watch(l, EV_READ);
    }
    if (what & EV_READ)
        listen_read(l);
}

listen_t *listen_open(struct event_base *base, const char *url, const char *channel, int timeout_ms,
                      listen_cb cb, void *arg) {
    listen_t *l = mem_calloc(1, sizeof(*l));
    l->base = base;
    l->url = mem_strdup(url);
    snprintf(l->sql, sizeof(l->sql), "LISTEN %s", channel);
    l->timeout_ms = timeout_ms;
    l->cb = cb;
    l->arg = arg;
    l->timer = evtimer_new(base, listen_timer_cb, l);
    listen_start(l);
    return l;
}

bool listen_up(const listen_t *l) {
    return l && l->state == LS_UP;
}

void listen_close(listen_t *l) {
    if (!l)
        return;
    if (l->io)
        event_free(l->io);
    if (l->pg)
        PQfinish(l->pg);
    event_free(l->timer);
    mem_free(l->url);
    mem_free(l);
}
