/* http_server: evhttp behind the edges. A request is made when its head is
 * complete (the edge's head hook), goes through api/stages.c, and reaches
 * evhttp's generic callback only after the edge handed it over; every
 * answer leaves through api_reply (api/api.c), which ends here. */
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

void http_srv_answered(struct api_req *r, int status) {
    http_srv_count(r, status);
    struct edge *e = r->req ? r->edge : NULL;
    api_req_free(r);
    if (e)
        edge_answered(e);
}

void http_srv_forget(struct http_srv *srv) {
    srv->inflight--;
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
