/* destinations: heraldctl destinations, the circuits held open now (common/circuits.c) as a table
 * or JSON. */
#include "ctl/ctl.h"
#include "ctl/ctl_async.h"
#include "common/buf.h"
#include "common/circuits.h"
#include "common/mem.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

struct ctl_dest_run {
    struct ctl_async *a;
    bool json;
    bool redis_ok;
    char err[HD_ERR_LEN];
    struct buf out;
};

static void ctl_dest_table(const struct circ_list *l, struct buf *b) {
    size_t wd = strlen("DESTINATION");
    for (int i = 0; i < l->n; i++)
        if (strlen(l->rows[i].destination) > wd)
            wd = strlen(l->rows[i].destination);
    buf_printf(b, "%-8s  %-*s  %-9s  %8s  %8s  %s\n", "CHANNEL", (int)wd, "DESTINATION", "STATE",
               "FAILURES", "WAITING", "SINCE");
    int64_t now = util_now_ms();
    for (int i = 0; i < l->n; i++) {
        const struct circ_row *r = &l->rows[i];
        char since[UTIL_TIME_LEN];
        util_fmt_time_ms(r->b.since_ms, since);
        buf_printf(b, "%-8s  %-*s  %-9s  %8d  %8lld  %s\n", notif_channel_name(r->ch), (int)wd,
                   r->destination, brk_state_name(brk_state(&r->b, now)), r->b.failures,
                   (long long)r->b.waiting, since);
    }
}

static void ctl_dest_done(void *arg, const struct circ_list *l) {
    struct ctl_dest_run *run = arg;
    run->redis_ok = l->redis_ok;
    if (!l->redis_ok)
        snprintf(run->err, sizeof(run->err), "%s", l->err ? l->err : "no answer");
    else if (run->json) {
        circ_json(&run->out, l, util_now_ms());
        buf_putc(&run->out, '\n');
    } else {
        ctl_dest_table(l, &run->out);
    }
    ctl_async_done(run->a);
}

static int ctl_destinations(struct ctl *c, int argc, char **argv) {
    bool json = false;
    const char *channel = NULL;
    const struct ctl_opt opts[] = {
        {"--json", NULL, &json}, {"--channel", &channel, NULL}, {NULL, NULL, NULL}};
    struct ctl_async a = {0};
    struct ctl_dest_run run = {0};
    int rc = ctl_parse_args(&ctl_destinations_cmd, argc, argv, opts, NULL, 0, 0);
    if (rc)
        goto out;
    int ch = -1;
    if (channel && (ch = notif_channel_parse(channel)) < 0) {
        ctl_err("destinations: --channel: expected email, sms, push or webhook");
        rc = HD_EXIT_USAGE;
        goto out;
    }
    rc = ctl_async_open(c, &a, true);
    if (rc)
        goto out;
    if (!a.redis_up) {
        rc = ctl_async_redis_fail(c, &a, "destinations", a.redis_err, "circuits unknown");
        goto out;
    }
    run.a = &a;
    run.json = json;
    circ_read(a.rds, ch, ctl_dest_done, &run);
    rc = ctl_async_run(&a);
    if (rc)
        goto out;
    if (!run.redis_ok) {
        rc = ctl_async_redis_fail(c, &a, "destinations", run.err, "circuits unknown");
        goto out;
    }
    rc = ctl_write_out("destinations", run.out.data, run.out.len);

out:
    buf_free(&run.out);
    ctl_async_close(&a);
    return rc;
}

const struct ctl_cmd ctl_destinations_cmd = {
    .group = "destinations",
    .verb = NULL,
    .synopsis = "[--channel C] [--json]",
    .summary = "destinations held back now: open and half-open circuits",
    .help = "Columns:\n"
            "  CHANNEL      the channel whose workers hold it back\n"
            "  DESTINATION  scheme://host:port as written in webhook URLs; the provider\n"
            "               for email, sms and push\n"
            "  STATE        open (deliveries rescheduled to the end of the open period)\n"
            "               or half-open (one delivery probes it; a success closes it)\n"
            "  FAILURES     consecutive timeouts, connection failures or 5xx answers\n"
            "  WAITING      notifications rescheduled while it was held back\n"
            "  SINCE        when the circuit opened\n"
            "Options:\n"
            "  --channel C  only channel C's\n"
            "  --json       {\"data\": [...]} as GET /v1/admin/destinations answers\n",
    .run = ctl_destinations,
};
