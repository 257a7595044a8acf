/* test_json: the strict parser's accept/refuse rules, string decoding and the UTF-8 helpers. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/mem.h"

static char err[128];

static struct json_object *parse(const char *s) {
    return hjson_parse(s, strlen(s), err, sizeof(err));
}

static void expect_refused(const char *s, const char *msg_part) {
    struct json_object *o = parse(s);
    cr_expect_null(o, "accepted: %s", s);
    json_object_put(o);
    if (msg_part)
        cr_expect(strstr(err, msg_part) != NULL, "for %s: message '%s' lacks '%s'", s, err,
                  msg_part);
}

/* The json-c string at key k in o; asserts its presence. */
static const char *str_at(struct json_object *o, const char *k, size_t *len) {
    struct json_object *v;
    cr_assert(json_object_object_get_ex(o, k, &v));
    cr_assert(json_object_is_type(v, json_type_string));
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

Test(json, parses_every_type) {
    struct json_object *o =
        parse(" {\"s\":\"x\",\"i\":-42,\"d\":1.5,\"t\":true,\"f\":false,\"n\":null,"
              "\"a\":[1,[],{}],\"o\":{\"k\":\"v\"}} \r\n\t");
    cr_assert_not_null(o, "%s", err);
    struct json_object *v;
    cr_expect(json_object_object_get_ex(o, "i", &v) && json_object_get_int64(v) == -42);
    cr_expect(json_object_object_get_ex(o, "d", &v) && json_object_is_type(v, json_type_double));
    cr_expect(json_object_object_get_ex(o, "t", &v) && json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(o, "f", &v) && !json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(o, "n", &v) && v == NULL);
    cr_expect(json_object_object_get_ex(o, "a", &v) && json_object_array_length(v) == 3);
    cr_expect_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     "{\"s\":\"x\",\"i\":-42,\"d\":1.5,\"t\":true,\"f\":false,\"n\":null,"
                     "\"a\":[1,[],{}],\"o\":{\"k\":\"v\"}}");
    json_object_put(o);
}

Test(json, empty_object_and_whitespace) {
    struct json_object *o = parse("\n {  } \n");
    cr_assert_not_null(o, "%s", err);
    cr_expect_eq(json_object_object_length(o), 0);
    json_object_put(o);
}

Test(json, numbers_keep_their_text) {
    struct json_object *o = parse("{\"a\":1.50,\"b\":1e3,\"c\":-0,\"d\":-0.0,\"e\":2E-2,"
                                  "\"f\":9223372036854775807,\"g\":9223372036854775808,"
                                  "\"h\":-9223372036854775808,\"i\":-9223372036854775809,"
                                  "\"j\":0,\"k\":100000000000000000000000}");
    cr_assert_not_null(o, "%s", err);
    cr_expect_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     "{\"a\":1.50,\"b\":1e3,\"c\":-0,\"d\":-0.0,\"e\":2E-2,"
                     "\"f\":9223372036854775807,\"g\":9223372036854775808,"
                     "\"h\":-9223372036854775808,\"i\":-9223372036854775809,"
                     "\"j\":0,\"k\":100000000000000000000000}");
    struct json_object *v;
    cr_expect(json_object_object_get_ex(o, "f", &v) && json_object_is_type(v, json_type_int) &&
              json_object_get_int64(v) == INT64_MAX);
    cr_expect(json_object_object_get_ex(o, "h", &v) && json_object_is_type(v, json_type_int) &&
              json_object_get_int64(v) == INT64_MIN);
    cr_expect(json_object_object_get_ex(o, "g", &v) && json_object_is_type(v, json_type_double));
    cr_expect(json_object_object_get_ex(o, "i", &v) && json_object_is_type(v, json_type_double));
    json_object_put(o);
}

Test(json, refuses_duplicate_keys) {
    expect_refused("{\"a\":1,\"a\":2}", "duplicate key");
    expect_refused("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}", "duplicate key");
    expect_refused("{\"x\":[{\"a\":1,\"a\":1}]}", "duplicate key");
    /* the same key in sibling objects is fine; escapes decode before comparing */
    expect_refused("{\"a\":1,\"\\u0061\":2}", "duplicate key");
    struct json_object *o = parse("{\"x\":{\"a\":1},\"y\":{\"a\":1}}");
    cr_expect_not_null(o, "%s", err);
    json_object_put(o);
}

Test(json, refuses_nan_and_infinity) {
    expect_refused("{\"a\":NaN}", "NaN and Infinity");
    expect_refused("{\"a\":Infinity}", "NaN and Infinity");
    expect_refused("{\"a\":-Infinity}", "NaN and Infinity");
    expect_refused("{\"a\":nan}", NULL);
}

Test(json, refuses_comments) {
    expect_refused("{/* c */\"a\":1}", "comments");
    expect_refused("{\"a\":1 // c\n}", "comments");
    expect_refused("{\"a\":/*c*/1}", "comments");
    expect_refused("{\"a\":[1 /*c*/]}", "comments");
    expect_refused("{\"a\":1}// c", "after the top-level object");
}

Test(json, refuses_single_quotes) {
    expect_refused("{'a':1}", "double quotes");
    expect_refused("{\"a\":'x'}", "double quotes");
}

Test(json, refuses_trailing_commas) {
    expect_refused("{\"a\":1,}", "trailing comma");
    expect_refused("{\"a\":[1,2,]}", "trailing comma");
    expect_refused("{\"a\":[1,]}", "trailing comma");
    expect_refused("{,}", NULL);
    expect_refused("{\"a\":[,]}", NULL);
    expect_refused("{\"a\":1,,\"b\":2}", NULL);
}

Test(json, refuses_leading_zeros_and_bad_numbers) {
    expect_refused("{\"a\":01}", "leading zeros");
    expect_refused("{\"a\":-01}", "leading zeros");
    expect_refused("{\"a\":00}", "leading zeros");
    expect_refused("{\"a\":+1}", NULL);
    expect_refused("{\"a\":.5}", NULL);
    expect_refused("{\"a\":1.}", "invalid number");
    expect_refused("{\"a\":1.e3}", "invalid number");
    expect_refused("{\"a\":1e}", "invalid number");
    expect_refused("{\"a\":1e+}", "invalid number");
    expect_refused("{\"a\":-}", "invalid number");
    expect_refused("{\"a\":0x10}", NULL);
    expect_refused("{\"a\":1 2}", NULL);
}

Test(json, refuses_bad_literals) {
    expect_refused("{\"a\":tru}", NULL);
    expect_refused("{\"a\":True}", NULL);
    expect_refused("{\"a\":nul}", NULL);
    expect_refused("{\"a\":truex}", NULL);
    expect_refused("{\"a\":undefined}", NULL);
}

Test(json, refuses_control_characters_and_bad_escapes) {
    expect_refused("{\"a\":\"x\ty\"}", "control character");
    expect_refused("{\"a\":\"x\ny\"}", "control character");
    expect_refused("{\"a\":\"\x01\"}", "control character");
    expect_refused("{\"a\x1f\":1}", "control character");
    expect_refused("{\"a\":\"\\x41\"}", "invalid escape");
    expect_refused("{\"a\":\"\\a\"}", "invalid escape");
    expect_refused("{\"a\":\"\\'\"}", "invalid escape");
    expect_refused("{\"a\":\"\\u12G4\"}", "\\u escape");
    expect_refused("{\"a\":\"\\u12\"}", "\\u escape");
    expect_refused("{\"a\":\"\\U0041\"}", "invalid escape");
    expect_refused("{\"a\":\"x\\", "unterminated");
}

Test(json, refuses_structure_errors) {
    expect_refused("", "empty input");
    expect_refused("   \n", "empty input");
    expect_refused("{", "end of input");
    expect_refused("{\"a\"", "expected ':'");
    expect_refused("{\"a\":", "end of input");
    expect_refused("{\"a\":\"x", "unterminated");
    expect_refused("{\"a\":1", "expected ',' or '}'");
    expect_refused("{\"a\":[1", "expected ',' or ']'");
    expect_refused("{a:1}", "expected a string key");
    expect_refused("{\"a\" 1}", "expected ':'");
    expect_refused("{\"a\":1]", NULL);
    expect_refused("{\"a\":[1}", NULL);
}

Test(json, refuses_non_object_top_level) {
    expect_refused("[]", "must be an object");
    expect_refused("[{\"a\":1}]", "must be an object");
    expect_refused("\"x\"", "must be an object");
    expect_refused("1", "must be an object");
    expect_refused("null", "must be an object");
    expect_refused("true", "must be an object");
}

Test(json, refuses_trailing_garbage) {
    expect_refused("{} x", "after the top-level object");
    expect_refused("{}{}", "after the top-level object");
    expect_refused("{},", "after the top-level object");
    struct json_object *o = hjson_parse("{}\0", 3, err, sizeof(err));
    cr_expect_null(o);
    json_object_put(o);
    o = hjson_parse("{\"a\":1}xyz", 7, err, sizeof(err)); /* len stops before the garbage */
    cr_expect_not_null(o, "%s", err);
    json_object_put(o);
}

static char *nested(int levels, char open, char close) {
    struct buf b = {0};
    buf_puts(&b, "{\"a\":");
    for (int i = 1; i < levels; i++) {
        buf_putc(&b, open);
        if (open == '{' && i < levels - 1)
            buf_puts(&b, "\"a\":");
    }
    for (int i = 1; i < levels; i++)
        buf_putc(&b, close);
    buf_putc(&b, '}');
    return buf_steal(&b);
}

Test(json, nesting_limit_is_64) {
    char *ok = nested(64, '[', ']');
    char *deep = nested(65, '[', ']');
    char *ok_obj = nested(64, '{', '}');
    char *deep_obj = nested(65, '{', '}');
    struct json_object *o = parse(ok);
    cr_expect_not_null(o, "64 levels refused: %s", err);
    json_object_put(o);
    o = parse(ok_obj);
    cr_expect_not_null(o, "64 object levels refused: %s", err);
    json_object_put(o);
    expect_refused(deep, "nesting deeper than 64");
    expect_refused(deep_obj, "nesting deeper than 64");
    mem_free(ok);
    mem_free(deep);
    mem_free(ok_obj);
    mem_free(deep_obj);
}

Test(json, decodes_escapes) {
    struct json_object *o = parse("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\"}");
    cr_assert_not_null(o, "%s", err);
    size_t n;
    const char *s = str_at(o, "a", &n);
    const char want[] = "\"\\/\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC";
    cr_expect_eq(n, sizeof(want) - 1);
    cr_expect(memcmp(s, want, n) == 0);
    json_object_put(o);
}

Test(json, surrogates) {
    struct json_object *o =
        parse("{\"pair\":\"\\ud83d\\ude00\",\"hi\":\"\\ud800\",\"lo\":\"\\udc00\","
              "\"hi_then_a\":\"\\uD800\\u0041\",\"two_hi\":\"\\ud800\\ud800\"}");
    cr_assert_not_null(o, "%s", err);
    size_t n;
    const char *s = str_at(o, "pair", &n);
    cr_expect(n == 4 && memcmp(s, "\xF0\x9F\x98\x80", 4) == 0);
    cr_expect(hjson_utf8_valid(s, n));
    s = str_at(o, "hi", &n);
    cr_expect(n == 3 && memcmp(s, "\xED\xA0\x80", 3) == 0);
    cr_expect(!hjson_utf8_valid(s, n));
    s = str_at(o, "lo", &n);
    cr_expect(n == 3 && memcmp(s, "\xED\xB0\x80", 3) == 0);
    cr_expect(!hjson_utf8_valid(s, n));
    s = str_at(o, "hi_then_a", &n);
    cr_expect(n == 4 && memcmp(s,
                               "\xED\xA0\x80"
                               "A",
                               4) == 0);
    s = str_at(o, "two_hi", &n);
    cr_expect(n == 6 && memcmp(s, "\xED\xA0\x80\xED\xA0\x80", 6) == 0);
    json_object_put(o);
}

Test(json, nul_escape_is_kept_inside_string) {
    struct json_object *o = parse("{\"a\":\"x\\u0000y\"}");
    cr_assert_not_null(o, "%s", err);
    size_t n;
    const char *s = str_at(o, "a", &n);
    cr_expect(n == 3 && memcmp(s, "x\0y", 3) == 0);
    cr_expect_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     "{\"a\":\"x\\u0000y\"}");
    json_object_put(o);
}

Test(json, nul_in_key_is_refused) {
    expect_refused("{\"a\\u0000b\":1}", "NUL");
}

Test(json, invalid_utf8_is_kept_raw) {
    /* overlong '/', a stray continuation byte, a truncated sequence, an encoded surrogate */
    const char doc[] =
        "{\"a\":\"\xC0\xAF\",\"b\":\"\x80\",\"c\":\"\xE2\x82\",\"d\":\"\xED\xA0\x80\","
        "\"\xFF\":1}";
    struct json_object *o = hjson_parse(doc, sizeof(doc) - 1, err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    size_t n;
    const char *s = str_at(o, "a", &n);
    cr_expect(n == 2 && memcmp(s, "\xC0\xAF", 2) == 0);
    cr_expect(!hjson_utf8_valid(s, n));
    s = str_at(o, "b", &n);
    cr_expect(n == 1 && (unsigned char)s[0] == 0x80);
    s = str_at(o, "c", &n);
    cr_expect(n == 2);
    s = str_at(o, "d", &n);
    cr_expect(n == 3 && !hjson_utf8_valid(s, n));
    cr_expect(json_object_object_get_ex(o, "\xFF", NULL));
    json_object_put(o);
}

Test(json, error_buffer_is_optional) {
    cr_expect_null(hjson_parse("[", 1, NULL, 0));
    char small[8];
    cr_expect_null(hjson_parse("[", 1, small, sizeof(small)));
    cr_expect_eq(strlen(small), sizeof(small) - 1);
}

Test(json, utf8_valid) {
    cr_expect(hjson_utf8_valid("", 0));
    cr_expect(hjson_utf8_valid("plain ascii", 11));
    cr_expect(hjson_utf8_valid("a\0b", 3));
    cr_expect(hjson_utf8_valid("\xC3\xA9", 2));          /* é */
    cr_expect(hjson_utf8_valid("\xE2\x82\xAC", 3));      /* € */
    cr_expect(hjson_utf8_valid("\xED\x9F\xBF", 3));      /* U+D7FF */
    cr_expect(hjson_utf8_valid("\xEE\x80\x80", 3));      /* U+E000 */
    cr_expect(hjson_utf8_valid("\xF0\x9F\x98\x80", 4));  /* 😀 */
    cr_expect(hjson_utf8_valid("\xF4\x8F\xBF\xBF", 4));  /* U+10FFFF */
    cr_expect(!hjson_utf8_valid("\xC0\x80", 2));         /* overlong NUL */
    cr_expect(!hjson_utf8_valid("\xC1\xBF", 2));         /* overlong */
    cr_expect(!hjson_utf8_valid("\xE0\x80\x80", 3));     /* overlong */
    cr_expect(!hjson_utf8_valid("\xE0\x9F\xBF", 3));     /* overlong */
    cr_expect(!hjson_utf8_valid("\xF0\x80\x80\x80", 4)); /* overlong */
    cr_expect(!hjson_utf8_valid("\xF0\x8F\xBF\xBF", 4)); /* overlong */
    cr_expect(!hjson_utf8_valid("\xED\xA0\x80", 3));     /* U+D800 */
    cr_expect(!hjson_utf8_valid("\xED\xBF\xBF", 3));     /* U+DFFF */
    cr_expect(!hjson_utf8_valid("\xF4\x90\x80\x80", 4)); /* U+110000 */
    cr_expect(!hjson_utf8_valid("\xF5\x80\x80\x80", 4)); /* no such lead */
    cr_expect(!hjson_utf8_valid("\xFF", 1));             /* no such lead */
    cr_expect(!hjson_utf8_valid("\x80", 1));             /* lone continuation */
    cr_expect(!hjson_utf8_valid("\xE2\x82", 2));         /* truncated */
    cr_expect(!hjson_utf8_valid("\xE2\x82x", 3));        /* bad continuation */
    cr_expect(!hjson_utf8_valid("\xF0\x9F\x98", 3));     /* truncated */
    cr_expect(!hjson_utf8_valid("ok\xC3", 3));           /* truncated at the end */
}

Test(json, utf8_count) {
    cr_expect_eq(hjson_utf8_count("", 0), 0);
    cr_expect_eq(hjson_utf8_count("abc", 3), 3);
    cr_expect_eq(hjson_utf8_count("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z", 10), 4);
}

/* Not a fuzzer, but a cheap guard: every prefix and many byte flips of a rich
 * document must parse or fail cleanly (the sanitizers watch memory). */
Test(json, survives_prefixes_and_mutations) {
    const char doc[] = "{\"a\":[1,-2.5e+3,true,false,null,{\"b\":\"\\u00e9\\ud83d\\ude00\\n\"}],"
                       "\"c\":{\"d\":{\"e\":[[[]]]}},\"f\":\"\xC3\xA9\",\"g\":0}";
    size_t len = sizeof(doc) - 1;
    struct json_object *o = hjson_parse(doc, len, err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    json_object_put(o);
    for (size_t i = 0; i < len; i++)
        cr_expect_null(hjson_parse(doc, i, err, sizeof(err)), "prefix %zu accepted", i);
    char copy[sizeof(doc)];
    static const unsigned char flips[] = {0x00, 0x01, '"', '\\', '{', '}',  '[',  ']', ',',
                                          ':',  '0',  '-', 'e',  '.', 0x80, 0xFF, ' '};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof(flips); k++) {
            memcpy(copy, doc, len);
            copy[i] = (char)flips[k];
            json_object_put(hjson_parse(copy, len, err, sizeof(err)));
        }
    }
    uint32_t x = 12345;
    char rnd[64];
    for (int round = 0; round < 20000; round++) {
        for (size_t i = 0; i < sizeof(rnd); i++) {
            x = x * 1103515245u + 12345u;
            rnd[i] = "{}[]\",:\\u0123456789abcdefE.-+ tnrl"[(x >> 16) % 34];
        }
        rnd[0] = '{';
        json_object_put(hjson_parse(rnd, (size_t)(x % sizeof(rnd)), err, sizeof(err)));
    }
}
