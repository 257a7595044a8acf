/* fuzz_json: hjson_parse against an independent RFC 8259 recogniser, plus round trips.
 * Checks: a document the grammar refuses is refused; an accepted one is grammatical, nests at
 * most HJSON_MAX_DEPTH deep, and the only grammatical documents refused are those with a
 * duplicate key, a NUL in a key or too deep a nesting; the error text is always a terminated,
 * non-empty string, even in tiny buffers; an accepted tree serialised by json-c parses back to
 * an equal tree that serialises to the same bytes; every object's and array's size measured
 * while parsing (hjson_size) is the length json-c serialises it to; a limit of exactly the
 * document's values passes and one less stops with HJSON_TOO_MANY; hjson_utf8_valid/count
 * agree with a reference decoder. */
#include "tests/fuzz/fuzz.h"
#include "common/json.h"

#include <json-c/json.h>

#define FJ_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The recogniser: grammar only, no tree; max_depth is the deepest container seen (the
 * top-level object is depth 1). */
struct fj_rec {
    const uint8_t *p, *end;
    int max_depth;
};

static bool fj_value(struct fj_rec *r, int depth);

static void fj_ws(struct fj_rec *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool fj_lit(struct fj_rec *r, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool fj_isdigit(const struct fj_rec *r) {
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

static bool fj_string(struct fj_rec *r) {
    if (r->p >= r->end || *r->p != '"')
        return false;
    r->p++;
    while (r->p < r->end) {
        uint8_t c = *r->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (r->p >= r->end)
            return false;
        c = *r->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u':
            for (int i = 0; i < 4; i++, r->p++) {
                if (r->p >= r->end)
                    return false;
                uint8_t h = *r->p;
                if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                    return false;
            }
            break;
        default:
            return false;
        }
    }
    return false;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool fj_number(struct fj_rec *r) {
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (!fj_isdigit(r))
        return false;
    if (*r->p++ != '0')
        while (fj_isdigit(r))
            r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (!fj_isdigit(r))
            return false;
        while (fj_isdigit(r))
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (!fj_isdigit(r))
            return false;
        while (fj_isdigit(r))
            r->p++;
    }
    return true;
}

static bool fj_container(struct fj_rec *r, int depth, bool object) {
    uint8_t close = object ? '}' : ']';
    if (depth > r->max_depth)
        r->max_depth = depth;
    r->p++;
    fj_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return true;
    }
    for (;;) {
        if (object) {
            fj_ws(r);
            if (!fj_string(r))
                return false;
            fj_ws(r);
            if (r->p >= r->end || *r->p != ':')
                return false;
            r->p++;
        }
        if (!fj_value(r, depth))
            return false;
        fj_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return true;
        }
        return false;
    }
}

static bool fj_value(struct fj_rec *r, int depth) {
    fj_ws(r);
    if (r->p >= r->end)
        return false;
    switch (*r->p) {
    case '{':
        return fj_container(r, depth + 1, true);
    case '[':
        return fj_container(r, depth + 1, false);
    case '"':
        return fj_string(r);
    case 't':
        return fj_lit(r, "true");
    case 'f':
        return fj_lit(r, "false");
    case 'n':
        return fj_lit(r, "null");
    default:
        return fj_number(r);
    }
}

static bool fj_document(const uint8_t *data, size_t size, int *depth) {
    struct fj_rec r = {.p = data, .end = data + size};
    fj_ws(&r);
    bool ok = r.p < r.end && *r.p == '{' && fj_value(&r, 0);
    fj_ws(&r);
    *depth = r.max_depth;
    return ok && r.p == r.end;
}

/* Serialises tree; the text belongs to tree. No raw NUL may appear in it. */
static const char *fj_text(struct json_object *tree, size_t *len) {
    const char *s = json_object_to_json_string_length(tree, FJ_FLAGS, len);
    FUZZ_CHECK(s != NULL && strlen(s) == *len);
    return s;
}

/* fj_sizes: every container's size as measured while parsing is what json-c writes for it;
 * returns the number of values in v (v included). */
static size_t fj_sizes(struct json_object *v) {
    size_t n = 1;
    if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) {
        size_t measured = 0, len = 0;
        json_object_to_json_string_length(v, FJ_FLAGS, &len);
        FUZZ_CHECK(hjson_size(v, &measured) && measured == len);
    }
    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, key, child) {
            (void)key;
            n += fj_sizes(child);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++)
            n += fj_sizes(json_object_array_get_idx(v, i));
    }
    return n;
}

/* fj_bounded: the value limit lets exactly the document's values through. */
static void fj_bounded(const uint8_t *data, size_t size, size_t values) {
    enum hjson_error why = HJSON_INVALID;
    struct json_object *t = hjson_parse_bounded((const char *)data, size, values, &why, NULL, 0);
    FUZZ_CHECK(t != NULL && why == HJSON_OK);
    json_object_put(t);
    t = hjson_parse_bounded((const char *)data, size, values - 1, &why, NULL, 0);
    FUZZ_CHECK(t == NULL && why == HJSON_TOO_MANY);
}

static void fj_round_trip(struct json_object *tree) {
    size_t len1, len2;
    const char *s1 = fj_text(tree, &len1);
    char err[128];
    struct json_object *again = hjson_parse(s1, len1, err, sizeof(err));
    if (!again)
        fprintf(stderr, "re-parse failed: %s\n", err);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(json_object_equal(tree, again));
    const char *s2 = fj_text(again, &len2);
    FUZZ_CHECK(len1 == len2 && memcmp(s1, s2, len1) == 0);
    json_object_put(again);
}

static void fj_utf8(const uint8_t *data, size_t size) {
    size_t count = 0;
    bool ref = fuzz_utf8_ref((const char *)data, size, &count);
    FUZZ_CHECK(hjson_utf8_valid((const char *)data, size) == ref);
    if (ref)
        FUZZ_CHECK(hjson_utf8_count((const char *)data, size) == count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[128];
    int depth = 0;
    memset(err, 'x', sizeof(err));
    struct json_object *tree = hjson_parse((const char *)data, size, err, sizeof(err));
    bool grammatical = fj_document(data, size, &depth);

    if (tree) {
        FUZZ_CHECK(grammatical);
        FUZZ_CHECK(depth <= HJSON_MAX_DEPTH);
        FUZZ_CHECK(json_object_is_type(tree, json_type_object));
        FUZZ_CHECK(err[0] == '\0');
        fj_round_trip(tree);
        fj_bounded(data, size, fj_sizes(tree));
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        if (grammatical)
            FUZZ_CHECK(depth > HJSON_MAX_DEPTH || strstr(err, "duplicate key") ||
                       strstr(err, "NUL character"));
    }

    /* the error text in buffers too small for it, and no buffer at all */
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    struct json_object *t2 = hjson_parse((const char *)data, size, tiny, sizeof(tiny));
    FUZZ_CHECK((t2 != NULL) == (tree != NULL));
    FUZZ_CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
    if (t2)
        FUZZ_CHECK(json_object_equal(tree, t2));
    json_object_put(t2);
    char one = 'x';
    t2 = hjson_parse((const char *)data, size, &one, 1);
    FUZZ_CHECK((t2 != NULL) == (tree != NULL) && one == '\0');
    json_object_put(t2);
    t2 = hjson_parse((const char *)data, size, NULL, 0);
    FUZZ_CHECK((t2 != NULL) == (tree != NULL));
    json_object_put(t2);

    fj_utf8(data, size);
    json_object_put(tree);
    return 0;
}
