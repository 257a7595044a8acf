/* dest: the destinations of one worker's channel (a webhook's
 * scheme://host:port as written, a provider for the other channels): whether
 * one may take another delivery now, and its circuit breaker
 * (common/breaker.h), shared with the channel's other workers through Redis.
 * A destination never holds the channel: beyond its limit (its host's
 * transfers and as many queued) and while its circuit is open, deliveries
 * are handed back to PostgreSQL, due a little later, unattempted; at the
 * limit, a newcomer of a quieter tenant or a higher priority takes the place
 * of one that is handed back instead (worker/turns.h). */
#ifndef HERALD_WORKER_DEST_H
#define HERALD_WORKER_DEST_H

#include "common/notif.h"
#include "common/rds.h"
#include "worker/dlv.h"
#include "worker/xfer.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct cfg;
typedef struct dests dests;

/* dest_new: x is the engine's transfers (borrowed); wr a Redis connection
 * (borrowed, may be NULL: circuits are then this worker's alone). The shared
 * circuits are read at once and then every refresh_ms. Never blocks. */
dests *dest_new(struct event_base *base, const struct cfg *c, enum notif_channel ch, rds *wr,
                xfer *x, int refresh_ms);

enum dest_admit { DEST_GO = 0, DEST_PROBE, DEST_FULL, DEST_HAND_BACK };

/* dest_admit: whether a delivery to host may start (or wait in its host's
 * short queue) now; DEST_PROBE: it may, as the half-open circuit's probe;
 * DEST_FULL: the host's queue is full: it may still wait there if
 * xfer_make_room makes room (the one that gives way is handed back instead);
 * otherwise, and on DEST_HAND_BACK, it is handed back unattempted, due again
 * in *delay_ms (the end of the open period, or about when the destination's
 * work ahead of it is done). */
enum dest_admit dest_admit(dests *s, const char *host, int64_t *delay_ms);

/* dest_result: a delivery admitted by dest_admit ended (probe: admitted as
 * DEST_PROBE); failed: see dest_failed. elapsed_ms is its transfer time. */
void dest_result(dests *s, const char *host, bool probe, bool failed, int64_t elapsed_ms);

/* dest_cancel_probe: a delivery admitted (as the probe when probe) never
 * started; the next one may probe. */
void dest_cancel_probe(dests *s, const char *host, bool probe);

/* dest_failed: whether a finished transfer to host counts against its
 * circuit: a timeout, a connection failure, or a 5xx HTTP answer. */
bool dest_failed(const char *host, const struct dlv_resp *resp);

/* dest_open: circuits open or half-open now, as this worker knows them. */
int dest_open(const dests *s);

/* dest_stop: cancels the refresh in flight; no more Redis commands or timers. */
void dest_stop(dests *s);
/* dest_free: after dest_stop. */
void dest_free(dests *s);

#endif
