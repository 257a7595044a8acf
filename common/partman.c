/* partman: herald_partitions_ensure on a timer, so partitions exist before any key needs them. */
#include "common/partman.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#define PARTMAN_RETRY_MS 1000

struct partman {
    db *db;
    const struct cfg *cfg;
    const char *svc;
    struct event *timer;
    struct req *out; /* the statement sent, until its callback starts */
    bool settled;    /* the first run has ended */
    uint64_t created;
};

int64_t partman_ahead_ms(int partition_ms) {
    return 2 * (int64_t)partition_ms;
}

int partman_interval_ms(int partition_ms) {
    int ms = partition_ms / 4;
    return ms < 250 ? 250 : ms > 60000 ? 60000 : ms;
}

static void partman_arm(partman *p, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void partman_done(void *arg, const struct db_result *res) {
    partman *p = arg;
    p->out = NULL;
    p->settled = true;
    if (res->status != DB_OK || PQntuples(res->res) != 1) {
        HLOG(HLOG_WARN, "partitions.failed", NULL,
             "%s: could not create the partitions ahead (%s); trying again in %d ms", p->svc,
             res->status == DB_OK ? "unexpected answer" : res->message, PARTMAN_RETRY_MS);
        partman_arm(p, PARTMAN_RETRY_MS);
        return;
    }
    long n = atol(db_get(res->res, 0, 0));
    if (n > 0) {
        p->created += (uint64_t)n;
        HLOG(HLOG_INFO, "partitions.created", NULL, "%s: created %ld partitions", p->svc, n);
    }
    partman_arm(p, partman_interval_ms(p->cfg->partition_ms));
}

static void partman_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    partman *p = arg;
    char now[24], period[24], ahead[24];
    snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
    snprintf(period, sizeof(period), "%d", p->cfg->partition_ms);
    snprintf(ahead, sizeof(ahead), "%lld", (long long)partman_ahead_ms(p->cfg->partition_ms));
    const char *params[] = {now, period, ahead};
    p->out = db_query(p->db, PARTMAN_ENSURE_SQL, 3, params, partman_done, p);
}

partman *partman_start(struct event_base *base, db *d, const struct cfg *c, const char *svc) {
    partman *p = mem_calloc(1, sizeof(*p));
    p->db = d;
    p->cfg = c;
    p->svc = svc;
    p->timer = evtimer_new(base, partman_tick, p);
    partman_arm(p, 0);
    return p;
}

bool partman_settled(const partman *p) {
    return p->settled;
}

uint64_t partman_created_total(const partman *p) {
    return p->created;
}

void partman_stop(partman *p) {
    if (!p)
        return;
    req_cancel(p->out); /* its callback never runs */
    event_free(p->timer);
    mem_free(p);
}
