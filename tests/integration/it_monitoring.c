/* it_monitoring: every metric the Grafana dashboard (deploy/grafana/herald.json) queries is
 * exported by a live /metrics: herald-api's (on HERALD_LISTEN) or a herald-worker's (on
 * HERALD_METRICS_LISTEN). deploy/check.sh checks the same names offline against the source; this
 * checks what the processes really serve. */
#include "support/itsup.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define MON_MAX_NAMES 64

/* mon_dashboard_metrics: the herald_ metric families the dashboard's queries
 * name (histograms without _bucket/_sum/_count) into names; returns how many. */
static int mon_dashboard_metrics(char names[][96]) {
    struct json_object *d = json_object_from_file(HERALD_SOURCE_DIR "/deploy/grafana/herald.json");
    cr_assert_not_null(d, "deploy/grafana/herald.json does not parse");
    struct json_object *panels;
    cr_assert(json_object_object_get_ex(d, "panels", &panels));
    regex_t re;
    cr_assert_eq(regcomp(&re, "herald_[a-z0-9_]+", REG_EXTENDED), 0);
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(panels); i++) {
        struct json_object *targets;
        if (!json_object_object_get_ex(json_object_array_get_idx(panels, i), "targets", &targets))
            continue;
        for (size_t k = 0; k < json_object_array_length(targets); k++) {
            struct json_object *e;
            if (!json_object_object_get_ex(json_object_array_get_idx(targets, k), "expr", &e))
                continue;
            const char *p = json_object_get_string(e);
            regmatch_t m;
            while (regexec(&re, p, 1, &m, 0) == 0) {
                char name[96];
                snprintf(name, sizeof(name), "%.*s", (int)(m.rm_eo - m.rm_so), p + m.rm_so);
                p += m.rm_eo;
                size_t len = strlen(name);
                const char *suffixes[] = {"_bucket", "_sum", "_count"};
                for (size_t s = 0; s < HD_ARRAY_LEN(suffixes); s++) {
                    size_t sl = strlen(suffixes[s]);
                    if (len > sl && !strcmp(name + len - sl, suffixes[s]))
                        name[len - sl] = '\0';
                }
                bool seen = false;
                for (int j = 0; j < n; j++)
                    seen |= !strcmp(names[j], name);
                if (!seen && n < MON_MAX_NAMES)
                    snprintf(names[n++], 96, "%s", name);
            }
        }
    }
    regfree(&re);
    json_object_put(d);
    return n;
}

/* mon_exported: whether a /metrics page declares the family ("# TYPE name ..."). */
static bool mon_exported(const char *page, const char *name) {
    char want[128];
    snprintf(want, sizeof(want), "# TYPE %.100s ", name);
    return strstr(page, want) != NULL;
}

static char *mon_get(int port) {
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    struct it_resp r = it_http("GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200, "GET %s: %ld", url, r.status);
    char *body = mem_strdup(r.body);
    it_resp_free(&r);
    return body;
}

Test(monitoring, test_issue_15_dashboard_metrics_are_exported, .timeout = 120) {
    it_require_stack();
    int api_port = it_free_port(), worker_port = it_free_port();
    char listen[64], metrics[64], url[96];
    snprintf(listen, sizeof(listen), "HERALD_LISTEN=127.0.0.1:%d", api_port);
    snprintf(metrics, sizeof(metrics), "HERALD_METRICS_LISTEN=127.0.0.1:%d", worker_port);
    const char *api_env[] = {listen, NULL};
    const char *api_argv[] = {"herald-api", NULL};
    const char *wk_env[] = {metrics, NULL};
    const char *wk_argv[] = {"herald-worker", "--channel", "webhook", NULL};
    pid_t api = it_spawn(api_argv, api_env);
    pid_t wk = it_spawn(wk_argv, wk_env);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", api_port);
    cr_assert(it_wait_http_ok(url, 20000), "herald-api did not start");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", worker_port);
    cr_assert(it_wait_http_ok(url, 20000), "herald-worker's metrics listener did not start");

    char names[MON_MAX_NAMES][96];
    int n = mon_dashboard_metrics(names);
    cr_assert_geq(n, 10, "the dashboard names only %d metrics", n);
    char *api_page = mon_get(api_port), *wk_page = mon_get(worker_port);
    for (int i = 0; i < n; i++)
        cr_expect(mon_exported(api_page, names[i]) || mon_exported(wk_page, names[i]),
                  "the dashboard queries %s, which neither herald-api nor herald-worker exports",
                  names[i]);
    /* and the check can fail: a made-up name is not found */
    cr_expect(!mon_exported(api_page, "herald_no_such_metric") &&
              !mon_exported(wk_page, "herald_no_such_metric"));
    mem_free(api_page);
    mem_free(wk_page);
    it_kill(api, SIGTERM);
    it_kill(wk, SIGTERM);
    cr_expect_eq(it_wait_exit(api, 20000), 0);
    cr_expect_eq(it_wait_exit(wk, 30000), 0);
}
