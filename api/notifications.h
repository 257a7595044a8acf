/* notifications: the /v1/notifications handlers. */
#ifndef HERALD_API_NOTIFICATIONS_H
#define HERALD_API_NOTIFICATIONS_H

#include "api/http_server.h"

void notif_h_create(struct api_req *r);
void notif_h_batch(struct api_req *r);
void notif_h_get(struct api_req *r);
void notif_h_list(struct api_req *r);
void notif_h_cancel(struct api_req *r);
void notif_h_attempts(struct api_req *r);

/* The same routes for admins: any tenant's notification, with a tenant field. */
void notif_h_admin_get(struct api_req *r);
void notif_h_admin_attempts(struct api_req *r);

/* notif_h_errors_json: renders field errors as the envelope's details array.
 * Caller frees with mem_free(). */
struct val_errors;
char *notif_h_errors_json(const struct val_errors *errs);

#endif
