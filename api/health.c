/* health: liveness is the process running; readiness is PostgreSQL answering
 * now (Redis is reported, but the API accepts without it). */
#include "api/health.h"
#include "api/store.h"
#include "common/db.h"
#include "common/rds.h"

#include <stdio.h>
#include <string.h>

void health_h_live(struct api_req *r) {
    static const char body[] = "{\"status\":\"ok\"}";
    api_reply(r, 200, body, sizeof(body) - 1);
}

static void health_ready_done(void *arg, const struct db_result *res) {
    struct api_req *r = arg;
    bool pg = res->status == DB_OK;
    bool redis = rds_up(r->app->rds);
    bool ok = pg && !r->app->shutting_down;
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"postgres\":\"%s\",\"redis\":\"%s\"}",
                     ok ? "ok" : "unavailable", pg ? "ok" : "down", redis ? "ok" : "down");
    api_reply(r, ok ? 200 : 503, body, (size_t)n);
}

void health_h_ready(struct api_req *r) {
    store_ready(r->app->db, health_ready_done, r);
}
