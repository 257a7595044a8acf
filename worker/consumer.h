/* consumer: one channel's streams' consumer-group side: reading new entries,
 * reclaiming entries held too long by other consumers, and acknowledging. */
#ifndef HERALD_WORKER_CONSUMER_H
#define HERALD_WORKER_CONSUMER_H

#include "common/notif.h"
#include "common/rds.h"

#include <stdbool.h>

struct event_base;
struct cfg;
typedef struct cons cons;

#define CONS_TOKEN_LEN 48 /* an entry_id, NUL included */

/* One stream entry; both strings borrowed for the duration of the callback.
 * entry_id is a token naming the stream and the entry (shorter than
 * CONS_TOKEN_LEN): hold it as it is and give it back to cons_ack. */
struct cons_entry {
    const char *entry_id;
    const char *notif_id; /* NULL when the entry has no id field */
};

/* What the consumer asks of its owner. */
struct cons_hooks {
    /* batch: n entries read (reclaimed false) or taken over from another
     * consumer (reclaimed true). Each must eventually be cons_ack'ed, or left
     * to be reclaimed. */
    void (*batch)(void *arg, const struct cons_entry *e, int n, bool reclaimed);
    /* capacity: how many more entries the owner can take now. */
    int (*capacity)(void *arg);
    /* holds: the owner already works on this entry (reclaim skips it). */
    bool (*holds)(void *arg, const char *entry_id);
};

/* cons_new: reads with XREADGROUP ... BLOCK on rd (a connection of its own,
 * since a blocked read delays every command queued behind it) and sends
 * everything else on wr. Both are borrowed and must outlive the consumer;
 * consumer (the consumer name) is copied. Reading starts at once. Caller
 * frees with cons_free(), which cancels the commands in flight. */
cons *cons_new(struct event_base *base, rds *rd, rds *wr, enum notif_channel ch,
               const char *consumer, const struct cfg *c, const struct cons_hooks *hooks,
               void *arg);

/* cons_kick: capacity grew; read more if no read is outstanding. */
void cons_kick(cons *k);

/* cons_ack: XACK entry_id (copied), batched with others on the next loop
 * turn. Acknowledged entries leave the stream with a periodic XTRIM MINID
 * below the group's oldest pending entry. */
void cons_ack(cons *k, const char *entry_id);

/* cons_stop: no more reads or reclaims; a read already sent still delivers
 * its batch. Acks keep working. */
void cons_stop(cons *k);

/* cons_idle: nothing outstanding: no read, reclaim or ack in flight or queued. */
bool cons_idle(const cons *k);

/* cons_when_idle: fn(arg) runs once, on a later loop turn, when the consumer
 * is next idle (at once if it is now); a later call replaces it. */
void cons_when_idle(cons *k, void (*fn)(void *arg), void *arg);

/* cons_leave: XGROUP DELCONSUMER for this consumer (at a clean exit, once
 * every entry was acknowledged); fn(arg) runs when it is done or failed. */
void cons_leave(cons *k, void (*fn)(void *arg), void *arg);

/* cons_detach: cancels every command in flight and stops: the owner's hooks
 * are never called again. */
void cons_detach(cons *k);
void cons_free(cons *k);

#endif
