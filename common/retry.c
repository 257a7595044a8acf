/* retry: exponential backoff with jitter, Retry-After in both of its forms, and the retry decision.
 */
#include "common/retry.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

int64_t retry_backoff_ms(int n, int base_ms, int max_ms, double factor) {
    if (n < 1)
        n = 1;
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    if (!(factor >= 0.5)) /* also catches NaN */
        factor = 0.5;
    if (factor > 1.0)
        factor = 1.0;
    /* grow in integers and stop at max: 4^(n-1) overflows long before n = 1000 */
    int64_t wait = base_ms;
    for (int i = 1; i < n && wait < max_ms; i++)
        wait *= 4;
    if (wait > max_ms)
        wait = max_ms;
    int64_t out = (int64_t)((double)wait * factor);
    return out < 1 ? 1 : out;
}

static const char *const retry_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int retry_month(const char *s) {
    for (int i = 0; i < 12; i++)
        if (strncmp(s, retry_months[i], 3) == 0)
            return i;
    return -1;
}

/* retry_num: exactly `digits` decimal digits at *p (digits 0: one or more). */
static bool retry_num(const char **p, int digits, int *out) {
    int v = 0, k = 0;
    while (isdigit((unsigned char)**p) && (digits == 0 || k < digits) && k < 9) {
        v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k == 0 || (digits && k != digits))
        return false;
    *out = v;
    return true;
}

static bool retry_lit(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool retry_hms(const char **p, struct tm *tm) {
    return retry_num(p, 2, &tm->tm_hour) && retry_lit(p, ":") && retry_num(p, 2, &tm->tm_min) &&
           retry_lit(p, ":") && retry_num(p, 2, &tm->tm_sec);
}

/* retry_http_date: RFC 9110 section 5.6.7; the three forms a recipient must accept. */
static bool retry_http_date(const char *p, const char *end, int64_t *ms) {
    struct tm tm = {0};
    const char *comma = memchr(p, ',', (size_t)(end - p));
    int mon;
    if (comma && comma - p == 3) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        p = comma + 1;
        if (!retry_lit(&p, " ") || !retry_num(&p, 2, &tm.tm_mday) || !retry_lit(&p, " "))
            return false;
        if (end - p < 3 || (mon = retry_month(p)) < 0)
            return false;
        p += 3;
        if (!retry_lit(&p, " ") || !retry_num(&p, 4, &tm.tm_year) || !retry_lit(&p, " ") ||
            !retry_hms(&p, &tm) || !retry_lit(&p, " GMT"))
            return false;
        tm.tm_year -= 1900;
    } else if (comma) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        p = comma + 1;
        if (!retry_lit(&p, " ") || !retry_num(&p, 2, &tm.tm_mday) || !retry_lit(&p, "-"))
            return false;
        if (end - p < 3 || (mon = retry_month(p)) < 0)
            return false;
        p += 3;
        if (!retry_lit(&p, "-") || !retry_num(&p, 2, &tm.tm_year) || !retry_lit(&p, " ") ||
            !retry_hms(&p, &tm) || !retry_lit(&p, " GMT"))
            return false;
        /* two-digit years: RFC 9110 says a year more than 50 years ahead is in the past */
        if (tm.tm_year < 70)
            tm.tm_year += 100;
    } else {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        if (end - p < 4 || p[3] != ' ')
            return false;
        p += 4;
        if (end - p < 3 || (mon = retry_month(p)) < 0)
            return false;
        p += 3;
        if (!retry_lit(&p, " "))
            return false;
        if (*p == ' ')
            p++;
        if (!retry_num(&p, 0, &tm.tm_mday) || tm.tm_mday > 31 || !retry_lit(&p, " ") ||
            !retry_hms(&p, &tm) || !retry_lit(&p, " ") || !retry_num(&p, 4, &tm.tm_year))
            return false;
        tm.tm_year -= 1900;
    }
    if (p != end || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return false;
    tm.tm_mon = mon;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *ms = (int64_t)t * 1000;
    return true;
}

int64_t retry_after_parse(const char *value, int64_t now_ms) {
    if (!value)
        return -1;
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    if (p == end)
        return -1;
    if (isdigit((unsigned char)*p)) {
        int64_t secs = 0;
        for (const char *q = p; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return -1;
            if (secs < RETRY_AFTER_MAX_MS) /* saturate: anything this large is clamped anyway */
                secs = secs * 10 + (*q - '0');
        }
        if (secs > RETRY_AFTER_MAX_MS / 1000)
            secs = RETRY_AFTER_MAX_MS / 1000 + 1;
        return secs * 1000;
    }
    int64_t at;
    if (!retry_http_date(p, end, &at))
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

int64_t retry_delay_ms(int n, int base_ms, int max_ms, int64_t retry_after_ms, double factor) {
    if (retry_after_ms < 0)
        return retry_backoff_ms(n, base_ms, max_ms, factor);
    if (retry_after_ms < base_ms)
        return base_ms;
    if (retry_after_ms > RETRY_AFTER_MAX_MS)
        return RETRY_AFTER_MAX_MS;
    return retry_after_ms;
}

struct retry_decision retry_decide(const struct retry_policy *p, const struct retry_attempt *a) {
    struct retry_decision d = {.verdict = RETRY_AGAIN, .counted = !a->auth_error};
    if (a->sent) {
        d.verdict = RETRY_DONE;
        return d;
    }
    if (a->permanent) {
        d.verdict = RETRY_GIVE_UP;
        return d;
    }
    int used = a->attempts + (d.counted ? 1 : 0) - a->budget_base;
    if (d.counted && used >= p->max_attempts) {
        d.verdict = RETRY_GIVE_UP;
        return d;
    }
    d.delay_ms =
        retry_delay_ms(a->attempts + 1, p->base_ms, p->max_ms, a->retry_after_ms, a->factor);
    return d;
}
