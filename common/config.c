/* config: the HERALD_* settings table; parsing, validation, help and a redacted log line. */
#include "common/config.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/netallow.h"
#include "common/stream.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_LEVEL };

struct cfg_entry {
    const char *env;
    enum cfg_type type;
    const char *def; /* NULL: unset by default */
    long min, max;
    bool secret;
    size_t off;
    const char *help;
};

#define F(field) offsetof(struct cfg, field)

static const struct cfg_entry cfg_table[] = {
    {"HERALD_DATABASE_URL", CFG_STR, "postgresql://herald@127.0.0.1:5432/herald", 0, 0, true,
     F(database_url), "libpq URI"},
    {"HERALD_DB_TIMEOUT_MS", CFG_INT, "5000", 50, 600000, false, F(db_timeout_ms),
     "deadline for connecting and for each statement"},
    {"HERALD_REDIS_URL", CFG_STR, "redis://127.0.0.1:6379/0", 0, 0, true, F(redis_url),
     "Redis URL (redis:// only)"},
    {"HERALD_REDIS_TIMEOUT_MS", CFG_INT, "1000", 10, 600000, false, F(redis_timeout_ms),
     "deadline for each Redis command"},
    {"HERALD_LISTEN", CFG_STR, "127.0.0.1:8080", 0, 0, false, F(listen), "API address host:port"},
    {"HERALD_METRICS_LISTEN", CFG_STR, NULL, 0, 0, false, F(metrics_listen),
     "separate /metrics and /healthz address (port 0 picks one)"},
    {"HERALD_PUBLIC_URL", CFG_STR, NULL, 0, 0, false, F(public_url),
     "base URL providers call back on"},
    {"HERALD_SMTP_URL", CFG_STR, "smtp://127.0.0.1:1025", 0, 0, false, F(smtp_url),
     "SMTP server (smtp:// or smtps://)"},
    {"HERALD_SMTP_FROM", CFG_STR, "herald@localhost", 0, 0, false, F(smtp_from), "From address"},
    {"HERALD_SMTP_USER", CFG_STR, NULL, 0, 0, false, F(smtp_user), "SMTP login"},
    {"HERALD_SMTP_PASSWORD", CFG_STR, NULL, 0, 0, true, F(smtp_password), "SMTP password"},
    {"HERALD_SMS_BASE_URL", CFG_STR, "https://api.twilio.com", 0, 0, false, F(sms_base_url),
     "Twilio-compatible API base URL"},
    {"HERALD_SMS_ACCOUNT_SID", CFG_STR, NULL, 0, 0, false, F(sms_account_sid), "account SID"},
    {"HERALD_SMS_AUTH_TOKEN", CFG_STR, NULL, 0, 0, true, F(sms_auth_token), "auth token"},
    {"HERALD_SMS_FROM", CFG_STR, NULL, 0, 0, false, F(sms_from), "sender number"},
    {"HERALD_FCM_BASE_URL", CFG_STR, "https://fcm.googleapis.com", 0, 0, false, F(fcm_base_url),
     "FCM base URL"},
    {"HERALD_FCM_PROJECT_ID", CFG_STR, NULL, 0, 0, false, F(fcm_project_id), "FCM project"},
    {"HERALD_FCM_CREDENTIALS_FILE", CFG_STR, NULL, 0, 0, false, F(fcm_credentials_file),
     "service-account JSON"},
    {"HERALD_FCM_ACCESS_TOKEN", CFG_STR, NULL, 0, 0, true, F(fcm_access_token),
     "static access token"},
    {"HERALD_DELIVERY_TIMEOUT_MS", CFG_INT, "15000", 10, 600000, false, F(delivery_timeout_ms),
     "total time for one delivery attempt"},
    {"HERALD_MAX_ATTEMPTS", CFG_INT, "10", 1, 1000, false, F(max_attempts),
     "attempts before dead-lettering"},
    {"HERALD_RETRY_BASE_MS", CFG_INT, "5000", 1, 86400000, false, F(retry_base_ms),
     "first retry delay"},
    {"HERALD_RETRY_MAX_MS", CFG_INT, "36000000", 1, INT_MAX, false, F(retry_max_ms),
     "longest retry delay"},
    {"HERALD_VISIBILITY_TIMEOUT_MS", CFG_INT, "60000", 100, 86400000, false,
     F(visibility_timeout_ms), "reclaim entries held this long"},
    {"HERALD_SHUTDOWN_GRACE_MS", CFG_INT, "25000", 0, 3600000, false, F(shutdown_grace_ms),
     "time to finish in-flight work on SIGTERM"},
    {"HERALD_WEBHOOK_ALLOW_PRIVATE", CFG_BOOL, "false", 0, 0, false, F(webhook_allow_private),
     "allow webhooks to private addresses"},
    {"HERALD_WEBHOOK_ALLOW", CFG_STR, "", 0, 0, false, F(webhook_allow),
     "comma list of host:port or CIDRs webhooks may reach although private"},
    {"HERALD_RATE_LIMIT_PER_SEC", CFG_INT, "1000", 1, 100000000, false, F(rate_limit_per_sec),
     "per-key token refill rate"},
    {"HERALD_RATE_LIMIT_BURST", CFG_INT, "2000", 1, 100000000, false, F(rate_limit_burst),
     "per-key bucket size"},
    {"HERALD_RETENTION_DAYS", CFG_INT, "30", 1, 3650, false, F(retention_days),
     "days final notifications are kept"},
    {"HERALD_RETENTION_INTERVAL_MS", CFG_INT, "60000", 10, 86400000, false,
     F(retention_interval_ms), "how often the retention purge runs"},
    {"HERALD_RETENTION_MS", CFG_INT, "0", 0, 2000000000, false, F(retention_ms),
     "when above 0, the retention window in ms instead of days (soaks, tests)"},
    {"HERALD_PARTITION_MS", CFG_INT, "86400000", 1000, 604800000, false, F(partition_ms),
     "length of the partitions of notifications and their attempts; retention drops whole "
     "partitions"},
    {"HERALD_CORS_ORIGINS", CFG_STR, "", 0, 0, false, F(cors_origins), "allowed CORS origins"},
    {"HERALD_LOG_LEVEL", CFG_LEVEL, "info", 0, 0, false, F(log_level),
     "debug, info, warn or error"},
    {"HERALD_SECRET_GRACE_S", CFG_INT, "86400", 0, 31536000, false, F(secret_grace_s),
     "seconds webhooks carry the old signature after a rotation"},
    {"HERALD_SWEEP_INTERVAL_MS", CFG_INT, "1000", 10, 3600000, false, F(sweep_interval_ms),
     "how often due and orphaned rows are enqueued"},
    {"HERALD_EVENTS_RECHECK_MS", CFG_INT, "250", 10, 60000, false, F(events_recheck_ms),
     "how often a long poll of GET /v1/events woken by an event reads again until it finds it"},
    {"HERALD_SWEEP_GRACE_MS", CFG_INT, "60000", 10, 86400000, false, F(sweep_grace_ms),
     "a pending row in no stream for this long is enqueued again"},
    {"HERALD_LANES", CFG_INT, "8", 1, 64, false, F(lanes),
     "streams per channel and priority, tenants spread over them (the same in every process)"},
    {"HERALD_AUTH_CACHE_MS", CFG_INT, "30000", 0, 30000, false, F(auth_cache_ms),
     "API key and secret cache lifetime"},
    {"HERALD_DB_CONNECTIONS", CFG_INT, "8", 2, 64, false, F(db_connections),
     "PostgreSQL connections per process"},
    {"HERALD_COMMIT_QUEUE_MAX", CFG_INT, "20000", 1, 1000000, false, F(commit_queue_max),
     "notifications waiting for a commit before 503"},
    {"HERALD_COMMIT_CONCURRENCY", CFG_INT, "2", 1, 64, false, F(commit_concurrency),
     "group commits the API runs at once (fewer means larger groups)"},
    {"HERALD_HTTP_MAX_CONNECTIONS", CFG_INT, "4096", 1, 1000000, false, F(http_max_connections),
     "open API connections before accepting pauses"},
    {"HERALD_HTTP_READ_TIMEOUT_MS", CFG_INT, "10000", 100, 600000, false, F(http_read_timeout_ms),
     "time to send a whole request (headers and body)"},
    {"HERALD_HTTP_BODY_BUFFER_MAX", CFG_INT, "134217728", 65536, INT_MAX, false,
     F(http_body_buffer_max),
     "bytes of request bodies held at once, all connections (beyond: 503 with Retry-After)"},
    {"HERALD_AUTH_FAILURES_PER_SEC", CFG_INT, "10", 1, 1000000, false, F(auth_failures_per_sec),
     "failed authentications allowed per client address and second, 10 s of them at once "
     "(beyond: 429)"},
    {"HERALD_STATS_INTERVAL_MS", CFG_INT, "1000", 10, 60000, false, F(stats_interval_ms),
     "how often each process adds its figures for the on-call page to Redis"},
    {"HERALD_HOST_CONCURRENCY", CFG_INT, "32", 1, 100000, false, F(host_concurrency),
     "deliveries in flight per destination host"},
    {"HERALD_BREAKER_FAILURES", CFG_INT, "10", 1, 1000000, false, F(breaker_failures),
     "consecutive timeouts, connection failures or 5xx answers that open a destination's circuit"},
    {"HERALD_BREAKER_OPEN_MS", CFG_INT, "30000", 10, 86400000, false, F(breaker_open_ms),
     "how long a circuit first stays open"},
    {"HERALD_BREAKER_MAX_OPEN_MS", CFG_INT, "600000", 10, 86400000, false, F(breaker_max_open_ms),
     "the longest a circuit stays open (the open time doubles while the destination fails)"},
};

static int cfg_set(struct cfg *c, const struct cfg_entry *e, const char *val, char *err,
                   size_t errlen) {
    void *field = (char *)c + e->off;
    switch (e->type) {
    case CFG_STR:
        *(char **)field = val ? mem_strdup(val) : NULL;
        return 0;
    case CFG_INT: {
        errno = 0;
        char *end;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < e->min || v > e->max) {
            snprintf(err, errlen, "%s: expected an integer from %ld to %ld, got \"%.40s\"", e->env,
                     e->min, e->max, val);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case CFG_BOOL:
        if (!strcasecmp(val, "true") || !strcmp(val, "1") || !strcasecmp(val, "yes")) {
            *(bool *)field = true;
        } else if (!strcasecmp(val, "false") || !strcmp(val, "0") || !strcasecmp(val, "no")) {
            *(bool *)field = false;
        } else {
            snprintf(err, errlen, "%s: expected true or false, got \"%.40s\"", e->env, val);
            return -1;
        }
        return 0;
    case CFG_LEVEL: {
        int lvl = hlog_parse_level(val);
        if (lvl < 0) {
            snprintf(err, errlen, "%s: expected debug, info, warn or error, got \"%.40s\"", e->env,
                     val);
            return -1;
        }
        *(int *)field = lvl;
        return 0;
    }
    }
    return -1;
}

/* cfg_parse_redis: redis://[[user]:password@]host[:port][/db], read with
 * curl's URL parser; the password is percent-decoded. */
static int cfg_parse_redis(struct cfg *c, char *err, size_t errlen) {
    const char *u = c->redis_url;
    char *scheme = NULL, *host = NULL, *port = NULL, *pw = NULL, *path = NULL;
    int rc = -1;
    if (!strncasecmp(u, "rediss://", 9)) {
        snprintf(err, errlen,
                 "HERALD_REDIS_URL: rediss:// is not supported (this Redis client has no TLS)");
        return -1;
    }
    CURLU *url = curl_url();
    if (!url || strncasecmp(u, "redis://", 8) != 0 ||
        curl_url_set(url, CURLUPART_URL, u, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(err, errlen, "HERALD_REDIS_URL: expected redis://host:port/db");
        goto out;
    }
    if (curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(err, errlen, "HERALD_REDIS_URL: missing host");
        goto out;
    }
    c->redis_port = 6379;
    if (curl_url_get(url, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
        char *end;
        long v = strtol(port, &end, 10);
        if (*end || v < 1 || v > 65535) {
            snprintf(err, errlen, "HERALD_REDIS_URL: bad port");
            goto out;
        }
        c->redis_port = (int)v;
    }
    c->redis_db = 0;
    if (curl_url_get(url, CURLUPART_PATH, &path, 0) == CURLUE_OK && path[0] == '/' && path[1]) {
        char *end;
        long db = strtol(path + 1, &end, 10);
        if (*end || end == path + 1 || db < 0 || db > 1000) {
            snprintf(err, errlen, "HERALD_REDIS_URL: bad database number");
            goto out;
        }
        c->redis_db = (int)db;
    }
    if (curl_url_get(url, CURLUPART_PASSWORD, &pw, CURLU_URLDECODE) == CURLUE_OK && *pw)
        c->redis_password = mem_strdup(pw);
    /* an IPv6 literal comes back in brackets; hiredis wants the address */
    size_t hl = strlen(host);
    c->redis_host = host[0] == '[' && hl > 2 ? mem_strndup(host + 1, hl - 2) : mem_strdup(host);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(pw);
    curl_free(path);
    curl_url_cleanup(url);
    return rc;
}

static int cfg_check_listen(const char *env, const char *v, char *err, size_t errlen) {
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v) {
        snprintf(err, errlen, "%s: expected host:port, got \"%.40s\"", env, v);
        return -1;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535) {
        snprintf(err, errlen, "%s: bad port in \"%.40s\"", env, v);
        return -1;
    }
    return 0;
}

static bool cfg_has_prefix(const char *s, const char *p) {
    return s && strncmp(s, p, strlen(p)) == 0;
}

/* cfg_read: cfg_load's work; on failure c may hold some values. */
static int cfg_read(struct cfg *c, char *err, size_t errlen) {
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < HD_ARRAY_LEN(cfg_table); i++) {
        const struct cfg_entry *e = &cfg_table[i];
        const char *val = getenv(e->env);
        if (val && !*val && e->type == CFG_STR && !e->def)
            val = NULL;
        if (!val)
            val = e->def;
        if (!val && e->type != CFG_STR)
            continue;
        if (cfg_set(c, e, val, err, errlen) < 0)
            return -1;
    }
    if (cfg_parse_redis(c, err, errlen) < 0)
        return -1;
    if (cfg_check_listen("HERALD_LISTEN", c->listen, err, errlen) < 0)
        return -1;
    if (c->metrics_listen &&
        cfg_check_listen("HERALD_METRICS_LISTEN", c->metrics_listen, err, errlen) < 0)
        return -1;
    if (c->public_url) {
        size_t n = strlen(c->public_url);
        if (!cfg_has_prefix(c->public_url, "http://") &&
            !cfg_has_prefix(c->public_url, "https://")) {
            snprintf(err, errlen, "HERALD_PUBLIC_URL: expected an http:// or https:// URL");
            return -1;
        }
        if (c->public_url[n - 1] == '/') {
            snprintf(err, errlen, "HERALD_PUBLIC_URL: must not end with a slash");
            return -1;
        }
    }
    if (!cfg_has_prefix(c->smtp_url, "smtp://") && !cfg_has_prefix(c->smtp_url, "smtps://")) {
        snprintf(err, errlen, "HERALD_SMTP_URL: expected smtp:// or smtps://");
        return -1;
    }
    if (!cfg_has_prefix(c->sms_base_url, "http://") &&
        !cfg_has_prefix(c->sms_base_url, "https://")) {
        snprintf(err, errlen, "HERALD_SMS_BASE_URL: expected an http:// or https:// URL");
        return -1;
    }
    if (!cfg_has_prefix(c->fcm_base_url, "http://") &&
        !cfg_has_prefix(c->fcm_base_url, "https://")) {
        snprintf(err, errlen, "HERALD_FCM_BASE_URL: expected an http:// or https:// URL");
        return -1;
    }
    if (c->retry_max_ms < c->retry_base_ms) {
        snprintf(err, errlen, "HERALD_RETRY_MAX_MS: must be at least HERALD_RETRY_BASE_MS");
        return -1;
    }
    char why[HD_ERR_LEN];
    c->webhook_allow_list = netallow_parse(c->webhook_allow, why, sizeof(why));
    if (!c->webhook_allow_list) {
        snprintf(err, errlen, "HERALD_WEBHOOK_ALLOW: %s", why);
        return -1;
    }
    if (c->rate_limit_burst < 1) {
        snprintf(err, errlen, "HERALD_RATE_LIMIT_BURST: must be at least 1");
        return -1;
    }
    stream_set_lanes(c->lanes);
    return 0;
}

int cfg_load(struct cfg *c, char *err, size_t errlen) {
    if (cfg_read(c, err, errlen) == 0)
        return 0;
    cfg_free(c); /* a process that stops here leaks nothing */
    return -1;
}

void cfg_free(struct cfg *c) {
    for (size_t i = 0; i < HD_ARRAY_LEN(cfg_table); i++)
        if (cfg_table[i].type == CFG_STR)
            mem_free(*(char **)((char *)c + cfg_table[i].off));
    mem_free(c->redis_host);
    mem_free(c->redis_password);
    netallow_free(c->webhook_allow_list);
    memset(c, 0, sizeof(*c));
}

void cfg_print_env_help(FILE *out) {
    fprintf(out, "Environment:\n");
    for (size_t i = 0; i < HD_ARRAY_LEN(cfg_table); i++) {
        const struct cfg_entry *e = &cfg_table[i];
        fprintf(out, "  %-30s %s (default: %s)\n", e->env, e->help, e->def ? e->def : "unset");
    }
}

void cfg_log_startup(const struct cfg *c, const char *event) {
    static const char *const lvls[] = {"debug", "info", "warn", "error"};
    struct buf b = {0};
    for (size_t i = 0; i < HD_ARRAY_LEN(cfg_table); i++) {
        const struct cfg_entry *e = &cfg_table[i];
        const void *field = (const char *)c + e->off;
        buf_printf(&b, "%s%s=", i ? " " : "", e->env);
        switch (e->type) {
        case CFG_STR: {
            const char *s = *(char *const *)field;
            buf_puts(&b, !s ? "(unset)" : e->secret ? "(set)" : s);
            break;
        }
        case CFG_INT:
            buf_printf(&b, "%d", *(const int *)field);
            break;
        case CFG_BOOL:
            buf_puts(&b, *(const bool *)field ? "true" : "false");
            break;
        case CFG_LEVEL:
            buf_puts(&b, lvls[*(const int *)field]);
            break;
        }
    }
    HLOG(HLOG_INFO, event, NULL, "%s", b.data);
    buf_free(&b);
}
