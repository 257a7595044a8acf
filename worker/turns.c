/* turns: a destination's waiting line in priority, floor and tenant order (pure). */
#include "worker/turns.h"
#include "common/list.h"
#include "common/mem.h"
#include "common/notif.h"
#include "worker/readplan.h"

#include <stdio.h>

struct turn_class {
    char *key;
    int prio;
    int running, waiting;
};

void turns_init(struct turns *t) {
    *t = (struct turns){.classes = hmap_new()};
}

static void turns_free_class(void *val) {
    struct turn_class *c = val;
    mem_free(c->key);
    mem_free(c);
}

void turns_fini(struct turns *t) {
    hmap_free_with(t->classes, turns_free_class);
    t->classes = NULL;
}

static int turns_prio(int prio) {
    return prio < 0 ? 0 : prio >= PRIO_COUNT ? PRIO_COUNT - 1 : prio;
}

static void turns_key(char *key, size_t len, int prio, const char *tenant) {
    snprintf(key, len, "%d/%s", turns_prio(prio), tenant ? tenant : "");
}

static void turns_release(struct turns *t, struct turn_class *c) {
    if (c->running == 0 && c->waiting == 0) {
        hmap_del(t->classes, c->key);
        mem_free(c->key);
        mem_free(c);
    }
}

static void turns_unlink(struct turns *t, struct turn *it) {
    DLIST_REMOVE(t->head, t->tail, it);
    it->waiting = false;
    it->cls->waiting--;
    t->places[it->cls->prio]--;
    t->waiting--;
}

void turns_push(struct turns *t, struct turn *it, int prio, const char *tenant) {
    char key[160];
    turns_key(key, sizeof(key), prio, tenant);
    struct turn_class *c = hmap_get(t->classes, key);
    if (!c) {
        c = mem_calloc(1, sizeof(*c));
        c->key = mem_strdup(key);
        c->prio = turns_prio(prio);
        hmap_put(t->classes, key, c);
    }
    it->cls = c;
    DLIST_APPEND(t->head, t->tail, it);
    it->waiting = true;
    c->waiting++;
    t->places[c->prio]++;
    t->waiting++;
}

struct turn *turns_next(struct turns *t) {
    /* per priority: the oldest turn of the class with the fewest running */
    struct turn *best[PRIO_COUNT] = {0};
    for (struct turn *it = t->head; it; it = it->next) {
        int p = it->cls->prio;
        if (!best[p] || it->cls->running < best[p]->cls->running)
            best[p] = it;
    }
    int top = 0;
    while (top < PRIO_COUNT && !best[top])
        top++;
    if (top == PRIO_COUNT)
        return NULL;
    struct turn *pick = best[top];
    for (int p = top + 1; p < PRIO_COUNT; p++)
        if (best[p] && t->owed[p] >= READPLAN_SHARE - 1) {
            pick = best[p];
            break;
        }
    /* a lower priority that waits is owed a start for every READPLAN_SHARE - 1 of others */
    for (int p = 0; p < PRIO_COUNT; p++)
        t->owed[p] = p > top && best[p] && p != pick->cls->prio ? t->owed[p] + 1 : 0;
    turns_unlink(t, pick);
    pick->cls->running++;
    t->running++;
    return pick;
}

void turns_leave(struct turns *t, struct turn *it) {
    struct turn_class *c = it->cls;
    turns_unlink(t, it);
    it->cls = NULL;
    turns_release(t, c);
}

void turns_done(struct turns *t, struct turn *it) {
    struct turn_class *c = it->cls;
    c->running--;
    t->running--;
    it->cls = NULL;
    turns_release(t, c);
}

bool turns_room(struct turns *t, int prio, const char *tenant, struct turn **victim) {
    *victim = NULL;
    int np = turns_prio(prio);
    if (t->places[np] < TURNS_KEEP)
        return true; /* whatever the limit: the priority's floor needs them */
    char key[160];
    turns_key(key, sizeof(key), np, tenant);
    const struct turn_class *mine = hmap_get(t->classes, key);
    int own = mine ? mine->waiting : 0;
    /* from the newest: a lower priority's (never its last TURNS_KEEP places),
     * the lowest first; else the same priority's class with the most, if
     * more than own + 1 */
    struct turn *v = NULL;
    for (struct turn *it = t->tail; it; it = it->prev) {
        const struct turn_class *c = it->cls;
        bool gives =
            c->prio > np ? t->places[c->prio] > TURNS_KEEP : c->prio == np && c->waiting > own + 1;
        if (gives && (!v || c->prio > v->cls->prio ||
                      (c->prio == v->cls->prio && c->waiting > v->cls->waiting)))
            v = it;
    }
    if (!v)
        return false;
    turns_leave(t, v);
    *victim = v;
    return true;
}
