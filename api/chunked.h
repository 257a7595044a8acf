/* chunked: reads a request body sent with Transfer-Encoding: chunked (RFC
 * 9112 section 7.1) out of an evbuffer as it arrives, bounded everywhere:
 * size lines of at most HHEAD_CHUNK_LINE_MAX bytes, at most max bytes of
 * body, trailer fields of at most CHUNKED_TRAILER_MAX bytes, each line
 * well-formed and ended by CRLF. */
#ifndef HERALD_API_CHUNKED_H
#define HERALD_API_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define CHUNKED_TRAILER_MAX 4096

enum chunked_status {
    CHUNKED_MORE = 0,  /* everything there was is read; more is needed */
    CHUNKED_DONE,      /* the last chunk and the trailer are read */
    CHUNKED_BAD,       /* malformed: the connection cannot go on */
    CHUNKED_TOO_LARGE, /* the body would pass max: reading stopped */
};

struct chunked {
    int part;           /* what comes next (chunked.c's enum) */
    uint64_t remaining; /* bytes of the current chunk still to read */
    size_t trailer;     /* trailer bytes read */
};

/* chunked_init: ready for a new body. */
void chunked_init(struct chunked *c);
/* chunked_read: moves decoded body bytes from in to body (holding at most
 * max in all) and consumes framing; never blocks. */
enum chunked_status chunked_read(struct chunked *c, struct evbuffer *in, struct evbuffer *body,
                                 size_t max);

#endif
