/* stream: the Redis Stream names and message format that carry notification
 * ids from PostgreSQL to the workers, and the dead-letter feed. */
#ifndef HERALD_COMMON_STREAM_H
#define HERALD_COMMON_STREAM_H

#include "common/notif.h"
#include "common/rds.h"

#include <stdbool.h>
#include <stdint.h>

/* The format (version 2: lanes):
 *   herald:stream:{<channel>.<p>.<lane>}   XADD * id <notification uuid>
 *       p is h, n or l (the priority), lane 0..HERALD_LANES-1 is a hash of the
 *       tenant id (stream_lane_of), so one tenant's backlog fills one lane
 *       per priority. The braces are a Redis Cluster hash tag: each stream
 *       can live on its own slot or server later; no command spans two
 *       streams except a consumer's XREADGROUP of several lanes, which a
 *       cluster client would split per slot.
 *       consumer group "herald" on each, created at 0 with MKSTREAM
 *   herald:stream:<channel>  the single stream of version 1: no longer
 *       written; workers still read it (when it exists) until it is empty
 *   herald:dlq:<channel>     XADD MINID ~ <now - retention> *
 *                            id <uuid> tenant <name> error <last_error> failed_at <RFC 3339>
 * An entry carries only the id: PostgreSQL holds everything else, so a lost or
 * repeated entry never loses or changes a notification (the claim query
 * decides whether an entry still means work). Workers acknowledge with XACK
 * and remove acknowledged entries with XTRIM MINID (never XDEL, whose
 * tombstones make XINFO GROUPS report the lag as unknown), so the stream
 * holds what waits plus what is in flight.
 *
 * How to change this:
 *   1. Only ever add fields to an entry; readers ignore fields they do not know
 *      and must keep accepting entries without the new field.
 *   2. To change a key name or the meaning of a field, add the new key beside
 *      the old one, deploy workers that read both, then writers (API, sweeper)
 *      that write the new one, and drop the old reader after a full visibility
 *      timeout with an empty old stream (heraldctl queues shows it).
 *   3. The group name is shared by every worker replica: renaming it means
 *      creating the new group at the old group's last-delivered-id first.
 *   4. HERALD_LANES must be the same everywhere; changing it strands entries
 *      in lanes no worker reads until the sweeper's orphan step re-adds their
 *      rows (after HERALD_SWEEP_GRACE_MS): drain first, or accept that delay.
 *   5. Update heraldctl queues, the admin queues route and ARCHITECTURE.md. */
#define STREAM_KEY_PREFIX "herald:stream:"
#define STREAM_DLQ_PREFIX "herald:dlq:"
#define STREAM_GROUP "herald"
#define STREAM_FIELD_ID "id"
#define STREAM_KEY_LEN 40 /* a key buffer, NUL included */

#define STREAM_LANES_MAX 64

/* stream_set_lanes: HERALD_LANES (1..STREAM_LANES_MAX; 8 until set), set by
 * cfg_load. stream_lanes: the current value. */
void stream_set_lanes(int lanes);
int stream_lanes(void);
/* stream_lane_of: the lane of a tenant's notifications (a hash of its id). */
int stream_lane_of(int64_t tenant_id);

/* stream_key, stream_dlq_key: the channel's version 1 stream (still read,
 * never written) / dead-letter key into out[STREAM_KEY_LEN]. */
void stream_key(enum notif_channel ch, char *out);
void stream_dlq_key(enum notif_channel ch, char *out);

/* One committed pending row to put into its stream. */
struct stream_item {
    const char *id; /* notification uuid */
    enum notif_channel ch;
    int64_t tenant_id;
    enum notif_priority priority;
};

/* stream_add: XADD <the item's stream> * id <id>. cb (may be NULL) gets the
 * reply as rds_command gives it; use stream_reply_ok to check it. Copied.
 * Writers use stream_enqueue, which hands failures back to the sweeper.
 * These three return rds_command's handle. */
struct req *stream_add(rds *r, const struct stream_item *it, rds_cb cb, void *arg);

/* stream_add_dlq: adds one dead letter to the channel's feed, trimming entries
 * older than retention_days (MINID ~, so trimming is cheap and approximate).
 * Strings are copied; tenant and error may be NULL. */
struct req *stream_add_dlq(rds *r, enum notif_channel ch, const char *id, const char *tenant,
                           const char *error, int64_t failed_at_ms, int retention_days, rds_cb cb,
                           void *arg);

/* stream_create_group: XGROUP CREATE <stream i of ch> herald 0, with
 * MKSTREAM unless i is the version 1 stream (which is never re-created); cb
 * gets the reply; an existing group (BUSYGROUP) counts as success in
 * stream_reply_ok. */
struct req *stream_create_group(rds *r, enum notif_channel ch, int i, rds_cb cb, void *arg);

/* stream_reply_ok: true unless reply is NULL or an error reply (BUSYGROUP
 * excepted). */
bool stream_reply_ok(const redisReply *reply);
/* stream_reply_nogroup: the reply is a NOGROUP error (the group or the stream
 * is gone, e.g. Redis lost its data): re-create the group. */
bool stream_reply_nogroup(const redisReply *reply);

/* stream_entry_id_ms: the millisecond part of an entry id "<ms>-<seq>"; -1
 * when s is not one. */
int64_t stream_entry_id_ms(const char *s);

/* stream_entry_notif_id: the id field of an entry as XREADGROUP/XAUTOCLAIM
 * return it ([entry id, [field, value, ...]]). Borrowed from entry; NULL when
 * it has none or the entry is malformed. *entry_id (may be NULL) gets the
 * entry id, borrowed, or NULL. */
const char *stream_entry_notif_id(const redisReply *entry, const char **entry_id);

/* ---- reading XINFO replies (parsed here only) -------------------------- */

/* stream_xinfo_field: the value after name in a flat [field, value, ...]
 * array (XINFO GROUPS / CONSUMERS rows), borrowed; NULL when absent or a is
 * not an array. */
const redisReply *stream_xinfo_field(const redisReply *a, const char *name);
/* stream_xinfo_int: an integer (or numeric string) value; -1 for nil or absent. */
int64_t stream_xinfo_int(const redisReply *v);

#define STREAM_ID_LEN 48 /* an entry id "<ms>-<seq>", NUL included */

/* The "herald" group of one stream, from its XINFO GROUPS reply. */
struct stream_group {
    bool stream;       /* the key exists */
    bool group;        /* the group exists */
    int64_t consumers; /* 0 without a group */
    int64_t pending;   /* entries read and not acknowledged; 0 without a group */
    int64_t lag;       /* entries not yet read; -1 without a group or when Redis cannot tell */
    char last_delivered[STREAM_ID_LEN]; /* "" without a group */
    int64_t last_delivered_ms;          /* -1 without a group */
};

/* stream_group_parse: fills g from an XINFO GROUPS reply. A "no such key"
 * error is a stream that does not exist (true, g->stream false). false when
 * reply is NULL, another error or malformed; *err (may be NULL) then says why
 * (borrowed from reply, or a constant). */
bool stream_group_parse(const redisReply *reply, struct stream_group *g, const char **err);

/* One consumer of an XINFO CONSUMERS reply; name borrowed from the reply. */
struct stream_consumer {
    const char *name;
    int64_t pending, idle_ms; /* -1 when absent */
};
/* stream_consumer_at: the i-th consumer of an XINFO CONSUMERS reply; false
 * past the end or when the row is malformed (skip it). */
size_t stream_consumers_count(const redisReply *reply);
bool stream_consumer_at(const redisReply *reply, size_t i, struct stream_consumer *c);

/* ---- a channel's streams together -------------------------------------- */

/* A channel's streams are numbered: i = priority * lanes + lane for the
 * lanes, and stream_legacy() (the last) for the version 1 stream.
 * stream_count: how many; stream_index: of a priority's lane;
 * stream_priority_at / stream_lane_at: what stream i is (the version 1
 * stream counts as normal, lane -1); stream_key_at: its key into
 * out[STREAM_KEY_LEN]. */
int stream_count(void);
int stream_legacy(void);
int stream_index(enum notif_priority p, int lane);
enum notif_priority stream_priority_at(int i);
int stream_lane_at(int i);
void stream_key_at(enum notif_channel ch, int i, char *out);

/* One stream's figures in a channel's info. */
struct stream_figures {
    char key[STREAM_KEY_LEN];
    int64_t length; /* XLEN; -1 when Redis did not answer */
    struct stream_group g;
};

/* What Redis says about all of a channel's streams. */
struct stream_info {
    enum notif_channel ch;
    bool ok;         /* every command answered; else err says why and totals are -1 */
    const char *err; /* borrowed */
    int n;           /* streams */
    const struct stream_figures *s; /* n of them, borrowed */
    int64_t length;                 /* sum of XLEN */
    int64_t pending;                /* sum of the groups' pending entries */
    int64_t consumers;              /* the most consumers of any stream's group */
    int64_t lag;                    /* sum of lags; -1 when some stream with entries has no
                                     * group or a lag Redis cannot tell, or no stream has a group */
};
typedef void (*stream_info_cb)(void *arg, const struct stream_info *info);

/* stream_info: XLEN and XINFO GROUPS of every stream of ch, all sent at once;
 * cb runs once, after the last reply (inside this call only when r was shut
 * down). Its commands join scope (may be NULL): cancelling the scope
 * cancels the whole query, and cb never runs. */
void stream_info(rds *r, enum notif_channel ch, struct req_scope *scope, stream_info_cb cb,
                 void *arg);

/* stream_orphan_cutoff: the sweeper's cutoff (wall clock ms) for the
 * channel's orphans from its info: rows enqueued before it can have lost
 * their entry. grace_cutoff is now - HERALD_SWEEP_GRACE_MS; skew_ms the clock
 * difference tolerated between Redis and PostgreSQL. Per stream: no stream,
 * or a group with a lag of 0: grace_cutoff; a backlog (or an unknown lag):
 * the group's last-delivered entry less skew_ms, at most grace_cutoff;
 * entries but no group: skip. The channel's cutoff is the earliest; -1 means
 * skip the channel this cycle. */
int64_t stream_orphan_cutoff(const struct stream_info *info, int64_t grace_cutoff, int64_t skew_ms);

/* ---- enqueue with fallback --------------------------------------------- */

struct stream_enqueued {
    size_t enqueued; /* XADDs that succeeded */
    size_t failed;   /* handed back to the sweeper (in_stream = false) */
    const char *err; /* the first failure, when failed > 0; borrowed */
};
typedef void (*stream_enqueue_cb)(void *arg, const struct stream_enqueued *res);

/* stream_enqueue: XADDs the n items (copied; pipelined), each into its
 * stream. Rows whose XADD failed are handed back to the sweeper with one
 * UPDATE ... SET in_stream = false (only rows still pending and in_stream);
 * if even that fails, the sweeper's orphan step finds them after its grace
 * period. cb (may be NULL) runs once, after the XADDs and that UPDATE were
 * answered (n == 0: at once). r and d must stay open until then (shutting them
 * is fine). Its requests join scope (may be NULL: a fire-and-forget enqueue);
 * cancelling the scope drops what is left, and cb never runs. */
struct db; /* common/db.h */
void stream_enqueue(rds *r, struct db *d, const struct stream_item *items, size_t n,
                    struct req_scope *scope, stream_enqueue_cb cb, void *arg);

#endif
