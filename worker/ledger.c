/* ledger: the claim and outcome statements, batched with arrays and unnest. */
#include "worker/ledger.h"
#include "common/buf.h"
#include "common/db_cols.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>

/* Both statements find each row through the primary key, whatever the
 * statistics say: the ids are joined from unnest(the array), and the status
 * test is written (status || '') so the planner cannot use the partial
 * indexes WHERE status = 'pending' (with stale statistics, a queue that
 * filled since the last ANALYZE, it would otherwise walk the channel's whole
 * pending index for every batch). The worker's sessions plan each statement
 * once (common/db.h DB_KEYED_PLANS), steered to a nested loop of key
 * lookups, so a plan made while the table was empty is still right when it is
 * full; the lookups prune the partitions of notifications (schema/006) per
 * row as they run. No "n.id = ANY(the ids)" beside the join: under a plan
 * made once, that would probe every partition for every id.
 *
 * The claim is one pass over the ids: a due row is leased to us (if free, or
 * already ours); one not yet due that is still marked in the stream is marked
 * out of it, so the sweeper enqueues it again when it is due. A due row past
 * its expires_at is expired instead of leased (its status event comes from
 * schema/009's trigger). */
static const char ledger_claim_sql[] =
    "WITH c AS ("
    " UPDATE notifications n SET"
    " status = CASE WHEN n.due_at <= now() AND n.expires_at <= now() THEN 'expired'"
    " ELSE n.status END,"
    " last_error = CASE WHEN n.due_at <= now() AND n.expires_at <= now()"
    " THEN 'expired: expires_at passed before it could be sent' ELSE n.last_error END,"
    " updated_at = CASE WHEN n.due_at <= now() AND n.expires_at <= now() THEN now()"
    " ELSE n.updated_at END,"
    " lease_owner = CASE WHEN n.due_at <= now() AND n.expires_at <= now() THEN NULL"
    " WHEN n.due_at <= now() THEN $1 ELSE n.lease_owner END,"
    " lease_until = CASE WHEN n.due_at <= now() AND n.expires_at <= now() THEN NULL"
    " WHEN n.due_at <= now()"
    " THEN now() + $2::bigint * interval '1 millisecond' ELSE n.lease_until END,"
    " in_stream = n.in_stream AND n.due_at <= now()"
    " AND NOT coalesce(n.expires_at <= now(), false)"
    " FROM unnest($3::uuid[]) AS x(id)"
    " WHERE n.id = x.id AND n.channel = $4"
    " AND n.status || '' = 'pending'"
    " AND (n.lease_until IS NULL OR n.lease_until < now()"
    " OR (n.lease_owner = $1 AND n.due_at <= now()))"
    " AND (n.due_at <= now() OR n.in_stream)"
    " RETURNING n.id, n.tenant_id, n.recipient, n.subject, n.body, n.metadata, n.created_at,"
    " n.attempts, n.budget_base, n.due_at, n.priority,"
    " n.due_at <= now() AND n.status = 'pending' AS due, n.html, n.reply_to, n.expires_at, n.kind)"
    " SELECT c.id, c.recipient, c.subject, c.body, c.metadata,"
    " floor(extract(epoch FROM c.created_at) * 1000)::bigint, c.attempts, c.budget_base,"
    " t.name, t.webhook_secret,"
    " CASE WHEN t.prev_webhook_secret IS NOT NULL AND t.secret_rotated_at IS NOT NULL"
    " AND t.secret_rotated_at > now() - $5::bigint * interval '1 second'"
    " THEN t.prev_webhook_secret END,"
    " floor(extract(epoch FROM c.due_at) * 1000)::bigint, c.priority,"
    " c.html, c.reply_to, t.email_from, floor(extract(epoch FROM c.expires_at) * 1000)::bigint,"
    " c.kind FROM c JOIN tenants t ON t.id = c.tenant_id WHERE c.due";

struct req *ledger_claim(db *d, const char *consumer, enum notif_channel ch, const char *const *ids,
                         int n, int visibility_ms, int secret_grace_s, db_cb cb, void *arg) {
    struct buf arr = {0};
    buf_putc(&arr, '{');
    for (int i = 0; i < n; i++)
        db_array_add(&arr, ids[i], strlen(ids[i]));
    buf_putc(&arr, '}');
    char vis[24], grace[24];
    snprintf(vis, sizeof(vis), "%d", visibility_ms);
    snprintf(grace, sizeof(grace), "%d", secret_grace_s);
    const char *params[] = {consumer, vis, arr.data, notif_channel_name(ch), grace};
    struct req *q = db_query_prepared(d, ledger_claim_sql, 5, params, cb, arg);
    buf_free(&arr);
    return q;
}

static const char ledger_record_sql[] =
    "WITH o AS ("
    " SELECT *, kind = 'success' AND attempt_no = 1 AS first"
    " FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bool[], $6::bigint[],"
    " $7::bigint[], $8::int[], $9::int[], $10::text[], $11::text[])"
    " AS o(id, kind, attempt_no, counted, delay_ms, started_ms, duration_ms, status_code,"
    " error, provider_ref)),"
    " u AS ("
    " UPDATE notifications n SET"
    " attempts = n.attempts + CASE WHEN o.counted THEN 1 ELSE 0 END,"
    " status = CASE o.kind WHEN 'success' THEN 'sent' WHEN 'failed' THEN 'failed'"
    " ELSE 'pending' END,"
    " sent_at = CASE WHEN o.kind = 'success' THEN now() ELSE n.sent_at END,"
    " failed_at = CASE WHEN o.kind = 'failed' THEN now() ELSE n.failed_at END,"
    " provider_ref = COALESCE(o.provider_ref, n.provider_ref),"
    " last_error = CASE o.kind WHEN 'success' THEN NULL WHEN 'defer' THEN n.last_error"
    " ELSE o.error END,"
    " due_at = CASE o.kind WHEN 'retry' THEN now() + o.delay_ms * interval '1 millisecond'"
    " WHEN 'defer' THEN now() + o.delay_ms * interval '1 millisecond' ELSE n.due_at END,"
    " in_stream = false, lease_owner = NULL, lease_until = NULL,"
    " updated_at = CASE WHEN o.kind = 'defer' THEN n.updated_at ELSE now() END,"
    " first_started_at = CASE WHEN o.first THEN to_timestamp(o.started_ms / 1000.0)"
    " ELSE n.first_started_at END,"
    " first_duration_ms = CASE WHEN o.first THEN o.duration_ms ELSE n.first_duration_ms END,"
    " first_status_code = CASE WHEN o.first THEN NULLIF(o.status_code, 0)"
    " ELSE n.first_status_code END"
    " FROM o WHERE n.id = o.id AND n.lease_owner = $1"
    " AND n.status || '' = 'pending'"
    " RETURNING n.id),"
    " a AS ("
    " INSERT INTO delivery_attempts"
    " (notification_id, attempt, started_at, duration_ms, outcome, status_code, error)"
    " SELECT o.id, o.attempt_no, to_timestamp(o.started_ms / 1000.0), o.duration_ms, o.kind,"
    " NULLIF(o.status_code, 0), o.error FROM o JOIN u ON u.id = o.id"
    " WHERE o.kind <> 'defer' AND NOT o.first"
    " ON CONFLICT (notification_id, attempt) DO UPDATE SET started_at = EXCLUDED.started_at,"
    " duration_ms = EXCLUDED.duration_ms, outcome = EXCLUDED.outcome,"
    " status_code = EXCLUDED.status_code, error = EXCLUDED.error)"
    " SELECT u.id, (extract(epoch FROM now()) * 1000)::bigint FROM u";

static const char *const ledger_kind_names[] = {"success", "retry", "failed", "defer"};

/* ledger_record_sql's parameters: the consumer, then one array per column. */
enum ledger_record_param {
    LRP_CONSUMER = 0,
    LRP_ID,
    LRP_KIND,
    LRP_ATTEMPT_NO,
    LRP_COUNTED,
    LRP_DELAY_MS,
    LRP_STARTED_MS,
    LRP_DURATION_MS,
    LRP_STATUS_CODE,
    LRP_ERROR,
    LRP_PROVIDER_REF,
    LRP_COUNT
};

struct req *ledger_record(db *d, const char *consumer, const struct ledger_outcome *o, int n,
                          db_cb cb, void *arg) {
    struct db_cols c;
    db_cols_init(&c, LRP_COUNT);
    db_cols_scalar(&c, LRP_CONSUMER, consumer);
    for (int i = 0; i < n; i++) {
        const struct ledger_outcome *x = &o[i];
        db_cols_put(&c, LRP_ID, x->id);
        db_cols_put(&c, LRP_KIND, ledger_kind_names[x->kind]);
        db_cols_int(&c, LRP_ATTEMPT_NO, x->attempt_no);
        db_cols_bool(&c, LRP_COUNTED, x->counted);
        db_cols_int(&c, LRP_DELAY_MS, x->delay_ms);
        db_cols_int(&c, LRP_STARTED_MS, x->started_ms);
        db_cols_int(&c, LRP_DURATION_MS, x->duration_ms);
        db_cols_int(&c, LRP_STATUS_CODE, x->status_code);
        db_cols_put(&c, LRP_ERROR, x->error);
        db_cols_put(&c, LRP_PROVIDER_REF, x->provider_ref);
    }
    struct req *q = db_query_prepared(d, ledger_record_sql, LRP_COUNT, db_cols_params(&c), cb, arg);
    db_cols_free(&c);
    return q;
}
