/* settings_h: the tenant settings routes: read them, or change any of
 * events_url, event_types and email_from and answer the new settings. */
#include "api/settings_h.h"
#include "api/notifications.h"
#include "common/buf.h"
#include "common/db.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/tenant.h"
#include "common/validate.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define SETTINGS_COLS "name, events_url, event_types, email_from"

static void settings_h_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (res->status == DB_ERROR) {
        HLOG(HLOG_ERROR, "db.query_failed", &(struct hlog_ctx){.req_id = r->req_id}, "%s",
             res->message);
        api_reply_error(r, 500, "internal_error", "internal error", NULL);
        return;
    }
    if (res->status != DB_OK) {
        api_reply_error(r, 503, "unavailable", "the database cannot be reached", NULL);
        return;
    }
    if (PQntuples(res->res) != 1) {
        /* the key's tenant is always there: tenants are never deleted */
        api_reply_error(r, 500, "internal_error", "internal error", NULL);
        return;
    }
    const PGresult *pg = res->res;
    struct buf b = {0};
    tenant_settings_json(&b, db_get(pg, 0, 0), db_isnull(pg, 0, 1) ? NULL : db_get(pg, 0, 1),
                         tenant_types_from_literal(db_isnull(pg, 0, 2) ? NULL : db_get(pg, 0, 2)),
                         db_isnull(pg, 0, 3) ? NULL : db_get(pg, 0, 3));
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

void settings_h_get(struct api_req *r) {
    char tid[24];
    snprintf(tid, sizeof(tid), "%lld", (long long)r->auth.tenant_id);
    const char *params[] = {tid};
    db_query(r->app->db, "SELECT " SETTINGS_COLS " FROM tenants WHERE id = $1", 1, params,
             settings_h_done, r);
}

void settings_h_patch(struct api_req *r) {
    struct val_errors errs = {0};
    struct tenant_patch p;
    int rc = tenant_patch_from_json(r->json, &p, &errs);
    if (rc < 0) {
        char *details = notif_h_errors_json(&errs);
        api_reply_error(r, 422, "validation_failed", "the request has invalid fields", details);
        mem_free(details);
        val_errors_free(&errs);
        return;
    }
    char tid[24];
    snprintf(tid, sizeof(tid), "%lld", (long long)r->auth.tenant_id);
    struct buf types = {0};
    /* every type is stored as NULL: it then also covers types added later */
    if (p.has_event_types && p.event_types != TENANT_EVENTS_ALL)
        tenant_types_literal(&types, p.event_types);
    const char *params[] = {
        tid,        p.has_events_url ? "t" : "f", p.events_url, p.has_event_types ? "t" : "f",
        types.data, p.has_email_from ? "t" : "f", p.email_from};
    db_query(r->app->db,
             "UPDATE tenants SET"
             " events_url = CASE WHEN $2::bool THEN $3 ELSE events_url END,"
             " event_types = CASE WHEN $4::bool THEN $5::text[] ELSE event_types END,"
             " email_from = CASE WHEN $6::bool THEN $7 ELSE email_from END"
             " WHERE id = $1 RETURNING " SETTINGS_COLS,
             7, params, settings_h_done, r);
    buf_free(&types);
    tenant_patch_free(&p);
}
