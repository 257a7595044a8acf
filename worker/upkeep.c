/* upkeep: a consumer's work beside reading: reclaiming entries held too
 * long (XAUTOCLAIM per stream, in turn), removing consumers that died,
 * acknowledging (XACK per stream) and trimming acknowledged entries. */
#include "common/log.h"
#include "common/mem.h"
#include "common/stream.h"
#include "worker/consumer_priv.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define UPKEEP_ACK_BATCH 500   /* ids per XACK command */
#define UPKEEP_RECLAIM_MAX 100 /* entries asked for in one XAUTOCLAIM */

/* ---- reclaiming: XAUTOCLAIM over the streams, in turn ---- */

static void upkeep_reclaim_next(cons *k);

static void upkeep_reclaim_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    if (cons_done(k)) {
        return;
    }
    int i = k->reclaim_i;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        /* NOGROUP is left to the reader, which re-creates the groups */
        if (!stream_reply_nogroup(reply))
            HLOG(HLOG_DEBUG, "stream.reclaim_failed",
                 &(struct hlog_ctx){.channel = notif_channel_name(k->ch),
                                    .err = err                   ? err
                                           : reply && reply->str ? reply->str
                                                                 : "?"},
                 "XAUTOCLAIM failed");
        snprintf(k->cursor[i], STREAM_ID_LEN, "0-0");
    } else {
        const redisReply *next = reply->element[0];
        snprintf(k->cursor[i], STREAM_ID_LEN, "%s",
                 next->type == REDIS_REPLY_STRING || next->type == REDIS_REPLY_STATUS ? next->str
                                                                                      : "0-0");
        if (!k->stopped) { /* else taken but not worked on: reclaimed again later */
            cons_take(k, i, reply->element[1]);
            cons_hand(k, true);
        }
    }
    k->reclaim_i++;
    upkeep_reclaim_next(k);
}

static void upkeep_reclaim_next(cons *k) {
    for (; k->reclaim_i < k->n; k->reclaim_i++) {
        if (k->reclaim_i == stream_legacy() && !k->legacy_on)
            continue;
        if (k->stopped || !rds_up(k->wr))
            break;
        int cap = k->hooks.capacity(k->arg);
        if (cap <= 0)
            break;
        if (cap > UPKEEP_RECLAIM_MAX)
            cap = UPKEEP_RECLAIM_MAX;
        char idle[16], count[16];
        snprintf(idle, sizeof(idle), "%d", k->visibility_ms);
        snprintf(count, sizeof(count), "%d", cap);
        const char *argv[] = {"XAUTOCLAIM", k->keys[k->reclaim_i],   STREAM_GROUP, k->consumer,
                              idle,         k->cursor[k->reclaim_i], "COUNT",      count};
        cons_send(k, k->wr, upkeep_reclaim_cb, k, 8, argv);
        return;
    }
    k->reclaiming = false;
}

void upkeep_reclaim_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (k->stopped || k->reclaiming || !k->ready || !rds_up(k->wr))
        return;
    cons_legacy_check(k);
    k->reclaiming = true;
    k->reclaim_i = 0;
    upkeep_reclaim_next(k);
}

/* Consumers that were SIGKILLed (or OOM-killed) stay in the groups for ever,
 * and heraldctl queues would count them. One with nothing pending that has
 * not read for UPKEEP_REAP_IDLE_FACTOR visibility timeouts is gone: a live
 * worker reads at least every block interval. */
#define UPKEEP_REAP_IDLE_FACTOR 10

struct upkeep_reap_arg {
    cons *k;
    int i;
};

static void upkeep_reap_done(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    cons_done(arg);
}

static void upkeep_reap_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    struct upkeep_reap_arg *a = arg;
    cons *k = a->k;
    int i = a->i;
    mem_free(a);
    k->reaping--;
    if (cons_done(k) || k->stopped)
        return;
    size_t n = stream_consumers_count(reply);
    for (size_t c = 0; c < n; c++) {
        struct stream_consumer sc;
        if (!stream_consumer_at(reply, c, &sc))
            continue;
        if (strcmp(sc.name, k->consumer) == 0 || sc.pending != 0 || sc.idle_ms < 0 ||
            sc.idle_ms < (int64_t)k->visibility_ms * UPKEEP_REAP_IDLE_FACTOR)
            continue;
        HLOG(HLOG_INFO, "stream.consumer_removed",
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch)},
             "removed consumer %s from %s: nothing pending, idle %lld ms", sc.name, k->keys[i],
             (long long)sc.idle_ms);
        const char *argv[] = {"XGROUP", "DELCONSUMER", k->keys[i], STREAM_GROUP, sc.name};
        cons_send(k, k->wr, upkeep_reap_done, k, 5, argv);
    }
}

/* upkeep_warn_failed: logs event at warn, saying what, when a command on
 * k's behalf failed (err, or an error reply, or none); else nothing. */
static void upkeep_warn_failed(const cons *k, const redisReply *reply, const char *err,
                               const char *event, const char *what) {
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        HLOG(HLOG_WARN, event,
             &(struct hlog_ctx){.channel = notif_channel_name(k->ch),
                                .err = err     ? err
                                       : reply ? reply->str
                                               : "no reply"},
             "%s", what);
}

static void upkeep_join_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    if (cons_done(k))
        return;
    upkeep_warn_failed(k, reply, err, "stream.join_failed",
                       "XGROUP CREATECONSUMER failed; the consumer appears with its first read");
}

void upkeep_join(cons *k) {
    for (int i = 0; i < k->n; i++) {
        if (i == stream_legacy())
            continue;
        const char *argv[] = {"XGROUP", "CREATECONSUMER", k->keys[i], STREAM_GROUP, k->consumer};
        cons_send(k, k->wr, upkeep_join_cb, k, 5, argv);
    }
}

void upkeep_reap_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (k->stopped || k->reaping || !rds_up(k->wr))
        return;
    if (k->ready)
        upkeep_join(k);
    k->reaping = k->n;
    for (int i = 0; i < k->n; i++) {
        struct upkeep_reap_arg *a = mem_alloc(sizeof(*a));
        *a = (struct upkeep_reap_arg){k, i};
        const char *argv[] = {"XINFO", "CONSUMERS", k->keys[i], STREAM_GROUP};
        cons_send_owning(k, k->wr, upkeep_reap_cb, a, 4, argv);
    }
}

/* ---- acknowledging and trimming ---- */

static void upkeep_ack_cb(void *arg, redisReply *reply, const char *err) {
    cons *k = arg;
    if (cons_done(k))
        return;
    upkeep_warn_failed(k, reply, err, "stream.ack_failed",
                       "acknowledging entries failed; they will be reclaimed and dropped later");
}

void upkeep_flush_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    const char **argv = mem_calloc((size_t)UPKEEP_ACK_BATCH + 3, sizeof(char *));
    for (int s = 0; s < k->n; s++) {
        int n = 0;
        for (int i = 0; i <= k->nacks; i++) {
            const char *eid = NULL;
            if (i < k->nacks && cons_token_parse(k, k->acks[i], &eid) == s)
                argv[3 + n++] = eid;
            if (n == UPKEEP_ACK_BATCH || (i == k->nacks && n > 0)) {
                argv[0] = "XACK";
                argv[1] = k->keys[s];
                argv[2] = STREAM_GROUP;
                cons_send(k, k->wr, upkeep_ack_cb, k, n + 3, argv);
                n = 0;
                k->acked[s] = true;
            }
        }
    }
    mem_free(argv);
    for (int i = 0; i < k->nacks; i++)
        mem_free(k->acks[i]);
    k->nacks = 0;
}

/* Trimming. Acknowledged entries are removed from the head of each stream
 * with XTRIM MINID rather than one by one with XDEL: XDEL leaves tombstones
 * that make Redis report the group's lag as unknown, and the lag drives the
 * sweeper's orphan cutoff, heraldctl queues and autoscaling. Entries below
 * the group's oldest pending entry (or up to its last delivered one when
 * nothing is pending) were all delivered and acknowledged. */

static void upkeep_trim_next(cons *k);

static void upkeep_trim_done_cb(void *arg, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    cons *k = arg;
    if (cons_done(k))
        return;
    k->trim_i++;
    upkeep_trim_next(k);
}

static void upkeep_trim_to(cons *k, const char *minid) {
    const char *argv[] = {"XTRIM", k->keys[k->trim_i], "MINID", minid};
    cons_send(k, k->wr, upkeep_trim_done_cb, k, 4, argv);
}

static void upkeep_trim_info_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    cons *k = arg;
    if (cons_done(k))
        return; /* k may be gone; a detached consumer never trims again */
    struct stream_group g;
    unsigned long long ms, seq;
    if (!stream_group_parse(reply, &g, NULL) || !g.group ||
        sscanf(g.last_delivered, "%llu-%llu", &ms, &seq) != 2 || (ms == 0 && seq == 0)) {
        k->trim_i++;
        upkeep_trim_next(k);
        return;
    }
    char next[STREAM_ID_LEN];
    snprintf(next, sizeof(next), "%llu-%llu", ms, seq + 1);
    upkeep_trim_to(k, next);
}

static void upkeep_trim_pending_cb(void *arg, redisReply *reply, const char *err) {
    (void)err;
    cons *k = arg;
    if (cons_done(k))
        return; /* k may be gone; a detached consumer never trims again */
    /* summary form: [count, smallest id, greatest id, [[consumer, count], ...]] */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        k->trim_i++;
        upkeep_trim_next(k);
        return;
    }
    if (reply->element[0]->integer > 0 && reply->element[1]->type == REDIS_REPLY_STRING) {
        upkeep_trim_to(k, reply->element[1]->str);
        return;
    }
    const char *argv[] = {"XINFO", "GROUPS", k->keys[k->trim_i]};
    cons_send(k, k->wr, upkeep_trim_info_cb, k, 3, argv);
}

static void upkeep_trim_next(cons *k) {
    for (; k->trim_i < k->n; k->trim_i++) {
        if (!k->acked[k->trim_i])
            continue;
        if (k->detached || !rds_up(k->wr))
            break;
        k->acked[k->trim_i] = false;
        const char *argv[] = {"XPENDING", k->keys[k->trim_i], STREAM_GROUP};
        cons_send(k, k->wr, upkeep_trim_pending_cb, k, 3, argv);
        return;
    }
    k->trimming = false;
}

void upkeep_trim_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cons *k = arg;
    if (k->trimming || k->detached || !rds_up(k->wr))
        return;
    k->trimming = true;
    k->trim_i = 0;
    upkeep_trim_next(k);
}
