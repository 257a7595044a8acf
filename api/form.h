/* form: a bounded parser for application/x-www-form-urlencoded bodies, and
 * the Twilio request signature over them. */
#ifndef HERALD_API_FORM_H
#define HERALD_API_FORM_H

#include <stdbool.h>
#include <stddef.h>

#define FORM_MAX_FIELDS 128

struct form_field {
    char *name;  /* decoded, NUL-terminated, owned */
    char *value; /* decoded, NUL-terminated, owned */
};

struct form {
    struct form_field fields[FORM_MAX_FIELDS];
    size_t len;
};

/* form_fields_get: the first value of name among fields[0..len), borrowed;
 * NULL if absent. form_fields_free: frees their strings and sets *len to 0.
 * For any decoded name/value list (a form's, a query string's). */
const char *form_fields_get(const struct form_field *fields, size_t len, const char *name);
void form_fields_free(struct form_field *fields, size_t *len);

/* form_parse: decodes body (len bytes, any bytes) into f. '+' is a space,
 * %XX a byte. Returns 0, or -1 (f emptied) on a bad escape, a NUL byte after
 * decoding, or more than FORM_MAX_FIELDS fields. Release with form_free(). */
int form_parse(const char *body, size_t len, struct form *f);
void form_free(struct form *f);
/* form_get: the first value of name, borrowed; NULL if absent. */
const char *form_get(const struct form *f, const char *name);

/* form_decode: decodes s[0..n) as a urlencoded name or value ('+' is a
 * space, %XX a byte). Returns a new string (caller frees with mem_free()),
 * or NULL on a bad escape or a NUL (raw or escaped). */
char *form_decode(const char *s, size_t n);

/* form_twilio_signature: base64 of HMAC-SHA1(token, url + every name+value
 * pair sorted by name, then value), into out[29]. */
void form_twilio_signature(const char *token, const char *url, const struct form *f, char *out);
/* form_twilio_check: compares sig (as sent in X-Twilio-Signature) in constant time. */
bool form_twilio_check(const char *token, const char *url, const struct form *f, const char *sig);

#endif
