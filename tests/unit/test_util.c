/* test_util: UUIDv7 ids and RFC 3339 times. */
#include "common/util.h"

#include <criterion/criterion.h>
#include <string.h>

Test(util, uuid7_format_and_order) {
    char prev[UTIL_UUID_LEN] = "";
    for (int i = 0; i < 5000; i++) {
        uint8_t id[16];
        char s[UTIL_UUID_LEN];
        util_uuid7(id);
        util_uuid_fmt(id, s);
        cr_assert(util_uuid_valid(s), "%s", s);
        cr_assert_eq(s[14], '7', "version 7: %s", s);
        cr_assert(strchr("89ab", s[19]), "variant: %s", s);
        cr_assert_gt(strcmp(s, prev), 0, "monotonic: %s after %s", s, prev);
        memcpy(prev, s, sizeof(prev));
    }
}

Test(util, uuid7_timestamp) {
    uint8_t id[16];
    char s[UTIL_UUID_LEN];
    int64_t before = util_now_ms();
    util_uuid7(id);
    util_uuid_fmt(id, s);
    int64_t ms = util_uuid7_ms(s);
    cr_expect_geq(ms, before);
    cr_expect_leq(ms, util_now_ms() + 1000);
}

Test(util, uuid_valid) {
    cr_expect(util_uuid_valid("01a20c5d-972a-71d1-86a8-d1c113cef847"));
    cr_expect(!util_uuid_valid("01a20c5d-972a-71d1-86a8-d1c113cef84"));
    cr_expect(!util_uuid_valid("01a20c5d-972a-71d1-86a8-d1c113cef8477"));
    cr_expect(!util_uuid_valid("01a20c5d_972a-71d1-86a8-d1c113cef847"));
    cr_expect(!util_uuid_valid("01a20c5d-972a-71d1-86a8-d1c113cef84g"));
}

Test(util, time_format_and_parse) {
    char t[UTIL_TIME_LEN];
    util_fmt_time_ms(1795000000123, t);
    cr_expect_str_eq(t, "2026-11-18T11:06:40.123Z");
    int64_t ms;
    cr_assert_eq(util_parse_time(t, &ms), 0);
    cr_expect_eq(ms, 1795000000123);
    cr_assert_eq(util_parse_time("2026-11-18T13:06:40.123456+02:00", &ms), 0);
    cr_expect_eq(ms, 1795000000123);
    cr_assert_eq(util_parse_time("2024-02-29T00:00:00Z", &ms), 0);
    const char *bad[] = {
        "2026-11-18T08:26:40",      "2026-11-18 08:26:40Z",     "2026-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",     "2026-11-18T24:00:00Z",     "2026-11-18T08:26:40.Z",
        "2026-11-18T08:26:40+2:00", "2026-11-18T08:26:40Zjunk", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(util_parse_time(bad[i], &ms), -1, "%s", bad[i]);
}
