/* check_notif: what must hold for any notification val_notification() accepts. */
#include "tests/fuzz/check_notif.h"
#include "tests/fuzz/fuzz.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/template.h"

#include <json-c/json.h>
#include <strings.h>

#define CN_FIELD_MAX (64 + 9 + 134) /* prefix + "metadata." + a cut name (128 + 4 + "…") */
#define CN_MESSAGE_MAX 255          /* val_fail's buffer */

static size_t cn_chars(const char *s, size_t n) {
    size_t count = 0;
    FUZZ_CHECK(fuzz_utf8_ref(s, n, &count));
    FUZZ_CHECK(hjson_utf8_valid(s, n));
    FUZZ_CHECK(hjson_utf8_count(s, n) == count);
    return count;
}

/* A clean text: valid UTF-8 and no NUL (a C string whose length is n). */
static size_t cn_text(const char *s, size_t n) {
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(memchr(s, '\0', n) == NULL);
    return cn_chars(s, n);
}

static bool cn_crlf(const char *s, size_t n) {
    return memchr(s, '\r', n) || memchr(s, '\n', n);
}

void check_notif_errors(const struct val_errors *errs, size_t first, const char *prefix) {
    size_t plen = strlen(prefix);
    FUZZ_CHECK(errs->len <= VAL_ERRORS_MAX);
    for (size_t i = first; i < errs->len; i++) {
        const char *f = errs->items[i].field, *m = errs->items[i].message;
        FUZZ_CHECK(f && m);
        size_t flen = strlen(f), mlen = strlen(m);
        cn_chars(f, flen);
        cn_chars(m, mlen);
        FUZZ_CHECK(flen <= CN_FIELD_MAX);
        FUZZ_CHECK(mlen > 0 && mlen <= CN_MESSAGE_MAX);
        /* "notifications[3]" (no dot) is how a non-object element is named; an unknown
         * field whose name is "" is named by the prefix alone */
        bool whole = plen > 0 && prefix[plen - 1] == '.' && flen == plen - 1 &&
                     memcmp(f, prefix, plen - 1) == 0;
        FUZZ_CHECK(whole || (flen >= plen && memcmp(f, prefix, plen) == 0));
    }
}

static const char *cn_get(struct json_object *obj, const char *key, size_t *n) {
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return NULL;
    FUZZ_CHECK(json_object_is_type(v, json_type_string));
    *n = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

/* The recipient rules of API.md, restated without the validator's code. */
static void cn_recipient(enum notif_channel ch, const char *r, size_t n) {
    switch (ch) {
    case CH_EMAIL: {
        FUZZ_CHECK(n >= 3 && n <= 254);
        const char *at = strchr(r, '@');
        FUZZ_CHECK(at && at > r && strchr(at + 1, '@') == NULL && at[1] != '\0');
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(r[i] > 0x20 && r[i] < 0x7F && !strchr(",<>;\"()[]\\:", r[i]));
        break;
    }
    case CH_SMS:
        FUZZ_CHECK(n >= 9 && n <= 16 && r[0] == '+' && r[1] >= '1' && r[1] <= '9');
        for (size_t i = 1; i < n; i++)
            FUZZ_CHECK(r[i] >= '0' && r[i] <= '9');
        break;
    case CH_PUSH:
        FUZZ_CHECK(n >= 1 && n <= 4096);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(r[i] > 0x20 && r[i] < 0x7F);
        break;
    case CH_WEBHOOK: {
        FUZZ_CHECK(n <= 2048);
        size_t skip = strncasecmp(r, "http://", 7) == 0    ? 7
                      : strncasecmp(r, "https://", 8) == 0 ? 8
                                                           : 0;
        FUZZ_CHECK(skip > 0);
        FUZZ_CHECK(r[skip] != '\0' && !strchr("/?#", r[skip])); /* a host */
        size_t alen = strcspn(r + skip, "/?#");
        FUZZ_CHECK(memchr(r + skip, '@', alen) == NULL); /* no user:password@ */
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(r[i] > 0x20 && r[i] < 0x7F);
        break;
    }
    default:
        FUZZ_CHECK(!"channel out of range");
    }
}

/* The push message with the token, parsed back: every part must survive the JSON round trip. */
static void cn_push(const struct notif_input *in, const struct buf *subj, const struct buf *body,
                    struct json_object *md) {
    struct buf msg = {0};
    val_push_message_json(NULL, in->subject ? (subj->data ? subj->data : "") : NULL, subj->len,
                          body->data, body->len, md, &msg);
    FUZZ_CHECK(msg.len <= 4096);
    buf_reset(&msg);
    val_push_message_json(in->recipient, in->subject ? (subj->data ? subj->data : "") : NULL,
                          subj->len, body->data, body->len, md, &msg);
    cn_text(msg.data, msg.len);
    struct json_object *tree = hjson_parse(msg.data, msg.len, NULL, 0);
    FUZZ_CHECK(tree != NULL);
    struct json_object *tok, *notif, *b, *t, *data;
    FUZZ_CHECK(json_object_object_get_ex(tree, "token", &tok));
    FUZZ_CHECK(strcmp(json_object_get_string(tok), in->recipient) == 0);
    FUZZ_CHECK(json_object_object_get_ex(tree, "notification", &notif));
    FUZZ_CHECK(json_object_object_get_ex(notif, "body", &b));
    FUZZ_CHECK((size_t)json_object_get_string_len(b) == body->len &&
               memcmp(json_object_get_string(b), body->data, body->len) == 0);
    FUZZ_CHECK(json_object_object_get_ex(notif, "title", &t) == (in->subject != NULL));
    size_t nkeys = md ? (size_t)json_object_object_length(md) : 0;
    FUZZ_CHECK(json_object_object_get_ex(tree, "data", &data) == (nkeys > 0));
    if (nkeys > 0)
        FUZZ_CHECK((size_t)json_object_object_length(data) == nkeys);
    json_object_put(tree);
    buf_free(&msg);
}

void check_notif_valid(const struct notif_input *in, struct json_object *obj) {
    size_t n = 0;
    FUZZ_CHECK(in->channel >= CH_EMAIL && in->channel < CH_COUNT);
    json_object_object_foreach(obj, key, unused) {
        (void)unused;
        static const char *const known[] = {"channel", "recipient", "subject",
                                            "body",    "metadata",  "send_at"};
        bool found = false;
        for (size_t i = 0; i < HD_ARRAY_LEN(known); i++)
            found = found || strcmp(key, known[i]) == 0;
        FUZZ_CHECK(found);
    }

    /* the stored strings are the request's, whole: nothing cut at a NUL */
    const char *src = cn_get(obj, "channel", &n);
    FUZZ_CHECK(src && strcmp(src, notif_channel_name(in->channel)) == 0 && n == strlen(src));
    src = cn_get(obj, "recipient", &n);
    FUZZ_CHECK(src && in->recipient && strlen(in->recipient) == n &&
               memcmp(src, in->recipient, n) == 0);
    cn_text(in->recipient, n);
    cn_recipient(in->channel, in->recipient, n);

    src = cn_get(obj, "body", &n);
    FUZZ_CHECK(src && in->body && strlen(in->body) == n && memcmp(src, in->body, n) == 0);
    src = cn_get(obj, "subject", &n);
    FUZZ_CHECK((src != NULL) == (in->subject != NULL));
    FUZZ_CHECK(in->channel != CH_EMAIL || in->subject != NULL);
    if (in->subject) {
        FUZZ_CHECK(strlen(in->subject) == n && memcmp(src, in->subject, n) == 0);
        FUZZ_CHECK(cn_text(in->subject, n) <= 200);
        FUZZ_CHECK(!cn_crlf(in->subject, n));
    }

    FUZZ_CHECK(in->send_at_ms == 0 || (in->send_at_ms > CHECK_NOTIF_NOW_MS &&
                                       in->send_at_ms <= CHECK_NOTIF_NOW_MS + 30LL * 86400000));
    if (in->send_at_ms)
        FUZZ_CHECK(cn_get(obj, "send_at", &n) != NULL);

    /* what the worker does: metadata from its stored text, then the templates */
    struct json_object *md = NULL, *orig_md = NULL;
    if (in->metadata_json) {
        size_t mlen = strlen(in->metadata_json);
        FUZZ_CHECK(mlen <= 16384);
        cn_text(in->metadata_json, mlen);
        md = hjson_parse(in->metadata_json, mlen, NULL, 0);
        FUZZ_CHECK(md != NULL);
        FUZZ_CHECK(json_object_object_get_ex(obj, "metadata", &orig_md) && orig_md);
        FUZZ_CHECK(json_object_equal(md, orig_md));
    }
    struct buf subj = {0}, body = {0}, again = {0};
    if (in->subject) {
        FUZZ_CHECK(tmpl_render(in->subject, strlen(in->subject), md, &subj, NULL, 0) == 0);
        size_t chars = subj.len ? cn_text(subj.data, subj.len) : 0;
        FUZZ_CHECK(chars <= 200);
        FUZZ_CHECK(!cn_crlf(subj.data ? subj.data : "", subj.len));
        FUZZ_CHECK(tmpl_render(in->subject, strlen(in->subject), orig_md, &again, NULL, 0) == 0);
        FUZZ_CHECK(again.len == subj.len && memcmp(again.data, subj.data, subj.len) == 0);
        buf_reset(&again);
    }
    FUZZ_CHECK(tmpl_render(in->body, strlen(in->body), md, &body, NULL, 0) == 0);
    FUZZ_CHECK(body.len > 0);
    size_t chars = cn_text(body.data, body.len);
    FUZZ_CHECK(chars >= 1 && chars <= (in->channel == CH_SMS ? 1600u : 10000u));
    FUZZ_CHECK(tmpl_render(in->body, strlen(in->body), orig_md, &again, NULL, 0) == 0);
    FUZZ_CHECK(again.len == body.len && memcmp(again.data, body.data, body.len) == 0);

    if (in->channel == CH_PUSH)
        cn_push(in, &subj, &body, md);

    buf_free(&subj);
    buf_free(&body);
    buf_free(&again);
    json_object_put(md);
}
