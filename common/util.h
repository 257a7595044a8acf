/* util: clocks, RFC 3339 times, UUIDv7 ids and lookups in tables of names. */
#ifndef HERALD_COMMON_UTIL_H
#define HERALD_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_TIME_LEN 32 /* buffer for a formatted time, NUL included */
#define UTIL_UUID_LEN 37 /* 36 characters + NUL */

/* util_now_ms: wall clock, ms since the Unix epoch. */
int64_t util_now_ms(void);
/* util_mono_ms: monotonic clock, ms. */
int64_t util_mono_ms(void);
/* util_fmt_time_ms: "2026-11-24T10:00:00.123Z" into out[UTIL_TIME_LEN]. */
void util_fmt_time_ms(int64_t ms, char *out);
/* util_parse_time: RFC 3339 with a required offset ("Z" or +hh:mm); fractional
 * seconds truncated to ms. Returns 0 and sets *ms, or -1. */
int util_parse_time(const char *s, int64_t *ms);

/* util_uuid7: a new version 7 UUID, monotonic within this process; returns the
 * millisecond time it carries (the clock's, or a little later when many ids were made
 * in one millisecond or the clock stepped back). */
int64_t util_uuid7(uint8_t out[16]);
void util_uuid_fmt(const uint8_t id[16], char *out);
/* util_uuid_valid: 36 characters, lowercase or uppercase hex, in 8-4-4-4-12 form. */
bool util_uuid_valid(const char *s);
/* util_uuid7_ms: the millisecond timestamp in a UUIDv7 string; -1 if not valid. */
int64_t util_uuid7_ms(const char *s);

/* util_random: fills buf from the OS CSPRNG; aborts if it cannot. */
void util_random(void *buf, size_t n);
/* util_rand_range: a uniform double in [lo, hi]. */
double util_rand_range(double lo, double hi);

/* util_name_at: names[i] from a table of n names (borrowed, like the
 * result), or fallback when i is not below n. */
const char *util_name_at(const char *const *names, size_t n, int i, const char *fallback);
/* util_name_index: the index of s in a table of n names; -1 if absent. */
int util_name_index(const char *const *names, size_t n, const char *s);

struct event_base;
/* util_event_base: the process's event loop. On epoll, the changes made to a
 * descriptor's events within one loop turn are applied with one epoll_ctl
 * (evhttp enables and disables a connection's events several times per
 * request). Herald never dup()s a descriptor it watches, which that mode
 * requires. */
struct event_base *util_event_base(void);

#endif
