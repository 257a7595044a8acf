/* static_h: the routes that serve files compiled into herald-api: GET
 * /openapi.json, GET /docs (the API reference page) and GET /admin (the
 * on-call page). None needs a key; the admin page asks for one itself. */
#ifndef HERALD_API_STATIC_H_H
#define HERALD_API_STATIC_H_H

#include "api/api.h"

/* static_h_openapi: answers 200 with api/openapi.json (application/json). */
void static_h_openapi(struct api_req *r);
/* static_h_docs: answers 200 with the reference page, which renders
 * /openapi.json in the browser; with a strict Content-Security-Policy. */
void static_h_docs(struct api_req *r);
/* static_h_admin: answers 200 with the on-call page; never cached, with a
 * strict Content-Security-Policy. */
void static_h_admin(struct api_req *r);

#endif
