/* whsig: an independent Standard Webhooks signer (OpenSSL HMAC and base64). */
#include "whsig.h"
#include "common/mem.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

char *whsig_b64(const unsigned char *p, size_t n) {
    char *out = mem_alloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

char *whsig_sign(const char *secret, const char *id, const char *ts, const char *body) {
    if (strncmp(secret, "whsec_", 6) != 0)
        return NULL;
    const char *k64 = secret + 6;
    size_t k64len = strlen(k64);
    if (k64len == 0 || k64len % 4 != 0)
        return NULL;
    unsigned char key[256];
    if (k64len / 4 * 3 > sizeof(key))
        return NULL;
    int klen = EVP_DecodeBlock(key, (const unsigned char *)k64, (int)k64len);
    if (klen < 0)
        return NULL;
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off */
    if (k64[k64len - 1] == '=')
        klen--;
    if (k64[k64len - 2] == '=')
        klen--;
    size_t tlen = strlen(id) + strlen(ts) + strlen(body) + 3;
    char *text = mem_alloc(tlen);
    int len = snprintf(text, tlen, "%s.%s.%s", id, ts, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, klen, (const unsigned char *)text, (size_t)len, mac, &maclen);
    mem_free(text);
    char *b64 = whsig_b64(mac, maclen);
    size_t olen = strlen(b64) + 4;
    char *out = mem_alloc(olen);
    snprintf(out, olen, "v1,%s", b64);
    mem_free(b64);
    return out;
}
