/* retention: batched DELETEs driven by a timer on the event loop. */
#include "api/retention.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#define RETENTION_BATCH "1000"

static const char retention_sql[] =
    "WITH del AS (DELETE FROM notifications WHERE id IN (SELECT id FROM notifications "
    "WHERE status IN ('sent', 'delivered', 'failed', 'cancelled') "
    "AND updated_at < now() - $1::bigint * interval '1 millisecond' ORDER BY updated_at "
    "LIMIT " RETENTION_BATCH " FOR UPDATE SKIP LOCKED) RETURNING id), "
    "att AS (DELETE FROM delivery_attempts WHERE notification_id IN (SELECT id FROM del)), "
    "idem AS (DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
    "WHERE created_at < now() - interval '24 hours' LIMIT " RETENTION_BATCH ") RETURNING 1), "
    "rcpt AS (DELETE FROM sms_receipts WHERE ctid IN (SELECT ctid FROM sms_receipts "
    "WHERE received_at < now() - $1::bigint * interval '1 millisecond' LIMIT " RETENTION_BATCH
    ") RETURNING 1) "
    "SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM idem), (SELECT count(*) FROM rcpt)";

struct retention {
    db *db;
    const struct cfg *cfg;
    struct event *timer;
    bool running; /* a statement is out */
    bool stopping;
    uint64_t purged;
};

static void retention_arm(retention *r, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

static void retention_done(void *arg, const struct db_result *res) {
    retention *r = arg;
    r->running = false;
    if (r->stopping) {
        event_free(r->timer);
        mem_free(r);
        return;
    }
    bool full = false;
    if (res->status == DB_OK && PQntuples(res->res) == 1) {
        long n = atol(db_get(res->res, 0, 0));
        long k = atol(db_get(res->res, 0, 1));
        long s = atol(db_get(res->res, 0, 2));
        r->purged += (uint64_t)n;
        full = n >= 1000 || k >= 1000 || s >= 1000;
        if (n || k || s)
            HLOG(HLOG_INFO, "retention.purged", NULL,
                 "purged %ld notifications, %ld idempotency keys, %ld receipts", n, k, s);
    } else if (res->status != DB_OK) {
        HLOG(HLOG_DEBUG, "retention.failed", NULL, "%s", res->message);
    }
    retention_arm(r, full ? 50 : r->cfg->retention_interval_ms);
}

static void retention_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    retention *r = arg;
    if (!db_up(r->db)) {
        retention_arm(r, r->cfg->retention_interval_ms);
        return;
    }
    char window[24];
    long long ms = r->cfg->retention_ms > 0 ? (long long)r->cfg->retention_ms
                                            : (long long)r->cfg->retention_days * 86400000LL;
    snprintf(window, sizeof(window), "%lld", ms);
    const char *params[] = {window};
    r->running = true;
    db_query(r->db, retention_sql, 1, params, retention_done, r);
}

retention *retention_start(struct event_base *base, db *d, const struct cfg *c) {
    retention *r = mem_calloc(1, sizeof(*r));
    r->db = d;
    r->cfg = c;
    r->timer = evtimer_new(base, retention_tick, r);
    retention_arm(r, c->retention_interval_ms);
    return r;
}

void retention_stop(retention *r) {
    if (!r)
        return;
    if (r->running) {
        r->stopping = true; /* freed by the pending reply */
        evtimer_del(r->timer);
        return;
    }
    event_free(r->timer);
    mem_free(r);
}

uint64_t retention_purged_total(const retention *r) {
    return r->purged;
}
