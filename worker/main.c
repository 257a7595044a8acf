/* herald-worker: consumes one channel's stream and delivers its notifications. */
#include "common/config.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/notif.h"
#include "common/rds.h"
#include "common/stats.h"
#include "common/sweep.h"
#include "common/util.h"
#include "worker/dlv.h"
#include "worker/engine.h"
#include "worker/wmetrics.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WK_DEFAULT_CONCURRENCY 64
#define WK_MAX_CONCURRENCY 10000

/* Everything main starts, so callbacks can reach it without globals. */
struct wk {
    struct event_base *base;
    struct cfg cfg;
    db *d;
    rds *rd, *wr;
    sweep *sw;
    eng *e;
    wmetrics *wm;
    stats *st;
    struct event *sigterm, *sigint, *grace;
    bool stopping;
};

static void wk_usage(FILE *out) {
    fprintf(out, "Usage: herald-worker --channel email|sms|push|webhook [--concurrency N]\n"
                 "\n"
                 "Consumes one channel's Redis Stream through the consumer group \"herald\"\n"
                 "and delivers its notifications. Run any number of replicas per channel.\n"
                 "\n"
                 "  --channel C       the channel to deliver (required)\n"
                 "  --concurrency N   deliveries in flight at most (default 64, 1..10000)\n"
                 "  --help            this text\n"
                 "\n");
    cfg_print_env_help(out);
}

static void wk_drained(void *arg) {
    struct wk *w = arg;
    event_base_loopbreak(w->base);
}

static void wk_grace_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct wk *w = arg;
    HLOG(HLOG_WARN, "worker.grace_expired", NULL,
         "shutdown grace over; leaving unfinished work to other workers");
    eng_abandon(w->e);
    event_base_loopbreak(w->base);
}

static void wk_signal_cb(evutil_socket_t sig, short what, void *arg) {
    (void)what;
    struct wk *w = arg;
    if (w->stopping) {
        /* a second signal: stop now */
        wk_grace_cb(-1, 0, w);
        return;
    }
    w->stopping = true;
    HLOG(HLOG_INFO, "worker.stopping", NULL, "signal %d: draining for up to %d ms", (int)sig,
         w->cfg.shutdown_grace_ms);
    sweep_stop(w->sw);
    w->sw = NULL;
    int g = w->cfg.shutdown_grace_ms;
    struct timeval tv = {g / 1000, (g % 1000) * 1000};
    evtimer_add(w->grace, &tv);
    eng_drain(w->e, wk_drained, w);
}

/* wk_consumer_name: hostname-pid-random, unique among every replica. */
static void wk_consumer_name(char *out, size_t n) {
    char host[64] = "worker";
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "worker");
    host[sizeof(host) - 1] = '\0';
    uint32_t r;
    util_random(&r, sizeof(r));
    snprintf(out, n, "%s-%ld-%08x", host, (long)getpid(), (unsigned)r);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"channel", required_argument, NULL, 'c'},
                                         {"concurrency", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *channel = NULL;
    long concurrency = WK_DEFAULT_CONCURRENCY;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            channel = optarg;
            break;
        case 'n': {
            char *end;
            concurrency = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || concurrency < 1 || concurrency > WK_MAX_CONCURRENCY) {
                fprintf(stderr, "herald-worker: --concurrency: expected 1..%d\n",
                        WK_MAX_CONCURRENCY);
                return HD_EXIT_USAGE;
            }
            break;
        }
        case 'h':
            wk_usage(stdout);
            return 0;
        default:
            wk_usage(stderr);
            return HD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herald-worker: unexpected argument \"%s\"\n", argv[optind]);
        return HD_EXIT_USAGE;
    }
    int ch = channel ? notif_channel_parse(channel) : -1;
    if (ch < 0) {
        fprintf(stderr, "herald-worker: --channel: expected email, sms, push or webhook\n");
        return HD_EXIT_USAGE;
    }
    const struct dlv_ops *ops = dlv_find(channel);
    if (!ops) {
        fprintf(stderr, "herald-worker: --channel %s: this channel is not available yet\n",
                channel);
        return HD_EXIT_USAGE;
    }

    struct wk w = {0};
    char err[HD_ERR_LEN];
    if (cfg_load(&w.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "herald-worker: %s\n", err);
        cfg_free(&w.cfg);
        return HD_EXIT_CONFIG;
    }
    hlog_init("worker", (enum hlog_level)w.cfg.log_level);
    void *ops_state = NULL;
    if (ops->init(&w.cfg, &ops_state, err, sizeof(err)) < 0) {
        fprintf(stderr, "herald-worker: %s\n", err);
        cfg_free(&w.cfg);
        return HD_EXIT_CONFIG;
    }
    cfg_log_startup(&w.cfg, "worker.config");
    if (w.cfg.visibility_timeout_ms <= w.cfg.delivery_timeout_ms)
        HLOG(HLOG_WARN, "worker.config_warning", NULL,
             "HERALD_VISIBILITY_TIMEOUT_MS (%d) is not above HERALD_DELIVERY_TIMEOUT_MS (%d): "
             "entries still being delivered can be reclaimed and delivered twice",
             w.cfg.visibility_timeout_ms, w.cfg.delivery_timeout_ms);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "herald-worker: libcurl failed to initialise\n");
        ops->fini(ops_state);
        cfg_free(&w.cfg);
        return 1;
    }
    char consumer[128];
    wk_consumer_name(consumer, sizeof(consumer));

    /* Start-up order: loop, storage connections (they retry in the
     * background, so an unreachable PostgreSQL or Redis never stops us), the
     * sweeper, then the engine, which starts reading. */
    w.base = util_event_base();
    w.d = db_open(w.base, w.cfg.database_url, w.cfg.db_connections, w.cfg.db_timeout_ms,
                  DB_KEYED_PLANS);
    w.rd = rds_open(w.base, &w.cfg); /* blocking reads only */
    w.wr = rds_open(w.base, &w.cfg); /* everything else */
    w.sw = sweep_start(w.base, w.d, w.wr, &w.cfg, "worker");
    sweep_channels_mask(w.sw, 1u << ch);
    w.e = eng_new(w.base, &w.cfg, w.d, w.rd, w.wr, (enum notif_channel)ch, ops, ops_state, consumer,
                  (int)concurrency);
    /* the on-call page's series, and this channel's lag in them */
    w.st = stats_start(w.base, w.wr, 1u << ch, w.cfg.stats_interval_ms);
    eng_set_stats(w.e, w.st);
    w.wm = wmetrics_start(w.base, w.e, w.d, w.wr, (enum notif_channel)ch, w.cfg.metrics_listen, err,
                          sizeof(err));
    if (!w.wm) {
        /* a worker without its metrics listener would be invisible: stop */
        HLOG(HLOG_ERROR, "worker.listen_failed", NULL, "%s", err);
        fprintf(stderr, "herald-worker: %s\n", err);
        return 1;
    }
    w.sigterm = evsignal_new(w.base, SIGTERM, wk_signal_cb, &w);
    w.sigint = evsignal_new(w.base, SIGINT, wk_signal_cb, &w);
    w.grace = evtimer_new(w.base, wk_grace_cb, &w);
    event_add(w.sigterm, NULL);
    event_add(w.sigint, NULL);
    HLOG(HLOG_INFO, "worker.started", &(struct hlog_ctx){.channel = channel},
         "consumer %s, concurrency %ld", consumer, concurrency);

    event_base_dispatch(w.base);

    /* Tear-down: each module stops and cancels what it sent (common/req.h),
     * so none of its callbacks runs after; then the connections close. */
    sweep_stop(w.sw);
    eng_abandon(w.e);
    stats_stop(w.st);
    wmetrics_stop(w.wm);
    const struct eng_metrics *m = eng_metrics(w.e);
    HLOG(HLOG_INFO, "worker.stopped", &(struct hlog_ctx){.channel = channel},
         "sent %llu, retried %llu, failed %llu, reclaimed %llu, left %d",
         (unsigned long long)m->sent, (unsigned long long)m->retried, (unsigned long long)m->failed,
         (unsigned long long)m->reclaimed, m->in_flight);
    eng_free(w.e);
    db_close(w.d);
    rds_close(w.rd);
    rds_close(w.wr);
    event_free(w.sigterm);
    event_free(w.sigint);
    event_free(w.grace);
    event_base_free(w.base);
    ops->fini(ops_state);
    curl_global_cleanup();
    cfg_free(&w.cfg);
    return 0;
}
