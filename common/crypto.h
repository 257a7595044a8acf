/* crypto: hashing, HMAC, base64 and constant-time comparison over OpenSSL. */
#ifndef HERALD_COMMON_CRYPTO_H
#define HERALD_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[32]);
void crypto_hmac_sha1(const void *key, size_t klen, const void *data, size_t n, uint8_t out[20]);
/* crypto_hex: 2n lowercase hex characters + NUL into out. */
void crypto_hex(const uint8_t *in, size_t n, char *out);
/* crypto_b64: standard alphabet with padding (url=false) or base64url without
 * padding (url=true); out needs 4*((n+2)/3)+1 bytes; returns the length. */
size_t crypto_b64(const uint8_t *in, size_t n, char *out, bool url);
/* crypto_b64_decode: standard or url alphabet, padding optional; returns the
 * decoded length, or -1 on a bad character or if it would not fit in cap. */
long crypto_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* crypto_ct_equal: compares in time that depends only on n. */
bool crypto_ct_equal(const void *a, const void *b, size_t n);

#endif
