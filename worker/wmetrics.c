/* wmetrics: Prometheus metrics for herald-worker. */
#include "worker/wmetrics.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/stream.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define WMETRICS_POLL_MS 5000

static const double wm_provider[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double wm_e2e[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,    2.5,   5,
                                10,   30,   60,  300,  900, 3600, 21600, 86400};

static const struct metrics_def wm_defs[] = {
    {"herald_deliveries_total", METRICS_COUNTER,
     "Delivery attempts by channel and outcome (sent, retry, failed, deferred).", NULL, 0},
    {"herald_delivery_duration_seconds", METRICS_HISTOGRAM,
     "Time of the provider call of one attempt.", wm_provider, HD_ARRAY_LEN(wm_provider)},
    {"herald_end_to_end_seconds", METRICS_HISTOGRAM, "Time from acceptance (created_at) to sent.",
     wm_e2e, HD_ARRAY_LEN(wm_e2e)},
    {"herald_retries_total", METRICS_COUNTER, "Attempts that will be retried.", NULL, 0},
    {"herald_dead_letters_total", METRICS_COUNTER, "Notifications that failed for good.", NULL, 0},
    {"herald_provider_auth_failures_total", METRICS_COUNTER,
     "Attempts refused for Herald's own provider credentials.", NULL, 0},
    {"herald_reclaimed_total", METRICS_COUNTER,
     "Stream entries taken over from dead or stuck consumers.", NULL, 0},
    {"herald_dwell_seconds", METRICS_HISTOGRAM,
     "Time from when the attempt that succeeded became due (creation, send_at or "
     "its retry time) to sent, by channel and priority.",
     wm_e2e, HD_ARRAY_LEN(wm_e2e)},
    {"herald_circuits_open", METRICS_GAUGE,
     "Destinations whose circuit is open or half-open, as this worker knows them.", NULL, 0},
    {"herald_in_flight", METRICS_GAUGE,
     "Entries held by this worker, from read to acknowledgement.", NULL, 0},
    {"herald_stream_length", METRICS_GAUGE, "Entries in the channel's stream.", NULL, 0},
    {"herald_stream_lag", METRICS_GAUGE, "Entries not yet read by the consumer group.", NULL, 0},
    {"herald_dependency_up", METRICS_GAUGE, "1 while the dependency is connected, by dep.", NULL,
     0},
};

struct wmetrics {
    metrics *m;
    struct metrics_srv *srv;
    eng *e;
    db *d;
    rds *r;
    enum notif_channel ch;
    char labels[32];
    struct event *poll;
    struct req_scope reqs;        /* the poll's commands, until answered */
    bool polling;                 /* a poll is in flight */
    long long stream_length, lag; /* -1: unknown */
};

static void wm_refresh(void *arg, metrics *m) {
    wmetrics *w = arg;
    const struct eng_metrics *em = eng_metrics(w->e);
    metrics_set(m, "herald_in_flight", w->labels, em->in_flight);
    metrics_set(m, "herald_circuits_open", w->labels, em->circuits_open);
    metrics_set(m, "herald_reclaimed_total", w->labels, (double)em->reclaimed);
    metrics_set(m, "herald_dependency_up", "dep=\"postgres\"", db_up(w->d) ? 1 : 0);
    metrics_set(m, "herald_dependency_up", "dep=\"redis\"", rds_up(w->r) ? 1 : 0);
    if (w->stream_length >= 0)
        metrics_set(m, "herald_stream_length", w->labels, (double)w->stream_length);
    if (w->lag >= 0)
        metrics_set(m, "herald_stream_lag", w->labels, (double)w->lag);
}

static void wm_free(wmetrics *w) {
    event_free(w->poll);
    metrics_free(w->m);
    mem_free(w);
}

/* wm_info: the channel's streams' length and lag. */
static void wm_info(void *arg, const struct stream_info *info) {
    wmetrics *w = arg;
    w->polling = false;
    w->stream_length = info->length;
    w->lag = info->lag;
}

static void wm_poll(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    wmetrics *w = arg;
    if (w->polling || !rds_up(w->r))
        return;
    w->polling = true;
    stream_info(w->r, w->ch, &w->reqs, wm_info, w);
}

wmetrics *wmetrics_start(struct event_base *base, eng *e, db *d, rds *r, enum notif_channel ch,
                         const char *listen, char *err, size_t errlen) {
    wmetrics *w = mem_calloc(1, sizeof(*w));
    w->m = metrics_new();
    w->e = e;
    w->d = d;
    w->r = r;
    w->ch = ch;
    w->stream_length = w->lag = -1;
    snprintf(w->labels, sizeof(w->labels), "channel=\"%s\"", notif_channel_name(ch));
    metrics *m = w->m;
    metrics_define_all(m, wm_defs, HD_ARRAY_LEN(wm_defs));
    metrics_on_render(m, wm_refresh, w);
    eng_set_metrics(e, m);
    w->poll = event_new(base, -1, EV_PERSIST, wm_poll, w);
    struct timeval tv = {WMETRICS_POLL_MS / 1000, 0};
    event_add(w->poll, &tv);
    if (listen) {
        w->srv = metrics_srv_start(base, listen, m, err, errlen);
        if (!w->srv) {
            wm_free(w);
            return NULL;
        }
    }
    return w;
}

void wmetrics_stop(wmetrics *w) {
    if (!w)
        return;
    metrics_srv_stop(w->srv);
    w->srv = NULL;
    req_scope_cancel(&w->reqs); /* its callback never runs */
    wm_free(w);
}
