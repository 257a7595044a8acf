/* sweep: the scheduler and orphan sweeper shared by the API and the workers. */
#include "common/sweep.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/notif.h"
#include "common/stream.h"
#include "common/util.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SWEEP_BATCH 500
#define SWEEP_MAX_ROUNDS 20       /* full scheduled batches per cycle before yielding */
#define SWEEP_SKEW_MARGIN_MS 1000 /* clock difference tolerated between Redis and PostgreSQL */

enum sweep_state {
    SW_IDLE = 0,     /* waiting for the timer */
    SW_SCHED_QUERY,  /* step 1: picking due rows */
    SW_SCHED_XADD,   /* step 1: XADD of the picked rows */
    SW_SCHED_UNDO,   /* step 1: in_stream = false for rows whose XADD failed */
    SW_ORPHAN_INFO,  /* step 2: XINFO GROUPS of one channel */
    SW_ORPHAN_XLEN,  /* step 2: XLEN, when the stream has no group */
    SW_ORPHAN_QUERY, /* step 2: picking orphaned rows */
    SW_ORPHAN_XADD,  /* step 2: XADD of the orphans */
    SW_STATE_COUNT
};
static const char *const sweep_state_names[SW_STATE_COUNT] = {
    "idle",        "sched_query", "sched_xadd",   "sched_undo",
    "orphan_info", "orphan_xlen", "orphan_query", "orphan_xadd"};

struct sweep {
    struct event_base *base;
    db *d;
    rds *r;
    const char *svc;
    int interval_ms;
    int grace_ms;
    unsigned mask;
    struct event *timer;
    enum sweep_state state;
    struct req_scope reqs; /* statements and commands not yet answered */
    int rounds;            /* scheduled batches this cycle */
    int batch;             /* rows the last scheduled batch picked */
    int channel;           /* step 2: the channel being swept */
    int64_t cutoff_ms;     /* step 2: wall clock */
    int xadd_left;         /* XADD replies still expected */
    int moved;             /* rows enqueued in this step */
    struct buf failed;     /* step 1: array literal of ids whose XADD failed */
    bool db_failing, rds_failing;
};

static void sweep_next_channel(sweep *s);
static void sweep_sched_query(sweep *s);

static void sweep_set_state(sweep *s, enum sweep_state st) {
    if ((unsigned)st >= SW_STATE_COUNT)
        st = SW_IDLE;
    if (s->state != st)
        HLOG(HLOG_DEBUG, "sweep.state", NULL, "%s sweep: %s -> %s", s->svc,
             sweep_state_names[s->state], sweep_state_names[st]);
    s->state = st;
}

static void sweep_free(sweep *s) {
    if (s->timer)
        event_free(s->timer);
    buf_free(&s->failed);
    mem_free(s);
}

static void sweep_db_status(sweep *s, const struct db_result *r) {
    bool failing = r->status != DB_OK;
    if (failing && !s->db_failing)
        HLOG(HLOG_WARN, "sweep.db_error", &(struct hlog_ctx){.err = r->message},
             "%s sweep: database query failed; will retry", s->svc);
    else if (!failing && s->db_failing)
        HLOG(HLOG_INFO, "sweep.db_recovered", NULL, "%s sweep: database queries work again",
             s->svc);
    s->db_failing = failing;
}

static void sweep_rds_status(sweep *s, bool failing, const char *err) {
    if (failing && !s->rds_failing)
        HLOG(HLOG_WARN, "sweep.redis_error", &(struct hlog_ctx){.err = err},
             "%s sweep: redis command failed; will retry", s->svc);
    else if (!failing && s->rds_failing)
        HLOG(HLOG_INFO, "sweep.redis_recovered", NULL, "%s sweep: redis commands work again",
             s->svc);
    s->rds_failing = failing;
}

static void sweep_idle(sweep *s) {
    sweep_set_state(s, SW_IDLE);
    struct timeval tv = {s->interval_ms / 1000, (s->interval_ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void sweep_query(sweep *s, const char *sql, int n, const char *const *params, db_cb cb) {
    req_scope_add(&s->reqs, db_query(s->d, sql, n, params, cb, s));
}

static void sweep_channels_param(const sweep *s, struct buf *b) {
    buf_putc(b, '{');
    for (int ch = 0; ch < CH_COUNT; ch++)
        if (s->mask & (1u << ch)) {
            const char *name = notif_channel_name((enum notif_channel)ch);
            db_array_add(b, name, strlen(name));
        }
    buf_putc(b, '}');
}

/* ---- step 1: scheduled rows ------------------------------------------- */

static void sweep_sched_done(sweep *s, bool full_batch) {
    if (s->moved)
        HLOG(HLOG_INFO, "sweep.enqueued", NULL, "%s sweep: enqueued %d due notifications", s->svc,
             s->moved);
    if (full_batch && ++s->rounds < SWEEP_MAX_ROUNDS) {
        sweep_sched_query(s);
        return;
    }
    s->channel = -1;
    sweep_next_channel(s);
}

static void sweep_undo_cb(void *arg, const struct db_result *r) {
    sweep *s = arg;
    sweep_db_status(s, r);
    /* if even this failed, the rows stay in_stream and the orphan step finds them */
    sweep_sched_done(s, false);
}

/* A small per-XADD record so a failure can name its row. */
struct sweep_xadd {
    sweep *s;
    char id[UTIL_UUID_LEN];
};

static void sweep_sched_xadd_done(sweep *s) {
    if (s->failed.len > 0) {
        buf_putc(&s->failed, '}');
        const char *params[] = {s->failed.data};
        sweep_set_state(s, SW_SCHED_UNDO);
        sweep_query(s,
                    "UPDATE notifications SET in_stream = false "
                    "WHERE id = ANY($1::uuid[]) AND status = 'pending' AND in_stream",
                    1, params, sweep_undo_cb);
        return;
    }
    sweep_sched_done(s, s->batch >= SWEEP_BATCH);
}

static void sweep_orphan_xadd_done(sweep *s) {
    if (s->moved)
        HLOG(HLOG_INFO, "sweep.orphans",
             &(struct hlog_ctx){.channel = notif_channel_name((enum notif_channel)s->channel)},
             "%s sweep: enqueued %d orphaned notifications again", s->svc, s->moved);
    sweep_next_channel(s);
}

static void sweep_xadd_cb(void *arg, redisReply *reply, const char *err) {
    struct sweep_xadd *x = arg;
    sweep *s = x->s;
    bool ok = stream_reply_ok(reply);
    if (!ok && s->state == SW_SCHED_XADD) {
        buf_putc(&s->failed, s->failed.len ? ',' : '{');
        buf_puts(&s->failed, x->id); /* a uuid from PostgreSQL: no quoting needed */
    }
    mem_free(x);
    s->xadd_left--;
    if (ok) {
        sweep_rds_status(s, false, NULL);
        s->moved++;
    } else {
        sweep_rds_status(s, true, err ? err : reply->str);
    }
    if (s->xadd_left > 0)
        return;
    if (s->state == SW_SCHED_XADD)
        sweep_sched_xadd_done(s);
    else
        sweep_orphan_xadd_done(s);
}

static void sweep_xadd(sweep *s, enum notif_channel ch, const char *id) {
    struct sweep_xadd *x = mem_calloc(1, sizeof(*x));
    x->s = s;
    snprintf(x->id, sizeof(x->id), "%s", id);
    s->xadd_left++;
    req_scope_add_owning(&s->reqs, stream_add(s->r, ch, id, sweep_xadd_cb, x), x);
}

static void sweep_sched_rows_cb(void *arg, const struct db_result *r) {
    sweep *s = arg;
    sweep_db_status(s, r);
    if (r->status != DB_OK) {
        sweep_sched_done(s, false);
        return;
    }
    int n = PQntuples(r->res);
    s->moved = 0;
    s->batch = n;
    buf_reset(&s->failed);
    if (n == 0) {
        sweep_sched_done(s, false);
        return;
    }
    sweep_set_state(s, SW_SCHED_XADD);
    for (int i = 0; i < n; i++) {
        int ch = notif_channel_parse(db_get(r->res, i, 1));
        if (ch < 0)
            ch = CH_WEBHOOK; /* unreachable: the column has a CHECK constraint */
        sweep_xadd(s, (enum notif_channel)ch, db_get(r->res, i, 0));
    }
}

/* Pending rows of the channels $1 past their deadline expire (schema/009's
 * notifications_expiring), whether or not a worker or Redis runs; a leased
 * one is being delivered: its outcome decides (API.md "Deadlines"). */
#define SWEEP_EXPIRE_SQL                                                                           \
    "UPDATE notifications SET status = 'expired', "                                                \
    "last_error = 'expired: expires_at passed before it could be sent', "                          \
    "updated_at = now(), in_stream = false "                                                       \
    "WHERE id IN (SELECT id FROM notifications "                                                   \
    "WHERE status = 'pending' AND expires_at <= now() AND channel = ANY($1::text[]) "              \
    "AND (lease_until IS NULL OR lease_until < now()) "                                            \
    "LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING 1"

static void sweep_expire_cb(void *arg, const struct db_result *r) {
    sweep *s = arg;
    sweep_db_status(s, r);
    s->channel = -1;
    sweep_next_channel(s);
}

static void sweep_sched_query(sweep *s) {
    struct buf chans = {0};
    sweep_channels_param(s, &chans);
    const char *params[] = {chans.data};
    if (!rds_up(s->r)) {
        /* without Redis the rows would only bounce back; try next cycle.
         * Deadlines pass all the same. */
        sweep_set_state(s, SW_SCHED_QUERY);
        sweep_query(s, SWEEP_EXPIRE_SQL, 1, params, sweep_expire_cb);
        buf_free(&chans);
        return;
    }
    sweep_set_state(s, SW_SCHED_QUERY);
    sweep_query(s,
                "WITH x AS (" SWEEP_EXPIRE_SQL ") "
                "UPDATE notifications SET in_stream = true, enqueued_at = now() "
                "WHERE id IN (SELECT id FROM notifications "
                "WHERE status = 'pending' AND NOT in_stream AND due_at <= now() "
                "AND channel = ANY($1::text[]) "
                "AND (lease_until IS NULL OR lease_until < now()) "
                "AND (expires_at IS NULL OR expires_at > now()) "
                "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED) "
                "RETURNING id, channel",
                1, params, sweep_sched_rows_cb);
    buf_free(&chans);
}

/* ---- step 2: orphans, one channel at a time ---------------------------- */

static void sweep_orphan_rows_cb(void *arg, const struct db_result *r) {
    sweep *s = arg;
    sweep_db_status(s, r);
    int n = r->status == DB_OK ? PQntuples(r->res) : 0;
    s->moved = 0;
    if (n == 0) {
        sweep_next_channel(s);
        return;
    }
    sweep_set_state(s, SW_ORPHAN_XADD);
    for (int i = 0; i < n; i++)
        sweep_xadd(s, (enum notif_channel)s->channel, db_get(r->res, i, 0));
}

static void sweep_orphan_query(sweep *s) {
    char chan[16], cutoff[32];
    snprintf(chan, sizeof(chan), "%s", notif_channel_name((enum notif_channel)s->channel));
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)s->cutoff_ms);
    const char *params[] = {chan, cutoff};
    sweep_set_state(s, SW_ORPHAN_QUERY);
    sweep_query(s,
                "UPDATE notifications SET enqueued_at = now() "
                "WHERE id IN (SELECT id FROM notifications "
                "WHERE channel = $1 AND status = 'pending' AND in_stream AND due_at <= now() "
                "AND (enqueued_at IS NULL "
                "OR enqueued_at < to_timestamp($2::double precision / 1000)) "
                "AND (lease_until IS NULL OR lease_until < now()) "
                "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED) "
                "RETURNING id",
                2, params, sweep_orphan_rows_cb);
}

static void sweep_xlen_cb(void *arg, redisReply *reply, const char *err) {
    sweep *s = arg;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        sweep_rds_status(s, true, err ? err : "unexpected XLEN reply");
        sweep_next_channel(s);
        return;
    }
    sweep_rds_status(s, false, NULL);
    if (reply->integer > 0) {
        /* entries but no group: a worker will create it and read them all */
        sweep_next_channel(s);
        return;
    }
    sweep_orphan_query(s);
}

/* sweep_group_field: the value after key in a flat XINFO key/value array. */
static const redisReply *sweep_group_field(const redisReply *g, const char *key) {
    if (!g || g->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < g->elements; i += 2) {
        const redisReply *k = g->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            strcmp(k->str, key) == 0)
            return g->element[i + 1];
    }
    return NULL;
}

int64_t sweep_cutoff_ms(long long lag, int64_t last_delivered_ms, int64_t now_ms, int grace_ms) {
    int64_t grace_cutoff = now_ms - grace_ms;
    if (lag == 0)
        return grace_cutoff;
    /* a backlog (or a lag Redis cannot tell): only rows enqueued before the
     * last entry handed out can have lost theirs */
    int64_t c = last_delivered_ms >= 0 ? last_delivered_ms - SWEEP_SKEW_MARGIN_MS : 0;
    return c < grace_cutoff ? c : grace_cutoff;
}

static void sweep_info_cb(void *arg, redisReply *reply, const char *err) {
    sweep *s = arg;
    char key[STREAM_KEY_LEN];
    stream_key((enum notif_channel)s->channel, key);
    int64_t grace_cutoff = util_now_ms() - s->grace_ms;
    if (reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
        strcasestr(reply->str, "no such key")) {
        /* no stream at all: nothing waits in Redis */
        sweep_rds_status(s, false, NULL);
        s->cutoff_ms = grace_cutoff;
        sweep_orphan_query(s);
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        sweep_rds_status(s, true, err ? err : reply && reply->str ? reply->str : "bad XINFO reply");
        sweep_next_channel(s);
        return;
    }
    sweep_rds_status(s, false, NULL);
    const redisReply *group = NULL;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *name = sweep_group_field(reply->element[i], "name");
        if (name && name->type == REDIS_REPLY_STRING && strcmp(name->str, STREAM_GROUP) == 0)
            group = reply->element[i];
    }
    if (!group) {
        const char *argv[] = {"XLEN", key};
        sweep_set_state(s, SW_ORPHAN_XLEN);
        req_scope_add(&s->reqs, rds_command(s->r, sweep_xlen_cb, s, 2, argv, NULL));
        return;
    }
    const redisReply *lag = sweep_group_field(group, "lag");
    const redisReply *last = sweep_group_field(group, "last-delivered-id");
    s->cutoff_ms = sweep_cutoff_ms(
        lag && lag->type == REDIS_REPLY_INTEGER ? lag->integer : -1,
        last && last->type == REDIS_REPLY_STRING ? stream_entry_id_ms(last->str) : -1,
        util_now_ms(), s->grace_ms);
    if (s->cutoff_ms <= 0) {
        sweep_next_channel(s);
        return;
    }
    sweep_orphan_query(s);
}

static void sweep_next_channel(sweep *s) {
    while (++s->channel < CH_COUNT) {
        if (!(s->mask & (1u << s->channel)))
            continue;
        if (!rds_up(s->r) || !db_up(s->d))
            break;
        char key[STREAM_KEY_LEN];
        stream_key((enum notif_channel)s->channel, key);
        const char *argv[] = {"XINFO", "GROUPS", key};
        sweep_set_state(s, SW_ORPHAN_INFO);
        s->moved = 0;
        s->xadd_left = 0;
        req_scope_add(&s->reqs, rds_command(s->r, sweep_info_cb, s, 3, argv, NULL));
        return;
    }
    sweep_idle(s);
}

static void sweep_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    sweep *s = arg;
    s->rounds = 0;
    s->moved = 0;
    s->xadd_left = 0;
    if (!db_up(s->d)) {
        sweep_idle(s);
        return;
    }
    sweep_sched_query(s);
}

sweep *sweep_start(struct event_base *base, db *d, rds *r, const struct cfg *c, const char *svc) {
    sweep *s = mem_calloc(1, sizeof(*s));
    s->base = base;
    s->d = d;
    s->r = r;
    s->svc = svc;
    s->interval_ms = c->sweep_interval_ms;
    s->grace_ms = c->sweep_grace_ms;
    s->mask = (1u << CH_COUNT) - 1;
    s->timer = evtimer_new(base, sweep_timer_cb, s);
    sweep_idle(s);
    return s;
}

void sweep_channels_mask(sweep *s, unsigned mask) {
    s->mask = mask & ((1u << CH_COUNT) - 1);
}

void sweep_stop(sweep *s) {
    if (!s)
        return;
    req_scope_cancel(&s->reqs); /* no callback of ours runs after this */
    sweep_free(s);
}
