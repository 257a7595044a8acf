/* fuzz_apikey: apikey_parse on presented Bearer tokens, and apikey_id_valid.
 * Checks: apikey_parse accepts exactly "hk_" + 16 lowercase hex + "_" + 43 base64url
 * characters whose last one leaves the 2 spare bits zero (canonical, as apikey_generate makes
 * them), splits it into its id and secret and, on refusal, leaves the parts zeroed;
 * apikey_id_valid accepts exactly 16 lowercase hex characters; a secret verifies against its
 * own hash and not against another. */
#include "tests/fuzz/fuzz.h"
#include "common/apikey.h"

static bool fa_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static const char fa_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool fa_reference(const uint8_t *k, size_t n) {
    if (n != 63 || memcmp(k, "hk_", 3) != 0 || k[19] != '_')
        return false;
    for (size_t i = 3; i < 19; i++)
        if (!fa_hex((char)k[i]))
            return false;
    for (size_t i = 20; i < 63; i++) {
        const char *at = k[i] ? strchr(fa_b64url, k[i]) : NULL;
        if (!at)
            return false;
        if (i == 62 && (at - fa_b64url) % 4 != 0) /* 2 spare bits must be zero */
            return false;
    }
    return true;
}

static bool fa_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct apikey_parts parts;
    memset(&parts, 0xAA, sizeof(parts));
    int rc = apikey_parse((const char *)data, size, &parts);
    bool ok = fa_reference(data, size);
    FUZZ_CHECK((rc == 0) == ok);
    if (ok) {
        FUZZ_CHECK(strlen(parts.id) == 16 && memcmp(parts.id, data + 3, 16) == 0);
        FUZZ_CHECK(strlen(parts.secret) == 43 && memcmp(parts.secret, data + 20, 43) == 0);
        FUZZ_CHECK(apikey_id_valid(parts.id));
        uint8_t h[APIKEY_HASH_LEN];
        apikey_hash_secret(parts.secret, h);
        FUZZ_CHECK(apikey_verify(parts.secret, h, sizeof(h)));
        FUZZ_CHECK(!apikey_verify(parts.secret, h, sizeof(h) - 1));
        h[0] ^= 1;
        FUZZ_CHECK(!apikey_verify(parts.secret, h, sizeof(h)));
    } else {
        FUZZ_CHECK(fa_zero(&parts, sizeof(parts)));
    }

    /* the same bytes as a key id (the path segment of heraldctl keys revoke) */
    char *s = fuzz_cstr(data, size);
    bool id_ok = strlen(s) == 16;
    for (size_t i = 0; id_ok && i < 16; i++)
        id_ok = fa_hex(s[i]);
    FUZZ_CHECK(apikey_id_valid(s) == id_ok);
    mem_free(s);
    return 0;
}
