/* fuzz_template: tmpl_check and tmpl_render against a reference renderer.
 * Input: metadata JSON, NUL, template; without a NUL (or when the metadata does not parse)
 * the whole input is the template and a fixed metadata object is used. Checks: check and
 * render agree with each other and with the reference (the leftmost-first, non-overlapping
 * search for \{\{[A-Za-z0-9_]{1,64}\}\} of template.h) on the verdict, the bad name and
 * the text; the measured bytes and code points match the text; a failed render leaves the
 * buffer as it was; bad_name is cut and terminated in a short buffer; a template without
 * "{{" renders as itself. */
#include "tests/fuzz/fuzz.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/template.h"

#include <inttypes.h>
#include <json-c/json.h>

static const char ft_default_md[] =
    "{\"name\":\"Ada\",\"n\":42,\"neg\":-7,\"x\":1.50,\"e\":1e3,\"t\":true,\"f\":false,"
    "\"z\":null,\"o\":{},\"a\":[],\"crlf\":\"a\\r\\nb\",\"nul\":\"a\\u0000b\","
    "\"br\":\"{{name}}\",\"u\":\"\\u00e9\\ud83d\\ude00\",\"lone\":\"\\ud800\",\"_\":\"\"}";

static bool ft_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* The reference value of a placeholder: 0 and the text (in tmp when it has to be made), or -1. */
static int ft_value(struct json_object *md, const char *name, char *tmp, size_t tmplen,
                    const char **v, size_t *vlen) {
    struct json_object *val;
    if (!md || !json_object_is_type(md, json_type_object) ||
        !json_object_object_get_ex(md, name, &val) || !val)
        return -1;
    switch (json_object_get_type(val)) {
    case json_type_string:
        *v = json_object_get_string(val);
        *vlen = (size_t)json_object_get_string_len(val);
        return 0;
    case json_type_int:
        snprintf(tmp, tmplen, "%" PRId64, json_object_get_int64(val));
        break;
    case json_type_boolean:
        snprintf(tmp, tmplen, "%s", json_object_get_boolean(val) ? "true" : "false");
        break;
    case json_type_double:
        /* hjson keeps a double's source text; json-c prints it back unchanged */
        *v = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
        *vlen = strlen(*v);
        return 0;
    default:
        return -1;
    }
    *v = tmp;
    *vlen = strlen(tmp);
    return 0;
}

static int ft_reference(const char *s, size_t n, struct json_object *md, struct buf *out,
                        char *bad) {
    size_t i = 0;
    buf_append(out, "", 0); /* data is never NULL, even for an empty text */
    while (i < n) {
        if (n - i >= 2 && s[i] == '{' && s[i + 1] == '{') {
            size_t k = 0;
            while (i + 2 + k < n && ft_name_char(s[i + 2 + k]))
                k++;
            size_t close = i + 2 + k;
            if (k >= 1 && k <= 64 && n - close >= 2 && s[close] == '}' && s[close + 1] == '}') {
                char name[65], tmp[32];
                const char *v;
                size_t vlen;
                memcpy(name, s + i + 2, k);
                name[k] = '\0';
                if (ft_value(md, name, tmp, sizeof(tmp), &v, &vlen) != 0) {
                    memcpy(bad, name, k + 1);
                    return -1;
                }
                buf_append(out, v, vlen);
                i = close + 2;
                continue;
            }
        }
        buf_append(out, s + i, 1);
        i++;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t md_len, n;
    const uint8_t *tail;
    const char *src = (const char *)data;
    struct json_object *md = NULL;
    n = size;
    if (fuzz_split(data, size, 0, &md_len, &tail, &n)) {
        md = hjson_parse((const char *)data, md_len, NULL, 0);
        src = (const char *)tail;
    }
    if (!md) {
        md = hjson_parse(ft_default_md, sizeof(ft_default_md) - 1, NULL, 0);
        FUZZ_CHECK(md != NULL);
    }

    struct buf ref = {0}, out = {0};
    char ref_bad[TMPL_NAME_LEN] = "", bad[TMPL_NAME_LEN] = "", bad2[TMPL_NAME_LEN] = "";
    int ref_rc = ft_reference(src, n, md, &ref, ref_bad);

    size_t bytes = 12345, chars = 12345;
    int crc = tmpl_check(src, n, md, &bytes, &chars, bad, sizeof(bad));
    FUZZ_CHECK(crc == ref_rc);
    buf_puts(&out, "kept:");
    int rrc = tmpl_render(src, n, md, &out, bad2, sizeof(bad2));
    FUZZ_CHECK(rrc == ref_rc);
    if (ref_rc == 0) {
        FUZZ_CHECK(out.len == 5 + ref.len && memcmp(out.data + 5, ref.data, ref.len) == 0);
        FUZZ_CHECK(bytes == ref.len);
        FUZZ_CHECK(chars == hjson_utf8_count(ref.data ? ref.data : "", ref.len));
        if (!memmem(src, n, "{{", 2))
            FUZZ_CHECK(ref.len == n && memcmp(ref.data, src, n) == 0);
    } else {
        FUZZ_CHECK(strcmp(bad, ref_bad) == 0 && strcmp(bad2, ref_bad) == 0);
        FUZZ_CHECK(bytes == 12345 && chars == 12345);
        FUZZ_CHECK(out.len == 5 && strcmp(out.data, "kept:") == 0);
        char small[4] = "xyz";
        FUZZ_CHECK(tmpl_check(src, n, md, NULL, NULL, small, sizeof(small)) == -1);
        FUZZ_CHECK(strlen(small) <= 3 && strncmp(small, ref_bad, strlen(small)) == 0);
        FUZZ_CHECK(tmpl_check(src, n, md, NULL, NULL, NULL, 0) == -1);
    }

    /* no metadata: a template renders only when it holds no placeholder at all */
    buf_reset(&ref);
    int none = ft_reference(src, n, NULL, &ref, ref_bad);
    FUZZ_CHECK(tmpl_check(src, n, NULL, NULL, NULL, bad, sizeof(bad)) == none);

    buf_free(&ref);
    buf_free(&out);
    json_object_put(md);
    return 0;
}
