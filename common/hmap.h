/* hmap: a string-keyed hash map of borrowed values, for caches and in-flight sets. */
#ifndef HERALD_COMMON_HMAP_H
#define HERALD_COMMON_HMAP_H

#include <stddef.h>

typedef struct hmap hmap;

/* hmap_new: caller frees with hmap_free(); values are never freed by the map. */
hmap *hmap_new(void);
void hmap_free(hmap *m);
/* hmap_free_with: hmap_free, after free_val(value) for every entry (the maps
 * that own their values). */
void hmap_free_with(hmap *m, void (*free_val)(void *val));
/* hmap_get: NULL when absent. */
void *hmap_get(const hmap *m, const char *key);
/* hmap_put: the key is copied; replaces and returns the old value (or NULL). */
void *hmap_put(hmap *m, const char *key, void *val);
/* hmap_del: returns the removed value (or NULL). */
void *hmap_del(hmap *m, const char *key);
size_t hmap_len(const hmap *m);
/* hmap_each: calls fn for every entry; fn must not change the map. */
void hmap_each(const hmap *m, void (*fn)(const char *key, void *val, void *arg), void *arg);

#endif
