/* tenant: a tenant's settings (API.md "GET/PATCH /v1/tenant"): where its
 * status events go, which event types are pushed, and the From of its email;
 * validated once here for the API and heraldctl alike. */
#ifndef HERALD_COMMON_TENANT_H
#define HERALD_COMMON_TENANT_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct json_object;
struct val_errors;

/* The status event types, in API.md's order. */
enum tenant_event { EV_SENT = 0, EV_DELIVERED, EV_FAILED, EV_CANCELLED, EV_EXPIRED, EV_COUNT };
#define TENANT_EVENTS_ALL ((1u << EV_COUNT) - 1)

/* tenant_event_name: "notification.sent", ... */
const char *tenant_event_name(enum tenant_event e);
/* tenant_event_parse: -1 if s is not an event type. */
int tenant_event_parse(const char *s);

/* A change to a tenant's settings: each has_ flag says the field is set
 * (a NULL string then clears it). Strings are owned; free with
 * tenant_patch_free(). */
struct tenant_patch {
    bool has_events_url, has_event_types, has_email_from;
    char *events_url;     /* an http(s) URL, or NULL to clear */
    unsigned event_types; /* a non-empty mask of 1u << enum tenant_event */
    char *email_from;     /* "Display Name <addr>" or addr, or NULL to clear */
};

void tenant_patch_free(struct tenant_patch *p);

/* tenant_patch_from_json: reads a PATCH body (obj borrowed): any of
 * events_url (string or null), event_types (a non-empty array of event
 * types; null means all), email_from (string or null). Every fault, unknown
 * fields included, goes to errs. Returns 0, or -1 with p zeroed. */
int tenant_patch_from_json(struct json_object *obj, struct tenant_patch *p,
                           struct val_errors *errs);

/* tenant_check_events_url, tenant_check_email_from: NULL when s (NUL
 * terminated) is acceptable, else a message completing "<field> ...". */
const char *tenant_check_events_url(const char *s);
const char *tenant_check_email_from(const char *s);

/* tenant_types_parse: a comma list of event types ("all" for every one)
 * into *mask. Returns 0, or -1 with the first bad item copied to bad
 * (badlen bytes). */
int tenant_types_parse(const char *list, unsigned *mask, char *bad, size_t badlen);

/* tenant_types_literal: mask as a PostgreSQL text[] literal ("{a,b}"),
 * appended to out; every type as NULL (SQL NULL means all). */
void tenant_types_literal(struct buf *out, unsigned mask);

/* tenant_types_from_literal: a text[] value as PostgreSQL prints it (NULL
 * or "" for SQL NULL: all) as a mask; unknown names are ignored. */
unsigned tenant_types_from_literal(const char *s);

/* tenant_settings_json: appends {"name","events_url","event_types","email_from"}. */
void tenant_settings_json(struct buf *b, const char *name, const char *events_url,
                          unsigned event_types, const char *email_from);

#endif
