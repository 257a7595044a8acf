/* oncall: GET /v1/admin/stats, the figures behind the on-call page's graphs. */
#ifndef HERALD_API_ONCALL_H
#define HERALD_API_ONCALL_H

#include "api/http_server.h"

/* oncall_h_stats: 200 {"bucket_seconds", "from", "channels": [{"channel", "accepted", "sent",
 * "failed", "retried", "lag", "dwell_p99_ms"}], "failure_reasons": [{"channel", "reasons":
 * [{"error", "count", "last_failed_at"}]}]}: the last hour in ten-second buckets (common/stats)
 * and each channel's most frequent last errors of the dead letters of the last hour
 * (PostgreSQL). Redis down: the series are null; PostgreSQL down: failure_reasons is null. It
 * never answers 503: the page matters most during an outage. */
void oncall_h_stats(struct api_req *r);

#endif
