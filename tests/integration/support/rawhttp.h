/* rawhttp: a bare TCP client for tests that must send bytes no HTTP library
 * sends (two Content-Lengths, a NUL in a header, an encoded slash) and read
 * the answers byte for byte. Every call blocks; errors fail the test. */
#ifndef HERALD_TESTS_RAWHTTP_H
#define HERALD_TESTS_RAWHTTP_H

#include <stdbool.h>
#include <stddef.h>

struct rh_conn {
    int fd;
    char *in; /* bytes read and not yet taken by rh_read */
    size_t len, cap;
    bool eof; /* the server closed its side */
};

/* One answer. head holds the status line and header lines (CRLF). */
struct rh_resp {
    int status; /* 0: no complete answer arrived */
    char *head;
    char *body;
    size_t body_len;
};

/* rh_open: connects to 127.0.0.1:port. Release with rh_close(). */
void rh_open(struct rh_conn *c, int port);
void rh_close(struct rh_conn *c);
/* rh_send: writes all of data; false when the server closed or reset. */
bool rh_send(struct rh_conn *c, const void *data, size_t n);
bool rh_sends(struct rh_conn *c, const char *s);
/* rh_read: the next answer within timeout_ms. head_only: an answer to HEAD
 * (its Content-Length is not followed by a body). Bytes after it stay for
 * the next call. Release with rh_resp_free(). */
struct rh_resp rh_read(struct rh_conn *c, bool head_only, int timeout_ms);
void rh_resp_free(struct rh_resp *r);
/* rh_header: the first header called name (any case), trimmed; caller frees
 * with mem_free(); NULL when absent. */
char *rh_header(const struct rh_resp *r, const char *name);
/* rh_closed: whether the server closes the connection within timeout_ms with
 * nothing more sent (bytes that arrive first make it false). */
bool rh_closed(struct rh_conn *c, int timeout_ms);
/* rh_pending: bytes received and not taken by rh_read. */
size_t rh_pending(const struct rh_conn *c);

#endif
