/* api: a request's context as every handler gets it, and the replies it is
 * answered with: route table entries, authentication, the parsed head, the
 * body, and the headers and envelope of every answer. A request lives from
 * its head (api/edge.c parsed it) to its answer; api/stages.c takes it
 * through API.md's checks. */
#ifndef HERALD_API_API_H
#define HERALD_API_API_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/app.h"
#include "api/query.h"

/* What authentication found; valid for the request's lifetime. */
struct api_auth {
    int64_t tenant_id;
    char tenant[65];
    char key_id[33];
    bool admin;
};

struct http_srv;
struct edge;
struct hhead;
struct json_object;

struct api_req {
    struct api_app *app;
    struct http_srv *srv;
    struct edge *edge;          /* NULL once the connection is gone */
    struct evhttp_request *req; /* evhttp's, from the hand-over on; NULL if the client left */
    struct hhead *head;         /* owned: the parsed head */
    char req_id[129];
    enum evhttp_cmd_type method;
    const char *path; /* raw (still percent-encoded), from head */
    struct query query;
    const struct api_route *route;
    char param[64]; /* the {id} or {channel} path segment */
    struct api_auth auth;
    char *body; /* owned, NUL-terminated copy; NULL if none */
    size_t body_len;
    struct json_object *json; /* owned: the parsed body of a JSON route; NULL before parsing */
    int64_t charged;          /* rate-limit tokens taken for this request */
    struct evkeyvalq extra;   /* response headers to add */
    int64_t started_mono_ms;
    /* an answer decided on the head alone, given once evhttp has the request */
    int early_status; /* 0: none */
    const char *early_code;
    char early_msg[160];
};

typedef void (*api_handler)(struct api_req *r);

enum api_auth_kind { API_AUTH_NONE = 0, API_AUTH_KEY, API_AUTH_ADMIN };
enum api_param_kind { API_PARAM_NONE = 0, API_PARAM_UUID, API_PARAM_CHANNEL };
enum api_body_kind {
    API_BODY_NONE = 0, /* a short body is ignored, a longer one is a 413 */
    API_BODY_JSON,     /* parsed (strict, bounded) into r->json before the handler */
    API_BODY_FORM,     /* application/x-www-form-urlencoded, left to the handler */
};

/* api_cost_fn: what a request costs the key's rate limit, in tokens. Called
 * twice: on the head (r->body_len is the announced Content-Length, 0 when
 * the body is chunked; r->json NULL) and once the body is parsed; the
 * growth is charged then. */
typedef int64_t (*api_cost_fn)(const struct api_req *r);

struct api_route {
    enum evhttp_cmd_type method;
    const char *pattern; /* segments; "{}" marks the one parameter */
    enum api_param_kind param;
    enum api_auth_kind auth;
    enum api_body_kind body;
    size_t max_body;           /* bytes of a JSON or form body */
    size_t max_values;         /* JSON values in the body (413 beyond); 0: the default */
    api_cost_fn cost;          /* NULL: stages_cost_size (a token per started KiB) */
    const char *const *params; /* query parameters taken (NULL-terminated); NULL: none */
    bool query_open;           /* the query is not checked (provider callbacks, pages) */
    api_handler handler;
    const char *name; /* for logs and metrics */
};

/* api_reply: sends status and body (JSON) and frees r; r must not be used
 * after. If the client has gone away, only frees r. A HEAD request gets the
 * headers (Content-Length included) and no body. */
void api_reply(struct api_req *r, int status, const char *body, size_t len);
/* api_reply_error: the error envelope; details_json is a JSON array of
 * {"field","message"} objects, or NULL. Frees r. */
void api_reply_error(struct api_req *r, int status, const char *code, const char *message,
                     const char *details_json);
/* api_reply_db_failed: the answer to a query that failed (res->status is not
 * DB_OK): 500 after logging db.query_failed for a DB_ERROR, the statement's
 * own fault; 503 when the database cannot be reached. Frees r. */
struct db_result;
void api_reply_db_failed(struct api_req *r, const struct db_result *res);
/* api_header: adds a response header (copied) for the coming reply. */
void api_header(struct api_req *r, const char *name, const char *value);
/* api_rate_headers: sets the RateLimit-* headers from a rate-limit answer. */
struct rl_result;
void api_rate_headers(struct api_req *r, const struct rl_result *res);
/* api_reply_rate_limited: 429 with Retry-After. Frees r. */
void api_reply_rate_limited(struct api_req *r, const struct rl_result *res);

/* api_query: a query parameter, decoded; borrowed; NULL if absent. */
const char *api_query(struct api_req *r, const char *name);
/* api_query_int: the query parameter name as a decimal integer from min to
 * max; dflt when absent. Any other value adds message to errs under name
 * and gives dflt. */
struct val_errors;
int api_query_int(struct api_req *r, const char *name, int min, int max, int dflt,
                  const char *message, struct val_errors *errs);
/* api_req_header: a request header; borrowed; NULL if absent. */
const char *api_req_header(struct api_req *r, const char *name);

/* api_req_free: frees r without answering (its connection is gone). */
void api_req_free(struct api_req *r);

/* api_reply_invalid: 422 validation_failed with errs as the details. Frees r. */
struct val_errors;
void api_reply_invalid(struct api_req *r, const struct val_errors *errs);
/* api_errors_json: errs as the envelope's details array. Caller frees with
 * mem_free(). */
char *api_errors_json(const struct val_errors *errs);

#endif
