/* itsup: integration-test harness; owns the test's PostgreSQL connection, the
 * processes it starts and the blocking HTTP client (see itsup.h). */
#include "itsup.h"
#include "common/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>

#include "common/mem.h"

#define IT_MAX_PARAMS 64
#define IT_CAPTURE_TIMEOUT_MS 60000
#define IT_STACK_TIMEOUT_MS 120000
#define IT_HTTP_TIMEOUT_MS 10000

const char it_sql_null[] = "<SQL NULL>";

/* Per test process: Criterion runs each test in its own process. */
static char *bin_dir;
static char *source_dir;
static PGconn *db_conn;
static bool curl_ready;

__attribute__((noreturn, format(printf, 1, 2))) static void it_fail(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_assert_fail("%s", msg);
    criterion_abort_test(); /* not reached; tells the compiler so */
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

pid_t it_redis_pid(void) {
    char path[512];
    snprintf(path, sizeof(path), "%s/redis/redis.pid", getenv("HERALD_TEST_STACK_DIR"));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    long pid = 0;
    cr_assert_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

const char *it_source_dir(void) {
    if (!source_dir)
        it_fail("no source directory: the test was built without HERALD_SOURCE_DIR");
    return source_dir;
}

void it_set_dirs(const char *bin, const char *src) {
    mem_free(bin_dir);
    mem_free(source_dir);
    bin_dir = bin ? mem_strdup(bin) : NULL;
    source_dir = src ? mem_strdup(src) : NULL;
}

/* ---- environment ------------------------------------------------------ */

static bool in_ci(void) {
    const char *ci = getenv("CI");
    return ci && *ci && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

/* require_env: the value of name; a missing one skips the test, or fails it
 * under CI. */
static const char *require_env(const char *name) {
    const char *v = getenv(name);
    if (v && *v) {
        return v;
    }
    if (in_ci()) {
        it_fail("%s is not set and CI=%s: integration tests need the PostgreSQL and Redis that "
                "tests/run starts; under CI a missing server is a failure, not a skip",
                name, getenv("CI"));
    }
    /* Straight to stderr: a cr_log_warn would make Criterion exit non-zero
     * (Snaipe/Criterion#169), turning a skip into a failure. */
    fprintf(stderr,
            "*** SKIPPED: %s is not set. Integration tests need the real PostgreSQL and Redis "
            "that tests/run starts; run tests/run instead. ***\n",
            name);
    cr_skip_test("%s not set: integration test skipped (run tests/run)", name);
}

void it_require_stack(void) {
    require_env("HERALD_TEST_DATABASE_URL");
    require_env("HERALD_TEST_REDIS_URL");
}

/* ---- PostgreSQL ------------------------------------------------------- */

static void quiet_notices(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

PGconn *it_db(void) {
    if (db_conn && PQstatus(db_conn) == CONNECTION_OK) {
        return db_conn;
    }
    if (db_conn) {
        PQreset(db_conn);
    } else {
        const char *keys[] = {"dbname", "connect_timeout", NULL};
        const char *vals[] = {require_env("HERALD_TEST_DATABASE_URL"), "5", NULL};
        db_conn = PQconnectdbParams(keys, vals, 1);
    }
    if (PQstatus(db_conn) != CONNECTION_OK) {
        char err[512];
        snprintf(err, sizeof err, "%s", PQerrorMessage(db_conn));
        it_db_close();
        it_fail("cannot connect to the test database: %s", err);
    }
    PQsetNoticeProcessor(db_conn, quiet_notices, NULL);
    return db_conn;
}

void it_db_close(void) {
    if (db_conn) {
        PQfinish(db_conn);
        db_conn = NULL;
    }
}

static bool result_ok(const PGresult *r) {
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PGresult *it_sqlv(const char *sql, int nparams, const char *const params[]) {
    PGconn *c = it_db();
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!result_ok(r) && PQstatus(c) == CONNECTION_BAD) {
        /* The server went away under the cached connection (a test restarted
         * it): the statement did not run, so one retry on a new one is safe. */
        PQclear(r);
        c = it_db();
        r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    if (!result_ok(r)) {
        char err[1024];
        snprintf(err, sizeof err, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        it_fail("SQL failed: %s\n  statement: %s", err, sql);
    }
    return r;
}

static PGresult *sql_va(const char *sql, va_list ap) {
    const char *params[IT_MAX_PARAMS];
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL) {
        if (n == IT_MAX_PARAMS) {
            it_fail("it_sql: more than %d parameters", IT_MAX_PARAMS);
        }
        params[n++] = p == it_sql_null ? NULL : p;
    }
    return it_sqlv(sql, n, params);
}

PGresult *it_sql(const char *sql, ...) {
    va_list ap;
    va_start(ap, sql);
    PGresult *r = sql_va(sql, ap);
    va_end(ap);
    return r;
}

void it_sql_exec(const char *sql, ...) {
    va_list ap;
    va_start(ap, sql);
    PGresult *r = sql_va(sql, ap);
    va_end(ap);
    PQclear(r);
}

char *it_sql_value(const char *sql, ...) {
    va_list ap;
    va_start(ap, sql);
    PGresult *r = sql_va(sql, ap);
    va_end(ap);
    char *v = NULL;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
        v = mem_strdup(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return v;
}

void it_expect_value(const char *want, const char *sql, ...) {
    va_list ap;
    va_start(ap, sql);
    PGresult *r = sql_va(sql, ap);
    va_end(ap);
    const char *got =
        PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL;
    bool same = want && got ? strcmp(want, got) == 0 : want == got;
    cr_expect(same, "%s: got %s, want %s", sql, got ? got : "(null)", want ? want : "(null)");
    PQclear(r);
}

void it_reset_db(void) {
    it_sql_exec("DO $$\n"
                "DECLARE tables text;\n"
                "BEGIN\n"
                "  SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables\n"
                "    FROM pg_tables\n"
                "   WHERE schemaname = 'public' AND tablename <> 'schema_migrations';\n"
                "  IF tables IS NOT NULL THEN\n"
                "    EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';\n"
                "  END IF;\n"
                "END $$",
                NULL);
}

void it_fresh_stack(void) {
    it_require_stack();
    it_reset_db();
    it_redis_flush();
}

/* ---- Redis ------------------------------------------------------------ */

struct redis_addr {
    char host[256];
    int port;
    int db;
};

static void parse_redis_url(const char *url, struct redis_addr *a) {
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        it_fail("HERALD_TEST_REDIS_URL must be redis://host:port[/db], got %s", url);
    }
    p += 8;
    if (strchr(p, '@')) {
        it_fail("HERALD_TEST_REDIS_URL: credentials are not supported by the harness: %s", url);
    }
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0 || hlen >= sizeof a->host) {
        it_fail("HERALD_TEST_REDIS_URL: bad host in %s", url);
    }
    memcpy(a->host, p, hlen);
    a->host[hlen] = '\0';
    p += hlen;
    a->port = 6379;
    a->db = 0;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535) {
            it_fail("HERALD_TEST_REDIS_URL: bad port in %s", url);
        }
        a->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (*end || db < 0 || db > 1024) {
            it_fail("HERALD_TEST_REDIS_URL: bad database in %s", url);
        }
        a->db = (int)db;
    }
}

redisContext *it_redis_connect(void) {
    struct redis_addr a;
    parse_redis_url(require_env("HERALD_TEST_REDIS_URL"), &a);
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(a.host, a.port, tv);
    if (!c || c->err) {
        if (c) {
            redisFree(c);
        }
        return NULL;
    }
    struct timeval cmd_tv = {.tv_sec = 5, .tv_usec = 0};
    redisSetTimeout(c, cmd_tv);
    if (a.db != 0) {
        redisReply *r = redisCommand(c, "SELECT %d", a.db);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) {
            freeReplyObject(r);
        }
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

bool it_redis_ping(void) {
    redisContext *c = it_redis_connect();
    if (!c) {
        return false;
    }
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r) {
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

redisReply *it_redis_cmd(const char *fmt, ...) {
    redisContext *c = it_redis_connect();
    if (!c) {
        it_fail("cannot connect to the test Redis at %s", getenv("HERALD_TEST_REDIS_URL"));
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) {
        char err[256];
        snprintf(err, sizeof err, "%s", c->errstr);
        redisFree(c);
        it_fail("Redis command '%s' failed: %s", fmt, err);
    }
    redisFree(c);
    return r;
}

void it_redis_flush(void) {
    redisReply *r = it_redis_cmd("FLUSHALL");
    bool ok = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) {
        it_fail("FLUSHALL failed on the test Redis");
    }
}

long long it_stream_len(const char *channel) {
    int ch = notif_channel_parse(channel);
    long long n = 0;
    for (int i = 0; ch >= 0 && i < stream_count(); i++) {
        char key[STREAM_KEY_LEN];
        stream_key_at((enum notif_channel)ch, i, key);
        redisReply *x = it_redis_cmd("XLEN %s", key);
        if (x->type == REDIS_REPLY_INTEGER)
            n += x->integer;
        freeReplyObject(x);
    }
    return n;
}

int it_stream_has(const char *channel, const char *id) {
    int ch = notif_channel_parse(channel);
    int n = 0;
    for (int i = 0; ch >= 0 && i < stream_count(); i++) {
        char key[STREAM_KEY_LEN];
        stream_key_at((enum notif_channel)ch, i, key);
        redisReply *x = it_redis_cmd("XRANGE %s - +", key);
        for (size_t e = 0; x->type == REDIS_REPLY_ARRAY && e < x->elements; e++) {
            const char *nid = stream_entry_notif_id(x->element[e], NULL);
            n += nid && !strcmp(nid, id);
        }
        freeReplyObject(x);
    }
    return n;
}

/* it_stream_groups: sums a field of the "herald" group over the channel's
 * streams; -1 when a group reports it unknown. */
static long long it_stream_groups(const char *channel, bool lag) {
    int ch = notif_channel_parse(channel);
    long long n = 0;
    for (int i = 0; ch >= 0 && i < stream_count(); i++) {
        char key[STREAM_KEY_LEN];
        stream_key_at((enum notif_channel)ch, i, key);
        redisReply *x = it_redis_cmd("XINFO GROUPS %s", key);
        struct stream_group g;
        if (stream_group_parse(x, &g, NULL) && g.group) {
            if (lag && g.lag < 0)
                n = -1;
            else if (n >= 0)
                n += lag ? g.lag : g.pending;
        }
        freeReplyObject(x);
    }
    return n;
}

long long it_stream_pending(const char *channel) {
    return it_stream_groups(channel, false);
}

long long it_stream_lag(const char *channel) {
    return it_stream_groups(channel, true);
}

void it_stream_key(const char *id, char *out) {
    char *ch = it_sql_value("SELECT channel FROM notifications WHERE id = $1", id, NULL);
    char *tenant =
        it_sql_value("SELECT tenant_id::text FROM notifications WHERE id = $1", id, NULL);
    char *prio = it_sql_value("SELECT priority FROM notifications WHERE id = $1", id, NULL);
    int c = notif_channel_parse(ch), p = notif_priority_parse(prio);
    char key[STREAM_KEY_LEN];
    stream_key_at(c < 0 ? CH_WEBHOOK : (enum notif_channel)c,
                  stream_index(p < 0 ? PRIO_NORMAL : (enum notif_priority)p,
                               stream_lane_of(strtoll(tenant, NULL, 10))),
                  key);
    snprintf(out, 64, "%s", key);
    mem_free(ch);
    mem_free(tenant);
    mem_free(prio);
}

/* ---- processes -------------------------------------------------------- */

static const char *log_dir(void) {
    static char dir[PATH_MAX];
    if (!dir[0]) {
        const char *stack = getenv("HERALD_TEST_STACK_DIR");
        const char *tmp = getenv("TMPDIR");
        if (stack && *stack) {
            snprintf(dir, sizeof dir, "%s/logs", stack);
        } else {
            snprintf(dir, sizeof dir, "%s/herald-it-logs", tmp && *tmp ? tmp : "/tmp");
        }
        if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
            int e = errno;
            dir[0] = '\0';
            it_fail("cannot create log directory: %s", strerror(e));
        }
    }
    return dir;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void format_log_path(char *buf, size_t size, const char *name, pid_t pid) {
    int n = snprintf(buf, size, "%s/%s.%ld.log", log_dir(), base_name(name), (long)pid);
    cr_assert(n >= 0 && (size_t)n < size, "log path too long for %s", name);
}

char *it_log_path(const char *name, pid_t pid) {
    char path[PATH_MAX];
    format_log_path(path, sizeof path, name, pid);
    return mem_strdup(path);
}

/* resolve_exe: argv0 as given if it has a '/', else in the build dir, else
 * as a bare name for execvp-like lookup in PATH. Caller frees. */
static char *resolve_exe(const char *argv0) {
    if (strchr(argv0, '/')) {
        return mem_strdup(argv0);
    }
    if (bin_dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", bin_dir, argv0);
        if (access(path, X_OK) == 0) {
            return mem_strdup(path);
        }
    }
    const char *pathvar = getenv("PATH");
    if (pathvar) {
        const char *p = pathvar;
        while (*p) {
            size_t len = strcspn(p, ":");
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%.*s/%s", (int)len, p, argv0);
            if (len > 0 && access(path, X_OK) == 0) {
                return mem_strdup(path);
            }
            p += len;
            if (*p == ':') {
                p++;
            }
        }
    }
    it_fail("executable %s not found in %s or PATH", argv0, bin_dir ? bin_dir : "(no build dir)");
}

static bool env_key_eq(const char *a, const char *b) {
    size_t la = strcspn(a, "="), lb = strcspn(b, "=");
    return la == lb && strncmp(a, b, la) == 0;
}

/* child_env: the environment it_spawn documents. The array and the two URL
 * strings are owned by *owned (free with free_env); other entries are
 * borrowed from environ and extra_env. */
struct env_list {
    char **vars;
    char *db_var;
    char *redis_var;
};

static void build_env(struct env_list *e, const char *const extra_env[]) {
    size_t n = 0, extra = 0;
    while (environ[n]) {
        n++;
    }
    while (extra_env && extra_env[extra]) {
        extra++;
    }
    e->vars = mem_calloc(n + extra + 3, sizeof(char *));
    const char *db = getenv("HERALD_TEST_DATABASE_URL");
    const char *redis = getenv("HERALD_TEST_REDIS_URL");
    size_t len = strlen("HERALD_DATABASE_URL=") + strlen(db ? db : "") + 1;
    e->db_var = mem_alloc(len);
    snprintf(e->db_var, len, "HERALD_DATABASE_URL=%s", db ? db : "");
    len = strlen("HERALD_REDIS_URL=") + strlen(redis ? redis : "") + 1;
    e->redis_var = mem_alloc(len);
    snprintf(e->redis_var, len, "HERALD_REDIS_URL=%s", redis ? redis : "");

    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = environ[i];
        if (strncmp(v, "HERALD_", 7) == 0 && strncmp(v, "HERALD_TEST_", 12) != 0) {
            continue;
        }
        bool overridden = false;
        for (size_t j = 0; j < extra; j++) {
            if (env_key_eq(v, extra_env[j])) {
                overridden = true;
            }
        }
        if (!overridden) {
            e->vars[k++] = (char *)v;
        }
    }
    bool db_given = false, redis_given = false;
    for (size_t j = 0; j < extra; j++) {
        db_given = db_given || env_key_eq(extra_env[j], "HERALD_DATABASE_URL=");
        redis_given = redis_given || env_key_eq(extra_env[j], "HERALD_REDIS_URL=");
        e->vars[k++] = (char *)extra_env[j];
    }
    if (db && !db_given) {
        e->vars[k++] = e->db_var;
    }
    if (redis && !redis_given) {
        e->vars[k++] = e->redis_var;
    }
    e->vars[k] = NULL;
}

static void free_env(struct env_list *e) {
    mem_free(e->vars);
    mem_free(e->db_var);
    mem_free(e->redis_var);
}

/* put_pid: writes pid in decimal at dst (async-signal-safe). */
static void put_pid(char *dst, long pid) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid > 0);
    while (n > 0) {
        *dst++ = tmp[--n];
    }
    strcpy(dst, ".log");
}

static void close_from(int lowfd) {
    if (close_range((unsigned)lowfd, ~0U, 0) == 0) {
        return;
    }
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = lowfd; fd < (max > 0 && max < 65536 ? max : 4096); fd++) {
        close(fd);
    }
}

/* start_child: forks and execs argv with stdout to out_fd (or the log when
 * out_fd < 0) and stderr to the log. Only async-signal-safe calls after fork. */
static pid_t start_child(const char *const argv[], const char *const extra_env[], int out_fd) {
    if (!argv || !argv[0]) {
        it_fail("it_spawn: empty argv");
    }
    char *exe = resolve_exe(argv[0]);
    struct env_list env;
    build_env(&env, extra_env);
    /* "<logdir>/<name>." here; the child appends "<pid>.log". */
    char logpath[PATH_MAX];
    int plen = snprintf(logpath, sizeof logpath, "%s/%s.", log_dir(), base_name(argv[0]));
    if (plen < 0 || (size_t)plen + 32 > sizeof logpath) {
        it_fail("log path too long");
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == -1) {
        int e = errno;
        free_env(&env);
        mem_free(exe);
        it_fail("fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Never outlive the test process, even when it crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        put_pid(logpath + plen, (long)getpid());
        int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (logfd < 0 || nullfd < 0) {
            _exit(127);
        }
        if (dup2(nullfd, 0) < 0 || dup2(out_fd >= 0 ? out_fd : logfd, 1) < 0 ||
            dup2(logfd, 2) < 0) {
            _exit(127);
        }
        close_from(3);
        /* exec keeps ignored signals and the mask: give the child defaults. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve(exe, (char *const *)argv, env.vars);
        static const char msg[] = "it_spawn: execve failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    free_env(&env);
    mem_free(exe);
    return pid;
}

pid_t it_spawn(const char *const argv[], const char *const extra_env[]) {
    return start_child(argv, extra_env, -1);
}

void it_kill(pid_t pid, int sig) {
    if (pid <= 0) {
        it_fail("it_kill: bad pid %ld", (long)pid);
    }
    if (kill(pid, sig) == -1 && errno != ESRCH) {
        it_fail("kill(%ld, %d): %s", (long)pid, sig, strerror(errno));
    }
}

static int decode_status(int st) {
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st)) {
        return 128 + WTERMSIG(st);
    }
    return -1;
}

int it_wait_exit(pid_t pid, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            return decode_status(st);
        }
        if (r == -1 && errno != EINTR) {
            it_fail("waitpid(%ld): %s", (long)pid, strerror(errno));
        }
        if (now_ms() >= deadline) {
            return -1;
        }
        sleep_ms(10);
    }
}

char *it_run_capture(const char *const argv[], const char *const extra_env[], int *exit_code) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == -1) {
        it_fail("pipe: %s", strerror(errno));
    }
    pid_t pid = start_child(argv, extra_env, fds[1]);
    close(fds[1]);

    size_t len = 0, cap = 4096;
    char *out = mem_alloc(cap);
    int64_t deadline = now_ms() + IT_CAPTURE_TIMEOUT_MS;
    int status = -1;
    bool exited = false, eof = false;
    while (!eof) {
        /* Once the child is gone, drain what it wrote without waiting on
         * grandchildren that may have inherited the pipe. */
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pfd, 1, exited ? 0 : 50);
        if (pr == -1 && errno != EINTR) {
            it_fail("poll: %s", strerror(errno));
        }
        if (pr > 0) {
            if (cap - len < 1024) {
                cap *= 2;
                out = mem_realloc(out, cap);
            }
            ssize_t n = read(fds[0], out + len, cap - len - 1);
            if (n > 0) {
                len += (size_t)n;
                continue;
            }
            if (n == 0) {
                eof = true;
            } else if (errno != EINTR && errno != EAGAIN) {
                it_fail("read: %s", strerror(errno));
            }
        } else if (pr == 0 && exited) {
            break;
        }
        if (!exited) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = true;
                status = decode_status(st);
            } else if (now_ms() > deadline) {
                kill(pid, SIGKILL);
                it_wait_exit(pid, 5000);
                close(fds[0]);
                mem_free(out);
                it_fail("%s did not finish within %d ms", argv[0], IT_CAPTURE_TIMEOUT_MS);
            }
        }
    }
    close(fds[0]);
    if (!exited) {
        status = it_wait_exit(pid, IT_CAPTURE_TIMEOUT_MS);
        if (status == -1) {
            kill(pid, SIGKILL);
            it_wait_exit(pid, 5000);
            mem_free(out);
            it_fail("%s closed stdout but did not exit", argv[0]);
        }
    }
    out[len] = '\0';
    if (exit_code) {
        *exit_code = status;
    }
    return out;
}

void it_stack(const char *subcmd) {
    const char *dir = require_env("HERALD_TEST_STACK_DIR");
    if (!source_dir) {
        it_fail("it_stack: source directory unknown (HERALD_SOURCE_DIR not compiled in)");
    }
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/scripts/stack.sh", source_dir);
    const char *const argv[] = {script, subcmd, dir, NULL};
    pid_t pid = start_child(argv, NULL, -1);
    int status = it_wait_exit(pid, IT_STACK_TIMEOUT_MS);
    if (status != 0) {
        if (status == -1) {
            kill(pid, SIGKILL);
            it_wait_exit(pid, 5000);
        }
        char log[PATH_MAX];
        format_log_path(log, sizeof log, script, pid);
        it_fail("scripts/stack.sh %s failed (status %d); see %s", subcmd, status, log);
    }
}

int it_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        it_fail("socket: %s", strerror(errno));
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t slen = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
        getsockname(fd, (struct sockaddr *)&sa, &slen) == -1) {
        int e = errno;
        close(fd);
        it_fail("bind 127.0.0.1:0: %s", strerror(e));
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- HTTP ------------------------------------------------------------- */

struct growbuf {
    char *p;
    size_t len;
    size_t cap;
};

static void gb_append(struct growbuf *b, const char *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        b->p = mem_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg) {
    gb_append(arg, data, size * nmemb);
    return size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg) {
    struct growbuf *b = arg;
    size_t n = size * nmemb;
    /* A new status line starts a new response (after 100 Continue): keep
     * only the final one. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        b->len = 0;
    }
    gb_append(b, data, n);
    return n;
}

static bool has_header(const char *const headers[], const char *name) {
    size_t nlen = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++) {
        if (strncasecmp(headers[i], name, nlen) == 0 && headers[i][nlen] == ':') {
            return true;
        }
    }
    return false;
}

static struct it_resp http_do(const char *method, const char *url, const char *const headers[],
                              const char *body, size_t body_len, long timeout_ms) {
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            it_fail("curl_global_init failed");
        }
        curl_ready = true;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        it_fail("curl_easy_init failed");
    }
    struct growbuf bb = {0}, hb = {0};
    gb_append(&bb, "", 0);
    gb_append(&hb, "", 0);

    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++) {
        list = curl_slist_append(list, headers[i]);
    }
    /* "Name:" with no value removes a header libcurl would add itself. */
    if (!has_header(headers, "Expect")) {
        list = curl_slist_append(list, "Expect:");
    }
    if (!has_header(headers, "Content-Type")) {
        list = curl_slist_append(list, "Content-Type:");
    }

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hb);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!(strcmp(method, "GET") == 0 && !body) && !(strcmp(method, "POST") == 0 && body)) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    struct it_resp resp = {0};
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    resp.body = bb.p;
    resp.body_len = bb.len;
    resp.headers = hb.p;
    return resp;
}

struct it_resp it_http(const char *method, const char *url, const char *const headers[],
                       const char *body, size_t body_len) {
    return http_do(method, url, headers, body, body_len, IT_HTTP_TIMEOUT_MS);
}

double it_metric_value(const char *text, const char *series) {
    const char *p = text;
    size_t n = strlen(series);
    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atof(p + n + 1);
        p += n;
    }
    return -1;
}

char *it_header(const struct it_resp *resp, const char *name) {
    size_t nlen = strlen(name);
    const char *line = resp->headers;
    while (line && *line) {
        size_t llen = strcspn(line, "\r\n");
        if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            const char *end = line + llen;
            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }
            return mem_strndup(v, (size_t)(end - v));
        }
        line += llen;
        line += strspn(line, "\r\n");
    }
    return NULL;
}

void it_resp_free(struct it_resp *resp) {
    mem_free(resp->body);
    mem_free(resp->headers);
    resp->body = NULL;
    resp->headers = NULL;
    resp->body_len = 0;
}

bool it_wait_http_ok(const char *url, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            return false;
        }
        struct it_resp r = http_do("GET", url, NULL, NULL, 0,
                                   left < IT_HTTP_TIMEOUT_MS ? (long)left : IT_HTTP_TIMEOUT_MS);
        long status = r.status;
        it_resp_free(&r);
        if (status == 200) {
            return true;
        }
        sleep_ms(50);
    }
}

bool it_eventually(bool (*pred)(void *arg), void *arg, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (pred(arg)) {
            return true;
        }
        if (now_ms() >= deadline) {
            return false;
        }
        sleep_ms(20);
    }
}
