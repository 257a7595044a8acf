/* store: the statements, each with the access path it is written for. Rows
 * are found through the primary key (notifications.id, api_keys.id,
 * tenants.id) or, for a page, through (tenant_id, id). A tenant's statements
 * leave out the rows of kind 'event' (the deliveries of its status events to
 * its events_url, schema/009): they are not its notifications. A tenant's
 * statement and the admin one are separate strings rather than one with an
 * "any tenant" parameter, so each keeps a plan that fits it. */
#include "api/store.h"
#include "common/notif.h"

#include <stdio.h>

static const char store_get_sql[] =
    "SELECT " NOTIF_COLS " FROM notifications n JOIN tenants t ON t.id = n.tenant_id"
    " WHERE n.id = $1 AND n.tenant_id = $2 AND n.kind = 'notification'";
static const char store_get_any_sql[] =
    "SELECT " NOTIF_COLS " FROM notifications n JOIN tenants t ON t.id = n.tenant_id"
    " WHERE n.id = $1";

/* keyset pagination, newest first by id below the cursor: created_at is the id's own
 * time, so this is (created_at, id) order, read from notifications_by_tenant
 * (tenant_id, id), or with a recipient from notifications_by_recipient on a hash of it
 * seeded by the tenant (the recipient itself is compared too; schema 006a) */
static const char store_page_sql[] =
    "SELECT " NOTIF_COLS " FROM notifications n JOIN tenants t ON t.id = n.tenant_id"
    " WHERE n.tenant_id = $1 AND n.kind = 'notification' AND ($2::text IS NULL OR n.status = $2)"
    " AND ($3::text IS NULL OR n.channel = $3) AND ($4::text IS NULL OR"
    " (hashtextextended(n.recipient, n.tenant_id) = hashtextextended($4, $1::bigint)"
    " AND n.recipient = $4)) AND ($5::uuid IS NULL OR n.id < $5::uuid)"
    " ORDER BY n.id DESC LIMIT $6::int";

/* a leased row is being delivered right now: it cannot be cancelled */
static const char store_cancel_sql[] =
    "WITH c AS (UPDATE notifications SET status = 'cancelled', updated_at = now(),"
    " in_stream = false WHERE id = $1 AND tenant_id = $2 AND kind = 'notification' AND"
    " status = 'pending' AND"
    " (lease_until IS NULL OR lease_until < now()) RETURNING *)"
    " SELECT " NOTIF_COLS " FROM c n JOIN tenants t ON t.id = n.tenant_id";

static const char store_status_sql[] =
    "SELECT status FROM notifications WHERE id = $1 AND tenant_id = $2 AND kind = 'notification'";

#define STORE_ATTEMPT_COLS                                                                         \
    "SELECT a.attempt, floor(extract(epoch FROM a.started_at) * 1000)::bigint, a.duration_ms,"     \
    " a.outcome, a.status_code, a.error FROM notifications n"                                      \
    " LEFT JOIN notification_attempts a ON a.notification_id = n.id"
static const char store_attempts_sql[] =
    STORE_ATTEMPT_COLS " WHERE n.id = $1 AND n.tenant_id = $2 AND n.kind = 'notification'"
                       " ORDER BY a.attempt";
static const char store_attempts_any_sql[] =
    STORE_ATTEMPT_COLS " WHERE n.id = $1 ORDER BY a.attempt";

static const char store_key_sql[] =
    "SELECT k.tenant_id, t.name, k.admin, k.secret_hash, k.revoked_at IS NOT NULL"
    " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1";

static const char store_keys_used_sql[] =
    "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])";

/* A receipt moves only a sent notification; one that arrives before the sid
 * is stored waits in sms_receipts and is applied by the worker when it stores
 * the sid. delivered is final. */
static const char store_receipt_sql[] =
    "WITH upd AS (UPDATE notifications SET status = $2, updated_at = now(),"
    " delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,"
    " failed_at = CASE WHEN $2 = 'failed' THEN now() ELSE failed_at END,"
    " last_error = CASE WHEN $2 = 'failed' THEN $3 ELSE last_error END"
    " WHERE provider_ref = $1 AND channel = 'sms' AND status = 'sent'"
    " RETURNING id, tenant_id, last_error),"
    " ins AS (INSERT INTO sms_receipts (provider_ref, status, error) SELECT $1, $2, $3"
    " WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE provider_ref = $1 AND channel = 'sms')"
    " ON CONFLICT (provider_ref) DO UPDATE SET status = CASE WHEN sms_receipts.status ="
    " 'delivered' THEN 'delivered' ELSE EXCLUDED.status END, error = EXCLUDED.error,"
    " received_at = now() RETURNING 1)"
    " SELECT u.id, t.name, u.last_error, (SELECT count(*) FROM ins) FROM upd u"
    " JOIN tenants t ON t.id = u.tenant_id";

/* fails until migrations have created the schema, too */
static const char store_ready_sql[] = "SELECT 1 FROM notifications LIMIT 1";

#define STORE_SETTINGS_COLS "name, events_url, event_types, email_from"
static const char store_settings_get_sql[] =
    "SELECT " STORE_SETTINGS_COLS " FROM tenants WHERE id = $1";
static const char store_settings_set_sql[] =
    "UPDATE tenants SET"
    " events_url = CASE WHEN $2::bool THEN $3 ELSE events_url END,"
    " event_types = CASE WHEN $4::bool THEN $5::text[] ELSE event_types END,"
    " email_from = CASE WHEN $6::bool THEN $7 ELSE email_from END"
    " WHERE id = $1 RETURNING " STORE_SETTINGS_COLS;

/* store_tenant: the tenant id as a parameter. */
static void store_tenant(int64_t tenant_id, char out[24]) {
    snprintf(out, 24, "%lld", (long long)tenant_id);
}

/* store_by_id: sql on notification id of tenant_id ($1, $2); any_sql, when
 * not NULL, on id alone ($1) for STORE_ANY_TENANT. */
static struct req *store_by_id(db *d, int64_t tenant_id, const char *id, const char *sql,
                               const char *any_sql, db_cb cb, void *arg) {
    char tid[24];
    store_tenant(tenant_id, tid);
    const char *params[] = {id, tid};
    if (any_sql && tenant_id == STORE_ANY_TENANT)
        return db_query(d, any_sql, 1, params, cb, arg);
    return db_query(d, sql, 2, params, cb, arg);
}

struct req *store_notif_get(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg) {
    return store_by_id(d, tenant_id, id, store_get_sql, store_get_any_sql, cb, arg);
}

struct req *store_notif_page(db *d, const struct store_page *q, db_cb cb, void *arg) {
    char tid[24], lim[16];
    store_tenant(q->tenant_id, tid);
    snprintf(lim, sizeof(lim), "%d", q->limit);
    const char *params[] = {tid, q->status, q->channel, q->recipient, q->before_id, lim};
    return db_query(d, store_page_sql, 6, params, cb, arg);
}

struct req *store_notif_cancel(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg) {
    return store_by_id(d, tenant_id, id, store_cancel_sql, NULL, cb, arg);
}

struct req *store_notif_status(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg) {
    return store_by_id(d, tenant_id, id, store_status_sql, NULL, cb, arg);
}

struct req *store_attempts(db *d, int64_t tenant_id, const char *id, db_cb cb, void *arg) {
    return store_by_id(d, tenant_id, id, store_attempts_sql, store_attempts_any_sql, cb, arg);
}

struct req *store_key(db *d, const char *key_id, db_cb cb, void *arg) {
    const char *params[] = {key_id};
    return db_query(d, store_key_sql, 1, params, cb, arg);
}

struct req *store_keys_used(db *d, const char *ids_literal, db_cb cb, void *arg) {
    const char *params[] = {ids_literal};
    return db_query(d, store_keys_used_sql, 1, params, cb, arg);
}

struct req *store_receipt(db *d, const char *sid, const char *status, const char *error, db_cb cb,
                          void *arg) {
    const char *params[] = {sid, status, error};
    return db_query(d, store_receipt_sql, 3, params, cb, arg);
}

struct req *store_ready(db *d, db_cb cb, void *arg) {
    return db_query(d, store_ready_sql, 0, NULL, cb, arg);
}

struct req *store_settings_get(db *d, int64_t tenant_id, db_cb cb, void *arg) {
    char tid[24];
    store_tenant(tenant_id, tid);
    const char *params[] = {tid};
    return db_query(d, store_settings_get_sql, 1, params, cb, arg);
}

struct req *store_settings_set(db *d, int64_t tenant_id, const struct store_settings *s, db_cb cb,
                               void *arg) {
    char tid[24];
    store_tenant(tenant_id, tid);
    const char *params[] = {tid,
                            s->set_events_url ? "t" : "f",
                            s->events_url,
                            s->set_event_types ? "t" : "f",
                            s->event_types,
                            s->set_email_from ? "t" : "f",
                            s->email_from};
    return db_query(d, store_settings_set_sql, 7, params, cb, arg);
}
