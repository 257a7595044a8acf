/* settings_h: GET and PATCH /v1/tenant, the calling tenant's settings. */
#ifndef HERALD_API_SETTINGS_H_H
#define HERALD_API_SETTINGS_H_H

#include "api/api.h"

void settings_h_get(struct api_req *r);
void settings_h_patch(struct api_req *r);

#endif
