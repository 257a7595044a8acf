/* turns: the waiting line of one destination, and the order its transfers
 * start in. A line is kept per class: a priority and a tenant. The next to
 * start is the highest priority's, and within it the tenant's with the
 * fewest running, so a tenant with a few waits for a few turns of a busy
 * one, not for its backlog; a lower priority that waits gets one start in
 * READPLAN_SHARE, the floor the reads keep too (worker/readplan.h).
 * When the line is full, a newcomer may take the place of one that gives way
 * to it (turns_room): the one displaced is handed back, never lost.
 * No I/O and no clock: worker/xfer.c drives it. */
#ifndef HERALD_WORKER_TURNS_H
#define HERALD_WORKER_TURNS_H

#include "common/hmap.h"
#include "common/notif.h"

#include <stdbool.h>

struct turn_class; /* a priority and a tenant at one destination */

/* One transfer's place; embedded in its owner, zeroed before turns_push. */
struct turn {
    struct turn_class *cls;
    struct turn *prev, *next; /* the line, oldest first, while waiting */
    bool waiting;
};

struct turns {
    struct turn *head, *tail; /* waiting, oldest first */
    int waiting, running;
    int owed[PRIO_COUNT];   /* starts of others while this priority waited */
    int places[PRIO_COUNT]; /* waiting, per priority */
    hmap *classes;          /* "<prio>/<tenant>" -> struct turn_class */
};

void turns_init(struct turns *t);
/* turns_fini: frees the line's classes; turns still in it or running are
 * forgotten (their owners must not call turns_done or turns_leave after). */
void turns_fini(struct turns *t);

/* turns_push: it waits at the end of the line, in class prio (0 first) and
 * tenant (any string; NULL is ""). */
void turns_push(struct turns *t, struct turn *it, int prio, const char *tenant);

/* turns_next: the waiting turn to start now (it counts as running from
 * here), or NULL when none waits. */
struct turn *turns_next(struct turns *t);

/* turns_leave: a waiting turn gives up its place (cancelled, or past its
 * deadline); turns_done: a running one finished. */
void turns_leave(struct turns *t, struct turn *it);
void turns_done(struct turns *t, struct turn *it);

/* A priority keeps this many places in a full line: its floor's start comes
 * every READPLAN_SHARE starts, and a second one read meanwhile must not be
 * handed back. */
#define TURNS_KEEP 2

/* turns_room: whether a newcomer of prio and tenant may wait in a full line:
 * yes while its priority holds fewer than TURNS_KEEP places (the line is
 * then longer, by TURNS_KEEP per priority at most); or when a turn gives way
 * to it, taken out of the line into *victim: the newest of the lowest
 * priority below prio that holds more than TURNS_KEEP places, else of the
 * class of prio that holds the most places, if more than one more than the
 * newcomer's. */
bool turns_room(struct turns *t, int prio, const char *tenant, struct turn **victim);

#endif
