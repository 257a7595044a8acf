/* batch: group commit of queued items: at most N groups in flight, the next
 * group sent when the loop is idle, failed groups retried or requeued. */
#include "common/batch.h"
#include "common/list.h"
#include "common/mem.h"

#include <event2/event.h>

struct group_slot {
    struct batch_group g; /* first: a group is its slot */
    struct event *retry;  /* batch_group_retry's timer */
    bool waiting;         /* waiting for its retry; holds no slot */
    size_t weight;        /* its items' when it was formed (the owner may take them) */
    struct group_slot *prev, *next;
};

struct batch_queue {
    struct event_base *base;
    struct batch_cfg cfg;
    struct batch_list queue;
    struct event *flush; /* zero-delay: form groups on the next turn */
    struct group_slot *groups;
    int inflight;
    size_t group_weight; /* of every group not settled */
};

void batch_list_push(struct batch_list *l, struct batch_item *it) {
    QUEUE_APPEND(l->head, l->tail, it);
    l->count++;
    l->weight += it->weight;
}

struct batch_item *batch_list_pop(struct batch_list *l) {
    struct batch_item *it = l->head;
    if (!it)
        return NULL;
    l->head = it->next;
    if (!l->head)
        l->tail = NULL;
    it->next = NULL;
    l->count--;
    l->weight -= it->weight;
    return it;
}

void batch_list_take(struct batch_list *l, size_t max_weight, struct batch_list *out) {
    while (l->head && (out->count == 0 || out->weight + l->head->weight <= max_weight))
        batch_list_push(out, batch_list_pop(l));
}

void batch_list_prepend(struct batch_list *l, struct batch_list *front) {
    if (!front->head)
        return;
    front->tail->next = l->head;
    if (!l->tail)
        l->tail = front->tail;
    l->head = front->head;
    l->count += front->count;
    l->weight += front->weight;
    *front = (struct batch_list){0};
}

static void batch_flush_soon(batch_queue *q) {
    if (q->queue.head && q->inflight < q->cfg.max_inflight && !evtimer_pending(q->flush, NULL)) {
        struct timeval zero = {0, 0};
        evtimer_add(q->flush, &zero);
    }
}

static void batch_flush(batch_queue *q) {
    while (q->queue.head && q->inflight < q->cfg.max_inflight) {
        struct group_slot *s = mem_calloc(1, sizeof(*s));
        s->g.q = q;
        batch_list_take(&q->queue, q->cfg.max_weight, &s->g.items);
        s->weight = s->g.items.weight;
        s->next = q->groups;
        if (q->groups)
            q->groups->prev = s;
        q->groups = s;
        q->inflight++;
        q->group_weight += s->g.items.weight;
        q->cfg.send(q->cfg.arg, &s->g);
    }
}

static void batch_flush_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    batch_flush(arg);
}

/* batch_next: a slot may be free and items wait: form the next group(s). */
static void batch_next(batch_queue *q) {
    if (q->cfg.at_once)
        batch_flush(q);
    else
        batch_flush_soon(q);
}

/* batch_settle: unlinks and frees g's slot; the items are the caller's. */
static void batch_settle(struct batch_group *g) {
    struct group_slot *s = (struct group_slot *)g;
    batch_queue *q = g->q;
    LIST_UNLINK(q->groups, s);
    if (!s->waiting)
        q->inflight--;
    q->group_weight -= s->weight;
    if (s->retry)
        event_free(s->retry);
    mem_free(s);
    batch_next(q);
}

void batch_group_done(struct batch_group *g) {
    batch_settle(g);
}

void batch_group_requeue(struct batch_group *g) {
    batch_queue *q = g->q;
    batch_list_prepend(&q->queue, &g->items);
    batch_settle(g);
}

static void batch_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct group_slot *s = arg;
    batch_queue *q = s->g.q;
    /* sent again at once, even beyond max_inflight: it was first in line */
    s->waiting = false;
    q->inflight++;
    q->cfg.send(q->cfg.arg, &s->g);
}

void batch_group_retry(struct batch_group *g) {
    struct group_slot *s = (struct group_slot *)g;
    batch_queue *q = g->q;
    if (!s->retry)
        s->retry = evtimer_new(q->base, batch_retry_cb, s);
    s->waiting = true;
    q->inflight--;
    struct timeval tv = {q->cfg.retry_ms / 1000, (q->cfg.retry_ms % 1000) * 1000};
    evtimer_add(s->retry, &tv);
    batch_flush_soon(q);
}

void batch_add(batch_queue *q, struct batch_item *it) {
    batch_list_push(&q->queue, it);
    batch_next(q);
}

size_t batch_queued(const batch_queue *q) {
    return q->queue.weight;
}

size_t batch_weight(const batch_queue *q) {
    return q->queue.weight + q->group_weight;
}

int batch_inflight(const batch_queue *q) {
    return q->inflight;
}

batch_queue *batch_queue_new(struct event_base *base, const struct batch_cfg *cfg) {
    batch_queue *q = mem_calloc(1, sizeof(*q));
    q->base = base;
    q->cfg = *cfg;
    if (q->cfg.max_inflight < 1)
        q->cfg.max_inflight = 1;
    q->flush = evtimer_new(base, batch_flush_cb, q);
    return q;
}

void batch_queue_free(batch_queue *q, void (*drop)(void *arg, struct batch_item *it, bool sent),
                      void *arg) {
    if (!q)
        return;
    /* the oldest group first: groups are linked newest first */
    struct group_slot *s = q->groups;
    while (s && s->next)
        s = s->next;
    struct batch_list sent = {0}, queued = q->queue;
    for (; s; s = s->prev) {
        struct batch_list items = s->g.items;
        s->g.items = (struct batch_list){0};
        while (items.head)
            batch_list_push(&sent, batch_list_pop(&items));
    }
    while (q->groups) {
        struct group_slot *n = q->groups->next;
        if (q->groups->retry)
            event_free(q->groups->retry);
        mem_free(q->groups);
        q->groups = n;
    }
    event_free(q->flush);
    mem_free(q);
    struct batch_item *it;
    while ((it = batch_list_pop(&sent)))
        if (drop)
            drop(arg, it, true);
    while ((it = batch_list_pop(&queued)))
        if (drop)
            drop(arg, it, false);
}
