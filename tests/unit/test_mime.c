/* test_mime: the email channel's message builder: exact bytes, encodings, line limits, safety. */
#include "worker/mime.h"
#include "common/crypto.h"

#include "common/buf.h"
#include "common/json.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_DATE_MS 1795514400000LL /* 2026-11-24T10:00:00Z, a Tuesday */
#define T_ID "0190c1a2-7b3c-7def-8abc-0123456789ab"

static struct mime_from from;
static struct buf out;

static void setup(void) {
    char err[128];
    cr_assert_eq(mime_parse_from("Herald <herald@example.com>", &from, err, sizeof(err)), 0, "%s",
                 err);
    memset(&out, 0, sizeof(out));
}

static void teardown(void) {
    buf_free(&out);
}

TestSuite(mime, .init = setup, .fini = teardown);

/* build: the message for subject/body (NUL-terminated here) to ada@example.org. */
static const char *build_n(const char *subject, size_t slen, const char *body, size_t blen) {
    struct mime_msg m = {.from = &from,
                         .to = "ada@example.org",
                         .subject = subject,
                         .subject_len = slen,
                         .body = body,
                         .body_len = blen,
                         .msg_id_local = T_ID,
                         .date_ms = T_DATE_MS};
    char err[128];
    buf_reset(&out);
    cr_assert_eq(mime_build(&m, &out, err, sizeof(err)), 0, "%s", err);
    return out.data;
}

static const char *build(const char *subject, const char *body) {
    return build_n(subject, subject ? strlen(subject) : 0, body, strlen(body));
}

/* every line ends CRLF, no bare CR or LF, nothing but 7-bit text, no line over max */
static void expect_wire_safe(const char *msg, size_t len, size_t max_line) {
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        cr_assert(c != 0 && c < 0x80, "byte 0x%02x at %zu", c, i);
        if (c == '\r') {
            cr_assert(i + 1 < len && msg[i + 1] == '\n', "bare CR at %zu", i);
            cr_assert_leq(line, max_line, "line of %zu characters before %zu", line, i);
            line = 0;
            i++;
            continue;
        }
        cr_assert(c != '\n', "bare LF at %zu", i);
        line++;
    }
    cr_assert_eq(line, 0, "the message does not end with CRLF");
}

/* headers: the header names in order, comma-joined (continuation lines skipped). */
static void header_names(const char *msg, char *names, size_t n) {
    names[0] = '\0';
    const char *end = strstr(msg, "\r\n\r\n");
    cr_assert(end);
    for (const char *p = msg; p < end + 2;) {
        const char *eol = strstr(p, "\r\n");
        if (*p != ' ' && *p != '\t') {
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            cr_assert(colon, "header line without a colon");
            size_t have = strlen(names);
            snprintf(names + have, n - have, "%s%.*s", have ? "," : "", (int)(colon - p), p);
        }
        p = eol + 2;
    }
}

/* qp_decode: the body of a built message, decoded. Caller frees. */
static char *qp_decode(const char *msg, size_t *len) {
    const char *p = strstr(msg, "\r\n\r\n");
    cr_assert(p);
    p += 4;
    char *d = malloc(strlen(p) + 1);
    size_t n = 0;
    while (*p) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
        } else if (p[0] == '=') {
            char hex[3] = {p[1], p[2], 0};
            cr_assert(strspn(hex, "0123456789ABCDEF") == 2, "bad escape =%s", hex);
            d[n++] = (char)strtol(hex, NULL, 16);
            p += 3;
        } else {
            d[n++] = *p++;
        }
    }
    d[n] = '\0';
    *len = n;
    return d;
}

/* subject_decode: the Subject header unfolded, encoded-words decoded. Caller frees. */
static char *subject_decode(const char *msg) {
    const char *s = strstr(msg, "\r\nSubject: ");
    cr_assert(s);
    s += strlen("\r\nSubject: ");
    struct buf b = {0};
    for (;;) {
        const char *eol = strstr(s, "\r\n");
        if (strncmp(s, "=?UTF-8?B?", 10) == 0) {
            const char *q = strstr(s + 10, "?=");
            cr_assert(q && q <= eol);
            uint8_t raw[128];
            long k = crypto_b64_decode(s + 10, (size_t)(q - s - 10), raw, sizeof(raw));
            cr_assert_gt(k, 0);
            buf_append(&b, raw, (size_t)k);
        } else {
            buf_append(&b, s, (size_t)(eol - s));
        }
        if (eol[2] != ' ')
            break;
        /* a fold: plain text keeps the space, between encoded-words it is dropped */
        s = eol + 2;
        if (strncmp(s + 1, "=?UTF-8?B?", 10) == 0)
            s++;
    }
    char *r = mem_strdup(b.data ? b.data : "");
    buf_free(&b);
    return r;
}

Test(mime, exact_bytes_of_a_simple_message) {
    const char *msg = build("Your code", "Hi Ada,\nyour code is 1234.\n");
    cr_assert_str_eq(msg, "From: Herald <herald@example.com>\r\n"
                          "To: ada@example.org\r\n"
                          "Subject: Your code\r\n"
                          "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
                          "Message-ID: <" T_ID "@example.com>\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n"
                          "\r\n"
                          "Hi Ada,\r\n"
                          "your code is 1234.\r\n");
}

Test(mime, body_without_final_newline_and_crlf_input) {
    const char *msg = build("s", "a\r\nb\n\nc");
    cr_assert(strstr(msg, "\r\n\r\na\r\nb\r\n\r\nc\r\n"), "%s", msg);
    expect_wire_safe(msg, out.len, MIME_LINE_MAX);
}

Test(mime, non_ascii_subject_is_an_encoded_word) {
    const char *msg = build("Grüße aus Köln", "x");
    cr_assert(strstr(msg, "\r\nSubject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"), "%s", msg);
    char *s = subject_decode(msg);
    cr_assert_str_eq(s, "Grüße aus Köln");
    mem_free(s);
}

Test(mime, long_non_ascii_subject_is_folded_into_whole_characters) {
    struct buf subj = {0};
    for (int i = 0; i < 60; i++)
        buf_puts(&subj, i % 3 ? "é" : "€"); /* 2- and 3-byte characters */
    buf_puts(&subj, " fin");
    const char *msg = build(subj.data, "x");
    expect_wire_safe(msg, out.len, MIME_LINE_MAX);
    char *s = subject_decode(msg);
    cr_assert_str_eq(s, subj.data);
    mem_free(s);
    /* each encoded-word decodes to valid UTF-8 on its own */
    for (const char *p = strstr(msg, "=?UTF-8?B?"); p; p = strstr(p + 1, "=?UTF-8?B?")) {
        const char *q = strstr(p + 10, "?=");
        uint8_t raw[128];
        long k = crypto_b64_decode(p + 10, (size_t)(q - p - 10), raw, sizeof(raw));
        cr_assert(k > 0 && hjson_utf8_valid((const char *)raw, (size_t)k), "word splits a char");
        cr_assert_leq(q + 2 - p, 75, "encoded-word longer than 75");
    }
    buf_free(&subj);
}

Test(mime, long_ascii_subject_is_folded_at_spaces) {
    const char *subj = "Your weekly summary of everything that happened in the projects you follow "
                       "closely, including comments, mentions and new releases of the libraries";
    const char *msg = build(subj, "x");
    expect_wire_safe(msg, out.len, MIME_LINE_MAX);
    cr_assert_null(strstr(msg, "=?"), "plain ASCII should stay readable");
    char *s = subject_decode(msg);
    cr_assert_str_eq(s, subj);
    mem_free(s);
    cr_assert(strstr(msg, "\r\n "), "expected a fold");
}

Test(mime, unfoldable_ascii_word_and_lookalike_encoded_word_are_encoded) {
    char word[120];
    memset(word, 'a', sizeof(word) - 1);
    word[sizeof(word) - 1] = '\0';
    const char *msg = build(word, "x");
    expect_wire_safe(msg, out.len, MIME_LINE_MAX);
    char *s = subject_decode(msg);
    cr_assert_str_eq(s, word);
    mem_free(s);

    msg = build("=?UTF-8?B?SGk=?=", "x");
    s = subject_decode(msg);
    cr_assert_str_eq(s, "=?UTF-8?B?SGk=?=");
    mem_free(s);
}

Test(mime, long_body_lines_use_soft_breaks) {
    struct buf body = {0};
    for (int i = 0; i < 500; i++)
        buf_putc(&body, (char)('a' + i % 26));
    buf_puts(&body, "\n");
    for (int i = 0; i < 200; i++)
        buf_puts(&body, "ü");
    buf_puts(&body, "\nend = 1 \n\ttab\t\n");
    const char *msg = build("s", body.data);
    expect_wire_safe(msg, out.len, MIME_QP_MAX);
    size_t n;
    char *dec = qp_decode(msg, &n);
    /* decoding gives the text back with CRLF line ends */
    struct buf want = {0};
    for (size_t i = 0; i < body.len; i++) {
        if (body.data[i] == '\n')
            buf_putc(&want, '\r');
        buf_putc(&want, body.data[i]);
    }
    cr_assert_eq(n, want.len);
    cr_assert(memcmp(dec, want.data, n) == 0);
    cr_assert(strstr(msg, "end =3D 1=20\r\n"), "'=' and trailing space must be encoded");
    cr_assert(strstr(msg, "\ttab=09\r\n"));
    /* no soft break splits a character: every =C3 is followed by its =BC */
    for (const char *p = strstr(msg, "=C3"); p; p = strstr(p + 1, "=C3"))
        cr_assert(strncmp(p + 3, "=BC", 3) == 0, "split character");
    free(dec);
    buf_free(&want);
    buf_free(&body);
}

Test(mime, dots_and_from_lines_are_left_for_the_smtp_client) {
    const char *msg = build("s", ".\n..leading dots\nFrom here\n");
    cr_assert(strstr(msg, "\r\n\r\n.\r\n..leading dots\r\nFrom here\r\n"), "%s", msg);
}

Test(mime, stray_cr_nul_and_controls_in_the_body_are_encoded) {
    static const char body[] = "a\rb\0c\x01\x7f\r";
    const char *msg = build_n("s", 1, body, sizeof(body) - 1);
    expect_wire_safe(msg, out.len, MIME_QP_MAX);
    cr_assert(strstr(msg, "\r\n\r\na=0Db=00c=01=7F=0D\r\n"), "%s", msg);
}

Test(mime, no_header_injection_through_the_subject) {
    static const char subj[] = "Hi\r\nBcc: evil@example.net\nX: y\0Z\r";
    const char *msg = build_n(subj, sizeof(subj) - 1, "body", 4);
    expect_wire_safe(msg, out.len, MIME_LINE_MAX);
    char names[512];
    header_names(msg, names, sizeof(names));
    cr_assert_str_eq(names, "From,To,Subject,Date,Message-ID,MIME-Version,Content-Type,"
                            "Content-Transfer-Encoding");
    cr_assert(strstr(msg, "\r\nSubject: Hi  Bcc: evil@example.net X: y Z \r\n"), "%s", msg);
}

Test(mime, no_header_injection_through_the_recipient_or_id) {
    const char *bad[] = {"ada@example.org\r\nBcc: evil@example.net",
                         "ada@example.org\n",
                         "a da@example.org",
                         "<ada@example.org>",
                         "ada@example.org,eve@example.net",
                         "\"ada\"@example.org",
                         "ada",
                         "@example.org",
                         "ada@",
                         "a@b@c",
                         "",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        struct mime_msg m = {
            .from = &from, .to = bad[i], .body = "x", .body_len = 1, .msg_id_local = T_ID};
        char err[128];
        buf_reset(&out);
        cr_expect_eq(mime_build(&m, &out, err, sizeof(err)), -1, "accepted %s", bad[i]);
        cr_expect_eq(out.len, 0);
    }
    struct mime_msg m = {.from = &from,
                         .to = "ada@example.org",
                         .body = "x",
                         .body_len = 1,
                         .msg_id_local = "id>\r\nBcc: x"};
    char err[128];
    cr_expect_eq(mime_build(&m, &out, err, sizeof(err)), -1);
    cr_expect(mime_addr_valid("first.last+tag@mail.example.org"));
}

Test(mime, missing_and_empty_subject) {
    const char *msg = build(NULL, "x");
    cr_assert_null(strstr(msg, "Subject"));
    msg = build("", "x");
    cr_assert(strstr(msg, "\r\nSubject:\r\n"), "%s", msg);
}

Test(mime, from_forms) {
    struct mime_from f;
    char err[128];
    cr_assert_eq(mime_parse_from("herald@localhost", &f, err, sizeof(err)), 0);
    cr_expect_str_eq(f.addr, "herald@localhost");
    cr_expect_str_eq(f.name, "");
    cr_expect_str_eq(f.domain, "localhost");
    cr_assert_eq(mime_parse_from("  \"Acme, Inc.\" <no-reply@acme.test> ", &f, err, sizeof(err)),
                 0);
    cr_expect_str_eq(f.addr, "no-reply@acme.test");
    cr_expect_str_eq(f.name, "Acme, Inc.");
    struct buf b = {0};
    mime_from_header(&b, &f);
    cr_expect_str_eq(b.data, "From: \"Acme, Inc.\" <no-reply@acme.test>\r\n");
    buf_free(&b);
    cr_expect_eq(mime_parse_from("x <a@b\r\nBcc: c@d>", &f, err, sizeof(err)), -1);
    cr_expect_eq(mime_parse_from("Na\nme <a@b.c>", &f, err, sizeof(err)), -1);
    cr_expect_eq(mime_parse_from("Name <a@b.c", &f, err, sizeof(err)), -1);
    cr_expect_eq(mime_parse_from("", &f, err, sizeof(err)), -1);
    cr_expect_eq(mime_parse_from("not an address", &f, err, sizeof(err)), -1);
}

Test(mime, dates) {
    char d[MIME_DATE_LEN];
    mime_date(T_DATE_MS, d);
    cr_expect_str_eq(d, "Tue, 24 Nov 2026 10:00:00 +0000");
    mime_date(0, d);
    cr_expect_str_eq(d, "Thu, 01 Jan 1970 00:00:00 +0000");
    mime_date(951782400000LL + 999, d); /* leap day 2000 */
    cr_expect_str_eq(d, "Tue, 29 Feb 2000 00:00:00 +0000");
}

Test(mime, from_non_ascii_name_is_encoded) {
    struct mime_from f;
    char err[128];
    cr_assert_eq(mime_parse_from("Café Ünïcode Größe <team@acme.test>", &f, err, sizeof(err)), 0,
                 "%s", err);
    cr_expect_str_eq(f.name, "Café Ünïcode Größe");
    struct buf b = {0};
    mime_from_header(&b, &f);
    cr_expect(strncmp(b.data, "From: =?UTF-8?B?", 16) == 0, "%s", b.data);
    cr_expect(strstr(b.data, " <team@acme.test>\r\n") != NULL, "%s", b.data);
    expect_wire_safe(b.data, b.len, MIME_LINE_MAX);
    /* the words decode back to the name */
    const char *p = b.data + strlen("From: =?UTF-8?B?");
    const char *q = strstr(p, "?=");
    uint8_t raw[256];
    long k = crypto_b64_decode(p, (size_t)(q - p), raw, sizeof(raw));
    cr_assert_gt(k, 0);
    cr_expect_eq(memcmp(raw, "Café", 5), 0);
    buf_free(&b);
    /* a long name folds into several words, each line within the limit */
    char longname[600];
    strcpy(longname, "");
    for (int i = 0; i < 30; i++)
        strcat(longname, "Ünï ");
    strcat(longname, "<a-rather-long-local-part-for-a-sender@mail.example.com>");
    cr_assert_eq(mime_parse_from(longname, &f, err, sizeof(err)), 0, "%s", err);
    mime_from_header(&b, &f);
    expect_wire_safe(b.data, b.len, MIME_LINE_MAX);
    buf_free(&b);
    /* an ASCII name holding "=?" is encoded too, so no reader decodes it */
    cr_assert_eq(mime_parse_from("=?UTF-8?B?SGk=?= <a@b.example>", &f, err, sizeof(err)), 0);
    mime_from_header(&b, &f);
    cr_expect(strstr(b.data, "From: =?UTF-8?B?PT9") != NULL, "%s", b.data);
    buf_free(&b);
    cr_expect_eq(mime_parse_from("Caf\xC3 <a@b.example>", &f, err, sizeof(err)), -1,
                 "invalid UTF-8 is refused");
}

Test(mime, reply_to_header) {
    struct mime_msg m = {.from = &from,
                         .to = "ada@example.org",
                         .reply_to = "help@example.org",
                         .body = "b",
                         .body_len = 1,
                         .msg_id_local = T_ID,
                         .date_ms = T_DATE_MS};
    char err[128], names[256];
    cr_assert_eq(mime_build(&m, &out, err, sizeof(err)), 0, "%s", err);
    header_names(out.data, names, sizeof(names));
    cr_expect_str_eq(names, "From,To,Reply-To,Date,Message-ID,MIME-Version,Content-Type,"
                            "Content-Transfer-Encoding");
    cr_expect(strstr(out.data, "\r\nReply-To: help@example.org\r\n") != NULL);
    m.reply_to = "help@example.org\r\nBcc: x@y.z";
    buf_reset(&out);
    cr_expect_eq(mime_build(&m, &out, err, sizeof(err)), -1);
    cr_expect_eq(out.len, 0);
}

Test(mime, html_makes_multipart_alternative) {
    const char *html = "<p>Hello <b>Ada</b> & caf\xC3\xA9</p>\n<p>--=_herald_" T_ID "--</p>";
    struct mime_msg m = {.from = &from,
                         .to = "ada@example.org",
                         .subject = "Hi",
                         .subject_len = 2,
                         .body = "Hello Ada",
                         .body_len = 9,
                         .html = html,
                         .html_len = strlen(html),
                         .msg_id_local = T_ID,
                         .date_ms = T_DATE_MS};
    char err[128];
    cr_assert_eq(mime_build(&m, &out, err, sizeof(err)), 0, "%s", err);
    const char *msg = out.data;
    expect_wire_safe(msg, out.len, MIME_LINE_MAX);
    cr_expect(strstr(msg, "\r\nContent-Type: multipart/alternative;\r\n boundary=\"=_herald_" T_ID
                          "\"\r\n\r\n--=_herald_" T_ID "\r\n") != NULL,
              "%s", msg);
    const char *text = strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n");
    const char *htm = strstr(msg, "Content-Type: text/html; charset=utf-8\r\n");
    cr_assert(text && htm && text < htm, "the text part comes first");
    cr_expect(strstr(htm, "\r\n--=_herald_" T_ID "--\r\n") != NULL, "closing delimiter");
    /* the boundary line occurs exactly three times (two parts and the close),
     * though the HTML itself spells it: quoted-printable turns its '=' into =3D */
    int delims = 0;
    for (const char *p = msg; (p = strstr(p, "\r\n--=_herald_" T_ID)); p++)
        delims++;
    cr_expect_eq(delims, 3);
    cr_expect(strstr(htm, "&lt;") == NULL, "the HTML is sent as given, not escaped");
    cr_expect(strstr(htm, "caf=C3=A9") != NULL, "%s", htm);
}
