/* http_server: evhttp behind the edges. A request is made when its head is
 * complete (the edge's head hook), goes through api/stages.c, and reaches
 * evhttp's generic callback only after the edge handed it over; every
 * answer leaves through api_reply. */
#include "api/http_server.h"
#include "api/conn_guard.h"
#include "api/edge.h"
#include "api/http_head.h"
#include "api/ratelimit.h"
#include "api/stages.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"
#include "common/util.h"

#include <event2/buffer.h>
#include <json-c/json.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What evhttp itself accepts: the edge hands it only requests it rewrote,
 * never more than a route's body limit (1 MiB) with a head of three lines,
 * so these only have to be above that. */
#define HTTP_SRV_MAX_BODY (2 * 1024 * 1024)
#define HTTP_SRV_MAX_HEADERS (4 * 1024)

#define HTTP_SRV_STATUS_MIN 100
#define HTTP_SRV_STATUS_MAX 599

/* One route's metric series, each resolved the first time it is needed. */
struct http_srv_stats {
    metrics_series *duration;
    metrics_series *by_status[HTTP_SRV_STATUS_MAX - HTTP_SRV_STATUS_MIN + 1];
};

struct http_srv {
    struct api_app *app;
    struct evhttp *http;
    struct guard *guard;
    const struct api_route *routes;
    size_t nroutes;
    struct http_srv_stats *stats; /* nroutes + 1 (the last: no route matched) */
    metrics_series *rate_limited;
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

/* http_srv_conn_closed: evhttp frees the connection of a request still
 * being handled: the answer has nowhere to go. */
static void http_srv_conn_closed(struct evhttp_connection *conn, void *arg) {
    (void)conn;
    struct api_req *r = arg;
    r->req = NULL;
    r->edge = NULL;
}

void api_req_free(struct api_req *r) {
    r->srv->inflight--;
    query_free(&r->query);
    evhttp_clear_headers(&r->extra);
    if (r->head) {
        hhead_free(r->head);
        mem_free(r->head);
    }
    mem_free(r->body);
    json_object_put(r->json);
    mem_free(r);
}

void api_header(struct api_req *r, const char *name, const char *value) {
    evhttp_add_header(&r->extra, name, value);
}

const char *api_query(struct api_req *r, const char *name) {
    return query_get(&r->query, name);
}

const char *api_req_header(struct api_req *r, const char *name) {
    return hhead_get(r->head, name);
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

/* http_srv_count: the request's metrics, through handles resolved once. */
static void http_srv_count(struct api_req *r, int status) {
    struct http_srv *srv = r->srv;
    size_t i = r->route ? (size_t)(r->route - srv->routes) : srv->nroutes;
    struct http_srv_stats *st = &srv->stats[i];
    const char *name = r->route ? r->route->name : "unmatched";
    char labels[160];
    if (status >= HTTP_SRV_STATUS_MIN && status <= HTTP_SRV_STATUS_MAX) {
        metrics_series **s = &st->by_status[status - HTTP_SRV_STATUS_MIN];
        if (!*s) {
            snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", name, status);
            *s = metrics_series_of(r->app->metrics, "herald_http_requests_total", labels);
        }
        metrics_series_add(*s, 1);
    }
    if (!st->duration) {
        snprintf(labels, sizeof(labels), "route=\"%s\"", name);
        st->duration =
            metrics_series_of(r->app->metrics, "herald_http_request_duration_seconds", labels);
    }
    metrics_series_observe(st->duration, (double)(util_mono_ms() - r->started_mono_ms) / 1000.0);
    if (status == 429)
        metrics_series_add(srv->rate_limited, 1);
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
    struct edge *e = r->edge;
    if (req) {
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        if (conn)
            evhttp_connection_set_closecb(conn, NULL, NULL);
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "X-Request-Id", r->req_id);
        if (body && !evhttp_find_header(&r->extra, "Content-Type"))
            evhttp_add_header(out, "Content-Type", "application/json");
        for (struct evkeyval *kv = r->extra.tqh_first; kv; kv = kv->next.tqe_next)
            evhttp_add_header(out, kv->key, kv->value);
        struct evbuffer *eb = evbuffer_new();
        if (r->method == EVHTTP_REQ_HEAD) {
            /* the length the GET answer has, and no body (evhttp would send it) */
            char n[24];
            snprintf(n, sizeof(n), "%zu", body ? len : 0);
            if (status != 204)
                evhttp_add_header(out, "Content-Length", n);
        } else if (body && len) {
            evbuffer_add(eb, body, len);
        }
        evhttp_send_reply(req, status, http_srv_reason(status), eb);
        evbuffer_free(eb);
    }
    http_srv_count(r, status);
    if (status >= 500)
        HLOG(HLOG_ERROR, "http.error", &(struct hlog_ctx){.req_id = r->req_id}, "%s %s -> %d",
             http_srv_method_name(r->method), r->path ? r->path : "?", status);
    else
        HLOG(HLOG_DEBUG, "http.request", &(struct hlog_ctx){.req_id = r->req_id}, "%s %s -> %d",
             http_srv_method_name(r->method), r->path ? r->path : "?", status);
    api_req_free(r);
    if (req && e)
        edge_answered(e);
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

/* http_srv_head: the edge read a head: a request begins. */
static void http_srv_head(void *arg, struct edge *e, struct hhead *h) {
    struct http_srv *srv = arg;
    struct api_req *r = mem_calloc(1, sizeof(*r));
    r->app = srv->app;
    r->srv = srv;
    r->edge = e;
    r->head = h;
    r->method = h->method;
    r->path = h->path;
    r->started_mono_ms = util_mono_ms();
    r->extra.tqh_first = NULL;
    r->extra.tqh_last = &r->extra.tqh_first;
    const char *rid = hhead_get(h, "X-Request-Id");
    if (rid && http_srv_req_id_ok(rid)) {
        snprintf(r->req_id, sizeof(r->req_id), "%s", rid);
    } else {
        uint8_t id[16];
        util_uuid7(id);
        util_uuid_fmt(id, r->req_id);
    }
    srv->inflight++;
    stages_head(r);
}

static void http_srv_drop(void *arg, void *req) {
    (void)arg;
    api_req_free(req);
}

static const struct edge_hooks http_srv_hooks = {.head = http_srv_head, .drop = http_srv_drop};

/* http_srv_cb: evhttp's generic callback: the request the edge handed over. */
static void http_srv_cb(struct evhttp_request *req, void *arg) {
    struct http_srv *srv = arg;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct edge *e = guard_edge(srv->guard, conn);
    bool too_large = false;
    struct api_req *r = e ? edge_handed(e, &too_large) : NULL;
    if (!r) {
        /* only the edge writes evhttp's input: this cannot happen */
        HLOG(HLOG_ERROR, "http.orphan_request", NULL, "a request evhttp read has no owner");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    r->req = req;
    if (conn)
        evhttp_connection_set_closecb(conn, http_srv_conn_closed, r);
    stages_body(r, too_large);
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
    while (routes[srv->nroutes].handler)
        srv->nroutes++;
    srv->stats = mem_calloc(srv->nroutes + 1, sizeof(*srv->stats));
    srv->rate_limited = metrics_series_of(app->metrics, "herald_rate_limited_total", "");
    evhttp_set_max_body_size(http, HTTP_SRV_MAX_BODY);
    evhttp_set_max_headers_size(http, HTTP_SRV_MAX_HEADERS);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(http, "application/json");
    /* the edges enforce the read deadline; this only bounds a stuck write */
    evhttp_set_timeout(http, app->cfg->http_read_timeout_ms / 1000 + 60);
    evhttp_set_gencb(http, http_srv_cb, srv);
    struct guard_limits lim = {.max_conns = app->cfg->http_max_connections,
                               .read_timeout_ms = app->cfg->http_read_timeout_ms,
                               .body_budget = (size_t)app->cfg->http_body_buffer_max};
    srv->guard = guard_start(app->base, http, listen, &lim, &http_srv_hooks, srv, err, errlen);
    if (!srv->guard) {
        evhttp_free(http);
        mem_free(srv->stats);
        mem_free(srv);
        return NULL;
    }
    srv->http = http;
    app->guard = srv->guard;
    return srv;
}

void http_srv_stop_accepting(struct http_srv *srv) {
    guard_stop_accepting(srv->guard);
}

size_t http_srv_inflight(const struct http_srv *srv) {
    return srv->inflight;
}

const struct api_route *http_srv_routes(const struct http_srv *srv) {
    return srv->routes;
}

struct guard *http_srv_guard(struct http_srv *srv) {
    return srv->guard;
}

void http_srv_stop(struct http_srv *srv) {
    if (!srv)
        return;
    evhttp_free(srv->http);
    srv->app->guard = NULL;
    guard_stop(srv->guard);
    mem_free(srv->stats);
    mem_free(srv);
}
