/* log: structured JSON-lines logging on stderr. */
#include "common/log.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *hlog_svc = "herald";
static enum hlog_level hlog_min = HLOG_INFO;
static const char *const hlog_names[] = {"debug", "info", "warn", "error"};

void hlog_init(const char *svc, enum hlog_level min_level) {
    hlog_svc = svc;
    hlog_min = min_level;
}

bool hlog_enabled(enum hlog_level lvl) {
    return lvl >= hlog_min;
}

int hlog_parse_level(const char *s) {
    return util_name_index(hlog_names, HD_ARRAY_LEN(hlog_names), s);
}

static void hlog_kv(struct buf *b, const char *key, const char *val) {
    if (!val)
        return;
    buf_printf(b, ",\"%s\":", key);
    buf_json_str(b, val, strlen(val));
}

void hlog_write(enum hlog_level lvl, const char *event, const struct hlog_ctx *ctx, const char *fmt,
                ...) {
    char ts[32];
    util_fmt_time_ms(util_now_ms(), ts);
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';

    struct buf b = {0};
    buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"svc\":\"%s\",\"event\":", ts, hlog_names[lvl],
               hlog_svc);
    buf_json_str(&b, event, strlen(event));
    buf_puts(&b, ",\"msg\":");
    buf_json_str(&b, msg, strlen(msg));
    if (ctx) {
        hlog_kv(&b, "req_id", ctx->req_id);
        hlog_kv(&b, "notif_id", ctx->notif_id);
        hlog_kv(&b, "tenant", ctx->tenant);
        hlog_kv(&b, "channel", ctx->channel);
        if (ctx->attempt > 0)
            buf_printf(&b, ",\"attempt\":%d", ctx->attempt);
        hlog_kv(&b, "err", ctx->err);
    }
    buf_puts(&b, "}\n");
    (void)!write(2, b.data, b.len);
    buf_free(&b);
}
