/* test_config: HERALD_REDIS_URL read through curl's URL parser, and the
 * edge's settings. Each test runs in its own process, so the environment it
 * sets stays there. */
#include "common/config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct cfg c;
static char err[256];

static int load_redis(const char *url) {
    setenv("HERALD_REDIS_URL", url, 1);
    return cfg_load(&c, err, sizeof(err));
}

static void fini(void) {
    cfg_free(&c);
}

TestSuite(config, .fini = fini);

Test(config, redis_url_parts) {
    static const struct {
        const char *url, *host;
        int port, db;
        const char *password; /* NULL: none */
    } cases[] = {
        {"redis://127.0.0.1:6380/2", "127.0.0.1", 6380, 2, NULL},
        {"redis://user:p%40ss%2Fw@cache.internal/7", "cache.internal", 6379, 7, "p@ss/w"},
        {"redis://:secret@[::1]:7000", "::1", 7000, 0, "secret"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(load_redis(cases[i].url), 0, "%s", err);
        cr_expect_str_eq(c.redis_host, cases[i].host, "%s", cases[i].url);
        cr_expect_eq(c.redis_port, cases[i].port, "%s", cases[i].url);
        cr_expect_eq(c.redis_db, cases[i].db, "%s", cases[i].url);
        if (cases[i].password)
            cr_expect_str_eq(c.redis_password, cases[i].password, "%s", cases[i].url);
        else
            cr_expect_null(c.redis_password, "%s", cases[i].url);
        cfg_free(&c);
    }
}

Test(config, redis_url_refused) {
    const char *bad[] = {"rediss://cache:6379/0", "http://cache/0",     "redis://",
                         "redis://:6379/0",       "redis://cache:0/0",  "redis://cache:99999",
                         "redis://cache/db",      "redis://cache/1001", "cache:6379"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(load_redis(bad[i]), -1, "%s accepted", bad[i]);
        cr_expect(strstr(err, "HERALD_REDIS_URL"), "%s: %s", bad[i], err);
        cfg_free(&c);
    }
}

Test(config, edge_settings) {
    cr_assert_eq(cfg_load(&c, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(c.http_body_buffer_max, 134217728);
    cr_expect_eq(c.auth_failures_per_sec, 10);
    cfg_free(&c);
    setenv("HERALD_HTTP_BODY_BUFFER_MAX", "1024", 1);
    cr_expect_eq(cfg_load(&c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "HERALD_HTTP_BODY_BUFFER_MAX"), "%s", err);
}
