/* metrics_h: the API's metric families and the /metrics route. */
#ifndef HERALD_API_METRICS_H_H
#define HERALD_API_METRICS_H_H

#include "api/api.h"

/* metrics_h_setup: defines the API's families on app->metrics and refreshes
 * its gauges before each scrape. */
void metrics_h_setup(struct api_app *app);
/* metrics_h_serve: GET /metrics on the API's own listener. */
void metrics_h_serve(struct api_req *r);

#endif
