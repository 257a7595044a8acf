/* log: the only writer of logs; one JSON object per line on stderr, one write(2) each. */
#ifndef HERALD_COMMON_LOG_H
#define HERALD_COMMON_LOG_H

#include <stdbool.h>

enum hlog_level { HLOG_DEBUG = 0, HLOG_INFO, HLOG_WARN, HLOG_ERROR };

/* Optional context keys; NULL (or 0 for attempt) leaves a key out. Never put
 * a secret, an API key or a message body here. */
struct hlog_ctx {
    const char *req_id;
    const char *notif_id;
    const char *tenant;
    const char *channel;
    int attempt;
    const char *err;
};

/* hlog_init: svc is "api", "worker" or "ctl" (borrowed, must outlive logging). */
void hlog_init(const char *svc, enum hlog_level min_level);
bool hlog_enabled(enum hlog_level lvl);
/* hlog_parse_level: "debug".."error" -> level; -1 if unknown. */
int hlog_parse_level(const char *s);
/* hlog_write: formats msg; ctx may be NULL. Prefer the HLOG macro, which checks
 * the level before evaluating arguments. Safe to call from any thread, not from
 * a signal handler. */
void hlog_write(enum hlog_level lvl, const char *event, const struct hlog_ctx *ctx, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

#define HLOG(lvl, event, ctx, ...)                                                                 \
    do {                                                                                           \
        if (hlog_enabled(lvl))                                                                     \
            hlog_write(lvl, event, ctx, __VA_ARGS__);                                              \
    } while (0)

#endif
