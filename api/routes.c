/* routes: (method, path pattern) -> handler, with each route's auth and body limit. */
#include "api/routes.h"
#include "api/health.h"
#include "api/notifications.h"

#define KIB 1024

static const struct api_route routes[] = {
    {EVHTTP_REQ_POST, "/v1/notifications", API_PARAM_NONE, API_AUTH_KEY, 64 * KIB, notif_h_create,
     "notifications.create"},
    {EVHTTP_REQ_GET, "/v1/notifications", API_PARAM_NONE, API_AUTH_KEY, 0, notif_h_list,
     "notifications.list"},
    {EVHTTP_REQ_POST, "/v1/notifications/batch", API_PARAM_NONE, API_AUTH_KEY, 1024 * KIB,
     notif_h_batch, "notifications.batch"},
    {EVHTTP_REQ_GET, "/v1/notifications/{}", API_PARAM_UUID, API_AUTH_KEY, 0, notif_h_get,
     "notifications.get"},
    {EVHTTP_REQ_POST, "/v1/notifications/{}/cancel", API_PARAM_UUID, API_AUTH_KEY, 0,
     notif_h_cancel, "notifications.cancel"},
    {EVHTTP_REQ_GET, "/v1/notifications/{}/attempts", API_PARAM_UUID, API_AUTH_KEY, 0,
     notif_h_attempts, "notifications.attempts"},
    {EVHTTP_REQ_GET, "/v1/admin/notifications/{}", API_PARAM_UUID, API_AUTH_ADMIN, 0,
     notif_h_admin_get, "admin.notifications.get"},
    {EVHTTP_REQ_GET, "/v1/admin/notifications/{}/attempts", API_PARAM_UUID, API_AUTH_ADMIN, 0,
     notif_h_admin_attempts, "admin.notifications.attempts"},
    {EVHTTP_REQ_GET, "/healthz", API_PARAM_NONE, API_AUTH_NONE, 0, health_h_live, "healthz"},
    {EVHTTP_REQ_GET, "/readyz", API_PARAM_NONE, API_AUTH_NONE, 0, health_h_ready, "readyz"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

const struct api_route *routes_table(void) {
    return routes;
}
