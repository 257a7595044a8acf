/* app: the API process's subsystems, created in main.c and passed to every handler. */
#ifndef HERALD_API_APP_H
#define HERALD_API_APP_H

#include <stdbool.h>

struct event_base;
struct cfg;
struct auth;
struct writer;
struct ratelimit;
struct guard;
typedef struct db db;
typedef struct rds rds;
typedef struct sweep sweep;
typedef struct metrics metrics;
typedef struct stats stats;

struct api_app {
    const struct cfg *cfg;
    struct event_base *base;
    db *db;
    rds *rds;
    struct auth *auth;
    struct writer *writer;
    struct ratelimit *rl;
    sweep *sweep;
    metrics *metrics;
    struct events_feed *events; /* GET /v1/events and its long polls (api/events_h.h) */
    stats *stats;               /* the on-call page's series (common/stats.h) */
    struct guard *guard;        /* the listener's connections; set by http_srv_start, NULL before */
    bool shutting_down;         /* after the first SIGTERM: /readyz answers 503 */
};

#endif
