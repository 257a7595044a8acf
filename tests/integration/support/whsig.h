/* whsig: Standard Webhooks signatures computed with OpenSSL alone, so the
 * tests check what herald-worker sends without Herald's own helpers
 * (common/crypto.c): a mistake there cannot hide in both. */
#ifndef HERALD_TESTS_WHSIG_H
#define HERALD_TESTS_WHSIG_H

#include <stddef.h>

/* whsig_sign: "v1,<base64 of HMAC-SHA256(key, id "." ts "." body)>" where
 * key is the base64 after "whsec_" in secret. Caller frees with mem_free;
 * NULL when secret is not of that form. */
char *whsig_sign(const char *secret, const char *id, const char *ts, const char *body);

/* whsig_b64: n bytes in standard, padded base64. Caller frees with mem_free. */
char *whsig_b64(const unsigned char *p, size_t n);

#endif
