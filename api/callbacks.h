/* callbacks: provider delivery receipts (POST /v1/callbacks/sms). */
#ifndef HERALD_API_CALLBACKS_H
#define HERALD_API_CALLBACKS_H

#include "api/api.h"

void callbacks_h_sms(struct api_req *r);

#endif
