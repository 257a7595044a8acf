/* stats: the on-call page's per-channel series. Every process adds what it counted (accepted;
 * sent, failed, retried; a dwell histogram) into one small Redis hash per ten-second bucket,
 * once a second, pipelined, with a TTL just over the hour kept; the API also samples each
 * stream's consumer-group lag there. stats_read() returns the last hour of buckets.
 *
 * Redis layout (how to change it: add fields freely, readers ignore unknown ones; renaming or
 * re-meaning a field needs a new key prefix, since old buckets live for an hour):
 *   herald:stats:<bucket start, Unix seconds>   hash, TTL STATS_WINDOW_S + 2 buckets
 *     <channel>:accepted|sent|failed|retried     HINCRBY counts in the bucket
 *     <channel>:d<i>                             dwell observations in histogram bucket i
 *     <channel>:lag                              the last lag sampled in the bucket (HSET)
 * The figures are best effort: counts made while Redis is down are dropped, never retried. */
#ifndef HERALD_COMMON_STATS_H
#define HERALD_COMMON_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/notif.h"
#include "common/rds.h"

struct event_base;
struct buf;
typedef struct stats stats;

#define STATS_BUCKET_S 10   /* seconds per bucket */
#define STATS_WINDOW_S 3600 /* what stats_read returns: the last hour */
#define STATS_NBUCKETS (STATS_WINDOW_S / STATS_BUCKET_S)
#define STATS_KEY_PREFIX "herald:stats:"

enum stats_kind { STATS_ACCEPTED = 0, STATS_SENT, STATS_FAILED, STATS_RETRIED, STATS_KINDS };

/* Upper bounds (ms) of the dwell histogram's buckets; the last one is open. */
#define STATS_DWELL_BUCKETS 16

/* stats_start: counts go to Redis through r (borrowed; must outlive s) every
 * interval_ms; lag_mask (1 << channel bits) names the streams whose lag this
 * process samples at each flush (the API: all of them). Never blocks. Caller
 * stops it with stats_stop(). */
stats *stats_start(struct event_base *base, rds *r, unsigned lag_mask, int interval_ms);

/* stats_stop: frees s (NULL is fine), cancelling the lag samples in flight;
 * what was counted since the last flush (at most one interval) is dropped. */
void stats_stop(stats *s);

/* stats_count: n more of kind on channel ch, in memory until the next
 * flush. s may be NULL (nothing counted). */
void stats_count(stats *s, enum notif_channel ch, enum stats_kind kind, int64_t n);

/* stats_dwell: one dwell observation of ms on ch (see API.md, Isolation:
 * from when the attempt became due to sent). s may be NULL. */
void stats_dwell(stats *s, enum notif_channel ch, int64_t ms);

/* The last hour, bucket by bucket, oldest first; the last bucket is the
 * current one, still filling. */
struct stats_series {
    int64_t from_ms; /* start of the first bucket */
    bool redis_ok;   /* false: Redis did not answer; the arrays are all zero / unknown */
    struct {
        int64_t count[STATS_KINDS][STATS_NBUCKETS];
        int64_t lag[STATS_NBUCKETS];       /* -1: not sampled */
        int64_t dwell_p99[STATS_NBUCKETS]; /* ms, estimated; -1: no observation */
    } ch[CH_COUNT];
};

/* stats_read_cb: runs exactly once, on the loop, never inside stats_read;
 * series is borrowed for the call. */
typedef void (*stats_read_cb)(void *arg, const struct stats_series *series);

/* stats_read: reads the buckets of the hour before now_ms with one pipelined
 * HGETALL each on r. Never blocks. */
void stats_read(rds *r, int64_t now_ms, stats_read_cb cb, void *arg);

/* stats_series_json: appends "bucket_seconds", "from" and "channels" (each
 * with its accepted, sent, failed, retried, lag and dwell_p99_ms arrays; the
 * arrays are null when Redis did not answer) as members of an open object. */
void stats_series_json(struct buf *b, const struct stats_series *s);

/* stats_dwell_p99: the 99th percentile (ms) of a dwell histogram with
 * counts[STATS_DWELL_BUCKETS], interpolated inside its bucket; -1 when empty. */
int64_t stats_dwell_p99(const int64_t *counts);

#endif
