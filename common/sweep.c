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
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SWEEP_BATCH 500
#define SWEEP_MAX_ROUNDS 20       /* full scheduled batches per cycle before yielding */
#define SWEEP_SKEW_MARGIN_MS 1000 /* clock difference tolerated between Redis and PostgreSQL */

enum sweep_state {
    SW_IDLE = 0,     /* waiting for the timer */
    SW_SCHED_QUERY,  /* step 1: picking due rows */
    SW_SCHED_XADD,   /* step 1: enqueue of the picked rows (failures handed back) */
    SW_ORPHAN_INFO,  /* step 2: XLEN and XINFO GROUPS of one channel's streams */
    SW_ORPHAN_QUERY, /* step 2: picking orphaned rows */
    SW_ORPHAN_XADD,  /* step 2: enqueue of the orphans */
    SW_STATE_COUNT
};
static const char *const sweep_state_names[SW_STATE_COUNT] = {
    "idle", "sched_query", "sched_xadd", "orphan_info", "orphan_query", "orphan_xadd"};

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
    int moved;             /* rows enqueued in this step */
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

/* sweep_enqueued: the enqueue of a step's rows is answered (the XADDs, and
 * the rows whose XADD failed handed back to the next cycle). */
static void sweep_enqueued(void *arg, const struct stream_enqueued *res) {
    sweep *s = arg;
    s->moved = (int)res->enqueued;
    if (res->failed)
        sweep_rds_status(s, true, res->err);
    else
        sweep_rds_status(s, false, NULL);
    if (s->state == SW_SCHED_XADD) {
        sweep_sched_done(s, res->failed == 0 && s->batch >= SWEEP_BATCH);
        return;
    }
    if (s->moved)
        HLOG(HLOG_INFO, "sweep.orphans",
             &(struct hlog_ctx){.channel = notif_channel_name((enum notif_channel)s->channel)},
             "%s sweep: enqueued %d orphaned notifications again", s->svc, s->moved);
    sweep_next_channel(s);
}

/* sweep_enqueue: rows (id, channel, tenant_id, priority) into their streams. */
static void sweep_enqueue(sweep *s, const PGresult *res) {
    int n = PQntuples(res);
    struct stream_item *items = mem_calloc((size_t)n, sizeof(*items));
    for (int i = 0; i < n; i++) {
        int ch = notif_channel_parse(db_get(res, i, 1));
        int prio = notif_priority_parse(db_get(res, i, 3));
        items[i] = (struct stream_item){
            .id = db_get(res, i, 0),
            .ch = ch < 0 ? CH_WEBHOOK : (enum notif_channel)ch, /* the column has a CHECK */
            .tenant_id = strtoll(db_get(res, i, 2), NULL, 10),
            .priority = prio < 0 ? PRIO_NORMAL : (enum notif_priority)prio,
        };
    }
    stream_enqueue(s->r, s->d, items, (size_t)n, &s->reqs, sweep_enqueued, s);
    mem_free(items);
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
    if (n == 0) {
        sweep_sched_done(s, false);
        return;
    }
    sweep_set_state(s, SW_SCHED_XADD);
    sweep_enqueue(s, r->res);
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
                "RETURNING id, channel, tenant_id, priority",
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
    sweep_enqueue(s, r->res);
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
                "RETURNING id, channel, tenant_id, priority",
                2, params, sweep_orphan_rows_cb);
}

int64_t sweep_cutoff_ms(long long lag, int64_t last_delivered_ms, int64_t now_ms, int grace_ms) {
    /* one stream with its group: the rule is stream_orphan_cutoff's */
    const struct stream_figures f = {
        .g = {.stream = true, .group = true, .lag = lag, .last_delivered_ms = last_delivered_ms}};
    const struct stream_info info = {.ok = true, .n = 1, .s = &f};
    return stream_orphan_cutoff(&info, now_ms - grace_ms, SWEEP_SKEW_MARGIN_MS);
}

/* The channel's cutoff is the earliest of its streams' (stream_orphan_cutoff,
 * which sweep_cutoff_ms applies to one stream). */
static void sweep_info_cb(void *arg, const struct stream_info *info) {
    sweep *s = arg;
    if (!info->ok) {
        sweep_rds_status(s, true, info->err);
        sweep_next_channel(s);
        return;
    }
    sweep_rds_status(s, false, NULL);
    s->cutoff_ms = stream_orphan_cutoff(info, util_now_ms() - s->grace_ms, SWEEP_SKEW_MARGIN_MS);
    if (s->cutoff_ms < 0) {
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
        sweep_set_state(s, SW_ORPHAN_INFO);
        s->moved = 0;
        stream_info(s->r, (enum notif_channel)s->channel, &s->reqs, sweep_info_cb, s);
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
