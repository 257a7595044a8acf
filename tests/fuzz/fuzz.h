/* fuzz: what every libFuzzer harness shares: the entry point, an invariant check that aborts,
 * and small helpers for slicing the input. */
#ifndef HERALD_TESTS_FUZZ_FUZZ_H
#define HERALD_TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* LLVMFuzzerTestOneInput: libFuzzer calls it once per input; data is borrowed for the call. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK: aborts with the failed condition when an invariant is broken, so
 * libFuzzer keeps the input as a crash. Unlike assert() it survives NDEBUG. */
#define FUZZ_CHECK(cond) fuzz_check((cond), #cond, __FILE__, __LINE__)

static inline void fuzz_check(bool ok, const char *what, const char *file, int line) {
    if (ok)
        return;
    fprintf(stderr, "invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}

/* fuzz_cstr: a NUL-terminated copy of data[0..n); caller frees with mem_free(). The copy may
 * hold NUL bytes of its own, so C-string parsers see a prefix of the input. */
static inline char *fuzz_cstr(const uint8_t *data, size_t n) {
    char *s = mem_alloc(n + 1);
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* fuzz_split: cuts data at the first sep byte: the head is data[0..*head_len), the tail
 * (borrowed) starts after sep. Returns false (head = everything, tail empty) when there is no
 * sep. */
static inline bool fuzz_split(const uint8_t *data, size_t size, uint8_t sep, size_t *head_len,
                              const uint8_t **tail, size_t *tail_len) {
    const uint8_t *at = size ? memchr(data, sep, size) : NULL;
    if (!at) {
        *head_len = size;
        *tail = data + size;
        *tail_len = 0;
        return false;
    }
    *head_len = (size_t)(at - data);
    *tail = at + 1;
    *tail_len = size - *head_len - 1;
    return true;
}

/* fuzz_utf8_ref: an independent well-formed UTF-8 check (RFC 3629: shortest form, no
 * surrogates, nothing above U+10FFFF), written differently from hjson_utf8_valid so the two
 * can be compared. *count gets the number of code points when it returns true. */
static inline bool fuzz_utf8_ref(const char *s, size_t n, size_t *count) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, cps = 0;
    while (i < n) {
        unsigned char b = u[i];
        uint32_t cp;
        size_t len;
        if (b < 0x80) {
            cp = b;
            len = 1;
        } else if ((b & 0xE0) == 0xC0) {
            cp = b & 0x1Fu;
            len = 2;
        } else if ((b & 0xF0) == 0xE0) {
            cp = b & 0x0Fu;
            len = 3;
        } else if ((b & 0xF8) == 0xF0) {
            cp = b & 0x07u;
            len = 4;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3Fu);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
        cps++;
    }
    if (count)
        *count = cps;
    return true;
}

#endif
