/* metrics_h: API metrics: requests, latency, accepted notifications, rate
 * limiting, commit groups, dependency state. */
#include "api/metrics_h.h"
#include "api/auth.h"
#include "api/conn_guard.h"
#include "api/ratelimit.h"
#include "api/writer.h"
#include "common/buf.h"
#include "common/db.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/rds.h"

static const double metrics_h_latency[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,   0.25,   0.5,   1,    2.5,   5};
static const double metrics_h_groups[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000};

static const struct metrics_def metrics_h_defs[] = {
    {"herald_http_requests_total", METRICS_COUNTER, "HTTP requests answered, by route and status.",
     NULL, 0},
    {"herald_http_request_duration_seconds", METRICS_HISTOGRAM,
     "Time from reading a request to answering it, by route.", metrics_h_latency,
     HD_ARRAY_LEN(metrics_h_latency)},
    {"herald_notifications_accepted_total", METRICS_COUNTER,
     "Notifications committed (201), by channel.", NULL, 0},
    {"herald_rate_limited_total", METRICS_COUNTER, "Requests refused with 429.", NULL, 0},
    {"herald_ratelimit_fail_open_total", METRICS_COUNTER,
     "Requests let through uncounted because Redis did not answer in time.", NULL, 0},
    {"herald_commit_group_size", METRICS_HISTOGRAM, "Requests written together in one commit.",
     metrics_h_groups, HD_ARRAY_LEN(metrics_h_groups)},
    {"herald_commit_queue_notifications", METRICS_GAUGE,
     "Notifications waiting for or inside a commit.", NULL, 0},
    {"herald_http_connections", METRICS_GAUGE, "Open API connections.", NULL, 0},
    {"herald_http_body_buffer_bytes", METRICS_GAUGE,
     "Bytes of request bodies reserved now (HERALD_HTTP_BODY_BUFFER_MAX bounds it).", NULL, 0},
    {"herald_http_malformed_total", METRICS_COUNTER,
     "Requests refused before routing for breaking HTTP's framing or syntax (400, "
     "414, 417, 431, 501, 505).",
     NULL, 0},
    {"herald_auth_lookups_total", METRICS_COUNTER,
     "API key lookups that reached PostgreSQL (the rest were cached or refused).", NULL, 0},
    {"herald_dependency_up", METRICS_GAUGE, "1 while the dependency is connected, by dep.", NULL,
     0},
};

static void metrics_h_refresh(void *arg, metrics *m) {
    struct api_app *app = arg;
    metrics_set(m, "herald_dependency_up", "dep=\"postgres\"", db_up(app->db) ? 1 : 0);
    metrics_set(m, "herald_dependency_up", "dep=\"redis\"", rds_up(app->rds) ? 1 : 0);
    metrics_set(m, "herald_commit_queue_notifications", "", (double)writer_pending(app->writer));
    metrics_set(m, "herald_ratelimit_fail_open_total", "",
                (double)ratelimit_fail_open_total(app->rl));
    metrics_set(m, "herald_auth_lookups_total", "", (double)auth_lookups_total(app->auth));
    if (app->guard) {
        metrics_set(m, "herald_http_connections", "", (double)guard_connections(app->guard));
        metrics_set(m, "herald_http_body_buffer_bytes", "", (double)guard_body_bytes(app->guard));
        metrics_set(m, "herald_http_malformed_total", "", (double)guard_refused_total(app->guard));
    }
}

void metrics_h_setup(struct api_app *app) {
    metrics *m = app->metrics;
    metrics_define_all(m, metrics_h_defs, HD_ARRAY_LEN(metrics_h_defs));
    metrics_on_render(m, metrics_h_refresh, app);
}

void metrics_h_serve(struct api_req *r) {
    struct buf b = {0};
    metrics_render(r->app->metrics, &b);
    api_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    api_reply(r, 200, b.data, b.len);
    buf_free(&b);
}
