/* json: a strict RFC 8259 parser that builds json-c trees, and the UTF-8 checks request text needs.
 */
#ifndef HERALD_COMMON_JSON_H
#define HERALD_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

#define HJSON_MAX_DEPTH 64 /* objects and arrays nested deeper than this are refused */

/* hjson_parse: parses len bytes of buf (not NUL-terminated; any bytes are safe)
 * as one JSON object and returns a new json-c tree; caller releases it with
 * json_object_put(). On error returns NULL and writes a short message into
 * err (errlen bytes; err may be NULL when errlen is 0).
 *
 * Refused (the API's 400 invalid_json): any syntax error, a top level that is
 * not an object, a duplicate key in any object, NaN/Infinity, comments, single
 * quotes, trailing commas, leading zeros, unescaped control characters in
 * strings, bad escapes, nesting deeper than HJSON_MAX_DEPTH, anything but
 * whitespace after the object, an object key holding a NUL (json-c keys are C
 * strings), and input over INT_MAX bytes. Out of memory is an error too.
 *
 * Kept, so the validator can answer 422 naming the field: raw invalid UTF-8 in
 * strings and keys (bytes as they came), a lone surrogate escape (as its 3-byte
 * CESU-8 form, e.g. \ud800 -> ED A0 80) and \u0000 (a NUL inside a string
 * value; json-c strings carry their length). Integers that fit int64 become
 * int objects; every other number a double that keeps its source text, so
 * re-serialising prints it unchanged. Does not block; recursion depth is
 * bounded by HJSON_MAX_DEPTH. */
struct json_object *hjson_parse(const char *buf, size_t len, char *err, size_t errlen);

enum hjson_error {
    HJSON_OK = 0,
    HJSON_INVALID,  /* not what hjson_parse accepts (or out of memory) */
    HJSON_TOO_MANY, /* more than max_values values */
};

/* hjson_parse_bounded: hjson_parse that stops once more than max_values
 * values (every object, array, string, number, true, false and null, keys
 * not counted) were read, so the work a request can cause is bounded before
 * it is done. *why (may be NULL) says which failure it was. */
struct json_object *hjson_parse_bounded(const char *buf, size_t len, size_t max_values,
                                        enum hjson_error *why, char *err, size_t errlen);

/* hjson_size: the bytes json-c writes for o, an object or array from
 * hjson_parse*, serialised compact with JSON_C_TO_STRING_NOSLASHESCAPE:
 * measured while parsing, so a size limit needs no serialising. false for a
 * tree made any other way (or changed since: do not add to parsed trees
 * whose size will be asked). */
bool hjson_size(struct json_object *o, size_t *size);

/* hjson_utf8_valid: true when s[0..n) is well-formed UTF-8: no overlong forms,
 * no surrogates (so no CESU-8), nothing above U+10FFFF. NUL bytes are valid
 * UTF-8; callers that refuse them check separately. */
bool hjson_utf8_valid(const char *s, size_t n);

/* hjson_utf8_count: the number of code points in s[0..n) when it is valid
 * UTF-8 (for other input: the number of bytes that are not continuation bytes). */
size_t hjson_utf8_count(const char *s, size_t n);

/* hjson_utf8_clean: appends s[0..n) to out as valid UTF-8: each byte that
 * starts no well-formed sequence becomes U+FFFD; at most max_chars code
 * points are appended, never part of one. Returns how many it appended. */
struct buf;
size_t hjson_utf8_clean(struct buf *out, const char *s, size_t n, size_t max_chars);

#endif
