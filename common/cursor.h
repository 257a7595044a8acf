/* cursor: opaque keyset cursors over (time, id), bound to a scope (tenant and filters). */
#ifndef HERALD_COMMON_CURSOR_H
#define HERALD_COMMON_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CURSOR_LEN 44 /* base64url of 32 bytes, + NUL */

/* cursor_encode: a cursor for the position (ms, id) under scope (any text
 * naming the tenant and the filters) into out[CURSOR_LEN]. id is a UUID
 * string. */
void cursor_encode(int64_t ms, const char *id, const char *scope, char *out);

/* cursor_decode: checks s against scope; fills ms and id[37]. Returns 0, or
 * -1 when s is malformed or was made for another scope. */
int cursor_decode(const char *s, const char *scope, int64_t *ms, char *id);

#endif
