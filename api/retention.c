/* retention: partitions detached and dropped, and small tables purged in batches, from a
 * timer on the event loop. */
#include "api/retention.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"

#include <assert.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETENTION_BATCH "1000"

/* How long a detach waits for its lock on the parent table (ACCESS EXCLUSIVE, which
 * every statement on the table then queues behind). A query that holds the table longer
 * makes the detach give up, and the next tick tries again. */
#define RETENTION_LOCK_MS "200"

/* Step 1: at most one partition (with its followers' partitions) detached; its
 * names come back. A separate transaction from the drop, so that unlinking its files
 * holds no lock on the parent. */
static const char retention_detach_sql[] =
    "SELECT herald_partitions_detach($1::bigint, " RETENTION_LOCK_MS ")";
/* Step 2: every detached partition dropped (also those a stopped process left). */
static const char retention_drop_sql[] = "SELECT herald_partitions_drop_detached()";
/* Step 3: the tables that are not partitioned, and the default partitions, which hold
 * only the rows of ids no range partition covered (a clock far off): final ones whose
 * last change is older than the window, with their attempts (which are in the default
 * partition of delivery_attempts, as their notification ids are in no range either), and
 * the status events of the default partition of events older than the window. */
static const char retention_purge_sql[] =
    "WITH idem AS (DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM "
    "idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT " RETENTION_BATCH
    ") RETURNING 1), "
    "rcpt AS (DELETE FROM sms_receipts WHERE ctid IN (SELECT ctid FROM sms_receipts "
    "WHERE received_at < now() - $1::bigint * interval '1 millisecond' LIMIT " RETENTION_BATCH
    ") RETURNING 1), "
    "dn AS (DELETE FROM notifications_default WHERE id IN (SELECT id FROM "
    "notifications_default WHERE status <> 'pending' AND updated_at < now() - $1::bigint * "
    "interval '1 millisecond' LIMIT " RETENTION_BATCH " FOR UPDATE SKIP LOCKED) RETURNING id), "
    "da AS (DELETE FROM delivery_attempts_default WHERE notification_id IN (SELECT id FROM dn)), "
    "de AS (DELETE FROM events_default WHERE ctid IN (SELECT ctid FROM events_default WHERE "
    "occurred_at < now() - $1::bigint * interval '1 millisecond' LIMIT " RETENTION_BATCH ")) "
    "SELECT (SELECT count(*) FROM idem), (SELECT count(*) FROM rcpt), (SELECT count(*) FROM dn)";

enum retention_state { RET_IDLE, RET_DETACH, RET_DROP, RET_PURGE, RET_STATES };
static const char *const retention_state_names[RET_STATES] = {"idle", "detach", "drop", "purge"};

struct retention {
    db *db;
    const struct cfg *cfg;
    struct event *timer;
    enum retention_state state;
    struct req *out; /* the statement sent, until its callback starts */
    bool more;       /* this round found work: the next comes soon */
    char window[24]; /* the retention window in ms, for $1 */
    uint64_t dropped;
};

static void retention_set_state(retention *r, enum retention_state s) {
    assert(s < RET_STATES);
    HLOG(HLOG_DEBUG, "retention.state", NULL, "%s -> %s", retention_state_names[r->state],
         retention_state_names[s]);
    r->state = s;
}

static void retention_arm(retention *r, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

static void retention_step(retention *r, enum retention_state s);

static void retention_done(void *arg, const struct db_result *res) {
    retention *r = arg;
    r->out = NULL;
    if (res->status != DB_OK) {
        /* lock_not_available (a long statement on the table) is expected now and then */
        HLOG(res->sqlstate && !strcmp(res->sqlstate, "55P03") ? HLOG_DEBUG : HLOG_WARN,
             "retention.failed", NULL, "%s: %s", retention_state_names[r->state], res->message);
        retention_step(r, r->state == RET_PURGE ? RET_IDLE : RET_PURGE);
        return;
    }
    switch (r->state) {
    case RET_DETACH: {
        int n = PQntuples(res->res);
        for (int i = 0; i < n; i++)
            HLOG(HLOG_INFO, "retention.detached", NULL, "detached partition %s",
                 db_get(res->res, i, 0));
        r->more = r->more || n > 0;
        retention_step(r, RET_DROP);
        return;
    }
    case RET_DROP: {
        long n = PQntuples(res->res) == 1 ? atol(db_get(res->res, 0, 0)) : 0;
        if (n > 0) {
            r->dropped += (uint64_t)n;
            HLOG(HLOG_INFO, "retention.dropped", NULL, "dropped %ld detached partitions", n);
        }
        retention_step(r, RET_PURGE);
        return;
    }
    case RET_PURGE: {
        bool one = PQntuples(res->res) == 1;
        long k = one ? atol(db_get(res->res, 0, 0)) : 0;
        long s = one ? atol(db_get(res->res, 0, 1)) : 0;
        long d = one ? atol(db_get(res->res, 0, 2)) : 0;
        if (k || s || d)
            HLOG(HLOG_INFO, "retention.purged", NULL,
                 "purged %ld idempotency keys, %ld receipts, %ld notifications of no partition", k,
                 s, d);
        long full = atol(RETENTION_BATCH);
        r->more = r->more || k >= full || s >= full || d >= full;
        retention_step(r, RET_IDLE);
        return;
    }
    default:
        retention_step(r, RET_IDLE);
        return;
    }
}

/* retention_step: moves to s and sends its statement (or re-arms the timer for idle). */
static void retention_step(retention *r, enum retention_state s) {
    const char *params[] = {r->window};
    retention_set_state(r, s);
    switch (s) {
    case RET_DETACH:
        r->out = db_query(r->db, retention_detach_sql, 1, params, retention_done, r);
        break;
    case RET_DROP:
        r->out = db_query(r->db, retention_drop_sql, 0, NULL, retention_done, r);
        break;
    case RET_PURGE:
        r->out = db_query(r->db, retention_purge_sql, 1, params, retention_done, r);
        break;
    default:
        retention_arm(r, r->more ? 50 : r->cfg->retention_interval_ms);
        r->more = false;
        break;
    }
}

static void retention_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    retention *r = arg;
    if (!db_up(r->db)) {
        retention_arm(r, r->cfg->retention_interval_ms);
        return;
    }
    retention_step(r, RET_DETACH);
}

retention *retention_start(struct event_base *base, db *d, const struct cfg *c) {
    retention *r = mem_calloc(1, sizeof(*r));
    r->db = d;
    r->cfg = c;
    r->timer = evtimer_new(base, retention_tick, r);
    long long ms = c->retention_ms > 0 ? (long long)c->retention_ms
                                       : (long long)c->retention_days * 86400000LL;
    snprintf(r->window, sizeof(r->window), "%lld", ms);
    retention_arm(r, c->retention_interval_ms);
    return r;
}

void retention_stop(retention *r) {
    if (!r)
        return;
    req_cancel(r->out); /* its callback never runs */
    event_free(r->timer);
    mem_free(r);
}

uint64_t retention_partitions_dropped(const retention *r) {
    return r->dropped;
}
