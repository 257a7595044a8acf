/* store: the API's SQL (all but the group insert, which api/writer.c owns):
 * each statement a named string beside the enum of its result's columns.
 * Every function sends one statement through db_query and returns its
 * handle (common/req.h); cb runs exactly once as db.h promises, unless the
 * handle is cancelled. Parameters are copied before returning. */
#ifndef HERALD_API_STORE_H
#define HERALD_API_STORE_H

#include "common/db.h"

#include <stdbool.h>
#include <stdint.h>

/* A tenant id for the admin routes: rows of every tenant. */
#define STORE_ANY_TENANT (-1)

/* Notification rows: the NOTIF_COLS of common/notif.h (notif_view_from_row). */

/* store_notif_get: the notification id, of tenant_id (or any). 0 or 1 row. */
struct req *store_notif_get(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg);

/* A page of a tenant's notifications, newest first; NULL filters are off. */
struct store_page {
    int64_t tenant_id;
    const char *status, *channel, *recipient;
    const char *before_id; /* rows with a smaller id (newest first by id is newest first by
                            * (created_at, id): created_at is the id's time) */
    int limit;             /* rows asked for */
};
struct req *store_notif_page(db *d, const struct store_page *q, db_cb cb, void *arg);

/* store_notif_cancel: cancels the notification if it is pending and not
 * leased; the row as it is now, or no row (then store_notif_status says why). */
struct req *store_notif_cancel(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg);
enum store_status_col { SS_STATUS = 0, SS_NCOLS };
struct req *store_notif_status(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg);

/* store_attempts: one row per attempt, in order; a notification with none
 * gives one row of NULLs, an unknown one no row. */
enum store_attempt_col {
    SA_ATTEMPT = 0,
    SA_STARTED_MS,
    SA_DURATION_MS,
    SA_OUTCOME,
    SA_STATUS_CODE, /* NULL when none */
    SA_ERROR,       /* NULL when none */
    SA_NCOLS
};
struct req *store_attempts(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg);

/* store_key: an API key by id. 0 or 1 row. */
enum store_key_col { SK_TENANT_ID = 0, SK_TENANT, SK_ADMIN, SK_HASH, SK_REVOKED, SK_NCOLS };
struct req *store_key(db *d, const char *key_id, db_cb cb, void *arg);
/* store_keys_used: last_used_at = now() for the ids (a text[] literal). */
struct req *store_keys_used(db *d, const char *ids_literal, db_cb cb, void *arg);

/* store_receipt: applies an SMS status receipt (status "delivered" or
 * "failed", error the provider's text) to the notification sent with sid,
 * or keeps it for one not stored yet. The rows changed: */
enum store_receipt_col { SR_ID = 0, SR_TENANT, SR_LAST_ERROR, SR_KEPT, SR_NCOLS };
struct req *store_receipt(db *d, const char *sid, const char *status, const char *error, db_cb cb,
                          void *arg);

/* store_ready: a statement that needs the schema: readiness. */
struct req *store_ready(db *d, db_cb cb, void *arg);

/* Tenant settings rows: */
enum store_settings_col { ST_NAME = 0, ST_EVENTS_URL, ST_EVENT_TYPES, ST_EMAIL_FROM, ST_NCOLS };
struct req *store_settings_get(db *d, int64_t tenant_id, db_cb cb, void *arg);
/* store_settings_set: each value is changed only when its set_* is true;
 * NULL values store NULL; event_types is a text[] literal. The new row. */
struct store_settings {
    bool set_events_url, set_event_types, set_email_from;
    const char *events_url, *event_types, *email_from;
};
struct req *store_settings_set(db *d, int64_t tenant_id, const struct store_settings *s, db_cb cb,
                               void *arg);

#endif
