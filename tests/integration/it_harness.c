/* it_harness: proves the integration harness itself against the real test
 * PostgreSQL and Redis: queries, fault injection, processes and HTTP. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "common/mem.h"
#include "support/itsup.h"

static void setup(void) {
    it_require_stack();
}

static void teardown(void) {
    it_db_close();
}

/* After fault injection, leave both servers running for the next test even
 * when this one failed half-way (start is a no-op for a running server). */
static void restart_servers(void) {
    const char *dir = getenv("HERALD_TEST_STACK_DIR");
    if (dir && *dir) {
        it_stack("redis-start");
        it_stack("pg-start");
    }
    it_db_close();
}

TestSuite(harness, .init = setup, .fini = teardown);

Test(harness, postgres_answers) {
    char *v = it_sql_value("select 1", NULL);
    cr_assert_str_eq(v, "1");
    mem_free(v);

    char *echo = it_sql_value("select $1::text || $2::text", "he", "rald", NULL);
    cr_assert_str_eq(echo, "herald");
    mem_free(echo);

    char *null = it_sql_value("select $1::text", IT_SQL_NULL, NULL);
    cr_assert_null(null);
}

Test(harness, reset_db_empties_tables) {
    it_sql_exec("create table if not exists it_harness_probe (id int)", NULL);
    it_sql_exec("insert into it_harness_probe values (1), (2)", NULL);
    it_reset_db();
    char *n = it_sql_value("select count(*) from it_harness_probe", NULL);
    cr_assert_str_eq(n, "0");
    mem_free(n);
    it_sql_exec("drop table it_harness_probe", NULL);
}

Test(harness, redis_answers_ping) {
    cr_assert(it_redis_ping());
    redisReply *r = it_redis_cmd("SET %s %s", "it:harness", "1");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    it_redis_flush();
    r = it_redis_cmd("EXISTS %s", "it:harness");
    cr_assert_eq(r->integer, 0);
    freeReplyObject(r);
}

Test(harness, redis_stop_and_start, .fini = restart_servers) {
    cr_assert(it_redis_ping());
    it_stack("redis-stop");
    redisContext *c = it_redis_connect();
    cr_assert_null(c, "Redis still accepts connections after redis-stop");
    cr_assert_not(it_redis_ping());
    it_stack("redis-start");
    cr_assert(it_redis_ping(), "Redis does not answer after redis-start");
}

Test(harness, postgres_stop_and_start, .fini = restart_servers) {
    char *v = it_sql_value("select 1", NULL);
    mem_free(v);
    it_stack("pg-stop");
    it_stack("pg-start");
    /* The cached connection died with the server; it_sql reconnects. */
    v = it_sql_value("select 2", NULL);
    cr_assert_str_eq(v, "2");
    mem_free(v);
}

Test(harness, free_port_is_bindable) {
    int port = it_free_port();
    cr_assert(port > 0 && port < 65536);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    cr_assert_eq(rc, 0, "port %d from it_free_port is not bindable", port);
}

Test(harness, run_capture_env_and_status) {
    const char *const argv[] = {"/bin/sh", "-c",
                                "echo \"$HERALD_DATABASE_URL|$HERALD_EXTRA\"; echo to-log >&2; "
                                "exit 3",
                                NULL};
    const char *const env[] = {"HERALD_EXTRA=yes", NULL};
    int code = -1;
    char *out = it_run_capture(argv, env, &code);
    cr_assert_eq(code, 3);
    char want[1024];
    snprintf(want, sizeof want, "%s|yes\n", getenv("HERALD_TEST_DATABASE_URL"));
    cr_assert_str_eq(out, want);
    mem_free(out);
}

Test(harness, spawn_kill_wait) {
    const char *const argv[] = {"/bin/sleep", "30", NULL};
    pid_t pid = it_spawn(argv, NULL);
    cr_assert_eq(it_wait_exit(pid, 100), -1, "sleep exited early");
    it_kill(pid, SIGTERM);
    cr_assert_eq(it_wait_exit(pid, 5000), 128 + SIGTERM);
}

Test(harness, http_client) {
    int port = it_free_port();
    struct it_resp r = it_http("GET", "http://127.0.0.1:1/", NULL, NULL, 0);
    cr_assert_eq(r.status, 0, "connection refused must give status 0");
    it_resp_free(&r);

    char portstr[16], url[64];
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    const char *const argv[] = {"python3",   "-m",          "http.server",     portstr, "--bind",
                                "127.0.0.1", "--directory", HERALD_SOURCE_DIR, NULL};
    pid_t pid = it_spawn(argv, NULL);
    cr_assert(it_wait_http_ok(url, 10000), "python3 http.server did not come up");

    const char *const hdrs[] = {"X-Probe: 1", NULL};
    r = it_http("GET", url, hdrs, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(r.body_len > 0);
    char *ct = it_header(&r, "content-type");
    cr_assert_not_null(ct);
    cr_assert(strncmp(ct, "text/html", 9) == 0, "content-type %s", ct);
    mem_free(ct);
    cr_assert_null(it_header(&r, "x-not-there"));
    it_resp_free(&r);

    r = it_http("POST", url, NULL, "{}", 2);
    cr_assert_eq(r.status, 501, "http.server has no POST, got %ld", r.status);
    it_resp_free(&r);

    it_kill(pid, SIGTERM);
    cr_assert_neq(it_wait_exit(pid, 5000), -1);
}

static bool counter_reaches_three(void *arg) {
    int *n = arg;
    return ++*n >= 3;
}

Test(harness, eventually_polls) {
    int n = 0;
    cr_assert(it_eventually(counter_reaches_three, &n, 2000));
    cr_assert_eq(n, 3);
    n = -1000000;
    cr_assert_not(it_eventually(counter_reaches_three, &n, 100));
}
