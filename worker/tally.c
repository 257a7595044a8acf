/* tally: outcome counters, histograms and log lines. */
#include "worker/tally.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/stats.h"

#include <stdio.h>

void tally_init(struct tally *t, enum notif_channel ch) {
    t->ch = ch;
    t->chname = notif_channel_name(ch);
    snprintf(t->labels, sizeof(t->labels), "channel=\"%s\"", t->chname);
}

static void tally_log(const struct tally *t, const struct job *j) {
    struct hlog_ctx ctx = job_ctx(j, t->chname);
    switch (j->kind) {
    case LK_SUCCESS:
        HLOG(HLOG_INFO, "delivery.sent", &ctx, "delivered (status %d, %d ms)", j->res.status_code,
             j->duration_ms);
        break;
    case LK_RETRY:
        ctx.err = j->res.error;
        HLOG(HLOG_INFO, "delivery.retry", &ctx, "attempt failed; next in %lld ms%s",
             (long long)j->delay_ms, j->counted ? "" : " (not counted: provider credentials)");
        break;
    case LK_FAILED:
        ctx.err = j->res.error;
        HLOG(HLOG_WARN, "delivery.failed", &ctx, "gave up; dead-lettered");
        break;
    case LK_DEFER:
        HLOG(HLOG_DEBUG, "delivery.deferred", &ctx, "destination busy or open; due in %lld ms",
             (long long)j->delay_ms);
        break;
    }
}

/* tally_outcome: the on-call page's and Prometheus's side of a recorded outcome. */
void tally_outcome(const struct tally *t, const struct job *j, int64_t now_ms) {
    /* dwell runs from when this attempt became due (due_at as claimed) */
    bool dwell = j->kind == LK_SUCCESS && j->due_ms > 0 && now_ms >= j->due_ms;
    if (j->kind == LK_SUCCESS) {
        stats_count(t->st, t->ch, STATS_SENT, 1);
        if (dwell)
            stats_dwell(t->st, t->ch, now_ms - j->due_ms);
    } else if (j->kind == LK_RETRY) {
        stats_count(t->st, t->ch, STATS_RETRIED, 1);
    } else if (j->kind == LK_FAILED) {
        stats_count(t->st, t->ch, STATS_FAILED, 1);
    }
    tally_log(t, j);
    if (!t->reg)
        return;
    static const char *const names[] = {"sent", "retry", "failed", "deferred"};
    char labels[80];
    snprintf(labels, sizeof(labels), "%s,outcome=\"%s\"", t->labels, names[j->kind]);
    metrics_add(t->reg, "herald_deliveries_total", labels, 1);
    if (j->kind == LK_RETRY)
        metrics_add(t->reg, "herald_retries_total", t->labels, 1);
    if (j->kind == LK_FAILED)
        metrics_add(t->reg, "herald_dead_letters_total", t->labels, 1);
    if (j->kind == LK_SUCCESS && j->created_ms > 0 && now_ms >= j->created_ms)
        metrics_observe(t->reg, "herald_end_to_end_seconds", t->labels,
                        (double)(now_ms - j->created_ms) / 1000.0);
    if (dwell) {
        snprintf(labels, sizeof(labels), "%s,priority=\"%s\"", t->labels,
                 j->priority[0] ? j->priority : "normal");
        metrics_observe(t->reg, "herald_dwell_seconds", labels,
                        (double)(now_ms - j->due_ms) / 1000.0);
    }
}

void tally_attempt(const struct tally *t, int64_t elapsed_ms) {
    if (t->reg)
        metrics_observe(t->reg, "herald_delivery_duration_seconds", t->labels,
                        (double)elapsed_ms / 1000.0);
}

void tally_auth_failure(const struct tally *t) {
    if (t->reg)
        metrics_add(t->reg, "herald_provider_auth_failures_total", t->labels, 1);
}
