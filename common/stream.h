/* stream: the Redis Stream names and message format that carry notification
 * ids from PostgreSQL to the workers, and the dead-letter feed. */
#ifndef HERALD_COMMON_STREAM_H
#define HERALD_COMMON_STREAM_H

#include "common/notif.h"
#include "common/rds.h"

#include <stdbool.h>
#include <stdint.h>

/* The format (version 1):
 *   herald:stream:<channel>  XADD * id <notification uuid>
 *                            consumer group "herald", created at 0 with MKSTREAM
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
 *   4. Update heraldctl queues, the admin queues route and ARCHITECTURE.md. */
#define STREAM_KEY_PREFIX "herald:stream:"
#define STREAM_DLQ_PREFIX "herald:dlq:"
#define STREAM_GROUP "herald"
#define STREAM_FIELD_ID "id"
#define STREAM_KEY_LEN 40 /* a key buffer, NUL included */

/* stream_key, stream_dlq_key: the channel's stream / dead-letter key into out[STREAM_KEY_LEN]. */
void stream_key(enum notif_channel ch, char *out);
void stream_dlq_key(enum notif_channel ch, char *out);

/* stream_add: XADD <channel stream> * id <id>. cb (may be NULL) gets the
 * reply as rds_command gives it; use stream_reply_ok to check it. id is copied.
 * These return rds_command's handle. */
struct req *stream_add(rds *r, enum notif_channel ch, const char *id, rds_cb cb, void *arg);

/* stream_add_dlq: adds one dead letter to the channel's feed, trimming entries
 * older than retention_days (MINID ~, so trimming is cheap and approximate).
 * Strings are copied; tenant and error may be NULL. */
struct req *stream_add_dlq(rds *r, enum notif_channel ch, const char *id, const char *tenant,
                           const char *error, int64_t failed_at_ms, int retention_days, rds_cb cb,
                           void *arg);

/* stream_create_group: XGROUP CREATE <stream> herald 0 MKSTREAM; cb gets the
 * reply; an existing group (BUSYGROUP) counts as success in stream_reply_ok. */
struct req *stream_create_group(rds *r, enum notif_channel ch, rds_cb cb, void *arg);

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

#endif
