/* fuzz_push: val_push_message_json, the FCM message Herald sends for a push notification.
 * Input: metadata JSON (empty: none), NUL, title, NUL, body; with only one NUL there is no
 * title, with none the whole input is the body. The token is the title's first line when
 * the metadata text starts with "t". Checks: the output is one JSON object that hjson_parse
 * accepts (even for control characters and invalid UTF-8 in the texts), with the token,
 * title and body byte for byte, and a "data" object holding every metadata key in order with
 * the string value as is or any other value as its compact JSON text; it is valid UTF-8
 * whenever every input text is. */
#include "tests/fuzz/fuzz.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/validate.h"

#include <json-c/json.h>

#define FP_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static bool fp_same(struct json_object *v, const char *s, size_t n) {
    return json_object_is_type(v, json_type_string) && (size_t)json_object_get_string_len(v) == n &&
           memcmp(json_object_get_string(v), s, n) == 0;
}

/* true when every string and key in v is valid UTF-8 */
static bool fp_utf8_tree(struct json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_string:
        return fuzz_utf8_ref(json_object_get_string(v), (size_t)json_object_get_string_len(v),
                             NULL);
    case json_type_object: {
        json_object_object_foreach(v, k, child) {
            if (!fuzz_utf8_ref(k, strlen(k), NULL) || !fp_utf8_tree(child))
                return false;
        }
        return true;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (!fp_utf8_tree(json_object_array_get_idx(v, i)))
                return false;
        return true;
    default:
        return true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t md_len, rest_len, title_len, body_len;
    const uint8_t *rest, *body;
    const char *title = NULL;
    struct json_object *md = NULL;
    if (!fuzz_split(data, size, 0, &md_len, &rest, &rest_len)) {
        body = data;
        body_len = size;
        md_len = 0;
    } else if (!fuzz_split(rest, rest_len, 0, &title_len, &body, &body_len)) {
        body = rest;
        body_len = rest_len;
    } else {
        title = (const char *)rest;
    }
    if (md_len > 0) {
        md = hjson_parse((const char *)data, md_len, NULL, 0);
        if (!md)
            return 0;
    }
    char *token = NULL;
    if (title && md_len > 0 && data[0] == 't') {
        const char *nl = memchr(title, '\n', title_len);
        token = fuzz_cstr((const uint8_t *)title, nl ? (size_t)(nl - title) : title_len);
    }

    struct buf out = {0};
    val_push_message_json(token, title, title ? title_len : 0, (const char *)body, body_len, md,
                          &out);
    FUZZ_CHECK(out.data && strlen(out.data) == out.len); /* every NUL escaped */
    char err[128];
    struct json_object *msg = hjson_parse(out.data, out.len, err, sizeof(err));
    if (!msg)
        fprintf(stderr, "output does not parse: %s\n", err);
    FUZZ_CHECK(msg != NULL);

    struct json_object *tok = NULL, *notif = NULL, *v = NULL, *dat = NULL;
    FUZZ_CHECK(json_object_object_get_ex(msg, "token", &tok) == (token != NULL));
    if (token)
        FUZZ_CHECK(fp_same(tok, token, strlen(token)));
    FUZZ_CHECK(json_object_object_get_ex(msg, "notification", &notif));
    FUZZ_CHECK(json_object_object_get_ex(notif, "body", &v) &&
               fp_same(v, (const char *)body, body_len));
    FUZZ_CHECK(json_object_object_get_ex(notif, "title", &v) == (title != NULL));
    if (title)
        FUZZ_CHECK(fp_same(v, title, title_len));
    FUZZ_CHECK(json_object_object_length(notif) == (title ? 2 : 1));

    int nkeys = md ? json_object_object_length(md) : 0;
    FUZZ_CHECK(json_object_object_get_ex(msg, "data", &dat) == (nkeys > 0));
    if (nkeys > 0) {
        FUZZ_CHECK(json_object_object_length(dat) == nkeys);
        struct json_object_iterator it = json_object_iter_begin(dat);
        json_object_object_foreach(md, k, mv) {
            FUZZ_CHECK(strcmp(json_object_iter_peek_name(&it), k) == 0);
            struct json_object *dv = json_object_iter_peek_value(&it);
            if (json_object_is_type(mv, json_type_string)) {
                FUZZ_CHECK(fp_same(dv, json_object_get_string(mv),
                                   (size_t)json_object_get_string_len(mv)));
            } else {
                const char *text = json_object_to_json_string_ext(mv, FP_FLAGS);
                FUZZ_CHECK(fp_same(dv, text, strlen(text)));
            }
            json_object_iter_next(&it);
        }
    }
    FUZZ_CHECK(json_object_object_length(msg) == 1 + (token != NULL) + (nkeys > 0));

    bool clean = (!token || fuzz_utf8_ref(token, strlen(token), NULL)) &&
                 (!title || fuzz_utf8_ref(title, title_len, NULL)) &&
                 fuzz_utf8_ref((const char *)body, body_len, NULL) && (!md || fp_utf8_tree(md));
    if (clean)
        FUZZ_CHECK(fuzz_utf8_ref(out.data, out.len, NULL));

    json_object_put(msg);
    json_object_put(md);
    buf_free(&out);
    mem_free(token);
    return 0;
}
