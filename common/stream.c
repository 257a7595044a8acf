/* stream: key names, entry format and the few commands every writer and reader shares. */
#include "common/stream.h"
#include "common/buf.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int stream_nlanes = 8;

void stream_set_lanes(int lanes) {
    stream_nlanes = lanes < 1 ? 1 : lanes > STREAM_LANES_MAX ? STREAM_LANES_MAX : lanes;
}

int stream_lanes(void) {
    return stream_nlanes;
}

int stream_lane_of(int64_t tenant_id) {
    /* splitmix64's finaliser: consecutive ids spread evenly */
    uint64_t z = (uint64_t)tenant_id + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (int)(z % (uint64_t)stream_nlanes);
}

int stream_count(void) {
    return PRIO_COUNT * stream_nlanes + 1;
}

int stream_legacy(void) {
    return PRIO_COUNT * stream_nlanes;
}

int stream_index(enum notif_priority p, int lane) {
    return (int)p * stream_nlanes + lane;
}

enum notif_priority stream_priority_at(int i) {
    return i >= stream_legacy() ? PRIO_NORMAL : (enum notif_priority)(i / stream_nlanes);
}

int stream_lane_at(int i) {
    return i >= stream_legacy() ? -1 : i % stream_nlanes;
}

void stream_key_at(enum notif_channel ch, int i, char *out) {
    static const char prio[PRIO_COUNT] = {'h', 'n', 'l'};
    if (i >= stream_legacy()) {
        stream_key(ch, out);
        return;
    }
    snprintf(out, STREAM_KEY_LEN, "%s{%s.%c.%d}", STREAM_KEY_PREFIX, notif_channel_name(ch),
             prio[stream_priority_at(i)], stream_lane_at(i));
}

void stream_key(enum notif_channel ch, char *out) {
    snprintf(out, STREAM_KEY_LEN, "%s%s", STREAM_KEY_PREFIX, notif_channel_name(ch));
}

void stream_dlq_key(enum notif_channel ch, char *out) {
    snprintf(out, STREAM_KEY_LEN, "%s%s", STREAM_DLQ_PREFIX, notif_channel_name(ch));
}

struct req *stream_add(rds *r, const struct stream_item *it, rds_cb cb, void *arg) {
    char key[STREAM_KEY_LEN];
    stream_key_at(it->ch, stream_index(it->priority, stream_lane_of(it->tenant_id)), key);
    const char *argv[] = {"XADD", key, "*", STREAM_FIELD_ID, it->id};
    return rds_command(r, cb, arg, 5, argv, NULL);
}

struct req *stream_add_dlq(rds *r, enum notif_channel ch, const char *id, const char *tenant,
                           const char *error, int64_t failed_at_ms, int retention_days, rds_cb cb,
                           void *arg) {
    char key[STREAM_KEY_LEN], minid[32], failed_at[UTIL_TIME_LEN];
    stream_dlq_key(ch, key);
    int64_t floor_ms = util_now_ms() - (int64_t)retention_days * 86400000LL;
    snprintf(minid, sizeof(minid), "%lld", (long long)(floor_ms > 0 ? floor_ms : 0));
    util_fmt_time_ms(failed_at_ms, failed_at);
    const char *argv[] = {"XADD",      key,
                          "MINID",     "~",
                          minid,       "*",
                          "id",        id,
                          "tenant",    tenant ? tenant : "",
                          "error",     error ? error : "",
                          "failed_at", failed_at};
    return rds_command(r, cb, arg, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
}

struct req *stream_create_group(rds *r, enum notif_channel ch, int i, rds_cb cb, void *arg) {
    char key[STREAM_KEY_LEN];
    stream_key_at(ch, i, key);
    const char *argv[] = {"XGROUP", "CREATE", key, STREAM_GROUP, "0", "MKSTREAM"};
    return rds_command(r, cb, arg, i == stream_legacy() ? 5 : 6, argv, NULL);
}

bool stream_reply_ok(const redisReply *reply) {
    if (!reply)
        return false;
    if (reply->type != REDIS_REPLY_ERROR)
        return true;
    return reply->str && strncmp(reply->str, "BUSYGROUP", 9) == 0;
}

bool stream_reply_nogroup(const redisReply *reply) {
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, "NOGROUP", 7) == 0;
}

int64_t stream_entry_id_ms(const char *s) {
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    int k = 0;
    for (; isdigit((unsigned char)*s); s++, k++) {
        if (k >= 18)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (*s != '-' || !isdigit((unsigned char)s[1]))
        return -1;
    return v;
}

const char *stream_entry_notif_id(const redisReply *entry, const char **entry_id) {
    if (entry_id)
        *entry_id = NULL;
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2)
        return NULL;
    const redisReply *eid = entry->element[0];
    const redisReply *fields = entry->element[1];
    if (!eid || eid->type != REDIS_REPLY_STRING)
        return NULL;
    if (entry_id)
        *entry_id = eid->str;
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, STREAM_FIELD_ID) == 0)
            return v->str;
    }
    return NULL;
}

/* ---- reading XINFO replies ---------------------------------------------- */

const redisReply *stream_xinfo_field(const redisReply *a, const char *name) {
    if (!a || a->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < a->elements; i += 2) {
        const redisReply *k = a->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) && k->str &&
            strcmp(k->str, name) == 0)
            return a->element[i + 1];
    }
    return NULL;
}

int64_t stream_xinfo_int(const redisReply *v) {
    if (!v)
        return -1;
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type == REDIS_REPLY_STRING && v->str && isdigit((unsigned char)v->str[0]))
        return strtoll(v->str, NULL, 10);
    return -1; /* nil: Redis cannot tell */
}

bool stream_group_parse(const redisReply *reply, struct stream_group *g, const char **err) {
    memset(g, 0, sizeof(*g));
    g->lag = -1;
    g->last_delivered_ms = -1;
    if (err)
        *err = NULL;
    if (!reply) {
        if (err)
            *err = "redis unavailable";
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (reply->str && strcasestr(reply->str, "no such key"))
            return true; /* no stream at all */
        if (err)
            *err = reply->str ? reply->str : "XINFO failed";
        return false;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        if (err)
            *err = "bad XINFO GROUPS reply";
        return false;
    }
    g->stream = true;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *row = reply->element[i];
        const redisReply *name = stream_xinfo_field(row, "name");
        if (!name || name->type != REDIS_REPLY_STRING || strcmp(name->str, STREAM_GROUP) != 0)
            continue;
        g->group = true;
        g->consumers = stream_xinfo_int(stream_xinfo_field(row, "consumers"));
        g->pending = stream_xinfo_int(stream_xinfo_field(row, "pending"));
        g->lag = stream_xinfo_int(stream_xinfo_field(row, "lag"));
        if (g->consumers < 0)
            g->consumers = 0;
        if (g->pending < 0)
            g->pending = 0;
        const redisReply *last = stream_xinfo_field(row, "last-delivered-id");
        if (last && (last->type == REDIS_REPLY_STRING || last->type == REDIS_REPLY_STATUS) &&
            last->str) {
            snprintf(g->last_delivered, sizeof(g->last_delivered), "%s", last->str);
            g->last_delivered_ms = stream_entry_id_ms(last->str);
        }
    }
    return true;
}

size_t stream_consumers_count(const redisReply *reply) {
    return reply && reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
}

bool stream_consumer_at(const redisReply *reply, size_t i, struct stream_consumer *c) {
    if (i >= stream_consumers_count(reply))
        return false;
    const redisReply *row = reply->element[i];
    const redisReply *name = stream_xinfo_field(row, "name");
    if (!name || name->type != REDIS_REPLY_STRING || !name->str)
        return false;
    c->name = name->str;
    c->pending = stream_xinfo_int(stream_xinfo_field(row, "pending"));
    c->idle_ms = stream_xinfo_int(stream_xinfo_field(row, "idle"));
    return true;
}

/* ---- a channel's streams together --------------------------------------- */

struct stream_info_op {
    stream_info_cb cb;
    void *arg;
    enum notif_channel ch;
    int n;
    int outstanding;
    bool failed, cancelled;
    char err[128];
    struct stream_figures *s;
    struct stream_info_arg {
        struct stream_info_op *op;
        int i;
    } * args; /* 2 per stream: XLEN, XINFO GROUPS */
};

static void stream_info_fail(struct stream_info_op *op, const char *err) {
    if (!op->failed)
        snprintf(op->err, sizeof(op->err), "%s", err ? err : "redis unavailable");
    op->failed = true;
}

static void stream_info_free(struct stream_info_op *op) {
    mem_free(op->s);
    mem_free(op->args);
    mem_free(op);
}

/* stream_info_drop: a command of a cancelled query */
static void stream_info_drop(void *arg) {
    struct stream_info_arg *a = arg;
    struct stream_info_op *op = a->op;
    op->cancelled = true;
    if (--op->outstanding == 0)
        stream_info_free(op);
}

static void stream_info_finish(struct stream_info_op *op) {
    if (op->cancelled) {
        stream_info_free(op);
        return;
    }
    struct stream_info info = {.ch = op->ch, .ok = !op->failed, .n = op->n, .s = op->s};
    if (op->failed) {
        info.err = op->err;
        info.length = info.pending = info.consumers = info.lag = -1;
    } else {
        bool any_group = false, unknown = false;
        for (int i = 0; i < op->n; i++) {
            const struct stream_figures *f = &op->s[i];
            info.length += f->length;
            info.pending += f->g.pending;
            if (f->g.consumers > info.consumers)
                info.consumers = f->g.consumers;
            if (f->g.group) {
                any_group = true;
                if (f->g.lag < 0)
                    unknown = true;
                else
                    info.lag += f->g.lag;
            } else if (f->length > 0) {
                unknown = true; /* entries no group has read */
            }
        }
        if (!any_group || unknown)
            info.lag = -1;
    }
    op->cb(op->arg, &info);
    stream_info_free(op);
}

static void stream_info_xlen_cb(void *arg, redisReply *reply, const char *err) {
    struct stream_info_arg *a = arg;
    struct stream_info_op *op = a->op;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        op->s[a->i].length = reply->integer;
    else
        stream_info_fail(op, err ? err : reply && reply->str ? reply->str : "bad XLEN reply");
    if (--op->outstanding == 0)
        stream_info_finish(op);
}

static void stream_info_groups_cb(void *arg, redisReply *reply, const char *err) {
    struct stream_info_arg *a = arg;
    struct stream_info_op *op = a->op;
    const char *why = NULL;
    if (!stream_group_parse(reply, &op->s[a->i].g, &why))
        stream_info_fail(op, err ? err : why);
    if (--op->outstanding == 0)
        stream_info_finish(op);
}

void stream_info(rds *r, enum notif_channel ch, struct req_scope *scope, stream_info_cb cb,
                 void *arg) {
    struct stream_info_op *op = mem_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    op->ch = ch;
    op->n = stream_count();
    op->s = mem_calloc((size_t)op->n, sizeof(*op->s));
    op->args = mem_calloc((size_t)op->n * 2, sizeof(*op->args));
    /* counted first: after rds_shutdown the replies come inside rds_command */
    op->outstanding = op->n * 2;
    int n = op->n;
    for (int i = 0; i < n; i++) {
        char key[STREAM_KEY_LEN];
        stream_key_at(ch, i, key);
        snprintf(op->s[i].key, sizeof(op->s[i].key), "%s", key);
        op->s[i].length = -1;
        op->args[2 * i] = (struct stream_info_arg){op, i};
        op->args[2 * i + 1] = (struct stream_info_arg){op, i};
    }
    /* op is freed by the last reply, which may come inside the last call */
    struct stream_info_arg *args = op->args;
    for (int i = 0; i < n; i++) {
        char key[STREAM_KEY_LEN];
        stream_key_at(ch, i, key);
        const char *xlen[] = {"XLEN", key};
        const char *groups[] = {"XINFO", "GROUPS", key};
        struct req *q1 = rds_command(r, stream_info_xlen_cb, &args[2 * i], 2, xlen, NULL);
        if (scope)
            req_scope_add_arg(scope, q1, stream_info_drop, &args[2 * i]);
        struct req *q2 = rds_command(r, stream_info_groups_cb, &args[2 * i + 1], 3, groups, NULL);
        if (scope)
            req_scope_add_arg(scope, q2, stream_info_drop, &args[2 * i + 1]);
    }
}

int64_t stream_orphan_cutoff(const struct stream_info *info, int64_t grace_cutoff,
                             int64_t skew_ms) {
    if (!info->ok)
        return -1;
    int64_t cutoff = grace_cutoff;
    for (int i = 0; i < info->n; i++) {
        const struct stream_figures *f = &info->s[i];
        if (!f->g.stream)
            continue; /* nothing waits in Redis */
        if (!f->g.group) {
            if (f->length != 0)
                return -1; /* entries but no group: a worker will create it and read them all */
            continue;
        }
        if (f->g.lag == 0)
            continue;
        /* a backlog (or a lag Redis cannot tell): only rows enqueued before
         * the last entry handed out can have lost theirs */
        int64_t c = f->g.last_delivered_ms >= 0 ? f->g.last_delivered_ms - skew_ms : 0;
        if (c < cutoff)
            cutoff = c;
    }
    return cutoff > 0 ? cutoff : -1;
}

/* ---- enqueue with fallback ---------------------------------------------- */

struct stream_enq {
    db *d;
    struct req_scope *scope;
    bool cancelled;
    stream_enqueue_cb cb;
    void *arg;
    size_t left; /* XADD replies still owed */
    struct stream_enqueued res;
    char err[128];
    struct buf failed; /* array literal of the ids whose XADD failed */
    struct stream_enq_x {
        struct stream_enq *q;
        char id[UTIL_UUID_LEN];
    } * x;
};

static void stream_enq_finish(struct stream_enq *q) {
    if (q->cb && !q->cancelled)
        q->cb(q->arg, &q->res);
    buf_free(&q->failed);
    mem_free(q->x);
    mem_free(q);
}

/* stream_enq_drop_x, stream_enq_drop: a request of a cancelled enqueue */
static void stream_enq_drop_x(void *arg) {
    struct stream_enq *q = ((struct stream_enq_x *)arg)->q;
    q->cancelled = true;
    if (--q->left == 0)
        stream_enq_finish(q);
}

static void stream_enq_drop(void *arg) {
    struct stream_enq *q = arg;
    q->cancelled = true;
    stream_enq_finish(q);
}

static void stream_enq_undo_cb(void *arg, const struct db_result *r) {
    struct stream_enq *q = arg;
    if (r->status != DB_OK)
        HLOG(HLOG_WARN, "enqueue.mark_failed", &(struct hlog_ctx){.err = r->message},
             "could not hand %zu rows back to the sweeper; its orphan step finds them after its "
             "grace period",
             q->res.failed);
    stream_enq_finish(q);
}

static void stream_enq_xadd_cb(void *arg, redisReply *reply, const char *err) {
    struct stream_enq_x *x = arg;
    struct stream_enq *q = x->q;
    if (stream_reply_ok(reply)) {
        q->res.enqueued++;
    } else {
        if (q->res.failed++ == 0) {
            snprintf(q->err, sizeof(q->err), "%s",
                     err                   ? err
                     : reply && reply->str ? reply->str
                                           : "XADD failed");
            q->res.err = q->err;
            HLOG(HLOG_WARN, "enqueue.failed", &(struct hlog_ctx){.notif_id = x->id, .err = q->err},
                 "XADD failed; the sweeper will enqueue the row");
        }
        buf_putc(&q->failed, q->failed.len ? ',' : '{');
        buf_puts(&q->failed, x->id); /* a uuid: no quoting needed */
    }
    if (--q->left > 0)
        return;
    if (q->res.failed == 0 || q->cancelled) {
        stream_enq_finish(q);
        return;
    }
    buf_putc(&q->failed, '}');
    const char *params[] = {q->failed.data};
    struct req *u = db_query(q->d,
                             "UPDATE notifications SET in_stream = false"
                             " WHERE id = ANY($1::uuid[]) AND status = 'pending' AND in_stream",
                             1, params, stream_enq_undo_cb, q);
    if (q->scope)
        req_scope_add_arg(q->scope, u, stream_enq_drop, q);
}

void stream_enqueue(rds *r, struct db *d, const struct stream_item *items, size_t n,
                    struct req_scope *scope, stream_enqueue_cb cb, void *arg) {
    struct stream_enq *q = mem_calloc(1, sizeof(*q));
    q->d = d;
    q->scope = scope;
    q->cb = cb;
    q->arg = arg;
    if (n == 0) {
        stream_enq_finish(q);
        return;
    }
    q->x = mem_calloc(n, sizeof(*q->x));
    q->left = n; /* counted first: after rds_shutdown replies come inside rds_command */
    for (size_t i = 0; i < n; i++) {
        q->x[i].q = q;
        snprintf(q->x[i].id, sizeof(q->x[i].id), "%s", items[i].id);
    }
    struct stream_enq_x *x = q->x;
    for (size_t i = 0; i < n; i++) {
        struct req *a = stream_add(r, &items[i], stream_enq_xadd_cb, &x[i]);
        if (scope)
            req_scope_add_arg(scope, a, stream_enq_drop_x, &x[i]);
    }
}
