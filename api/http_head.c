/* http_head: RFC 9112 request heads, read strictly: one SP between the parts
 * of the request line, CRLF line ends only, no whitespace before a field's
 * colon, no obs-fold, no control characters in field values, one framing. */
#include "api/http_head.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HHEAD_LEAD_MAX 8 /* empty lines tolerated before the request line */
#define HHEAD_METHOD_MAX 16
#define HHEAD_CL_DIGITS 18 /* a Content-Length fits int64 */

static const struct {
    const char *name;
    enum evhttp_cmd_type method;
} hhead_methods[] = {
    {"GET", EVHTTP_REQ_GET},     {"HEAD", EVHTTP_REQ_HEAD},     {"POST", EVHTTP_REQ_POST},
    {"PUT", EVHTTP_REQ_PUT},     {"DELETE", EVHTTP_REQ_DELETE}, {"OPTIONS", EVHTTP_REQ_OPTIONS},
    {"PATCH", EVHTTP_REQ_PATCH}, {"TRACE", EVHTTP_REQ_TRACE},
};

/* Fields Herald reads that a request may carry only once: a second copy
 * would let two parties in the path read different values. */
static const char *const hhead_singletons[] = {
    "Host",
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-Id",
    "X-Twilio-Signature",
    "Origin",
    "Expect",
    "Access-Control-Request-Method",
};

static bool hhead_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool hhead_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A byte allowed in a request target: RFC 3986 unreserved, sub-delims,
 * ':', '@', '/', '?' and '%' (escapes are checked separately). */
static bool hhead_target_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-._~!$&'()*+,;=:@/?%", c));
}

/* A byte allowed in a field value: HTAB, SP, visible ASCII, obs-text. */
static bool hhead_value_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

size_t hhead_end(const char *d, size_t n, size_t *scanned) {
    size_t lead = 0;
    while (lead + 1 < n && d[lead] == '\r' && d[lead + 1] == '\n' && lead < 2 * HHEAD_LEAD_MAX)
        lead += 2;
    for (size_t i = *scanned > lead ? *scanned : lead; i < n; i++) {
        if (d[i] != '\n')
            continue;
        /* a bare LF ends the head here: the parser refuses it */
        if (i == 0 || d[i - 1] != '\r')
            return i + 1;
        if (i >= lead + 4 && d[i - 2] == '\n' && d[i - 3] == '\r')
            return i + 1;
    }
    *scanned = n;
    return 0;
}

static int hhead_fail(char *why, size_t whylen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int hhead_fail(char *why, size_t whylen, int status, const char *fmt, ...) {
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* hhead_line: the next CRLF-terminated line at *p (before end); NUL-terminates
 * it in place. Returns -1 for a CR or LF that is not part of a CRLF. */
static int hhead_line(char **p, char *end, char **line, size_t *len) {
    char *s = *p;
    char *lf = memchr(s, '\n', (size_t)(end - s));
    if (!lf || lf == s || lf[-1] != '\r')
        return -1;
    size_t n = (size_t)(lf - 1 - s);
    if (memchr(s, '\r', n))
        return -1;
    s[n] = '\0';
    *line = s;
    *len = n;
    *p = lf + 1;
    return 0;
}

/* hhead_target: checks the target and splits it into path and query, copied
 * to out (room for len + 2 bytes). Absolute-form is brought to origin form. */
static int hhead_target(struct hhead *h, const char *t, size_t len, char *out, char *why,
                        size_t whylen) {
    if (len > HHEAD_TARGET_MAX)
        return hhead_fail(why, whylen, 414, "the request target is over %s bytes", "8192");
    if (len > 8 && strncasecmp(t, "https://", 8) == 0) {
        t += 8;
        len -= 8;
    } else if (len > 7 && strncasecmp(t, "http://", 7) == 0) {
        t += 7;
        len -= 7;
    } else if (len == 0 || t[0] != '/') {
        return hhead_fail(why, whylen, 400, "the request target must start with '/'");
    }
    if (t[0] != '/') {
        /* skip the authority: Host names the resource's host anyway */
        size_t a = strcspn(t, "/?");
        if (a == 0 || a > len)
            return hhead_fail(why, whylen, 400, "malformed absolute request target");
        for (size_t i = 0; i < a; i++)
            if (!hhead_target_char((unsigned char)t[i]) || t[i] == '?' || t[i] == '/')
                return hhead_fail(why, whylen, 400, "malformed absolute request target");
        t += a;
        len -= a;
    }
    const char *q = memchr(t, '?', len);
    size_t plen = q ? (size_t)(q - t) : len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!hhead_target_char(c))
            return hhead_fail(why, whylen, 400, "the request target holds a byte it may not");
        if (c == '%' && i < plen &&
            (i + 2 >= plen || !hhead_hex((unsigned char)t[i + 1]) ||
             !hhead_hex((unsigned char)t[i + 2])))
            return hhead_fail(why, whylen, 400, "bad percent-encoding in the path");
    }
    /* out: "path\0query\0", with a "/" path for a target like "?x" */
    char *o = out;
    if (plen == 0) {
        *o++ = '/';
    } else {
        memcpy(o, t, plen);
        o += plen;
    }
    *o++ = '\0';
    h->path = out;
    h->query = NULL;
    if (q) {
        size_t qlen = len - plen - 1;
        memcpy(o, q + 1, qlen);
        o[qlen] = '\0';
        h->query = o;
    }
    return 0;
}

static int hhead_request_line(struct hhead *h, char *line, size_t n, char *scratch, char *why,
                              size_t whylen) {
    char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return hhead_fail(why, whylen, 400, "malformed request line");
    char *target = sp1 + 1;
    char *sp2 = memchr(target, ' ', n - (size_t)(target - line));
    if (!sp2 || sp2 == target)
        return hhead_fail(why, whylen, 400, "malformed request line");
    char *version = sp2 + 1;
    if (memchr(version, ' ', n - (size_t)(version - line)))
        return hhead_fail(why, whylen, 400, "malformed request line");
    *sp1 = '\0';
    *sp2 = '\0';
    size_t mlen = (size_t)(sp1 - line);
    for (size_t i = 0; i < mlen; i++)
        if (!hhead_tchar((unsigned char)line[i]))
            return hhead_fail(why, whylen, 400, "malformed method");
    if (mlen > HHEAD_METHOD_MAX)
        return hhead_fail(why, whylen, 501, "unknown method");
    h->method_name = NULL;
    for (size_t i = 0; i < HD_ARRAY_LEN(hhead_methods); i++) {
        if (strcmp(line, hhead_methods[i].name) == 0) {
            h->method = hhead_methods[i].method;
            h->method_name = hhead_methods[i].name;
        }
    }
    if (!h->method_name)
        return hhead_fail(why, whylen, 501, "method %s is not implemented", line);
    if (strcmp(version, "HTTP/1.1") == 0) {
        h->minor = 1;
    } else if (strcmp(version, "HTTP/1.0") == 0) {
        h->minor = 0;
    } else if (strlen(version) == 8 && strncmp(version, "HTTP/", 5) == 0 && version[5] >= '0' &&
               version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9') {
        return hhead_fail(why, whylen, 505, "HTTP version %s is not supported", version + 5);
    } else {
        return hhead_fail(why, whylen, 400, "malformed HTTP version");
    }
    h->target = target;
    return hhead_target(h, target, (size_t)(sp2 - target), scratch, why, whylen);
}

/* hhead_field: splits a field line in place into name and trimmed value. */
static int hhead_field(char *line, size_t n, struct hhead_field *f) {
    size_t i = 0;
    while (i < n && hhead_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == n || line[i] != ':')
        return -1;
    line[i] = '\0';
    size_t v = i + 1, e = n;
    while (v < e && (line[v] == ' ' || line[v] == '\t'))
        v++;
    while (e > v && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    for (size_t k = v; k < e; k++)
        if (!hhead_value_char((unsigned char)line[k]))
            return -2;
    line[e] = '\0';
    f->name = line;
    f->value = line + v;
    f->value_len = e - v;
    return 0;
}

bool hhead_field_line_ok(const char *line, size_t n) {
    size_t i = 0;
    while (i < n && hhead_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == n || line[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (!hhead_value_char((unsigned char)line[i]))
            return false;
    return true;
}

/* hhead_each_item: calls fn for every element of a comma list, trimmed;
 * stops at the first non-zero return and returns it. */
static int hhead_each_item(const char *v, int (*fn)(const char *s, size_t n, void *arg),
                           void *arg) {
    for (;;) {
        size_t n = strcspn(v, ",");
        const char *s = v;
        size_t m = n;
        while (m && (*s == ' ' || *s == '\t')) {
            s++;
            m--;
        }
        while (m && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        int rc = fn(s, m, arg);
        if (rc)
            return rc;
        if (v[n] == '\0')
            return 0;
        v += n + 1;
    }
}

static int hhead_cl_item(const char *s, size_t n, void *arg) {
    int64_t *cl = arg;
    if (n == 0 || n > HHEAD_CL_DIGITS)
        return 400;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 400;
        v = v * 10 + (s[i] - '0');
    }
    if (*cl >= 0 && *cl != v)
        return 400;
    *cl = v;
    return 0;
}

struct hhead_te {
    int chunked, other;
};

static int hhead_te_item(const char *s, size_t n, void *arg) {
    struct hhead_te *te = arg;
    if (n == 7 && strncasecmp(s, "chunked", 7) == 0)
        te->chunked++;
    else
        te->other++;
    return 0;
}

struct hhead_conn {
    bool close, keep_alive;
};

static int hhead_conn_item(const char *s, size_t n, void *arg) {
    struct hhead_conn *c = arg;
    if (n == 5 && strncasecmp(s, "close", 5) == 0)
        c->close = true;
    else if (n == 10 && strncasecmp(s, "keep-alive", 10) == 0)
        c->keep_alive = true;
    return 0;
}

/* hhead_framing: Content-Length, Transfer-Encoding, Host, Expect, Connection. */
static int hhead_framing(struct hhead *h, char *why, size_t whylen) {
    struct hhead_te te = {0};
    struct hhead_conn conn = {0};
    bool has_te = false;
    h->content_length = -1;
    for (size_t i = 0; i < h->nfields; i++) {
        const struct hhead_field *f = &h->fields[i];
        for (size_t k = 0; k < HD_ARRAY_LEN(hhead_singletons); k++) {
            if (strcasecmp(f->name, hhead_singletons[k]) != 0)
                continue;
            for (size_t j = 0; j < i; j++)
                if (strcasecmp(h->fields[j].name, f->name) == 0)
                    return hhead_fail(why, whylen, 400, "%s is given more than once",
                                      hhead_singletons[k]);
        }
        if (strcasecmp(f->name, "Content-Length") == 0) {
            if (hhead_each_item(f->value, hhead_cl_item, &h->content_length))
                return hhead_fail(why, whylen, 400, "invalid or conflicting Content-Length");
        } else if (strcasecmp(f->name, "Transfer-Encoding") == 0) {
            has_te = true;
            hhead_each_item(f->value, hhead_te_item, &te);
        } else if (strcasecmp(f->name, "Connection") == 0) {
            hhead_each_item(f->value, hhead_conn_item, &conn);
        } else if (strcasecmp(f->name, "Expect") == 0) {
            if (strcasecmp(f->value, "100-continue") != 0)
                return hhead_fail(why, whylen, 417, "only Expect: 100-continue is supported");
            h->expect_continue = h->minor == 1;
        }
    }
    if (h->minor == 1 && !hhead_get(h, "Host"))
        return hhead_fail(why, whylen, 400, "an HTTP/1.1 request needs a Host field");
    if (has_te) {
        if (h->minor == 0)
            return hhead_fail(why, whylen, 400, "Transfer-Encoding on an HTTP/1.0 request");
        if (te.other)
            return hhead_fail(why, whylen, 501, "the only transfer coding supported is chunked");
        if (te.chunked != 1)
            return hhead_fail(why, whylen, 400, "malformed Transfer-Encoding");
        if (h->content_length >= 0)
            return hhead_fail(why, whylen, 400,
                              "both Transfer-Encoding and Content-Length are given");
        h->chunked = true;
    }
    h->keep_alive = !conn.close && (h->minor == 1 || conn.keep_alive);
    return 0;
}

int hhead_parse(const char *data, size_t n, struct hhead *h, char *why, size_t whylen) {
    memset(h, 0, sizeof(*h));
    if (why && whylen)
        why[0] = '\0';
    if (n > HHEAD_MAX)
        return hhead_fail(why, whylen, 431, "the request head is over %s bytes", "16384");
    /* the head, then room for the target split into path and query */
    char *buf = mem_try_alloc(2 * n + 3);
    if (!buf)
        return hhead_fail(why, whylen, 503, "out of memory");
    memcpy(buf, data, n);
    buf[n] = '\0';
    char *p = buf, *end = buf + n, *line;
    size_t len;
    int rc;
    for (int i = 0; i < HHEAD_LEAD_MAX && end - p >= 2 && p[0] == '\r' && p[1] == '\n'; i++)
        p += 2;
    if (hhead_line(&p, end, &line, &len) != 0) {
        rc = hhead_fail(why, whylen, 400, "lines must end with CRLF");
        goto fail;
    }
    rc = hhead_request_line(h, line, len, buf + n + 1, why, whylen);
    if (rc)
        goto fail;
    for (;;) {
        if (hhead_line(&p, end, &line, &len) != 0) {
            rc = hhead_fail(why, whylen, 400, "lines must end with CRLF");
            goto fail;
        }
        if (len == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            rc = hhead_fail(why, whylen, 400, "folded header lines are not allowed");
            goto fail;
        }
        if (h->nfields == HHEAD_MAX_FIELDS) {
            rc = hhead_fail(why, whylen, 431, "more than %s header fields", "100");
            goto fail;
        }
        int frc = hhead_field(line, len, &h->fields[h->nfields]);
        if (frc == -2) {
            rc = hhead_fail(why, whylen, 400, "a control character in the value of %s", line);
            goto fail;
        }
        if (frc != 0) {
            rc = hhead_fail(why, whylen, 400, "malformed header line");
            goto fail;
        }
        h->nfields++;
    }
    if (p != end) {
        rc = hhead_fail(why, whylen, 400, "data after the head's end");
        goto fail;
    }
    rc = hhead_framing(h, why, whylen);
    if (rc)
        goto fail;
    h->buf = buf;
    return 0;
fail:
    mem_free(buf);
    memset(h, 0, sizeof(*h));
    return rc;
}

void hhead_free(struct hhead *h) {
    mem_free(h->buf);
    memset(h, 0, sizeof(*h));
}

const char *hhead_get(const struct hhead *h, const char *name) {
    for (size_t i = 0; i < h->nfields; i++)
        if (strcasecmp(h->fields[i].name, name) == 0)
            return h->fields[i].value;
    return NULL;
}

int hhead_chunk_size(const char *line, size_t n, uint64_t *size) {
    size_t i = 0;
    uint64_t v = 0;
    while (i < n && hhead_hex((unsigned char)line[i])) {
        if (i == 15)
            return -1; /* more than 60 bits */
        char c = line[i];
        unsigned d = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
        v = v << 4 | d;
        i++;
    }
    if (i == 0)
        return -1;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < n) {
        if (line[i] != ';')
            return -1;
        for (; i < n; i++)
            if (!hhead_value_char((unsigned char)line[i]))
                return -1;
    }
    *size = v;
    return 0;
}

const char *hhead_reason(int status) {
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {{400, "Bad Request"},
                   {413, "Content Too Large"},
                   {414, "URI Too Long"},
                   {417, "Expectation Failed"},
                   {431, "Request Header Fields Too Large"},
                   {501, "Not Implemented"},
                   {503, "Service Unavailable"},
                   {505, "HTTP Version Not Supported"}};
    for (size_t i = 0; i < HD_ARRAY_LEN(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Error";
}
