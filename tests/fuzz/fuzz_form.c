/* fuzz_form: form_parse (the SMS status callback body) and the Twilio signature over it.
 * Input: the form body, then optionally NUL and a presented X-Twilio-Signature. Checks:
 * form_parse agrees with a reference decoder on success, field count and every decoded name
 * and value (so no field holds a NUL or is cut short), and fails only on a bad %XX escape, a
 * decoded NUL or more than FORM_MAX_FIELDS fields; a failed parse leaves the form empty;
 * form_get finds the first value; the fields percent-encoded again parse to the same fields;
 * the signature equals an independent HMAC-SHA1 over the URL and the pairs sorted by name
 * then value, does not depend on field order, is accepted by form_twilio_check, and no other
 * presented signature is; Twilio's own published example signs as published. */
#include "tests/fuzz/fuzz.h"
#include "common/buf.h"
#include "api/form.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define FF_TOKEN "0123456789abcdef0123456789abcdef"
#define FF_URL "https://herald.example.com/v1/callbacks/sms"

struct ff_field {
    struct buf name, value;
};

static int ff_hex(uint8_t c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..n) into out; false on a bad escape or a NUL. */
static bool ff_decode(const uint8_t *s, size_t n, struct buf *out) {
    buf_append(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '%') {
            if (n - i < 3 || ff_hex(s[i + 1]) < 0 || ff_hex(s[i + 2]) < 0)
                return false;
            c = (uint8_t)(ff_hex(s[i + 1]) << 4 | ff_hex(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0)
            return false;
        buf_append(out, &c, 1);
    }
    return true;
}

/* The reference parse: fields into ref (FORM_MAX_FIELDS + 1 entries), their number into
 * *count; false when form_parse must fail. */
static bool ff_reference(const uint8_t *body, size_t len, struct ff_field *ref, size_t *count) {
    size_t k = 0;
    const uint8_t *p = body, *end = body + len;
    while (p < end) {
        const uint8_t *amp = memchr(p, '&', (size_t)(end - p));
        const uint8_t *seg_end = amp ? amp : end;
        if (seg_end > p) {
            if (k == FORM_MAX_FIELDS)
                return false;
            const uint8_t *eq = memchr(p, '=', (size_t)(seg_end - p));
            const uint8_t *name_end = eq ? eq : seg_end;
            if (!ff_decode(p, (size_t)(name_end - p), &ref[k].name))
                return false;
            if (!ff_decode(eq ? eq + 1 : seg_end, eq ? (size_t)(seg_end - eq - 1) : 0,
                           &ref[k].value))
                return false;
            *count = ++k;
        }
        p = seg_end + 1;
    }
    *count = k;
    return true;
}

static int ff_cmp(const struct form_field *a, const struct form_field *b) {
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->value, b->value);
}

/* Twilio's scheme restated: URL, then name + value for each pair in sorted order. */
static void ff_signature(const struct form *f, char *out) {
    const struct form_field *order[FORM_MAX_FIELDS];
    for (size_t i = 0; i < f->len; i++) { /* insertion sort, unlike form.c's qsort */
        size_t j = i;
        while (j > 0 && ff_cmp(order[j - 1], &f->fields[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = &f->fields[i];
    }
    struct buf msg = {0};
    buf_puts(&msg, FF_URL);
    for (size_t i = 0; i < f->len; i++) {
        buf_puts(&msg, order[i]->name);
        buf_puts(&msg, order[i]->value);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    FUZZ_CHECK(HMAC(EVP_sha1(), FF_TOKEN, (int)strlen(FF_TOKEN), (const unsigned char *)msg.data,
                    msg.len, mac, &mac_len) != NULL);
    FUZZ_CHECK(mac_len == 20);
    EVP_EncodeBlock((unsigned char *)out, mac, 20);
    buf_free(&msg);
}

static void ff_encode(struct buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            buf_putc(b, (char)c);
        } else if (c == ' ') {
            buf_putc(b, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 3);
        }
    }
}

static void ff_check_signature(const struct form *f, const uint8_t *presented, size_t plen,
                               bool has_presented) {
    char sig[32], want[32];
    form_twilio_signature(FF_TOKEN, FF_URL, f, sig);
    ff_signature(f, want);
    FUZZ_CHECK(strlen(sig) == 28 && strcmp(sig, want) == 0);
    FUZZ_CHECK(form_twilio_check(FF_TOKEN, FF_URL, f, sig));
    FUZZ_CHECK(!form_twilio_check(FF_TOKEN, FF_URL, f, NULL));
    FUZZ_CHECK(!form_twilio_check(FF_TOKEN, FF_URL, f, ""));
    char wrong[32];
    memcpy(wrong, sig, sizeof(wrong));
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    FUZZ_CHECK(!form_twilio_check(FF_TOKEN, FF_URL, f, wrong));
    FUZZ_CHECK(!form_twilio_check(FF_TOKEN, FF_URL "/", f, sig));
    if (has_presented) {
        char *p = fuzz_cstr(presented, plen);
        FUZZ_CHECK(form_twilio_check(FF_TOKEN, FF_URL, f, p) == (strcmp(p, sig) == 0));
        mem_free(p);
    }

    /* the same fields in reverse order sign the same */
    struct form rev;
    rev.len = f->len;
    for (size_t i = 0; i < f->len; i++)
        rev.fields[i] = f->fields[f->len - 1 - i];
    char sig2[32];
    form_twilio_signature(FF_TOKEN, FF_URL, &rev, sig2);
    FUZZ_CHECK(strcmp(sig, sig2) == 0);
}

/* Twilio's published example (token 12345): the scheme matches the provider's, not just the
 * reference above. */
static void ff_known_answer(void) {
    static const char body[] = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234"
                               "&From=%2B14158675309&To=%2B18005551212";
    static struct form f;
    char sig[32];
    FUZZ_CHECK(form_parse(body, sizeof(body) - 1, &f) == 0);
    form_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &f, sig);
    FUZZ_CHECK(strcmp(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") == 0);
    form_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool known_answer_done;
    if (!known_answer_done) {
        ff_known_answer();
        known_answer_done = true;
    }
    size_t len, plen;
    const uint8_t *presented;
    bool has_presented = fuzz_split(data, size, 0, &len, &presented, &plen);

    static struct ff_field ref[FORM_MAX_FIELDS + 1];
    size_t count = 0;
    bool ok = ff_reference(data, len, ref, &count);

    static struct form f;
    memset(&f, 0, sizeof(f));
    int rc = form_parse((const char *)data, len, &f);
    FUZZ_CHECK(rc == (ok ? 0 : -1));
    if (rc != 0) {
        FUZZ_CHECK(f.len == 0);
        goto out;
    }
    FUZZ_CHECK(f.len == count && f.len <= FORM_MAX_FIELDS);
    for (size_t i = 0; i < f.len; i++) {
        const char *name = f.fields[i].name, *value = f.fields[i].value;
        FUZZ_CHECK(name && value);
        FUZZ_CHECK(strlen(name) == ref[i].name.len &&
                   memcmp(name, ref[i].name.data, ref[i].name.len) == 0);
        FUZZ_CHECK(strlen(value) == ref[i].value.len &&
                   memcmp(value, ref[i].value.data, ref[i].value.len) == 0);
        size_t first = 0;
        while (strcmp(f.fields[first].name, name) != 0)
            first++;
        FUZZ_CHECK(form_get(&f, name) == f.fields[first].value);
    }

    /* encode again, parse again: the same fields */
    struct buf enc = {0};
    for (size_t i = 0; i < f.len; i++) {
        if (i)
            buf_putc(&enc, '&');
        ff_encode(&enc, f.fields[i].name);
        buf_putc(&enc, '=');
        ff_encode(&enc, f.fields[i].value);
    }
    static struct form g;
    memset(&g, 0, sizeof(g));
    FUZZ_CHECK(form_parse(enc.data ? enc.data : "", enc.len, &g) == 0);
    /* a field whose name and value are both empty encodes as "=", which is still a field */
    FUZZ_CHECK(g.len == f.len);
    for (size_t i = 0; i < f.len; i++)
        FUZZ_CHECK(strcmp(g.fields[i].name, f.fields[i].name) == 0 &&
                   strcmp(g.fields[i].value, f.fields[i].value) == 0);
    form_free(&g);
    buf_free(&enc);

    ff_check_signature(&f, presented, plen, has_presented);
out:
    form_free(&f);
    for (size_t i = 0; i <= FORM_MAX_FIELDS; i++) {
        buf_free(&ref[i].name);
        buf_free(&ref[i].value);
    }
    return 0;
}
