/* tenant: a tenant's settings: validation of a change, event type names and masks, the JSON view.
 */
#include "common/tenant.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/recipient.h"
#include "common/util.h"
#include "common/validate.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char *const tenant_events[EV_COUNT] = {"notification.sent", "notification.delivered",
                                                    "notification.failed", "notification.cancelled",
                                                    "notification.expired"};

const char *tenant_event_name(enum tenant_event e) {
    return util_name_at(tenant_events, EV_COUNT, (int)e, "unknown");
}

int tenant_event_parse(const char *s) {
    return util_name_index(tenant_events, EV_COUNT, s);
}

void tenant_patch_free(struct tenant_patch *p) {
    mem_free(p->events_url);
    mem_free(p->email_from);
    memset(p, 0, sizeof(*p));
}

/* tenant_text_ok: s (n bytes) is UTF-8 without NUL or other control characters. */
static bool tenant_text_ok(const char *s, size_t n) {
    if (!hjson_utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return false;
    return true;
}

const char *tenant_check_events_url(const char *s) {
    size_t n = strlen(s);
    if (!tenant_text_ok(s, n))
        return "must be an absolute http or https URL";
    return rcpt_url(s, n);
}

const char *tenant_check_email_from(const char *s) {
    size_t n = strlen(s);
    if (!tenant_text_ok(s, n))
        return "must be valid UTF-8 without control characters";
    return rcpt_mailbox(s, n);
}

int tenant_types_parse(const char *list, unsigned *mask, char *bad, size_t badlen) {
    unsigned m = 0;
    const char *p = list;
    if (strcmp(list, "all") == 0) {
        *mask = TENANT_EVENTS_ALL;
        return 0;
    }
    for (;;) {
        size_t n = strcspn(p, ",");
        char item[64];
        int e = -1;
        if (n > 0 && n < sizeof(item)) {
            memcpy(item, p, n);
            item[n] = '\0';
            e = tenant_event_parse(item);
        }
        if (e < 0) {
            snprintf(bad, badlen, "%.*s", (int)(n < 60 ? n : 60), p);
            return -1;
        }
        m |= 1u << e;
        if (!p[n])
            break;
        p += n + 1;
    }
    *mask = m;
    return 0;
}

/* tenant_names_of: the names of mask's event types, comma-separated, in
 * API.md's order; quoted as JSON strings or bare. */
static void tenant_names_of(struct buf *b, unsigned mask, bool quoted) {
    const char *sep = "";
    for (int i = 0; i < EV_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        buf_puts(b, sep);
        if (quoted)
            buf_printf(b, "\"%s\"", tenant_events[i]);
        else
            buf_puts(b, tenant_events[i]);
        sep = ",";
    }
}

void tenant_types_literal(struct buf *out, unsigned mask) {
    buf_putc(out, '{');
    tenant_names_of(out, mask, false);
    buf_putc(out, '}');
}

unsigned tenant_types_from_literal(const char *s) {
    if (!s || !*s)
        return TENANT_EVENTS_ALL;
    unsigned m = 0;
    const char *p = s[0] == '{' ? s + 1 : s;
    while (*p && *p != '}') {
        size_t n = strcspn(p, ",}");
        for (int i = 0; i < EV_COUNT; i++)
            if (strlen(tenant_events[i]) == n && memcmp(p, tenant_events[i], n) == 0)
                m |= 1u << i;
        p += n;
        if (*p == ',')
            p++;
    }
    return m;
}

/* tenant_opt_string: a string-or-null field: 0 absent, 1 present (*s is the
 * string or NULL for null), -1 faulty (reported). */
static int tenant_opt_string(struct json_object *obj, const char *key, const char **s,
                             struct val_errors *errs) {
    struct json_object *v = NULL;
    *s = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (!v)
        return 1;
    if (!json_object_is_type(v, json_type_string)) {
        val_errors_add(errs, key, "must be a string or null");
        return -1;
    }
    const char *str = json_object_get_string(v);
    if (memchr(str, '\0', (size_t)json_object_get_string_len(v))) {
        val_errors_add(errs, key, "must not contain NUL characters");
        return -1;
    }
    *s = str;
    return 1;
}

static void tenant_patch_types(struct json_object *v, struct tenant_patch *p,
                               struct val_errors *errs) {
    if (!v) {
        p->event_types = TENANT_EVENTS_ALL; /* null: back to the default, every type */
        return;
    }
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
        val_errors_add(errs, "event_types", "must be a non-empty array of event types");
        return;
    }
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        struct json_object *el = json_object_array_get_idx(v, i);
        int e = el && json_object_is_type(el, json_type_string)
                    ? tenant_event_parse(json_object_get_string(el))
                    : -1;
        if (e < 0) {
            char field[40];
            snprintf(field, sizeof(field), "event_types[%zu]", i);
            val_errors_add(errs, field,
                           "must be notification.sent, notification.delivered, "
                           "notification.failed, notification.cancelled or notification.expired");
            if (i >= 99)
                return;
            continue;
        }
        p->event_types |= 1u << e;
    }
}

/* tenant_patch_string: a string-or-null setting of a patch: when present,
 * *has is set and *out is a copy (NULL for null); check's complaint about
 * the string, if any, is reported under key. */
static void tenant_patch_string(struct json_object *obj, const char *key,
                                const char *(*check)(const char *s), bool *has, char **out,
                                struct val_errors *errs) {
    const char *s;
    if (tenant_opt_string(obj, key, &s, errs) <= 0)
        return;
    const char *msg = s ? check(s) : NULL;
    if (msg)
        val_errors_add(errs, key, msg);
    *has = true;
    *out = s ? mem_strdup(s) : NULL;
}

int tenant_patch_from_json(struct json_object *obj, struct tenant_patch *p,
                           struct val_errors *errs) {
    size_t before = errs->len;
    memset(p, 0, sizeof(*p));
    {
        json_object_object_foreach(obj, key, unused) {
            (void)unused;
            if (strcmp(key, "events_url") != 0 && strcmp(key, "event_types") != 0 &&
                strcmp(key, "email_from") != 0) {
                if (strlen(key) <= 128 && hjson_utf8_valid(key, strlen(key)))
                    val_errors_add(errs, key, "unknown field");
                else
                    val_errors_add(errs, "(unprintable field name)", "unknown field");
            }
        }
    }
    tenant_patch_string(obj, "events_url", tenant_check_events_url, &p->has_events_url,
                        &p->events_url, errs);
    tenant_patch_string(obj, "email_from", tenant_check_email_from, &p->has_email_from,
                        &p->email_from, errs);
    struct json_object *types;
    if (json_object_object_get_ex(obj, "event_types", &types)) {
        p->has_event_types = true;
        tenant_patch_types(types, p, errs);
    }
    if (errs->len > before) {
        tenant_patch_free(p);
        return -1;
    }
    return 0;
}

void tenant_settings_json(struct buf *b, const char *name, const char *events_url,
                          unsigned event_types, const char *email_from) {
    buf_puts(b, "{\"name\":");
    buf_json_str(b, name, strlen(name));
    buf_json_member(b, "events_url", events_url);
    buf_puts(b, ",\"event_types\":[");
    tenant_names_of(b, event_types, true);
    buf_putc(b, ']');
    buf_json_member(b, "email_from", email_from);
    buf_putc(b, '}');
}
