/* notifications: the /v1/notifications handlers. */
#ifndef HERALD_API_NOTIFICATIONS_H
#define HERALD_API_NOTIFICATIONS_H

#include "api/http_server.h"

/* JSON values a body may hold (413 beyond): a notification's metadata
 * cannot hold more than about 8200 and stay within 16 KiB. */
#define NOTIF_H_VALUES_MAX 10000
#define NOTIF_H_BATCH_VALUES_MAX 250000

void notif_h_create(struct api_req *r);
/* notif_h_batch_cost: a batch's cost: the larger of its size's (a token per
 * started KiB) and its number of notifications once parsed. */
int64_t notif_h_batch_cost(const struct api_req *r);
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
