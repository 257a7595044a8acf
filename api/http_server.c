/* http_server: one generic evhttp callback that applies API.md's check order
 * (route, method, auth, size, media type) and hands over to the route's handler. */
#include "api/http_server.h"
#include "api/auth.h"
#include "api/conn_guard.h"
#include "api/ratelimit.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"
#include "common/notif.h"
#include "common/util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_SRV_MAX_BODY (2 * 1024 * 1024)
#define HTTP_SRV_MAX_HEADERS (16 * 1024)

struct http_srv {
    struct api_app *app;
    struct evhttp *http;
    struct guard *guard;
    const struct api_route *routes;
    size_t inflight; /* requests read and not yet answered */
};

static const char *http_srv_method_name(enum evhttp_cmd_type m) {
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

static bool http_srv_req_id_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void http_srv_conn_closed(struct evhttp_connection *conn, void *arg) {
    (void)conn;
    struct api_req *r = arg;
    r->req = NULL;
}

static void api_req_free(struct api_req *r) {
    r->srv->inflight--;
    evhttp_clear_headers(&r->query);
    evhttp_clear_headers(&r->extra);
    mem_free(r->path);
    mem_free(r->body);
    mem_free(r);
}

void api_header(struct api_req *r, const char *name, const char *value) {
    evhttp_add_header(&r->extra, name, value);
}

const char *api_query(struct api_req *r, const char *name) {
    return evhttp_find_header(&r->query, name);
}

const char *api_req_header(struct api_req *r, const char *name) {
    if (!r->req)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

static const char *http_srv_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

void api_rate_headers(struct api_req *r, const struct rl_result *res) {
    char v[32];
    evhttp_remove_header(&r->extra, "RateLimit-Limit");
    evhttp_remove_header(&r->extra, "RateLimit-Remaining");
    evhttp_remove_header(&r->extra, "RateLimit-Reset");
    snprintf(v, sizeof(v), "%d", r->app->cfg->rate_limit_burst);
    api_header(r, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%lld", (long long)(res->remaining < 0 ? 0 : res->remaining));
    api_header(r, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%lld", (long long)res->reset_s);
    api_header(r, "RateLimit-Reset", v);
}

void api_reply_rate_limited(struct api_req *r, const struct rl_result *res) {
    char v[32];
    api_rate_headers(r, res);
    snprintf(v, sizeof(v), "%lld", (long long)res->retry_after_s);
    api_header(r, "Retry-After", v);
    api_reply_error(r, 429, "rate_limited", "rate limit exceeded for this API key", NULL);
}

void api_reply(struct api_req *r, int status, const char *body, size_t len) {
    struct evhttp_request *req = r->req;
    if (req && r->path && strncmp(r->path, "/v1/", 4) == 0 &&
        !evhttp_find_header(&r->extra, "RateLimit-Limit")) {
        /* not charged (refused before the limiter, or a provider callback):
         * the key's bucket is untouched */
        struct rl_result full = {.remaining = r->app->cfg->rate_limit_burst};
        api_rate_headers(r, &full);
    }
    if (req) {
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        if (conn)
            evhttp_connection_set_closecb(conn, NULL, NULL);
        guard_request_done(r->srv->guard, conn);
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "X-Request-Id", r->req_id);
        if (body && !evhttp_find_header(&r->extra, "Content-Type"))
            evhttp_add_header(out, "Content-Type", "application/json");
        for (struct evkeyval *kv = r->extra.tqh_first; kv; kv = kv->next.tqe_next)
            evhttp_add_header(out, kv->key, kv->value);
        struct evbuffer *eb = evbuffer_new();
        if (body && len)
            evbuffer_add(eb, body, len);
        evhttp_send_reply(req, status, http_srv_reason(status), eb);
        evbuffer_free(eb);
    }
    char labels[160];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"",
             r->route ? r->route->name : "unmatched", status);
    metrics_add(r->app->metrics, "herald_http_requests_total", labels, 1);
    snprintf(labels, sizeof(labels), "route=\"%s\"", r->route ? r->route->name : "unmatched");
    metrics_observe(r->app->metrics, "herald_http_request_duration_seconds", labels,
                    (double)(util_mono_ms() - r->started_mono_ms) / 1000.0);
    if (status == 429)
        metrics_add(r->app->metrics, "herald_rate_limited_total", "", 1);
    if (status >= 500)
        HLOG(HLOG_ERROR, "http.error", &(struct hlog_ctx){.req_id = r->req_id}, "%s %s -> %d",
             http_srv_method_name(r->method), r->path ? r->path : "?", status);
    else
        HLOG(HLOG_DEBUG, "http.request", &(struct hlog_ctx){.req_id = r->req_id}, "%s %s -> %d",
             http_srv_method_name(r->method), r->path ? r->path : "?", status);
    api_req_free(r);
}

void api_reply_error(struct api_req *r, int status, const char *code, const char *message,
                     const char *details_json) {
    struct buf b = {0};
    buf_puts(&b, "{\"error\":{\"code\":");
    buf_json_str(&b, code, strlen(code));
    buf_puts(&b, ",\"message\":");
    buf_json_str(&b, message, strlen(message));
    if (details_json) {
        buf_puts(&b, ",\"details\":");
        buf_puts(&b, details_json);
    }
    buf_puts(&b, "},\"request_id\":");
    buf_json_str(&b, r->req_id, strlen(r->req_id));
    buf_putc(&b, '}');
    api_reply(r, status, b.data, b.len);
    buf_free(&b);
}

/* http_srv_match: whether path matches pattern; the "{}" segment's text goes
 * to param after checking its kind. */
static bool http_srv_match(const struct api_route *rt, const char *path, char *param, size_t plen) {
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

static bool http_srv_is_type(const char *ct, const char *type) {
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

static void http_srv_after_auth(struct api_req *r);

/* http_srv_origin_allowed: origin is one of the comma-separated list (exact,
 * case-sensitive, spaces around commas ignored); "*" is never implied. */
static bool http_srv_origin_allowed(const char *list, const char *origin) {
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

static void http_srv_rate_done(void *arg, const struct rl_result *res) {
    struct api_req *r = arg;
    if (!res->allowed) {
        api_reply_rate_limited(r, res);
        return;
    }
    api_rate_headers(r, res);
    http_srv_after_auth(r);
}

static void http_srv_auth_done(void *arg, int status, const struct api_auth *a) {
    struct api_req *r = arg;
    if (status == 401) {
        api_header(r, "WWW-Authenticate", "Bearer");
        api_reply_error(r, 401, "unauthorized", "missing, malformed, unknown or revoked API key",
                        NULL);
        return;
    }
    if (status == 503) {
        api_reply_error(r, 503, "unavailable", "the database cannot be reached", NULL);
        return;
    }
    r->auth = *a;
    if (r->route->auth == API_AUTH_ADMIN && !a->admin) {
        api_reply_error(r, 403, "forbidden", "this route needs an admin key", NULL);
        return;
    }
    /* 5: the rate limit (a batch only checks for one token here and is
     * charged its size once parsed) */
    ratelimit_take(r->app->rl, r->auth.key_id, r->route->charge_later ? 0 : 1, http_srv_rate_done,
                   r);
}

static void http_srv_after_auth(struct api_req *r) {
    const struct api_route *rt = r->route;
    if (rt->max_body) {
        struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
        size_t n = evbuffer_get_length(in);
        if (n > rt->max_body) {
            char msg[96];
            snprintf(msg, sizeof(msg), "the body is over %zu KiB", rt->max_body / 1024);
            api_reply_error(r, 413, "payload_too_large", msg, NULL);
            return;
        }
        const char *ct = api_req_header(r, "Content-Type");
        if (rt->form ? !http_srv_is_type(ct, "application/x-www-form-urlencoded")
                     : !http_srv_is_type(ct, "application/json")) {
            api_reply_error(r, 415, "unsupported_media_type",
                            rt->form ? "the body must be application/x-www-form-urlencoded"
                                     : "the body must be application/json",
                            NULL);
            return;
        }
        r->body = mem_try_alloc(n + 1);
        if (!r->body) {
            api_reply_error(r, 503, "unavailable", "out of memory", NULL);
            return;
        }
        evbuffer_copyout(in, r->body, n);
        r->body[n] = '\0';
        r->body_len = n;
    }
    rt->handler(r);
}

static void http_srv_cb(struct evhttp_request *req, void *arg) {
    struct http_srv *srv = arg;
    struct api_req *r = mem_calloc(1, sizeof(*r));
    r->app = srv->app;
    r->req = req;
    r->method = evhttp_request_get_command(req);
    r->started_mono_ms = util_mono_ms();
    r->query.tqh_first = NULL;
    r->query.tqh_last = &r->query.tqh_first;
    r->extra.tqh_first = NULL;
    r->extra.tqh_last = &r->extra.tqh_first;
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    if (rid && http_srv_req_id_ok(rid)) {
        snprintf(r->req_id, sizeof(r->req_id), "%s", rid);
    } else {
        uint8_t id[16];
        util_uuid7(id);
        util_uuid_fmt(id, r->req_id);
    }
    r->srv = srv;
    srv->inflight++;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn)
        evhttp_connection_set_closecb(conn, http_srv_conn_closed, r);
    guard_request_started(srv->guard, conn);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!raw_path || !*raw_path) {
        r->path = mem_strdup("/");
    } else {
        size_t outlen = 0;
        char *dec = evhttp_uridecode(raw_path, 0, &outlen);
        r->path = mem_strdup(dec ? dec : raw_path);
        free(dec);
    }
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    if (q && evhttp_parse_query_str(q, &r->query) != 0) {
        evhttp_clear_headers(&r->query);
    }

    /* 1: route; 2: method */
    const struct api_route *match = NULL;
    char allow[96] = "";
    for (const struct api_route *rt = srv->routes; rt->handler; rt++) {
        char param[64];
        if (!http_srv_match(rt, r->path, param, sizeof(param)))
            continue;
        if (rt->method == r->method ||
            (r->method == EVHTTP_REQ_HEAD && rt->method == EVHTTP_REQ_GET)) {
            match = rt;
            memcpy(r->param, param, sizeof(param));
            break;
        }
        if (!strstr(allow, http_srv_method_name(rt->method))) {
            if (allow[0])
                strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
            strncat(allow, http_srv_method_name(rt->method), sizeof(allow) - strlen(allow) - 1);
        }
    }
    /* CORS: only for HERALD_CORS_ORIGINS; a preflight is answered here */
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    bool cors = origin && http_srv_origin_allowed(r->app->cfg->cors_origins, origin);
    if (cors) {
        api_header(r, "Access-Control-Allow-Origin", origin);
        api_header(r, "Access-Control-Expose-Headers",
                   "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
                   "Retry-After, Idempotent-Replayed, Allow");
    }
    if (origin)
        api_header(r, "Vary", "Origin");
    if (!match && cors && r->method == EVHTTP_REQ_OPTIONS && allow[0] &&
        evhttp_find_header(evhttp_request_get_input_headers(req),
                           "Access-Control-Request-Method")) {
        api_header(r, "Access-Control-Allow-Methods", allow);
        api_header(r, "Access-Control-Allow-Headers",
                   "Authorization, Content-Type, Idempotency-Key, X-Request-Id");
        api_header(r, "Access-Control-Max-Age", "600");
        api_reply(r, 204, NULL, 0);
        return;
    }
    if (!match) {
        if (allow[0]) {
            api_header(r, "Allow", allow);
            api_reply_error(r, 405, "method_not_allowed", "method not allowed on this route", NULL);
        } else {
            api_reply_error(r, 404, "not_found", "no such route", NULL);
        }
        return;
    }
    r->route = match;
    if (match->auth == API_AUTH_NONE) {
        http_srv_after_auth(r);
        return;
    }
    /* 3, 4: authentication, then the admin check */
    auth_check(r->app->auth, api_req_header(r, "Authorization"), http_srv_auth_done, r);
}

struct http_srv *http_srv_start(struct api_app *app, const char *listen,
                                const struct api_route *routes, char *err, size_t errlen) {
    struct evhttp *http = evhttp_new(app->base);
    if (!http) {
        snprintf(err, errlen, "cannot create the HTTP server");
        return NULL;
    }
    struct http_srv *srv = mem_calloc(1, sizeof(*srv));
    srv->app = app;
    srv->routes = routes;
    evhttp_set_max_body_size(http, HTTP_SRV_MAX_BODY);
    evhttp_set_max_headers_size(http, HTTP_SRV_MAX_HEADERS);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_timeout(http, 60);
    evhttp_set_gencb(http, http_srv_cb, srv);
    srv->guard = guard_start(app->base, http, listen, app->cfg->http_max_connections,
                             app->cfg->http_read_timeout_ms, err, errlen);
    if (!srv->guard) {
        evhttp_free(http);
        mem_free(srv);
        return NULL;
    }
    srv->http = http;
    return srv;
}

void http_srv_stop_accepting(struct http_srv *srv) {
    guard_stop_accepting(srv->guard);
}

size_t http_srv_inflight(const struct http_srv *srv) {
    return srv->inflight;
}

void http_srv_stop(struct http_srv *srv) {
    if (!srv)
        return;
    evhttp_free(srv->http);
    guard_stop(srv->guard);
    mem_free(srv);
}
