/* admin: the /v1/admin queue, destination and dead-letter routes; request parsing and JSON
 * here, the statements and Redis commands in common/ops.c (shared with heraldctl). */
#include "api/admin.h"
#include "common/buf.h"
#include "common/circuits.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/notif.h"
#include "common/ops.h"
#include "common/util.h"
#include "common/validate.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_DLQ_LIMIT_DEFAULT 20
#define ADMIN_DLQ_LIMIT_MAX 100
#define ADMIN_TENANT_MAX 64      /* tenants.name is 1..64 characters */
#define ADMIN_FIELD_NAME_MAX 128 /* longer unknown field names are not echoed */

/* admin_reply_ops: the error reply for a failed operation. */
static void admin_reply_ops(struct api_req *r, enum ops_status st, const char *err) {
    if (st == OPS_DB_UNAVAILABLE) {
        api_reply_error(r, 503, "unavailable", "the database cannot be reached", NULL);
        return;
    }
    HLOG(HLOG_ERROR, "admin.failed", &(struct hlog_ctx){.req_id = r->req_id, .err = err},
         "%s failed", r->route->name);
    api_reply_error(r, 500, "internal_error", "internal error", NULL);
}

/* ---- GET /v1/admin/queues ---- */

static void admin_queues_done(void *arg, enum ops_status st, const struct ops_queues *q,
                              const char *err) {
    struct api_req *r = arg;
    if (st != OPS_OK) {
        admin_reply_ops(r, st, err);
        return;
    }
    if (!q->redis_ok)
        HLOG(HLOG_WARN, "admin.queues_no_redis",
             &(struct hlog_ctx){.req_id = r->req_id, .err = q->redis_err},
             "Redis did not answer: its figures are null");
    struct buf b = {0};
    ops_queues_json(&b, q);
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

void admin_h_queues(struct api_req *r) {
    ops_queue_stats(r->app->db, r->app->rds, admin_queues_done, r);
}

/* ---- GET /v1/admin/destinations ---- */

static void admin_destinations_done(void *arg, const struct circ_list *l) {
    struct api_req *r = arg;
    if (!l->redis_ok) {
        HLOG(HLOG_WARN, "admin.destinations_no_redis",
             &(struct hlog_ctx){.req_id = r->req_id, .err = l->err},
             "Redis did not answer: circuits unknown");
        api_reply_error(r, 503, "unavailable", "Redis cannot be reached", NULL);
        return;
    }
    struct buf b = {0};
    circ_json(&b, l, util_now_ms());
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

void admin_h_destinations(struct api_req *r) {
    const char *chs = api_query(r, "channel");
    int ch = -1;
    if (chs) {
        ch = notif_channel_parse(chs);
        if (ch < 0) {
            struct val_errors errs = {0};
            val_errors_add(&errs, "channel", "must be one of email, sms, push, webhook");
            api_reply_invalid(r, &errs);
            val_errors_free(&errs);
            return;
        }
    }
    circ_read(r->app->rds, ch, admin_destinations_done, r);
}

/* ---- GET /v1/admin/dlq/{channel} ---- */

static void admin_dlq_list_done(void *arg, enum ops_status st, const struct ops_dlq_page *page,
                                const char *err) {
    struct api_req *r = arg;
    if (st == OPS_UNKNOWN_TENANT) {
        struct val_errors errs = {0};
        val_errors_add(&errs, "tenant", "no tenant has this name");
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    if (st != OPS_OK) {
        admin_reply_ops(r, st, err);
        return;
    }
    struct buf b = {0};
    ops_dlq_page_json(&b, page);
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

void admin_h_dlq_list(struct api_req *r) {
    struct val_errors errs = {0};
    enum notif_channel ch = (enum notif_channel)notif_channel_parse(r->param);
    const char *tenant = api_query(r, "tenant");
    const char *cursor = api_query(r, "cursor");
    bool tenant_ok = true;
    if (tenant) {
        size_t n = strlen(tenant);
        tenant_ok = n >= 1 && n <= ADMIN_TENANT_MAX && hjson_utf8_valid(tenant, n);
        if (!tenant_ok)
            val_errors_add(&errs, "tenant", "must be a tenant's name (1 to 64 characters)");
    }
    int limit = api_query_int(r, "limit", 1, ADMIN_DLQ_LIMIT_MAX, ADMIN_DLQ_LIMIT_DEFAULT,
                              "must be an integer from 1 to 100", &errs);
    /* A cursor is bound to the channel and the tenant filter; with a bad
     * tenant there is no scope to check it against. */
    if (cursor && tenant_ok && !ops_dlq_cursor_ok(ch, tenant, cursor))
        val_errors_add(&errs, "cursor", "is not a cursor for this list and these filters");
    if (errs.len) {
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    ops_dlq_list(r->app->db, ch, tenant, limit, cursor, admin_dlq_list_done, r);
}

/* ---- POST /v1/admin/dlq/{channel}/replay ---- */

static void admin_replay_done(void *arg, enum ops_status st, const struct ops_replay_result *res,
                              const char *err) {
    struct api_req *r = arg;
    if (st != OPS_OK) {
        admin_reply_ops(r, st, err);
        return;
    }
    if (!res->redis_ok)
        HLOG(HLOG_WARN, "admin.replay_not_enqueued",
             &(struct hlog_ctx){.req_id = r->req_id, .err = res->redis_err},
             "%lld of %lld replayed notifications left to the sweeper",
             (long long)(res->replayed - res->enqueued), (long long)res->replayed);
    struct buf b = {0};
    ops_replay_json(&b, res);
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

/* admin_field_name: key as it may appear in an error's "field": request
 * text that is not short valid UTF-8 is not echoed. */
static const char *admin_field_name(const char *key) {
    size_t n = strlen(key);
    if (n > ADMIN_FIELD_NAME_MAX || !hjson_utf8_valid(key, n))
        return "(unprintable field name)";
    return key;
}

/* admin_replay_ids: checks the ids array; on success *out holds borrowed
 * pointers into arr (caller frees the array with mem_free()). */
static void admin_replay_ids(struct json_object *arr, struct val_errors *errs, const char ***out,
                             size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!json_object_is_type(arr, json_type_array)) {
        val_errors_add(errs, "ids", "must be an array of notification ids");
        return;
    }
    size_t n = json_object_array_length(arr);
    if (n < 1 || n > OPS_REPLAY_IDS_MAX) {
        val_errors_add(errs, "ids", "must hold 1 to 1000 notification ids");
        return;
    }
    const char **ids = mem_calloc(n, sizeof(*ids));
    size_t before = errs->len;
    for (size_t i = 0; i < n; i++) {
        struct json_object *el = json_object_array_get_idx(arr, i);
        const char *s =
            json_object_is_type(el, json_type_string) ? json_object_get_string(el) : NULL;
        /* get_string stops at a NUL; the length catches one */
        if (!s || (size_t)json_object_get_string_len(el) != strlen(s) || !util_uuid_valid(s)) {
            char field[32];
            snprintf(field, sizeof(field), "ids[%zu]", i);
            val_errors_add(errs, field, "must be a notification id (a UUID)");
            continue;
        }
        ids[i] = s;
    }
    if (errs->len != before) {
        mem_free(ids);
        return;
    }
    *out = ids;
    *n_out = n;
}

void admin_h_dlq_replay(struct api_req *r) {
    struct json_object *obj = r->json;
    enum notif_channel ch = (enum notif_channel)notif_channel_parse(r->param);
    struct val_errors errs = {0};
    struct json_object *ids_v = NULL, *all_v = NULL;
    json_object_object_foreach(obj, key, val) {
        if (!strcmp(key, "ids"))
            ids_v = val;
        else if (!strcmp(key, "all"))
            all_v = val;
        else
            val_errors_add(&errs, admin_field_name(key), "unknown field");
    }
    const char **ids = NULL;
    size_t n = 0;
    if (ids_v && all_v) {
        val_errors_add(&errs, "all", "give either ids or all, not both");
    } else if (!ids_v && !all_v) {
        val_errors_add(&errs, "ids", "is required (or \"all\": true)");
    } else if (all_v) {
        if (!json_object_is_type(all_v, json_type_boolean) || !json_object_get_boolean(all_v))
            val_errors_add(&errs, "all", "must be true");
    } else {
        admin_replay_ids(ids_v, &errs, &ids, &n);
    }
    if (errs.len) {
        mem_free(ids);
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    /* ids point into r->json; ops_dlq_replay copies them before returning */
    ops_dlq_replay(r->app->db, r->app->rds, ch, ids, n, false, admin_replay_done, r);
    mem_free(ids);
}
