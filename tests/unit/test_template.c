/* test_template: placeholder matching, value rendering and the failure cases. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/template.h"

static struct json_object *md;
static struct buf out;
static char bad[TMPL_NAME_LEN];

static void setup(void) {
    static const char doc[] =
        "{\"name\":\"Ada\",\"n\":42,\"neg\":-7,\"d\":1.50,\"e\":1e3,"
        "\"t\":true,\"f\":false,\"z\":null,\"o\":{\"x\":1},\"a\":[1],"
        "\"empty\":\"\",\"uni\":\"\xC3\xA9\xE2\x82\xAC\",\"nul\":\"a\\u0000b\"}";
    char err[128];
    md = hjson_parse(doc, sizeof(doc) - 1, err, sizeof(err));
    cr_assert_not_null(md, "%s", err);
    memset(&out, 0, sizeof(out));
    bad[0] = '\0';
}

static void teardown(void) {
    json_object_put(md);
    buf_free(&out);
}

TestSuite(template, .init = setup, .fini = teardown);

/* Renders src with md and returns the text (owned by out). */
static const char *render(const char *src) {
    buf_reset(&out);
    int r = tmpl_render(src, strlen(src), md, &out, bad, sizeof(bad));
    cr_assert_eq(r, 0, "render of '%s' failed on '%s'", src, bad);
    return out.data ? out.data : "";
}

static void expect_bad(const char *src, const char *name) {
    buf_reset(&out);
    buf_puts(&out, "keep");
    cr_expect_eq(tmpl_render(src, strlen(src), md, &out, bad, sizeof(bad)), -1, "%s", src);
    cr_expect_str_eq(bad, name);
    cr_expect_str_eq(out.data, "keep", "output touched on failure");
    cr_expect_eq(tmpl_check(src, strlen(src), md, NULL, NULL, bad, sizeof(bad)), -1);
}

Test(template, string_value) {
    cr_expect_str_eq(render("Hello {{name}}!"), "Hello Ada!");
    cr_expect_str_eq(render("{{name}}"), "Ada");
    cr_expect_str_eq(render("{{name}}{{name}}"), "AdaAda");
    cr_expect_str_eq(render("[{{empty}}]"), "[]");
    cr_expect_str_eq(render("{{uni}}"), "\xC3\xA9\xE2\x82\xAC");
}

Test(template, string_with_nul_keeps_its_length) {
    buf_reset(&out);
    cr_assert_eq(tmpl_render("<{{nul}}>", 9, md, &out, bad, sizeof(bad)), 0);
    cr_expect_eq(out.len, 5);
    cr_expect(memcmp(out.data, "<a\0b>", 5) == 0);
}

Test(template, number_and_boolean_values) {
    cr_expect_str_eq(render("{{n}}"), "42");
    cr_expect_str_eq(render("{{neg}}"), "-7");
    cr_expect_str_eq(render("{{d}}"), "1.50"); /* the original text, not 1.5 */
    cr_expect_str_eq(render("{{e}}"), "1e3");
    cr_expect_str_eq(render("{{t}}/{{f}}"), "true/false");
}

Test(template, missing_null_object_array_fail) {
    expect_bad("Hi {{nobody}}", "nobody");
    expect_bad("{{z}}", "z");
    expect_bad("{{o}}", "o");
    expect_bad("{{a}}", "a");
    expect_bad("{{name}} {{a}} {{o}}", "a"); /* the first bad one is named */
    expect_bad("{{Name}}", "Name");          /* names are case-sensitive */
}

Test(template, metadata_null_or_not_an_object) {
    buf_reset(&out);
    cr_expect_eq(tmpl_render("{{name}}", 8, NULL, &out, bad, sizeof(bad)), -1);
    cr_expect_str_eq(bad, "name");
    cr_expect_eq(tmpl_render("no placeholders", 15, NULL, &out, bad, sizeof(bad)), 0);
    cr_expect_str_eq(out.data, "no placeholders");
    struct json_object *arr = json_object_new_array();
    cr_expect_eq(tmpl_check("{{x}}", 5, arr, NULL, NULL, bad, sizeof(bad)), -1);
    json_object_put(arr);
}

Test(template, other_braces_are_literal) {
    cr_expect_str_eq(render("{{"), "{{");
    cr_expect_str_eq(render("{{}}"), "{{}}");
    cr_expect_str_eq(render("{{ name }}"), "{{ name }}");
    cr_expect_str_eq(render("{{na-me}}"), "{{na-me}}");
    cr_expect_str_eq(render("{{name}"), "{{name}");
    cr_expect_str_eq(render("{{name} }"), "{{name} }");
    cr_expect_str_eq(render("{name}}"), "{name}}");
    cr_expect_str_eq(render("}}{{"), "}}{{");
    cr_expect_str_eq(render("{{nobody"), "{{nobody");
    cr_expect_str_eq(render("{{n\xC3\xA9}}"), "{{n\xC3\xA9}}");
    cr_expect_str_eq(render("a{{"), "a{{");
    cr_expect_str_eq(render(""), "");
}

Test(template, leftmost_match_with_extra_braces) {
    cr_expect_str_eq(render("{{{name}}}"), "{Ada}");
    cr_expect_str_eq(render("{{{{name}}"), "{{Ada");
    cr_expect_str_eq(render("{{x{{name}}"), "{{xAda");
}

Test(template, name_length_limit) {
    char src[80], name64[65];
    memset(name64, 'k', 64);
    name64[64] = '\0';
    struct json_object *v = json_object_new_string("long");
    json_object_object_add(md, name64, v);
    snprintf(src, sizeof(src), "{{%s}}", name64);
    cr_expect_str_eq(render(src), "long");
    /* 65 name characters: not a placeholder, so literal even with no such key */
    snprintf(src, sizeof(src), "{{%sk}}", name64);
    cr_expect_str_eq(render(src), src);
    /* a 64-character name that is missing is reported in full */
    snprintf(src, sizeof(src), "{{%.63sq}}", name64);
    cr_expect_eq(tmpl_check(src, strlen(src), md, NULL, NULL, bad, sizeof(bad)), -1);
    cr_expect_eq(strlen(bad), 64);
}

Test(template, bad_name_buffer_is_bounded) {
    char tiny[4];
    cr_expect_eq(tmpl_check("{{nobody}}", 10, md, NULL, NULL, tiny, sizeof(tiny)), -1);
    cr_expect_str_eq(tiny, "nob");
    cr_expect_eq(tmpl_check("{{nobody}}", 10, md, NULL, NULL, NULL, 0), -1);
}

Test(template, check_measures_bytes_and_code_points) {
    size_t bytes = 0, chars = 0;
    const char *src = "\xC3\xA9 {{uni}} {{n}}";
    cr_assert_eq(tmpl_check(src, strlen(src), md, &bytes, &chars, bad, sizeof(bad)), 0);
    /* "é " + "é€" + " " + "42" */
    cr_expect_eq(bytes, 2 + 1 + 5 + 1 + 2);
    cr_expect_eq(chars, 1 + 1 + 2 + 1 + 2);
    cr_expect_str_eq(render(src), "\xC3\xA9 \xC3\xA9\xE2\x82\xAC 42");
    cr_expect_eq(out.len, bytes);
    cr_expect_eq(tmpl_check("", 0, md, &bytes, &chars, NULL, 0), 0);
    cr_expect_eq(bytes, 0);
    cr_expect_eq(chars, 0);
}

Test(template, render_appends) {
    buf_reset(&out);
    buf_puts(&out, ">");
    cr_assert_eq(tmpl_render("{{name}}", 8, md, &out, bad, sizeof(bad)), 0);
    cr_expect_str_eq(out.data, ">Ada");
}

Test(template, source_is_length_bounded) {
    buf_reset(&out);
    /* n stops in the middle of a placeholder: what remains is literal */
    cr_assert_eq(tmpl_render("{{name}}", 7, md, &out, bad, sizeof(bad)), 0);
    cr_expect_str_eq(out.data, "{{name}");
}

Test(template, html_escapes_values_not_the_template) {
    struct json_object *h;
    static const char doc[] =
        "{\"v\":\"<a href=\\\"x\\\">Tom & Jerry's</a>\",\"n\":3,\"u\":\"\xC3\xA9\"}";
    char err[128];
    h = hjson_parse(doc, sizeof(doc) - 1, err, sizeof(err));
    cr_assert_not_null(h, "%s", err);
    const char *src = "<p class=\"x\">{{v}} {{n}} {{u}} & {{</p>";
    cr_assert_eq(tmpl_render_html(src, strlen(src), h, &out, bad, sizeof(bad)), 0);
    const char *want = "<p class=\"x\">&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
                       " 3 \xC3\xA9 & {{</p>";
    cr_expect_str_eq(out.data, want);
    size_t bytes = 0, chars = 0;
    cr_assert_eq(tmpl_check_html(src, strlen(src), h, &bytes, &chars, bad, sizeof(bad)), 0);
    cr_expect_eq(bytes, strlen(want));
    cr_expect_eq(chars, strlen(want) - 1, "é is one code point in two bytes");
    /* the plain renderer leaves values alone */
    buf_reset(&out);
    cr_assert_eq(tmpl_render("{{v}}", 5, h, &out, bad, sizeof(bad)), 0);
    cr_expect_str_eq(out.data, "<a href=\"x\">Tom & Jerry's</a>");
    cr_expect_eq(tmpl_render_html("{{gone}}", 8, h, &out, bad, sizeof(bad)), -1);
    cr_expect_str_eq(bad, "gone");
    json_object_put(h);
}
