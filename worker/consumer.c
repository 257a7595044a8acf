/* consumer: XREADGROUP / XAUTOCLAIM / XACK / XTRIM MINID for one channel stream. */
#include "worker/consumer.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/stream.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

/* entries asked for in one read: claims of a few dozen run side by side */
#define CONS_READ_MAX 64
#define CONS_RETRY_MS 500    /* wait after a failed read before the next */
#define CONS_ACK_BATCH 500   /* ids per XACK command */
#define CONS_RECLAIM_MAX 100 /* entries asked for in one XAUTOCLAIM */
#define CONS_TRIM_MS 500     /* how often acknowledged entries are trimmed */

struct cons {
    struct event_base *base;
    rds *rd, *wr;
    enum notif_channel ch;
    char key[STREAM_KEY_LEN];
    char *consumer;
    struct cons_hooks hooks;
    void *arg;
    int block_ms;
    int visibility_ms;
    struct event *retry;   /* next read after a failure */
    struct event *reclaim; /* periodic XAUTOCLAIM */
    struct event *flush;   /* zero-delay: send queued acks */
    struct event *trim;    /* periodic XTRIM MINID of acknowledged entries */
    struct event *reap;    /* periodic removal of consumers that died */
    bool reaping;
    char cursor[48]; /* XAUTOCLAIM position */
    char **acks;     /* entry ids waiting for XACK */
    int nacks, capacks;
    struct req_scope reqs; /* commands not yet answered */
    bool reading, reclaiming, creating;
    bool acked;    /* entries acknowledged since the last trim */
    bool trimming; /* a trim is in progress */
    bool stopped, detached;
    bool failing; /* the last read failed: log recovery once */
    void (*leave_fn)(void *);
    void *leave_arg;
    void (*idle_fn)(void *); /* cons_when_idle */
    void *idle_arg;
    struct event *idle_ev;
};

static void cons_read(cons *k);
static void cons_idle_check(cons *k);

static void cons_release(cons *k) {
    for (int i = 0; i < k->nacks; i++)
        mem_free(k->acks[i]);
    mem_free(k->acks);
    event_free(k->retry);
    event_free(k->reclaim);
    event_free(k->flush);
    event_free(k->trim);
    event_free(k->reap);
    if (k->idle_ev)
        event_free(k->idle_ev);
    mem_free(k->consumer);
    mem_free(k);
}

static void cons_failed(cons *k, const char *what, const char *err) {
    if (!k->failing)
        HLOG(HLOG_WARN, "stream.read_failed",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch), .err = err},
             "%s failed; retrying", what);
    k->failing = true;
    struct timeval tv = {0, CONS_RETRY_MS * 1000};
    evtimer_add(k->retry, &tv);
}

static void cons_group_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    k->creating = false;
    if (!stream_reply_ok(reply)) {
        cons_failed(k, "XGROUP CREATE", err ? err : reply->str);
        return;
    }
    HLOG(HLOG_INFO, "stream.group_created",
         &(struct hlog_ctx){.channel = notif_channel_name(k->ch)}, "consumer group %s ready on %s",
         STREAM_GROUP, k->key);
    cons_read(k);
}

static void cons_create_group(cons *k) {
    if (k->creating)
        return;
    k->creating = true;
    req_scope_add(&k->reqs, stream_create_group(k->wr, k->ch, cons_group_cb, k));
}

/* cons_deliver: hands the entries of an XREADGROUP/XAUTOCLAIM entry array to the owner. */
static void cons_deliver(cons *k, const redisReply *entries, bool reclaimed) {
    if (!entries || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
        return;
    struct cons_entry *e = mem_calloc(entries->elements, sizeof(*e));
    int n = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const char *eid;
        const char *nid = stream_entry_notif_id(entries->element[i], &eid);
        if (!eid)
            continue; /* an entry deleted while pending (Redis < 7 shows it as nil) */
        if (reclaimed && k->hooks.holds(k->arg, eid))
            continue;
        e[n].entry_id = eid;
        e[n].notif_id = nid;
        n++;
    }
    if (n > 0)
        k->hooks.batch(k->arg, e, n, reclaimed);
    mem_free(e);
}

static void cons_read_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    k->reading = false;
    if (stream_reply_nogroup(reply)) {
        HLOG(HLOG_INFO, "stream.no_group", &(struct hlog_ctx){.channel = notif_channel_name(k->ch)},
             "no consumer group on %s; creating it", k->key);
        cons_create_group(k);
        return;
    }
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        cons_failed(k, "XREADGROUP", err ? err : reply ? reply->str : "no reply");
        return;
    }
    if (k->failing)
        HLOG(HLOG_INFO, "stream.read_recovered",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch)}, "reading %s again", k->key);
    k->failing = false;
    /* [[key, [entry, ...]]], or nil when BLOCK timed out */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
        const redisReply *s = reply->element[0];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2)
            cons_deliver(k, s->element[1], false);
    }
    cons_read(k);
}

static void cons_read(cons *k) {
    if (k->stopped || k->detached || k->reading || k->creating || !rds_up(k->rd))
        return;
    if (evtimer_pending(k->retry, NULL))
        return;
    int cap = k->hooks.capacity(k->arg);
    if (cap <= 0)
        return;
    if (cap > CONS_READ_MAX)
        cap = CONS_READ_MAX;
    char count[16], block[16];
    snprintf(count, sizeof(count), "%d", cap);
    snprintf(block, sizeof(block), "%d", k->block_ms);
    const char *argv[] = {"XREADGROUP", "GROUP", STREAM_GROUP, k->consumer, "COUNT", count,
                          "BLOCK",      block,   "STREAMS",    k->key,      ">"};
    k->reading = true;
    req_scope_add(&k->reqs, rds_command(k->rd, cons_read_cb, k, 11, argv, NULL));
}

static void cons_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons_read(arg);
}

static void cons_on_connect(void *arg) {
    cons_read(arg);
}

void cons_kick(cons *k) {
    cons_read(k);
}

static void cons_reclaim_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    k->reclaiming = false;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        /* NOGROUP is left to the reader, which re-creates the group */
        HLOG(HLOG_DEBUG, "stream.reclaim_failed",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch),
                                .err = err                   ? err
                                       : reply && reply->str ? reply->str
                                                             : "?"},
             "XAUTOCLAIM failed");
        snprintf(k->cursor, sizeof(k->cursor), "0-0");
        return;
    }
    const redisReply *next = reply->element[0];
    snprintf(k->cursor, sizeof(k->cursor), "%s",
             next->type == REDIS_REPLY_STRING || next->type == REDIS_REPLY_STATUS ? next->str
                                                                                  : "0-0");
    if (k->stopped)
        return; /* taken but not worked on: reclaimed again later */
    cons_deliver(k, reply->element[1], true);
}

static void cons_reclaim_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (k->stopped || k->reclaiming || !rds_up(k->wr))
        return;
    int cap = k->hooks.capacity(k->arg);
    if (cap <= 0)
        return;
    if (cap > CONS_RECLAIM_MAX)
        cap = CONS_RECLAIM_MAX;
    char idle[16], count[16];
    snprintf(idle, sizeof(idle), "%d", k->visibility_ms);
    snprintf(count, sizeof(count), "%d", cap);
    const char *argv[] = {"XAUTOCLAIM", k->key,    STREAM_GROUP, k->consumer,
                          idle,         k->cursor, "COUNT",      count};
    k->reclaiming = true;
    req_scope_add(&k->reqs, rds_command(k->wr, cons_reclaim_cb, k, 8, argv, NULL));
}

/* Consumers that were SIGKILLed (or OOM-killed) stay in the group for ever,
 * and heraldctl queues would count them. One with nothing pending that has
 * not read for CONS_REAP_IDLE_FACTOR visibility timeouts is gone: a live
 * worker reads at least every block interval. */
#define CONS_REAP_IDLE_FACTOR 10

static void cons_reap_done(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    (void)arg;
}

static void cons_reap_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    k->reaping = false;
    if (k->stopped)
        return;
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *c = reply->element[i];
        const char *name = NULL;
        long long pending = -1, idle = -1;
        for (size_t f = 0; c->type == REDIS_REPLY_ARRAY && f + 1 < c->elements; f += 2) {
            const char *key = c->element[f]->str;
            const redisReply *v = c->element[f + 1];
            if (!key)
                continue;
            if (!strcmp(key, "name") && v->str)
                name = v->str;
            else if (!strcmp(key, "pending") && v->type == REDIS_REPLY_INTEGER)
                pending = v->integer;
            else if (!strcmp(key, "idle") && v->type == REDIS_REPLY_INTEGER)
                idle = v->integer;
        }
        if (!name || strcmp(name, k->consumer) == 0 || pending != 0 ||
            idle < (long long)k->visibility_ms * CONS_REAP_IDLE_FACTOR)
            continue;
        HLOG(HLOG_INFO, "stream.consumer_removed",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch)},
             "removed consumer %s: nothing pending, idle %lld ms", name, idle);
        const char *argv[] = {"XGROUP", "DELCONSUMER", k->key, STREAM_GROUP, name};
        req_scope_add(&k->reqs, rds_command(k->wr, cons_reap_done, k, 5, argv, NULL));
    }
}

static void cons_reap_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (k->stopped || k->reaping || !rds_up(k->wr))
        return;
    const char *argv[] = {"XINFO", "CONSUMERS", k->key, STREAM_GROUP};
    k->reaping = true;
    req_scope_add(&k->reqs, rds_command(k->wr, cons_reap_cb, k, 4, argv, NULL));
}

static void cons_ack_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        HLOG(HLOG_WARN, "stream.ack_failed",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch),
                                .err = err     ? err
                                       : reply ? reply->str
                                               : "no reply"},
             "acknowledging entries failed; they will be reclaimed and dropped later");
}

static void cons_flush_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    for (int start = 0; start < k->nacks; start += CONS_ACK_BATCH) {
        int n = k->nacks - start < CONS_ACK_BATCH ? k->nacks - start : CONS_ACK_BATCH;
        const char **argv = mem_calloc((size_t)n + 3, sizeof(char *));
        argv[0] = "XACK";
        argv[1] = k->key;
        argv[2] = STREAM_GROUP;
        for (int i = 0; i < n; i++)
            argv[3 + i] = k->acks[start + i];
        req_scope_add(&k->reqs, rds_command(k->wr, cons_ack_cb, k, n + 3, argv, NULL));
        mem_free(argv);
    }
    for (int i = 0; i < k->nacks; i++)
        mem_free(k->acks[i]);
    k->nacks = 0;
    k->acked = true;
}

/* Trimming. Acknowledged entries are removed from the head of the stream
 * with XTRIM MINID rather than one by one with XDEL: XDEL leaves tombstones
 * that make Redis report the group's lag as unknown, and the lag drives the
 * sweeper's orphan cutoff, heraldctl queues and autoscaling. Entries below
 * the group's oldest pending entry (or up to its last delivered one when
 * nothing is pending) were all delivered and acknowledged. */

static void cons_trim_done_cb(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    k->trimming = false;
}

static void cons_trim_to(cons *k, const char *minid) {
    const char *argv[] = {"XTRIM", k->key, "MINID", minid};
    req_scope_add(&k->reqs, rds_command(k->wr, cons_trim_done_cb, k, 4, argv, NULL));
}

static void cons_trim_info_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    const char *last = NULL;
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *g = reply->element[i];
        const char *name = NULL, *ld = NULL;
        for (size_t f = 0; g->type == REDIS_REPLY_ARRAY && f + 1 < g->elements; f += 2) {
            const redisReply *key = g->element[f], *val = g->element[f + 1];
            if (key->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
                continue;
            if (!strcmp(key->str, "name"))
                name = val->str;
            else if (!strcmp(key->str, "last-delivered-id"))
                ld = val->str;
        }
        if (name && ld && !strcmp(name, STREAM_GROUP))
            last = ld;
    }
    unsigned long long ms, seq;
    if (!last || sscanf(last, "%llu-%llu", &ms, &seq) != 2 || (ms == 0 && seq == 0)) {
        k->trimming = false;
        return;
    }
    char next[48];
    snprintf(next, sizeof(next), "%llu-%llu", ms, seq + 1);
    cons_trim_to(k, next);
}

static void cons_trim_pending_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    /* summary form: [count, smallest id, greatest id, [[consumer, count], ...]] */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        k->trimming = false;
        return;
    }
    if (reply->element[0]->integer > 0 && reply->element[1]->type == REDIS_REPLY_STRING) {
        cons_trim_to(k, reply->element[1]->str);
        return;
    }
    const char *argv[] = {"XINFO", "GROUPS", k->key};
    req_scope_add(&k->reqs, rds_command(k->wr, cons_trim_info_cb, k, 3, argv, NULL));
}

static void cons_trim_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (!k->acked || k->trimming || k->detached || !rds_up(k->wr))
        return;
    k->acked = false;
    k->trimming = true;
    const char *argv[] = {"XPENDING", k->key, STREAM_GROUP};
    req_scope_add(&k->reqs, rds_command(k->wr, cons_trim_pending_cb, k, 3, argv, NULL));
}

void cons_ack(cons *k, const char *entry_id) {
    if (k->nacks == k->capacks) {
        k->capacks = k->capacks ? k->capacks * 2 : 64;
        k->acks = mem_realloc(k->acks, (size_t)k->capacks * sizeof(char *));
    }
    k->acks[k->nacks++] = mem_strdup(entry_id);
    if (!evtimer_pending(k->flush, NULL)) {
        struct timeval zero = {0, 0};
        evtimer_add(k->flush, &zero);
    }
}

cons *cons_new(struct event_base *base, rds *rd, rds *wr, enum notif_channel ch,
               const char *consumer, const struct cfg *c, const struct cons_hooks *hooks,
               void *arg) {
    cons *k = mem_calloc(1, sizeof(*k));
    k->base = base;
    k->rd = rd;
    k->wr = wr;
    k->ch = ch;
    stream_key(ch, k->key);
    k->consumer = mem_strdup(consumer);
    k->hooks = *hooks;
    k->arg = arg;
    /* the rds deadline covers BLOCK too: stay well inside it */
    k->block_ms = c->redis_timeout_ms / 2 < 1000 ? c->redis_timeout_ms / 2 : 1000;
    if (k->block_ms < 1)
        k->block_ms = 1;
    k->visibility_ms = c->visibility_timeout_ms;
    snprintf(k->cursor, sizeof(k->cursor), "0-0");
    k->retry = evtimer_new(base, cons_retry_cb, k);
    k->flush = evtimer_new(base, cons_flush_cb, k);
    k->reclaim = event_new(base, -1, EV_PERSIST, cons_reclaim_tick, k);
    int every = c->visibility_timeout_ms / 4;
    if (every < 100)
        every = 100;
    if (every > 15000)
        every = 15000;
    struct timeval tv = {every / 1000, (every % 1000) * 1000};
    event_add(k->reclaim, &tv);
    k->trim = event_new(base, -1, EV_PERSIST, cons_trim_tick, k);
    struct timeval trim_every = {CONS_TRIM_MS / 1000, (CONS_TRIM_MS % 1000) * 1000};
    event_add(k->trim, &trim_every);
    k->reap = event_new(base, -1, EV_PERSIST, cons_reap_tick, k);
    int reap_ms = k->visibility_ms * 2;
    struct timeval reap_every = {reap_ms / 1000, (reap_ms % 1000) * 1000};
    event_add(k->reap, &reap_every);
    rds_on_connect(rd, cons_on_connect, k);
    cons_read(k);
    return k;
}

void cons_stop(cons *k) {
    k->stopped = true;
    evtimer_del(k->retry);
    event_del(k->reclaim);
    event_del(k->reap);
}

bool cons_idle(const cons *k) {
    return req_scope_idle(&k->reqs) && k->nacks == 0;
}

static void cons_idle_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (!k->idle_fn || k->detached || !cons_idle(k))
        return; /* the next callback to finish checks again */
    void (*fn)(void *) = k->idle_fn;
    k->idle_fn = NULL;
    fn(k->idle_arg);
}

/* cons_idle_check: schedules the idle callback when it is due. */
static void cons_idle_check(cons *k) {
    if (!k->idle_fn || !cons_idle(k))
        return;
    struct timeval zero = {0, 0};
    evtimer_add(k->idle_ev, &zero);
}

void cons_when_idle(cons *k, void (*fn)(void *arg), void *arg) {
    k->idle_fn = fn;
    k->idle_arg = arg;
    if (!k->idle_ev)
        k->idle_ev = evtimer_new(k->base, cons_idle_cb, k);
    cons_idle_check(k);
}

static void cons_leave_cb(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    cons *k = arg;
    cons_idle_check(k); /* checked again when the timer fires */
    if (k->leave_fn)
        k->leave_fn(k->leave_arg);
}

void cons_leave(cons *k, void (*fn)(void *arg), void *arg) {
    k->leave_fn = fn;
    k->leave_arg = arg;
    const char *argv[] = {"XGROUP", "DELCONSUMER", k->key, STREAM_GROUP, k->consumer};
    req_scope_add(&k->reqs, rds_command(k->wr, cons_leave_cb, k, 5, argv, NULL));
}

void cons_detach(cons *k) {
    k->detached = true;
    if (k->idle_ev)
        evtimer_del(k->idle_ev);
    req_scope_cancel(&k->reqs); /* none of their callbacks runs now */
    cons_stop(k);
    evtimer_del(k->flush);
    event_del(k->trim);
}

void cons_free(cons *k) {
    if (!k)
        return;
    req_scope_cancel(&k->reqs);
    cons_release(k);
}
