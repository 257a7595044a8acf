/* herald-api: loads configuration, starts the subsystems in order, runs the
 * event loop, and on SIGTERM stops accepting, drains and exits. */
#include "api/events_h.h"
#include "api/app.h"
#include "api/auth.h"
#include "api/metrics_h.h"
#include "api/ratelimit.h"
#include "api/http_server.h"
#include "api/routes.h"
#include "api/writer.h"
#include "common/config.h"
#include "common/db.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"
#include "common/partman.h"
#include "common/rds.h"
#include "api/retention.h"
#include "common/stats.h"
#include "common/sweep.h"
#include "common/util.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>

struct api_main {
    struct api_app app;
    struct http_srv *http;
    struct metrics_srv *metrics_srv;
    retention *retention;
    partman *partman;
    struct event *drain;
    int64_t drain_deadline;
};

static void api_usage(FILE *out) {
    fprintf(out, "Usage: herald-api [--help]\n\n"
                 "Serves Herald's HTTP API on HERALD_LISTEN. Every setting comes from the\n"
                 "environment. Exit codes: 0 after a clean shutdown, 2 bad usage, 3 bad\n"
                 "configuration, 1 the listener could not be opened.\n\n");
    cfg_print_env_help(out);
}

static void api_drain_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct api_main *m = arg;
    /* wait until every request read has been answered (and so every
     * accepted notification got its commit) */
    if ((http_srv_inflight(m->http) == 0 && writer_pending(m->app.writer) == 0) ||
        util_mono_ms() >= m->drain_deadline)
        event_base_loopexit(m->app.base, NULL);
}

static void api_signal_cb(evutil_socket_t sig, short what, void *arg) {
    (void)what;
    struct api_main *m = arg;
    if (m->app.shutting_down) {
        event_base_loopexit(m->app.base, NULL);
        return;
    }
    m->app.shutting_down = true;
    events_feed_drain(m->app.events); /* long polls answer now */
    HLOG(HLOG_INFO, "api.shutdown", NULL, "signal %d: no new connections; draining", (int)sig);
    http_srv_stop_accepting(m->http);
    m->drain_deadline = util_mono_ms() + m->app.cfg->shutdown_grace_ms;
    m->drain = event_new(m->app.base, -1, EV_PERSIST, api_drain_cb, m);
    struct timeval tv = {0, 50000};
    event_add(m->drain, &tv);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            api_usage(stdout);
            return 0;
        }
        fprintf(stderr, "herald-api: unknown argument '%s' (see --help)\n", argv[i]);
        return HD_EXIT_USAGE;
    }
    struct cfg cfg;
    char err[HD_ERR_LEN];
    if (cfg_load(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "herald-api: %s\n", err);
        return HD_EXIT_CONFIG;
    }
    hlog_init("api", (enum hlog_level)cfg.log_level);
    cfg_log_startup(&cfg, "api.config");
    signal(SIGPIPE, SIG_IGN);
    /* room for HERALD_HTTP_MAX_CONNECTIONS and the database and Redis sockets */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct api_main m = {0};
    m.app.cfg = &cfg;
    /* order matters: the loop, then PostgreSQL and Redis (both connect in the
     * background and never stop start-up), then the subsystems that use
     * them, and the listener last so no request arrives before they exist */
    m.app.base = util_event_base();
    m.app.metrics = metrics_new();
    m.app.db = db_open(m.app.base, cfg.database_url, cfg.db_connections, cfg.db_timeout_ms, 0);
    m.app.rds = rds_open(m.app.base, &cfg);
    m.app.auth = auth_new(&m.app);
    m.app.rl = ratelimit_new(&m.app);
    m.app.writer = writer_new(&m.app);
    /* committed rows that no stream holds (Redis was down, or lost them) */
    int rc = 0;
    m.app.sweep = sweep_start(m.app.base, m.app.db, m.app.rds, &cfg, "api");
    m.app.events = events_feed_start(&m.app);
    m.retention = retention_start(m.app.base, m.app.db, &cfg);
    /* the on-call page's series; the API samples every stream's lag */
    m.app.stats = stats_start(m.app.base, m.app.rds, (1u << CH_COUNT) - 1, cfg.stats_interval_ms);
    /* the partitions new notifications go to, made before the listener opens: the loop
     * runs until the first attempt ends (within HERALD_DB_TIMEOUT_MS; an unreachable
     * PostgreSQL does not hold start-up longer, and the timer tries again every second) */
    m.partman = partman_start(m.app.base, m.app.db, &cfg, "api");
    while (!partman_settled(m.partman) && event_base_loop(m.app.base, EVLOOP_ONCE) == 0) {
    }
    metrics_h_setup(&m.app);
    if (cfg.metrics_listen) {
        m.metrics_srv =
            metrics_srv_start(m.app.base, cfg.metrics_listen, m.app.metrics, err, sizeof(err));
        if (!m.metrics_srv) {
            HLOG(HLOG_ERROR, "api.listen_failed", NULL, "%s", err);
            rc = 1;
            goto out;
        }
    }
    m.http = http_srv_start(&m.app, cfg.listen, routes_table(), err, sizeof(err));
    if (!m.http) {
        HLOG(HLOG_ERROR, "api.listen_failed", NULL, "%s", err);
        rc = 1;
        goto out;
    }
    struct event *sigterm = evsignal_new(m.app.base, SIGTERM, api_signal_cb, &m);
    struct event *sigint = evsignal_new(m.app.base, SIGINT, api_signal_cb, &m);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    HLOG(HLOG_INFO, "api.started", NULL, "listening on %s", cfg.listen);

    event_base_dispatch(m.app.base);

    HLOG(HLOG_INFO, "api.stopped", NULL, "bye");
    event_free(sigterm);
    event_free(sigint);
    if (m.drain)
        event_free(m.drain);
out:
    /* Each module frees itself and cancels what it sent (common/req.h): no
     * callback of a freed module runs. The key cache, rate limiter and
     * writer answer the requests that waited for them (in the order a
     * request meets them: one let through goes on to the next). Shutting
     * the connections answers what handlers sent themselves (and anything
     * they send then fails at once, on handles that still exist); then the
     * server goes, with no request left, and last the handles. */
    metrics_srv_stop(m.metrics_srv);
    retention_stop(m.retention);
    partman_stop(m.partman);
    sweep_stop(m.app.sweep);
    stats_stop(m.app.stats);
    auth_free(m.app.auth);
    ratelimit_free(m.app.rl);
    writer_free(m.app.writer);
    events_feed_stop(m.app.events);
    rds_shutdown(m.app.rds);
    db_shutdown(m.app.db);
    http_srv_stop(m.http);
    rds_close(m.app.rds);
    db_close(m.app.db);
    event_base_free(m.app.base);
    metrics_free(m.app.metrics);
    cfg_free(&cfg);
    return rc;
}
