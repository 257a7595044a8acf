/* test_cursor: keyset cursors round-trip and are bound to their scope. */
#include "common/cursor.h"
#include "common/util.h"

#include <criterion/criterion.h>
#include <string.h>

Test(cursor, round_trip) {
    char cur[CURSOR_LEN], id[UTIL_UUID_LEN];
    int64_t ms;
    cursor_encode(1795000000123, "01a20c5d-972a-71d1-86a8-d1c113cef847", "1|||", cur);
    cr_assert_eq(strlen(cur), CURSOR_LEN - 1);
    cr_assert_eq(cursor_decode(cur, "1|||", &ms, id), 0);
    cr_expect_eq(ms, 1795000000123);
    cr_expect_str_eq(id, "01a20c5d-972a-71d1-86a8-d1c113cef847");
}

Test(cursor, bound_to_scope) {
    char cur[CURSOR_LEN], id[UTIL_UUID_LEN];
    int64_t ms;
    cursor_encode(5, "01a20c5d-972a-71d1-86a8-d1c113cef847", "1|sent||", cur);
    cr_expect_eq(cursor_decode(cur, "2|sent||", &ms, id), -1, "another tenant");
    cr_expect_eq(cursor_decode(cur, "1|failed||", &ms, id), -1, "other filters");
}

Test(cursor, malformed) {
    char id[UTIL_UUID_LEN];
    int64_t ms;
    const char *bad[] = {"", "abc", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "AAAA AAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(cursor_decode(bad[i], "1|||", &ms, id), -1, "%s", bad[i]);
    char cur[CURSOR_LEN];
    cursor_encode(5, "01a20c5d-972a-71d1-86a8-d1c113cef847", "s", cur);
    cur[3] = cur[3] == 'A' ? 'B' : 'A';
    cr_expect_eq(cursor_decode(cur, "s", &ms, id) == 0 && ms == 5 &&
                     strcmp(id, "01a20c5d-972a-71d1-86a8-d1c113cef847") == 0,
                 0, "a changed cursor does not decode to the same position");
}

/* Found by fuzz_cursor: other spellings of one cursor decoded too. */
Test(cursor, test_issue_6_only_the_canonical_spelling) {
    char cur[CURSOR_LEN], id[UTIL_UUID_LEN];
    int64_t ms;
    cursor_encode(1795000000123, "01a20c5d-972a-71d1-86a8-d1c113cef847", "1|||", cur);
    char alt[CURSOR_LEN];
    memcpy(alt, cur, sizeof(alt));
    /* the last character carries 2 unused bits */
    char *last = &alt[CURSOR_LEN - 2];
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(abc, *last) - abc);
    *last = abc[v ^ 1];
    cr_expect_eq(cursor_decode(alt, "1|||", &ms, id), -1, "%s vs %s", alt, cur);
    /* the standard alphabet's '+' and '/' for '-' and '_' */
    cursor_encode(0x1fe5a5e7b, "01a20c5d-972a-71d1-86a8-d1c113cef847", "1|||", cur);
    for (char *p = cur; *p; p++) {
        if (*p == '-' || *p == '_') {
            memcpy(alt, cur, sizeof(alt));
            alt[p - cur] = *p == '-' ? '+' : '/';
            cr_expect_eq(cursor_decode(alt, "1|||", &ms, id), -1, "%s", alt);
        }
    }
    cr_expect_eq(cursor_decode(cur, "1|||", &ms, id), 0);
}
