/* batch: group commit. Items gather in a queue; at most max_inflight groups
 * are being written at once, and while they are, new items wait, so the next
 * group takes all of them (up to max_weight). A group whose statement failed
 * is sent again after retry_ms, or its items go back to the queue's front.
 * Used by the API's writer (notification inserts) and the worker's outcome
 * records. The queue and group arithmetic (batch_list_*) is pure. */
#ifndef HERALD_COMMON_BATCH_H
#define HERALD_COMMON_BATCH_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

/* A queued thing, embedded in the owner's item (find the item with
 * offsetof). weight: what max_weight counts (rows, or 1 per item). */
struct batch_item {
    struct batch_item *next;
    size_t weight;
};

/* A FIFO of items; zero-initialised is empty. */
struct batch_list {
    struct batch_item *head, *tail;
    size_t count, weight;
};

void batch_list_push(struct batch_list *l, struct batch_item *it);
/* batch_list_take: moves the longest prefix of l whose weight stays within
 * max_weight (always at least its first item, however heavy) into out
 * (which must be empty). */
void batch_list_take(struct batch_list *l, size_t max_weight, struct batch_list *out);
/* batch_list_prepend: puts every item of front before l's, in front's order;
 * front is left empty. */
void batch_list_prepend(struct batch_list *l, struct batch_list *front);
struct batch_item *batch_list_pop(struct batch_list *l);

typedef struct batch_queue batch_queue;

/* A group being written: items are the owner's until the group is settled
 * by exactly one of batch_group_done, _retry or _requeue. */
struct batch_group {
    batch_queue *q;
    struct batch_list items;
    void *data;  /* the owner's, for the statement's callback */
    int pending; /* the owner's: e.g. statements the group still waits for */
};

struct batch_cfg {
    int max_inflight;  /* groups sent and not settled */
    size_t max_weight; /* per group */
    int retry_ms;      /* batch_group_retry's wait */
    /* at_once: a free slot takes a group at once, inside batch_add or the
     * settling call (the writer: a lone request is not held a loop turn);
     * otherwise groups form on the next loop turn, so that what one turn
     * produced goes together (the worker's outcomes). */
    bool at_once;
    /* send: write g (one statement); its callback settles g. */
    void (*send)(void *arg, struct batch_group *g);
    void *arg;
};

/* batch_queue_new: cfg is copied. Caller frees with batch_queue_free. */
batch_queue *batch_queue_new(struct event_base *base, const struct batch_cfg *cfg);
/* batch_queue_free: hands every item it still holds to drop (may be NULL),
 * in queue order: first those of groups sent and not settled (sent true:
 * their statement may have been written), then those still queued. The
 * owner cancels the groups' statements first. */
void batch_queue_free(batch_queue *q, void (*drop)(void *arg, struct batch_item *it, bool sent),
                      void *arg);

/* batch_add: queues it; a group is sent (at once or on the next loop turn,
 * as cfg says) if a slot is free. */
void batch_add(batch_queue *q, struct batch_item *it);

/* batch_group_done: the group was written (or given up); frees g and lets
 * the next group go. The items are the owner's again (it may move them out
 * of g->items first). */
void batch_group_done(struct batch_group *g);
/* batch_group_retry: sends the same group again after retry_ms; its slot is
 * free meanwhile. */
void batch_group_retry(struct batch_group *g);
/* batch_group_requeue: the items go back to the queue's front, in order, and
 * are grouped again (with what arrived meanwhile); frees g. */
void batch_group_requeue(struct batch_group *g);

/* batch_queued: weight waiting for a group; batch_weight: plus the weight
 * of every group not settled. batch_inflight: groups sent, not settled. */
size_t batch_queued(const batch_queue *q);
size_t batch_weight(const batch_queue *q);
int batch_inflight(const batch_queue *q);

#endif
