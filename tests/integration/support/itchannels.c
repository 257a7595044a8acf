/* itchannels: the email, SMS and push integration tests' helpers: provider
 * stand-ins, rows and workers of any channel, their logs and dead letters. */
#include "itchannels.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* ct_setup: an empty database and Redis and the tenant "acme"; no stand-in yet. */
void ct_setup(void) {
    it_require_stack();
    memset(&wt, 0, sizeof(wt));
    it_reset_db();
    it_redis_flush();
    wt_tenant();
}

/* ct_start_standin: runs tests/receivers/<script> with the given port
 * arguments (NULL-terminated strings) and waits until http_port answers
 * /_health; http_port becomes wt.port. */
void ct_start_standin(const char *script, int http_port, const char *const args[]) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/receivers/%s", it_source_dir(), script);
    const char *argv[8] = {"python3", path};
    int n = 2;
    for (int i = 0; args && args[i] && n < 7; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    wt.port = http_port;
    wt.receiver = it_spawn(argv, NULL);
    char *h = wt_url("/_health");
    cr_assert(it_wait_http_ok(h, 30000), "%s did not start", script);
    mem_free(h);
}

/* ct_insert: a due row of channel as the API stores it, added to the
 * channel's stream; returns its id (mem_free). subject and metadata may be NULL. */
char *ct_insert(const char *channel, const char *recipient, const char *subject, const char *body,
                const char *metadata) {
    char tenant[32];
    snprintf(tenant, sizeof(tenant), "%ld", wt.tenant_id);
    char *id = it_sql_value(
        "INSERT INTO notifications (id, tenant_id, channel, recipient, subject, body, metadata,"
        " created_at, updated_at, due_at, in_stream, enqueued_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, now(), now(), now(), true, now())"
        " RETURNING id",
        tenant, channel, recipient, subject ? subject : IT_SQL_NULL, body,
        metadata ? metadata : IT_SQL_NULL, NULL);
    char key[64];
    it_stream_key(id, key);
    redisReply *r = it_redis_cmd("XADD %s * id %s", key, id);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD failed");
    freeReplyObject(r);
    return id;
}

/* ct_start_worker: herald-worker --channel channel with wt_env and extra. */
pid_t ct_start_worker(const char *channel, const char *const extra[]) {
    return wt_start_channel_worker(channel, extra);
}

/* ct_outcomes: "outcome:status_code,..." of id's attempts in order (mem_free). */
char *ct_outcomes(const char *id) {
    char *s = it_sql_value("SELECT string_agg(outcome || ':' || coalesce(status_code, 0), ','"
                           " ORDER BY attempt) FROM delivery_attempts WHERE notification_id = $1",
                           id, NULL);
    return s ? s : mem_strdup("");
}

/* ct_log_has: true when the worker's log file contains needle. */
bool ct_log_has(pid_t pid, const char *needle) {
    char *path = it_log_path("herald-worker", pid);
    FILE *f = fopen(path, "rb");
    mem_free(path);
    if (!f)
        return false;
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    bool found = b.data && strstr(b.data, needle);
    buf_free(&b);
    return found;
}

/* ct_dlq_has: true when herald:dlq:<channel> holds an entry for id. */
bool ct_dlq_has(const char *channel, const char *id) {
    redisReply *r = it_redis_cmd("XRANGE herald:dlq:%s - +", channel);
    bool found = false;
    for (size_t e = 0; r && r->type == REDIS_REPLY_ARRAY && e < r->elements; e++) {
        redisReply *fields = r->element[e]->element[1];
        for (size_t i = 0; i + 1 < fields->elements; i += 2)
            if (!strcmp(fields->element[i]->str, "id") && !strcmp(fields->element[i + 1]->str, id))
                found = true;
    }
    freeReplyObject(r);
    return found;
}
