/* dlv: the channel registry and helpers shared by HTTP-based channels. */
#include "worker/dlv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct dlv_ops *const dlv_channels[] = {
    &dlv_webhook_ops,
    &dlv_email_ops,
    &dlv_sms_ops,
    &dlv_push_ops,
};

const struct dlv_ops *dlv_find(const char *name) {
    for (size_t i = 0; i < sizeof(dlv_channels) / sizeof(dlv_channels[0]); i++)
        if (strcmp(dlv_channels[i]->name, name) == 0)
            return dlv_channels[i];
    return NULL;
}

bool dlv_http_header(const char *headers, const char *name, char *out, size_t outlen) {
    size_t nlen = strlen(name);
    for (const char *p = headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1, *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            snprintf(out, outlen, "%.*s", (int)(end - v), v);
            return true;
        }
        p = eol ? eol + 2 : p + len;
    }
    return false;
}
