/* itchannels: the email, SMS and push integration tests' helpers: provider
 * stand-ins, workers of any channel, and their logs. */
#include "itchannels.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* ct_setup: an empty database and Redis and the tenant "acme"; no stand-in yet. */
void ct_setup(void) {
    memset(&wt, 0, sizeof(wt));
    it_fresh_stack();
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

/* ct_start_worker: herald-worker --channel channel with wt_env and extra. */
pid_t ct_start_worker(const char *channel, const char *const extra[]) {
    return wt_start_channel_worker(channel, extra);
}

void ct_expect_config_error(const char *channel, const char *const env[], const char *variable) {
    pid_t pid = ct_start_worker(channel, env);
    int st = it_wait_exit(pid, 10000);
    wt.workers[--wt.nworkers] = 0;
    cr_assert_eq(st, 3, "exit %d", st);
    cr_assert(ct_log_has(pid, variable), "no mention of %s", variable);
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
