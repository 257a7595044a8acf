/* health: /healthz and /readyz. */
#ifndef HERALD_API_HEALTH_H
#define HERALD_API_HEALTH_H

#include "api/api.h"

void health_h_live(struct api_req *r);
void health_h_ready(struct api_req *r);

#endif
