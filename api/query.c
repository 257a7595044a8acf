/* query: splits on '&' and '=', decodes with form_decode (evhttp's decoder),
 * and checks every name against the route's list. */
#include "api/query.h"
#include "api/form.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/validate.h"

#include <string.h>

#define QUERY_FIELD_MAX 64 /* bytes of a parameter name echoed in an error */

/* query_field: the name an error reports: the decoded name when it is short
 * printable UTF-8, else the raw one (the head parser let only printable
 * ASCII into the target), cut. */
static void query_field(const char *raw, size_t rawlen, const char *decoded, char *out,
                        size_t outlen) {
    size_t n;
    if (decoded && (n = strlen(decoded)) > 0 && n <= QUERY_FIELD_MAX &&
        hjson_utf8_valid(decoded, n)) {
        bool printable = true;
        for (size_t i = 0; i < n; i++)
            printable = printable && (unsigned char)decoded[i] >= 0x20 && decoded[i] != 0x7f;
        if (printable) {
            memcpy(out, decoded, n + 1);
            return;
        }
    }
    n = rawlen < outlen - 1 ? rawlen : outlen - 1;
    memcpy(out, raw, n);
    out[n] = '\0';
}

static bool query_allowed(const char *const *allowed, const char *name) {
    for (size_t i = 0; allowed && allowed[i]; i++)
        if (strcmp(allowed[i], name) == 0)
            return true;
    return false;
}

int query_parse(const char *raw, const char *const *allowed, struct query *q,
                struct val_errors *errs) {
    size_t before = errs->len;
    memset(q, 0, sizeof(*q));
    size_t pairs = 0;
    for (const char *p = raw; p && *p;) {
        size_t seg = strcspn(p, "&");
        if (seg == 0) {
            p++;
            continue;
        }
        const char *eq = memchr(p, '=', seg);
        size_t nlen = eq ? (size_t)(eq - p) : seg;
        char field[QUERY_FIELD_MAX + 1];
        char *name = form_decode(p, nlen);
        query_field(p, nlen, name, field, sizeof(field));
        if (++pairs > QUERY_MAX_PARAMS) {
            mem_free(name);
            val_errors_add(errs, "query", "has too many parameters (at most 16)");
            break;
        }
        char *value = eq ? form_decode(eq + 1, seg - nlen - 1) : NULL;
        if (!eq) {
            val_errors_add(errs, field, "must be given as name=value");
        } else if (!name || !value || nlen == 0) {
            val_errors_add(errs, field[0] ? field : "query", "is not correctly percent-encoded");
        } else if (!query_allowed(allowed, name)) {
            val_errors_add(errs, field, "is not a parameter of this route");
        } else if (query_get(q, name)) {
            val_errors_add(errs, field, "must be given only once");
        } else {
            q->params[q->len].name = name;
            q->params[q->len].value = value;
            q->len++;
            name = value = NULL;
        }
        mem_free(name);
        mem_free(value);
        p += seg;
    }
    if (errs->len == before)
        return 0;
    query_free(q);
    return -1;
}

const char *query_get(const struct query *q, const char *name) {
    return form_fields_get(q->params, q->len, name);
}

void query_free(struct query *q) {
    form_fields_free(q->params, &q->len);
}
