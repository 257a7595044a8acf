/* test_apikey: key generation, strict parsing, secret hashing and webhook secret format. */
#include <criterion/criterion.h>

#include <string.h>

#include "common/apikey.h"
#include "common/crypto.h"
#include "common/mem.h"

static char key[APIKEY_LEN + 1];
static struct apikey_parts gen;

static void setup(void) {
    apikey_generate(key, &gen);
}

TestSuite(apikey, .init = setup);

static bool all_in(const char *s, size_t n, const char *alphabet) {
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(alphabet, s[i]))
            return false;
    return true;
}

static int parse_str(const char *s, struct apikey_parts *p) {
    return apikey_parse(s, strlen(s), p);
}

/* A copy of the generated key with byte i replaced by c. */
static void with_char(char *out, size_t i, char c) {
    memcpy(out, key, sizeof(key));
    out[i] = c;
}

#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

Test(apikey, generated_format) {
    cr_assert_eq(strlen(key), 63);
    cr_assert_eq(strncmp(key, "hk_", 3), 0);
    cr_assert(all_in(key + 3, 16, "0123456789abcdef"));
    cr_assert_eq(key[19], '_');
    cr_assert(all_in(key + 20, 43, B64URL));
    cr_assert_eq(strncmp(gen.id, key + 3, 16), 0);
    cr_assert_eq(strlen(gen.id), 16);
    cr_assert_str_eq(gen.secret, key + 20);
}

Test(apikey, generated_keys_differ) {
    char other[APIKEY_LEN + 1];
    struct apikey_parts p;
    apikey_generate(other, &p);
    cr_assert_str_neq(other, key);
    cr_assert_str_neq(p.id, gen.id);
    cr_assert_str_neq(p.secret, gen.secret);
}

Test(apikey, generate_without_parts) {
    char k[APIKEY_LEN + 1];
    struct apikey_parts p;
    apikey_generate(k, NULL);
    cr_assert_eq(parse_str(k, &p), 0);
}

Test(apikey, parse_accepts_generated) {
    struct apikey_parts p;
    for (int i = 0; i < 200; i++) {
        char k[APIKEY_LEN + 1];
        struct apikey_parts want;
        apikey_generate(k, &want);
        cr_assert_eq(parse_str(k, &p), 0, "rejected %s", k);
        cr_assert_str_eq(p.id, want.id);
        cr_assert_str_eq(p.secret, want.secret);
    }
}

Test(apikey, parse_uses_len_not_nul) {
    char buf[APIKEY_LEN + 8];
    struct apikey_parts p;
    memcpy(buf, key, APIKEY_LEN);
    memcpy(buf + APIKEY_LEN, "garbage", 8);
    cr_assert_eq(apikey_parse(buf, APIKEY_LEN, &p), 0);
    cr_assert_str_eq(p.secret, gen.secret);
}

Test(apikey, parse_rejects_wrong_prefix) {
    char bad[APIKEY_LEN + 1];
    struct apikey_parts p;
    with_char(bad, 0, 'H');
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 1, 'x');
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 2, '-');
    cr_assert_eq(parse_str(bad, &p), -1);
    /* "sk_" is another vendor's prefix of the same length */
    memcpy(bad, key, sizeof(key));
    memcpy(bad, "sk_", 3);
    cr_assert_eq(parse_str(bad, &p), -1);
}

Test(apikey, parse_rejects_wrong_lengths) {
    char bad[APIKEY_LEN + 2];
    struct apikey_parts p;
    /* one character short and one too many, at the end */
    cr_assert_eq(apikey_parse(key, APIKEY_LEN - 1, &p), -1);
    memcpy(bad, key, APIKEY_LEN);
    bad[APIKEY_LEN] = 'A';
    bad[APIKEY_LEN + 1] = '\0';
    cr_assert_eq(parse_str(bad, &p), -1);
    /* a 15-character id with a 44-character secret keeps the total length */
    memcpy(bad, key, sizeof(key));
    memmove(bad + 18, bad + 19, APIKEY_LEN - 19);
    bad[APIKEY_LEN - 1] = 'A';
    bad[APIKEY_LEN] = '\0';
    cr_assert_eq(strlen(bad), APIKEY_LEN);
    cr_assert_eq(parse_str(bad, &p), -1);
    /* the prefix alone, and far too long */
    cr_assert_eq(parse_str("hk_", &p), -1);
    char longer[4096];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    memcpy(longer, key, APIKEY_LEN);
    cr_assert_eq(parse_str(longer, &p), -1);
}

Test(apikey, parse_rejects_bad_chars) {
    char bad[APIKEY_LEN + 1];
    struct apikey_parts p;
    with_char(bad, 3, 'A'); /* uppercase hex in the id */
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 10, 'g');
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 25, '+'); /* standard base64, not url */
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 30, '/');
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 40, ' ');
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 62, '=');
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 50, '\0');
    cr_assert_eq(apikey_parse(bad, APIKEY_LEN, &p), -1);
    with_char(bad, 45, (char)0xc3);
    cr_assert_eq(parse_str(bad, &p), -1);
}

Test(apikey, parse_rejects_non_canonical_secret) {
    /* 'B' as the last character sets one of the 2 spare bits. */
    char k[APIKEY_LEN + 1];
    struct apikey_parts p;
    memcpy(k, "hk_0123456789abcdef_", 20);
    memset(k + 20, 'A', 43);
    k[APIKEY_LEN] = '\0';
    cr_assert_eq(parse_str(k, &p), 0);
    k[APIKEY_LEN - 1] = 'B';
    cr_assert_eq(parse_str(k, &p), -1);
    k[APIKEY_LEN - 1] = 'E'; /* 000100: spare bits clear */
    cr_assert_eq(parse_str(k, &p), 0);
}

Test(apikey, parse_rejects_extra_underscores) {
    char bad[APIKEY_LEN + 2];
    struct apikey_parts p;
    with_char(bad, 19, 'a'); /* separator replaced */
    cr_assert_eq(parse_str(bad, &p), -1);
    with_char(bad, 8, '_'); /* underscore inside the id */
    cr_assert_eq(parse_str(bad, &p), -1);
    /* "hk__" + id: the id is shifted by one */
    memcpy(bad, "hk__", 4);
    memcpy(bad + 4, key + 3, APIKEY_LEN - 4);
    bad[APIKEY_LEN] = '\0';
    cr_assert_eq(strlen(bad), APIKEY_LEN);
    cr_assert_eq(parse_str(bad, &p), -1);
    /* a trailing underscore */
    memcpy(bad, key, APIKEY_LEN);
    bad[APIKEY_LEN] = '_';
    bad[APIKEY_LEN + 1] = '\0';
    cr_assert_eq(parse_str(bad, &p), -1);
    /* a doubled separator */
    memcpy(bad, key, 20);
    bad[20] = '_';
    memcpy(bad + 21, key + 20, 43);
    bad[APIKEY_LEN + 1] = '\0';
    cr_assert_eq(parse_str(bad, &p), -1);
}

Test(apikey, parse_rejects_empty_and_null) {
    struct apikey_parts p;
    cr_assert_eq(parse_str("", &p), -1);
    cr_assert_eq(apikey_parse(NULL, 0, &p), -1);
    cr_assert_eq(apikey_parse(NULL, APIKEY_LEN, &p), -1);
    cr_assert_eq(parse_str("Bearer", &p), -1);
}

Test(apikey, parse_failure_zeroes_out) {
    struct apikey_parts p;
    memset(&p, 'x', sizeof(p));
    cr_assert_eq(parse_str("hk_nope", &p), -1);
    cr_assert_eq(p.id[0], '\0');
    cr_assert_eq(p.secret[0], '\0');
}

Test(apikey, id_valid) {
    cr_assert(apikey_id_valid(gen.id));
    cr_assert(apikey_id_valid("0123456789abcdef"));
    cr_assert_not(apikey_id_valid("0123456789ABCDEF"));
    cr_assert_not(apikey_id_valid("0123456789abcde"));
    cr_assert_not(apikey_id_valid("0123456789abcdef0"));
    cr_assert_not(apikey_id_valid(""));
    cr_assert_not(apikey_id_valid(NULL));
    cr_assert_not(apikey_id_valid(key));
}

Test(apikey, hash_is_sha256_of_secret_text) {
    uint8_t h[APIKEY_HASH_LEN], want[32];
    apikey_hash_secret(gen.secret, h);
    crypto_sha256(gen.secret, strlen(gen.secret), want);
    cr_assert_arr_eq(h, want, 32);
    /* the SHA-256 of "abc" (FIPS 180-2 example) */
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    apikey_hash_secret("abc", h);
    cr_assert_arr_eq(h, abc, 32);
}

Test(apikey, verify_right_secret) {
    uint8_t h[APIKEY_HASH_LEN];
    struct apikey_parts p;
    apikey_hash_secret(gen.secret, h);
    cr_assert_eq(parse_str(key, &p), 0);
    cr_assert(apikey_verify(p.secret, h, sizeof(h)));
}

Test(apikey, verify_refuses_changed_secret) {
    uint8_t h[APIKEY_HASH_LEN];
    char s[APIKEY_SECRET_LEN + 1];
    apikey_hash_secret(gen.secret, h);
    for (size_t i = 0; i < APIKEY_SECRET_LEN; i++) {
        memcpy(s, gen.secret, sizeof(s));
        s[i] = s[i] == 'A' ? 'B' : 'A';
        cr_assert_not(apikey_verify(s, h, sizeof(h)), "accepted a change at %zu", i);
    }
}

Test(apikey, verify_refuses_bad_stored_hash) {
    uint8_t h[APIKEY_HASH_LEN + 1];
    apikey_hash_secret(gen.secret, h);
    h[APIKEY_HASH_LEN] = 0;
    cr_assert_not(apikey_verify(gen.secret, h, APIKEY_HASH_LEN - 1));
    cr_assert_not(apikey_verify(gen.secret, h, APIKEY_HASH_LEN + 1));
    cr_assert_not(apikey_verify(gen.secret, NULL, APIKEY_HASH_LEN));
    cr_assert_not(apikey_verify(NULL, h, APIKEY_HASH_LEN));
    h[0] ^= 1;
    cr_assert_not(apikey_verify(gen.secret, h, APIKEY_HASH_LEN));
}

Test(apikey, webhook_secret_format) {
    char *s = apikey_new_webhook_secret();
    char *t = apikey_new_webhook_secret();
    uint8_t raw[64];
    cr_assert_eq(strlen(s), APIKEY_WHSEC_LEN);
    cr_assert_eq(strlen(s), 50);
    cr_assert_eq(strncmp(s, "whsec_", 6), 0);
    cr_assert(
        all_in(s + 6, 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"));
    cr_assert_eq(s[49], '=');
    cr_assert_eq(crypto_b64_decode(s + 6, strlen(s + 6), raw, sizeof(raw)), 32);
    cr_assert_str_neq(s, t);
    mem_free(s);
    mem_free(t);
}
