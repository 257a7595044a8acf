/* queues: heraldctl queues, the per-channel figures of common/ops.c as a table or JSON. */
#include "ctl/ctl.h"
#include "ctl/ctl_async.h"
#include "ctl/ctl_reach.h"
#include "common/buf.h"
#include "common/ops.h"

#include <stdio.h>
#include <string.h>

struct ctl_queues_run {
    struct ctl_async *a;
    enum ops_status st;
    char err[HD_ERR_LEN];
    struct ops_queues q; /* copied out of the callback */
    char redis_err[HD_ERR_LEN];
};

static void ctl_queues_done(void *arg, enum ops_status st, const struct ops_queues *q,
                            const char *err) {
    struct ctl_queues_run *run = arg;
    run->st = st;
    if (st == OPS_OK) {
        run->q = *q;
        snprintf(run->redis_err, sizeof(run->redis_err), "%s", q->redis_err ? q->redis_err : "");
        run->q.redis_err = run->redis_err;
    } else {
        snprintf(run->err, sizeof(run->err), "%s", err ? err : "");
    }
    ctl_async_done(run->a);
}

enum {
    CTL_Q_CHANNEL,
    CTL_Q_STREAM,
    CTL_Q_INFLIGHT,
    CTL_Q_CONSUMERS,
    CTL_Q_LAG,
    CTL_Q_SCHED,
    CTL_Q_DEAD,
    CTL_Q_N
};
static const char *const ctl_queues_heads[CTL_Q_N] = {
    "CHANNEL", "STREAM", "IN-FLIGHT", "CONSUMERS", "LAG", "SCHEDULED", "DEAD"};

/* ctl_queues_cell: one cell as text into out; -1 is "-". */
static void ctl_queues_cell(const struct ops_queue_stat *s, int col, char *out, size_t n) {
    int64_t v = 0;
    switch (col) {
    case CTL_Q_CHANNEL:
        snprintf(out, n, "%s", notif_channel_name(s->channel));
        return;
    case CTL_Q_STREAM:
        v = s->stream_length;
        break;
    case CTL_Q_INFLIGHT:
        v = s->in_flight;
        break;
    case CTL_Q_CONSUMERS:
        v = s->consumers;
        break;
    case CTL_Q_LAG:
        v = s->lag;
        break;
    case CTL_Q_SCHED:
        v = s->scheduled;
        break;
    default:
        v = s->dead_letters;
        break;
    }
    if (v < 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%lld", (long long)v);
}

static void ctl_queues_table(const struct ops_queues *q, struct buf *b) {
    size_t width[CTL_Q_N];
    char cell[32];

    for (int col = 0; col < CTL_Q_N; col++)
        width[col] = strlen(ctl_queues_heads[col]);
    for (int ch = 0; ch < CH_COUNT; ch++) {
        for (int col = 0; col < CTL_Q_N; col++) {
            ctl_queues_cell(&q->ch[ch], col, cell, sizeof(cell));
            if (strlen(cell) > width[col])
                width[col] = strlen(cell);
        }
    }
    for (int ch = -1; ch < CH_COUNT; ch++) {
        for (int col = 0; col < CTL_Q_N; col++) {
            const char *v = ctl_queues_heads[col];
            if (ch >= 0) {
                ctl_queues_cell(&q->ch[ch], col, cell, sizeof(cell));
                v = cell;
            }
            if (col == CTL_Q_CHANNEL)
                buf_printf(b, "%-*s", (int)width[col], v);
            else
                buf_printf(b, "%*s", (int)width[col], v); /* numbers align right */
            buf_puts(b, col == CTL_Q_N - 1 ? "\n" : "  ");
        }
    }
}

/* ctl_queues_backlog: under the table, per channel with something waiting,
 * its busiest lanes and the tenants with the most due notifications. */
static void ctl_queues_backlog(const struct ops_queues *q, struct buf *b) {
    bool head = false;
    for (int ch = 0; ch < CH_COUNT; ch++) {
        const struct ops_queue_stat *s = &q->ch[ch];
        if (s->n_busiest == 0 && s->n_tenants == 0)
            continue;
        if (!head)
            buf_puts(b, "\nwho is backlogged (lane: priority/lane, lag + in flight):\n");
        head = true;
        buf_printf(b, "  %s:", notif_channel_name(s->channel));
        for (int i = 0; i < s->n_busiest; i++) {
            const struct ops_lane_stat *l = &s->busiest[i];
            char lane[16], lag[24];
            if (l->lane < 0)
                snprintf(lane, sizeof(lane), "v1");
            else
                snprintf(lane, sizeof(lane), "%d", l->lane);
            if (l->lag < 0)
                snprintf(lag, sizeof(lag), "-");
            else
                snprintf(lag, sizeof(lag), "%lld", (long long)l->lag);
            buf_printf(b, "%s lane %s/%s %s + %lld", i ? "," : "", notif_priority_name(l->priority),
                       lane, lag, (long long)l->in_flight);
        }
        if (s->n_tenants > 0)
            buf_puts(b, s->n_busiest ? "; tenants" : " tenants");
        for (int i = 0; i < s->n_tenants; i++)
            buf_printf(b, "%s %s %lld due", i ? "," : "", s->tenants[i].name,
                       (long long)s->tenants[i].due);
        buf_putc(b, '\n');
    }
}

static int ctl_queues(struct ctl *c, int argc, char **argv) {
    bool json = false;
    const struct ctl_opt opts[] = {{"--json", NULL, &json}, {NULL, NULL, NULL}};
    struct ctl_async a = {0};
    struct ctl_queues_run run = {0};
    struct buf b = {0};
    int rc;

    rc = ctl_parse_args(&ctl_queues_cmd, argc, argv, opts, NULL, 0, 0);
    if (rc)
        goto out;
    rc = ctl_async_open(c, &a, true);
    if (rc)
        goto out;
    run.a = &a;
    ops_queue_stats(a.db, a.rds, ctl_queues_done, &run);
    rc = ctl_async_run(&a);
    if (rc)
        goto out;
    if (run.st == OPS_DB_UNAVAILABLE) {
        ctl_reach_pg_fail(&c->cfg, "queues", run.err);
        rc = HD_EXIT_DB;
        goto out;
    }
    if (run.st != OPS_OK) {
        ctl_err("queues: %s (has heraldctl migrate been run?)", run.err);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    if (json) {
        ops_queues_json(&b, &run.q);
        buf_putc(&b, '\n');
    } else {
        ctl_queues_table(&run.q, &b);
        ctl_queues_backlog(&run.q, &b);
    }
    rc = ctl_write_out("queues", b.data, b.len);
    if (rc)
        goto out;
    if (!run.q.redis_ok)
        rc = ctl_async_redis_fail(c, &a, "queues", run.q.redis_err,
                                  "stream, in-flight, consumers and lag unknown");

out:
    buf_free(&b);
    ctl_async_close(&a);
    return rc;
}

const struct ctl_cmd ctl_queues_cmd = {
    .group = "queues",
    .verb = NULL,
    .synopsis = "[--json]",
    .summary = "per channel: stream length, in flight, consumers, lag, scheduled, dead letters; "
               "the busiest lanes and tenants",
    .help = "Columns:\n"
            "  STREAM      entries in herald:stream:<channel> (XLEN)\n"
            "  IN-FLIGHT   entries a worker has read and not yet acknowledged: the\n"
            "              consumer group's pending count (XPENDING summary)\n"
            "  CONSUMERS   consumers known to the group \"herald\"\n"
            "  LAG         entries the group has not read yet; \"-\" when Redis cannot\n"
            "              tell (no group yet, or entries deleted)\n"
            "  SCHEDULED   pending notifications no worker can see yet: waiting for\n"
            "              send_at or a retry, or due and about to be enqueued\n"
            "  DEAD        dead letters (failed notifications; see heraldctl dlq list)\n\n"
            "If Redis cannot be reached, the PostgreSQL figures are still printed, the\n"
            "Redis ones show \"-\" (null with --json), a warning goes to stderr and the\n"
            "exit code is 5. PostgreSQL unreachable: nothing is printed, exit code 4.\n\n"
            "Options:\n"
            "  --json   {\"channels\": [...]} as GET /v1/admin/queues answers\n",
    .run = ctl_queues,
};
