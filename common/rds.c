/* rds: hiredis 0.14 async context on libevent, with deadlines and reconnection. */
#include "common/rds.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/req.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <string.h>

enum rds_state { RDS_DOWN = 0, RDS_CONNECTING, RDS_UP };

struct rds {
    struct event_base *base;
    redisAsyncContext *ac;
    enum rds_state state;
    char *host;
    int port;
    int db;
    char *password;
    int timeout_ms;
    int backoff_ms;
    struct event *retry; /* reconnect timer, and the connect deadline */
    bool closing;
    bool ever_up;
    void (*on_connect)(void *);
    void *on_connect_arg;
};

struct rds_cmd {
    struct req base; /* first: the handle rds_command returns */
    rds *r;
    rds_cb cb; /* NULL: none, or cancelled */
    void *arg;
    struct event *deadline; /* or, never sent, the zero-delay failure */
    bool sent;              /* hiredis holds it and hands it back */
    bool done;              /* the user callback has run */
};

static void rds_connect(rds *r);

bool rds_up(const rds *r) {
    return r->state == RDS_UP;
}

void rds_on_connect(rds *r, void (*fn)(void *arg), void *arg) {
    r->on_connect = fn;
    r->on_connect_arg = arg;
}

static void rds_schedule(rds *r) {
    if (r->closing)
        return;
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 100;
    if (r->backoff_ms > 5000)
        r->backoff_ms = 5000;
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_del(r->retry);
    evtimer_add(r->retry, &tv);
}

/* rds_drop: frees the context; hiredis answers every pending command with a
 * NULL reply from inside redisAsyncFree. */
static void rds_drop(rds *r, const char *why) {
    redisAsyncContext *ac = r->ac;
    if (!ac)
        return;
    if (r->state == RDS_UP)
        HLOG(HLOG_WARN, "redis.disconnected", NULL, "redis connection dropped: %s", why);
    r->ac = NULL;
    r->state = RDS_DOWN;
    ac->data = NULL;
    redisAsyncFree(ac);
    rds_schedule(r);
}

static void rds_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rds *r = arg;
    if (r->state == RDS_CONNECTING) {
        HLOG(HLOG_WARN, "redis.connect_timeout", NULL, "redis connect timed out");
        rds_drop(r, "connect timed out");
        return;
    }
    if (r->state == RDS_DOWN)
        rds_connect(r);
}

static void rds_connect_cb(const redisAsyncContext *ac, int status) {
    rds *r = ac->data;
    if (!r)
        return;
    if (status != REDIS_OK) {
        HLOG(HLOG_WARN, "redis.connect_failed", NULL, "redis connect failed: %s", ac->errstr);
        /* hiredis frees the context after this callback */
        r->ac = NULL;
        r->state = RDS_DOWN;
        rds_schedule(r);
        return;
    }
    evtimer_del(r->retry);
    r->state = RDS_UP;
    if (r->backoff_ms || !r->ever_up)
        HLOG(HLOG_INFO, "redis.connected", NULL, "redis connection established");
    r->backoff_ms = 0;
    r->ever_up = true;
    if (r->on_connect)
        r->on_connect(r->on_connect_arg);
}

static void rds_disconnect_cb(const redisAsyncContext *ac, int status) {
    rds *r = ac->data;
    if (!r)
        return;
    HLOG(HLOG_WARN, "redis.disconnected", NULL, "redis connection lost: %s",
         status == REDIS_OK ? "closed" : ac->errstr);
    r->ac = NULL;
    r->state = RDS_DOWN;
    rds_schedule(r);
}

static void rds_connect(rds *r) {
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac) {
        rds_schedule(r);
        return;
    }
    if (ac->err) {
        HLOG(HLOG_WARN, "redis.connect_failed", NULL, "redis connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        rds_schedule(r);
        return;
    }
    ac->data = r;
    r->ac = ac;
    r->state = RDS_CONNECTING;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, rds_connect_cb);
    redisAsyncSetDisconnectCallback(ac, rds_disconnect_cb);
    /* queued before the connection completes; sent first */
    if (r->password)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", r->password);
    if (r->db)
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", r->db);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(r->retry, &tv);
}

static void rds_cmd_free(struct rds_cmd *c) {
    if (c->deadline)
        event_free(c->deadline);
    mem_free(c);
}

static void rds_reply_cb(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    struct rds_cmd *c = privdata;
    if (!c->done) {
        c->done = true;
        req_finish(&c->base);
        if (c->cb)
            c->cb(c->arg, reply, reply ? NULL : "redis connection lost");
    }
    rds_cmd_free(c);
}

static void rds_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct rds_cmd *c = arg;
    rds *r = c->r;
    c->done = true;
    req_finish(&c->base);
    if (c->cb)
        c->cb(c->arg, NULL, "redis command timed out");
    /* the context still owns c and will hand it back with a NULL reply */
    rds_drop(r, "command timed out");
}

static void rds_fail_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct rds_cmd *c = arg;
    req_finish(&c->base);
    if (c->cb)
        c->cb(c->arg, NULL, "redis unavailable");
    rds_cmd_free(c);
}

/* rds_cmd_cancel: a sent command's reply is still read, then dropped. */
static void rds_cmd_cancel(struct req *q) {
    struct rds_cmd *c = (struct rds_cmd *)q;
    c->cb = NULL;
    if (!c->sent)
        rds_cmd_free(c);
}

struct req *rds_command(rds *r, rds_cb cb, void *arg, int argc, const char **argv,
                        const size_t *lens) {
    struct rds_cmd *c = mem_calloc(1, sizeof(*c));
    req_init(&c->base, rds_cmd_cancel);
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    if (r->closing) {
        if (cb)
            cb(arg, NULL, "shutting down");
        mem_free(c);
        return NULL;
    }
    if (r->state != RDS_UP ||
        redisAsyncCommandArgv(r->ac, rds_reply_cb, c, argc, argv, lens) != REDIS_OK) {
        /* answered on the next turn: callbacks never run inside rds_command */
        c->deadline = evtimer_new(r->base, rds_fail_cb, c);
        struct timeval zero = {0, 0};
        evtimer_add(c->deadline, &zero);
        return &c->base;
    }
    c->sent = true;
    c->deadline = evtimer_new(r->base, rds_deadline_cb, c);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
    return &c->base;
}

rds *rds_open(struct event_base *base, const struct cfg *cfg) {
    rds *r = mem_calloc(1, sizeof(*r));
    r->base = base;
    r->host = mem_strdup(cfg->redis_host);
    r->port = cfg->redis_port;
    r->db = cfg->redis_db;
    r->password = cfg->redis_password ? mem_strdup(cfg->redis_password) : NULL;
    r->timeout_ms = cfg->redis_timeout_ms;
    r->retry = evtimer_new(base, rds_retry_cb, r);
    rds_connect(r);
    return r;
}

void rds_shutdown(rds *r) {
    if (!r || r->closing)
        return;
    r->closing = true;
    r->state = RDS_DOWN;
    evtimer_del(r->retry);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

void rds_close(rds *r) {
    if (!r)
        return;
    rds_shutdown(r);
    event_free(r->retry);
    mem_free(r->host);
    mem_free(r->password);
    mem_free(r);
}
