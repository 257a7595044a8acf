/* writer: group commit of notification inserts with idempotency keys, and the
 * XADD that follows each commit. */
#include "api/writer.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/db.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/stats.h"
#include "common/mem.h"
#include "common/rds.h"
#include "common/stream.h"

#include <stdlib.h>
#include <string.h>

#define WR_MAX_ROWS_PER_COMMIT 2000
#define WR_MAX_TRIES 3

struct writer {
    struct api_app *app;
    struct wr_item *head, *tail; /* waiting for a commit */
    size_t queued_rows;
    size_t inflight_rows;
    int inflight;
    hmap *keys;       /* "tenant\x1froute\x1fkey" of queued/in-flight items */
    int max_inflight; /* commits at once (HERALD_COMMIT_CONCURRENCY) */
};

struct wr_batch {
    struct writer *w;
    struct wr_item *items; /* linked by next */
    size_t nitems, nrows;
    bool has_keys; /* some item carries an Idempotency-Key: the full statement */
    int lookups;   /* idempotency lookups outstanding */
};

/* The arrays both inserts take, in parameter order: one element per row for
 * WR_ID..WR_ITEM, one per keyed item for WR_K_ITEM..WR_K_RESPONSE. The plain
 * statement takes the first WR_PLAIN_NPARAMS. */
enum wr_col {
    WR_ID = 0,
    WR_TENANT,
    WR_CHANNEL,
    WR_RECIPIENT,
    WR_SUBJECT,
    WR_BODY,
    WR_METADATA,
    WR_SEND_AT,
    WR_CREATED_AT,
    WR_PRIORITY,
    WR_EXPIRES,
    WR_HTML,
    WR_REPLY_TO,
    WR_ITEM, /* the row's item, by its index in the group */
    WR_K_ITEM,
    WR_K_TENANT,
    WR_K_ROUTE,
    WR_K_KEY,
    WR_K_HASH,
    WR_K_RESPONSE,
    WR_NCOLS
};
#define WR_PLAIN_NPARAMS WR_ITEM

/* The row columns of both inserts, and what they select from r. */
#define WR_INSERT_COLS                                                                             \
    "INSERT INTO notifications (id, tenant_id, channel, recipient, subject, body, metadata, "      \
    "status, attempts, send_at, created_at, updated_at, due_at, in_stream, enqueued_at, "          \
    "priority, expires_at, html, reply_to) "                                                       \
    "SELECT id, tenant_id, channel, recipient, subject, body, metadata, 'pending', 0, send_at, "   \
    "created_at, created_at, coalesce(send_at, created_at), send_at IS NULL, "                     \
    "CASE WHEN send_at IS NULL THEN created_at END, priority, expires_at, html, reply_to "
#define WR_UNNEST_ROWS                                                                             \
    "unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], "            \
    "$7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[], $11::timestamptz[], "          \
    "$12::text[], $13::text[]"
#define WR_ROW_NAMES                                                                               \
    "id, tenant_id, channel, recipient, subject, body, metadata, send_at, created_at, priority, "  \
    "expires_at, html, reply_to"

/* The insert. Rows of an item whose idempotency key already exists (and is
 * younger than 24 h) are skipped; those items are returned for a lookup. */
static const char wr_sql[] =
    "WITH r AS (SELECT * FROM " WR_UNNEST_ROWS ", $14::int[]) AS r(" WR_ROW_NAMES ", item)), "
    "k AS (SELECT * FROM unnest($15::int[], $16::bigint[], $17::text[], $18::text[], "
    "$19::bytea[], $20::text[]) AS k(item, tenant_id, route, key, body_hash, response)), "
    "ki AS (INSERT INTO idempotency_keys (tenant_id, route, key, body_hash, response, created_at) "
    "SELECT tenant_id, route, key, body_hash, response, now() FROM k "
    "ON CONFLICT (tenant_id, route, key) DO UPDATE SET body_hash = EXCLUDED.body_hash, "
    "response = EXCLUDED.response, created_at = EXCLUDED.created_at "
    "WHERE idempotency_keys.created_at < now() - interval '24 hours' "
    "RETURNING tenant_id, route, key), "
    "skip AS (SELECT k.item FROM k WHERE NOT EXISTS (SELECT 1 FROM ki WHERE ki.tenant_id = "
    "k.tenant_id AND ki.route = k.route AND ki.key = k.key)), "
    "ins AS (" WR_INSERT_COLS "FROM r WHERE r.item NOT IN (SELECT item FROM skip) "
    "ON CONFLICT (id) DO NOTHING RETURNING 1) "
    "SELECT item FROM skip";

/* The same insert for groups without any Idempotency-Key (the usual case): no
 * key arrays, no conflict lookups. */
static const char wr_sql_plain[] =
    WR_INSERT_COLS "FROM " WR_UNNEST_ROWS ") AS r(" WR_ROW_NAMES ") ON CONFLICT (id) DO NOTHING";

/* wr_add: s (NULL for SQL NULL) as the next element of an array literal. */
static void wr_add(struct buf *arr, const char *s) {
    db_array_add(arr, s, s ? strlen(s) : 0);
}

static void wr_key(const struct wr_item *it, char *out, size_t n) {
    snprintf(out, n, "%lld\x1f%s\x1f%s", (long long)it->tenant_id, it->route, it->idem_key);
}

static void wr_item_free(struct wr_item *it) {
    for (size_t i = 0; i < it->nrows; i++)
        notif_input_free(&it->rows[i].in);
    mem_free(it->rows);
    mem_free(it->idem_key);
    mem_free(it->response);
    mem_free(it->stored);
    mem_free(it);
}

size_t writer_pending(const struct writer *w) {
    return w->queued_rows + w->inflight_rows;
}

static void wr_flush(struct writer *w);

static void wr_xadd_failed(void *arg, const struct db_result *res) {
    (void)arg;
    if (res->status != DB_OK)
        HLOG(HLOG_WARN, "enqueue.mark_failed", NULL,
             "could not mark rows for the sweeper (%s); it will find them after its grace period",
             res->message);
}

struct wr_xadd {
    struct writer *w;
    char id[UTIL_UUID_LEN];
};

static void wr_xadd_done(void *arg, redisReply *reply, const char *err) {
    struct wr_xadd *x = arg;
    if (!stream_reply_ok(reply)) {
        HLOG(HLOG_WARN, "enqueue.failed", &(struct hlog_ctx){.notif_id = x->id},
             "XADD failed (%s); the sweeper will enqueue it", err ? err : reply->str);
        const char *params[] = {x->id};
        db_query(x->w->app->db,
                 "UPDATE notifications SET in_stream = false WHERE id = $1 AND status = 'pending'",
                 1, params, wr_xadd_failed, NULL);
    }
    mem_free(x);
}

/* wr_enqueue: after the commit; pipelined by hiredis. */
static void wr_enqueue(struct writer *w, const struct wr_item *it) {
    for (size_t i = 0; i < it->nrows; i++) {
        const struct wr_row *row = &it->rows[i];
        if (row->in.send_at_ms)
            continue; /* scheduled: the sweeper enqueues it when due */
        struct wr_xadd *x = mem_alloc(sizeof(*x));
        x->w = w;
        memcpy(x->id, row->id_str, sizeof(x->id));
        stream_add(w->app->rds, row->in.channel, row->id_str, wr_xadd_done, x);
    }
}

static void wr_finish_batch(struct wr_batch *b) {
    struct writer *w = b->w;
    struct wr_item *it = b->items;
    while (it) {
        struct wr_item *next = it->next;
        if (it->idem_key) {
            char k[400];
            wr_key(it, k, sizeof(k));
            hmap_del(w->keys, k);
        }
        it->cb(it->arg, (enum wr_status)it->status,
               it->status == WR_CREATED ? it->response : it->stored);
        if (it->status == WR_CREATED) {
            for (size_t i = 0; i < it->nrows; i++) {
                char labels[32];
                snprintf(labels, sizeof(labels), "channel=\"%s\"",
                         notif_channel_name(it->rows[i].in.channel));
                metrics_add(w->app->metrics, "herald_notifications_accepted_total", labels, 1);
                stats_count(w->app->stats, it->rows[i].in.channel, STATS_ACCEPTED, 1);
            }
            wr_enqueue(w, it);
        }
        wr_item_free(it);
        it = next;
    }
    w->inflight--;
    w->inflight_rows -= b->nrows;
    mem_free(b);
    wr_flush(w);
}

struct wr_lookup {
    struct wr_batch *b;
    struct wr_item *it;
};

static void wr_lookup_done(void *arg, const struct db_result *res) {
    struct wr_lookup *l = arg;
    struct wr_item *it = l->it;
    if (res->status != DB_OK || PQntuples(res->res) != 1) {
        /* no answer, or expired and purged between the insert and now (very rare) */
        it->status = WR_UNKNOWN;
    } else {
        size_t hlen = 0;
        unsigned char *h = PQunescapeBytea((const unsigned char *)db_get(res->res, 0, 0), &hlen);
        const char *stored = db_get(res->res, 0, 1);
        if (h && hlen == 32 && crypto_ct_equal(h, it->body_hash, 32)) {
            /* our own earlier try committed when its outcome was unknown */
            it->status =
                it->tries > 1 && strcmp(stored, it->response) == 0 ? WR_CREATED : WR_REPLAY;
            it->stored = mem_strdup(stored);
        } else {
            it->status = WR_KEY_REUSED;
        }
        PQfreemem(h);
    }
    struct wr_batch *b = l->b;
    mem_free(l);
    if (--b->lookups == 0)
        wr_finish_batch(b);
}

static void wr_requeue_front(struct writer *w, struct wr_batch *b) {
    /* put the items back at the head, in order, for another try */
    struct wr_item *last = NULL;
    for (struct wr_item *it = b->items; it; it = it->next)
        last = it;
    if (last) {
        last->next = w->head;
        w->head = b->items;
        if (!w->tail)
            w->tail = last;
    }
    w->queued_rows += b->nrows;
    w->inflight--;
    w->inflight_rows -= b->nrows;
    mem_free(b);
}

static void wr_done(void *arg, const struct db_result *res) {
    struct wr_batch *b = arg;
    struct writer *w = b->w;
    int st;
    switch (res->status) {
    case DB_OK:
        st = WR_CREATED;
        metrics_observe(w->app->metrics, "herald_commit_group_size", "", (double)b->nitems);
        break;
    case DB_UNAVAILABLE:
        st = WR_UNAVAILABLE;
        break;
    case DB_ERROR:
        HLOG(HLOG_ERROR, "commit.failed", NULL, "group insert refused: %s", res->message);
        st = WR_ERROR;
        break;
    case DB_LOST:
    default: {
        /* The commit may or may not have happened. The statement is
         * idempotent (fixed ids, ON CONFLICT), so run it again: a row that
         * was stored is then found, not written twice. */
        bool retry = true;
        for (struct wr_item *it = b->items; it; it = it->next)
            if (++it->tries >= WR_MAX_TRIES)
                retry = false;
        HLOG(HLOG_WARN, "commit.unknown", NULL, "commit outcome unknown (%s); %s", res->message,
             retry ? "trying again" : "giving up");
        if (retry) {
            wr_requeue_front(w, b);
            wr_flush(w);
            return;
        }
        st = WR_UNKNOWN;
    }
    }
    for (struct wr_item *it = b->items; it; it = it->next)
        it->status = st;
    if (st == WR_CREATED) {
        int n = PQntuples(res->res);
        for (int i = 0; i < n; i++) {
            int idx = atoi(db_get(res->res, i, 0));
            struct wr_item *it = b->items;
            for (int j = 0; it && j < idx; j++)
                it = it->next;
            if (!it)
                continue;
            struct wr_lookup *l = mem_alloc(sizeof(*l));
            l->b = b;
            l->it = it;
            b->lookups++;
            char tid[24];
            snprintf(tid, sizeof(tid), "%lld", (long long)it->tenant_id);
            const char *params[] = {tid, it->route, it->idem_key};
            db_query(w->app->db,
                     "SELECT body_hash, response FROM idempotency_keys WHERE tenant_id = $1 AND "
                     "route = $2 AND key = $3",
                     3, params, wr_lookup_done, l);
        }
        if (b->lookups)
            return;
    }
    wr_finish_batch(b);
}

static void wr_flush(struct writer *w) {
    while (w->head && w->inflight < w->max_inflight) {
        struct wr_batch *b = mem_calloc(1, sizeof(*b));
        b->w = w;
        struct wr_item **tailp = &b->items;
        struct buf a[WR_NCOLS] = {0};
        for (int i = 0; i < WR_NCOLS; i++)
            buf_putc(&a[i], '{');
        while (w->head && (b->nrows == 0 || b->nrows + w->head->nrows <= WR_MAX_ROWS_PER_COMMIT)) {
            struct wr_item *it = w->head;
            w->head = it->next;
            if (!w->head)
                w->tail = NULL;
            it->next = NULL;
            *tailp = it;
            tailp = &it->next;
            w->queued_rows -= it->nrows;
            char idx[16], tid[24];
            snprintf(idx, sizeof(idx), "%zu", b->nitems);
            snprintf(tid, sizeof(tid), "%lld", (long long)it->tenant_id);
            for (size_t i = 0; i < it->nrows; i++) {
                const struct wr_row *row = &it->rows[i];
                const struct notif_input *in = &row->in;
                char created[UTIL_TIME_LEN], send_at[UTIL_TIME_LEN], expires[UTIL_TIME_LEN];
                util_fmt_time_ms(row->created_ms, created);
                if (in->send_at_ms)
                    util_fmt_time_ms(in->send_at_ms, send_at);
                if (in->expires_at_ms)
                    util_fmt_time_ms(in->expires_at_ms, expires);
                const char *ch = notif_channel_name(in->channel);
                const char *prio = notif_priority_name(in->priority);
                wr_add(&a[WR_ID], row->id_str);
                wr_add(&a[WR_TENANT], tid);
                wr_add(&a[WR_CHANNEL], ch);
                wr_add(&a[WR_RECIPIENT], in->recipient);
                wr_add(&a[WR_SUBJECT], in->subject);
                wr_add(&a[WR_BODY], in->body);
                wr_add(&a[WR_METADATA], in->metadata_json);
                wr_add(&a[WR_SEND_AT], in->send_at_ms ? send_at : NULL);
                wr_add(&a[WR_CREATED_AT], created);
                wr_add(&a[WR_PRIORITY], prio);
                wr_add(&a[WR_EXPIRES], in->expires_at_ms ? expires : NULL);
                wr_add(&a[WR_HTML], in->html);
                wr_add(&a[WR_REPLY_TO], in->reply_to);
                wr_add(&a[WR_ITEM], idx);
            }
            if (it->idem_key) {
                b->has_keys = true;
                char hex[2 + 64 + 1] = "\\x";
                crypto_hex(it->body_hash, 32, hex + 2);
                wr_add(&a[WR_K_ITEM], idx);
                wr_add(&a[WR_K_TENANT], tid);
                wr_add(&a[WR_K_ROUTE], it->route);
                wr_add(&a[WR_K_KEY], it->idem_key);
                wr_add(&a[WR_K_HASH], hex);
                wr_add(&a[WR_K_RESPONSE], it->response);
            }
            b->nitems++;
            b->nrows += it->nrows;
        }
        const char *params[WR_NCOLS];
        for (int i = 0; i < WR_NCOLS; i++) {
            buf_putc(&a[i], '}');
            params[i] = a[i].data;
        }
        w->inflight++;
        w->inflight_rows += b->nrows;
        if (b->has_keys)
            db_query_prepared(w->app->db, wr_sql, WR_NCOLS, params, wr_done, b);
        else
            db_query_prepared(w->app->db, wr_sql_plain, WR_PLAIN_NPARAMS, params, wr_done, b);
        for (int i = 0; i < WR_NCOLS; i++)
            buf_free(&a[i]);
    }
}

void writer_submit(struct writer *w, struct wr_item *it) {
    if (w->queued_rows + w->inflight_rows + it->nrows > (size_t)w->app->cfg->commit_queue_max) {
        it->cb(it->arg, WR_BUSY, NULL);
        wr_item_free(it);
        return;
    }
    if (it->idem_key) {
        char k[400];
        wr_key(it, k, sizeof(k));
        if (hmap_get(w->keys, k)) {
            it->cb(it->arg, WR_IN_PROGRESS, NULL);
            wr_item_free(it);
            return;
        }
        hmap_put(w->keys, k, it);
    }
    it->next = NULL;
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->queued_rows += it->nrows;
    wr_flush(w);
}

struct writer *writer_new(struct api_app *app) {
    struct writer *w = mem_calloc(1, sizeof(*w));
    w->app = app;
    w->keys = hmap_new();
    /* fewer commits at once make larger groups, which costs PostgreSQL less per
     * row; at least one connection is always left to reads */
    int n = app->cfg->commit_concurrency;
    w->max_inflight = n < app->cfg->db_connections ? n : app->cfg->db_connections - 1;
    return w;
}

void writer_free(struct writer *w) {
    if (!w)
        return;
    struct wr_item *it = w->head;
    while (it) {
        struct wr_item *n = it->next;
        it->cb(it->arg, WR_UNAVAILABLE, NULL);
        wr_item_free(it);
        it = n;
    }
    hmap_free(w->keys);
    mem_free(w);
}
