/* mime: builds the RFC 5322 message the email channel sends (text/plain, or
 * multipart/alternative with an HTML part); pure functions, no I/O. The output is safe for SMTP
 * whatever the inputs hold: CRLF line ends only, 7-bit, lines of at most 78 characters in the body,
 * no header a caller's text can add to. Dot-stuffing is left to the SMTP client. */
#ifndef HERALD_WORKER_MIME_H
#define HERALD_WORKER_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIME_LINE_MAX 78 /* a header or body line's length, CRLF excluded (RFC 5322 2.1.1) */
#define MIME_QP_MAX 76   /* a quoted-printable line, soft-break '=' included (RFC 2045) */

struct buf;

#define MIME_ADDR_MAX 254 /* an address's length limit (RFC 5321, as API.md validates) */
#define MIME_ADDR_LEN (MIME_ADDR_MAX + 1)

#define MIME_NAME_LEN 513 /* a display name: 128 code points of UTF-8, NUL included */

/* A sender as configured: "addr" or "Display Name <addr>". */
struct mime_from {
    char addr[MIME_ADDR_LEN]; /* the envelope and header address */
    char name[MIME_NAME_LEN]; /* the display name, "" when none; UTF-8 without controls */
    const char *domain;       /* points into addr, after the '@' */
};

/* The parts of one message; every pointer is borrowed for the call. */
struct mime_msg {
    const struct mime_from *from;
    const char *to;      /* recipient address, NUL-terminated */
    const char *subject; /* subject_len bytes of UTF-8, not NUL-terminated; NULL: none */
    size_t subject_len;
    const char *body; /* body_len bytes of UTF-8 text, not NUL-terminated */
    size_t body_len;
    const char *html; /* html_len bytes of UTF-8 HTML; NULL: a text/plain message */
    size_t html_len;
    const char *reply_to;     /* Reply-To address, NUL-terminated; NULL: none */
    const char *msg_id_local; /* left part of Message-ID (the notification id) */
    int64_t date_ms;          /* Date header, wall clock ms; written in UTC (+0000) */
};

/* mime_addr_valid: true when addr is a plain ASCII address that is safe to
 * put in a header or an SMTP command: local@domain, 3..254 characters, one
 * '@', nothing outside the printable set and none of space, quotes, ",;:<>()[]\". */
bool mime_addr_valid(const char *addr);

/* mime_parse_from: reads a sender (HERALD_SMTP_FROM, or a tenant's
 * email_from) into out. Returns 0, or -1 with a short reason in err (errlen
 * bytes) when the address is not valid or the display name is not UTF-8
 * without control characters, or longer than MIME_NAME_LEN - 1 bytes. */
int mime_parse_from(const char *value, struct mime_from *out, char *err, size_t errlen);

/* mime_build: appends the whole message (headers, blank line, body) to out:
 * From (a non-ASCII display name as RFC 2047 encoded-words), To, Reply-To
 * when given, Subject (RFC 2047 "B" encoded-words of UTF-8 when it is not
 * plain printable ASCII, folded when long; control characters become
 * spaces), Date, Message-ID <msg_id_local@from domain>, MIME-Version 1.0,
 * then either Content-Type text/plain; charset=utf-8 with the body, or,
 * with html, multipart/alternative holding the text part then the
 * text/html; charset=utf-8 part (boundary "=_herald_<msg_id_local>", which
 * quoted-printable text can never contain). Every part is
 * Content-Transfer-Encoding quoted-printable: line breaks (LF or CRLF)
 * become CRLF; any other CR, and every non-ASCII or control byte, is
 * encoded. Returns 0, or -1 with err filled and out untouched when the To or
 * Reply-To address is not mime_addr_valid or msg_id_local holds anything
 * but [A-Za-z0-9.-]. Aborts on out-of-memory like buf_append; sizes are
 * bounded by API.md's limits (body <= 10000 characters makes at most about
 * 120 KB, html <= 50000 characters about 600 KB). */
int mime_build(const struct mime_msg *m, struct buf *out, char *err, size_t errlen);

/* mime_date: RFC 5322 date-time of ms (UTC), e.g. "Tue, 24 Nov 2026 10:00:00 +0000",
 * into out (MIME_DATE_LEN bytes). */
#define MIME_DATE_LEN 40
void mime_date(int64_t ms, char *out);

/* mime_from_header: appends the From header line for f: the display name
 * as an atom phrase when it can be one, RFC 2047 encoded-words when it is
 * not ASCII, else a quoted-string. */
void mime_from_header(struct buf *b, const struct mime_from *f);

#endif
