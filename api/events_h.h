/* events_h: GET /v1/events, the tenant's status events oldest first, with a
 * long poll. Waiting requests hold no database connection: they are kept in
 * memory per tenant, and one LISTEN connection per API process (NOTIFY
 * herald_events from schema/009's trigger, payload the tenant id) wakes those
 * of the tenant, which then read again. */
#ifndef HERALD_API_EVENTS_H_H
#define HERALD_API_EVENTS_H_H

#include "api/api.h"

struct events_feed;

/* events_feed_start: opens the LISTEN connection and the recheck timer, and
 * defines the gauge herald_events_waiting. */
struct events_feed *events_feed_start(struct api_app *app);
/* events_feed_drain: answers every waiting request now (data empty), and
 * every later one without waiting (SIGTERM). */
void events_feed_drain(struct events_feed *f);
/* events_feed_stop: cancels its reads and answers every poll still waiting
 * (503 for those whose read was out, else an empty page); frees f. */
void events_feed_stop(struct events_feed *f);

void events_h_list(struct api_req *r);

#endif
