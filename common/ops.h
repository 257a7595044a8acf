/* ops: the on-call operations that heraldctl and the admin routes share: queue
 * statistics, and listing and replaying dead letters. */
#ifndef HERALD_COMMON_OPS_H
#define HERALD_COMMON_OPS_H

#include "common/cursor.h"
#include "common/db.h"
#include "common/notif.h"
#include "common/rds.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every operation is asynchronous: it only issues db_query/rds_command on the
 * loop that owns d and r, never blocks, and calls its callback exactly once,
 * on the loop, never from inside the ops_* call. Callers keep d and r open
 * until the callback has run. Results are borrowed, valid only during it. */

enum ops_status {
    OPS_OK = 0,
    OPS_DB_UNAVAILABLE, /* PostgreSQL could not be reached, or the connection broke */
    OPS_DB_ERROR,       /* PostgreSQL refused a statement (a bug, or no schema) */
    OPS_UNKNOWN_TENANT, /* ops_dlq_list: no tenant has that name */
};

#define OPS_BUSIEST 3 /* lanes and tenants shown per channel */

/* One of a channel's busiest streams: a priority's lane, or the version 1
 * stream (lane -1). */
struct ops_lane_stat {
    enum notif_priority priority;
    int lane;
    int64_t lag;       /* entries not yet read (-1: Redis cannot tell) */
    int64_t in_flight; /* read, not acknowledged */
};

/* A tenant with due notifications waiting (name borrowed until the callback returns). */
struct ops_tenant_stat {
    char name[64];
    int64_t due;
};

/* One channel's figures. Redis-derived fields are -1 when Redis did not
 * answer; lag is also -1 when Redis cannot tell (no group yet, or entries
 * deleted from the stream). */
struct ops_queue_stat {
    enum notif_channel channel;
    int64_t stream_length; /* XLEN herald:stream:<channel> */
    int64_t in_flight;     /* the group's pending entries (XINFO GROUPS "pending", the
                            * XPENDING summary count): read by a consumer, not yet acked */
    int64_t consumers;     /* XINFO GROUPS "consumers"; 0 without a group */
    int64_t lag;           /* XINFO GROUPS "lag": entries not yet read by the group */
    int64_t scheduled;     /* pending rows no stream holds, or not yet due (send_at, retry) */
    int64_t dead_letters;  /* failed rows */
    /* who is backlogged: the streams with the most entries waiting or in
     * flight (lag, else length less in flight), and the tenants with the
     * most due pending rows among the channel's oldest 10,000 due */
    struct ops_lane_stat busiest[OPS_BUSIEST];
    int n_busiest;
    struct ops_tenant_stat tenants[OPS_BUSIEST];
    int n_tenants;
};

struct ops_queues {
    struct ops_queue_stat ch[CH_COUNT]; /* indexed by enum notif_channel */
    bool redis_ok;                      /* false: every Redis-derived field is -1 */
    const char *redis_err;              /* why, when !redis_ok; borrowed */
};

/* ops_queues_cb: st is OPS_OK (q filled; Redis may still have failed, see
 * q->redis_ok), OPS_DB_UNAVAILABLE or OPS_DB_ERROR (q NULL, err says why). */
typedef void (*ops_queues_cb)(void *arg, enum ops_status st, const struct ops_queues *q,
                              const char *err);

/* ops_queues_json: appends {"channels":[{"channel","stream_length",
 * "in_flight","consumers","lag","scheduled","dead_letters","busiest_lanes":
 * [{"priority","lane","lag","in_flight"}],"backlog_tenants":[{"tenant",
 * "due"}]}]} (API.md), -1 as null, lane null for the version 1 stream. */
struct buf;
void ops_queues_json(struct buf *b, const struct ops_queues *q);

/* ops_queue_stats: the figures for all four channels: two SQL statements
 * and, per channel, XLEN and XINFO GROUPS of each stream, all sent at once. */
void ops_queue_stats(db *d, rds *r, ops_queues_cb cb, void *arg);

#define OPS_DLQ_LIMIT_MAX 1000

/* One page of dead letters. res holds the rows in NOTIF_COLS order, newest
 * failure first by (failed_at, id): render row i with
 * notif_view_from_row(page->res, i, 0, true, &v). */
struct ops_dlq_page {
    const PGresult *res; /* borrowed; rows 0..n-1 */
    int n;
    const char *next_cursor; /* NULL on the last page; borrowed */
};

typedef void (*ops_dlq_list_cb)(void *arg, enum ops_status st, const struct ops_dlq_page *page,
                                const char *err);

/* ops_dlq_page_json: appends {"data":[resources with tenant],"next_cursor"}. */
void ops_dlq_page_json(struct buf *b, const struct ops_dlq_page *page);

/* ops_dlq_cursor_ok: whether cursor was made by ops_dlq_list for this channel
 * and tenant filter (tenant NULL: every tenant). Never blocks. */
bool ops_dlq_cursor_ok(enum notif_channel ch, const char *tenant, const char *cursor);

/* ops_dlq_list: up to limit (1..OPS_DLQ_LIMIT_MAX) failed notifications of
 * channel ch, of the tenant named tenant (NULL: all), after cursor (NULL: from
 * the newest). Check the cursor with ops_dlq_cursor_ok first: one that does
 * not fit is treated as absent. Strings are copied. An unknown tenant name
 * answers OPS_UNKNOWN_TENANT. */
void ops_dlq_list(db *d, enum notif_channel ch, const char *tenant, int limit, const char *cursor,
                  ops_dlq_list_cb cb, void *arg);

#define OPS_REPLAY_IDS_MAX 1000

/* What a replay did (or, dry, would do). */
struct ops_replay_result {
    int64_t replayed;             /* failed rows now pending again (dry: that would be) */
    const char *const *not_found; /* the given ids that are no failed notification of
                                   * this channel, first occurrence order; borrowed */
    size_t n_not_found;
    int64_t enqueued;      /* added to the stream by this call; the rest are the sweeper's */
    bool redis_ok;         /* false: some XADD failed (rows left to the sweeper) */
    const char *redis_err; /* why, when !redis_ok; borrowed */
};

typedef void (*ops_replay_cb)(void *arg, enum ops_status st, const struct ops_replay_result *res,
                              const char *err);

/* ops_replay_json: appends {"replayed":n,"not_found":[ids]}. */
void ops_replay_json(struct buf *b, const struct ops_replay_result *res);

/* ops_dlq_replay: puts failed notifications of channel ch back to pending with
 * a fresh attempt budget, in one statement: status 'pending', due now,
 * budget_base = attempts, failed_at and the lease cleared, last_error kept
 * until the next attempt, delivery_attempts untouched. ids (n of them,
 * 1..OPS_REPLAY_IDS_MAX, valid UUIDs; copied) selects them, or every failed
 * row of the channel when ids is NULL. The first OPS_REPLAY_IDS_MAX replayed
 * rows are then XADDed here (marked in_stream first, like a new notification;
 * a failed XADD hands the row back to the sweeper), the rest are left to the
 * sweeper (in_stream false), so a huge "all" never floods one event loop.
 * dry_run counts and reports not_found without changing anything (r is not
 * used then and may be NULL).
 * The callback runs after the XADDs were answered. */
void ops_dlq_replay(db *d, rds *r, enum notif_channel ch, const char *const *ids, size_t n,
                    bool dry_run, ops_replay_cb cb, void *arg);

#endif
