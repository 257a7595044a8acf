/* it_slowloris: slow and idle clients cannot hold the API: each connection
 * must deliver a whole request within HERALD_HTTP_READ_TIMEOUT_MS, and the
 * number of open connections is capped. */
#include "support/itapi.h"
#include "common/mem.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOW 300

static struct it_api api;

static void start_api(const char *max_conns) {
    it_require_stack();
    char cap[64];
    snprintf(cap, sizeof(cap), "HERALD_HTTP_MAX_CONNECTIONS=%s", max_conns);
    const char *env[] = {cap, "HERALD_HTTP_READ_TIMEOUT_MS=1000", NULL};
    it_api_start_with(&api, env);
}

static void teardown(void) {
    if (api.pid > 0) {
        it_kill(api.pid, SIGTERM);
        it_wait_exit(api.pid, 20000);
    }
}

static int connect_nb(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)api.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    fcntl(s, F_SETFL, O_NONBLOCK);
    return s;
}

/* closed: the server has closed s (EOF or reset). */
static bool closed(int s) {
    char buf[256];
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static long healthz(void) {
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", api.port);
    struct it_resp r = it_http("GET", url, NULL, NULL, 0);
    long st = r.status;
    it_resp_free(&r);
    return st;
}

TestSuite(slowloris, .fini = teardown, .timeout = 120);

Test(slowloris, trickling_clients_are_cut_and_others_served) {
    start_api("4096");
    int socks[SLOW];
    for (int i = 0; i < SLOW; i++) {
        socks[i] = connect_nb();
        const char *start = "POST /v1/notifications HTTP/1.1\r\nHost: x\r\n";
        cr_assert_gt(send(socks[i], start, strlen(start), MSG_NOSIGNAL), 0);
    }
    /* keep trickling one header byte per connection while normal clients ask */
    int served = 0, asked = 0;
    int64_t until = util_mono_ms() + 2500;
    while (util_mono_ms() < until) {
        for (int i = 0; i < SLOW; i++)
            (void)!send(socks[i], "X", 1, MSG_NOSIGNAL);
        asked++;
        if (healthz() == 200)
            served++;
        usleep(100 * 1000);
    }
    cr_expect_eq(served, asked, "normal requests answered during the attack: %d of %d", served,
                 asked);
    int cut = 0;
    for (int i = 0; i < SLOW; i++) {
        (void)!send(socks[i], "X", 1, MSG_NOSIGNAL);
        if (closed(socks[i]))
            cut++;
        close(socks[i]);
    }
    cr_expect_eq(cut, SLOW, "every trickling connection was closed: %d of %d", cut, SLOW);
}

Test(slowloris, connection_cap_then_idle_ones_are_cut) {
    start_api("50");
    int socks[80];
    for (int i = 0; i < 80; i++)
        socks[i] = connect_nb();
    /* the cap is reached; idle connections are cut after the read timeout,
     * so a normal request gets through (curl waits up to 10 s) */
    long st = 0;
    for (int i = 0; i < 5 && st != 200; i++)
        st = healthz();
    cr_expect_eq(st, 200);
    for (int i = 0; i < 80; i++)
        close(socks[i]);
}
