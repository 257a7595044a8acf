/* settings_h: the tenant settings routes: read them, or change any of
 * events_url, event_types and email_from and answer the new settings. */
#include "api/settings_h.h"
#include "api/store.h"
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

static void settings_h_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    if (res->status != DB_OK) {
        api_reply_db_failed(r, res);
        return;
    }
    if (PQntuples(res->res) != 1) {
        /* the key's tenant is always there: tenants are never deleted */
        api_reply_error(r, 500, "internal_error", "internal error", NULL);
        return;
    }
    const PGresult *pg = res->res;
    struct buf b = {0};
    tenant_settings_json(&b, db_get(pg, 0, ST_NAME),
                         db_isnull(pg, 0, ST_EVENTS_URL) ? NULL : db_get(pg, 0, ST_EVENTS_URL),
                         tenant_types_from_literal(db_isnull(pg, 0, ST_EVENT_TYPES)
                                                       ? NULL
                                                       : db_get(pg, 0, ST_EVENT_TYPES)),
                         db_isnull(pg, 0, ST_EMAIL_FROM) ? NULL : db_get(pg, 0, ST_EMAIL_FROM));
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}

void settings_h_get(struct api_req *r) {
    store_settings_get(r->app->db, r->auth.tenant_id, settings_h_done, r);
}

void settings_h_patch(struct api_req *r) {
    struct val_errors errs = {0};
    struct tenant_patch p;
    int rc = tenant_patch_from_json(r->json, &p, &errs);
    if (rc < 0) {
        api_reply_invalid(r, &errs);
        val_errors_free(&errs);
        return;
    }
    struct buf types = {0};
    /* every type is stored as NULL: it then also covers types added later */
    if (p.has_event_types && p.event_types != TENANT_EVENTS_ALL)
        tenant_types_literal(&types, p.event_types);
    struct store_settings set = {.set_events_url = p.has_events_url,
                                 .set_event_types = p.has_event_types,
                                 .set_email_from = p.has_email_from,
                                 .events_url = p.events_url,
                                 .event_types = types.data,
                                 .email_from = p.email_from};
    store_settings_set(r->app->db, r->auth.tenant_id, &set, settings_h_done, r);
    buf_free(&types);
    tenant_patch_free(&p);
}
