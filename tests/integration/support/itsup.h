/* itsup: the integration-test harness; owns the connections to the test
 * PostgreSQL and Redis, the processes tests start, and the HTTP client.
 * Every helper runs inside a Criterion test and fails it (cr_assert_fail) on
 * unexpected errors, so tests need no error plumbing. All calls block. */
#ifndef HERALD_TESTS_ITSUP_H
#define HERALD_TESTS_ITSUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

/* it_set_dirs: records where the built binaries and the source tree are. The
 * test executables get HERALD_BIN_DIR/HERALD_SOURCE_DIR from CMake; the
 * constructor below hands them over before main(). Strings are copied. */
void it_set_dirs(const char *bin_dir, const char *source_dir);
/* it_source_dir: the source tree it_set_dirs recorded (borrowed); fails the
 * test when none was. */
const char *it_source_dir(void);

#if defined(HERALD_BIN_DIR) && defined(HERALD_SOURCE_DIR)
__attribute__((constructor)) static void it_init_dirs_(void) {
    it_set_dirs(HERALD_BIN_DIR, HERALD_SOURCE_DIR);
}
#endif

/* it_require_stack: call first in every integration test (or its .init).
 * Without HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL it skips the
 * test with a loud warning, except under CI (CI set and not "false"/"0"),
 * where it fails the test: in CI a missing server is never a skip. */
void it_require_stack(void);

/* it_db: the cached synchronous connection to the test database, reconnected
 * when it went bad (e.g. after pg-stop/pg-start). Borrowed; it_db_close()
 * drops it. Fails the test when PostgreSQL cannot be reached. */
PGconn *it_db(void);
void it_db_close(void);

/* it_sql: runs SQL with text parameters $1..$n given as the variadic
 * arguments, terminated by NULL; pass IT_SQL_NULL for an SQL NULL.
 *   PGresult *r = it_sql("select id from tenants where name = $1", "acme", NULL);
 * Fails the test on any error. If the connection was lost it is re-made and
 * the statement sent once more. Caller frees with PQclear(). */
extern const char it_sql_null[];
#define IT_SQL_NULL it_sql_null
PGresult *it_sql(const char *sql, ...) __attribute__((sentinel));
/* it_sqlv: it_sql with an array of nparams parameters (NULL entries are SQL NULL). */
PGresult *it_sqlv(const char *sql, int nparams, const char *const params[]);
/* it_sql_exec: it_sql for statements whose result is not needed. */
void it_sql_exec(const char *sql, ...) __attribute__((sentinel));
/* it_sql_value: the first column of the first row as a string, or NULL when
 * there is no row or the value is NULL. Caller frees with mem_free(). */
char *it_sql_value(const char *sql, ...) __attribute__((sentinel));
/* it_expect_value: a Criterion expectation that it_sql_value(sql, ...) is
 * want (NULL: SQL NULL or no row); a failure names sql and both values. */
void it_expect_value(const char *want, const char *sql, ...) __attribute__((sentinel));

/* it_reset_db: truncates every table in schema public except
 * schema_migrations (RESTART IDENTITY CASCADE), so each test starts empty. */
void it_reset_db(void);
/* it_fresh_stack: it_require_stack, it_reset_db and it_redis_flush: a test
 * that starts from empty servers. */
void it_fresh_stack(void);

/* it_redis_connect: a new synchronous connection to the test Redis (database
 * from the URL selected), or NULL when it cannot connect within 1 s. Caller
 * frees with redisFree(). */
redisContext *it_redis_connect(void);
/* it_redis_ping: true when the test Redis answers PING right now. */
bool it_redis_ping(void);
/* it_redis_cmd: runs one command (redisCommand format) on a fresh connection;
 * fails the test when Redis is unreachable. Caller frees with
 * freeReplyObject(). Error replies are returned, not failed. */
redisReply *it_redis_cmd(const char *fmt, ...);
/* it_redis_flush: FLUSHALL on the test Redis. */
void it_redis_flush(void);
/* it_stream_len: XLEN summed over every stream of channel (its lanes and the
 * version 1 stream); it_stream_has: how many entries of those carry id. */
long long it_stream_len(const char *channel);
int it_stream_has(const char *channel, const char *id);
/* it_stream_pending: the group's pending entries summed over the channel's
 * streams; it_stream_lag: their lags summed, -1 when one is unknown. */
long long it_stream_pending(const char *channel);
long long it_stream_lag(const char *channel);
/* it_stream_key: the key of the stream a row's entry belongs in (its
 * channel, priority and tenant's lane), as the API picks it; out[64]. */
void it_stream_key(const char *id, char *out);

/* it_spawn: starts argv (argv[0] without '/' is looked up in the build dir)
 * in the background. Its environment is ours minus every inherited HERALD_*
 * variable except HERALD_TEST_*, plus HERALD_DATABASE_URL/HERALD_REDIS_URL
 * from the test ones, plus extra_env ("K=V", NULL-terminated, may be NULL),
 * which wins. stdin is /dev/null; stdout and stderr go to
 * $HERALD_TEST_STACK_DIR/logs/<name>.<pid>.log (see it_log_path). The child
 * is SIGKILLed if the test process dies. Returns the pid; reap it with
 * it_wait_exit(). */
pid_t it_spawn(const char *const argv[], const char *const extra_env[]);
/* it_kill: sends sig to pid; a process already gone is not an error. */
void it_kill(pid_t pid, int sig);
/* it_wait_exit: waits up to timeout_ms for pid to exit and reaps it. Returns
 * its exit status, 128 + signal number if a signal killed it, or -1 if it
 * still runs at the deadline. */
int it_wait_exit(pid_t pid, int timeout_ms);
/* it_log_path: the log file of a process started by it_spawn or
 * it_run_capture. Caller frees with mem_free(). */
char *it_log_path(const char *name, pid_t pid);

/* it_run_capture: runs argv (as it_spawn does) to completion, at most 60 s,
 * and returns everything it wrote on stdout (NUL-terminated; caller frees
 * with mem_free()). stderr goes to its log file. *exit_code (may be NULL)
 * gets the status as it_wait_exit reports it. */
char *it_run_capture(const char *const argv[], const char *const extra_env[], int *exit_code);

/* it_stack: runs `scripts/stack.sh SUBCMD $HERALD_TEST_STACK_DIR` (e.g.
 * "redis-stop", "pg-start") and fails the test unless it succeeds. */
void it_stack(const char *subcmd);

/* it_redis_pid: the test Redis's pid, from the stack's pidfile. */
pid_t it_redis_pid(void);
/* it_free_port: a loopback TCP port that was free a moment ago. */
int it_free_port(void);

/* it_resp: one HTTP exchange. status is 0 when no response arrived
 * (connection refused, timeout). body and headers are never NULL. */
struct it_resp {
    long status;
    char *body;      /* NUL-terminated copy of the body */
    size_t body_len; /* bytes, without the terminator */
    char *headers;   /* raw header block of the final response, CRLF lines */
};

/* it_http: one blocking request, 10 s timeout, no redirects followed.
 * headers are "Name: value" strings, NULL-terminated (may be NULL). A body
 * (may be NULL) is sent as is; libcurl adds no Content-Type or Expect of its
 * own. Release with it_resp_free(). */
struct it_resp it_http(const char *method, const char *url, const char *const headers[],
                       const char *body, size_t body_len);
/* it_header: the value of the first header called name (any case), trimmed,
 * or NULL. Caller frees with mem_free(). */
char *it_header(const struct it_resp *resp, const char *name);
void it_resp_free(struct it_resp *resp);
/* it_metric_value: the value of the series (name and labels, as written) in
 * a Prometheus text exposition, or -1 when it has no such line. */
double it_metric_value(const char *text, const char *series);

/* it_wait_http_ok: polls GET url until it answers 200; false at timeout_ms. */
bool it_wait_http_ok(const char *url, int timeout_ms);

/* it_eventually: true once pred(arg) is true, checking every 20 ms; false if
 * it never was within timeout_ms. */
bool it_eventually(bool (*pred)(void *arg), void *arg, int timeout_ms);

#endif
