/* itapi: a herald-api under test and a client for it: tenants and keys made
 * with heraldctl, the process started on a free port, JSON requests and the
 * checks of API.md's error envelope. Built on itsup; every call blocks and
 * fails the test on unexpected errors. */
#ifndef HERALD_TESTS_ITAPI_H
#define HERALD_TESTS_ITAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "itsup.h"

struct json_object;

/* it_make_tenant: creates tenant (heraldctl tenants create). */
void it_make_tenant(const char *tenant);
/* it_add_key: a key for the existing tenant (keys create, --admin when
 * admin), copied into out (n bytes). */
void it_add_key(const char *tenant, bool admin, char *out, size_t n);
/* it_make_key: creates tenant (heraldctl tenants create) and a key for it
 * (keys create, --admin when admin), copied into out (n bytes). */
void it_make_key(const char *tenant, bool admin, char *out, size_t n);

/* One API process started by it_api_start. */
struct it_api {
    pid_t pid;
    int port;
};

/* it_api_start: starts herald-api on a free port with fast test timers and
 * extra ("K=V", NULL-terminated, may be NULL; wins) and waits for /healthz. */
void it_api_start(struct it_api *a, const char *const extra[]);
/* it_api_start_with: the same with only env ("K=V", NULL-terminated, may be
 * NULL) besides HERALD_LISTEN: herald-api's own defaults for the rest. */
void it_api_start_with(struct it_api *a, const char *const env[]);
/* it_api_start_plus: it_api_start with setting ("K=V") ahead of extra. */
void it_api_start_plus(struct it_api *a, const char *setting, const char *const extra[]);
/* it_api_stop: SIGTERM, then expects a clean exit within 20 s. */
void it_api_stop(struct it_api *a);

/* it_api_call: method on path with key (NULL: no Authorization) and a JSON
 * body (NULL: none). Release with it_resp_free(). */
struct it_resp it_api_call(const struct it_api *a, const char *method, const char *path,
                           const char *key, const char *body);

/* it_json: the body parsed (fails the test when it is not JSON); caller puts it. */
struct json_object *it_json(const struct it_resp *r);
/* it_jstr: a string member, NULL when absent or null; borrowed from o. */
const char *it_jstr(struct json_object *o, const char *key);
/* it_expect_error: r has status and the error code; details (may be NULL)
 * must then name that field among its details. */
void it_expect_error(const struct it_resp *r, long status, const char *code, const char *field);

#endif
