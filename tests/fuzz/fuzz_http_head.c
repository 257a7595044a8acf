/* fuzz_http_head: the request head as the API's edge reads it: hhead_end (fed all at once
 * and in pieces), hhead_parse, query_parse on the target's query, hhead_chunk_size on the line
 * after the head. Input: the bytes a client sends. Checks: hhead_end finds the same end fed
 * in pieces as at once; a parsed head has a known method, an origin-form path of allowed bytes,
 * token field names, field values without control bytes or surrounding blanks, one framing
 * (never chunked with a length, a length that agrees with an independent reading of every
 * Content-Length field), exactly one Host on HTTP/1.1, no repeated field Herald reads; it
 * parses again to the same thing when written out again; a refusal is one of the documented
 * statuses. A parsed query holds only the route's names, each once, without NUL; a refused one
 * names at least one fault and holds nothing. */
#include "tests/fuzz/fuzz.h"
#include "api/http_head.h"
#include "api/query.h"
#include "common/buf.h"
#include "common/validate.h"

#include <strings.h>

static bool fh_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool fh_path_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@/%", c));
}

static bool fh_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* fh_content_length: an independent reading of every Content-Length field: -1 none, -2
 * invalid or conflicting, else the value. */
static int64_t fh_content_length(const struct hhead *h) {
    int64_t v = -1;
    for (size_t i = 0; i < h->nfields; i++) {
        if (strcasecmp(h->fields[i].name, "content-length") != 0)
            continue;
        const char *p = h->fields[i].value;
        for (;;) {
            while (*p == ' ' || *p == '\t')
                p++;
            size_t digits = 0;
            int64_t x = 0;
            while (p[digits] >= '0' && p[digits] <= '9' && digits < 19) {
                x = x * 10 + (p[digits] - '0');
                digits++;
            }
            const char *q = p + digits;
            while (*q == ' ' || *q == '\t')
                q++;
            if (digits == 0 || digits > 18 || (*q && *q != ','))
                return -2;
            if (v >= 0 && v != x)
                return -2;
            v = x;
            if (!*q)
                break;
            p = q + 1;
        }
    }
    return v;
}

static size_t fh_count(const struct hhead *h, const char *name) {
    size_t n = 0;
    for (size_t i = 0; i < h->nfields; i++)
        n += strcasecmp(h->fields[i].name, name) == 0;
    return n;
}

static void fh_check_parsed(const struct hhead *h) {
    static const char *const methods[] = {"GET",    "HEAD",    "POST",  "PUT",
                                          "DELETE", "OPTIONS", "PATCH", "TRACE"};
    bool known = false;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        known = known || strcmp(h->method_name, methods[i]) == 0;
    FUZZ_CHECK(known);
    FUZZ_CHECK(h->minor == 0 || h->minor == 1);
    FUZZ_CHECK(h->path[0] == '/');
    for (const char *p = h->path; *p; p++) {
        FUZZ_CHECK(fh_path_char((unsigned char)*p));
        if (*p == '%')
            FUZZ_CHECK(fh_hex((unsigned char)p[1]) && fh_hex((unsigned char)p[2]));
    }
    for (const char *p = h->query; p && *p; p++)
        FUZZ_CHECK(fh_path_char((unsigned char)*p) || *p == '?');
    FUZZ_CHECK(h->nfields <= HHEAD_MAX_FIELDS);
    for (size_t i = 0; i < h->nfields; i++) {
        const struct hhead_field *f = &h->fields[i];
        FUZZ_CHECK(f->name[0]);
        for (const char *p = f->name; *p; p++)
            FUZZ_CHECK(fh_tchar((unsigned char)*p));
        FUZZ_CHECK(strlen(f->value) == f->value_len);
        for (size_t k = 0; k < f->value_len; k++) {
            unsigned char c = (unsigned char)f->value[k];
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (f->value_len) {
            FUZZ_CHECK(f->value[0] != ' ' && f->value[0] != '\t');
            FUZZ_CHECK(f->value[f->value_len - 1] != ' ' && f->value[f->value_len - 1] != '\t');
        }
        /* hhead_get finds the first of a name */
        size_t first = 0;
        while (strcasecmp(h->fields[first].name, f->name) != 0)
            first++;
        FUZZ_CHECK(hhead_get(h, f->name) == h->fields[first].value);
    }
    int64_t cl = fh_content_length(h);
    FUZZ_CHECK(cl != -2);
    FUZZ_CHECK(h->content_length == cl);
    FUZZ_CHECK(!(h->chunked && h->content_length >= 0));
    FUZZ_CHECK(!h->chunked || h->minor == 1);
    FUZZ_CHECK(h->chunked == (fh_count(h, "Transfer-Encoding") > 0));
    if (h->minor == 1)
        FUZZ_CHECK(fh_count(h, "Host") == 1);
    static const char *const once[] = {
        "Host",         "Authorization",      "Content-Type", "Idempotency-Key",
        "X-Request-Id", "X-Twilio-Signature", "Origin",       "Expect"};
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        FUZZ_CHECK(fh_count(h, once[i]) <= 1);
}

/* fh_round_trip: the head written out again parses to the same head. */
static void fh_round_trip(const struct hhead *h) {
    struct buf b = {0};
    buf_printf(&b, "%s %s HTTP/1.%d\r\n", h->method_name, h->target, h->minor);
    for (size_t i = 0; i < h->nfields; i++)
        buf_printf(&b, "%s: %s\r\n", h->fields[i].name, h->fields[i].value);
    buf_puts(&b, "\r\n");
    size_t scanned = 0;
    FUZZ_CHECK(hhead_end(b.data, b.len, &scanned) == b.len || b.len > HHEAD_MAX);
    struct hhead again;
    char why[160];
    int st = hhead_parse(b.data, b.len, &again, why, sizeof(why));
    if (b.len > HHEAD_MAX) {
        FUZZ_CHECK(st == 431);
        buf_free(&b);
        return;
    }
    FUZZ_CHECK(st == 0);
    FUZZ_CHECK(strcmp(again.method_name, h->method_name) == 0);
    FUZZ_CHECK(strcmp(again.path, h->path) == 0);
    FUZZ_CHECK((again.query == NULL) == (h->query == NULL));
    FUZZ_CHECK(!h->query || strcmp(again.query, h->query) == 0);
    FUZZ_CHECK(again.nfields == h->nfields && again.content_length == h->content_length);
    FUZZ_CHECK(again.chunked == h->chunked && again.keep_alive == h->keep_alive);
    FUZZ_CHECK(again.expect_continue == h->expect_continue);
    for (size_t i = 0; i < h->nfields; i++)
        FUZZ_CHECK(strcmp(again.fields[i].name, h->fields[i].name) == 0 &&
                   strcmp(again.fields[i].value, h->fields[i].value) == 0);
    hhead_free(&again);
    buf_free(&b);
}

static void fh_check_query(const char *raw) {
    static const char *const allowed[] = {"status", "limit", "cursor", NULL};
    struct query q;
    struct val_errors errs = {0};
    int rc = query_parse(raw, allowed, &q, &errs);
    size_t segments = 0;
    bool bare = false;
    for (const char *p = raw; *p;) {
        size_t n = strcspn(p, "&");
        if (n) {
            segments++;
            bare = bare || !memchr(p, '=', n);
        }
        p += n + (p[n] == '&');
    }
    if (rc == 0) {
        FUZZ_CHECK(errs.len == 0 && segments <= QUERY_MAX_PARAMS && !bare);
        FUZZ_CHECK(q.len == segments);
        for (size_t i = 0; i < q.len; i++) {
            bool ok = false;
            for (size_t k = 0; allowed[k]; k++)
                ok = ok || strcmp(q.params[i].name, allowed[k]) == 0;
            FUZZ_CHECK(ok);
            FUZZ_CHECK(query_get(&q, q.params[i].name) == q.params[i].value);
            for (size_t k = 0; k < i; k++)
                FUZZ_CHECK(strcmp(q.params[k].name, q.params[i].name) != 0);
        }
        query_free(&q);
    } else {
        FUZZ_CHECK(rc == -1 && errs.len >= 1 && q.len == 0);
        for (size_t i = 0; i < errs.len; i++)
            FUZZ_CHECK(errs.items[i].field[0] && errs.items[i].message[0]);
    }
    val_errors_free(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *d = (const char *)data;
    size_t look = size < HHEAD_MAX ? size : HHEAD_MAX;
    size_t scanned = 0;
    size_t end = hhead_end(d, look, &scanned);
    FUZZ_CHECK(end <= look);
    FUZZ_CHECK(end == 0 || d[end - 1] == '\n');
    /* fed in pieces, as reads arrive */
    size_t step = size ? 1 + data[0] % 13 : 1, piece = 0, seen = 0, scanned2 = 0;
    for (size_t k = step; !piece && seen < look; k += step) {
        seen = k < look ? k : look;
        piece = hhead_end(d, seen, &scanned2);
    }
    FUZZ_CHECK(piece == end);
    if (end == 0)
        return 0;
    struct hhead h;
    char why[160];
    int st = hhead_parse(d, end, &h, why, sizeof(why));
    if (st != 0) {
        FUZZ_CHECK(st == 400 || st == 414 || st == 417 || st == 431 || st == 501 || st == 505);
        FUZZ_CHECK(why[0] != '\0');
        return 0;
    }
    fh_check_parsed(&h);
    fh_round_trip(&h);
    if (h.query)
        fh_check_query(h.query);
    /* the line after the head, read as a chunk size */
    const char *rest = d + end;
    size_t left = size - end;
    const char *cr = memchr(rest, '\r', left);
    if (cr) {
        uint64_t chunk = 0;
        if (hhead_chunk_size(rest, (size_t)(cr - rest), &chunk) == 0) {
            FUZZ_CHECK(fh_hex((unsigned char)rest[0]));
            FUZZ_CHECK(chunk < (1ULL << 60));
        }
    }
    hhead_free(&h);
    return 0;
}
