/* buf: a growable byte buffer, always NUL-terminated, for building text. */
#ifndef HERALD_COMMON_BUF_H
#define HERALD_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* owned; NUL-terminated; NULL until the first append */
    size_t len; /* bytes, not counting the NUL */
    size_t cap;
};

/* buf_*: append; abort on out-of-memory like mem_alloc. */
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_json_str: appends s (n bytes) as a quoted JSON string, escaping as RFC 8259 needs. */
void buf_json_str(struct buf *b, const char *s, size_t n);
/* buf_json_member: appends ,"key": and then s (NUL-terminated) as a JSON
 * string, or null when s is NULL. key is written as it is. */
void buf_json_member(struct buf *b, const char *key, const char *s);
void buf_reset(struct buf *b);
/* buf_free: releases data; the struct may be reused. */
void buf_free(struct buf *b);
/* buf_steal: returns data (caller frees with mem_free) and empties b; never NULL. */
char *buf_steal(struct buf *b);

#endif
