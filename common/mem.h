/* mem: the one allocator every Herald module goes through, so tests can swap it. */
#ifndef HERALD_COMMON_MEM_H
#define HERALD_COMMON_MEM_H

#include <stddef.h>

#define HD_MUSTCHECK __attribute__((warn_unused_result))
#define HD_ERR_LEN 256
#define HD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* mem_alloc, mem_calloc, mem_realloc, mem_strdup, mem_strndup: abort on
 * out-of-memory. Use only for small sizes the program chooses; caller frees
 * with mem_free(). */
void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);

/* mem_try_alloc: returns NULL on failure. Mandatory for sizes that come from a
 * request. Caller frees with mem_free(). */
void *mem_try_alloc(size_t n) HD_MUSTCHECK;

/* mem_free: releases anything the functions above returned; NULL is fine. */
void mem_free(void *p);

/* mem_set_allocator: test seam; NULL restores malloc/realloc/free. */
struct mem_allocator {
    void *(*alloc)(size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
};
void mem_set_allocator(const struct mem_allocator *a);

#endif
