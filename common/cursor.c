/* cursor: 8 bytes of time, 16 of id and 8 of a scope fingerprint, base64url. */
#include "common/cursor.h"
#include "common/crypto.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

static void cursor_fingerprint(const char *scope, uint8_t out[8]) {
    uint8_t h[32];
    crypto_sha256(scope, strlen(scope), h);
    memcpy(out, h, 8);
}

void cursor_encode(int64_t ms, const char *id, const char *scope, char *out) {
    uint8_t raw[32];
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)((uint64_t)ms >> (56 - 8 * i));
    for (int i = 0, j = 0; i < 16; j++) {
        if (id[j] == '-')
            continue;
        unsigned v;
        sscanf(id + j, "%2x", &v);
        raw[8 + i++] = (uint8_t)v;
        j++;
    }
    cursor_fingerprint(scope, raw + 24);
    crypto_b64(raw, sizeof(raw), out, true);
}

int cursor_decode(const char *s, const char *scope, int64_t *ms, char *id) {
    uint8_t raw[33];
    size_t n = strlen(s);
    if (n != CURSOR_LEN - 1)
        return -1;
    if (crypto_b64_decode(s, n, raw, sizeof(raw)) != 32)
        return -1;
    /* only the spelling cursor_encode makes: the decoder also takes the
     * standard alphabet and ignores the last character's unused bits */
    char again[CURSOR_LEN];
    crypto_b64(raw, 32, again, true);
    if (strcmp(again, s) != 0)
        return -1;
    uint8_t fp[8];
    cursor_fingerprint(scope, fp);
    if (!crypto_ct_equal(fp, raw + 24, 8))
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | raw[i];
    *ms = (int64_t)v;
    util_uuid_fmt(raw + 8, id);
    return 0;
}
