/* routes: (method, path pattern) -> handler, with each route's auth and body limit. */
#include "api/routes.h"
#include "api/admin.h"
#include "api/callbacks.h"
#include "api/health.h"
#include "api/metrics_h.h"
#include "api/notifications.h"
#include "api/static_h.h"

#define KIB 1024

static const struct api_route routes[] = {
    {.method = EVHTTP_REQ_POST, .pattern = "/v1/notifications", .auth = API_AUTH_KEY,
     .max_body = 64 * KIB, .handler = notif_h_create, .name = "notifications.create"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/notifications", .auth = API_AUTH_KEY,
     .handler = notif_h_list, .name = "notifications.list"},
    {.method = EVHTTP_REQ_POST, .pattern = "/v1/notifications/batch", .auth = API_AUTH_KEY,
     .max_body = 1024 * KIB, .charge_later = true, .handler = notif_h_batch,
     .name = "notifications.batch"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/notifications/{}", .param = API_PARAM_UUID,
     .auth = API_AUTH_KEY, .handler = notif_h_get, .name = "notifications.get"},
    {.method = EVHTTP_REQ_POST, .pattern = "/v1/notifications/{}/cancel", .param = API_PARAM_UUID,
     .auth = API_AUTH_KEY, .handler = notif_h_cancel, .name = "notifications.cancel"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/notifications/{}/attempts",
     .param = API_PARAM_UUID, .auth = API_AUTH_KEY, .handler = notif_h_attempts,
     .name = "notifications.attempts"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/admin/notifications/{}", .param = API_PARAM_UUID,
     .auth = API_AUTH_ADMIN, .handler = notif_h_admin_get, .name = "admin.notifications.get"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/admin/notifications/{}/attempts",
     .param = API_PARAM_UUID, .auth = API_AUTH_ADMIN, .handler = notif_h_admin_attempts,
     .name = "admin.notifications.attempts"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/admin/queues", .auth = API_AUTH_ADMIN,
     .handler = admin_h_queues, .name = "admin.queues"},
    {.method = EVHTTP_REQ_GET, .pattern = "/v1/admin/dlq/{}", .param = API_PARAM_CHANNEL,
     .auth = API_AUTH_ADMIN, .handler = admin_h_dlq_list, .name = "admin.dlq.list"},
    {.method = EVHTTP_REQ_POST, .pattern = "/v1/admin/dlq/{}/replay", .param = API_PARAM_CHANNEL,
     .auth = API_AUTH_ADMIN, .max_body = 64 * KIB, .handler = admin_h_dlq_replay,
     .name = "admin.dlq.replay"},
    {.method = EVHTTP_REQ_POST, .pattern = "/v1/callbacks/sms", .max_body = 64 * KIB,
     .form = true, .handler = callbacks_h_sms, .name = "callbacks.sms"},
    {.method = EVHTTP_REQ_GET, .pattern = "/healthz", .handler = health_h_live, .name = "healthz"},
    {.method = EVHTTP_REQ_GET, .pattern = "/readyz", .handler = health_h_ready, .name = "readyz"},
    {.method = EVHTTP_REQ_GET, .pattern = "/metrics", .handler = metrics_h_serve,
     .name = "metrics"},
    {.method = EVHTTP_REQ_GET, .pattern = "/openapi.json", .handler = static_h_openapi,
     .name = "openapi"},
    {.method = EVHTTP_REQ_GET, .pattern = "/docs", .handler = static_h_docs, .name = "docs"},
    {.method = EVHTTP_REQ_GET, .pattern = "/admin", .handler = static_h_admin,
     .name = "admin.page"},
    {.handler = NULL},
};

const struct api_route *routes_table(void) {
    return routes;
}
