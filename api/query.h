/* query: a /v1 route's query string under API.md's rule: each parameter the
 * route takes, at most once, as name=value with well-formed percent-encoding
 * ('+' is a space); anything else is a field error naming the parameter. */
#ifndef HERALD_API_QUERY_H
#define HERALD_API_QUERY_H

#include "api/form.h"

#include <stddef.h>

struct val_errors;

#define QUERY_MAX_PARAMS 16

struct query {
    struct form_field params[QUERY_MAX_PARAMS]; /* decoded, owned; no NUL inside */
    size_t len;
};

/* query_parse: reads raw (the target's part after '?'; NULL or "" for none)
 * into q, taking only the names in allowed (NULL-terminated; NULL takes
 * none). Every fault is appended to errs with the parameter's name as the
 * field: unknown, given twice, without '=', badly encoded (or decoding to a
 * NUL), or more than QUERY_MAX_PARAMS parameters ("query"). Returns 0, or -1
 * with q emptied. Empty pairs ("a=1&&b=2") are skipped. Release with
 * query_free(). */
int query_parse(const char *raw, const char *const *allowed, struct query *q,
                struct val_errors *errs);
/* query_get: the value of name, borrowed from q; NULL if absent. */
const char *query_get(const struct query *q, const char *name);
void query_free(struct query *q);

#endif
