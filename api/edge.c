/* edge: a bufferevent filter whose input function never passes bytes on by
 * itself: it parses them into requests (edge_pump), and evhttp's input gets
 * only what edge_emit writes there. Output goes the other way round under
 * the edge's control too: evhttp writes its answer into the filter, the edge
 * moves it to the socket's buffer, and tells evhttp the answer is written
 * only once the socket has taken all of it (a filter left to itself would
 * not move it when evhttp enables writing, and evhttp shuts the socket down
 * as soon as it believes a closing answer is written).
 *
 * The socket bufferevent is ours (one extra reference), so the connection can
 * outlive evhttp's use of it: after an answer that closes the connection, the
 * rest of a client's body is read and thrown away for a moment (a "lingering
 * close"), so the client sees the answer instead of a reset.
 *
 * States: HEAD (reading a head) -> DECIDING (the owner looks at it; input
 * held) -> BODY (reading the body) or straight to HANDED (evhttp has it;
 * input held until the answer) -> SKIP (the short body of a request answered
 * from its head) -> HEAD again; CLOSING discards input until the end. */
#include "api/edge.h"
#include "api/chunked.h"
#include "api/conn_guard.h"
#include "api/http_head.h"
#include "common/log.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define EDGE_SKIP_MAX                                                                              \
    (64 * 1024)               /* a refused body this short is skipped, not a reason to close       \
                               */
#define EDGE_LINGER_MS 2000   /* at most this long reading a closed request's remains */
#define EDGE_TRAILER_MAX 4096 /* bytes of trailer fields after a chunked body */
#define EDGE_IN_HIGH (HHEAD_MAX + 4096) /* socket bytes read ahead of the parser, at most */

enum edge_state { EDGE_HEAD, EDGE_DECIDING, EDGE_BODY, EDGE_HANDED, EDGE_SKIP, EDGE_CLOSING };

static const char *const edge_state_names[] = {"head",   "deciding", "body",
                                               "handed", "skip",     "closing"};

struct edge {
    struct event_base *base;
    struct guard *g;                /* NULL once detached */
    const struct edge_hooks *hooks; /* NULL once detached */
    void *hooks_arg;
    struct bufferevent *bev;    /* the socket; one reference is ours */
    struct bufferevent *filter; /* what evhttp uses; NULL once its context is released */
    struct evbuffer_cb_entry *out_cb, *fout_cb;
    struct event *turn;   /* edge_turn_cb on the next loop turn */
    struct event *timer;  /* the read deadline, or the end of lingering */
    struct event *linger; /* reads the remains of a closed connection */
    char key[32];         /* the guard's name for this edge */
    enum edge_state state;
    int read_timeout_ms;
    char peer[48];
    /* the request in progress */
    size_t scanned; /* head bytes hhead_end has looked at */
    const char *method;
    int minor;
    bool expect_continue, chunked, has_body;
    int64_t content_length; /* -1: none */
    uint64_t remaining;     /* body bytes still to read or skip */
    struct chunked chunks;  /* the chunked body's reader */
    size_t body_max;        /* bytes of body accepted */
    struct evbuffer *body;
    size_t reserved;    /* bytes of the guard's body budget held */
    uint64_t skip_next; /* body bytes to skip after the answer */
    bool too_large;
    bool close_after; /* the answer closes the connection */
    void *req;        /* the owner's request */
    bool picked;      /* edge_handed gave req to the owner */
    bool deciding;    /* the owner holds the head: e lives until it answers */
    bool emitted;     /* a request waits in evhttp's input */
    bool writing;     /* evhttp's answer is not all on the wire yet */
    bool fin_pending; /* shut the write side once the output is flushed */
    bool lingering;   /* evhttp let go; reading the remains until EOF or the timer */
};

static void edge_set_state(struct edge *e, enum edge_state s) {
    HLOG(HLOG_DEBUG, "http.edge_state", NULL, "%s -> %s", edge_state_names[e->state],
         edge_state_names[s]);
    e->state = s;
}

/* edge_live: evhttp still uses the filter (bufferevent_free clears the
 * callbacks evhttp set; it always sets an event callback). */
static bool edge_live(const struct edge *e) {
    if (!e->filter)
        return false;
    bufferevent_event_cb ecb = NULL;
    bufferevent_getcb(e->filter, NULL, NULL, &ecb, NULL);
    return ecb != NULL;
}

static void edge_deadline(struct edge *e, int ms) {
    if (ms <= 0) {
        evtimer_del(e->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(e->timer, &tv);
}

static int edge_linger_ms(const struct edge *e) {
    return e->read_timeout_ms < EDGE_LINGER_MS ? e->read_timeout_ms : EDGE_LINGER_MS;
}

static void edge_release(struct edge *e) {
    if (e->reserved && e->g)
        guard_release(e->g, e->reserved);
    e->reserved = 0;
}

/* edge_drop_req: the owner's request will never reach its handler. */
static void edge_drop_req(struct edge *e) {
    void *req = e->req;
    e->req = NULL;
    if (req && !e->picked && e->hooks)
        e->hooks->drop(e->hooks_arg, req);
}

static void edge_free(struct edge *e) {
    edge_release(e);
    edge_drop_req(e);
    if (e->g)
        guard_edge_closed(e->g, e);
    event_free(e->turn);
    event_free(e->timer);
    if (e->linger)
        event_free(e->linger);
    if (e->body)
        evbuffer_free(e->body);
    evbuffer_remove_cb_entry(bufferevent_get_output(e->bev), e->out_cb);
    bufferevent_setcb(e->bev, NULL, NULL, NULL, NULL);
    bufferevent_decref(e->bev); /* the last reference: the socket is closed */
    mem_free(e);
}

static void edge_wake(struct edge *e) {
    event_active(e->turn, EV_TIMEOUT, 0);
}

/* edge_move_out: evhttp's output so far goes to the socket's buffer, so
 * bytes the edge writes itself come after it. */
static void edge_move_out(struct edge *e) {
    if (e->filter)
        evbuffer_add_buffer(bufferevent_get_output(e->bev), bufferevent_get_output(e->filter));
}

/* edge_raw_reply: answers in plain text without evhttp and closes. */
static void edge_raw_reply(struct edge *e, int status, const char *why) {
    if (e->g)
        guard_refused(e->g);
    HLOG(HLOG_DEBUG, "http.refused", NULL, "%d: %s", status, why);
    edge_move_out(e);
    evbuffer_add_printf(bufferevent_get_output(e->bev),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                        status, hhead_reason(status), strlen(why) + 1, why);
    e->fin_pending = true;
    edge_set_state(e, EDGE_CLOSING);
    edge_deadline(e, edge_linger_ms(e));
}

/* edge_emit: hands evhttp the request: a head it cannot misread, then the body. */
static void edge_emit(struct edge *e) {
    struct evbuffer *in = bufferevent_get_input(e->filter);
    bool no_body =
        e->too_large || !e->body || !strcmp(e->method, "HEAD") || !strcmp(e->method, "TRACE");
    size_t blen = no_body ? 0 : evbuffer_get_length(e->body);
    const char *conn = e->close_after  ? "Connection: close\r\n"
                       : e->minor == 0 ? "Connection: keep-alive\r\n"
                                       : "";
    evbuffer_add_printf(in, "%s / HTTP/1.%d\r\nContent-Length: %zu\r\n%s\r\n", e->method, e->minor,
                        blen, conn);
    if (blen)
        evbuffer_add_buffer(in, e->body);
    if (e->body) {
        evbuffer_free(e->body);
        e->body = NULL;
    }
    e->picked = false;
    e->emitted = true;
    edge_deadline(e, 0);
    edge_set_state(e, EDGE_HANDED);
    edge_wake(e); /* evhttp reads it from the loop, never inside our caller */
}

/* edge_read_head: true when the state changed. */
static bool edge_read_head(struct edge *e, struct evbuffer *in) {
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return false;
    size_t look = n < HHEAD_MAX ? n : HHEAD_MAX;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
    size_t end = hhead_end(p, look, &e->scanned);
    if (end == 0) {
        if (n < HHEAD_MAX)
            return false;
        edge_raw_reply(e, 431, "the request head is over 16384 bytes");
        return true;
    }
    struct hhead *h = mem_alloc(sizeof(*h));
    char why[160];
    int st = hhead_parse(p, end, h, why, sizeof(why));
    evbuffer_drain(in, end);
    e->scanned = 0;
    if (st || !e->hooks) {
        mem_free(h);
        edge_raw_reply(e, st ? st : 503, st ? why : "shutting down");
        return true;
    }
    e->method = h->method_name;
    e->minor = h->minor;
    e->expect_continue = h->expect_continue;
    e->chunked = h->chunked;
    e->content_length = h->content_length;
    e->has_body = h->chunked || h->content_length > 0;
    e->too_large = false;
    e->close_after = !h->keep_alive;
    e->skip_next = 0;
    e->deciding = true;
    edge_deadline(e, 0);
    edge_set_state(e, EDGE_DECIDING);
    e->hooks->head(e->hooks_arg, e, h); /* may decide before returning */
    return e->state != EDGE_DECIDING;
}

/* edge_body_fail: the body cannot be read: the owner's request is dropped. */
static void edge_body_fail(struct edge *e, int status, const char *why) {
    edge_release(e);
    edge_drop_req(e);
    if (e->body) {
        evbuffer_free(e->body);
        e->body = NULL;
    }
    edge_raw_reply(e, status, why);
}

static bool edge_read_body(struct edge *e, struct evbuffer *in) {
    if (e->chunked) {
        switch (chunked_read(&e->chunks, in, e->body, e->body_max)) {
        case CHUNKED_MORE:
            return false;
        case CHUNKED_DONE:
            break;
        case CHUNKED_TOO_LARGE:
            e->too_large = true; /* answered 413; the rest is not read */
            e->close_after = true;
            break;
        case CHUNKED_BAD:
            edge_body_fail(e, 400, "malformed chunked body");
            return true;
        }
    } else {
        size_t avail = evbuffer_get_length(in);
        size_t take = avail < e->remaining ? avail : (size_t)e->remaining;
        if (take)
            evbuffer_remove_buffer(in, e->body, take);
        e->remaining -= take;
        if (e->remaining)
            return false;
    }
    edge_emit(e);
    return true;
}

static bool edge_skip(struct edge *e, struct evbuffer *in) {
    size_t avail = evbuffer_get_length(in);
    size_t take = avail < e->remaining ? avail : (size_t)e->remaining;
    evbuffer_drain(in, take);
    e->remaining -= take;
    if (e->remaining)
        return false;
    edge_set_state(e, EDGE_HEAD);
    return true;
}

static void edge_pump(struct edge *e) {
    struct evbuffer *in = bufferevent_get_input(e->bev);
    bool more = edge_live(e);
    while (more) {
        switch (e->state) {
        case EDGE_HEAD:
            more = edge_read_head(e, in);
            break;
        case EDGE_BODY:
            more = edge_read_body(e, in);
            break;
        case EDGE_SKIP:
            more = edge_skip(e, in);
            break;
        case EDGE_CLOSING:
            evbuffer_drain(in, evbuffer_get_length(in));
            more = false;
            break;
        case EDGE_DECIDING:
        case EDGE_HANDED:
            more = false;
            break;
        }
    }
}

/* edge_turn_cb: the one place evhttp is called from: it is told its answer
 * is written, or given the request waiting in its input; then more input is
 * parsed. */
static void edge_turn_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct edge *e = arg;
    if (!edge_live(e))
        return;
    edge_move_out(e);
    if (e->writing && evbuffer_get_length(bufferevent_get_output(e->bev)) == 0) {
        e->writing = false;
        bufferevent_trigger(e->filter, EV_WRITE, 0); /* may end the connection */
        if (!edge_live(e))
            return;
    }
    if (e->emitted && !e->writing) {
        /* evhttp waits in its first-line state: it reads the request now */
        e->emitted = false;
        bufferevent_trigger(e->filter, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
        if (!edge_live(e))
            return;
    }
    edge_pump(e);
}

/* The filter functions pass nothing: edge_turn_cb moves the output, and
 * evhttp's input is filled by edge_emit alone. */
static enum bufferevent_filter_result edge_filter_out(struct evbuffer *src, struct evbuffer *dst,
                                                      ev_ssize_t limit,
                                                      enum bufferevent_flush_mode mode, void *ctx) {
    (void)src;
    (void)dst;
    (void)limit;
    (void)mode;
    (void)ctx;
    return BEV_NEED_MORE;
}

static enum bufferevent_filter_result edge_filter_in(struct evbuffer *src, struct evbuffer *dst,
                                                     ev_ssize_t limit,
                                                     enum bufferevent_flush_mode mode, void *ctx) {
    edge_pump(ctx);
    return edge_filter_out(src, dst, limit, mode, ctx);
}

/* edge_fout_cb: evhttp wrote (part of) an answer into the filter. */
static void edge_fout_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
    (void)buf;
    struct edge *e = arg;
    if (info->n_added == 0)
        return;
    e->writing = true;
    edge_wake(e);
}

/* edge_out_cb: the socket's buffer drained. */
static void edge_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
    struct edge *e = arg;
    if (info->n_deleted == 0 || evbuffer_get_length(buf) > 0)
        return;
    if (e->fin_pending) {
        e->fin_pending = false;
        evutil_socket_t fd = bufferevent_getfd(e->bev);
        if (fd >= 0)
            shutdown(fd, SHUT_WR);
    }
    if (e->writing)
        edge_wake(e);
}

/* edge_linger_cb: reads and drops what the client still sends; its end (or
 * the timer) closes the connection. */
static void edge_linger_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    struct edge *e = arg;
    char buf[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        edge_free(e);
        return;
    }
}

/* edge_after_filter: evhttp has let go and the owner holds nothing: close,
 * or first read what is left of a request whose answer closed the
 * connection. */
static void edge_after_filter(struct edge *e) {
    bool closing = e->state == EDGE_CLOSING || e->close_after;
    evutil_socket_t fd = bufferevent_getfd(e->bev);
    if (!closing || fd < 0 || !e->g) {
        edge_free(e);
        return;
    }
    bufferevent_disable(e->bev, EV_READ | EV_WRITE);
    e->linger = event_new(e->base, fd, EV_READ | EV_PERSIST, edge_linger_cb, e);
    if (!e->linger) {
        edge_free(e);
        return;
    }
    e->lingering = true;
    event_add(e->linger, NULL);
    edge_deadline(e, edge_linger_ms(e));
}

/* edge_filter_gone: the filter's context is released: evhttp freed its
 * connection. */
static void edge_filter_gone(void *ctx) {
    struct edge *e = ctx;
    e->filter = NULL;
    edge_release(e);
    edge_drop_req(e);
    if (e->deciding && e->hooks)
        return; /* edge_accept or edge_answer_head finishes it */
    edge_after_filter(e);
}

static void edge_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct edge *e = arg;
    if (e->lingering) {
        edge_free(e);
        return;
    }
    if (e->state != EDGE_CLOSING)
        HLOG(HLOG_DEBUG, "http.read_timeout", NULL,
             "closed a connection that sent no complete request within %d ms", e->read_timeout_ms);
    edge_cut(e);
}

struct edge *edge_open(struct event_base *base, struct guard *g, const struct edge_hooks *hooks,
                       void *hooks_arg, int read_timeout_ms) {
    struct edge *e = mem_calloc(1, sizeof(*e));
    *e = (struct edge){.base = base,
                       .g = g,
                       .hooks = hooks,
                       .hooks_arg = hooks_arg,
                       .read_timeout_ms = read_timeout_ms};
    e->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    e->filter = e->bev ? bufferevent_filter_new(e->bev, edge_filter_in, edge_filter_out,
                                                BEV_OPT_CLOSE_ON_FREE, edge_filter_gone, e)
                       : NULL;
    e->turn = event_new(base, -1, 0, edge_turn_cb, e);
    e->timer = evtimer_new(base, edge_timer_cb, e);
    if (!e->bev || !e->filter || !e->turn || !e->timer) {
        HLOG(HLOG_ERROR, "http.edge_failed", NULL, "out of memory for a connection");
        abort();
    }
    snprintf(e->key, sizeof(e->key), "%p", (void *)e->filter);
    bufferevent_incref(e->bev); /* ours: the socket outlives the filter */
    /* the parser never waits on more than a head; the rest stays in the socket */
    bufferevent_setwatermark(e->bev, EV_READ, 0, EDGE_IN_HIGH);
    e->out_cb = evbuffer_add_cb(bufferevent_get_output(e->bev), edge_out_cb, e);
    e->fout_cb = evbuffer_add_cb(bufferevent_get_output(e->filter), edge_fout_cb, e);
    edge_deadline(e, read_timeout_ms);
    return e;
}

struct bufferevent *edge_bev(struct edge *e) {
    return e->filter;
}

const char *edge_key(const struct edge *e) {
    return e->key;
}

const char *edge_peer(struct edge *e) {
    if (e->peer[0])
        return e->peer;
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);
    evutil_socket_t fd = bufferevent_getfd(e->bev);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return "";
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, e->peer, sizeof(e->peer));
    } else if (ss.ss_family == AF_INET6) {
        /* a client usually holds a whole /64 */
        struct in6_addr a = ((struct sockaddr_in6 *)&ss)->sin6_addr;
        memset(a.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a, e->peer, sizeof(e->peer));
    }
    return e->peer;
}

/* edge_owner_done: the owner answered the head; false (and e finished if
 * its filter is gone) when the connection is gone. */
static bool edge_owner_done(struct edge *e) {
    e->deciding = false;
    if (edge_live(e) && e->hooks)
        return true;
    e->req = NULL; /* the owner frees it */
    if (!e->filter)
        edge_after_filter(e);
    return false;
}

enum edge_accept_result edge_accept(struct edge *e, void *req, size_t body_max) {
    size_t need = 0;
    if (e->has_body)
        need = e->chunked || (uint64_t)e->content_length > body_max ? body_max
                                                                    : (size_t)e->content_length;
    if (edge_live(e) && e->hooks && need && (!e->g || !guard_reserve(e->g, need)))
        return EDGE_FULL;
    if (!edge_owner_done(e))
        return EDGE_GONE;
    e->reserved = need;
    e->req = req;
    e->body_max = body_max;
    e->body = evbuffer_new();
    if (!e->has_body) {
        edge_emit(e);
        return EDGE_ACCEPTED;
    }
    e->remaining = e->chunked ? 0 : (uint64_t)e->content_length;
    chunked_init(&e->chunks);
    if (!e->chunked && e->remaining > body_max) {
        /* the owner answers 413 on the head; this only keeps the budget */
        e->too_large = true;
        e->close_after = true;
        edge_emit(e);
        return EDGE_ACCEPTED;
    }
    edge_set_state(e, EDGE_BODY);
    if (e->expect_continue && evbuffer_get_length(bufferevent_get_input(e->bev)) == 0) {
        edge_move_out(e);
        evbuffer_add_printf(bufferevent_get_output(e->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    edge_deadline(e, e->read_timeout_ms);
    edge_wake(e);
    return EDGE_ACCEPTED;
}

bool edge_answer_head(struct edge *e, void *req) {
    if (!edge_owner_done(e))
        return false;
    e->req = req;
    if (e->has_body) {
        /* a short body already on its way is skipped; any other is not read */
        if (!e->chunked && !e->expect_continue && e->content_length <= EDGE_SKIP_MAX)
            e->skip_next = (uint64_t)e->content_length;
        else
            e->close_after = true;
    }
    edge_emit(e);
    return true;
}

void *edge_handed(struct edge *e, bool *too_large) {
    *too_large = e->too_large;
    if (e->state != EDGE_HANDED || e->picked || !e->req)
        return NULL;
    e->picked = true;
    return e->req;
}

void edge_answered(struct edge *e) {
    edge_release(e);
    e->req = NULL;
    e->picked = false;
    if (e->state != EDGE_HANDED)
        return;
    if (e->close_after) {
        edge_set_state(e, EDGE_CLOSING);
        return; /* evhttp closes once the answer is out; edge_after_filter lingers */
    }
    e->remaining = e->skip_next;
    edge_set_state(e, e->skip_next ? EDGE_SKIP : EDGE_HEAD);
    edge_deadline(e, e->read_timeout_ms);
    edge_wake(e);
}

void edge_cut(struct edge *e) {
    if (e->lingering) {
        edge_free(e);
        return;
    }
    evutil_socket_t fd = bufferevent_getfd(e->bev);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* evhttp sees the end and lets go */
}

void edge_detach(struct edge *e) {
    edge_release(e);
    edge_drop_req(e);
    e->g = NULL;
    e->hooks = NULL;
    if (e->lingering || (!e->filter && !e->deciding))
        edge_free(e);
}
