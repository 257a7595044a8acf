/* rawhttp: poll(2) and recv(2) into a growing buffer; answers are cut out of
 * it by their Content-Length. */
#include "rawhttp.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long rh_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void rh_open(struct rh_conn *c, int port) {
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s",
                 strerror(errno));
}

void rh_close(struct rh_conn *c) {
    if (c->fd >= 0)
        close(c->fd);
    mem_free(c->in);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

bool rh_send(struct rh_conn *c, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool rh_sends(struct rh_conn *c, const char *s) {
    return rh_send(c, s, strlen(s));
}

/* rh_fill: reads what arrives within until (monotonic ms); false at the
 * deadline or the end. */
static bool rh_fill(struct rh_conn *c, long until) {
    if (c->eof)
        return false;
    long left = until - rh_now_ms();
    if (left <= 0)
        return false;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)left) <= 0)
        return false;
    if (c->cap - c->len < 65536) {
        c->cap = c->cap * 2 + 65536;
        c->in = mem_realloc(c->in, c->cap + 1);
    }
    ssize_t n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
    if (n <= 0) {
        c->eof = true;
        return false;
    }
    c->len += (size_t)n;
    c->in[c->len] = '\0';
    return true;
}

static const char *rh_find_header(const char *head, const char *name, size_t *vlen) {
    size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            const char *v = h + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            *vlen = e ? (size_t)(e - v) : strlen(v);
            while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t'))
                (*vlen)--;
            return v;
        }
    }
    return NULL;
}

struct rh_resp rh_read(struct rh_conn *c, bool head_only, int timeout_ms) {
    struct rh_resp r = {0};
    long until = rh_now_ms() + timeout_ms;
    char *end;
    while (!c->in || !(end = strstr(c->in, "\r\n\r\n")))
        if (!rh_fill(c, until))
            return r;
    size_t hlen = (size_t)(end - c->in) + 2; /* through the last header line's CRLF */
    char *head = mem_strndup(c->in, hlen);
    int status = atoi(head + 9);
    size_t vlen = 0, blen = 0;
    const char *cl = rh_find_header(head, "Content-Length", &vlen);
    bool no_body = head_only || status / 100 == 1 || status == 204 || status == 304;
    if (no_body) {
        blen = 0;
    } else if (cl) {
        blen = strtoul(cl, NULL, 10);
        while (c->len < hlen + 2 + blen)
            if (!rh_fill(c, until)) {
                mem_free(head);
                return r;
            }
    } else {
        while (rh_fill(c, until)) {
        }
        if (!c->eof) {
            mem_free(head);
            return r;
        }
        blen = c->len - hlen - 2;
    }
    size_t total = hlen + 2 + blen;
    r.status = status;
    r.head = head;
    r.body = mem_strndup(c->in + hlen + 2, blen);
    r.body_len = blen;
    memmove(c->in, c->in + total, c->len - total);
    c->len -= total;
    c->in[c->len] = '\0';
    return r;
}

void rh_resp_free(struct rh_resp *r) {
    mem_free(r->head);
    mem_free(r->body);
    memset(r, 0, sizeof(*r));
}

char *rh_header(const struct rh_resp *r, const char *name) {
    size_t vlen = 0;
    const char *v = r->head ? rh_find_header(r->head, name, &vlen) : NULL;
    return v ? mem_strndup(v, vlen) : NULL;
}

bool rh_closed(struct rh_conn *c, int timeout_ms) {
    long until = rh_now_ms() + timeout_ms;
    size_t before = c->len;
    while (!c->eof && rh_fill(c, until)) {
    }
    return c->eof && c->len == before;
}

size_t rh_pending(const struct rh_conn *c) {
    return c->len;
}
