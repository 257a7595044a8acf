/* xfer: curl multi driven by libevent (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), per-host queues,
 * the shared easy options and the response capture. */
#include "worker/xfer.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"
#include "worker/dlv.h"
#include "worker/turns.h"

#include <stddef.h>
#include <string.h>

#include <event2/event.h>

#define XFER_TICK_MS 200      /* how often queued transfers are checked against their deadline */
#define XFER_CACHE_PER_HOST 4 /* idle connections kept, per transfer one host may run */

struct xfer_host {
    char *name;
    int running;       /* in curl's hands */
    struct turns line; /* waiting, and whose turn is next (worker/turns.h) */
};

struct xfer_item {
    xfer *x;
    CURL *easy;
    struct xfer_host *host;
    int64_t start_by_ms;
    xfer_cb cb;
    void *arg;
    bool running;
    struct event *add_failed; /* curl refused it; answered by xfer_add_failed_cb */
    struct turn turn;         /* its place at its host */
    struct xfer_item *late;   /* xfer_tick_cb's list */
};

static struct xfer_item *xfer_item_of(struct turn *t) {
    return (struct xfer_item *)(void *)((char *)t - offsetof(struct xfer_item, turn));
}

struct xfer_sock {
    xfer *x;
    curl_socket_t fd;
    struct event *ev;
};

struct xfer {
    struct event_base *base;
    CURLM *multi;
    struct event *timer; /* curl's timeout */
    struct event *tick;  /* queue deadlines */
    hmap *hosts;         /* name -> struct xfer_host, present while it has work */
    int host_limit;
    int running, queued;
    bool in_check; /* inside xfer_check: do not re-enter */
};

static void xfer_check(xfer *x);

int xfer_running(const xfer *x) {
    return x->running;
}

int xfer_queued(const xfer *x) {
    return x->queued;
}

int xfer_host_load(const xfer *x, const char *host) {
    const struct xfer_host *h = hmap_get(x->hosts, host);
    return h ? h->running + h->line.waiting : 0;
}

int xfer_host_limit(const xfer *x) {
    return x->host_limit;
}

static size_t xfer_body_cb(char *p, size_t size, size_t n, void *arg) {
    struct xfer_capture *cap = arg;
    size_t len = size * n;
    if (cap->body.len < XFER_CAPTURE_MAX) {
        size_t room = XFER_CAPTURE_MAX - cap->body.len;
        buf_append(&cap->body, p, len < room ? len : room);
    }
    return len;
}

static size_t xfer_header_cb(char *p, size_t size, size_t n, void *arg) {
    struct xfer_capture *cap = arg;
    size_t len = size * n;
    /* a new status line (after a 1xx) starts a new header block */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        buf_reset(&cap->head);
    if (cap->head.len + len <= XFER_CAPTURE_MAX)
        buf_append(&cap->head, p, len);
    return len;
}

CURL *xfer_easy(struct xfer_capture *cap, long timeout_ms) {
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    cap->error[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, cap->error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, xfer_body_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, cap);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, xfer_header_cb);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, cap);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    return easy;
}

void xfer_answer(CURL *easy, const struct xfer_capture *cap, CURLcode code, int64_t now_ms,
                 struct dlv_resp *out) {
    long status = 0;
    double total = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &total);
    *out = (struct dlv_resp){
        .code = code,
        .curl_error = cap->error,
        .status = status,
        .headers = cap->head.data ? cap->head.data : "",
        .body = cap->body.data ? cap->body.data : "",
        .body_len = cap->body.len,
        .elapsed_ms = (int64_t)(total * 1000.0),
        .now_ms = now_ms,
    };
}

void xfer_capture_free(struct xfer_capture *cap) {
    buf_free(&cap->head);
    buf_free(&cap->body);
}

static void xfer_host_release(xfer *x, struct xfer_host *h) {
    if (h->running == 0 && h->line.waiting == 0) {
        hmap_del(x->hosts, h->name);
        turns_fini(&h->line);
        mem_free(h->name);
        mem_free(h);
    }
}

static void xfer_event_cb(evutil_socket_t fd, short what, void *arg) {
    struct xfer_sock *s = arg;
    xfer *x = s->x; /* s may be freed inside curl_multi_socket_action */
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int still;
    curl_multi_socket_action(x->multi, fd, action, &still);
    xfer_check(x);
}

static void xfer_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    xfer *x = arg;
    int still;
    curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    xfer_check(x);
}

static int xfer_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    xfer *x = userp;
    struct xfer_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            event_free(s->ev);
            mem_free(s);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!s) {
        s = mem_calloc(1, sizeof(*s));
        s->x = x;
        s->fd = fd;
        curl_multi_assign(x->multi, fd, s);
    } else {
        event_free(s->ev);
    }
    s->ev = event_new(x->base, fd, kind, xfer_event_cb, s);
    event_add(s->ev, NULL);
    return 0;
}

static int xfer_timer_fn(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    xfer *x = userp;
    if (timeout_ms < 0) {
        evtimer_del(x->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(x->timer, &tv);
    return 0;
}

static void xfer_finish(xfer *x, struct xfer_item *it, CURLcode code, bool started);

static void xfer_add_failed_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct xfer_item *it = arg;
    xfer_finish(it->x, it, CURLE_FAILED_INIT, true);
}

static void xfer_run(xfer *x, struct xfer_item *it) {
    CURLMcode mc = curl_multi_add_handle(x->multi, it->easy);
    if (mc != CURLM_OK) {
        /* answered on the next loop turn, like every other outcome */
        HLOG(HLOG_ERROR, "xfer.add_failed", NULL, "curl_multi_add_handle: %s",
             curl_multi_strerror(mc));
        it->add_failed = evtimer_new(x->base, xfer_add_failed_cb, it);
        it->host->running++; /* keeps the host entry until the callback */
        struct timeval zero = {0, 0};
        evtimer_add(it->add_failed, &zero);
        return;
    }
    it->running = true;
    it->host->running++;
    x->running++;
}

/* xfer_pump: starts waiting transfers of h while it has room. */
static void xfer_pump(xfer *x, struct xfer_host *h) {
    while (h->line.waiting > 0 && h->running < x->host_limit) {
        struct xfer_item *it = xfer_item_of(turns_next(&h->line));
        x->queued--;
        xfer_run(x, it);
    }
}

static void xfer_finish(xfer *x, struct xfer_item *it, CURLcode code, bool started) {
    struct xfer_host *h = it->host;
    curl_easy_setopt(it->easy, CURLOPT_PRIVATE, NULL); /* xfer_cancel is a no-op from now on */
    if (it->add_failed) {
        h->running--; /* see xfer_run */
        event_free(it->add_failed);
    }
    if (it->turn.cls)
        turns_done(&h->line, &it->turn);
    xfer_cb cb = it->cb;
    void *arg = it->arg;
    mem_free(it);
    xfer_host_release(x, h);
    cb(arg, code, started);
}

static void xfer_check(xfer *x) {
    if (x->in_check)
        return;
    x->in_check = true;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(x->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        struct xfer_item *it = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&it);
        curl_multi_remove_handle(x->multi, easy);
        if (!it)
            continue;
        it->running = false;
        it->host->running--;
        x->running--;
        xfer_pump(x, it->host);
        xfer_finish(x, it, code, true);
    }
    x->in_check = false;
}

struct xfer_late {
    int64_t now;
    struct xfer_item *list; /* given up, linked through late */
};

static void xfer_collect_late(const char *key, void *val, void *arg) {
    (void)key;
    struct xfer_host *h = val;
    struct xfer_late *l = arg;
    struct turn *t = h->line.head;
    while (t) {
        struct turn *next = t->next;
        struct xfer_item *it = xfer_item_of(t);
        if (it->start_by_ms && it->start_by_ms <= l->now) {
            turns_leave(&h->line, t);
            it->late = l->list;
            l->list = it;
        }
        t = next;
    }
}

static void xfer_tick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    xfer *x = arg;
    if (x->queued == 0)
        return;
    /* collect first: callbacks may start or cancel transfers, changing the map */
    struct xfer_late l = {util_mono_ms(), NULL};
    hmap_each(x->hosts, xfer_collect_late, &l);
    while (l.list) {
        struct xfer_item *it = l.list;
        l.list = it->late;
        x->queued--;
        xfer_finish(x, it, CURLE_OK, false);
    }
}

void xfer_start(xfer *x, CURL *easy, const char *host, const struct xfer_turn *turn,
                int64_t start_by_ms, xfer_cb cb, void *arg) {
    struct xfer_host *h = hmap_get(x->hosts, host);
    if (!h) {
        h = mem_calloc(1, sizeof(*h));
        h->name = mem_strdup(host);
        turns_init(&h->line);
        hmap_put(x->hosts, host, h);
    }
    struct xfer_item *it = mem_calloc(1, sizeof(*it));
    *it = (struct xfer_item){
        .x = x, .easy = easy, .host = h, .start_by_ms = start_by_ms, .cb = cb, .arg = arg};
    curl_easy_setopt(easy, CURLOPT_PRIVATE, it);
    turns_push(&h->line, &it->turn, turn ? turn->prio : 0, turn ? turn->tenant : NULL);
    x->queued++;
    /* curl_multi_add_handle only arms the timer: the callback comes later */
    xfer_pump(x, h);
}

bool xfer_make_room(xfer *x, const char *host, const struct xfer_turn *turn, void **victim) {
    *victim = NULL;
    struct xfer_host *h = hmap_get(x->hosts, host);
    if (!h)
        return true;
    struct turn *t = NULL;
    if (!turns_room(&h->line, turn->prio, turn->tenant, &t))
        return false;
    if (t) {
        struct xfer_item *it = xfer_item_of(t);
        x->queued--;
        curl_easy_setopt(it->easy, CURLOPT_PRIVATE, NULL);
        *victim = it->arg;
        mem_free(it);
    }
    return true;
}

void xfer_cancel(xfer *x, CURL *easy) {
    struct xfer_item *it = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&it);
    if (!it)
        return;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    struct xfer_host *h = it->host;
    if (it->add_failed) {
        event_free(it->add_failed);
        h->running--;
    } else if (it->running) {
        curl_multi_remove_handle(x->multi, easy);
        h->running--;
        x->running--;
    } else if (it->turn.waiting) {
        turns_leave(&h->line, &it->turn);
        x->queued--;
    }
    if (it->turn.cls)
        turns_done(&h->line, &it->turn);
    mem_free(it);
    xfer_pump(x, h);
    xfer_host_release(x, h);
}

xfer *xfer_new(struct event_base *base, int host_limit) {
    xfer *x = mem_calloc(1, sizeof(*x));
    x->base = base;
    x->host_limit = host_limit > 0 ? host_limit : 1;
    x->hosts = hmap_new();
    x->multi = curl_multi_init();
    x->timer = evtimer_new(base, xfer_timer_cb, x);
    x->tick = event_new(base, -1, EV_PERSIST, xfer_tick_cb, x);
    struct timeval tv = {0, XFER_TICK_MS * 1000};
    event_add(x->tick, &tv);
    /* curl's default cache is 4 connections per transfer in flight at the
     * moment: each lull would close the idle ones and each burst reconnect */
    curl_multi_setopt(x->multi, CURLMOPT_MAXCONNECTS, (long)(XFER_CACHE_PER_HOST * x->host_limit));
    curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, xfer_sock_cb);
    curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
    curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, xfer_timer_fn);
    curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
    return x;
}

static void xfer_free_host(void *val) {
    struct xfer_host *h = val;
    while (h->line.head) {
        struct xfer_item *it = xfer_item_of(h->line.head);
        turns_leave(&h->line, &it->turn);
        curl_easy_setopt(it->easy, CURLOPT_PRIVATE, NULL);
        mem_free(it);
    }
    turns_fini(&h->line);
    mem_free(h->name);
    mem_free(h);
}

void xfer_free(xfer *x) {
    if (!x)
        return;
    /* running transfers belong to their owners, who cancel them first; any
     * left are detached here so curl_multi_cleanup does not touch them */
    hmap_free_with(x->hosts, xfer_free_host);
    curl_multi_cleanup(x->multi);
    event_free(x->timer);
    event_free(x->tick);
    mem_free(x);
}
