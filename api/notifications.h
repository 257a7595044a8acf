/* notifications: the /v1/notifications handlers. */
#ifndef HERALD_API_NOTIFICATIONS_H
#define HERALD_API_NOTIFICATIONS_H

#include "api/api.h"

/* JSON values a body may hold (413 beyond): a notification's metadata
 * cannot hold more than about 8200 and stay within 16 KiB. */
#define NOTIFICATIONS_VALUES_MAX 10000
#define NOTIFICATIONS_BATCH_VALUES_MAX 250000

void notifications_create(struct api_req *r);
/* notifications_batch_cost: a batch's cost: the larger of its size's (a token per
 * started KiB) and its number of notifications once parsed. */
int64_t notifications_batch_cost(const struct api_req *r);
void notifications_batch(struct api_req *r);
/* notifications_get, notifications_attempts: a notification of the key's
 * tenant; on an admin route (API_AUTH_ADMIN) any tenant's, with a tenant
 * field. */
void notifications_get(struct api_req *r);
void notifications_attempts(struct api_req *r);
void notifications_list(struct api_req *r);
void notifications_cancel(struct api_req *r);

#endif
