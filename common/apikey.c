/* apikey: API key and webhook secret generation, strict key parsing, and secret hashing. */
#include "common/apikey.h"
#include "common/crypto.h"
#include "common/util.h"

#include <string.h>

#define APIKEY_PREFIX "hk_"
#define APIKEY_PREFIX_LEN 3
#define APIKEY_RAW_ID 8      /* random bytes behind the id */
#define APIKEY_RAW_SECRET 32 /* random bytes behind the secret */
#define APIKEY_WHSEC_PREFIX "whsec_"

static bool apikey_is_lower_hex(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

static bool apikey_is_b64url(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

void apikey_generate(char *key, struct apikey_parts *parts) {
    uint8_t raw_id[APIKEY_RAW_ID], raw_secret[APIKEY_RAW_SECRET];
    char id[APIKEY_ID_LEN + 1];
    char secret[4 * ((APIKEY_RAW_SECRET + 2) / 3) + 1];

    util_random(raw_id, sizeof(raw_id));
    util_random(raw_secret, sizeof(raw_secret));
    crypto_hex(raw_id, sizeof(raw_id), id);
    crypto_b64(raw_secret, sizeof(raw_secret), secret, true);

    memcpy(key, APIKEY_PREFIX, APIKEY_PREFIX_LEN);
    memcpy(key + APIKEY_PREFIX_LEN, id, APIKEY_ID_LEN);
    key[APIKEY_PREFIX_LEN + APIKEY_ID_LEN] = '_';
    memcpy(key + APIKEY_PREFIX_LEN + APIKEY_ID_LEN + 1, secret, APIKEY_SECRET_LEN);
    key[APIKEY_LEN] = '\0';
    if (parts) {
        memcpy(parts->id, id, sizeof(parts->id));
        memcpy(parts->secret, secret, sizeof(parts->secret));
    }
    memset(raw_secret, 0, sizeof(raw_secret));
    memset(secret, 0, sizeof(secret));
}

bool apikey_id_valid(const char *s) {
    if (!s)
        return false;
    for (size_t i = 0; i < APIKEY_ID_LEN; i++)
        if (!apikey_is_lower_hex(s[i]))
            return false;
    return s[APIKEY_ID_LEN] == '\0';
}

int apikey_parse(const char *key, size_t len, struct apikey_parts *out) {
    const char *id, *secret;
    uint8_t raw[APIKEY_RAW_SECRET + 1];
    char again[4 * ((APIKEY_RAW_SECRET + 2) / 3) + 1];

    memset(out, 0, sizeof(*out));
    if (!key || len != APIKEY_LEN || memcmp(key, APIKEY_PREFIX, APIKEY_PREFIX_LEN) != 0)
        goto fail;
    id = key + APIKEY_PREFIX_LEN;
    for (size_t i = 0; i < APIKEY_ID_LEN; i++)
        if (!apikey_is_lower_hex(id[i]))
            goto fail;
    if (id[APIKEY_ID_LEN] != '_')
        goto fail;
    secret = id + APIKEY_ID_LEN + 1;
    for (size_t i = 0; i < APIKEY_SECRET_LEN; i++)
        if (!apikey_is_b64url(secret[i]))
            goto fail;
    /* Canonical form only: 43 characters carry 258 bits, so the last one
     * must leave its 2 spare bits zero. Re-encoding catches any other. */
    if (crypto_b64_decode(secret, APIKEY_SECRET_LEN, raw, sizeof(raw)) != APIKEY_RAW_SECRET)
        goto fail;
    crypto_b64(raw, APIKEY_RAW_SECRET, again, true);
    if (memcmp(again, secret, APIKEY_SECRET_LEN) != 0)
        goto fail;

    memcpy(out->id, id, APIKEY_ID_LEN);
    out->id[APIKEY_ID_LEN] = '\0';
    memcpy(out->secret, secret, APIKEY_SECRET_LEN);
    out->secret[APIKEY_SECRET_LEN] = '\0';
    memset(raw, 0, sizeof(raw));
    memset(again, 0, sizeof(again));
    return 0;

fail:
    memset(raw, 0, sizeof(raw));
    memset(again, 0, sizeof(again));
    memset(out, 0, sizeof(*out));
    return -1;
}

void apikey_hash_secret(const char *secret, uint8_t out[APIKEY_HASH_LEN]) {
    crypto_sha256(secret, strlen(secret), out);
}

bool apikey_verify(const char *secret, const uint8_t *stored, size_t stored_len) {
    uint8_t h[APIKEY_HASH_LEN];
    bool ok;

    if (!secret || !stored || stored_len != APIKEY_HASH_LEN)
        return false;
    apikey_hash_secret(secret, h);
    ok = crypto_ct_equal(h, stored, APIKEY_HASH_LEN);
    memset(h, 0, sizeof(h));
    return ok;
}

char *apikey_new_webhook_secret(void) {
    uint8_t raw[APIKEY_RAW_SECRET];
    char *s = mem_alloc(APIKEY_WHSEC_LEN + 1);
    size_t pre = strlen(APIKEY_WHSEC_PREFIX);

    util_random(raw, sizeof(raw));
    memcpy(s, APIKEY_WHSEC_PREFIX, pre + 1); /* crypto_b64 writes from the NUL on */
    crypto_b64(raw, sizeof(raw), s + pre, false);
    memset(raw, 0, sizeof(raw));
    return s;
}
