/* template: placeholder scanning and rendering over json-c metadata. */
#include "common/template.h"
#include "common/buf.h"
#include "common/json.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

static bool tmpl_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* The name length of the placeholder starting at s[i], or 0 if none starts there. */
static size_t tmpl_match(const char *s, size_t n, size_t i) {
    if (n - i < 5 || s[i] != '{' || s[i + 1] != '{')
        return 0;
    size_t j = i + 2;
    while (j < n && j - (i + 2) <= TMPL_NAME_MAX && tmpl_name_char(s[j]))
        j++;
    size_t len = j - (i + 2);
    if (len == 0 || len > TMPL_NAME_MAX || n - j < 2 || s[j] != '}' || s[j + 1] != '}')
        return 0;
    return len;
}

/* The text a metadata value renders as (borrowed from metadata), or -1. */
static int tmpl_value(struct json_object *metadata, const char *name, const char **v,
                      size_t *vlen) {
    struct json_object *val;
    if (!metadata || !json_object_is_type(metadata, json_type_object) ||
        !json_object_object_get_ex(metadata, name, &val))
        return -1;
    switch (json_object_get_type(val)) {
    case json_type_string:
        *v = json_object_get_string(val);
        *vlen = (size_t)json_object_get_string_len(val);
        return 0;
    case json_type_int:
    case json_type_double:
    case json_type_boolean:
        *v = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
        *vlen = strlen(*v);
        return 0;
    default:
        return -1;
    }
}

/* tmpl_html_entity: the HTML escape of c (API.md's five: & < > " '), or NULL. */
static const char *tmpl_html_entity(char c) {
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

/* tmpl_put_value: appends (out non-NULL) and measures a value, HTML-escaped
 * when html is set. An entity is ASCII: its bytes are its code points. */
static void tmpl_put_value(const char *v, size_t vlen, bool html, struct buf *out, size_t *nbytes,
                           size_t *nchars) {
    if (!html) {
        *nbytes += vlen;
        *nchars += hjson_utf8_count(v, vlen);
        if (out)
            buf_append(out, v, vlen);
        return;
    }
    size_t plain = 0;
    for (size_t k = 0; k <= vlen; k++) {
        const char *ent = k < vlen ? tmpl_html_entity(v[k]) : NULL;
        if (k < vlen && !ent)
            continue;
        *nbytes += k - plain;
        *nchars += hjson_utf8_count(v + plain, k - plain);
        if (out)
            buf_append(out, v + plain, k - plain);
        if (ent) {
            size_t elen = strlen(ent);
            *nbytes += elen;
            *nchars += elen;
            if (out)
                buf_append(out, ent, elen);
        }
        plain = k + 1;
    }
}

/* One pass over src for every entry point: out NULL only measures; html
 * escapes the values (never the template's own text). */
static int tmpl_walk(const char *src, size_t n, struct json_object *metadata, bool html,
                     struct buf *out, size_t *bytes, size_t *chars, char *bad_name,
                     size_t bad_len) {
    size_t nbytes = 0, nchars = 0, lit = 0, i = 0;
    while (i < n) {
        size_t len = tmpl_match(src, n, i);
        if (len == 0) {
            i++;
            continue;
        }
        char name[TMPL_NAME_LEN];
        memcpy(name, src + i + 2, len);
        name[len] = '\0';
        const char *v;
        size_t vlen;
        if (tmpl_value(metadata, name, &v, &vlen) != 0) {
            if (bad_name && bad_len > 0) {
                size_t k = len < bad_len - 1 ? len : bad_len - 1;
                memcpy(bad_name, name, k);
                bad_name[k] = '\0';
            }
            return -1;
        }
        nbytes += i - lit;
        nchars += hjson_utf8_count(src + lit, i - lit);
        if (out)
            buf_append(out, src + lit, i - lit);
        tmpl_put_value(v, vlen, html, out, &nbytes, &nchars);
        i += len + 4;
        lit = i;
    }
    nbytes += n - lit;
    nchars += hjson_utf8_count(src + lit, n - lit);
    if (out)
        buf_append(out, src + lit, n - lit);
    if (bytes)
        *bytes = nbytes;
    if (chars)
        *chars = nchars;
    return 0;
}

int tmpl_check(const char *src, size_t n, struct json_object *metadata, size_t *bytes,
               size_t *chars, char *bad_name, size_t bad_len) {
    return tmpl_walk(src, n, metadata, false, NULL, bytes, chars, bad_name, bad_len);
}

/* tmpl_render_as: tmpl_render or, with html, tmpl_render_html. */
static int tmpl_render_as(const char *src, size_t n, struct json_object *metadata, bool html,
                          struct buf *out, char *bad_name, size_t bad_len) {
    /* check first so a failure leaves out untouched */
    if (tmpl_walk(src, n, metadata, html, NULL, NULL, NULL, bad_name, bad_len) != 0)
        return -1;
    return tmpl_walk(src, n, metadata, html, out, NULL, NULL, NULL, 0);
}

int tmpl_render(const char *src, size_t n, struct json_object *metadata, struct buf *out,
                char *bad_name, size_t bad_len) {
    return tmpl_render_as(src, n, metadata, false, out, bad_name, bad_len);
}

int tmpl_check_html(const char *src, size_t n, struct json_object *metadata, size_t *bytes,
                    size_t *chars, char *bad_name, size_t bad_len) {
    return tmpl_walk(src, n, metadata, true, NULL, bytes, chars, bad_name, bad_len);
}

int tmpl_render_html(const char *src, size_t n, struct json_object *metadata, struct buf *out,
                     char *bad_name, size_t bad_len) {
    return tmpl_render_as(src, n, metadata, true, out, bad_name, bad_len);
}
