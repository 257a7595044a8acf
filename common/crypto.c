/* crypto: thin wrappers over OpenSSL's libcrypto (base64 included: EVP_EncodeBlock and
 * EVP_DecodeBlock, with the url alphabet mapped around them). */
#include "common/crypto.h"
#include "common/mem.h"

#include <limits.h>
#include <string.h>

#define CRYPTO_B64_SMALL 512 /* encoded bytes decoded without allocating (keys, signatures) */

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

void crypto_sha256(const void *data, size_t n, uint8_t out[32]) {
    SHA256(data, n, out);
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[32]) {
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len);
}

void crypto_hmac_sha1(const void *key, size_t klen, const void *data, size_t n, uint8_t out[20]) {
    unsigned int len = 20;
    HMAC(EVP_sha1(), key, (int)klen, data, n, out, &len);
}

void crypto_hex(const uint8_t *in, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

size_t crypto_b64(const uint8_t *in, size_t n, char *out, bool url) {
    size_t len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    if (url) {
        while (len > 0 && out[len - 1] == '=')
            len--;
        out[len] = '\0';
        for (size_t i = 0; i < len; i++)
            out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    return len;
}

long crypto_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap) {
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1 || n > (size_t)INT_MAX / 2)
        return -1;
    /* EVP_DecodeBlock takes the standard alphabet, padded, and forgives
     * surrounding blanks: both alphabets are mapped and anything else
     * refused first */
    size_t padded = (n + 3) / 4 * 4;
    unsigned char std_small[CRYPTO_B64_SMALL], raw_small[CRYPTO_B64_SMALL];
    bool small = padded <= sizeof(std_small);
    unsigned char *std = small ? std_small : mem_try_alloc(padded);
    unsigned char *raw = small ? raw_small : mem_try_alloc(padded / 4 * 3);
    long rc = -1;
    if (!std || !raw)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '-' || c == '+')
            c = '+';
        else if (c == '_' || c == '/')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto out;
        std[i] = (unsigned char)c;
    }
    memset(std + n, '=', padded - n);
    int len = EVP_DecodeBlock(raw, std, (int)padded);
    if (len < 0)
        goto out;
    len -= (int)(padded - n); /* the padding decodes to zero bytes */
    if ((size_t)len > cap)
        goto out;
    memcpy(out, raw, (size_t)len);
    rc = len;
out:
    if (!small) {
        mem_free(std);
        mem_free(raw);
    }
    return rc;
}

bool crypto_ct_equal(const void *a, const void *b, size_t n) {
    return CRYPTO_memcmp(a, b, n) == 0;
}
