/* http_server: evhttp set-up behind the edges (api/edge.c): a request is
 * made when its head is complete, goes through api/stages.c, and reaches
 * evhttp's generic callback only after the edge handed it over. */
#ifndef HERALD_API_HTTP_SERVER_H
#define HERALD_API_HTTP_SERVER_H

#include "api/api.h"

/* http_srv_start: binds listen ("host:port") and serves routes (terminated by
 * a NULL handler; borrowed for the server's lifetime). Returns NULL with err
 * filled on failure. Caller frees with http_srv_stop(). */
struct http_srv *http_srv_start(struct api_app *app, const char *listen,
                                const struct api_route *routes, char *err, size_t errlen);
/* http_srv_stop_accepting: no new connections from now on (SIGTERM). */
void http_srv_stop_accepting(struct http_srv *srv);
/* http_srv_inflight: requests read and not yet answered. */
size_t http_srv_inflight(const struct http_srv *srv);
/* http_srv_routes: the route table; http_srv_guard: the connections. Borrowed. */
const struct api_route *http_srv_routes(const struct http_srv *srv);
struct guard *http_srv_guard(struct http_srv *srv);
/* http_srv_stop: closes the listener and every connection. */
void http_srv_stop(struct http_srv *srv);

/* http_srv_answered: r is answered with status (api_reply calls it once its
 * answer is out): the request's metrics, and its edge may read the next. */
void http_srv_answered(struct api_req *r, int status);
/* http_srv_forget: a request of srv is freed (api_req_free calls it). */
void http_srv_forget(struct http_srv *srv);

#endif
