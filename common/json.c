/* json: strict RFC 8259 parsing into json-c trees, written by hand because json_tokener is lenient.
 */
#include "common/json.h"
#include "common/buf.h"
#include "common/mem.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parser state. Decoded strings and number text go to scratch, used as a
 * stack: a key stays at the bottom while its value is parsed above it. The
 * pieces on the stack at any time come from disjoint parts of the input and
 * never decode longer than their source, so len + 1 bytes always suffice; the
 * bounds are still checked on every write. */
struct hjson_parser {
    const char *start;
    const char *p;
    const char *end;
    char *scratch; /* owned; cap bytes */
    size_t cap;
    size_t top; /* first free byte of scratch */
    char *err;
    size_t errlen;
    bool failed;
    bool too_many; /* failed for max_values */
    size_t values; /* values parsed so far */
    size_t max_values;
};

static int hjson_fail(struct hjson_parser *ps, const char *what) {
    if (!ps->failed && ps->err && ps->errlen > 0)
        snprintf(ps->err, ps->errlen, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
    ps->failed = true;
    return -1;
}

static void hjson_skip_ws(struct hjson_parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool hjson_at(const struct hjson_parser *ps, const char *lit) {
    size_t n = strlen(lit);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0;
}

static bool hjson_digit(char c) {
    return c >= '0' && c <= '9';
}

static int hjson_hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Encodes cp as UTF-8; a surrogate gets the same 3-byte pattern (CESU-8),
 * which is invalid UTF-8 on purpose so the validator can name the field. */
static size_t hjson_encode(unsigned cp, char *d) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads the \uXXXX escape at p (the backslash), joining a surrogate pair. */
static int hjson_unicode(struct hjson_parser *ps, unsigned *cp) {
    if (ps->end - ps->p < 6 || hjson_hex4(ps->p + 2, cp) != 0)
        return hjson_fail(ps, "invalid \\u escape");
    ps->p += 6;
    if (*cp >= 0xD800 && *cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
        ps->p[1] == 'u') {
        unsigned lo;
        if (hjson_hex4(ps->p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
            ps->p += 6;
        }
    }
    return 0;
}

/* hjson_escaped_size: the bytes json-c writes for the string s[0..n) with
 * JSON_C_TO_STRING_NOSLASHESCAPE, quotes included: \b \f \n \r \t \" and
 * \\ take two, other control bytes six (\u00XX), the rest one. */
static size_t hjson_escaped_size(const char *s, size_t n) {
    size_t size = 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            size += 2;
        else if (c < 0x20)
            size += 6;
        else
            size += 1;
    }
    return size;
}

/* Decodes the string at p (the opening quote) onto the scratch stack at
 * ps->top, NUL-terminated; *out points into scratch, *outlen excludes the NUL.
 * Does not move ps->top. */
static int hjson_string(struct hjson_parser *ps, char **out, size_t *outlen) {
    char *d = ps->scratch + ps->top;
    char *dend = ps->scratch + ps->cap - 1; /* room for the NUL */
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end)
            return hjson_fail(ps, "unterminated string");
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"')
            break;
        if (dend - d < 4)
            return hjson_fail(ps, "string buffer exhausted");
        if (c < 0x20)
            return hjson_fail(ps, "unescaped control character in string");
        if (c != '\\') {
            *d++ = (char)c;
            ps->p++;
            continue;
        }
        if (ps->end - ps->p < 2)
            return hjson_fail(ps, "unterminated string");
        char e = ps->p[1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            *d++ = map[simple - "\"\\/bfnrt"];
            ps->p += 2;
        } else if (e == 'u') {
            unsigned cp = 0;
            if (hjson_unicode(ps, &cp) != 0)
                return -1;
            d += hjson_encode(cp, d);
        } else {
            return hjson_fail(ps, "invalid escape in string");
        }
    }
    ps->p++;
    *d = '\0';
    *out = ps->scratch + ps->top;
    *outlen = (size_t)(d - *out);
    return 0;
}

static int hjson_number(struct hjson_parser *ps, struct json_object **out, size_t *size) {
    const char *s = ps->p;
    bool neg = false, is_int = true;
    if (*ps->p == '-') {
        neg = true;
        ps->p++;
    }
    if (ps->p < ps->end && *ps->p == 'I')
        return hjson_fail(ps, "NaN and Infinity are not allowed");
    if (ps->p >= ps->end || !hjson_digit(*ps->p))
        return hjson_fail(ps, "invalid number");
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && hjson_digit(*ps->p))
            return hjson_fail(ps, "leading zeros are not allowed");
    } else {
        while (ps->p < ps->end && hjson_digit(*ps->p))
            ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        is_int = false;
        ps->p++;
        if (ps->p >= ps->end || !hjson_digit(*ps->p))
            return hjson_fail(ps, "invalid number: digits must follow '.'");
        while (ps->p < ps->end && hjson_digit(*ps->p))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        is_int = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || !hjson_digit(*ps->p))
            return hjson_fail(ps, "invalid number: digits must follow the exponent");
        while (ps->p < ps->end && hjson_digit(*ps->p))
            ps->p++;
    }
    size_t n = (size_t)(ps->p - s);
    if (is_int && !(neg && n == 2)) { /* "-0" goes the double way to keep its sign */
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t mag = 0;
        bool fits = true;
        for (const char *q = s + neg; q < ps->p && fits; q++) {
            unsigned dgt = (unsigned)(*q - '0');
            if (mag > (limit - dgt) / 10)
                fits = false;
            else
                mag = mag * 10 + dgt;
        }
        if (fits) {
            /* -(INT64_MAX + 1) is computed without overflowing */
            int64_t v = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
            /* json-c prints it back as the text read: leading zeros are
             * refused and "-0" is a double */
            *size = n;
            *out = json_object_new_int64(v);
            return *out ? 0 : hjson_fail(ps, "out of memory");
        }
    }
    if (ps->cap - ps->top < n + 1)
        return hjson_fail(ps, "number buffer exhausted");
    char *text = ps->scratch + ps->top;
    memcpy(text, s, n);
    text[n] = '\0';
    /* strtod reads the C locale's '.'; Herald never calls setlocale */
    *size = n; /* json-c writes the source text back */
    *out = json_object_new_double_s(strtod(text, NULL), text);
    return *out ? 0 : hjson_fail(ps, "out of memory");
}

static int hjson_value(struct hjson_parser *ps, int depth, struct json_object **out, size_t *size);

/* hjson_record_size: keeps a container's serialised size on it (see hjson_size). */
static void hjson_record_size(struct json_object *o, size_t size) {
    json_object_set_userdata(o, (void *)(uintptr_t)(size + 1), NULL);
}

/* hjson_more: after a member or an element: 1 past a ',' (another
 * follows), 0 past close (the end), or -1 (reported). */
static int hjson_more(struct hjson_parser *ps, char close) {
    hjson_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        return 1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    if (ps->p < ps->end && *ps->p == '/')
        return hjson_fail(ps, "comments are not allowed");
    return hjson_fail(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static int hjson_object(struct hjson_parser *ps, int depth, struct json_object **out,
                        size_t *size) {
    if (depth > HJSON_MAX_DEPTH)
        return hjson_fail(ps, "nesting deeper than 64 levels");
    struct json_object *obj = json_object_new_object();
    size_t saved_top = ps->top;
    size_t total = 2; /* {} */
    if (!obj)
        return hjson_fail(ps, "out of memory");
    ps->p++;
    hjson_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
    }
    for (;;) {
        hjson_skip_ws(ps);
        if (ps->p >= ps->end) {
            hjson_fail(ps, "unexpected end of input");
            goto fail;
        }
        if (*ps->p != '"') {
            if (*ps->p == '}')
                hjson_fail(ps, "trailing comma");
            else if (*ps->p == '\'')
                hjson_fail(ps, "strings must use double quotes");
            else if (*ps->p == '/')
                hjson_fail(ps, "comments are not allowed");
            else
                hjson_fail(ps, "expected a string key");
            goto fail;
        }
        const char *key_at = ps->p;
        char *key;
        size_t klen;
        if (hjson_string(ps, &key, &klen) != 0)
            goto fail;
        if (memchr(key, '\0', klen)) {
            ps->p = key_at;
            hjson_fail(ps, "object key contains a NUL character");
            goto fail;
        }
        if (json_object_object_get_ex(obj, key, NULL)) {
            ps->p = key_at;
            hjson_fail(ps, "duplicate key");
            goto fail;
        }
        ps->top += klen + 1; /* keep the key below the value's scratch use */
        hjson_skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            hjson_fail(ps, "expected ':'");
            goto fail;
        }
        ps->p++;
        struct json_object *val = NULL;
        size_t vsize = 0;
        if (hjson_value(ps, depth, &val, &vsize) != 0)
            goto fail;
        total += (json_object_object_length(obj) ? 1 : 0) + hjson_escaped_size(key, klen) + 1 +
                 vsize; /* [,]"key":value */
        if (json_object_object_add_ex(obj, key, val, JSON_C_OBJECT_ADD_KEY_IS_NEW) != 0) {
            json_object_put(val);
            hjson_fail(ps, "out of memory");
            goto fail;
        }
        ps->top = saved_top;
        int more = hjson_more(ps, '}');
        if (more < 0)
            goto fail;
        if (!more)
            break;
    }
done:
    ps->top = saved_top;
    hjson_record_size(obj, total);
    *size = total;
    *out = obj;
    return 0;
fail:
    ps->top = saved_top;
    json_object_put(obj);
    return -1;
}

static int hjson_array(struct hjson_parser *ps, int depth, struct json_object **out, size_t *size) {
    if (depth > HJSON_MAX_DEPTH)
        return hjson_fail(ps, "nesting deeper than 64 levels");
    size_t total = 2; /* [] */
    struct json_object *arr = json_object_new_array();
    if (!arr)
        return hjson_fail(ps, "out of memory");
    ps->p++;
    hjson_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        goto done;
    }
    for (;;) {
        hjson_skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            hjson_fail(ps, "trailing comma");
            goto fail;
        }
        struct json_object *val = NULL;
        size_t vsize = 0;
        if (hjson_value(ps, depth, &val, &vsize) != 0)
            goto fail;
        total += (json_object_array_length(arr) ? 1 : 0) + vsize;
        if (json_object_array_add(arr, val) != 0) {
            json_object_put(val);
            hjson_fail(ps, "out of memory");
            goto fail;
        }
        int more = hjson_more(ps, ']');
        if (more < 0)
            goto fail;
        if (!more)
            break;
    }
done:
    hjson_record_size(arr, total);
    *size = total;
    *out = arr;
    return 0;
fail:
    json_object_put(arr);
    return -1;
}

/* Parses one value; *out may legitimately be NULL (json-c's null). depth is
 * the nesting of the container holding the value; *size gets the bytes
 * json-c writes for it compact (see hjson_size). */
static int hjson_value(struct hjson_parser *ps, int depth, struct json_object **out, size_t *size) {
    *out = NULL;
    *size = 0;
    hjson_skip_ws(ps);
    if (ps->p >= ps->end)
        return hjson_fail(ps, "unexpected end of input");
    if (++ps->values > ps->max_values) {
        ps->too_many = true;
        return hjson_fail(ps, "too many values");
    }
    switch (*ps->p) {
    case '{':
        return hjson_object(ps, depth + 1, out, size);
    case '[':
        return hjson_array(ps, depth + 1, out, size);
    case '"': {
        char *s = NULL;
        size_t n = 0;
        if (hjson_string(ps, &s, &n) != 0)
            return -1;
        *size = hjson_escaped_size(s, n);
        *out = json_object_new_string_len(s, (int)n); /* n <= input length <= INT_MAX */
        return *out ? 0 : hjson_fail(ps, "out of memory");
    }
    case 't':
    case 'f':
        if (hjson_at(ps, "true") || hjson_at(ps, "false")) {
            bool b = *ps->p == 't';
            ps->p += b ? 4 : 5;
            *size = b ? 4 : 5;
            *out = json_object_new_boolean(b);
            return *out ? 0 : hjson_fail(ps, "out of memory");
        }
        return hjson_fail(ps, "unexpected character");
    case 'n':
        if (hjson_at(ps, "null")) {
            ps->p += 4;
            *size = 4;
            return 0;
        }
        return hjson_fail(ps, "unexpected character");
    case 'N':
    case 'I':
        return hjson_fail(ps, hjson_at(ps, "NaN") || hjson_at(ps, "Infinity")
                                  ? "NaN and Infinity are not allowed"
                                  : "unexpected character");
    case '/':
        return hjson_fail(ps, "comments are not allowed");
    case '\'':
        return hjson_fail(ps, "strings must use double quotes");
    default:
        if (*ps->p == '-' || hjson_digit(*ps->p))
            return hjson_number(ps, out, size);
        return hjson_fail(ps, "unexpected character");
    }
}

struct json_object *hjson_parse_bounded(const char *buf, size_t len, size_t max_values,
                                        enum hjson_error *why, char *err, size_t errlen) {
    struct hjson_parser ps = {.start = buf,
                              .p = buf,
                              .end = buf + len,
                              .err = err,
                              .errlen = errlen,
                              .max_values = max_values};
    struct json_object *root = NULL;
    size_t size = 0;
    if (err && errlen > 0)
        err[0] = '\0';
    if (!buf || len > (size_t)INT_MAX) {
        hjson_fail(&ps, "input too large");
        goto fail;
    }
    ps.cap = len + 1;
    ps.scratch = mem_try_alloc(ps.cap);
    if (!ps.scratch) {
        hjson_fail(&ps, "out of memory");
        goto fail;
    }
    hjson_skip_ws(&ps);
    if (ps.p >= ps.end) {
        hjson_fail(&ps, "empty input");
        goto fail;
    }
    if (*ps.p != '{') {
        hjson_fail(&ps, "the top-level value must be an object");
        goto fail;
    }
    if (hjson_value(&ps, 0, &root, &size) != 0)
        goto fail;
    hjson_skip_ws(&ps);
    if (ps.p != ps.end) {
        hjson_fail(&ps, "unexpected data after the top-level object");
        goto fail;
    }
    if (why)
        *why = HJSON_OK;
    goto out;
fail:
    json_object_put(root);
    root = NULL;
    if (why)
        *why = ps.too_many ? HJSON_TOO_MANY : HJSON_INVALID;
out:
    mem_free(ps.scratch);
    return root;
}

struct json_object *hjson_parse(const char *buf, size_t len, char *err, size_t errlen) {
    return hjson_parse_bounded(buf, len, SIZE_MAX, NULL, err, errlen);
}

bool hjson_size(struct json_object *o, size_t *size) {
    uintptr_t v = (uintptr_t)json_object_get_userdata(o);
    if (!v ||
        !(json_object_is_type(o, json_type_object) || json_object_is_type(o, json_type_array)))
        return false;
    *size = (size_t)(v - 1);
    return true;
}

/* The length of the well-formed UTF-8 sequence at s, or 0 if there is none. */
static size_t hjson_utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

bool hjson_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = hjson_utf8_seq(u + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

size_t hjson_utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

size_t hjson_utf8_clean(struct buf *out, const char *s, size_t n, size_t max_chars) {
    const unsigned char *u = (const unsigned char *)s;
    size_t chars = 0;
    buf_append(out, "", 0);
    for (size_t i = 0; i < n && chars < max_chars; chars++) {
        size_t len = u[i] < 0x80 ? 1 : hjson_utf8_seq(u + i, n - i);
        if (len == 0) {
            buf_puts(out, "\xEF\xBF\xBD");
            i++;
        } else {
            buf_append(out, s + i, len);
            i += len;
        }
    }
    return chars;
}
