/* validate: API.md's notification rules, collecting every faulty field rather than stopping at the
 * first. */
#include "common/validate.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/recipient.h"
#include "common/template.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VAL_SUBJECT_MAX 200    /* code points */
#define VAL_BODY_MAX 10000     /* code points */
#define VAL_HTML_MAX 50000     /* code points, also once rendered */
#define VAL_SMS_BODY_MAX 1600  /* code points */
#define VAL_PUSH_JSON_MAX 4096 /* bytes of val_push_message_json() without the token */
#define VAL_METADATA_MAX 16384 /* bytes of compact JSON */
#define VAL_SEND_AT_AHEAD_MS (30LL * 24 * 3600 * 1000)
#define VAL_FIELD_NAME_MAX 128 /* bytes of a request-supplied name echoed in a field */
#define VAL_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

enum { VAL_BAD = -1, VAL_ABSENT = 0, VAL_OK = 1 };

struct val_ctx {
    const char *prefix; /* prepended to every field name */
    struct val_errors *errs;
    bool failed;
};

void val_errors_add(struct val_errors *errs, const char *field, const char *message) {
    if (errs->len >= VAL_ERRORS_MAX) {
        errs->truncated = true;
        return;
    }
    if (errs->len == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        errs->items = mem_realloc(errs->items, cap * sizeof(*errs->items));
        errs->cap = cap;
    }
    errs->items[errs->len].field = mem_strdup(field);
    errs->items[errs->len].message = mem_strdup(message);
    errs->len++;
}

void val_errors_free(struct val_errors *errs) {
    for (size_t i = 0; i < errs->len; i++) {
        mem_free(errs->items[i].field);
        mem_free(errs->items[i].message);
    }
    mem_free(errs->items);
    memset(errs, 0, sizeof(*errs));
}

static void val_fail(struct val_ctx *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void val_fail(struct val_ctx *c, const char *name, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct buf field = {0};
    buf_puts(&field, c->prefix);
    buf_puts(&field, name);
    val_errors_add(c->errs, field.data, msg);
    buf_free(&field);
    c->failed = true;
}

/* Appends a request-supplied name for use in a field: invalid UTF-8 becomes
 * U+FFFD and the name is cut (with "…") at VAL_FIELD_NAME_MAX bytes, so the
 * error list stays small and printable whatever the request holds. */
static void val_put_name(struct buf *b, const char *s, size_t n) {
    size_t start = b->len;
    buf_append(b, "", 0);
    for (size_t i = 0; i < n;) {
        if (b->len - start >= VAL_FIELD_NAME_MAX) {
            buf_puts(b, "\xE2\x80\xA6");
            return;
        }
        unsigned char lead = (unsigned char)s[i];
        size_t len = lead < 0x80 ? 1 : lead < 0xC2 ? 0 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        if (len > 0 && len <= n - i && hjson_utf8_valid(s + i, len)) {
            buf_append(b, s + i, len);
            i += len;
        } else {
            buf_puts(b, "\xEF\xBF\xBD");
            i++;
        }
    }
}

/* Reports NUL characters and invalid UTF-8 (lone surrogates included) in a string field. */
static bool val_text(struct val_ctx *c, const char *name, const char *s, size_t n) {
    if (memchr(s, '\0', n)) {
        val_fail(c, name, "must not contain NUL characters");
        return false;
    }
    if (!hjson_utf8_valid(s, n)) {
        val_fail(c, name, "must be valid UTF-8 (no lone surrogates)");
        return false;
    }
    return true;
}

/* Fetches a string field: VAL_ABSENT when missing or null, VAL_BAD (reported)
 * when not a well-formed string, else VAL_OK with *s, *n borrowed from obj. */
static int val_get_string(struct val_ctx *c, struct json_object *obj, const char *name,
                          const char **s, size_t *n) {
    struct json_object *v = NULL;
    *s = NULL;
    *n = 0;
    if (!json_object_object_get_ex(obj, name, &v) || !v)
        return VAL_ABSENT;
    if (!json_object_is_type(v, json_type_string)) {
        val_fail(c, name, "must be a string");
        return VAL_BAD;
    }
    const char *str = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (!val_text(c, name, str, len))
        return VAL_BAD;
    *s = str;
    *n = len;
    return VAL_OK;
}

/* True when every string and key in v is UTF-8 without NUL. depth guards
 * trees that did not come from hjson_parse. */
static bool val_json_text_ok(struct json_object *v, int depth) {
    if (depth > HJSON_MAX_DEPTH)
        return false;
    switch (json_object_get_type(v)) {
    case json_type_string: {
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        return !memchr(s, '\0', n) && hjson_utf8_valid(s, n);
    }
    case json_type_object: {
        json_object_object_foreach(v, k, child) {
            if (!hjson_utf8_valid(k, strlen(k)) || !val_json_text_ok(child, depth + 1))
                return false;
        }
        return true;
    }
    case json_type_array: {
        size_t len = json_object_array_length(v);
        for (size_t i = 0; i < len; i++)
            if (!val_json_text_ok(json_object_array_get_idx(v, i), depth + 1))
                return false;
        return true;
    }
    default:
        return true;
    }
}

/* FCM refuses these data keys (API.md, push metadata). */
static bool val_fcm_reserved(const char *k) {
    return strcmp(k, "from") == 0 || strcmp(k, "notification") == 0 ||
           strcmp(k, "message_type") == 0 || strncmp(k, "google.", 7) == 0 ||
           strncmp(k, "gcm.", 4) == 0;
}

/* Checks a metadata object's strings, keys, push reserved keys and size. */
static bool val_metadata(struct val_ctx *c, struct json_object *md, int ch) {
    bool ok = true;
    json_object_object_foreach(md, mkey, mval) {
        size_t klen = strlen(mkey);
        if (!hjson_utf8_valid(mkey, klen)) {
            val_fail(c, "metadata", "keys must be valid UTF-8 (no lone surrogates)");
            ok = false;
            continue;
        }
        struct buf field = {0};
        buf_puts(&field, "metadata.");
        val_put_name(&field, mkey, klen);
        if (!val_json_text_ok(mval, 0)) {
            val_fail(c, field.data,
                     "must not contain invalid UTF-8, lone surrogates or NUL characters");
            ok = false;
        } else if (ch == CH_PUSH && val_fcm_reserved(mkey)) {
            val_fail(c, field.data, "is a reserved FCM data key");
            ok = false;
        }
        buf_free(&field);
    }
    /* measured while parsing; serialised only for a tree from elsewhere */
    size_t len = 0;
    if (!hjson_size(md, &len))
        json_object_to_json_string_length(md, VAL_JSON_FLAGS, &len);
    if (len > VAL_METADATA_MAX) {
        val_fail(c, "metadata", "must be at most 16384 bytes as JSON (it is %zu)", len);
        ok = false;
    }
    return ok;
}

/* How val_rendered treats a template. */
struct val_tmpl {
    size_t min, max; /* code points of the rendered text */
    bool no_crlf;    /* a header: no CR or LF once rendered */
    bool html;       /* values are HTML-escaped */
};

/* Checks src's placeholders against md, then (when md_ok: its strings are
 * known to be clean) the rendered text against t's bounds and CR/LF.
 * Returns true with the rendered text in *rendered (NULL: not kept), or false. */
static bool val_rendered(struct val_ctx *c, const char *name, const char *src, size_t n,
                         struct json_object *md, bool md_ok, const struct val_tmpl *t,
                         struct buf *rendered) {
    char bad[TMPL_NAME_LEN];
    size_t chars = 0;
    int crc = t->html ? tmpl_check_html(src, n, md, NULL, &chars, bad, sizeof(bad))
                      : tmpl_check(src, n, md, NULL, &chars, bad, sizeof(bad));
    if (crc != 0) {
        struct json_object *v;
        if (md && json_object_object_get_ex(md, bad, &v))
            val_fail(c, name,
                     "placeholder {{%s}} must refer to a string, number or boolean in metadata",
                     bad);
        else
            val_fail(c, name, "placeholder {{%s}} has no value in metadata", bad);
        return false;
    }
    if (!md_ok)
        return false;
    if (chars > t->max) {
        val_fail(c, name, "must be at most %zu characters once placeholders are filled", t->max);
        return false;
    }
    if (chars < t->min) {
        val_fail(c, name, "must not be empty once placeholders are filled");
        return false;
    }
    if (!rendered)
        return true;
    /* bounded now: at most max code points of valid UTF-8, so at most 4 * max bytes */
    if ((t->html ? tmpl_render_html(src, n, md, rendered, NULL, 0)
                 : tmpl_render(src, n, md, rendered, NULL, 0)) != 0)
        return false;
    if (t->no_crlf && rendered->len > 0 &&
        (memchr(rendered->data, '\r', rendered->len) ||
         memchr(rendered->data, '\n', rendered->len))) {
        val_fail(c, name, "must not contain CR or LF once placeholders are filled");
        return false;
    }
    return true;
}

static bool val_known_field(const char *k) {
    static const char *const known[] = {"channel", "recipient", "subject",  "body",
                                        "html",    "reply_to",  "metadata", "priority",
                                        "send_at", "expires_at"};
    for (size_t i = 0; i < HD_ARRAY_LEN(known); i++)
        if (strcmp(k, known[i]) == 0)
            return true;
    return false;
}

static bool val_has_crlf(const char *s, size_t n) {
    return memchr(s, '\r', n) || memchr(s, '\n', n);
}

int val_notification(struct json_object *obj, const char *prefix, int64_t now_ms,
                     struct notif_input *out, struct val_errors *errs) {
    struct val_ctx c = {.prefix = prefix ? prefix : "", .errs = errs};
    struct buf rsubject = {0}, rbody = {0}, push = {0};
    const char *s, *rcpt, *subj, *body;
    size_t n, rcpt_len, subj_len, body_len;
    int ch = -1, rc = -1;
    int64_t send_at = 0;
    memset(out, 0, sizeof(*out));

    if (!obj || !json_object_is_type(obj, json_type_object)) {
        size_t plen = strlen(c.prefix);
        char *field = mem_strndup(c.prefix, plen && c.prefix[plen - 1] == '.' ? plen - 1 : plen);
        val_errors_add(errs, field, "must be an object");
        mem_free(field);
        goto out;
    }

    {
        json_object_object_foreach(obj, key, unused) {
            (void)unused;
            if (val_known_field(key))
                continue;
            struct buf field = {0};
            val_put_name(&field, key, strlen(key));
            val_fail(&c, field.data, "unknown field");
            buf_free(&field);
        }
    }

    int r = val_get_string(&c, obj, "channel", &s, &n);
    if (r == VAL_ABSENT)
        val_fail(&c, "channel", "is required");
    else if (r == VAL_OK && (ch = notif_channel_parse(s)) < 0)
        val_fail(&c, "channel", "must be one of email, sms, push, webhook");

    r = val_get_string(&c, obj, "recipient", &rcpt, &rcpt_len);
    if (r == VAL_ABSENT) {
        val_fail(&c, "recipient", "is required");
    } else if (r == VAL_OK && ch >= 0) {
        const char *msg = rcpt_check((enum notif_channel)ch, rcpt, rcpt_len);
        if (msg)
            val_fail(&c, "recipient", "%s", msg);
    }

    /* metadata first: the templates are checked against it */
    struct json_object *md = NULL, *mv = NULL;
    bool md_usable = true, md_ok = true;
    if (json_object_object_get_ex(obj, "metadata", &mv) && mv) {
        if (!json_object_is_type(mv, json_type_object)) {
            val_fail(&c, "metadata", "must be an object");
            md_usable = md_ok = false;
        } else {
            md = mv;
            md_ok = val_metadata(&c, md, ch);
        }
    }

    bool subj_ok = false;
    r = val_get_string(&c, obj, "subject", &subj, &subj_len);
    if (r == VAL_ABSENT) {
        if (ch == CH_EMAIL)
            val_fail(&c, "subject", "is required for email");
        else
            subj_ok = true;
    } else if (r == VAL_OK) {
        if (hjson_utf8_count(subj, subj_len) > VAL_SUBJECT_MAX)
            val_fail(&c, "subject", "must be at most 200 characters");
        else if (val_has_crlf(subj, subj_len))
            val_fail(&c, "subject", "must not contain CR or LF");
        else if (md_usable)
            subj_ok = val_rendered(&c, "subject", subj, subj_len, md, md_ok,
                                   &(struct val_tmpl){.max = VAL_SUBJECT_MAX, .no_crlf = true},
                                   &rsubject);
    }

    bool body_ok = false;
    size_t body_max = ch == CH_SMS ? VAL_SMS_BODY_MAX : VAL_BODY_MAX;
    r = val_get_string(&c, obj, "body", &body, &body_len);
    if (r == VAL_ABSENT) {
        val_fail(&c, "body", "is required");
    } else if (r == VAL_OK) {
        size_t chars = hjson_utf8_count(body, body_len);
        if (chars == 0)
            val_fail(&c, "body", "must not be empty");
        else if (chars > body_max)
            val_fail(&c, "body", "must be at most %zu characters%s", body_max,
                     ch == CH_SMS ? " for sms" : "");
        else if (md_usable)
            body_ok = val_rendered(&c, "body", body, body_len, md, md_ok,
                                   &(struct val_tmpl){.min = 1, .max = body_max}, &rbody);
    }

    const char *html = NULL, *reply_to = NULL;
    size_t html_len = 0, reply_len = 0;
    r = val_get_string(&c, obj, "html", &html, &html_len);
    if (r == VAL_OK && ch >= 0 && ch != CH_EMAIL) {
        val_fail(&c, "html", "is only for email");
    } else if (r == VAL_OK) {
        size_t chars = hjson_utf8_count(html, html_len);
        if (chars == 0)
            val_fail(&c, "html", "must not be empty");
        else if (chars > VAL_HTML_MAX)
            val_fail(&c, "html", "must be at most %d characters", VAL_HTML_MAX);
        else if (md_usable)
            val_rendered(&c, "html", html, html_len, md, md_ok,
                         &(struct val_tmpl){.min = 1, .max = VAL_HTML_MAX, .html = true}, NULL);
    }
    r = val_get_string(&c, obj, "reply_to", &reply_to, &reply_len);
    if (r == VAL_OK && ch >= 0 && ch != CH_EMAIL) {
        val_fail(&c, "reply_to", "is only for email");
    } else if (r == VAL_OK) {
        const char *msg = rcpt_email(reply_to, reply_len);
        if (msg)
            val_fail(&c, "reply_to", "%s", msg);
    }

    int priority = PRIO_NORMAL;
    r = val_get_string(&c, obj, "priority", &s, &n);
    if (r == VAL_OK && (priority = notif_priority_parse(s)) < 0)
        val_fail(&c, "priority", "must be one of high, normal, low");

    if (ch == CH_PUSH && subj_ok && body_ok && md_ok) {
        val_push_message_json(NULL, subj ? (rsubject.data ? rsubject.data : "") : NULL,
                              rsubject.len, rbody.data, rbody.len, md, &push);
        if (push.len > VAL_PUSH_JSON_MAX)
            val_fail(&c, "body",
                     "with the subject and metadata, the push message must be at most 4096 bytes "
                     "of JSON (it would be %zu)",
                     push.len);
    }

    int64_t send_at_given = 0;
    r = val_get_string(&c, obj, "send_at", &s, &n);
    if (r == VAL_OK) {
        int64_t ms;
        if (util_parse_time(s, &ms) != 0)
            val_fail(&c, "send_at",
                     "must be an RFC 3339 time with an offset, "
                     "e.g. 2026-11-24T10:00:00Z");
        else if (ms > now_ms + VAL_SEND_AT_AHEAD_MS)
            val_fail(&c, "send_at", "must be at most 30 days ahead");
        else if ((send_at_given = ms) > now_ms)
            send_at = ms;
    }

    int64_t expires_at = 0;
    r = val_get_string(&c, obj, "expires_at", &s, &n);
    if (r == VAL_OK) {
        int64_t ms;
        if (util_parse_time(s, &ms) != 0)
            val_fail(&c, "expires_at",
                     "must be an RFC 3339 time with an offset, "
                     "e.g. 2026-11-24T10:05:00Z");
        else if (ms <= now_ms)
            val_fail(&c, "expires_at", "must be in the future");
        else if (ms > now_ms + VAL_SEND_AT_AHEAD_MS)
            val_fail(&c, "expires_at", "must be at most 30 days ahead");
        else if (send_at_given && ms <= send_at_given)
            val_fail(&c, "expires_at", "must be after send_at");
        else
            expires_at = ms;
    }

    if (c.failed)
        goto out;
    /* every size below is bounded by the limits just checked */
    out->channel = (enum notif_channel)ch;
    out->recipient = mem_strndup(rcpt, rcpt_len);
    out->subject = subj ? mem_strndup(subj, subj_len) : NULL;
    out->body = mem_strndup(body, body_len);
    out->html = html ? mem_strndup(html, html_len) : NULL;
    out->reply_to = reply_to ? mem_strndup(reply_to, reply_len) : NULL;
    out->priority = (enum notif_priority)priority;
    out->expires_at_ms = expires_at;
    out->metadata_json = md ? mem_strdup(json_object_to_json_string_ext(md, VAL_JSON_FLAGS)) : NULL;
    out->send_at_ms = send_at;
    rc = 0;
out:
    buf_free(&rsubject);
    buf_free(&rbody);
    buf_free(&push);
    return rc;
}

static void val_json_member(struct buf *out, const char *key, const char *s, size_t n, bool first) {
    if (!first)
        buf_putc(out, ',');
    buf_json_str(out, key, strlen(key));
    buf_putc(out, ':');
    buf_json_str(out, s, n);
}

void val_push_message_json(const char *token, const char *title, size_t title_len, const char *body,
                           size_t body_len, struct json_object *metadata, struct buf *out) {
    buf_putc(out, '{');
    if (token) {
        val_json_member(out, "token", token, strlen(token), true);
        buf_putc(out, ',');
    }
    buf_puts(out, "\"notification\":{");
    if (title)
        val_json_member(out, "title", title, title_len, true);
    val_json_member(out, "body", body, body_len, !title);
    buf_putc(out, '}');
    if (metadata && json_object_is_type(metadata, json_type_object) &&
        json_object_object_length(metadata) > 0) {
        bool first = true;
        buf_puts(out, ",\"data\":{");
        json_object_object_foreach(metadata, dkey, dval) {
            const char *v;
            size_t vlen;
            if (json_object_is_type(dval, json_type_string)) {
                v = json_object_get_string(dval);
                vlen = (size_t)json_object_get_string_len(dval);
            } else {
                v = json_object_to_json_string_ext(dval, VAL_JSON_FLAGS);
                vlen = strlen(v);
            }
            val_json_member(out, dkey, v, vlen, first);
            first = false;
        }
        buf_putc(out, '}');
    }
    buf_putc(out, '}');
}

int64_t val_batch_cost(struct json_object *obj) {
    struct json_object *list;
    if (json_object_object_get_ex(obj, "notifications", &list) &&
        json_object_is_type(list, json_type_array) && json_object_array_length(list) > 0)
        return (int64_t)json_object_array_length(list);
    return 1;
}

int val_batch(struct json_object *obj, int64_t now_ms, struct notif_input **rows, size_t *n,
              struct val_errors *errs) {
    size_t before = errs->len;
    struct json_object *list = NULL;
    *rows = NULL;
    *n = 0;
    json_object_object_foreach(obj, key, val) {
        if (strcmp(key, "notifications") == 0)
            list = val;
        else if (strlen(key) <= 128 && hjson_utf8_valid(key, strlen(key)))
            val_errors_add(errs, key, "unknown field");
        else
            val_errors_add(errs, "(unprintable field name)", "unknown field");
    }
    size_t count = 0;
    if (!list) {
        val_errors_add(errs, "notifications", "is required");
    } else if (!json_object_is_type(list, json_type_array)) {
        val_errors_add(errs, "notifications", "must be an array");
        list = NULL;
    } else {
        count = json_object_array_length(list);
        if (count < 1 || count > VAL_BATCH_MAX) {
            val_errors_add(errs, "notifications", "must hold 1 to 500 notifications");
            list = NULL;
        }
    }
    struct notif_input *out = list ? mem_calloc(count, sizeof(*out)) : NULL;
    for (size_t i = 0; list && i < count; i++) {
        char prefix[40];
        struct json_object *el = json_object_array_get_idx(list, i);
        if (!json_object_is_type(el, json_type_object)) {
            snprintf(prefix, sizeof(prefix), "notifications[%zu]", i);
            val_errors_add(errs, prefix, "must be an object");
            continue;
        }
        snprintf(prefix, sizeof(prefix), "notifications[%zu].", i);
        val_notification(el, prefix, now_ms, &out[i], errs);
    }
    if (errs->len > before || !list) {
        for (size_t i = 0; out && i < count; i++)
            notif_input_free(&out[i]);
        mem_free(out);
        return -1;
    }
    *rows = out;
    *n = count;
    return 0;
}
