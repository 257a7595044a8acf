/* http_head: a strict parser of one HTTP/1.x request head (RFC 9112: request
 * line and header fields), the message framing that follows from it, and the
 * size lines of a chunked body. Pure: no I/O; the only allocation is the
 * head's own copy. The edge (api/edge.c) parses every request with it before
 * evhttp sees anything, so what evhttp reads is always unambiguous. */
#ifndef HERALD_API_HTTP_HEAD_H
#define HERALD_API_HTTP_HEAD_H

#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HHEAD_MAX 16384       /* bytes of a head, its final empty line included */
#define HHEAD_MAX_FIELDS 100  /* header field lines */
#define HHEAD_TARGET_MAX 8192 /* bytes of the request target */
#define HHEAD_CHUNK_LINE_MAX 256

struct hhead_field {
    const char *name;  /* NUL-terminated, as sent (any case); points into the head's copy */
    const char *value; /* NUL-terminated, surrounding whitespace removed; no control bytes */
    size_t value_len;
};

/* A parsed head. Every string points into buf, which the head owns. */
struct hhead {
    char *buf; /* owned: the head's bytes, cut into NUL-terminated pieces */
    enum evhttp_cmd_type method;
    const char *method_name; /* "GET", ... */
    const char *target;      /* the request target in origin form ("/path?query"), raw */
    const char *path;        /* the target's path, raw (percent-encoding kept), never empty */
    const char *query;       /* the raw query after '?', or NULL when the target has no '?' */
    int minor;               /* HTTP/1.minor: 0 or 1 */
    struct hhead_field fields[HHEAD_MAX_FIELDS];
    size_t nfields;
    int64_t content_length; /* -1 when the head has none */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool expect_continue;   /* Expect: 100-continue on HTTP/1.1 */
    bool keep_alive;        /* the connection may carry another request after this one */
};

/* hhead_end: the length of the head at the start of data[0..n) (through the
 * empty line that ends it; empty lines before the request line belong to
 * it), or 0 when it is not complete yet. *scanned (0 at first) remembers how
 * far earlier calls looked, so feeding a growing buffer costs O(n) overall. */
size_t hhead_end(const char *data, size_t n, size_t *scanned);

/* hhead_parse: parses the complete head data[0..n) (n as hhead_end gave)
 * into h. Returns 0, or the HTTP status that refuses it with a short reason
 * in why (whylen bytes): 400 (malformed; conflicting or invalid
 * Content-Length; Transfer-Encoding with Content-Length, on HTTP/1.0, or
 * chunked twice; a control character in a field value; a missing or repeated
 * Host on HTTP/1.1; a repeated field Herald reads), 414 (target over
 * HHEAD_TARGET_MAX), 417 (an Expect other than 100-continue), 431 (more than
 * HHEAD_MAX_FIELDS fields), 501 (an unknown method or transfer coding), 505
 * (an HTTP version other than 1.0 and 1.1), or 503 (out of memory). On any
 * status but 0, h holds nothing to free. Release with hhead_free(). */
int hhead_parse(const char *data, size_t n, struct hhead *h, char *why, size_t whylen);
void hhead_free(struct hhead *h);

/* hhead_reason: the reason phrase of a status hhead_parse (or the edge)
 * answers with; "Error" for any other. */
const char *hhead_reason(int status);

/* hhead_get: the value of the field called name (any case), borrowed from
 * h; NULL when absent. */
const char *hhead_get(const struct hhead *h, const char *name);

/* hhead_chunk_size: parses a chunk-size line (without its CRLF: hex digits,
 * then optional extensions, which are skipped). Returns 0 with *size, or -1
 * for a malformed line or a size over 2^60. */
int hhead_chunk_size(const char *line, size_t n, uint64_t *size);

/* hhead_field_line_ok: whether line (without CRLF) is a well-formed field
 * line (the rule for header and trailer fields alike). */
bool hhead_field_line_ok(const char *line, size_t n);

#endif
