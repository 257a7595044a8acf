/* jwt: service-account grant assertions signed with OpenSSL's EVP interface. */
#include "worker/jwt.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/mem.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

EVP_PKEY *jwt_load_key(const char *pem, size_t n, char *err, size_t errlen) {
    if (n > (size_t)0x7fffffff) {
        snprintf(err, errlen, "the private key is too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    if (!bio) {
        snprintf(err, errlen, "out of memory reading the private key");
        return NULL;
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!key) {
        snprintf(err, errlen, "private_key is not a PEM private key");
        return NULL;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        snprintf(err, errlen, "private_key is not an RSA key (RS256 needs one)");
        return NULL;
    }
    return key;
}

/* jwt_b64url: appends base64url without padding of n bytes. */
static void jwt_b64url(struct buf *out, const void *data, size_t n) {
    char *enc = mem_alloc(4 * ((n + 2) / 3) + 1);
    size_t len = crypto_b64(data, n, enc, true);
    buf_append(out, enc, len);
    mem_free(enc);
}

int jwt_grant(EVP_PKEY *key, const char *iss, const char *scope, const char *aud, int64_t iat_s,
              struct buf *out, char *err, size_t errlen) {
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    struct buf claims = {0}, text = {0};
    unsigned char *sig = NULL;
    int rc = -1;

    buf_puts(&claims, "{\"iss\":");
    buf_json_str(&claims, iss, strlen(iss));
    buf_puts(&claims, ",\"scope\":");
    buf_json_str(&claims, scope, strlen(scope));
    buf_puts(&claims, ",\"aud\":");
    buf_json_str(&claims, aud, strlen(aud));
    buf_printf(&claims, ",\"iat\":%lld,\"exp\":%lld}", (long long)iat_s,
               (long long)iat_s + JWT_LIFETIME_S);
    jwt_b64url(&text, header, sizeof(header) - 1);
    buf_putc(&text, '.');
    jwt_b64url(&text, claims.data, claims.len);

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t siglen = 0;
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)text.data, text.len) != 1) {
        snprintf(err, errlen, "cannot sign the token request (RS256)");
        goto out;
    }
    sig = mem_alloc(siglen);
    if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)text.data, text.len) != 1) {
        snprintf(err, errlen, "cannot sign the token request (RS256)");
        goto out;
    }
    buf_putc(&text, '.');
    jwt_b64url(&text, sig, siglen);
    buf_append(out, text.data, text.len);
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    mem_free(sig);
    buf_free(&claims);
    buf_free(&text);
    return rc;
}
