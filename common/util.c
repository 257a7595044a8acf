/* util: clocks, RFC 3339 times, UUIDv7 ids and lookups in tables of names. */
#include "common/util.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t util_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_fmt_time_ms(int64_t ms, char *out) {
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* every field is range-limited by gmtime_r; cast to keep the width known */
    snprintf(out, UTIL_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000u);
}

static int util_digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static bool util_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int util_parse_time(const char *s, int64_t *ms) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    size_t len = strlen(s);
    if (len < 20 || len > 64)
        return -1;
    if (util_digits(s, 4, &y) || s[4] != '-' || util_digits(s + 5, 2, &mo) || s[7] != '-' ||
        util_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || util_digits(s + 11, 2, &h) ||
        s[13] != ':' || util_digits(s + 14, 2, &mi) || s[16] != ':' || util_digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
        return -1;
    int dim = mdays[mo - 1] + (mo == 2 && util_leap(y));
    if (d > dim)
        return -1;
    if (sec == 60)
        sec = 59; /* a leap second is read as the second before it */
    const char *p = s + 19;
    int frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (int i = nd; i < 3; i++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (util_digits(p + 1, 2, &oh) || p[3] != ':' || util_digits(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    /* days from civil (Howard Hinnant's algorithm) */
    int yy = y - (mo <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = (unsigned)(yy - era * 400);
    unsigned doy = (unsigned)((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + (int64_t)doe - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
    *ms = secs * 1000 + frac;
    return 0;
}

/* util_random_fast: the same bytes from a 4 KiB buffer refilled by
 * getrandom, so an id does not cost a system call. Single-threaded. */
static void util_random_fast(void *buf, size_t n) {
    static uint8_t pool[4096];
    static size_t left;
    uint8_t *out = buf;
    while (n > 0) {
        if (left == 0) {
            util_random(pool, sizeof(pool));
            left = sizeof(pool);
        }
        size_t take = n < left ? n : left;
        memcpy(out, pool + sizeof(pool) - left, take);
        /* wipe what was handed out: no byte is given twice */
        memset(pool + sizeof(pool) - left, 0, take);
        left -= take;
        out += take;
        n -= take;
    }
}

void util_random(void *buf, size_t n) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0)
            abort();
        p += r;
        n -= (size_t)r;
    }
}

double util_rand_range(double lo, double hi) {
    uint64_t r;
    util_random(&r, sizeof(r));
    return lo + (hi - lo) * ((double)(r >> 11) / (double)(1ULL << 53));
}

/* UUIDv7 with a 12-bit counter in rand_a (RFC 9562 method 1) so ids made in
 * the same millisecond stay ordered. Single-threaded processes only. */
int64_t util_uuid7(uint8_t out[16]) {
    static int64_t last_ms;
    static uint16_t counter;
    int64_t ms = util_now_ms();
    if (ms <= last_ms) {
        if (++counter > 0xfff) {
            last_ms++;
            counter = 0;
        }
        ms = last_ms;
    } else {
        last_ms = ms;
        uint16_t r;
        util_random_fast(&r, sizeof(r));
        counter = r & 0x1ff; /* leave room to count up within the ms */
    }
    util_random_fast(out, 16);
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | ((counter >> 8) & 0x0f));
    out[7] = (uint8_t)(counter & 0xff);
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
    return ms;
}

void util_uuid_fmt(const uint8_t id[16], char *out) {
    snprintf(out, UTIL_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1],
             id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13],
             id[14], id[15]);
}

bool util_uuid_valid(const char *s) {
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return s[36] == '\0';
}

int64_t util_uuid7_ms(const char *s) {
    if (!util_uuid_valid(s))
        return -1;
    char hex[13];
    memcpy(hex, s, 8);
    memcpy(hex + 8, s + 9, 4);
    hex[12] = '\0';
    return (int64_t)strtoll(hex, NULL, 16);
}

struct event_base *util_event_base(void) {
    struct event_config *cfg = event_config_new();
    struct event_base *b = NULL;
    if (cfg) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        b = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    return b ? b : event_base_new();
}

const char *util_name_at(const char *const *names, size_t n, int i, const char *fallback) {
    return i >= 0 && (size_t)i < n ? names[i] : fallback;
}

int util_name_index(const char *const *names, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}
