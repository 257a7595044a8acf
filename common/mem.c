/* mem: allocation wrappers with an abort-on-OOM policy and a test seam. */
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mem_allocator mem_current = {malloc, realloc, free};

void mem_set_allocator(const struct mem_allocator *a) {
    if (a)
        mem_current = *a;
    else
        mem_current = (struct mem_allocator){malloc, realloc, free};
}

static void mem_oom(size_t n) {
    char msg[96];
    int len =
        snprintf(msg, sizeof(msg), "{\"level\":\"error\",\"event\":\"mem.oom\",\"size\":%zu}\n", n);
    if (len > 0)
        (void)!write(2, msg, (size_t)len);
    abort();
}

void *mem_alloc(size_t n) {
    void *p = mem_current.alloc(n ? n : 1);
    if (!p)
        mem_oom(n);
    return p;
}

void *mem_try_alloc(size_t n) {
    return mem_current.alloc(n ? n : 1);
}

void *mem_calloc(size_t count, size_t size) {
    if (size && count > (size_t)-1 / size)
        mem_oom((size_t)-1);
    size_t n = count * size;
    void *p = mem_alloc(n);
    memset(p, 0, n ? n : 1);
    return p;
}

void *mem_realloc(void *p, size_t n) {
    void *q = mem_current.realloc(p, n ? n : 1);
    if (!q)
        mem_oom(n);
    return q;
}

char *mem_strdup(const char *s) {
    return mem_strndup(s, strlen(s));
}

char *mem_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = mem_alloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void mem_free(void *p) {
    if (p)
        mem_current.free(p);
}
