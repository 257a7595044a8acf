/* mime: the email channel's message builder (RFC 5322, RFC 2045/2046 quoted-printable and
 * multipart/alternative, RFC 2047). */
#include "worker/mime.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MIME_WORD_BYTES 42 /* UTF-8 bytes per encoded-word: base64 of 56, a word of 68 */
#define MIME_SUBJECT_COL 9 /* strlen("Subject: ") */

static const char mime_hex[] = "0123456789ABCDEF";

static bool mime_addr_char(unsigned char c) {
    return c > 0x20 && c < 0x7F && !strchr("\"(),:;<>[\\]", c);
}

bool mime_addr_valid(const char *addr) {
    size_t n = addr ? strlen(addr) : 0;
    if (n < 3 || n > MIME_ADDR_MAX)
        return false;
    const char *at = strchr(addr, '@');
    if (!at || at == addr || at[1] == '\0' || strchr(at + 1, '@'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!mime_addr_char((unsigned char)addr[i]))
            return false;
    return true;
}

static void mime_trim(const char **s, const char **e) {
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

int mime_parse_from(const char *value, struct mime_from *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    const char *s = value ? value : "", *e = s + strlen(s);
    mime_trim(&s, &e);
    const char *lt = memchr(s, '<', (size_t)(e - s));
    const char *as = s, *ae = e;
    if (lt) {
        if (e == s || e[-1] != '>') {
            snprintf(err, errlen, "expected an address or \"Name <address>\"");
            return -1;
        }
        as = lt + 1;
        ae = e - 1;
        const char *ns = s, *ne = lt;
        mime_trim(&ns, &ne);
        if (ne - ns >= 2 && *ns == '"' && ne[-1] == '"') {
            ns++;
            ne--;
        }
        if ((size_t)(ne - ns) >= sizeof(out->name)) {
            snprintf(err, errlen, "the display name is too long");
            return -1;
        }
        for (const char *p = ns; p < ne; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F) {
                snprintf(err, errlen, "the display name must not hold control characters");
                return -1;
            }
        if (!hjson_utf8_valid(ns, (size_t)(ne - ns))) {
            snprintf(err, errlen, "the display name must be UTF-8");
            return -1;
        }
        memcpy(out->name, ns, (size_t)(ne - ns));
    }
    if ((size_t)(ae - as) >= sizeof(out->addr)) {
        snprintf(err, errlen, "the address is too long");
        return -1;
    }
    memcpy(out->addr, as, (size_t)(ae - as));
    if (!mime_addr_valid(out->addr)) {
        snprintf(err, errlen, "\"%s\" is not a valid address", out->addr);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->domain = strchr(out->addr, '@') + 1;
    return 0;
}

void mime_date(int64_t ms, char *out) {
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, MIME_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

/* mime_utf8_unit: the length of the UTF-8 sequence at s (1 for a stray byte), at most n. */
static size_t mime_utf8_unit(const unsigned char *s, size_t n) {
    size_t len = 1;
    if (s[0] >= 0xF0 && s[0] < 0xF8)
        len = 4;
    else if (s[0] >= 0xE0 && s[0] < 0xF0)
        len = 3;
    else if (s[0] >= 0xC0 && s[0] < 0xE0)
        len = 2;
    if (len > n)
        return 1;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return len;
}

/* mime_subject_plain: a sanitised subject can go as is when it is printable
 * ASCII and holds nothing a reader would take for an encoded-word (it must
 * also fold into short lines: see mime_subject). */
static bool mime_subject_plain(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return false;
        if (c == '=' && i + 1 < n && s[i + 1] == '?')
            return false;
    }
    return true;
}

/* mime_longest_line: the longest line of b from byte from on, the first
 * counted from column col. */
static size_t mime_longest_line(const struct buf *b, size_t from, size_t col) {
    size_t longest = 0, len = col;
    for (size_t i = from; i < b->len; i++) {
        if (b->data[i] == '\r' && i + 1 < b->len && b->data[i + 1] == '\n') {
            longest = len > longest ? len : longest;
            len = 0;
            i++;
            continue;
        }
        len++;
    }
    return len > longest ? len : longest;
}

/* mime_subject_fold: plain text, a fold (CRLF before a space) whenever the
 * next word would pass the line limit. */
static void mime_subject_fold(struct buf *b, const char *s, size_t n) {
    size_t col = MIME_SUBJECT_COL;
    size_t i = 0;
    while (i < n) {
        /* the next run: spaces then a word */
        size_t j = i;
        while (j < n && s[j] == ' ')
            j++;
        size_t k = j;
        while (k < n && s[k] != ' ')
            k++;
        if (i > 0 && j > i && k > j && col + (k - i) > MIME_LINE_MAX) {
            /* break before the last space of the run: the new line starts with it */
            buf_append(b, s + i, j - i - 1);
            buf_puts(b, "\r\n");
            col = 0;
            i = j - 1;
        }
        buf_append(b, s + i, k - i);
        col += k - i;
        i = k;
    }
}

/* mime_subject_encoded: RFC 2047 "B" encoded-words of whole characters, one per line. */
static void mime_subject_encoded(struct buf *b, const char *s, size_t n) {
    size_t i = 0;
    bool first = true;
    while (i < n) {
        size_t take = 0;
        while (i + take < n) {
            size_t u = mime_utf8_unit((const unsigned char *)s + i + take, n - i - take);
            if (take + u > MIME_WORD_BYTES)
                break;
            take += u;
        }
        char enc[4 * ((MIME_WORD_BYTES + 2) / 3) + 1];
        crypto_b64((const uint8_t *)s + i, take, enc, false);
        buf_printf(b, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", enc);
        first = false;
        i += take;
    }
}

/* mime_col: the column the next byte of b would take (bytes since the last CRLF). */
static size_t mime_col(const struct buf *b) {
    size_t i = b->len;
    while (i > 0 && b->data[i - 1] != '\n')
        i--;
    return b->len - i;
}

void mime_from_header(struct buf *b, const struct mime_from *f) {
    buf_puts(b, "From: ");
    if (!f->name[0]) {
        buf_puts(b, f->addr);
        buf_puts(b, "\r\n");
        return;
    }
    bool atoms = true, ascii = true;
    for (const char *p = f->name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80)
            ascii = false;
        if (!(c == ' ' || (c > 0x20 && c < 0x7F && !strchr("\"(),.:;<>@[\\]", c))))
            atoms = false;
    }
    /* "=?" in a phrase would read as an encoded-word: encode it too */
    if (!ascii || strstr(f->name, "=?")) {
        mime_subject_encoded(b, f->name, strlen(f->name));
    } else if (atoms) {
        buf_puts(b, f->name);
    } else {
        buf_putc(b, '"');
        for (const char *p = f->name; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_putc(b, '\\');
            buf_putc(b, *p);
        }
        buf_putc(b, '"');
    }
    /* folding white space may stand between the phrase and the address */
    if (mime_col(b) + 3 + strlen(f->addr) > MIME_LINE_MAX)
        buf_puts(b, "\r\n");
    buf_printf(b, " <%s>\r\n", f->addr);
}

static void mime_subject(struct buf *b, const char *subject, size_t n) {
    buf_puts(b, "Subject:");
    if (n == 0) {
        buf_puts(b, "\r\n");
        return;
    }
    buf_putc(b, ' ');
    /* no control character reaches a header, whatever validation let through */
    struct buf clean = {0};
    buf_append(&clean, subject, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)clean.data[i] < 0x20 || clean.data[i] == 0x7F)
            clean.data[i] = ' ';
    size_t mark = b->len;
    bool plain = mime_subject_plain(clean.data, n);
    if (plain) {
        mime_subject_fold(b, clean.data, n);
        /* a word too long to fold: encoded-words can be cut anywhere */
        plain = mime_longest_line(b, mark, MIME_SUBJECT_COL) <= MIME_LINE_MAX;
        if (!plain) {
            b->len = mark; /* undone; buf keeps its NUL */
            b->data[mark] = '\0';
        }
    }
    if (!plain)
        mime_subject_encoded(b, clean.data, n);
    buf_free(&clean);
    buf_puts(b, "\r\n");
}

/* mime_qp_line: one logical line (no line break inside) as quoted-printable
 * lines, soft breaks keeping each under MIME_QP_MAX, never inside a character. */
static void mime_qp_line(struct buf *b, const unsigned char *s, size_t n) {
    size_t col = 0;
    size_t i = 0;
    while (i < n) {
        size_t u = mime_utf8_unit(s + i, n - i);
        char enc[16];
        size_t elen = 0;
        bool last = i + u == n;
        for (size_t k = 0; k < u; k++) {
            unsigned char c = s[i + k];
            bool literal =
                (c >= 0x21 && c <= 0x7E && c != '=') || ((c == ' ' || c == '\t') && !last);
            if (literal) {
                enc[elen++] = (char)c;
            } else {
                enc[elen++] = '=';
                enc[elen++] = mime_hex[c >> 4];
                enc[elen++] = mime_hex[c & 15];
            }
        }
        size_t limit = last ? MIME_QP_MAX : MIME_QP_MAX - 1;
        if (col > 0 && col + elen > limit) {
            buf_puts(b, "=\r\n");
            col = 0;
        }
        buf_append(b, enc, elen);
        col += elen;
        i += u;
    }
    buf_puts(b, "\r\n");
}

static void mime_qp_body(struct buf *b, const char *body, size_t n) {
    const unsigned char *s = (const unsigned char *)body;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        size_t end = i > start && s[i - 1] == '\r' ? i - 1 : i;
        mime_qp_line(b, s + start, end - start);
        start = i + 1;
    }
    /* the last line; a body ending in a line break has none left */
    if (start < n || n == 0)
        mime_qp_line(b, s + start, n - start);
}

int mime_build(const struct mime_msg *m, struct buf *out, char *err, size_t errlen) {
    if (!mime_addr_valid(m->to)) {
        snprintf(err, errlen, "the recipient is not a valid email address");
        return -1;
    }
    if (!m->msg_id_local || !*m->msg_id_local ||
        strspn(m->msg_id_local,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
            strlen(m->msg_id_local)) {
        snprintf(err, errlen, "the message id is not usable in a header");
        return -1;
    }
    if (m->reply_to && !mime_addr_valid(m->reply_to)) {
        snprintf(err, errlen, "the reply-to address is not a valid email address");
        return -1;
    }
    struct buf b = {0};
    mime_from_header(&b, m->from);
    buf_printf(&b, "To: %s\r\n", m->to);
    if (m->reply_to)
        buf_printf(&b, "Reply-To: %s\r\n", m->reply_to);
    if (m->subject)
        mime_subject(&b, m->subject, m->subject_len);
    char date[MIME_DATE_LEN];
    mime_date(m->date_ms, date);
    buf_printf(&b, "Date: %s\r\n", date);
    buf_printf(&b, "Message-ID: <%s@%s>\r\n", m->msg_id_local, m->from->domain);
    buf_puts(&b, "MIME-Version: 1.0\r\n");
    if (!m->html) {
        buf_puts(&b, "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n"
                     "\r\n");
        mime_qp_body(&b, m->body, m->body_len);
    } else {
        /* "=_" never occurs in quoted-printable text ('=' is always =3D or a
         * soft break), so no part can hold the boundary */
        buf_printf(&b,
                   "Content-Type: multipart/alternative;\r\n boundary=\"=_herald_%s\"\r\n"
                   "\r\n"
                   "--=_herald_%s\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n"
                   "\r\n",
                   m->msg_id_local, m->msg_id_local);
        mime_qp_body(&b, m->body, m->body_len);
        buf_printf(&b,
                   "--=_herald_%s\r\n"
                   "Content-Type: text/html; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n"
                   "\r\n",
                   m->msg_id_local);
        mime_qp_body(&b, m->html, m->html_len);
        buf_printf(&b, "--=_herald_%s--\r\n", m->msg_id_local);
    }
    buf_append(out, b.data, b.len);
    buf_free(&b);
    return 0;
}
