/* dlq: heraldctl dlq list and replay, over the dead-letter operations of common/ops.c. */
#include "ctl/ctl.h"
#include "ctl/ctl_async.h"
#include "ctl/ctl_reach.h"
#include "common/buf.h"
#include "common/ops.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_DLQ_LIMIT_DEFAULT 20
#define CTL_DLQ_ERROR_COLS 60     /* LAST ERROR is cut to this many characters in a table */
#define CTL_DLQ_RECIPIENT_COLS 40 /* and RECIPIENT to this many */

/* ctl_dlq_channel: checks the required --channel value. */
static int ctl_dlq_channel(const struct ctl_cmd *cmd, const char *s, enum notif_channel *ch) {
    if (!s) {
        ctl_err("dlq %s: --channel C is required (email, sms, push or webhook)", cmd->verb);
        return HD_EXIT_USAGE;
    }
    int v = notif_channel_parse(s);
    if (v < 0) {
        ctl_err("dlq %s: --channel must be email, sms, push or webhook", cmd->verb);
        return HD_EXIT_USAGE;
    }
    *ch = (enum notif_channel)v;
    return 0;
}

/* ctl_dlq_ops_fail: the message and exit code for a failed operation. */
static int ctl_dlq_ops_fail(const struct ctl *c, const char *what, enum ops_status st,
                            const char *err) {
    if (st == OPS_DB_UNAVAILABLE) {
        ctl_reach_pg_fail(&c->cfg, what, err);
        return HD_EXIT_DB;
    }
    ctl_err("%s: %s (has heraldctl migrate been run?)", what, err);
    return CTL_EXIT_FAIL;
}

/* ---- list ---- */

struct ctl_dlq_list_run {
    struct ctl_async *a;
    const char *tenant; /* borrowed from argv */
    bool json;
    enum ops_status st;
    char err[HD_ERR_LEN];
    struct buf out;    /* what to print */
    char *next_cursor; /* owned; NULL on the last page */
};

/* ctl_dlq_clip: s with control characters as spaces, cut to max code points
 * ("..." marks a cut), into b. Returns the code points appended. */
static size_t ctl_dlq_clip(struct buf *b, const char *s, size_t max) {
    size_t n = strlen(s), cps = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        total += ((unsigned char)s[i] & 0xC0) != 0x80;
    bool cut = total > max;
    size_t keep = cut ? max - 3 : total;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80) {
            if (cps == keep)
                break;
            cps++;
        }
        buf_putc(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
    if (cut) {
        buf_puts(b, "...");
        cps += 3;
    }
    return cps;
}

enum {
    CTL_D_ID,
    CTL_D_TENANT,
    CTL_D_RECIPIENT,
    CTL_D_ATTEMPTS,
    CTL_D_ERROR,
    CTL_D_FAILED,
    CTL_D_N
};
static const char *const ctl_dlq_heads[CTL_D_N] = {"ID",       "TENANT",     "RECIPIENT",
                                                   "ATTEMPTS", "LAST ERROR", "FAILED AT"};

/* ctl_dlq_cell: the table text of one cell into b (reset first); returns its
 * width in code points. */
static size_t ctl_dlq_cell(struct buf *b, const struct notif_view *v, int col) {
    char tmp[UTIL_TIME_LEN];
    buf_reset(b);
    buf_puts(b, ""); /* never NULL data */
    switch (col) {
    case CTL_D_ID:
        return ctl_dlq_clip(b, v->id, UTIL_UUID_LEN);
    case CTL_D_TENANT:
        return ctl_dlq_clip(b, v->tenant ? v->tenant : "-", 64);
    case CTL_D_RECIPIENT:
        return ctl_dlq_clip(b, v->recipient, CTL_DLQ_RECIPIENT_COLS);
    case CTL_D_ATTEMPTS:
        snprintf(tmp, sizeof(tmp), "%d", v->attempts);
        return ctl_dlq_clip(b, tmp, sizeof(tmp));
    case CTL_D_ERROR:
        return ctl_dlq_clip(b, v->last_error ? v->last_error : "-", CTL_DLQ_ERROR_COLS);
    default:
        if (v->failed_at)
            util_fmt_time_ms(v->failed_at, tmp);
        else
            snprintf(tmp, sizeof(tmp), "-");
        return ctl_dlq_clip(b, tmp, sizeof(tmp));
    }
}

static void ctl_dlq_table(const struct ops_dlq_page *page, struct buf *out) {
    size_t width[CTL_D_N];
    struct buf cell = {0};
    struct notif_view v;

    for (int col = 0; col < CTL_D_N; col++)
        width[col] = strlen(ctl_dlq_heads[col]);
    for (int i = 0; i < page->n; i++) {
        notif_view_from_row(page->res, i, 0, true, &v);
        for (int col = 0; col < CTL_D_N; col++) {
            size_t w = ctl_dlq_cell(&cell, &v, col);
            if (w > width[col])
                width[col] = w;
        }
    }
    for (int i = -1; i < page->n; i++) {
        if (i >= 0)
            notif_view_from_row(page->res, i, 0, true, &v);
        for (int col = 0; col < CTL_D_N; col++) {
            size_t w;
            if (i < 0) {
                buf_reset(&cell);
                buf_puts(&cell, ctl_dlq_heads[col]);
                w = strlen(ctl_dlq_heads[col]);
            } else {
                w = ctl_dlq_cell(&cell, &v, col);
            }
            buf_puts(out, cell.data);
            if (col == CTL_D_N - 1) {
                buf_putc(out, '\n');
                break;
            }
            /* padded by code points, so non-ASCII text stays aligned */
            for (size_t k = w; k < width[col] + 2; k++)
                buf_putc(out, ' ');
        }
    }
    buf_free(&cell);
}

static void ctl_dlq_list_done(void *arg, enum ops_status st, const struct ops_dlq_page *page,
                              const char *err) {
    struct ctl_dlq_list_run *run = arg;
    run->st = st;
    if (st != OPS_OK) {
        snprintf(run->err, sizeof(run->err), "%s", err ? err : "");
    } else if (run->json) {
        ops_dlq_page_json(&run->out, page);
        buf_putc(&run->out, '\n');
    } else {
        ctl_dlq_table(page, &run->out);
    }
    if (st == OPS_OK && page->next_cursor)
        run->next_cursor = mem_strdup(page->next_cursor);
    ctl_async_done(run->a);
}

static int ctl_dlq_list(struct ctl *c, int argc, char **argv) {
    const char *channel = NULL, *tenant = NULL, *limit_s = NULL, *cursor = NULL;
    bool json = false;
    const struct ctl_opt opts[] = {{"--channel", &channel, NULL}, {"--tenant", &tenant, NULL},
                                   {"--limit", &limit_s, NULL},   {"--cursor", &cursor, NULL},
                                   {"--json", NULL, &json},       {NULL, NULL, NULL}};
    struct ctl_async a = {0};
    struct ctl_dlq_list_run run = {0};
    enum notif_channel ch = CH_EMAIL;
    int limit = CTL_DLQ_LIMIT_DEFAULT;
    int rc;

    rc = ctl_parse_args(&ctl_dlq_list_cmd, argc, argv, opts, NULL, 0, 0);
    if (rc)
        goto out;
    rc = ctl_dlq_channel(&ctl_dlq_list_cmd, channel, &ch);
    if (rc)
        goto out;
    if (tenant && !ctl_tenant_name_valid(tenant)) {
        ctl_err("dlq list: --tenant must be 1 to %d characters of A-Z a-z 0-9 . _ -",
                CTL_TENANT_NAME_MAX);
        rc = HD_EXIT_USAGE;
        goto out;
    }
    if (limit_s) {
        char *end;
        long v = strtol(limit_s, &end, 10);
        if (!*limit_s || *end || v < 1 || v > OPS_DLQ_LIMIT_MAX) {
            ctl_err("dlq list: --limit must be an integer from 1 to %d", OPS_DLQ_LIMIT_MAX);
            rc = HD_EXIT_USAGE;
            goto out;
        }
        limit = (int)v;
    }
    if (cursor && !ops_dlq_cursor_ok(ch, tenant, cursor)) {
        ctl_err("dlq list: --cursor is not a cursor of this channel and tenant filter");
        rc = HD_EXIT_USAGE;
        goto out;
    }
    rc = ctl_async_open(c, &a, false);
    if (rc)
        goto out;
    run.a = &a;
    run.tenant = tenant;
    run.json = json;
    ops_dlq_list(a.db, ch, tenant, limit, cursor, ctl_dlq_list_done, &run);
    rc = ctl_async_run(&a);
    if (rc)
        goto out;
    if (run.st == OPS_UNKNOWN_TENANT) {
        ctl_err("dlq list: no tenant named \"%s\"", tenant);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    if (run.st != OPS_OK) {
        rc = ctl_dlq_ops_fail(c, "dlq list", run.st, run.err);
        goto out;
    }
    rc = ctl_write_out("dlq list", run.out.data, run.out.len);
    if (rc == 0 && run.next_cursor && !json)
        ctl_err("dlq list: more dead letters: add --cursor %s", run.next_cursor);

out:
    buf_free(&run.out);
    mem_free(run.next_cursor);
    ctl_async_close(&a);
    return rc;
}

/* ---- replay ---- */

struct ctl_dlq_replay_run {
    struct ctl_async *a;
    enum ops_status st;
    char err[HD_ERR_LEN];
    struct buf json; /* the result as the route answers it */
    int64_t replayed;
    char **not_found; /* owned, each owned */
    size_t n_not_found;
    bool redis_ok;
    char redis_err[HD_ERR_LEN];
    int64_t unenqueued; /* replayed rows this call did not XADD */
};

static void ctl_dlq_replay_done(void *arg, enum ops_status st, const struct ops_replay_result *res,
                                const char *err) {
    struct ctl_dlq_replay_run *run = arg;
    run->st = st;
    if (st != OPS_OK) {
        snprintf(run->err, sizeof(run->err), "%s", err ? err : "");
    } else {
        ops_replay_json(&run->json, res);
        buf_putc(&run->json, '\n');
        run->replayed = res->replayed;
        run->n_not_found = res->n_not_found;
        run->not_found = mem_calloc(res->n_not_found ? res->n_not_found : 1, sizeof(char *));
        for (size_t i = 0; i < res->n_not_found; i++)
            run->not_found[i] = mem_strdup(res->not_found[i]);
        run->redis_ok = res->redis_ok;
        snprintf(run->redis_err, sizeof(run->redis_err), "%s",
                 res->redis_err ? res->redis_err : "");
        run->unenqueued = res->replayed - res->enqueued;
    }
    ctl_async_done(run->a);
}

/* ctl_dlq_replay_args: takes the ids out of argv into ids, the rest into
 * rest. Both "--id A B C" and "--id A --id B" work (ctl_parse_args keeps only
 * the last value of an option): after --id ID, or --id=ID, every argument up
 * to the next option is an id too. Both arrays borrow from argv and have room
 * for argc entries. */
static int ctl_dlq_replay_args(int argc, char **argv, const char **ids, size_t *nids, char **rest,
                               int *nrest) {
    bool opts_done = false, in_ids = false;
    *nids = 0;
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done) {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            opts_done = true;
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--id")) {
            if (i + 1 >= argc || argv[i + 1][0] == '-') {
                ctl_err("dlq replay: --id needs a value");
                return HD_EXIT_USAGE;
            }
            ids[(*nids)++] = argv[++i];
            in_ids = true;
            continue;
        }
        if (!strncmp(a, "--id=", 5)) {
            ids[(*nids)++] = a + 5;
            in_ids = true;
            continue;
        }
        if (a[0] == '-')
            in_ids = false;
        else if (in_ids) {
            ids[(*nids)++] = a;
            continue;
        }
        rest[(*nrest)++] = argv[i];
    }
    return 0;
}

static int ctl_dlq_replay(struct ctl *c, int argc, char **argv) {
    const char *channel = NULL;
    bool all = false, dry = false, json = false;
    const struct ctl_opt opts[] = {{"--channel", &channel, NULL},
                                   {"--all", NULL, &all},
                                   {"--dry-run", NULL, &dry},
                                   {"--json", NULL, &json},
                                   {NULL, NULL, NULL}};
    const char **ids = mem_calloc((size_t)argc + 1, sizeof(*ids));
    char **rest = mem_calloc((size_t)argc + 1, sizeof(*rest));
    size_t nids = 0;
    int nrest = 0;
    struct ctl_async a = {0};
    struct ctl_dlq_replay_run run = {0};
    struct buf b = {0};
    enum notif_channel ch = CH_EMAIL;
    int rc;

    rc = ctl_dlq_replay_args(argc, argv, ids, &nids, rest, &nrest);
    if (rc)
        goto out;
    rc = ctl_parse_args(&ctl_dlq_replay_cmd, nrest, rest, opts, NULL, 0, 0);
    if (rc)
        goto out;
    rc = ctl_dlq_channel(&ctl_dlq_replay_cmd, channel, &ch);
    if (rc)
        goto out;
    rc = HD_EXIT_USAGE;
    if (all == (nids > 0)) {
        ctl_err("dlq replay: give either --id ID (repeatable) or --all");
        goto out;
    }
    if (nids > OPS_REPLAY_IDS_MAX) {
        ctl_err("dlq replay: at most %d --id at once (or --all)", OPS_REPLAY_IDS_MAX);
        goto out;
    }
    for (size_t i = 0; i < nids; i++) {
        if (!util_uuid_valid(ids[i])) {
            ctl_err("dlq replay: --id \"%.40s\" is not a notification id (a UUID)", ids[i]);
            goto out;
        }
    }
    /* Redis is only needed for the XADDs after the commit; wait for it so
     * they have a chance, but replay whatever it says. */
    rc = ctl_async_open(c, &a, !dry);
    if (rc)
        goto out;
    run.a = &a;
    ops_dlq_replay(a.db, a.rds, ch, all ? NULL : ids, nids, dry, ctl_dlq_replay_done, &run);
    rc = ctl_async_run(&a);
    if (rc)
        goto out;
    if (run.st != OPS_OK) {
        rc = ctl_dlq_ops_fail(c, "dlq replay", run.st, run.err);
        goto out;
    }
    if (json) {
        buf_puts(&b, run.json.data);
    } else {
        buf_printf(&b, "%s %lld dead letter%s (%s)\n", dry ? "would replay" : "replayed",
                   (long long)run.replayed, run.replayed == 1 ? "" : "s", notif_channel_name(ch));
        for (size_t i = 0; i < run.n_not_found; i++)
            buf_printf(&b, "not found: %s\n", run.not_found[i]);
    }
    rc = ctl_write_out("dlq replay", b.data, b.len);
    if (rc)
        goto out;
    if (!dry && !run.redis_ok) {
        char then[128];
        snprintf(then, sizeof(then),
                 "%lld replayed notification%s will be enqueued by the sweeper once it is back",
                 (long long)run.unenqueued, run.unenqueued == 1 ? "" : "s");
        rc = ctl_async_redis_fail(c, &a, "dlq replay", run.redis_err, then);
    } else if (run.n_not_found) {
        rc = CTL_EXIT_FAIL;
    }

out:
    for (size_t i = 0; i < run.n_not_found; i++)
        mem_free(run.not_found[i]);
    mem_free(run.not_found);
    buf_free(&run.json);
    buf_free(&b);
    mem_free(ids);
    mem_free(rest);
    ctl_async_close(&a);
    return rc;
}

const struct ctl_cmd ctl_dlq_list_cmd = {
    .group = "dlq",
    .verb = "list",
    .synopsis = "--channel C [--tenant T] [--limit N] [--cursor X] [--json]",
    .summary = "list dead letters: id, tenant, recipient, attempts, last error, failed at",
    .help = "Dead letters are failed notifications, newest failure first. In the table, long\n"
            "recipients and errors are cut (\"...\"); --json prints them whole. When more\n"
            "rows follow, stderr says which --cursor gives the next page.\n\n"
            "Options:\n"
            "  --channel C   email, sms, push or webhook (required)\n"
            "  --tenant T    only this tenant's (a tenant name)\n"
            "  --limit N     rows per page, 1 to 1000 (default 20)\n"
            "  --cursor X    the page after the one that printed X\n"
            "  --json        {\"data\": [notifications with a tenant field], \"next_cursor\"}\n"
            "                as GET /v1/admin/dlq/{channel} answers\n\n"
            "Exit codes: 1 no such tenant, 2 bad usage, 4 database unreachable.\n",
    .run = ctl_dlq_list,
};

const struct ctl_cmd ctl_dlq_replay_cmd = {
    .group = "dlq",
    .verb = "replay",
    .synopsis = "--channel C (--id ID ... | --all) [--dry-run] [--json]",
    .summary = "put dead letters back to pending and enqueue them",
    .help = "Each replayed notification gets a fresh budget of HERALD_MAX_ATTEMPTS attempts;\n"
            "its attempt history is kept and \"attempts\" keeps counting. Up to 1000 are\n"
            "added to the channel's stream at once; the rest (with --all) are enqueued by\n"
            "the sweeper of herald-api or herald-worker within seconds.\n\n"
            "Options:\n"
            "  --channel C   email, sms, push or webhook (required)\n"
            "  --id ID ...   dead letters to replay (up to 1000): --id A B C, or --id A\n"
            "                --id B\n"
            "  --all         every dead letter of the channel\n"
            "  --dry-run     say how many would be replayed (and which ids are not dead\n"
            "                letters of this channel) and change nothing\n"
            "  --json        {\"replayed\": n, \"not_found\": [ids]}\n\n"
            "Exit codes: 1 some ids were not found (the others were replayed), 2 bad usage,\n"
            "4 database unreachable (nothing was replayed), 5 Redis unreachable (the\n"
            "notifications were replayed; the sweeper enqueues them once Redis is back).\n",
    .run = ctl_dlq_replay,
};
