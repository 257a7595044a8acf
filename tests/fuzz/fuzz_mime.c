/* fuzz_mime: the email channel's message builder (worker/mime.c, compiled into this harness).
 * Input: up to five NUL-separated parts, the last ones filled in first: body; subject, body;
 * to, subject, body; from, to, subject, body; from, to, subject, body, message id. Missing
 * parts have defaults (no subject when there is only a body). Checks: mime_parse_from gives
 * a valid address and a printable name; mime_build fails exactly for a bad To or message id
 * and then leaves the buffer alone; a built message is 7-bit with CRLF line ends only, lines
 * of at most 998 characters (78 in the subject, 76 in the body), exactly the documented
 * headers in order and nothing a caller's text could add, a From that reads back as the
 * configured name and address, a Subject that unfolds or decodes (RFC 2047) back to the
 * subject with control characters as spaces, and a quoted-printable body that decodes back to
 * the body with its line breaks as CRLF; mime_date always writes a terminated string. */
#include "tests/fuzz/fuzz.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/json.h"
#include "worker/mime.h"

#define FM_DATE_MS 1795514400000LL /* 2026-11-24T10:00:00Z */
#define FM_FROM "Herald <herald@example.com>"
#define FM_TO "user@example.com"
#define FM_ID "0190c1a2-7b3c-7def-8abc-0123456789ab"

struct fm_line {
    const char *s;
    size_t n; /* CRLF excluded */
};

/* Splits msg into CRLF-terminated lines; checks the wire rules on the way. */
static size_t fm_lines(const char *msg, size_t len, struct fm_line *lines, size_t cap) {
    size_t count = 0, start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        FUZZ_CHECK(c != 0 && c < 0x80);
        FUZZ_CHECK(c != '\n' || (i > 0 && msg[i - 1] == '\r'));
        if (c == '\r') {
            FUZZ_CHECK(i + 1 < len && msg[i + 1] == '\n');
            FUZZ_CHECK(i - start <= 998);
            FUZZ_CHECK(count < cap);
            lines[count++] = (struct fm_line){msg + start, i - start};
            start = i + 2;
            i++;
        } else {
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c < 0x7F));
        }
    }
    FUZZ_CHECK(start == len); /* the message ends with CRLF */
    return count;
}

static bool fm_starts(const struct fm_line *l, const char *prefix) {
    size_t n = strlen(prefix);
    return l->n >= n && memcmp(l->s, prefix, n) == 0;
}

static int fm_hex(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The From lines (the first and its continuations) read back as the
 * configured name and address: a quoted-string, atoms, or RFC 2047
 * encoded-words of the name's UTF-8. *i moves past them. */
static void fm_check_from(const struct fm_line *lines, size_t count, size_t *i,
                          const struct mime_from *f) {
    struct buf v = {0}, want = {0};
    FUZZ_CHECK(*i < count && fm_starts(&lines[*i], "From: "));
    buf_append(&v, lines[*i].s + 6, lines[*i].n - 6);
    for ((*i)++; *i < count && lines[*i].n > 0 && lines[*i].s[0] == ' '; (*i)++) {
        FUZZ_CHECK(lines[*i].n <= 998);           /* the address may stand alone on a long line */
        buf_append(&v, lines[*i].s, lines[*i].n); /* unfolding removes only the CRLF */
    }
    const char *s = v.data;
    size_t n = v.len;
    if (!f->name[0]) {
        FUZZ_CHECK(n == strlen(f->addr) && memcmp(s, f->addr, n) == 0);
        buf_free(&v);
        return;
    }
    size_t alen = strlen(f->addr);
    FUZZ_CHECK(n >= alen + 3 && s[n - 1] == '>' && memcmp(s + n - 1 - alen, f->addr, alen) == 0);
    FUZZ_CHECK(s[n - alen - 2] == '<' && s[n - alen - 3] == ' ');
    size_t plen = n - alen - 3;
    if (plen >= 2 && s[0] == '"') {
        FUZZ_CHECK(s[plen - 1] == '"');
        for (size_t k = 1; k + 1 < plen; k++) {
            if (s[k] == '\\')
                k++;
            else
                FUZZ_CHECK(s[k] != '"');
            buf_append(&want, s + k, 1);
        }
    } else if (plen >= 12 && memcmp(s, "=?UTF-8?B?", 10) == 0) {
        /* encoded-words separated by white space, which decoding drops */
        size_t k = 0;
        while (k < plen) {
            while (k < plen && s[k] == ' ')
                k++;
            size_t e = k;
            while (e < plen && s[e] != ' ')
                e++;
            FUZZ_CHECK(e - k >= 12 && memcmp(s + k, "=?UTF-8?B?", 10) == 0 && s[e - 2] == '?' &&
                       s[e - 1] == '=');
            uint8_t dec[80];
            long dn = crypto_b64_decode(s + k + 10, e - k - 12, dec, sizeof(dec));
            FUZZ_CHECK(dn > 0);
            buf_append(&want, dec, (size_t)dn);
            k = e;
        }
    } else {
        buf_append(&want, s, plen);
    }
    FUZZ_CHECK(want.len == strlen(f->name) && memcmp(want.data, f->name, want.len) == 0);
    buf_free(&want);
    buf_free(&v);
}

/* The Subject lines (the first and its continuations) unfold or decode back to clean. */
static void fm_check_subject(const struct fm_line *l, size_t count, const char *clean, size_t n) {
    FUZZ_CHECK(fm_starts(&l[0], "Subject:"));
    if (n == 0) {
        FUZZ_CHECK(l[0].n == 8);
        return;
    }
    FUZZ_CHECK(fm_starts(&l[0], "Subject: "));
    struct buf got = {0};
    buf_append(&got, "", 0);
    bool encoded = fm_starts(&l[0], "Subject: =?UTF-8?B?");
    for (size_t i = 0; i < count; i++) {
        FUZZ_CHECK(l[i].n <= 78);
        const char *s = l[i].s;
        size_t len = l[i].n;
        if (i == 0) {
            s += 9;
            len -= 9;
        } else {
            FUZZ_CHECK(len > 0 && (s[0] == ' ' || s[0] == '\t'));
            size_t k = 0;
            while (k < len && (s[k] == ' ' || s[k] == '\t'))
                k++;
            FUZZ_CHECK(k < len); /* no line of only white space */
        }
        if (!encoded) {
            buf_append(&got, s, len); /* unfolding removes only the CRLF */
            continue;
        }
        if (i > 0) {
            s++;
            len--;
        }
        FUZZ_CHECK(len >= 12 && memcmp(s, "=?UTF-8?B?", 10) == 0 && s[len - 2] == '?' &&
                   s[len - 1] == '=');
        uint8_t dec[80];
        long dn = crypto_b64_decode(s + 10, len - 12, dec, sizeof(dec));
        FUZZ_CHECK(dn > 0);
        buf_append(&got, dec, (size_t)dn);
    }
    FUZZ_CHECK(got.len == n && memcmp(got.data, clean, n) == 0);
    buf_free(&got);
}

/* The quoted-printable body decodes back to body with every line break as CRLF. */
static void fm_check_body(const struct fm_line *l, size_t count, const char *body, size_t n) {
    struct buf got = {0}, want = {0};
    buf_append(&got, "", 0);
    buf_append(&want, "", 0);
    bool soft = false;
    for (size_t i = 0; i < count; i++) {
        FUZZ_CHECK(l[i].n <= 76);
        const char *s = l[i].s;
        size_t len = l[i].n, k = 0;
        soft = false;
        while (k < len) {
            if (s[k] == '=') {
                if (k + 1 == len) { /* a soft line break */
                    soft = true;
                    break;
                }
                FUZZ_CHECK(k + 2 < len);
                int hi = fm_hex(s[k + 1]), lo = fm_hex(s[k + 2]);
                FUZZ_CHECK(hi >= 0 && lo >= 0);
                uint8_t c = (uint8_t)(hi << 4 | lo);
                buf_append(&got, &c, 1);
                k += 3;
                continue;
            }
            if (s[k] == ' ' || s[k] == '\t')
                FUZZ_CHECK(k + 1 < len); /* white space never ends a line as is */
            buf_append(&got, s + k, 1);
            k++;
        }
        if (!soft)
            buf_puts(&got, "\r\n");
    }
    FUZZ_CHECK(!soft); /* the body ends with a hard line break */
    for (size_t i = 0; i < n; i++) {
        if (body[i] == '\n' && !(i > 0 && body[i - 1] == '\r'))
            buf_putc(&want, '\r');
        buf_append(&want, body + i, 1);
    }
    if (n == 0 || body[n - 1] != '\n')
        buf_puts(&want, "\r\n");
    FUZZ_CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
    buf_free(&got);
    buf_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fm_line parts[5];
    size_t nparts = 0;
    const uint8_t *p = data;
    size_t left = size;
    for (;;) {
        size_t head, tail_len;
        const uint8_t *tail;
        bool more = nparts < 4 && fuzz_split(p, left, 0, &head, &tail, &tail_len);
        parts[nparts++] = (struct fm_line){(const char *)p, more ? head : left};
        if (!more)
            break;
        p = tail;
        left = tail_len;
    }
    /* which part is which: the body is always present, the others fill in from the left */
    static const int roles[6][5] = {{0}, {3}, {2, 3}, {1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3, 4}};
    struct fm_line role[5] = {{FM_FROM, sizeof(FM_FROM) - 1},
                              {FM_TO, sizeof(FM_TO) - 1},
                              {NULL, 0},
                              {"", 0},
                              {FM_ID, sizeof(FM_ID) - 1}};
    for (size_t i = 0; i < nparts; i++)
        role[roles[nparts][i]] = parts[i];

    char *from_s = fuzz_cstr((const uint8_t *)role[0].s, role[0].n);
    char *to = fuzz_cstr((const uint8_t *)role[1].s, role[1].n);
    char *id = fuzz_cstr((const uint8_t *)role[4].s, role[4].n);
    struct mime_from from;
    char err[128] = "";
    if (mime_parse_from(from_s, &from, err, sizeof(err)) == 0) {
        FUZZ_CHECK(mime_addr_valid(from.addr));
        FUZZ_CHECK(from.domain == strchr(from.addr, '@') + 1);
        /* a display name is UTF-8 without control characters; mime_build
         * encodes what is not ASCII, and the checks below see only ASCII */
        FUZZ_CHECK(hjson_utf8_valid(from.name, strlen(from.name)));
        for (const char *c = from.name; *c; c++)
            FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7F);
    } else {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
        FUZZ_CHECK(mime_parse_from(FM_FROM, &from, err, sizeof(err)) == 0);
    }

    struct mime_msg m = {.from = &from,
                         .to = to,
                         .subject = role[2].s,
                         .subject_len = role[2].n,
                         .body = role[3].s,
                         .body_len = role[3].n,
                         .msg_id_local = id,
                         .date_ms = FM_DATE_MS};
    bool id_ok = id[0] && strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-") == strlen(id);
    struct buf out = {0};
    buf_puts(&out, "kept");
    int rc = mime_build(&m, &out, err, sizeof(err));
    FUZZ_CHECK(rc == (mime_addr_valid(to) && id_ok ? 0 : -1));
    if (rc != 0) {
        FUZZ_CHECK(out.len == 4 && strcmp(out.data, "kept") == 0);
        goto out;
    }
    const char *msg = out.data + 4;
    size_t len = out.len - 4;
    size_t cap = len / 2 + 8;
    struct fm_line *lines = mem_alloc(cap * sizeof(*lines));
    size_t count = fm_lines(msg, len, lines, cap);

    /* the header section: documented headers only, in order */
    size_t i = 0;
    FUZZ_CHECK(count > 0);
    fm_check_from(lines, count, &i, &from);
    FUZZ_CHECK(i < count && lines[i].n == 4 + strlen(to) && fm_starts(&lines[i], "To: ") &&
               memcmp(lines[i].s + 4, to, strlen(to)) == 0);
    i++;
    if (m.subject) {
        size_t first = i++;
        while (i < count && lines[i].n > 0 && (lines[i].s[0] == ' ' || lines[i].s[0] == '\t'))
            i++;
        struct buf clean = {0};
        buf_append(&clean, m.subject, m.subject_len);
        for (size_t k = 0; k < clean.len; k++)
            if ((unsigned char)clean.data[k] < 0x20 || clean.data[k] == 0x7F)
                clean.data[k] = ' ';
        fm_check_subject(&lines[first], i - first, clean.data, clean.len);
        buf_free(&clean);
    }
    static const char *const rest[] = {"Date: ", "Message-ID: <", "MIME-Version: 1.0",
                                       "Content-Type: text/plain; charset=utf-8",
                                       "Content-Transfer-Encoding: quoted-printable"};
    for (size_t k = 0; k < HD_ARRAY_LEN(rest); k++, i++)
        FUZZ_CHECK(i < count && fm_starts(&lines[i], rest[k]));
    struct buf mid = {0};
    buf_printf(&mid, "Message-ID: <%s@%s>", id, from.domain);
    FUZZ_CHECK(lines[i - 4].n == mid.len && memcmp(lines[i - 4].s, mid.data, mid.len) == 0);
    buf_free(&mid);
    FUZZ_CHECK(i < count && lines[i].n == 0); /* the blank line */
    i++;
    fm_check_body(lines + i, count - i, m.body, m.body_len);
    mem_free(lines);

out:
    if (size >= 8) {
        int64_t ms = 0;
        for (int k = 0; k < 8; k++)
            ms = (int64_t)((uint64_t)ms << 8 | data[k]);
        char date[MIME_DATE_LEN];
        memset(date, 'x', sizeof(date));
        mime_date(ms, date);
        FUZZ_CHECK(memchr(date, '\0', sizeof(date)) != NULL);
    }
    buf_free(&out);
    mem_free(from_s);
    mem_free(to);
    mem_free(id);
    return 0;
}
