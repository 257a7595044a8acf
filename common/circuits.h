/* circuits: the destinations held back now (open and half-open circuits of
 * common/breaker.h), read from Redis for GET /v1/admin/destinations and
 * heraldctl destinations, and their JSON. */
#ifndef HERALD_COMMON_CIRCUITS_H
#define HERALD_COMMON_CIRCUITS_H

#include "common/breaker.h"
#include "common/buf.h"
#include "common/rds.h"

#include <stdbool.h>

struct circ_row {
    enum notif_channel ch;
    char *destination;
    struct brk b;
};

struct circ_list {
    struct circ_row *rows; /* by channel, then destination */
    int n;
    bool redis_ok;
    const char *err; /* !redis_ok: why */
};

/* circ_read: every channel's circuits (ch < 0) or one channel's, pipelined
 * HGETALLs on r; cb runs once with the list (borrowed for the call). */
typedef void (*circ_cb)(void *arg, const struct circ_list *l);
void circ_read(rds *r, int ch, circ_cb cb, void *arg);

/* circ_json: {"data": [{"channel", "destination", "state", "failures",
 * "waiting", "since"}]} with the state at now_ms (API.md). */
void circ_json(struct buf *b, const struct circ_list *l, int64_t now_ms);

#endif
