/* jwt: the RS256-signed JWT of an OAuth 2.0 service-account grant (RFC 7523),
 * as Google's token endpoint takes it for FCM. Pure: no I/O, no clock. */
#ifndef HERALD_WORKER_JWT_H
#define HERALD_WORKER_JWT_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define JWT_LIFETIME_S 3600 /* exp - iat: the longest Google accepts */

/* jwt_load_key: parses pem (n bytes, a PKCS#8 or PKCS#1 "PRIVATE KEY" block)
 * as an RSA private key. Returns it (caller frees with EVP_PKEY_free), or NULL
 * with a short reason in err (never the key's text). */
EVP_PKEY *jwt_load_key(const char *pem, size_t n, char *err, size_t errlen);

/* jwt_grant: appends to out the compact JWT
 *   base64url({"alg":"RS256","typ":"JWT"}) . base64url(claims) . base64url(signature)
 * with claims {"iss":iss,"scope":scope,"aud":aud,"iat":iat_s,"exp":iat_s+JWT_LIFETIME_S},
 * signed with RSASSA-PKCS1-v1_5 over SHA-256 by key (borrowed). Returns 0, or -1
 * with err filled and out untouched when signing fails. */
int jwt_grant(EVP_PKEY *key, const char *iss, const char *scope, const char *aud, int64_t iat_s,
              struct buf *out, char *err, size_t errlen);

#endif
