/* ops: queue statistics and dead-letter listing and replay, written once for
 * heraldctl and the admin routes, on db.h and rds.h only. */
#include "common/ops.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/stream.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ops_db_status: the ops status for a failed db_result. */
static enum ops_status ops_db_status(const struct db_result *res) {
    return res->status == DB_ERROR ? OPS_DB_ERROR : OPS_DB_UNAVAILABLE;
}

/* ---- queue statistics ---- */

/* One query for every channel: "scheduled" is what no consumer can see yet,
 * either not due (send_at or a retry wait) or due and in no stream (the
 * sweeper's next batch). Each branch matches one partial index exactly
 * (notifications_unqueued, notifications_orphan, notifications_dlq; schema
 * 003 and 006b), which a single scan with an IN list or an OR could not. */
static const char ops_counts_sql[] =
    "SELECT channel, sum(scheduled)::bigint, sum(dead)::bigint FROM ("
    " SELECT channel, count(*) AS scheduled, 0 AS dead FROM notifications"
    " WHERE status = 'pending' AND NOT in_stream GROUP BY channel"
    " UNION ALL SELECT channel, count(*), 0 FROM notifications"
    " WHERE status = 'pending' AND in_stream AND due_at > now() GROUP BY channel"
    " UNION ALL SELECT channel, 0, count(*) FROM notifications"
    " WHERE status = 'failed' GROUP BY channel) c GROUP BY channel";

/* Who is backlogged: per channel, the tenants with the most due pending rows
 * among its 10,000 oldest due (notifications_due: a bounded index range, so
 * the on-call page can poll it). */
static const char ops_tenants_sql[] =
    "SELECT c.ch, t.name, x.n FROM unnest($1::text[]) c(ch) CROSS JOIN LATERAL"
    " (SELECT s.tenant_id, count(*) AS n FROM (SELECT tenant_id FROM notifications"
    " WHERE channel = c.ch AND status = 'pending' AND due_at <= now()"
    " ORDER BY due_at LIMIT 10000) s GROUP BY s.tenant_id ORDER BY n DESC, s.tenant_id"
    " LIMIT 3) x JOIN tenants t ON t.id = x.tenant_id ORDER BY c.ch, x.n DESC, t.name";

struct ops_q;

/* The argument of one channel's Redis reply callbacks. */
struct ops_q_ch {
    struct ops_q *q;
    enum notif_channel ch;
};

struct ops_q {
    ops_queues_cb cb;
    void *arg;
    int outstanding; /* db and rds callbacks not yet run */
    struct ops_queues q;
    enum ops_status st;
    char err[HD_ERR_LEN];
    char redis_err[HD_ERR_LEN];
    struct ops_q_ch info[CH_COUNT];
};

static void ops_q_done_one(struct ops_q *q) {
    if (--q->outstanding > 0)
        return;
    if (q->st != OPS_OK) {
        q->cb(q->arg, q->st, NULL, q->err);
    } else {
        if (!q->q.redis_ok) {
            /* All or nothing: half a Redis picture would mislead on-call. */
            for (int ch = 0; ch < CH_COUNT; ch++) {
                q->q.ch[ch].stream_length = -1;
                q->q.ch[ch].in_flight = -1;
                q->q.ch[ch].consumers = -1;
                q->q.ch[ch].lag = -1;
            }
            q->q.redis_err = q->redis_err;
            for (int ch = 0; ch < CH_COUNT; ch++)
                q->q.ch[ch].n_busiest = 0;
        }
        q->cb(q->arg, OPS_OK, &q->q, NULL);
    }
    mem_free(q);
}

static void ops_q_redis_failed(struct ops_q *q, const char *why) {
    if (q->q.redis_ok)
        snprintf(q->redis_err, sizeof(q->redis_err), "%s", why);
    q->q.redis_ok = false;
}

static void ops_q_counts_done(void *arg, const struct db_result *res) {
    struct ops_q *q = arg;
    if (res->status != DB_OK) {
        q->st = ops_db_status(res);
        snprintf(q->err, sizeof(q->err), "%s", res->message);
    } else {
        for (int i = 0; i < PQntuples(res->res); i++) {
            int ch = notif_channel_parse(db_get(res->res, i, 0));
            if (ch < 0)
                continue;
            q->q.ch[ch].scheduled = strtoll(db_get(res->res, i, 1), NULL, 10);
            q->q.ch[ch].dead_letters = strtoll(db_get(res->res, i, 2), NULL, 10);
        }
    }
    ops_q_done_one(q);
}

static void ops_q_tenants_done(void *arg, const struct db_result *res) {
    struct ops_q *q = arg;
    for (int i = 0; res->status == DB_OK && i < PQntuples(res->res); i++) {
        int ch = notif_channel_parse(db_get(res->res, i, 0));
        if (ch < 0 || q->q.ch[ch].n_tenants >= OPS_BUSIEST)
            continue;
        struct ops_tenant_stat *t = &q->q.ch[ch].tenants[q->q.ch[ch].n_tenants++];
        snprintf(t->name, sizeof(t->name), "%s", db_get(res->res, i, 1));
        t->due = strtoll(db_get(res->res, i, 2), NULL, 10);
    }
    /* the counts statement reports a failure; this one only adds a hint */
    ops_q_done_one(q);
}

/* ops_q_busiest: the streams of info with the most waiting or in flight. */
static void ops_q_busiest(struct ops_queue_stat *s, const struct stream_info *info) {
    s->n_busiest = 0;
    for (int i = 0; i < info->n; i++) {
        const struct stream_figures *f = &info->s[i];
        int64_t waiting = f->g.lag >= 0 ? f->g.lag : f->length - f->g.pending;
        int64_t weight = (waiting > 0 ? waiting : 0) + f->g.pending;
        if (weight <= 0)
            continue;
        struct ops_lane_stat l = {stream_priority_at(i), stream_lane_at(i),
                                  f->g.group ? f->g.lag : -1, f->g.pending};
        int at = s->n_busiest < OPS_BUSIEST ? s->n_busiest++ : OPS_BUSIEST;
        while (at > 0) {
            const struct ops_lane_stat *p = &s->busiest[at - 1];
            if ((p->lag > 0 ? p->lag : 0) + p->in_flight >= weight)
                break;
            if (at < OPS_BUSIEST)
                s->busiest[at] = *p;
            at--;
        }
        if (at < OPS_BUSIEST)
            s->busiest[at] = l;
    }
}

static void ops_q_info_done(void *arg, const struct stream_info *info) {
    struct ops_q_ch *c = arg;
    struct ops_queue_stat *s = &c->q->q.ch[c->ch];
    if (!info->ok) {
        ops_q_redis_failed(c->q, info->err);
    } else {
        s->stream_length = info->length;
        s->consumers = info->consumers;
        s->in_flight = info->pending;
        s->lag = info->lag;
        ops_q_busiest(s, info);
    }
    ops_q_done_one(c->q);
}

static void ops_json_num(struct buf *b, const char *key, int64_t v) {
    if (v < 0)
        buf_printf(b, ",\"%s\":null", key);
    else
        buf_printf(b, ",\"%s\":%lld", key, (long long)v);
}

void ops_queues_json(struct buf *b, const struct ops_queues *q) {
    buf_puts(b, "{\"channels\":[");
    for (int ch = 0; ch < CH_COUNT; ch++) {
        const struct ops_queue_stat *s = &q->ch[ch];
        buf_printf(b, "%s{\"channel\":\"%s\"", ch ? "," : "", notif_channel_name(s->channel));
        ops_json_num(b, "stream_length", s->stream_length);
        ops_json_num(b, "in_flight", s->in_flight);
        ops_json_num(b, "consumers", s->consumers);
        ops_json_num(b, "lag", s->lag);
        ops_json_num(b, "scheduled", s->scheduled);
        ops_json_num(b, "dead_letters", s->dead_letters);
        buf_puts(b, ",\"busiest_lanes\":[");
        for (int i = 0; i < s->n_busiest; i++) {
            const struct ops_lane_stat *l = &s->busiest[i];
            buf_printf(b, "%s{\"priority\":\"%s\"", i ? "," : "", notif_priority_name(l->priority));
            if (l->lane < 0)
                buf_puts(b, ",\"lane\":null");
            else
                buf_printf(b, ",\"lane\":%d", l->lane);
            ops_json_num(b, "lag", l->lag);
            ops_json_num(b, "in_flight", l->in_flight);
            buf_putc(b, '}');
        }
        buf_puts(b, "],\"backlog_tenants\":[");
        for (int i = 0; i < s->n_tenants; i++) {
            buf_puts(b, i ? ",{\"tenant\":" : "{\"tenant\":");
            buf_json_str(b, s->tenants[i].name, strlen(s->tenants[i].name));
            buf_printf(b, ",\"due\":%lld}", (long long)s->tenants[i].due);
        }
        buf_puts(b, "]}");
    }
    buf_puts(b, "]}");
}

void ops_queue_stats(db *d, rds *r, ops_queues_cb cb, void *arg) {
    struct ops_q *q = mem_calloc(1, sizeof(*q));
    q->cb = cb;
    q->arg = arg;
    q->q.redis_ok = true;
    for (int ch = 0; ch < CH_COUNT; ch++) {
        q->q.ch[ch].channel = (enum notif_channel)ch;
        q->q.ch[ch].lag = -1;
    }
    /* Every callback runs on a later loop turn, so counting first is safe. */
    q->outstanding = 2 + CH_COUNT;
    db_query(d, ops_counts_sql, 0, NULL, ops_q_counts_done, q);
    const char *chans[] = {"{email,sms,push,webhook}"};
    db_query(d, ops_tenants_sql, 1, chans, ops_q_tenants_done, q);
    for (int ch = 0; ch < CH_COUNT; ch++) {
        q->info[ch] = (struct ops_q_ch){q, (enum notif_channel)ch};
        stream_info(r, (enum notif_channel)ch, NULL, ops_q_info_done, &q->info[ch]);
    }
}

/* ---- dead-letter listing ---- */

/* Positions are microseconds: failed_at is set by now() in PostgreSQL, so
 * milliseconds would skip rows that failed within the same millisecond as a
 * page's last row. The sum keeps both parts exact in a double (PostgreSQL
 * 13 and older return double precision from extract). */
#define OPS_FAILED_US                                                                              \
    "(extract(epoch FROM date_trunc('second', n.failed_at))::bigint * 1000000"                     \
    " + extract(microseconds FROM n.failed_at)::bigint % 1000000)"

static const char ops_list_sql[] =
    "SELECT " NOTIF_COLS ", " OPS_FAILED_US
    " FROM notifications n JOIN tenants t ON t.id = n.tenant_id"
    " WHERE n.channel = $1 AND n.status = 'failed'"
    " AND ($2::bigint IS NULL OR n.tenant_id = $2::bigint)"
    " AND ($3::bigint IS NULL OR (n.failed_at, n.id) <"
    " (to_timestamp($3::bigint / 1000000) + ($3::bigint % 1000000) * interval '1 microsecond',"
    " $4::uuid))"
    " ORDER BY n.failed_at DESC, n.id DESC LIMIT $5::int";

struct ops_list {
    db *d;
    enum notif_channel ch;
    char *tenant; /* NULL: every tenant */
    int limit;
    bool has_cursor;
    int64_t cur_us;
    char cur_id[UTIL_UUID_LEN];
    char scope[128];
    ops_dlq_list_cb cb;
    void *arg;
};

static void ops_dlq_scope(enum notif_channel ch, const char *tenant, char *out, size_t n) {
    snprintf(out, n, "dlq|%s|%c|%.80s", notif_channel_name(ch), tenant ? 't' : '-',
             tenant ? tenant : "");
}

void ops_dlq_page_json(struct buf *b, const struct ops_dlq_page *page) {
    buf_puts(b, "{\"data\":[");
    for (int i = 0; i < page->n; i++) {
        struct notif_view v;
        notif_view_from_row(page->res, i, 0, true, &v);
        if (i)
            buf_putc(b, ',');
        notif_json(b, &v);
    }
    buf_puts(b, "],\"next_cursor\":");
    if (page->next_cursor)
        buf_json_str(b, page->next_cursor, strlen(page->next_cursor));
    else
        buf_puts(b, "null");
    buf_putc(b, '}');
}

bool ops_dlq_cursor_ok(enum notif_channel ch, const char *tenant, const char *cursor) {
    char scope[128], id[UTIL_UUID_LEN];
    int64_t us;
    ops_dlq_scope(ch, tenant, scope, sizeof(scope));
    return cursor_decode(cursor, scope, &us, id) == 0;
}

/* ops_list_answer: runs the caller's callback once, then frees l. */
static void ops_list_answer(struct ops_list *l, enum ops_status st, const struct ops_dlq_page *page,
                            const char *err) {
    l->cb(l->arg, st, page, err);
    mem_free(l->tenant);
    mem_free(l);
}

static void ops_list_rows_done(void *arg, const struct db_result *res) {
    struct ops_list *l = arg;
    if (res->status != DB_OK) {
        ops_list_answer(l, ops_db_status(res), NULL, res->message);
        return;
    }
    int n = PQntuples(res->res);
    struct ops_dlq_page page = {.res = res->res, .n = n > l->limit ? l->limit : n};
    char cur[CURSOR_LEN];
    if (n > l->limit) {
        int last = l->limit - 1;
        cursor_encode(strtoll(db_get(res->res, last, NOTIF_NCOLS), NULL, 10),
                      db_get(res->res, last, 0), l->scope, cur);
        page.next_cursor = cur;
    }
    ops_list_answer(l, OPS_OK, &page, NULL);
}

static void ops_list_rows(struct ops_list *l, const char *tenant_id) {
    char ch_lim[16], us[24];
    snprintf(ch_lim, sizeof(ch_lim), "%d", l->limit + 1);
    snprintf(us, sizeof(us), "%lld", (long long)l->cur_us);
    const char *params[] = {notif_channel_name(l->ch), tenant_id, l->has_cursor ? us : NULL,
                            l->has_cursor ? l->cur_id : NULL, ch_lim};
    db_query(l->d, ops_list_sql, 5, params, ops_list_rows_done, l);
}

static void ops_list_tenant_done(void *arg, const struct db_result *res) {
    struct ops_list *l = arg;
    if (res->status != DB_OK) {
        ops_list_answer(l, ops_db_status(res), NULL, res->message);
        return;
    }
    if (PQntuples(res->res) != 1) {
        ops_list_answer(l, OPS_UNKNOWN_TENANT, NULL, "no tenant has this name");
        return;
    }
    char tid[24];
    snprintf(tid, sizeof(tid), "%s", db_get(res->res, 0, 0));
    ops_list_rows(l, tid);
}

void ops_dlq_list(db *d, enum notif_channel ch, const char *tenant, int limit, const char *cursor,
                  ops_dlq_list_cb cb, void *arg) {
    struct ops_list *l = mem_calloc(1, sizeof(*l));
    l->d = d;
    l->ch = ch;
    l->tenant = tenant ? mem_strdup(tenant) : NULL;
    l->limit = limit < 1 ? 1 : limit > OPS_DLQ_LIMIT_MAX ? OPS_DLQ_LIMIT_MAX : limit;
    l->cb = cb;
    l->arg = arg;
    ops_dlq_scope(ch, tenant, l->scope, sizeof(l->scope));
    if (cursor && cursor_decode(cursor, l->scope, &l->cur_us, l->cur_id) == 0)
        l->has_cursor = true;
    if (tenant) {
        /* A separate look-up, so an unknown name is told from an empty list. */
        const char *params[] = {tenant};
        db_query(d, "SELECT id FROM tenants WHERE name = $1", 1, params, ops_list_tenant_done, l);
        return;
    }
    ops_list_rows(l, NULL);
}

/* ---- dead-letter replay ---- */

/* One statement: lock the failed rows in a fixed order (no deadlock between
 * two replays), number them, flip them back to pending unless dry ($3), and
 * report the count, the ids this call XADDs (the first $4, which are marked
 * in_stream like a new notification; the rest stay in_stream = false for the
 * sweeper) and the given ids that were not failed rows of this channel, in
 * the order given, each once. The lease is cleared so the next claim cannot
 * be refused by a stale one; last_error stays until the next attempt;
 * delivery_attempts is not touched. */
static const char ops_replay_sql[] =
    "WITH l AS (SELECT id FROM notifications"
    " WHERE channel = $1 AND status = 'failed' AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))"
    " ORDER BY failed_at, id FOR UPDATE),"
    " f AS (SELECT id, row_number() OVER () AS rn FROM l),"
    " u AS (UPDATE notifications n SET status = 'pending', due_at = now(), updated_at = now(),"
    " failed_at = NULL, budget_base = n.attempts, lease_owner = NULL, lease_until = NULL,"
    " in_stream = f.rn <= $4::int,"
    " enqueued_at = CASE WHEN f.rn <= $4::int THEN now() ELSE n.enqueued_at END"
    " FROM f WHERE n.id = f.id AND NOT $3::boolean RETURNING n.id, f.rn, n.tenant_id, n.priority)"
    " SELECT (SELECT count(*) FROM f),"
    " (SELECT coalesce(array_agg(u.id ORDER BY u.rn), '{}') FROM u WHERE u.rn <= $4::int)::text,"
    " (SELECT coalesce(array_agg(x.id ORDER BY x.ord), '{}') FROM"
    " (SELECT g.id, min(g.ord) AS ord FROM unnest($2::uuid[]) WITH ORDINALITY AS g(id, ord)"
    " GROUP BY g.id) x WHERE x.id NOT IN (SELECT id FROM f))::text,"
    " (SELECT coalesce(array_agg(u.tenant_id ORDER BY u.rn), '{}') FROM u"
    " WHERE u.rn <= $4::int)::text,"
    " (SELECT coalesce(array_agg(u.priority ORDER BY u.rn), '{}') FROM u"
    " WHERE u.rn <= $4::int)::text";

struct ops_rp;

enum ops_rp_state {
    RP_UPDATE = 0, /* the replay statement */
    RP_XADD,       /* enqueue of the replayed rows (failures handed to the sweeper) */
    RP_STATE_COUNT
};
static const char *const ops_rp_state_names[RP_STATE_COUNT] = {"update", "xadd"};

struct ops_rp {
    db *d;
    rds *r;
    enum notif_channel ch;
    bool dry;
    char **given; /* owned, each owned: the ids as the caller spelled them */
    size_t n_given;
    enum ops_rp_state state;
    ops_replay_cb cb;
    void *arg;
    int64_t replayed;
    char **not_found; /* owned, each owned */
    size_t n_not_found;
    char **xadd; /* owned, each owned: ids to XADD */
    size_t n_xadd;
    char **xtenant, **xprio; /* owned, each owned: their tenant ids and priorities */
    size_t n_xtenant, n_xprio;
    int64_t enqueued;
    bool redis_ok;
    char redis_err[HD_ERR_LEN];
};

void ops_replay_json(struct buf *b, const struct ops_replay_result *res) {
    buf_printf(b, "{\"replayed\":%lld,\"not_found\":[", (long long)res->replayed);
    for (size_t i = 0; i < res->n_not_found; i++) {
        if (i)
            buf_putc(b, ',');
        buf_json_str(b, res->not_found[i], strlen(res->not_found[i]));
    }
    buf_puts(b, "]}");
}

static void ops_rp_set_state(struct ops_rp *p, enum ops_rp_state st) {
    if ((unsigned)st >= RP_STATE_COUNT)
        st = RP_UPDATE;
    if (p->state != st)
        HLOG(HLOG_DEBUG, "dlq.replay_state",
             &(struct hlog_ctx){.channel = notif_channel_name(p->ch)}, "replay: %s -> %s",
             ops_rp_state_names[p->state], ops_rp_state_names[st]);
    p->state = st;
}

static void ops_rp_free(struct ops_rp *p) {
    for (size_t i = 0; i < p->n_given; i++)
        mem_free(p->given[i]);
    mem_free(p->given);
    for (size_t i = 0; i < p->n_not_found; i++)
        mem_free(p->not_found[i]);
    mem_free(p->not_found);
    char **lists[] = {p->xadd, p->xtenant, p->xprio};
    size_t counts[] = {p->n_xadd, p->n_xtenant, p->n_xprio};
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < counts[l]; i++)
            mem_free(lists[l][i]);
        mem_free(lists[l]);
    }
    mem_free(p);
}

static void ops_rp_finish(struct ops_rp *p, enum ops_status st, const char *err) {
    if (st != OPS_OK) {
        p->cb(p->arg, st, NULL, err);
    } else {
        struct ops_replay_result res = {
            .replayed = p->replayed,
            .not_found = (const char *const *)p->not_found,
            .n_not_found = p->n_not_found,
            .enqueued = p->enqueued,
            .redis_ok = p->redis_ok,
            .redis_err = p->redis_ok ? NULL : p->redis_err,
        };
        if (!p->dry)
            HLOG(HLOG_INFO, "dlq.replayed",
                 &(struct hlog_ctx){.channel = notif_channel_name(p->ch)},
                 "replayed %lld dead letters, %lld enqueued now, %zu ids not found",
                 (long long)p->replayed, (long long)p->enqueued, p->n_not_found);
        p->cb(p->arg, OPS_OK, &res, NULL);
    }
    ops_rp_free(p);
}

/* ops_uuid_array: splits a PostgreSQL uuid[] text ("{a,b}"; uuids need no
 * quoting) into *out (owned strings); returns the count. */
static size_t ops_uuid_array(const char *s, char ***out) {
    size_t n = 0, cap = 0;
    char **v = NULL;
    if (*s == '{')
        s++;
    while (*s && *s != '}') {
        size_t len = strcspn(s, ",}");
        if (len) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = mem_realloc(v, cap * sizeof(*v));
            }
            v[n++] = mem_strndup(s, len);
        }
        s += len;
        if (*s == ',')
            s++;
    }
    *out = v;
    return n;
}

static void ops_rp_enqueued(void *arg, const struct stream_enqueued *res) {
    struct ops_rp *p = arg;
    p->enqueued = (int64_t)res->enqueued;
    if (res->failed) {
        p->redis_ok = false;
        snprintf(p->redis_err, sizeof(p->redis_err), "%s", res->err ? res->err : "XADD failed");
    }
    /* The replay itself is committed either way. */
    ops_rp_finish(p, OPS_OK, NULL);
}

static void ops_rp_update_done(void *arg, const struct db_result *res) {
    struct ops_rp *p = arg;
    if (res->status != DB_OK) {
        ops_rp_finish(p, ops_db_status(res), res->message);
        return;
    }
    if (PQntuples(res->res) != 1) {
        ops_rp_finish(p, OPS_DB_ERROR, "unexpected replay result");
        return;
    }
    p->replayed = strtoll(db_get(res->res, 0, 0), NULL, 10);
    p->n_xadd = ops_uuid_array(db_get(res->res, 0, 1), &p->xadd);
    p->n_not_found = ops_uuid_array(db_get(res->res, 0, 2), &p->not_found);
    p->n_xtenant = ops_uuid_array(db_get(res->res, 0, 3), &p->xtenant);
    p->n_xprio = ops_uuid_array(db_get(res->res, 0, 4), &p->xprio);
    /* PostgreSQL prints uuids in lowercase: answer with the caller's spelling. */
    for (size_t i = 0; i < p->n_not_found; i++) {
        for (size_t j = 0; j < p->n_given; j++) {
            if (!strcasecmp(p->not_found[i], p->given[j])) {
                mem_free(p->not_found[i]);
                p->not_found[i] = mem_strdup(p->given[j]);
                break;
            }
        }
    }
    if (p->dry || p->n_xadd == 0) {
        ops_rp_finish(p, OPS_OK, NULL);
        return;
    }
    /* After the commit, like a new notification: a slow or absent Redis only
     * delays delivery until the sweeper runs. */
    ops_rp_set_state(p, RP_XADD);
    struct stream_item *items = mem_calloc(p->n_xadd, sizeof(*items));
    for (size_t i = 0; i < p->n_xadd; i++) {
        int prio = i < p->n_xprio ? notif_priority_parse(p->xprio[i]) : -1;
        items[i] = (struct stream_item){
            .id = p->xadd[i],
            .ch = p->ch,
            .tenant_id = i < p->n_xtenant ? strtoll(p->xtenant[i], NULL, 10) : 0,
            .priority = prio < 0 ? PRIO_NORMAL : (enum notif_priority)prio,
        };
    }
    stream_enqueue(p->r, p->d, items, p->n_xadd, NULL, ops_rp_enqueued, p);
    mem_free(items);
}

void ops_dlq_replay(db *d, rds *r, enum notif_channel ch, const char *const *ids, size_t n,
                    bool dry_run, ops_replay_cb cb, void *arg) {
    struct ops_rp *p = mem_calloc(1, sizeof(*p));
    p->d = d;
    p->r = r;
    p->ch = ch;
    p->dry = dry_run;
    p->cb = cb;
    p->arg = arg;
    p->redis_ok = true;
    p->state = RP_UPDATE;

    struct buf arr = {0};
    if (ids) {
        p->given = mem_calloc(n ? n : 1, sizeof(*p->given));
        p->n_given = n;
        buf_putc(&arr, '{');
        for (size_t i = 0; i < n; i++) {
            p->given[i] = mem_strdup(ids[i]);
            db_array_add(&arr, ids[i], strlen(ids[i]));
        }
        buf_putc(&arr, '}');
    }
    char cap[16];
    snprintf(cap, sizeof(cap), "%d", OPS_REPLAY_IDS_MAX);
    const char *params[] = {notif_channel_name(ch), ids ? arr.data : NULL,
                            dry_run ? "true" : "false", cap};
    db_query(d, ops_replay_sql, 4, params, ops_rp_update_done, p);
    buf_free(&arr);
}
