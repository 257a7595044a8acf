/* form: urlencoded form decoding (evhttp's decoder) and Twilio's X-Twilio-Signature scheme. */
#include "api/form.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/mem.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

static bool form_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char *form_decode(const char *s, size_t n) {
    /* evhttp's decoder lets a bad escape through as text and reads up to a
     * NUL: both are refused here first */
    if (memchr(s, '\0', n))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '%' && (n - i < 3 || !form_hex(s[i + 1]) || !form_hex(s[i + 2])))
            return NULL;
    char *raw = mem_try_alloc(n + 1);
    if (!raw)
        return NULL;
    memcpy(raw, s, n);
    raw[n] = '\0';
    size_t len = 0;
    char *dec = evhttp_uridecode(raw, 1, &len);
    char *out = dec && strlen(dec) == len ? mem_try_alloc(len + 1) : NULL; /* no %00 */
    if (out)
        memcpy(out, dec, len + 1);
    free(dec);
    mem_free(raw);
    return out;
}

const char *form_fields_get(const struct form_field *fields, size_t len, const char *name) {
    for (size_t i = 0; i < len; i++)
        if (strcmp(fields[i].name, name) == 0)
            return fields[i].value;
    return NULL;
}

void form_fields_free(struct form_field *fields, size_t *len) {
    for (size_t i = 0; i < *len; i++) {
        mem_free(fields[i].name);
        mem_free(fields[i].value);
    }
    *len = 0;
}

void form_free(struct form *f) {
    form_fields_free(f->fields, &f->len);
}

int form_parse(const char *body, size_t len, struct form *f) {
    f->len = 0;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end > i) {
            if (f->len >= FORM_MAX_FIELDS)
                goto fail;
            const char *eq = memchr(body + i, '=', end - i);
            size_t nlen = eq ? (size_t)(eq - (body + i)) : end - i;
            char *name = form_decode(body + i, nlen);
            char *value = eq ? form_decode(eq + 1, (size_t)(body + end - eq - 1)) : mem_strdup("");
            if (!name || !value) {
                mem_free(name);
                mem_free(value);
                goto fail;
            }
            f->fields[f->len].name = name;
            f->fields[f->len].value = value;
            f->len++;
        }
        i = end + 1;
    }
    return 0;
fail:
    form_free(f);
    return -1;
}

const char *form_get(const struct form *f, const char *name) {
    return form_fields_get(f->fields, f->len, name);
}

static int form_cmp(const void *a, const void *b) {
    const struct form_field *x = *(const struct form_field *const *)a;
    const struct form_field *y = *(const struct form_field *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

void form_twilio_signature(const char *token, const char *url, const struct form *f, char *out) {
    const struct form_field *sorted[FORM_MAX_FIELDS];
    for (size_t i = 0; i < f->len; i++)
        sorted[i] = &f->fields[i];
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    qsort(sorted, f->len, sizeof(sorted[0]), form_cmp);
    struct buf b = {0};
    buf_puts(&b, url);
    for (size_t i = 0; i < f->len; i++) {
        buf_puts(&b, sorted[i]->name);
        buf_puts(&b, sorted[i]->value);
    }
    uint8_t mac[20];
    crypto_hmac_sha1(token, strlen(token), b.data, b.len, mac);
    buf_free(&b);
    crypto_b64(mac, sizeof(mac), out, false);
}

bool form_twilio_check(const char *token, const char *url, const struct form *f, const char *sig) {
    char want[32];
    form_twilio_signature(token, url, f, want);
    size_t n = strlen(want);
    return sig && strlen(sig) == n && crypto_ct_equal(want, sig, n);
}
