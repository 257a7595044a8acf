/* config: every HERALD_* setting, read once from the environment through one table. */
#ifndef HERALD_COMMON_CONFIG_H
#define HERALD_COMMON_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

/* Process exit codes for start-up failures (documented in README). */
#define HD_EXIT_USAGE 2
#define HD_EXIT_CONFIG 3
#define HD_EXIT_DB 4
#define HD_EXIT_REDIS 5

struct cfg {
    char *database_url;
    int db_timeout_ms;
    char *redis_url;
    int redis_timeout_ms;
    char *listen;
    char *metrics_listen; /* NULL when unset */
    char *public_url;     /* NULL when unset; no trailing slash */
    char *smtp_url, *smtp_from, *smtp_user, *smtp_password;
    char *sms_base_url, *sms_account_sid, *sms_auth_token, *sms_from;
    char *fcm_base_url, *fcm_project_id, *fcm_credentials_file, *fcm_access_token;
    int delivery_timeout_ms;
    int max_attempts;
    int retry_base_ms;
    int retry_max_ms;
    int visibility_timeout_ms;
    int shutdown_grace_ms;
    bool webhook_allow_private;
    char *webhook_allow; /* HERALD_WEBHOOK_ALLOW as given; see webhook_allow_list */
    int rate_limit_per_sec;
    int rate_limit_burst;
    int retention_days;
    int retention_interval_ms; /* how often the retention purge runs */
    int retention_ms;          /* > 0: overrides retention_days (soaks and tests) */
    int partition_ms;          /* length of new partitions (ms of UUIDv7 time) */
    char *cors_origins;
    int log_level; /* enum hlog_level */
    int secret_grace_s;
    /* internal tunables, in ms unless named otherwise */
    int sweep_interval_ms;     /* how often the scheduler/sweeper runs */
    int events_recheck_ms;     /* a woken long poll of the event feed reads again this often */
    int sweep_grace_ms;        /* a row due this long and in no stream is re-enqueued */
    int lanes;                 /* streams per channel and priority (tenants spread over them) */
    int auth_cache_ms;         /* API key and tenant secret cache lifetime (<= 30000) */
    int db_connections;        /* PostgreSQL connections per API process */
    int commit_queue_max;      /* requests waiting for a group commit before 503 */
    int commit_concurrency;    /* group commits in flight at once (at most db_connections - 1) */
    int host_concurrency;      /* deliveries in flight per destination host */
    int breaker_failures;      /* consecutive failures that open a circuit */
    int breaker_open_ms;       /* a circuit's first open period */
    int breaker_max_open_ms;   /* its longest open period */
    int http_max_connections;  /* open API connections before accepting pauses */
    int http_read_timeout_ms;  /* to read a whole request, from accept or the last answer */
    int http_body_buffer_max;  /* bytes of request bodies held at once, all connections */
    int auth_failures_per_sec; /* failed authentications per client address (burst: 10 s) */
    int stats_interval_ms;     /* how often the on-call series are added to Redis */
    /* derived from redis_url */
    char *redis_host;
    int redis_port;
    int redis_db;
    char *redis_password; /* NULL when none */
    /* derived from webhook_allow; never NULL after cfg_load (maybe empty) */
    struct netallow *webhook_allow_list;
};

/* cfg_load: reads the environment into c. On a bad value returns -1 with a
 * one-line message naming the variable in err, and c holds nothing (calling
 * cfg_free() on it is harmless). Caller frees with cfg_free(). */
int cfg_load(struct cfg *c, char *err, size_t errlen);
void cfg_free(struct cfg *c);
/* cfg_print_env_help: the variables, their defaults and meaning, for --help. */
void cfg_print_env_help(FILE *out);
/* cfg_log_startup: one info line with every setting, secrets redacted. */
void cfg_log_startup(const struct cfg *c, const char *event);

#endif
