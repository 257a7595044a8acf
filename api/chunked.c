/* chunked: a small state machine over evbuffer_search_eol for the lines and
 * evbuffer_remove_buffer for the data, so no chunk is copied. */
#include "api/chunked.h"
#include "api/http_head.h"

#include <event2/buffer.h>
#include <stdbool.h>

enum chunked_part { CHUNKED_SIZE = 0, CHUNKED_DATA, CHUNKED_DATA_END, CHUNKED_TRAILER };

void chunked_init(struct chunked *c) {
    c->part = CHUNKED_SIZE;
    c->remaining = 0;
    c->trailer = 0;
}

/* chunked_line: the next CRLF line (at most max bytes) into line; 0 when
 * there is none yet, -1 when it is longer, else its length + 1. */
static long chunked_line(struct evbuffer *in, char *line, size_t max) {
    size_t eol = 0;
    struct evbuffer_ptr pos = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF_STRICT);
    if (pos.pos < 0)
        return evbuffer_get_length(in) > max + 1 ? -1 : 0;
    if ((size_t)pos.pos > max)
        return -1;
    evbuffer_remove(in, line, (size_t)pos.pos);
    line[pos.pos] = '\0';
    evbuffer_drain(in, eol);
    return (long)pos.pos + 1;
}

enum chunked_status chunked_read(struct chunked *c, struct evbuffer *in, struct evbuffer *body,
                                 size_t max) {
    char line[CHUNKED_TRAILER_MAX + 1];
    for (;;) {
        switch (c->part) {
        case CHUNKED_SIZE: {
            long n = chunked_line(in, line, HHEAD_CHUNK_LINE_MAX);
            uint64_t size;
            if (n == 0)
                return CHUNKED_MORE;
            if (n < 0 || hhead_chunk_size(line, (size_t)n - 1, &size) != 0)
                return CHUNKED_BAD;
            if (size == 0) {
                c->part = CHUNKED_TRAILER;
                break;
            }
            if (size > max - evbuffer_get_length(body))
                return CHUNKED_TOO_LARGE;
            c->remaining = size;
            c->part = CHUNKED_DATA;
            break;
        }
        case CHUNKED_DATA: {
            size_t avail = evbuffer_get_length(in);
            size_t take = avail < c->remaining ? avail : (size_t)c->remaining;
            if (take == 0)
                return CHUNKED_MORE;
            evbuffer_remove_buffer(in, body, take);
            c->remaining -= take;
            if (c->remaining)
                return CHUNKED_MORE;
            c->part = CHUNKED_DATA_END;
            break;
        }
        case CHUNKED_DATA_END: {
            char crlf[2];
            if (evbuffer_get_length(in) < 2)
                return CHUNKED_MORE;
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n')
                return CHUNKED_BAD;
            c->part = CHUNKED_SIZE;
            break;
        }
        default: { /* CHUNKED_TRAILER */
            long n = chunked_line(in, line, CHUNKED_TRAILER_MAX - c->trailer);
            if (n == 0)
                return CHUNKED_MORE;
            if (n < 0 || (n > 1 && !hhead_field_line_ok(line, (size_t)n - 1)))
                return CHUNKED_BAD;
            c->trailer += (size_t)n + 1;
            if (n == 1)
                return CHUNKED_DONE; /* the empty line */
            break;
        }
        }
    }
}
