/* wmetrics: a worker's metric families, the gauges refreshed before each
 * scrape, and the stream figures polled from Redis. */
#ifndef HERALD_WORKER_WMETRICS_H
#define HERALD_WORKER_WMETRICS_H

#include "common/db.h"
#include "common/notif.h"
#include "common/rds.h"
#include "worker/engine.h"

struct event_base;
typedef struct wmetrics wmetrics;

/* wmetrics_start: defines the families, hooks them into e, polls the
 * channel's stream length and lag every few seconds, and when listen is not
 * NULL serves /metrics and /healthz there. Returns NULL with err filled when
 * the listener cannot be opened. Everything passed is borrowed. Stop it with
 * wmetrics_stop() before closing d and r. */
wmetrics *wmetrics_start(struct event_base *base, eng *e, db *d, rds *r, enum notif_channel ch,
                         const char *listen, char *err, size_t errlen);
void wmetrics_stop(wmetrics *w);

#endif
