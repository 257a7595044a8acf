/* it_migrate: heraldctl migrate converts an installation of the previous schema (every
 * migration before 006, a schema_migrations table without steps) filled with rows in
 * every state: nothing is lost or changed, the old tables become the first partitions,
 * and listing, reading, attempts, cancel, replay, delivery and retention all work on the
 * converted tables. */
#include "support/itpdb.h"

#include <dirent.h>
#include <ftw.h>
#include <json-c/json.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static pid_t api_pid, worker_pid, receiver_pid;
static char schema_dir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void stop(pid_t *pid) {
    if (*pid > 0) {
        it_kill(*pid, SIGTERM);
        it_wait_exit(*pid, 20000);
        *pid = 0;
    }
}

static void teardown(void) {
    stop(&api_pid);
    stop(&worker_pid);
    stop(&receiver_pid);
    pdb_drop();
    if (schema_dir[0])
        nftw(schema_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(migrate, .fini = teardown, .timeout = 180);

/* old_schema_dir: a directory holding the migrations numbered below 006. */
static void old_schema_dir(void) {
    snprintf(schema_dir, sizeof(schema_dir), "/tmp/herald-it-migrate-XXXXXX");
    cr_assert(mkdtemp(schema_dir), "mkdtemp");
    char src[1024];
    snprintf(src, sizeof(src), "%s/schema", HERALD_SOURCE_DIR);
    DIR *d = opendir(src);
    cr_assert(d);
    struct dirent *e;
    int copied = 0;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) < 4 || strspn(e->d_name, "0123456789") != 3 || atoi(e->d_name) >= 6)
            continue;
        char from[2048], to[2048], chunk[8192];
        snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
        snprintf(to, sizeof(to), "%s/%s", schema_dir, e->d_name);
        FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
        cr_assert(in && out);
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
            cr_assert_eq(fwrite(chunk, 1, n, out), n);
        fclose(in);
        fclose(out);
        copied++;
    }
    closedir(d);
    cr_assert_geq(copied, 4, "001..004 at least");
}

/* ctl: runs heraldctl on the private database; returns its first output line. */
static char *ctl(const char *const *argv) {
    const char *env[] = {pdb.url_env, NULL};
    int code = -1;
    char *out = it_run_capture(argv, env, &code);
    cr_assert_eq(code, 0, "heraldctl %s: %s", argv[1], out);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

/* put: a row of the previous schema, created ms_ago before now, named by n. */
static void put(int n, long ms_ago, const char *status, const char *recipient,
                const char *extra_sql) {
    char ago[32], num[32];
    snprintf(ago, sizeof(ago), "%ld", ms_ago);
    snprintf(num, sizeof(num), "8def-%012d", n);
    pdb_exec("INSERT INTO notifications (id, tenant_id, channel, recipient, subject, body, "
             "metadata, status, created_at, updated_at, due_at, in_stream) SELECT "
             "(left(it_uuid7_floor(ms)::text, 14) || '7abc-' || $3)::uuid, "
             "(SELECT id FROM tenants WHERE name = 'acme'), 'webhook', $4, 'subj', 'body ' || $3, "
             "'{\"k\":\"v\"}', $2, to_timestamp(ms / 1000.0), to_timestamp(ms / 1000.0), "
             "to_timestamp(ms / 1000.0), false FROM (SELECT (extract(epoch FROM now()) * "
             "1000)::bigint - $1::bigint AS ms) t",
             ago, status, num, recipient, NULL);
    if (extra_sql)
        pdb_exec(extra_sql, num, NULL);
}

/* 006's functions are not there yet: the test's own, for put(). */
static void uuid_helper(void) {
    pdb_exec("CREATE FUNCTION it_uuid7_floor(ms bigint) RETURNS uuid LANGUAGE sql AS $$ "
             "SELECT (lpad(to_hex(ms), 12, '0') || '00000000000000000000')::uuid $$",
             NULL);
}

static char *id_of(int n) {
    char num[32];
    snprintf(num, sizeof(num), "%%8def-%012d", n);
    return pdb_value("SELECT id FROM notifications WHERE id::text LIKE $1", num, NULL);
}

static struct it_resp call(const char *listen, const char *method, const char *path,
                           const char *keyv, const char *body) {
    char url[512], auth[200];
    snprintf(url, sizeof(url), "http://%s%s", listen, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", keyv);
    const char *hdr[] = {auth, "Content-Type: application/json", NULL};
    return it_http(method, url, hdr, body, body ? strlen(body) : 0);
}

struct sent_arg {
    const char *id;
    const char *status;
};

static bool has_status(void *arg) {
    struct sent_arg *a = arg;
    char *s = pdb_value("SELECT status FROM notifications WHERE id = $1", a->id, NULL);
    bool ok = strcmp(s, a->status) == 0;
    mem_free(s);
    return ok;
}

static bool first_partition_dropped(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM pg_class WHERE relname IN ('notifications_p0', "
                    "'delivery_attempts_p0')") == 0;
}

static const char fingerprint_sql[] =
    /* kind (schema/009) and the first attempt's columns (schema/010) come after the
     * conversion, with their defaults on every row */
    "SELECT (SELECT md5(string_agg((to_jsonb(n) - 'kind' - 'first_started_at' - "
    "'first_duration_ms' - 'first_status_code')::text, '|' ORDER BY id))"
    " FROM notifications n) || ' ' || "
    "(SELECT md5(string_agg(a::text, '|' ORDER BY notification_id, attempt)) FROM "
    "delivery_attempts a) || ' ' || (SELECT count(*) FROM notifications) || ' ' || "
    "(SELECT count(*) FROM delivery_attempts)";

Test(migrate, converts_a_filled_installation_of_the_previous_schema) {
    it_require_stack();
    pdb_create("herald_it_migrate");
    old_schema_dir();
    char *out = pdb_migrate(schema_dir, NULL);
    cr_assert(strstr(out, "applied 001_init.sql"), "%s", out);
    mem_free(out);
    /* schema_migrations as heraldctl made it before migrations had steps */
    pdb_exec("ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey, "
             "DROP COLUMN step, ADD PRIMARY KEY (version)",
             NULL);

    receiver_pid = 0;
    int rport = it_free_port();
    char rport_s[16], script[1024], hook_p1[128], hook_f[128], hook_new[128];
    snprintf(rport_s, sizeof(rport_s), "%d", rport);
    snprintf(script, sizeof(script), "%s/tests/receivers/webhook_receiver.py", HERALD_SOURCE_DIR);
    const char *rargv[] = {"python3", script, rport_s, NULL};
    receiver_pid = it_spawn(rargv, NULL);
    snprintf(hook_p1, sizeof(hook_p1), "http://127.0.0.1:%d/p1", rport);
    snprintf(hook_f, sizeof(hook_f), "http://127.0.0.1:%d/f", rport);
    snprintf(hook_new, sizeof(hook_new), "http://127.0.0.1:%d/new", rport);

    const char *tc[] = {"heraldctl", "tenants", "create", "acme", NULL};
    mem_free(ctl(tc));
    const char *kc[] = {"heraldctl", "keys", "create", "--tenant", "acme", "--admin", NULL};
    char *key = ctl(kc);
    uuid_helper();

    /* every state, with attempts; 1 pending and due, 2 pending for later, 3 sent,
     * 4 a delivered SMS, 5 failed after three attempts, 6 cancelled; and 2,000 more sent */
    put(1, 600000, "pending", hook_p1, NULL);
    put(2, 500000, "pending", hook_p1,
        "UPDATE notifications SET send_at = now() + interval '1 hour', due_at = now() + "
        "interval '1 hour' WHERE id::text LIKE '%' || $1");
    put(3, 400000, "sent", hook_p1,
        "INSERT INTO delivery_attempts SELECT id, 1, now(), 7, 'success', 204, NULL FROM "
        "notifications WHERE id::text LIKE '%' || $1");
    put(4, 300000, "delivered", "+15550001111",
        "UPDATE notifications SET channel = 'sms', provider_ref = 'SM' || $1, sent_at = now(), "
        "delivered_at = now() WHERE id::text LIKE '%' || $1");
    put(5, 200000, "failed", hook_f,
        "WITH x AS (UPDATE notifications SET attempts = 3, failed_at = now(), last_error = "
        "'HTTP 500' WHERE id::text LIKE '%' || $1 RETURNING id) INSERT INTO delivery_attempts "
        "SELECT id, g, now(), 3, CASE WHEN g = 3 THEN 'failed' ELSE 'retry' END, 500, 'HTTP "
        "500' FROM x, generate_series(1, 3) g");
    put(6, 100000, "cancelled", hook_p1, NULL);
    pdb_exec("INSERT INTO notifications (id, tenant_id, channel, recipient, body, status, "
             "attempts, created_at, updated_at, sent_at, due_at, in_stream) SELECT (left("
             "it_uuid7_floor((extract(epoch FROM now()) * 1000)::bigint - 700000 + g)::text, "
             "14) || '7000-8000-' || lpad(g::text, 12, '0'))::uuid, (SELECT id FROM tenants), "
             "'webhook', 'https://bulk.example/' || g % 7, 'bulk', 'sent', 1, now(), now(), now(), "
             "now(), false FROM generate_series(1, 2000) g",
             NULL);
    pdb_exec("INSERT INTO delivery_attempts SELECT id, 1, now(), 4, 'success', 200, NULL FROM "
             "notifications WHERE body = 'bulk'",
             NULL);
    char *before = pdb_value(fingerprint_sql, NULL);

    /* the conversion */
    const char *penv[] = {"HERALD_PARTITION_MS=1000", NULL};
    out = pdb_migrate(NULL, penv);
    cr_expect(strstr(out, "applied 006_partitions.sql") &&
                  strstr(out, "applied 006a_partitions_build.sql") &&
                  strstr(out, "applied 006b_partitions_convert.sql"),
              "%s", out);
    mem_free(out);
    char *after = pdb_value(fingerprint_sql, NULL);
    cr_expect_str_eq(after, before, "every row and attempt kept, unchanged");
    cr_expect_eq(pdb_long("SELECT count(*) FROM pg_class WHERE relname IN ('notifications', "
                          "'delivery_attempts') AND relkind = 'p'"),
                 2);
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications_p0"), 2006,
                 "the old table is the first partition: no row was copied");
    cr_expect_eq(pdb_long("SELECT count(*) FROM pg_class WHERE relname ~ "
                          "'notifications_(p0_)?(list|list_recipient|due|final)$'"),
                 0, "the indexes nothing needs are gone");
    cr_expect_eq(pdb_long("SELECT count(*) FROM schema_migrations WHERE version = 6"), 3,
                 "the steps are recorded");
    mem_free(before);
    mem_free(after);
    out = pdb_migrate(NULL, penv);
    cr_expect(strstr(out, "up to date"), "%s", out);
    mem_free(out);

    /* the API and a worker on the converted tables */
    char listen[64], lenv[96];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", it_free_port());
    snprintf(lenv, sizeof(lenv), "HERALD_LISTEN=%s", listen);
    const char *env[] = {lenv,
                         "HERALD_PARTITION_MS=1000",
                         "HERALD_SWEEP_INTERVAL_MS=100",
                         "HERALD_SWEEP_GRACE_MS=500",
                         "HERALD_WEBHOOK_ALLOW_PRIVATE=true",
                         "HERALD_RETRY_BASE_MS=50",
                         NULL};
    const char *aargv[] = {"herald-api", NULL};
    const char *wargv[] = {"herald-worker", "--channel", "webhook", NULL};
    api_pid = pdb_spawn(aargv, env);
    worker_pid = pdb_spawn(wargv, env);
    char url[128];
    snprintf(url, sizeof(url), "http://%s/healthz", listen);
    cr_assert(it_wait_http_ok(url, 20000));

    char *id1 = id_of(1), *id2 = id_of(2), *id3 = id_of(3), *id5 = id_of(5);
    char path[256];
    /* list: newest first, the old rows included; the recipient filter */
    struct it_resp r = call(listen, "GET", "/v1/notifications?limit=3", key, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    char *newest = pdb_value("SELECT id FROM notifications ORDER BY id DESC LIMIT 1", NULL);
    cr_expect(strstr(r.body, newest), "the newest row first: %s", r.body);
    mem_free(newest);
    it_resp_free(&r);
    char q[300];
    snprintf(q, sizeof(q), "/v1/notifications?recipient=%s", hook_f);
    r = call(listen, "GET", q, key, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, id5) && !strstr(r.body, id1), "%s", r.body);
    it_resp_free(&r);
    /* get and attempts */
    snprintf(path, sizeof(path), "/v1/notifications/%s", id3);
    r = call(listen, "GET", path, key, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "\"status\":\"sent\""), "%s", r.body);
    it_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/notifications/%s/attempts", id5);
    r = call(listen, "GET", path, key, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "\"attempt\":3") && strstr(r.body, "\"outcome\":\"failed\""), "%s",
              r.body);
    it_resp_free(&r);
    /* cancel the scheduled one */
    snprintf(path, sizeof(path), "/v1/notifications/%s/cancel", id2);
    r = call(listen, "POST", path, key, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    it_resp_free(&r);
    /* replay the dead letter: delivered, its history kept */
    char body[200];
    snprintf(body, sizeof(body), "{\"ids\":[\"%s\"]}", id5);
    r = call(listen, "POST", "/v1/admin/dlq/webhook/replay", key, body);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(strstr(r.body, "\"replayed\":1"), "%s", r.body);
    it_resp_free(&r);
    struct sent_arg a5 = {id5, "sent"}, a1 = {id1, "sent"};
    cr_expect(it_eventually(has_status, &a5, 30000), "the replayed dead letter is delivered");
    cr_expect(it_eventually(has_status, &a1, 30000), "the old pending row is delivered");
    char *natt =
        pdb_value("SELECT count(*) FROM delivery_attempts WHERE notification_id = $1", id5, NULL);
    cr_expect_str_eq(natt, "4", "attempts keep counting after the replay");
    mem_free(natt);
    /* a new notification, once the clock has passed the conversion's cutoff: a new
     * partition, delivered */
    pdb_past_cutoff();
    snprintf(body, sizeof(body), "{\"channel\":\"webhook\",\"recipient\":\"%s\",\"body\":\"n\"}",
             hook_new);
    r = call(listen, "POST", "/v1/notifications", key, body);
    cr_expect_eq(r.status, 201, "%s", r.body);
    struct json_object *o = json_tokener_parse(r.body);
    struct json_object *idv = NULL;
    cr_assert(o && json_object_object_get_ex(o, "id", &idv));
    char *idn = mem_strdup(json_object_get_string(idv));
    json_object_put(o);
    it_resp_free(&r);
    struct sent_arg an = {idn, "sent"};
    cr_expect(it_eventually(has_status, &an, 30000), "a new notification is delivered");
    char *part =
        pdb_value("SELECT tableoid::regclass::text FROM notifications WHERE id = $1", idn, NULL);
    cr_expect(strcmp(part, "notifications_p0") != 0 && strncmp(part, "notifications_p", 15) == 0,
              "%s", part);
    mem_free(part);

    /* retention: with every old row final, the first partition goes whole */
    stop(&api_pid);
    const char *renv[] = {lenv, "HERALD_PARTITION_MS=1000", "HERALD_RETENTION_MS=2000",
                          "HERALD_RETENTION_INTERVAL_MS=100", NULL};
    api_pid = pdb_spawn(aargv, renv);
    cr_expect(it_eventually(first_partition_dropped, NULL, 30000),
              "the converted table is dropped once its rows are final and old");
    cr_expect_eq(pdb_long("SELECT count(*) FROM notifications WHERE body LIKE 'body %' OR "
                          "body = 'bulk'"),
                 0);
    mem_free(id1);
    mem_free(id2);
    mem_free(id3);
    mem_free(id5);
    mem_free(idn);
    mem_free(key);
}
