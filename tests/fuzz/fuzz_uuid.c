/* fuzz_uuid: util_uuid_valid (ids in paths and cursors) and util_uuid7_ms.
 * The input is tried as a UUID string; its first 16 bytes, when there are as many, are also
 * formatted as one. Checks: util_uuid_valid accepts exactly 8-4-4-4-12 hex digits of either
 * case and nothing longer or shorter; a valid id formats back, lowercased, from its bytes,
 * and util_uuid7_ms returns its first 48 bits (-1 for an invalid id); util_uuid_fmt output is
 * valid, lowercase and parses back to the same bytes. */
#include "tests/fuzz/fuzz.h"
#include "common/util.h"

#include <ctype.h>

static bool fu_reference(const char *s) {
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]) || s[i] == '\0')
            return false;
    }
    return true;
}

static void fu_bytes(const char *s, uint8_t out[16]) {
    for (int i = 0, j = 0; i < 16; j++) {
        if (s[j] == '-')
            continue;
        char pair[3] = {s[j], s[j + 1], '\0'};
        out[i++] = (uint8_t)strtoul(pair, NULL, 16);
        j++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    bool valid = util_uuid_valid(s);
    FUZZ_CHECK(valid == fu_reference(s));
    if (valid) {
        uint8_t b[16];
        char text[UTIL_UUID_LEN], lower[UTIL_UUID_LEN];
        fu_bytes(s, b);
        util_uuid_fmt(b, text);
        for (int i = 0; i < UTIL_UUID_LEN; i++)
            lower[i] = (char)tolower((unsigned char)s[i]);
        FUZZ_CHECK(strcmp(text, lower) == 0);
        int64_t ms = 0;
        for (int i = 0; i < 6; i++)
            ms = ms << 8 | b[i];
        FUZZ_CHECK(util_uuid7_ms(s) == ms);
    } else {
        FUZZ_CHECK(util_uuid7_ms(s) == -1);
    }
    mem_free(s);

    if (size >= 16) {
        char text[UTIL_UUID_LEN];
        uint8_t back[16];
        util_uuid_fmt(data, text);
        FUZZ_CHECK(util_uuid_valid(text) && fu_reference(text));
        for (const char *p = text; *p; p++)
            FUZZ_CHECK(!isupper((unsigned char)*p));
        fu_bytes(text, back);
        FUZZ_CHECK(memcmp(back, data, 16) == 0);
    }
    return 0;
}
