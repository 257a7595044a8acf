/* hmap: chained hash map with FNV-1a hashing and doubling growth. */
#include "common/hmap.h"
#include "common/mem.h"

#include <stdint.h>
#include <string.h>

struct hmap_ent {
    char *key;
    void *val;
    uint64_t hash;
    struct hmap_ent *next;
};

struct hmap {
    struct hmap_ent **slots;
    size_t nslots;
    size_t len;
};

static uint64_t hmap_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

hmap *hmap_new(void) {
    hmap *m = mem_calloc(1, sizeof(*m));
    m->nslots = 64;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    m->slots = mem_calloc(m->nslots, sizeof(*m->slots));
    return m;
}

void hmap_free_with(hmap *m, void (*free_val)(void *val)) {
    if (!m)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        struct hmap_ent *e = m->slots[i];
        while (e) {
            struct hmap_ent *n = e->next;
            if (free_val)
                free_val(e->val);
            mem_free(e->key);
            mem_free(e);
            e = n;
        }
    }
    mem_free(m->slots);
    mem_free(m);
}

void hmap_free(hmap *m) {
    hmap_free_with(m, NULL);
}

static struct hmap_ent **hmap_find(const hmap *m, const char *key, uint64_t h) {
    struct hmap_ent **pp = &m->slots[h & (m->nslots - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *hmap_get(const hmap *m, const char *key) {
    struct hmap_ent **pp = hmap_find(m, key, hmap_hash(key));
    return *pp ? (*pp)->val : NULL;
}

static void hmap_grow(hmap *m) {
    size_t n = m->nslots * 2;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    struct hmap_ent **slots = mem_calloc(n, sizeof(*slots));
    for (size_t i = 0; i < m->nslots; i++) {
        struct hmap_ent *e = m->slots[i];
        while (e) {
            struct hmap_ent *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    mem_free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

void *hmap_put(hmap *m, const char *key, void *val) {
    uint64_t h = hmap_hash(key);
    struct hmap_ent **pp = hmap_find(m, key, h);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    struct hmap_ent *e = mem_alloc(sizeof(*e));
    e->key = mem_strdup(key);
    e->val = val;
    e->hash = h;
    e->next = NULL;
    *pp = e;
    if (++m->len > m->nslots)
        hmap_grow(m);
    return NULL;
}

void *hmap_del(hmap *m, const char *key) {
    struct hmap_ent **pp = hmap_find(m, key, hmap_hash(key));
    struct hmap_ent *e = *pp;
    if (!e)
        return NULL;
    void *val = e->val;
    *pp = e->next;
    mem_free(e->key);
    mem_free(e);
    m->len--;
    return val;
}

size_t hmap_len(const hmap *m) {
    return m->len;
}

void hmap_each(const hmap *m, void (*fn)(const char *key, void *val, void *arg), void *arg) {
    for (size_t i = 0; i < m->nslots; i++)
        for (struct hmap_ent *e = m->slots[i]; e; e = e->next)
            fn(e->key, e->val, arg);
}
