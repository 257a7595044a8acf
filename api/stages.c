/* stages: each check either passes the request on or keeps an early answer
 * (r->early_*) and has the edge hand the request to evhttp without its body;
 * evhttp then delivers it to stages_body like any other, so every answer
 * leaves through api_reply. */
#include "api/stages.h"
#include "api/auth.h"
#include "api/edge.h"
#include "api/http_head.h"
#include "api/http_server.h"
#include "api/ratelimit.h"
#include "common/config.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/notif.h"
#include "common/util.h"
#include "common/validate.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* a route without a body ignores one this short; a longer one is a 413 */
#define STAGES_IGNORED_BODY_MAX (64 * 1024)
#define STAGES_VALUES_DEFAULT 2000 /* JSON values in a body, unless the route says */
#define STAGES_COST_UNIT 1024      /* bytes of body one token pays for */

static const char *stages_method_name(enum evhttp_cmd_type m) {
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}

/* stages_early: answers r from its head: the edge hands evhttp the request
 * without its body, and stages_body replies. */
static void stages_early(struct api_req *r, int status, const char *code, const char *message) {
    r->early_status = status;
    r->early_code = code;
    snprintf(r->early_msg, sizeof(r->early_msg), "%s", message);
    if (!edge_answer_head(r->edge, r))
        api_req_free(r);
}

/* stages_match: whether the raw path matches pattern; the "{}" segment's
 * text goes to param after checking its kind. The path is matched as sent:
 * an encoded slash or NUL (%2F, %00) matches no pattern, and a parameter
 * with a '%' is no id or channel. */
static bool stages_match(const struct api_route *rt, const char *path, char *param, size_t plen) {
    const char *p = rt->pattern;
    const char *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        size_t pl = strcspn(p, "/");
        size_t sl = strcspn(s, "/");
        if (pl == 2 && p[0] == '{' && p[1] == '}') {
            if (sl == 0 || sl >= plen)
                return false;
            memcpy(param, s, sl);
            param[sl] = '\0';
            if (rt->param == API_PARAM_UUID && !util_uuid_valid(param))
                return false;
            if (rt->param == API_PARAM_CHANNEL && notif_channel_parse(param) < 0)
                return false;
        } else if (pl != sl || memcmp(p, s, pl) != 0) {
            return false;
        }
        p += pl;
        s += sl;
    }
    return *p == '\0' && *s == '\0';
}

static bool stages_is_type(const char *ct, const char *type) {
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* stages_origin_allowed: origin is one of the comma-separated list (exact,
 * case-sensitive, spaces around commas ignored); "*" is never implied. */
static bool stages_origin_allowed(const char *list, const char *origin) {
    size_t olen = strlen(origin);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && p[m - 1] == ' ')
            m--;
        if (m && m == olen && memcmp(p, origin, olen) == 0)
            return true;
        p += n;
    }
    return false;
}

/* 6, 7 and the body budget; then the edge reads the body. */
static void stages_body_checks(struct api_req *r) {
    const struct api_route *rt = r->route;
    const struct hhead *h = r->head;
    bool has_body = h->chunked || h->content_length > 0;
    if (rt->body && h->content_length > (int64_t)rt->max_body) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the body is over %zu KiB", rt->max_body / 1024);
        stages_early(r, 413, "payload_too_large", msg);
        return;
    }
    if (!rt->body && has_body && (h->chunked || h->content_length > STAGES_IGNORED_BODY_MAX)) {
        stages_early(r, 413, "payload_too_large", "this route takes no body");
        return;
    }
    if (rt->body) {
        bool form = rt->body == API_BODY_FORM;
        const char *ct = hhead_get(h, "Content-Type");
        if (form ? !stages_is_type(ct, "application/x-www-form-urlencoded")
                 : !stages_is_type(ct, "application/json")) {
            stages_early(r, 415, "unsupported_media_type",
                         form ? "the body must be application/x-www-form-urlencoded"
                              : "the body must be application/json");
            return;
        }
    }
    switch (edge_accept(r->edge, r, rt->body ? rt->max_body : STAGES_IGNORED_BODY_MAX)) {
    case EDGE_ACCEPTED:
        return;
    case EDGE_GONE:
        api_req_free(r);
        return;
    case EDGE_FULL:
        api_header(r, "Retry-After", "1");
        stages_early(r, 503, "unavailable",
                     "too many request bodies are being received at once; retry shortly");
        return;
    }
}

int64_t stages_cost_size(const struct api_req *r) {
    int64_t units = (int64_t)((r->body_len + STAGES_COST_UNIT - 1) / STAGES_COST_UNIT);
    return units > 1 ? units : 1;
}

/* stages_cost: the route's cost, at most a full bucket (so any request can
 * pass when the key has been idle). */
static int64_t stages_cost(const struct api_req *r) {
    int64_t cost = r->route->cost ? r->route->cost(r) : stages_cost_size(r);
    int64_t burst = r->app->cfg->rate_limit_burst;
    return cost < burst ? cost : burst;
}

static void stages_rate_done(void *arg, const struct rl_result *res) {
    struct api_req *r = arg;
    api_rate_headers(r, res);
    if (!res->allowed) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)res->retry_after_s);
        api_header(r, "Retry-After", v);
        stages_early(r, 429, "rate_limited", "rate limit exceeded for this API key");
        return;
    }
    stages_body_checks(r);
}

static void stages_auth_done(void *arg, int status, const struct api_auth *a, int retry_after_s) {
    struct api_req *r = arg;
    if (status == 401) {
        api_header(r, "WWW-Authenticate", "Bearer");
        stages_early(r, 401, "unauthorized", "missing, malformed, unknown or revoked API key");
        return;
    }
    if (status == 429) {
        char v[32];
        snprintf(v, sizeof(v), "%d", retry_after_s);
        api_header(r, "Retry-After", v);
        stages_early(r, 429, "rate_limited",
                     "too many failed authentications from this address; retry later");
        return;
    }
    if (status == 503) {
        stages_early(r, 503, "unavailable", "the database cannot be reached");
        return;
    }
    r->auth = *a;
    if (r->route->auth == API_AUTH_ADMIN && !a->admin) {
        stages_early(r, 403, "forbidden", "this route needs an admin key");
        return;
    }
    /* cost, then 5: the limit. The body's announced size is what is known
     * now; whatever more it turns out to cost is charged once parsed. */
    const struct hhead *h = r->head;
    r->body_len = h->content_length > 0 && !h->chunked ? (size_t)h->content_length : 0;
    r->charged = stages_cost(r);
    r->body_len = 0;
    ratelimit_take(r->app->rl, r->auth.key_id, r->charged, stages_rate_done, r);
}

void stages_head(struct api_req *r) {
    const struct api_route *routes = http_srv_routes(r->srv);
    /* 1: route; 2: method */
    const struct api_route *match = NULL;
    char allow[96] = "";
    for (const struct api_route *rt = routes; rt->handler; rt++) {
        char param[64];
        if (!stages_match(rt, r->path, param, sizeof(param)))
            continue;
        if (rt->method == r->method ||
            (r->method == EVHTTP_REQ_HEAD && rt->method == EVHTTP_REQ_GET)) {
            match = rt;
            memcpy(r->param, param, sizeof(param));
            break;
        }
        if (!strstr(allow, stages_method_name(rt->method))) {
            if (allow[0])
                strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
            strncat(allow, stages_method_name(rt->method), sizeof(allow) - strlen(allow) - 1);
        }
    }
    /* CORS: only for HERALD_CORS_ORIGINS; a preflight is answered here */
    const char *origin = api_req_header(r, "Origin");
    bool cors = origin && stages_origin_allowed(r->app->cfg->cors_origins, origin);
    if (cors) {
        api_header(r, "Access-Control-Allow-Origin", origin);
        api_header(r, "Access-Control-Expose-Headers",
                   "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
                   "Retry-After, Idempotent-Replayed, Allow");
    }
    if (origin)
        api_header(r, "Vary", "Origin");
    if (!match && cors && r->method == EVHTTP_REQ_OPTIONS && allow[0] &&
        api_req_header(r, "Access-Control-Request-Method")) {
        api_header(r, "Access-Control-Allow-Methods", allow);
        api_header(r, "Access-Control-Allow-Headers",
                   "Authorization, Content-Type, Idempotency-Key, X-Request-Id");
        api_header(r, "Access-Control-Max-Age", "600");
        stages_early(r, 204, NULL, "");
        return;
    }
    if (!match) {
        if (allow[0]) {
            api_header(r, "Allow", allow);
            stages_early(r, 405, "method_not_allowed", "method not allowed on this route");
        } else {
            stages_early(r, 404, "not_found", "no such route");
        }
        return;
    }
    r->route = match;
    if (match->auth == API_AUTH_NONE) {
        stages_body_checks(r);
        return;
    }
    /* 3, 4: authentication, then the admin check */
    auth_check(r->app->auth, api_req_header(r, "Authorization"), edge_peer(r->edge),
               stages_auth_done, r);
}

static void stages_handle(struct api_req *r) {
    r->route->handler(r);
}

static void stages_topup_done(void *arg, const struct rl_result *res) {
    struct api_req *r = arg;
    if (!res->allowed) {
        api_reply_rate_limited(r, res);
        return;
    }
    api_rate_headers(r, res);
    stages_handle(r);
}

/* stages_parse: the body as the route takes it (400, 413), the query
 * string (422), and the cost's growth (429). */
static void stages_parse(struct api_req *r) {
    const struct api_route *rt = r->route;
    if (rt->body == API_BODY_JSON) {
        char err[128];
        enum hjson_error why;
        size_t max = rt->max_values ? rt->max_values : STAGES_VALUES_DEFAULT;
        r->json = hjson_parse_bounded(r->body, r->body_len, max, &why, err, sizeof(err));
        if (!r->json && why == HJSON_TOO_MANY) {
            char msg[96];
            snprintf(msg, sizeof(msg), "the body holds more than %zu JSON values", max);
            api_reply_error(r, 413, "payload_too_large", msg, NULL);
            return;
        }
        if (!r->json) {
            api_reply_error(r, 400, "invalid_json", err, NULL);
            return;
        }
    }
    if (!rt->query_open) {
        struct val_errors errs = {0};
        if (query_parse(r->head->query, rt->params, &r->query, &errs) < 0) {
            char *details = api_errors_json(&errs);
            api_reply_error(r, 422, "validation_failed", "the request has invalid fields", details);
            mem_free(details);
            val_errors_free(&errs);
            return;
        }
    }
    if (rt->auth != API_AUTH_NONE) {
        int64_t more = stages_cost(r) - r->charged;
        if (more > 0) {
            r->charged += more;
            ratelimit_take(r->app->rl, r->auth.key_id, more, stages_topup_done, r);
            return;
        }
    }
    stages_handle(r);
}

void stages_body(struct api_req *r, bool too_large) {
    if (too_large && !r->early_status) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the body is over %zu KiB", r->route->max_body / 1024);
        api_reply_error(r, 413, "payload_too_large", msg, NULL);
        return;
    }
    if (r->early_status == 204) {
        api_reply(r, 204, NULL, 0);
        return;
    }
    if (r->early_status) {
        api_reply_error(r, r->early_status, r->early_code, r->early_msg, NULL);
        return;
    }
    if (r->route->body && r->req) {
        struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
        size_t n = evbuffer_get_length(in);
        r->body = mem_try_alloc(n + 1);
        if (!r->body) {
            api_reply_error(r, 503, "unavailable", "out of memory", NULL);
            return;
        }
        evbuffer_copyout(in, r->body, n);
        r->body[n] = '\0';
        r->body_len = n;
    }
    stages_parse(r);
}
