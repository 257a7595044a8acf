/* writer: group commit of notification inserts with idempotency keys, and the
 * XADD that follows each commit. */
#include "api/writer.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/db.h"
#include "common/db_cols.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/stats.h"
#include "common/mem.h"
#include "common/rds.h"
#include "common/stream.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define WR_MAX_ROWS_PER_COMMIT 2000
#define WR_MAX_TRIES 3

struct writer {
    struct api_app *app;
    batch_queue *q;        /* items waiting for or inside a commit; weight: rows */
    hmap *keys;            /* "tenant\x1froute\x1fkey" of queued/in-flight items */
    struct req_scope reqs; /* statements and XADDs not yet answered */
};

/* A commit is a batch_group: data is the writer, pending the idempotency
 * lookups still outstanding after its insert. */

#define WR_ITEM_OF(bi) ((struct wr_item *)((char *)(bi)-offsetof(struct wr_item, link)))
#define WR_FOR_EACH(it, g)                                                                         \
    for (struct batch_item *it##_l = (g)->items.head; it##_l && ((it) = WR_ITEM_OF(it##_l), 1);    \
         it##_l = it##_l->next)

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
    return batch_weight(w->q);
}

/* wr_enqueue: after the commit, one pipelined enqueue per request; an XADD
 * that fails hands its row back to the sweeper. */
static void wr_enqueue(struct writer *w, const struct wr_item *it) {
    struct stream_item *items = mem_calloc(it->nrows ? it->nrows : 1, sizeof(*items));
    size_t n = 0;
    for (size_t i = 0; i < it->nrows; i++) {
        const struct wr_row *row = &it->rows[i];
        if (row->in.send_at_ms)
            continue; /* scheduled: the sweeper enqueues it when due */
        items[n++] =
            (struct stream_item){row->id_str, row->in.channel, it->tenant_id, row->in.priority};
    }
    if (n > 0)
        stream_enqueue(w->app->rds, w->app->db, items, n, &w->reqs, NULL, NULL);
    mem_free(items);
}

static void wr_finish_batch(struct batch_group *g) {
    struct writer *w = g->data;
    struct batch_list items = g->items;
    g->items = (struct batch_list){0};
    batch_group_done(g);
    struct batch_item *l;
    while ((l = batch_list_pop(&items))) {
        struct wr_item *it = WR_ITEM_OF(l);
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
    }
}

struct wr_lookup {
    struct batch_group *g;
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
    struct batch_group *g = l->g;
    mem_free(l);
    if (--g->pending == 0)
        wr_finish_batch(g);
}

static void wr_done(void *arg, const struct db_result *res) {
    struct batch_group *g = arg;
    struct writer *w = g->data;
    int st;
    switch (res->status) {
    case DB_OK:
        st = WR_CREATED;
        metrics_observe(w->app->metrics, "herald_commit_group_size", "", (double)g->items.count);
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
        struct wr_item *it;
        WR_FOR_EACH(it, g)
        if (++it->tries >= WR_MAX_TRIES)
            retry = false;
        HLOG(HLOG_WARN, "commit.unknown", NULL, "commit outcome unknown (%s); %s", res->message,
             retry ? "trying again" : "giving up");
        if (retry) {
            /* back to the queue's front, in order, for another try */
            batch_group_requeue(g);
            return;
        }
        st = WR_UNKNOWN;
    }
    }
    struct wr_item *it;
    WR_FOR_EACH(it, g)
    it->status = st;
    if (st == WR_CREATED) {
        int n = PQntuples(res->res);
        for (int i = 0; i < n; i++) {
            int idx = atoi(db_get(res->res, i, 0));
            struct batch_item *bi = g->items.head;
            for (int j = 0; bi && j < idx; j++)
                bi = bi->next;
            if (!bi)
                continue;
            it = WR_ITEM_OF(bi);
            struct wr_lookup *l = mem_alloc(sizeof(*l));
            l->g = g;
            l->it = it;
            g->pending++;
            char tid[24];
            snprintf(tid, sizeof(tid), "%lld", (long long)it->tenant_id);
            const char *params[] = {tid, it->route, it->idem_key};
            req_scope_add_owning(&w->reqs,
                                 db_query(w->app->db,
                                          "SELECT body_hash, response FROM idempotency_keys "
                                          "WHERE tenant_id = $1 AND route = $2 AND key = $3",
                                          3, params, wr_lookup_done, l),
                                 l);
        }
        if (g->pending)
            return;
    }
    wr_finish_batch(g);
}

/* wr_send: one statement for the group (batch's send hook). */
static void wr_send(void *arg, struct batch_group *g) {
    struct writer *w = arg;
    g->data = w;
    g->pending = 0;
    bool has_keys = false; /* some item carries an Idempotency-Key: the full statement */
    struct db_cols c;
    db_cols_init(&c, WR_NCOLS);
    size_t nitem = 0;
    struct wr_item *it;
    WR_FOR_EACH(it, g) {
        char tid[24];
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
            db_cols_put(&c, WR_ID, row->id_str);
            db_cols_put(&c, WR_TENANT, tid);
            db_cols_put(&c, WR_CHANNEL, notif_channel_name(in->channel));
            db_cols_put(&c, WR_RECIPIENT, in->recipient);
            db_cols_put(&c, WR_SUBJECT, in->subject);
            db_cols_put(&c, WR_BODY, in->body);
            db_cols_put(&c, WR_METADATA, in->metadata_json);
            db_cols_put(&c, WR_SEND_AT, in->send_at_ms ? send_at : NULL);
            db_cols_put(&c, WR_CREATED_AT, created);
            db_cols_put(&c, WR_PRIORITY, notif_priority_name(in->priority));
            db_cols_put(&c, WR_EXPIRES, in->expires_at_ms ? expires : NULL);
            db_cols_put(&c, WR_HTML, in->html);
            db_cols_put(&c, WR_REPLY_TO, in->reply_to);
            db_cols_int(&c, WR_ITEM, (int64_t)nitem);
        }
        if (it->idem_key) {
            has_keys = true;
            char hex[2 + 64 + 1] = "\\x";
            crypto_hex(it->body_hash, 32, hex + 2);
            db_cols_int(&c, WR_K_ITEM, (int64_t)nitem);
            db_cols_put(&c, WR_K_TENANT, tid);
            db_cols_put(&c, WR_K_ROUTE, it->route);
            db_cols_put(&c, WR_K_KEY, it->idem_key);
            db_cols_put(&c, WR_K_HASH, hex);
            db_cols_put(&c, WR_K_RESPONSE, it->response);
        }
        nitem++;
    }
    const char *const *params = db_cols_params(&c);
    if (has_keys)
        req_scope_add(&w->reqs,
                      db_query_prepared(w->app->db, wr_sql, WR_NCOLS, params, wr_done, g));
    else
        req_scope_add(&w->reqs, db_query_prepared(w->app->db, wr_sql_plain, WR_PLAIN_NPARAMS,
                                                  params, wr_done, g));
    db_cols_free(&c);
}

void writer_submit(struct writer *w, struct wr_item *it) {
    if (batch_weight(w->q) + it->nrows > (size_t)w->app->cfg->commit_queue_max) {
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
    it->link.weight = it->nrows;
    batch_add(w->q, &it->link);
}

struct writer *writer_new(struct api_app *app) {
    struct writer *w = mem_calloc(1, sizeof(*w));
    w->app = app;
    w->keys = hmap_new();
    /* fewer commits at once make larger groups, which costs PostgreSQL less per
     * row; at least one connection is always left to reads */
    int n = app->cfg->commit_concurrency;
    struct batch_cfg bc = {
        .max_inflight = n < app->cfg->db_connections ? n : app->cfg->db_connections - 1,
        .max_weight = WR_MAX_ROWS_PER_COMMIT,
        .at_once = true,
        .send = wr_send,
        .arg = w,
    };
    w->q = batch_queue_new(app->base, &bc);
    return w;
}

/* wr_drop: an item the writer still held at its end: nothing stored, or
 * (its commit was sent) not known. */
static void wr_drop(void *arg, struct batch_item *l, bool sent) {
    (void)arg;
    struct wr_item *it = WR_ITEM_OF(l);
    it->cb(it->arg, sent ? WR_UNKNOWN : WR_UNAVAILABLE, NULL);
    wr_item_free(it);
}

void writer_free(struct writer *w) {
    if (!w)
        return;
    req_scope_cancel(&w->reqs); /* none of their callbacks runs now */
    batch_queue_free(w->q, wr_drop, w);
    hmap_free(w->keys);
    mem_free(w);
}
