/* template: fills {{name}} placeholders in subjects and bodies from a notification's metadata. */
#ifndef HERALD_COMMON_TEMPLATE_H
#define HERALD_COMMON_TEMPLATE_H

#include <stddef.h>

struct buf;
struct json_object;

#define TMPL_NAME_MAX 64                  /* a placeholder name is [A-Za-z0-9_]{1,64} */
#define TMPL_NAME_LEN (TMPL_NAME_MAX + 1) /* size of a bad_name buffer, NUL included */

/* The rules (API.md, "placeholders"): "{{" + name + "}}" with name matching
 * [A-Za-z0-9_]{1,64} is replaced by the top-level metadata value of that name:
 * a string as is, a number or boolean as its JSON text (a double prints as the
 * text it was parsed from). Any other "{{" is literal text. Placeholders are
 * found leftmost first and do not overlap, like a regular expression search
 * for \{\{[A-Za-z0-9_]{1,64}\}\}: "{{{a}}}" renders as "{" + a + "}". */

/* tmpl_render: appends src[0..n) with its placeholders filled to out.
 * metadata is borrowed and may be NULL (or a non-object: then every name is
 * missing). Returns 0, or -1 when a placeholder's name is missing from
 * metadata or its value is null, an object or an array: then the first such
 * name is copied into bad_name (bad_len bytes, TMPL_NAME_LEN suffices; NULL
 * when bad_len is 0) and out is left as it was. The output size comes from the
 * request: measure it with tmpl_check first when it must be bounded. */
int tmpl_render(const char *src, size_t n, struct json_object *metadata, struct buf *out,
                char *bad_name, size_t bad_len);

/* tmpl_check: the same checks as tmpl_render without building the text.
 * Returns 0 and sets *bytes and *chars (either may be NULL) to the rendered
 * size in bytes and in code points (counted with hjson_utf8_count), or -1 and
 * bad_name as tmpl_render does. */
int tmpl_check(const char *src, size_t n, struct json_object *metadata, size_t *bytes,
               size_t *chars, char *bad_name, size_t bad_len);

/* tmpl_render_html, tmpl_check_html: the same for an HTML template: each
 * value is HTML-escaped (& < > " ' become &amp; &lt; &gt; &quot; &#39;), the
 * template's own text is kept as written; sizes count the escaped text. */
int tmpl_render_html(const char *src, size_t n, struct json_object *metadata, struct buf *out,
                     char *bad_name, size_t bad_len);
int tmpl_check_html(const char *src, size_t n, struct json_object *metadata, size_t *bytes,
                    size_t *chars, char *bad_name, size_t bad_len);

#endif
