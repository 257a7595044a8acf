/* fuzz_cursor: cursor_decode on untrusted query strings, and cursor_encode round trips.
 * The input is tried as a cursor under a few fixed scopes (the seed corpus holds valid
 * cursors for them), and its first 24 bytes, when there are as many, as a position (ms, id)
 * under the scope made of the rest. Checks: a cursor that decodes re-encodes to exactly the
 * same string (one position, one spelling) and yields a well-formed lowercase UUID; an
 * encoded cursor is 43 base64url characters, decodes to the same position under its scope and
 * to nothing under any other. */
#include "tests/fuzz/fuzz.h"
#include "common/cursor.h"
#include "common/util.h"

/* Scopes as api/notifications.c builds them: "tenant|status|channel|recipient". */
static const char *const fc_scopes[] = {"1|||", "1|pending|email|user@example.com", "42||sms|", ""};

static bool fc_b64url(const char *s) {
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static void fc_id_ok(const char *id) {
    FUZZ_CHECK(strlen(id) == 36 && util_uuid_valid(id));
    for (const char *p = id; *p; p++)
        FUZZ_CHECK(!(*p >= 'A' && *p <= 'F'));
}

static void fc_decode(const char *s) {
    for (size_t i = 0; i < HD_ARRAY_LEN(fc_scopes); i++) {
        int64_t ms = 0;
        char id[UTIL_UUID_LEN];
        char again[CURSOR_LEN];
        memset(id, 'x', sizeof(id));
        if (cursor_decode(s, fc_scopes[i], &ms, id) != 0)
            continue;
        fc_id_ok(id);
        cursor_encode(ms, id, fc_scopes[i], again);
        if (strcmp(again, s) != 0)
            fprintf(stderr, "cursor %s decodes (scope \"%s\") but re-encodes as %s\n", s,
                    fc_scopes[i], again);
        FUZZ_CHECK(strcmp(again, s) == 0);
    }
}

static void fc_encode(const uint8_t *data, size_t size) {
    int64_t ms = 0;
    for (int i = 0; i < 8; i++)
        ms = (int64_t)((uint64_t)ms << 8 | data[i]);
    char id[UTIL_UUID_LEN], id2[UTIL_UUID_LEN], cur[CURSOR_LEN];
    util_uuid_fmt(data + 8, id);
    char *scope = fuzz_cstr(data + 24, size - 24);
    cursor_encode(ms, id, scope, cur);
    FUZZ_CHECK(strlen(cur) == CURSOR_LEN - 1 && fc_b64url(cur));
    int64_t ms2 = 0;
    FUZZ_CHECK(cursor_decode(cur, scope, &ms2, id2) == 0);
    FUZZ_CHECK(ms2 == ms && strcmp(id2, id) == 0);
    size_t sl = strlen(scope);
    char *other = mem_alloc(sl + 2);
    memcpy(other, scope, sl);
    other[sl] = '|';
    other[sl + 1] = '\0';
    FUZZ_CHECK(cursor_decode(cur, other, &ms2, id2) != 0);
    mem_free(other);
    mem_free(scope);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    fc_decode(s);
    mem_free(s);
    if (size >= 24)
        fc_encode(data, size);
    return 0;
}
