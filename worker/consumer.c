/* consumer: XREADGROUP / XAUTOCLAIM / XACK / XTRIM MINID over one channel's streams. */
#include "worker/consumer.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/stream.h"
#include "worker/consumer_priv.h"
#include "worker/readplan.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* entries asked for in one cycle: claims of a few dozen run side by side */
#define CONS_READ_MAX 64
#define CONS_RETRY_MS 500 /* wait after a failed read before the next */
#define CONS_TRIM_MS 500  /* how often acknowledged entries are trimmed */

static void cons_read(cons *k);
static void cons_create_groups(cons *k);

static void cons_got_clear(cons *k) {
    for (int i = 0; i < k->ngot; i++)
        mem_free(k->got[i].nid);
    k->ngot = 0;
}

static void cons_release(cons *k) {
    for (int i = 0; i < k->nacks; i++)
        mem_free(k->acks[i]);
    mem_free(k->acks);
    cons_got_clear(k);
    mem_free(k->got);
    for (int r = 0; r < CONS_REQS; r++)
        mem_free(k->req[r].streams);
    mem_free(k->ret);
    mem_free(k->keys);
    mem_free(k->cursor);
    mem_free(k->acked);
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

/* cons_idle_check: schedules the idle callback when it is due. */
static void cons_idle_check(cons *k) {
    if (!k->idle_fn || !cons_idle(k))
        return;
    struct timeval zero = {0, 0};
    evtimer_add(k->idle_ev, &zero);
}

/* cons_done: every callback starts here (a cancelled command's never runs);
 * true when it must return at once. */
bool cons_done(cons *k) {
    cons_idle_check(k); /* checked again when the timer fires */
    return k->detached;
}

void cons_send(cons *k, rds *r, rds_cb cb, void *arg, int argc, const char **argv) {
    req_scope_add(&k->reqs, rds_command(r, cb, arg, argc, argv, NULL));
}

void cons_send_owning(cons *k, rds *r, rds_cb cb, void *arg, int argc, const char **argv) {
    req_scope_add_owning(&k->reqs, rds_command(r, cb, arg, argc, argv, NULL), arg);
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

/* ---- tokens: "<stream>:<entry id>", what the owner holds and acks ---- */

static void cons_token(int stream, const char *eid, char *out) {
    snprintf(out, CONS_TOKEN_LEN, "%d:%s", stream, eid);
}

/* cons_token_parse: the stream of a token, -1 if malformed; *eid the entry id. */
int cons_token_parse(const cons *k, const char *token, const char **eid) {
    char *end;
    long i = strtol(token, &end, 10);
    if (end == token || *end != ':' || i < 0 || i >= k->n)
        return -1;
    *eid = end + 1;
    return (int)i;
}

/* ---- groups ---- */

static void cons_group_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    k->creating--;
    if (cons_done(k))
        return;
    if (!stream_reply_ok(reply) && !k->create_failed) {
        k->create_failed = true;
        cons_failed(k, "XGROUP CREATE", err ? err : reply ? reply->str : "no reply");
    }
    if (k->creating > 0 || k->create_failed)
        return;
    k->ready = true;
    HLOG(
        HLOG_INFO, "stream.group_created", &(struct hlog_ctx){.channel = notif_channel_name(k->ch)},
        "consumer group %s ready on %d lanes of %d priorities", STREAM_GROUP, k->lanes, PRIO_COUNT);
    upkeep_join(k);
    cons_read(k);
}

/* The version 1 stream is read while it exists (its group created at 0 if
 * missing, never the stream itself). */
static void cons_legacy_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    cons *k = arg;
    k->legacy_checking = false;
    if (cons_done(k))
        return;
    struct stream_group g;
    if (!stream_group_parse(reply, &g, NULL))
        return;
    if (g.stream && !g.group) {
        k->creating++;
        req_scope_add(&k->reqs,
                      stream_create_group(k->wr, k->ch, stream_legacy(), cons_group_cb, k));
    }
    if (g.stream && !k->legacy_on)
        HLOG(HLOG_INFO, "stream.legacy", &(struct hlog_ctx){.channel = notif_channel_name(k->ch)},
             "reading %s until it is empty", k->keys[stream_legacy()]);
    k->legacy_on = g.stream && (g.group || !k->create_failed);
}

void cons_legacy_check(cons *k) {
    if (k->legacy_checking || !rds_up(k->wr))
        return;
    k->legacy_checking = true;
    const char *argv[] = {"XINFO", "GROUPS", k->keys[stream_legacy()]};
    cons_send(k, k->wr, cons_legacy_cb, k, 3, argv);
}

static void cons_create_groups(cons *k) {
    if (k->creating > 0)
        return;
    k->ready = false;
    k->create_failed = false;
    k->legacy_on = false;
    k->creating = k->n - 1; /* counted first: replies may come inside rds_command */
    for (int i = 0; i < k->n; i++) {
        if (i == stream_legacy())
            continue;
        req_scope_add(&k->reqs, stream_create_group(k->wr, k->ch, i, cons_group_cb, k));
    }
    cons_legacy_check(k);
}

/* ---- reading ---- */

static void cons_got_add(cons *k, int stream, int pos, const char *eid, const char *nid) {
    if (k->ngot == k->capgot) {
        k->capgot = k->capgot ? k->capgot * 2 : 64;
        k->got = mem_realloc(k->got, (size_t)k->capgot * sizeof(*k->got));
    }
    struct cons_got *g = &k->got[k->ngot++];
    g->stream = stream;
    g->pos = pos;
    cons_token(stream, eid, g->token);
    g->nid = nid ? mem_strdup(nid) : NULL;
}

/* Higher priority first; within one, lanes take turns (first entries of
 * every lane, then second ones...). */
static int cons_got_cmp(const void *a, const void *b) {
    const struct cons_got *x = a, *y = b;
    int px = stream_priority_at(x->stream), py = stream_priority_at(y->stream);
    if (px != py)
        return px - py;
    if (x->pos != y->pos)
        return x->pos - y->pos;
    return x->stream - y->stream;
}

/* cons_hand: gives what this round read to the owner, in turn order. */
void cons_hand(cons *k, bool reclaimed) {
    if (k->ngot == 0)
        return;
    qsort(k->got, (size_t)k->ngot, sizeof(*k->got), cons_got_cmp);
    struct cons_entry *e = mem_calloc((size_t)k->ngot, sizeof(*e));
    int n = 0;
    for (int i = 0; i < k->ngot; i++) {
        if (reclaimed && k->hooks.holds(k->arg, k->got[i].token))
            continue;
        e[n].entry_id = k->got[i].token;
        e[n].notif_id = k->got[i].nid;
        n++;
    }
    if (n > 0 && !k->detached)
        k->hooks.batch(k->arg, e, n, reclaimed);
    mem_free(e);
    cons_got_clear(k);
}

/* cons_take: the entries of one stream's [entry, ...] array. */
int cons_take(cons *k, int stream, const redisReply *entries) {
    int n = 0;
    for (size_t i = 0; entries && entries->type == REDIS_REPLY_ARRAY && i < entries->elements;
         i++) {
        const char *eid;
        const char *nid = stream_entry_notif_id(entries->element[i], &eid);
        if (!eid)
            continue; /* an entry deleted while pending (Redis < 7 shows it as nil) */
        cons_got_add(k, stream, n++, eid, nid);
    }
    return n;
}

static int cons_stream_of(const struct cons_req *q, const cons *k, const char *key) {
    for (int i = 0; i < q->n; i++)
        if (!strcmp(k->keys[q->streams[i]], key))
            return q->streams[i];
    return -1;
}

static void cons_round_done(cons *k);

static void cons_read_cb(void *arg, redisReply *reply, const char *err) {
    struct cons_req *q = arg;
    cons *k = q->k;
    k->req_left--;
    if (cons_done(k))
        return;
    if (stream_reply_nogroup(reply)) {
        k->round_nogroup = true;
    } else if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (!k->round_err[0])
            snprintf(k->round_err, sizeof(k->round_err), "%s",
                     err                   ? err
                     : reply && reply->str ? reply->str
                                           : "no reply");
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        /* [[key, [entry, ...]], ...], or nil when nothing (BLOCK timed out) */
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *s = reply->element[i];
            if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
                s->element[0]->type != REDIS_REPLY_STRING)
                continue;
            int stream = cons_stream_of(q, k, s->element[0]->str);
            if (stream >= 0)
                k->ret[stream] += cons_take(k, stream, s->element[1]);
        }
    }
    if (k->req_left == 0)
        cons_round_done(k);
}

/* cons_req_lanes: a request for every lane of priority p (or the old stream
 * when p < 0), count entries each. */
static void cons_req_lanes(cons *k, int p, int count) {
    struct cons_req *q = &k->req[k->nreq++];
    q->n = 0;
    q->count = count;
    if (p < 0) {
        q->streams[q->n++] = stream_legacy();
        return;
    }
    for (int l = 0; l < k->lanes; l++)
        q->streams[q->n++] = stream_index((enum notif_priority)p, l);
}

static void cons_send_round(cons *k, int block_ms) {
    memset(k->ret, 0, (size_t)k->n * sizeof(int));
    k->round_nogroup = false;
    k->round_err[0] = '\0';
    k->reading = true;
    k->req_left = k->nreq;
    for (int r = 0; r < k->nreq; r++) {
        struct cons_req *q = &k->req[r];
        int argc = 0;
        const char **argv = mem_calloc((size_t)q->n * 2 + 10, sizeof(char *));
        char count[16], block[16];
        snprintf(count, sizeof(count), "%d", q->count);
        snprintf(block, sizeof(block), "%d", block_ms);
        argv[argc++] = "XREADGROUP";
        argv[argc++] = "GROUP";
        argv[argc++] = STREAM_GROUP;
        argv[argc++] = k->consumer;
        argv[argc++] = "COUNT";
        argv[argc++] = count;
        if (block_ms > 0) {
            argv[argc++] = "BLOCK";
            argv[argc++] = block;
        }
        argv[argc++] = "STREAMS";
        for (int i = 0; i < q->n; i++)
            argv[argc++] = k->keys[q->streams[i]];
        for (int i = 0; i < q->n; i++)
            argv[argc++] = ">";
        cons_send(k, k->rd, cons_read_cb, q, argc, argv);
        mem_free(argv);
    }
}

/* the first round of a cycle: every priority's lanes by the plan, the old stream */
static void cons_round1(cons *k) {
    struct readplan_ask ask[PRIO_COUNT];
    readplan_first(&k->plan, k->cap, k->lanes, ask);
    k->nreq = 0;
    int top_count = 1;
    for (int p = 0; p < PRIO_COUNT; p++) {
        if (ask[p].count > 0)
            cons_req_lanes(k, p, ask[p].count);
        if (p == k->plan.top)
            top_count = ask[p].count;
    }
    if (k->legacy_on)
        cons_req_lanes(k, -1, top_count);
    k->round = 1;
    cons_send_round(k, 0);
}

static void cons_round_done(cons *k) {
    k->reading = false;
    int got[PRIO_COUNT] = {0}, total = 0;
    for (int i = 0; i < k->n; i++) {
        got[stream_priority_at(i)] += k->ret[i];
        total += k->ret[i];
    }
    int full[PRIO_COUNT] = {0};
    for (int r = 0; r < k->nreq; r++)
        for (int i = 0; i < k->req[r].n; i++)
            if (k->ret[k->req[r].streams[i]] >= k->req[r].count)
                full[stream_priority_at(k->req[r].streams[i])]++;
    int round = k->round;
    if (round == 1) {
        struct readplan_ask ask[PRIO_COUNT];
        for (int p = 0; p < PRIO_COUNT; p++)
            ask[p].count = 0;
        for (int r = 0; r < k->nreq; r++)
            if (k->req[r].streams[0] != stream_legacy())
                ask[stream_priority_at(k->req[r].streams[0])].count = k->req[r].count;
        readplan_settle(&k->plan, k->cap, ask, got);
    } else if (round == 2) {
        readplan_filled(&k->plan, k->cap, k->fill_prio, total);
    } else if (round == 0 && total > 0) {
        struct readplan_ask ask[PRIO_COUNT] = {{1}, {1}, {1}};
        readplan_settle(&k->plan, k->cap, ask, got);
    }
    cons_hand(k, false);
    if (k->round_nogroup) {
        HLOG(HLOG_INFO, "stream.no_group", &(struct hlog_ctx){.channel = notif_channel_name(k->ch)},
             "a consumer group is missing; creating the groups again");
        cons_create_groups(k);
        return;
    }
    if (k->round_err[0]) {
        cons_failed(k, "XREADGROUP", k->round_err);
        return;
    }
    if (k->failing)
        HLOG(HLOG_INFO, "stream.read_recovered",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch)}, "reading again");
    k->failing = false;
    if (round == 1 && total > 0 && total < k->cap && !k->stopped && !k->detached) {
        /* the slots still free go to the lanes that had more, highest priority first */
        int count;
        int p = readplan_fill(k->cap - total, full, &count);
        if (p >= 0) {
            int nfull = 0;
            struct cons_req *q = &k->req[0];
            for (int r = 0; r < k->nreq; r++) {
                for (int i = 0; i < k->req[r].n; i++) {
                    int s = k->req[r].streams[i];
                    if ((int)stream_priority_at(s) == p && k->ret[s] >= k->req[r].count)
                        k->ret[s] = -1; /* marked: read again */
                }
            }
            q->n = 0;
            for (int s = 0; s < k->n; s++)
                if (k->ret[s] == -1) {
                    q->streams[q->n++] = s;
                    nfull++;
                }
            if (nfull > 0) {
                q->count = count;
                k->nreq = 1;
                k->round = 2;
                k->fill_prio = p;
                cons_send_round(k, 0);
                return;
            }
        }
    }
    if (round == 1 && total == 0 && !k->stopped && !k->detached) {
        /* nothing anywhere this cycle: wait on every stream for one entry */
        k->nreq = 0;
        for (int p = 0; p < PRIO_COUNT; p++)
            cons_req_lanes(k, p, 1);
        if (k->legacy_on)
            cons_req_lanes(k, -1, 1);
        /* one command, so it wakes for an entry in any stream */
        struct cons_req *q = &k->req[0];
        for (int r = 1; r < k->nreq; r++)
            for (int i = 0; i < k->req[r].n; i++)
                q->streams[q->n++] = k->req[r].streams[i];
        k->nreq = 1;
        k->round = 0;
        cons_send_round(k, k->block_ms);
        return;
    }
    cons_read(k);
}

static void cons_read(cons *k) {
    if (k->stopped || k->detached || k->reading || !k->ready || !rds_up(k->rd))
        return;
    if (evtimer_pending(k->retry, NULL))
        return;
    int cap = k->hooks.capacity(k->arg);
    if (cap <= 0)
        return;
    k->cap = cap > CONS_READ_MAX ? CONS_READ_MAX : cap;
    cons_round1(k);
}

static void cons_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (!k->ready)
        cons_create_groups(k);
    else
        cons_read(k);
}

static void cons_on_connect(void *arg) {
    cons *k = arg;
    if (!k->ready)
        cons_create_groups(k);
    else
        cons_read(k);
}

void cons_kick(cons *k) {
    cons_read(k);
}

void cons_ack(cons *k, const char *entry_id) {
    const char *eid;
    if (cons_token_parse(k, entry_id, &eid) < 0)
        return;
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

/* ---- life cycle ---- */

cons *cons_new(struct event_base *base, rds *rd, rds *wr, enum notif_channel ch,
               const char *consumer, const struct cfg *c, const struct cons_hooks *hooks,
               void *arg) {
    cons *k = mem_calloc(1, sizeof(*k));
    *k = (cons){.base = base,
                .rd = rd,
                .wr = wr,
                .ch = ch,
                .n = stream_count(),
                .lanes = stream_lanes(),
                .hooks = *hooks,
                .arg = arg};
    k->keys = mem_calloc((size_t)k->n, sizeof(*k->keys));
    k->cursor = mem_calloc((size_t)k->n, sizeof(*k->cursor));
    k->acked = mem_calloc((size_t)k->n, sizeof(*k->acked));
    k->ret = mem_calloc((size_t)k->n, sizeof(*k->ret));
    for (int i = 0; i < k->n; i++) {
        stream_key_at(ch, i, k->keys[i]);
        snprintf(k->cursor[i], STREAM_ID_LEN, "0-0");
    }
    for (int r = 0; r < CONS_REQS; r++) {
        k->req[r].k = k;
        k->req[r].streams = mem_calloc((size_t)k->n, sizeof(int));
    }
    readplan_init(&k->plan);
    k->consumer = mem_strdup(consumer);
    /* the rds deadline covers BLOCK too: stay well inside it */
    k->block_ms = c->redis_timeout_ms / 2 < 1000 ? c->redis_timeout_ms / 2 : 1000;
    if (k->block_ms < 1)
        k->block_ms = 1;
    k->visibility_ms = c->visibility_timeout_ms;
    k->retry = evtimer_new(base, cons_retry_cb, k);
    k->flush = evtimer_new(base, upkeep_flush_cb, k);
    k->reclaim = event_new(base, -1, EV_PERSIST, upkeep_reclaim_tick, k);
    int every = c->visibility_timeout_ms / 4;
    if (every < 100)
        every = 100;
    if (every > 15000)
        every = 15000;
    struct timeval tv = {every / 1000, (every % 1000) * 1000};
    event_add(k->reclaim, &tv);
    k->trim = event_new(base, -1, EV_PERSIST, upkeep_trim_tick, k);
    struct timeval trim_every = {CONS_TRIM_MS / 1000, (CONS_TRIM_MS % 1000) * 1000};
    event_add(k->trim, &trim_every);
    k->reap = event_new(base, -1, EV_PERSIST, upkeep_reap_tick, k);
    int reap_ms = k->visibility_ms * 2;
    struct timeval reap_every = {reap_ms / 1000, (reap_ms % 1000) * 1000};
    event_add(k->reap, &reap_every);
    rds_on_connect(rd, cons_on_connect, k);
    cons_create_groups(k);
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
    k->leave_left--;
    if (cons_done(k))
        return;
    if (k->leave_left == 0 && k->leave_fn)
        k->leave_fn(k->leave_arg);
}

void cons_leave(cons *k, void (*fn)(void *arg), void *arg) {
    k->leave_fn = fn;
    k->leave_arg = arg;
    k->leave_left = k->n; /* counted first: replies may come inside rds_command */
    for (int i = 0; i < k->n; i++) {
        const char *argv[] = {"XGROUP", "DELCONSUMER", k->keys[i], STREAM_GROUP, k->consumer};
        cons_send(k, k->wr, cons_leave_cb, k, 5, argv);
    }
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
