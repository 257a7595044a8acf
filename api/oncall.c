/* oncall: the on-call page's figures: the hour's series from Redis and failure reasons from SQL. */
#include "api/oncall.h"
#include "api/app.h"
#include "common/buf.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/stats.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONCALL_REASONS 5         /* per channel */
#define ONCALL_REASON_SCAN 10000 /* newest dead letters looked at per channel */
#define ONCALL_ERROR_CHARS 300   /* a reason is cut to this many characters */

/* The dead letters of the last hour per channel, grouped by their last
 * error. It walks notifications_dlq (channel, failed_at DESC) WHERE status =
 * 'failed' for each channel, at most $3 rows, so a flood of failures costs a
 * bounded read. $1: characters kept of an error; $2: the window in seconds;
 * $3: rows looked at per channel; $4: reasons per channel. */
static const char oncall_reasons_sql[] =
    "SELECT c.ch, r.error, r.n, floor(extract(epoch FROM r.last) * 1000)::bigint"
    " FROM unnest(ARRAY['email', 'sms', 'push', 'webhook']) WITH ORDINALITY AS c(ch, ord)"
    " CROSS JOIN LATERAL ("
    "  SELECT left(coalesce(d.last_error, '(no error recorded)'), $1::int) AS error,"
    "         count(*) AS n, max(d.failed_at) AS last"
    "  FROM (SELECT last_error, failed_at FROM notifications"
    "        WHERE status = 'failed' AND channel = c.ch"
    "          AND failed_at > now() - $2::int * interval '1 second'"
    "        ORDER BY failed_at DESC LIMIT $3::int) d"
    "  GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $4::int) r"
    " ORDER BY c.ord, r.n DESC, r.error";
enum { OR_CHANNEL, OR_ERROR, OR_COUNT, OR_LAST_MS };

struct oncall_run {
    struct api_req *r;
    struct buf body; /* the answer so far: an open object */
};

static void oncall_reasons_done(void *arg, const struct db_result *res) {
    struct oncall_run *run = arg;
    struct buf *b = &run->body;
    buf_puts(b, ",\"failure_reasons\":");
    if (res->status != DB_OK) {
        HLOG(HLOG_WARN, "admin.stats_no_db",
             &(struct hlog_ctx){.req_id = run->r->req_id, .err = res->message},
             "failure reasons unavailable");
        buf_puts(b, "null");
    } else {
        int rows = PQntuples(res->res), k = 0;
        buf_putc(b, '[');
        for (int ch = 0; ch < CH_COUNT; ch++) {
            const char *name = notif_channel_name((enum notif_channel)ch);
            buf_printf(b, "%s{\"channel\":\"%s\",\"reasons\":[", ch ? "," : "", name);
            for (int first = 1; k < rows && !strcmp(db_get(res->res, k, OR_CHANNEL), name);
                 k++, first = 0) {
                const char *err = db_get(res->res, k, OR_ERROR);
                char last[UTIL_TIME_LEN];
                util_fmt_time_ms(strtoll(db_get(res->res, k, OR_LAST_MS), NULL, 10), last);
                buf_puts(b, first ? "{\"error\":" : ",{\"error\":");
                buf_json_str(b, err, strlen(err));
                buf_printf(b, ",\"count\":%s,\"last_failed_at\":\"%s\"}",
                           db_get(res->res, k, OR_COUNT), last);
            }
            buf_puts(b, "]}");
        }
        buf_putc(b, ']');
    }
    buf_putc(b, '}');
    api_reply(run->r, 200, b->data, b->len);
    buf_free(b);
    mem_free(run);
}

static void oncall_series_done(void *arg, const struct stats_series *s) {
    struct oncall_run *run = arg;
    if (!s->redis_ok)
        HLOG(HLOG_WARN, "admin.stats_no_redis", &(struct hlog_ctx){.req_id = run->r->req_id},
             "Redis did not answer: the series are null");
    buf_putc(&run->body, '{');
    stats_series_json(&run->body, s);
    char chars[16], window[16], scan[16], reasons[16];
    snprintf(chars, sizeof(chars), "%d", ONCALL_ERROR_CHARS);
    snprintf(window, sizeof(window), "%d", STATS_WINDOW_S);
    snprintf(scan, sizeof(scan), "%d", ONCALL_REASON_SCAN);
    snprintf(reasons, sizeof(reasons), "%d", ONCALL_REASONS);
    const char *params[] = {chars, window, scan, reasons};
    db_query(run->r->app->db, oncall_reasons_sql, 4, params, oncall_reasons_done, run);
}

void oncall_h_stats(struct api_req *r) {
    struct oncall_run *run = mem_calloc(1, sizeof(*run));
    run->r = r;
    stats_read(r->app->rds, util_now_ms(), oncall_series_done, run);
}
