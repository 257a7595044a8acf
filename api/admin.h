/* admin: the on-call routes under /v1/admin: queue statistics and the dead-letter queue. */
#ifndef HERALD_API_ADMIN_H
#define HERALD_API_ADMIN_H

#include "api/api.h"

/* admin_h_queues: GET /v1/admin/queues. Answers 200 with the PostgreSQL
 * figures and null Redis ones when Redis is down; 503 without PostgreSQL. */
void admin_h_queues(struct api_req *r);

/* admin_h_destinations: GET /v1/admin/destinations?channel=: the open and
 * half-open circuits (common/circuits.h); 503 when Redis does not answer. */
void admin_h_destinations(struct api_req *r);

/* admin_h_dlq_list: GET /v1/admin/dlq/{channel}?tenant=&limit=&cursor=. */
void admin_h_dlq_list(struct api_req *r);

/* admin_h_dlq_replay: POST /v1/admin/dlq/{channel}/replay with {"ids":[...]}
 * or {"all":true}; 200 {"replayed":n,"not_found":[ids]}. */
void admin_h_dlq_replay(struct api_req *r);

#endif
