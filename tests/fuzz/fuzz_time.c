/* fuzz_time: util_parse_time (send_at) against a reference, and util_fmt_time_ms round trips.
 * The input is parsed as a time string; its first 8 bytes, when there are as many, are also a
 * millisecond count to format. Checks: util_parse_time accepts exactly RFC 3339 date-times
 * with an offset ("T"/"t", "Z"/"z" or ±hh:mm, any number of fraction digits, second 60 read
 * as 59) of at most 64 bytes, and gives the same milliseconds as timegm(3); a parsed time in
 * years 0000..9999 formats and parses back to itself, and a string already in the API's
 * format formats back to the same text; any millisecond count formats to 24 characters, and
 * one in years 0000..9999 round trips. */
#include "tests/fuzz/fuzz.h"
#include "common/util.h"

#include <ctype.h>
#include <time.h>

#define FT_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define FT_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

static bool ft_num(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* The reference parser: true and *ms for a valid time. */
static bool ft_reference(const char *s, int64_t *ms) {
    size_t len = strlen(s);
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (len < 20 || len > 64)
        return false;
    if (!ft_num(s, 4, &y) || s[4] != '-' || !ft_num(s + 5, 2, &mo) || s[7] != '-' ||
        !ft_num(s + 8, 2, &d) || toupper((unsigned char)s[10]) != 'T' || !ft_num(s + 11, 2, &h) ||
        s[13] != ':' || !ft_num(s + 14, 2, &mi) || s[16] != ':' || !ft_num(s + 17, 2, &sec))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && !leap && d > 28))
        return false;
    if (h > 23 || mi > 59 || sec > 60)
        return false;
    size_t i = 19;
    int frac = 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
        char three[4] = "000";
        memcpy(three, s + start, i - start < 3 ? i - start : 3);
        frac = atoi(three);
    }
    int sign = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '-' ? -1 : 1;
        if (len - i < 6 || !ft_num(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !ft_num(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec == 60 ? 59 : sec};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - sign * (oh * 3600 + om * 60)) * 1000 + frac;
    return true;
}

static void ft_round_trip(int64_t ms) {
    char text[UTIL_TIME_LEN];
    int64_t back = 0;
    util_fmt_time_ms(ms, text);
    FUZZ_CHECK(strlen(text) == 24);
    if (ms < FT_MIN_MS || ms > FT_MAX_MS)
        return;
    FUZZ_CHECK(util_parse_time(text, &back) == 0);
    if (back != ms)
        fprintf(stderr, "%lld formats as %s, which parses as %lld\n", (long long)ms, text,
                (long long)back);
    FUZZ_CHECK(back == ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    int64_t ms = 0, want = 0;
    int rc = util_parse_time(s, &ms);
    bool ok = ft_reference(s, &want);
    if ((rc == 0) != ok || (ok && ms != want))
        fprintf(stderr, "\"%s\": util_parse_time %d (%lld), reference %d (%lld)\n", s, rc,
                (long long)ms, ok, (long long)want);
    FUZZ_CHECK((rc == 0) == ok);
    if (ok) {
        FUZZ_CHECK(ms == want);
        ft_round_trip(ms);
        char text[UTIL_TIME_LEN];
        util_fmt_time_ms(ms, text);
        /* already canonical: "YYYY-MM-DDTHH:MM:SS.mmmZ", not a leap second */
        if (strlen(s) == 24 && s[10] == 'T' && s[19] == '.' && s[23] == 'Z' && s[17] != '6')
            FUZZ_CHECK(strcmp(text, s) == 0);
    }
    mem_free(s);

    if (size >= 8) {
        int64_t raw = 0;
        for (int i = 0; i < 8; i++)
            raw = (int64_t)((uint64_t)raw << 8 | data[i]);
        ft_round_trip(raw); /* any value: must not crash, 24 characters */
        uint64_t span = (uint64_t)(FT_MAX_MS - FT_MIN_MS) + 1;
        ft_round_trip(FT_MIN_MS + (int64_t)((uint64_t)raw % span));
    }
    return 0;
}
