/* ctl_async: heraldctl's private event loop for the operations shared with the API. */
#include "ctl/ctl_async.h"
#include "ctl/ctl_db.h"
#include "ctl/ctl_reach.h"
#include "common/log.h"

#include <event2/event.h>
#include <string.h>

#define CTL_ASYNC_REDIS_WAIT_MIN_MS 1000

static void ctl_async_redis_up(void *arg) {
    struct ctl_async *a = arg;
    a->redis_up = true;
    event_base_loopbreak(a->base);
}

static void ctl_async_redis_wait_over(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct ctl_async *a = arg;
    event_base_loopbreak(a->base);
}

int ctl_async_open(struct ctl *c, struct ctl_async *a, bool redis) {
    memset(a, 0, sizeof(*a));
    /* the synchronous connection says exactly why PostgreSQL cannot be
     * reached, which the pool below would only call "unavailable" */
    int rc = ctl_db_open(c, false);
    if (rc)
        return rc;
    /* The clients log reconnection warnings meant for services; heraldctl
     * says what failed in one line of its own, so only debug goes through. */
    hlog_init("ctl", c->cfg.log_level == HLOG_DEBUG ? HLOG_DEBUG : HLOG_ERROR);
    a->base = event_base_new();
    if (!a->base) {
        ctl_err("cannot create an event loop");
        return CTL_EXIT_FAIL;
    }
    a->db = db_open(a->base, c->cfg.database_url, 1, c->cfg.db_timeout_ms, 0);
    if (!redis)
        return 0;
    a->rds = rds_open(a->base, &c->cfg);
    rds_on_connect(a->rds, ctl_async_redis_up, a);
    int wait_ms = c->cfg.redis_timeout_ms;
    if (wait_ms < CTL_ASYNC_REDIS_WAIT_MIN_MS)
        wait_ms = CTL_ASYNC_REDIS_WAIT_MIN_MS;
    struct event *timer = evtimer_new(a->base, ctl_async_redis_wait_over, a);
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    evtimer_add(timer, &tv);
    if (!rds_up(a->rds))
        event_base_dispatch(a->base);
    event_free(timer);
    rds_on_connect(a->rds, NULL, NULL);
    a->redis_up = rds_up(a->rds);
    if (!a->redis_up)
        ctl_reach_redis_probe(&c->cfg, a->redis_err, sizeof(a->redis_err));
    return 0;
}

int ctl_async_run(struct ctl_async *a) {
    while (!a->done) {
        if (event_base_dispatch(a->base) != 0) {
            /* nothing left to wait for: never spin */
            ctl_err("internal error: the operation never finished");
            return CTL_EXIT_FAIL;
        }
    }
    return 0;
}

void ctl_async_done(struct ctl_async *a) {
    a->done = true;
    event_base_loopbreak(a->base);
}

void ctl_async_close(struct ctl_async *a) {
    rds_close(a->rds);
    if (a->db)
        db_close(a->db);
    if (a->base)
        event_base_free(a->base);
    memset(a, 0, sizeof(*a));
}

int ctl_async_redis_fail(const struct ctl *c, const struct ctl_async *a, const char *what,
                         const char *err, const char *then) {
    ctl_reach_redis_fail(&c->cfg, what, a->redis_err[0] ? a->redis_err : err, then);
    return HD_EXIT_REDIS;
}

int ctl_write_out(const char *what, const char *s, size_t n) {
    if ((n && fwrite(s, 1, n, stdout) != n) || fflush(stdout) != 0) {
        ctl_err("%s: could not write to stdout", what);
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}
